//! Watch mode end to end: the daemon runs in-process (`daemon::run`) against the suite's
//! Kubernetes API serving watches, a real git repository (file://, with the push webhook) and a
//! webhook alert receiver. A hand change on the live side alerts once, without waiting for the
//! schedule (which never fires here) and without listing again; a 403 on a watched resource is
//! one audit-error alert and one recovery; a commit the cluster follows within `sync_grace`
//! never alerts, one it does not follow alerts when the grace ends. Real time, no sleeps: the
//! test polls with deadlines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, REPO, deployment, deployment_yaml, pod};
use support::git::GitRepo;
use support::kube::{Behaviour, FakeKube};
use support::net::{wait_until, wait_until_async};
use support::receiver::Receiver;
use support::write;

use crate::NEVER;
use crate::inprocess;

const SECRET: &str = "watch-hook-secret";
const MANIFEST: &str = "apps/api/production/deploy.yaml";
const HOOK: &str = "/alerts";

/// shop/api as the cluster runs it: its Deployment, ReplicaSet and one Pod, all at `image` /
/// `running`. The same uids each time, so a new version is a MODIFIED event of the same objects.
fn api(image: &str, running: &str) -> Vec<Value> {
    let (mut d, mut rs) = deployment("shop", "api", &[("api", image)], 1);
    d["metadata"]["uid"] = json!("d-api");
    rs["metadata"]["uid"] = json!("rs-api");
    rs["metadata"]["ownerReferences"][0]["uid"] = json!("d-api");
    let mut p = pod(&rs, "a", &[("api", running)]);
    p["metadata"]["uid"] = json!("p-api");
    vec![d, rs, p]
}

struct World {
    dir: tempfile::TempDir,
    kube: FakeKube,
    repo: GitRepo,
    receiver: Receiver,
    cfg: PathBuf,
}

impl World {
    /// git declares shop/api at D1 and the cluster runs D1: no drift.
    fn new(sync_grace: &str) -> Self {
        Self::with(sync_grace, |b, _| b)
    }

    /// [`World::new`], with the config further set by `more` (given the API server).
    fn with(sync_grace: &str, more: impl FnOnce(ConfigBuilder, &FakeKube) -> ConfigBuilder) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kube = FakeKube::start(api(&format!("{REPO}@{D1}"), &format!("{REPO}@{D1}")));
        let kubeconfig = kube.kubeconfig(dir.path(), "prod");
        let repo = GitRepo::init(&dir.path().join("infra"));
        repo.commit(
            &[(MANIFEST, &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")))],
            "api at D1",
        );
        write(&dir.path().join("hook-secret"), SECRET);
        let receiver = Receiver::start();
        let url = format!("file://{}", repo.dir.display());
        let builder = ConfigBuilder::new(dir.path())
            .gitops(|g| {
                g.url(&url)
                    .branch("main")
                    .cache_dir("cache")
                    .poll_interval("off")
                    .webhook_secret_file("hook-secret")
            })
            .schedule(|s| s.cron(NEVER).run_on_start(true))
            .audit(|a| a.other("sync_grace", sync_grace))
            .watch(|w| w.debounce("500ms"))
            .state(|s| s.path("state.json"))
            .webhook(|w| w.url(&receiver.url(HOOK)))
            .environment("production", |e| {
                e.paths(&["apps/*/production"])
                    .cluster_name("prod")
                    .kubeconfig(&kubeconfig)
                    .namespaces(&["shop"])
            });
        let cfg = more(builder, &kube).write();
        Self {
            dir,
            kube,
            repo,
            receiver,
            cfg,
        }
    }

    /// (event, type) of every alert the receiver got, in order.
    fn alerts(&self) -> Vec<(String, String)> {
        self.receiver
            .received(HOOK)
            .iter()
            .flat_map(|r| r.json()["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                (
                    a["event"].as_str().unwrap_or("").to_string(),
                    a["type"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    fn lists(&self) -> usize {
        self.kube.requests().iter().filter(|r| !r.contains("watch=")).count()
    }
}

/// The daemon in-process, with what these tests ask of it.
struct Daemon(inprocess::Daemon);

impl Daemon {
    async fn start(cfg: &Path) -> Self {
        Self(inprocess::Daemon::start(cfg, HashMap::new()).await)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.0.get(path).await
    }

    async fn metric(&self, series: &str) -> f64 {
        self.0.metric(series).await.unwrap_or(0.0)
    }

    async fn report(&self) -> Option<Value> {
        let (code, body) = self.get("/report").await;
        (code == 200).then(|| serde_json::from_str(&body).unwrap())
    }

    /// Ready (watches synced, first audit done) and the first audit clean.
    async fn wait_ready(&self) {
        wait_until_async(30, "ready after the first audit", || async {
            (self.get("/readyz").await.0 == 200 && self.report().await.is_some()).then_some(())
        })
        .await;
    }

    /// A signed GitLab push hook: the daemon fetches now.
    async fn push(&self) {
        let headers = [
            ("X-Gitlab-Token", SECRET.to_string()),
            ("X-Gitlab-Event", "Push Hook".to_string()),
        ];
        let (code, _) = self
            .0
            .send(
                reqwest::Method::POST,
                "/hooks/git",
                &headers,
                r#"{"ref": "refs/heads/main"}"#,
            )
            .await;
        assert_eq!(code, 202);
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

async fn wait_alerts(w: &World, n: usize, what: &str) -> Vec<(String, String)> {
    wait_until_async(30, what, || async {
        let alerts = w.alerts();
        (alerts.len() >= n).then_some(alerts)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_change_alerts_once_from_the_watch_without_listing_again() {
    let w = World::new("10m");
    let d = Daemon::start(&w.cfg).await;
    d.wait_ready().await;
    assert_eq!(w.alerts(), vec![], "in sync at start");
    let lists_after_start = w.lists();

    // `kubectl set image` by hand: the spec moves to another image, the Pod still runs D1 (the
    // first change is re-audited at once, before a rollout could follow; a Pod running another
    // digest later is another spec-drift episode, as the running digests are in its fingerprint).
    let changed_at = Instant::now();
    for o in api(&format!("{REPO}:hotfix"), &format!("{REPO}@{D1}")) {
        w.kube.apply(o);
    }
    let alerts = wait_alerts(&w, 1, "the hand change to be alerted").await;
    println!("watch event → alert: {:?}", changed_at.elapsed());
    assert_eq!(alerts, vec![("firing".to_string(), "spec-drift".to_string())]);
    assert_eq!(
        w.lists(),
        lists_after_start,
        "the re-audit read the watch stores, no LIST"
    );

    // Another event on the same drift: re-audited, not alerted again.
    let audits = d.metric("driftwatch_audits_total{result=\"ok\"}").await;
    let mut again = api(&format!("{REPO}:hotfix"), &format!("{REPO}@{D1}"));
    again[2]["metadata"]["labels"] = json!({"touched": "yes"});
    w.kube.apply(again.remove(2));
    wait_until_async(30, "the second re-audit", || async {
        (d.metric("driftwatch_audits_total{result=\"ok\"}").await > audits).then_some(())
    })
    .await;
    assert_eq!(w.alerts().len(), 1, "one alert per drift: {:?}", w.alerts());

    // The watches drop mid-stream, and pods' resourceVersion expires (410): the daemon resumes
    // or re-lists, misses nothing and alerts nothing twice.
    let audits = d.metric("driftwatch_audits_total{result=\"ok\"}").await;
    w.kube.expire("pods");
    w.kube.drop_watches();
    let mut third = api(&format!("{REPO}:hotfix"), &format!("{REPO}@{D1}"));
    third[2]["metadata"]["labels"] = json!({"touched": "again"});
    w.kube.apply(third.remove(2));
    wait_until_async(30, "a re-audit after the dropped watches", || async {
        (d.metric("driftwatch_audits_total{result=\"ok\"}").await > audits).then_some(())
    })
    .await;
    assert_eq!(w.alerts().len(), 1, "still one alert after the watches dropped");

    // Put back as git declares: one resolved notice.
    for o in api(&format!("{REPO}@{D1}"), &format!("{REPO}@{D1}")) {
        w.kube.apply(o);
    }
    let alerts = wait_alerts(&w, 2, "the resolved notice").await;
    assert_eq!(alerts[1], ("resolved".to_string(), "spec-drift".to_string()));
    assert!(
        d.metric("driftwatch_watch_events_total{cluster=\"prod\",resource=\"pods\",namespace=\"shop\"}")
            .await
            >= 2.0,
        "watch events are counted per cluster, resource and namespace"
    );
    assert_eq!(
        d.metric("driftwatch_watch_objects{cluster=\"prod\",resource=\"pods\",namespace=\"shop\"}")
            .await,
        1.0
    );
    d.stop().await;
    drop(w.dir);
}

/// `/readyz` waits for every watcher's initial sync: a reader not allowed to list Pods keeps
/// the daemon unready (and says why) until it is.
/// The kinds of the deployments the workload page of shop/api lists, newest first.
async fn deployment_kinds(d: &Daemon) -> Vec<String> {
    let (_, page) = d.get("/workloads/shop/Deployment/api").await;
    page.split("data-kind=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_string))
        .collect()
}

/// `kubectl set image` by hand, as the daemon may read it: every kind has its own watch, so
/// the new ReplicaSet and its Pod (running D2) can reach it before the Deployment's own change
/// (the order that made the browser test's wait for "hand" time out now and then). The
/// deployment is recorded as a hand change all the same, judged by the template its Pods were
/// made from, and stays one when the Deployment's change arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_change_read_before_its_deployment_is_recorded_as_one() {
    let w = World::new("10m");
    let d = Daemon::start(&w.cfg).await;
    d.wait_ready().await;
    let hotfix = format!("{REPO}:hotfix");
    let mut changed = api(&hotfix, &format!("{REPO}@{D2}"));
    let (mut rs, mut p) = (changed[1].clone(), changed[2].clone());
    rs["metadata"]["name"] = json!("api-hotfix");
    rs["metadata"]["uid"] = json!("rs-api-hotfix");
    p["metadata"]["name"] = json!("api-hotfix-h");
    p["metadata"]["uid"] = json!("p-api-hotfix");
    p["metadata"]["ownerReferences"][0]["name"] = json!("api-hotfix");
    p["metadata"]["ownerReferences"][0]["uid"] = json!("rs-api-hotfix");
    w.kube.apply(rs);
    w.kube.delete("Pod", "shop", "api-5f7b8c9d4-a");
    w.kube.apply(p);
    let kinds = wait_until_async(30, "the deployment to D2 recorded", || async {
        Some(deployment_kinds(&d).await).filter(|k| !k.is_empty())
    })
    .await;
    assert_eq!(kinds, vec!["hand"], "the Deployment read still names git's image");
    let audits = d.metric("driftwatch_audits_total{result=\"ok\"}").await;
    w.kube.apply(changed.remove(0));
    wait_until_async(30, "the Deployment's change audited", || async {
        (d.metric("driftwatch_audits_total{result=\"ok\"}").await > audits).then_some(())
    })
    .await;
    assert_eq!(deployment_kinds(&d).await, vec!["hand"], "still one deployment");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_initial_sync_of_every_watch() {
    let w = World::new("10m");
    w.kube.behave("pods", Behaviour::Forbidden);
    let d = Daemon::start(&w.cfg).await;
    let (code, body) = wait_until_async(30, "an answer from /readyz", || async {
        let (code, body) = d.get("/readyz").await;
        (code != 0).then_some((code, body))
    })
    .await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("initial sync"), "{body}");
    w.kube.heal("pods");
    w.kube.drop_watches();
    d.wait_ready().await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_watch_is_one_audit_error_alert_and_one_recovery() {
    let w = World::new("10m");
    let d = Daemon::start(&w.cfg).await;
    d.wait_ready().await;

    w.kube.behave("pods", Behaviour::Forbidden);
    w.kube.drop_watches();
    let alerts = wait_alerts(&w, 1, "the audit error").await;
    assert_eq!(alerts, vec![("firing".to_string(), "audit-error".to_string())]);

    w.kube.heal("pods");
    w.kube.drop_watches();
    let alerts = wait_alerts(&w, 2, "the recovery").await;
    assert_eq!(alerts[1], ("resolved".to_string(), "audit-error".to_string()));
    assert_eq!(alerts.len(), 2, "one alert per outage");
    d.stop().await;
}

/// Only the leader watches: losing the lease stops the watchers (the API sees them close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_losing_its_lease_stops_its_watchers() {
    let lease_dir = tempfile::tempdir().unwrap();
    let w = World::with("10m", |b, kube| {
        let kubeconfig = kube.kubeconfig(lease_dir.path(), "lease");
        b.replica("replica-a", "default", &kubeconfig)
    });
    let d = Daemon::start(&w.cfg).await;
    d.wait_ready().await;
    assert!(w.kube.open_watches() > 0, "the leader watches");

    w.kube.take_lease("default", "driftwatch", "replica-b");
    wait_until_async(30, "the watchers to stop", || async {
        (w.kube.open_watches() == 0).then_some(())
    })
    .await;
    let (_, ready) = d.get("/readyz").await;
    assert!(ready.contains("follower"), "{ready}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_cluster_follows_within_sync_grace_never_alerts() {
    let w = World::new("1m");
    let d = Daemon::start(&w.cfg).await;
    d.wait_ready().await;

    // A promotion: git now declares D2; the hook makes the daemon audit it at once.
    let commit = w.repo.commit(
        &[(MANIFEST, &deployment_yaml("api", "shop", &format!("{REPO}@{D2}")))],
        "promote D2",
    );
    d.push().await;
    wait_until_async(30, "the new commit audited", || async {
        let r = d.report().await?;
        (r["gitops"]["commit"] == commit.as_str() && r["findings"].as_array().is_some_and(|f| !f.is_empty()))
            .then_some(())
    })
    .await;
    // Argo CD syncs, the rollout completes.
    for o in api(&format!("{REPO}@{D2}"), &format!("{REPO}@{D2}")) {
        w.kube.apply(o);
    }
    wait_until_async(30, "the cluster in sync again", || async {
        let r = d.report().await?;
        r["findings"].as_array().is_some_and(Vec::is_empty).then_some(())
    })
    .await;
    assert_eq!(w.alerts(), vec![], "a normal rollout is never alerted");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_cluster_does_not_follow_alerts_when_sync_grace_ends() {
    let grace = Duration::from_secs(3);
    let w = World::new("3s");
    let d = Daemon::start(&w.cfg).await;
    d.wait_ready().await;

    let commit = w.repo.commit(
        &[(MANIFEST, &deployment_yaml("api", "shop", &format!("{REPO}@{D2}")))],
        "promote D2",
    );
    d.push().await;
    wait_until_async(30, "the new commit audited", || async {
        let r = d.report().await?;
        (r["gitops"]["commit"] == commit.as_str()).then_some(())
    })
    .await;
    let audited_at = Instant::now();
    assert_eq!(w.alerts(), vec![], "held back while the cluster may follow");
    // Nothing happens in the cluster (a stuck sync): the alert comes when the grace ends,
    // without any other event.
    let alerts = wait_alerts(&w, 1, "the alert at the end of sync_grace").await;
    let after = audited_at.elapsed();
    println!("alerted {after:?} after the commit's audit (sync_grace {grace:?})");
    // The live spec still names D1 while git declares D2.
    assert_eq!(alerts, vec![("firing".to_string(), "spec-drift".to_string())]);
    assert!(
        after + Duration::from_millis(500) >= grace,
        "not before the grace ends: {after:?}"
    );
    assert!(after < grace + Duration::from_secs(10), "on time: {after:?}");
    d.stop().await;
}

fn configmap_requests(w: &World) -> usize {
    w.kube.requests().iter().filter(|r| r.contains("/configmaps")).count()
}

/// A least-privilege reader without ConfigMaps, with `compare_configmaps = "auto"` (the
/// default): one info finding, one log line, and no more ConfigMaps requests until a reload
/// (it used to warn and retry every few seconds, forever). The daemon runs as a process here,
/// so that its log is its own to count lines in.
#[test]
fn a_reader_without_configmaps_is_told_once_and_not_retried_until_a_reload() {
    let mut builder = None;
    let w = World::with("10m", |b, _| {
        builder = Some(b.clone());
        b
    });
    w.kube.behave("configmaps", Behaviour::Forbidden);
    let d = support::daemon::Daemon::start(w.dir.path(), &builder.unwrap(), &[]);
    let report: Value = wait_until(30, "ready after the first audit", || {
        let (code, body) = d.get("/report");
        (code == 200 && d.get("/readyz").0 == 200).then(|| serde_json::from_str(&body).unwrap())
    });
    let findings = report["findings"].as_array().unwrap();
    let not_compared: Vec<&Value> = findings
        .iter()
        .filter(|f| {
            f["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("ConfigMaps not compared")
        })
        .collect();
    assert_eq!(not_compared.len(), 1, "{findings:#?}");
    assert_eq!(not_compared[0]["severity"], "info");
    assert_eq!(report["summary"]["errors"], 0, "not an audit error: {report:#}");

    let asked = configmap_requests(&w);
    // kube-runtime's backoff would have retried after ~0.8 s and ~1.6 s more.
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        assert_eq!(configmap_requests(&w), asked, "no configmaps request after the 403");
        std::thread::sleep(Duration::from_millis(20));
    }
    let said = |logs: &str| logs.matches("not allowed to watch this optional resource").count();
    assert_eq!(said(&d.logs()), 1, "{}", d.logs());
    assert!(!d.logs().contains("watch failing"), "{}", d.logs());
    assert_eq!(w.alerts(), vec![], "an info finding is not alerted");

    // A reload starts the watches again: the reader is asked once more, and told once more.
    d.signal("HUP");
    wait_until(30, "the watches started again", || (said(&d.logs()) == 2).then_some(()));
    assert!(configmap_requests(&w) > asked);
}

/// The scheduled (full) audit, which lists the cluster anyway, is where a ConfigMaps watch that
/// a 403 stopped is tried again: about one watch attempt per scheduled audit, none in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scheduled_audit_tries_a_refused_configmaps_watch_again() {
    let w = World::with("10m", |b, _| b.schedule(|s| s.cron("*/2 * * * * *")));
    w.kube.behave("configmaps", Behaviour::Forbidden);
    let d = Daemon::start(&w.cfg).await;
    d.wait_ready().await;
    let watch_attempts = || {
        let requests = w.kube.requests();
        requests
            .iter()
            .filter(|r| r.contains("/configmaps") && r.contains("watch=true"))
            .count()
    };
    let audits = || d.metric("driftwatch_audits_total{result=\"ok\"}");
    let (attempts, before) = (watch_attempts(), audits().await);
    wait_until_async(30, "two more scheduled audits", || async {
        (audits().await >= before + 2.0).then_some(())
    })
    .await;
    let (tried, audited) = (watch_attempts() - attempts, audits().await - before);
    assert!(tried >= 1, "the scheduled audits tried the watch again");
    assert!(
        tried as f64 <= audited + 1.0,
        "at most one attempt per audit: {tried} attempts, {audited} audits"
    );
    d.stop().await;
}
