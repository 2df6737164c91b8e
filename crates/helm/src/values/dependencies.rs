//! Helm's dependency processing (pkg/chart/v2/util/dependencies.go), which `helm template` runs
//! on the loaded chart before rendering:
//!
//! - subcharts declared in Chart.yaml are matched to `charts/` by name and version range; an
//!   `alias` makes a copy of the subchart under the alias (its values key, its `.Chart.Name`);
//! - every declared dependency starts enabled; `tags` (`.Values.tags.X`: any true tag enables,
//!   only-false tags disable) then `condition` (comma-separated value paths, the first that
//!   holds a boolean decides, a non-boolean is a warning) decide, on the values coalesced with
//!   this chart's defaults; a disabled subchart is removed with its entry;
//! - subcharts are processed the same way, with the parent's coalesced values and the path
//!   `sub.` prefixed to their conditions (Helm's behaviour: a nested condition `x.enabled` in
//!   subchart `sub` is looked up at `sub.x.enabled` of the parent's values);
//! - charts whose Chart.yaml has no `dependencies` key are left alone, subcharts included;
//! - then, children first, every chart with a `dependencies` key gets as defaults its values
//!   *merged* (nulls kept) with its subcharts' defaults, plus `import-values`: a string `X`
//!   imports the child's `exports.X` table to the top, a `{child, parent}` map imports the child's
//!   table at `child` to `parent` (`.` for the top); the chart's own values win over imports.

use serde_json::{Map, Value};

use super::coalesce::{Warnings, coalesce_values_logged, go_percent_v, merge_tables, merge_values};
use super::{Values, ValuesError, path_value, table};
use crate::chart::{Chart, Dependency};
use crate::semver::is_compatible_range;

/// Helm's `CheckDependencies` (as `helm template` runs it on the top chart): every dependency
/// declared in Chart.yaml must be in `charts/`, by name.
///
/// # Errors
/// The names missing, worded as Helm words it.
pub fn check_dependencies(chart: &Chart) -> Result<(), MissingDependencies> {
    let missing: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .flatten()
        .flatten()
        .filter(|req| !chart.dependencies.iter().any(|d| d.name() == req.name))
        .map(|req| req.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MissingDependencies(missing))
    }
}

/// Declared dependencies that are not in `charts/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("found in Chart.yaml, but missing in charts/ directory: {}", .0.join(", "))]
pub struct MissingDependencies(pub Vec<String>);

/// Helm's `ProcessDependencies`: enables, disables, aliases and imports, in place.
///
/// # Errors
/// [`ValuesError`] from coalescing (a subchart key holding a non-table).
pub fn process_dependencies(chart: &mut Chart, vals: &Values, warnings: &mut Warnings) -> Result<(), ValuesError> {
    process_enabled(chart, vals, "", warnings)?;
    process_imports(chart, warnings)
}

fn matches(req: &Dependency, chart: &Chart) -> bool {
    chart.name() == req.name && is_compatible_range(&req.version, &chart.metadata.version)
}

/// The subcharts in Helm's order: undeclared ones, then one per matching declaration
/// (an alias renaming its copy); declarations renamed to their aliases.
fn resolve_aliases(existing: &[Chart], reqs: &mut [Dependency]) -> Vec<Chart> {
    let mut out: Vec<Chart> = existing
        .iter()
        .filter(|e| !reqs.iter().any(|r| matches(r, e)))
        .cloned()
        .collect();
    for req in reqs.iter_mut() {
        if let Some(found) = existing.iter().find(|c| matches(req, c)) {
            let mut copy = found.clone();
            if !req.alias.is_empty() {
                copy.metadata.name = req.alias.clone();
            }
            out.push(copy);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    out
}

fn process_enabled(c: &mut Chart, v: &Values, path: &str, w: &mut Warnings) -> Result<(), ValuesError> {
    let Some(declared) = c.metadata.dependencies.clone() else {
        return Ok(());
    };
    let mut reqs: Vec<Dependency> = declared.into_iter().flatten().collect();
    c.dependencies = resolve_aliases(&c.dependencies, &mut reqs);
    for r in &mut reqs {
        r.enabled = true;
    }
    let cvals = coalesce_values_logged(c, v, w)?;
    process_tags(&mut reqs, &cvals, w);
    process_conditions(&mut reqs, &cvals, path, w);
    let removed: Vec<String> = reqs.iter().filter(|r| !r.enabled).map(|r| r.name.clone()).collect();
    c.dependencies.retain(|d| !removed.iter().any(|n| n == d.name()));
    reqs.retain(|r| !removed.contains(&r.name));
    for sub in &mut c.dependencies {
        let sub_path = format!("{path}{}.", sub.name());
        process_enabled(sub, &cvals, &sub_path, w)?;
    }
    c.metadata.dependencies = Some(reqs.into_iter().map(Some).collect());
    Ok(())
}

fn process_tags(reqs: &mut [Dependency], cvals: &Values, w: &mut Warnings) {
    let Some(tags) = table(cvals, "tags") else { return };
    for r in reqs {
        let (mut has_true, mut has_false) = (false, false);
        for k in &r.tags {
            match tags.get(k) {
                Some(Value::Bool(true)) => has_true = true,
                Some(Value::Bool(false)) => has_false = true,
                Some(_) => w.push(format!(
                    "level=WARN msg=\"returned non-bool value\" tag={k} chart={}",
                    r.name
                )),
                None => {}
            }
        }
        r.enabled = has_true || !has_false;
    }
}

fn process_conditions(reqs: &mut [Dependency], cvals: &Values, cpath: &str, w: &mut Warnings) {
    for r in reqs {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            match path_value(cvals, &format!("{cpath}{cond}")) {
                Some(Value::Bool(b)) => {
                    r.enabled = *b;
                    break;
                }
                Some(_) => w.push(format!(
                    "level=WARN msg=\"returned non-bool value\" path={cond} chart={}",
                    r.name
                )),
                None => {}
            }
        }
    }
}

fn process_imports(c: &mut Chart, w: &mut Warnings) -> Result<(), ValuesError> {
    for d in &mut c.dependencies {
        process_imports(d, w)?;
    }
    import_values(c, w)
}

/// `pathToMap`: `data` under the dotted `path` (`.` is the top).
fn path_to_map(path: &str, data: Values) -> Values {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for part in path.split('.').rev() {
        let mut m = Map::new();
        m.insert(part.to_string(), Value::Object(cur));
        cur = m;
    }
    cur
}

fn import_pair(child: String, parent: String) -> Value {
    let mut m = Map::new();
    m.insert("child".into(), Value::String(child));
    m.insert("parent".into(), Value::String(parent));
    Value::Object(m)
}

fn import_values(c: &mut Chart, w: &mut Warnings) -> Result<(), ValuesError> {
    let Some(mut reqs) = c.metadata.dependencies.clone() else {
        return Ok(());
    };
    let cvals = merge_values(c, &Values::new())?;
    let mut b = Values::new();
    for r in reqs.iter_mut().flatten() {
        let mut out = Vec::new();
        for riv in &r.import_values {
            let (child, parent) = match riv {
                Value::Object(iv) => {
                    let text = |k: &str| go_percent_v(iv.get(k).unwrap_or(&Value::Null));
                    (text("child"), text("parent"))
                }
                Value::String(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            out.push(import_pair(child.clone(), parent.clone()));
            match table(&cvals, &format!("{}.{child}", r.name)) {
                Some(vv) => b = merge_tables(b, path_to_map(&parent, vv.clone())),
                None => w.push(format!(
                    "level=WARN msg=\"ImportValues missing table from chart\" chart={}",
                    r.name
                )),
            }
        }
        r.import_values = out;
    }
    c.metadata.dependencies = Some(reqs);
    c.values = merge_tables(cvals, b);
    Ok(())
}
