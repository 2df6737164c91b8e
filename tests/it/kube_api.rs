//! The live side through the real kube client, against a Kubernetes API served over HTTP by the
//! test suite: pagination, namespaces, 403, 500, a hanging and a slow server, an unreachable one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::config::{Audit, ConfigBuilder};
use support::fixtures::{D1, D2, D3, REPO, deployment, deployment_yaml, pod};
use support::kube::{Behaviour, FakeKube};
use support::net::free_port;
use support::run::{audit, driftwatch, finding, findings};
use support::write;

/// A GitOps tree (as a local directory) declaring shop/api and shop/worker at D1, and a
/// CronJob by tag.
fn gitops(dir: &Path) {
    write(
        &dir.join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
    );
    write(
        &dir.join("gitops/apps/worker/production/deploy.yaml"),
        &deployment_yaml("worker", "shop", &format!("{REPO}-worker@{D1}")),
    );
}

/// shop/api runs D2 on 3 Pods (drift); shop/worker runs D1 on 7 Pods; kube-system/coredns.
fn cluster_objects() -> Vec<Value> {
    let (api, api_rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 3);
    let (worker, worker_rs) = deployment("shop", "worker", &[("worker", &format!("{REPO}-worker@{D1}"))], 7);
    let (dns, dns_rs) = deployment(
        "kube-system",
        "coredns",
        &[("coredns", "registry.k8s.io/coredns/coredns:v1.11.1")],
        1,
    );
    let mut objects = vec![api, worker, dns];
    for i in 0..3 {
        objects.push(pod(&api_rs, &format!("a{i}"), &[("api", &format!("{REPO}@{D2}"))]));
    }
    for i in 0..7 {
        objects.push(pod(
            &worker_rs,
            &format!("w{i}"),
            &[("worker", &format!("{REPO}-worker@{D1}"))],
        ));
    }
    objects.push(pod(
        &dns_rs,
        "x",
        &[("coredns", &format!("registry.k8s.io/coredns/coredns@{D3}"))],
    ));
    objects.extend([api_rs, worker_rs, dns_rs]);
    objects
}

/// Environments of (name, kubeconfig, namespaces) with context `<name>-ctx`, listing in pages
/// of 2, with `[audit]` as `audit` sets it.
fn config(dir: &Path, envs: &[(&str, &Path, &[&str])], audit: impl FnOnce(Audit) -> Audit) -> PathBuf {
    let mut cfg = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .audit(|a| audit(a.page_size(2)));
    for (name, kubeconfig, namespaces) in envs {
        cfg = cfg.environment(name, |e| {
            let e = e
                .paths(&["apps/*/production"])
                .kubeconfig(kubeconfig)
                .context(&format!("{name}-ctx"));
            if namespaces.is_empty() {
                e
            } else {
                e.namespaces(namespaces)
            }
        });
    }
    cfg.write()
}

#[test]
fn lists_every_page_through_the_kube_client_and_finds_the_drift() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    let kube = FakeKube::start(cluster_objects());
    let kc = kube.kubeconfig(dir.path(), "production-ctx");
    let cfg = config(dir.path(), &[("production", &kc, &["shop"])], |a| a);

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "drift exits 1\n{}", out.stderr);
    let report = out.json();
    assert_eq!(findings(&report), vec![finding("digest-drift", "shop/api", "api")]);
    let f = &report["findings"][0];
    assert_eq!(f["cluster"], "production-ctx");
    assert_eq!(f["running"], serde_json::json!([{"digest": D2, "pods": 3}]));
    assert_eq!(f["declared"], format!("{REPO}@{D1}"));
    let env = &report["environments"][0];
    assert_eq!(
        (
            env["status"].as_str(),
            env["declared_workloads"].as_u64(),
            env["live_workloads"].as_u64()
        ),
        (Some("ok"), Some(2), Some(2))
    );

    let requests = kube.requests();
    assert!(
        requests.iter().all(|r| r.starts_with("GET ")),
        "read-only: {requests:?}"
    );
    assert!(
        requests.iter().all(|r| r.contains("/namespaces/shop/")),
        "listed per configured namespace: {requests:?}"
    );
    // 10 Pods at 2 per page: 5 calls following `continue`; one call for each other resource.
    let pod_calls: Vec<&String> = requests.iter().filter(|r| r.contains("/pods")).collect();
    assert_eq!(pod_calls.len(), 5, "{pod_calls:?}");
    assert!(pod_calls.iter().any(|r| r.contains("continue=8")), "{pod_calls:?}");
    // Pods (5 pages) and one call each for 6 workload kinds, Argo Rollouts and ConfigMaps.
    assert_eq!(
        requests.len(),
        5 + 8,
        "a handful of LISTs, never one call per workload: {requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("/secrets")),
        "Secrets are only listed with compare_secrets"
    );
}

#[test]
fn without_namespaces_lists_cluster_wide_and_ignores_undeclared_system_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    let kube = FakeKube::start(cluster_objects());
    let kc = kube.kubeconfig(dir.path(), "production-ctx");
    let cfg = config(dir.path(), &[("production", &kc, &[])], |a| a);

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        findings(&out.json()),
        vec![finding("digest-drift", "shop/api", "api")],
        "kube-system/coredns is not undeclared"
    );
    assert!(
        kube.requests().iter().all(|r| !r.contains("/namespaces/")),
        "cluster-wide lists: {:?}",
        kube.requests()
    );
}

#[test]
fn forbidden_cluster_is_an_error_and_the_other_environment_is_still_audited() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    let prod = FakeKube::start(cluster_objects());
    prod.behave("pods", Behaviour::Forbidden);
    let staging = FakeKube::start(cluster_objects());
    let cfg = config(
        dir.path(),
        &[
            ("production", &prod.kubeconfig(dir.path(), "production-ctx"), &[]),
            ("staging", &staging.kubeconfig(dir.path(), "staging-ctx"), &[]),
        ],
        |a| a,
    );

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2, "an environment that could not be audited exits 2");
    let report = out.json();
    let prod_env = &report["environments"][0];
    assert_eq!(prod_env["status"], "error");
    let err = prod_env["error"].as_str().unwrap();
    assert!(
        err.contains("cluster production-ctx") && err.contains("list pods") && err.contains("forbidden"),
        "{err}"
    );
    assert_eq!(report["environments"][1]["status"], "ok");
    assert_eq!(findings(&report), vec![finding("digest-drift", "shop/api", "api")]);
    assert_eq!(report["findings"][0]["environment"], "staging");
    assert_eq!(report["summary"]["errors"], 1);
}

#[test]
fn server_error_names_the_cluster_resource_and_status() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    let kube = FakeKube::start(cluster_objects());
    kube.behave("deployments", Behaviour::ServerError);
    let cfg = config(
        dir.path(),
        &[("production", &kube.kubeconfig(dir.path(), "production-ctx"), &[])],
        |a| a,
    );

    let out = driftwatch(dir.path(), &["--once", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("error: environment production: cluster production-ctx: list deployments: HTTP 500: Internal error occurred: etcdserver"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_hanging_api_server_times_out_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    let kube = FakeKube::start(cluster_objects());
    kube.behave("statefulsets", Behaviour::Hang);
    let cfg = config(
        dir.path(),
        &[("production", &kube.kubeconfig(dir.path(), "production-ctx"), &[])],
        |a| a.kube_timeout("1s"),
    );

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2);
    let err = out.json()["environments"][0]["error"].as_str().unwrap().to_string();
    assert!(
        err.contains("cluster production-ctx: list statefulsets: no answer within 1s"),
        "{err}"
    );
}

#[test]
fn a_slow_api_server_within_the_timeout_is_audited_normally() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    let kube = FakeKube::start(cluster_objects());
    kube.behave("pods", Behaviour::Slow(Duration::from_millis(300)));
    let cfg = config(
        dir.path(),
        &[("production", &kube.kubeconfig(dir.path(), "production-ctx"), &[])],
        |a| a,
    );

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(findings(&out.json()), vec![finding("digest-drift", "shop/api", "api")]);
}

#[test]
fn an_unreachable_cluster_is_an_error_but_git_only_findings_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    write(
        &dir.path().join("gitops/apps/cron/production/cron.yaml"),
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: report\n  namespace: shop\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: report\n              image: registry.example.com/shop/report:v1\n",
    );
    let kube = FakeKube::start(vec![]);
    let kc = kube.kubeconfig(dir.path(), "production-ctx");
    // Point the kubeconfig at a port nothing listens on.
    let closed = free_port();
    let text = std::fs::read_to_string(&kc)
        .unwrap()
        .replace(&kube.server(), &format!("http://127.0.0.1:{closed}"));
    write(&kc, &text);
    let cfg = config(dir.path(), &[("production", &kc, &[])], |a| a);

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2);
    let report = out.json();
    let err = report["environments"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("cluster production-ctx") && err.contains("unreachable"),
        "{err}"
    );
    assert_eq!(
        findings(&report),
        vec![finding("unpinned", "shop/report", "report")],
        "what git alone tells is still reported"
    );
}

#[test]
fn a_missing_kubeconfig_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    let cfg = config(
        dir.path(),
        &[("production", &dir.path().join("no-such-kubeconfig"), &[])],
        |a| a,
    );
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2);
    let err = out.json()["environments"][0]["error"].as_str().unwrap().to_string();
    assert!(err.contains("no-such-kubeconfig"), "{err}");
}
