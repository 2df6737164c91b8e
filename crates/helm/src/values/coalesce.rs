//! Helm's values coalescing (pkg/chart/common/util/coalesce.go): chart defaults under user
//! values, subcharts under their key with `global` copied down.
//!
//! Two modes, as in Helm: *coalesce* (`CoalesceValues`, what a render uses) deletes a key the
//! user set to null and drops nulls from chart defaults; *merge* (`MergeValues`, used while
//! importing values) keeps nulls.
//!
//! One aliasing effect of Helm's Go maps is reproduced on purpose: a subchart's `global` is a
//! shallow copy of its parent's, so tables two levels under `global` (`global.a.b`) are the
//! parent's own maps, and whatever the subchart (its defaults, its own subcharts) merges into them
//! shows in the parent's `.Values.global` and in every later sibling. Helm's iteration over Go
//! maps is unordered; where that order is visible, this follows Chart.yaml order for
//! dependencies.

use serde_json::{Map, Value};

use super::{GLOBAL_KEY, Values, ValuesError};
use crate::chart::Chart;

/// The warnings Helm logs while coalescing ("warning: skipped value for ...").
pub type Warnings = Vec<String>;

/// `CoalesceValues`: the chart's (and its subcharts') defaults under `vals`.
///
/// # Errors
/// [`ValuesError::TypeMismatch`] when a subchart's key holds a non-table.
pub fn coalesce_values(chart: &Chart, vals: &Values) -> Result<Values, ValuesError> {
    let mut warnings = Warnings::new();
    coalesce_values_logged(chart, vals, &mut warnings)
}

/// [`coalesce_values`], collecting Helm's warnings.
///
/// # Errors
/// As [`coalesce_values`].
pub fn coalesce_values_logged(chart: &Chart, vals: &Values, warnings: &mut Warnings) -> Result<Values, ValuesError> {
    let mut dest = vals.clone();
    coalesce(chart, &mut dest, "", false, warnings)?;
    Ok(dest)
}

/// `MergeValues`: as [`coalesce_values`] but nulls are kept.
///
/// # Errors
/// As [`coalesce_values`].
pub fn merge_values(chart: &Chart, vals: &Values) -> Result<Values, ValuesError> {
    let mut dest = vals.clone();
    coalesce(chart, &mut dest, "", true, &mut Warnings::new())?;
    Ok(dest)
}

/// `CoalesceTables`: `src` under `dst` (dst wins; a null in dst deletes src's value).
#[must_use]
pub fn coalesce_tables(mut dst: Values, src: Values) -> Values {
    coalesce_tables_full_key(&mut dst, src, "", false, &mut Warnings::new());
    dst
}

/// `MergeTables`: as [`coalesce_tables`] but nulls are kept.
#[must_use]
pub fn merge_tables(mut dst: Values, src: Values) -> Values {
    coalesce_tables_full_key(&mut dst, src, "", true, &mut Warnings::new());
    dst
}

fn concat_prefix(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

fn coalesce(chart: &Chart, dest: &mut Values, prefix: &str, merge: bool, w: &mut Warnings) -> Result<(), ValuesError> {
    coalesce_chart_values(chart, dest, prefix, merge, w);
    coalesce_deps(chart, dest, prefix, merge, w)
}

fn coalesce_deps(
    chart: &Chart,
    dest: &mut Values,
    prefix: &str,
    merge: bool,
    w: &mut Warnings,
) -> Result<(), ValuesError> {
    let shared = shared_global_tables(dest);
    for sub in &chart.dependencies {
        let name = sub.name().to_string();
        let mut dv = match dest.remove(&name) {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                let err = ValuesError::TypeMismatch {
                    name: name.clone(),
                    value: go_percent_t(&other),
                };
                dest.insert(name, other);
                return Err(err);
            }
        };
        let sub_prefix = concat_prefix(prefix, chart.name());
        coalesce_globals(&mut dv, dest, &sub_prefix, w);
        let result = coalesce(sub, &mut dv, &sub_prefix, merge, w);
        write_back_shared_globals(dest, &dv, &shared);
        dest.insert(name, Value::Object(dv));
        result?;
    }
    sync_shared_globals(chart, dest, &shared);
    Ok(())
}

/// Every subchart (at any depth) holds the parent's `global.a.b` maps themselves: once all have
/// merged into them, each sees the final content.
fn sync_shared_globals(chart: &Chart, dest: &mut Values, shared: &[(String, String)]) {
    for sub in &chart.dependencies {
        let Some(Value::Object(dv)) = dest.get(sub.name()) else {
            continue;
        };
        let mut dv = dv.clone();
        write_back_shared_globals(&mut dv, dest, shared);
        sync_shared_globals(sub, &mut dv, shared);
        dest.insert(sub.name().to_string(), Value::Object(dv));
    }
}

/// The `(a, b)` pairs where `global.a.b` is a table: the maps a subchart shares with its parent.
fn shared_global_tables(parent: &Values) -> Vec<(String, String)> {
    let Some(Value::Object(global)) = parent.get(GLOBAL_KEY) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for (a, inner) in global {
        if let Value::Object(inner) = inner {
            pairs.extend(
                inner
                    .iter()
                    .filter(|(_, v)| v.is_object())
                    .map(|(b, _)| (a.clone(), b.clone())),
            );
        }
    }
    pairs
}

fn write_back_shared_globals(parent: &mut Values, child: &Values, shared: &[(String, String)]) {
    for (a, b) in shared {
        let Some(child_table) = child.get(GLOBAL_KEY).and_then(|g| g.get(a)).and_then(|t| t.get(b)) else {
            continue;
        };
        if !child_table.is_object() {
            continue;
        }
        if let Some(Value::Object(slot)) = parent.get_mut(GLOBAL_KEY).and_then(|g| g.get_mut(a)) {
            slot.insert(b.clone(), child_table.clone());
        }
    }
}

/// `coalesceGlobals`: the parent's `global` merged under the subchart's own.
fn coalesce_globals(dest: &mut Values, src: &Values, prefix: &str, w: &mut Warnings) {
    let mut dg = match dest.get(GLOBAL_KEY) {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            w.push(format!(
                "warning: skipping globals because destination {GLOBAL_KEY} is not a table."
            ));
            return;
        }
    };
    let sg = match src.get(GLOBAL_KEY) {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            w.push(format!(
                "warning: skipping globals because source {GLOBAL_KEY} is not a table."
            ));
            return;
        }
    };
    for (key, val) in sg {
        match (val, dg.get(&key)) {
            (Value::Object(vv), None) => {
                dg.insert(key, Value::Object(vv));
            }
            (Value::Object(mut vv), Some(existing)) => match existing {
                Value::Object(destv) => {
                    let destv = destv.clone();
                    coalesce_tables_full_key(&mut vv, destv, &concat_prefix(prefix, &key), true, w);
                    dg.insert(key, Value::Object(vv));
                }
                _ => w.push(format!(
                    "Conflict: cannot merge map onto non-map for {key:?}. Skipping."
                )),
            },
            (_, Some(Value::Object(_))) => w.push(format!("key {key} is table. Skipping")),
            (val, _) => {
                dg.insert(key, val);
            }
        }
    }
    dest.insert(GLOBAL_KEY.to_string(), Value::Object(dg));
}

/// `coalesceValues`: the chart's own defaults under `v`.
fn coalesce_chart_values(chart: &Chart, v: &mut Values, prefix: &str, merge: bool, w: &mut Warnings) {
    let sub_prefix = concat_prefix(prefix, chart.name());
    for (key, val) in chart.values.clone() {
        match v.get_mut(&key) {
            Some(Value::Null) if !merge => {
                v.remove(&key);
            }
            Some(Value::Object(dest)) => match val {
                Value::Object(mut src) => {
                    let merge = merge || chart.dependencies.iter().any(|d| d.name() == key);
                    if !merge {
                        clean_nil_values(&mut src);
                    }
                    coalesce_tables_full_key(dest, src, &concat_prefix(&sub_prefix, &key), merge, w);
                }
                Value::Null => {}
                _ => w.push(format!("warning: skipped value for {sub_prefix}.{key}: Not a table.")),
            },
            Some(_) => {}
            None => {
                let mut val = val;
                if !merge {
                    if val.is_null() {
                        continue;
                    }
                    if let Value::Object(m) = &mut val {
                        clean_nil_values(m);
                    }
                }
                v.insert(key, val);
            }
        }
    }
}

/// `coalesceTablesFullKey`: `src` under `dst`, dst authoritative.
fn coalesce_tables_full_key(dst: &mut Values, mut src: Values, prefix: &str, merge: bool, w: &mut Warnings) {
    let src_non_nil: std::collections::HashSet<String> = src
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    for (key, val) in dst.iter() {
        if val.is_null() {
            src.insert(key.clone(), Value::Null);
        }
    }
    for (key, val) in src {
        let full_key = concat_prefix(prefix, &key);
        match dst.get_mut(&key) {
            Some(Value::Null) if !merge && src_non_nil.contains(&key) => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(dv) => match (dv, val) {
                (Value::Object(dv), Value::Object(sv)) => coalesce_tables_full_key(dv, sv, &full_key, merge, w),
                (_, Value::Object(sv)) => {
                    w.push(format!(
                        "warning: cannot overwrite table with non table for {full_key} ({})",
                        go_percent_v_map(&sv)
                    ));
                }
                (Value::Object(_), val) if !val.is_null() => {
                    w.push(format!(
                        "warning: destination for {full_key} is a table. Ignoring non-table value ({})",
                        go_percent_v(&val)
                    ));
                }
                _ => {}
            },
        }
    }
}

/// `cleanNilValues`: nulls removed at every depth of tables (not inside lists).
fn clean_nil_values(m: &mut Values) {
    m.retain(|_, v| !v.is_null());
    for v in m.values_mut() {
        if let Value::Object(sub) = v {
            clean_nil_values(sub);
        }
    }
}

/// Go's `%v` of a decoded JSON value.
#[must_use]
pub fn go_percent_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => crate::gofmt::format_float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(go_percent_v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => go_percent_v_map(m),
    }
}

fn go_percent_v_map(m: &Values) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", go_percent_v(v))).collect();
    format!("map[{}]", items.join(" "))
}

/// Go's `%t` of a non-bool value, as Helm's "type mismatch" error prints it.
fn go_percent_t(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Null => "%!t(<nil>)".into(),
        Value::Number(_) => format!("%!t(float64={})", go_percent_v(v)),
        Value::String(s) => format!("%!t(string={s})"),
        Value::Array(_) => format!("%!t([]interface {{}}={})", go_percent_v(v)),
        Value::Object(_) => format!("%!t(map[string]interface {{}}={})", go_percent_v(v)),
    }
}
