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
    #[serde(default)]
    pub(crate) discovery: RawDiscovery,
    #[serde(default)]
    pub(crate) policies: RawPolicies,
}

/// `[policies]`: what running images must satisfy beyond matching git.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicies {
    #[serde(default)]
    pub(crate) signatures: Vec<RawSignaturePolicy>,
}

/// `[[policies.signatures]]`: which keys or identities must have signed the running digests
/// of which images in which environments, and where they must have been built.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSignaturePolicy {
    /// How findings and `verify --policy` name it; `signatures[<n>]` when unset.
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) environments: Vec<String>,
    #[serde(default)]
    pub(crate) images: Vec<String>,
    #[serde(default)]
    pub(crate) keys: Vec<PathBuf>,
    #[serde(default)]
    pub(crate) identities: Vec<RawIdentity>,
    pub(crate) trusted_root: Option<PathBuf>,
    pub(crate) provenance: Option<RawProvenance>,
    pub(crate) severity: Option<String>,
}

/// A keyless signer: the OIDC issuer of its Fulcio certificate and a regex its subject matches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    pub(crate) issuer: String,
    pub(crate) subject_regex: String,
}

/// What the SLSA provenance must name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvenance {
    pub(crate) builder_id: Option<String>,
    pub(crate) source_repo: Option<String>,
}

/// `[discovery]`: environments derived from GitOps controllers' objects.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiscovery {
    pub(crate) argocd: Option<RawArgoCd>,
    pub(crate) flux: Option<RawFlux>,
    #[serde(default)]
    pub(crate) clusters: Vec<RawDestination>,
}

/// `[discovery.argocd]`: where Argo CD Applications are read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawArgoCd {
    /// Globs of Application manifests in the `[gitops]` repository (app-of-apps).
    #[serde(default)]
    pub(crate) paths: Vec<String>,
    /// The Argo CD control plane to list Applications from.
    pub(crate) cluster: Option<RawCluster>,
    pub(crate) namespace: Option<String>,
    pub(crate) selector: Option<String>,
    pub(crate) environment_from: Option<String>,
}

/// `[discovery.flux]`: where Flux Kustomizations and HelmReleases are read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlux {
    /// Globs of Flux manifests in the `[gitops]` repository (`clusters/production/*.yaml`).
    #[serde(default)]
    pub(crate) paths: Vec<String>,
    /// The cluster Flux runs in, to list its objects from.
    pub(crate) cluster: Option<RawCluster>,
    pub(crate) namespace: Option<String>,
    pub(crate) selector: Option<String>,
    pub(crate) environment_from: Option<String>,
}

/// `[[discovery.clusters]]`: how driftwatch reaches an Argo CD destination (`server` or
/// `name`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDestination {
    pub(crate) server: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) context: Option<String>,
    pub(crate) in_cluster: Option<bool>,
    pub(crate) snapshot: Option<PathBuf>,
    #[serde(default)]
    pub(crate) namespaces: Vec<String>,
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
    /// `[[gitops.credentials]]`: what fetches of repositories under a URL prefix present.
    #[serde(default)]
    pub(crate) credentials: Vec<RawGitCredential>,
}

/// `[[gitops.credentials]]`: credentials for every repository whose URL starts with
/// `url_prefix` (the longest prefix wins), as Argo CD's credential templates do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGitCredential {
    pub(crate) url_prefix: String,
    pub(crate) username: Option<String>,
    pub(crate) token_env: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) password_env: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) ssh_key: Option<PathBuf>,
    pub(crate) ssh_key_passphrase_env: Option<String>,
    pub(crate) ssh_key_passphrase_file: Option<PathBuf>,
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
    pub(crate) paths: Vec<RawPathEntry>,
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
    /// The git repository holding `chart` (a directory) and `values_files`; default: `[gitops]`.
    /// (`repo` is the Helm repository a chart name comes from.)
    pub(crate) git_repo: Option<String>,
    /// The branch, tag or commit of `git_repo` (or of the `[gitops]` repository).
    pub(crate) revision: Option<String>,
    /// The git repository `values_files` entries starting with `$values/` are read from
    /// (Argo CD's `ref` source); default: `[gitops]`.
    pub(crate) values_git_repo: Option<String>,
    /// The branch, tag or commit of `values_git_repo` (or of the `[gitops]` repository).
    pub(crate) values_revision: Option<String>,
    /// A values file that does not exist is skipped rather than an error (Argo CD's
    /// `ignoreMissingValueFiles`).
    pub(crate) ignore_missing_values_files: Option<bool>,
    /// `[{ name = "a.b", path = "files/x.json" }]`: as `helm --set-file a.b=files/x.json`.
    #[serde(default)]
    pub(crate) set_file: Vec<RawSetFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSetFile {
    pub(crate) name: String,
    pub(crate) path: String,
}

/// One `paths` entry: a pattern (`"apps/api"`), or a table giving the path its own default
/// namespace, repository, renderer and overrides
/// (`{ path = "apps/web", namespace = "web", repo = "https://…", revision = "v2" }`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPath {
    pub(crate) path: String,
    pub(crate) namespace: Option<String>,
    /// The git repository the path is in; default: `[gitops]`.
    pub(crate) repo: Option<String>,
    /// A branch, tag or commit of `repo` (or of the `[gitops]` repository).
    pub(crate) revision: Option<String>,
    /// The OCI artifact the path is in (`oci://host/path`, a Flux OCIRepository's `url`),
    /// instead of a git repository.
    pub(crate) oci_artifact: Option<String>,
    /// The tag of `oci_artifact` (default `latest`, as Flux's).
    pub(crate) oci_tag: Option<String>,
    /// The digest of `oci_artifact` (`sha256:<hex>`), instead of a tag.
    pub(crate) oci_digest: Option<String>,
    /// The media type of the layer of `oci_artifact` to read; default: the first layer.
    pub(crate) oci_media_type: Option<String>,
    /// This path's renderer (`auto`, `kustomize`, `plain`); default: the environment's.
    pub(crate) renderer: Option<String>,
    /// For a plain directory: read its subdirectories too (default `true`; Argo CD's
    /// `directory.recurse` defaults to `false`).
    pub(crate) recurse: Option<bool>,
    /// For a plain directory: only the files matching this glob (`{a.yaml,b.yaml}`).
    pub(crate) include: Option<String>,
    /// For a plain directory: not the files matching this glob.
    pub(crate) exclude: Option<String>,
    /// Edits to the path's kustomization before it is built, as Argo CD applies an
    /// Application's `kustomize` section: any table, checked when validated.
    pub(crate) kustomize: Option<serde_json::Value>,
}

impl RawPath {
    fn pattern(path: &str) -> Self {
        Self {
            path: path.to_string(),
            ..Self::default()
        }
    }
}

/// A `paths` entry as written: a bare pattern or a table.
#[derive(Debug)]
pub(crate) struct RawPathEntry(pub(crate) RawPath);

impl<'de> Deserialize<'de> for RawPathEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawPathVisitor)
    }
}

struct RawPathVisitor;

impl<'de> serde::de::Visitor<'de> for RawPathVisitor {
    type Value = RawPathEntry;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a path pattern, or a table { path = \"…\", namespace = \"…\" }")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPathEntry, E> {
        Ok(RawPathEntry(RawPath::pattern(v)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawPathEntry, A::Error> {
        RawPath::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(RawPathEntry)
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

/// Whether every path and release of `environments` (at least one) names the git repository
/// it is read from: a path's `repo`, a release's `git_repo`, or a release of a chart from a Helm
/// repository or OCI registry that reads no file from git.
pub(crate) fn every_source_names_its_repository(environments: &[RawEnvironment]) -> bool {
    let release = |r: &RawRelease| {
        let elsewhere = |f: &String| r.values_git_repo.is_some() && f.starts_with(crate::config::VALUES_REF);
        r.git_repo.is_some()
            || ((r.repo.is_some() || r.chart.starts_with("oci://"))
                && r.values_files.iter().all(elsewhere)
                && r.set_file.is_empty())
    };
    !environments.is_empty()
        && environments.iter().all(|e| {
            (!e.paths.is_empty() || !e.releases.is_empty())
                && e.paths.iter().all(|p| p.0.repo.is_some() || p.0.oci_artifact.is_some())
                && e.releases.iter().all(release)
        })
}
