//! Gates that cannot be fooled: an environment whose declared state is incomplete (a manifest
//! file that could not be read or parsed) fails any `--fail-on`, names what was not judged, and
//! every other file of the environment is still read.

use std::path::Path;

use support::config::ConfigBuilder;
use support::fixtures::{D1, REPO, deployment, deployment_yaml, list, pod};
use support::run::driftwatch;
use support::write;

/// Git declares `api`; the cluster also runs two Deployments nobody declared. `broken` is one
/// more manifest file in api's directory, written as given.
fn environment(dir: &Path, broken: &[u8]) -> std::path::PathBuf {
    write(
        &dir.join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
    );
    let file = dir.join("gitops/apps/api/production/zz-broken.yaml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, broken).unwrap();
    let image = format!("{REPO}@{D1}");
    let mut objects = Vec::new();
    for name in ["api", "hand-made-1", "hand-made-2"] {
        let (d, rs) = deployment("shop", name, &[(name, &image)], 1);
        let p = pod(&rs, "a", &[(name, &image)]);
        objects.extend([d, rs, p]);
    }
    write(&dir.join("cluster.json"), &list(objects));
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        })
        .write()
}

#[test]
fn a_broken_yaml_file_fails_the_gate_whatever_fail_on_says() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = environment(
        dir.path(),
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  labels: [unclosed\n",
    );
    let cfg = cfg.to_str().unwrap();
    let out = driftwatch(dir.path(), &["--once", "--fail-on", "critical", "--config", cfg], &[]);
    assert_eq!(out.code, 2, "an incomplete audit never passes a gate: {}", out.stdout);
    assert!(
        out.stdout.contains(
            "incomplete: environment production: undeclared workloads not judged: apps/api/production/zz-broken.yaml"
        ),
        "the text says what was not judged and why: {}",
        out.stdout
    );
    let json = driftwatch(
        dir.path(),
        &["--once", "--fail-on", "critical", "--format", "json", "--config", cfg],
        &[],
    );
    let report = json.json();
    assert_eq!(report["environments"][0]["status"], "incomplete");
    assert_eq!(
        report["environments"][0]["declared_workloads"], 1,
        "the other file was read"
    );
}

#[test]
fn an_ignore_rule_for_the_broken_file_lets_the_gate_judge_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = environment(dir.path(), b"kind: Deployment\nmetadata: [unclosed\n");
    write(
        &dir.path().join("gitops/.driftwatch-ignore.yaml"),
        "ignore:\n  - type: invalid-manifest\n    environment: production\n    reason: vendored, fixed upstream in TICKET-1\n",
    );
    let cfg = cfg.to_str().unwrap();
    let out = driftwatch(
        dir.path(),
        &["--once", "--fail-on", "critical", "--format", "json", "--config", cfg],
        &[],
    );
    let report = out.json();
    assert_eq!(report["environments"][0]["status"], "ok", "{report}");
    assert_eq!(out.code, 0, "undeclared is a warning, below --fail-on critical");
}

#[test]
fn a_latin1_file_is_one_finding_and_every_other_file_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    // "café" in Latin-1: the é is the single byte 0xE9.
    let cfg = environment(
        dir.path(),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: menu\ndata:\n  dish: caf\xe9\n",
    );
    let out = driftwatch(
        dir.path(),
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["environments"][0]["declared_workloads"], 1, "{report}");
    let invalid: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "invalid-manifest")
        .collect();
    assert_eq!(invalid.len(), 1, "{report}");
    let message = invalid[0]["message"].as_str().unwrap();
    assert!(
        message.contains("apps/api/production/zz-broken.yaml") && message.contains("not UTF-8"),
        "names the file and the reason: {message}"
    );
}
