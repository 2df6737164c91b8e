//! Delivers alerts: loads the alert state, records what the audit saw, sends each channel what
//! it is owed (Slack, email, webhook, Alertmanager), records what was delivered, saves the
//! state. A failing channel is retried with backoff within the run and owed again on the next
//! run; it never stops the others.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::alerts::channels::{Batch, Channel, ChannelError};
use crate::alerts::lifecycle::{Policy, Route};
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

/// Records `report` in the alert state and delivers what every channel is owed.
pub async fn notify(cfg: &Config, report: &Report, now: DateTime<Utc>) -> Result<Outcome, NotifyError> {
    let path = &cfg.state.path;
    let _lock = store::lock(path).await?;
    let loaded = store::load(path, now)?;
    let mut outcome = Outcome::default();
    if let Some(w) = loaded.warning {
        warn!("{w}");
        outcome.warnings.push(w);
    }
    let mut alert_state = loaded.state;
    alert_state.observe(report, now);
    let routes = routes(&cfg.alerts.channels);
    let policy = Policy {
        renotify_after: cfg.alerts.renotify_after,
        send_resolved: cfg.alerts.send_resolved,
    };
    let due = alert_state.due(&routes, policy, now);

    let client = http_client(cfg.alerts.delivery.timeout)?;
    let sends = cfg.alerts.channels.iter().filter_map(|channel| {
        let notices = due.get(&channel.name)?;
        let notifier = notifier(channel, &client, cfg.alerts.delivery);
        Some(async move {
            let batch = Batch {
                notices,
                report,
                now,
                test: false,
            };
            (channel, notices, notifier.send(&batch).await)
        })
    });
    for (channel, notices, result) in futures::future::join_all(sends).await {
        match result {
            Ok(()) => {
                info!(channel = %channel.name, notices = notices.len(), "alerts delivered");
                alert_state.delivered(&channel.name, notices, now);
                outcome.delivered.push((channel.name.clone(), notices.len()));
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
    alert_state.prune(&routes, policy);
    store::save(path, &alert_state)?;
    Ok(outcome)
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
