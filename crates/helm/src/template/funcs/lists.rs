//! sprig's list functions (`list.go`): every one returns a new `[]interface {}`; a wrong input
//! type is the error (or panic, which Go's executor turns into the same error) sprig gives.

use super::conv::to_int64;
use super::{FuncTable, P, R, arg_int, empty};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::value::Value;

type Items = Vec<Value>;

/// The elements of a slice, or sprig's error naming the operation and the value's kind.
fn items(v: &Value, what: &str) -> Result<Items, GoError> {
    match v {
        Value::List(l) => Ok(l.items.clone()),
        Value::Nil => Err(GoError::new(
            "runtime error: invalid memory address or nil pointer dereference",
        )),
        other => Err(GoError::new(format!("Cannot {what} type {}", other.kind()))),
    }
}

fn list(v: Items) -> R {
    Ok(Value::list(v))
}

/// Registers a function and its `must…` twin (the same here: a panic and an error read alike).
fn both(t: &mut FuncTable, name: &'static str, must: &'static str, params: &'static [P], imp: super::FuncImpl) {
    t.add(name, params, imp);
    t.add(must, params, imp);
}

pub fn register(t: &mut FuncTable) {
    use P::Any;
    t.add_variadic("list", &[], Any, |_, a| list(a.to_vec()));
    t.add_variadic("tuple", &[], Any, |_, a| list(a.to_vec()));
    for (name, must) in [("append", "mustAppend"), ("push", "mustPush")] {
        both(t, name, must, &[Any, Any], |_, a| {
            let mut v = items(&a[0], "push on")?;
            v.push(a[1].clone());
            list(v)
        });
    }
    both(t, "prepend", "mustPrepend", &[Any, Any], |_, a| {
        let mut v = items(&a[0], "prepend on")?;
        v.insert(0, a[1].clone());
        list(v)
    });
    both(t, "first", "mustFirst", &[Any], |_, a| {
        Ok(items(&a[0], "find first on")?.first().cloned().unwrap_or_default())
    });
    both(t, "last", "mustLast", &[Any], |_, a| {
        Ok(items(&a[0], "find last on")?.last().cloned().unwrap_or_default())
    });
    both(t, "rest", "mustRest", &[Any], |_, a| {
        list(items(&a[0], "find rest on")?.into_iter().skip(1).collect())
    });
    both(t, "initial", "mustInitial", &[Any], |_, a| {
        let mut v = items(&a[0], "find initial on")?;
        v.pop();
        list(v)
    });
    both(t, "reverse", "mustReverse", &[Any], |_, a| {
        list(items(&a[0], "find reverse on")?.into_iter().rev().collect())
    });
    both(t, "compact", "mustCompact", &[Any], |_, a| {
        list(items(&a[0], "compact on")?.into_iter().filter(|v| !empty(v)).collect())
    });
    both(t, "uniq", "mustUniq", &[Any], |_, a| {
        let mut out: Items = Vec::new();
        for v in items(&a[0], "find uniq on")? {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        list(out)
    });
    t.add_variadic("without", &[Any], Any, without);
    t.add_variadic("mustWithout", &[Any], Any, without);
    both(t, "has", "mustHas", &[Any, Any], |_, a| match &a[1] {
        Value::Nil => Ok(Value::Bool(false)),
        hay => Ok(Value::Bool(items(hay, "find has on")?.contains(&a[0]))),
    });
    t.add_variadic("slice", &[Any], Any, slice);
    t.add_variadic("mustSlice", &[Any], Any, slice);
    t.add_variadic("concat", &[], Any, concat);
    both(t, "chunk", "mustChunk", &[P::Int, Any], chunk);
}

fn without(_: &mut State<'_>, a: &[Value]) -> R {
    let omit = &a[1..];
    list(
        items(&a[0], "find without on")?
            .into_iter()
            .filter(|v| !omit.contains(v))
            .collect(),
    )
}

fn slice(_: &mut State<'_>, a: &[Value]) -> R {
    let v = match &a[0] {
        Value::List(l) => l.clone(),
        Value::Nil => {
            return Err(GoError::new(
                "runtime error: invalid memory address or nil pointer dereference",
            ));
        }
        other => {
            return Err(GoError::new(format!(
                "list should be type of slice or array but {}",
                other.kind()
            )));
        }
    };
    let n = v.items.len() as i64;
    if n == 0 {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map_or(0, to_int64);
    let end = a.get(2).map_or(n, to_int64);
    if start < 0 || end < start || end > n {
        return Err(GoError::new("reflect.Value.Slice: slice index out of bounds"));
    }
    Ok(Value::typed_list(v.ty, v.items[start as usize..end as usize].to_vec()))
}

fn concat(_: &mut State<'_>, a: &[Value]) -> R {
    let mut out = Vec::new();
    for l in a {
        match l {
            Value::List(l) => out.extend(l.items.iter().cloned()),
            Value::Nil => {
                return Err(GoError::new(
                    "runtime error: invalid memory address or nil pointer dereference",
                ));
            }
            other => return Err(GoError::new(format!("Cannot concat type {} as list", other.kind()))),
        }
    }
    list(out)
}

fn chunk(_: &mut State<'_>, a: &[Value]) -> R {
    let size = arg_int(a, 0);
    let v = items(&a[1], "chunk")?;
    if size <= 0 {
        return Err(GoError::new("runtime error: integer divide by zero"));
    }
    Ok(Value::list(
        v.chunks(size as usize).map(|c| Value::list(c.to_vec())).collect(),
    ))
}
