//! Configuration: built-in defaults < file (TOML or YAML) < `DRIFTWATCH__SECTION__KEY`
//! environment < CLI flags, parsed into raw serde types (unknown keys rejected), then validated
//! into typed config. Secrets are read from environment variables or files named in `*_env` /
//! `*_file` keys and held in [`Secret`], which never prints its value.
//!
//! This file holds the typed config and [`Config::load`]; `raw` the serde shapes as written,
//! `validate` one file per section turning them into typed config. The building blocks
//! (errors, validator, secrets, retry settings) are in [`crate::settings`].

pub(crate) mod raw;
mod unknown;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use crate::settings::Validator;
pub use crate::settings::{ConfigError, DeliveryConfig, Secret, redact_url};

use crate::alerts::channels::ChannelKind;
use crate::core::model::{Rewrite, Severity};
use crate::core::report::status::promotion_order;

#[derive(Clone, Debug)]
pub struct Config {
    /// The file the config was loaded from, for messages.
    pub origin: String,
    pub gitops: GitopsConfig,
    /// How the daemon learns of new commits between scheduled audits.
    pub git_updates: GitUpdatesConfig,
    pub audit: AuditConfig,
    pub render: RenderConfig,
    pub watch: WatchConfig,
    pub environments: Vec<EnvironmentConfig>,
    /// The repositories sources name besides `[gitops]`: their caches and credentials.
    pub repositories: RepositoriesConfig,
    /// `[discovery]`: environments derived from Argo CD Applications and Flux objects.
    pub discovery: DiscoveryConfig,
    /// The names of the environments discovery added (after the hand-written ones), so that it
    /// can run again on the config as written.
    pub discovered: Vec<String>,
    /// What the discovery that added them could not read or map, one line each with the fix:
    /// an audit of this config reports them as errors.
    pub discovery_problems: Vec<String>,
    /// How many of `discovered` came from each source (`argocd`, `flux`), for the
    /// `driftwatch_discovered_environments` metric.
    pub discovered_by: BTreeMap<&'static str, usize>,
    pub state: StateConfig,
    pub store: StoreConfig,
    pub dora: DoraConfig,
    pub alerts: AlertsConfig,
    pub schedule: ScheduleConfig,
    pub server: ServerConfig,
    pub ha: Option<HaConfig>,
    pub log_format: LogFormat,
    pub registries: Vec<RegistryConfig>,
    /// Credentials and CAs for Helm repositories, by URL prefix.
    pub helm_repositories: Vec<HelmRepositoryConfig>,
    /// `[policies]`: signature and provenance policies on running digests.
    pub policies: PoliciesConfig,
    /// Durations as the user wrote them, by key (`alerts.renotify_after` → `24h`), so that
    /// `check-config` prints them in that form.
    pub written: std::collections::BTreeMap<String, String>,
}

/// How logs are written: readable text for people, one-line JSON for machines (`log_format`,
/// or `--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
pub fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: std::net::SocketAddr,
    /// `probe_listen`: `/healthz` and `/readyz` also served here, on a thread of their own, so
    /// that load on `listen` never delays a kubelet probe; `None`: only on `listen`.
    pub probe_listen: Option<std::net::SocketAddr>,
    /// `[server.auth]`; `None`: every endpoint is open (the default, on loopback).
    pub auth: Option<ServerAuth>,
}

/// What requests to the HTTP endpoint must present (`[server.auth]`).
#[derive(Clone, Debug)]
pub struct ServerAuth {
    pub credential: ServerCredential,
    /// Whether `/metrics` needs the credential too (open by default: Prometheus scrapes it).
    pub protect_metrics: bool,
    /// Whether `/healthz` and `/readyz` need it too (open by default: kubelet probes them).
    pub protect_healthz: bool,
}

#[derive(Clone, Debug)]
pub enum ServerCredential {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: Secret },
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
    /// Where the other replicas reach this one's HTTP server (`host:port`), written into the
    /// Lease while it leads, so that followers serve the leader's status page.
    pub advertise: Option<String>,
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
    /// No default repository: with discovery, every source names its own.
    Unset,
}

impl GitopsConfig {
    /// The URL or path for reports, with any password in the URL replaced by `***`.
    pub fn display_url(&self) -> String {
        match self {
            Self::Remote { url, .. } => redact_url(url),
            Self::Local { path } => path.display().to_string(),
            Self::Unset => "-".into(),
        }
    }
}

/// How the daemon learns of new commits between scheduled audits: `[gitops] poll_interval` and
/// `webhook_secret_env`/`_file` (`POST /hooks/git`). Kept apart from [`GitopsConfig`], which
/// says what to audit; both are off for a local path, which every audit reads as it is.
#[derive(Clone, Debug, Default)]
pub struct GitUpdatesConfig {
    /// Fetch this often and re-audit when the commit changed; `None`: no polling.
    pub poll_interval: Option<Duration>,
    /// The secret push webhooks must carry; `None`: `POST /hooks/git` answers 404.
    pub webhook_secret: Option<Secret>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GitRef {
    /// The remote's default branch (its `HEAD`).
    DefaultBranch,
    Branch(String),
    /// A commit SHA or tag.
    Rev(String),
    /// A branch, a tag or a commit SHA, tried in that order (a source's `revision`, Argo CD's
    /// `targetRevision`).
    Revision(String),
}

/// As a user would write it: `branch main`, `rev 4f2a9c1`, `default branch`.
impl std::fmt::Display for GitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DefaultBranch => f.write_str("default branch"),
            Self::Branch(b) => write!(f, "branch {b}"),
            Self::Rev(r) => write!(f, "rev {r}"),
            Self::Revision(r) => write!(f, "revision {r}"),
        }
    }
}

/// A git repository and the revision of it a source is read from (`repo` + `revision`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoRef {
    pub url: String,
    pub reference: GitRef,
}

impl std::fmt::Display for RepoRef {
    /// As errors and reports name it: the URL without a password, and the revision when one is
    /// asked for.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reference {
            GitRef::DefaultBranch => f.write_str(&redact_url(&self.url)),
            other => write!(f, "{} ({other})", redact_url(&self.url)),
        }
    }
}

/// An OCI artifact a path is read from (a Flux `OCIRepository`'s): `oci_artifact` +
/// `oci_tag`/`oci_digest` + `oci_media_type`. Its layer is a tar.gz of the files, as
/// `flux push artifact` writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactRef {
    /// `host/path`, as in `oci://host/path` (no tag or digest).
    pub repository: String,
    pub at: ArtifactAt,
    /// The media type of the layer to read; `None`: the first layer (as Flux does).
    pub media_type: Option<String>,
}

/// Which manifest of an artifact's repository: a tag (asked each audit: tags move) or a
/// digest (`sha256:<hex>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArtifactAt {
    Tag(String),
    Digest(String),
}

impl std::fmt::Display for ArtifactRef {
    /// `oci://host/path:tag` or `oci://host/path@sha256:…`, as errors and reports name it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            ArtifactAt::Tag(t) => write!(f, "oci://{}:{t}", self.repository),
            ArtifactAt::Digest(d) => write!(f, "oci://{}@{d}", self.repository),
        }
    }
}

/// Whether `d` is `sha256:` and 64 lowercase hex digits (an OCI digest driftwatch verifies).
pub fn is_sha256(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `[[gitops.credentials]]`: what fetches of the repositories under `url_prefix` present.
#[derive(Clone, Debug)]
pub struct GitCredential {
    pub url_prefix: String,
    pub auth: GitAuth,
}

/// Where the repositories sources name (besides `[gitops]`'s) are cached, and their
/// credentials.
#[derive(Clone, Debug, Default)]
pub struct RepositoriesConfig {
    /// `[gitops] cache_dir`: the default repository's clone; every other repository is
    /// cloned into `<cache_dir>.repos/<hash of its URL and revision>`.
    pub cache_dir: PathBuf,
    pub credentials: Vec<GitCredential>,
}

impl RepositoriesConfig {
    /// The credentials for `url`: the entry with the longest matching `url_prefix`.
    pub fn credential(&self, url: &str) -> Option<&GitAuth> {
        self.credentials
            .iter()
            .filter(|c| url.starts_with(&c.url_prefix))
            .max_by_key(|c| c.url_prefix.len())
            .map(|c| &c.auth)
    }

    /// Where `repo` is cloned.
    pub fn dir(&self, repo: &RepoRef) -> PathBuf {
        use sha2::Digest as _;
        let key = format!("{}\n{:?}", repo.url, repo.reference);
        let hash = format!("{:x}", sha2::Sha256::digest(key.as_bytes()));
        let name = self
            .cache_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "gitops".into());
        self.cache_dir.with_file_name(format!("{name}.repos")).join(&hash[..16])
    }
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
    /// How long the cluster has to follow a commit that changed what an environment declares
    /// for a workload before drift on it is alerted (the daemon).
    pub sync_grace: Duration,
    pub max_concurrent_environments: usize,
    pub kube_timeout: Duration,
    pub page_size: u32,
}

/// `[watch]`: the daemon keeps live state from watches and re-audits on change.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Watch clusters reached through the API (snapshots are never watched).
    pub enabled: bool,
    /// How long changes gather before a re-audit of the environments they touch.
    pub debounce: Duration,
}

#[derive(Clone, Debug)]
pub struct RenderConfig {
    /// The kustomize command: a `kustomize` binary, or `kubectl` (run as `kubectl kustomize`).
    /// `None`: `kustomize` from PATH, else `kubectl kustomize`.
    pub kustomize: Option<String>,
    pub timeout: Duration,
    /// How kustomizations are rendered.
    pub engine: Engine,
    /// Whether renders are cached (in memory, and on disk under `cache_dir`).
    pub cache: bool,
    /// Where rendered overlays persist across runs; `None`: next to the GitOps cache for a
    /// remote repository, else the user's cache directory (see `sources::render::cache`).
    pub cache_dir: Option<PathBuf>,
    /// The most the on-disk render cache may hold.
    pub cache_max_bytes: u64,
    /// The `helm` command for Helm releases the built-in engine leaves to it (or all, with
    /// `engine = "external"`). `None`: `helm` from PATH.
    pub helm: Option<String>,
}

/// The `[render] engine` key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The built-in renderer; an overlay it does not support goes to the external kustomize.
    Builtin,
    /// Always the external kustomize.
    External,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Builtin => "builtin",
            Self::External => "external",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renderer {
    Auto,
    Kustomize,
    Plain,
    /// Helm releases (`[[environments.releases]]`); its `paths`, if any, render as with `auto`.
    Helm,
}

/// The `renderer` key's value.
impl std::fmt::Display for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Kustomize => "kustomize",
            Self::Plain => "plain",
            Self::Helm => "helm",
        })
    }
}

/// One `paths` entry: a glob relative to the repository root, and the namespace for what it
/// renders that names none (default: the environment's `namespace`); the repository it is in
/// (default: `[gitops]`), its renderer and the edits made before it is built.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PathConfig {
    pub pattern: String,
    pub namespace: Option<String>,
    /// `repo` (+ `revision`); `None`: the `[gitops]` repository (unless `artifact` is set).
    pub repo: Option<RepoRef>,
    /// `oci_artifact` (+ `oci_tag`/`oci_digest`): the files are an OCI artifact's, not git's.
    pub artifact: Option<ArtifactRef>,
    /// `None`: the environment's renderer.
    pub renderer: Option<Renderer>,
    /// Which files of a plain directory are read.
    pub directory: DirectoryConfig,
    /// Edits to the kustomization before it is built (an Argo CD Application's `kustomize`).
    pub kustomize: Option<KustomizeOverrides>,
    /// Variables substituted into what it renders (a Flux Kustomization's `postBuild`).
    pub substitute: Option<Substitution>,
}

/// Which files of a plain directory are read: all below it (the default), or as Argo CD's
/// `directory` says (`recurse`, `include`, `exclude` globs on paths relative to it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryConfig {
    pub recurse: bool,
    pub include: Option<String>,
    pub exclude: Option<String>,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            recurse: true,
            include: None,
            exclude: None,
        }
    }
}

/// Edits made to a kustomization before it is built, as Argo CD makes them for an
/// Application's `spec.source.kustomize` (`kustomize edit set image`, `set nameprefix`, …).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KustomizeOverrides {
    /// `name=newName:tag`, `name:tag`, `name@digest`, as `kustomize edit set image` takes them.
    pub images: Vec<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub namespace: Option<String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    /// Entries appended to `patches` (`patch`/`path` with an optional `target`).
    pub patches: Vec<serde_json::Value>,
    /// (workload name, count), as `kustomize edit set replicas`.
    pub replicas: Vec<(String, i64)>,
    /// Entries appended to `components` (a Flux Kustomization's `components`).
    pub components: Vec<String>,
    /// A directory without a kustomization is built from a generated one listing its manifest
    /// files, as Flux's kustomize-controller does.
    pub generate: bool,
    /// `images` entries merge into an existing entry of the same name field by field (`newName`;
    /// `newTag` and `digest` as one), as Flux's do; else they replace it, as `kustomize edit set
    /// image` (Argo CD) does.
    pub merge_images: bool,
    /// A Flux `v1beta2` Kustomization's `patchesStrategicMerge` (objects) and `patchesJson6902`
    /// (`target` + a list of operations), appended to the kustomization's own.
    pub patches_strategic_merge: Vec<serde_json::Value>,
    pub patches_json6902: Vec<serde_json::Value>,
    /// `components` that do not exist are left out (Flux's `ignoreMissingComponents`).
    pub ignore_missing_components: bool,
    /// What source-controller leaves out of the source's artifact, which a generated
    /// kustomization does not list: `None` when it leaves nothing out (an OCI layer copied as
    /// it is), else its defaults, the `.sourceignore` files and this `spec.ignore`.
    pub source_ignore: Option<SourceIgnoreConfig>,
}

/// A Flux source's `spec.ignore`, applied after source-controller's defaults and the
/// repository's `.sourceignore` files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceIgnoreConfig {
    pub spec_ignore: Option<String>,
}

impl std::fmt::Display for PathConfig {
    /// As `check-config` shows it: `apps/web (namespace web)`, or the bare pattern.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} (namespace {ns})", self.pattern),
            None => f.write_str(&self.pattern),
        }
    }
}

#[derive(Clone, Debug)]
pub struct EnvironmentConfig {
    pub name: String,
    pub paths: Vec<PathConfig>,
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
    /// Whether ConfigMaps are listed and compared (`compare_configmaps`).
    pub compare_configmaps: CompareConfigMaps,
    pub cluster: ClusterConfig,
    /// `engine`: overrides `[render] engine` for this environment's kustomizations and
    /// releases.
    pub engine: Option<Engine>,
    /// The Helm releases (`renderer = "helm"`), in config order.
    pub releases: Vec<ReleaseConfig>,
    /// Images an Argo CD Application (read from a cluster) sets outside git; each is an
    /// `override` finding where it is declared. Empty for hand-written environments.
    pub overrides: Vec<crate::core::model::ImageOverride>,
    /// What Argo CD reports of each live Application the environment came from, attached to
    /// the findings of its workloads. Empty for hand-written environments.
    pub controller: Vec<crate::core::model::ControllerView>,
}

/// One `[[environments.releases]]` entry: what `helm template NAME CHART -n NAMESPACE -f … --set-json …`
/// would be asked.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseConfig {
    /// `.Release.Name`.
    pub name: String,
    /// `.Release.Namespace`, and the default namespace of what it renders.
    pub namespace: String,
    pub chart: ChartSource,
    /// `-f` files, in order: paths in the GitOps repository.
    pub values_files: Vec<String>,
    /// Applied after the files, as `--set-json` would.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// `.Capabilities.KubeVersion`; `None`: the cluster's (`GET /version`), else 1.30.
    pub kube_version: Option<String>,
    /// Extra `.Capabilities.APIVersions`.
    pub api_versions: Vec<String>,
    /// `engine`: overrides the environment's.
    pub engine: Option<Engine>,
    /// `git_repo` (+ `revision`): the repository holding the chart directory and values files;
    /// `None`: `[gitops]`.
    pub git: Option<RepoRef>,
    /// `ignore_missing_values_files`: a values file that does not exist is left out.
    pub ignore_missing_values_files: bool,
    /// `set_file`: (value path `a.b`, file in the repository), the file's text set at that path
    /// after `values`, as `helm --set-file` (Argo CD's `fileParameters`).
    pub set_file: Vec<(String, String)>,
    /// A Flux HelmRelease's `valuesFrom`, read at discovery: merged after the files and before
    /// `values`.
    pub values_from: Option<ValuesFrom>,
    /// `values_git_repo` (+ `values_revision`): the repository the `values_files` entries
    /// starting with `$values/` are read from, when it is not the chart's (Argo CD's `ref`
    /// source in another repository).
    pub values_repo: Option<ValuesRepo>,
}

/// The repository a release's `$values/…` files are in (`repo`: `None` is `[gitops]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValuesRepo {
    pub repo: Option<RepoRef>,
}

/// How a values file of another repository is written in `values_files`, as in Argo CD.
pub const VALUES_REF: &str = "$values/";

impl ReleaseConfig {
    /// The repository `file` (an entry of `values_files`) is read from when it is not the
    /// chart's: `Some(repo)` for a `$values/…` entry of a release with `values_repo` (`None`
    /// inside: `[gitops]`), with the path in that repository.
    pub fn values_file_elsewhere<'a>(&self, file: &'a str) -> Option<(Option<&RepoRef>, &'a str)> {
        let repo = self.values_repo.as_ref()?;
        file.strip_prefix(VALUES_REF).map(|path| (repo.repo.as_ref(), path))
    }

    /// After the repositories are resolved (`[gitops]`'s own is `None`): `$values/…` files of
    /// the chart's own repository are plain values files.
    pub fn settle_values_repo(&mut self) {
        if self.values_repo.as_ref().is_some_and(|v| v.repo == self.git) {
            self.values_repo = None;
            for f in &mut self.values_files {
                if let Some(path) = f.strip_prefix(VALUES_REF) {
                    *f = path.to_string();
                }
            }
        }
    }

    /// Whether the release's values include some read from a Kubernetes Secret (a Flux
    /// `valuesFrom` of kind Secret): its renders hold secrets, so they stay off disk.
    pub fn secret_inputs(&self) -> bool {
        self.values_from.as_ref().is_some_and(FromObjects::reads_secrets)
    }

    /// The inline values as the chart gets them: `valuesFrom` (if any), then `values` over it.
    pub fn inline_values(&self) -> serde_json::Map<String, serde_json::Value> {
        let Some(from) = self.values_from.as_ref().filter(|v| !v.data.is_empty()) else {
            return self.values.clone();
        };
        let mut out = from.data.clone();
        merge_values(&mut out, self.values.clone());
        out
    }
}

/// Helm's coalescing: maps merge key by key, anything else replaces.
pub fn merge_values(
    into: &mut serde_json::Map<String, serde_json::Value>,
    from: serde_json::Map<String, serde_json::Value>,
) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(serde_json::Value::Object(a)), serde_json::Value::Object(b)) => merge_values(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Where a release's chart comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartSource {
    /// A chart directory in the GitOps repository (relative to its root, normalised).
    Path(String),
    /// `chart` (a name) from the Helm repository at `repo`, the highest version meeting
    /// `version` (any non-prerelease when `None`).
    Repository {
        repo: String,
        name: String,
        version: Option<String>,
    },
    /// `oci://host/path/name`: `reference` is `host/path/name`.
    Oci { reference: String, version: Option<String> },
}

impl std::fmt::Display for ChartSource {
    /// As findings and `check-config` name it: `charts/shop`, `podinfo from
    /// https://charts.example.com (6.5.x)`, `oci://registry.example.com/charts/podinfo (6.5.x)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let version = |v: &Option<String>| v.as_ref().map(|v| format!(" ({v})")).unwrap_or_default();
        match self {
            Self::Path(p) => f.write_str(p),
            Self::Repository { repo, name, version: v } => {
                write!(f, "{name} from {}{}", redact_url(repo), version(v))
            }
            Self::Oci { reference, version: v } => write!(f, "oci://{reference}{}", version(v)),
        }
    }
}

/// `[[helm_repositories]]`: what requests to a Helm repository under `url` carry.
#[derive(Clone, Debug)]
pub struct HelmRepositoryConfig {
    /// A URL prefix (`https://charts.example.com/`): it applies to every index and chart URL
    /// starting with it.
    pub url: String,
    /// Basic auth: the username, and the password from `password_env`/`password_file`.
    pub credentials: Option<(String, Secret)>,
    /// A PEM file with the CA (or CAs) to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl EnvironmentConfig {
    /// The repository whose history promotion lineage and DORA's timeline walk for this
    /// environment: the one its first source is in (`None`: the `[gitops]` repository). An
    /// Application deploying from `github.com/example/shop` has its history there.
    pub fn history_repository(&self) -> Option<&RepoRef> {
        match (self.paths.first(), self.releases.first()) {
            (Some(p), _) => p.repo.as_ref(),
            (None, Some(r)) => r.git.as_ref(),
            (None, None) => None,
        }
    }

    /// The patterns of the paths in [`Self::history_repository`], as the history walk
    /// (promotion lineage, DORA's timeline) selects files with them: it walks that repository.
    pub fn patterns(&self) -> Vec<String> {
        let home = self.history_repository();
        self.paths
            .iter()
            .filter(|p| p.repo.as_ref() == home && p.artifact.is_none())
            .map(|p| p.pattern.clone())
            .collect()
    }

    /// The Helm releases of [`Self::history_repository`] (charts in it at a path), as the
    /// history walk renders them.
    pub fn history_releases(&self) -> impl Iterator<Item = &ReleaseConfig> {
        let home = self.history_repository();
        self.releases.iter().filter(move |r| r.git.as_ref() == home)
    }
}

/// `[[environments]] compare_configmaps`: least-privilege readers may lack `list configmaps`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompareConfigMaps {
    /// List and compare; a 403 turns the config checks into one `unverifiable` finding that
    /// names the missing permission, and the rest of the audit goes on.
    #[default]
    Auto,
    /// List and compare; a 403 is an audit error.
    Always,
    /// Never list ConfigMaps (no config checks).
    Never,
}

impl CompareConfigMaps {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "true",
            Self::Never => "false",
        }
    }
}

/// `[discovery]`: where environments are derived from.
#[derive(Clone, Debug, Default)]
pub struct DiscoveryConfig {
    pub argocd: Option<ArgoCdConfig>,
    pub flux: Option<FluxConfig>,
    /// `[[discovery.clusters]]`: Argo CD destinations (and the clusters Flux objects'
    /// `kubeConfig.secretRef` names) and how to reach them.
    pub clusters: Vec<DestinationConfig>,
}

impl DiscoveryConfig {
    pub fn is_configured(&self) -> bool {
        self.argocd.is_some() || self.flux.is_some()
    }
}

/// `[discovery.flux]`.
#[derive(Clone, Debug)]
pub struct FluxConfig {
    /// Flux manifests (Kustomizations, HelmReleases and their sources) in the `[gitops]`
    /// repository, as `flux bootstrap` writes them.
    pub paths: Vec<String>,
    /// The cluster Flux runs in: its objects are listed from it, and what they apply goes to
    /// it (unless a `kubeConfig.secretRef` names another).
    pub cluster: Option<ClusterConfig>,
    /// Where the objects are listed (`None`: all namespaces).
    pub namespace: Option<String>,
    pub selector: Option<String>,
    /// `name`, `label:<k>`, `annotation:<k>` or `destination` (the cluster's name).
    pub environment_from: EnvironmentFrom,
}

/// What a Flux object takes from ConfigMaps and Secrets (a Kustomization's `substituteFrom`
/// variables, a HelmRelease's `valuesFrom` values), read at discovery. Its `Debug` names the
/// objects and a digest of the data, never the data: Secrets' values are secrets. (The daemon
/// compares configs by `Debug` to see whether a re-discovery changed anything: a changed
/// value must show.)
#[derive(Clone, Default, PartialEq)]
pub struct FromObjects<T> {
    pub data: T,
    /// `ConfigMap flux-system/vars`, `Secret flux-system/creds`: what was read, in order.
    pub sources: Vec<String>,
    /// Why some of them could not be read (a 403, with the permission to grant): the path or
    /// release is then not rendered but named in one `unverifiable` finding.
    pub refused: Option<String>,
}

impl<T: serde::Serialize> std::fmt::Debug for FromObjects<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use sha2::Digest as _;
        let data = serde_json::to_vec(&self.data).unwrap_or_default();
        let digest = hex::encode(sha2::Sha256::digest(&data));
        f.debug_struct("FromObjects")
            .field("sources", &self.sources)
            .field("refused", &self.refused)
            .field("data_sha256", &digest)
            .finish()
    }
}

impl<T> FromObjects<T> {
    /// Whether some of the data came from a Secret (`sources` names each object read as
    /// `<Kind> <namespace>/<name>`): what is rendered from it is then never written to disk
    /// (the render cache keeps it in memory only) nor passed on a command line.
    pub fn reads_secrets(&self) -> bool {
        self.sources.iter().any(|s| s.starts_with("Secret "))
    }
}

/// A Flux Kustomization's `postBuild`: variables (`substituteFrom` objects' data in order,
/// then `substitute`, which wins), substituted into every rendered object.
pub type Substitution = FromObjects<BTreeMap<String, String>>;

/// A HelmRelease's `valuesFrom`, merged in order (under its `values`).
pub type ValuesFrom = FromObjects<serde_json::Map<String, serde_json::Value>>;

/// `[discovery.argocd]`.
#[derive(Clone, Debug)]
pub struct ArgoCdConfig {
    /// Application manifests in the `[gitops]` repository.
    pub paths: Vec<String>,
    /// The Argo CD control plane Applications are listed from.
    pub cluster: Option<ClusterConfig>,
    /// Where Applications are listed (`None`: all namespaces).
    pub namespace: Option<String>,
    pub selector: Option<String>,
    pub environment_from: EnvironmentFrom,
}

/// How an Application's environment name is chosen (`environment_from`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvironmentFrom {
    /// The Application's name (the default: one environment per Application).
    Name,
    Label(String),
    Annotation(String),
    Project,
    /// The destination cluster's name (`destination.name`, else the configured cluster's).
    Destination,
}

impl std::fmt::Display for EnvironmentFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name => f.write_str("name"),
            Self::Label(k) => write!(f, "label:{k}"),
            Self::Annotation(k) => write!(f, "annotation:{k}"),
            Self::Project => f.write_str("project"),
            Self::Destination => f.write_str("destination"),
        }
    }
}

/// `[[discovery.clusters]]`: an Argo CD destination (`server` URL or `name`) and the cluster
/// driftwatch reads for it.
#[derive(Clone, Debug)]
pub struct DestinationConfig {
    pub server: Option<String>,
    pub name: Option<String>,
    pub cluster: ClusterConfig,
}

/// `[policies]`.
#[derive(Clone, Debug, Default)]
pub struct PoliciesConfig {
    pub signatures: Vec<SignaturePolicyConfig>,
}

/// One `[[policies.signatures]]`, its keys and trusted root read and parsed.
#[derive(Clone)]
pub struct SignaturePolicyConfig {
    pub name: String,
    /// Empty: every environment.
    pub environments: Vec<String>,
    /// Globs over `registry/repository` (`**` crosses `/`); empty: every image.
    pub images: Vec<glob::Pattern>,
    /// The keys (with their files, for messages), identities, trusted root and provenance.
    pub policy: std::sync::Arc<signatures::Policy>,
    /// `(file, fingerprint)` of each key.
    pub key_files: Vec<(PathBuf, String)>,
    pub trusted_root_file: Option<PathBuf>,
    pub severity: crate::core::model::Severity,
    /// Hash of everything that decides a verdict (key fingerprints, identities, the trusted
    /// root's digest, provenance): cached verdicts hold for this hash only.
    pub hash: String,
}

impl std::fmt::Debug for SignaturePolicyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignaturePolicyConfig")
            .field("name", &self.name)
            .field("environments", &self.environments)
            .field("images", &self.images)
            .field("key_files", &self.key_files)
            .field("trusted_root_file", &self.trusted_root_file)
            .field("severity", &self.severity)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl SignaturePolicyConfig {
    /// Whether the policy covers `image` (a normalised `registry/repository`) in `environment`.
    pub fn covers(&self, environment: &str, image: &str) -> bool {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        (self.environments.is_empty() || self.environments.iter().any(|e| e == environment))
            && (self.images.is_empty() || self.images.iter().any(|p| p.matches_with(image, options)))
    }
}

/// A registry driftwatch may query (only configured hosts are ever contacted).
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// `host[:port]` as written in image references.
    pub host: String,
    pub credentials: Option<(Secret, Secret)>,
    /// Plain http, for a local test registry only.
    pub insecure: bool,
    /// Per request timeout, attempts per lookup and the first backoff (`timeout`,
    /// `max_attempts`, `backoff`, doubling up to 30s). A registry that refuses connections or times out is then asked no more in that
    /// audit.
    pub retry: DeliveryConfig,
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

/// `[store]`: where alert state and history (audits, drift episodes, deployments) are kept.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// History older than this is deleted (alert state is kept while it is open).
    pub retention: Duration,
}

#[derive(Clone, Debug)]
pub enum StoreBackend {
    /// An embedded database file (`sqlite:///var/lib/driftwatch/driftwatch.db`).
    Sqlite(PathBuf),
    /// A shared server: the URL without a password (`postgres://driftwatch@db:5432/driftwatch`,
    /// TLS options as its `sslmode`/`sslrootcert` parameters), and the password from
    /// `password_env`/`password_file`.
    Postgres {
        url: url::Url,
        password: Option<crate::settings::Secret>,
    },
}

impl StoreBackend {
    /// The store as logs and `check-config` show it: never with a password.
    pub fn display(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres { url, .. } => url.to_string(),
        }
    }
}

/// `[dora]`: how DORA metrics are computed and reported.
#[derive(Clone, Debug)]
pub struct DoraConfig {
    /// A deployment followed within this long by a rollback, a hand hotfix or a revert failed.
    pub failure_window: Duration,
    /// How far back `/api/dora` and the gauges look.
    pub window: Duration,
}

#[derive(Clone, Debug)]
pub struct AlertsConfig {
    /// A finding that persists is notified again after this long.
    pub renotify_after: Duration,
    pub send_resolved: bool,
    pub delivery: DeliveryConfig,
    pub channels: Vec<ChannelConfig>,
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

/// CLI flags that override the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub fail_on: Option<Severity>,
}

impl Config {
    /// Environments in page order (status page, `--once` output, DORA): promotion chains
    /// first, each after the one it is promoted from, then the rest in config order.
    pub fn environment_order(&self) -> Vec<String> {
        let envs: Vec<(&str, Option<&str>)> = self
            .environments
            .iter()
            .map(|e| (e.name.as_str(), e.promoted_from.as_ref().map(|(from, _)| from.as_str())))
            .collect();
        promotion_order(&envs)
    }

    /// Loads `path` (TOML or YAML by extension), overlays `DRIFTWATCH__SECTION__KEY` variables
    /// from `env`, and validates. `env` is also where `*_env` secrets are read from; the binary
    /// passes the process environment, tests pass their own map. Every problem found is in the
    /// error ([`ConfigError::problems`]).
    pub fn load(path: &Path, env: &HashMap<String, String>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::checked(Self::check(path, env, overrides))
    }

    /// As [`Config::load`], but also returns the config when only values with a stand-in were
    /// wrong (a missing secret, a bad duration, an unknown key: left out), for `check-config` to
    /// check further. Such a config is never used to audit.
    pub fn check(
        path: &Path,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> (Option<Self>, Vec<ConfigError>) {
        let origin = path.display().to_string();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => config::FileFormat::Toml,
            Some("yaml" | "yml") => config::FileFormat::Yaml,
            _ => {
                let reason = "unknown config format: use a .toml, .yaml or .yml file".into();
                return (None, vec![ConfigError::Load { origin, reason }]);
            }
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                let reason = format!("cannot read: {e}");
                return (None, vec![ConfigError::Load { origin, reason }]);
            }
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::check_str(&text, format, &origin, &base, env, overrides)
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
        Self::checked(Self::check_str(text, format, origin, base, env, overrides))
    }

    fn checked((config, mut errors): (Option<Self>, Vec<ConfigError>)) -> Result<Self, ConfigError> {
        match (config, errors.len()) {
            (Some(c), 0) => Ok(c),
            (_, 1) => Err(errors.remove(0)),
            _ => Err(ConfigError::Several(errors)),
        }
    }

    fn check_str(
        text: &str,
        format: config::FileFormat,
        origin: &str,
        base: &Path,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> (Option<Self>, Vec<ConfigError>) {
        let vars: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("DRIFTWATCH__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Unknown keys first, then every wrong value behind them: a typo hides nothing.
        let unknown::Lenient { raw, unknown } = raw_config(text, format, &vars);
        let mut problems: Vec<ConfigError> = unknown.into_iter().map(|u| u.problem(origin, &vars)).collect();
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(blame(text, format, origin, &vars, e));
                return (None, problems);
            }
        };
        let (config, errors) = Validator::new(origin, base, env).config(raw, overrides);
        problems.extend(errors);
        (config, problems)
    }
}

/// The file with the variables laid over it, as serde shapes, with its unknown keys taken out
/// and listed.
fn raw_config(text: &str, format: config::FileFormat, vars: &HashMap<String, String>) -> unknown::Lenient {
    let merged = config::Config::builder()
        .add_source(config::File::from_str(text, format))
        .add_source(
            config::Environment::with_prefix("DRIFTWATCH")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars.clone())),
        )
        .build();
    match merged {
        Ok(merged) => unknown::read(&merged),
        Err(e) => unknown::Lenient {
            raw: Err(e),
            unknown: Vec::new(),
        },
    }
}

/// The config crate merges the file and the variables before serde sees them, so its errors
/// cannot say where a value came from: when the file alone reads, the first variable that
/// breaks it is named instead of the file.
fn blame(
    text: &str,
    format: config::FileFormat,
    origin: &str,
    vars: &HashMap<String, String>,
    e: config::ConfigError,
) -> ConfigError {
    let reason = serde_message(e);
    if !vars.is_empty() && raw_config(text, format, &HashMap::new()).raw.is_ok() {
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let one: HashMap<String, String> = [(name.clone(), vars[name].clone())].into();
            if let Err(e) = raw_config(text, format, &one).raw {
                return ConfigError::Load {
                    origin: name.clone(),
                    reason: serde_message(e),
                };
            }
        }
    }
    ConfigError::Load {
        origin: origin.to_string(),
        reason,
    }
}

/// Makes serde's messages about unknown fields name the section as well.
fn serde_message(e: config::ConfigError) -> String {
    let text = dotted_keys(&e.to_string());
    text.replace("unknown field", "unknown key")
}

/// The config crate writes a key below a list entry without its dot (`environments[0]paths[0]`):
/// put it back (`environments[0].paths[0]`), only in the key the message names (after "for
/// key" or "missing configuration field").
fn dotted_keys(text: &str) -> String {
    let mut out = text.to_string();
    for (open, close) in [(" for key `", '`'), ("missing configuration field \"", '"')] {
        let Some((head, rest)) = out.split_once(open) else {
            continue;
        };
        let (key, tail) = rest.split_once(close).unwrap_or((rest, ""));
        let mut fixed = String::with_capacity(key.len() + 4);
        let mut after_index = false;
        for c in key.chars() {
            if after_index && c != '[' && c != '.' {
                fixed.push('.');
            }
            after_index = c == ']';
            fixed.push(c);
        }
        out = format!("{head}{open}{fixed}{close}{tail}");
    }
    out
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

    /// A namespace per path, beside plain patterns (issue 19); a wrong entry names its key
    /// with every dot (`environments[0].paths[1]`, not `environments[0]paths[1]`).
    #[test]
    fn a_path_may_give_its_namespace() {
        let text = MINIMAL.replace(
            "paths = [\"apps/*/overlays/production\"]",
            "paths = [{ path = \"apps/web\", namespace = \"web\" }, \"apps/api\"]",
        );
        let c = load(&text, &[("GITOPS_TOKEN", "t")]).unwrap();
        let paths = &c.environments[0].paths;
        assert_eq!(
            paths,
            &vec![
                PathConfig {
                    pattern: "apps/web".into(),
                    namespace: Some("web".into()),
                    ..PathConfig::default()
                },
                PathConfig {
                    pattern: "apps/api".into(),
                    namespace: None,
                    ..PathConfig::default()
                },
            ]
        );
        assert_eq!(c.environments[0].patterns(), vec!["apps/web", "apps/api"]);
        assert_eq!(paths[0].to_string(), "apps/web (namespace web)");
        // (case, paths value, what the error says)
        let cases = [
            ("not a pattern", "[\"apps\", 1]", "for key `environments[0].paths[1]`"),
            ("unknown key", "[{ path = \"a\", ns = \"x\" }]", "unknown key `ns`"),
            ("no path", "[{ namespace = \"x\" }]", "missing configuration field"),
            (
                "empty namespace",
                "[{ path = \"a\", namespace = \"\" }]",
                "environments[0].paths[0].namespace: is empty",
            ),
        ];
        for (case, value, want) in cases {
            let text = MINIMAL.replace("[\"apps/*/overlays/production\"]", value);
            let err = load(&text, &[("GITOPS_TOKEN", "t")]).expect_err(case).to_string();
            assert!(err.contains(want), "{case}: {err}");
            assert!(!err.contains("]paths"), "{case}: {err}");
        }
    }

    /// A Helm environment (issue 20): releases from a chart directory, a Helm repository and
    /// an OCI registry; inline values keep their keys as written.
    const HELM: &str = r#"
[gitops]
url = "https://git.example.com/org/infra.git"
token_env = "GITOPS_TOKEN"
cache_dir = "cache"

[[helm_repositories]]
url = "https://charts.example.com/"
username = "ci"
password_env = "CHARTS_PASSWORD"
ca_file = "charts-ca.pem"

[[environments]]
name = "production"
renderer = "helm"
namespace = "apps"
engine = "external"
[[environments.releases]]
name = "shop"
namespace = "shop"
chart = "./charts/shop/"
values_files = ["charts/shop/values-production.yaml"]
values = { replicaCount = 3, image = { tagSuffix = "-prod" }, podLabels = { "app.kubernetes.io/part-of" = "Shop" } }
kube_version = "1.29"
api_versions = ["monitoring.coreos.com/v1"]
[[environments.releases]]
name = "podinfo"
chart = "podinfo"
repo = "https://charts.example.com/stable"
version = "6.5.x"
engine = "builtin"
[[environments.releases]]
name = "cache"
chart = "oci://registry.example.com/charts/redis"
version = "^18"
[environments.cluster]
kubeconfig = "kubeconfig"
"#;

    #[test]
    fn helm_releases() {
        let c = load(
            HELM,
            &[("GITOPS_TOKEN", "t"), ("CHARTS_PASSWORD", "chart-pw-never-printed")],
        )
        .unwrap();
        let env = &c.environments[0];
        assert_eq!(
            (env.renderer, env.engine, env.paths.len()),
            (Renderer::Helm, Some(Engine::External), 0)
        );
        let shop = &env.releases[0];
        assert_eq!(shop.chart, ChartSource::Path("charts/shop".into()));
        assert_eq!(shop.namespace, "shop");
        assert_eq!(shop.values_files, vec!["charts/shop/values-production.yaml"]);
        assert_eq!(
            serde_json::Value::Object(shop.values.clone()),
            serde_json::json!({
                "replicaCount": 3,
                "image": {"tagSuffix": "-prod"},
                "podLabels": {"app.kubernetes.io/part-of": "Shop"}
            }),
            "chart values keep their case"
        );
        assert_eq!(shop.kube_version.as_deref(), Some("1.29"));
        assert_eq!(shop.engine, None);
        let podinfo = &env.releases[1];
        assert_eq!(podinfo.namespace, "apps", "the environment's namespace");
        assert_eq!(podinfo.engine, Some(Engine::Builtin));
        assert_eq!(
            podinfo.chart.to_string(),
            "podinfo from https://charts.example.com/stable (6.5.x)"
        );
        assert_eq!(
            env.releases[2].chart.to_string(),
            "oci://registry.example.com/charts/redis (^18)"
        );
        let repo = &c.helm_repositories[0];
        assert_eq!(
            repo.ca_file.as_deref(),
            Some(Path::new("/etc/driftwatch/charts-ca.pem"))
        );
        assert_eq!(repo.credentials.as_ref().unwrap().1.expose(), "chart-pw-never-printed");
        assert!(!format!("{c:?}").contains("chart-pw-never-printed"));
    }

    /// (case, config text, what the error says) for [`helm_release_errors_name_their_key`].
    #[allow(clippy::too_many_lines, reason = "a flat table of cases")]
    fn helm_error_cases() -> Vec<(&'static str, String, &'static [&'static str])> {
        vec![
            (
                "no releases",
                HELM.split("[[environments.releases]]").next().unwrap().to_string()
                    + "[environments.cluster]\nkubeconfig = \"k\"\n",
                &["environments[0].releases", "at least one"],
            ),
            (
                "releases without helm",
                HELM.replace("renderer = \"helm\"", "renderer = \"kustomize\"\npaths = [\"apps\"]"),
                &["environments[0].releases", "renderer = \"helm\""],
            ),
            (
                "an unknown release key",
                HELM.replace("name = \"podinfo\"", "name = \"podinfo\"\nvalue_files = [\"x\"]"),
                &["unknown key `value_files`", "environments[0].releases[1]"],
            ),
            (
                "values_git_repo with no $values/ file",
                HELM.replace("api_versions = [", "values_git_repo = \"https://git.example.com/org/values.git\"\napi_versions = ["),
                &["environments[0].releases[0].values_git_repo", "no values_files entry starts with $values/"],
            ),
            (
                "a $values/ file outside the repository",
                HELM.replace("\"charts/shop/values-production.yaml\"", "\"$values/../x.yaml\""),
                &["environments[0].releases[0].values_files[0]", "outside the repository"],
            ),
            (
                "a bad release name",
                HELM.replace("name = \"cache\"", "name = \"Cache_1\""),
                &["environments[0].releases[2].name", "Cache_1"],
            ),
            (
                "a path outside the repository",
                HELM.replace("./charts/shop/", "../elsewhere"),
                &["environments[0].releases[0].chart", "outside the repository"],
            ),
            (
                "a version for a directory",
                HELM.replace("kube_version = \"1.29\"", "version = \"1.0.0\""),
                &["environments[0].releases[0].version", "repository and OCI charts"],
            ),
            (
                "a range Helm cannot read",
                HELM.replace("6.5.x", "six"),
                &["environments[0].releases[1].version", "six"],
            ),
            (
                "a chart path with repo",
                HELM.replace("chart = \"podinfo\"", "chart = \"stable/podinfo\""),
                &["environments[0].releases[1].chart", "name in that repository"],
            ),
            (
                "repo with oci",
                HELM.replace("version = \"^18\"", "version = \"^18\"\nrepo = \"https://x\""),
                &["environments[0].releases[2].repo", "oci://"],
            ),
            (
                "a tag in the reference",
                HELM.replace("charts/redis", "charts/redis:18.1.0"),
                &["environments[0].releases[2].chart", "version"],
            ),
            (
                "values not a table",
                HELM.replace(
                    "values = { replicaCount = 3, image = { tagSuffix = \"-prod\" }, podLabels = { \"app.kubernetes.io/part-of\" = \"Shop\" } }",
                    "values = 3",
                ),
                &["environments[0].releases[0].values", "table"],
            ),
            (
                "a bad kube version",
                HELM.replace("1.29", "latest"),
                &["environments[0].releases[0].kube_version", "latest"],
            ),
            (
                "a bad engine",
                HELM.replace("engine = \"builtin\"", "engine = \"native\""),
                &["environments[0].releases[1].engine", "native"],
            ),
            (
                "a release twice",
                HELM.replace("name = \"cache\"", "name = \"podinfo\"\nnamespace = \"apps\""),
                &["environments[0].releases[2].name", "twice"],
            ),
            (
                "promotion lineage",
                HELM.replace("engine = \"external\"\n[[", "promoted_from = \"staging\"\n[[")
                    + "[[environments]]\nname = \"staging\"\npaths = [\"apps\"]\n[environments.cluster]\nkubeconfig = \"k\"\n",
                &["environments[0].promoted_from", "release \"podinfo\" of \"production\" takes its chart from a Helm repository"],
            ),
            (
                "a password without its variable",
                HELM.to_string(),
                &["helm_repositories[0].password_env", "CHARTS_PASSWORD is not set"],
            ),
            (
                "a username without a password",
                HELM.replace("password_env = \"CHARTS_PASSWORD\"\n", ""),
                &["helm_repositories[0].password_env", "needs a password"],
            ),
            (
                "a repository URL with a password",
                HELM.replace("https://charts.example.com/\"", "https://ci:pw@charts.example.com/\""),
                &["helm_repositories[0].url", "password_env"],
            ),
        ]
    }

    #[test]
    fn helm_release_errors_name_their_key() {
        let vars = [("GITOPS_TOKEN", "t"), ("CHARTS_PASSWORD", "chart-pw-never-printed")];
        for (name, text, needles) in helm_error_cases() {
            let vars: &[(&str, &str)] = if name.starts_with("a password without") {
                &vars[..1]
            } else {
                &vars
            };
            let err = load(&text, vars).expect_err(name).to_string();
            for n in needles {
                assert!(err.contains(n), "{name}: {err:?} should contain {n:?}");
            }
            assert!(!err.contains("chart-pw-never-printed"), "{name}: {err}");
            assert!(
                !err.contains("]releases") && !err.contains("]chart"),
                "{name}: dots: {err}"
            );
        }
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
                MINIMAL.replace("paths = [", "renderer = \"jsonnet\"\npaths = ["),
                &["environments[0].renderer", "jsonnet", "helm"],
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
    fn every_problem_is_reported_and_variables_are_named() {
        let text =
            format!("{MINIMAL}[audit]\nrollout_grace = \"soon\"\n[[alerts.slack]]\nwebhook_url_env = \"SLACK_URL\"\n");
        let err = load(&text, &[("DRIFTWATCH__AUDIT__FAIL_ON", "severe")]).unwrap_err();
        let lines: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "driftwatch.toml: gitops.token_env: environment variable GITOPS_TOKEN is not set",
                "DRIFTWATCH__AUDIT__FAIL_ON: audit.fail_on: \"severe\" is not one of info, warning, critical",
                "driftwatch.toml: audit.rollout_grace: \"soon\" is not a duration like \"30s\", \"10m\" or \"24h\": expected number at 0",
                "driftwatch.toml: alerts.slack[0].webhook_url_env: environment variable SLACK_URL is not set",
            ]
        );
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "a flat table of cases: sections, expected display or error"
    )]
    fn the_store_and_dora_sections() {
        let base = [("GITOPS_TOKEN", "t"), ("DB_PASSWORD", "pw-do-not-print")];
        // (name, sections, expected store display or error, retention days)
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            (
                "default: beside the state",
                "",
                Ok("sqlite:///var/lib/driftwatch/driftwatch.db"),
            ),
            (
                "a [state] path moves the default store with it",
                "[state]\npath = \"state/alerts.json\"\n",
                Ok("sqlite:///etc/driftwatch/state/driftwatch.db"),
            ),
            (
                "an absolute sqlite url",
                "[store]\nurl = \"sqlite:///data/dw.db\"\n",
                Ok("sqlite:///data/dw.db"),
            ),
            (
                "a relative sqlite url",
                "[store]\nurl = \"sqlite://dw.db\"\n",
                Ok("sqlite:///etc/driftwatch/dw.db"),
            ),
            (
                "postgres with its password from the environment",
                "[store]\nurl = \"postgres://dw@db.example.com:5432/dw?sslmode=verify-full\"\npassword_env = \"DB_PASSWORD\"\n",
                Ok("postgres://dw@db.example.com:5432/dw?sslmode=verify-full"),
            ),
            (
                "a password in the url is refused",
                "[store]\nurl = \"postgres://dw:pw-do-not-print@db/dw\"\n",
                Err("store.url: holds a password"),
            ),
            (
                "an unknown scheme",
                "[store]\nurl = \"mysql://db/dw\"\n",
                Err("store.url: scheme \"mysql\""),
            ),
            (
                "in memory is no store",
                "[store]\nurl = \"sqlite::memory:\"\n",
                Err("store.url: \"sqlite::memory:\": name a database file"),
            ),
            (
                "a password for sqlite",
                "[store]\npassword_env = \"DB_PASSWORD\"\n",
                Err("store.password_env: a password needs a postgres:// url"),
            ),
            (
                "retention under a day",
                "[store]\nretention = \"12h\"\n",
                Err("store.retention: must be at least 1d"),
            ),
            (
                "an unknown key",
                "[store]\nurl_env = \"X\"\n",
                Err("unknown key `url_env`"),
            ),
            (
                "dora window under a day",
                "[dora]\nwindow = \"1h\"\n",
                Err("dora.window: must be at least 1d"),
            ),
        ];
        for (name, sections, want) in cases {
            let got = load(&format!("{MINIMAL}{sections}"), &base).map(|c| c.store.backend.display());
            match (got, want) {
                (Ok(display), Ok(want)) => assert_eq!(&display, want, "{name}"),
                (Err(e), Err(want)) => {
                    let e = e.to_string();
                    assert!(e.contains(want), "{name}: {e}");
                    assert!(!e.contains("pw-do-not-print"), "{name}: the password is printed: {e}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
        let c = load(
            &format!("{MINIMAL}[store]\nretention = \"90d\"\n[dora]\nfailure_window = \"6h\"\n"),
            &base,
        )
        .unwrap();
        assert_eq!(c.store.retention, Duration::from_secs(90 * 86_400));
        assert_eq!(c.dora.failure_window, Duration::from_secs(6 * 3600));
        assert_eq!(c.dora.window, Duration::from_secs(30 * 86_400), "default window");
        assert_eq!(
            load(MINIMAL, &base).unwrap().store.retention,
            Duration::from_secs(400 * 86_400)
        );
    }

    /// A config with one channel of each kind, as [`alert_channels`] and
    /// [`alert_channel_errors`] read it.
    const ALERTS: &str = r#"
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

    const ALERT_VARS: [(&str, &str); 3] = [
        ("GITOPS_TOKEN", "t"),
        ("SLACK_URL", "https://hooks.slack.com/services/x"),
        ("SMTP_PASSWORD", "p"),
    ];

    #[test]
    fn alert_channels() {
        let (alerts, vars) = (ALERTS, ALERT_VARS);
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
        use crate::alerts::channels::email::SmtpTls;
        let ChannelKind::Email(e) = &c.alerts.channels[1].kind else {
            panic!("email")
        };
        assert_eq!((e.port, e.tls), (587, SmtpTls::StartTls));
        assert!(
            !format!("{c:?}").contains("hooks.slack.com"),
            "the Slack webhook URL is a secret"
        );
    }

    #[test]
    fn alert_channel_errors() {
        let (alerts, vars) = (ALERTS, ALERT_VARS);
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
    fn git_updates_and_their_errors() {
        let vars = [("GITOPS_TOKEN", "t"), ("HOOK_SECRET", "hook-s3cret")];
        let defaults = load(MINIMAL, &vars).unwrap();
        assert_eq!(defaults.git_updates.poll_interval, Some(Duration::from_secs(60)));
        assert!(
            defaults.git_updates.webhook_secret.is_none(),
            "the endpoint is off by default"
        );

        let with = |keys: &str| MINIMAL.replace("cache_dir = \"cache\"\n", &format!("cache_dir = \"cache\"\n{keys}"));
        let c = load(
            &with("poll_interval = \"15s\"\nwebhook_secret_env = \"HOOK_SECRET\"\n"),
            &vars,
        )
        .unwrap();
        assert_eq!(c.git_updates.poll_interval, Some(Duration::from_secs(15)));
        assert_eq!(c.git_updates.webhook_secret.as_ref().unwrap().expose(), "hook-s3cret");
        assert!(!format!("{c:?}").contains("hook-s3cret"));
        for off in ["off", "0s"] {
            let c = load(&with(&format!("poll_interval = \"{off}\"\n")), &vars).unwrap();
            assert_eq!(c.git_updates.poll_interval, None, "{off}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "from-file\n").unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let file = |name: &str| format!("webhook_secret_file = \"{}\"\n", dir.path().join(name).display());
        let c = load(&with(&file("secret")), &vars).unwrap();
        assert_eq!(c.git_updates.webhook_secret.unwrap().expose(), "from-file");

        let local = "[gitops]\npath = \"gitops\"\n";
        let local = MINIMAL.replace(MINIMAL.split("[[environments]]").next().unwrap(), local);
        let local_defaults = load(&local, &[]).unwrap();
        assert_eq!(local_defaults.git_updates.poll_interval, None, "nothing to poll");
        let cases: Vec<(&str, String, &[&str])> = vec![
            (
                "bad interval",
                with("poll_interval = \"sometimes\"\n"),
                &["gitops.poll_interval", "sometimes"],
            ),
            (
                "secret variable not set",
                with("webhook_secret_env = \"NOPE\"\n"),
                &["gitops.webhook_secret_env", "NOPE is not set"],
            ),
            (
                "empty secret file",
                with(&file("empty")),
                &["gitops.webhook_secret_file", "empty"],
            ),
            (
                "both secret keys",
                with(&format!("webhook_secret_env = \"HOOK_SECRET\"\n{}", file("secret"))),
                &["gitops.webhook_secret_env, gitops.webhook_secret_file"],
            ),
            (
                "polling a local path",
                local.replace("path = \"gitops\"\n", "path = \"gitops\"\npoll_interval = \"1m\"\n"),
                &["gitops.poll_interval", "need gitops.url"],
            ),
            (
                "a webhook for a local path",
                local.replace(
                    "path = \"gitops\"\n",
                    "path = \"gitops\"\nwebhook_secret_env = \"HOOK_SECRET\"\n",
                ),
                &["gitops.webhook_secret_env", "need gitops.url"],
            ),
        ];
        for (name, text, needles) in cases {
            let err = load(&text, &vars).expect_err(name).to_string();
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

    /// Many repositories: a path or release names its own (`repo`/`git_repo` + `revision`),
    /// credentials are chosen by the longest URL prefix, a `revision` alone is the default
    /// repository's, and the default repository at its own ref is the default checkout.
    #[test]
    fn sources_name_their_repositories_and_credentials_match_by_longest_prefix() {
        let text = MINIMAL
            .replace(
                "cache_dir = \"cache\"\n",
                "cache_dir = \"cache\"\n[[gitops.credentials]]\nurl_prefix = \"https://github.com/\"\ntoken_env = \"GH\"\n[[gitops.credentials]]\nurl_prefix = \"https://github.com/payments/\"\nusername = \"bot\"\npassword_env = \"PAY\"\n",
            )
            .replace(
                "paths = [\"apps/*/overlays/production\"]",
                "paths = [\"apps/a\", { path = \"b\", repo = \"https://github.com/payments/b.git\", revision = \"v2\" }, { path = \"c\", revision = \"release\" }, { path = \"d\", repo = \"https://git.example.com/org/infra.git\" }, { path = \"e\", renderer = \"plain\", recurse = false, include = \"{a,b}.yaml\", kustomize = { images = [\"web:2\"], name_prefix = \"p-\" } }]",
            );
        let vars = [
            ("GITOPS_TOKEN", "t"),
            ("GH", "gh-token-never-printed"),
            ("PAY", "pay-pw-never-printed"),
        ];
        let c = load(&text, &vars).unwrap();
        let paths = &c.environments[0].paths;
        assert_eq!(paths[0].repo, None);
        assert_eq!(
            paths[1].repo,
            Some(RepoRef {
                url: "https://github.com/payments/b.git".into(),
                reference: GitRef::Revision("v2".into())
            })
        );
        assert_eq!(
            paths[2].repo.as_ref().map(|r| r.url.as_str()),
            Some("https://git.example.com/org/infra.git"),
            "a revision alone is of the [gitops] repository"
        );
        assert_eq!(
            paths[3].repo, None,
            "the [gitops] repository at its own ref is the default checkout"
        );
        assert_eq!(
            (paths[4].renderer, paths[4].directory.recurse),
            (Some(Renderer::Plain), false)
        );
        assert_eq!(paths[4].kustomize.as_ref().unwrap().name_prefix.as_deref(), Some("p-"));
        let creds = &c.repositories;
        assert_eq!(
            creds.credential("https://github.com/payments/b.git").unwrap().username,
            "bot"
        );
        assert_eq!(
            creds
                .credential("https://github.com/other/x.git")
                .unwrap()
                .token
                .as_ref()
                .unwrap()
                .expose(),
            "gh-token-never-printed"
        );
        assert!(creds.credential("https://gitlab.com/x.git").is_none());
        assert_ne!(
            creds.dir(paths[1].repo.as_ref().unwrap()),
            creds.dir(paths[2].repo.as_ref().unwrap()),
            "one cache per repository and revision"
        );
        let printed = format!("{c:?}");
        assert!(!printed.contains("gh-token-never-printed") && !printed.contains("pay-pw-never-printed"));
    }

    /// A path in an OCI artifact: `oci_artifact` with a tag (default `latest`) or a digest and
    /// a layer media type. An artifact names its source, so `[gitops] url` may be left out.
    #[test]
    fn oci_artifact_paths() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let with = |paths: &str| {
            format!(
                "[gitops]\ncache_dir = \"cache\"\n[[environments]]\nname = \"production\"\npaths = [{paths}]\n[environments.cluster]\nsnapshot = \"live.json\"\n"
            )
        };
        let c = load(
            &with(&format!(
                "{{ path = \"prod\", oci_artifact = \"oci://ghcr.io/example/manifests\" }}, {{ path = \".\", oci_artifact = \"oci://127.0.0.1:5000/m\", oci_digest = \"{digest}\", oci_media_type = \"application/vnd.cncf.flux.content.v1.tar+gzip\" }}"
            )),
            &[],
        )
        .unwrap();
        let paths = &c.environments[0].paths;
        assert_eq!(
            paths[0].artifact,
            Some(ArtifactRef {
                repository: "ghcr.io/example/manifests".into(),
                at: ArtifactAt::Tag("latest".into()),
                media_type: None
            })
        );
        assert_eq!(paths[0].repo, None);
        assert_eq!(
            paths[1].artifact.as_ref().map(ToString::to_string),
            Some(format!("oci://127.0.0.1:5000/m@{digest}"))
        );
    }

    /// A mistake in a path's artifact keys names the key.
    #[test]
    fn oci_artifact_errors_name_their_key() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let with = |paths: &str| {
            format!(
                "[gitops]\ncache_dir = \"cache\"\n[[environments]]\nname = \"production\"\npaths = [{paths}]\n[environments.cluster]\nsnapshot = \"live.json\"\n"
            )
        };
        let cases = [
            (
                "a tag without the artifact",
                "{ path = \"a\", oci_tag = \"v1\" }",
                "paths[0].oci_tag",
                "without oci_artifact",
            ),
            (
                "not oci://",
                "{ path = \"a\", oci_artifact = \"https://ghcr.io/x/y\" }",
                "paths[0].oci_artifact",
                "oci://",
            ),
            (
                "a tag in the url",
                "{ path = \"a\", oci_artifact = \"oci://ghcr.io/x/y:v1\" }",
                "paths[0].oci_artifact",
                "must not carry a tag",
            ),
            (
                "no repository",
                "{ path = \"a\", oci_artifact = \"oci://ghcr.io\" }",
                "paths[0].oci_artifact",
                "names no repository",
            ),
            (
                "both tag and digest",
                &format!(
                    "{{ path = \"a\", oci_artifact = \"oci://ghcr.io/x/y\", oci_tag = \"v1\", oci_digest = \"{digest}\" }}"
                ),
                "paths[0].oci_digest",
                "not both",
            ),
            (
                "a bad digest",
                "{ path = \"a\", oci_artifact = \"oci://ghcr.io/x/y\", oci_digest = \"sha256:abc\" }",
                "paths[0].oci_digest",
                "sha256:<64 hex digits>",
            ),
            (
                "a bad tag",
                "{ path = \"a\", oci_artifact = \"oci://ghcr.io/x/y\", oci_tag = \"v 1\" }",
                "paths[0].oci_tag",
                "not an OCI tag",
            ),
            (
                "with a git repo",
                "{ path = \"a\", oci_artifact = \"oci://ghcr.io/x/y\", repo = \"https://git.example.com/a.git\" }",
                "paths[0].oci_artifact",
                "not both",
            ),
            (
                "an unknown key",
                "{ path = \"a\", oci_artifact = \"oci://ghcr.io/x/y\", oci_revision = \"v1\" }",
                "oci_revision",
                "unknown",
            ),
        ];
        for (what, paths, key, reason) in cases {
            let err = load(&with(paths), &[]).expect_err(what).to_string();
            assert!(err.contains(key) && err.contains(reason), "{what}: {err}");
        }
    }

    /// A release's `$values/…` files are read from `values_git_repo` at `values_revision`;
    /// without `values_git_repo`, from the `[gitops]` repository (at `values_revision`, else at
    /// its own ref); files of the chart's own repository are plain files.
    #[test]
    fn values_files_of_another_repository() {
        let with = |keys: &str| {
            HELM.replace(
                "values_files = [\"charts/shop/values-production.yaml\"]",
                &format!("values_files = [\"charts/shop/values.yaml\", \"$values/envs/prod.yaml\"]\n{keys}"),
            )
        };
        let vars = [("GITOPS_TOKEN", "t"), ("CHARTS_PASSWORD", "p")];
        let shop = |text: &str| load(text, &vars).unwrap().environments[0].releases[0].clone();
        let r = shop(&with(
            "values_git_repo = \"https://git.example.com/org/values.git\"\nvalues_revision = \"v3\"",
        ));
        assert_eq!(
            r.values_repo,
            Some(ValuesRepo {
                repo: Some(RepoRef {
                    url: "https://git.example.com/org/values.git".into(),
                    reference: GitRef::Revision("v3".into())
                })
            })
        );
        assert_eq!(
            r.values_file_elsewhere(&r.values_files[1]).map(|(_, p)| p),
            Some("envs/prod.yaml")
        );
        assert_eq!(r.values_file_elsewhere(&r.values_files[0]), None);
        let r = shop(&with("values_revision = \"release\""));
        assert_eq!(
            r.values_repo.unwrap().repo.map(|r| r.url),
            Some("https://git.example.com/org/infra.git".into()),
            "a revision alone is of the [gitops] repository"
        );
        let r = shop(&with(""));
        assert_eq!(
            r.values_files,
            vec!["charts/shop/values.yaml", "envs/prod.yaml"],
            "the chart's own repository: plain files"
        );
        assert_eq!(r.values_repo, None);
        let mut chart_elsewhere = with("");
        chart_elsewhere = chart_elsewhere.replace(
            "chart = \"./charts/shop/\"",
            "chart = \"./charts/shop/\"\ngit_repo = \"https://git.example.com/org/charts.git\"",
        );
        let r = shop(&chart_elsewhere);
        assert_eq!(
            r.values_repo,
            Some(ValuesRepo { repo: None }),
            "the chart elsewhere, the values in [gitops]"
        );
    }

    /// What `driftwatch discover` prints is a config of its own: when every path and release
    /// names its repository, `[gitops] url` may be left out; a source reading the default
    /// repository still needs it.
    #[test]
    fn gitops_url_is_optional_when_every_source_names_its_repository() {
        let env = |paths: &str, release: &str| {
            format!(
                "[gitops]\ncache_dir = \"cache\"\n[[environments]]\nname = \"production\"\npaths = [{paths}]\n{release}[environments.cluster]\nsnapshot = \"live.json\"\n"
            )
        };
        let own = "{ path = \"apps/web\", repo = \"https://git.example.com/a.git\" }";
        let c = load(&env(own, ""), &[]).unwrap();
        assert!(matches!(c.gitops, GitopsConfig::Unset));
        let chart = "renderer = \"helm\"\n[[environments.releases]]\nname = \"podinfo\"\nchart = \"oci://ghcr.io/stefanprodan/charts/podinfo\"\n";
        let with_chart = load(&env(own, chart), &[]);
        assert!(
            with_chart.is_ok(),
            "an OCI chart reads nothing from git: {:?}",
            with_chart.err().map(|e| e.to_string())
        );

        for (paths, release) in [
            ("\"apps/web\"", ""),
            (
                own,
                "renderer = \"helm\"\n[[environments.releases]]\nname = \"shop\"\nchart = \"charts/shop\"\n",
            ),
            (own, &format!("{chart}values_files = [\"values.yaml\"]\n")),
        ] {
            let e = load(&env(paths, release), &[]).unwrap_err().to_string();
            assert!(
                e.contains("gitops.url") && e.contains("missing"),
                "{paths} {release}: {e}"
            );
        }
    }

    const DISCOVERY: &str = "[gitops]\ncache_dir = \"cache\"\n[discovery.argocd]\ncluster = { kubeconfig = \"mgmt.kubeconfig\" }\nenvironment_from = \"label:env\"\n[[discovery.clusters]]\nserver = \"https://prod.example.com/\"\nkubeconfig = \"prod.kubeconfig\"\n";

    /// With discovery, `[gitops] url` and `[[environments]]` are optional.
    /// Two environments declared in the same team repository (as discovered Applications
    /// are): lineage walks that repository, so promotion between them is accepted.
    #[test]
    fn promotion_within_another_repository_is_accepted() {
        let team = "{ path = \"apps/p\", repo = \"https://github.com/x/team.git\" }";
        let text = format!(
            "{}[[environments]]\nname = \"staging\"\npaths = [{{ path = \"apps/s\", repo = \"https://github.com/x/team.git\" }}]\n[environments.cluster]\nkubeconfig = \"k\"\n",
            MINIMAL
                .replace("[\"apps/*/overlays/production\"]", &format!("[{team}]"))
                .replace(
                    "name = \"production\"\n",
                    "name = \"production\"\npromoted_from = \"staging\"\n"
                )
        );
        let c = load(&text, &[("GITOPS_TOKEN", "t")]).expect("accepted");
        let repo = c.environments[0].history_repository().expect("the team repository");
        assert_eq!(repo.url, "https://github.com/x/team.git");
        assert_eq!(c.environments[0].patterns(), vec!["apps/p".to_string()]);
    }

    #[test]
    fn discovery_alone_is_a_config() {
        let c = load(DISCOVERY, &[]).unwrap();
        assert!(matches!(c.gitops, GitopsConfig::Unset));
        assert!(c.environments.is_empty());
        let argo = c.discovery.argocd.as_ref().unwrap();
        assert_eq!(argo.environment_from, EnvironmentFrom::Label("env".into()));
        let d = &c.discovery.clusters[0];
        assert_eq!(d.server.as_deref(), Some("https://prod.example.com"));
        assert_eq!(d.cluster.name, "prod.example.com");
        // (case, config, what the error says)
        let cases = [
            ("bad environment_from", DISCOVERY.replace("label:env", "labels"), "discovery.argocd.environment_from"),
            ("nothing to read", DISCOVERY.replace("cluster = { kubeconfig = \"mgmt.kubeconfig\" }\n", ""), "give paths"),
            ("a destination without server or name", DISCOVERY.replace("server = \"https://prod.example.com/\"\n", ""), "discovery.clusters[0]"),
            ("unknown key", DISCOVERY.replace("environment_from", "environment_frm"), "unknown key `environment_frm`"),
            ("no discovery, no url", "[gitops]\ncache_dir = \"c\"\n".to_string(), "gitops.url"),
            (
                "manifests in git without a repository",
                DISCOVERY.replace("[discovery.argocd]\n", "[discovery.argocd]\npaths = [\"argocd/*.yaml\"]\n"),
                "discovery.argocd.paths: Application manifests are read from the [gitops] repository",
            ),
            (
                "a revision without a repository to be of",
                format!("{DISCOVERY}[[environments]]\nname = \"x\"\npaths = [{{ path = \"a\", revision = \"v1\" }}]\n"),
                "a revision without repo needs gitops.url",
            ),
            (
                "an unknown kustomize override",
                MINIMAL.replace("[\"apps/*/overlays/production\"]", "[{ path = \"a\", kustomize = { imagez = [] } }]"),
                "environments[0].paths[0].kustomize: unknown key `imagez`",
            ),
            (
                "a bad include glob",
                MINIMAL.replace("[\"apps/*/overlays/production\"]", "[{ path = \"a\", include = \"[\" }]"),
                "environments[0].paths[0].include",
            ),
            (
                "promotion from an environment with a path in another repository",
                format!(
                    "{}[[environments]]\nname = \"staging\"\npromoted_from = \"production\"\npaths = [\"apps/s\"]\n[environments.cluster]\nkubeconfig = \"k\"\n",
                    MINIMAL.replace("[\"apps/*/overlays/production\"]", "[{ path = \"a\", repo = \"https://github.com/x/y.git\" }]")
                ),
                "environments[1].promoted_from: production is declared in https://github.com/x/y.git and staging in the [gitops] repository; promotion lineage walks one repository's history",
            ),
            (
                "a password without a username",
                MINIMAL.replace("cache_dir = \"cache\"\n", "cache_dir = \"cache\"\n[[gitops.credentials]]\nurl_prefix = \"https://x/\"\npassword_env = \"GITOPS_TOKEN\"\n"),
                "gitops.credentials[0].username",
            ),
        ];
        for (case, text, want) in cases {
            let err = load(&text, &[("GITOPS_TOKEN", "t")]).expect_err(case).to_string();
            assert!(err.contains(want), "{case}: {err}");
        }
    }

    const FLUX: &str = "[gitops]\ncache_dir = \"cache\"\n[discovery.flux]\ncluster = { in_cluster = true }\nnamespace = \"flux-system\"\nselector = \"team=payments\"\nenvironment_from = \"label:env\"\n[[discovery.clusters]]\nname = \"prod-kubeconfig\"\nkubeconfig = \"prod.kubeconfig\"\n";

    /// `[discovery.flux]` alone is a config (with `[[discovery.clusters]]` mapping kubeConfig
    /// Secrets); its errors name the key.
    #[test]
    fn flux_discovery_alone_is_a_config_and_its_errors_name_the_key() {
        let c = load(FLUX, &[]).unwrap();
        assert!(c.discovery.is_configured() && c.discovery.argocd.is_none());
        let fx = c.discovery.flux.as_ref().unwrap();
        assert_eq!(fx.cluster.as_ref().unwrap().name, "flux");
        assert!(matches!(fx.cluster.as_ref().unwrap().source, ClusterSource::InCluster));
        assert_eq!(fx.namespace.as_deref(), Some("flux-system"));
        assert_eq!(fx.selector.as_deref(), Some("team=payments"));
        assert_eq!(fx.environment_from, EnvironmentFrom::Label("env".into()));
        assert_eq!(c.discovery.clusters[0].name.as_deref(), Some("prod-kubeconfig"));
        let git_only = FLUX
            .replace(
                "cluster = { in_cluster = true }\n",
                "paths = [\"clusters/production/*.yaml\"]\n",
            )
            .replace("cache_dir", "url = \"https://git.example.com/fleet.git\"\ncache_dir");
        assert_eq!(
            load(&git_only, &[]).unwrap().discovery.flux.unwrap().paths,
            vec!["clusters/production/*.yaml"]
        );
        // (case, config, what the error says)
        let cases = [
            (
                "bad environment_from",
                FLUX.replace("label:env", "labels"),
                "discovery.flux.environment_from",
            ),
            (
                "project is Argo CD's",
                FLUX.replace("label:env", "project"),
                "discovery.flux.environment_from",
            ),
            (
                "nothing to read",
                FLUX.replace("cluster = { in_cluster = true }\n", ""),
                "discovery.flux: give cluster",
            ),
            (
                "unknown key",
                FLUX.replace("selector", "selectr"),
                "unknown key `selectr`",
            ),
            (
                "manifests in git without a repository",
                FLUX.replace(
                    "[discovery.flux]\n",
                    "[discovery.flux]\npaths = [\"clusters/*.yaml\"]\n",
                ),
                "discovery.flux.paths: Flux manifests are read from the [gitops] repository",
            ),
            (
                "a bad path glob",
                FLUX.replace("[discovery.flux]\n", "[discovery.flux]\npaths = [\"[\"]\n"),
                "discovery.flux.paths[0]",
            ),
            (
                "a bad cluster",
                FLUX.replace("{ in_cluster = true }", "{ in_cluster = true, kubeconfig = \"k\" }"),
                "discovery.flux.cluster",
            ),
        ];
        for (case, text, want) in cases {
            let err = load(&text, &[]).expect_err(case).to_string();
            assert!(err.contains(want), "{case}: {err}");
        }
    }
}
