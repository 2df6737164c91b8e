//! Go's literal syntax as the template parser reads it: quoted strings (`strconv.Unquote`) and
//! number constants (decimal, hex, octal, binary, underscores, floats, hex floats).

use super::node::Number;

/// Go's `strconv.Unquote` for `"…"` and `` `…` `` literals.
pub fn unquote(s: &str) -> Option<String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Some(s[1..s.len() - 1].replace('\r', ""));
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return unquote_chars(&s[1..s.len() - 1], '"');
    }
    None
}

pub fn unquote_chars(s: &str, quote: char) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote || c == '\n' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' if e == quote => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == n)?;
                out.push(char::from_u32(v)?);
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                out.push(char::from_u32(v).filter(|_| v < 256)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Go's `parse.newNumber` for a number item: which of int and float the text denotes.
pub fn parse_number(text: &str) -> std::result::Result<Number, String> {
    if text.ends_with('i') {
        return Err(format!("illegal number syntax: {text:?}"));
    }
    let int = parse_go_int(text);
    let mut n = Number {
        text: text.into(),
        int,
        float: int.map(|i| i as f64),
        is_char: false,
    };
    if n.int.is_none() {
        if let Some(u) = parse_go_uint(text) {
            n.float = Some(u as f64);
        } else if let Some(f) = parse_go_float(text) {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: {text:?}"));
            }
            n.float = Some(f);
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                n.int = Some(f as i64);
            }
        }
    }
    if n.int.is_none() && n.float.is_none() {
        return Err(format!("illegal number syntax: {text:?}"));
    }
    Ok(n)
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// The digits and radix of a Go integer literal (base prefix, underscores), without sign.
fn radix_digits(body: &str) -> Option<(u32, String)> {
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r.to_string())
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r.to_string())
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower)
    };
    if digits.starts_with('_') && radix == 10 || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    (!digits.is_empty()).then_some((radix, digits))
}

fn parse_go_uint(text: &str) -> Option<u64> {
    if text.starts_with(['-', '+']) {
        return None;
    }
    let (radix, digits) = radix_digits(text)?;
    u64::from_str_radix(&digits, radix).ok()
}

fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, body) = split_sign(text);
    let (radix, digits) = radix_digits(body)?;
    let mag = i128::from(u64::from_str_radix(&digits, radix).ok()?);
    let v = if neg { -mag } else { mag };
    i64::try_from(v).ok()
}

fn parse_go_float(text: &str) -> Option<f64> {
    let (neg, body) = split_sign(text);
    let lower = body.to_ascii_lowercase();
    let f = if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(&hex.replace('_', ""))?
    } else {
        let clean: String = lower.chars().filter(|c| *c != '_').collect();
        if clean.is_empty() || clean.starts_with(['e']) || clean.contains("inf") || clean.contains("nan") {
            return None;
        }
        clean.parse::<f64>().ok()?
    };
    Some(if neg { -f } else { f })
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    Some(v * 2f64.powi(exp - 4 * frac.len() as i32))
}
