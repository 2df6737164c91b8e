//! End to end against a real Kubernetes cluster (kind, k3d, a dev cluster), opt-in:
//!
//!     DRIFTWATCH_E2E_KUBECONFIG=~/.kube/config cargo test --features e2e --test it e2e::
//!
//! Creates a namespace with a Deployment (0 replicas, so nothing is pulled) and a Pod it owns,
//! bound to a node that does not exist so no kubelet overwrites its status; sets the Pod's
//! `imageID` through the status subresource; runs `driftwatch --once`; asserts the findings;
//! deletes the namespace. Without the variable the test fails: it never passes silently.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, REPO, deployment_yaml};
use support::run::{driftwatch, finding, findings};
use support::write;

#[tokio::test(flavor = "multi_thread")]
async fn digest_drift_in_a_real_cluster() {
    in_namespace("driftwatch-e2e", |client, ns, kubeconfig| async move {
        scenario(client, &ns, &kubeconfig).await
    })
    .await;
}

/// Runs `scenario(client, namespace, kubeconfig)` in a namespace of its own on the cluster of
/// `DRIFTWATCH_E2E_KUBECONFIG`, deleted afterwards whether it passed or not.
async fn in_namespace<F, Fut>(prefix: &str, scenario: F)
where
    F: FnOnce(kube::Client, String, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let kubeconfig = std::env::var("DRIFTWATCH_E2E_KUBECONFIG")
        .expect("DRIFTWATCH_E2E_KUBECONFIG must name the kubeconfig of a disposable cluster for the e2e test");
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kube config");
    let client = kube::Client::try_from(config).expect("client");
    let ns = format!("{prefix}-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("create namespace");

    let result = std::panic::AssertUnwindSafe(scenario(client.clone(), ns.clone(), kubeconfig));
    let outcome = futures::FutureExt::catch_unwind(result).await;
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(client: kube::Client, ns: &str, kubeconfig: &str) {
    let declared = format!("{REPO}@{D1}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "api"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": declared}]}}}
    }))
    .unwrap();
    let d = deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    let uid = d.metadata.uid.clone().unwrap();

    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "api-manual", "labels": {"e2e": "driftwatch"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": uid, "controller": true}]},
        "spec": {"nodeName": "driftwatch-e2e-no-such-node", "containers": [{"name": "api", "image": declared}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &p).await.expect("create pod");
    let status = json!({"status": {"phase": "Running", "containerStatuses": [{
        "name": "api", "image": declared, "imageID": format!("{REPO}@{D2}"), "ready": true, "restartCount": 0,
        "state": {"running": {"startedAt": "2026-11-26T10:00:00Z"}}}]}});
    pods.patch_status("api-manual", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch pod status");

    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", ns, &declared),
    );
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .environment("e2e", |e| {
            e.paths(&["apps/*/production"]).kubeconfig(kubeconfig).namespaces(&[ns])
        })
        .write();
    let out = tokio::task::spawn_blocking(move || {
        let dir = dir;
        driftwatch(
            dir.path(),
            &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![finding("digest-drift", &format!("{ns}/api"), "api")]
    );
    assert_eq!(report["findings"][0]["running"], json!([{"digest": D2, "pods": 1}]));
}

/// Watch mode against the real API server: with `driftwatch run` watching, a hand `kubectl set
/// image` on a Deployment (and the Pod's status following it) is alerted through a webhook
/// within seconds, without a scheduled audit; the latency is printed.
#[tokio::test(flavor = "multi_thread")]
async fn watch_mode_alerts_a_hand_set_image_in_a_real_cluster() {
    in_namespace("driftwatch-e2e-watch", |client, ns, kubeconfig| async move {
        watch_scenario(client, &ns, &kubeconfig).await
    })
    .await;
}

async fn watch_scenario(client: kube::Client, ns: &str, kubeconfig: &str) {
    let declared = format!("{REPO}@{D1}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "api"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": declared}]}}}
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");

    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", ns, &declared),
    );
    let receiver = support::receiver::Receiver::start();
    let config = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .schedule(|s| s.cron("0 0 3 1 1 *").run_on_start(true))
        .state(|s| s.path("state.json"))
        .webhook(|w| w.url(&receiver.url("/alerts")))
        .environment("e2e", |e| {
            e.paths(&["apps/*/production"]).kubeconfig(kubeconfig).namespaces(&[ns])
        });
    let (path, ns_owned) = (dir.path().to_path_buf(), ns.to_string());
    let daemon = tokio::task::spawn_blocking(move || {
        let d = support::daemon::Daemon::start(&path, &config, &[]);
        support::net::wait_until(60, "the daemon ready after its first audit", || {
            let (code, body) = d.get("/readyz");
            (code == 200 && body.contains("completed")).then_some(())
        });
        d
    })
    .await
    .unwrap();
    assert!(receiver.received("/alerts").is_empty(), "in sync at start");

    // `kubectl set image deployment/api api=<repo>:hotfix`.
    let started = std::time::Instant::now();
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "api", "image": format!("{REPO}:hotfix")}]}}}});
    deployments
        .patch("api", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .expect("set image");
    let alerted = tokio::task::spawn_blocking(move || {
        support::net::wait_until(60, "the alert for the hand change", || {
            let got = receiver.received("/alerts");
            got.iter()
                .any(|r| r.json().to_string().contains("spec-drift"))
                .then_some(started.elapsed())
        })
    })
    .await
    .unwrap();
    println!("watch mode: kubectl set image in {ns_owned} → alert in {alerted:?}");
    drop(daemon);
}
