//! The cluster watches: started per cluster reached through the API while this replica leads
//! (and `[watch]` is on), stopped when it loses the lease, at shutdown and before a reload
//! starts them again. `/readyz` waits for their initial sync.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::context::{Context, Watching};
use crate::app::status::Update;
use crate::config::{ClusterConfig, ClusterSource, CompareConfigMaps, Config};
use crate::sources::cluster::api;
use crate::sources::cluster::watch::{Change, ClusterWatch};

/// How long a watch connection may stay silent before it is considered broken: longer than the
/// API server's own watch timeout (at most 10 minutes by default, bookmarks every minute).
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(330);

/// Per cluster: its config, the namespaces to watch (`None`: all) and whether ConfigMaps are.
type Scope = (ClusterConfig, Option<BTreeSet<String>>, CompareConfigMaps);

/// What to watch on each cluster the environments reach through the API (snapshots are left
/// out): the union of their namespaces, and ConfigMaps when any of them compares them.
fn scopes(cfg: &Config) -> BTreeMap<String, Scope> {
    let mut scopes: BTreeMap<String, Scope> = BTreeMap::new();
    for env in &cfg.environments {
        if matches!(env.cluster.source, ClusterSource::Snapshot(_)) {
            continue;
        }
        let namespaces = (!env.cluster.namespaces.is_empty())
            .then(|| env.cluster.namespaces.iter().cloned().collect::<BTreeSet<String>>());
        let scope = scopes
            .entry(env.cluster.name.clone())
            .or_insert_with(|| (env.cluster.clone(), namespaces.clone(), CompareConfigMaps::Never));
        scope.1 = match (scope.1.take(), namespaces) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            _ => None,
        };
        scope.2 = match (scope.2, env.compare_configmaps) {
            (CompareConfigMaps::Always, _) | (_, CompareConfigMaps::Always) => CompareConfigMaps::Always,
            (CompareConfigMaps::Auto, _) | (_, CompareConfigMaps::Auto) => CompareConfigMaps::Auto,
            _ => CompareConfigMaps::Never,
        };
    }
    scopes
}

/// The watches on the GitOps controllers' objects (Argo CD's Applications, Flux's
/// Kustomizations, HelmReleases and their sources), for the config as loaded: a reload that changes what they
/// watch (a control plane added, its namespace or selector changed, `[watch]` turned off)
/// stops them and starts those the new config asks for; one that does not leaves them running.
pub(super) struct DiscoveryWatches {
    background: tokio_util::task::TaskTracker,
    audit: mpsc::UnboundedSender<String>,
    shutdown: CancellationToken,
    /// What the running watches watch, and their stop.
    running: std::sync::Mutex<Option<(String, CancellationToken)>>,
}

impl DiscoveryWatches {
    /// The watches `cfg` asks for, started.
    pub(super) fn start(
        background: &tokio_util::task::TaskTracker,
        audit: &mpsc::UnboundedSender<String>,
        shutdown: &CancellationToken,
        cfg: &Config,
    ) -> Arc<Self> {
        let watches = Arc::new(Self {
            background: background.clone(),
            audit: audit.clone(),
            shutdown: shutdown.clone(),
            running: std::sync::Mutex::new(None),
        });
        watches.follow(cfg);
        watches
    }

    /// Starts the watches `cfg` asks for, unless the running ones watch exactly that.
    pub(super) fn follow(&self, cfg: &Config) {
        let wanted = format!(
            "{:?}|{:?}|{}",
            cfg.discovery.argocd, cfg.discovery.flux, cfg.watch.enabled
        );
        let mut running = self.running.lock().expect("discovery watches lock");
        if running.as_ref().is_some_and(|(what, _)| *what == wanted) {
            return;
        }
        if let Some((_, stop)) = running.take() {
            info!("discovery changed: watching the GitOps controllers' objects again");
            stop.cancel();
        }
        let stop = self.shutdown.child_token();
        watch_applications(&self.background, cfg, self.audit.clone(), &stop);
        watch_flux(&self.background, cfg, self.audit.clone(), &stop);
        *running = Some((wanted, stop));
    }
}

/// What the event loop is told when an Application changed: it audits as for a new commit
/// (at once, or after the running audit), and that audit discovers first.
pub(super) const APPLICATIONS_CHANGED: &str = "Argo CD Applications changed";

/// With `[discovery.argocd] cluster` and `[watch]` on: the control plane's Applications are
/// watched until `shutdown` (the config's life: [`DiscoveryWatches`]), and each change asks for
/// an audit, so a new Application is audited and a deleted one's environment dropped at once.
fn watch_applications(
    background: &tokio_util::task::TaskTracker,
    cfg: &Config,
    audit: mpsc::UnboundedSender<String>,
    shutdown: &CancellationToken,
) {
    let Some((argo, cluster)) = cfg
        .discovery
        .argocd
        .as_ref()
        .and_then(|a| Some((a.clone(), a.cluster.clone()?)))
        .filter(|_| cfg.watch.enabled)
    else {
        return;
    };
    let changed = move || {
        let _ = audit.send(APPLICATIONS_CHANGED.to_string());
    };
    let stop = shutdown.clone();
    background.spawn(async move {
        let name = cluster.name.clone();
        if let Err(e) = crate::sources::discovery::watch::applications(cluster, argo, changed, stop).await {
            warn!(cluster = %name, error = %crate::error_chain(&e), "cannot watch Argo CD Applications: discovery runs before each scheduled audit");
        }
    });
}

/// What the event loop is told when a Flux Kustomization, HelmRelease or source
/// (GitRepository, OCIRepository, HelmRepository, HelmChart) changed, as for Applications.
pub(super) const FLUX_CHANGED: &str = "Flux Kustomizations, HelmReleases or sources changed";

/// With `[discovery.flux] cluster` and `[watch]` on: Flux's Kustomizations and HelmReleases,
/// and the sources they name, are watched as Applications are ([`watch_applications`]).
fn watch_flux(
    background: &tokio_util::task::TaskTracker,
    cfg: &Config,
    audit: mpsc::UnboundedSender<String>,
    shutdown: &CancellationToken,
) {
    let Some((fx, cluster)) = cfg
        .discovery
        .flux
        .as_ref()
        .and_then(|f| Some((f.clone(), f.cluster.clone()?)))
        .filter(|_| cfg.watch.enabled)
    else {
        return;
    };
    let changed = move || {
        let _ = audit.send(FLUX_CHANGED.to_string());
    };
    let stop = shutdown.clone();
    background.spawn(async move {
        let name = cluster.name.clone();
        if let Err(e) = crate::sources::discovery::watch::flux(cluster, fx, changed, stop).await {
            warn!(cluster = %name, error = %crate::error_chain(&e), "cannot watch Flux objects: discovery runs before each scheduled audit");
        }
    });
}

/// Whether watches will run at start: then the daemon is not ready before they synced.
pub(super) fn will_watch(cfg: &Config, leader: bool) -> bool {
    cfg.watch.enabled
        && leader
        && cfg
            .environments
            .iter()
            .any(|e| !matches!(e.cluster.source, ClusterSource::Snapshot(_)))
}

impl Context {
    /// Starts a watcher per cluster reached through the API (scoped to the namespaces its
    /// environments audit), unless `[watch]` is off; `/readyz` waits for their initial sync.
    pub async fn start_watching(&self, changes: &mpsc::UnboundedSender<Change>, shutdown: &CancellationToken) {
        let cfg = self.config();
        if !cfg.watch.enabled {
            return;
        }
        let stop = shutdown.child_token();
        let mut clusters = HashMap::new();
        for (name, (cluster, namespaces, configmaps)) in scopes(&cfg) {
            // A watch client of its own: the audit client's read timeout (`kube_timeout`) would
            // break every watch idle that long; the API server ends watches after minutes.
            // (Snapshots were left out above.)
            match api::client(&name, &cluster.source, WATCH_READ_TIMEOUT).await {
                Ok(client) => {
                    let namespaces: Vec<String> = namespaces.into_iter().flatten().collect();
                    let w = ClusterWatch::start(&name, client, &namespaces, configmaps, changes.clone(), stop.clone());
                    clusters.insert(name, Arc::new(w));
                }
                // The scheduled audit reports it; watching starts again on reload or failover.
                Err(e) => warn!(cluster = %name, error = %e, "cannot watch this cluster: audits list it"),
            }
        }
        if clusters.is_empty() {
            self.state.apply(Update::WatchesSynced(true));
            return;
        }
        info!(clusters = clusters.len(), "cluster watches started");
        self.state.apply(Update::WatchesSynced(false));
        self.await_sync(clusters.values().cloned().collect(), stop.clone());
        let watching = Watching { stop, clusters };
        if let Some(old) = self.watching.lock().expect("watching lock").replace(watching) {
            old.stop.cancel();
        }
    }

    /// Says the watches synced once they all did (unless stopped first).
    fn await_sync(&self, all: Vec<Arc<ClusterWatch>>, stop: CancellationToken) {
        let state = self.state.clone();
        tokio::spawn(async move {
            let synced = async {
                for w in &all {
                    w.wait_synced().await;
                }
            };
            tokio::select! {
                () = stop.cancelled() => {}
                () = synced => {
                    info!("cluster watches synced");
                    state.apply(Update::WatchesSynced(true));
                }
            }
        });
    }

    /// Stops the watchers (lease lost, shutdown, reload).
    pub fn stop_watching(&self) {
        if let Some(w) = self.watching.lock().expect("watching lock").take() {
            w.stop.cancel();
            info!("cluster watches stopped");
        }
        self.state.apply(Update::WatchesSynced(true));
    }

    /// The watchers' stores to read instead of listing, by cluster name.
    pub fn watched(&self) -> HashMap<String, Arc<ClusterWatch>> {
        self.watching
            .lock()
            .expect("watching lock")
            .as_ref()
            .map(|w| w.clusters.clone())
            .unwrap_or_default()
    }

    /// Hands the watchers' figures to the metrics.
    pub fn watch_figures(&self) {
        for (cluster, w) in self.watched() {
            self.state.metrics.watch(&cluster, &w.stats());
        }
    }
}
