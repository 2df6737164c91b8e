//! Watch mode's live half against the suite's Kubernetes API through the real kube client: the
//! stores match what the LIST path reads, follow ADDED/MODIFIED/DELETED, survive dropped
//! watches (resuming, not re-listing), re-list after 410, report a 403 and recover from it,
//! stay in their namespaces, stop with their token, and leave ConfigMaps alone when told.
//! Real time, no sleeps: tests wait on `Change`s, or poll with a deadline.

use std::time::Duration;

use driftwatch::config::{ClusterSource, CompareConfigMaps};
use driftwatch::core::image::RunningImage;
use driftwatch::core::model::{ConfigListing, WorkloadKind};
use driftwatch::core::resolve;
use driftwatch::sources::cluster::api;
use driftwatch::sources::cluster::watch::{Change, ClusterWatch};
use driftwatch::sources::cluster::{ClusterError, ListOptions};
use serde_json::{Value, json};
use support::fixtures::{D1, D2, D3, REPO, deployment, pod};
use support::kube::{Behaviour, FakeKube};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

/// shop/api (Deployment, 2 Pods at D1), shop/db (StatefulSet-less Pod with plain env vars and
/// an emptyDir next to a ConfigMap reference), shop/settings (ConfigMap), and kube-system/coredns.
fn objects() -> Vec<Value> {
    let (api, api_rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 2);
    let (dns, dns_rs) = deployment(
        "kube-system",
        "coredns",
        &[("coredns", "registry.k8s.io/coredns:v1")],
        1,
    );
    let mut bare = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "db", "namespace": "shop", "uid": "db-uid", "creationTimestamp": "2026-11-01T00:00:00Z",
                     "labels": {"app": "db"}, "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
        "spec": {"containers": [{"name": "db", "image": "postgres:16",
                  "env": [{"name": "PLAIN", "value": "x"}, {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                          {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}]}],
                 "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "settings"}}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "db", "imageID": format!("docker.io/library/postgres@{D3}")}]}});
    bare["metadata"]["ownerReferences"] = json!([]);
    let settings = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop", "uid": "cm-uid"}, "data": {"mode": "fast"}});
    vec![
        pod(&api_rs, "a", &[("api", &format!("{REPO}@{D1}"))]),
        pod(&api_rs, "b", &[("api", &format!("{REPO}@{D1}"))]),
        pod(&dns_rs, "x", &[("coredns", &format!("registry.k8s.io/coredns@{D3}"))]),
        api,
        api_rs,
        dns,
        dns_rs,
        bare,
        settings,
    ]
}

struct Watched {
    kube: FakeKube,
    client: kube::Client,
    watch: ClusterWatch,
    changes: mpsc::UnboundedReceiver<Change>,
    token: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn client(kube: &FakeKube, dir: &std::path::Path) -> kube::Client {
    let source = ClusterSource::Kubeconfig {
        path: Some(kube.kubeconfig(dir, "prod-ctx")),
        context: Some("prod-ctx".into()),
    };
    // Watches idle for minutes: no read timeout shorter than their 290 s.
    api::client("prod", &source, Duration::from_secs(300)).await.unwrap()
}

async fn start_on(kube: FakeKube, namespaces: &[&str], configmaps: CompareConfigMaps) -> Watched {
    let dir = tempfile::tempdir().unwrap();
    let client = client(&kube, dir.path()).await;
    let (tx, changes) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let namespaces: Vec<String> = namespaces.iter().map(|n| n.to_string()).collect();
    let watch = ClusterWatch::start("prod", client.clone(), &namespaces, configmaps, tx, token.clone());
    Watched {
        kube,
        client,
        watch,
        changes,
        token,
        _dir: dir,
    }
}

async fn synced(namespaces: &[&str], configmaps: CompareConfigMaps) -> Watched {
    let w = start_on(FakeKube::start(objects()), namespaces, configmaps).await;
    tokio::time::timeout(WAIT, w.watch.wait_synced())
        .await
        .expect("initial sync");
    assert!(w.watch.synced());
    w
}

impl Watched {
    /// The next Change that `pred` accepts (earlier ones are skipped).
    async fn change(&mut self, what: &str, pred: impl Fn(&Change) -> bool) -> Change {
        let wait = async {
            loop {
                let c = self.changes.recv().await.expect("changes channel open");
                if pred(&c) {
                    return c;
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("no Change for {what}"))
    }

    /// The LIST path's objects for the same cluster and scope.
    async fn listed(&self, namespaces: &[&str], configmaps: CompareConfigMaps) -> resolve::RawObjects {
        let namespaces: Vec<String> = namespaces.iter().map(|n| n.to_string()).collect();
        let opts = ListOptions {
            secrets: false,
            configmaps,
            timeout: Duration::from_secs(30),
            page_size: 2,
        };
        let scope = (!namespaces.is_empty()).then_some(namespaces.as_slice());
        api::list_all("prod", &self.client, scope, opts).await.unwrap()
    }

    fn requests(&self) -> Vec<String> {
        self.kube.requests()
    }
}

/// Polls `check` every 20 ms until it holds, or panics naming `what`.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tick.tick().await;
    }
}

/// Initial syncs in `requests`: LISTs without a continue token, and streaming-list watches.
fn initial_syncs(requests: &[String], resource: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.split('?').next().unwrap_or("").ends_with(&format!("/{resource}")))
        .filter(|r| {
            let watch = r.contains("watch=true");
            (!watch && !r.contains("continue=")) || (watch && r.contains("sendInitialEvents=true"))
        })
        .count()
}

fn watches(requests: &[String], resource: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.split('?').next().unwrap_or("").ends_with(&format!("/{resource}")) && r.contains("watch=true"))
        .cloned()
        .collect()
}

fn image_of(w: &Watched, kind: WorkloadKind, ns: &str, name: &str) -> Option<String> {
    let (state, _) = w.watch.state().unwrap();
    state
        .workloads
        .values()
        .find(|l| l.kind == kind && l.namespace == ns && l.name == name)
        .map(|l| l.containers[0].image.clone())
}

fn pod_digests(w: &Watched, name: &str) -> Vec<String> {
    let (state, _) = w.watch.state().unwrap();
    let api = state.workloads.values().find(|l| l.name == name).expect("workload");
    api.pods
        .iter()
        .flat_map(|p| {
            p.statuses.iter().map(|s| match &s.image {
                RunningImage::Digest { digest, .. } => format!("{}:{digest}", p.name),
                other => format!("{}:{other:?}", p.name),
            })
        })
        .collect()
}

#[tokio::test]
async fn initial_sync_gives_the_state_the_list_path_gives() {
    let w = synced(&[], CompareConfigMaps::Auto).await;
    let requests = w.requests();
    let listed = w.listed(&[], CompareConfigMaps::Auto).await;
    let (state, count) = w.watch.state().unwrap();
    assert_eq!(format!("{:?}", resolve::build(&listed, None)), format!("{state:?}"));
    assert_eq!(count, listed.workloads.len() + listed.pods.len());
    assert_eq!(count, 9 - 1, "every workload and Pod, not the ConfigMap");
    assert!(
        state.config_refs.iter().any(|r| r.name == "settings"),
        "{:?}",
        state.config_refs
    );

    // The same objects, but slimmer: what the audit never reads is not kept.
    let raw = w.watch.raw().unwrap();
    let db = raw.pods.iter().find(|p| p.metadata.name == "db").unwrap();
    assert_eq!(
        db.spec.containers[0].env.len(),
        1,
        "only the env var naming a ConfigMap"
    );
    assert_eq!(db.spec.volumes.len(), 1, "only the ConfigMap volume");
    let names = |r: &resolve::RawObjects| {
        let mut n: Vec<String> = r.pods.iter().map(|p| p.metadata.name.clone()).collect();
        n.extend(r.workloads.iter().map(|(k, w)| format!("{k}/{}", w.metadata.name)));
        n
    };
    assert_eq!(names(&raw), names(&listed));

    // Streaming lists: the server is 1.33, so each resource was synced by one watch.
    assert!(
        requests
            .iter()
            .all(|r| !r.starts_with("GET /api") || r.contains("watch=true")),
        "no LIST: {requests:#?}"
    );
    assert_eq!(initial_syncs(&requests, "pods"), 1);
    let stats = w.watch.stats();
    assert_eq!(stats.len(), 9, "6 workload kinds, Rollouts, Pods, ConfigMaps");
    let pods = stats.iter().find(|s| s.resource == "pods").unwrap();
    assert_eq!((pods.objects, pods.events, pods.restarts, pods.synced), (4, 0, 0, true));
    assert!(pods.initial_sync.is_some());
}

#[tokio::test]
async fn without_streaming_lists_it_lists_in_pages_then_watches_and_matches_exactly() {
    let kube = FakeKube::start(
        objects()
            .into_iter()
            .filter(|o| o["metadata"]["name"] != "db")
            .collect(),
    );
    kube.refuse_streaming_lists();
    let w = start_on(kube, &["shop"], CompareConfigMaps::Auto).await;
    tokio::time::timeout(WAIT, w.watch.wait_synced()).await.expect("sync");
    let requests = w.requests();
    let listed = w.listed(&["shop"], CompareConfigMaps::Auto).await;
    // Without noise to prune, the very same objects as the LIST path.
    assert_eq!(format!("{listed:?}"), format!("{:?}", w.watch.raw().unwrap()));
    let lists = requests
        .iter()
        .filter(|r| r.contains("/pods?") && !r.contains("watch=true"))
        .count();
    assert_eq!(lists, 1, "one page of 500: {requests:#?}");
    until("the pods watch", || !watches(&w.requests(), "pods").is_empty()).await;
    let pod_watches = watches(&w.requests(), "pods");
    assert!(
        pod_watches.iter().any(|r| r.contains("sendInitialEvents=true")),
        "tried first"
    );
    assert!(
        pod_watches
            .iter()
            .any(|r| r.contains("allowWatchBookmarks=true") && r.contains("resourceVersion=")),
        "{pod_watches:#?}"
    );
}

#[tokio::test]
async fn a_hand_changed_image_and_a_new_pod_image_id_show_up_and_send_changes() {
    let mut w = synced(&[], CompareConfigMaps::Auto).await;
    assert_eq!(
        image_of(&w, WorkloadKind::Deployment, "shop", "api").as_deref(),
        Some(format!("{REPO}@{D1}").as_str())
    );
    let mut api = objects()
        .into_iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "api")
        .unwrap();
    // The fixtures' uids are fresh per call: keep the stored ones so ownership holds.
    let stored = w.watch.raw().unwrap();
    let uid = |kind: WorkloadKind, name: &str| {
        stored
            .workloads
            .iter()
            .find(|(k, o)| *k == kind && o.metadata.name == name)
            .map(|(_, o)| o.metadata.uid.clone())
            .unwrap()
    };
    api["metadata"]["uid"] = json!(uid(WorkloadKind::Deployment, "api"));
    api["spec"]["template"]["spec"]["containers"][0]["image"] = json!(format!("{REPO}@{D2}"));
    w.kube.apply(api);
    let c = w
        .change("the Deployment", |c| c.kind == "Deployment" && c.name == "api")
        .await;
    assert_eq!((c.cluster.as_str(), c.namespace.as_str()), ("prod", "shop"));
    assert_eq!(
        image_of(&w, WorkloadKind::Deployment, "shop", "api").as_deref(),
        Some(format!("{REPO}@{D2}").as_str())
    );

    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "api-5f7b8c9d4", "namespace": "shop", "uid": uid(WorkloadKind::ReplicaSet, "api-5f7b8c9d4")}});
    let mut a = pod(&rs, "a", &[("api", &format!("{REPO}@{D2}"))]);
    a["metadata"]["name"] = json!("api-5f7b8c9d4-a");
    w.kube.apply(a);
    w.change("the Pod", |c| c.kind == "Pod" && c.name == "api-5f7b8c9d4-a")
        .await;
    assert_eq!(
        pod_digests(&w, "api"),
        vec![format!("api-5f7b8c9d4-a:{D2}"), format!("api-5f7b8c9d4-b:{D1}")]
    );
    let pods = w.watch.stats().into_iter().find(|s| s.resource == "pods").unwrap();
    assert_eq!(pods.events, 1);
    assert!(pods.last_event.is_some());
}

#[tokio::test]
async fn a_deleted_pod_and_workload_leave_the_state() {
    let mut w = synced(&[], CompareConfigMaps::Auto).await;
    w.kube.delete("Pod", "shop", "api-5f7b8c9d4-a");
    w.change("the deleted Pod", |c| c.kind == "Pod" && c.name == "api-5f7b8c9d4-a")
        .await;
    assert_eq!(pod_digests(&w, "api"), vec![format!("api-5f7b8c9d4-b:{D1}")]);
    w.kube.delete("Deployment", "kube-system", "coredns");
    w.change("the deleted Deployment", |c| {
        c.kind == "Deployment" && c.name == "coredns"
    })
    .await;
    assert_eq!(image_of(&w, WorkloadKind::Deployment, "kube-system", "coredns"), None);
    w.kube.delete("ConfigMap", "shop", "settings");
    w.change("the deleted ConfigMap", |c| c.kind == "ConfigMap").await;
    assert!(w.watch.state().unwrap().0.configs.is_empty());
}

#[tokio::test]
async fn a_dropped_watch_resumes_from_its_resource_version_without_losing_an_event_or_re_listing() {
    let mut w = synced(&[], CompareConfigMaps::Auto).await;
    until("9 open watches (6 workload kinds, Rollouts, Pods, ConfigMaps)", || {
        w.kube.open_watches() == 9
    })
    .await;
    let before = w.requests();
    w.kube.drop_watches();
    // Applied while the client may still be re-watching: the server replays it from the
    // resourceVersion the client resumes at, or sends it live.
    w.kube.delete("Pod", "shop", "api-5f7b8c9d4-b");
    w.change("the Pod deleted across the drop", |c| {
        c.kind == "Pod" && c.name == "api-5f7b8c9d4-b"
    })
    .await;
    assert_eq!(pod_digests(&w, "api"), vec![format!("api-5f7b8c9d4-a:{D1}")]);
    until("every resource watching again", || w.kube.open_watches() == 9).await;
    let after = w.requests();
    let new: Vec<&String> = after[before.len()..].iter().collect();
    assert_eq!(new.len(), 9, "one re-watch per resource: {new:#?}");
    assert!(
        new.iter().all(|r| r.contains("watch=true")
            && !r.contains("sendInitialEvents")
            && r.contains("resourceVersion=")
            && !r.contains("resourceVersion=0&")),
        "resumed watches, no initial list: {new:#?}"
    );
    assert!(w.watch.stats().iter().all(|s| s.restarts == 0));
    assert!(w.watch.state().is_ok());
}

#[tokio::test]
async fn an_expired_resource_version_makes_it_re_list_and_report_what_the_list_changed() {
    let mut w = synced(&[], CompareConfigMaps::Auto).await;
    // A change the watch never sees (the server lost its history), then 410.
    let mut changed = objects();
    let stored = w.watch.raw().unwrap();
    for o in changed.iter_mut() {
        let name = o["metadata"]["name"].as_str().unwrap().to_string();
        if let Some((_, s)) = stored.workloads.iter().find(|(_, s)| s.metadata.name == name) {
            o["metadata"]["uid"] = json!(s.metadata.uid);
        }
        if let Some(owner) = o["metadata"].get_mut("ownerReferences").and_then(|r| r.get_mut(0)) {
            let owner_name = owner["name"].as_str().unwrap().to_string();
            if let Some((_, s)) = stored.workloads.iter().find(|(_, s)| s.metadata.name == owner_name) {
                owner["uid"] = json!(s.metadata.uid);
            }
        }
        if o["kind"] == "Deployment" && name == "api" {
            o["spec"]["template"]["spec"]["containers"][0]["image"] = json!(format!("{REPO}@{D3}"));
        }
    }
    w.kube.set_objects(changed);
    w.kube.expire("deployments");
    w.change("the re-listed Deployment", |c| {
        c.kind == "Deployment" && c.name == "api"
    })
    .await;
    assert_eq!(
        image_of(&w, WorkloadKind::Deployment, "shop", "api").as_deref(),
        Some(format!("{REPO}@{D3}").as_str())
    );
    let requests = w.requests();
    assert_eq!(initial_syncs(&requests, "deployments"), 2, "{requests:#?}");
    assert_eq!(
        initial_syncs(&requests, "pods"),
        1,
        "only the expired resource re-lists"
    );
    let deployments = w
        .watch
        .stats()
        .into_iter()
        .find(|s| s.resource == "deployments")
        .unwrap();
    assert_eq!(deployments.restarts, 1);
    assert!(w.watch.state().is_ok());
}

#[tokio::test]
async fn a_forbidden_resource_makes_the_state_an_error_naming_it_until_it_recovers() {
    let kube = FakeKube::start(objects());
    kube.behave("replicasets", Behaviour::Forbidden);
    let mut w = start_on(kube, &[], CompareConfigMaps::Auto).await;
    let failing = w
        .change("replicasets failing", |c| c.kind == "ReplicaSet" && c.name.is_empty())
        .await;
    assert_eq!(failing.namespace, "", "cluster-wide");
    tokio::time::timeout(WAIT, w.watch.wait_synced())
        .await
        .expect("settled, so the daemon can report it");
    match w.watch.state() {
        Err(e @ ClusterError::Forbidden { .. }) => {
            assert!(e.to_string().contains("replicasets"), "{e}");
        }
        other => panic!("expected a 403 naming replicasets, got {other:?}"),
    }
    let stats = w.watch.stats();
    let rs = stats.iter().find(|s| s.resource == "replicasets").unwrap();
    assert!(rs.error.as_deref().unwrap_or("").contains("403"), "{rs:?}");

    w.kube.heal("replicasets");
    w.change("replicasets recovered", |c| c.kind == "ReplicaSet" && c.name.is_empty())
        .await;
    let (state, _) = w.watch.state().expect("recovered");
    assert_eq!(pod_digests(&w, "api").len(), 2, "{:?}", state.workloads.keys());
    // Backoff, not a spin: a handful of attempts at most in the time it took.
    let attempts = initial_syncs(&w.requests(), "replicasets");
    assert!((2..=4).contains(&attempts), "{attempts} initial syncs of replicasets");
}

#[tokio::test]
async fn an_object_that_does_not_decode_fails_the_resource_instead_of_being_lost() {
    let mut w = synced(&["shop"], CompareConfigMaps::Auto).await;
    let mut bad = objects().into_iter().find(|o| o["metadata"]["name"] == "db").unwrap();
    bad["spec"]["containers"] = json!("not a list");
    w.kube.apply(bad);
    w.change("pods failing", |c| c.kind == "Pod" && c.name.is_empty()).await;
    let e = w.watch.state().unwrap_err();
    assert!(e.to_string().contains("pods"), "{e}");
    w.kube.delete("Pod", "shop", "db");
    w.change("pods recovered", |c| c.kind == "Pod" && c.name.is_empty())
        .await;
    let (state, _) = w.watch.state().unwrap();
    assert!(!state.workloads.keys().any(|k| k.name == "db"));
}

#[tokio::test]
async fn a_forbidden_configmap_watch_with_auto_is_refused_config_not_an_error() {
    let kube = FakeKube::start(objects());
    kube.behave("configmaps", Behaviour::Forbidden);
    let w = start_on(kube, &[], CompareConfigMaps::Auto).await;
    tokio::time::timeout(WAIT, w.watch.wait_synced())
        .await
        .expect("settled");
    let listed = w.listed(&[], CompareConfigMaps::Auto).await;
    let (state, _) = w.watch.state().unwrap();
    match (&state.config_listing, &listed.config_listing) {
        (ConfigListing::Refused(watched), ConfigListing::Refused(list)) => {
            assert!(watched.contains("configmaps") && watched.contains("403"), "{watched}");
            assert!(list.contains("configmaps"), "{list}");
        }
        other => panic!("{other:?}"),
    }
}

/// Polls `check` every 20 ms for `stretch`; fails, naming `what`, the first time it does not
/// hold.
async fn holds_for(what: &str, stretch: Duration, mut check: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + stretch;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while tokio::time::Instant::now() < end {
        assert!(check(), "{what}");
        tick.tick().await;
    }
}

fn configmap_requests(w: &Watched) -> usize {
    w.requests().iter().filter(|r| r.contains("/configmaps")).count()
}

/// A least-privilege reader without ConfigMaps, under `auto`: the watcher stops asking after
/// the 403 (it used to retry, and warn, every few seconds, forever) until it is asked to try
/// again, as the daemon's full audit does; once allowed, it recovers. (The one log line is
/// counted in `watch_daemon`, where the daemon's log is its own.)
#[tokio::test]
async fn a_forbidden_configmap_watch_with_auto_is_not_retried_until_asked() {
    let kube = FakeKube::start(objects());
    kube.behave("configmaps", Behaviour::Forbidden);
    let mut w = start_on(kube, &[], CompareConfigMaps::Auto).await;
    w.change("configmaps refused", |c| c.kind == "ConfigMap" && c.name.is_empty())
        .await;
    let asked = configmap_requests(&w);
    assert!(asked >= 1);
    // kube-runtime's backoff would have retried after ~0.8 s and ~1.6 s more.
    holds_for("no configmaps request after the 403", Duration::from_secs(3), || {
        configmap_requests(&w) == asked
    })
    .await;
    let (state, _) = w.watch.state().expect("not an error");
    assert!(
        matches!(state.config_listing, ConfigListing::Refused(_)),
        "{:?}",
        state.config_listing
    );

    // Asked again (the daemon's full audit): one more attempt, still refused, still quiet.
    w.watch.retry_refused();
    until("one more configmaps request", || configmap_requests(&w) == asked + 1).await;
    // Allowed now: the next full audit's retry brings the watch back.
    w.kube.heal("configmaps");
    w.watch.retry_refused();
    w.change("configmaps recovered", |c| c.kind == "ConfigMap" && c.name.is_empty())
        .await;
    let (state, _) = w.watch.state().expect("recovered");
    assert_eq!(state.config_listing, ConfigListing::Listed);
    assert_eq!(state.configs.len(), 1, "{:?}", state.configs);
}

#[tokio::test]
async fn namespaces_scope_the_watches() {
    let mut w = synced(&["shop"], CompareConfigMaps::Auto).await;
    let requests = w.requests();
    let served: Vec<&String> = requests.iter().filter(|r| r.starts_with("GET /api")).collect();
    assert!(served.iter().all(|r| r.contains("/namespaces/shop/")), "{served:#?}");
    let (state, _) = w.watch.state().unwrap();
    assert!(
        state.workloads.keys().all(|k| k.namespace == "shop"),
        "{:?}",
        state.workloads.keys()
    );
    // A change elsewhere is not seen; the next one in shop is the first Change.
    let (dns, _) = deployment("kube-system", "coredns", &[("coredns", "other:v2")], 1);
    w.kube.apply(dns);
    w.kube.delete("Pod", "shop", "db");
    let first = w.change("any", |_| true).await;
    assert_eq!((first.namespace.as_str(), first.name.as_str()), ("shop", "db"));
}

#[tokio::test]
async fn cancelling_the_token_ends_every_watcher_and_closes_the_watches() {
    let w = synced(&["shop", "kube-system"], CompareConfigMaps::Auto).await;
    until("18 open watches", || w.kube.open_watches() == 18).await;
    w.token.cancel();
    tokio::time::timeout(WAIT, w.watch.stopped())
        .await
        .expect("every task ended");
    until("the server to see the watches closed", || {
        // A write notices a closed connection at once.
        w.kube.bookmark();
        w.kube.open_watches() == 0
    })
    .await;
}

#[tokio::test]
async fn configmaps_are_not_watched_with_compare_configmaps_false() {
    let w = synced(&[], CompareConfigMaps::Never).await;
    assert!(
        !w.requests().iter().any(|r| r.contains("configmaps")),
        "{:#?}",
        w.requests()
    );
    let (state, _) = w.watch.state().unwrap();
    assert_eq!(state.config_listing, ConfigListing::Skipped);
    assert!(state.configs.is_empty());
    assert_eq!(w.watch.stats().len(), 8);
    let listed = w.listed(&[], CompareConfigMaps::Never).await;
    assert_eq!(format!("{:?}", resolve::build(&listed, None)), format!("{state:?}"));
}

/// A canary of the Argo Rollout shop/web: its ReplicaSet (owned by the Rollout) and one Pod.
fn rollout_objects(paused_since: &str) -> Vec<Value> {
    let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "uid": "rollout-web", "generation": 2},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": format!("{REPO}@{D1}")}]}}},
        "status": {"observedGeneration": "2", "currentPodHash": "7d9f", "stableRS": "5c6b", "phase": "Paused",
                   "replicas": 2, "updatedReplicas": 1,
                   "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": paused_since}]}});
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-7d9f", "namespace": "shop", "uid": "rs-web-7d9f", "labels": {"rollouts-pod-template-hash": "7d9f"},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web", "uid": "rollout-web", "controller": true}]},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "x"}]}}}});
    let p = pod(&rs, "a", &[("web", &format!("{REPO}@{D1}"))]);
    vec![rollout, rs, p]
}

/// Rollouts are watched like the other workloads: the state holds the Rollout with the Pods
/// of its ReplicaSets, as the LIST path has it, and a change to it (a pause) is a Change.
#[tokio::test]
async fn argo_rollouts_are_watched_with_their_pods() {
    let mut objects = objects();
    objects.extend(rollout_objects("2026-11-25T10:30:00Z"));
    let mut w = start_on(FakeKube::start(objects), &[], CompareConfigMaps::Auto).await;
    tokio::time::timeout(WAIT, w.watch.wait_synced())
        .await
        .expect("initial sync");
    let listed = w.listed(&[], CompareConfigMaps::Auto).await;
    let (state, _) = w.watch.state().unwrap();
    assert_eq!(format!("{:?}", resolve::build(&listed, None)), format!("{state:?}"));
    let web = state
        .workloads
        .values()
        .find(|l| l.kind == WorkloadKind::Rollout)
        .expect("the Rollout");
    assert_eq!((web.name.as_str(), web.pods.len()), ("web", 1));
    assert!(web.rollout.in_progress);

    let mut promoted = rollout_objects("2026-11-25T10:30:00Z").remove(0);
    promoted["status"] = json!({"observedGeneration": "2", "currentPodHash": "7d9f", "stableRS": "7d9f", "phase": "Healthy",
                                "replicas": 1, "updatedReplicas": 1});
    w.kube.apply(promoted);
    let c = w
        .change("the Rollout promoted", |c| c.kind == "Rollout" && c.name == "web")
        .await;
    assert_eq!(c.namespace, "shop");
    let (state, _) = w.watch.state().unwrap();
    let web = state
        .workloads
        .values()
        .find(|l| l.kind == WorkloadKind::Rollout)
        .unwrap();
    assert!(!web.rollout.in_progress, "{:?}", web.rollout);
}

/// A cluster without the Rollout CRD (404) syncs and audits as before, with no error; one that
/// refuses Rollouts (403) says so in the state, not as an error.
#[tokio::test]
async fn rollouts_not_served_or_refused_do_not_fail_the_state() {
    let kube = FakeKube::start(objects());
    kube.behave("rollouts", Behaviour::NotServed);
    let w = start_on(kube, &[], CompareConfigMaps::Auto).await;
    tokio::time::timeout(WAIT, w.watch.wait_synced())
        .await
        .expect("settled");
    let (state, count) = w.watch.state().expect("no error without the CRD");
    assert_eq!((count, state.rollouts_refused), (8, None));
    let stats = w.watch.stats();
    let rollouts = stats.iter().find(|s| s.resource == "rollouts").unwrap();
    assert!(rollouts.error.as_deref().unwrap_or("").contains("404"), "{rollouts:?}");
    holds_for("no retry on a timer", Duration::from_secs(2), || {
        initial_syncs(&w.requests(), "rollouts") == 1
    })
    .await;

    let kube = FakeKube::start(objects());
    kube.behave("rollouts", Behaviour::Forbidden);
    let w = start_on(kube, &[], CompareConfigMaps::Auto).await;
    tokio::time::timeout(WAIT, w.watch.wait_synced())
        .await
        .expect("settled");
    let (state, _) = w.watch.state().expect("a 403 on Rollouts is not an audit error");
    assert!(
        state.rollouts_refused.as_deref().unwrap_or("").contains("rollouts"),
        "{:?}",
        state.rollouts_refused
    );
}
