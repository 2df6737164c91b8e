//! What `driftwatch check-config` prints: the resolved configuration, one line per section
//! (or per entry of a list section), secrets only as "set". Each section describes itself
//! through [`Describe`], so a new section adds its own impl and one call in [`describe`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::config::{
    AlertsConfig, AuditConfig, ChannelConfig, ClusterSource, CompareConfigMaps, Config, DoraConfig, Engine,
    EnvironmentConfig, GitUpdatesConfig, GitopsConfig, HaConfig, HelmRepositoryConfig, RegistryConfig, ReleaseConfig,
    RenderConfig, ScheduleConfig, ServerConfig, ServerCredential, StateConfig, StoreBackend, StoreConfig, WatchConfig,
    redact_url,
};

/// Durations as the user wrote them, by key ([`Config::written`]).
pub type Written = BTreeMap<String, String>;

/// A config section's lines in `check-config`, each ending in `\n`; values as the user wrote
/// them (`written`), or in the form the config accepts where a default applies.
pub trait Describe {
    fn describe(&self, written: &Written, out: &mut String);
}

/// The resolved configuration, for `check-config`, with the next scheduled run after now.
pub fn describe(cfg: &Config) -> String {
    describe_at(cfg, Utc::now())
}

/// As [`describe`], with the next scheduled run computed from `now`.
pub fn describe_at(cfg: &Config, now: DateTime<Utc>) -> String {
    let mut out = format!("config {}: ok\n", cfg.origin);
    cfg.gitops.describe(&cfg.written, &mut out);
    if let GitopsConfig::Remote { .. } = cfg.gitops {
        cfg.git_updates.describe(&cfg.written, &mut out);
    }
    cfg.audit.describe(&cfg.written, &mut out);
    cfg.watch.describe(&cfg.written, &mut out);
    Render {
        cfg: &cfg.render,
        cache_dir: crate::sources::render_cache_dir(cfg),
        helm: cfg.environments.iter().any(|e| !e.releases.is_empty()),
    }
    .describe(&cfg.written, &mut out);
    for e in &cfg.environments {
        e.describe(&cfg.written, &mut out);
        for r in &e.releases {
            Release { env: e, release: r }.describe(&cfg.written, &mut out);
        }
    }
    for r in &cfg.registries {
        r.describe(&cfg.written, &mut out);
    }
    for r in &cfg.helm_repositories {
        r.describe(&cfg.written, &mut out);
    }
    for e in &cfg.environments {
        Policy(e).describe(&cfg.written, &mut out);
    }
    for p in &cfg.policies.signatures {
        p.describe(&cfg.written, &mut out);
    }
    Schedule {
        cfg: &cfg.schedule,
        now,
    }
    .describe(&cfg.written, &mut out);
    cfg.server.describe(&cfg.written, &mut out);
    cfg.ha.describe(&cfg.written, &mut out);
    Store {
        store: &cfg.store,
        state: &cfg.state,
        dora: &cfg.dora,
    }
    .describe(&cfg.written, &mut out);
    cfg.alerts.describe(&cfg.written, &mut out);
    out
}

/// A duration as written at `key`, else (a default) in the largest whole unit the config
/// accepts: `24h`, `15m`, `30s`, never humantime's `1day`.
fn duration(w: &Written, key: &str, d: std::time::Duration) -> String {
    if let Some(text) = w.get(key) {
        return text.clone();
    }
    let (secs, ms) = (d.as_secs(), d.subsec_millis());
    match secs {
        _ if ms != 0 || secs == 0 => format!("{}ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Describe for GitopsConfig {
    fn describe(&self, _: &Written, out: &mut String) {
        match self {
            GitopsConfig::Remote {
                url,
                reference,
                auth,
                cache_dir,
            } => {
                let _ = writeln!(
                    out,
                    "gitops: {} ({reference}), cache {}",
                    redact_url(url),
                    cache_dir.display()
                );
                let _ = writeln!(
                    out,
                    "  auth: token {}, ssh key {}",
                    if auth.token.is_some() { "set" } else { "not set" },
                    auth.ssh_key
                        .as_ref()
                        .map_or("not set".to_string(), |p| p.display().to_string())
                );
            }
            GitopsConfig::Local { path } => {
                let _ = writeln!(out, "gitops: local directory {}", path.display());
            }
            GitopsConfig::Unset => {
                let _ = writeln!(out, "gitops: no default repository (discovered sources name theirs)");
            }
        }
    }
}

/// How the daemon learns of new commits; only a remote repository has any.
impl Describe for GitUpdatesConfig {
    fn describe(&self, w: &Written, out: &mut String) {
        let poll = match self.poll_interval {
            Some(d) => duration(w, "gitops.poll_interval", d),
            None => "off".to_string(),
        };
        let webhook = if self.webhook_secret.is_some() {
            "POST /hooks/git, secret set"
        } else {
            "off (no webhook_secret)"
        };
        let _ = writeln!(out, "  updates: poll_interval {poll}, webhook {webhook}");
    }
}

impl Describe for AuditConfig {
    fn describe(&self, w: &Written, out: &mut String) {
        let _ = writeln!(
            out,
            "audit: fail_on {}, rollout_grace {}, sync_grace {}, kube_timeout {}, page_size {}, max_concurrent_environments {}",
            self.fail_on,
            duration(w, "audit.rollout_grace", self.rollout_grace),
            duration(w, "audit.sync_grace", self.sync_grace),
            duration(w, "audit.kube_timeout", self.kube_timeout),
            self.page_size,
            self.max_concurrent_environments
        );
    }
}

impl Describe for WatchConfig {
    fn describe(&self, w: &Written, out: &mut String) {
        let enabled = if self.enabled {
            "enabled (clusters reached through the API; snapshots are read per audit)"
        } else {
            "off (every audit lists the clusters)"
        };
        let _ = writeln!(
            out,
            "watch: {enabled}, debounce {}",
            duration(w, "watch.debounce", self.debounce)
        );
    }
}

/// `[render]`, with the cache directory as resolved (a default depends on `[gitops]`).
struct Render<'a> {
    cfg: &'a RenderConfig,
    cache_dir: Option<std::path::PathBuf>,
    /// Whether any environment has Helm releases (the `helm` command is named then).
    helm: bool,
}

impl Describe for Render<'_> {
    fn describe(&self, w: &Written, out: &mut String) {
        let external = self
            .cfg
            .kustomize
            .as_deref()
            .unwrap_or("kustomize, else kubectl kustomize");
        let engine = match self.cfg.engine {
            Engine::Builtin => format!("builtin (overlays it leaves: external {external})"),
            Engine::External => format!("external {external}"),
        };
        let cache = match (&self.cfg.cache, &self.cache_dir) {
            (false, _) => "off".to_string(),
            (true, Some(dir)) => format!(
                "on (in memory and {}, at most {} MiB)",
                dir.display(),
                self.cfg.cache_max_bytes / (1024 * 1024)
            ),
            (true, None) => "on (in memory only)".to_string(),
        };
        let helm = if self.helm {
            format!(", helm {}", self.cfg.helm.as_deref().unwrap_or("from PATH"))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "render: engine {engine}, cache {cache}, timeout {}{helm}",
            duration(w, "render.timeout", self.cfg.timeout)
        );
    }
}

impl Describe for EnvironmentConfig {
    fn describe(&self, _: &Written, out: &mut String) {
        let source = match &self.cluster.source {
            ClusterSource::Kubeconfig { path, context } => format!(
                "kubeconfig {} context {}",
                path.as_ref()
                    .map_or("(default)".to_string(), |p| p.display().to_string()),
                context.as_deref().unwrap_or("(current)")
            ),
            ClusterSource::InCluster => "in-cluster".to_string(),
            ClusterSource::Snapshot(p) => format!("snapshot {}", p.display()),
        };
        let namespaces = if self.cluster.namespaces.is_empty() {
            "all".to_string()
        } else {
            self.cluster.namespaces.join(", ")
        };
        let paths = if self.paths.is_empty() {
            "none".to_string()
        } else {
            self.paths
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "environment {}: paths {paths} ({}), cluster {} via {source}, namespaces {namespaces}, require_digest {}",
            self.name, self.renderer, self.cluster.name, self.require_digest
        );
    }
}

/// One Helm release of an environment.
struct Release<'a> {
    env: &'a EnvironmentConfig,
    release: &'a ReleaseConfig,
}

impl Describe for Release<'_> {
    fn describe(&self, _: &Written, out: &mut String) {
        let r = self.release;
        let mut values: Vec<String> = r
            .values_files
            .iter()
            .map(|f| match r.values_file_elsewhere(f) {
                Some((Some(repo), path)) => format!("{path} of {repo}"),
                Some((None, path)) => format!("{path} of the [gitops] repository"),
                None => f.clone(),
            })
            .collect();
        if !r.values.is_empty() {
            let n = r.values.len();
            values.push(format!("inline values ({n} key{})", if n == 1 { "" } else { "s" }));
        }
        let engine = r
            .engine
            .or(self.env.engine)
            .map_or("as [render]".to_string(), |e| e.to_string());
        let _ = writeln!(
            out,
            "release {}/{}: chart {}, namespace {}, values {}, kube_version {}{}, engine {engine}",
            self.env.name,
            r.name,
            r.chart,
            r.namespace,
            if values.is_empty() {
                "chart defaults".to_string()
            } else {
                values.join(", ")
            },
            r.kube_version.clone().unwrap_or_else(|| format!(
                "the cluster's, else {}",
                crate::sources::render::helm::DEFAULT_KUBE_VERSION
            )),
            if r.api_versions.is_empty() {
                String::new()
            } else {
                format!(", api_versions {}", r.api_versions.join(", "))
            },
        );
    }
}

impl Describe for HelmRepositoryConfig {
    fn describe(&self, w: &Written, out: &mut String) {
        let _ = writeln!(
            out,
            "helm repository {}, timeout {}",
            crate::sources::charts::describe(self),
            duration(w, "", self.timeout)
        );
    }
}

impl Describe for RegistryConfig {
    fn describe(&self, w: &Written, out: &mut String) {
        let _ = writeln!(
            out,
            "registry {}: credentials {}{}, timeout {}, max_attempts {}",
            self.host,
            if self.credentials.is_some() {
                "set"
            } else {
                "none (anonymous)"
            },
            if self.insecure { ", plain http" } else { "" },
            duration(w, "", self.retry.timeout),
            self.retry.max_attempts
        );
    }
}

impl Describe for crate::config::SignaturePolicyConfig {
    fn describe(&self, _: &Written, out: &mut String) {
        let or_all = |v: Vec<String>| if v.is_empty() { "all".to_string() } else { v.join(", ") };
        let keys: Vec<String> = self
            .key_files
            .iter()
            .map(|(path, fingerprint)| format!("{} ({fingerprint})", path.display()))
            .collect();
        let identities: Vec<String> = self
            .policy
            .identities
            .iter()
            .map(|i| format!("{} ~ {}", i.issuer, i.subject_regex.as_str()))
            .collect();
        let _ = writeln!(
            out,
            "signature policy {}: environments {}, images {}, keys {}, identities {}, trusted root {}, provenance {}, severity {}",
            self.name,
            or_all(self.environments.clone()),
            or_all(self.images.iter().map(|p| p.as_str().to_string()).collect()),
            if keys.is_empty() {
                "none".into()
            } else {
                keys.join(", ")
            },
            if identities.is_empty() {
                "none".into()
            } else {
                identities.join(", ")
            },
            self.trusted_root_file
                .as_ref()
                .map_or("none".into(), |p| p.display().to_string()),
            self.policy
                .provenance
                .as_ref()
                .map_or("not checked".into(), |p| format!(
                    "builder {} source {}",
                    p.builder_id.as_deref().unwrap_or("any"),
                    p.source_repo.as_deref().unwrap_or("any")
                )),
            self.severity
        );
    }
}

/// An environment's policy checks; nothing when it has none.
struct Policy<'a>(&'a EnvironmentConfig);

impl Describe for Policy<'_> {
    fn describe(&self, _: &Written, out: &mut String) {
        let e = self.0;
        if e.allowed_sources.is_empty()
            && e.promoted_from.is_none()
            && !e.compare_secrets
            && e.compare_configmaps == CompareConfigMaps::Auto
        {
            return;
        }
        let sources = if e.allowed_sources.is_empty() {
            "any".to_string()
        } else {
            e.allowed_sources.join(", ")
        };
        let promoted = e.promoted_from.as_ref().map_or("-".to_string(), |(from, depth)| {
            format!("{from} (last {depth} commits)")
        });
        let _ = writeln!(
            out,
            "policy {}: allowed_sources {sources}, promoted_from {promoted}, compare_secrets {}, compare_configmaps {}",
            e.name,
            e.compare_secrets,
            e.compare_configmaps.as_str()
        );
    }
}

/// The schedule, with its next run after `now`.
struct Schedule<'a> {
    cfg: &'a ScheduleConfig,
    now: DateTime<Utc>,
}

impl Describe for Schedule<'_> {
    fn describe(&self, w: &Written, out: &mut String) {
        let sc = self.cfg;
        let next =
            crate::app::schedule::next_fire(sc, self.now).map_or("never".to_string(), crate::core::report::timestamp);
        let _ = writeln!(
            out,
            "schedule: cron \"{}\" ({}), next run {next}, run_on_start {}, audit_timeout {}, shutdown_grace {}",
            sc.cron,
            sc.timezone,
            sc.run_on_start,
            duration(w, "schedule.audit_timeout", sc.audit_timeout),
            duration(w, "schedule.shutdown_grace", sc.shutdown_grace)
        );
    }
}

impl Describe for ServerConfig {
    fn describe(&self, _: &Written, out: &mut String) {
        match self.probe_listen {
            Some(probes) => {
                let _ = writeln!(out, "server: listen {}, probes also on {probes}", self.listen);
            }
            None => {
                let _ = writeln!(out, "server: listen {}", self.listen);
            }
        }
        // The credential's kind and whether it is set, never its value.
        let auth = match &self.auth {
            None => "off".to_string(),
            Some(a) => {
                let credential = match &a.credential {
                    ServerCredential::Bearer(_) => "bearer token (set)".to_string(),
                    ServerCredential::Basic { username, .. } => format!("basic user {username} (password set)"),
                };
                let open: Vec<&str> = [
                    ("/metrics", !a.protect_metrics),
                    ("/healthz, /readyz", !a.protect_healthz),
                ]
                .into_iter()
                .filter_map(|(path, open)| open.then_some(path))
                .chain(["/hooks/git (its own signature)"])
                .collect();
                format!("{credential}; open: {}", open.join(", "))
            }
        };
        let _ = writeln!(out, "  auth: {auth}");
    }
}

impl Describe for Option<HaConfig> {
    fn describe(&self, w: &Written, out: &mut String) {
        match self {
            None => out.push_str("ha: disabled\n"),
            Some(ha) => {
                let _ = writeln!(
                    out,
                    "ha: lease {}/{} as {}, lease_duration {}, renew_interval {}",
                    ha.lease_namespace,
                    ha.lease_name,
                    ha.identity,
                    duration(w, "ha.lease_duration", ha.lease_duration),
                    duration(w, "ha.renew_interval", ha.renew_interval)
                );
            }
        }
    }
}

/// `[store]`, `[state]` (a file from before the store, moved into it at first start) and
/// `[dora]`.
struct Store<'a> {
    store: &'a StoreConfig,
    state: &'a StateConfig,
    dora: &'a DoraConfig,
}

impl Describe for Store<'_> {
    fn describe(&self, w: &Written, out: &mut String) {
        let kind = match &self.store.backend {
            StoreBackend::Sqlite(_) => "embedded SQLite".to_string(),
            StoreBackend::Postgres { password, .. } => format!(
                "shared PostgreSQL, password {}",
                if password.is_some() { "set" } else { "none" }
            ),
        };
        let _ = writeln!(
            out,
            "store: {} ({kind}), retention {}, alert state file from before the store: {}",
            self.store.backend.display(),
            days(w, "store.retention", self.store.retention),
            self.state.path.display(),
        );
        let _ = writeln!(
            out,
            "dora: window {}, failure_window {}",
            days(w, "dora.window", self.dora.window),
            duration(w, "dora.failure_window", self.dora.failure_window),
        );
    }
}

/// A duration of whole days as written, else `400d`.
fn days(w: &Written, key: &str, d: std::time::Duration) -> String {
    match w.get(key) {
        Some(text) => text.clone(),
        None if d.as_secs().is_multiple_of(86_400) => format!("{}d", d.as_secs() / 86_400),
        None => duration(w, key, d),
    }
}

/// `[alerts]`: how alerts repeat, then one line per channel.
impl Describe for AlertsConfig {
    fn describe(&self, w: &Written, out: &mut String) {
        let _ = writeln!(
            out,
            "alerts: renotify_after {}, send_resolved {}",
            duration(w, "alerts.renotify_after", self.renotify_after),
            self.send_resolved
        );
        for c in &self.channels {
            c.describe(w, out);
        }
    }
}

impl Describe for ChannelConfig {
    fn describe(&self, _: &Written, out: &mut String) {
        let envs = self.environments.as_ref().map_or("all".to_string(), |e| e.join(", "));
        let target = self.kind.settings().describe_target();
        let _ = writeln!(
            out,
            "channel {}: {} {target}, environments {envs}, min_severity {}",
            self.name,
            self.kind.as_str(),
            self.min_severity
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use chrono::TimeZone;

    use super::*;
    use crate::config::Overrides;

    const CONFIG: &str = r#"
[gitops]
url = "https://bot:tok3n@git.example.com/org/infra.git"
branch = "main"
token_env = "GITOPS_TOKEN"
poll_interval = "30s"
webhook_secret_env = "HOOK_SECRET"
[schedule]
cron = "0 */15 * * * *"
timezone = "Europe/Berlin"
[server.auth]
username = "sre"
password_env = "UI_PASSWORD"
protect_metrics = true
[ha]
enabled = true
identity = "driftwatch-0"
[[registries]]
host = "localhost:5000"
insecure = true
[[environments]]
name = "production"
paths = ["apps/*/production"]
renderer = "plain"
allowed_sources = ["localhost:5000/shop"]
[environments.cluster]
in_cluster = true
namespaces = ["shop", "payments"]
[[environments]]
name = "staging"
paths = ["apps/*/staging"]
[environments.cluster]
snapshot = "staging.json"
[[alerts.slack]]
name = "oncall"
webhook_url_env = "SLACK_URL"
environments = ["production"]
min_severity = "critical"
[[alerts.email]]
smtp_host = "smtp.example.com"
from = "driftwatch@example.com"
to = ["sre@example.com", "dev@example.com"]
[[alerts.webhook]]
url = "https://hooks.example.com/drift"
hmac_secret_env = "HMAC"
[[alerts.alertmanager]]
url = "http://alertmanager:9093"
"#;

    #[test]
    fn every_section_describes_itself_and_secrets_only_as_set() {
        let env: HashMap<String, String> = [
            ("GITOPS_TOKEN", "ghp_secret"),
            ("SLACK_URL", "https://hooks.slack.com/services/secret"),
            ("HMAC", "hmac_secret"),
            ("HOOK_SECRET", "hook_secret"),
            ("UI_PASSWORD", "ui_password"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = Config::from_str(
            CONFIG,
            config::FileFormat::Toml,
            "driftwatch.toml",
            Path::new("/etc/driftwatch"),
            &env,
            &Overrides::default(),
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 9, 2, 0).unwrap();
        let text = describe_at(&cfg, now);
        let expected = [
            "config driftwatch.toml: ok",
            "gitops: https://bot:***@git.example.com/org/infra.git (branch main), cache /var/lib/driftwatch/gitops",
            "  auth: token set, ssh key not set",
            "  updates: poll_interval 30s, webhook POST /hooks/git, secret set",
            "audit: fail_on warning, rollout_grace 15m, sync_grace 10m, kube_timeout 30s, page_size 500, max_concurrent_environments 4",
            "watch: enabled (clusters reached through the API; snapshots are read per audit), debounce 2s",
            "render: engine builtin (overlays it leaves: external kustomize, else kubectl kustomize), cache on (in memory and /var/lib/driftwatch/render-cache, at most 512 MiB), timeout 1m",
            "environment production: paths apps/*/production (plain), cluster in-cluster via in-cluster, namespaces shop, payments, require_digest true",
            "environment staging: paths apps/*/staging (auto), cluster staging via snapshot /etc/driftwatch/staging.json, namespaces all, require_digest true",
            "registry localhost:5000: credentials none (anonymous), plain http, timeout 10s, max_attempts 5",
            "policy production: allowed_sources localhost:5000/shop, promoted_from -, compare_secrets false, compare_configmaps auto",
            "schedule: cron \"0 */15 * * * *\" (Europe/Berlin), next run 2026-11-26T09:15:00Z, run_on_start false, audit_timeout 10m, shutdown_grace 30s",
            "server: listen 127.0.0.1:9184",
            "  auth: basic user sre (password set); open: /healthz, /readyz, /hooks/git (its own signature)",
            "ha: lease default/driftwatch as driftwatch-0, lease_duration 15s, renew_interval 5s",
            "store: sqlite:///var/lib/driftwatch/driftwatch.db (embedded SQLite), retention 400d, alert state file from before the store: /var/lib/driftwatch/state.json",
            "dora: window 30d, failure_window 24h",
            "alerts: renotify_after 24h, send_resolved true",
            "channel oncall: slack webhook URL set, environments production, min_severity critical",
            "channel email-1: email smtp.example.com:587 (starttls) to sre@example.com, dev@example.com, environments all, min_severity warning",
            "channel webhook-1: webhook https://hooks.example.com/drift (hmac set), environments all, min_severity warning",
            "channel alertmanager-1: alertmanager http://alertmanager:9093, environments all, min_severity warning",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        assert!(text.ends_with('\n'));
        for secret in [
            "ghp_secret",
            "hooks.slack.com",
            "hmac_secret",
            "tok3n",
            "hook_secret",
            "ui_password",
        ] {
            assert!(!text.contains(secret), "{secret} printed");
        }
    }
}
