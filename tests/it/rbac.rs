//! Least-privilege RBAC keeps working: a reader with get/list on the seven workload resources
//! but not on ConfigMaps (the documented minimum of the first release) still gets its drift
//! findings, and `compare_configmaps` says what a 403 on ConfigMaps means.

use std::path::{Path, PathBuf};

use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, REPO, deployment, deployment_yaml, pod};
use support::kube::{Behaviour, FakeKube};
use support::run::{Output, driftwatch};
use support::write;

/// Git declares shop/api at D1; the cluster runs D2 (drift) and refuses to list ConfigMaps.
fn setup(dir: &Path, compare_configmaps: Option<&str>) -> (FakeKube, PathBuf) {
    write(
        &dir.join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
    );
    let (api, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let running = pod(&rs, "a", &[("api", &format!("{REPO}@{D2}"))]);
    let kube = FakeKube::start(vec![api, rs, running]);
    kube.behave("configmaps", Behaviour::Forbidden);
    let kubeconfig = kube.kubeconfig(dir, "prod");
    let cfg = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            let e = e.paths(&["apps/*/production"]).kubeconfig(&kubeconfig);
            match compare_configmaps {
                Some(v) => e.compare_configmaps(v),
                None => e,
            }
        })
        .write();
    (kube, cfg)
}

fn audit(dir: &Path, cfg: &Path) -> Output {
    driftwatch(
        dir,
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    )
}

#[test]
fn by_default_a_403_on_configmaps_is_one_info_finding_and_drift_is_still_reported() {
    for setting in [None, Some("auto")] {
        let dir = tempfile::tempdir().unwrap();
        let (_kube, cfg) = setup(dir.path(), setting);
        let out = audit(dir.path(), &cfg);
        assert_eq!(out.code, 1, "{setting:?}: drift, not an audit error: {}", out.stdout);
        let report = out.json();
        assert_eq!(report["environments"][0]["status"], "ok", "{setting:?}");
        let types: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, vec!["digest-drift", "unverifiable"], "{setting:?}");
        let note = &report["findings"][1];
        assert_eq!(note["severity"], "info");
        let message = note["message"].as_str().unwrap();
        assert!(
            message.contains("list configmaps")
                && message.contains("403")
                && message.contains("compare_configmaps = false"),
            "names the missing permission and the way out: {message}"
        );
    }
}

#[test]
fn compare_configmaps_true_makes_the_403_an_audit_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_kube, cfg) = setup(dir.path(), Some("true"));
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2);
    let report = out.json();
    assert_eq!(report["environments"][0]["status"], "error");
    assert!(
        report["environments"][0]["error"]
            .as_str()
            .unwrap()
            .contains("list configmaps"),
        "{report}"
    );
}

#[test]
fn compare_configmaps_false_never_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let (kube, cfg) = setup(dir.path(), Some("false"));
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let report = out.json();
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "only the drift: {report}"
    );
    assert!(
        !kube.requests().iter().any(|r| r.contains("configmaps")),
        "no ConfigMaps request: {:?}",
        kube.requests()
    );
}

#[test]
fn an_unknown_compare_configmaps_value_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_kube, cfg) = setup(dir.path(), Some("sometimes"));
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("environments[0].compare_configmaps") && out.stderr.contains("sometimes"),
        "{}",
        out.stderr
    );
}
