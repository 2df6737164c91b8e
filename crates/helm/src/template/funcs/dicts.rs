//! sprig's dictionary functions (`dict.go`): maps are shared and changed in place (`set`,
//! `unset`, `merge` into the first argument) as Go maps are; `merge`/`mergeOverwrite` follow
//! mergo's rules; `deepCopy` copies maps and lists all the way down.

use super::{FuncTable, P, R, arg_str, empty, strval};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::value::{List, Map, MapType, Value};

/// The map argument (nil is Go's nil map: reads see nothing).
fn map_arg(v: &Value) -> Option<&Map> {
    v.as_map()
}

pub fn register(t: &mut FuncTable) {
    use P::{Any, Map as M, Str};
    t.add_variadic("dict", &[], Any, dict);
    t.add("get", &[M, Str], |_, a| {
        Ok(map_arg(&a[0])
            .and_then(|m| m.get(arg_str(a, 1)))
            .unwrap_or_else(|| Value::str("")))
    });
    t.add("set", &[M, Str, Any], |_, a| {
        let Some(m) = map_arg(&a[0]) else {
            return Err(GoError::new("assignment to entry in nil map"));
        };
        m.insert(arg_str(a, 1).to_string(), a[2].clone());
        Ok(a[0].clone())
    });
    t.add("unset", &[M, Str], |_, a| {
        if let Some(m) = map_arg(&a[0]) {
            m.remove(arg_str(a, 1));
        }
        Ok(a[0].clone())
    });
    t.add("hasKey", &[M, Str], |_, a| {
        Ok(Value::Bool(map_arg(&a[0]).is_some_and(|m| m.contains(arg_str(a, 1)))))
    });
    t.add_variadic("pluck", &[Str], M, |_, a| {
        let key = arg_str(a, 0);
        Ok(Value::list(
            a[1..]
                .iter()
                .filter_map(|d| map_arg(d).and_then(|m| m.get(key)))
                .collect(),
        ))
    });
    t.add_variadic("keys", &[], M, |_, a| {
        Ok(Value::str_list(
            a.iter().filter_map(map_arg).flat_map(Map::keys).collect::<Vec<_>>(),
        ))
    });
    t.add_variadic("pick", &[M], Str, |_, a| Ok(pick_omit(a, true)));
    t.add_variadic("omit", &[M], Str, |_, a| Ok(pick_omit(a, false)));
    t.add_variadic("merge", &[M], M, |_, a| Ok(merge_all(a, false)));
    t.add_variadic("mustMerge", &[M], M, |_, a| Ok(merge_all(a, false)));
    t.add_variadic("mergeOverwrite", &[M], M, |_, a| Ok(merge_all(a, true)));
    t.add_variadic("mustMergeOverwrite", &[M], M, |_, a| Ok(merge_all(a, true)));
    t.add("values", &[M], |_, a| {
        Ok(Value::list(
            map_arg(&a[0])
                .map(|m| m.entries().into_iter().map(|(_, v)| v).collect())
                .unwrap_or_default(),
        ))
    });
    t.add("deepCopy", &[Any], |_, a| Ok(deep_copy(&a[0])));
    t.add("mustDeepCopy", &[Any], |_, a| Ok(deep_copy(&a[0])));
    t.add_variadic("dig", &[], Any, dig);
}

fn dict(_: &mut State<'_>, a: &[Value]) -> R {
    let m = Map::new(MapType::Any);
    for pair in a.chunks(2) {
        let key = strval(&pair[0]);
        m.insert(key, pair.get(1).cloned().unwrap_or_else(|| Value::str("")));
    }
    Ok(Value::Map(m))
}

fn pick_omit(a: &[Value], pick: bool) -> Value {
    let out = Map::new(MapType::Any);
    let keys: Vec<&str> = a[1..].iter().filter_map(Value::as_str).collect();
    if let Some(m) = map_arg(&a[0]) {
        for (k, v) in m.entries() {
            if keys.contains(&k.as_str()) == pick {
                out.insert(k, v);
            }
        }
    }
    Value::Map(out)
}

fn merge_all(a: &[Value], overwrite: bool) -> Value {
    let dst = match map_arg(&a[0]) {
        Some(m) => m.clone(),
        None => Map::new(MapType::Any),
    };
    for src in a[1..].iter().filter_map(map_arg) {
        merge_into(&dst, src, overwrite);
    }
    Value::Map(dst)
}

/// mergo's `Merge`/`MergeWithOverwrite` of one map into another.
pub fn merge_into(dst: &Map, src: &Map, overwrite: bool) {
    crate::template::value::deep(|| merge_into_inner(dst, src, overwrite))
}

fn merge_into_inner(dst: &Map, src: &Map, overwrite: bool) {
    for (k, s) in src.entries() {
        if s.is_nil() {
            if overwrite {
                dst.insert(k, Value::Nil);
            }
            continue;
        }
        let d = dst.get(&k);
        let d_set = d.as_ref().is_some_and(|d| !empty(d));
        match (&s, &d) {
            (Value::Map(sm), Some(Value::Map(dm))) => {
                merge_into(dm, sm, overwrite);
                if d_set {
                    continue;
                }
            }
            (Value::List(_), _) if d_set => {
                if overwrite {
                    dst.insert(k, s.clone());
                }
                continue;
            }
            _ => {}
        }
        if overwrite || !d_set {
            dst.insert(k, s);
        }
    }
}

/// copystructure's deep copy: new maps and lists all the way down.
pub fn deep_copy(v: &Value) -> Value {
    crate::template::value::deep(|| deep_copy_inner(v))
}

fn deep_copy_inner(v: &Value) -> Value {
    match v {
        Value::Map(m) => {
            let out = Map::new(m.ty());
            for (k, x) in m.entries() {
                out.insert(k, deep_copy(&x));
            }
            Value::Map(out)
        }
        Value::List(l) => Value::List(std::rc::Rc::new(List {
            ty: l.ty,
            items: l.items.iter().map(deep_copy).collect(),
        })),
        other => other.clone(),
    }
}

fn dig(_: &mut State<'_>, a: &[Value]) -> R {
    if a.len() < 3 {
        return Err(GoError::new("dig needs at least three arguments"));
    }
    let conv = |v: &Value, want: &str| {
        GoError::new(format!(
            "interface conversion: interface {{}} is {}, not {want}",
            if v.is_nil() { "nil".to_string() } else { v.type_name() }
        ))
    };
    let mut dict = match &a[a.len() - 1] {
        Value::Map(m) if m.ty() == MapType::Any => m.clone(),
        other => return Err(conv(other, "map[string]interface {}")),
    };
    let def = &a[a.len() - 2];
    let keys = &a[..a.len() - 2];
    for k in keys {
        if k.as_str().is_none() {
            return Err(conv(k, "string"));
        }
    }
    for (i, k) in keys.iter().enumerate() {
        let Some(step) = dict.get(k.as_str().unwrap_or_default()) else {
            return Ok(def.clone());
        };
        if i == keys.len() - 1 {
            return Ok(step);
        }
        dict = match &step {
            Value::Map(m) if m.ty() == MapType::Any => m.clone(),
            other => return Err(conv(other, "map[string]interface {}")),
        };
    }
    Ok(def.clone())
}
