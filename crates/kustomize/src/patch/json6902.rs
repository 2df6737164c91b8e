//! JSON 6902 as kustomize applies it: evanphx/json-patch v4's `Apply` with no options (`add`
//! needs the parent to exist, `replace` of a missing object key adds it, negative array indices
//! count from the end, `remove` of a missing key is an error).

use serde_json::Value;

use crate::BuildError;

pub(super) fn invalid(msg: String) -> BuildError {
    BuildError::Invalid(msg)
}

pub(super) fn json_unsupported(what: &str) -> BuildError {
    BuildError::Unsupported(format!("uses a JSON patch {what}"))
}

/// RFC 6901 unescaping, left to right as Go's strings.Replacer does (`~1` is `/`, `~0` is `~`).
pub(super) fn decode_key(k: &str) -> String {
    let mut out = String::new();
    let mut chars = k.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    out.push('/');
                    chars.next();
                    continue;
                }
                Some('0') => {
                    out.push('~');
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// Go's strconv.Atoi.
pub(super) fn atoi(key: &str) -> Option<i64> {
    if key.is_empty() || key.starts_with(['+', '-']) && key.len() == 1 {
        return None;
    }
    key.parse::<i64>().ok()
}

/// An array index as json-patch v4 reads it for get, set and remove: negative counts from the
/// end; out of range is an error.
pub(super) fn index(key: &str, len: usize, path: &str) -> Result<usize, BuildError> {
    let idx = atoi(key).ok_or_else(|| invalid(format!("value was not a proper array index: '{key}' in {path}")))?;
    let len = len as i64;
    let idx = if idx < 0 { idx + len } else { idx };
    if idx < 0 || idx >= len {
        return Err(invalid(format!("Unable to access invalid index: {key}: in {path}")));
    }
    Ok(idx as usize)
}

/// json-patch's findObject: the container holding the path's last segment, and that segment.
pub(super) fn find<'a>(doc: &'a mut Value, path: &str) -> Result<Option<(&'a mut Value, String)>, BuildError> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return Ok(None);
    }
    if !split[0].is_empty() {
        // json-patch ignores whatever precedes the first `/`.
        return Err(json_unsupported(&format!("path without a leading /: {path}")));
    }
    let mut cur = doc;
    for part in &split[1..split.len() - 1] {
        let key = decode_key(part);
        let next = match cur {
            Value::Object(m) => m.get_mut(&key),
            Value::Array(a) => match index(&key, a.len(), path) {
                Ok(i) => a.get_mut(i),
                Err(_) => None,
            },
            _ => None,
        };
        match next {
            Some(Value::Null) => return Err(json_unsupported(&format!("path through a null: {path}"))),
            Some(v @ (Value::Object(_) | Value::Array(_))) => cur = v,
            _ => return Ok(None),
        }
    }
    Ok(Some((cur, decode_key(split[split.len() - 1]))))
}

pub(super) fn get(con: &Value, key: &str, path: &str) -> Result<Option<Value>, BuildError> {
    match con {
        // A missing object key is no error here, only a missing value.
        Value::Object(m) => Ok(m.get(key).cloned()),
        Value::Array(a) => Ok(Some(a[index(key, a.len(), path)?].clone())),
        _ => Ok(None),
    }
}

pub(super) fn add(con: &mut Value, key: &str, val: Value, path: &str) -> Result<(), BuildError> {
    match con {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(val);
                return Ok(());
            }
            let idx = atoi(key).ok_or_else(|| invalid(format!("value was not a proper array index: '{key}'")))?;
            let size = a.len() as i64 + 1;
            let idx = if idx < 0 { idx + size } else { idx };
            if idx < 0 || idx >= size {
                return Err(invalid(format!(
                    "error in add for path: '{path}': Unable to access invalid index: {key}"
                )));
            }
            a.insert(idx as usize, val);
            Ok(())
        }
        _ => Err(invalid(format!(
            "add operation does not apply: doc is missing path: \"{path}\""
        ))),
    }
}

pub(super) fn remove(con: &mut Value, key: &str, path: &str) -> Result<(), BuildError> {
    match con {
        Value::Object(m) => match m.remove(key) {
            Some(_) => Ok(()),
            None => Err(invalid(format!(
                "error in remove for path: '{path}': Unable to remove nonexistent key: {key}: missing value"
            ))),
        },
        Value::Array(a) => {
            let i = index(key, a.len(), path)?;
            a.remove(i);
            Ok(())
        }
        _ => Err(invalid(format!(
            "remove operation does not apply: doc is missing path: \"{path}\""
        ))),
    }
}

pub(super) fn str_field<'a>(op: &'a Value, field: &str, kind: &str) -> Result<&'a str, BuildError> {
    match op.get(field) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(invalid(format!("{kind} operation missing {field} field"))),
    }
}

/// Applies JSON 6902 operations to `doc`, stopping at the first that fails (kustomize's error).
pub fn apply_ops(doc: &mut Value, ops: &[Value]) -> Result<(), BuildError> {
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
        let value = || match op.get("value") {
            None | Some(Value::Null) => Err(json_unsupported(&format!("{kind} without a value"))),
            Some(v) => Ok(v.clone()),
        };
        let missing = |path: &str| {
            invalid(format!(
                "{kind} operation does not apply: doc is missing path: \"{path}\""
            ))
        };
        match kind {
            "add" | "replace" | "remove" | "test" | "move" | "copy" => {}
            other => return Err(invalid(format!("Unexpected kind: {other}"))),
        }
        let path = str_field(op, "path", kind)?;
        if path.is_empty() {
            return Err(json_unsupported(&format!("{kind} of the whole document")));
        }
        match kind {
            "add" => {
                let v = value()?;
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                add(con, &key, v, path)?;
            }
            "remove" => {
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                remove(con, &key, path)?;
            }
            "replace" => {
                let v = value()?;
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                // json-patch v4 checks only that an array index exists: a missing object key
                // is added (checked with kubectl).
                get(con, &key, path)?;
                match con {
                    Value::Object(m) => {
                        m.insert(key, v);
                    }
                    Value::Array(a) => {
                        let i = index(&key, a.len(), path)?;
                        a[i] = v;
                    }
                    _ => return Err(missing(path)),
                }
            }
            "test" => {
                let want = value()?;
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                if get(con, &key, path)?.as_ref() != Some(&want) {
                    return Err(invalid(format!("testing value {path} failed: test failed")));
                }
            }
            "move" | "copy" => {
                let from = str_field(op, "from", kind)?;
                if from.is_empty() {
                    return Err(json_unsupported(&format!("{kind} from the whole document")));
                }
                let (con, key) = find(doc, from)?.ok_or_else(|| missing(from))?;
                let Some(v) = get(con, &key, from)? else {
                    return Err(json_unsupported(&format!("{kind} from a missing key")));
                };
                if kind == "move" {
                    remove(con, &key, from)?;
                }
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                add(con, &key, v, path)?;
            }
            _ => unreachable!("checked above"),
        }
    }
    Ok(())
}
