//! The daemon's sections: `[schedule]`, `[server]`, `[ha]` and `log_format`.

use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawHa, RawSchedule, RawServer, RawServerAuth};
use crate::config::{
    ConfigError, HaConfig, LogFormat, ScheduleConfig, Secret, ServerAuth, ServerConfig, ServerCredential, parse_cron,
};

impl Validator<'_> {
    pub(super) fn schedule(&self, s: RawSchedule) -> Result<ScheduleConfig, ConfigError> {
        let cron = s.cron.unwrap_or_else(|| "0 30 2 * * *".into());
        parse_cron(&cron).map_err(|e| {
            let reason = format!("{cron:?} is not a cron expression: {}", crate::error_chain(&e));
            self.invalid("schedule.cron", reason)
        })?;
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
        let listen: std::net::SocketAddr = listen.parse().map_err(|e| {
            self.invalid(
                "server.listen",
                format!("{listen:?} is not an address like 127.0.0.1:9184: {e}"),
            )
        })?;
        let probe_listen = s
            .probe_listen
            .map(|addr| self.probe_listen(&addr, listen))
            .transpose()?;
        Ok(ServerConfig {
            listen,
            probe_listen,
            auth: s.auth.map(|a| self.server_auth(a)).transpose()?,
        })
    }

    /// `server.probe_listen`: an address, and not `listen`'s (one of the two would not bind;
    /// port 0 is left to the system on both).
    fn probe_listen(&self, addr: &str, listen: std::net::SocketAddr) -> Result<std::net::SocketAddr, ConfigError> {
        let probes: std::net::SocketAddr = addr.parse().map_err(|e| {
            self.invalid(
                "server.probe_listen",
                format!("{addr:?} is not an address like 0.0.0.0:9185: {e}"),
            )
        })?;
        if probes == listen && probes.port() != 0 {
            return Err(self.invalid(
                "server.probe_listen",
                format!("{probes} is server.listen's address: give the probes a port of their own"),
            ));
        }
        Ok(probes)
    }

    /// `[server.auth]`: exactly one kind of credential. A section without one is an error
    /// rather than "off", as whoever wrote it meant the endpoint to be protected.
    fn server_auth(&self, a: RawServerAuth) -> Result<ServerAuth, ConfigError> {
        let token = self.nonempty_secret("server.auth.bearer_token", a.bearer_token_env, a.bearer_token_file)?;
        let password = self.nonempty_secret("server.auth.password", a.password_env, a.password_file)?;
        let credential = match (token, a.username, password) {
            (Some(token), None, None) => ServerCredential::Bearer(token),
            (None, Some(username), Some(password)) => {
                // RFC 7617: the user-id ends at the first colon, so one with a colon never matches.
                if username.is_empty() || username.contains(':') {
                    return Err(self.invalid("server.auth.username", "must be non-empty and without ':'"));
                }
                ServerCredential::Basic { username, password }
            }
            (Some(_), _, _) => {
                return Err(self.invalid(
                    "server.auth.bearer_token_env",
                    "give a bearer token or a username with a password, not both",
                ));
            }
            (None, Some(_), None) => {
                return Err(self.invalid(
                    "server.auth.password_env",
                    "missing: the username needs password_env or password_file",
                ));
            }
            (None, None, Some(_)) => {
                return Err(self.invalid("server.auth.username", "missing: the password needs a username"));
            }
            (None, None, None) => {
                return Err(self.invalid(
                    "server.auth",
                    "no credential: give bearer_token_env / bearer_token_file, or username with password_env / password_file (or remove the section)",
                ));
            }
        };
        Ok(ServerAuth {
            credential,
            protect_metrics: a.protect_metrics.unwrap_or(false),
            protect_healthz: a.protect_healthz.unwrap_or(false),
        })
    }

    /// [`Self::secret`], and an empty value (an empty file) is an error too: an empty token
    /// would let through anyone sending an empty one.
    fn nonempty_secret(
        &self,
        key: &str,
        env: Option<String>,
        file: Option<std::path::PathBuf>,
    ) -> Result<Option<Secret>, ConfigError> {
        let recorded = self.errors.borrow().len();
        let secret = self.secret(key, env, file)?;
        // An unset variable or unreadable file is already recorded, with an empty stand-in.
        if secret.as_ref().is_some_and(|s| s.expose().is_empty()) && self.errors.borrow().len() == recorded {
            self.record(self.invalid(key.to_string() + "_file", "the secret is empty"));
        }
        Ok(secret)
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
            // A bare host (the Pod IP) gets the listen port once [server] is known.
            advertise: h.advertise_address.or_else(|| from_env("POD_IP")),
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use crate::config::{Config, ConfigError, Overrides, ServerCredential};

    const BASE: &str = r#"
[gitops]
path = "/srv/gitops"
[[environments]]
name = "production"
paths = ["apps/*/production"]
[environments.cluster]
snapshot = "live.json"
"#;

    fn load(auth: &str) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = [("UI_TOKEN", "t0ken-from-env"), ("UI_PASSWORD", "pw-from-env")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        Config::from_str(
            &format!("{BASE}\n[server.auth]\n{auth}"),
            config::FileFormat::Toml,
            "driftwatch.toml",
            Path::new("/etc/driftwatch"),
            &env,
            &Overrides::default(),
        )
    }

    #[test]
    fn server_auth_takes_a_token_or_a_username_with_a_password() {
        let c = load("bearer_token_env = \"UI_TOKEN\"").unwrap();
        let auth = c.server.auth.unwrap();
        assert!(matches!(&auth.credential, ServerCredential::Bearer(t) if t.expose() == "t0ken-from-env"));
        assert!(
            !auth.protect_metrics && !auth.protect_healthz,
            "scrapes and probes open by default"
        );

        let c = load("username = \"sre\"\npassword_env = \"UI_PASSWORD\"\nprotect_metrics = true").unwrap();
        let auth = c.server.auth.unwrap();
        assert!(
            matches!(&auth.credential, ServerCredential::Basic { username, password } if username == "sre" && password.expose() == "pw-from-env")
        );
        assert!(auth.protect_metrics);

        let off = Config::from_str(
            BASE,
            config::FileFormat::Toml,
            "driftwatch.toml",
            Path::new("/etc/driftwatch"),
            &HashMap::new(),
            &Overrides::default(),
        )
        .unwrap();
        assert!(off.server.auth.is_none(), "off without the section");
    }

    fn server(section: &str) -> Result<Config, ConfigError> {
        Config::from_str(
            &format!("{BASE}\n[server]\n{section}"),
            config::FileFormat::Toml,
            "driftwatch.toml",
            Path::new("/etc/driftwatch"),
            &HashMap::new(),
            &Overrides::default(),
        )
    }

    #[test]
    fn probe_listen_is_an_address_of_its_own() {
        let c = server("listen = \"0.0.0.0:9184\"\nprobe_listen = \"0.0.0.0:9185\"").unwrap();
        assert_eq!(c.server.probe_listen, Some("0.0.0.0:9185".parse().unwrap()));
        assert_eq!(server("").unwrap().server.probe_listen, None, "off unless asked for");

        let same = server("listen = \"0.0.0.0:9184\"\nprobe_listen = \"0.0.0.0:9184\"").unwrap_err();
        assert!(
            same.to_string().contains("server.probe_listen")
                && same.to_string().contains("give the probes a port of their own"),
            "{same}"
        );
        let bad = server("probe_listen = \"9185\"").unwrap_err();
        assert!(
            bad.to_string().contains("server.probe_listen") && bad.to_string().contains("\"9185\""),
            "{bad}"
        );
    }

    #[test]
    fn invalid_server_auth_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let empty_file = format!("bearer_token_file = {:?}", empty.display().to_string());
        let cases = [
            (
                "both kinds",
                "bearer_token_env = \"UI_TOKEN\"\nusername = \"sre\"\npassword_env = \"UI_PASSWORD\"",
                "server.auth.bearer_token_env: give a bearer token or a username with a password, not both",
            ),
            (
                "username without password",
                "username = \"sre\"",
                "server.auth.password_env: missing",
            ),
            (
                "password without username",
                "password_env = \"UI_PASSWORD\"",
                "server.auth.username: missing",
            ),
            ("nothing", "protect_metrics = true", "server.auth: no credential"),
            ("unknown key", "token = \"x\"", "token"),
            (
                "unset variable",
                "bearer_token_env = \"NOPE\"",
                "server.auth.bearer_token_env: environment variable NOPE",
            ),
            (
                "empty file",
                &empty_file,
                "server.auth.bearer_token_file: the secret is empty",
            ),
            (
                "colon in username",
                "username = \"s:re\"\npassword_env = \"UI_PASSWORD\"",
                "server.auth.username: must be non-empty",
            ),
        ];
        for (name, auth, expected) in cases {
            let err = load(auth).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
            assert!(
                !err.contains("t0ken-from-env") && !err.contains("pw-from-env"),
                "{name}: {err}"
            );
        }
    }
}
