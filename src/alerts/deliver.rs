//! Delivers alerts: loads the alert state, records what the audit saw, sends each channel what
//! it is owed (Slack, email, webhook, Alertmanager), and saves what was delivered as soon as
//! each channel succeeded, so a crash or `kill -9` re-sends at most the notices in flight. A
//! failing channel is retried with backoff within the run and owed again on the next run; it
//! never stops the others. While the state cannot be saved (a full disk), no notices are sent
//! (they could not be remembered, so every run would send them again); one alert per outage
//! says so instead.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tracing::{error, info, warn};

use crate::alerts::channels::{Batch, Channel, ChannelError};
use crate::alerts::lifecycle::{AlertState, Event, Notice, Policy, Route, Subject};
use crate::alerts::store::{self, StateError};
use crate::config::{ChannelConfig, Config, DeliveryConfig};
use crate::core::report::Report;
use crate::retry::{ClientError, http_client};

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
    State(#[from] StateError),
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

/// Whether this process already told the channels that the alert state cannot be saved. The
/// marker file beside the state ([`store::claim_unwritable`]) makes an outage one alert across
/// processes; this covers the case where not even that empty file can be created, for the
/// daemon's lifetime. `--once` makes its own.
#[derive(Debug, Default)]
pub struct StoreHealth {
    unwritable_alerted: AtomicBool,
}

/// Records `report` in the alert state and delivers what every channel is owed.
pub async fn notify(
    cfg: &Config,
    report: &Report,
    now: DateTime<Utc>,
    health: &StoreHealth,
) -> Result<Outcome, NotifyError> {
    notify_quiet(cfg, report, &BTreeSet::new(), now, health).await
}

/// [`notify`], holding back the findings in `quiet` (see [`AlertState::observe_quiet`]).
pub async fn notify_quiet(
    cfg: &Config,
    report: &Report,
    quiet: &BTreeSet<String>,
    now: DateTime<Utc>,
    health: &StoreHealth,
) -> Result<Outcome, NotifyError> {
    let path = &cfg.state.path;
    let client = http_client(cfg.alerts.delivery.timeout)?;
    // Nothing is sent that could not be remembered as sent: the lock file and the observed
    // state must be writable first.
    let unwritable = |e: StateError| async {
        if matches!(e, StateError::Write { .. }) {
            let first = match store::claim_unwritable(path) {
                store::Outage::New => {
                    health.unwritable_alerted.store(true, Ordering::SeqCst);
                    true
                }
                store::Outage::Known => false,
                store::Outage::Unrecorded => !health.unwritable_alerted.swap(true, Ordering::SeqCst),
            };
            if first {
                state_unwritable(cfg, report, now, &client, &e).await;
            }
        }
        Err(NotifyError::from(e))
    };
    let _lock = match store::lock(path).await {
        Ok(lock) => lock,
        Err(e) => return unwritable(e).await,
    };
    let loaded = store::load(path, now)?;
    let mut outcome = Outcome::default();
    if let Some(w) = loaded.warning {
        warn!("{w}");
        outcome.warnings.push(w);
    }
    let mut alert_state = loaded.state;
    alert_state.observe_quiet(report, now, quiet);
    if let Err(e) = store::save(path, &alert_state) {
        return unwritable(e).await;
    }
    store::clear_unwritable(path);
    if health.unwritable_alerted.swap(false, Ordering::SeqCst) {
        info!(path = %path.display(), "alert state can be saved again; alerts resume");
    }
    let routes = routes(&cfg.alerts.channels);
    let policy = Policy {
        renotify_after: cfg.alerts.renotify_after,
        send_resolved: cfg.alerts.send_resolved,
    };
    let due = alert_state.due(&routes, policy, now);
    send_and_record(cfg, report, now, &client, &due, &mut alert_state, &mut outcome).await?;
    alert_state.prune(&routes, policy);
    store::save(path, &alert_state)?;
    Ok(outcome)
}

/// Sends every channel its notices, concurrently, and saves each channel's delivery as soon
/// as it succeeded.
async fn send_and_record(
    cfg: &Config,
    report: &Report,
    now: DateTime<Utc>,
    client: &reqwest::Client,
    due: &std::collections::BTreeMap<String, Vec<Notice>>,
    alert_state: &mut AlertState,
    outcome: &mut Outcome,
) -> Result<(), NotifyError> {
    let mut sends: futures::stream::FuturesUnordered<_> = cfg
        .alerts
        .channels
        .iter()
        .filter_map(|channel| {
            let notices = due.get(&channel.name)?;
            let notifier = notifier(channel, client, cfg.alerts.delivery);
            Some(async move {
                let batch = Batch {
                    notices,
                    report,
                    now,
                    test: false,
                };
                (channel, notices, notifier.send(&batch).await)
            })
        })
        .collect();
    while let Some((channel, notices, result)) = sends.next().await {
        match result {
            Ok(()) => {
                info!(channel = %channel.name, notices = notices.len(), "alerts delivered");
                alert_state.delivered(&channel.name, notices, now);
                outcome.delivered.push((channel.name.clone(), notices.len()));
                store::save(&cfg.state.path, alert_state)?;
            }
            Err(reason) => {
                warn!(channel = %channel.name, error = %reason, "alert delivery failed; will retry on the next run");
                outcome.failed.push(NotifyError::Delivery {
                    channel: channel.name.clone(),
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// The one alert, to every channel whatever its routing, that the alert state cannot be saved:
/// it names the path and the OS error, and says that alerts are held back until it can.
async fn state_unwritable(cfg: &Config, report: &Report, now: DateTime<Utc>, client: &reqwest::Client, e: &StateError) {
    error!(error = %e, "alert state cannot be saved: no alerts are sent until it can");
    let notice = Notice {
        event: Event::Firing,
        fingerprint: "driftwatch-alert-state".into(),
        subject: Subject::AuditError {
            environment: "driftwatch".into(),
            cluster: "-".into(),
            error: format!(
                "{e}. No new alerts are sent until the alert state can be saved again (nothing is lost: what is owed is sent then, nothing twice)"
            ),
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
        use crate::alerts::lifecycle::{AlertState, Event};
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
