//! sprig's string functions (`strings.go`, and the `strings` package functions sprig exposes),
//! with Go's byte-based slicing and sprig's argument orders.

use super::{FuncTable, P, R, arg_int, arg_str, strval};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::fmt::go_quote;
use crate::template::value::{ListType, Map, MapType, Value};

fn s(v: impl Into<String>) -> R {
    Ok(Value::str(v.into()))
}

#[allow(clippy::too_many_lines, reason = "a flat table of one-line registrations")]
pub fn register(t: &mut FuncTable) {
    use P::{Any, Int, Str};
    t.add(
        "trim",
        &[Str],
        |_, a| s(arg_str(a, 0).trim_matches(char::is_whitespace)),
    );
    t.add("upper", &[Str], |_, a| s(arg_str(a, 0).to_uppercase()));
    t.add("lower", &[Str], |_, a| s(arg_str(a, 0).to_lowercase()));
    t.add("title", &[Str], |_, a| s(title(arg_str(a, 0))));
    t.add("untitle", &[Str], |_, a| s(untitle(arg_str(a, 0))));
    t.add("trimAll", &[Str, Str], |_, a| {
        s(arg_str(a, 1).trim_matches(|c| arg_str(a, 0).contains(c)))
    });
    t.add("trimall", &[Str, Str], |_, a| {
        s(arg_str(a, 1).trim_matches(|c| arg_str(a, 0).contains(c)))
    });
    t.add("trimSuffix", &[Str, Str], |_, a| {
        s(arg_str(a, 1).strip_suffix(arg_str(a, 0)).unwrap_or(arg_str(a, 1)))
    });
    t.add("trimPrefix", &[Str, Str], |_, a| {
        s(arg_str(a, 1).strip_prefix(arg_str(a, 0)).unwrap_or(arg_str(a, 1)))
    });
    t.add("nospace", &[Str], |_, a| {
        s(arg_str(a, 0).chars().filter(|c| !c.is_whitespace()).collect::<String>())
    });
    t.add("initials", &[Str], |_, a| s(initials(arg_str(a, 0))));
    t.add("swapcase", &[Str], |_, a| s(swapcase(arg_str(a, 0))));
    t.add("abbrev", &[Int, Str], |_, a| s(abbrev(arg_int(a, 0), arg_str(a, 1))));
    t.add("trunc", &[Int, Str], |_, a| s(trunc(arg_int(a, 0), arg_str(a, 1))));
    t.add("substr", &[Int, Int, Str], substr);
    t.add("repeat", &[Int, Str], repeat);
    t.add("contains", &[Str, Str], |_, a| {
        Ok(Value::Bool(arg_str(a, 1).contains(arg_str(a, 0))))
    });
    t.add("hasPrefix", &[Str, Str], |_, a| {
        Ok(Value::Bool(arg_str(a, 1).starts_with(arg_str(a, 0))))
    });
    t.add("hasSuffix", &[Str, Str], |_, a| {
        Ok(Value::Bool(arg_str(a, 1).ends_with(arg_str(a, 0))))
    });
    t.add_variadic("quote", &[], Any, |_, a| s(quote(a)));
    t.add_variadic("squote", &[], Any, |_, a| s(squote(a)));
    t.add_variadic("cat", &[], Any, |_, a| s(cat(a)));
    t.add("indent", &[Int, Str], |_, a| s(indent(arg_int(a, 0), arg_str(a, 1))));
    t.add("nindent", &[Int, Str], |_, a| {
        s(format!("\n{}", indent(arg_int(a, 0), arg_str(a, 1))))
    });
    t.add("replace", &[Str, Str, Str], |_, a| {
        s(arg_str(a, 2).replace(arg_str(a, 0), arg_str(a, 1)))
    });
    t.add("plural", &[Str, Str, Int], |_, a| {
        s(if arg_int(a, 2) == 1 {
            arg_str(a, 0)
        } else {
            arg_str(a, 1)
        })
    });
    t.add("toString", &[Any], |_, a| s(strval(&a[0])));
    t.add("split", &[Str, Str], |_, a| {
        Ok(split_map(go_split(arg_str(a, 1), arg_str(a, 0), -1)))
    });
    t.add("splitn", &[Str, Int, Str], |_, a| {
        Ok(split_map(go_split(arg_str(a, 2), arg_str(a, 0), arg_int(a, 1))))
    });
    t.add("splitList", &[Str, Str], |_, a| {
        Ok(Value::str_list(go_split(arg_str(a, 1), arg_str(a, 0), -1)))
    });
    t.add("join", &[Str, Any], |_, a| s(strslice(&a[1]).join(arg_str(a, 0))));
    t.add("sortAlpha", &[Any], |_, a| Ok(Value::str_list(sort_alpha(&a[0]))));
    t.add("toStrings", &[Any], |_, a| Ok(Value::str_list(strslice(&a[0]))));
    t.add("base", &[Str], |_, a| s(path_base(arg_str(a, 0))));
    t.add("dir", &[Str], |_, a| s(path_dir(arg_str(a, 0))));
    t.add("ext", &[Str], |_, a| s(path_ext(arg_str(a, 0))));
    t.add("clean", &[Str], |_, a| s(path_clean(arg_str(a, 0))));
    t.add("isAbs", &[Str], |_, a| Ok(Value::Bool(arg_str(a, 0).starts_with('/'))));
    t.add("osBase", &[Str], |_, a| s(path_base(arg_str(a, 0))));
    t.add("osDir", &[Str], |_, a| s(path_dir(arg_str(a, 0))));
    t.add("osExt", &[Str], |_, a| s(path_ext(arg_str(a, 0))));
    t.add("osClean", &[Str], |_, a| s(path_clean(arg_str(a, 0))));
    t.add("osIsAbs", &[Str], |_, a| {
        Ok(Value::Bool(arg_str(a, 0).starts_with('/')))
    });
}

/// Go's `strings.Title`: a letter after a separator is upper-cased.
fn title(src: &str) -> String {
    let mut prev = ' ';
    src.chars()
        .map(|c| {
            let sep = is_separator(prev);
            prev = c;
            if sep { c.to_uppercase().next().unwrap_or(c) } else { c }
        })
        .collect()
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

fn untitle(src: &str) -> String {
    let mut chars = src.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn initials(src: &str) -> String {
    src.split(char::is_whitespace)
        .filter_map(|w| w.chars().next())
        .collect()
}

fn swapcase(src: &str) -> String {
    src.chars()
        .flat_map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().collect::<Vec<_>>()
            } else if c.is_lowercase() {
                c.to_uppercase().collect()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Go's `s[a:b]` on bytes (the text is valid UTF-8 only where the cut is).
fn byte_slice(src: &str, a: usize, b: usize) -> String {
    String::from_utf8_lossy(&src.as_bytes()[a..b]).into_owned()
}

fn abbrev(width: i64, src: &str) -> String {
    if width < 4 || src.len() as i64 <= width {
        return src.to_string();
    }
    byte_slice(src, 0, (width - 3) as usize) + "..."
}

fn trunc(c: i64, src: &str) -> String {
    let n = src.len() as i64;
    if c < 0 && n + c > 0 {
        return byte_slice(src, (n + c) as usize, n as usize);
    }
    if c >= 0 && n > c {
        return byte_slice(src, 0, c as usize);
    }
    src.to_string()
}

fn substr(_: &mut State<'_>, a: &[Value]) -> R {
    let (start, end, src) = (arg_int(a, 0), arg_int(a, 1), arg_str(a, 2));
    let n = src.len() as i64;
    let oob = |x: String| Err(GoError::new(format!("runtime error: slice bounds out of range {x}")));
    if start < 0 {
        if end < 0 || end > n {
            return oob(format!("[:{end}] with length {n}"));
        }
        return s(byte_slice(src, 0, end as usize));
    }
    if end < 0 || end > n {
        if start > n {
            return oob(format!("[{start}:{n}]"));
        }
        return s(byte_slice(src, start as usize, n as usize));
    }
    if start > end {
        return oob(format!("[{start}:{end}]"));
    }
    s(byte_slice(src, start as usize, end as usize))
}

fn repeat(_: &mut State<'_>, a: &[Value]) -> R {
    let n = arg_int(a, 0);
    if n < 0 {
        return Err(GoError::new("strings: negative Repeat count"));
    }
    s(arg_str(a, 1).repeat(n as usize))
}

fn quote(a: &[Value]) -> String {
    a.iter()
        .filter(|v| !v.is_nil())
        .map(|v| go_quote(&strval(v), false))
        .collect::<Vec<_>>()
        .join(" ")
}

fn squote(a: &[Value]) -> String {
    a.iter()
        .filter(|v| !v.is_nil())
        .map(|v| format!("'{}'", crate::template::fmt::sprint_value(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cat(a: &[Value]) -> String {
    a.iter()
        .filter(|v| !v.is_nil())
        .map(crate::template::fmt::sprint_value)
        .collect::<Vec<_>>()
        .join(" ")
}

fn indent(n: i64, src: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", src.replace('\n', &format!("\n{pad}")))
}

/// Go's `strings.SplitN` (`n < 0`: all).
pub fn go_split(src: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let parts: Vec<String> = if sep.is_empty() {
        src.chars().map(String::from).collect()
    } else {
        src.split(sep).map(String::from).collect()
    };
    if n < 0 || parts.len() as i64 <= n {
        return parts;
    }
    if sep.is_empty() {
        let mut head: Vec<String> = parts[..(n - 1) as usize].to_vec();
        head.push(parts[(n - 1) as usize..].concat());
        return head;
    }
    src.splitn(n as usize, sep).map(String::from).collect()
}

fn split_map(parts: Vec<String>) -> Value {
    let m = Map::new(MapType::Str);
    for (i, p) in parts.into_iter().enumerate() {
        m.insert(format!("_{i}"), Value::str(p));
    }
    Value::Map(m)
}

/// sprig's `strslice`: a list's non-nil elements as strings, a scalar as a one-element list.
pub fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) if l.ty == ListType::Bytes => l.items.iter().map(strval).collect(),
        Value::List(l) => l.items.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

fn sort_alpha(v: &Value) -> Vec<String> {
    match v {
        Value::List(_) => {
            let mut out = strslice(v);
            out.sort();
            out
        }
        other => vec![strval(other)],
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    let last = p.rsplit('/').next().unwrap_or(p);
    match last.rfind('.') {
        Some(i) => last[i..].to_string(),
        None => String::new(),
    }
}

/// Go's `path.Clean`.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}
