//! The differential corpus: every directory under `tests/template-corpus/` is a tiny chart,
//! rendered by real Helm v4 (the oracle) and by the native engine; the rendered text of every
//! template, or the error message, must be identical.

mod support;

use std::path::PathBuf;

#[test]
fn corpus_renders_exactly_as_helm() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/template-corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Chart.yaml").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    // DRIFTWATCH_CHARTS=dir:dir adds chart directories (real charts without dependencies).
    if let Ok(extra) = std::env::var("DRIFTWATCH_CHARTS") {
        cases.extend(extra.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
    }
    let only = std::env::var("DRIFTWATCH_CASE").ok();
    if let Some(o) = &only {
        cases.retain(|c| c.file_name().is_some_and(|n| n.to_string_lossy().contains(o.as_str())));
    }
    let mut oracle = support::Oracle::start();
    let answers = oracle.render_all(&cases);
    let mut failures = Vec::new();
    for (case, helm) in cases.iter().zip(&answers) {
        let started = std::time::Instant::now();
        let ours = support::render_native(case);
        if std::env::var("DRIFTWATCH_TIMING").is_ok() {
            eprintln!("{}: {:?}", case.display(), started.elapsed());
        }
        if let Some(d) = support::difference(&ours, helm) {
            failures.push(format!(
                "== {}\n{d}",
                case.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Helm:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
