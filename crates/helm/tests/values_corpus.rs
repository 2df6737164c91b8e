//! The differential corpus: every `tests/values-corpus/<case>/` holds a chart (`chart/`, with
//! subcharts) and a `case.json`; each case is run through real Helm v4 (the oracle,
//! `tests/oracle/render.py`) and through this crate, and must agree on:
//! - `merge_values`: Helm's `CoalesceValues` of the loaded chart under the user's values;
//! - what each chart's templates see after dependency processing: a `{{ toJson .Values }}` and a
//!   `{{ toJson .Chart }}` template are added to every (non-library) chart of a copy, the oracle
//!   renders it, and each output must equal the scope this crate computes for that chart (which
//!   also checks which subcharts are enabled);
//! - errors: where Helm fails, this crate fails with the same text.
//!
//! `case.json`: `{"values_files": [...], "inline": [{...}], "tgz": ["charts/sub"],
//! "expect_error": "..." (an error only `helm template` raises, not the oracle's render)}`.
//! A missing oracle fails the test.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use helm::chart::archive::load_path;
use helm::values::render::{ChartScope, prepare};
use helm::values::{Values, ValuesError, coalesce_values, user_values};
use serde_json::{Value, json};
use support::{Oracle, add_probes, copy_dir, pack_tgz};

/// Numbers compared as `f64` (Python's `json` keeps `1` and `1.0` apart; Go does not).
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap_or(0.0)),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

struct Case {
    name: String,
    dir: tempfile::TempDir,
    spec: Value,
    user: Result<Values, ValuesError>,
}

fn setup(case_dir: &Path) -> Case {
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&case_dir.join("chart"), &dir.path().join("chart"));
    if spec.get("no_probes").is_none() {
        add_probes(&dir.path().join("chart"));
    }
    for sub in spec.get("tgz").and_then(Value::as_array).into_iter().flatten() {
        pack_tgz(&dir.path().join("chart").join(sub.as_str().unwrap()));
    }
    let files: Vec<(String, Vec<u8>)> = spec
        .get("values_files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let f = f.as_str().unwrap();
            (f.to_string(), std::fs::read(case_dir.join(f)).unwrap())
        })
        .collect();
    let inline: Vec<Values> = spec
        .get("inline")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    let user = user_values(&files, &inline);
    Case {
        name: case_dir.file_name().unwrap().to_string_lossy().into_owned(),
        dir,
        spec,
        user,
    }
}

fn scope_for<'a>(root: &'a ChartScope, template: &str) -> Option<&'a ChartScope> {
    // "parent/charts/a/charts/b/templates/x.yaml": the subchart names follow each "charts/".
    let parts: Vec<&str> = template.split('/').collect();
    let mut scope = root;
    for pair in parts.windows(2) {
        if pair[0] == "charts" {
            scope = scope.subcharts.get(pair[1])?;
        }
    }
    Some(scope)
}

fn check_merge(oracle: &mut Oracle, case: &Case, failures: &mut Vec<String>) {
    let chart_path = case.dir.path().join("chart");
    let Ok(user) = &case.user else { return };
    let helm = oracle.ask(&json!({"chart": chart_path, "op": "merge_values", "values": user}));
    let ours = load_path(&chart_path)
        .map_err(|e| e.to_string())
        .and_then(|c| coalesce_values(&c, user).map_err(|e| e.to_string()));
    match (helm, ours) {
        (Ok(h), Ok(o)) if normalize(&h) == normalize(&Value::Object(o.clone())) => {}
        (Err(h), Err(o)) if h.contains(&o) => {}
        (h, o) => failures.push(format!("{}: merge_values\n  helm: {h:?}\n  ours: {o:?}", case.name)),
    }
}

fn check_render(oracle: &mut Oracle, case: &Case, failures: &mut Vec<String>) {
    let chart_path = case.dir.path().join("chart");
    let opts = support::options();
    let ours = case.user.as_ref().map_err(ToString::to_string).and_then(|user| {
        let chart = load_path(&chart_path).map_err(|e| e.to_string())?;
        prepare(chart, user, &opts).map_err(|e| e.to_string())
    });
    if let Some(expected) = case.spec.get("expect_error").and_then(Value::as_str) {
        match &ours {
            Err(e) if e == expected => {}
            other => failures.push(format!(
                "{}: expected error {expected:?}, got {:?}",
                case.name,
                other.as_ref().err()
            )),
        }
        return;
    }
    let Ok(user) = &case.user else {
        failures.push(format!("{}: values: {:?}", case.name, case.user));
        return;
    };
    let helm =
        oracle.ask(&json!({"chart": chart_path, "op": "render", "values": user, "name": "rel", "namespace": "ns"}));
    match (helm, ours) {
        (Ok(h), Ok(prepared)) => compare_scopes(&case.name, &h, &prepared, failures),
        (Err(h), Err(o)) if h.contains(&o) || o.contains(&*h) || same_schema_failures(&h, &o) => {}
        (h, o) => failures.push(format!(
            "{}: render\n  helm: {h:?}\n  ours: {:?}",
            case.name,
            o.map(|_| "ok")
        )),
    }
}

/// Schema failures of one chart in any order: Helm's JSON Schema library walks `properties` as a
/// Go map (unordered: the oracle's own order changes from run to run), so only the set of lines
/// is Helm's.
fn same_schema_failures(helm: &str, ours: &str) -> bool {
    fn sorted(s: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = s.lines().collect();
        lines.sort_unstable();
        lines
    }
    helm.starts_with("values don't meet") && sorted(helm) == sorted(ours)
}

fn compare_scopes(case: &str, helm: &Value, prepared: &helm::values::render::Prepared, failures: &mut Vec<String>) {
    let helm_probes: BTreeMap<String, Value> = helm
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("/zz-values.yaml") || k.ends_with("/zz-chart.yaml"))
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::from_str(v.as_str().unwrap().trim()).unwrap_or(Value::Null),
            )
        })
        .collect();
    let ours: Vec<&str> = prepared
        .templates
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| n.contains("/zz-"))
        .collect();
    let helm_names: Vec<&str> = helm_probes.keys().map(String::as_str).collect();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort_unstable();
    if ours_sorted != helm_names {
        failures.push(format!(
            "{case}: templates\n  helm: {helm_names:?}\n  ours: {ours_sorted:?}"
        ));
        return;
    }
    for (name, want) in &helm_probes {
        let Some(scope) = scope_for(&prepared.scope, name) else {
            failures.push(format!("{case}: no scope for {name}"));
            continue;
        };
        let got = if name.ends_with("zz-values.yaml") {
            Value::Object(scope.values.clone())
        } else {
            Value::Object(scope.chart.clone())
        };
        if normalize(&got) != normalize(want) {
            failures.push(format!("{case}: {name}\n  helm: {want}\n  ours: {got}"));
        }
    }
}

#[test]
fn values_corpus_matches_helm() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/values-corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut oracle = Oracle::start();
    let mut failures = Vec::new();
    for dir in &cases {
        let case = setup(dir);
        check_merge(&mut oracle, &case, &mut failures);
        check_render(&mut oracle, &case, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Helm:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn assemble_options(flags: &[String]) -> helm::chart::manifest::AssembleOptions {
    helm::chart::manifest::AssembleOptions {
        include_crds: flags.iter().any(|f| f == "--include-crds"),
        no_hooks: flags.iter().any(|f| f == "--no-hooks"),
        skip_tests: flags.iter().any(|f| f == "--skip-tests"),
    }
}

/// `helm template rel CHART -n ns FLAGS` through the stand-in (`tests/oracle/helm`) against
/// this crate's [`helm::chart::manifest::assemble`] over the same rendered templates (the oracle's
/// engine standing in for the template engine).
fn check_assembly(oracle: &mut Oracle, case: &Case, flags: &[String], failures: &mut Vec<String>) {
    let chart_path = case.dir.path().join("chart");
    let out = Command::new(support::stand_in())
        .args(["template", "rel"])
        .arg(&chart_path)
        .args(["-n", "ns"])
        .args(flags)
        .output()
        .expect("the helm stand-in runs");
    let helm_out = String::from_utf8_lossy(&out.stdout).into_owned();
    let user = case.user.as_ref().ok().cloned().unwrap_or_default();
    let opts = support::options();
    let prepared = prepare(load_path(&chart_path).unwrap(), &user, &opts).unwrap();
    let rendered =
        oracle.ask(&json!({"chart": chart_path, "op": "render", "values": user, "name": "rel", "namespace": "ns"}));
    let rendered: BTreeMap<String, String> = serde_json::from_value(rendered.unwrap()).unwrap();
    let ours = helm::chart::manifest::assemble(&prepared.chart, &rendered, assemble_options(flags)).unwrap();
    if !out.status.success() || ours.output != helm_out {
        failures.push(format!(
            "{} {flags:?}\n--- helm\n{helm_out}\n--- ours\n{}",
            case.name, ours.output
        ));
    }
}

#[test]
fn assembly_matches_helm_template() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/values-corpus");
    let mut oracle = Oracle::start();
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    for dir in cases.iter().filter(|d| d.join("case.json").exists()) {
        let case = setup(dir);
        let Some(flag_sets) = case.spec.get("assemble").and_then(Value::as_array).cloned() else {
            continue;
        };
        for flags in flag_sets {
            let flags: Vec<String> = serde_json::from_value(flags).unwrap();
            check_assembly(&mut oracle, &case, &flags, &mut failures);
            runs += 1;
        }
    }
    assert!(runs >= 7, "only {runs} assembly runs");
    assert!(
        failures.is_empty(),
        "{} assembly runs differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
