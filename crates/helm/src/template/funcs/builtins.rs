//! Go's `text/template` builtins: `and`, `or`, `not`, `len`, `index`, comparisons, the `print`
//! family and the escapers, with Go's error messages.

use super::{FuncTable, P, R};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::fmt::{sprint, sprintf, sprintln};
use crate::template::value::{MapType, Value};

pub fn register(t: &mut FuncTable) {
    t.add_lazy("and", |_, _| Ok(Value::Nil));
    t.add_lazy("or", |_, _| Ok(Value::Nil));
    t.add("not", &[P::Any], |_, a| Ok(Value::Bool(!a[0].truth())));
    t.add("len", &[P::Any], len);
    t.add_variadic("index", &[P::Any], P::Any, index);
    t.add_variadic("eq", &[P::Any], P::Any, eq);
    t.add("ne", &[P::Any, P::Any], |_, a| Ok(Value::Bool(!equal(&a[0], &a[1])?)));
    t.add("lt", &[P::Any, P::Any], |_, a| Ok(Value::Bool(less(&a[0], &a[1])?)));
    t.add("le", &[P::Any, P::Any], |_, a| {
        Ok(Value::Bool(less(&a[0], &a[1])? || equal(&a[0], &a[1])?))
    });
    t.add("gt", &[P::Any, P::Any], |_, a| {
        Ok(Value::Bool(!(less(&a[0], &a[1])? || equal(&a[0], &a[1])?)))
    });
    t.add("ge", &[P::Any, P::Any], |_, a| Ok(Value::Bool(!less(&a[0], &a[1])?)));
    t.add_variadic("print", &[], P::Any, |_, a| Ok(Value::str(sprint(a))));
    t.add_variadic("printf", &[P::Str], P::Any, |_, a| {
        Ok(Value::str(sprintf(super::arg_str(a, 0), &a[1..])))
    });
    t.add_variadic("println", &[], P::Any, |_, a| Ok(Value::str(sprintln(a))));
    t.add_variadic("html", &[], P::Any, |_, a| Ok(Value::str(html_escape(&eval_args(a)))));
    t.add_variadic("js", &[], P::Any, |_, a| Ok(Value::str(js_escape(&eval_args(a)))));
    t.add_variadic("urlquery", &[], P::Any, |_, a| {
        Ok(Value::str(query_escape(&eval_args(a))))
    });
}

fn len(_: &mut State<'_>, a: &[Value]) -> R {
    let n = match &a[0] {
        Value::Nil => return Err("len of nil pointer".into()),
        Value::Str(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.len(),
        Value::Object(o) => match (o.entries(), o.to_data()) {
            (Some(e), _) => e.len(),
            (None, Value::List(l)) if o.kind() == "slice" => l.items.len(),
            _ => return Err(format!("len of type {}", o.type_name()).into()),
        },
        other => return Err(format!("len of type {}", other.type_name()).into()),
    };
    Ok(Value::Int(n as i64))
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, GoError> {
    let x = match index {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint8(b) => i64::from(*b),
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => return Err(format!("cannot index slice/array with type {}", other.type_name()).into()),
    };
    if x < 0 || x as usize > cap {
        return Err(format!("index out of range: {x}").into());
    }
    if x as usize == cap {
        return Err("reflect: slice index out of range".into());
    }
    Ok(x as usize)
}

/// `index` into a string: the same checks, reflect's string message past the end.
fn string_index(index: &Value, len: usize) -> Result<usize, GoError> {
    index_arg(index, len).map_err(|e| {
        if e.msg == "reflect: slice index out of range" {
            GoError::new("reflect: string index out of range")
        } else {
            e
        }
    })
}

/// An integer of either signedness, as Go's comparisons see it.
fn int_of(v: &Value) -> Option<i128> {
    match v {
        Value::Int(i) | Value::Int64(i) => Some(i128::from(*i)),
        Value::Uint8(b) => Some(i128::from(*b)),
        _ => None,
    }
}

fn index(_: &mut State<'_>, a: &[Value]) -> R {
    let mut item = a[0].clone();
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for idx in &a[1..] {
        item = match &item {
            Value::Nil => return Err("index of nil pointer".into()),
            Value::List(l) => l.items[index_arg(idx, l.items.len())?].clone(),
            Value::Str(s) => Value::Uint8(s.as_bytes()[string_index(idx, s.len())?]),
            Value::Map(m) => {
                let key = match idx {
                    Value::Str(k) => k,
                    Value::Nil => return Err("value is nil; should be of type string".into()),
                    other => return Err(format!("value has type {}; should be string", other.type_name()).into()),
                };
                m.get(key).unwrap_or(if m.ty() == MapType::Str {
                    Value::str("")
                } else {
                    Value::Nil
                })
            }
            Value::Object(o) => match (o.entries(), idx, o.to_data()) {
                (Some(e), Value::Str(k), _) => e
                    .into_iter()
                    .find(|(n, _)| n == &**k)
                    .map(|(_, v)| v)
                    .unwrap_or_default(),
                (None, _, Value::List(l)) if o.kind() == "slice" => l.items[index_arg(idx, l.items.len())?].clone(),
                _ => return Err(format!("can't index item of type {}", item.type_name()).into()),
            },
            other => return Err(format!("can't index item of type {}", other.type_name()).into()),
        };
    }
    Ok(item)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum BasicKind {
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Invalid,
}

fn basic_kind(v: &Value) -> BasicKind {
    match v {
        Value::Bool(_) => BasicKind::Bool,
        Value::Int(_) | Value::Int64(_) => BasicKind::Int,
        Value::Uint8(_) => BasicKind::Uint,
        Value::Float(_) => BasicKind::Float,
        Value::Str(_) => BasicKind::Str,
        _ => BasicKind::Invalid,
    }
}

fn eq(_: &mut State<'_>, a: &[Value]) -> R {
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for b in &a[1..] {
        if equal(&a[0], b)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// Go's `eq` of two values (basic kinds; nil; otherwise Go's `==` on comparable values).
fn equal(x: &Value, y: &Value) -> Result<bool, GoError> {
    let (k1, k2) = (basic_kind(x), basic_kind(y));
    if matches!(
        (k1, k2),
        (BasicKind::Int, BasicKind::Uint) | (BasicKind::Uint, BasicKind::Int)
    ) {
        return Ok(int_of(x) == int_of(y));
    }
    if k1 != k2 {
        if !x.is_nil() && !y.is_nil() {
            return Err(format!(
                "incompatible types for comparison: {} and {}",
                x.type_name(),
                y.type_name()
            )
            .into());
        }
        return Ok(false);
    }
    Ok(match (x, y) {
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Int(a) | Value::Int64(a), Value::Int(b) | Value::Int64(b)) => a == b,
        (Value::Uint8(a), Value::Uint8(b)) => a == b,
        (Value::Float(a), Value::Float(b)) => a == b,
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Nil, _) | (_, Value::Nil) => x.is_nil() && y.is_nil(),
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            let one = |verb: &str, v: &Value| sprintf(verb, std::slice::from_ref(v));
            if x.type_name() == y.type_name() {
                return Err(format!("non-comparable type {}: {}", one("%s", y), y.type_name()).into());
            }
            let (tx, ty) = (x.type_name(), y.type_name());
            return Err(format!("non-comparable types {}: {tx}, {ty}: {}", one("%s", x), one("%v", y)).into());
        }
        (Value::Object(a), Value::Object(b)) => std::rc::Rc::ptr_eq(a, b),
        _ => false,
    })
}

fn less(x: &Value, y: &Value) -> Result<bool, GoError> {
    let (k1, k2) = (basic_kind(x), basic_kind(y));
    if k1 == BasicKind::Invalid || k2 == BasicKind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err(format!(
            "incompatible types for comparison: {} and {}",
            x.type_name(),
            y.type_name()
        )
        .into());
    }
    match (x, y) {
        (Value::Bool(_), _) => Err("invalid type for comparison".into()),
        (Value::Int(a) | Value::Int64(a), Value::Int(b) | Value::Int64(b)) => Ok(a < b),
        (Value::Uint8(a), Value::Uint8(b)) => Ok(a < b),
        (Value::Float(a), Value::Float(b)) => Ok(a < b),
        (Value::Str(a), Value::Str(b)) => Ok(a < b),
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `evalArgs`: one string as it is, otherwise `fmt.Sprint` with nil as `<no value>`.
fn eval_args(a: &[Value]) -> String {
    if let [Value::Str(s)] = a {
        return s.to_string();
    }
    let printable: Vec<Value> = a
        .iter()
        .map(|v| {
            if v.is_nil() {
                Value::str("<no value>")
            } else {
                v.clone()
            }
        })
        .collect();
    sprint(&printable)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x80 => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
