//! `[[registries]]`: the registries driftwatch may query, with credentials from `*_env` /
//! `*_file` keys or a Docker `config.json`.

use std::path::Path;
use std::time::Duration;

use super::Validator;
use crate::config::raw::RawRegistry;
use crate::config::{ConfigError, DeliveryConfig, RegistryConfig, Secret};

impl Validator<'_> {
    pub(super) fn registries(&self, raw: Vec<RawRegistry>) -> Result<Vec<RegistryConfig>, ConfigError> {
        // Each registry on its own, so one run names the problems of all of them.
        Ok(raw
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| self.keep(self.registry(i, r)))
            .collect())
    }

    fn registry(&self, i: usize, r: RawRegistry) -> Result<RegistryConfig, ConfigError> {
        let key = format!("registries[{i}]");
        if r.host.is_empty() || r.host.contains('/') {
            return Err(self.invalid(format!("{key}.host"), format!("{:?} is not a host[:port]", r.host)));
        }
        let username = self.secret(&format!("{key}.username"), r.username_env, r.username_file)?;
        let password = self.secret(&format!("{key}.password"), r.password_env, r.password_file)?;
        let credentials = match (username, password, r.docker_config) {
            (Some(u), Some(p), None) => Some((u, p)),
            (None, None, Some(path)) => Some(self.docker_config_auth(&key, &self.path(path), &r.host)?),
            (None, None, None) => None,
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(self.invalid(format!("{key}.password_env"), "give both a username and a password"));
            }
            (Some(_), Some(_), Some(_)) => {
                return Err(self.invalid(
                    format!("{key}.docker_config"),
                    "give credentials or docker_config, not both",
                ));
            }
        };
        let retry = DeliveryConfig {
            timeout: self.duration(&format!("{key}.timeout"), r.timeout, Duration::from_secs(10))?,
            max_attempts: match r.max_attempts {
                Some(0) => return Err(self.invalid(format!("{key}.max_attempts"), "must be at least 1")),
                Some(n) => n,
                None => 5,
            },
            backoff: self.duration(&format!("{key}.backoff"), r.backoff, Duration::from_secs(1))?,
            backoff_max: Duration::from_secs(30),
        };
        Ok(RegistryConfig {
            host: r.host,
            credentials,
            insecure: r.insecure.unwrap_or(false),
            retry,
        })
    }

    /// The credentials for `host` in a Docker `config.json` (`auths.<host>.auth`, base64
    /// `user:password`, or `username`/`password`).
    fn docker_config_auth(&self, key: &str, path: &Path, host: &str) -> Result<(Secret, Secret), ConfigError> {
        use base64::Engine as _;
        let err =
            |reason: String| self.invalid(format!("{key}.docker_config"), format!("{}: {reason}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let entry = &json["auths"][host];
        if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
            return Ok((Secret::new(u), Secret::new(p)));
        }
        let auth = entry["auth"]
            .as_str()
            .ok_or_else(|| err(format!("no auths entry for {host}")))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|e| err(format!("auths.{host}.auth is not base64: {e}")))?;
        let decoded = String::from_utf8(decoded).map_err(|_| err(format!("auths.{host}.auth is not UTF-8")))?;
        let (u, p) = decoded
            .split_once(':')
            .ok_or_else(|| err(format!("auths.{host}.auth is not user:password")))?;
        Ok((Secret::new(u), Secret::new(p)))
    }
}
