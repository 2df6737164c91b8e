//! The service: audits on the configured schedule (only while leader when HA is on), each audit
//! bounded by `audit_timeout` and followed by alert delivery; serves the HTTP endpoint; reloads
//! the config on request, keeping the running one when the new one is invalid. When `shutdown`
//! is cancelled it stops scheduling, lets a running audit finish within `shutdown_grace`, and
//! returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::alerts::deliver::{self, NotifyError};
use crate::app::leader::Elector;
use crate::app::metrics::Metrics;
use crate::app::{audit, http as server, schedule};
use crate::clock::Clock;
use crate::config::{Config, Overrides, ScheduleConfig};
use crate::sources::Sources;

/// Where the config comes from, to load it again on reload.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub env: HashMap<String, String>,
    pub overrides: Overrides,
}

/// State shared by the scheduler, the audits and the HTTP handlers.
pub struct Shared {
    source: ConfigSource,
    config: RwLock<Arc<Config>>,
    sources: RwLock<Arc<Sources>>,
    schedule: watch::Sender<ScheduleConfig>,
    pub metrics: Metrics,
    report: RwLock<Option<Arc<String>>>,
    running_since: Mutex<Option<Instant>>,
    completed: AtomicU64,
    audits_started: AtomicU64,
    leader: watch::Receiver<bool>,
    clock: Clock,
}

impl Shared {
    fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock").clone()
    }

    pub fn latest_report(&self) -> Option<Arc<String>> {
        self.report.read().expect("report lock").clone()
    }

    /// Ready: config loaded and an audit completed or under way, none stuck past its timeout.
    /// A follower is ready: it serves metrics and stands by.
    pub fn readiness(&self) -> Result<String, String> {
        if !*self.leader.borrow() {
            return Ok("follower, standing by".into());
        }
        let timeout = self.config().schedule.audit_timeout;
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
                let current = self.sources.read().expect("sources lock").clone();
                let sources = Arc::new(current.reload(&new).await);
                *self.sources.write().expect("sources lock") = sources;
                self.schedule.send_replace(new.schedule.clone());
                *self.config.write().expect("config lock") = Arc::new(new);
                self.metrics.reloaded(true);
                info!(config = %self.source.path.display(), "config reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.reloaded(false);
                error!(error = %e, "new config rejected; the running config is kept");
                Err(e.to_string())
            }
        }
    }

    /// One audit and its alerts, under a span carrying the audit id.
    async fn audit(self: Arc<Self>) {
        if !*self.leader.borrow() {
            debug!("not the leader: this audit is left to the leader");
            return;
        }
        let cfg = self.config();
        let sources = self.sources.read().expect("sources lock").clone();
        let n = self.audits_started.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{}-{n}", self.clock.now().format("%Y%m%dT%H%M%SZ"));
        let span = info_span!("audit", audit_id = %id);
        async {
            *self.running_since.lock().expect("running lock") = Some(Instant::now());
            info!("audit started");
            let started = Instant::now();
            let work = async {
                let (report, timings) = audit::run_timed(&cfg, &sources, &[]).await;
                let notified = if cfg.alerts.channels.is_empty() {
                    None
                } else {
                    Some(deliver::notify(&cfg, &report, self.clock.now()).await)
                };
                (report, timings, notified)
            };
            match tokio::time::timeout(cfg.schedule.audit_timeout, work).await {
                Ok((report, timings, notified)) => {
                    self.metrics.audit(&report, &timings, started.elapsed());
                    match notified {
                        Some(Ok(outcome)) => {
                            for failure in &outcome.failed {
                                if let NotifyError::Delivery { channel, .. } = failure {
                                    self.metrics.notification_failed(channel);
                                }
                            }
                        }
                        Some(Err(e)) => error!(error = %e, "alert state unavailable: no alerts sent this run"),
                        None => {}
                    }
                    *self.report.write().expect("report lock") = Some(Arc::new(report.to_json()));
                    self.completed.fetch_add(1, Ordering::SeqCst);
                    info!(
                        findings = report.summary.findings,
                        errors = report.summary.errors,
                        duration_ms = started.elapsed().as_millis() as u64,
                        "audit finished"
                    );
                }
                Err(_) => {
                    self.metrics.audit_timed_out(started.elapsed());
                    error!(timeout = %humantime::format_duration(cfg.schedule.audit_timeout), "audit exceeded audit_timeout and was abandoned");
                }
            }
            *self.running_since.lock().expect("running lock") = None;
        }
        .instrument(span)
        .await
    }
}

/// Runs the daemon until `shutdown` is cancelled. `reloads` carries reload requests (SIGHUP).
pub async fn run(
    cfg: Config,
    source: ConfigSource,
    shutdown: CancellationToken,
    mut reloads: mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("server.listen {}: cannot listen", cfg.server.listen))?;
    let clock = Clock::new();
    let background = TaskTracker::new();
    let (leader_tx, leader_rx) = watch::channel(cfg.ha.is_none());
    let elector = match &cfg.ha {
        Some(ha) => Some(Elector::new(ha).await?),
        None => None,
    };
    let (schedule_tx, schedule_rx) = watch::channel(cfg.schedule.clone());
    let metrics = Metrics::new();
    metrics.set_leader(cfg.ha.is_none());
    let grace = cfg.schedule.shutdown_grace;
    info!(listen = %cfg.server.listen, cron = %cfg.schedule.cron, timezone = %cfg.schedule.timezone, ha = cfg.ha.is_some(), "driftwatch daemon started");
    let sources = Sources::new(&cfg).await;
    let shared = Arc::new(Shared {
        source,
        sources: RwLock::new(Arc::new(sources)),
        config: RwLock::new(Arc::new(cfg)),
        schedule: schedule_tx,
        metrics,
        report: RwLock::new(None),
        running_since: Mutex::new(None),
        completed: AtomicU64::new(0),
        audits_started: AtomicU64::new(0),
        leader: leader_rx.clone(),
        clock,
    });

    let app = server::router(shared.clone());
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
    // A replica that becomes leader audits at once when run_on_start is set: at start it was
    // still a follower when the schedule's start-up audit fired, and after a failover the
    // fleet should not wait for the next fire to be watched again.
    let (run_now_tx, run_now_rx) = mpsc::channel(1);
    {
        let (shared, mut leader) = (shared.clone(), leader_rx);
        background.spawn(async move {
            while leader.changed().await.is_ok() {
                let leads = *leader.borrow();
                shared.metrics.set_leader(leads);
                info!(leader = leads, "leadership changed");
                if leads && shared.config().schedule.run_on_start {
                    let _ = run_now_tx.try_send(());
                }
            }
        });
    }
    {
        let (shared, stop) = (shared.clone(), shutdown.clone());
        background.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    request = reloads.recv() => match request {
                        Some(()) => { let _ = shared.reload().await; }
                        None => break,
                    },
                }
            }
        });
    }

    let audits = TaskTracker::new();
    let job = {
        let shared = shared.clone();
        move || shared.clone().audit()
    };
    let on_skip = || {
        shared.metrics.skipped();
        warn!("the previous audit is still running: this scheduled audit is skipped");
    };
    schedule::run(
        schedule_rx,
        clock,
        shutdown.clone(),
        audits.clone(),
        run_now_rx,
        job,
        on_skip,
    )
    .await;

    info!("shutting down: no new audits");
    audits.close();
    if tokio::time::timeout(grace, audits.wait()).await.is_err() {
        warn!(grace = %humantime::format_duration(grace), "the running audit did not finish within shutdown_grace; exiting without it");
    } else if !audits.is_empty() {
        info!("running audit finished");
    }
    background.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), background.wait()).await;
    info!("stopped");
    Ok(())
}
