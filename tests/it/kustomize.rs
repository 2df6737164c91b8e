//! Overlays rendered (by the built-in renderer by default; the same expectations hold for the
//! real kustomize, `kubectl kustomize` on the CI machine), a broken overlay, and kustomize
//! missing with the external engine.

use std::path::{Path, PathBuf};

use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, D3, REPO, deployment, deployment_yaml, list, pod};
use support::run::{Output, driftwatch, finding, findings};
use support::write;

/// apps/api: a base at a tag, overlays pinning a digest with the `images:` transformer, as a
/// promotion pipeline writes them. apps/web: plain manifests (auto renderer picks plain).
fn tree(root: &Path) {
    write(
        &root.join("apps/api/base/kustomization.yaml"),
        "resources:\n  - deployment.yaml\n",
    );
    write(
        &root.join("apps/api/base/deployment.yaml"),
        &deployment_yaml("api", "placeholder", "registry.example.com/shop/api:latest"),
    );
    for (env, digest) in [("production", D1), ("staging", D2)] {
        write(
            &root.join(format!("apps/api/overlays/{env}/kustomization.yaml")),
            &format!(
                "namespace: shop\nresources:\n  - ../../base\nimages:\n  - name: registry.example.com/shop/api\n    digest: {digest}\n"
            ),
        );
    }
    write(
        &root.join("apps/web/overlays/production/web.yaml"),
        &deployment_yaml("web", "shop", &format!("registry.example.com/shop/web@{D3}")),
    );
}

fn snapshot(dir: &Path) -> PathBuf {
    let (api, api_rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let (web, web_rs) = deployment(
        "shop",
        "web",
        &[("web", &format!("registry.example.com/shop/web@{D3}"))],
        1,
    );
    let (extra, extra_rs) = deployment(
        "shop",
        "hand-made",
        &[("x", &format!("registry.example.com/shop/x@{D3}"))],
        1,
    );
    let pods = vec![
        pod(&api_rs, "a", &[("api", &format!("{REPO}@{D2}"))]),
        pod(&web_rs, "w", &[("web", &format!("registry.example.com/shop/web@{D3}"))]),
    ];
    let path = dir.join("cluster.json");
    write(
        &path,
        &list([vec![api, api_rs, web, web_rs, extra, extra_rs], pods].concat()),
    );
    path
}

fn config(dir: &Path, kustomize: &str) -> PathBuf {
    let snapshot = snapshot(dir);
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .render(|r| r.kustomize(kustomize))
        .environment("production", |e| {
            e.paths(&["apps/*/overlays/production"]).snapshot(snapshot)
        })
        .write()
}

fn run(dir: &Path, cfg: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--config", cfg.to_str().unwrap()]);
    driftwatch(dir, &all, &[])
}

#[test]
fn overlays_are_rendered_by_kustomize_and_compared() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("gitops"));
    let cfg = config(dir.path(), "kubectl");

    let out = run(dir.path(), &cfg, &["--once", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![
            finding("digest-drift", "shop/api", "api"),
            finding("undeclared", "shop/hand-made", "")
        ],
        "the overlay's digest and namespace come from kustomize"
    );
    assert_eq!(report["findings"][0]["source"], "apps/api/overlays/production");
    assert_eq!(report["findings"][0]["declared"], format!("{REPO}@{D1}"));

    let out = run(
        dir.path(),
        &cfg,
        &["declared", "--env", "production", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let declared = out.json();
    assert_eq!(declared["schema"], "driftwatch.declared/v1");
    assert_eq!(declared["environment"], "production");
    assert_eq!(
        declared["workloads"][0],
        serde_json::json!({"kind": "Deployment", "namespace": "shop", "name": "api", "source": "apps/api/overlays/production",
                           "containers": [{"name": "api", "image": format!("{REPO}@{D1}"), "init": false}]}),
        "images exactly as rendered"
    );
    assert_eq!(declared["workloads"][1]["name"], "web");
}

#[test]
fn a_broken_overlay_is_an_error_naming_it_and_the_rest_is_still_audited() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("gitops");
    tree(&root);
    write(
        &root.join("apps/api/overlays/production/kustomization.yaml"),
        "resources:\n  - ../../does-not-exist\n",
    );
    let cfg = config(dir.path(), "kubectl");

    let out = run(dir.path(), &cfg, &["--once", "--format", "json"]);
    assert_eq!(out.code, 2);
    let report = out.json();
    let err = report["environments"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("kustomize apps/api/overlays/production:") && err.contains("does-not-exist"),
        "kustomize's stderr is shown: {err}"
    );
    // web is still compared (in sync); with one overlay unrendered, nothing is called undeclared.
    assert_eq!(findings(&report), vec![]);
    assert_eq!(report["environments"][0]["declared_workloads"], 1);
}

/// With `engine = "external"` every overlay needs the kustomize command. (The built-in engine
/// needs it only for overlays it leaves to kustomize: `render_cache`.)
#[test]
fn missing_kustomize_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("gitops"));
    let snapshot = snapshot(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.kustomize("/nonexistent/bin/kustomize").engine("external"))
        .environment("production", |e| {
            e.paths(&["apps/*/overlays/production"]).snapshot(snapshot)
        })
        .write();
    let out = run(dir.path(), &cfg, &["--once"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("kustomize is not installed: \"/nonexistent/bin/kustomize\" not found"),
        "{}",
        out.stdout
    );
}
