//! Go's number formatting and parsing where Helm's results depend on them.
//!
//! - [`format_float`]: `strconv.FormatFloat(f, 'g', -1, 64)`, which is also what `fmt`'s `%v`
//!   prints for a `float64` (so `1000000` prints as `1e+06`).
//! - [`format_float32`]: the same at 32-bit precision, which sigs.k8s.io/yaml uses to turn a float
//!   map key (or a float given where Chart.yaml wants a string) into a string.
//! - [`parse_int`]: `strconv.ParseInt(s, 0, 64)` and `ParseUint(s, 0, 64)`: base prefixes
//!   `0x`, `0o`, `0b` and a leading `0` for octal.

/// A Go integer literal's value: `int64` when it fits, else `uint64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoInt {
    /// Fits `int64`.
    Signed(i64),
    /// Fits only `uint64`.
    Unsigned(u64),
}

/// `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint(s, 0, 64)`; `None` when neither
/// accepts `s` (underscores must already be removed, as go-yaml does).
#[must_use]
pub fn parse_int(s: &str) -> Option<GoInt> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_unsigned_body(body)?;
    if negative {
        if magnitude <= i64::MAX as u64 {
            return Some(GoInt::Signed(-(magnitude as i64)));
        }
        if magnitude == i64::MAX as u64 + 1 {
            return Some(GoInt::Signed(i64::MIN));
        }
        return None;
    }
    // ParseUint takes no sign at all: "+9223372036854775808" is out of range for both.
    if let Ok(v) = i64::try_from(magnitude) {
        return Some(GoInt::Signed(v));
    }
    (!s.starts_with('+')).then_some(GoInt::Unsigned(magnitude))
}

fn parse_unsigned_body(body: &str) -> Option<u64> {
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`: Go's `%v` of a `float64`.
#[must_use]
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    shortest_g(&format!("{f:e}"))
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest decimal that reads back as the same
/// `float32`.
#[must_use]
pub fn format_float32(f: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let narrow = f as f32;
    if narrow.is_nan() {
        return "NaN".to_string();
    }
    if narrow.is_infinite() {
        return if narrow > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    shortest_g(&format!("{narrow:e}"))
}

/// Lays out Rust's shortest `{:e}` digits ("-1.5e-7") the way Go's shortest `%g` does
/// (strconv's ftoa): exponent form when the decimal exponent is below -4 or at least 6, else
/// plain decimal.
fn shortest_g(sci: &str) -> String {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return if negative { "-0" } else { "0" }.to_string();
    }
    let body = if !(-4..6).contains(&exp) {
        exponent_form(digits, exp)
    } else {
        decimal_form(digits, exp)
    };
    if negative { format!("-{body}") } else { body }
}

fn exponent_form(digits: &str, exp: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let sign = if exp < 0 { '-' } else { '+' };
    let mag = exp.unsigned_abs();
    let frac = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    format!("{first}{frac}e{sign}{mag:02}")
}

fn decimal_form(digits: &str, exp: i32) -> String {
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if exp < 0 {
        let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
        return format!("0.{zeros}{digits}");
    }
    if exp + 1 >= nd {
        let zeros = "0".repeat(usize::try_from(exp + 1 - nd).unwrap_or(0));
        return format!("{digits}{zeros}");
    }
    let point = usize::try_from(exp + 1).unwrap_or(0);
    format!("{}.{}", &digits[..point], &digits[point..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        let cases = [
            (1.0, "1"),
            (1_000_000.0, "1e+06"),
            (100_000.0, "100000"),
            (123_456_789.0, "1.23456789e+08"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e300, "1.5e+300"),
            (-2.25, "-2.25"),
            (3.0e21, "3e+21"),
            (123_456.7, "123456.7"),
            (1_234_567.5, "1.2345675e+06"),
            (0.0, "0"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want, "{f}");
        }
        assert_eq!(format_float32(1.1), "1.1");
        assert_eq!(format_float32(1.0), "1");
        assert_eq!(format_float32(0.1), "0.1");
    }

    #[test]
    fn ints_parse_as_go_parses_them() {
        assert_eq!(parse_int("0777"), Some(GoInt::Signed(511)));
        assert_eq!(parse_int("0x1F"), Some(GoInt::Signed(31)));
        assert_eq!(parse_int("0o17"), Some(GoInt::Signed(15)));
        assert_eq!(parse_int("0b101"), Some(GoInt::Signed(5)));
        assert_eq!(parse_int("-12"), Some(GoInt::Signed(-12)));
        assert_eq!(parse_int("+12"), Some(GoInt::Signed(12)));
        assert_eq!(parse_int("08"), None);
        assert_eq!(
            parse_int("9223372036854775808"),
            Some(GoInt::Unsigned(9_223_372_036_854_775_808))
        );
        assert_eq!(parse_int("-9223372036854775808"), Some(GoInt::Signed(i64::MIN)));
        assert_eq!(parse_int("1e3"), None);
        assert_eq!(parse_int(""), None);
    }
}
