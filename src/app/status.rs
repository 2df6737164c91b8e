//! What the running daemon shows: the latest report (its JSON for `/report`, the report
//! itself with the config it was audited under for the status pages), readiness, the metrics, and handles to ask
//! for a reload or a git fetch (with what push webhooks are checked against). The daemon writes
//! it; the HTTP side only reads it, so `http` never imports the daemon (controller-rs keeps its
//! `State` apart from its `Context` the same way).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::app::metrics::Metrics;
use crate::config::{Config, GitRef, GitopsConfig, Secret, ServerAuth};
use crate::core::report::Report;
use crate::store::StoreHandle;

/// The daemon's state as seen from outside.
pub struct Status {
    pub metrics: Metrics,
    report: RwLock<Option<Arc<String>>>,
    /// What the status pages render: the latest report, the config it was audited under, and
    /// its generation (how many reports were set), which a page polls to notice a newer one.
    latest: RwLock<Option<Latest>>,
    running_since: Mutex<Option<Instant>>,
    completed: AtomicU64,
    leader: AtomicBool,
    /// The running config's `audit_timeout`, to tell a stuck audit from a long one.
    audit_timeout: RwLock<Duration>,
    /// False while cluster watchers run their initial sync.
    watches_synced: AtomicBool,
    reload: ReloadHandle,
    /// What `POST /hooks/git` checks requests against; `None` while no secret is configured.
    git_hooks: RwLock<Option<Arc<GitHooks>>>,
    git_fetch: FetchHandle,
    /// `[server.auth]` of the running config; `None`: every endpoint is open.
    auth: RwLock<Option<Arc<ServerAuth>>>,
    /// Where the leader serves HTTP, as the election last saw it (with `[ha]`).
    leader_address: RwLock<Option<tokio::sync::watch::Receiver<Option<String>>>>,
    /// What `GET /api/dora` reads: the running config and its store.
    dora: RwLock<Option<(Arc<Config>, Arc<StoreHandle>)>>,
}

impl Status {
    pub fn new(
        metrics: Metrics,
        leader: bool,
        audit_timeout: Duration,
        reload: ReloadHandle,
        git_fetch: FetchHandle,
    ) -> Self {
        metrics.set_leader(leader);
        Self {
            metrics,
            report: RwLock::new(None),
            latest: RwLock::new(None),
            running_since: Mutex::new(None),
            completed: AtomicU64::new(0),
            leader: AtomicBool::new(leader),
            audit_timeout: RwLock::new(audit_timeout),
            watches_synced: AtomicBool::new(true),
            reload,
            git_hooks: RwLock::new(None),
            git_fetch,
            auth: RwLock::new(None),
            dora: RwLock::new(None),
            leader_address: RwLock::new(None),
        }
    }

    /// Follows the election's view of where the leader serves HTTP.
    pub fn set_leader_address(&self, address: tokio::sync::watch::Receiver<Option<String>>) {
        *self.leader_address.write().expect("leader address lock") = Some(address);
    }

    /// Where the leader serves HTTP, when this replica follows one that said so.
    pub fn leader_address(&self) -> Option<String> {
        if self.is_leader() {
            return None;
        }
        let rx = self.leader_address.read().expect("leader address lock");
        rx.as_ref().and_then(|rx| rx.borrow().clone())
    }

    /// What `GET /api/dora` reads from now on.
    pub fn set_dora(&self, cfg: Arc<Config>, store: Arc<StoreHandle>) {
        *self.dora.write().expect("dora lock") = Some((cfg, store));
    }

    pub fn dora(&self) -> Option<(Arc<Config>, Arc<StoreHandle>)> {
        self.dora.read().expect("dora lock").clone()
    }

    /// The latest report as the status pages show it; `None` before the first audit.
    pub fn latest(&self) -> Option<Latest> {
        self.latest.read().expect("latest lock").clone()
    }

    /// The generation of the latest report (0 before the first).
    pub fn generation(&self) -> u64 {
        self.latest
            .read()
            .expect("latest lock")
            .as_ref()
            .map_or(0, |l| l.generation)
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

    /// What push webhooks are checked against; `None`: the endpoint is off.
    pub fn git_hooks(&self) -> Option<Arc<GitHooks>> {
        self.git_hooks.read().expect("git hooks lock").clone()
    }

    /// What requests must present (`[server.auth]`); `None`: nothing.
    pub fn auth(&self) -> Option<Arc<ServerAuth>> {
        self.auth.read().expect("auth lock").clone()
    }

    /// Asks the daemon to fetch the GitOps repository now (a verified push webhook).
    pub fn request_git_fetch(&self) {
        self.git_fetch.request();
    }

    /// Whether an audit is under way.
    pub fn audit_running(&self) -> bool {
        self.running_since.lock().expect("running lock").is_some()
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

    /// The webhook settings of a (re)loaded config.
    pub fn set_git_hooks(&self, cfg: &Config) {
        *self.git_hooks.write().expect("git hooks lock") = GitHooks::from_config(cfg).map(Arc::new);
    }

    /// The `[server.auth]` settings of a (re)loaded config.
    pub fn set_auth(&self, cfg: &Config) {
        *self.auth.write().expect("auth lock") = cfg.server.auth.clone().map(Arc::new);
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

    /// The report of a completed audit, for the status pages, with the config it ran under.
    pub fn set_report(&self, report: Arc<Report>, cfg: Arc<Config>) {
        let mut latest = self.latest.write().expect("latest lock");
        let generation = latest.as_ref().map_or(0, |l| l.generation) + 1;
        *latest = Some(Latest {
            report,
            cfg,
            generation,
        });
    }

    /// The audit is over, completed or abandoned.
    pub fn audit_ended(&self) {
        *self.running_since.lock().expect("running lock") = None;
    }
}

/// The latest report and what the status pages need beside it.
#[derive(Clone)]
pub struct Latest {
    pub report: Arc<Report>,
    /// The config the audit ran under: its environments' `promoted_from` order the columns.
    pub cfg: Arc<Config>,
    /// 1 for the first report, growing by one with each.
    pub generation: u64,
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

/// What `POST /hooks/git` checks requests against.
pub struct GitHooks {
    pub secret: Secret,
    /// Pushes to another ref are ignored; `None` (the remote's default branch, or a `rev`):
    /// every push fetches.
    pub branch: Option<String>,
}

impl GitHooks {
    /// `None` unless a webhook secret is configured (a remote repository's).
    fn from_config(cfg: &Config) -> Option<Self> {
        let secret = cfg.git_updates.webhook_secret.clone()?;
        let branch = match &cfg.gitops {
            GitopsConfig::Remote {
                reference: GitRef::Branch(b),
                ..
            } => Some(b.clone()),
            _ => None,
        };
        Some(Self { secret, branch })
    }
}

/// Asks the daemon to fetch the GitOps repository now: `POST /hooks/git`, or a test. Requests
/// made while a fetch runs fold into one more fetch (a [`Notify`] holds one permit), so a
/// burst of pushes costs two fetches, not one per push. Cheap to clone.
#[derive(Clone, Debug)]
pub struct FetchHandle {
    wanted: Arc<Notify>,
}

/// The daemon's end of the fetch requests.
#[derive(Debug)]
pub struct FetchRequests {
    wanted: Arc<Notify>,
}

/// A handle to ask for git fetches and the daemon's end.
pub fn fetch_channel() -> (FetchHandle, FetchRequests) {
    let wanted = Arc::new(Notify::new());
    (FetchHandle { wanted: wanted.clone() }, FetchRequests { wanted })
}

impl FetchHandle {
    pub fn request(&self) {
        self.wanted.notify_one();
    }
}

impl FetchRequests {
    /// Returns once a fetch was requested since the last call returned.
    pub async fn next(&self) {
        self.wanted.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;

    use super::*;

    #[test]
    fn fetch_requests_made_while_busy_fold_into_one() {
        let (handle, requests) = fetch_channel();
        assert!(requests.next().now_or_never().is_none(), "nothing asked yet");
        for _ in 0..5 {
            handle.request();
        }
        assert!(requests.next().now_or_never().is_some(), "one fetch for the burst");
        assert!(requests.next().now_or_never().is_none(), "and no more");
        handle.clone().request();
        assert!(requests.next().now_or_never().is_some(), "a later push fetches again");
    }
}
