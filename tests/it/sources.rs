//! The clients and caches audits share (`driftwatch::sources::Sources`): built once, reused by
//! every audit of every environment.

use std::collections::HashMap;

use driftwatch::app::audit;
use driftwatch::config::{Config, Overrides};
use driftwatch::sources::Sources;
use support::config::ConfigBuilder;
use support::fixtures::{D1, REPO, deployment, one_drift, pod};
use support::kube::FakeKube;
use support::write;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audits_through_one_sources_reuse_the_kube_client() {
    let dir = tempfile::tempdir().unwrap();
    one_drift(dir.path());
    let (api, api_rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let running = pod(&api_rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    let kube = FakeKube::start(vec![api, api_rs, running]);
    let kubeconfig = kube.kubeconfig(dir.path(), "prod");
    // Two environments on the same cluster: they share its source too.
    let mut builder = ConfigBuilder::new(dir.path()).gitops(|g| g.path("gitops"));
    for (env, ns) in [("production", "shop"), ("shop-all", "default")] {
        builder = builder.environment(env, |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod")
                .kubeconfig(&kubeconfig)
                .namespaces(&[ns])
        });
    }
    let path = builder.write();
    let cfg = Config::load(&path, &HashMap::new(), &Overrides::default()).unwrap();

    let sources = Sources::new(&cfg).await;
    // From here on the kubeconfig cannot be read: only a client built once, when the sources
    // were, can still reach the cluster.
    write(&kubeconfig, "not: [a kubeconfig");
    let mut lists = Vec::new();
    for _ in 0..2 {
        let report = audit::run(&cfg, &sources, &[]).await;
        assert!(
            report.environments.iter().all(|e| e.error().is_none()),
            "{:?}",
            report.environments
        );
        lists.push(kube.requests().len());
    }
    // The second audit listed as much again: nothing was skipped or answered from a cache.
    assert!(lists[0] > 0 && lists[1] == 2 * lists[0], "{lists:?}");

    // Sources built anew (as on reload) read the kubeconfig again, and report it unreadable.
    let reloaded = sources.reload(&cfg).await;
    let report = audit::run(&cfg, &reloaded, &[]).await;
    for env in &report.environments {
        let error = env.error().unwrap_or_default();
        assert!(
            error.contains("cannot load client configuration"),
            "{}: {error}",
            env.name
        );
    }
}
