//! Alert channels, one file each: its config section (raw serde shape, typed settings and
//! their validation), its pure payload builder and its send. `channel_kinds!` is the one
//! place where the kinds are listed; adding a channel is a new file here plus a line there.

pub mod alertmanager;
pub mod email;
pub mod slack;
pub mod text;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;

use crate::core::alert_lifecycle::Notice;
use crate::core::report::Report;
use crate::error_chain;
use crate::retry::{Attempt, ClientError, RetryError, with_retries};
use crate::settings::{ConfigError, DeliveryConfig, Validator};

/// Every channel kind, once: `[[alerts.<key>]]`, its variant in [`ChannelKind`] and its
/// settings type. `$then` is a macro that receives the list: the raw `[alerts]` shape
/// (`config::raw`) and [`ChannelKind`] are both generated from it, so they cannot disagree.
/// The order is the order of `check-config` and of the channels' default names.
macro_rules! channel_kinds {
    ($then:ident) => {
        $then! {
            slack: Slack($crate::alerts::channels::slack::SlackConfig),
            email: Email($crate::alerts::channels::email::EmailConfig),
            webhook: Webhook($crate::alerts::channels::webhook::WebhookConfig),
            alertmanager: Alertmanager($crate::alerts::channels::alertmanager::AlertmanagerConfig),
        }
    };
}
pub(crate) use channel_kinds;

/// Why a channel could not deliver. Its text is what `notify-test` and the logs show.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The service refused or did not answer, after retries where another try could help.
    #[error(transparent)]
    Send(#[from] RetryError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Payload(#[from] serde_json::Error),
    /// The message or the connection could not be set up from the settings (an address, a
    /// CA file).
    #[error("{0}")]
    Setup(String),
}

/// Sends one message's worth of notices. One implementation per channel kind.
#[async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), ChannelError>;
}

/// One message's worth of notices for one channel.
pub struct Batch<'a> {
    pub notices: &'a [Notice],
    pub report: &'a Report,
    pub now: DateTime<Utc>,
    /// A `notify-test` message.
    pub test: bool,
}

/// The routing keys every `[[alerts.<kind>]]` entry has; serde cannot combine `flatten`
/// with `deny_unknown_fields`, so each raw shape repeats them and hands them over here.
#[derive(Debug, Default)]
pub struct Routing {
    pub name: Option<String>,
    pub environments: Option<Vec<String>>,
    pub min_severity: Option<String>,
}

/// A channel's config section as read: its raw serde shape and how it becomes typed settings.
pub(crate) trait Section: Settings + Sized {
    /// The `[[alerts.<kind>]]` entry as written; `deny_unknown_fields`.
    type Raw: serde::de::DeserializeOwned + std::fmt::Debug;

    /// Validates one entry; `key` is `alerts.<kind>[i]`, for messages.
    fn validate(v: &Validator<'_>, key: &str, raw: Self::Raw) -> Result<(Routing, Self), ConfigError>;
}

/// What a channel's validated settings do.
pub trait Settings {
    /// Where messages go, for `check-config` (secrets only as "set").
    fn describe_target(&self) -> String;

    /// Sent the open alerts on every run, not only on changes (Alertmanager forgets alerts
    /// that are not re-sent before they end).
    fn every_run(&self) -> bool {
        false
    }

    fn build(&self, client: &reqwest::Client, delivery: DeliveryConfig) -> Box<dyn Channel>;
}

macro_rules! define_kinds {
    ($($key:ident: $variant:ident($settings:ty),)*) => {
        /// A channel's kind with its settings.
        #[derive(Clone, Debug)]
        pub enum ChannelKind {
            $($variant($settings),)*
        }

        impl ChannelKind {
            /// The `[[alerts.<kind>]]` key: `slack`, `email`, …
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($key),)*
                }
            }

            pub fn settings(&self) -> &dyn Settings {
                match self {
                    $(Self::$variant(s) => s,)*
                }
            }
        }
    };
}
channel_kinds!(define_kinds);

/// POSTs a JSON `body`, retrying 429 (honouring `Retry-After`), 5xx and connection errors; a
/// secret URL never appears in the error.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
    policy: DeliveryConfig,
) -> Result<(), ChannelError> {
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
    .await?;
    Ok(())
}

/// `Authorization: Bearer …` when a token is configured.
pub(crate) fn bearer(token: Option<&crate::settings::Secret>) -> Vec<(&'static str, String)> {
    token
        .iter()
        .map(|t| ("authorization", format!("Bearer {}", t.expose())))
        .collect()
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Notices for the payload builders' tests.

    use chrono::{DateTime, TimeZone, Utc};

    use crate::core::alert_lifecycle::{Event, Notice, Subject};
    use crate::core::model::{Finding, FindingType, RunningDigest, Severity, WorkloadKind};

    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 2, 0).unwrap()
    }

    pub fn notice(env: &str, i: usize, event: Event) -> Notice {
        let f = Finding {
            fingerprint: format!("{env}-{i:04}"),
            kind: FindingType::DigestDrift,
            severity: Severity::Critical,
            environment: env.into(),
            cluster: "prod-eu1".into(),
            namespace: "shop".into(),
            workload_kind: Some(WorkloadKind::Deployment),
            name: Some(format!("api-{i}")),
            container: Some("api".into()),
            declared: Some(format!("registry.example.com/shop/api@sha256:{}", "1".repeat(64))),
            running: vec![RunningDigest {
                digest: format!("sha256:{}", "2".repeat(64)),
                pods: 3,
            }],
            source: Some("apps/api/overlays/production".into()),
            commit: None,
            message: "Pods run another digest".into(),
            live_image: Some(format!("registry.example.com/shop/api@sha256:{}", "1".repeat(64))),
            file: None,
            helm: None,
            argocd: None,
            flux: None,
        };
        Notice {
            event,
            fingerprint: f.fingerprint.clone(),
            subject: Subject::Finding(f),
            first_seen: Utc.with_ymd_and_hms(2026, 11, 25, 14, 2, 0).unwrap(),
            resolved_at: (event == Event::Resolved).then(now),
        }
    }

    /// A realistic notice of each finding type, as the comparison would make it.
    pub fn of_kind(kind: FindingType, event: Event) -> Notice {
        let mut n = notice("production", 1, event);
        let Subject::Finding(f) = &mut n.subject else {
            unreachable!()
        };
        let repo = "registry.example.com/shop/api";
        let d = |c: &str| format!("sha256:{}", c.repeat(64));
        f.kind = kind;
        f.commit = Some("0123456789abcdef0123456789abcdef01234567".into());
        match kind {
            FindingType::SpecDrift => {
                f.declared = Some(format!("{repo}@{}", d("f")));
                f.live_image = Some(format!("{repo}:hotfix-1"));
                f.running = vec![RunningDigest {
                    digest: d("f"),
                    pods: 1,
                }];
                f.message = format!("live spec runs {repo}:hotfix-1 but git declares {repo}@{}", d("f"));
            }
            FindingType::Missing => {
                f.severity = Severity::Warning;
                f.container = None;
                f.declared = None;
                f.live_image = None;
                f.running = Vec::new();
                f.message =
                    "Deployment api-1 is declared in apps/api/overlays/production but does not exist in namespace shop"
                        .into();
            }
            FindingType::Undeclared => {
                f.severity = Severity::Warning;
                f.container = None;
                f.declared = None;
                f.source = None;
                f.live_image = Some("registry.example.com/shop/debug:latest".into());
                f.running = vec![RunningDigest {
                    digest: d("3"),
                    pods: 2,
                }];
                f.message = "Deployment api-1 runs in namespace shop (registry.example.com/shop/debug:latest) but no environment path declares it".into();
            }
            FindingType::Unverifiable => {
                f.severity = Severity::Info;
                f.running = vec![RunningDigest {
                    digest: d("c"),
                    pods: 2,
                }];
                f.message = "2 Pod(s) report only an image config ID, not a manifest digest: the running digest cannot be checked".into();
            }
            FindingType::Unpinned => {
                f.severity = Severity::Info;
                f.declared = Some(format!("{repo}:1.4"));
                f.live_image = Some(format!("{repo}:1.4"));
                f.message = format!(
                    "{repo}:1.4 is declared by tag, not by digest: the bytes behind it can change without a commit"
                );
            }
            FindingType::ConfigDrift => {
                f.severity = Severity::Warning;
                f.workload_kind = None;
                f.name = Some("app-config".into());
                f.container = None;
                f.declared = None;
                f.live_image = None;
                f.running = Vec::new();
                f.file = Some("apps/api/overlays/production/config.yaml".into());
                f.message = "ConfigMap shop/app-config: values differ: LOG_LEVEL".into();
            }
            FindingType::Unsigned | FindingType::SignatureInvalid | FindingType::ProvenanceMismatch => {
                f.message = format!("{repo}@sha256:aaaaaaaaaaaa runs without a signature of policy release");
            }
            _ => {}
        }
        n.fingerprint = format!("{kind}");
        n
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::fixtures::{now, of_kind};
    use crate::core::alert_lifecycle::Event;
    use crate::core::model::FindingType;

    /// The signature findings reach Slack, email and Alertmanager with their type and why.
    #[test]
    fn signature_findings_reach_every_channel() {
        for kind in [
            FindingType::Unsigned,
            FindingType::SignatureInvalid,
            FindingType::ProvenanceMismatch,
        ] {
            let notices = [of_kind(kind, Event::Firing)];
            let outputs = [
                ("slack", super::slack::message(&notices, now(), false).to_string()),
                ("email", super::email::text(&notices, now(), false)),
                (
                    "alertmanager",
                    super::alertmanager::alerts(&notices, now(), Duration::from_secs(3600), false).to_string(),
                ),
            ];
            for (channel, text) in outputs {
                assert!(text.contains(kind.as_str()), "{channel}: {kind} in {text}");
                assert!(
                    text.contains("runs without a signature of policy release"),
                    "{channel}: the message in {text}"
                );
            }
        }
    }
}
