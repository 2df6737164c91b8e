//! Field paths of `replacements` as kyaml reads them: `.`-separated parts, `\.` escapes,
//! `[a.b/c]` brackets, list indices, `-` (the last item) and `[key=value]` items.

use serde_json::Value;

use super::scalar_text;
use crate::BuildError;

/// kyaml's `PathGetter` (no creation): the value at `parts`, `None` when a step finds nothing.
pub(super) fn lookup<'a>(node: &'a Value, parts: &[String]) -> Result<Option<&'a Value>, BuildError> {
    let Some((part, rest)) = parts.split_first() else {
        return Ok(Some(node));
    };
    let next = if let Ok(i) = part.parse::<i64>() {
        if i < 0 {
            return Err(BuildError::Invalid(format!("array index {i} cannot be negative")));
        }
        match node {
            Value::Null => None,
            Value::Array(a) => usize::try_from(i).ok().and_then(|i| a.get(i)),
            _ => return Err(wrong_kind("SequenceNode")),
        }
    } else if part == "-" {
        match node {
            Value::Array(a) if !a.is_empty() => a.last(),
            // kustomize indexes an empty list here and crashes.
            Value::Null | Value::Array(_) => {
                return Err(BuildError::Unsupported(
                    "uses `-` on an empty list in a replacement source".into(),
                ));
            }
            _ => return Err(wrong_kind("SequenceNode")),
        }
    } else if part == "*" {
        return Err(BuildError::Invalid("wildcard is not supported in PathGetter".into()));
    } else if is_list_index(part) {
        let (key, value) = split_index(part)?;
        first_element(node, &key, &value)?
    } else {
        match node {
            Value::Null => None,
            Value::Object(m) => m.get(part.as_str()),
            _ => return Err(wrong_kind("MappingNode")),
        }
    };
    match next {
        Some(n) => lookup(n, rest),
        None => Ok(None),
    }
}

pub(super) fn wrong_kind(expected: &str) -> BuildError {
    BuildError::Invalid(format!("wrong node kind: expected {expected}"))
}

/// kyaml's `ElementMatcher`: the first item whose `key` field (or, with no key, the item
/// itself) has exactly the text `value`.
pub(super) fn first_element<'a>(node: &'a Value, key: &str, value: &str) -> Result<Option<&'a Value>, BuildError> {
    let items = match node {
        Value::Null => return Ok(None),
        Value::Array(a) => a,
        _ => return Err(wrong_kind("SequenceNode")),
    };
    for item in items {
        let field = if key.is_empty() {
            Some(item)
        } else {
            match item {
                Value::Object(m) => m.get(key),
                _ => None,
            }
        };
        let text = match field {
            None => continue,
            // A map's or list's text is empty to kyaml.
            Some(Value::Object(_) | Value::Array(_)) => String::new(),
            Some(v) => scalar_text(v)?.0,
        };
        if text == value {
            return Ok(Some(item));
        }
    }
    Ok(None)
}

// ---- paths ----

/// kyaml's `SmarterPathSplitter` on `.`: `\.` escapes a dot, a leading `.` is dropped, and a
/// `[…]` part spanning dots is one part (its brackets removed unless it holds `=`).
pub fn split_path(path: &str) -> Vec<String> {
    let mut raw: Vec<&str> = path.split('.').collect();
    if raw.len() > 1 && raw[0].is_empty() {
        raw.remove(0);
    }
    let mut split: Vec<String> = Vec::new();
    for p in raw {
        match split.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(p);
            }
            _ => split.push(p.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < split.len() {
        let elem = &split[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut bracketed = vec![elem.clone()];
            while i < split.len() - 1 {
                i += 1;
                bracketed.push(split[i].clone());
                if split[i].ends_with(']') {
                    break;
                }
            }
            let joined = bracketed.join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(['[', ']']).to_string());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    out
}

pub(super) fn is_list_index(part: &str) -> bool {
    part.starts_with('[') && part.ends_with(']')
}

/// `[key=value]` as its key and value.
pub(super) fn split_index(part: &str) -> Result<(String, String), BuildError> {
    let inner = part.strip_suffix(']').unwrap_or(part);
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    match inner.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(BuildError::Invalid(
            "list path element must contain fieldName=fieldValue for element to match".into(),
        )),
    }
}

pub(super) fn is_index_number(part: &str) -> bool {
    part.parse::<i64>().is_ok_and(|i| i >= 0)
}

// ---- the targets ----
