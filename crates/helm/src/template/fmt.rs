//! Go's `fmt` as templates observe it: `%v` printing of every value (`{{ . }}`, `print`,
//! `toString`), and `printf` with the verbs, flags, widths and precisions charts use, including
//! Go's error strings for a wrong verb (`%!d(float64=3)`), a missing and an extra argument.
//! [`Value`]'s `Debug` is here too (it prints through `%v`), so `value` depends on nothing here.

use super::value::{ListType, Value};

/// Go's `%v` of a value (`fmt.Sprint` of one operand).
pub fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, Spec::plain('v'));
    out
}

/// `fmt.Sprint`: operands concatenated, a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::Str(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        write_value(&mut out, a, Spec::plain('v'));
    }
    out
}

/// `fmt.Sprintln`: operands separated by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(sprint_value).collect();
    parts.join(" ") + "\n"
}

/// Go's shortest `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
pub fn format_float_v(f: f64) -> String {
    if let Some(s) = special_float(f, false, false) {
        return s;
    }
    let (digits, exp) = shortest_digits(f);
    let neg = if f.is_sign_negative() { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        return format!("{neg}{}", exp_form(&digits, exp, digits.len().saturating_sub(1)));
    }
    format!("{neg}{}", fixed_form(&digits, exp))
}

fn special_float(f: f64, plus: bool, space: bool) -> Option<String> {
    if f.is_nan() {
        return Some(
            if plus {
                "+NaN"
            } else if space {
                " NaN"
            } else {
                "NaN"
            }
            .into(),
        );
    }
    if f.is_infinite() {
        return Some(if f < 0.0 { "-Inf" } else { "+Inf" }.into());
    }
    None
}

/// The shortest round-trip decimal digits of |f| and its decimal exponent (d.ddd × 10^exp).
fn shortest_digits(f: f64) -> (String, i32) {
    split_exp(&format!("{:e}", f.abs()))
}

fn split_exp(s: &str) -> (String, i32) {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// `d.ddde±XX` with `prec` digits after the point (padding with zeros).
fn exp_form(digits: &str, exp: i32, prec: usize) -> String {
    let mut d: String = digits.chars().collect();
    while d.len() < prec + 1 {
        d.push('0');
    }
    let mut out = d[..1].to_string();
    if prec > 0 {
        out.push('.');
        out.push_str(&d[1..=prec]);
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{out}e{sign}{:02}", exp.abs())
}

/// Plain decimal form of digits × 10^exp (no trailing zeros beyond the digits).
fn fixed_form(digits: &str, exp: i32) -> String {
    let n = digits.len() as i32;
    if exp < 0 {
        return format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits);
    }
    if exp + 1 >= n {
        return format!("{digits}{}", "0".repeat((exp + 1 - n) as usize));
    }
    let point = (exp + 1) as usize;
    format!("{}.{}", &digits[..point], &digits[point..])
}

/// One parsed `%` directive.
#[derive(Clone, Copy, Default)]
struct Spec {
    verb: char,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn plain(verb: char) -> Spec {
        Spec {
            verb,
            ..Spec::default()
        }
    }
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        parse_flags(&mut chars, &mut spec);
        spec.width = parse_num(&mut chars, args, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(parse_num(&mut chars, args, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        spec.verb = verb;
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            Some(a) => write_value(&mut out, a, spec),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
        argi += 1;
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..].iter().map(|a| bad_arg_text(a, 'v')).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn parse_flags(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, spec: &mut Spec) {
    while let Some(&c) = chars.peek() {
        match c {
            '-' => spec.minus = true,
            '+' => spec.plus = true,
            '#' => spec.sharp = true,
            ' ' => spec.space = true,
            '0' => spec.zero = !spec.minus,
            _ => return,
        }
        chars.next();
    }
}

fn parse_num(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, args: &[Value], argi: &mut usize) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let n = match args.get(*argi) {
            Some(Value::Int(i) | Value::Int64(i)) => usize::try_from(*i).ok(),
            _ => None,
        };
        *argi += 1;
        return n;
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

/// `type=value` as Go prints a bad or extra argument.
fn bad_arg_text(v: &Value, _verb: char) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        other => format!("{}={}", other.type_name(), sprint_value(other)),
    }
}

/// Go's `badVerb`: the value printed as `%v` with the directive's flags, width and precision.
fn bad_verb(out: &mut String, v: &Value, spec: Spec) {
    out.push_str(&format!("%!{}(", spec.verb));
    if v.is_nil() {
        out.push_str("<nil>");
    } else {
        out.push_str(&v.type_name());
        out.push('=');
        write_value(out, v, Spec { verb: 'v', ..spec });
    }
    out.push(')');
}

/// An element of a list or map: a nil there prints `<nil>` whatever the verb.
/// An element of a map or slice. Below the top level Go's `fmt` prints a pointer as its
/// address (`map[Capabilities:0xc000123450]`), not what it points to.
fn write_elem(out: &mut String, v: &Value, spec: Spec) {
    if v.is_nil() {
        pad(out, "<nil>", spec, false);
    } else if let Value::Object(o) = v
        && o.kind() == "ptr"
        && spec.verb == 'v'
    {
        pad(out, &format!("{:p}", std::rc::Rc::as_ptr(o).cast::<()>()), spec, false);
    } else {
        write_value(out, v, spec);
    }
}

fn write_value(out: &mut String, v: &Value, spec: Spec) {
    super::value::deep(|| write_value_inner(out, v, spec))
}

fn write_value_inner(out: &mut String, v: &Value, spec: Spec) {
    if spec.verb == 'T' {
        pad(out, &v.type_name(), spec, false);
        return;
    }
    match v {
        Value::Nil => match spec.verb {
            'v' => pad(out, "<nil>", spec, false),
            _ => bad_verb(out, v, spec),
        },
        Value::Bool(b) => match spec.verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, spec, false),
            _ => bad_verb(out, v, spec),
        },
        Value::Int(i) | Value::Int64(i) => write_int(out, v, *i, spec),
        Value::Uint8(b) => write_int(out, v, i64::from(*b), spec),
        Value::Float(f) => write_float(out, v, *f, spec),
        Value::Str(s) => write_str(out, v, s, spec),
        Value::List(l) => write_list(out, &l.items, l.ty, spec),
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, &Value::str(k.as_str()), spec);
                out.push(':');
                write_elem(out, val, spec);
            }
            out.push(']');
        }
        Value::Object(o) => match spec.verb {
            'v' | 's' | 'q' => write_str(out, v, &o.display(), spec),
            _ => bad_verb(out, v, spec),
        },
    }
}

fn write_list(out: &mut String, items: &[Value], ty: ListType, spec: Spec) {
    if ty == ListType::Bytes && matches!(spec.verb, 's' | 'q' | 'x' | 'X') {
        let bytes: Vec<u8> = items
            .iter()
            .map(|b| if let Value::Int(i) = b { *i as u8 } else { 0 })
            .collect();
        let s = String::from_utf8_lossy(&bytes).into_owned();
        write_str(out, &Value::str(s.as_str()), &s, spec);
        return;
    }
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_elem(out, item, spec);
    }
    out.push(']');
}

fn write_str(out: &mut String, v: &Value, s: &str, spec: Spec) {
    match spec.verb {
        'v' | 's' => {
            let s = truncate_runes(s, spec.prec);
            pad(out, s, spec, false);
        }
        'q' => {
            let s = truncate_runes(s, spec.prec);
            let q = if spec.sharp && !s.contains('`') && !s.chars().any(|c| c.is_control() && c != '\t') {
                format!("`{s}`")
            } else {
                go_quote(s, spec.plus)
            };
            pad(out, &q, spec, false);
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if spec.verb == 'x' { "0x" } else { "0X" });
                }
                h.push_str(&if spec.verb == 'x' {
                    format!("{b:02x}")
                } else {
                    format!("{b:02X}")
                });
            }
            pad(out, &h, spec, false);
        }
        _ => bad_verb(out, v, spec),
    }
}

fn truncate_runes(s: &str, prec: Option<usize>) -> &str {
    match prec {
        Some(p) => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        None => s,
    }
}

/// `strconv.Quote` (or `QuoteToASCII` with `+`).
pub fn go_quote(s: &str, ascii: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        push_quoted_char(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

fn push_quoted_char(out: &mut String, c: char, quote: char, ascii: bool) {
    match c {
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x80 => out.push(c),
        c if !ascii && is_go_printable(c) => out.push(c),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of `unicode.IsPrint` for non-ASCII runes.
fn is_go_printable(c: char) -> bool {
    !(c.is_control()
        || ('\u{e000}'..='\u{f8ff}').contains(&c)
        || c == '\u{feff}'
        || matches!(c as u32, 0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f)
        || c.is_whitespace() && c != ' ')
}

fn write_int(out: &mut String, v: &Value, i: i64, spec: Spec) {
    let neg = i < 0;
    let mag = i.unsigned_abs();
    let digits = match spec.verb {
        'v' | 'd' => mag.to_string(),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        'o' | 'O' => format!("{mag:o}"),
        'b' => format!("{mag:b}"),
        'c' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            return pad(out, &c.to_string(), spec, false);
        }
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            let mut q = String::from("'");
            push_quoted_char(&mut q, c, '\'', spec.plus);
            q.push('\'');
            return pad(out, &q, spec, false);
        }
        'U' => return pad(out, &format!("U+{mag:04X}"), spec, false),
        _ => return bad_verb(out, v, spec),
    };
    let mut digits = match spec.prec {
        Some(0) if mag == 0 => String::new(),
        Some(p) if digits.len() < p => "0".repeat(p - digits.len()) + &digits,
        _ => digits,
    };
    if spec.sharp {
        let prefix = match spec.verb {
            'x' => "0x",
            'X' => "0X",
            'o' => "0",
            'b' => "0b",
            _ => "",
        };
        digits = format!("{prefix}{digits}");
    }
    if spec.verb == 'O' {
        digits = format!("0o{digits}");
    }
    let sign = sign_of(neg, spec);
    pad_number(out, sign, &digits, spec, spec.prec.is_none());
}

fn sign_of(neg: bool, spec: Spec) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn write_float(out: &mut String, v: &Value, f: f64, spec: Spec) {
    if let Some(s) = special_float(f, spec.plus, spec.space) {
        let s = if matches!(spec.verb, 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'v') {
            s
        } else {
            return bad_verb(out, v, spec);
        };
        return pad(out, &s, Spec { zero: false, ..spec }, false);
    }
    let body = match spec.verb {
        'v' => float_g(f.abs(), spec.prec, spec.sharp),
        'g' | 'G' => float_g(f.abs(), spec.prec, spec.sharp),
        'e' | 'E' => exp_form_prec(f.abs(), spec.prec.unwrap_or(6)),
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f.abs()),
        _ => return bad_verb(out, v, spec),
    };
    let body = if matches!(spec.verb, 'E' | 'G') {
        body.to_uppercase()
    } else {
        body
    };
    pad_number(out, sign_of(f.is_sign_negative(), spec), &body, spec, true);
}

fn exp_form_prec(f: f64, prec: usize) -> String {
    let (digits, exp) = split_exp(&format!("{:.*e}", prec, f));
    exp_form(&digits, exp, prec)
}

/// `%g` with an optional precision (`%v` is `%g` with the shortest digits).
fn float_g(f: f64, prec: Option<usize>, _sharp: bool) -> String {
    let (digits, exp, eprec) = match prec {
        None => {
            let (d, e) = shortest_digits(f);
            (d, e, 6)
        }
        Some(p) => {
            let p = p.max(1);
            let (d, e) = split_exp(&format!("{:.*e}", p - 1, f));
            let d = d.trim_end_matches('0').to_string();
            let d = if d.is_empty() { "0".to_string() } else { d };
            let nd = d.len() as i32;
            let eprec = if p as i32 > nd && nd > e { nd } else { p as i32 };
            (d, e, eprec)
        }
    };
    if exp < -4 || exp >= eprec {
        return exp_form(&digits, exp, digits.len() - 1);
    }
    fixed_form(&digits, exp)
}

fn pad_number(out: &mut String, sign: &str, body: &str, spec: Spec, zero_ok: bool) {
    let len = sign.chars().count() + body.chars().count();
    match spec.width {
        Some(w) if w > len => {
            let fill = w - len;
            if spec.minus {
                out.push_str(sign);
                out.push_str(body);
                out.push_str(&" ".repeat(fill));
            } else if spec.zero && zero_ok {
                out.push_str(sign);
                out.push_str(&"0".repeat(fill));
                out.push_str(body);
            } else {
                out.push_str(&" ".repeat(fill));
                out.push_str(sign);
                out.push_str(body);
            }
        }
        _ => {
            out.push_str(sign);
            out.push_str(body);
        }
    }
}

fn pad(out: &mut String, s: &str, spec: Spec, _numeric: bool) {
    let len = s.chars().count();
    match spec.width {
        Some(w) if w > len => {
            let fill = w - len;
            if spec.minus {
                out.push_str(s);
                out.push_str(&" ".repeat(fill));
            } else {
                out.push_str(&(if spec.zero { "0" } else { " " }).repeat(fill));
                out.push_str(s);
            }
        }
        _ => out.push_str(s),
    }
}

/// `{:?}` of a value: strings quoted, objects as `Type(display)`, anything else as Go's `%v`
/// prints it (here rather than in `value.rs`, so `value` needs nothing of `fmt`).
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Object(o) => write!(f, "{}({})", o.type_name(), o.display()),
            other => f.write_str(&sprint_value(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go() {
        assert_eq!(format_float_v(1e6), "1e+06");
        assert_eq!(format_float_v(123456.0), "123456");
        assert_eq!(format_float_v(1.5), "1.5");
        assert_eq!(format_float_v(1e-5), "1e-05");
        assert_eq!(format_float_v(0.0001), "0.0001");
        assert_eq!(format_float_v(-2.0), "-2");
        assert_eq!(format_float_v(1e21), "1e+21");
        assert_eq!(format_float_v(1234567.0), "1.234567e+06");
    }

    #[test]
    fn printf_verbs() {
        let f = |s: &str, a: Vec<Value>| sprintf(s, &a);
        assert_eq!(f("%d", vec![Value::Float(3.0)]), "%!d(float64=3)");
        assert_eq!(
            f("%05d|%-4d|%x", vec![Value::Int(-42), Value::Int(7), Value::Int(255)]),
            "-0042|7   |ff"
        );
        assert_eq!(
            f(
                "%.2f %e %g",
                vec![Value::Float(2.5183), Value::Float(1234.5), Value::Float(0.5)]
            ),
            "2.52 1.234500e+03 0.5"
        );
        assert_eq!(f("%q %v", vec![Value::str("a\"b"), Value::Nil]), "\"a\\\"b\" <nil>");
        assert_eq!(f("%s %s", vec![Value::str("x")]), "x %!s(MISSING)");
        assert_eq!(f("%s", vec![Value::str("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(f("%5.1f|%t", vec![Value::Float(2.25), Value::Bool(true)]), "  2.2|true");
    }
}
