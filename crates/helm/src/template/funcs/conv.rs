//! sprig's defaults (`default`, `empty`, `coalesce`, `ternary`…), type reflection (`typeOf`,
//! `kindIs`…) and conversions (`int`, `int64`, `float64`, `atoi`: spf13/cast's rules).

use super::{FuncTable, P, arg_str, empty};
use crate::template::parse::parse_number;
use crate::template::value::Value;

pub fn register(t: &mut FuncTable) {
    use P::{Any, Bool, Str};
    t.add_variadic("default", &[Any], Any, |_, a| {
        Ok(if a.len() < 2 || empty(&a[1]) {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    t.add("empty", &[Any], |_, a| Ok(Value::Bool(empty(&a[0]))));
    t.add_variadic("coalesce", &[], Any, |_, a| {
        Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or_default())
    });
    t.add_variadic("all", &[], Any, |_, a| Ok(Value::Bool(a.iter().all(|v| !empty(v)))));
    t.add_variadic("any", &[], Any, |_, a| Ok(Value::Bool(a.iter().any(|v| !empty(v)))));
    t.add("ternary", &[Any, Any, Bool], |_, a| {
        Ok(if a[2].truth() { a[0].clone() } else { a[1].clone() })
    });
    t.add("typeOf", &[Any], |_, a| Ok(Value::str(a[0].type_name())));
    t.add("typeIs", &[Str, Any], |_, a| {
        Ok(Value::Bool(arg_str(a, 0) == a[1].type_name()))
    });
    t.add("typeIsLike", &[Str, Any], |_, a| {
        let t = a[1].type_name();
        Ok(Value::Bool(arg_str(a, 0) == t || format!("*{}", arg_str(a, 0)) == t))
    });
    t.add("kindOf", &[Any], |_, a| Ok(Value::str(a[0].kind())));
    t.add("kindIs", &[Str, Any], |_, a| {
        Ok(Value::Bool(arg_str(a, 0) == a[1].kind()))
    });
    t.add("deepEqual", &[Any, Any], |_, a| Ok(Value::Bool(a[0] == a[1])));
    t.add("int", &[Any], |_, a| Ok(Value::Int(to_int64(&a[0]))));
    t.add("int64", &[Any], |_, a| Ok(Value::Int64(to_int64(&a[0]))));
    t.add("float64", &[Any], |_, a| Ok(Value::Float(to_float64(&a[0]))));
    t.add("atoi", &[Str], |_, a| Ok(Value::Int(atoi(arg_str(a, 0)))));
    t.add("toDecimal", &[Any], |_, a| Ok(Value::Int64(to_decimal(&a[0]))));
}

fn atoi(s: &str) -> i64 {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    s.parse().unwrap_or(0)
}

fn to_decimal(v: &Value) -> i64 {
    let s = crate::template::fmt::sprint_value(v);
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    match i64::from_str_radix(body, 8) {
        Ok(n) if !body.is_empty() && !body.starts_with(['+', '-']) => {
            if neg {
                -n
            } else {
                n
            }
        }
        _ => 0,
    }
}

/// cast's `trimZeroDecimal`: `"10.0"` → `"10"`.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, b) in s.bytes().enumerate().rev() {
        match b {
            b'.' if found_zero => return &s[..i],
            b'.' => return s,
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// spf13/cast's `ToInt64` (errors become 0).
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint8(b) => i64::from(*b),
        Value::Float(f) => float_to_int(*f),
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let t = trim_zero_decimal(s);
            match parse_number(t) {
                Ok(n) if !t.contains(['.', 'e', 'E', 'p', 'P']) || t.starts_with("0x") => n.int.unwrap_or(0),
                _ => 0,
            }
        }
        _ => 0,
    }
}

/// Go's `int64(f)` conversion on amd64: truncation, and the "integer indefinite" value
/// (`i64::MIN`) for NaN and anything out of range.
fn float_to_int(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// spf13/cast's `ToFloat64` (errors become 0).
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Uint8(b) => f64::from(*b),
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => parse_go_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `strconv.ParseFloat(s, 64)`.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return lower.parse().ok();
    }
    if s.is_empty() || s.contains("__") || s.ends_with('_') {
        return None;
    }
    if body.starts_with("0x") {
        return parse_number(s).ok().and_then(|n| n.float);
    }
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    if clean.contains(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))) {
        return None;
    }
    clean.parse().ok()
}
