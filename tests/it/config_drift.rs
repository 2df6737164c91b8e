//! config-drift: ConfigMaps rendered by the real kustomize (generator hash suffixes included)
//! against live ones, Pods that need a ConfigMap that does not exist, and Secrets compared by
//! hash only when asked, their values never printed.

use std::path::{Path, PathBuf};

use serde_json::json;
use support::config::ConfigBuilder;
use support::fixtures::{D1, REPO, deployment, deployment_yaml, list, pod};
use support::run::{Output, audit};
use support::write;

const SECRET_VALUE: &str = "s3cr3t-db-password-never-printed";

fn tree(root: &Path, log_level: &str) {
    write(
        &root.join("apps/api/production/kustomization.yaml"),
        &format!(
            "namespace: shop\nresources:\n  - deploy.yaml\n  - db-secret.yaml\nconfigMapGenerator:\n  - name: api-config\n    literals:\n      - LOG_LEVEL={log_level}\n      - FEATURE_X=on\n"
        ),
    );
    write(
        &root.join("apps/api/production/deploy.yaml"),
        &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
    );
    write(
        &root.join("apps/api/production/db-secret.yaml"),
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {SECRET_VALUE}\n"),
    );
}

/// What `kubectl kustomize` names the generated ConfigMap for `log_level`.
fn generated_name(dir: &Path, log_level: &str) -> String {
    let root = dir.join(format!("render-{log_level}"));
    tree(&root, log_level);
    let out = std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(root.join("apps/api/production"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (docs, _) = safe_yaml::documents(&text);
    docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

fn cluster(dir: &Path, configmap: &str, log_level: &str, secret: &str, extra_ref: Option<&str>) {
    use base64::Engine as _;
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let mut p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    p["spec"]["volumes"] = json!([{"name": "config", "configMap": {"name": configmap}}, {"name": "optional", "configMap": {"name": "nope", "optional": true}}]);
    if let Some(name) = extra_ref {
        p["spec"]["containers"][0]["envFrom"] = json!([{"configMapRef": {"name": name}}]);
    }
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": configmap, "namespace": "shop"}, "data": {"LOG_LEVEL": log_level, "FEATURE_X": "on"}});
    let sec = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                     "data": {"password": base64::engine::general_purpose::STANDARD.encode(secret)}});
    write(&dir.join("cluster.json"), &list(vec![d, rs, p, cm, sec]));
}

fn config(dir: &Path, compare_secrets: bool) -> PathBuf {
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .render(|r| r.kustomize("kubectl"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .compare_secrets(compare_secrets)
                .snapshot("cluster.json")
        })
        .write()
}

fn messages(out: &Output) -> Vec<String> {
    let report = out.json();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "config-drift")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn generated_configmaps_and_references() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("gitops"), "info");
    let current = generated_name(dir.path(), "info");
    let previous = generated_name(dir.path(), "debug");
    assert_ne!(
        current, previous,
        "kustomize renames the generated ConfigMap when its content changes"
    );

    // In sync: same generated name, same data.
    cluster(dir.path(), &current, "info", "anything", None);
    let out = audit(dir.path(), &config(dir.path(), false));
    assert_eq!((out.code, messages(&out)), (0, vec![]), "{}", out.stdout);

    // git moved to LOG_LEVEL=info, the cluster still runs the previous generation.
    cluster(dir.path(), &previous, "debug", "anything", None);
    let out = audit(dir.path(), &config(dir.path(), false));
    assert_eq!(out.code, 1);
    assert_eq!(
        messages(&out),
        vec![format!(
            "ConfigMap shop/{current}: git renders {current} but the cluster has {previous}; values differ: LOG_LEVEL"
        )]
    );

    // A Pod that needs a ConfigMap nobody created (optional references do not count).
    cluster(dir.path(), &current, "info", "anything", Some("api-flags"));
    let out = audit(dir.path(), &config(dir.path(), false));
    assert_eq!(
        messages(&out),
        vec!["Pods of Deployment api need ConfigMap shop/api-flags, which does not exist in the cluster".to_string()]
    );
}

#[test]
fn secrets_are_compared_by_hash_only_when_asked_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("gitops"), "info");
    let current = generated_name(dir.path(), "info");
    cluster(dir.path(), &current, "info", "an-old-password", None);

    let out = audit(dir.path(), &config(dir.path(), false));
    assert_eq!(
        messages(&out),
        Vec::<String>::new(),
        "Secrets are not compared unless asked"
    );

    let out = audit(dir.path(), &config(dir.path(), true));
    assert_eq!(
        messages(&out),
        vec!["Secret shop/db: values differ: password".to_string()]
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(SECRET_VALUE) && !text.contains("an-old-password"),
            "no Secret value in the output"
        );
    }
}
