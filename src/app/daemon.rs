//! The service: audits on the configured schedule (only while leader when HA is on), each audit
//! bounded by `audit_timeout` and followed by alert delivery; serves the HTTP endpoint; reloads
//! the config on request, keeping the running one when the new one is invalid. When `shutdown`
//! is cancelled it stops scheduling, lets a running audit finish within `shutdown_grace`, and
//! returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::alerts::deliver::{self, NotifyError};
use crate::app::leader::Elector;
use crate::app::metrics::Metrics;
use crate::app::schedule::{Guard, OnFire, Scheduler};
use crate::app::status::{ReloadRequests, Status};
use crate::app::{audit, http};
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::sources::Sources;

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
                let current = self.sources.read().expect("sources lock").clone();
                let sources = Arc::new(current.reload(&new).await);
                *self.sources.write().expect("sources lock") = sources;
                *self.config.write().expect("config lock") = Arc::new(new);
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
            return;
        }
        let cfg = self.config();
        let sources = self.sources.read().expect("sources lock").clone();
        let n = self.audits_started.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{}-{n}", self.clock.now().format("%Y%m%dT%H%M%SZ"));
        let span = info_span!("audit", audit_id = %id);
        async {
            self.status.audit_started();
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
    let status = Arc::new(Status::new(
        Metrics::new(),
        cfg.ha.is_none(),
        cfg.schedule.audit_timeout,
        reloads.handle(),
    ));
    let cx = Arc::new(Context {
        source,
        sources: RwLock::new(Arc::new(sources)),
        config: RwLock::new(Arc::new(cfg)),
        status: status.clone(),
        audits_started: AtomicU64::new(0),
        store_health: deliver::StoreHealth::default(),
        clock,
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
    let start = start_audit(cx.clone(), audits.clone(), shutdown.clone());
    background.spawn(follow_leadership(cx.clone(), start.clone(), leader_rx));
    let scheduler = Scheduler::start(cx.config().schedule.clone(), start.clone())
        .await
        .context("starting the scheduler")?;
    background.spawn(serve_reloads(cx.clone(), scheduler.clone(), reloads, shutdown.clone()));
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
fn start_audit(cx: Arc<Context>, audits: TaskTracker, stop: CancellationToken) -> OnFire {
    let guard = Guard::default();
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
