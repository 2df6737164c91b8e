//! A generic webhook (`[[alerts.webhook]]`): the JSON report narrowed to the channel's
//! findings plus what changed, optionally with a bearer token and an HMAC signature.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::text::{what, when};
use super::{Batch, Channel, ChannelError, Routing, Section, Settings, bearer, post};
use crate::core::alert_lifecycle::{Notice, Subject};
use crate::core::report::Report;
use crate::settings::{ConfigError, DeliveryConfig, Secret, Validator, redact_url};

// ---- config ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
    url: String,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
    hmac_secret_env: Option<String>,
    hmac_secret_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: String,
    pub bearer_token: Option<Secret>,
    /// Signs the body: `X-Driftwatch-Signature: sha256=<hex>`.
    pub hmac_secret: Option<Secret>,
}

impl Section for WebhookConfig {
    type Raw = RawWebhook;

    fn validate(v: &Validator<'_>, key: &str, c: RawWebhook) -> Result<(Routing, Self), ConfigError> {
        v.http_url(&format!("{key}.url"), &c.url)?;
        let bearer_token = v.secret(&format!("{key}.bearer_token"), c.bearer_token_env, c.bearer_token_file)?;
        let hmac_secret = v.secret(&format!("{key}.hmac_secret"), c.hmac_secret_env, c.hmac_secret_file)?;
        let routing = Routing {
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        let settings = WebhookConfig {
            url: c.url,
            bearer_token,
            hmac_secret,
        };
        Ok((routing, settings))
    }
}

impl Settings for WebhookConfig {
    fn describe_target(&self) -> String {
        format!(
            "{} (hmac {})",
            redact_url(&self.url),
            if self.hmac_secret.is_some() { "set" } else { "not set" }
        )
    }

    fn build(&self, client: &reqwest::Client, delivery: DeliveryConfig) -> Box<dyn Channel> {
        Box::new(Webhook {
            client: client.clone(),
            cfg: self.clone(),
            delivery,
        })
    }
}

// ---- payload ---------------------------------------------------------------------------------

/// The webhook body: the `driftwatch.report/v1` report of the audit (its findings narrowed to
/// those routed to the channel), plus `alerts`: what changed for this receiver.
pub fn payload(report: &Report, notices: &[Notice], now: DateTime<Utc>, test: bool) -> Value {
    let mut body = serde_json::to_value(report).expect("report serializes");
    let routed: std::collections::BTreeSet<&str> = notices.iter().map(|n| n.fingerprint.as_str()).collect();
    if let Some(findings) = body.get_mut("findings").and_then(Value::as_array_mut) {
        findings.retain(|f| f["fingerprint"].as_str().is_some_and(|fp| routed.contains(fp)));
    }
    body["alerts"] = json!(notices
        .iter()
        .map(|n| json!({"fingerprint": n.fingerprint, "event": n.event, "type": n.subject.kind(), "severity": n.subject.severity(),
                        "environment": n.subject.environment(), "first_seen": n.first_seen, "resolved_at": n.resolved_at,
                        "summary": format!("{} {}, {}", n.subject.kind(), what(&n.subject), when(n, now)),
                        "message": match &n.subject {
                            Subject::Finding(f) => f.message.as_str(),
                            Subject::AuditError { error, .. } => error.as_str(),
                        },
                        "argocd": match &n.subject {
                            Subject::Finding(f) => crate::core::compare::argocd_note(f),
                            Subject::AuditError { .. } => None,
                        }}))
        .collect::<Vec<_>>());
    // Flux's sentence beside Argo CD's, only where a Flux object deployed the workload.
    if let Some(alerts) = body["alerts"].as_array_mut() {
        for (a, n) in alerts.iter_mut().zip(notices) {
            if let Subject::Finding(f) = &n.subject
                && let Some(note) = crate::core::compare::flux_note(f)
            {
                a["flux"] = json!(note);
            }
        }
    }
    body["test"] = json!(test);
    body
}

/// `sha256=<hex HMAC-SHA256 of the body>`, the value of `X-Driftwatch-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// ---- send ------------------------------------------------------------------------------------

struct Webhook {
    client: reqwest::Client,
    cfg: WebhookConfig,
    delivery: DeliveryConfig,
}

#[async_trait]
impl Channel for Webhook {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), ChannelError> {
        let body = serde_json::to_vec(&payload(batch.report, batch.notices, batch.now, batch.test))?;
        let mut headers = bearer(self.cfg.bearer_token.as_ref());
        if let Some(secret) = &self.cfg.hmac_secret {
            headers.push(("x-driftwatch-signature", signature(secret.expose(), &body)));
        }
        post(&self.client, &self.cfg.url, body, &headers, self.delivery).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
