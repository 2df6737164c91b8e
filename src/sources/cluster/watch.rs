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

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::core::{ApiResource, DynamicResourceScope};
use kube::runtime::watcher::{self, DefaultBackoff, Event};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, OnceCell, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ClusterError;
use crate::clock::Clock;
use crate::config::CompareConfigMaps;
use crate::core::model::{ConfigListing, ConfigObject, LiveState, WorkloadKind};
use crate::core::resolve::{
    self, ConfigMapRaw, ObjectMeta, OwnerReference, Pod, PodSpec, PodStatus, RawObjects, Workload, WorkloadSpec,
    WorkloadStatus,
};
use crate::error_chain;

/// Objects per page of an initial LIST (when the server has no streaming lists): the audit's
/// default page size.
const PAGE_SIZE: u32 = 500;

/// Streaming lists (`sendInitialEvents`) exist from Kubernetes 1.27; older servers ignore the
/// parameter and would never mark the end of the initial events, so they are not asked.
const STREAMING_LISTS_SINCE_MINOR: u32 = 27;

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
    pods: Vec<Arc<Slot<Pod>>>,
    configs: Vec<Arc<Slot<ConfigObject>>>,
    synced: Arc<Notify>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

/// What one watcher shares with [`ClusterWatch`].
struct Slot<T> {
    resource: &'static str,
    kind: &'static str,
    namespace: Option<String>,
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    /// By (namespace, name): the object and a hash of its resourceVersion.
    objects: HashMap<(String, String), (u64, T)>,
    synced: bool,
    failing: Option<ClusterError>,
    events: u64,
    restarts: u64,
    last_event: Option<DateTime<Utc>>,
    initial_sync: Option<Duration>,
}

impl<T> Slot<T> {
    fn new(resource: &'static str, kind: &'static str, namespace: Option<String>) -> Self {
        Self {
            resource,
            kind,
            namespace,
            state: Mutex::new(SlotState {
                objects: HashMap::new(),
                synced: false,
                failing: None,
                events: 0,
                restarts: 0,
                last_event: None,
                initial_sync: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        // A panic while holding the lock leaves plain data behind; the store stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Synced, or failing (then `state()` reports it): either way the daemon can audit.
    fn settled(&self) -> bool {
        let s = self.lock();
        s.synced || s.failing.is_some()
    }

    fn stats(&self) -> WatchStats {
        let s = self.lock();
        WatchStats {
            resource: self.resource,
            namespace: self.namespace.clone(),
            events: s.events,
            restarts: s.restarts,
            objects: s.objects.len(),
            last_event: s.last_event,
            initial_sync: s.initial_sync,
            synced: s.synced,
            error: s.failing.as_ref().map(ToString::to_string),
        }
    }
}

impl<T: Clone> Slot<T> {
    fn values(&self) -> Vec<T> {
        self.lock().objects.values().map(|(_, o)| o.clone()).collect()
    }
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
        let ctx = Arc::new(Ctx {
            cluster: cluster.to_string(),
            client,
            changes,
            streaming: AtomicBool::new(false),
            probed: OnceCell::new(),
            synced: Arc::new(Notify::new()),
            clock: Clock::new(),
            stop: shutdown.child_token(),
        });
        let tasks = TaskTracker::new();
        let mut watch = Self {
            cluster: cluster.to_string(),
            namespaces: (!namespaces.is_empty()).then(|| namespaces.to_vec()),
            configmaps,
            workloads: Vec::new(),
            pods: Vec::new(),
            configs: Vec::new(),
            synced: ctx.synced.clone(),
            stop: ctx.stop.clone(),
            tasks: tasks.clone(),
        };
        for scope in &scopes {
            for (kind, def) in WORKLOADS {
                let slot = Arc::new(Slot::new(def.plural, kind.as_str(), scope.clone()));
                watch.workloads.push((kind, slot.clone()));
                tasks.spawn(run(ctx.clone(), def, slot));
            }
            let slot = Arc::new(Slot::new(PODS.plural, PODS.kind, scope.clone()));
            watch.pods.push(slot.clone());
            tasks.spawn(run(ctx.clone(), PODS, slot));
            if configmaps != CompareConfigMaps::Never {
                let slot = Arc::new(Slot::new(CONFIGMAPS.plural, CONFIGMAPS.kind, scope.clone()));
                watch.configs.push(slot.clone());
                tasks.spawn(run(ctx.clone(), CONFIGMAPS, slot));
            }
        }
        tasks.close();
        watch
    }

    /// Every watcher finished its initial sync (list or streaming list), or is failing: then
    /// [`ClusterWatch::state`] names it, so the daemon can audit (and alert) either way.
    pub fn synced(&self) -> bool {
        self.workloads.iter().all(|(_, s)| s.settled())
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

/// What every watcher task of one cluster shares.
struct Ctx {
    cluster: String,
    client: kube::Client,
    changes: mpsc::UnboundedSender<Change>,
    /// Whether initial syncs use streaming lists: decided once from the server's version, and
    /// turned off for good when the server refuses them.
    streaming: AtomicBool,
    probed: OnceCell<()>,
    synced: Arc<Notify>,
    clock: Clock,
    stop: CancellationToken,
}

impl Ctx {
    fn send(&self, namespace: &str, kind: &'static str, name: &str) {
        // A daemon that stopped listening is shutting down; the watchers follow its token.
        let _ = self.changes.send(Change {
            cluster: self.cluster.clone(),
            namespace: namespace.to_string(),
            kind,
            name: name.to_string(),
        });
    }

    /// Asks the server's version once per cluster; a server that does not say is not asked
    /// for streaming lists.
    async fn probe_streaming(&self) {
        self.probed
            .get_or_init(|| async {
                let supported = match self.client.apiserver_version().await {
                    Ok(info) => {
                        let minor: u32 = info
                            .minor
                            .chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                            .parse()
                            .unwrap_or(0);
                        info.major == "1" && minor >= STREAMING_LISTS_SINCE_MINOR
                    }
                    Err(e) => {
                        tracing::debug!(cluster = %self.cluster, error = %error_chain(&e), "no server version; initial syncs list");
                        false
                    }
                };
                self.streaming.store(supported, Ordering::Relaxed);
            })
            .await;
    }
}

/// A watched resource: its API coordinates and the slim type it is stored as.
#[derive(Clone, Copy, Debug)]
struct Def {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
}

const fn def(group: &'static str, kind: &'static str, plural: &'static str) -> Def {
    Def {
        group,
        version: "v1",
        kind,
        plural,
    }
}

const WORKLOADS: [(WorkloadKind, Def); 6] = [
    (WorkloadKind::Deployment, def("apps", "Deployment", "deployments")),
    (WorkloadKind::StatefulSet, def("apps", "StatefulSet", "statefulsets")),
    (WorkloadKind::DaemonSet, def("apps", "DaemonSet", "daemonsets")),
    (WorkloadKind::ReplicaSet, def("apps", "ReplicaSet", "replicasets")),
    (WorkloadKind::Job, def("batch", "Job", "jobs")),
    (WorkloadKind::CronJob, def("batch", "CronJob", "cronjobs")),
];
const PODS: Def = def("", "Pod", "pods");
const CONFIGMAPS: Def = def("", "ConfigMap", "configmaps");

impl Def {
    fn api_resource(self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version,
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }
}

/// An object as a watch event carries it, decoded into the slim type `T`: the `ObjectMeta`
/// kube-runtime reads holds only the resourceVersion it resumes from.
#[derive(Clone, Debug)]
struct Wire<T> {
    meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    obj: T,
}

impl<T> kube::Resource for Wire<T> {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.api_version)
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }
    fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &mut self.meta
    }
}

impl<'de, T: Slim> Deserialize<'de> for Wire<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (resource_version, obj) = T::from_wire(T::Raw::deserialize(d)?);
        let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            resource_version: Some(resource_version),
            ..Default::default()
        };
        Ok(Wire { meta, obj })
    }
}

/// A slim type the stores keep, decoded from its wire shape.
trait Slim: Clone + std::fmt::Debug + Send + Sync + Sized + 'static {
    type Raw: DeserializeOwned;
    /// The resourceVersion and the slim object.
    fn from_wire(raw: Self::Raw) -> (String, Self);
    fn namespace(&self) -> &str;
    fn name(&self) -> &str;
}

/// `metadata` as [`resolve::ObjectMeta`] reads it, plus the resourceVersion. Built field by
/// field (no `..Default`), so a field added there fails to compile here instead of being lost.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    #[serde(default)]
    resource_version: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    generation: Option<i64>,
    creation_timestamp: Option<DateTime<Utc>>,
    deletion_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    owner_references: Vec<OwnerReference>,
}

impl WireMeta {
    fn split(self) -> (String, ObjectMeta) {
        let meta = ObjectMeta {
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            generation: self.generation,
            creation_timestamp: self.creation_timestamp,
            deletion_timestamp: self.deletion_timestamp,
            owner_references: self.owner_references,
        };
        (self.resource_version, meta)
    }
}

#[derive(Deserialize)]
struct WorkloadWire {
    #[serde(default)]
    metadata: WireMeta,
    #[serde(default)]
    spec: WorkloadSpec,
    #[serde(default)]
    status: WorkloadStatus,
}

impl Slim for Workload {
    type Raw = WorkloadWire;
    fn from_wire(raw: WorkloadWire) -> (String, Self) {
        let (rv, metadata) = raw.metadata.split();
        let mut spec = raw.spec;
        prune(&mut spec.template.spec);
        prune(&mut spec.job_template.spec.template.spec);
        let w = Workload {
            metadata,
            spec,
            status: raw.status,
        };
        (rv, w)
    }
    fn namespace(&self) -> &str {
        &self.metadata.namespace
    }
    fn name(&self) -> &str {
        &self.metadata.name
    }
}

#[derive(Deserialize)]
struct PodWire {
    #[serde(default)]
    metadata: WireMeta,
    #[serde(default)]
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

impl Slim for Pod {
    type Raw = PodWire;
    fn from_wire(raw: PodWire) -> (String, Self) {
        let (rv, metadata) = raw.metadata.split();
        let mut spec = raw.spec;
        prune(&mut spec);
        let pod = Pod {
            metadata,
            spec,
            status: raw.status,
        };
        (rv, pod)
    }
    fn namespace(&self) -> &str {
        &self.metadata.namespace
    }
    fn name(&self) -> &str {
        &self.metadata.name
    }
}

#[derive(Deserialize)]
struct ConfigMapWire {
    #[serde(default)]
    metadata: WireMeta,
    /// `data` and `binaryData`, hashed while decoding as the LIST path does.
    #[serde(flatten)]
    body: ConfigMapRaw,
}

impl Slim for ConfigObject {
    type Raw = ConfigMapWire;
    fn from_wire(raw: ConfigMapWire) -> (String, Self) {
        let (rv, metadata) = raw.metadata.split();
        let mut body = raw.body;
        body.metadata = metadata;
        (rv, body.into())
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Drops what a Pod spec holds that the audit never reads: env vars and volumes that reference
/// no ConfigMap or Secret (a Pod often has dozens of plain env vars).
fn prune(spec: &mut PodSpec) {
    spec.volumes.retain(|v| v.config_map.is_some() || v.secret.is_some());
    spec.volumes.shrink_to_fit();
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut()) {
        c.env.retain(|e| {
            e.value_from
                .as_ref()
                .is_some_and(|v| v.config_map_key_ref.is_some() || v.secret_key_ref.is_some())
        });
        c.env.shrink_to_fit();
        c.env_from
            .retain(|e| e.config_map_ref.is_some() || e.secret_ref.is_some());
        c.env_from.shrink_to_fit();
    }
}

fn version_hash(rv: &str) -> u64 {
    let mut h = DefaultHasher::new();
    rv.hash(&mut h);
    h.finish()
}

/// One watcher: runs kube-runtime's watcher into `slot` until shutdown, starting it again after
/// a failure once the backoff allows.
async fn run<T: Slim>(ctx: Arc<Ctx>, def: Def, slot: Arc<Slot<T>>) {
    tokio::select! {
        _ = ctx.probe_streaming() => {}
        _ = ctx.stop.cancelled() => return,
    }
    let dt = def.api_resource();
    let api: kube::Api<Wire<T>> = match &slot.namespace {
        Some(ns) => kube::Api::namespaced_with(ctx.client.clone(), ns, &dt),
        None => kube::Api::all_with(ctx.client.clone(), &dt),
    };
    let mut backoff = DefaultBackoff::default();
    let started = tokio::time::Instant::now();
    let mut first_init = true;
    loop {
        let streaming = ctx.streaming.load(Ordering::Relaxed);
        let mut config = watcher::Config::default().page_size(PAGE_SIZE);
        if streaming {
            config = config.streaming_lists();
        }
        let stream = watcher::watcher(api.clone(), config);
        tokio::pin!(stream);
        // Objects of an initial sync in progress, swapped in whole when it is done, so objects
        // deleted while the watch was down disappear too.
        let mut fresh: Option<HashMap<(String, String), (u64, T)>> = None;
        // Until this stream's initial sync is done, a refused watch is the streaming list's.
        let mut stream_synced = false;
        let failure = loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = ctx.stop.cancelled() => return,
            };
            match item {
                Some(Ok(Event::Init)) => {
                    if !first_init {
                        slot.lock().restarts += 1;
                    }
                    first_init = false;
                    fresh = Some(HashMap::new());
                }
                Some(Ok(Event::InitApply(w))) => {
                    let w = w.obj_with_version();
                    if let Some(fresh) = fresh.as_mut() {
                        fresh.insert((w.1.namespace().to_string(), w.1.name().to_string()), w);
                    }
                }
                Some(Ok(Event::InitDone)) => {
                    let objects = fresh.take().unwrap_or_default();
                    synced(&ctx, &slot, objects, started);
                    stream_synced = true;
                }
                Some(Ok(Event::Apply(w))) => {
                    let (version, obj) = w.obj_with_version();
                    let (ns, name) = (obj.namespace().to_string(), obj.name().to_string());
                    let mut s = slot.lock();
                    s.objects.insert((ns.clone(), name.clone()), (version, obj));
                    applied(&ctx, &mut s);
                    drop(s);
                    ctx.send(&ns, slot.kind, &name);
                }
                Some(Ok(Event::Delete(w))) => {
                    let (ns, name) = (w.obj.namespace().to_string(), w.obj.name().to_string());
                    let mut s = slot.lock();
                    s.objects.remove(&(ns.clone(), name.clone()));
                    applied(&ctx, &mut s);
                    drop(s);
                    ctx.send(&ns, slot.kind, &name);
                }
                // The watcher re-lists by itself.
                Some(Err(watcher::Error::WatchError(status))) if status.code == 410 => {
                    tracing::debug!(cluster = %ctx.cluster, resource = slot.resource, "watch expired (410); re-listing");
                }
                // An object that does not decode would be lost without a trace: fail (and
                // re-list after the backoff), as a LIST of it fails. kube reports such a line
                // as a Status when it is a JSON object at all.
                Some(Err(e @ watcher::Error::WatchFailed(kube::Error::SerdeError(_) | kube::Error::Api(_)))) => {
                    break Some(classify(&ctx.cluster, slot.resource, e));
                }
                // A stream broken mid-way ends next; the watcher resumes from the last
                // resourceVersion.
                Some(Err(watcher::Error::WatchFailed(e))) => {
                    tracing::debug!(cluster = %ctx.cluster, resource = slot.resource, error = %error_chain(&e), "watch stream failed; resuming");
                }
                Some(Err(watcher::Error::WatchStartFailed(kube::Error::Api(status))))
                    if streaming && !stream_synced && matches!(status.code, 400 | 422) =>
                {
                    tracing::info!(cluster = %ctx.cluster, resource = slot.resource, message = %status.message, "streaming lists refused; listing then watching");
                    ctx.streaming.store(false, Ordering::Relaxed);
                    break None;
                }
                Some(Err(e)) => break Some(classify(&ctx.cluster, slot.resource, e)),
                // A watcher's stream never ends; should it, start it again.
                None => break None,
            }
        };
        let Some(error) = failure else { continue };
        let newly = {
            let mut s = slot.lock();
            let newly = s.failing.is_none();
            tracing::warn!(cluster = %ctx.cluster, resource = slot.resource, error = %error, "watch failing; retrying");
            s.failing = Some(error);
            newly
        };
        if newly {
            ctx.send(slot.namespace.as_deref().unwrap_or(""), slot.kind, "");
            ctx.synced.notify_waiters();
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(30));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.stop.cancelled() => return,
        }
    }
}

impl<T> Wire<T> {
    fn obj_with_version(self) -> (u64, T) {
        (
            version_hash(self.meta.resource_version.as_deref().unwrap_or("")),
            self.obj,
        )
    }
}

fn applied<T>(ctx: &Ctx, s: &mut SlotState<T>) {
    s.events += 1;
    s.last_event = Some(ctx.clock.now());
}

/// An initial sync finished: swaps in `objects`, clears a failure, and sends a Change for every
/// object a re-list found added, changed or gone (none for the first sync: the daemon audits
/// once everything is synced).
fn synced<T: Slim>(
    ctx: &Ctx,
    slot: &Slot<T>,
    objects: HashMap<(String, String), (u64, T)>,
    started: tokio::time::Instant,
) {
    let mut s = slot.lock();
    let mut changed: Vec<(String, String)> = Vec::new();
    if s.synced {
        for (key, (version, _)) in &objects {
            if s.objects.get(key).is_none_or(|(old, _)| old != version) {
                changed.push(key.clone());
            }
        }
        changed.extend(s.objects.keys().filter(|k| !objects.contains_key(*k)).cloned());
    }
    s.objects = objects;
    let recovered = s.failing.take().is_some();
    let first = !s.synced;
    if first {
        s.synced = true;
        s.initial_sync = Some(started.elapsed());
    }
    drop(s);
    for (ns, name) in changed {
        ctx.send(&ns, slot.kind, &name);
    }
    if recovered {
        tracing::info!(cluster = %ctx.cluster, resource = slot.resource, "watch recovered");
        ctx.send(slot.namespace.as_deref().unwrap_or(""), slot.kind, "");
    }
    if first || recovered {
        ctx.synced.notify_waiters();
    }
}

/// A watcher failure as the cluster error the audit reports, naming the resource.
fn classify(cluster: &str, resource: &str, e: watcher::Error) -> ClusterError {
    let (cluster, resource) = (cluster.to_string(), resource.to_string());
    let api = |code: u16, message: String| match code {
        403 => ClusterError::Forbidden {
            cluster: cluster.clone(),
            resource: resource.clone(),
            message,
        },
        code => ClusterError::Api {
            cluster: cluster.clone(),
            resource: resource.clone(),
            code,
            message,
        },
    };
    match e {
        watcher::Error::WatchError(status) => api(status.code, status.message.clone()),
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            match e {
                kube::Error::Api(status) if status.code == 0 => api(0, "a watch event did not decode".into()),
                kube::Error::Api(status) => api(status.code, status.message.clone()),
                other => ClusterError::Unreachable {
                    cluster: cluster.clone(),
                    resource: resource.clone(),
                    reason: error_chain(&other),
                },
            }
        }
        other @ watcher::Error::NoResourceVersion => api(500, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_json() -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "api-1", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                         "creationTimestamp": "2026-11-01T00:00:00Z", "labels": {"app": "api"},
                         "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {"f:phase": {}}}}],
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "api-5f", "uid": "rs1", "controller": true}]},
            "spec": {"containers": [{"name": "api", "image": "api:1",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                        "envFrom": [{"prefix": "X_"}, {"configMapRef": {"name": "c"}}]}],
                     "volumes": [{"name": "t", "projected": {}}, {"name": "s", "secret": {"secretName": "s"}}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "api", "imageID": "api@sha256:1"}]}})
    }

    #[test]
    fn a_pod_decodes_to_the_list_paths_pod_less_what_the_audit_never_reads() {
        let wire: Wire<Pod> = serde_json::from_value(pod_json()).unwrap();
        assert_eq!(wire.meta.resource_version.as_deref(), Some("42"));
        let listed: Pod = serde_json::from_value(pod_json()).unwrap();
        assert_eq!(format!("{:?}", wire.obj.metadata), format!("{:?}", listed.metadata));
        assert_eq!(format!("{:?}", wire.obj.status), format!("{:?}", listed.status));
        assert_eq!(wire.obj.spec.required_configs(), listed.spec.required_configs());
        let c = &wire.obj.spec.containers[0];
        assert_eq!((c.env.len(), c.env_from.len(), wire.obj.spec.volumes.len()), (1, 1, 1));
    }

    #[test]
    fn a_configmap_decodes_hashed_as_the_list_path_does() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "shop", "resourceVersion": "7"},
            "data": {"mode": "fast"}, "binaryData": {"blob": "AAE="}});
        let wire: Wire<ConfigObject> = serde_json::from_value(cm.clone()).unwrap();
        let listed: ConfigObject = serde_json::from_value::<ConfigMapRaw>(cm).unwrap().into();
        assert_eq!(wire.obj, listed);
        assert_eq!(wire.obj.values.len(), 2);
    }

    #[test]
    fn a_workload_keeps_its_template_and_status() {
        let d = json!({"kind": "CronJob", "metadata": {"name": "r", "namespace": "shop", "resourceVersion": "9", "generation": 3},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "r", "image": "r:1", "env": [{"name": "A", "value": "x"}]}]}}}}},
            "status": {"observedGeneration": 2}});
        let wire: Wire<Workload> = serde_json::from_value(d).unwrap();
        let spec = &wire.obj.spec.job_template.spec.template.spec;
        assert_eq!(spec.containers[0].image, "r:1");
        assert!(spec.containers[0].env.is_empty());
        assert_eq!(
            (wire.obj.metadata.generation, wire.obj.status.observed_generation),
            (Some(3), Some(2))
        );
    }
}
