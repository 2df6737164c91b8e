//! `[audit]`, `[[registry_rewrites]]`, `[render]` and `[watch]`: how an audit runs and judges.

use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawAudit, RawRender, RawRewrite, RawWatch};
use crate::config::{AuditConfig, ConfigError, Engine, Overrides, RenderConfig, WatchConfig};
use crate::core::model::{Rewrite, Severity};

impl Validator<'_> {
    pub(super) fn audit(
        &self,
        a: RawAudit,
        rewrites: Vec<RawRewrite>,
        overrides: &Overrides,
    ) -> Result<AuditConfig, ConfigError> {
        let fail_on = match overrides.fail_on {
            Some(s) => s,
            None => self.severity("audit.fail_on", a.fail_on, Severity::Warning)?,
        };
        let registry_rewrites = self.rewrites(rewrites)?;
        Ok(AuditConfig {
            ignore_file: a.ignore_file.map(|p| self.path(p)),
            registry_rewrites,
            fail_on,
            rollout_grace: self.duration("audit.rollout_grace", a.rollout_grace, Duration::from_secs(15 * 60))?,
            sync_grace: self.duration("audit.sync_grace", a.sync_grace, Duration::from_secs(10 * 60))?,
            max_concurrent_environments: match a.max_concurrent_environments {
                Some(0) => {
                    return Err(self.invalid("audit.max_concurrent_environments", "must be at least 1"));
                }
                Some(n) => n,
                None => 4,
            },
            kube_timeout: self.duration("audit.kube_timeout", a.kube_timeout, Duration::from_secs(30))?,
            page_size: match a.page_size {
                Some(0) => return Err(self.invalid("audit.page_size", "must be at least 1")),
                Some(n) => n,
                None => 500,
            },
        })
    }

    fn rewrites(&self, raw: Vec<RawRewrite>) -> Result<Vec<Rewrite>, ConfigError> {
        let mut rewrites = Vec::new();
        for (i, r) in raw.into_iter().enumerate() {
            if r.from.is_empty() {
                return Err(self.invalid(
                    format!("registry_rewrites[{i}].from"),
                    "is empty: every reference would match",
                ));
            }
            rewrites.push(Rewrite { from: r.from, to: r.to });
        }
        Ok(rewrites)
    }

    pub(super) fn watch(&self, w: RawWatch) -> Result<WatchConfig, ConfigError> {
        Ok(WatchConfig {
            enabled: w.enabled.unwrap_or(true),
            debounce: self.duration("watch.debounce", w.debounce, Duration::from_secs(2))?,
        })
    }

    pub(super) fn render(&self, r: RawRender) -> Result<RenderConfig, ConfigError> {
        let engine = self
            .engine("render.engine", r.engine.as_deref())?
            .unwrap_or(Engine::Builtin);
        let cache_max_mib = r.cache_max_mib.unwrap_or(512);
        if cache_max_mib == 0 {
            return Err(self.invalid(
                "render.cache_max_mib",
                "must be at least 1 (set render.cache = false to turn the cache off)",
            ));
        }
        Ok(RenderConfig {
            kustomize: r.kustomize.filter(|k| !k.is_empty()),
            timeout: self.duration("render.timeout", r.timeout, Duration::from_secs(60))?,
            engine,
            cache: r.cache.unwrap_or(true),
            cache_dir: r.cache_dir.map(|p| self.path(p)),
            cache_max_bytes: cache_max_mib * 1024 * 1024,
            helm: r.helm.filter(|h| !h.is_empty()),
        })
    }
}

impl Validator<'_> {
    /// An `engine` key: `builtin` or `external`; `None` when not set.
    pub(super) fn engine(&self, key: &str, value: Option<&str>) -> Result<Option<Engine>, ConfigError> {
        match value {
            None => Ok(None),
            Some("builtin") => Ok(Some(Engine::Builtin)),
            Some("external") => Ok(Some(Engine::External)),
            Some(other) => Err(self.invalid(key, format!("{other:?}: expected \"builtin\" or \"external\""))),
        }
    }
}
