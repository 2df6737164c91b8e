//! Masterminds/semver v3 as sprig uses it: loose versions (`v1.2`, `1.2.3-rc.1+meta`) and
//! constraints (`>=1.19-0`, `~1.2`, `^0.3`, `1.2.x`, `1 - 2`, `a, b || c`), with its rule that a
//! prerelease version only matches a constraint group that names a prerelease. (The Rust
//! `semver` crate follows Cargo's rules, which differ.)

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

use crate::template::value::{MethodResult, Object, Value};

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?(?:\+([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?$")
        .expect("a valid regex")
});
static CONSTRAINT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^\s*({OPS})\s*({CV})\s*$")).expect("a valid regex"));
static RANGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"\s*({CV})\s+-\s+({CV})\s*")).expect("a valid regex"));
static FIND: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"({OPS})\s*({CV})")).expect("a valid regex"));
static VALID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
    ))
    .expect("a valid regex")
});

/// A semantic version.
#[derive(Clone, Debug)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub meta: String,
    pub original: String,
}

impl Version {
    /// `semver.NewVersion`.
    pub fn parse(s: &str) -> Result<Version, String> {
        let c = VERSION
            .captures(s)
            .ok_or_else(|| "invalid semantic version".to_string())?;
        let num = |i: usize| {
            c.get(i)
                .map_or(Ok(0), |m| m.as_str().parse::<u64>())
                .map_err(|e| format!("error parsing version segment: {e}"))
        };
        Ok(Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre: c.get(4).map_or("", |m| m.as_str()).to_string(),
            meta: c.get(5).map_or("", |m| m.as_str()).to_string(),
            original: s.to_string(),
        })
    }

    fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &o.pre),
            })
    }

    fn canonical(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s += &format!("-{}", self.pre);
        }
        if !self.meta.is_empty() {
            s += &format!("+{}", self.meta);
        }
        s
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let (ap, bp): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..ap.len().max(bp.len()) {
        let (s, o) = (ap.get(i).copied().unwrap_or(""), bp.get(i).copied().unwrap_or(""));
        let d = compare_part(s, o);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Err(_), Err(_)) => s.cmp(o),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
    }
}

/// One comparison of a constraint.
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "*" | "X")
}

impl Constraint {
    fn parse(c: &str) -> Result<Constraint, String> {
        let m = CONSTRAINT
            .captures(c)
            .ok_or_else(|| format!("improper constraint: {c:?}"))?;
        let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
        let (maj, min, pat, pre) = (g(3), g(4).trim_start_matches('.'), g(5).trim_start_matches('.'), g(6));
        let (ver, dirty, minor_dirty, patch_dirty) = if is_x(maj) || maj.is_empty() {
            (format!("0.0.0{pre}"), true, false, false)
        } else if is_x(min) || min.is_empty() {
            (format!("{maj}.0.0{pre}"), true, true, false)
        } else if is_x(pat) || pat.is_empty() {
            (format!("{maj}.{min}.0{pre}"), true, false, true)
        } else {
            (g(2).to_string(), false, false, false)
        };
        let con = Version::parse(&ver).map_err(|_| "constraint parser error".to_string())?;
        Ok(Constraint {
            op: g(1).to_string(),
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op.as_str() {
            "" | "=" if self.dirty => self.tilde(v),
            "" | "=" => v.compare(c) == Ordering::Equal,
            "!=" => self.not_equal(v),
            ">" if !self.dirty => v.compare(c) == Ordering::Greater,
            ">" => v.major > c.major || v.major == c.major && !self.minor_dirty && self.gt_dirty(v),
            "<" => v.compare(c) == Ordering::Less,
            ">=" | "=>" => v.compare(c) != Ordering::Less,
            "<=" | "=<" if !self.dirty => v.compare(c) != Ordering::Greater,
            "<=" | "=<" => !(v.major > c.major || v.major == c.major && v.minor > c.minor && !self.minor_dirty),
            "~" | "~>" => self.tilde(v),
            "^" => self.caret(v),
            _ => false,
        }
    }

    fn gt_dirty(&self, v: &Version) -> bool {
        if self.patch_dirty {
            v.minor > self.con.minor
        } else {
            v.compare(&self.con) == Ordering::Greater
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.patch != v.patch && !self.patch_dirty {
                return true;
            }
            if self.patch_dirty {
                return (!v.pre.is_empty() || !c.pre.is_empty()) && compare_pre(&v.pre, &c.pre) != Ordering::Equal;
            }
        }
        v.compare(c) != Ordering::Equal
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

/// A constraint set: groups separated by `||`, each a conjunction.
pub struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

impl Constraints {
    /// `semver.NewConstraint`.
    pub fn parse(c: &str) -> Result<Constraints, String> {
        let mut text = c.to_string();
        let ranges: Vec<(String, String, String)> = RANGE
            .captures_iter(c)
            .map(|m| {
                (
                    m[0].to_string(),
                    m[1].to_string(),
                    m.get(11).map_or("", |x| x.as_str()).to_string(),
                )
            })
            .collect();
        for (whole, lo, hi) in ranges {
            text = text.replacen(&whole, &format!(">= {lo}, <= {hi} "), 1);
        }
        let mut groups = Vec::new();
        for part in text.split("||") {
            if !VALID.is_match(part) {
                return Err(format!("improper constraint: {part:?}"));
            }
            let mut found: Vec<String> = FIND.find_iter(part).map(|m| m.as_str().to_string()).collect();
            if found.is_empty() {
                found.push(part.to_string());
            }
            let cs = found
                .iter()
                .map(|s| Constraint::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let has_pre = cs.iter().any(|c| !c.con.pre.is_empty());
            groups.push((cs, has_pre));
        }
        Ok(Constraints { groups })
    }

    /// `Constraints.Check`.
    pub fn check(&self, v: &Version) -> bool {
        self.groups.iter().any(|(cs, pre)| cs.iter().all(|c| c.check(v, *pre)))
    }
}

impl Object for Version {
    fn type_name(&self) -> String {
        "*semver.Version".into()
    }

    fn kind(&self) -> &'static str {
        "ptr"
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Major" => Value::Int64(self.major as i64),
            "Minor" => Value::Int64(self.minor as i64),
            "Patch" => Value::Int64(self.patch as i64),
            "Prerelease" => Value::str(self.pre.as_str()),
            "Metadata" => Value::str(self.meta.as_str()),
            "Original" => Value::str(self.original.as_str()),
            "String" => Value::str(self.canonical()),
            _ => return None,
        })
    }

    fn has_method(&self, name: &str) -> bool {
        matches!(name, "Compare" | "LessThan" | "GreaterThan" | "Equal")
    }

    fn call(&self, name: &str, args: &[Value]) -> MethodResult {
        let Some(Value::Object(o)) = args.first() else {
            return Err(format!("wrong number of args for {name}: want 1 got {}", args.len()));
        };
        let Some(other) = o.as_any().downcast_ref::<Version>() else {
            return Err("wrong type for value; expected *semver.Version".into());
        };
        let ord = self.compare(other);
        Ok(match name {
            "Compare" => Value::Int(ord as i64),
            "LessThan" => Value::Bool(ord == Ordering::Less),
            "GreaterThan" => Value::Bool(ord == Ordering::Greater),
            _ => Value::Bool(ord == Ordering::Equal),
        })
    }

    fn display(&self) -> String {
        self.canonical()
    }

    fn to_data(&self) -> Value {
        Value::str(self.canonical())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
