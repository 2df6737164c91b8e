//! Domain types shared by every stage: workloads as git declares them, workloads as the cluster
//! runs them, and the findings that compare the two. Pure data, no IO.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::image::RunningImage;

/// The workload kinds driftwatch audits. Anything else in a manifest or a cluster is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
    Pod,
    /// An Argo Rollout (`argoproj.io/v1alpha1`): a Deployment's stand-in that owns ReplicaSets
    /// and steps through canary or blue-green rollouts.
    Rollout,
}

impl WorkloadKind {
    pub fn from_kind(kind: &str) -> Option<Self> {
        Some(match kind {
            "Deployment" => Self::Deployment,
            "StatefulSet" => Self::StatefulSet,
            "DaemonSet" => Self::DaemonSet,
            "ReplicaSet" => Self::ReplicaSet,
            "Job" => Self::Job,
            "CronJob" => Self::CronJob,
            "Pod" => Self::Pod,
            "Rollout" => Self::Rollout,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::ReplicaSet => "ReplicaSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
            Self::Pod => "Pod",
            Self::Rollout => "Rollout",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one workload inside one cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct WorkloadKey {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for WorkloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

/// A container as written in a manifest: the image string exactly as rendered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub init: bool,
    /// Why the image is not a valid reference (a placeholder such as `<APP_IMAGE>`): the
    /// container is still listed exactly as rendered, reported as `invalid-manifest`, and not
    /// compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
}

/// One workload that git declares for an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeclaredWorkload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// The configured path (after glob expansion) that rendered this workload; for a Helm
    /// release, its chart (the directory in the repository, or the repository chart).
    pub source: String,
    pub containers: Vec<ContainerSpec>,
    /// The Helm release and chart template that rendered it (`release`, `template` in JSON).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
}

/// Which Helm release rendered a workload, and from which template: the `# Source:` path of
/// `helm template`'s output (`shop/templates/deployment.yaml`, subcharts under `charts/`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelmSource {
    pub release: String,
    pub template: String,
}

impl DeclaredWorkload {
    pub fn key(&self) -> WorkloadKey {
        WorkloadKey {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// Something in the declared tree that could not be understood (malformed YAML, an image
/// reference that does not parse). Becomes an `invalid-manifest` finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestProblem {
    /// Path of the file (plain) or the rendered overlay directory (kustomize).
    pub file: String,
    pub source: String,
    /// The workload and container concerned, when the problem is inside one.
    pub workload: Option<WorkloadKey>,
    pub container: Option<String>,
    pub reason: String,
}

/// A ConfigMap or Secret, with its values reduced to SHA-256 hashes: enough to tell which keys
/// differ, and a Secret's values never leave the process that read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigObject {
    pub secret: bool,
    pub namespace: String,
    pub name: String,
    /// key → hex SHA-256 of the value (`binaryData` and Secret `data` decoded first).
    pub values: BTreeMap<String, String>,
    /// The configured path that declares it (declared side only).
    pub source: String,
    /// The manifest file that declares it (declared side only).
    pub file: String,
}

impl ConfigObject {
    pub fn kind(&self) -> &'static str {
        if self.secret { "Secret" } else { "ConfigMap" }
    }
}

/// A ConfigMap (or Secret) a running workload's Pods need: volumes, `envFrom`, `env` keys that
/// are not optional.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigRef {
    pub workload: WorkloadKey,
    pub secret: bool,
    pub name: String,
}

/// Everything git declares for one environment.
#[derive(Clone, Debug, Default)]
pub struct DeclaredState {
    pub workloads: Vec<DeclaredWorkload>,
    pub configs: Vec<ConfigObject>,
    pub problems: Vec<ManifestProblem>,
    /// Paths whose rendering failed as a whole (kustomize error). While any path failed, the
    /// declared set is incomplete, so `undeclared` cannot be judged.
    pub failed_paths: Vec<String>,
    /// How each rendered path was rendered, in path order.
    pub renders: Vec<PathRender>,
    /// How each Helm release was rendered, in config order (rendered or not: a release that
    /// failed is in `failed_paths` as `release <name>`, and here with its renderer).
    pub releases: Vec<ReleaseRender>,
    /// What a path selected but no renderer read (a Helm chart, files a directory glob matched):
    /// an `unverifiable` finding each, and the rest of the environment is judged.
    pub skipped: Vec<SkippedPath>,
    /// Rollouts whose Pod template is another workload's (`spec.workloadRef`), until every path
    /// of the environment is read: see [`crate::core::manifest::resolve_workload_refs`].
    pub workload_refs: Vec<WorkloadRef>,
}

/// An Argo Rollout's `spec.workloadRef`: its containers are those of the workload it names, in
/// the same namespace (declared by any path of the environment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadRef {
    pub rollout: WorkloadKey,
    pub target: WorkloadKey,
    pub file: String,
    pub source: String,
}

impl DeclaredState {
    /// Adds what another part of the same environment declares (its sources in another
    /// repository).
    pub fn merge(&mut self, other: DeclaredState) {
        self.workloads.extend(other.workloads);
        self.configs.extend(other.configs);
        self.problems.extend(other.problems);
        self.failed_paths.extend(other.failed_paths);
        self.renders.extend(other.renders);
        self.releases.extend(other.releases);
        self.skipped.extend(other.skipped);
        self.workload_refs.extend(other.workload_refs);
    }
}

/// A selected path that is not read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPath {
    /// What is not read (a directory, or the glob whose file matches are not read).
    pub path: String,
    /// The configured path pattern that selected it.
    pub source: String,
    pub reason: String,
    /// Where what it declares would run (a chart's release namespace): `undeclared` is not
    /// judged there. `None`: it declares nothing the audit needs.
    pub namespace: Option<String>,
}

/// How one Helm release was rendered: `builtin`, `external` (`engine = "external"`), or
/// `external: <why the built-in engine left it>`; whether it came from the render cache; and
/// the chart it used (with the version and digest a repository or registry chart resolved to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseRender {
    pub release: String,
    pub namespace: String,
    pub chart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub renderer: String,
    pub cached: bool,
}

/// How one configured path (after glob expansion) was rendered: `plain`, `builtin`,
/// `external`, or `external: <why the built-in renderer left it>`; and whether the output came
/// from the render cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathRender {
    pub path: String,
    pub renderer: String,
    pub cached: bool,
}

/// What one declared container of a running workload runs, as one audit saw it: the input of
/// the deployment history ([`crate::core::deployments`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRun {
    /// `namespace/Kind/name`.
    pub workload: String,
    pub container: String,
    /// The image git declares for it.
    pub declared_image: String,
    /// The image the live workload's spec names.
    pub live_image: Option<String>,
    /// Per digest its Pods run, the image the template they were made from names (see
    /// [`ContainerStatus::made_as`]).
    pub made_as: BTreeMap<String, String>,
    /// The manifest digests its Pods run, with Pod counts.
    pub digests: Vec<RunningDigest>,
    /// The controller has not moved every Pod to the current spec yet.
    pub in_progress: bool,
    /// When the current rollout started (the newest ReplicaSet's creation), where known.
    pub rollout_started: Option<DateTime<Utc>>,
    /// Whether every digest it runs is signed as `[[policies.signatures]]` require
    /// (`None`: no policy applies, or it could not be checked).
    pub signed: Option<bool>,
}

/// Rollout progress of a live workload, as its status reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollout {
    /// True while the controller has not finished moving every Pod to the current spec.
    pub in_progress: bool,
    /// When the current rollout started, where the objects tell (newest ReplicaSet or Pod).
    pub started_at: Option<DateTime<Utc>>,
    /// How the controller moves the Pods, which decides when the grace counts from.
    pub pace: Pace,
}

/// How a controller moves a workload's Pods to a new spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// As fast as it can (a Deployment, a StatefulSet): the grace counts from the rollout's
    /// start.
    #[default]
    Continuous,
    /// Step by step, old and new Pods side by side on purpose (an Argo Rollout's canary or
    /// blue-green): while it progresses the grace does not count (its own progress deadline
    /// says when it stalls); it counts from when the rollout was held.
    Stepped(Option<Hold>),
}

/// Why and since when a stepped rollout stands still.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub state: HoldState,
    /// What the controller says: `CanaryPauseStep`, `BlueGreenPause`, `ProgressDeadlineExceeded`,
    /// an abort message.
    pub reason: String,
    pub since: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// Paused: by a pause step, before a blue-green promotion, by hand, or an inconclusive
    /// analysis.
    Paused,
    /// Aborted: the new Pods scaled down, the stable ones serve, the spec still names the new
    /// image.
    Aborted,
    /// Past its progress deadline (phase `Degraded`) without an abort.
    Stalled,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paused => "paused",
            Self::Aborted => "aborted",
            Self::Stalled => "stalled",
        }
    }
}

/// A container status of one Pod: which image the runtime actually started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    pub name: String,
    pub init: bool,
    pub image: RunningImage,
    /// The image the template the Pod was made from names for the container (its
    /// ReplicaSet's, its Job's, …), where its controller was listed: what it was deployed as,
    /// even while the top-level workload as read is older (watch events of a Deployment and
    /// of its ReplicaSets and Pods arrive apart).
    pub made_as: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivePod {
    pub name: String,
    pub statuses: Vec<ContainerStatus>,
}

/// A top-level workload as the cluster runs it, with the Pods it owns (directly or through
/// ReplicaSets and Jobs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveWorkload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub containers: Vec<ContainerSpec>,
    pub rollout: Rollout,
    pub pods: Vec<LivePod>,
}

impl LiveWorkload {
    pub fn key(&self) -> WorkloadKey {
        WorkloadKey {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// Everything one cluster runs in the audited namespaces.
#[derive(Clone, Debug, Default)]
pub struct LiveState {
    pub workloads: BTreeMap<WorkloadKey, LiveWorkload>,
    /// Live ConfigMaps (and Secrets, when listed) by (secret, namespace, name).
    pub configs: BTreeMap<(bool, String, String), ConfigObject>,
    pub config_refs: Vec<ConfigRef>,
    /// Whether `configs` holds the cluster's ConfigMaps at all.
    pub config_listing: ConfigListing,
    /// Why the cluster refused to list Argo Rollouts (a reader without `list rollouts`): declared
    /// Rollouts are one `unverifiable` finding, not `missing`. `None` when they were listed or
    /// the cluster does not serve them (no Rollout CRD: nothing to list).
    pub rollouts_refused: Option<String>,
}

/// Whether the live ConfigMaps were listed, so config checks can trust an empty list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ConfigListing {
    #[default]
    Listed,
    /// Not listed on purpose (`compare_configmaps = false`): no config checks.
    Skipped,
    /// The cluster refused to list them (a reader without `list configmaps`): config checks are
    /// one `unverifiable` finding naming the missing permission.
    Refused(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The inverse of [`Severity::as_str`] (config values such as `min_severity`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingType {
    DigestDrift,
    SpecDrift,
    MixedRollout,
    Missing,
    Undeclared,
    Unpinned,
    Unverifiable,
    InvalidManifest,
    DisallowedSource,
    TagMoved,
    DigestNotFound,
    PromotionSkipped,
    ConfigDrift,
    ExpiredIgnore,
    Override,
    /// No signature of a `[[policies.signatures]]` key or identity on the running digest.
    Unsigned,
    /// A signature of the policy's keys or identities exists but does not verify.
    SignatureInvalid,
    /// The provenance attestation names another builder or source than the policy.
    ProvenanceMismatch,
}

/// Hex SHA-256 of a config value.
pub fn value_hash(value: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(value))
}

impl FindingType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DigestDrift => "digest-drift",
            Self::SpecDrift => "spec-drift",
            Self::MixedRollout => "mixed-rollout",
            Self::Missing => "missing",
            Self::Undeclared => "undeclared",
            Self::Unpinned => "unpinned",
            Self::Unverifiable => "unverifiable",
            Self::InvalidManifest => "invalid-manifest",
            Self::DisallowedSource => "disallowed-source",
            Self::TagMoved => "tag-moved",
            Self::DigestNotFound => "digest-not-found",
            Self::PromotionSkipped => "promotion-skipped",
            Self::ConfigDrift => "config-drift",
            Self::ExpiredIgnore => "expired-ignore",
            Self::Override => "override",
            Self::Unsigned => "unsigned",
            Self::SignatureInvalid => "signature-invalid",
            Self::ProvenanceMismatch => "provenance-mismatch",
        }
    }
}

impl fmt::Display for FindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An image an Argo CD Application (or a Flux Kustomization) sets outside git (what Argo CD Image Updater's `argocd`
/// write-back does): an entry of the live Application's `kustomize.images` or
/// `helm.parameters`. Declared, but not in git: each workload it sets is an `override` finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOverride {
    /// The object that sets it: `Application argocd/web`.
    pub object: String,
    /// The field: `spec.source.kustomize.images[0]`, `spec.source.helm.parameters[1]`.
    pub field: String,
    /// The value as written: `registry.example.com/shop/web:1.4.2`, `image.tag=1.4.2`.
    pub value: String,
    /// What it applies to: workloads rendered from this source (a path) or release.
    pub target: OverrideTarget,
    /// The image it sets: a normalised repository (`registry.example.com/shop/web`) for
    /// `kustomize.images`; `None` for a Helm parameter, which sets whatever its chart makes of it.
    pub repository: Option<String>,
    /// What a container's declared reference contains when the override set it (the tag or
    /// digest); `None`: any reference of `repository`.
    pub needle: Option<String>,
}

/// The workloads an [`ImageOverride`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideTarget {
    /// Rendered from a path below this directory.
    Path(String),
    /// Rendered by this Helm release.
    Release(String),
}

/// A digest (or, for `unverifiable`, a config ID) and how many Pods run it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunningDigest {
    pub digest: String,
    pub pods: usize,
}

/// One difference between git and a cluster. The JSON form is part of `driftwatch.report/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub fingerprint: String,
    #[serde(rename = "type")]
    pub kind: FindingType,
    pub severity: Severity,
    pub environment: String,
    pub cluster: String,
    pub namespace: String,
    /// Workload kind; `null` for an `invalid-manifest` that is not inside a workload.
    #[serde(rename = "kind")]
    pub workload_kind: Option<WorkloadKind>,
    pub name: Option<String>,
    pub container: Option<String>,
    pub declared: Option<String>,
    pub running: Vec<RunningDigest>,
    pub source: Option<String>,
    pub commit: Option<String>,
    pub message: String,
    /// The image reference the live workload's spec names for this container (for
    /// `undeclared`, the references of its containers, comma-separated); `null` when no live
    /// workload exists. Not part of the fingerprint.
    #[serde(default)]
    pub live_image: Option<String>,
    /// The manifest file, for `config-drift` and `invalid-manifest` when known.
    #[serde(default)]
    pub file: Option<String>,
    /// For a workload a Helm release declares: the release and the chart template (`release`
    /// and `template` in JSON, absent otherwise). Not part of the fingerprint.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    /// For a workload of an Argo CD Application listed from a control plane: what Argo CD
    /// reports of it (`argocd` in JSON, absent otherwise). Not part of the fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd: Option<ArgoCdStatus>,
    /// For a workload of a Flux Kustomization or HelmRelease listed from a cluster: what Flux
    /// reports of it (`flux` in JSON, absent otherwise). Not part of the fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux: Option<FluxStatus>,
}

/// What Argo CD reports of an Application at discovery: `status.sync.status`,
/// `status.sync.revision` (or `revisions`, for several sources) and `status.health.status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgoCdStatus {
    /// `argocd/web`.
    pub application: String,
    /// `Synced`, `OutOfSync`, `Unknown`; `None` when the Application has no status.
    pub sync: Option<String>,
    /// The commits (or chart versions) Argo CD synced, one per source.
    pub revisions: Vec<String>,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`.
    pub health: Option<String>,
}

/// What Flux reports of a Kustomization or HelmRelease at discovery: the revision it last
/// applied (`status.lastAppliedRevision`; a HelmRelease's chart version) and its `Ready`
/// condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FluxStatus {
    /// `Kustomization flux-system/apps`, `HelmRelease podinfo/podinfo`.
    pub object: String,
    /// `main@sha1:4f2a91c…` (a Kustomization), `6.5.4` (a HelmRelease's chart version).
    pub revision: Option<String>,
    /// The `Ready` condition's status: `True`, `False`, `Unknown`; `None` without one.
    pub ready: Option<String>,
    /// The `Ready` condition's reason: `ReconciliationSucceeded`, `BuildFailed`, ….
    pub reason: Option<String>,
}

/// What a GitOps controller reports of one of its objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControllerStatus {
    ArgoCd(ArgoCdStatus),
    Flux(FluxStatus),
}

/// An Application's (or a Flux object's) status and the workloads it deploys (what the status
/// is attached to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerView {
    pub status: ControllerStatus,
    pub targets: Vec<OverrideTarget>,
}

/// The answer of a registry lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    Found(T),
    /// The registry answered that it does not have it.
    NotFound,
    /// No answer that can be trusted (down, 401, 5xx after retries, bad content): the check
    /// that needed it is unverifiable, with this reason.
    Unavailable(String),
}

#[cfg(test)]
impl Finding {
    /// A digest-drift of `env`/shop/Deployment `name` (container `name`) for unit tests; the
    /// fingerprint is `env-name-type` so tests can tell findings apart.
    pub fn sample(env: &str, name: &str, kind: FindingType, severity: Severity) -> Self {
        Finding {
            fingerprint: format!("{env}-{name}-{kind}"),
            kind,
            severity,
            environment: env.into(),
            cluster: "c".into(),
            namespace: "shop".into(),
            workload_kind: Some(WorkloadKind::Deployment),
            name: Some(name.into()),
            container: Some(name.into()),
            declared: Some("r/x@sha256:1".into()),
            running: vec![RunningDigest {
                digest: "sha256:2".into(),
                pods: 1,
            }],
            source: Some("apps/x".into()),
            commit: None,
            message: "m".into(),
            live_image: None,
            file: None,
            helm: None,
            argocd: None,
            flux: None,
        }
    }
}

impl<T> Lookup<T> {
    pub fn map<U>(&self, f: impl FnOnce(&T) -> U) -> Lookup<U> {
        match self {
            Self::Found(v) => Lookup::Found(f(v)),
            Self::NotFound => Lookup::NotFound,
            Self::Unavailable(reason) => Lookup::Unavailable(reason.clone()),
        }
    }
}

/// What a manifest is, as far as the checks care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manifest {
    /// An image index / manifest list: platform manifests as (digest, "os/arch[/variant]").
    Index(Vec<(String, String)>),
    Image,
}

/// What the registries answered during one audit, for the comparison: manifests by
/// (`registry/repository`, digest) and tag resolutions by (`registry/repository`, tag).
#[derive(Clone, Debug, Default)]
pub struct RegistryFacts {
    pub manifests: BTreeMap<(String, String), Lookup<Manifest>>,
    pub tags: BTreeMap<(String, String), Lookup<String>>,
}

impl RegistryFacts {
    pub fn manifest(&self, name: &str, digest: &str) -> Option<&Lookup<Manifest>> {
        self.manifests.get(&(name.to_string(), digest.to_string()))
    }

    pub fn tag(&self, name: &str, tag: &str) -> Option<&Lookup<String>> {
        self.tags.get(&(name.to_string(), tag.to_string()))
    }

    /// The same content: equal digests, or an image index that lists the other as one of
    /// its platform manifests (multi-arch images). Returns the platform when it is the latter.
    pub fn same_content(&self, name: &str, a: &str, b: &str) -> Option<Option<String>> {
        if a == b {
            return Some(None);
        }
        let listed = |index: &str, member: &str| match self.manifest(name, index) {
            Some(Lookup::Found(Manifest::Index(platforms))) => {
                platforms.iter().find(|(d, _)| d == member).map(|(_, p)| p.clone())
            }
            _ => None,
        };
        listed(a, b).or_else(|| listed(b, a)).map(Some)
    }
}

/// Rewrites a live image reference that starts with `from` to start with `to` before it is
/// compared, for pull-through proxies and mirrors that change what the cluster reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub from: String,
    pub to: String,
}
