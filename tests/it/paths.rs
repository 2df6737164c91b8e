//! What an environment's `paths` select and how it is read (issue 19): a namespace per path,
//! globs select directories (files they match are named, not read), a Helm chart and a
//! kustomization below a plain path are not read as manifests, and an Argo CD hook Job named
//! by `generateName` is a workload. None of them breaks the rest of the environment.

use std::path::Path;

use serde_json::{Value, json};
use support::fixtures::{D1, REPO, deployment, deployment_yaml, list, pod};
use support::run::driftwatch;
use support::write;

/// `deploy.yaml` of a Deployment that names no namespace.
fn unnamespaced(name: &str, image: &str) -> String {
    deployment_yaml(name, "x", image).replace("  namespace: x\n", "")
}

/// A repository as real ones are laid out, and a cluster running what it declares.
fn repository(dir: &Path) {
    let image = format!("{REPO}@{D1}");
    let git = dir.join("gitops");
    // Destination namespace `web`, given by the path; `api` takes the environment's `shop`.
    write(&git.join("web/deploy.yaml"), &unnamespaced("web", &image));
    write(&git.join("apps/api/deploy.yaml"), &unnamespaced("api", &image));
    // Matched by `apps/*`: files, not directories.
    write(&git.join("apps/README.md"), "# apps\n");
    write(
        &git.join("apps/values.yaml"),
        "kind: Deployment\nmetadata:\n  name: not-a-workload\n",
    );
    // A Helm chart, whose templates do not parse as manifests.
    write(
        &git.join("apps/redis/Chart.yaml"),
        "apiVersion: v2\nname: redis\nversion: 1.0.0\n",
    );
    write(
        &git.join("apps/redis/templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
    );
    // A kustomization below a plain directory: its patch is not a Deployment.
    write(
        &git.join("apps/tools/overlay/kustomization.yaml"),
        "resources: []\npatches:\n  - path: patch.yaml\n",
    );
    write(
        &git.join("apps/tools/overlay/patch.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: patched:1\n",
    );
    // An Argo CD hook, named by the API server from its prefix.
    write(
        &git.join("apps/api/migrate.yaml"),
        &format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: db-migrate-\n  annotations:\n    argocd.argoproj.io/hook: PreSync\nspec:\n  template:\n    spec:\n      containers:\n        - name: migrate\n          image: {image}\n"
        ),
    );
    let mut objects = Vec::new();
    for (ns, name) in [("web", "web"), ("shop", "api"), ("shop", "redis")] {
        let (d, rs) = deployment(ns, name, &[(name, &image)], 1);
        let p = pod(&rs, "a", &[(name, &image)]);
        objects.extend([d, rs, p]);
    }
    objects.push(json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "db-migrate-x7k2p", "generateName": "db-migrate-", "namespace": "shop",
                     "uid": "00000000-0000-4000-8000-999999999999", "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"template": {"spec": {"containers": [{"name": "migrate", "image": image}]}}},
        "status": {"succeeded": 1}}));
    write(&dir.join("cluster.json"), &list(objects));
    write(
        &dir.join("driftwatch.toml"),
        r#"[gitops]
path = "gitops"

[[environments]]
name = "production"
namespace = "shop"
paths = [{ path = "web", namespace = "web" }, "apps/*"]
[environments.cluster]
snapshot = "cluster.json"
"#,
    );
}

fn audit(dir: &Path) -> (i32, Value) {
    let cfg = dir.join("driftwatch.toml");
    let out = driftwatch(
        dir,
        &[
            "--once",
            "--format",
            "json",
            "--fail-on",
            "critical",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    (out.code, out.json())
}

fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == kind)
        .collect()
}

#[test]
fn every_path_is_read_as_what_it_is_and_the_environment_stays_judged() {
    let dir = tempfile::tempdir().unwrap();
    repository(dir.path());
    let (code, report) = audit(dir.path());
    let env = &report["environments"][0];
    assert_eq!(env["status"], "ok", "nothing makes it incomplete: {report}");
    assert_eq!(code, 0, "warnings only, below --fail-on critical: {report}");
    // web, api and the hook by its prefix; each in its namespace, or it would be `missing`
    // (and the live Job `db-migrate-x7k2p`, or the chart's redis, `undeclared`).
    assert_eq!(env["declared_workloads"], 3, "{report}");
    for kind in ["invalid-manifest", "missing", "undeclared"] {
        assert!(findings(&report, kind).is_empty(), "no {kind}: {report}");
    }
    let unverifiable = findings(&report, "unverifiable");
    let messages: Vec<&str> = unverifiable.iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("apps/redis: a Helm chart: use renderer = \"helm\"")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"apps/*\" also matches files") && m.contains("apps/README.md, apps/values.yaml")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("apps/tools/overlay: a kustomization inside plain path \"apps/tools\"")),
        "{messages:#?}"
    );
    assert!(unverifiable.iter().all(|f| f["severity"] == "warning"), "{report}");
}

/// The table form is checked like the string form, and a wrong entry names its key with
/// every dot.
#[test]
fn a_path_table_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    repository(dir.path());
    let cfg = dir.path().join("driftwatch.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    write(&cfg, &text.replace("namespace = \"web\" }", "namespce = \"web\" }"));
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("unknown key `namespce`") && out.stderr.contains("environments[0].paths[0]"),
        "{}",
        out.stderr
    );
    write(&cfg, &text);
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("paths web (namespace web), apps/* (auto)"),
        "{}",
        out.stdout
    );
}
