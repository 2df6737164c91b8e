//! Helm's values: chart defaults, user values files and inline values, coalesced into subcharts,
//! dependencies enabled or not, values imported from children, schemas checked, and the
//! top-level objects templates see.
//!
//! # The value model
//! [`Values`] is a JSON object ([`serde_json::Map`]), since Helm goes YAML → JSON →
//! `map[string]interface{}`. Every number is an `f64` [`serde_json::Number`], as every number in
//! Helm's values is a Go `float64` (`1000000` prints `1e+06` with Go's `%v`, see
//! [`crate::gofmt::format_float`]; `toJson` prints it `1000000`). Keys iterate sorted, as Go's JSON
//! encoding and `range` in templates see them.
//!
//! [`Values`], [`ValuesError`] and reading a values file ([`load_values`]) live in
//! [`crate::chart::values_file`], since loading a chart reads its `values.yaml`; YAML itself is
//! read by [`crate::yaml`].
//!
//! # Modules
//! - [`coalesce`]: `CoalesceValues` / `MergeValues` / `CoalesceTables`.
//! - [`dependencies`]: `ProcessDependencies` (condition, tags, alias, import-values).
//! - [`schema`]: `values.schema.json` validation with Helm's error text.
//! - [`render`]: `.Values`, `.Release`, `.Chart`, `.Capabilities`, `.Subcharts`, `.Files` per
//!   chart, and the `helm template` pipeline up to rendering.

pub mod coalesce;
pub mod dependencies;
pub mod render;
pub mod schema;

use serde_json::Value;

pub use crate::chart::values_file::{Values, ValuesError, load_values, merge_maps, split_documents};
pub use coalesce::{coalesce_tables, coalesce_values, merge_tables, merge_values};

/// The key whose table every subchart also sees.
pub const GLOBAL_KEY: &str = "global";

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
