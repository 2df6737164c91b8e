//! Watches on the objects discovery reads, for the daemon: the Argo CD control plane's
//! Applications, and Flux's Kustomizations and HelmReleases with the sources they name
//! (GitRepository, OCIRepository, HelmRepository, HelmChart). A new, changed or deleted object
//! is said at once, so the daemon discovers and audits again without waiting for the schedule.
//! What the controllers rewrite on every reconcile (`status.reconciledAt`, each resource's
//! status, `lastHandledReconcileAt`, the conditions' times and messages, the artifact's
//! timestamps) is not a change: only what discovery reads is compared (spec, labels,
//! annotations, and the status it reports or resolves a ref with). A kind the cluster does not
//! serve (no OCIRepository CRD) or the reader may not list is said once and asked again every
//! 10 minutes, while the other kinds are watched.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::DiscoveryError;
use crate::config::{ArgoCdConfig, ClusterConfig, FluxConfig};

/// Longer than the API server's own watch timeout, as the cluster watches.
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(330);

/// How long a kind that cannot be watched (its CRD is not installed, or the reader may not
/// list it) waits before it is asked again: not a spin of failing LISTs, and discovery lists
/// every kind before each audit regardless.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(600);

/// What discovery reads of an Application, hashed.
fn application(app: &Value) -> [u8; 32] {
    hash(&[
        &app["spec"],
        &app["metadata"]["labels"],
        &app["metadata"]["annotations"],
        &app["status"]["sync"]["status"],
        &app["status"]["sync"]["revision"],
        &app["status"]["sync"]["revisions"],
        &app["status"]["health"]["status"],
    ])
}

/// What discovery reads of a Kustomization or HelmRelease, hashed: not the conditions' times
/// nor messages, which change at every reconcile.
fn flux_object(doc: &Value) -> [u8; 32] {
    let ready = doc["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| serde_json::json!([c["status"], c["reason"]]))
        .unwrap_or_default();
    hash(&[
        &doc["spec"],
        &doc["metadata"]["labels"],
        &doc["metadata"]["annotations"],
        &doc["status"]["lastAppliedRevision"],
        &doc["status"]["history"][0]["chartVersion"],
        &ready,
    ])
}

/// What discovery reads of a Flux source (GitRepository, OCIRepository, HelmRepository,
/// HelmChart), hashed: its spec (url, ref, chart) and the revision source-controller fetched,
/// which a GitRepository's `ref.semver` or `ref.name` resolves to. Not the artifact's digest,
/// URL, size or time, nor the conditions, which source-controller rewrites as it fetches.
fn flux_source(doc: &Value) -> [u8; 32] {
    hash(&[
        &doc["spec"],
        &doc["metadata"]["labels"],
        &doc["metadata"]["annotations"],
        &doc["status"]["artifact"]["revision"],
    ])
}

fn hash(read: &[&Value]) -> [u8; 32] {
    let mut h = Sha256::new();
    for v in read {
        h.update(v.to_string().as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

fn key(app: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&app["metadata"]["namespace"]), text(&app["metadata"]["name"]))
}

/// Watches the Applications `[discovery.argocd]` lists (its namespace and selector) until
/// `stop`, calling `changed` for each that appears, changes what discovery reads, or goes
/// (not for the initial list, nor a re-list that finds them as they were). Failures are logged
/// and retried with kube-runtime's backoff (a 403 or 404 every [`UNAVAILABLE_RETRY`]); the
/// scheduled re-discovery goes on regardless.
pub async fn applications(
    cluster: ClusterConfig,
    argo: ArgoCdConfig,
    changed: impl Fn() + Sync,
    stop: CancellationToken,
) -> Result<(), DiscoveryError> {
    let api = super::applications_api(&cluster, &argo, WATCH_READ_TIMEOUT).await?;
    let what = Watched {
        cluster: &cluster.name,
        what: "Argo CD Applications".into(),
        kind: "Application",
        selector: argo.selector.as_deref(),
        fingerprint: application,
    };
    kind(vec![api], &what, &changed, &stop).await;
    Ok(())
}

/// Watches the Kustomizations and HelmReleases `[discovery.flux]` lists (its namespace and
/// selector) and the GitRepositories, OCIRepositories, HelmRepositories and HelmCharts they
/// may name (in that namespace, whatever their labels, as discovery lists them) until `stop`,
/// as [`applications`] does; each kind at the first version the cluster serves.
pub async fn flux(
    cluster: ClusterConfig,
    fx: FluxConfig,
    changed: impl Fn() + Sync,
    stop: CancellationToken,
) -> Result<(), DiscoveryError> {
    use super::flux_io::{HELM_RELEASE, KUSTOMIZATION, Kind, SOURCES};
    let client = crate::sources::cluster::api::client(&cluster.name, &cluster.source, WATCH_READ_TIMEOUT)
        .await
        .map_err(|source| DiscoveryError::FluxCluster {
            cluster: cluster.name.clone(),
            source,
        })?;
    let watch = |k: &'static Kind, deployer: bool| {
        let apis = k
            .versions
            .iter()
            .map(|v| super::flux_io::api(client.clone(), k, v, &fx))
            .collect();
        let w = Watched {
            cluster: &cluster.name,
            what: format!("Flux {}.{}", k.plural, k.group),
            kind: k.kind,
            selector: fx.selector.as_deref().filter(|_| deployer),
            fingerprint: if deployer { flux_object } else { flux_source },
        };
        let (changed, stop) = (&changed, &stop);
        async move { kind(apis, &w, changed, stop).await }
    };
    let deployers = [&KUSTOMIZATION, &HELM_RELEASE].map(|k| watch(k, true));
    let sources = SOURCES.iter().map(|k| watch(k, false));
    futures::future::join_all(deployers.into_iter().chain(sources)).await;
    Ok(())
}

/// One kind being watched.
struct Watched<'a> {
    cluster: &'a str,
    /// `Argo CD Applications`, for the logs.
    what: String,
    /// `Application`, for the logs.
    kind: &'static str,
    selector: Option<&'a str>,
    fingerprint: fn(&Value) -> [u8; 32],
}

/// What a kind's watch knows of its objects, kept across its watches (a version not served,
/// a kind asked again later).
#[derive(Default)]
struct Seen {
    /// What discovery reads of each object, by (namespace, name).
    known: BTreeMap<(String, String), [u8; 32]>,
    /// `known` is the state to compare with: the first listing is not a change.
    synced: bool,
}

/// How a watch of one kind at one version ended.
enum Ended {
    Stopped,
    /// 404: the cluster does not serve the kind at this version.
    NotServed,
    /// 403: the reader may not list or watch it.
    Forbidden(String),
}

/// Watches one kind at the first of `apis` (one per version, newest first) the cluster
/// serves, until `stop`. When none is served (its CRD is not installed) or the kind is
/// refused, it says so once and asks again every [`UNAVAILABLE_RETRY`]; objects it knew are
/// gone as far as discovery can tell, so that is a change, as a kind served again later with
/// objects is.
async fn kind(
    apis: Vec<kube::Api<kube::api::DynamicObject>>,
    w: &Watched<'_>,
    changed: &(dyn Fn() + Sync),
    stop: &CancellationToken,
) {
    let mut seen = Seen::default();
    let mut told = false;
    loop {
        let mut why = "not served (its CRD is not installed)".to_string();
        for api in &apis {
            match objects(api.clone(), w, &mut seen, changed, stop).await {
                Ended::Stopped => return,
                Ended::NotServed => {}
                Ended::Forbidden(message) => {
                    why = format!("forbidden: {message}");
                    break;
                }
            }
        }
        if seen.synced && !seen.known.is_empty() {
            changed();
        }
        seen.known.clear();
        seen.synced = true;
        let retry = UNAVAILABLE_RETRY.as_secs() / 60;
        if told {
            debug!(cluster = %w.cluster, "{} still cannot be watched: {why}", w.what);
        } else {
            info!(cluster = %w.cluster, "{} cannot be watched: {why}; asked again every {retry} minutes (discovery lists them before each audit)", w.what);
            told = true;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(UNAVAILABLE_RETRY) => {}
        }
    }
}

/// Watches the objects of `api` until `stop`, calling `changed` as [`applications`] says. The
/// initial LIST (and any re-list) is served from the apiserver's watch cache
/// (`resourceVersion=0`), as discovery's own LISTs are: a read-through LIST of thousands of
/// objects costs the apiserver, and what follows is watched anyway. Other failures are logged
/// and retried with kube-runtime's backoff.
async fn objects(
    api: kube::Api<kube::api::DynamicObject>,
    w: &Watched<'_>,
    seen: &mut Seen,
    changed: &(dyn Fn() + Sync),
    stop: &CancellationToken,
) -> Ended {
    let fingerprint = w.fingerprint;
    let mut config = watcher::Config::default().any_semantic();
    // kube leaves `resourceVersion=0` out of a paged LIST (the cache would not page it
    // anyway): one page, as discovery's LISTs.
    config.page_size = None;
    if let Some(s) = w.selector {
        config = config.labels(s);
    }
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut listing: Option<BTreeMap<(String, String), [u8; 32]>> = None;
    info!(cluster = %w.cluster, "watching {}", w.what);
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return Ended::Stopped,
            event = stream.next() => event,
        };
        let Some(event) = event else { return Ended::Stopped };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                if let Some(ended) = unavailable(&e) {
                    return ended;
                }
                warn!(cluster = %w.cluster, error = %crate::error_chain(&e), "watching {}", w.what);
                continue;
            }
        };
        let value = |o: &kube::api::DynamicObject| serde_json::to_value(o).unwrap_or_default();
        match event {
            Event::Init => listing = Some(BTreeMap::new()),
            Event::InitApply(o) => {
                let v = value(&o);
                if let Some(l) = listing.as_mut() {
                    l.insert(key(&v), fingerprint(&v));
                }
            }
            Event::InitDone => {
                let listed = listing.take().unwrap_or_default();
                if seen.synced && listed != seen.known {
                    info!(cluster = %w.cluster, "{} changed while not watched: auditing with discovery", w.what);
                    changed();
                }
                seen.known = listed;
                seen.synced = true;
            }
            Event::Apply(o) => {
                let v = value(&o);
                if seen.known.insert(key(&v), fingerprint(&v)) != Some(fingerprint(&v)) {
                    said(w, &key(&v), "changed", changed);
                }
            }
            Event::Delete(o) => {
                let key = key(&value(&o));
                if seen.known.remove(&key).is_some() {
                    said(w, &key, "deleted", changed);
                }
            }
        }
    }
}

/// Says which object made the audit start (`Kustomization flux-system/apps changed`), then
/// asks for it.
fn said(w: &Watched<'_>, (ns, name): &(String, String), how: &str, changed: &(dyn Fn() + Sync)) {
    info!(cluster = %w.cluster, "{} {ns}/{name} {how}: auditing with discovery", w.kind);
    changed();
}

/// A watch error that means the kind cannot be watched this way (not served, or refused),
/// rather than one to retry after the backoff.
fn unavailable(e: &watcher::Error) -> Option<Ended> {
    use watcher::Error::{InitialListFailed, WatchFailed, WatchStartFailed};
    let (InitialListFailed(kube::Error::Api(s))
    | WatchStartFailed(kube::Error::Api(s))
    | WatchFailed(kube::Error::Api(s))) = e
    else {
        return None;
    };
    match s.code {
        404 => Some(Ended::NotServed),
        403 => Some(Ended::Forbidden(s.message.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::flux_source;

    fn git_repository() -> Value {
        json!({
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system", "resourceVersion": "7"},
            "spec": {"url": "https://git.example.com/fleet", "ref": {"branch": "main"}},
            "status": {
                "artifact": {"revision": "main@sha1:4f2a91c0", "digest": "sha256:aa", "lastUpdateTime": "2026-12-05T10:00:00Z"},
                "conditions": [{"type": "Ready", "status": "True", "message": "stored artifact", "lastTransitionTime": "2026-12-05T10:00:00Z"}],
                "observedGeneration": 1
            }
        })
    }

    /// What a source's fingerprint follows: discovery's inputs change it, source-controller's
    /// bookkeeping at each fetch does not.
    #[test]
    fn a_source_changes_with_what_discovery_reads_only() {
        let before = flux_source(&git_repository());
        let cases: [(&str, &str, Value, bool); 8] = [
            ("ref to another branch", "/spec/ref", json!({"branch": "release"}), true),
            ("ref to a tag", "/spec/ref", json!({"tag": "v1.2.0"}), true),
            ("url", "/spec/url", json!("https://git.example.com/other"), true),
            (
                "fetched revision",
                "/status/artifact/revision",
                json!("main@sha1:5e0b"),
                true,
            ),
            ("a label", "/metadata/labels", json!({"env": "production"}), true),
            (
                "the artifact's time",
                "/status/artifact/lastUpdateTime",
                json!("2026-12-05T11:00:00Z"),
                false,
            ),
            (
                "the Ready message",
                "/status/conditions/0/message",
                json!("stored artifact again"),
                false,
            ),
            ("the resourceVersion", "/metadata/resourceVersion", json!("8"), false),
        ];
        for (name, path, value, changes) in cases {
            let mut doc = git_repository();
            match doc.pointer_mut(path) {
                Some(v) => *v = value,
                None => doc["metadata"]["labels"] = value,
            }
            assert_eq!(flux_source(&doc) != before, changes, "{name}");
        }
    }
}
