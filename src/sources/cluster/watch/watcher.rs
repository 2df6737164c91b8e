//! One watcher task: kube-runtime's watcher of one resource in one namespace (or
//! cluster-wide) into its [`Slot`], started again after a failure once the backoff allows.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher::{self, DefaultBackoff, Event};
use tokio::sync::{Notify, OnceCell, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::Change;
use super::slot::{Slot, SlotState};
use super::wire::{Def, Slim, Wire};
use crate::clock::Clock;
use crate::error_chain;
use crate::sources::cluster::ClusterError;

/// Objects per page of an initial LIST (when the server has no streaming lists): the audit's
/// default page size.
const PAGE_SIZE: u32 = 500;

/// Streaming lists (`sendInitialEvents`) exist from Kubernetes 1.27; older servers ignore the
/// parameter and would never mark the end of the initial events, so they are not asked.
const STREAMING_LISTS_SINCE_MINOR: u32 = 27;

/// What every watcher task of one cluster shares.
pub(super) struct Ctx {
    cluster: String,
    client: kube::Client,
    changes: mpsc::UnboundedSender<Change>,
    /// Whether initial syncs use streaming lists: decided once from the server's version, and
    /// turned off for good when the server refuses them.
    streaming: AtomicBool,
    probed: OnceCell<()>,
    /// Notified when a watcher synced, recovered or started failing.
    pub(super) synced: Arc<Notify>,
    /// Bumped to start again the watchers that stopped on a refused optional resource.
    pub(super) retry: watch::Sender<u64>,
    clock: Clock,
    pub(super) stop: CancellationToken,
}

impl Ctx {
    /// Streaming lists stay off until the server's version is known.
    pub(super) fn new(
        cluster: &str,
        client: kube::Client,
        changes: mpsc::UnboundedSender<Change>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            cluster: cluster.to_string(),
            client,
            changes,
            streaming: AtomicBool::new(false),
            probed: OnceCell::new(),
            synced: Arc::new(Notify::new()),
            retry: watch::channel(0).0,
            clock: Clock::new(),
            stop,
        }
    }

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

/// How one stream of a watcher ended.
enum End {
    /// Shutdown: the task ends.
    Shutdown,
    /// Start a new stream at once: the stream ended, or the server refused streaming lists.
    Restart,
    /// The resource is failing: start again once the backoff allows.
    Failed(ClusterError),
}

/// A watcher's initial syncs: the one of the current stream, and what is kept across streams.
struct Syncs<T> {
    /// When the watcher started: the first initial sync is timed from it.
    started: tokio::time::Instant,
    /// No initial sync began yet; every later one is a restart.
    first: bool,
    /// Objects of an initial sync in progress, swapped in whole when it is done, so objects
    /// deleted while the watch was down disappear too.
    fresh: Option<HashMap<(String, String), (u64, T)>>,
    /// This stream's initial sync is done; until then a refused watch is the streaming list's.
    done: bool,
}

/// One watcher: runs kube-runtime's watcher into `slot` until shutdown, starting it again after
/// a failure once the backoff allows. An `optional` resource (ConfigMaps with
/// `compare_configmaps = "auto"`, Argo Rollouts) the reader may not read (403), or the cluster
/// does not serve (404), is not retried on a timer: its watcher waits for [`Ctx::retry`] (the
/// daemon's full audit) or a reload.
pub(super) async fn run<T: Slim>(ctx: Arc<Ctx>, def: Def, slot: Arc<Slot<T>>, optional: bool) {
    tokio::select! {
        _ = ctx.probe_streaming() => {}
        _ = ctx.stop.cancelled() => return,
    }
    let dt = def.api_resource();
    let api: kube::Api<Wire<T>> = match &slot.namespace {
        Some(ns) => kube::Api::namespaced_with(ctx.client.clone(), ns, &dt),
        None => kube::Api::all_with(ctx.client.clone(), &dt),
    };
    let mut retries = ctx.retry.subscribe();
    let mut backoff = DefaultBackoff::default();
    let mut syncs = Syncs {
        started: tokio::time::Instant::now(),
        first: true,
        fresh: None,
        done: false,
    };
    loop {
        // A retry asked before this attempt is not one for it; one asked during it is.
        drop(retries.borrow_and_update());
        let error = match stream(&ctx, &api, &slot, &mut syncs).await {
            End::Shutdown => return,
            End::Restart => continue,
            End::Failed(error) => error,
        };
        // Refused (403), or not served (404: a CRD that is not installed).
        let refused = optional
            && matches!(
                error,
                ClusterError::Forbidden { .. } | ClusterError::Api { code: 404, .. }
            );
        failing(&ctx, &slot, error, refused);
        let wait = async {
            if refused {
                // The sender lives as long as the watchers' context.
                let _ = retries.changed().await;
            } else {
                tokio::time::sleep(backoff.next().unwrap_or(Duration::from_secs(30))).await;
            }
        };
        tokio::select! {
            () = wait => {}
            _ = ctx.stop.cancelled() => return,
        }
    }
}

/// One stream of kube-runtime's watcher (an initial sync, then events), applied to `slot`
/// until it ends.
async fn stream<T: Slim>(ctx: &Ctx, api: &kube::Api<Wire<T>>, slot: &Slot<T>, syncs: &mut Syncs<T>) -> End {
    let streaming = ctx.streaming.load(Ordering::Relaxed);
    let mut config = watcher::Config::default().page_size(PAGE_SIZE);
    if streaming {
        config = config.streaming_lists();
    }
    let stream = watcher::watcher(api.clone(), config);
    tokio::pin!(stream);
    syncs.fresh = None;
    syncs.done = false;
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = ctx.stop.cancelled() => return End::Shutdown,
        };
        match item {
            Some(Ok(event)) => apply(ctx, slot, event, syncs),
            Some(Err(e)) => {
                if let Some(end) = on_error(ctx, slot.resource, e, streaming && !syncs.done) {
                    return end;
                }
            }
            // A watcher's stream never ends; should it, start it again.
            None => return End::Restart,
        }
    }
}

/// Applies one event: to the objects of the initial sync under way, or to the slot (sending
/// a [`Change`]).
fn apply<T: Slim>(ctx: &Ctx, slot: &Slot<T>, event: Event<Wire<T>>, syncs: &mut Syncs<T>) {
    match event {
        Event::Init => {
            if !syncs.first {
                slot.lock().restarts += 1;
            }
            syncs.first = false;
            syncs.fresh = Some(HashMap::new());
        }
        Event::InitApply(w) => {
            let w = w.obj_with_version();
            if let Some(fresh) = syncs.fresh.as_mut() {
                fresh.insert((w.1.namespace().to_string(), w.1.name().to_string()), w);
            }
        }
        Event::InitDone => {
            let objects = syncs.fresh.take().unwrap_or_default();
            synced(ctx, slot, objects, syncs.started);
            syncs.done = true;
        }
        Event::Apply(w) => {
            let (version, obj) = w.obj_with_version();
            let (ns, name) = (obj.namespace().to_string(), obj.name().to_string());
            let mut s = slot.lock();
            s.objects.insert((ns.clone(), name.clone()), (version, obj));
            applied(ctx, &mut s);
            drop(s);
            ctx.send(&ns, slot.kind, &name);
        }
        Event::Delete(w) => {
            let (ns, name) = (w.obj.namespace().to_string(), w.obj.name().to_string());
            let mut s = slot.lock();
            s.objects.remove(&(ns.clone(), name.clone()));
            applied(ctx, &mut s);
            drop(s);
            ctx.send(&ns, slot.kind, &name);
        }
    }
}

/// How a watcher error ends the stream; `None`: the stream goes on. `refusable`: a refused
/// watch start is the server refusing streaming lists.
fn on_error(ctx: &Ctx, resource: &'static str, e: watcher::Error, refusable: bool) -> Option<End> {
    match e {
        // The watcher re-lists by itself.
        watcher::Error::WatchError(status) if status.code == 410 => {
            tracing::debug!(cluster = %ctx.cluster, resource, "watch expired (410); re-listing");
            None
        }
        // An object that does not decode would be lost without a trace: fail (and re-list
        // after the backoff), as a LIST of it fails. kube reports such a line as a Status when
        // it is a JSON object at all.
        e @ watcher::Error::WatchFailed(kube::Error::SerdeError(_) | kube::Error::Api(_)) => {
            Some(End::Failed(classify(&ctx.cluster, resource, e)))
        }
        // A stream broken mid-way ends next; the watcher resumes from the last
        // resourceVersion.
        watcher::Error::WatchFailed(e) => {
            tracing::debug!(cluster = %ctx.cluster, resource, error = %error_chain(&e), "watch stream failed; resuming");
            None
        }
        watcher::Error::WatchStartFailed(kube::Error::Api(status)) if refusable && matches!(status.code, 400 | 422) => {
            tracing::info!(cluster = %ctx.cluster, resource, message = %status.message, "streaming lists refused; listing then watching");
            ctx.streaming.store(false, Ordering::Relaxed);
            Some(End::Restart)
        }
        e => Some(End::Failed(classify(&ctx.cluster, resource, e))),
    }
}

/// Marks the slot failing; its first failure sends a [`Change`] for the whole resource and
/// wakes whoever waits for the sync (the daemon can audit, and report the failure). A `refused`
/// optional resource is said once, as it is not retried on a timer.
fn failing<T>(ctx: &Ctx, slot: &Slot<T>, error: ClusterError, refused: bool) {
    let newly = {
        let mut s = slot.lock();
        let newly = s.failing.is_none();
        let (cluster, resource) = (&ctx.cluster, slot.resource);
        let not_served = matches!(error, ClusterError::Api { code: 404, .. });
        match (refused, newly) {
            // A CRD the cluster does not serve (no Argo Rollouts): nothing to say.
            (true, _) if not_served => {
                tracing::debug!(%cluster, resource, "not served; not watched until the next full audit")
            }
            (false, _) => tracing::warn!(%cluster, resource, error = %error, "watch failing; retrying"),
            (true, true) => tracing::info!(
                %cluster,
                resource,
                error = %error,
                "not allowed to watch this optional resource: not watched (nor compared) until a reload or the next full audit"
            ),
            (true, false) => tracing::debug!(%cluster, resource, error = %error, "still not allowed to watch"),
        }
        s.failing = Some(error);
        newly
    };
    if newly {
        ctx.send(slot.namespace.as_deref().unwrap_or(""), slot.kind, "");
        ctx.synced.notify_waiters();
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
