//! One audit and its alerts: planned from its coverage, bounded by `audit_timeout`, merged into
//! the full picture, notified, recorded in the history, and shown through the read model.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tracing::{Instrument, error, info, info_span};

use super::context::{Context, Setup};
use super::event_loop::{Coverage, LastAudit};
use crate::app::audit::{self, Plan, Timings};
use crate::app::deliver::{self, NotifyError};
use crate::app::status::Update;
use crate::core::report::Report;
use crate::sources::cluster::watch::ClusterWatch;

/// Hands memory the allocator holds free back to the system. An audit's transient data (a cold
/// render of a fleet, a copy of a watched cluster) is freed when it ends, but glibc keeps it in
/// its per-thread arenas: the daemon's resident memory would stay at its highest point.
#[allow(unsafe_code)]
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the heap to the system; it has no
    // preconditions and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What a completed audit produced.
type Outcome = (Report, Timings, Result<deliver::Outcome, NotifyError>);

impl Context {
    /// One audit and its alerts, under a span carrying the audit id: what it audited, or
    /// `None` when it was abandoned at `audit_timeout`.
    pub async fn audit(self: Arc<Self>, coverage: Coverage) -> Option<LastAudit> {
        // A scheduled audit, and one for a new commit or a watched Application change, see
        // what the Applications say now.
        if matches!(coverage, Coverage::Full | Coverage::Fetched) {
            self.rediscover().await;
        }
        let setup = self.setup();
        match &coverage {
            Coverage::Fetched => self.await_watch_sync(&setup).await,
            // The full re-list is where a watch a 403 stopped (ConfigMaps under `auto`) is
            // tried again.
            Coverage::Full => self.watched().values().for_each(|w| w.retry_refused()),
            Coverage::Environments(_) => {}
        }
        let plan = self.plan(&coverage);
        let n = self.audits_started.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{}-{n}", self.clock.now().format("%Y%m%dT%H%M%SZ"));
        let span = info_span!("audit", audit_id = %id);
        self.audit_planned(&setup, plan).instrument(span).await
    }

    /// A new leader syncs, then audits: the stores answer instead of a second full list.
    async fn await_watch_sync(&self, setup: &Setup) {
        let watched: Vec<Arc<ClusterWatch>> = self.watched().into_values().collect();
        let synced = async {
            for w in &watched {
                w.wait_synced().await;
            }
        };
        // Bounded like one API call: a watch that does not sync in that time (an API server
        // that does not answer) leaves its clusters to be listed, as before watch mode.
        let _ = tokio::time::timeout(setup.config.audit.kube_timeout, synced).await;
    }

    async fn audit_planned(&self, setup: &Setup, plan: Plan) -> Option<LastAudit> {
        let cfg = &setup.config;
        self.state.apply(Update::AuditStarted);
        info!("audit started");
        let started = Instant::now();
        let audited = match tokio::time::timeout(cfg.schedule.audit_timeout, self.work(setup, plan)).await {
            Ok(outcome) => Some(self.completed(setup, outcome, started)),
            Err(_) => {
                self.state.metrics.audit_timed_out(started.elapsed());
                error!(timeout = %humantime::format_duration(cfg.schedule.audit_timeout), "audit exceeded audit_timeout and was abandoned");
                None
            }
        };
        self.state.apply(Update::AuditEnded);
        release_free_memory();
        audited
    }

    /// The audit itself, its alerts and its history.
    async fn work(&self, setup: &Setup, plan: Plan) -> Outcome {
        let cfg = &setup.config;
        let partial = !plan.only.is_empty();
        let audited = audit::run_planned(cfg, &setup.sources, &plan).await;
        let timings = audited.timings.clone();
        let now = self.clock.now();
        let dir = audited.snapshot.as_ref().map(|s| s.checkout.dir.clone());
        let (mut report, quiet) = self.remember(cfg, audited, partial, now);
        report.retired = std::mem::take(&mut *self.retired.lock().expect("retired lock"));
        // Without channels too: the alert state is where drift episodes (DORA's hotfixes,
        // the page's "first seen") are recorded; nothing is sent then.
        let notified = deliver::notify_quiet(cfg, &setup.store, &report, &quiet, now, &self.store_health).await;
        self.record_history(setup, &report, dir.as_deref(), now).await;
        (report, timings, notified)
    }

    /// Counts and shows a completed audit.
    fn completed(&self, setup: &Setup, (report, timings, notified): Outcome, started: Instant) -> LastAudit {
        self.state.metrics.audit(&report, &timings, started.elapsed());
        match notified {
            Ok(outcome) => {
                for failure in &outcome.failed {
                    if let NotifyError::Delivery { channel, .. } = failure {
                        self.state.metrics.notification_failed(channel);
                    }
                }
            }
            Err(e) => error!(error = %e, "alert state unavailable: no alerts sent this run"),
        }
        let audited = LastAudit {
            commit: report.gitops.commit.clone(),
        };
        let json = report.to_json();
        let (findings, errors) = (report.summary.findings, report.summary.errors);
        self.state.apply(Update::AuditCompleted {
            report: Arc::new(report),
            json,
            cfg: setup.config.clone(),
        });
        info!(
            findings,
            errors,
            duration_ms = started.elapsed().as_millis() as u64,
            "audit finished"
        );
        audited
    }
}
