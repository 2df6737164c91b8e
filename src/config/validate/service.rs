//! The daemon's sections: `[schedule]`, `[server]`, `[ha]` and `log_format`.

use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawHa, RawSchedule, RawServer};
use crate::config::{ConfigError, HaConfig, LogFormat, ScheduleConfig, ServerConfig, parse_cron};

impl Validator<'_> {
    pub(super) fn schedule(&self, s: RawSchedule) -> Result<ScheduleConfig, ConfigError> {
        let cron = s.cron.unwrap_or_else(|| "0 30 2 * * *".into());
        parse_cron(&cron)
            .map_err(|e| self.invalid("schedule.cron", format!("{cron:?} is not a cron expression: {e}")))?;
        let timezone = match s.timezone {
            None => chrono_tz::UTC,
            Some(tz) => tz.parse().map_err(|_| {
                self.invalid(
                    "schedule.timezone",
                    format!("{tz:?} is not an IANA time zone like Europe/Berlin"),
                )
            })?,
        };
        Ok(ScheduleConfig {
            cron,
            timezone,
            run_on_start: s.run_on_start.unwrap_or(false),
            audit_timeout: self.duration("schedule.audit_timeout", s.audit_timeout, Duration::from_secs(600))?,
            shutdown_grace: self.duration("schedule.shutdown_grace", s.shutdown_grace, Duration::from_secs(30))?,
        })
    }

    pub(super) fn server(&self, s: RawServer) -> Result<ServerConfig, ConfigError> {
        let listen = s.listen.unwrap_or_else(|| "127.0.0.1:9184".into());
        Ok(ServerConfig {
            listen: listen.parse().map_err(|e| {
                self.invalid(
                    "server.listen",
                    format!("{listen:?} is not an address like 127.0.0.1:9184: {e}"),
                )
            })?,
        })
    }

    pub(super) fn ha(&self, h: RawHa) -> Result<Option<HaConfig>, ConfigError> {
        if !h.enabled.unwrap_or(false) {
            return Ok(None);
        }
        let lease_duration = self.duration("ha.lease_duration", h.lease_duration, Duration::from_secs(15))?;
        let renew_interval = self.duration("ha.renew_interval", h.renew_interval, Duration::from_secs(5))?;
        if renew_interval >= lease_duration {
            return Err(self.invalid(
                "ha.renew_interval",
                "must be shorter than ha.lease_duration, or the leader loses its lease between renewals",
            ));
        }
        // In a Pod these come from the downward API (see deploy/); HOSTNAME is the Pod name.
        let from_env = |k: &str| self.env.get(k).filter(|v| !v.is_empty()).cloned();
        let identity = h
            .identity
            .or_else(|| from_env("POD_NAME"))
            .or_else(|| from_env("HOSTNAME"));
        let Some(identity) = identity else {
            return Err(self.invalid("ha.identity", "missing: set it, or POD_NAME / HOSTNAME"));
        };
        Ok(Some(HaConfig {
            lease_name: h.lease_name.unwrap_or_else(|| "driftwatch".into()),
            lease_namespace: h
                .lease_namespace
                .or_else(|| from_env("POD_NAMESPACE"))
                .unwrap_or_else(|| "default".into()),
            identity,
            lease_duration,
            renew_interval,
            kubeconfig: h.kubeconfig.map(|p| self.path(p)),
            context: h.context,
        }))
    }

    pub(super) fn log_format(&self, value: Option<String>) -> Result<LogFormat, ConfigError> {
        match value.as_deref() {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => Err(self.invalid("log_format", format!("{other:?} is not one of text, json"))),
        }
    }
}
