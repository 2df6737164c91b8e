//! The configuration as written: serde shapes that mirror the file, every key optional where
//! it has a default. Unknown keys are rejected (`deny_unknown_fields`) so that a typo is an
//! error naming the key, not a silently ignored setting. [`super::validate`] turns these into
//! the typed config.

use std::path::PathBuf;

use serde::Deserialize;

use crate::alerts::channels::Section;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) log_format: Option<String>,
    pub(crate) gitops: RawGitops,
    #[serde(default)]
    pub(crate) schedule: RawSchedule,
    #[serde(default)]
    pub(crate) server: RawServer,
    #[serde(default)]
    pub(crate) ha: RawHa,
    #[serde(default)]
    pub(crate) audit: RawAudit,
    #[serde(default)]
    pub(crate) render: RawRender,
    #[serde(default)]
    pub(crate) watch: RawWatch,
    #[serde(default)]
    pub(crate) environments: Vec<RawEnvironment>,
    #[serde(default)]
    pub(crate) state: RawState,
    #[serde(default)]
    pub(crate) store: RawStore,
    #[serde(default)]
    pub(crate) dora: RawDora,
    #[serde(default)]
    pub(crate) alerts: RawAlerts,
    #[serde(default)]
    pub(crate) registry_rewrites: Vec<RawRewrite>,
    #[serde(default)]
    pub(crate) registries: Vec<RawRegistry>,
    #[serde(default)]
    pub(crate) helm_repositories: Vec<RawHelmRepository>,
}

/// `[[helm_repositories]]`: Basic auth and a CA for the Helm repositories under a URL prefix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHelmRepository {
    pub(crate) url: String,
    pub(crate) username: Option<String>,
    pub(crate) password_env: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegistry {
    pub(crate) host: String,
    pub(crate) username_env: Option<String>,
    pub(crate) username_file: Option<PathBuf>,
    pub(crate) password_env: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) docker_config: Option<PathBuf>,
    pub(crate) insecure: Option<bool>,
    pub(crate) timeout: Option<String>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) backoff: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub(crate) cron: Option<String>,
    pub(crate) timezone: Option<String>,
    pub(crate) run_on_start: Option<bool>,
    pub(crate) audit_timeout: Option<String>,
    pub(crate) shutdown_grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<String>,
    pub(crate) probe_listen: Option<String>,
    pub(crate) auth: Option<RawServerAuth>,
}

/// `[server.auth]`: a bearer token, or a username with a password.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServerAuth {
    pub(crate) bearer_token_env: Option<String>,
    pub(crate) bearer_token_file: Option<PathBuf>,
    pub(crate) username: Option<String>,
    pub(crate) password_env: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) protect_metrics: Option<bool>,
    pub(crate) protect_healthz: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHa {
    pub(crate) enabled: Option<bool>,
    pub(crate) advertise_address: Option<String>,
    pub(crate) lease_name: Option<String>,
    pub(crate) lease_namespace: Option<String>,
    pub(crate) identity: Option<String>,
    pub(crate) lease_duration: Option<String>,
    pub(crate) renew_interval: Option<String>,
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) context: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    pub(crate) path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub(crate) url: Option<String>,
    pub(crate) password_env: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDora {
    pub(crate) failure_window: Option<String>,
    pub(crate) window: Option<String>,
}

/// `[alerts]`: delivery settings plus one list per channel kind (`[[alerts.slack]]`, …), whose
/// entries each channel's module defines. The kinds come from the one list in
/// [`crate::alerts::channels`], in its order (which is also the order of "expected one of" in
/// the unknown-key message).
macro_rules! raw_alerts {
    ($($key:ident: $variant:ident($settings:ty),)*) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct RawAlerts {
            pub(crate) renotify_after: Option<String>,
            pub(crate) send_resolved: Option<bool>,
            pub(crate) timeout: Option<String>,
            pub(crate) max_attempts: Option<u32>,
            pub(crate) backoff: Option<String>,
            pub(crate) backoff_max: Option<String>,
            $(
                #[serde(default)]
                pub(crate) $key: Vec<<$settings as Section>::Raw>,
            )*
        }
    };
}
crate::alerts::channels::channel_kinds!(raw_alerts);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGitops {
    pub(crate) url: Option<String>,
    pub(crate) path: Option<PathBuf>,
    pub(crate) branch: Option<String>,
    pub(crate) rev: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) token_env: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) ssh_key: Option<PathBuf>,
    pub(crate) ssh_key_passphrase_env: Option<String>,
    pub(crate) ssh_key_passphrase_file: Option<PathBuf>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) poll_interval: Option<String>,
    pub(crate) webhook_secret_env: Option<String>,
    pub(crate) webhook_secret_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    pub(crate) ignore_file: Option<PathBuf>,
    pub(crate) fail_on: Option<String>,
    pub(crate) rollout_grace: Option<String>,
    pub(crate) sync_grace: Option<String>,
    pub(crate) max_concurrent_environments: Option<usize>,
    pub(crate) kube_timeout: Option<String>,
    pub(crate) page_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWatch {
    pub(crate) enabled: Option<bool>,
    pub(crate) debounce: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRender {
    pub(crate) kustomize: Option<String>,
    pub(crate) timeout: Option<String>,
    pub(crate) engine: Option<String>,
    pub(crate) cache: Option<bool>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) cache_max_mib: Option<u64>,
    pub(crate) helm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvironment {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) paths: Vec<RawPath>,
    pub(crate) renderer: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) require_digest: Option<bool>,
    #[serde(default)]
    pub(crate) ignore_containers: Vec<String>,
    #[serde(default)]
    pub(crate) allowed_sources: Vec<String>,
    pub(crate) promoted_from: Option<String>,
    pub(crate) lineage_depth: Option<usize>,
    pub(crate) compare_secrets: Option<bool>,
    pub(crate) compare_configmaps: Option<RawToggle>,
    #[serde(default)]
    pub(crate) cluster: RawCluster,
    /// Overrides `[render] engine` for this environment's kustomizations and Helm releases.
    pub(crate) engine: Option<String>,
    #[serde(default)]
    pub(crate) releases: Vec<RawRelease>,
}

/// `[[environments.releases]]`: one Helm release an environment declares.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRelease {
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    pub(crate) chart: String,
    pub(crate) repo: Option<String>,
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) values_files: Vec<String>,
    /// Any table: the chart's values are not driftwatch's keys, so they are never "unknown".
    pub(crate) values: Option<serde_json::Value>,
    pub(crate) kube_version: Option<String>,
    #[serde(default)]
    pub(crate) api_versions: Vec<String>,
    pub(crate) engine: Option<String>,
}

/// One `paths` entry: a pattern (`"apps/api"`), or a table giving the path its own default
/// namespace (`{ path = "apps/web", namespace = "web" }`).
#[derive(Debug)]
pub(crate) struct RawPath {
    pub(crate) path: String,
    pub(crate) namespace: Option<String>,
}

impl<'de> Deserialize<'de> for RawPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawPathVisitor)
    }
}

struct RawPathVisitor;

impl<'de> serde::de::Visitor<'de> for RawPathVisitor {
    type Value = RawPath;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a path pattern, or a table { path = \"…\", namespace = \"…\" }")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPath, E> {
        Ok(RawPath {
            path: v.to_string(),
            namespace: None,
        })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawPath, A::Error> {
        const KEYS: &[&str] = &["path", "namespace"];
        let (mut path, mut namespace) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "path" => path = Some(map.next_value::<String>()?),
                "namespace" => namespace = Some(map.next_value::<String>()?),
                other => return Err(serde::de::Error::unknown_field(other, KEYS)),
            }
        }
        Ok(RawPath {
            path: path.ok_or_else(|| serde::de::Error::missing_field("path"))?,
            namespace,
        })
    }
}

/// `true`, `false` or a word such as `"auto"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawToggle {
    Bool(bool),
    Word(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRewrite {
    pub(crate) from: String,
    pub(crate) to: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    pub(crate) name: Option<String>,
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) context: Option<String>,
    pub(crate) in_cluster: Option<bool>,
    pub(crate) snapshot: Option<PathBuf>,
    #[serde(default)]
    pub(crate) namespaces: Vec<String>,
}
