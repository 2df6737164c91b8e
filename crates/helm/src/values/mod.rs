//! Helm's values: chart defaults, user values files and inline values, coalesced into subcharts,
//! dependencies enabled or not, values imported from children, schemas checked, and the
//! top-level objects templates see.
//!
//! # The value model
//! [`Values`] is a JSON object ([`serde_json::Map`]), since Helm goes YAML → JSON →
//! `map[string]interface{}`. Every number is an `f64` [`serde_json::Number`], as every number in
//! Helm's values is a Go `float64` (`1000000` prints `1e+06` with Go's `%v`, see
//! [`gofmt::format_float`]; `toJson` prints it `1000000`). Keys iterate sorted, as Go's JSON
//! encoding and `range` in templates see them.
//!
//! # Modules
//! - [`yaml`]: YAML as go-yaml v2 + sigs.k8s.io/yaml read it (YAML 1.1 scalars).
//! - [`coalesce`]: `CoalesceValues` / `MergeValues` / `CoalesceTables`.
//! - [`dependencies`]: `ProcessDependencies` (condition, tags, alias, import-values).
//! - [`schema`]: `values.schema.json` validation with Helm's error text.
//! - [`render`]: `.Values`, `.Release`, `.Chart`, `.Capabilities`, `.Subcharts`, `.Files` per
//!   chart, and the `helm template` pipeline up to rendering.

pub mod coalesce;
pub mod dependencies;
pub mod gofmt;
pub mod render;
pub mod schema;
pub mod yaml;

use serde_json::{Map, Value};

pub use coalesce::{coalesce_tables, coalesce_values, merge_tables, merge_values};

/// A values tree: a JSON object whose numbers are all `f64`.
pub type Values = Map<String, Value>;

/// The key whose table every subchart also sees.
pub const GLOBAL_KEY: &str = "global";

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

/// The user's values as `helm template -f F1 -f F2 --set-json J1 ...` builds them: each file
/// read with [`load_values`] and merged in order, then each inline JSON object merged the same
/// way (`--set-json '{...}'`).
///
/// # Errors
/// [`ValuesError::File`] naming the file that failed.
pub fn user_values(files: &[(String, Vec<u8>)], inline: &[Values]) -> Result<Values, ValuesError> {
    let mut base = Values::new();
    for (name, bytes) in files {
        let current = load_values(bytes).map_err(|e| ValuesError::File {
            file: name.clone(),
            source: Box::new(e),
        })?;
        base = merge_maps(base, current);
    }
    for json in inline {
        base = merge_maps(base, json.clone());
    }
    Ok(base)
}

/// `Values.Table`: the table at a dotted path, or `None` where Helm says `ErrNoTable`.
#[must_use]
pub fn table<'a>(values: &'a Values, path: &str) -> Option<&'a Values> {
    let mut table = values;
    for part in path.split('.') {
        table = table.get(part)?.as_object()?;
    }
    Some(table)
}

/// `Values.PathValue`: the non-table value at a dotted path (`None` for a table or nothing).
#[must_use]
pub fn path_value<'a>(values: &'a Values, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (table(values, parent)?, key),
        None => (values, path),
    };
    parent.get(key).filter(|v| !v.is_object())
}
