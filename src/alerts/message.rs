//! What alerts say: Slack Block Kit (within Slack's limits), email subject and text/HTML
//! bodies, Alertmanager v2 alerts, and the webhook payload. Pure: [`crate::alerts::deliver`] sends them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::alerts::lifecycle::{Event, Notice, Subject, age, since};
use crate::core::compare::short;
use crate::core::model::{Finding, Severity};
use crate::core::report::{Report, running_summary};

/// Slack rejects messages with more blocks than this.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// Slack rejects a section whose text is longer than this.
pub const SLACK_MAX_SECTION: usize = 3000;
const SLACK_MAX_HEADER: usize = 150;

/// Notices grouped by environment, in a stable order.
fn by_environment(notices: &[Notice]) -> BTreeMap<&str, Vec<&Notice>> {
    let mut map: BTreeMap<&str, Vec<&Notice>> = BTreeMap::new();
    for n in notices {
        map.entry(n.subject.environment()).or_default().push(n);
    }
    map
}

fn worst(notices: &[Notice]) -> Option<Severity> {
    notices
        .iter()
        .filter(|n| n.event != Event::Resolved)
        .map(|n| n.subject.severity())
        .max()
}

fn counts(notices: &[Notice]) -> String {
    let open = notices.iter().filter(|n| n.event != Event::Resolved).count();
    let resolved = notices.len() - open;
    let mut parts = Vec::new();
    if open > 0 {
        parts.push(format!("{open} alert{}", if open == 1 { "" } else { "s" }));
    }
    if resolved > 0 {
        parts.push(format!("{resolved} resolved"));
    }
    parts.join(", ")
}

/// `shop/Deployment/api` (container `api`), or the environment for an audit error.
fn what(subject: &Subject) -> String {
    match subject {
        Subject::Finding(f) => {
            let workload = match (&f.workload_kind, &f.name) {
                (Some(k), Some(n)) => format!("{}/{k}/{n}", f.namespace),
                _ => f.source.clone().unwrap_or_default(),
            };
            match &f.container {
                Some(c) => format!("{workload} container {c}"),
                None => workload,
            }
        }
        Subject::AuditError {
            environment, cluster, ..
        } => format!("environment {environment} (cluster {cluster})"),
    }
}

fn when(n: &Notice, now: DateTime<Utc>) -> String {
    match (n.event, n.resolved_at) {
        (Event::Resolved, Some(at)) => format!(
            "resolved {} after {}",
            at.format("%Y-%m-%d %H:%M UTC"),
            age(at.signed_duration_since(n.first_seen).to_std().unwrap_or_default())
        ),
        _ => since(n.first_seen, now),
    }
}

fn declared_short(f: &Finding) -> String {
    match f.declared.as_deref() {
        Some(d) => match d.split_once('@') {
            Some((_, digest)) => short(digest),
            None => d.to_string(),
        },
        None => "-".into(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn emoji(n: &Notice) -> &'static str {
    match (n.event, n.subject.severity()) {
        (Event::Resolved, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":red_circle:",
        (_, Severity::Warning) => ":large_orange_circle:",
        (_, Severity::Info) => ":large_blue_circle:",
    }
}

/// Slack escapes: `&`, `<`, `>` are control characters in mrkdwn.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn slack_section(n: &Notice, now: DateTime<Utc>) -> String {
    let mut text = format!(
        "{} *{}* {} `{}` · {}\n",
        emoji(n),
        n.event.as_str(),
        n.subject.kind(),
        slack_escape(&what(&n.subject)),
        when(n, now)
    );
    match &n.subject {
        Subject::Finding(f) => {
            let _ = writeln!(
                text,
                "declared `{}` · running `{}`",
                slack_escape(&declared_short(f)),
                running_summary(f)
            );
            if let Some(source) = &f.source {
                let _ = writeln!(text, "source `{}`", slack_escape(source));
            }
            let full: Vec<String> = f
                .declared
                .iter()
                .map(|d| format!("declared: {d}"))
                .chain(f.running.iter().map(|r| {
                    format!(
                        "running:  {} ({} Pod{})",
                        r.digest,
                        r.pods,
                        if r.pods == 1 { "" } else { "s" }
                    )
                }))
                .collect();
            if !full.is_empty() {
                let _ = write!(text, "```{}```", slack_escape(&full.join("\n")));
            }
        }
        Subject::AuditError { error, .. } => {
            let _ = write!(text, "```{}```", slack_escape(&truncate(error, 2000)));
        }
    }
    truncate(&text, SLACK_MAX_SECTION)
}

/// A Block Kit message for an incoming webhook. Never more than [`SLACK_MAX_BLOCKS`] blocks
/// or [`SLACK_MAX_SECTION`] characters per section: what does not fit is summarised per
/// environment ("and 37 more alerts in production").
pub fn slack(notices: &[Notice], now: DateTime<Utc>, test: bool) -> Value {
    let title = if test {
        "driftwatch test message: this channel is configured correctly".to_string()
    } else {
        format!("driftwatch: {}", counts(notices))
    };
    let mut blocks =
        vec![json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, SLACK_MAX_HEADER)}})];
    let groups = by_environment(notices);
    // Each environment takes a heading and, if it overflows, a summary line: reserve those so
    // that every environment is at least named.
    let mut budget = SLACK_MAX_BLOCKS.saturating_sub(1 + 2 * groups.len());
    for (env, list) in &groups {
        let env_notices: Vec<Notice> = list.iter().map(|n| (*n).clone()).collect();
        let heading = format!(
            "*{}* · {}{}",
            slack_escape(env),
            counts(&env_notices),
            worst(&env_notices).map(|s| format!(", worst {s}")).unwrap_or_default()
        );
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&heading, SLACK_MAX_SECTION)}}),
        );
        let shown = list.len().min(budget);
        budget -= shown;
        for n in &list[..shown] {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_section(n, now)}}));
        }
        let hidden = list.len() - shown;
        if hidden > 0 {
            let more = format!(
                "and {hidden} more alert{} in {}",
                if hidden == 1 { "" } else { "s" },
                slack_escape(env)
            );
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]}));
        }
    }
    if test {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": "Sent by `driftwatch notify-test`. No drift is reported by this message."}}));
    }
    json!({"text": title, "blocks": blocks})
}

/// `[driftwatch] production: 3 alerts, worst critical`.
pub fn email_subject(notices: &[Notice], test: bool) -> String {
    if test {
        return "[driftwatch] test message".to_string();
    }
    let envs: Vec<&str> = by_environment(notices).keys().copied().collect();
    let worst = worst(notices).map(|s| format!(", worst {s}")).unwrap_or_default();
    format!("[driftwatch] {}: {}{worst}", envs.join(", "), counts(notices))
}

fn lines(n: &Notice, now: DateTime<Utc>) -> Vec<String> {
    let mut out = vec![
        format!(
            "[{}] {} {}: {}",
            n.event.as_str(),
            n.subject.severity(),
            n.subject.kind(),
            what(&n.subject)
        ),
        format!("  {}", when(n, now)),
    ];
    match &n.subject {
        Subject::Finding(f) => {
            if let Some(d) = &f.declared {
                out.push(format!("  declared: {d}"));
            }
            for r in &f.running {
                out.push(format!("  running:  {} ({} Pods)", r.digest, r.pods));
            }
            if let Some(s) = &f.source {
                out.push(format!("  source:   {s}"));
            }
            out.push(format!("  {}", f.message));
        }
        Subject::AuditError { error, .. } => out.push(format!("  {error}")),
    }
    out
}

pub fn email_text(notices: &[Notice], now: DateTime<Utc>, test: bool) -> String {
    if test {
        return "This is a test message from driftwatch notify-test: this channel is configured correctly.\nNo drift is reported by this message.\n".into();
    }
    let mut out = String::new();
    for (env, list) in by_environment(notices) {
        let _ = writeln!(out, "== {env} ==\n");
        for n in list {
            for l in lines(n, now) {
                let _ = writeln!(out, "{l}");
            }
            out.push('\n');
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn email_html(notices: &[Notice], now: DateTime<Utc>, test: bool) -> String {
    let mut out = String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
    if test {
        out.push_str("<p>This is a test message from <code>driftwatch notify-test</code>: this channel is configured correctly. No drift is reported by this message.</p>");
    }
    for (env, list) in by_environment(notices) {
        let _ = write!(
            out,
            "<h2>{}</h2><table cellpadding=\"4\" style=\"border-collapse:collapse\">",
            html_escape(env)
        );
        out.push_str("<tr><th align=\"left\">Event</th><th align=\"left\">Severity</th><th align=\"left\">Type</th><th align=\"left\">What</th><th align=\"left\">Declared</th><th align=\"left\">Running</th><th align=\"left\">Since</th></tr>");
        for n in list {
            let (declared, running) = match &n.subject {
                Subject::Finding(f) => (
                    f.declared.clone().unwrap_or_default(),
                    f.running
                        .iter()
                        .map(|r| format!("{} ({} Pods)", r.digest, r.pods))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ),
                Subject::AuditError { error, .. } => (String::new(), html_escape(error)),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                n.event.as_str(),
                n.subject.severity(),
                n.subject.kind(),
                html_escape(&what(&n.subject)),
                html_escape(&declared),
                running,
                html_escape(&when(n, now))
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>");
    out
}

/// Alertmanager v2 alerts (`POST /api/v2/alerts`): one per notice. Firing alerts end `ttl`
/// from now unless re-sent; resolved ones end when they were resolved.
pub fn alertmanager(notices: &[Notice], now: DateTime<Utc>, ttl: Duration, test: bool) -> Value {
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
                    annotations["description"] = json!(f.message);
                    annotations["declared"] = json!(f.declared.clone().unwrap_or_default());
                    annotations["running"] = json!(f.running.iter().map(|r| format!("{} ({} Pods)", r.digest, r.pods)).collect::<Vec<_>>().join(", "));
                    annotations["source"] = json!(f.source.clone().unwrap_or_default());
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

/// The webhook body: the `driftwatch.report/v1` report of the audit (its findings narrowed to
/// those routed to the channel), plus `alerts`: what changed for this receiver.
pub fn webhook(report: &Report, notices: &[Notice], now: DateTime<Utc>, test: bool) -> Value {
    let mut body = serde_json::to_value(report).expect("report serializes");
    let routed: std::collections::BTreeSet<&str> = notices.iter().map(|n| n.fingerprint.as_str()).collect();
    if let Some(findings) = body.get_mut("findings").and_then(Value::as_array_mut) {
        findings.retain(|f| f["fingerprint"].as_str().is_some_and(|fp| routed.contains(fp)));
    }
    body["alerts"] = json!(notices
        .iter()
        .map(|n| json!({"fingerprint": n.fingerprint, "event": n.event, "type": n.subject.kind(), "severity": n.subject.severity(),
                        "environment": n.subject.environment(), "first_seen": n.first_seen, "resolved_at": n.resolved_at,
                        "summary": format!("{} {}, {}", n.subject.kind(), what(&n.subject), when(n, now))}))
        .collect::<Vec<_>>());
    body["test"] = json!(test);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{FindingType, RunningDigest, WorkloadKind};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 2, 0).unwrap()
    }

    fn notice(env: &str, i: usize, event: Event) -> Notice {
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
        };
        Notice {
            event,
            fingerprint: f.fingerprint.clone(),
            subject: Subject::Finding(f),
            first_seen: Utc.with_ymd_and_hms(2026, 11, 25, 14, 2, 0).unwrap(),
            resolved_at: (event == Event::Resolved).then(now),
        }
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
        let msg = slack(&[notice("production", 1, Event::Firing)], now(), false);
        let blocks = msg["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0]["text"]["text"], "driftwatch: 1 alert");
        let text = blocks[2]["text"]["text"].as_str().unwrap();
        for needle in [
            "digest-drift",
            "shop/Deployment/api-1 container api",
            "since 2026-11-25 14:02 UTC, 19h",
            "declared `sha256:111111111111`",
            "running `sha256:222222222222 ×3`",
            "source `apps/api/overlays/production`",
            &format!("running:  sha256:{} (3 Pods)", "2".repeat(64)),
        ] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
    }

    #[test]
    fn slack_500_findings_stay_within_limits_and_are_summarised() {
        let mut notices: Vec<Notice> = (0..400).map(|i| notice("production", i, Event::Firing)).collect();
        notices.extend((0..100).map(|i| notice("staging", i, Event::Firing)));
        let msg = slack(&notices, now(), false);
        let blocks = msg["blocks"].as_array().unwrap();
        assert!(blocks.len() <= SLACK_MAX_BLOCKS, "{} blocks", blocks.len());
        assert!(
            section_texts(&msg)
                .iter()
                .all(|t| t.chars().count() <= SLACK_MAX_SECTION)
        );
        let more: Vec<&str> = blocks
            .iter()
            .filter_map(|b| b["elements"][0]["text"].as_str())
            .collect();
        assert_eq!(
            more,
            vec!["and 355 more alerts in production", "and 100 more alerts in staging"]
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
            section_texts(&slack(&[n], now(), false))
                .iter()
                .all(|t| t.chars().count() <= SLACK_MAX_SECTION)
        );
    }

    #[test]
    fn email_subject_says_environment_count_and_worst_severity() {
        let notices = vec![
            notice("production", 1, Event::Firing),
            notice("production", 2, Event::Resolved),
            notice("staging", 3, Event::Firing),
        ];
        assert_eq!(
            email_subject(&notices, false),
            "[driftwatch] production, staging: 2 alerts, 1 resolved, worst critical"
        );
        assert_eq!(
            email_subject(&notices[1..2], false),
            "[driftwatch] production: 1 resolved"
        );
        let html = email_html(&notices, now(), false);
        assert!(
            html.contains("<h2>production</h2>") && html.contains("resolved 2026-11-26 09:02 UTC after 19h"),
            "{html}"
        );
        assert!(email_text(&notices, now(), false).contains("== staging =="));
    }

    #[test]
    fn alertmanager_alerts_have_labels_and_end_when_resolved() {
        let alerts = alertmanager(
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
}
