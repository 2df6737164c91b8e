//! What the running daemon shows: one read model, [`ServiceState`], holding the latest report
//! (its JSON for `/report`, the report itself with the config it was audited under and its
//! generation for the status pages), readiness, leadership, the settings of the running config
//! the endpoints check requests against, the metrics, and handles to ask for a reload or a git
//! fetch. The daemon writes it through one method, [`ServiceState::apply`]; the HTTP side only
//! reads it, so `http` never imports the daemon (controller-rs keeps its `State` apart from its
//! `Context` the same way).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::app::metrics::Metrics;
use crate::config::{Config, ConfigError, GitRef, GitopsConfig, Secret, ServerAuth};
use crate::core::report::Report;
use crate::store::StoreHandle;

/// The daemon's state as seen from outside: the metrics, the request handles, and one
/// [`Shown`] value behind one lock.
pub struct ServiceState {
    pub metrics: Metrics,
    shown: RwLock<Shown>,
    reload: ReloadHandle,
    git_fetch: FetchHandle,
}

/// Everything the HTTP side reads, changed only by [`ServiceState::apply`].
#[derive(Clone)]
pub struct Shown {
    /// The latest completed audit; `None` before the first.
    pub latest: Option<Latest>,
    /// Audits completed so far.
    pub completed: u64,
    /// When the running audit started; `None` while none runs.
    pub running_since: Option<Instant>,
    pub leader: bool,
    /// False while cluster watchers run their initial sync.
    pub watches_synced: bool,
    /// What the running config says the endpoints check and read.
    pub running: Arc<Running>,
    /// Where the leader serves HTTP, as the election last saw it (with `[ha]`).
    leader_address: Option<watch::Receiver<Option<String>>>,
}

/// What the endpoints take from the running config; replaced as a whole on reload.
pub struct Running {
    /// `audit_timeout`, to tell a stuck audit from a long one.
    pub audit_timeout: Duration,
    /// What `POST /hooks/git` checks requests against; `None` while no secret is configured.
    pub git_hooks: Option<Arc<GitHooks>>,
    /// `[server.auth]`; `None`: every endpoint is open.
    pub auth: Option<Arc<ServerAuth>>,
    /// What `GET /api/dora` and the pages' history read: the running config and its store.
    pub dora: Option<(Arc<Config>, Arc<StoreHandle>)>,
}

/// A change the daemon makes to what it shows.
pub enum Update {
    /// A config was loaded (at start or on reload), with its store.
    Config {
        cfg: Arc<Config>,
        store: Arc<StoreHandle>,
    },
    Leader(bool),
    /// Follow the election's view of where the leader serves HTTP.
    LeaderAddress(watch::Receiver<Option<String>>),
    /// Whether every cluster watcher finished its initial sync (true when none run).
    WatchesSynced(bool),
    AuditStarted,
    /// The audit completed with this report (and its JSON), audited under `cfg`.
    AuditCompleted {
        report: Arc<Report>,
        json: String,
        cfg: Arc<Config>,
    },
    /// The audit is over, completed or abandoned.
    AuditEnded,
}

/// Why `/readyz` answers 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// A follower serves metrics and stands by.
    Follower,
    FirstAuditRunning,
    /// This many audits completed.
    Completed(u64),
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Follower => f.write_str("follower, standing by"),
            Self::FirstAuditRunning => f.write_str("first audit in progress"),
            Self::Completed(n) => write!(f, "{n} audit{} completed", if *n == 1 { "" } else { "s" }),
        }
    }
}

/// Why `/readyz` answers 503.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("the cluster watches have not finished their initial sync")]
    WatchesSyncing,
    #[error("an audit has been running for {0}s, past audit_timeout")]
    Stuck(u64),
    #[error("no audit has run yet")]
    NoAuditYet,
}

impl ServiceState {
    pub fn new(
        metrics: Metrics,
        leader: bool,
        cfg: Arc<Config>,
        store: Arc<StoreHandle>,
        reload: ReloadHandle,
        git_fetch: FetchHandle,
    ) -> Self {
        metrics.set_leader(leader);
        metrics.discovered(&cfg);
        let shown = Shown {
            latest: None,
            completed: 0,
            running_since: None,
            leader,
            watches_synced: true,
            running: Arc::new(Running::of(cfg, store)),
            leader_address: None,
        };
        Self {
            metrics,
            shown: RwLock::new(shown),
            reload,
            git_fetch,
        }
    }

    /// The one way the daemon changes what it shows.
    pub fn apply(&self, update: Update) {
        let mut shown = self.shown.write().expect("state lock");
        match update {
            Update::Config { cfg, store } => {
                // Each discovery (start, reload, before a scheduled audit) hands its config here.
                self.metrics.discovered(&cfg);
                shown.running = Arc::new(Running::of(cfg, store));
            }
            Update::Leader(leader) => {
                shown.leader = leader;
                self.metrics.set_leader(leader);
            }
            Update::LeaderAddress(address) => shown.leader_address = Some(address),
            Update::WatchesSynced(synced) => shown.watches_synced = synced,
            Update::AuditStarted => shown.running_since = Some(Instant::now()),
            Update::AuditCompleted { report, json, cfg } => {
                let generation = shown.latest.as_ref().map_or(0, |l| l.generation) + 1;
                shown.latest = Some(Latest {
                    report,
                    json: Arc::new(json),
                    cfg,
                    generation,
                });
                shown.completed += 1;
            }
            Update::AuditEnded => shown.running_since = None,
        }
    }

    /// A copy of what is shown now (cheap: its parts are shared).
    pub fn shown(&self) -> Shown {
        self.shown.read().expect("state lock").clone()
    }

    /// What the running config says the endpoints check and read.
    pub fn running(&self) -> Arc<Running> {
        self.shown.read().expect("state lock").running.clone()
    }

    pub fn is_leader(&self) -> bool {
        self.shown.read().expect("state lock").leader
    }

    /// Where the leader serves HTTP, when this replica follows one that said so.
    pub fn leader_address(&self) -> Option<String> {
        let shown = self.shown.read().expect("state lock");
        if shown.leader {
            return None;
        }
        shown.leader_address.as_ref().and_then(|rx| rx.borrow().clone())
    }

    /// The latest report as the status pages show it; `None` before the first audit.
    pub fn latest(&self) -> Option<Latest> {
        self.shown.read().expect("state lock").latest.clone()
    }

    /// The generation of the latest report (0 before the first).
    pub fn generation(&self) -> u64 {
        self.shown
            .read()
            .expect("state lock")
            .latest
            .as_ref()
            .map_or(0, |l| l.generation)
    }

    /// Ready: config loaded and an audit completed or under way, none stuck past its timeout.
    /// A follower is ready: it serves metrics and stands by.
    pub fn readiness(&self) -> Result<Ready, NotReady> {
        self.shown.read().expect("state lock").readiness()
    }

    /// Asks the daemon to load its config file again; the error names why a new config was
    /// rejected (the running one is kept then).
    pub async fn reload(&self) -> Result<(), ReloadError> {
        self.reload.reload().await
    }

    /// Asks the daemon to fetch the GitOps repository now (a verified push webhook).
    pub fn request_git_fetch(&self) {
        self.git_fetch.request();
    }
}

impl Shown {
    fn readiness(&self) -> Result<Ready, NotReady> {
        if !self.leader {
            return Ok(Ready::Follower);
        }
        if !self.watches_synced {
            return Err(NotReady::WatchesSyncing);
        }
        if let Some(since) = self.running_since {
            // The audit is abandoned at its timeout; still running well past it means stuck.
            if since.elapsed() > self.running.audit_timeout + Duration::from_secs(30) {
                return Err(NotReady::Stuck(since.elapsed().as_secs()));
            }
        }
        match (self.completed, self.running_since) {
            (0, Some(_)) => Ok(Ready::FirstAuditRunning),
            (0, None) => Err(NotReady::NoAuditYet),
            (n, _) => Ok(Ready::Completed(n)),
        }
    }
}

impl Running {
    fn of(cfg: Arc<Config>, store: Arc<StoreHandle>) -> Self {
        Self {
            audit_timeout: cfg.schedule.audit_timeout,
            git_hooks: GitHooks::from_config(&cfg).map(Arc::new),
            auth: cfg.server.auth.clone().map(Arc::new),
            dora: Some((cfg, store)),
        }
    }
}

/// The latest report and what the status pages need beside it.
#[derive(Clone)]
pub struct Latest {
    pub report: Arc<Report>,
    /// The report as `/report` serves it.
    pub json: Arc<String>,
    /// The config the audit ran under: its environments' `promoted_from` order the columns.
    pub cfg: Arc<Config>,
    /// 1 for the first report, growing by one with each.
    pub generation: u64,
}

/// Why a reload did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid; the running one is kept.
    #[error(transparent)]
    Rejected(#[from] ConfigError),
    /// Loading the config file failed to run (a panic in the loading task).
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// A reload request and where its outcome goes.
pub type ReloadRequest = oneshot::Sender<Result<(), ReloadError>>;

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
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let (reply, outcome) = oneshot::channel();
        self.tx.send(reply).await.map_err(|_| ReloadError::ShuttingDown)?;
        outcome.await.map_err(|_| ReloadError::ShuttingDown)?
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
    pub async fn next(&mut self) -> Option<ReloadRequest> {
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

    fn shown(leader: bool, synced: bool, completed: u64, running_for: Option<u64>) -> Shown {
        Shown {
            latest: None,
            completed,
            running_since: running_for.map(|s| Instant::now() - Duration::from_secs(s)),
            leader,
            watches_synced: synced,
            running: Arc::new(Running {
                audit_timeout: Duration::from_secs(60),
                git_hooks: None,
                auth: None,
                dora: None,
            }),
            leader_address: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_says_why() {
        tokio::time::advance(Duration::from_secs(1000)).await;
        let cases = [
            (
                "a follower stands by",
                shown(false, false, 0, None),
                Ok("follower, standing by"),
            ),
            (
                "watches syncing",
                shown(true, false, 3, None),
                Err("the cluster watches have not finished their initial sync"),
            ),
            ("nothing yet", shown(true, true, 0, None), Err("no audit has run yet")),
            (
                "first audit",
                shown(true, true, 0, Some(10)),
                Ok("first audit in progress"),
            ),
            ("one done", shown(true, true, 1, None), Ok("1 audit completed")),
            (
                "long but within timeout",
                shown(true, true, 2, Some(90)),
                Ok("2 audits completed"),
            ),
            (
                "stuck",
                shown(true, true, 2, Some(91)),
                Err("an audit has been running for 91s, past audit_timeout"),
            ),
        ];
        for (name, shown, expected) in cases {
            let got = shown.readiness().map(|r| r.to_string()).map_err(|e| e.to_string());
            assert_eq!(got.as_deref().map_err(String::as_str), expected, "{name}");
        }
    }

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
