//! `[store]` and `[dora]`: where alert state and history are kept (an embedded SQLite file by
//! default, beside the `[state]` file; or a shared PostgreSQL), how long history is kept, and
//! how DORA metrics are measured and reported.

use std::path::PathBuf;
use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawDora, RawStore};
use crate::config::{ConfigError, DoraConfig, StateConfig, StoreBackend, StoreConfig};

/// 400 days: a year of DORA history plus a month to compare with.
const RETENTION: Duration = Duration::from_secs(400 * 86_400);

impl Validator<'_> {
    pub(super) fn store(&self, s: RawStore, state: &StateConfig) -> Result<StoreConfig, ConfigError> {
        let password = self.secret("store.password", s.password_env, s.password_file)?;
        let backend = match s.url.as_deref() {
            // The state directory, as `[state] path` names it (default /var/lib/driftwatch).
            None => {
                if password.is_some() {
                    return Err(self.invalid("store.password_env", "a password needs a postgres:// url"));
                }
                let dir = state.path.parent().map(PathBuf::from).unwrap_or_default();
                StoreBackend::Sqlite(dir.join("driftwatch.db"))
            }
            Some(url) if url.starts_with("sqlite:") => {
                if password.is_some() {
                    return Err(self.invalid("store.password_env", "a password needs a postgres:// url"));
                }
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() || path == ":memory:" {
                    return Err(self.invalid(
                        "store.url",
                        format!("{url:?}: name a database file, e.g. sqlite:///var/lib/driftwatch/driftwatch.db"),
                    ));
                }
                StoreBackend::Sqlite(self.path(PathBuf::from(path)))
            }
            Some(text) if text.starts_with("postgres://") || text.starts_with("postgresql://") => {
                let url = url::Url::parse(text).map_err(|e| self.invalid("store.url", format!("not a URL: {e}")))?;
                if url.password().is_some() {
                    // Never echo the URL: it holds the password.
                    return Err(self.invalid(
                        "store.url",
                        "holds a password: give it in store.password_env or store.password_file instead",
                    ));
                }
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(self.invalid("store.url", format!("{text:?} names no host")));
                }
                StoreBackend::Postgres { url, password }
            }
            Some(other) => {
                let scheme = other.split(':').next().unwrap_or_default();
                return Err(self.invalid(
                    "store.url",
                    format!("scheme {scheme:?}: expected sqlite:///path/to/driftwatch.db or postgres://user@host/db"),
                ));
            }
        };
        let retention = self.duration("store.retention", s.retention, RETENTION)?;
        if retention < Duration::from_secs(86_400) {
            return Err(self.invalid("store.retention", "must be at least 1d"));
        }
        Ok(StoreConfig { backend, retention })
    }

    pub(super) fn dora(&self, d: RawDora) -> Result<DoraConfig, ConfigError> {
        let failure_window = self.duration("dora.failure_window", d.failure_window, Duration::from_secs(86_400))?;
        let window = self.duration("dora.window", d.window, Duration::from_secs(30 * 86_400))?;
        if window < Duration::from_secs(86_400) {
            return Err(self.invalid("dora.window", "must be at least 1d"));
        }
        Ok(DoraConfig { failure_window, window })
    }
}
