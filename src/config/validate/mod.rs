//! Raw config → typed config, one file per section. Every error names the file and the key
//! (`driftwatch.toml: audit.rollout_grace: …`); relative paths are taken relative to the
//! config file.

mod alerts;
mod audit;
mod environments;
mod gitops;
mod registries;
mod service;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawConfig;
use super::{Config, ConfigError, Overrides, parse_severity};
use crate::core::model::Severity;

/// What every section's validation needs: where the config came from (for messages and
/// relative paths) and the environment `*_env` secrets are read from.
pub(crate) struct Validator<'a> {
    pub(crate) origin: &'a str,
    pub(crate) base: &'a Path,
    pub(crate) env: &'a HashMap<String, String>,
}

impl Validator<'_> {
    pub(crate) fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// `p` relative to the config file's directory, with `a/../` folded so reports show
    /// `examples/gitops` rather than `config/../examples/gitops`.
    pub(crate) fn path(&self, p: PathBuf) -> PathBuf {
        let joined = if p.is_absolute() { p } else { self.base.join(p) };
        let mut out = PathBuf::new();
        for c in joined.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir
                    if matches!(out.components().next_back(), Some(std::path::Component::Normal(_))) =>
                {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }

    pub(crate) fn duration(
        &self,
        key: &str,
        value: Option<String>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => humantime::parse_duration(&v).map_err(|e| {
                self.invalid(
                    key,
                    format!("{v:?} is not a duration like \"30s\", \"10m\" or \"24h\": {e}"),
                )
            }),
        }
    }

    pub(crate) fn severity(
        &self,
        key: &str,
        value: Option<String>,
        default: Severity,
    ) -> Result<Severity, ConfigError> {
        match value {
            None => Ok(default),
            Some(s) => parse_severity(&s)
                .ok_or_else(|| self.invalid(key, format!("{s:?} is not one of info, warning, critical"))),
        }
    }

    /// An `http` or `https` URL; a password in it is not repeated in the error.
    pub(crate) fn http_url(&self, key: &str, url: &str) -> Result<(), ConfigError> {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            Ok(u) => Err(self.invalid(key, format!("scheme {:?} is not http or https", u.scheme()))),
            Err(e) => Err(self.invalid(key, format!("{:?} is not a URL: {e}", super::redact_url(url)))),
        }
    }

    /// Validates every section. Order matters only for which error is reported first, and
    /// alerts come after environments because channels route by environment name.
    pub(crate) fn config(&self, raw: RawConfig, overrides: &Overrides) -> Result<Config, ConfigError> {
        let gitops = self.gitops(raw.gitops)?;
        let audit = self.audit(raw.audit, raw.registry_rewrites, overrides)?;
        let render = self.render(raw.render)?;
        let environments = self.environments(raw.environments)?;
        let state = self.state(raw.state);
        let alerts = self.alerts(raw.alerts, &environments)?;
        let schedule = self.schedule(raw.schedule)?;
        let server = self.server(raw.server)?;
        let ha = self.ha(raw.ha)?;
        let registries = self.registries(raw.registries)?;
        let log_format = self.log_format(raw.log_format)?;
        Ok(Config {
            origin: self.origin.to_string(),
            gitops,
            audit,
            render,
            environments,
            state,
            alerts,
            schedule,
            server,
            ha,
            log_format,
            registries,
        })
    }
}
