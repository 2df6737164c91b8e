//! Prometheus Alertmanager (`[[alerts.alertmanager]]`): v2 alerts, one per notice, re-sent on
//! every run while open so that Alertmanager does not let them expire.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::text::{argocd, facts, summary, what};
use super::{Batch, Channel, ChannelError, Routing, Section, Settings, bearer, post};
use crate::core::alert_lifecycle::{Event, Notice, Subject};
use crate::settings::{ConfigError, DeliveryConfig, Secret, Validator, redact_url};

// ---- config ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
    url: String,
    ttl: Option<String>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct AlertmanagerConfig {
    /// The Alertmanager's base URL; alerts go to `<url>/api/v2/alerts`.
    pub url: String,
    /// How long a firing alert lasts unless re-sent.
    pub ttl: Duration,
    pub bearer_token: Option<Secret>,
}

impl Section for AlertmanagerConfig {
    type Raw = RawAlertmanager;

    fn validate(v: &Validator<'_>, key: &str, c: RawAlertmanager) -> Result<(Routing, Self), ConfigError> {
        v.http_url(&format!("{key}.url"), &c.url)?;
        let ttl = v.duration(&format!("{key}.ttl"), c.ttl, Duration::from_secs(25 * 3600))?;
        let bearer_token = v.secret(&format!("{key}.bearer_token"), c.bearer_token_env, c.bearer_token_file)?;
        let routing = Routing {
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        let settings = AlertmanagerConfig {
            url: c.url,
            ttl,
            bearer_token,
        };
        Ok((routing, settings))
    }
}

impl Settings for AlertmanagerConfig {
    fn describe_target(&self) -> String {
        redact_url(&self.url)
    }

    fn every_run(&self) -> bool {
        true
    }

    fn build(&self, client: &reqwest::Client, delivery: DeliveryConfig) -> Box<dyn Channel> {
        Box::new(Alertmanager {
            client: client.clone(),
            url: format!("{}/api/v2/alerts", self.url.trim_end_matches('/')),
            ttl: self.ttl,
            bearer: self.bearer_token.clone(),
            delivery,
        })
    }
}

// ---- payload ---------------------------------------------------------------------------------

/// Alertmanager v2 alerts (`POST /api/v2/alerts`): one per notice. Firing alerts end `ttl`
/// from now unless re-sent; resolved ones end when they were resolved.
pub fn alerts(notices: &[Notice], now: DateTime<Utc>, ttl: Duration, test: bool) -> Value {
    let alerts: Vec<Value> = notices
        .iter()
        .map(|n| {
            let mut labels = json!({
                "alertname": if matches!(n.subject, Subject::AuditError { .. }) { "DriftwatchAuditError" } else { "DriftwatchDrift" },
                "environment": n.subject.environment(),
                "type": n.subject.kind(),
                "severity": n.subject.severity().as_str(),
                "fingerprint": n.fingerprint,
            });
            let mut annotations = json!({"summary": format!("{} {}", n.subject.kind(), what(&n.subject))});
            match &n.subject {
                Subject::Finding(f) => {
                    labels["cluster"] = json!(f.cluster);
                    labels["namespace"] = json!(f.namespace);
                    labels["workload"] = json!(f.name.clone().unwrap_or_default());
                    labels["kind"] = json!(f.workload_kind.map(|k| k.as_str()).unwrap_or(""));
                    labels["container"] = json!(f.container.clone().unwrap_or_default());
                    let resolved = n.event == Event::Resolved;
                    let line: Vec<String> = summary(f).into_iter().map(|(l, v)| format!("{l} {v}")).collect();
                    annotations["summary"] = json!(format!("{} {}: {}", n.subject.kind(), what(&n.subject), line.join(" · ")));
                    annotations["description"] = json!(match argocd(f) {
                        Some(note) => format!("{note}. {}", f.message),
                        None => f.message.clone(),
                    });
                    if let Some(note) = crate::core::compare::argocd_note(f) {
                        annotations["argocd"] = json!(note);
                    }
                    if let Some(note) = crate::core::compare::flux_note(f) {
                        annotations["flux"] = json!(note);
                    }
                    annotations["declared"] = json!(f.declared.clone().unwrap_or_default());
                    annotations["running"] = json!(f.running.iter().map(|r| format!("{} ({} Pods)", r.digest, r.pods)).collect::<Vec<_>>().join(", "));
                    annotations["source"] = json!(f.source.clone().unwrap_or_default());
                    annotations["live_image"] = json!(f.live_image.clone().unwrap_or_default());
                    annotations["file"] = json!(f.file.clone().unwrap_or_default());
                    annotations["commit"] = json!(f.commit.clone().unwrap_or_default());
                    annotations["facts"] = json!(facts(f, resolved).into_iter().map(|(l, v)| format!("{l}: {v}")).collect::<Vec<_>>().join("\n"));
                }
                Subject::AuditError { cluster, error, .. } => {
                    labels["cluster"] = json!(cluster);
                    annotations["description"] = json!(error);
                }
            }
            if test {
                labels["alertname"] = json!("DriftwatchTest");
            }
            let ends = match n.resolved_at {
                Some(at) if n.event == Event::Resolved => at,
                _ => now + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::hours(25)),
            };
            json!({"labels": labels, "annotations": annotations, "startsAt": n.first_seen.to_rfc3339(), "endsAt": ends.to_rfc3339()})
        })
        .collect();
    Value::Array(alerts)
}

/// A `notify-test` alert: short-lived, so that it clears itself from Alertmanager.
fn test_alerts(now: DateTime<Utc>) -> Value {
    let test = Notice {
        event: Event::Firing,
        fingerprint: "test".into(),
        subject: Subject::AuditError {
            environment: "test".into(),
            cluster: "test".into(),
            error: "driftwatch notify-test: this channel is configured correctly".into(),
        },
        first_seen: now,
        resolved_at: None,
    };
    alerts(&[test], now, Duration::from_secs(300), true)
}

// ---- send ------------------------------------------------------------------------------------

struct Alertmanager {
    client: reqwest::Client,
    url: String,
    ttl: Duration,
    bearer: Option<Secret>,
    delivery: DeliveryConfig,
}

#[async_trait]
impl Channel for Alertmanager {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), ChannelError> {
        let alerts = if batch.test {
            test_alerts(batch.now)
        } else {
            alerts(batch.notices, batch.now, self.ttl, false)
        };
        let body = serde_json::to_vec(&alerts)?;
        post(
            &self.client,
            &self.url,
            body,
            &bearer(self.bearer.as_ref()),
            self.delivery,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{notice, now, of_kind};
    use super::*;
    use crate::core::model::FindingType;

    #[test]
    fn alertmanager_alerts_have_labels_and_end_when_resolved() {
        let alerts = alerts(
            &[
                notice("production", 1, Event::Firing),
                notice("production", 2, Event::Resolved),
            ],
            now(),
            Duration::from_secs(3600),
            false,
        );
        let a = &alerts[0];
        assert_eq!(a["labels"]["environment"], "production");
        assert_eq!(a["labels"]["namespace"], "shop");
        assert_eq!(a["labels"]["workload"], "api-1");
        assert_eq!(a["labels"]["container"], "api");
        assert_eq!(a["labels"]["type"], "digest-drift");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["endsAt"], "2026-11-26T10:02:00+00:00");
        assert_eq!(alerts[1]["endsAt"], "2026-11-26T09:02:00+00:00");
    }

    /// The annotations a responder reads in Alertmanager, per finding type.
    #[test]
    fn alertmanager_annotations_carry_explanation_and_facts_per_type() {
        let hex = |c: &str| c.repeat(64);
        let cases: Vec<(FindingType, &str, String)> = vec![
            (
                FindingType::SpecDrift,
                "summary",
                format!(
                    "spec-drift shop/Deployment/api-1 container api: live spec registry.example.com/shop/api:hotfix-1 · declared registry.example.com/shop/api@sha256:{}",
                    hex("f")
                ),
            ),
            (
                FindingType::SpecDrift,
                "live_image",
                "registry.example.com/shop/api:hotfix-1".into(),
            ),
            (
                FindingType::Missing,
                "facts",
                "declared: Deployment shop/api-1\nsource: apps/api/overlays/production".into(),
            ),
            (
                FindingType::Undeclared,
                "facts",
                format!(
                    "live spec: registry.example.com/shop/debug:latest\nPods run: sha256:{} (2 Pods)",
                    hex("3")
                ),
            ),
            (
                FindingType::Unverifiable,
                "summary",
                format!(
                    "unverifiable shop/Deployment/api-1 container api: declared sha256:{} · config ID, not a digest sha256:{} ×2",
                    &hex("1")[..12],
                    &hex("c")[..12]
                ),
            ),
            (
                FindingType::Unpinned,
                "facts",
                format!(
                    "declared: registry.example.com/shop/api:1.4\nPods run: sha256:{} (3 Pods)\nsource: apps/api/overlays/production",
                    hex("2")
                ),
            ),
            (
                FindingType::ConfigDrift,
                "file",
                "apps/api/overlays/production/config.yaml".into(),
            ),
            (
                FindingType::ConfigDrift,
                "description",
                "ConfigMap shop/app-config: values differ: LOG_LEVEL".into(),
            ),
            (
                FindingType::SpecDrift,
                "commit",
                "0123456789abcdef0123456789abcdef01234567".into(),
            ),
        ];
        for (kind, key, want) in cases {
            let got = alerts(&[of_kind(kind, Event::Firing)], now(), Duration::from_secs(3600), false);
            assert_eq!(got[0]["annotations"][key], want.as_str(), "{kind} {key}");
            assert_eq!(got[0]["labels"]["cluster"], "prod-eu1");
        }
    }
}
