//! Configuration: built-in defaults < file (TOML or YAML) < `DRIFTWATCH__SECTION__KEY`
//! environment < CLI flags, parsed into raw serde types (unknown keys rejected), then validated
//! into typed config. Secrets are read from environment variables or files named in `*_env` /
//! `*_file` keys and held in [`Secret`], which never prints its value.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::core::model::{Rewrite, Severity};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: {reason}")]
    Load { origin: String, reason: String },
    #[error("{origin}: {key}: {reason}")]
    Invalid {
        origin: String,
        key: String,
        reason: String,
    },
}

/// A secret value. `Debug` and `Display` print `***`, so it cannot leak through logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

// ---- raw, as written -------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    log_format: Option<String>,
    gitops: RawGitops,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    ha: RawHa,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    render: RawRender,
    #[serde(default)]
    environments: Vec<RawEnvironment>,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    registry_rewrites: Vec<RawRewrite>,
    #[serde(default)]
    registries: Vec<RawRegistry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    host: String,
    username_env: Option<String>,
    username_file: Option<PathBuf>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    docker_config: Option<PathBuf>,
    insecure: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    cron: Option<String>,
    timezone: Option<String>,
    run_on_start: Option<bool>,
    audit_timeout: Option<String>,
    shutdown_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHa {
    enabled: Option<bool>,
    lease_name: Option<String>,
    lease_namespace: Option<String>,
    identity: Option<String>,
    lease_duration: Option<String>,
    renew_interval: Option<String>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    renotify_after: Option<String>,
    send_resolved: Option<bool>,
    timeout: Option<String>,
    max_attempts: Option<u32>,
    backoff: Option<String>,
    backoff_max: Option<String>,
    #[serde(default)]
    slack: Vec<RawSlack>,
    #[serde(default)]
    email: Vec<RawEmail>,
    #[serde(default)]
    webhook: Vec<RawWebhook>,
    #[serde(default)]
    alertmanager: Vec<RawAlertmanager>,
}

// serde cannot combine `flatten` with `deny_unknown_fields`, so each channel repeats the
// routing keys (name, environments, min_severity).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
    webhook_url_env: Option<String>,
    webhook_url_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
    url: String,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
    hmac_secret_env: Option<String>,
    hmac_secret_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertmanager {
    name: Option<String>,
    environments: Option<Vec<String>>,
    min_severity: Option<String>,
    url: String,
    ttl: Option<String>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGitops {
    url: Option<String>,
    path: Option<PathBuf>,
    branch: Option<String>,
    rev: Option<String>,
    username: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    ssh_key: Option<PathBuf>,
    ssh_key_passphrase_env: Option<String>,
    ssh_key_passphrase_file: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    ignore_file: Option<PathBuf>,
    fail_on: Option<String>,
    rollout_grace: Option<String>,
    max_concurrent_environments: Option<usize>,
    kube_timeout: Option<String>,
    page_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRender {
    kustomize: Option<String>,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: String,
    #[serde(default)]
    paths: Vec<String>,
    renderer: Option<String>,
    namespace: Option<String>,
    require_digest: Option<bool>,
    #[serde(default)]
    ignore_containers: Vec<String>,
    #[serde(default)]
    allowed_sources: Vec<String>,
    promoted_from: Option<String>,
    lineage_depth: Option<usize>,
    compare_secrets: Option<bool>,
    #[serde(default)]
    cluster: RawCluster,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRewrite {
    from: String,
    to: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: Option<String>,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    in_cluster: Option<bool>,
    snapshot: Option<PathBuf>,
    #[serde(default)]
    namespaces: Vec<String>,
}

// ---- typed, validated ------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Config {
    /// The file the config was loaded from, for messages.
    pub origin: String,
    pub gitops: GitopsConfig,
    pub audit: AuditConfig,
    pub render: RenderConfig,
    pub environments: Vec<EnvironmentConfig>,
    pub state: StateConfig,
    pub alerts: AlertsConfig,
    pub schedule: ScheduleConfig,
    pub server: ServerConfig,
    pub ha: Option<HaConfig>,
    pub log_format: LogFormat,
    pub registries: Vec<RegistryConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// When the daemon audits.
#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    /// The expression as written (6 fields with seconds, or standard 5-field cron).
    pub cron: String,
    pub timezone: chrono_tz::Tz,
    pub run_on_start: bool,
    /// An audit (and its alerts) still running after this long is abandoned.
    pub audit_timeout: Duration,
    /// On SIGTERM, how long a running audit may take to finish.
    pub shutdown_grace: Duration,
}

impl ScheduleConfig {
    /// The parsed expression; validated when the config was loaded.
    pub fn cron(&self) -> croner::Cron {
        parse_cron(&self.cron).expect("validated at load")
    }
}

/// 6 fields with seconds, or standard 5-field cron (seconds = 0).
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: std::net::SocketAddr,
}

/// Leader election between replicas through a `coordination.k8s.io/v1` Lease.
#[derive(Clone, Debug)]
pub struct HaConfig {
    pub lease_name: String,
    pub lease_namespace: String,
    /// This replica's name in the Lease (`holderIdentity`).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_interval: Duration,
    /// `None`: the Pod's service account (in-cluster).
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Clone, Debug)]
pub enum GitopsConfig {
    /// A repository to clone into `cache_dir` and fetch on every audit.
    Remote {
        url: String,
        reference: GitRef,
        auth: GitAuth,
        cache_dir: PathBuf,
    },
    /// A directory audited as it is on disk (a CI checkout, the bundled demo).
    Local { path: PathBuf },
}

impl GitopsConfig {
    /// The URL or path for reports, with any password in the URL replaced by `***`.
    pub fn display_url(&self) -> String {
        match self {
            Self::Remote { url, .. } => redact_url(url),
            Self::Local { path } => path.display().to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitRef {
    /// The remote's default branch (its `HEAD`).
    DefaultBranch,
    Branch(String),
    /// A commit SHA or tag.
    Rev(String),
}

#[derive(Clone, Debug, Default)]
pub struct GitAuth {
    pub username: String,
    pub token: Option<Secret>,
    pub ssh_key: Option<PathBuf>,
    pub ssh_key_passphrase: Option<Secret>,
}

#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Ignore rules; `None`: `.driftwatch-ignore.yaml` at the repository root, if present.
    pub ignore_file: Option<PathBuf>,
    pub registry_rewrites: Vec<Rewrite>,
    pub fail_on: Severity,
    pub rollout_grace: Duration,
    pub max_concurrent_environments: usize,
    pub kube_timeout: Duration,
    pub page_size: u32,
}

#[derive(Clone, Debug)]
pub struct RenderConfig {
    /// The kustomize command: a `kustomize` binary, or `kubectl` (run as `kubectl kustomize`).
    /// `None`: `kustomize` from PATH, else `kubectl kustomize`.
    pub kustomize: Option<String>,
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renderer {
    Auto,
    Kustomize,
    Plain,
}

#[derive(Clone, Debug)]
pub struct EnvironmentConfig {
    pub name: String,
    pub paths: Vec<String>,
    pub renderer: Renderer,
    pub namespace: String,
    pub require_digest: bool,
    pub ignore_containers: Vec<String>,
    /// Repository prefixes images must come from (`host/path`, matched on path boundaries);
    /// empty: any.
    pub allowed_sources: Vec<String>,
    /// The environment every digest must have passed through first, with how many commits of
    /// history are searched for it.
    pub promoted_from: Option<(String, usize)>,
    /// Compare declared Secrets with live ones (by hash; values are never printed). Needs
    /// `list` on secrets, so it is off unless asked for.
    pub compare_secrets: bool,
    pub cluster: ClusterConfig,
}

/// A registry driftwatch may query (only configured hosts are ever contacted).
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// `host[:port]` as written in image references.
    pub host: String,
    pub credentials: Option<(Secret, Secret)>,
    /// Plain http, for a local test registry only.
    pub insecure: bool,
}

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Name used in findings: `name`, else the context, else `in-cluster` or the snapshot file.
    pub name: String,
    pub source: ClusterSource,
    /// Empty: all namespaces.
    pub namespaces: Vec<String>,
}

#[derive(Clone, Debug)]
pub enum ClusterSource {
    /// `path: None` uses `$KUBECONFIG` or `~/.kube/config`; `context: None` the current one.
    Kubeconfig {
        path: Option<PathBuf>,
        context: Option<String>,
    },
    InCluster,
    Snapshot(PathBuf),
}

/// Where alert state (what was notified, when) is kept between runs.
#[derive(Clone, Debug)]
pub struct StateConfig {
    pub path: PathBuf,
}

#[derive(Clone, Debug)]
pub struct AlertsConfig {
    /// A finding that persists is notified again after this long.
    pub renotify_after: Duration,
    pub send_resolved: bool,
    pub delivery: DeliveryConfig,
    pub channels: Vec<ChannelConfig>,
}

/// Timeouts and retries shared by every channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts per message within one run (the next run tries again).
    pub max_attempts: u32,
    /// First backoff after a 5xx or connection error; doubles per attempt up to `backoff_max`.
    pub backoff: Duration,
    pub backoff_max: Duration,
}

#[derive(Clone, Debug)]
pub struct ChannelConfig {
    /// `slack-1`, `email-1`, … unless named; used in logs, state and `notify-test --channel`.
    pub name: String,
    /// Environments routed to this channel; `None`: all.
    pub environments: Option<Vec<String>>,
    pub min_severity: Severity,
    pub kind: ChannelKind,
}

#[derive(Clone, Debug)]
pub enum ChannelKind {
    Slack {
        webhook_url: Secret,
    },
    Email(EmailConfig),
    Webhook {
        url: String,
        bearer_token: Option<Secret>,
        hmac_secret: Option<Secret>,
    },
    Alertmanager {
        url: String,
        ttl: Duration,
        bearer_token: Option<Secret>,
    },
}

impl ChannelKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Slack { .. } => "slack",
            Self::Email(_) => "email",
            Self::Webhook { .. } => "webhook",
            Self::Alertmanager { .. } => "alertmanager",
        }
    }
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

/// CLI flags that override the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub fail_on: Option<Severity>,
}

impl Config {
    /// Loads `path` (TOML or YAML by extension), overlays `DRIFTWATCH__SECTION__KEY` variables
    /// from `env`, and validates. `env` is also where `*_env` secrets are read from; the binary
    /// passes the process environment, tests pass their own map.
    pub fn load(path: &Path, env: &HashMap<String, String>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => config::FileFormat::Toml,
            Some("yaml" | "yml") => config::FileFormat::Yaml,
            _ => {
                return Err(ConfigError::Load {
                    origin,
                    reason: "unknown config format: use a .toml, .yaml or .yml file".into(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Load {
            origin: origin.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_str(&text, format, &origin, &base, env, overrides)
    }

    /// As [`Config::load`], from text; relative paths in it are taken relative to `base`.
    pub fn from_str(
        text: &str,
        format: config::FileFormat,
        origin: &str,
        base: &Path,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("DRIFTWATCH__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let raw: RawConfig = config::Config::builder()
            .add_source(config::File::from_str(text, format))
            .add_source(
                config::Environment::with_prefix("DRIFTWATCH")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(vars)),
            )
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Load {
                origin: origin.to_string(),
                reason: describe(e),
            })?;
        Validator { origin, base, env }.config(raw, overrides)
    }
}

/// Makes serde's messages about unknown fields name the section as well.
fn describe(e: config::ConfigError) -> String {
    let text = e.to_string();
    text.replace("unknown field", "unknown key")
}

struct Validator<'a> {
    origin: &'a str,
    base: &'a Path,
    env: &'a HashMap<String, String>,
}

impl Validator<'_> {
    fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// `p` relative to the config file's directory, with `a/../` folded so reports show
    /// `examples/gitops` rather than `config/../examples/gitops`.
    fn path(&self, p: PathBuf) -> PathBuf {
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

    fn duration(&self, key: &str, value: Option<String>, default: Duration) -> Result<Duration, ConfigError> {
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

    /// A secret from `<key>_env` (name of an environment variable) or `<key>_file`.
    fn secret(&self, key: &str, env: Option<String>, file: Option<PathBuf>) -> Result<Option<Secret>, ConfigError> {
        match (env, file) {
            (Some(_), Some(_)) => Err(self.invalid(format!("{key}_env, {key}_file"), "give one of the two, not both")),
            (Some(var), None) => match self.env.get(&var) {
                Some(v) if !v.is_empty() => Ok(Some(Secret(v.clone()))),
                _ => Err(self.invalid(format!("{key}_env"), format!("environment variable {var} is not set"))),
            },
            (None, Some(path)) => {
                let path = self.path(path);
                let v = std::fs::read_to_string(&path)
                    .map_err(|e| self.invalid(format!("{key}_file"), format!("cannot read {}: {e}", path.display())))?;
                Ok(Some(Secret(v.trim_end_matches(['\r', '\n']).to_string())))
            }
            (None, None) => Ok(None),
        }
    }

    fn config(&self, raw: RawConfig, overrides: &Overrides) -> Result<Config, ConfigError> {
        let gitops = self.gitops(raw.gitops)?;
        let a = raw.audit;
        let fail_on = match overrides.fail_on {
            Some(s) => s,
            None => self.severity("audit.fail_on", a.fail_on, Severity::Warning)?,
        };
        let mut registry_rewrites = Vec::new();
        for (i, r) in raw.registry_rewrites.into_iter().enumerate() {
            if r.from.is_empty() {
                return Err(self.invalid(
                    format!("registry_rewrites[{i}].from"),
                    "is empty: every reference would match",
                ));
            }
            registry_rewrites.push(Rewrite { from: r.from, to: r.to });
        }
        let audit = AuditConfig {
            ignore_file: a.ignore_file.map(|p| self.path(p)),
            registry_rewrites,
            fail_on,
            rollout_grace: self.duration("audit.rollout_grace", a.rollout_grace, Duration::from_secs(15 * 60))?,
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
        };
        let render = RenderConfig {
            kustomize: raw.render.kustomize.filter(|k| !k.is_empty()),
            timeout: self.duration("render.timeout", raw.render.timeout, Duration::from_secs(60))?,
        };
        if raw.environments.is_empty() {
            return Err(self.invalid("environments", "at least one [[environments]] entry is required"));
        }
        let mut environments: Vec<EnvironmentConfig> = Vec::new();
        for (i, e) in raw.environments.into_iter().enumerate() {
            let env = self.environment(i, e)?;
            if environments.iter().any(|x| x.name == env.name) {
                return Err(self.invalid(
                    format!("environments[{i}].name"),
                    format!("environment {:?} is defined twice", env.name),
                ));
            }
            environments.push(env);
        }
        for (i, e) in environments.iter().enumerate() {
            if let Some((from, _)) = &e.promoted_from
                && (from == &e.name || !environments.iter().any(|x| &x.name == from))
            {
                return Err(self.invalid(
                    format!("environments[{i}].promoted_from"),
                    format!("{from:?} is not another configured environment"),
                ));
            }
        }
        let state = StateConfig {
            path: self.path(
                raw.state
                    .path
                    .unwrap_or_else(|| PathBuf::from("/var/lib/driftwatch/state.json")),
            ),
        };
        let alerts = self.alerts(raw.alerts, &environments)?;
        let schedule = self.schedule(raw.schedule)?;
        let listen = raw.server.listen.unwrap_or_else(|| "127.0.0.1:9184".into());
        let server = ServerConfig {
            listen: listen.parse().map_err(|e| {
                self.invalid(
                    "server.listen",
                    format!("{listen:?} is not an address like 127.0.0.1:9184: {e}"),
                )
            })?,
        };
        let ha = self.ha(raw.ha)?;
        let registries = raw
            .registries
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.registry(i, r))
            .collect::<Result<Vec<_>, _>>()?;
        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(self.invalid("log_format", format!("{other:?} is not one of text, json"))),
        };
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

    fn schedule(&self, s: RawSchedule) -> Result<ScheduleConfig, ConfigError> {
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

    fn ha(&self, h: RawHa) -> Result<Option<HaConfig>, ConfigError> {
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
        Ok(RegistryConfig {
            host: r.host,
            credentials,
            insecure: r.insecure.unwrap_or(false),
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
            return Ok((Secret(u.into()), Secret(p.into())));
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
        Ok((Secret(u.into()), Secret(p.into())))
    }

    fn severity(&self, key: &str, value: Option<String>, default: Severity) -> Result<Severity, ConfigError> {
        match value {
            None => Ok(default),
            Some(s) => parse_severity(&s)
                .ok_or_else(|| self.invalid(key, format!("{s:?} is not one of info, warning, critical"))),
        }
    }

    fn alerts(&self, a: RawAlerts, environments: &[EnvironmentConfig]) -> Result<AlertsConfig, ConfigError> {
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
        let mut push = |v: &Self,
                        key: String,
                        name: Option<String>,
                        envs: Option<Vec<String>>,
                        sev: Option<String>,
                        kind: ChannelKind| {
            let index = channels.iter().filter(|c| c.kind.as_str() == kind.as_str()).count() + 1;
            let name = name.unwrap_or_else(|| format!("{}-{index}", kind.as_str()));
            if channels.iter().any(|c| c.name == name) {
                return Err(v.invalid(format!("{key}.name"), format!("channel name {name:?} is used twice")));
            }
            if let Some(unknown) = envs
                .iter()
                .flatten()
                .find(|e| !environments.iter().any(|x| &x.name == *e))
            {
                return Err(v.invalid(
                    format!("{key}.environments"),
                    format!("no environment is named {unknown:?}"),
                ));
            }
            let min_severity = v.severity(&format!("{key}.min_severity"), sev, Severity::Warning)?;
            channels.push(ChannelConfig {
                name,
                environments: envs,
                min_severity,
                kind,
            });
            Ok(())
        };
        for (i, c) in a.slack.into_iter().enumerate() {
            let key = format!("alerts.slack[{i}]");
            let webhook_url = self
                .secret(&format!("{key}.webhook_url"), c.webhook_url_env, c.webhook_url_file)?
                .ok_or_else(|| {
                    self.invalid(
                        format!("{key}.webhook_url_env"),
                        "missing: the incoming webhook URL (webhook_url_env or webhook_url_file)",
                    )
                })?;
            push(
                self,
                key,
                c.name,
                c.environments,
                c.min_severity,
                ChannelKind::Slack { webhook_url },
            )?;
        }
        for (i, c) in a.email.into_iter().enumerate() {
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
            push(
                self,
                key,
                c.name,
                c.environments,
                c.min_severity,
                ChannelKind::Email(email),
            )?;
        }
        for (i, c) in a.webhook.into_iter().enumerate() {
            let key = format!("alerts.webhook[{i}]");
            self.http_url(&format!("{key}.url"), &c.url)?;
            let bearer_token = self.secret(&format!("{key}.bearer_token"), c.bearer_token_env, c.bearer_token_file)?;
            let hmac_secret = self.secret(&format!("{key}.hmac_secret"), c.hmac_secret_env, c.hmac_secret_file)?;
            push(
                self,
                key,
                c.name,
                c.environments,
                c.min_severity,
                ChannelKind::Webhook {
                    url: c.url,
                    bearer_token,
                    hmac_secret,
                },
            )?;
        }
        for (i, c) in a.alertmanager.into_iter().enumerate() {
            let key = format!("alerts.alertmanager[{i}]");
            self.http_url(&format!("{key}.url"), &c.url)?;
            let ttl = self.duration(&format!("{key}.ttl"), c.ttl, Duration::from_secs(25 * 3600))?;
            let bearer_token = self.secret(&format!("{key}.bearer_token"), c.bearer_token_env, c.bearer_token_file)?;
            push(
                self,
                key,
                c.name,
                c.environments,
                c.min_severity,
                ChannelKind::Alertmanager {
                    url: c.url,
                    ttl,
                    bearer_token,
                },
            )?;
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

    fn http_url(&self, key: &str, url: &str) -> Result<(), ConfigError> {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            Ok(u) => Err(self.invalid(key, format!("scheme {:?} is not http or https", u.scheme()))),
            Err(e) => Err(self.invalid(key, format!("{:?} is not a URL: {e}", redact_url(url)))),
        }
    }

    fn gitops(&self, g: RawGitops) -> Result<GitopsConfig, ConfigError> {
        match (g.url, g.path) {
            (Some(_), Some(_)) => Err(self.invalid("gitops.url, gitops.path", "give one of the two, not both")),
            (None, None) => Err(self.invalid(
                "gitops.url",
                "missing: the GitOps repository to audit (or gitops.path for a local directory)",
            )),
            (None, Some(path)) => {
                if g.branch.is_some() || g.rev.is_some() {
                    return Err(self.invalid(
                        "gitops.path",
                        "a local path is audited as it is on disk; branch and rev need gitops.url",
                    ));
                }
                Ok(GitopsConfig::Local { path: self.path(path) })
            }
            (Some(url), None) => {
                if url.trim().is_empty() {
                    return Err(self.invalid("gitops.url", "is empty"));
                }
                let reference = match (g.branch, g.rev) {
                    (Some(_), Some(_)) => {
                        return Err(self.invalid("gitops.branch, gitops.rev", "give one of the two, not both"));
                    }
                    (Some(b), None) => GitRef::Branch(b),
                    (None, Some(r)) => GitRef::Rev(r),
                    (None, None) => GitRef::DefaultBranch,
                };
                let auth = GitAuth {
                    username: g.username.unwrap_or_else(|| "x-access-token".into()),
                    token: self.secret("gitops.token", g.token_env, g.token_file)?,
                    ssh_key: g.ssh_key.map(|p| self.path(p)),
                    ssh_key_passphrase: self.secret(
                        "gitops.ssh_key_passphrase",
                        g.ssh_key_passphrase_env,
                        g.ssh_key_passphrase_file,
                    )?,
                };
                // A local path as url is taken relative to the config file, like every path.
                let url = if !url.contains("://") && !url.contains('@') && !Path::new(&url).is_absolute() {
                    self.path(PathBuf::from(&url)).display().to_string()
                } else {
                    url
                };
                let cache_dir = self.path(
                    g.cache_dir
                        .unwrap_or_else(|| PathBuf::from("/var/lib/driftwatch/gitops")),
                );
                Ok(GitopsConfig::Remote {
                    url,
                    reference,
                    auth,
                    cache_dir,
                })
            }
        }
    }

    fn environment(&self, i: usize, e: RawEnvironment) -> Result<EnvironmentConfig, ConfigError> {
        let at = |k: &str| format!("environments[{i}].{k}");
        if e.name.trim().is_empty() {
            return Err(self.invalid(at("name"), "is empty"));
        }
        if e.paths.is_empty() {
            return Err(self.invalid(at("paths"), format!("environment {:?} lists no paths", e.name)));
        }
        for p in &e.paths {
            if Path::new(p).is_absolute() || p.split('/').any(|c| c == "..") {
                return Err(self.invalid(
                    at("paths"),
                    format!("{p:?} must be relative to the repository root and stay inside it"),
                ));
            }
            glob::Pattern::new(p)
                .map_err(|err| self.invalid(at("paths"), format!("{p:?} is not a valid glob: {err}")))?;
        }
        let renderer = match e.renderer.as_deref() {
            None | Some("auto") => Renderer::Auto,
            Some("kustomize") => Renderer::Kustomize,
            Some("plain") => Renderer::Plain,
            Some(other) => {
                return Err(self.invalid(
                    at("renderer"),
                    format!("{other:?} is not one of auto, kustomize, plain"),
                ));
            }
        };
        let c = e.cluster;
        let source = match (c.kubeconfig, c.in_cluster.unwrap_or(false), c.snapshot) {
            (None, false, None) => ClusterSource::Kubeconfig {
                path: None,
                context: c.context.clone(),
            },
            (Some(path), false, None) => ClusterSource::Kubeconfig {
                path: Some(self.path(path)),
                context: c.context.clone(),
            },
            (None, true, None) => ClusterSource::InCluster,
            (None, false, Some(snapshot)) => ClusterSource::Snapshot(self.path(snapshot)),
            _ => {
                return Err(self.invalid(at("cluster"), "give one of kubeconfig, in_cluster = true or snapshot"));
            }
        };
        let name = c.name.or(c.context).unwrap_or_else(|| match &source {
            ClusterSource::InCluster => "in-cluster".into(),
            ClusterSource::Snapshot(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "snapshot".into()),
            ClusterSource::Kubeconfig { .. } => e.name.clone(),
        });
        Ok(EnvironmentConfig {
            paths: e.paths,
            renderer,
            namespace: e
                .namespace
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into()),
            require_digest: e.require_digest.unwrap_or(true),
            ignore_containers: e.ignore_containers,
            allowed_sources: e.allowed_sources,
            promoted_from: e.promoted_from.map(|from| (from, e.lineage_depth.unwrap_or(500))),
            compare_secrets: e.compare_secrets.unwrap_or(false),
            cluster: ClusterConfig {
                name,
                source,
                namespaces: c.namespaces,
            },
            name: e.name,
        })
    }
}

pub fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "info" => Some(Severity::Info),
        "warning" => Some(Severity::Warning),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

/// Replaces a password in a URL (`https://user:token@host/…`) with `***`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[gitops]
url = "https://git.example.com/org/infra.git"
token_env = "GITOPS_TOKEN"
cache_dir = "cache"

[[environments]]
name = "production"
paths = ["apps/*/overlays/production"]
[environments.cluster]
kubeconfig = "kubeconfig"
context = "prod-eu1"
namespaces = ["shop"]
"#;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_str(
            text,
            config::FileFormat::Toml,
            "driftwatch.toml",
            Path::new("/etc/driftwatch"),
            &env(vars),
            &Overrides::default(),
        )
    }

    #[test]
    fn minimal_config_with_defaults() {
        let c = load(MINIMAL, &[("GITOPS_TOKEN", "s3cret")]).unwrap();
        let GitopsConfig::Remote {
            auth,
            cache_dir,
            reference,
            ..
        } = &c.gitops
        else {
            panic!("remote")
        };
        assert_eq!(auth.token.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(cache_dir, Path::new("/etc/driftwatch/cache"));
        assert_eq!(reference, &GitRef::DefaultBranch);
        assert_eq!(c.audit.fail_on, Severity::Warning);
        assert_eq!(c.audit.rollout_grace, Duration::from_secs(900));
        let e = &c.environments[0];
        assert_eq!(
            (e.namespace.as_str(), e.require_digest, e.renderer),
            ("default", true, Renderer::Auto)
        );
        assert_eq!(e.cluster.name, "prod-eu1");
        assert!(
            matches!(&e.cluster.source, ClusterSource::Kubeconfig { path: Some(p), .. } if p == Path::new("/etc/driftwatch/kubeconfig"))
        );
    }

    #[test]
    fn secrets_never_print() {
        let c = load(MINIMAL, &[("GITOPS_TOKEN", "s3cret")]).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn environment_overrides_file_and_cli_overrides_environment() {
        let vars = [
            ("GITOPS_TOKEN", "t"),
            ("DRIFTWATCH__AUDIT__FAIL_ON", "critical"),
            ("DRIFTWATCH__AUDIT__PAGE_SIZE", "50"),
        ];
        let c = load(MINIMAL, &vars).unwrap();
        assert_eq!((c.audit.fail_on, c.audit.page_size), (Severity::Critical, 50));
        let o = Overrides {
            fail_on: Some(Severity::Info),
        };
        let c = Config::from_str(
            MINIMAL,
            config::FileFormat::Toml,
            "x.toml",
            Path::new("/"),
            &env(&vars),
            &o,
        )
        .unwrap();
        assert_eq!(c.audit.fail_on, Severity::Info);
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let cases: Vec<(&str, String, &[&str])> = vec![
            (
                "unknown key",
                MINIMAL.replace("cache_dir", "cache_dri"),
                &["driftwatch.toml", "cache_dri"],
            ),
            (
                "unknown section key",
                format!("{MINIMAL}\n[audit]\nfial_on = \"info\"\n"),
                &["driftwatch.toml", "fial_on"],
            ),
            (
                "bad duration",
                format!("{MINIMAL}\n[audit]\nrollout_grace = \"ten minutes\"\n"),
                &["audit.rollout_grace", "ten minutes"],
            ),
            (
                "bad severity",
                format!("{MINIMAL}\n[audit]\nfail_on = \"high\"\n"),
                &["audit.fail_on", "high"],
            ),
            (
                "missing url",
                MINIMAL.replace("url = ", "# url = "),
                &["gitops.url", "missing"],
            ),
            (
                "secret env not set",
                MINIMAL.to_string(),
                &["gitops.token_env", "GITOPS_TOKEN is not set"],
            ),
            (
                "bad renderer",
                MINIMAL.replace("paths = [", "renderer = \"helm\"\npaths = ["),
                &["environments[0].renderer", "helm"],
            ),
            (
                "two cluster sources",
                MINIMAL.replace("context = ", "in_cluster = true\ncontext = "),
                &["environments[0].cluster"],
            ),
            (
                "path escapes repo",
                MINIMAL.replace("apps/*/overlays/production", "../etc"),
                &["environments[0].paths"],
            ),
            (
                "no environments",
                MINIMAL.split("[[environments]]").next().unwrap().to_string(),
                &["environments", "at least one"],
            ),
        ];
        for (name, text, needles) in cases {
            let vars: &[(&str, &str)] = if name == "secret env not set" {
                &[]
            } else {
                &[("GITOPS_TOKEN", "t")]
            };
            let err = load(&text, vars).expect_err(name).to_string();
            for n in needles {
                assert!(err.contains(n), "{name}: {err:?} should contain {n:?}");
            }
        }
    }

    #[test]
    fn alert_channels_and_their_errors() {
        let alerts = r#"
[state]
path = "state.json"
[alerts]
renotify_after = "12h"
[[alerts.slack]]
webhook_url_env = "SLACK_URL"
environments = ["production"]
min_severity = "critical"
[[alerts.email]]
smtp_host = "smtp.example.com"
password_env = "SMTP_PASSWORD"
username = "dw"
from = "driftwatch@example.com"
to = ["sre@example.com"]
[[alerts.webhook]]
name = "audit-log"
url = "https://hooks.example.com/drift"
hmac_secret_file = "/dev/null"
[[alerts.alertmanager]]
url = "http://alertmanager:9093"
"#;
        let vars = [
            ("GITOPS_TOKEN", "t"),
            ("SLACK_URL", "https://hooks.slack.com/services/x"),
            ("SMTP_PASSWORD", "p"),
        ];
        let c = load(&format!("{MINIMAL}{alerts}"), &vars).unwrap();
        assert_eq!(c.state.path, Path::new("/etc/driftwatch/state.json"));
        assert_eq!(c.alerts.renotify_after, Duration::from_secs(12 * 3600));
        let names: Vec<(&str, &str, Severity)> = c
            .alerts
            .channels
            .iter()
            .map(|ch| (ch.name.as_str(), ch.kind.as_str(), ch.min_severity))
            .collect();
        assert_eq!(
            names,
            vec![
                ("slack-1", "slack", Severity::Critical),
                ("email-1", "email", Severity::Warning),
                ("audit-log", "webhook", Severity::Warning),
                ("alertmanager-1", "alertmanager", Severity::Warning),
            ]
        );
        let ChannelKind::Email(e) = &c.alerts.channels[1].kind else {
            panic!("email")
        };
        assert_eq!((e.port, e.tls), (587, SmtpTls::StartTls));
        assert!(
            !format!("{c:?}").contains("hooks.slack.com"),
            "the Slack webhook URL is a secret"
        );

        let cases: Vec<(&str, String, &[&str])> = vec![
            (
                "plain SMTP off loopback",
                alerts.replace(
                    "smtp_host = \"smtp.example.com\"",
                    "smtp_host = \"smtp.example.com\"\ntls = \"none\"",
                ),
                &["alerts.email[0].tls", "127.0.0.1"],
            ),
            (
                "unknown environment",
                alerts.replace("[\"production\"]", "[\"prod\"]"),
                &["alerts.slack[0].environments", "prod"],
            ),
            (
                "missing webhook url",
                alerts.replace("webhook_url_env = \"SLACK_URL\"\n", ""),
                &["alerts.slack[0].webhook_url_env", "missing"],
            ),
            (
                "bad address",
                alerts.replace("sre@example.com", "sre at example"),
                &["alerts.email[0].to", "sre at example"],
            ),
            (
                "bad url",
                alerts.replace("https://hooks.example.com/drift", "ftp://x"),
                &["alerts.webhook[0].url", "ftp"],
            ),
            (
                "unknown channel key",
                alerts.replace("min_severity = \"critical\"", "min_sev = \"critical\""),
                &["min_sev"],
            ),
            (
                "bad severity",
                alerts.replace("min_severity = \"critical\"", "min_severity = \"page\""),
                &["alerts.slack[0].min_severity", "page"],
            ),
        ];
        for (name, text, needles) in cases {
            let err = load(&format!("{MINIMAL}{text}"), &vars).expect_err(name).to_string();
            for n in needles {
                assert!(err.contains(n), "{name}: {err:?} should contain {n:?}");
            }
        }
    }

    #[test]
    fn daemon_settings_and_their_errors() {
        let vars = [
            ("GITOPS_TOKEN", "t"),
            ("POD_NAME", "driftwatch-7d9f-abcde"),
            ("POD_NAMESPACE", "ops"),
        ];
        let daemon = "[schedule]\ncron = \"*/15 * * * *\"\ntimezone = \"Europe/Berlin\"\n[server]\nlisten = \"0.0.0.0:9184\"\n[ha]\nenabled = true\n";
        let c = load(&format!("log_format = \"json\"\n{MINIMAL}{daemon}"), &vars).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            (c.schedule.cron.as_str(), c.schedule.timezone.name()),
            ("*/15 * * * *", "Europe/Berlin")
        );
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:9184");
        let ha = c.ha.unwrap();
        assert_eq!(
            (ha.identity.as_str(), ha.lease_namespace.as_str()),
            ("driftwatch-7d9f-abcde", "ops"),
            "from the downward API"
        );
        let defaults = load(MINIMAL, &vars).unwrap();
        assert_eq!(
            (defaults.schedule.cron.as_str(), defaults.schedule.audit_timeout),
            ("0 30 2 * * *", Duration::from_secs(600))
        );
        assert!(defaults.ha.is_none());

        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: Vec<(&str, String, Vars, &[&str])> = vec![
            (
                "bad cron",
                daemon.replace("*/15 * * * *", "every 15 minutes"),
                &vars,
                &["schedule.cron", "every 15 minutes"],
            ),
            (
                "bad time zone",
                daemon.replace("Europe/Berlin", "Mars/Olympus"),
                &vars,
                &["schedule.timezone", "Mars/Olympus"],
            ),
            (
                "bad listen",
                daemon.replace("0.0.0.0:9184", "localhost"),
                &vars,
                &["server.listen"],
            ),
            (
                "renew not shorter",
                format!("{daemon}renew_interval = \"20s\"\n"),
                &vars,
                &["ha.renew_interval"],
            ),
            (
                "no identity",
                daemon.to_string(),
                &[("GITOPS_TOKEN", "t")],
                &["ha.identity"],
            ),
        ];
        for (name, text, vars, needles) in cases {
            let err = load(&format!("{MINIMAL}{text}"), vars).expect_err(name).to_string();
            for n in needles {
                assert!(err.contains(n), "{name}: {err:?} should contain {n:?}");
            }
        }
    }

    #[test]
    fn registry_credentials_from_env_and_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("config.json");
        // base64("ci-bot:hunter2")
        std::fs::write(&docker, r#"{"auths": {"registry.example.com": {"auth": "Y2ktYm90Omh1bnRlcjI="}, "ghcr.io": {"username": "u", "password": "p"}}}"#).unwrap();
        let text = format!(
            "{MINIMAL}[[registries]]\nhost = \"registry.example.com\"\ndocker_config = \"{}\"\n[[registries]]\nhost = \"ghcr.io\"\ndocker_config = \"{}\"\n[[registries]]\nhost = \"localhost:5000\"\ninsecure = true\nusername_env = \"U\"\npassword_env = \"P\"\n",
            docker.display(),
            docker.display()
        );
        let c = load(&text, &[("GITOPS_TOKEN", "t"), ("U", "local"), ("P", "pw")]).unwrap();
        let creds: Vec<(String, String, bool)> = c
            .registries
            .iter()
            .map(|r| {
                let (u, p) = r.credentials.as_ref().unwrap();
                (u.expose().to_string(), p.expose().to_string(), r.insecure)
            })
            .collect();
        assert_eq!(
            creds,
            vec![
                ("ci-bot".into(), "hunter2".into(), false),
                ("u".into(), "p".into(), false),
                ("local".into(), "pw".into(), true)
            ]
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = load(
            &text.replace("registry.example.com", "quay.io"),
            &[("GITOPS_TOKEN", "t"), ("U", "l"), ("P", "p")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("registries[0].docker_config") && err.contains("no auths entry for quay.io"),
            "{err}"
        );
    }

    #[test]
    fn yaml_config_and_local_path() {
        let text = "gitops:\n  path: examples/gitops\nenvironments:\n  - name: dev\n    paths: [apps]\n    cluster:\n      snapshot: snap.json\n";
        let c = Config::from_str(
            text,
            config::FileFormat::Yaml,
            "c.yaml",
            Path::new("/srv"),
            &HashMap::new(),
            &Overrides::default(),
        )
        .unwrap();
        assert!(matches!(&c.gitops, GitopsConfig::Local { path } if path == Path::new("/srv/examples/gitops")));
        let c = Config::from_str(
            &text.replace("examples/", "../srv/./examples/"),
            config::FileFormat::Yaml,
            "c.yaml",
            Path::new("/srv"),
            &HashMap::new(),
            &Overrides::default(),
        )
        .unwrap();
        assert!(
            matches!(&c.gitops, GitopsConfig::Local { path } if path == Path::new("/srv/examples/gitops")),
            "{:?}",
            c.gitops
        );
        assert_eq!(c.environments[0].cluster.name, "snap");
    }

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url("https://bot:tok3n@git.example.com/x.git"),
            "https://bot:***@git.example.com/x.git"
        );
        assert_eq!(redact_url("git@github.com:org/x.git"), "git@github.com:org/x.git");
    }
}
