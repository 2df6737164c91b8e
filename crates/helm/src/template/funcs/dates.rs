//! sprig's date functions on Go's `time.Time` in UTC (the zone `helm template` runs in on a
//! server): `now`, `date`/`htmlDate` with Go's reference-time layouts, `dateInZone` for UTC,
//! `unixEpoch`. Zones other than UTC, parsing (`toDate`), `dateModify`, `ago` and durations are
//! not implemented (their names parse as unsupported).

use std::rc::Rc;

use super::{FuncTable, P, arg_str};
use crate::template::error::GoError;
use crate::template::value::{MethodResult, Object, Value};

/// A `time.Time` in UTC.
#[derive(Clone, Copy, Debug)]
pub struct Time {
    pub secs: i64,
    pub nanos: u32,
}

pub fn register(t: &mut FuncTable) {
    use P::{Any, Str};
    t.add("now", &[], |_, _| Ok(now()?.value()));
    t.add("date", &[Str, Any], |_, a| {
        Ok(Value::str(format(&time_of(&a[1])?, arg_str(a, 0))))
    });
    t.add("htmlDate", &[Any], |_, a| {
        Ok(Value::str(format(&time_of(&a[0])?, "2006-01-02")))
    });
    for name in ["dateInZone", "date_in_zone"] {
        t.add(name, &[Str, Any, Str], |_, a| {
            if !matches!(arg_str(a, 2), "UTC" | "") {
                return Err(GoError::unsupported("dateInZone"));
            }
            Ok(Value::str(format(&time_of(&a[1])?, arg_str(a, 0))))
        });
    }
    t.add("htmlDateInZone", &[Any, Str], |_, a| {
        if !matches!(arg_str(a, 1), "UTC" | "") {
            return Err(GoError::unsupported("htmlDateInZone"));
        }
        Ok(Value::str(format(&time_of(&a[0])?, "2006-01-02")))
    });
    t.add("unixEpoch", &[Any], |_, a| match &a[0] {
        Value::Object(o) => match o.as_any().downcast_ref::<Time>() {
            Some(t) => Ok(Value::str(t.secs.to_string())),
            None => Err(GoError::new(format!(
                "wrong type for value; expected time.Time; got {}",
                o.type_name()
            ))),
        },
        other => Err(GoError::new(format!(
            "wrong type for value; expected time.Time; got {}",
            other.type_name()
        ))),
    });
}

fn now() -> Result<Time, GoError> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| GoError::new(e.to_string()))?;
    Ok(Time {
        secs: d.as_secs() as i64,
        nanos: d.subsec_nanos(),
    })
}

/// sprig's `formatDate` input: a time, or unix seconds as an integer; anything else is now.
fn time_of(v: &Value) -> Result<Time, GoError> {
    match v {
        Value::Object(o) => match o.as_any().downcast_ref::<Time>() {
            Some(t) => Ok(*t),
            None => now(),
        },
        Value::Int(s) | Value::Int64(s) => Ok(Time { secs: *s, nanos: 0 }),
        _ => now(),
    }
}

impl Time {
    pub fn value(self) -> Value {
        Value::Object(Rc::new(self))
    }

    /// (year, month 1-12, day, hour, minute, second, weekday 0=Sunday, day of year 1-366)
    fn civil(&self) -> (i64, u32, u32, u32, u32, u32, u32, u32) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = CUM[(m - 1) as usize] + d + u32::from(leap && m > 2);
        let wd = (days + 4).rem_euclid(7) as u32;
        (y, m, d, rem / 3600, rem / 60 % 60, rem % 60, wd, yday)
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `Time.Format` (UTC) for a reference-time layout.
pub fn format(t: &Time, layout: &str) -> String {
    let (y, mo, d, h, mi, s, wd, yd) = t.civil();
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (text, consumed) = chunk(rest, t, (y, mo, d, h, mi, s, wd, yd));
        out.push_str(&text);
        rest = &rest[consumed..];
    }
    out
}

type Civil = (i64, u32, u32, u32, u32, u32, u32, u32);

const TOKENS: &[&str] = &[
    "January",
    "Jan",
    "Monday",
    "Mon",
    "MST",
    "2006",
    "002",
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
    "15",
    "__2",
    "_2",
    "1",
    "2",
    "3",
    "4",
    "5",
    "PM",
    "pm",
    "-07:00:00",
    "-070000",
    "-07:00",
    "-0700",
    "-07",
    "Z07:00:00",
    "Z070000",
    "Z07:00",
    "Z0700",
    "Z07",
];

/// One layout element at the start of `l`: its text and the bytes it used.
fn chunk(l: &str, t: &Time, c: Civil) -> (String, usize) {
    if let Some(tok) = TOKENS.iter().find(|tok| l.starts_with(**tok)) {
        return (token_text(tok, c), tok.len());
    }
    if let Some(frac) = fraction(l) {
        let n = frac.len() - 1;
        let digits = format!("{:09}", t.nanos);
        let mut part = digits[..n].to_string();
        if frac.as_bytes()[1] == b'9' {
            part = part.trim_end_matches('0').to_string();
            if part.is_empty() {
                return (String::new(), frac.len());
            }
        }
        return (format!("{}{part}", &frac[..1]), frac.len());
    }
    let c = l.chars().next().unwrap_or(' ');
    (c.to_string(), c.len_utf8())
}

/// The text of a reference-time token for a UTC time.
fn token_text(tok: &str, c: Civil) -> String {
    let (y, mo, d, h, mi, s, wd, yd) = c;
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    match tok {
        "January" => MONTHS[(mo - 1) as usize].to_string(),
        "Jan" => MONTHS[(mo - 1) as usize][..3].to_string(),
        "Monday" => DAYS[wd as usize].to_string(),
        "Mon" => DAYS[wd as usize][..3].to_string(),
        "MST" => "UTC".into(),
        "2006" => format!("{y:04}"),
        "002" => format!("{yd:03}"),
        "__2" => format!("{yd:>3}"),
        "01" => format!("{mo:02}"),
        "02" => format!("{d:02}"),
        "03" => format!("{h12:02}"),
        "04" => format!("{mi:02}"),
        "05" => format!("{s:02}"),
        "06" => format!("{:02}", y.rem_euclid(100)),
        "15" => format!("{h:02}"),
        "_2" => format!("{d:>2}"),
        "1" => mo.to_string(),
        "2" => d.to_string(),
        "3" => h12.to_string(),
        "4" => mi.to_string(),
        "5" => s.to_string(),
        "PM" => if h >= 12 { "PM" } else { "AM" }.into(),
        "pm" => if h >= 12 { "pm" } else { "am" }.into(),
        z if z.starts_with('Z') => "Z".into(),
        "-07:00:00" => "+00:00:00".into(),
        "-070000" => "+000000".into(),
        "-07:00" => "+00:00".into(),
        "-0700" => "+0000".into(),
        _ => "+00".into(),
    }
}

/// `.000`/`,999`-style fractional seconds at the start of `l`.
fn fraction(l: &str) -> Option<&str> {
    let b = l.as_bytes();
    if b.len() < 2 || !matches!(b[0], b'.' | b',') || !matches!(b[1], b'0' | b'9') {
        return None;
    }
    let ch = b[1];
    let mut j = 1;
    while j < b.len() && b[j] == ch {
        j += 1;
    }
    if j < b.len() && b[j].is_ascii_digit() || j > 10 {
        return None;
    }
    Some(&l[..j])
}

impl Object for Time {
    fn type_name(&self) -> String {
        "time.Time".into()
    }

    fn kind(&self) -> &'static str {
        "struct"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let (y, mo, d, h, mi, s, _, yd) = self.civil();
        Some(match name {
            "Year" => Value::Int(y),
            "Month" => Value::Int(i64::from(mo)),
            "Day" => Value::Int(i64::from(d)),
            "Hour" => Value::Int(i64::from(h)),
            "Minute" => Value::Int(i64::from(mi)),
            "Second" => Value::Int(i64::from(s)),
            "YearDay" => Value::Int(i64::from(yd)),
            "Unix" => Value::Int64(self.secs),
            "UTC" => self.value(),
            _ => return None,
        })
    }

    fn has_method(&self, name: &str) -> bool {
        name == "Format"
    }

    fn call(&self, _: &str, args: &[Value]) -> MethodResult {
        match args {
            [Value::Str(l)] => Ok(Value::str(format(self, l))),
            _ => Err("wrong number of args for Format: want 1".into()),
        }
    }

    fn display(&self) -> String {
        format(self, "2006-01-02 15:04:05.999999999 -0700 MST")
    }

    fn to_data(&self) -> Value {
        Value::str(format(self, "2006-01-02T15:04:05.999999999Z07:00"))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
