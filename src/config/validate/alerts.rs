//! `[state]` and `[alerts]`: where alert state is kept, delivery timeouts and retries, and the
//! channels with their routing (`name`, `environments`, `min_severity`).

use std::path::PathBuf;
use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawAlertmanager, RawAlerts, RawEmail, RawSlack, RawState, RawWebhook};
use crate::config::{
    AlertsConfig, ChannelConfig, ChannelKind, ConfigError, DeliveryConfig, EmailConfig, EnvironmentConfig, SmtpTls,
    StateConfig,
};
use crate::core::model::Severity;

/// The routing keys every channel repeats.
struct Routing {
    key: String,
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
}

impl Validator<'_> {
    pub(super) fn state(&self, s: RawState) -> StateConfig {
        StateConfig {
            path: self.path(
                s.path
                    .unwrap_or_else(|| PathBuf::from("/var/lib/driftwatch/state.json")),
            ),
        }
    }

    pub(super) fn alerts(&self, a: RawAlerts, environments: &[EnvironmentConfig]) -> Result<AlertsConfig, ConfigError> {
        let delivery = DeliveryConfig {
            timeout: self.duration("alerts.timeout", a.timeout, Duration::from_secs(10))?,
            max_attempts: match a.max_attempts {
                Some(0) => return Err(self.invalid("alerts.max_attempts", "must be at least 1")),
                Some(n) => n,
                None => 5,
            },
            backoff: self.duration("alerts.backoff", a.backoff, Duration::from_secs(1))?,
            backoff_max: self.duration("alerts.backoff_max", a.backoff_max, Duration::from_secs(30))?,
        };
        let mut channels: Vec<ChannelConfig> = Vec::new();
        for (i, c) in a.slack.into_iter().enumerate() {
            let (routing, kind) = self.slack(i, c)?;
            channels.push(self.channel(routing, kind, &channels, environments)?);
        }
        for (i, c) in a.email.into_iter().enumerate() {
            let (routing, kind) = self.email(i, c)?;
            channels.push(self.channel(routing, kind, &channels, environments)?);
        }
        for (i, c) in a.webhook.into_iter().enumerate() {
            let (routing, kind) = self.webhook(i, c)?;
            channels.push(self.channel(routing, kind, &channels, environments)?);
        }
        for (i, c) in a.alertmanager.into_iter().enumerate() {
            let (routing, kind) = self.alertmanager(i, c)?;
            channels.push(self.channel(routing, kind, &channels, environments)?);
        }
        Ok(AlertsConfig {
            renotify_after: self.duration(
                "alerts.renotify_after",
                a.renotify_after,
                Duration::from_secs(24 * 3600),
            )?,
            send_resolved: a.send_resolved.unwrap_or(true),
            delivery,
            channels,
        })
    }

    /// A channel's routing: its name (`slack-1`, … unless named; unique), the environments
    /// routed to it (which must exist) and its lowest severity.
    fn channel(
        &self,
        r: Routing,
        kind: ChannelKind,
        channels: &[ChannelConfig],
        environments: &[EnvironmentConfig],
    ) -> Result<ChannelConfig, ConfigError> {
        let index = channels.iter().filter(|c| c.kind.as_str() == kind.as_str()).count() + 1;
        let name = r.name.unwrap_or_else(|| format!("{}-{index}", kind.as_str()));
        if channels.iter().any(|c| c.name == name) {
            return Err(self.invalid(
                format!("{}.name", r.key),
                format!("channel name {name:?} is used twice"),
            ));
        }
        if let Some(unknown) = r
            .environments
            .iter()
            .flatten()
            .find(|e| !environments.iter().any(|x| &x.name == *e))
        {
            return Err(self.invalid(
                format!("{}.environments", r.key),
                format!("no environment is named {unknown:?}"),
            ));
        }
        let min_severity = self.severity(&format!("{}.min_severity", r.key), r.min_severity, Severity::Warning)?;
        Ok(ChannelConfig {
            name,
            environments: r.environments,
            min_severity,
            kind,
        })
    }

    fn slack(&self, i: usize, c: RawSlack) -> Result<(Routing, ChannelKind), ConfigError> {
        let key = format!("alerts.slack[{i}]");
        let webhook_url = self
            .secret(&format!("{key}.webhook_url"), c.webhook_url_env, c.webhook_url_file)?
            .ok_or_else(|| {
                self.invalid(
                    format!("{key}.webhook_url_env"),
                    "missing: the incoming webhook URL (webhook_url_env or webhook_url_file)",
                )
            })?;
        let routing = Routing {
            key,
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        Ok((routing, ChannelKind::Slack { webhook_url }))
    }

    fn email(&self, i: usize, c: RawEmail) -> Result<(Routing, ChannelKind), ConfigError> {
        let key = format!("alerts.email[{i}]");
        let tls = match c.tls.as_deref() {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(other) => {
                return Err(self.invalid(
                    format!("{key}.tls"),
                    format!("{other:?} is not one of starttls, tls, none"),
                ));
            }
        };
        if tls == SmtpTls::None && !matches!(c.smtp_host.as_str(), "127.0.0.1" | "localhost" | "::1") {
            return Err(self.invalid(format!("{key}.tls"), "\"none\" is only allowed for a relay on 127.0.0.1: credentials and findings would cross the network in clear"));
        }
        if c.to.is_empty() {
            return Err(self.invalid(format!("{key}.to"), "at least one recipient is required"));
        }
        for addr in std::iter::once(&c.from).chain(&c.to) {
            addr.parse::<lettre::message::Mailbox>()
                .map_err(|e| self.invalid(format!("{key}.to"), format!("{addr:?} is not an email address: {e}")))?;
        }
        let password = self.secret(&format!("{key}.password"), c.password_env, c.password_file)?;
        if password.is_some() && c.username.is_none() {
            return Err(self.invalid(format!("{key}.username"), "a password is configured but no username"));
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
            ca_file: c.ca_file.map(|p| self.path(p)),
            username: c.username,
            password,
            from: c.from,
            to: c.to,
        };
        let routing = Routing {
            key,
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        Ok((routing, ChannelKind::Email(email)))
    }

    fn webhook(&self, i: usize, c: RawWebhook) -> Result<(Routing, ChannelKind), ConfigError> {
        let key = format!("alerts.webhook[{i}]");
        self.http_url(&format!("{key}.url"), &c.url)?;
        let bearer_token = self.secret(&format!("{key}.bearer_token"), c.bearer_token_env, c.bearer_token_file)?;
        let hmac_secret = self.secret(&format!("{key}.hmac_secret"), c.hmac_secret_env, c.hmac_secret_file)?;
        let routing = Routing {
            key,
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        let kind = ChannelKind::Webhook {
            url: c.url,
            bearer_token,
            hmac_secret,
        };
        Ok((routing, kind))
    }

    fn alertmanager(&self, i: usize, c: RawAlertmanager) -> Result<(Routing, ChannelKind), ConfigError> {
        let key = format!("alerts.alertmanager[{i}]");
        self.http_url(&format!("{key}.url"), &c.url)?;
        let ttl = self.duration(&format!("{key}.ttl"), c.ttl, Duration::from_secs(25 * 3600))?;
        let bearer_token = self.secret(&format!("{key}.bearer_token"), c.bearer_token_env, c.bearer_token_file)?;
        let routing = Routing {
            key,
            name: c.name,
            environments: c.environments,
            min_severity: c.min_severity,
        };
        let kind = ChannelKind::Alertmanager {
            url: c.url,
            ttl,
            bearer_token,
        };
        Ok((routing, kind))
    }
}
