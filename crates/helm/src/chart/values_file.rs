//! A values file as Helm's chart loader reads it (`loader.LoadValues`): the YAML stream split into
//! documents, each read by [`crate::yaml`], merged into one [`Values`] tree.
//!
//! It lives with the chart because loading a chart reads its `values.yaml`; [`crate::values`]
//! (which builds on [`Chart`](super::Chart)) re-exports these items, so they are also
//! `crate::values::{Values, ValuesError, load_values, merge_maps, split_documents}`.

use serde_json::{Map, Value};

use crate::yaml;

/// A values tree: a JSON object whose numbers are all `f64`.
pub type Values = Map<String, Value>;

/// What Helm refuses while reading or combining values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValuesError {
    /// A YAML document Helm cannot read (loader.LoadValues).
    #[error("cannot unmarshal yaml document: error converting YAML to JSON: {0}")]
    Yaml(yaml::YamlError),
    /// A YAML document whose top is not a map.
    #[error(
        "cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {0} into Go value of type map[string]interface {{}}"
    )]
    NotAMap(&'static str),
    /// A `---` line followed by something other than a comment.
    #[error("error reading yaml document: invalid Yaml document separator: {0}")]
    Separator(String),
    /// A subchart's key holds a non-table (`coalesceDeps`).
    #[error("type mismatch on {name}: {value}")]
    TypeMismatch {
        /// The subchart's name.
        name: String,
        /// Go's `%t` of the value found.
        value: String,
    },
    /// A values file that failed to parse, named as `helm template -f` names it.
    #[error("failed to parse {file}: {source}")]
    File {
        /// The file as the caller named it.
        file: String,
        /// Why.
        source: Box<ValuesError>,
    },
}

/// Go's JSON type names, as `json: cannot unmarshal X` words them.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Splits a YAML stream into documents as Kubernetes' `YAMLReader` does for Helm: a line starting
/// `---` ends a document (only spaces or a comment may follow it), empty documents are dropped.
///
/// # Errors
/// [`ValuesError::Separator`] for `--- text`.
pub fn split_documents(text: &str) -> Result<Vec<String>, ValuesError> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let trimmed = rest.trim();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                return Err(ValuesError::Separator(trimmed.to_string()));
            }
            if !current.is_empty() {
                docs.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        docs.push(current);
    }
    Ok(docs)
}

/// `loader.LoadValues`: every document of a values stream (values.yaml, a `-f` file) read and
/// merged with [`merge_maps`], later documents winning.
///
/// # Errors
/// [`ValuesError`] for YAML Helm refuses or a document that is not a map.
pub fn load_values(bytes: &[u8]) -> Result<Values, ValuesError> {
    let text = String::from_utf8_lossy(bytes);
    let mut values = Values::new();
    for doc in split_documents(&text)? {
        let current = match yaml::from_str(&doc).map_err(ValuesError::Yaml)? {
            Value::Object(m) => m,
            Value::Null => Values::new(),
            other => return Err(ValuesError::NotAMap(json_kind(&other))),
        };
        values = merge_maps(values, current);
    }
    Ok(values)
}

/// `loader.MergeMaps`: `b` over `a`, tables merged recursively, anything else replaced (a null in
/// `b` replaces too).
#[must_use]
pub fn merge_maps(a: Values, b: Values) -> Values {
    let mut out = a;
    for (k, v) in b {
        match (out.get_mut(&k), v) {
            (Some(Value::Object(existing)), Value::Object(new)) => {
                let merged = merge_maps(std::mem::take(existing), new);
                *existing = merged;
            }
            (_, v) => {
                out.insert(k, v);
            }
        }
    }
    out
}
