//! Email over SMTP (`[[alerts.email]]`): a subject naming environments, counts and the worst
//! severity, and text and HTML bodies.

use std::fmt::Write as _;
use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use super::text::{argocd, by_environment, context, facts, headline, what, when};
use super::{Batch, Channel, ChannelError, Routing, Section, Settings};
use crate::core::alert_lifecycle::{Event, Notice, Subject};
use crate::error_chain;
use crate::retry::{Attempt, with_retries};
use crate::settings::{ConfigError, DeliveryConfig, Secret, Validator};

// ---- config ----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
    smtp_host: String,
    smtp_port: Option<u16>,
    tls: Option<String>,
    ca_file: Option<PathBuf>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    from: String,
    #[serde(default)]
    to: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// Implicit TLS (port 465).
    Tls,
    /// No TLS: only to a relay on the loopback interface.
    None,
}

/// The `tls` key's value.
impl std::fmt::Display for SmtpTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        })
    }
}

#[derive(Clone, Debug)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Extra CA certificate (PEM) to trust, for relays with an internal CA.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

impl Section for EmailConfig {
    type Raw = RawEmail;

    fn validate(v: &Validator<'_>, key: &str, c: RawEmail) -> Result<(Routing, Self), ConfigError> {
        let tls = match c.tls.as_deref() {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(other) => {
                return Err(v.invalid(
                    format!("{key}.tls"),
                    format!("{other:?} is not one of starttls, tls, none"),
                ));
            }
        };
        if tls == SmtpTls::None && !matches!(c.smtp_host.as_str(), "127.0.0.1" | "localhost" | "::1") {
            return Err(v.invalid(format!("{key}.tls"), "\"none\" is only allowed for a relay on 127.0.0.1: credentials and findings would cross the network in clear"));
        }
        if c.to.is_empty() {
            return Err(v.invalid(format!("{key}.to"), "at least one recipient is required"));
        }
        for addr in std::iter::once(&c.from).chain(&c.to) {
            addr.parse::<Mailbox>()
                .map_err(|e| v.invalid(format!("{key}.to"), format!("{addr:?} is not an email address: {e}")))?;
        }
        let password = v.secret(&format!("{key}.password"), c.password_env, c.password_file)?;
        if password.is_some() && c.username.is_none() {
            return Err(v.invalid(format!("{key}.username"), "a password is configured but no username"));
        }
        let port = c.smtp_port.unwrap_or(match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        let email = EmailConfig {
            host: c.smtp_host,
            port,
            tls,
            ca_file: c.ca_file.map(|p| v.path(p)),
            username: c.username,
            password,
            from: c.from,
            to: c.to,
        };
        let routing = Routing {
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        Ok((routing, email))
    }
}

impl Settings for EmailConfig {
    fn describe_target(&self) -> String {
        format!("{}:{} ({}) to {}", self.host, self.port, self.tls, self.to.join(", "))
    }

    fn build(&self, _client: &reqwest::Client, delivery: DeliveryConfig) -> Box<dyn Channel> {
        Box::new(Email {
            cfg: self.clone(),
            delivery,
        })
    }
}

// ---- payload ---------------------------------------------------------------------------------

/// `[driftwatch] production: 2 critical, 1 warning drift`.
pub fn subject(notices: &[Notice], test: bool) -> String {
    if test {
        return "[driftwatch] test message".to_string();
    }
    format!("[driftwatch] {}", headline(notices))
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
            let resolved = n.event == Event::Resolved;
            if let Some(note) = argocd(f) {
                out.push(format!("  {note}"));
            }
            out.push(format!("  {}{}", if resolved { "was: " } else { "" }, f.message));
            for (label, value) in facts(f, resolved) {
                out.push(format!("  {label}: {value}"));
            }
        }
        Subject::AuditError { error, .. } => out.push(format!("  {error}")),
    }
    out
}

pub fn text(notices: &[Notice], now: DateTime<Utc>, test: bool) -> String {
    if test {
        return "This is a test message from driftwatch notify-test: this channel is configured correctly.\nNo drift is reported by this message.\n".into();
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", headline(notices));
    for line in context(notices) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
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

pub fn html(notices: &[Notice], now: DateTime<Utc>, test: bool) -> String {
    let mut out = String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
    if test {
        out.push_str("<p>This is a test message from <code>driftwatch notify-test</code>: this channel is configured correctly. No drift is reported by this message.</p>");
    }
    if !test {
        let _ = write!(out, "<h1>{}</h1><p>", html_escape(&headline(notices)));
        for line in context(notices) {
            let _ = write!(out, "{}<br>", html_escape(&line));
        }
        out.push_str("</p>");
    }
    for (env, list) in by_environment(notices) {
        let _ = write!(
            out,
            "<h2>{}</h2><table cellpadding=\"4\" style=\"border-collapse:collapse\">",
            html_escape(env)
        );
        out.push_str("<tr><th align=\"left\">Event</th><th align=\"left\">Severity</th><th align=\"left\">Type</th><th align=\"left\">What</th><th align=\"left\">What happened</th><th align=\"left\">Facts</th><th align=\"left\">Since</th></tr>");
        for n in list {
            let (explanation, details) = match &n.subject {
                Subject::Finding(f) => {
                    let resolved = n.event == Event::Resolved;
                    let facts: Vec<String> = facts(f, resolved)
                        .into_iter()
                        .map(|(label, value)| format!("{}: <code>{}</code>", html_escape(label), html_escape(&value)))
                        .collect();
                    let was = if resolved { "was: " } else { "" };
                    let note = argocd(f)
                        .map(|n| format!("<strong>{}</strong><br>", html_escape(&n)))
                        .unwrap_or_default();
                    (format!("{note}{was}{}", html_escape(&f.message)), facts.join("<br>"))
                }
                Subject::AuditError { error, .. } => (html_escape(error), String::new()),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                n.event.as_str(),
                n.subject.severity(),
                n.subject.kind(),
                html_escape(&what(&n.subject)),
                explanation,
                details,
                html_escape(&when(n, now))
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>");
    out
}

// ---- send ------------------------------------------------------------------------------------

struct Email {
    cfg: EmailConfig,
    delivery: DeliveryConfig,
}

impl Email {
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, ChannelError> {
        let c = &self.cfg;
        let tls = |params: TlsParameters| match c.tls {
            SmtpTls::StartTls => Tls::Required(params),
            _ => Tls::Wrapper(params),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host);
        if c.tls != SmtpTls::None {
            let mut params = TlsParameters::builder(c.host.clone());
            if let Some(ca) = &c.ca_file {
                let setup = |e: &dyn std::fmt::Display| ChannelError::Setup(format!("ca_file {}: {e}", ca.display()));
                let pem = std::fs::read(ca).map_err(|e| setup(&e))?;
                params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| setup(&e))?);
            }
            let params = params.build_rustls().map_err(|e| ChannelError::Setup(e.to_string()))?;
            builder = builder.tls(tls(params));
        }
        builder = builder.port(c.port).timeout(Some(self.delivery.timeout));
        if let (Some(user), Some(pass)) = (&c.username, &c.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(builder.build())
    }

    fn message(&self, batch: &Batch<'_>) -> Result<lettre::Message, ChannelError> {
        let c = &self.cfg;
        let mailbox = |a: &str| a.parse::<Mailbox>().map_err(|e| ChannelError::Setup(e.to_string()));
        let mut builder = lettre::Message::builder()
            .from(mailbox(&c.from)?)
            .subject(subject(batch.notices, batch.test));
        for to in &c.to {
            builder = builder.to(mailbox(to)?);
        }
        let text = text(batch.notices, batch.now, batch.test);
        let html = html(batch.notices, batch.now, batch.test);
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| ChannelError::Setup(e.to_string()))
    }
}

#[async_trait]
impl Channel for Email {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), ChannelError> {
        let email = self.message(batch)?;
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
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{notice, now, of_kind};
    use super::*;
    use crate::core::model::FindingType;

    #[test]
    fn email_subject_says_environment_count_and_worst_severity() {
        let notices = vec![
            notice("production", 1, Event::Firing),
            notice("production", 2, Event::Resolved),
            notice("staging", 3, Event::Firing),
        ];
        assert_eq!(
            subject(&notices, false),
            "[driftwatch] production: 1 critical drift, 1 resolved; staging: 1 critical drift"
        );
        assert_eq!(subject(&notices[1..2], false), "[driftwatch] production: 1 resolved");
        let html = html(&notices, now(), false);
        assert!(
            html.contains("<h2>production</h2>")
                && html.contains("resolved 2026-11-26 09:02 UTC, lasted 19h (first seen 2026-11-25 14:02 UTC)"),
            "{html}"
        );
        assert!(text(&notices, now(), false).contains("== staging =="));
    }

    /// What a responder reads in the text and HTML bodies, per finding type.
    #[test]
    fn email_bodies_carry_explanation_and_facts_per_type() {
        let hex = |c: &str| c.repeat(64);
        let cases: Vec<(FindingType, Vec<String>)> = vec![
            (
                FindingType::SpecDrift,
                vec![
                    "live spec: registry.example.com/shop/api:hotfix-1".into(),
                    format!("declared: registry.example.com/shop/api@sha256:{}", hex("f")),
                    "live spec runs registry.example.com/shop/api:hotfix-1 but git declares".into(),
                ],
            ),
            (
                FindingType::Missing,
                vec![
                    "declared: Deployment shop/api-1".into(),
                    "source: apps/api/overlays/production".into(),
                ],
            ),
            (
                FindingType::Undeclared,
                vec![
                    "live spec: registry.example.com/shop/debug:latest".into(),
                    format!("Pods run: sha256:{} (2 Pods)", hex("3")),
                ],
            ),
            (
                FindingType::Unverifiable,
                vec![format!(
                    "image config ID (not a manifest digest): sha256:{} (2 Pods)",
                    hex("c")
                )],
            ),
            (
                FindingType::Unpinned,
                vec![
                    "declared: registry.example.com/shop/api:1.4".into(),
                    format!("Pods run: sha256:{} (3 Pods)", hex("2")),
                ],
            ),
            (
                FindingType::ConfigDrift,
                vec!["file: apps/api/overlays/production/config.yaml".into()],
            ),
        ];
        for (kind, needles) in cases {
            let notices = [of_kind(kind, Event::Firing)];
            let body = text(&notices, now(), false);
            let html = html(&notices, now(), false);
            assert!(
                body.contains("production: cluster prod-eu1, commit 0123456789ab"),
                "{body}"
            );
            for needle in needles {
                assert!(body.contains(&needle), "{kind}: {needle:?} in\n{body}");
                let html_needle = match needle.split_once(": ") {
                    Some((label, value)) => html_escape(&format!("{label}: ")) + "<code>" + &html_escape(value),
                    None => html_escape(&needle),
                };
                assert!(
                    html.contains(&html_needle) || html.contains(&html_escape(&needle)),
                    "{kind}: {html_needle:?} in\n{html}"
                );
            }
        }
        let resolved = text(&[of_kind(FindingType::SpecDrift, Event::Resolved)], now(), false);
        assert!(resolved.contains("lasted 19h"), "{resolved}");
        assert!(resolved.contains("was: live spec runs"), "{resolved}");
        assert!(
            resolved.contains("live spec was: registry.example.com/shop/api:hotfix-1"),
            "{resolved}"
        );
        assert!(!resolved.contains("Pods run:"), "{resolved}");
    }
}
