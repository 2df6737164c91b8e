//! The validator every config section uses: errors that name the file (or the
//! `DRIFTWATCH__…` variable) and the key, paths relative to the config file, durations and
//! severities with stand-ins so one run reports every problem.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;

/// What every section's validation needs: where the config came from (for messages and
/// relative paths), the environment `*_env` secrets are read from, and the problems found so
/// far: a wrong value that has a stand-in (a missing secret, a bad duration) is recorded and
/// validation goes on, so that one run reports every problem.
pub(crate) struct Validator<'a> {
    pub(crate) origin: &'a str,
    pub(crate) base: &'a Path,
    pub(crate) env: &'a HashMap<String, String>,
    /// Keys set by a `DRIFTWATCH__…` variable, with the variable's name: errors about them
    /// name the variable, not the file.
    pub(crate) env_keys: HashMap<String, String>,
    pub(crate) errors: RefCell<Vec<ConfigError>>,
    /// Durations as written, by key, so `check-config` prints `24h` rather than `1day`.
    pub(crate) written: RefCell<BTreeMap<String, String>>,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(origin: &'a str, base: &'a Path, env: &'a HashMap<String, String>) -> Self {
        let env_keys = env
            .keys()
            .filter_map(|var| {
                let key = var
                    .strip_prefix("DRIFTWATCH__")?
                    .split("__")
                    .collect::<Vec<_>>()
                    .join(".");
                Some((key.to_lowercase(), var.clone()))
            })
            .collect();
        Self {
            origin,
            base,
            env,
            env_keys,
            errors: RefCell::default(),
            written: RefCell::default(),
        }
    }
}

impl Validator<'_> {
    pub(crate) fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        let key = key.into();
        let origin = self.env_keys.get(&key).map_or(self.origin, String::as_str);
        ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            reason: reason.into(),
        }
    }

    /// Records a problem that has a stand-in value, so validation can go on.
    pub(crate) fn record(&self, e: ConfigError) {
        self.errors.borrow_mut().push(e);
    }

    /// The value of `r`, or `None` with its error recorded.
    pub(crate) fn keep<T>(&self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.record(e)).ok()
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
            Some(v) => match humantime::parse_duration(&v) {
                Ok(d) => {
                    self.written.borrow_mut().insert(key.to_string(), v);
                    Ok(d)
                }
                // The default stands in, so that the rest is still validated.
                Err(e) => {
                    self.record(self.invalid(
                        key,
                        format!("{v:?} is not a duration like \"30s\", \"10m\" or \"24h\": {e}"),
                    ));
                    Ok(default)
                }
            },
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
}
