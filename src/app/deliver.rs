//! Delivers alerts: records what the audit saw in the store's alert state, sends each channel
//! what it is owed (Slack, email, webhook, Alertmanager), and records each delivery as soon as
//! the channel took it, so a crash or `kill -9` re-sends at most the notices in flight. Each
//! notice is claimed in the store before it is sent, so two processes sharing the store never
//! both send it. A failing channel is retried with backoff within the run and owed again on the
//! next run; it never stops the others. While the store cannot be used (a full disk, a database
//! down or read-only), no notices are sent (they could not be remembered, so every run would
//! send them again); one alert per outage says so instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::{error, info, warn};

use crate::alerts::channels::{Batch, Channel, ChannelError};
use crate::config::{ChannelConfig, Config, DeliveryConfig};
use crate::core::alert_lifecycle::{Event, Notice, Policy, Route, Subject};
use crate::core::report::Report;
use crate::retry::{ClientError, http_client};
use crate::store::state_file;
use crate::store::{Store, StoreError, StoreHandle};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("channel {channel}: {reason}")]
    Delivery {
        channel: String,
        #[source]
        reason: ChannelError,
    },
    #[error("alerts: {0}")]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one notify step did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// (channel, notices delivered)
    pub delivered: Vec<(String, usize)>,
    /// Channels that failed; their notices are owed on the next run.
    pub failed: Vec<NotifyError>,
    pub warnings: Vec<String>,
}

pub fn routes(channels: &[ChannelConfig]) -> Vec<Route<'_>> {
    channels
        .iter()
        .map(|c| Route {
            channel: &c.name,
            environments: c.environments.as_deref(),
            min_severity: c.min_severity,
            every_run: c.kind.settings().every_run(),
        })
        .collect()
}

/// Whether this process already told the channels that the store cannot be used. The marker
/// file beside the `[state]` path ([`state_file::claim_unwritable`]) makes an outage one alert
/// across processes; this covers the case where not even that empty file can be created, for the
/// daemon's lifetime. `--once` makes its own.
#[derive(Debug, Default)]
pub struct StoreHealth {
    unwritable_alerted: AtomicBool,
}

/// Records `report` in the alert state and delivers what every channel is owed.
pub async fn notify(
    cfg: &Config,
    store: &StoreHandle,
    report: &Report,
    now: DateTime<Utc>,
    health: &StoreHealth,
) -> Result<Outcome, NotifyError> {
    notify_quiet(cfg, store, report, &BTreeSet::new(), now, health).await
}

/// [`notify`], holding back the findings in `quiet` (see
/// [`crate::core::alert_lifecycle::AlertState::observe_quiet`]).
pub async fn notify_quiet(
    cfg: &Config,
    store: &StoreHandle,
    report: &Report,
    quiet: &BTreeSet<String>,
    now: DateTime<Utc>,
    health: &StoreHealth,
) -> Result<Outcome, NotifyError> {
    // As the store keeps times, so that a notice computed here matches its row when claimed.
    let now = crate::store::truncate(now);
    let client = http_client(cfg.alerts.delivery.timeout)?;
    // Nothing is sent that could not be remembered as sent.
    let unusable = |e: StoreError| store_outage(cfg, report, now, &client, health, e);
    let mut outcome = Outcome::default();
    let store = match store.get().await {
        Ok((store, note)) => {
            if let Some(note) = note {
                warn!("{note}");
                outcome.warnings.push(note);
            }
            store
        }
        Err(e) => return Err(unusable(e).await),
    };
    let routes = routes(&cfg.alerts.channels);
    let policy = Policy {
        renotify_after: cfg.alerts.renotify_after,
        send_resolved: cfg.alerts.send_resolved,
    };
    let alert_state = match store.update_alerts(report, quiet, &routes, policy, now).await {
        Ok(s) => s,
        Err(e) => return Err(unusable(e).await),
    };
    store_usable_again(cfg, &store, health);
    let due = alert_state.due(&routes, policy, now);
    let run = Run {
        store: &store,
        report,
        policy,
        now,
        lease: lease(cfg.alerts.delivery),
    };
    run.deliver_due(cfg, &routes, &due, &client, outcome).await
}

/// The store failed: on the outage's first failure (across processes through the marker file
/// beside the `[state]` path, else for this process), the one alert that says so; the error to
/// return.
async fn store_outage(
    cfg: &Config,
    report: &Report,
    now: DateTime<Utc>,
    client: &reqwest::Client,
    health: &StoreHealth,
    e: StoreError,
) -> NotifyError {
    let outage = state_file::claim_unwritable(&cfg.state.path);
    let first = match &outage {
        state_file::Outage::New => {
            health.unwritable_alerted.store(true, Ordering::SeqCst);
            true
        }
        state_file::Outage::Known => false,
        state_file::Outage::Unrecorded(_) => !health.unwritable_alerted.swap(true, Ordering::SeqCst),
    };
    if first {
        let hint = match outage {
            state_file::Outage::Unrecorded(hint) => Some(hint),
            _ => None,
        };
        store_unusable(cfg, report, now, client, &e, hint.as_deref()).await;
    }
    NotifyError::from(e)
}

/// The store took the audit: an outage is over, and the next one is alerted again.
fn store_usable_again(cfg: &Config, store: &Store, health: &StoreHealth) {
    state_file::clear_unwritable(&cfg.state.path);
    if health.unwritable_alerted.swap(false, Ordering::SeqCst) {
        info!(store = %store.name(), "the store can be written again; alerts resume");
    }
}

/// What every channel's delivery in one notify step shares.
struct Run<'a> {
    store: &'a Store,
    report: &'a Report,
    policy: Policy,
    now: DateTime<Utc>,
    lease: std::time::Duration,
}

/// One channel's delivery: the channel, how many notices it was sent, and whether it took them.
type Sent<'c> = (&'c ChannelConfig, usize, Result<(), ChannelError>);

impl Run<'_> {
    /// Delivers to every channel the notices `due` to it, concurrently; what was delivered and
    /// which channels failed, added to `outcome`. A store error fails the step, after every
    /// send has finished.
    async fn deliver_due(
        &self,
        cfg: &Config,
        routes: &[Route<'_>],
        due: &BTreeMap<String, Vec<Notice>>,
        client: &reqwest::Client,
        mut outcome: Outcome,
    ) -> Result<Outcome, NotifyError> {
        // Each send records its own outcome: a recording awaited outside the stream would leave
        // the other sends unpolled, one of them possibly inside its claim's write transaction.
        let mut sends: futures::stream::FuturesUnordered<_> = cfg
            .alerts
            .channels
            .iter()
            .zip(routes)
            .filter_map(|(channel, route)| {
                let notices = due.get(&channel.name)?;
                let notifier = notifier(channel, client, cfg.alerts.delivery);
                Some(self.deliver(channel, route, notices, notifier))
            })
            .collect();
        let mut store_error = None;
        while let Some(result) = sends.next().await {
            match result {
                Err(e) => {
                    store_error.get_or_insert(e);
                }
                Ok((_, 0, _)) => {}
                Ok((channel, n, Ok(()))) => outcome.delivered.push((channel.name.clone(), n)),
                Ok((channel, _, Err(reason))) => outcome.failed.push(NotifyError::Delivery {
                    channel: channel.name.clone(),
                    reason,
                }),
            }
        }
        match store_error {
            Some(e) => Err(e.into()),
            None => Ok(outcome),
        }
    }

    /// Claims `notices` for `channel`, sends what it claimed, and records the delivery, or
    /// releases the claim when the channel failed so that the next run owes them again.
    async fn deliver<'c>(
        &self,
        channel: &'c ChannelConfig,
        route: &Route<'_>,
        notices: &[Notice],
        notifier: Box<dyn Channel>,
    ) -> Result<Sent<'c>, StoreError> {
        let claimed = self
            .store
            .claim(route, notices, self.policy, self.now, self.lease)
            .await?;
        if claimed.is_empty() {
            return Ok((channel, 0, Ok(())));
        }
        let batch = Batch {
            notices: &claimed,
            report: self.report,
            now: self.now,
            test: false,
        };
        match notifier.send(&batch).await {
            Ok(()) => {
                info!(channel = %channel.name, notices = claimed.len(), "alerts delivered");
                // Sent but not recorded: its claim keeps others from sending it again
                // until the claim expires.
                self.store
                    .delivered(&channel.name, &claimed, self.now)
                    .await
                    .inspect_err(|e| {
                        error!(channel = %channel.name, error = %e, "delivered alerts could not be recorded");
                    })?;
                Ok((channel, claimed.len(), Ok(())))
            }
            Err(reason) => {
                warn!(channel = %channel.name, error = %reason, "alert delivery failed; will retry on the next run");
                self.store.release(&channel.name, &claimed).await?;
                Ok((channel, claimed.len(), Err(reason)))
            }
        }
    }
}

/// How long a claim on a notice lasts: longer than the slowest delivery (every attempt timing
/// out, with the longest backoff between), so a live sender keeps it; a dead one's claim
/// expires after that (at once when its host sees it is gone).
fn lease(d: DeliveryConfig) -> std::time::Duration {
    let attempts = d.max_attempts.max(1);
    d.timeout * attempts + d.backoff_max * (attempts - 1) + std::time::Duration::from_secs(60)
}

/// The one alert, to every channel whatever its routing, that the store cannot be used: it
/// names the store and the error, and says that alerts are held back until it can; with
/// `unrecorded`, why it is sent again by every process and what to do about it.
async fn store_unusable(
    cfg: &Config,
    report: &Report,
    now: DateTime<Utc>,
    client: &reqwest::Client,
    e: &StoreError,
    unrecorded: Option<&str>,
) {
    let mut error = format!(
        "{e}. No new alerts are sent until the store can be written again (nothing is lost: what is owed is sent then, nothing twice)"
    );
    if let Some(hint) = unrecorded {
        error.push_str(". ");
        error.push_str(hint);
    }
    match unrecorded {
        Some(hint) => error!(error = %e, fix = %hint, "the store cannot be used: no alerts are sent until it can"),
        None => error!(error = %e, "the store cannot be used: no alerts are sent until it can"),
    }
    let notice = Notice {
        event: Event::Firing,
        fingerprint: "driftwatch-alert-state".into(),
        subject: Subject::AuditError {
            environment: "driftwatch".into(),
            cluster: "-".into(),
            error,
        },
        first_seen: now,
        resolved_at: None,
    };
    let notices = [notice];
    for channel in &cfg.alerts.channels {
        let batch = Batch {
            notices: &notices,
            report,
            now,
            test: false,
        };
        if let Err(reason) = notifier(channel, client, cfg.alerts.delivery).send(&batch).await {
            warn!(channel = %channel.name, error = %reason, "could not send the alert-state alert");
        }
    }
}

/// Sends a clearly marked test message to every channel (or the one named), for setting up.
/// Touches no alert state.
pub async fn test(cfg: &Config, report: &Report, only: Option<&str>) -> Vec<(String, Result<(), ChannelError>)> {
    let client = match http_client(cfg.alerts.delivery.timeout) {
        Ok(c) => c,
        Err(e) => return vec![("http".into(), Err(ChannelError::Client(e)))],
    };
    let sends = cfg
        .alerts
        .channels
        .iter()
        .filter(|c| only.is_none_or(|n| n == c.name))
        .map(|channel| {
            let notifier = notifier(channel, &client, cfg.alerts.delivery);
            async move {
                let batch = Batch {
                    notices: &[],
                    report,
                    now: Utc::now(),
                    test: true,
                };
                (channel.name.clone(), notifier.send(&batch).await)
            }
        });
    futures::future::join_all(sends).await
}

/// The channel that sends for `channel`'s settings; all HTTP channels share one client.
fn notifier(channel: &ChannelConfig, client: &reqwest::Client, delivery: DeliveryConfig) -> Box<dyn Channel> {
    channel.kind.settings().build(client, delivery)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;

    #[tokio::test(start_paused = true)]
    async fn renotify_interval_measured_on_the_tokio_clock() {
        use crate::core::alert_lifecycle::{AlertState, Event};
        use crate::core::model::{Finding, FindingType, Severity};
        use crate::core::report::{EnvironmentResult, GitopsInfo, Status};

        let clock = Clock::new();
        let finding = Finding::sample("production", "api", FindingType::DigestDrift, Severity::Critical);
        let env = EnvironmentResult {
            name: "production".into(),
            cluster: "c".into(),
            status: Status::Ok,
            errors: Vec::new(),
            incomplete: Vec::new(),
            declared_workloads: 1,
            live_workloads: 1,
            declared: Vec::new(),
            paths: Vec::new(),
            releases: Vec::new(),
            runs: Vec::new(),
        };
        let report = Report::new(
            clock.now(),
            clock.now(),
            GitopsInfo {
                url: "u".into(),
                commit: None,
            },
            vec![env],
            vec![finding],
        );
        let routes = [Route {
            channel: "slack",
            environments: None,
            min_severity: Severity::Info,
            every_run: false,
        }];
        let policy = Policy {
            renotify_after: Duration::from_secs(24 * 3600),
            send_resolved: true,
        };
        let mut s = AlertState::default();
        let run = |s: &mut AlertState| {
            let now = clock.now();
            s.observe(&report, now);
            let due = s.due(&routes, policy, now);
            let events: Vec<Event> = due
                .get("slack")
                .map(|n| n.iter().map(|n| n.event).collect())
                .unwrap_or_default();
            if let Some(n) = due.get("slack") {
                s.delivered("slack", n, now);
            }
            events
        };
        assert_eq!(run(&mut s), vec![Event::Firing]);
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(3600)).await;
            assert_eq!(run(&mut s), vec![], "persisting drift is not re-sent");
        }
        tokio::time::advance(Duration::from_secs(21 * 3600)).await;
        assert_eq!(
            run(&mut s),
            vec![Event::Reminder],
            "24h after the first notice: one reminder"
        );
        assert_eq!(run(&mut s), vec![]);
    }
}
