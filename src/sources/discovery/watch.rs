//! Watches on the objects discovery reads, for the daemon: the Argo CD control plane's
//! Applications, and Flux's Kustomizations and HelmReleases. A new, changed or deleted object
//! is said at once, so the daemon discovers and audits again without waiting for the schedule.
//! What the controllers rewrite on every reconcile (`status.reconciledAt`, each resource's
//! status, `lastHandledReconcileAt`) is not a change: only what discovery reads is compared
//! (spec, labels, annotations, and the status it reports).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::DiscoveryError;
use crate::config::{ArgoCdConfig, ClusterConfig, FluxConfig};

/// Longer than the API server's own watch timeout, as the cluster watches.
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(330);

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
/// and retried with kube-runtime's backoff; the scheduled re-discovery goes on regardless.
pub async fn applications(
    cluster: ClusterConfig,
    argo: ArgoCdConfig,
    changed: impl Fn() + Sync,
    stop: CancellationToken,
) -> Result<(), DiscoveryError> {
    let api = super::applications_api(&cluster, &argo, WATCH_READ_TIMEOUT).await?;
    let what = Watched {
        cluster: &cluster.name,
        what: "Argo CD Applications",
        selector: argo.selector.as_deref(),
        fingerprint: application,
    };
    objects(api, &what, &changed, stop).await;
    Ok(())
}

/// Watches the Kustomizations and HelmReleases `[discovery.flux]` lists (its namespace and
/// selector) until `stop`, as [`applications`] does.
pub async fn flux(
    cluster: ClusterConfig,
    fx: FluxConfig,
    changed: impl Fn() + Sync,
    stop: CancellationToken,
) -> Result<(), DiscoveryError> {
    use super::flux_io::{HELM_RELEASE, KUSTOMIZATION};
    let client = crate::sources::cluster::api::client(&cluster.name, &cluster.source, WATCH_READ_TIMEOUT)
        .await
        .map_err(|source| DiscoveryError::FluxCluster {
            cluster: cluster.name.clone(),
            source,
        })?;
    let watch = |kind: &'static super::flux_io::Kind, what: &'static str| {
        let api = super::flux_io::api(client.clone(), kind, kind.versions[0], &fx);
        let w = Watched {
            cluster: &cluster.name,
            what,
            selector: fx.selector.as_deref(),
            fingerprint: flux_object,
        };
        let (changed, stop) = (&changed, stop.clone());
        async move { objects(api, &w, changed, stop).await }
    };
    futures::join!(
        watch(&KUSTOMIZATION, "Flux Kustomizations"),
        watch(&HELM_RELEASE, "Flux HelmReleases")
    );
    Ok(())
}

/// One kind being watched.
struct Watched<'a> {
    cluster: &'a str,
    /// `Argo CD Applications`, for the logs.
    what: &'static str,
    selector: Option<&'a str>,
    fingerprint: fn(&Value) -> [u8; 32],
}

/// Watches the objects of `api` until `stop`, calling `changed` as [`applications`] says.
async fn objects(
    api: kube::Api<kube::api::DynamicObject>,
    w: &Watched<'_>,
    changed: &(dyn Fn() + Sync),
    stop: CancellationToken,
) {
    use kube::api::DynamicObject;
    let fingerprint = w.fingerprint;
    let mut config = watcher::Config::default();
    if let Some(s) = w.selector {
        config = config.labels(s);
    }
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut known: BTreeMap<(String, String), [u8; 32]> = BTreeMap::new();
    let mut listing: Option<BTreeMap<(String, String), [u8; 32]>> = None;
    let mut synced = false;
    info!(cluster = %w.cluster, "watching {}", w.what);
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = stream.next() => event,
        };
        let Some(event) = event else { return };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                warn!(cluster = %w.cluster, error = %crate::error_chain(&e), "watching {}", w.what);
                continue;
            }
        };
        let value = |o: &DynamicObject| serde_json::to_value(o).unwrap_or_default();
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
                if synced && listed != known {
                    changed();
                }
                known = listed;
                synced = true;
            }
            Event::Apply(o) => {
                let v = value(&o);
                if known.insert(key(&v), fingerprint(&v)) != Some(fingerprint(&v)) {
                    changed();
                }
            }
            Event::Delete(o) => {
                if known.remove(&key(&value(&o))).is_some() {
                    changed();
                }
            }
        }
    }
}
