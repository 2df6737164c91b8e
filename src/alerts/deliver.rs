//! Delivers alerts: loads the alert state, records what the audit saw, sends each channel what
//! it is owed (Slack, email, webhook, Alertmanager), records what was delivered, saves the
//! state. A failing channel is retried with backoff within the run and owed again on the next
//! run; it never stops the others.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::StatusCode;
use sha2::Sha256;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::alerts::lifecycle::{Notice, Policy, Route};
use crate::alerts::message;
use crate::alerts::store::{self, StateError};
use crate::config::{ChannelConfig, ChannelKind, Config, DeliveryConfig, EmailConfig, Secret, SmtpTls};
use crate::core::report::Report;
use crate::error_chain;
use crate::retry::{Attempt, http_client, with_retries};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("channel {channel}: {reason}")]
    Delivery { channel: String, reason: String },
    #[error("alerts: {0}")]
    Client(String),
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

/// One message's worth of notices for one channel.
pub struct Batch<'a> {
    pub notices: &'a [Notice],
    pub report: &'a Report,
    pub now: DateTime<Utc>,
    /// A `notify-test` message.
    pub test: bool,
}

#[async_trait]
trait Notifier: Send + Sync {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), String>;
}

pub fn routes(channels: &[ChannelConfig]) -> Vec<Route<'_>> {
    channels
        .iter()
        .map(|c| Route {
            channel: &c.name,
            environments: c.environments.as_deref(),
            min_severity: c.min_severity,
            every_run: matches!(c.kind, ChannelKind::Alertmanager { .. }),
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

    let client = http_client(cfg.alerts.delivery.timeout).map_err(NotifyError::Client)?;
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
pub async fn test(cfg: &Config, report: &Report, only: Option<&str>) -> Vec<(String, Result<(), String>)> {
    let client = match http_client(cfg.alerts.delivery.timeout) {
        Ok(c) => c,
        Err(e) => return vec![("http".into(), Err(e.to_string()))],
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

fn notifier(channel: &ChannelConfig, client: &reqwest::Client, delivery: DeliveryConfig) -> Box<dyn Notifier> {
    let client = client.clone();
    match &channel.kind {
        ChannelKind::Slack { webhook_url } => Box::new(Slack {
            client,
            url: webhook_url.clone(),
            delivery,
            last_sent: Mutex::new(None),
        }),
        ChannelKind::Email(cfg) => Box::new(Email {
            cfg: cfg.clone(),
            delivery,
        }),
        ChannelKind::Webhook {
            url,
            bearer_token,
            hmac_secret,
        } => Box::new(Webhook {
            client,
            url: url.clone(),
            bearer: bearer_token.clone(),
            hmac: hmac_secret.clone(),
            delivery,
        }),
        ChannelKind::Alertmanager { url, ttl, bearer_token } => Box::new(Alertmanager {
            client,
            url: format!("{}/api/v2/alerts", url.trim_end_matches('/')),
            ttl: *ttl,
            bearer: bearer_token.clone(),
            delivery,
        }),
    }
}

/// POSTs `body`, retrying 429 (honouring `Retry-After`), 5xx and connection errors; a secret
/// URL never appears in the error.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
    policy: DeliveryConfig,
) -> Result<(), String> {
    with_retries(policy, || {
        let mut req = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        async move {
            match req.send().await {
                Ok(resp) if resp.status().is_success() => Attempt::Done(()),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    let reason = format!("HTTP {status}: {}", text.chars().take(200).collect::<String>().trim());
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        Attempt::Retry {
                            after: retry_after,
                            reason,
                        }
                    } else if status.is_server_error() {
                        Attempt::Retry { after: None, reason }
                    } else {
                        Attempt::Fail(reason)
                    }
                }
                Err(e) => Attempt::Retry {
                    after: None,
                    reason: error_chain(&e.without_url()),
                },
            }
        }
    })
    .await
}

// ---- channels --------------------------------------------------------------------------------

struct Slack {
    client: reqwest::Client,
    url: Secret,
    delivery: DeliveryConfig,
    /// Slack allows about one message per second per webhook.
    last_sent: Mutex<Option<tokio::time::Instant>>,
}

#[async_trait]
impl Notifier for Slack {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), String> {
        let body =
            serde_json::to_vec(&message::slack(batch.notices, batch.now, batch.test)).map_err(|e| e.to_string())?;
        let mut last = self.last_sent.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + Duration::from_secs(1)).await;
        }
        let result = post(&self.client, self.url.expose(), body, &[], self.delivery).await;
        *last = Some(tokio::time::Instant::now());
        result
    }
}

struct Webhook {
    client: reqwest::Client,
    url: String,
    bearer: Option<Secret>,
    hmac: Option<Secret>,
    delivery: DeliveryConfig,
}

/// `sha256=<hex HMAC-SHA256 of the body>`, the value of `X-Driftwatch-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl Notifier for Webhook {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), String> {
        let body = serde_json::to_vec(&message::webhook(batch.report, batch.notices, batch.now, batch.test))
            .map_err(|e| e.to_string())?;
        let mut headers = Vec::new();
        if let Some(token) = &self.bearer {
            headers.push(("authorization", format!("Bearer {}", token.expose())));
        }
        if let Some(secret) = &self.hmac {
            headers.push(("x-driftwatch-signature", signature(secret.expose(), &body)));
        }
        post(&self.client, &self.url, body, &headers, self.delivery).await
    }
}

struct Alertmanager {
    client: reqwest::Client,
    url: String,
    ttl: Duration,
    bearer: Option<Secret>,
    delivery: DeliveryConfig,
}

#[async_trait]
impl Notifier for Alertmanager {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), String> {
        let alerts = if batch.test {
            let test = crate::alerts::lifecycle::Notice {
                event: crate::alerts::lifecycle::Event::Firing,
                fingerprint: "test".into(),
                subject: crate::alerts::lifecycle::Subject::AuditError {
                    environment: "test".into(),
                    cluster: "test".into(),
                    error: "driftwatch notify-test: this channel is configured correctly".into(),
                },
                first_seen: batch.now,
                resolved_at: None,
            };
            message::alertmanager(&[test], batch.now, Duration::from_secs(300), true)
        } else {
            message::alertmanager(batch.notices, batch.now, self.ttl, false)
        };
        let body = serde_json::to_vec(&alerts).map_err(|e| e.to_string())?;
        let headers: Vec<(&str, String)> = self
            .bearer
            .iter()
            .map(|t| ("authorization", format!("Bearer {}", t.expose())))
            .collect();
        post(&self.client, &self.url, body, &headers, self.delivery).await
    }
}

struct Email {
    cfg: EmailConfig,
    delivery: DeliveryConfig,
}

impl Email {
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let c = &self.cfg;
        let tls = |params: TlsParameters| match c.tls {
            SmtpTls::StartTls => Tls::Required(params),
            _ => Tls::Wrapper(params),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host);
        if c.tls != SmtpTls::None {
            let mut params = TlsParameters::builder(c.host.clone());
            if let Some(ca) = &c.ca_file {
                let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
                params = params.add_root_certificate(
                    Certificate::from_pem(&pem).map_err(|e| format!("ca_file {}: {e}", ca.display()))?,
                );
            }
            builder = builder.tls(tls(params.build_rustls().map_err(|e| e.to_string())?));
        }
        builder = builder.port(c.port).timeout(Some(self.delivery.timeout));
        if let (Some(user), Some(pass)) = (&c.username, &c.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(builder.build())
    }
}

#[async_trait]
impl Notifier for Email {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), String> {
        let c = &self.cfg;
        let mut builder = lettre::Message::builder()
            .from(c.from.parse::<Mailbox>().map_err(|e| e.to_string())?)
            .subject(message::email_subject(batch.notices, batch.test));
        for to in &c.to {
            builder = builder.to(to.parse::<Mailbox>().map_err(|e| e.to_string())?);
        }
        let text = message::email_text(batch.notices, batch.now, batch.test);
        let html = message::email_html(batch.notices, batch.now, batch.test);
        let email = builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())?;
        let transport = self.transport()?;
        with_retries(self.delivery, || {
            let (transport, email) = (&transport, email.clone());
            let server = format!("SMTP {}:{}", self.cfg.host, self.cfg.port);
            async move {
                // lettre's timeout bounds single socket operations, not a server that accepts a
                // command and never answers it: bound the whole conversation.
                match tokio::time::timeout(self.delivery.timeout, transport.send(email)).await {
                    Ok(Ok(_)) => Attempt::Done(()),
                    Ok(Err(e)) if e.is_permanent() => Attempt::Fail(format!("{server}: {}", error_chain(&e))),
                    Ok(Err(e)) => Attempt::Retry {
                        after: None,
                        reason: format!("{server}: {}", error_chain(&e)),
                    },
                    Err(_) => Attempt::Retry {
                        after: None,
                        reason: format!(
                            "{server}: no answer within {}",
                            humantime::format_duration(self.delivery.timeout)
                        ),
                    },
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
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
            declared_workloads: 1,
            live_workloads: 1,
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

    #[test]
    fn webhook_signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
