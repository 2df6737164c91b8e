//! What the running daemon shows: the latest report, readiness, the metrics, and a handle to ask
//! for a reload. The daemon writes it; the HTTP side only reads it, so `http` never imports the
//! daemon (controller-rs keeps its `State` apart from its `Context` the same way).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::app::metrics::Metrics;

/// The daemon's state as seen from outside.
pub struct Status {
    pub metrics: Metrics,
    report: RwLock<Option<Arc<String>>>,
    running_since: Mutex<Option<Instant>>,
    completed: AtomicU64,
    leader: AtomicBool,
    /// The running config's `audit_timeout`, to tell a stuck audit from a long one.
    audit_timeout: RwLock<Duration>,
    /// False while cluster watchers run their initial sync.
    watches_synced: AtomicBool,
    reload: ReloadHandle,
}

impl Status {
    pub fn new(metrics: Metrics, leader: bool, audit_timeout: Duration, reload: ReloadHandle) -> Self {
        metrics.set_leader(leader);
        Self {
            metrics,
            report: RwLock::new(None),
            running_since: Mutex::new(None),
            completed: AtomicU64::new(0),
            leader: AtomicBool::new(leader),
            audit_timeout: RwLock::new(audit_timeout),
            watches_synced: AtomicBool::new(true),
            reload,
        }
    }

    pub fn latest_report(&self) -> Option<Arc<String>> {
        self.report.read().expect("report lock").clone()
    }

    /// Ready: config loaded and an audit completed or under way, none stuck past its timeout.
    /// A follower is ready: it serves metrics and stands by.
    pub fn readiness(&self) -> Result<String, String> {
        if !self.is_leader() {
            return Ok("follower, standing by".into());
        }
        if !self.watches_synced.load(Ordering::SeqCst) {
            return Err("the cluster watches have not finished their initial sync".into());
        }
        let timeout = *self.audit_timeout.read().expect("timeout lock");
        let running = *self.running_since.lock().expect("running lock");
        if let Some(since) = running {
            // The audit is abandoned at its timeout; still running well past it means stuck.
            if since.elapsed() > timeout + Duration::from_secs(30) {
                return Err(format!(
                    "an audit has been running for {}s, past audit_timeout",
                    since.elapsed().as_secs()
                ));
            }
        }
        match (self.completed.load(Ordering::SeqCst), running) {
            (0, Some(_)) => Ok("first audit in progress".into()),
            (0, None) => Err("no audit has run yet".into()),
            (n, _) => Ok(format!("{n} audit{} completed", if n == 1 { "" } else { "s" })),
        }
    }

    /// Asks the daemon to load its config file again; the error names why a new config was
    /// rejected (the running one is kept then).
    pub async fn reload(&self) -> Result<(), String> {
        self.reload.reload().await
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    // What the daemon writes.

    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::SeqCst);
        self.metrics.set_leader(leader);
    }

    /// Whether every cluster watcher finished its initial sync (true when none run).
    pub fn set_watches_synced(&self, synced: bool) {
        self.watches_synced.store(synced, Ordering::SeqCst);
    }

    pub fn set_audit_timeout(&self, timeout: Duration) {
        *self.audit_timeout.write().expect("timeout lock") = timeout;
    }

    pub fn audit_started(&self) {
        *self.running_since.lock().expect("running lock") = Some(Instant::now());
    }

    /// The audit completed with this JSON report.
    pub fn audit_completed(&self, report_json: String) {
        *self.report.write().expect("report lock") = Some(Arc::new(report_json));
        self.completed.fetch_add(1, Ordering::SeqCst);
    }

    /// The audit is over, completed or abandoned.
    pub fn audit_ended(&self) {
        *self.running_since.lock().expect("running lock") = None;
    }
}

/// A reload request and where its outcome goes.
type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Asks the daemon for a reload: `POST /-/reload`, SIGHUP, or a test. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReloadHandle {
    tx: mpsc::Sender<ReloadRequest>,
}

/// The daemon's end of the reload requests.
#[derive(Debug)]
pub struct ReloadRequests {
    rx: mpsc::Receiver<ReloadRequest>,
    handle: ReloadHandle,
}

/// A handle to ask for reloads and the daemon's end, which is passed to `daemon::run`.
pub fn reload_channel() -> (ReloadHandle, ReloadRequests) {
    // Reloads are rare; a few queued are plenty, and they all read the same file anyway.
    let (tx, rx) = mpsc::channel(4);
    let handle = ReloadHandle { tx };
    (handle.clone(), ReloadRequests { rx, handle })
}

impl ReloadHandle {
    /// Requests a reload and waits for its outcome.
    pub async fn reload(&self) -> Result<(), String> {
        let (reply, outcome) = oneshot::channel();
        self.tx
            .send(reply)
            .await
            .map_err(|_| "the daemon is shutting down".to_string())?;
        outcome.await.map_err(|_| "the daemon is shutting down".to_string())?
    }
}

impl ReloadHandle {
    /// Requests a reload without waiting for it (SIGHUP): the daemon logs the outcome. A
    /// request while others are queued is dropped, as they read the same file.
    pub fn request(&self) {
        let (reply, _outcome) = oneshot::channel();
        let _ = self.tx.try_send(reply);
    }
}

impl ReloadRequests {
    /// Another handle for the same daemon (the HTTP side gets one).
    pub fn handle(&self) -> ReloadHandle {
        self.handle.clone()
    }

    /// The next request: where its outcome goes.
    pub async fn next(&mut self) -> Option<oneshot::Sender<Result<(), String>>> {
        self.rx.recv().await
    }
}
