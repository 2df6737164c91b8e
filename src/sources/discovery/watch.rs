//! A watch on the Argo CD control plane's Applications, for the daemon: a new, changed or
//! deleted Application is said at once, so the daemon discovers and audits again without
//! waiting for the schedule. What Argo CD rewrites on every reconcile (`status.reconciledAt`,
//! each resource's status) is not a change: only what discovery reads is compared (spec, labels,
//! annotations, sync and health status).

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
use crate::config::{ArgoCdConfig, ClusterConfig};

/// Longer than the API server's own watch timeout, as the cluster watches.
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(330);

/// What discovery reads of an Application, hashed.
fn fingerprint(app: &Value) -> [u8; 32] {
    let read = [
        &app["spec"],
        &app["metadata"]["labels"],
        &app["metadata"]["annotations"],
        &app["status"]["sync"]["status"],
        &app["status"]["sync"]["revision"],
        &app["status"]["sync"]["revisions"],
        &app["status"]["health"]["status"],
    ];
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
    changed: impl Fn(),
    stop: CancellationToken,
) -> Result<(), DiscoveryError> {
    use kube::api::DynamicObject;
    let api = super::applications_api(&cluster, &argo, WATCH_READ_TIMEOUT).await?;
    let mut config = watcher::Config::default();
    if let Some(s) = &argo.selector {
        config = config.labels(s);
    }
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut known: BTreeMap<(String, String), [u8; 32]> = BTreeMap::new();
    let mut listing: Option<BTreeMap<(String, String), [u8; 32]>> = None;
    let mut synced = false;
    info!(cluster = %cluster.name, "watching Argo CD Applications");
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            event = stream.next() => event,
        };
        let Some(event) = event else { return Ok(()) };
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                warn!(cluster = %cluster.name, error = %crate::error_chain(&e), "watching Argo CD Applications");
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
