//! Slack through an incoming webhook (`[[alerts.slack]]`): a Block Kit message within Slack's
//! limits, at most one per second per webhook.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::text::{argocd, by_environment, context, counts, facts, headline, summary, truncate, what, when, worst};
use super::{Batch, Channel, ChannelError, Routing, Section, Settings, post};
use crate::core::alert_lifecycle::{Event, Notice, Subject};
use crate::core::model::{FindingType, Severity};
use crate::settings::{ConfigError, DeliveryConfig, Secret, Validator};

/// Slack rejects messages with more blocks than this.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// Slack rejects a section whose text is longer than this.
pub const SLACK_MAX_SECTION: usize = 3000;
const SLACK_MAX_HEADER: usize = 150;

// ---- config ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlack {
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
    webhook_url_env: Option<String>,
    webhook_url_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// The incoming webhook URL: whoever has it can post, so it is a secret.
    pub webhook_url: Secret,
}

impl Section for SlackConfig {
    type Raw = RawSlack;

    fn validate(v: &Validator<'_>, key: &str, c: RawSlack) -> Result<(Routing, Self), ConfigError> {
        let webhook_url = v
            .secret(&format!("{key}.webhook_url"), c.webhook_url_env, c.webhook_url_file)?
            .ok_or_else(|| {
                v.invalid(
                    format!("{key}.webhook_url_env"),
                    "missing: the incoming webhook URL (webhook_url_env or webhook_url_file)",
                )
            })?;
        let routing = Routing {
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        Ok((routing, SlackConfig { webhook_url }))
    }
}

impl Settings for SlackConfig {
    fn describe_target(&self) -> String {
        "webhook URL set".to_string()
    }

    fn build(&self, client: &reqwest::Client, delivery: DeliveryConfig) -> Box<dyn Channel> {
        Box::new(Slack {
            client: client.clone(),
            url: self.webhook_url.clone(),
            delivery,
            last_sent: Mutex::new(None),
        })
    }
}

// ---- payload ---------------------------------------------------------------------------------

fn emoji(n: &Notice) -> &'static str {
    match (n.event, n.subject.severity()) {
        (Event::Resolved, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":red_circle:",
        (_, Severity::Warning) => ":large_orange_circle:",
        (_, Severity::Info) => ":large_blue_circle:",
    }
}

/// Slack escapes: `&`, `<`, `>` are control characters in mrkdwn.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One alert: what and since when, the short facts, the explanation, then the facts in full.
fn section(n: &Notice, now: DateTime<Utc>) -> String {
    let mut text = format!(
        "{} *{}* {} `{}` · {}\n",
        emoji(n),
        n.event.as_str(),
        n.subject.kind(),
        escape(&what(&n.subject)),
        when(n, now)
    );
    match &n.subject {
        Subject::Finding(f) => {
            let resolved = n.event == Event::Resolved;
            let line: Vec<String> = summary(f)
                .into_iter()
                .map(|(label, value)| format!("{label} `{}`", escape(&value)))
                .collect();
            let _ = writeln!(text, "{}", line.join(" · "));
            if let Some(source) = f.source.as_ref().filter(|_| f.kind != FindingType::Missing) {
                let _ = writeln!(text, "source `{}`", escape(source));
            }
            if let Some(note) = argocd(f) {
                let _ = writeln!(text, "*{}*", escape(&note));
            }
            let _ = writeln!(text, "{}{}", if resolved { "was: " } else { "" }, escape(&f.message));
            let full: Vec<String> = facts(f, resolved)
                .into_iter()
                .filter(|(label, _)| *label != "source")
                .map(|(label, value)| format!("{label}: {value}"))
                .collect();
            if !full.is_empty() {
                let _ = write!(text, "```{}```", escape(&full.join("\n")));
            }
        }
        Subject::AuditError { error, .. } => {
            let _ = write!(text, "```{}```", escape(&truncate(error, 2000)));
        }
    }
    truncate(&text, SLACK_MAX_SECTION)
}

/// A Block Kit message for an incoming webhook. Never more than [`SLACK_MAX_BLOCKS`] blocks
/// or [`SLACK_MAX_SECTION`] characters per section: what does not fit is summarised per
/// environment ("and 37 more alerts in production").
pub fn message(notices: &[Notice], now: DateTime<Utc>, test: bool) -> Value {
    let title = if test {
        "driftwatch test message: this channel is configured correctly".to_string()
    } else {
        headline(notices)
    };
    let mut blocks =
        vec![json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, SLACK_MAX_HEADER)}})];
    if !test {
        let ctx = escape(&context(notices).join("\n"));
        blocks.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&ctx, SLACK_MAX_SECTION)}]}),
        );
    }
    let groups = by_environment(notices);
    // Each environment takes a heading and, if it overflows, a summary line: reserve those so
    // that every environment is at least named.
    let mut budget = SLACK_MAX_BLOCKS.saturating_sub(blocks.len() + 2 * groups.len());
    for (env, list) in &groups {
        let env_notices: Vec<Notice> = list.iter().map(|n| (*n).clone()).collect();
        let heading = format!(
            "*{}* · {}{}",
            escape(env),
            counts(&env_notices),
            worst(&env_notices).map(|s| format!(", worst {s}")).unwrap_or_default()
        );
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&heading, SLACK_MAX_SECTION)}}),
        );
        let shown = list.len().min(budget);
        budget -= shown;
        for n in &list[..shown] {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": section(n, now)}}));
        }
        let hidden = list.len() - shown;
        if hidden > 0 {
            let more = format!(
                "and {hidden} more alert{} in {}",
                if hidden == 1 { "" } else { "s" },
                escape(env)
            );
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]}));
        }
    }
    if test {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": "Sent by `driftwatch notify-test`. No drift is reported by this message."}}));
    }
    // The fallback text is what a phone's notification shows: the headline, which says what
    // drifted where; the context block adds clusters and commits.
    json!({"text": title, "blocks": blocks})
}

// ---- send ------------------------------------------------------------------------------------

struct Slack {
    client: reqwest::Client,
    url: Secret,
    delivery: DeliveryConfig,
    /// Slack allows about one message per second per webhook.
    last_sent: Mutex<Option<tokio::time::Instant>>,
}

#[async_trait]
impl Channel for Slack {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), ChannelError> {
        let body = serde_json::to_vec(&message(batch.notices, batch.now, batch.test))?;
        let mut last = self.last_sent.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + Duration::from_secs(1)).await;
        }
        let result = post(&self.client, self.url.expose(), body, &[], self.delivery).await;
        *last = Some(tokio::time::Instant::now());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{notice, now, of_kind};
    use super::*;

    /// The alert section a responder reads for one notice.
    fn alert_text(n: Notice) -> String {
        let msg = message(&[n], now(), false);
        section_texts(&msg).last().unwrap().clone()
    }

    /// Per finding type, the short line and the facts in full.
    #[test]
    fn slack_sections_say_what_drifted_per_type() {
        let hex = |c: &str| c.repeat(64);
        let cases: Vec<(FindingType, Vec<String>, Vec<String>)> = vec![
            (
                FindingType::SpecDrift,
                vec![
                    format!(
                        "live spec `registry.example.com/shop/api:hotfix-1` · declared `registry.example.com/shop/api@sha256:{}`",
                        hex("f")
                    ),
                    "live spec: registry.example.com/shop/api:hotfix-1".into(),
                ],
                // Two equal digests side by side read as "no drift".
                vec![format!("running `sha256:{}", &hex("f")[..12])],
            ),
            (
                FindingType::Missing,
                vec![
                    "declared in `apps/api/overlays/production`".into(),
                    "declared: Deployment shop/api-1".into(),
                    "is declared in apps/api/overlays/production but does not exist".into(),
                ],
                vec!["running `".into()],
            ),
            (
                FindingType::Undeclared,
                vec![
                    "live spec `registry.example.com/shop/debug:latest`".into(),
                    format!("Pods run: sha256:{} (2 Pods)", hex("3")),
                ],
                vec![],
            ),
            (
                FindingType::Unverifiable,
                vec![
                    format!("config ID, not a digest `sha256:{} ×2`", &hex("c")[..12]),
                    format!("image config ID (not a manifest digest): sha256:{} (2 Pods)", hex("c")),
                ],
                vec!["running `".into(), "Pods run:".into()],
            ),
            (
                FindingType::Unpinned,
                vec![
                    "declared `registry.example.com/shop/api:1.4`".into(),
                    format!("running `sha256:{} ×3`", &hex("2")[..12]),
                    "is declared by tag, not by digest".into(),
                ],
                vec![],
            ),
            (
                FindingType::ConfigDrift,
                vec![
                    "config-drift `shop/app-config`".into(),
                    "file `apps/api/overlays/production/config.yaml`".into(),
                    "values differ: LOG_LEVEL".into(),
                ],
                vec![],
            ),
        ];
        for (kind, present, absent) in cases {
            let text = alert_text(of_kind(kind, Event::Firing));
            for needle in present {
                assert!(text.contains(&needle), "{kind}: {needle:?} in\n{text}");
            }
            for needle in absent {
                assert!(!text.contains(&needle), "{kind}: not {needle:?} in\n{text}");
            }
        }
    }

    #[test]
    fn slack_resolved_says_what_it_was_and_how_long_it_lasted() {
        let msg = message(&[of_kind(FindingType::SpecDrift, Event::Resolved)], now(), false);
        assert_eq!(msg["text"], "production: 1 resolved");
        let text = section_texts(&msg).last().unwrap().clone();
        assert!(text.contains("resolved 2026-11-26 09:02 UTC, lasted 19h"), "{text}");
        assert!(text.contains("was: live spec runs"), "{text}");
        assert!(
            text.contains("live spec was: registry.example.com/shop/api:hotfix-1"),
            "{text}"
        );
        assert!(text.contains("Pods ran: "), "{text}");
        assert!(!text.contains("Pods run: "), "{text}");
    }

    fn section_texts(msg: &Value) -> Vec<String> {
        msg["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"]["text"].as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn slack_small_message_names_everything_a_responder_needs() {
        let msg = message(&[notice("production", 1, Event::Firing)], now(), false);
        let blocks = msg["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0]["text"]["text"], "production: 1 critical drift");
        assert_eq!(msg["text"], "production: 1 critical drift");
        assert_eq!(
            blocks[1]["elements"][0]["text"],
            "production: cluster prod-eu1, commit -"
        );
        let text = blocks[3]["text"]["text"].as_str().unwrap();
        for needle in [
            "digest-drift",
            "shop/Deployment/api-1 container api",
            "since 2026-11-25 14:02 UTC, 19h",
            "declared `sha256:111111111111`",
            "running `sha256:222222222222 ×3`",
            "source `apps/api/overlays/production`",
            "Pods run another digest",
            &format!("Pods run: sha256:{} (3 Pods)", "2".repeat(64)),
        ] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
    }

    #[test]
    fn slack_500_findings_stay_within_limits_and_are_summarised() {
        let mut notices: Vec<Notice> = (0..400).map(|i| notice("production", i, Event::Firing)).collect();
        notices.extend((0..100).map(|i| notice("staging", i, Event::Firing)));
        let msg = message(&notices, now(), false);
        let blocks = msg["blocks"].as_array().unwrap();
        assert!(blocks.len() <= SLACK_MAX_BLOCKS, "{} blocks", blocks.len());
        assert!(
            section_texts(&msg)
                .iter()
                .all(|t| t.chars().count() <= SLACK_MAX_SECTION)
        );
        let more: Vec<&str> = blocks
            .iter()
            .filter(|b| b["elements"][0]["text"].as_str().is_some_and(|t| t.starts_with("and ")))
            .filter_map(|b| b["elements"][0]["text"].as_str())
            .collect();
        assert_eq!(
            more,
            vec!["and 356 more alerts in production", "and 100 more alerts in staging"]
        );
        assert!(
            section_texts(&msg).iter().any(|t| t.starts_with("*staging*")),
            "every environment is named"
        );
    }

    #[test]
    fn slack_long_error_text_is_cut_to_the_section_limit() {
        let n = Notice {
            event: Event::Firing,
            fingerprint: "e".into(),
            subject: Subject::AuditError {
                environment: "production".into(),
                cluster: "c".into(),
                error: "x".repeat(10_000),
            },
            first_seen: now(),
            resolved_at: None,
        };
        assert!(
            section_texts(&message(&[n], now(), false))
                .iter()
                .all(|t| t.chars().count() <= SLACK_MAX_SECTION)
        );
    }
}
