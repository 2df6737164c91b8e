//! The daemon driven in-process through `daemon::run(…, listener, shutdown)`: the test binds
//! 127.0.0.1:0, passes the listener and its own shutdown token, and reads the daemon over HTTP.
//! The cluster is a snapshot file and the GitOps repository a plain folder, so no Kubernetes API
//! or git server is needed.
//!
//! tokio-cron-scheduler fires on the wall clock, so the schedule is proven in real time (polled
//! with a timeout); shutdown runs under paused tokio time.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::config::{ConfigBuilder, Schedule};

use crate::NEVER;
use crate::inprocess::{Daemon, capture_logs};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REPO: &str = "registry.example.com/shop/api";
const EVERY_SECOND: &str = "* * * * * *";

/// Git declares shop/api at D1 (`gitops/`); the cluster snapshot's Pod runs D2: one
/// `digest-drift` per audit.
fn gitops(dir: &Path) {
    let manifest = dir.join("gitops/apps/api/production/deploy.yaml");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    std::fs::write(
        manifest,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: api\n          image: {REPO}@{D1}\n"
        ),
    )
    .unwrap();
}

/// The cluster as `kubectl get deploy,rs,pods -o json` writes it: api's Pod runs D2.
fn snapshot() -> String {
    let owner = |kind: &str, name: &str, uid: &str| serde_json::json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}]);
    let template = serde_json::json!({"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": format!("{REPO}@{D1}")}]}});
    let status = serde_json::json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1});
    let items = serde_json::json!([
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "api", "namespace": "shop", "uid": "00000000-0000-4000-8000-000000000001", "generation": 1, "creationTimestamp": "2026-11-01T00:00:00Z"},
         "spec": {"replicas": 1, "template": template}, "status": status},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": {"name": "api-5f7b8c9d4", "namespace": "shop", "uid": "00000000-0000-4000-8000-000000000002", "creationTimestamp": "2026-11-01T00:00:00Z",
                      "ownerReferences": owner("Deployment", "api", "00000000-0000-4000-8000-000000000001")},
         "spec": {"replicas": 1, "template": template}, "status": {"replicas": 1}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "api-5f7b8c9d4-a", "namespace": "shop", "uid": "00000000-0000-4000-8000-000000000003", "creationTimestamp": "2026-11-01T00:00:10Z",
                      "ownerReferences": owner("ReplicaSet", "api-5f7b8c9d4", "00000000-0000-4000-8000-000000000002")},
         "spec": {"containers": [{"name": "api", "image": "set-by-owner"}]},
         "status": {"phase": "Running", "containerStatuses": [{"name": "api", "image": "x", "imageID": format!("{REPO}@{D2}"), "ready": true, "restartCount": 0}]}}
    ]);
    serde_json::to_string(
        &serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}),
    )
    .unwrap()
}

/// The config file: one environment on `snapshot`, `schedule` as given.
fn write_config(dir: &Path, schedule: impl FnOnce(Schedule) -> Schedule, snapshot: &str) -> PathBuf {
    ConfigBuilder::new(dir)
        .schedule(schedule)
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).cluster_name("prod").snapshot(snapshot)
        })
        .write()
}

/// A daemon whose start-up audit waits on the snapshot pipe it returns, with `grace` as its
/// shutdown grace.
async fn start_gated(dir: &Path, grace: &str) -> (Daemon, PathBuf) {
    gitops(dir);
    let fifo = gated_snapshot(dir);
    let cfg = write_config(
        dir,
        |s| s.cron(NEVER).run_on_start(true).shutdown_grace(grace),
        "cluster.fifo",
    );
    (Daemon::start(&cfg, HashMap::new()).await, fifo)
}

/// driftwatch_audits_total{result="ok"}, 0 before the first.
async fn audits_ok(d: &Daemon) -> f64 {
    d.metric("driftwatch_audits_total{result=\"ok\"}").await.unwrap_or(0.0)
}

/// Polls `check` every 50 ms (real time) until it holds, for at most `secs`.
async fn wait_until<F, Fut>(secs: u64, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let polled = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), polled)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s waiting for {what}"));
}

#[tokio::test]
async fn a_per_second_schedule_fires_audits() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    std::fs::write(dir.path().join("cluster.json"), snapshot()).unwrap();
    let d = Daemon::start(
        &write_config(dir.path(), |s| s.cron(EVERY_SECOND), "cluster.json"),
        HashMap::new(),
    )
    .await;

    wait_until(15, "two scheduled audits", || async { audits_ok(&d).await >= 2.0 }).await;
    let (code, report) = d.request(reqwest::Method::GET, "/report").await;
    assert_eq!(code, 200);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["findings"][0]["type"], "digest-drift", "{report}");
    assert_eq!(
        d.request(reqwest::Method::GET, "/readyz").await.0,
        200,
        "ready after an audit"
    );
    d.stop().await;
}

/// The overlay is a kustomization: the first audit renders it with the built-in renderer, the
/// next ones take it from the render cache (the files did not change), and the metrics say so.
#[tokio::test]
async fn the_daemon_renders_an_unchanged_overlay_once() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    std::fs::write(
        dir.path().join("gitops/apps/api/production/kustomization.yaml"),
        "resources: [deploy.yaml]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("cluster.json"), snapshot()).unwrap();
    let d = Daemon::start(
        &write_config(dir.path(), |s| s.cron(EVERY_SECOND), "cluster.json"),
        HashMap::new(),
    )
    .await;

    wait_until(15, "three scheduled audits", || async { audits_ok(&d).await >= 3.0 }).await;
    let (_, report) = d.request(reqwest::Method::GET, "/report").await;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["findings"][0]["type"], "digest-drift", "{report}");
    assert_eq!(
        report["environments"][0]["paths"][0],
        serde_json::json!({"path": "apps/api/production", "renderer": "builtin", "cached": true})
    );
    assert_eq!(
        d.metric("driftwatch_renders_total{engine=\"builtin\",reason=\"\",renderer=\"kustomize\"}")
            .await,
        Some(1.0),
        "rendered once"
    );
    assert!(
        d.metric("driftwatch_render_cache_lookups_total{result=\"hit\"}")
            .await
            .is_some_and(|hits| hits >= 2.0)
    );
    d.stop().await;
}

#[tokio::test]
async fn reload_applies_a_valid_config_and_keeps_the_running_one_on_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    gitops(dir.path());
    std::fs::write(dir.path().join("cluster.json"), snapshot()).unwrap();
    let cfg = write_config(dir.path(), |s| s.cron(NEVER), "cluster.json");
    let d = Daemon::start(&cfg, HashMap::new()).await;
    assert_eq!(audits_ok(&d).await, 0.0, "the first schedule does not fire");

    // Valid, through POST /-/reload: the new schedule fires every second.
    write_config(dir.path(), |s| s.cron(EVERY_SECOND), "cluster.json");
    assert_eq!(
        d.request(reqwest::Method::POST, "/-/reload").await,
        (200, "config reloaded\n".into())
    );
    wait_until(15, "an audit on the reloaded schedule", || async {
        audits_ok(&d).await >= 1.0
    })
    .await;

    // Invalid, through the reload handle (what SIGHUP uses): rejected with the key named,
    // and the running schedule goes on.
    write_config(dir.path(), |s| s.cron(EVERY_SECOND).other("crn", "x"), "cluster.json");
    let rejected = d.reload.reload().await.expect_err("an invalid config is rejected");
    assert!(rejected.to_string().contains("crn"), "{rejected}");
    assert_eq!(d.metric("driftwatch_config_last_reload_successful").await, Some(0.0));
    assert_eq!(
        d.metric("driftwatch_config_reloads_total{result=\"ok\"}").await,
        Some(1.0)
    );
    let audits = audits_ok(&d).await;
    wait_until(15, "audits to go on under the running config", || async {
        audits_ok(&d).await > audits
    })
    .await;
    d.stop().await;
}

/// A cluster snapshot that is a named pipe: the audit reading it waits until the test writes
/// it, so an audit is under way exactly as long as the test wants.
fn gated_snapshot(dir: &Path) -> PathBuf {
    let fifo = dir.join("cluster.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    fifo
}

// Real time: after the audit the daemon writes its history to the SQLite store, whose worker
// thread a paused clock would not wait for (it would jump past the grace instead).
#[tokio::test]
async fn shutdown_lets_the_running_audit_finish_within_the_grace_then_run_returns() {
    let (logs, _logging) = capture_logs();

    let dir = tempfile::tempdir().unwrap();
    let (d, fifo) = start_gated(dir.path(), "30s").await;
    // Opening the pipe for writing returns once the audit has opened it for reading.
    let path = fifo.clone();
    let mut pipe = tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).open(path))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.request(reqwest::Method::GET, "/readyz").await,
        (200, "ready: first audit in progress\n".into())
    );

    d.shutdown.cancel();
    let cancelled = tokio::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        pipe.write_all(snapshot().as_bytes()).unwrap();
    })
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), d.run)
        .await
        .expect("run returns within shutdown_grace")
        .unwrap()
        .expect("run returns Ok");
    assert!(cancelled.elapsed() < Duration::from_secs(30));

    // The audit ran to its end after the shutdown began, and only then did the daemon stop.
    let shutting_down = logs.position("shutting down: no new audits");
    let finished = logs.position("audit finished");
    assert!(shutting_down < finished, "{}", logs.text());
    assert!(logs.text()[finished..].contains("findings=1"), "{}", logs.text());
    assert!(logs.position("running audit finished") < logs.position("stopped"));
    assert!(!logs.text().contains("did not finish within shutdown_grace"));
}

#[tokio::test]
async fn shutdown_grace_bounds_the_wait_for_a_running_audit() {
    let (logs, _logging) = capture_logs();

    let dir = tempfile::tempdir().unwrap();
    let (d, fifo) = start_gated(dir.path(), "1s").await;
    let path = fifo.clone();
    let pipe = tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).open(path))
        .await
        .unwrap()
        .unwrap();

    // The audit never gets its snapshot: run returns once the grace is over.
    d.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), d.run)
        .await
        .expect("run returns after shutdown_grace")
        .unwrap()
        .expect("run returns Ok");
    assert!(
        logs.text().contains("did not finish within shutdown_grace"),
        "{}",
        logs.text()
    );
    assert!(!logs.text().contains("audit finished"));
    // Lets the abandoned read end, so the runtime can shut down.
    drop(pipe);
}
