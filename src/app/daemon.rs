//! The service: audits on the configured schedule (only while leader when HA is on), each audit
//! bounded by `audit_timeout` and followed by alert delivery; between audits, fetches the GitOps
//! repository on `poll_interval` and on push webhooks and audits a new commit; serves the HTTP
//! endpoint; reloads the config on request, keeping the running one when the new one is
//! invalid. When `shutdown` is cancelled it stops scheduling, lets a running audit finish within
//! `shutdown_grace`, and returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::alerts::deliver::{self, NotifyError};
use crate::app::leader::Elector;
use crate::app::metrics::Metrics;
use crate::app::schedule::{Guard, OnFire, Scheduler};
use crate::app::status::{FetchRequests, ReloadRequests, Status, fetch_channel};
use crate::app::{audit, http};
use crate::clock::Clock;
use crate::config::{Config, GitopsConfig, Overrides};
use crate::sources::{Sources, git};

/// Where the config comes from, to load it again on reload.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub env: HashMap<String, String>,
    pub overrides: Overrides,
}

/// What the daemon's tasks share: the running config and where it came from. What the HTTP
/// side reads is in [`Status`], which the daemon writes.
struct Context {
    source: ConfigSource,
    config: RwLock<Arc<Config>>,
    status: Arc<Status>,
    sources: RwLock<Arc<Sources>>,
    audits_started: AtomicU64,
    /// Whether a full disk under the alert state was already alerted in this process.
    store_health: deliver::StoreHealth,
    clock: Clock,
    /// What the last completed audit audited (`None` before the first), sent at the end of
    /// every audit (completed or not), for [`follow_git`] to compare a fetched commit with.
    last_audit: watch::Sender<Option<Audited>>,
    /// Wakes [`follow_git`] after a reload, as `poll_interval` may have changed.
    git_reconfigured: Notify,
}

/// What an audit audited.
#[derive(Clone, Debug)]
struct Audited {
    /// `None` when the repository could not be synced.
    commit: Option<String>,
}

impl Context {
    fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock").clone()
    }

    /// Loads the config file again; an invalid one is rejected and the running one kept.
    pub async fn reload(&self) -> Result<(), String> {
        let source = self.source.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&source.path, &source.env, &source.overrides))
            .await
            .map_err(|e| e.to_string())?;
        match loaded {
            Ok(new) => {
                let old = self.config();
                if new.server.listen != old.server.listen || new.ha.is_some() != old.ha.is_some() {
                    warn!("server.listen and [ha] changes take effect on restart");
                }
                self.status.set_audit_timeout(new.schedule.audit_timeout);
                self.status.set_git_hooks(&new);
                let current = self.sources.read().expect("sources lock").clone();
                let sources = Arc::new(current.reload(&new).await);
                *self.sources.write().expect("sources lock") = sources;
                *self.config.write().expect("config lock") = Arc::new(new);
                self.git_reconfigured.notify_waiters();
                self.status.metrics.reloaded(true);
                info!(config = %self.source.path.display(), "config reloaded");
                Ok(())
            }
            Err(e) => {
                self.status.metrics.reloaded(false);
                error!(error = %e, "new config rejected; the running config is kept");
                Err(e.to_string())
            }
        }
    }

    /// One audit and its alerts, under a span carrying the audit id.
    async fn audit(self: Arc<Self>) {
        if !self.status.is_leader() {
            debug!("not the leader: this audit is left to the leader");
            // Whoever waits for the end of an audit is told it is over.
            self.last_audit.send_modify(|_| {});
            return;
        }
        let cfg = self.config();
        let sources = self.sources.read().expect("sources lock").clone();
        let n = self.audits_started.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{}-{n}", self.clock.now().format("%Y%m%dT%H%M%SZ"));
        let span = info_span!("audit", audit_id = %id);
        async {
            self.status.audit_started();
            let mut audited = None;
            info!("audit started");
            let started = Instant::now();
            let work = async {
                let (report, timings) = audit::run_timed(&cfg, &sources, &[]).await;
                let notified = if cfg.alerts.channels.is_empty() {
                    None
                } else {
                    Some(deliver::notify(&cfg, &report, self.clock.now(), &self.store_health).await)
                };
                (report, timings, notified)
            };
            match tokio::time::timeout(cfg.schedule.audit_timeout, work).await {
                Ok((report, timings, notified)) => {
                    self.status.metrics.audit(&report, &timings, started.elapsed());
                    match notified {
                        Some(Ok(outcome)) => {
                            for failure in &outcome.failed {
                                if let NotifyError::Delivery { channel, .. } = failure {
                                    self.status.metrics.notification_failed(channel);
                                }
                            }
                        }
                        Some(Err(e)) => error!(error = %e, "alert state unavailable: no alerts sent this run"),
                        None => {}
                    }
                    audited = Some(Audited {
                        commit: report.gitops.commit.clone(),
                    });
                    self.status.audit_completed(report.to_json());
                    info!(
                        findings = report.summary.findings,
                        errors = report.summary.errors,
                        duration_ms = started.elapsed().as_millis() as u64,
                        "audit finished"
                    );
                }
                Err(_) => {
                    self.status.metrics.audit_timed_out(started.elapsed());
                    error!(timeout = %humantime::format_duration(cfg.schedule.audit_timeout), "audit exceeded audit_timeout and was abandoned");
                }
            }
            self.status.audit_ended();
            // After audit_ended, so that whoever is woken sees no audit running. An abandoned
            // audit leaves the last commit as it was, and is still announced.
            self.last_audit.send_modify(|last| {
                if let Some(a) = audited {
                    *last = Some(a);
                }
            });
        }
        .instrument(span)
        .await
    }
}

/// Runs the daemon until `shutdown` is cancelled, serving HTTP on `listener`, which the caller
/// binds (the command line binds `server.listen`; tests bind port 0), as mini-redis's
/// `server::run(listener, signal)`. `reloads` carries reload requests (SIGHUP,
/// `POST /-/reload`).
pub async fn run(
    cfg: Config,
    source: ConfigSource,
    reloads: ReloadRequests,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listen = listener
        .local_addr()
        .map_or_else(|_| cfg.server.listen.to_string(), |a| a.to_string());
    let clock = Clock::new();
    let background = TaskTracker::new();
    let (leader_tx, leader_rx) = watch::channel(cfg.ha.is_none());
    let elector = match &cfg.ha {
        Some(ha) => Some(Elector::new(ha).await?),
        None => None,
    };
    let grace = cfg.schedule.shutdown_grace;
    info!(%listen, cron = %cfg.schedule.cron, timezone = %cfg.schedule.timezone, ha = cfg.ha.is_some(), "driftwatch daemon started");
    let sources = Sources::new(&cfg).await;
    let (git_fetch, git_fetches) = fetch_channel();
    let status = Arc::new(Status::new(
        Metrics::new(),
        cfg.ha.is_none(),
        cfg.schedule.audit_timeout,
        reloads.handle(),
        git_fetch,
    ));
    status.set_git_hooks(&cfg);
    let cx = Arc::new(Context {
        source,
        sources: RwLock::new(Arc::new(sources)),
        config: RwLock::new(Arc::new(cfg)),
        status: status.clone(),
        audits_started: AtomicU64::new(0),
        store_health: deliver::StoreHealth::default(),
        clock,
        last_audit: watch::channel(None).0,
        git_reconfigured: Notify::new(),
    });

    let app = http::router(status);
    let stop = shutdown.clone();
    background.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    match elector {
        Some(elector) => {
            background.spawn(elector.run(clock, leader_tx, shutdown.clone()));
        }
        None => drop(leader_tx),
    }
    let audits = TaskTracker::new();
    let guard = Guard::default();
    let start = start_audit(cx.clone(), guard.clone(), audits.clone(), shutdown.clone());
    background.spawn(follow_leadership(cx.clone(), start.clone(), leader_rx));
    let scheduler = Scheduler::start(cx.config().schedule.clone(), start.clone())
        .await
        .context("starting the scheduler")?;
    background.spawn(serve_reloads(cx.clone(), scheduler.clone(), reloads, shutdown.clone()));
    background.spawn(follow_git(
        cx.clone(),
        guard,
        audits.clone(),
        git_fetches,
        shutdown.clone(),
    ));
    if cx.config().schedule.run_on_start {
        start();
    }

    shutdown.cancelled().await;
    scheduler.stop().await;
    info!("shutting down: no new audits");
    drain(audits, grace).await;
    background.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), background.wait()).await;
    info!("stopped");
    Ok(())
}

/// Follows leadership into the status. A replica that becomes leader audits at once when
/// run_on_start is set: at start it was still a follower when the start-up audit was due, and
/// after a failover the fleet should not wait for the next fire to be watched again.
async fn follow_leadership(cx: Arc<Context>, start: OnFire, mut leader: watch::Receiver<bool>) {
    while leader.changed().await.is_ok() {
        let leads = *leader.borrow();
        cx.status.set_leader(leads);
        info!(leader = leads, "leadership changed");
        if leads && cx.config().schedule.run_on_start {
            start();
        }
    }
}

/// Lets a running audit finish within `grace`.
async fn drain(audits: TaskTracker, grace: Duration) {
    audits.close();
    let running = !audits.is_empty();
    if tokio::time::timeout(grace, audits.wait()).await.is_err() {
        warn!(grace = %humantime::format_duration(grace), "the running audit did not finish within shutdown_grace; exiting without it");
    } else if running {
        info!("running audit finished");
    }
}

/// What a fire of the schedule does: start an audit on `audits` unless one is running (then
/// the fire is a skip, counted), and nothing once shutting down.
fn start_audit(cx: Arc<Context>, guard: Guard, audits: TaskTracker, stop: CancellationToken) -> OnFire {
    Arc::new(move || {
        if stop.is_cancelled() {
            return;
        }
        if !guard.try_start(&audits, || cx.clone().audit()) {
            cx.status.metrics.skipped();
            warn!("the previous audit is still running: this scheduled audit is skipped");
        }
    })
}

/// Answers reload requests one at a time until `stop`; a valid new config replaces the
/// schedule too.
async fn serve_reloads(
    cx: Arc<Context>,
    scheduler: Arc<Scheduler>,
    mut reloads: ReloadRequests,
    stop: CancellationToken,
) {
    loop {
        let reply = tokio::select! {
            () = stop.cancelled() => break,
            request = reloads.next() => match request {
                Some(reply) => reply,
                None => break,
            },
        };
        let outcome = cx.reload().await;
        if outcome.is_ok() {
            scheduler.replace(cx.config().schedule.clone()).await;
        }
        // Nobody may wait for the outcome (SIGHUP): it is logged either way.
        let _ = reply.send(outcome);
    }
}

/// Why the repository is fetched between audits, as the metrics and logs say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FetchTrigger {
    Poll,
    Webhook,
}

impl FetchTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::Webhook => "webhook",
        }
    }
}

/// Fetches the GitOps repository every `poll_interval` and when a push webhook asks, and starts
/// an audit when the fetched commit is not the one the last audit audited. The next poll is
/// one interval after the last fetch ended (a webhook's fetch included), so missed intervals
/// do not pile up. A failed fetch is logged and counted, never alerted by itself: the next
/// audit reports the repository error as any audit does. Only the leader fetches.
///
/// Before the first audit there is nothing to compare with: the first poll only notes the
/// commit (when to audit first stays with the schedule and `run_on_start`), a later poll that
/// finds another commit audits it, and a webhook audits unless the commit is the one noted.
async fn follow_git(
    cx: Arc<Context>,
    guard: Guard,
    audits: TaskTracker,
    requests: FetchRequests,
    stop: CancellationToken,
) {
    let mut last_audit = cx.last_audit.subscribe();
    let mut noted: Option<String> = None;
    let mut last_fetch = Instant::now();
    loop {
        let poll = cx.config().git_updates.poll_interval;
        let next_poll = async {
            match poll {
                Some(every) => tokio::time::sleep_until(last_fetch + every).await,
                None => std::future::pending().await,
            }
        };
        let trigger = tokio::select! {
            () = stop.cancelled() => return,
            () = cx.git_reconfigured.notified() => continue,
            () = requests.next() => FetchTrigger::Webhook,
            () = next_poll => FetchTrigger::Poll,
        };
        let cfg = cx.config();
        if !cx.status.is_leader() || !matches!(cfg.gitops, GitopsConfig::Remote { .. }) {
            last_fetch = Instant::now();
            continue;
        }
        // A running audit fetched for itself; resetting the working tree under it could change
        // what it reads (the ignore file). What it audited is compared with afterwards.
        if !audit_over(&cx, &mut last_audit, &stop).await {
            return;
        }
        let started = Instant::now();
        let gitops = cfg.gitops.clone();
        let fetched = tokio::select! {
            () = stop.cancelled() => return,
            joined = tokio::task::spawn_blocking(move || git::sync(&gitops)) => {
                joined.map_err(|e| format!("git task failed: {e}")).and_then(|r| r.map_err(|e| e.to_string()))
            }
        };
        last_fetch = Instant::now();
        let took = started.elapsed();
        let commit = match fetched {
            Ok(checkout) => checkout.commit.unwrap_or_default(),
            Err(e) => {
                cx.status.metrics.git_fetched(trigger.as_str(), "error", took);
                warn!(trigger = trigger.as_str(), error = %e, "git fetch failed; the next audit reports it if it lasts");
                continue;
            }
        };
        let last = last_audit.borrow().clone();
        let changed = match (last, trigger) {
            (Some(audited), _) => audited.commit.as_deref() != Some(commit.as_str()),
            (None, FetchTrigger::Poll) => noted.replace(commit.clone()).is_some_and(|n| n != commit),
            (None, FetchTrigger::Webhook) => noted.replace(commit.clone()).is_none_or(|n| n != commit),
        };
        let result = if changed { "new_commit" } else { "unchanged" };
        cx.status.metrics.git_fetched(trigger.as_str(), result, took);
        if changed {
            info!(trigger = trigger.as_str(), %commit, "new commit in the GitOps repository: auditing");
            audit_commit(&cx, &guard, &audits, &mut last_audit, &commit, &stop).await;
        } else {
            debug!(trigger = trigger.as_str(), %commit, "no new commit");
        }
    }
}

/// Waits until no audit runs; false when shutting down.
async fn audit_over(cx: &Context, last_audit: &mut watch::Receiver<Option<Audited>>, stop: &CancellationToken) -> bool {
    loop {
        // Marked seen before looking, so that an audit ending in between still wakes us.
        last_audit.borrow_and_update();
        if !cx.status.audit_running() {
            return true;
        }
        tokio::select! {
            () = stop.cancelled() => return false,
            changed = last_audit.changed() => if changed.is_err() { return false },
        }
    }
}

/// Starts an audit through the no-overlap guard. When one is already running (the schedule
/// fired meanwhile) it fetched for itself: once it ends, another starts only if it did not
/// audit `commit`, so a push is never lost to a skipped start.
async fn audit_commit(
    cx: &Arc<Context>,
    guard: &Guard,
    audits: &TaskTracker,
    last_audit: &mut watch::Receiver<Option<Audited>>,
    commit: &str,
    stop: &CancellationToken,
) {
    loop {
        last_audit.borrow_and_update();
        if stop.is_cancelled() || guard.try_start(audits, || cx.clone().audit()) {
            return;
        }
        let audited = last_audit.borrow().as_ref().and_then(|a| a.commit.clone());
        if audited.as_deref() == Some(commit) {
            return;
        }
        if cx.status.audit_running() {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = last_audit.changed() => if changed.is_err() { return },
            }
        } else {
            // The guard is taken by an audit not yet started or just ended: a moment.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
