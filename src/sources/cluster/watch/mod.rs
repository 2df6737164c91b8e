//! Live state kept current by watches (`driftwatch run`): per cluster, one kube-runtime watcher
//! per audited resource and namespace (or cluster-wide), each feeding a store of the slim
//! [`crate::core::resolve`] types, so a re-audit reads memory instead of listing the cluster.
//!
//! Why not kube-runtime's reflector `Store<K>`: it keys every object by an `ObjectRef` that
//! copies name, namespace, uid and resourceVersion next to the object's own, and `K` must carry a
//! full `k8s-openapi` `ObjectMeta`. The watcher here decodes each event straight into the slim
//! type (a [`Wire`] whose `ObjectMeta` holds only the resourceVersion the watcher resumes from;
//! `managedFields`, labels, annotations and every field the audit does not read are skipped while
//! parsing, never allocated), then keeps only that slim object under its namespace and name, with
//! a hash of its resourceVersion to tell what a re-list changed. Pod specs are pruned further:
//! env vars and volumes that reference no ConfigMap or Secret are dropped, as the audit never
//! reads them.
//!
//! Failures: a `410 Gone` re-lists (kube-runtime does it); a stream that ends re-watches from
//! the last resourceVersion; any other error (403, unreachable) marks the resource failing,
//! waits out kube-runtime's default backoff (exponential, capped at 30 s, with jitter) and starts
//! the watcher again, which re-lists: a completed re-list is how the watcher knows it recovered.
//! A 403 on ConfigMaps under `compare_configmaps = "auto"` (a least-privilege reader) is not
//! retried on a timer: it is logged once, the audit reports ConfigMaps as not compared, and the
//! watcher waits for [`ClusterWatch::retry_refused`] (the daemon's full audit) or a restart.
//! Argo Rollouts are optional the same way, and a 404 too (the cluster does not serve the CRD:
//! no Rollouts, nothing to report); a CRD installed later is watched from the next full audit.
//!
//! # Layout
//! - `mod.rs`: [`ClusterWatch`], the watchers of one cluster and what the audit reads of them;
//! - `slot.rs`: one watcher's store of objects and its figures;
//! - `watcher.rs`: one watcher task: kube-runtime's watcher into its slot, failures, backoff;
//! - `wire.rs`: the watched resources and the slim types their events decode into.

mod slot;
mod watcher;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ClusterError;
use crate::config::CompareConfigMaps;
use crate::core::model::{ConfigListing, ConfigObject, LiveState, WorkloadKind};
use crate::core::resolve::{self, Pod, RawObjects, Workload};
use slot::Slot;
use watcher::Ctx;
use wire::{CONFIGMAPS, PODS, ROLLOUTS, WORKLOADS};

/// A watched object changed (or, with an empty `name`, the whole resource in `namespace`, or in
/// every namespace when that is empty too: it started or stopped failing).
#[derive(Clone, Debug)]
pub struct Change {
    pub cluster: String,
    pub namespace: String,
    pub kind: &'static str,
    pub name: String,
}

/// One watcher's figures, for metrics and the status page.
#[derive(Clone, Debug)]
pub struct WatchStats {
    /// The resource, plural (`deployments`, `pods`, …).
    pub resource: &'static str,
    /// The namespace watched, or None for cluster-wide.
    pub namespace: Option<String>,
    /// Events applied to the store since start (initial lists not counted).
    pub events: u64,
    /// Initial lists after the first: after a 410, or after a failure.
    pub restarts: u64,
    pub objects: usize,
    pub last_event: Option<DateTime<Utc>>,
    /// How long the first initial sync took, once it finished.
    pub initial_sync: Option<Duration>,
    pub synced: bool,
    /// Why the watcher is failing now, if it is.
    pub error: Option<String>,
}

/// The watchers of one cluster and their stores. Dropping it stops them, as cancelling the
/// token given to [`ClusterWatch::start`] does.
pub struct ClusterWatch {
    cluster: String,
    namespaces: Option<Vec<String>>,
    configmaps: CompareConfigMaps,
    workloads: Vec<(WorkloadKind, Arc<Slot<Workload>>)>,
    rollouts: Vec<Arc<Slot<Workload>>>,
    pods: Vec<Arc<Slot<Pod>>>,
    configs: Vec<Arc<Slot<ConfigObject>>>,
    synced: Arc<Notify>,
    ctx: Arc<Ctx>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl ClusterWatch {
    /// Starts the watchers on `client` (which the caller built once, with no read timeout
    /// shorter than a watch's 290 s); returns at once. Every applied event sends a [`Change`].
    pub fn start(
        cluster: &str,
        client: kube::Client,
        namespaces: &[String],
        configmaps: CompareConfigMaps,
        changes: mpsc::UnboundedSender<Change>,
        shutdown: CancellationToken,
    ) -> Self {
        let scopes: Vec<Option<String>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().cloned().map(Some).collect()
        };
        let ctx = Arc::new(Ctx::new(cluster, client, changes, shutdown.child_token()));
        let tasks = TaskTracker::new();
        let mut watch = Self {
            cluster: cluster.to_string(),
            namespaces: (!namespaces.is_empty()).then(|| namespaces.to_vec()),
            configmaps,
            workloads: Vec::new(),
            rollouts: Vec::new(),
            pods: Vec::new(),
            configs: Vec::new(),
            synced: ctx.synced.clone(),
            ctx: ctx.clone(),
            stop: ctx.stop.clone(),
            tasks: tasks.clone(),
        };
        for scope in &scopes {
            for (kind, def) in WORKLOADS {
                let slot = Arc::new(Slot::new(def.plural, kind.as_str(), scope.clone()));
                watch.workloads.push((kind, slot.clone()));
                tasks.spawn(watcher::run(ctx.clone(), def, slot, false));
            }
            let slot = Arc::new(Slot::new(ROLLOUTS.plural, ROLLOUTS.kind, scope.clone()));
            watch.rollouts.push(slot.clone());
            tasks.spawn(watcher::run(ctx.clone(), ROLLOUTS, slot, true));
            let slot = Arc::new(Slot::new(PODS.plural, PODS.kind, scope.clone()));
            watch.pods.push(slot.clone());
            tasks.spawn(watcher::run(ctx.clone(), PODS, slot, false));
            if configmaps != CompareConfigMaps::Never {
                let slot = Arc::new(Slot::new(CONFIGMAPS.plural, CONFIGMAPS.kind, scope.clone()));
                watch.configs.push(slot.clone());
                // Optional under `auto`: a reader without ConfigMaps is told once, not retried.
                let optional = configmaps == CompareConfigMaps::Auto;
                tasks.spawn(watcher::run(ctx.clone(), CONFIGMAPS, slot, optional));
            }
        }
        tasks.close();
        watch
    }

    /// Every watcher finished its initial sync (list or streaming list), or is failing: then
    /// [`ClusterWatch::state`] names it, so the daemon can audit (and alert) either way.
    pub fn synced(&self) -> bool {
        self.workloads.iter().all(|(_, s)| s.settled())
            && self.rollouts.iter().all(|s| s.settled())
            && self.pods.iter().all(|s| s.settled())
            && self.configs.iter().all(|s| s.settled())
    }

    /// Waits until [`ClusterWatch::synced`] (or shutdown).
    pub async fn wait_synced(&self) {
        loop {
            let notified = self.synced.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.synced() {
                return;
            }
            tokio::select! {
                _ = notified => {}
                _ = self.stop.cancelled() => return,
            }
        }
    }

    /// Starts again the watchers stopped by a 403 on an optional resource (ConfigMaps under
    /// `compare_configmaps = "auto"`): the daemon asks at its full audit, which lists anyway.
    pub fn retry_refused(&self) {
        self.ctx.retry.send_modify(|n| *n += 1);
    }

    /// Waits until every watcher task ended (after shutdown).
    pub async fn stopped(&self) {
        self.tasks.wait().await;
    }

    /// The objects in the stores, as the LIST path returns them: workloads sorted by kind,
    /// namespace and name, Pods by namespace and name (the API server's order). Err while a
    /// watcher has not synced yet or keeps failing, naming its resource; a 403 on ConfigMaps
    /// with `compare_configmaps = "auto"` is `ConfigListing::Refused` instead, as for a LIST.
    pub fn raw(&self) -> Result<RawObjects, ClusterError> {
        let mut raw = RawObjects::default();
        for (kind, slot) in &self.workloads {
            self.check(slot)?;
            raw.workloads.extend(slot.values().into_iter().map(|w| (*kind, w)));
        }
        for slot in &self.rollouts {
            let failing = slot.lock().failing.clone();
            match failing {
                Some(e @ ClusterError::Forbidden { .. }) => raw.rollouts_refused = Some(e.to_string()),
                // Not served: no Rollout CRD in this cluster.
                Some(ClusterError::Api { code: 404, .. }) => {}
                _ => {
                    self.check(slot)?;
                    raw.workloads
                        .extend(slot.values().into_iter().map(|w| (WorkloadKind::Rollout, w)));
                }
            }
        }
        for slot in &self.pods {
            self.check(slot)?;
            raw.pods.extend(slot.values());
        }
        raw.config_listing = match self.configmaps {
            CompareConfigMaps::Never => ConfigListing::Skipped,
            _ => ConfigListing::Listed,
        };
        for slot in &self.configs {
            let refused = {
                let s = slot.lock();
                match &s.failing {
                    Some(e @ ClusterError::Forbidden { .. }) if self.configmaps == CompareConfigMaps::Auto => {
                        Some(e.to_string())
                    }
                    _ => None,
                }
            };
            match refused {
                Some(reason) => raw.config_listing = ConfigListing::Refused(reason),
                None => {
                    self.check(slot)?;
                    raw.configs.extend(slot.values());
                }
            }
        }
        if matches!(raw.config_listing, ConfigListing::Refused(_)) {
            raw.configs.clear();
        }
        raw.workloads.sort_by(|a, b| {
            (a.0, &a.1.metadata.namespace, &a.1.metadata.name).cmp(&(b.0, &b.1.metadata.namespace, &b.1.metadata.name))
        });
        raw.pods
            .sort_by(|a, b| (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name)));
        raw.configs
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(raw)
    }

    /// The live state from the stores, as `LiveSource::fetch` would return it (state, object
    /// count): no API call. Err(ClusterError) naming the resource while a watcher keeps failing
    /// (403, unreachable); it recovers by itself.
    pub fn state(&self) -> Result<(LiveState, usize), ClusterError> {
        let raw = self.raw()?;
        let objects = raw.workloads.len() + raw.pods.len();
        Ok((resolve::build(&raw, self.namespaces.as_deref()), objects))
    }

    /// Per resource and namespace: events applied, restarts (re-lists), objects stored, last
    /// event time, initial sync duration.
    pub fn stats(&self) -> Vec<WatchStats> {
        let mut out: Vec<WatchStats> = self.workloads.iter().map(|(_, s)| s.stats()).collect();
        out.extend(self.rollouts.iter().map(|s| s.stats()));
        out.extend(self.pods.iter().map(|s| s.stats()));
        out.extend(self.configs.iter().map(|s| s.stats()));
        out
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    fn check<T>(&self, slot: &Slot<T>) -> Result<(), ClusterError> {
        let s = slot.lock();
        match &s.failing {
            Some(e) => Err(e.clone()),
            None if !s.synced => Err(ClusterError::Syncing {
                cluster: self.cluster.clone(),
                resource: slot.resource.to_string(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for ClusterWatch {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
