//! What templates see, and `helm template`'s steps up to rendering.
//!
//! [`prepare`] does what `helm template NAME CHART` does before the engine runs: refuse a
//! library chart, check declared dependencies are present, process dependencies, build
//! `.Capabilities` (Helm v4's default Kubernetes version unless given), coalesce and validate the
//! values (`ToRenderValuesWithSchemaValidation`), check the chart's `kubeVersion`, then lay out
//! every template with the scope it renders in ([`ChartScope`], Helm's `recAllTpls`): a subchart's
//! templates see that subchart's `.Values` (its key of the parent's values) and `.Chart`.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::coalesce::{Warnings, coalesce_values_logged};
use super::dependencies::{MissingDependencies, check_dependencies, process_dependencies};
use super::schema::{SchemaError, validate_against_schema};
use super::{Values, ValuesError};
use crate::chart::{Chart, File};
use crate::semver::is_compatible_range;

/// `.Release` (Helm's `ReleaseOptions` plus `Service`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOptions {
    /// `.Release.Name` (`helm template` defaults it to `release-name`).
    pub name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `.Release.Revision` (1 for `helm template`).
    pub revision: i64,
    /// `.Release.IsInstall`.
    pub is_install: bool,
    /// `.Release.IsUpgrade`.
    pub is_upgrade: bool,
}

impl Default for ReleaseOptions {
    fn default() -> Self {
        ReleaseOptions {
            name: "release-name".into(),
            namespace: "default".into(),
            revision: 1,
            is_install: true,
            is_upgrade: false,
        }
    }
}

impl ReleaseOptions {
    /// `.Release` as a map (Go field names; `Service` is `"Helm"`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "Name": self.name, "Namespace": self.namespace, "IsUpgrade": self.is_upgrade,
            "IsInstall": self.is_install, "Revision": self.revision, "Service": "Helm",
        })
    }
}

/// `.Capabilities.KubeVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeVersion {
    /// The version as given, `v`-prefixed (`.Version`, `.GitVersion`).
    pub version: String,
    /// `v<major>.<minor>[.<patch>]`: what `{{ .Capabilities.KubeVersion }}` prints and what
    /// `kubeVersion` constraints are checked against.
    pub normalized: String,
    /// `.Major`.
    pub major: String,
    /// `.Minor`.
    pub minor: String,
}

impl KubeVersion {
    /// Helm's `ParseKubeVersion` (Kubernetes' generic version grammar): `None` when refused.
    #[must_use]
    pub fn parse(text: &str) -> Option<KubeVersion> {
        let trimmed = text.trim_start();
        let body = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (numbers, extra) = body.split_at(end);
        let parts: Vec<&str> = numbers.split('.').collect();
        let ok_part = |p: &&str| !(p.is_empty() || (p.len() > 1 && p.starts_with('0')));
        if parts.len() < 2 || !parts.iter().all(ok_part) || !(extra.is_empty() || extra.starts_with(['-', '+'])) {
            return None;
        }
        let version = if text.starts_with('v') {
            text.to_string()
        } else {
            format!("v{text}")
        };
        Some(KubeVersion {
            version,
            normalized: format!("v{numbers}"),
            major: parts[0].parse::<u64>().ok()?.to_string(),
            minor: parts[1].parse::<u64>().ok()?.to_string(),
        })
    }

    /// The map `toJson .Capabilities.KubeVersion` prints.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({"Version": self.version, "Major": self.major, "Minor": self.minor})
    }
}

/// Helm v4.2's built-in Kubernetes version for `helm template` (client-go v0.36 + 1 major).
pub const DEFAULT_KUBE_VERSION: &str = "v1.36.0";

/// Helm v4.2's default `.Capabilities.APIVersions` (client-go's scheme, in its order).
pub const DEFAULT_API_VERSIONS: [&str; 55] = [
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// `.Capabilities.HelmVersion` (`{{ . }}` prints `{v4.2   go1.26.6 v1.36}`: Version,
/// GitCommit, GitTreeState, GoVersion, KubeClientVersion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmVersion {
    /// `.Version` (`v4.2`).
    pub version: String,
    /// `.GitCommit`.
    pub git_commit: String,
    /// `.GitTreeState`.
    pub git_tree_state: String,
    /// `.GoVersion`.
    pub go_version: String,
    /// `.KubeClientVersion`.
    pub kube_client_version: String,
}

/// `.Capabilities`. `.APIVersions.Has "apps/v1"` is `api_versions.contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `.KubeVersion`.
    pub kube_version: KubeVersion,
    /// `.APIVersions`.
    pub api_versions: Vec<String>,
    /// `.HelmVersion`.
    pub helm_version: HelmVersion,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            kube_version: KubeVersion::parse(DEFAULT_KUBE_VERSION).expect("static version"),
            api_versions: DEFAULT_API_VERSIONS.iter().map(|s| (*s).to_string()).collect(),
            helm_version: HelmVersion {
                version: "v4.2".into(),
                git_commit: String::new(),
                git_tree_state: String::new(),
                go_version: "go1.26.6".into(),
                kube_client_version: "v1.36".into(),
            },
        }
    }
}

impl Capabilities {
    /// `helm template`'s capabilities: the defaults, `--kube-version` if given, plus
    /// `--api-versions`.
    ///
    /// # Errors
    /// [`PrepareError::KubeVersion`] for a version Helm refuses.
    pub fn for_template(kube_version: Option<&str>, extra_api_versions: &[String]) -> Result<Self, PrepareError> {
        let mut caps = Capabilities::default();
        if let Some(v) = kube_version {
            caps.kube_version = KubeVersion::parse(v).ok_or_else(|| PrepareError::KubeVersion(v.to_string()))?;
        }
        caps.api_versions.extend(extra_api_versions.iter().cloned());
        Ok(caps)
    }

    /// What `toJson .Capabilities` prints.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let h = &self.helm_version;
        let mut helm = Map::new();
        for (k, v) in [
            ("version", &h.version),
            ("git_commit", &h.git_commit),
            ("git_tree_state", &h.git_tree_state),
            ("go_version", &h.go_version),
            ("kube_client_version", &h.kube_client_version),
        ] {
            if !v.is_empty() {
                helm.insert(k.into(), Value::String(v.clone()));
            }
        }
        json!({"KubeVersion": self.kube_version.to_json(), "APIVersions": self.api_versions, "HelmVersion": helm})
    }
}

/// Why `helm template` stops before rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// `--kube-version` Helm cannot parse.
    #[error("invalid kube version '{0}'")]
    KubeVersion(String),
    /// A library chart.
    #[error("{0} charts are not installable")]
    NotInstallable(String),
    /// Declared dependencies missing from `charts/`.
    #[error(
        "an error occurred while checking for chart dependencies. You may need to run 'helm dependency build' to fetch missing dependencies: {0}"
    )]
    Missing(MissingDependencies),
    /// Dependency processing failed.
    #[error("chart dependencies processing failed: {0}")]
    Dependencies(ValuesError),
    /// Coalescing failed.
    #[error(transparent)]
    Values(ValuesError),
    /// The values fail a `values.schema.json`.
    #[error("values don't meet the specifications of the schema(s) in the following chart(s):\n{0}")]
    Schema(SchemaError),
    /// The chart's `kubeVersion` excludes the cluster version.
    #[error("chart requires kubeVersion: {constraint} which is incompatible with Kubernetes {version}")]
    KubeVersionIncompatible {
        /// Chart.yaml's `kubeVersion`.
        constraint: String,
        /// `.Capabilities.KubeVersion.Version`.
        version: String,
    },
}

/// The scope one chart's templates render in (Helm's `recAllTpls` map).
#[derive(Debug, Clone, PartialEq)]
pub struct ChartScope {
    /// `.Chart`: Go field names plus `IsRoot`.
    pub chart: Map<String, Value>,
    /// `.Files`: the chart's non-template files.
    pub files: Vec<File>,
    /// `.Release`.
    pub release: Arc<Value>,
    /// `.Capabilities`.
    pub capabilities: Arc<Capabilities>,
    /// `.Values`.
    pub values: Values,
    /// `.Subcharts`: each subchart's scope by name.
    pub subcharts: BTreeMap<String, ChartScope>,
}

impl ChartScope {
    /// What `toJson .` prints in this scope (`.Files` as base64, as Go encodes `[]byte`;
    /// `.Template` is added per template by the engine).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let files: Map<String, Value> = self
            .files
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(&f.data)),
                )
            })
            .collect();
        let subcharts: Map<String, Value> = self.subcharts.iter().map(|(k, s)| (k.clone(), s.to_json())).collect();
        json!({
            "Chart": self.chart, "Files": files, "Release": *self.release,
            "Capabilities": self.capabilities.to_json(), "Values": self.values, "Subcharts": subcharts,
        })
    }
}

/// One template to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateJob {
    /// `.Template.Name`: `chart/templates/x.yaml`, `chart/charts/sub/templates/y.yaml`.
    pub name: String,
    /// `.Template.BasePath`: `chart/templates`.
    pub base_path: String,
    /// The template's source.
    pub source: String,
    /// The scope's path from the root: subchart names (empty for the root chart).
    pub scope: Vec<String>,
}

/// Everything the engine needs for `helm template`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The chart after dependency processing (what [`crate::chart::manifest::assemble`] takes).
    pub chart: Chart,
    /// `.Values` of the root chart.
    pub values: Values,
    /// The root scope (subchart scopes under `subcharts`).
    pub scope: ChartScope,
    /// Templates in Helm's execution order (deepest paths first, then reverse lexical), library
    /// charts contributing only their `_` partials.
    pub templates: Vec<TemplateJob>,
    /// Warnings Helm would log.
    pub warnings: Warnings,
}

impl Prepared {
    /// The scope at `path` (as in [`TemplateJob::scope`]).
    #[must_use]
    pub fn scope_at(&self, path: &[String]) -> Option<&ChartScope> {
        path.iter().try_fold(&self.scope, |s, name| s.subcharts.get(name))
    }
}

/// `helm template` options that act before rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateOptions {
    /// `.Release`.
    pub release: ReleaseOptions,
    /// `--kube-version`.
    pub kube_version: Option<String>,
    /// `--api-versions`.
    pub api_versions: Vec<String>,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
}

/// `ToRenderValuesWithSchemaValidation`'s `.Values`: the chart's values coalesced under
/// `user`, then validated against every schema.
///
/// # Errors
/// [`PrepareError::Values`] or [`PrepareError::Schema`].
pub fn render_values(
    chart: &Chart,
    user: &Values,
    skip_schema: bool,
    w: &mut Warnings,
) -> Result<Values, PrepareError> {
    let vals = coalesce_values_logged(chart, user, w).map_err(PrepareError::Values)?;
    if !skip_schema {
        validate_against_schema(chart, &vals).map_err(PrepareError::Schema)?;
    }
    Ok(vals)
}

/// `helm template` up to rendering (see the module docs).
///
/// # Errors
/// [`PrepareError`] worded as Helm words it.
pub fn prepare(mut chart: Chart, user: &Values, opts: &TemplateOptions) -> Result<Prepared, PrepareError> {
    let caps = Capabilities::for_template(opts.kube_version.as_deref(), &opts.api_versions)?;
    if !matches!(chart.metadata.chart_type.as_str(), "" | "application") {
        return Err(PrepareError::NotInstallable(chart.metadata.chart_type.clone()));
    }
    if chart.metadata.dependencies.as_ref().is_some_and(|d| !d.is_empty()) {
        check_dependencies(&chart).map_err(PrepareError::Missing)?;
    }
    let mut warnings = Warnings::new();
    process_dependencies(&mut chart, user, &mut warnings).map_err(PrepareError::Dependencies)?;
    let values = render_values(&chart, user, opts.skip_schema_validation, &mut warnings)?;
    let kube = &chart.metadata.kube_version;
    if !kube.is_empty() && !is_compatible_range(kube, &caps.kube_version.normalized) {
        return Err(PrepareError::KubeVersionIncompatible {
            constraint: kube.clone(),
            version: caps.kube_version.version.clone(),
        });
    }
    let release = Arc::new(opts.release.to_json());
    let scope = build_scope(&chart, true, values.clone(), &release, &Arc::new(caps));
    let mut templates = Vec::new();
    collect_templates(&chart, chart.name(), &[], &mut templates);
    templates.sort_by(|a, b| render_order(&a.name, &b.name));
    Ok(Prepared {
        chart,
        values,
        scope,
        templates,
        warnings,
    })
}

fn build_scope(
    chart: &Chart,
    is_root: bool,
    values: Values,
    release: &Arc<Value>,
    caps: &Arc<Capabilities>,
) -> ChartScope {
    let mut meta = chart.metadata.template_map();
    meta.insert("IsRoot".into(), Value::Bool(is_root));
    let subcharts = chart
        .dependencies
        .iter()
        .map(|sub| {
            let sub_values = values
                .get(sub.name())
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            (
                sub.name().to_string(),
                build_scope(sub, false, sub_values, release, caps),
            )
        })
        .collect();
    ChartScope {
        chart: meta,
        files: chart.files.clone(),
        release: Arc::clone(release),
        capabilities: Arc::clone(caps),
        values,
        subcharts,
    }
}

fn collect_templates(chart: &Chart, full_path: &str, scope: &[String], out: &mut Vec<TemplateJob>) {
    for sub in &chart.dependencies {
        let mut sub_scope = scope.to_vec();
        sub_scope.push(sub.name().to_string());
        collect_templates(sub, &format!("{full_path}/charts/{}", sub.name()), &sub_scope, out);
    }
    for t in &chart.templates {
        let base = t.name.rsplit('/').next().unwrap_or(&t.name);
        if chart.is_library() && !base.starts_with('_') {
            continue;
        }
        let name = format!("{full_path}/{}", t.name);
        out.retain(|j: &TemplateJob| j.name != name);
        out.push(TemplateJob {
            name,
            base_path: format!("{full_path}/templates"),
            source: String::from_utf8_lossy(&t.data).into_owned(),
            scope: scope.to_vec(),
        });
    }
}

/// Helm's `sortTemplates`: more `/` first; equal depth in reverse lexical order.
fn render_order(a: &str, b: &str) -> std::cmp::Ordering {
    let depth = |s: &str| s.matches('/').count();
    depth(b).cmp(&depth(a)).then_with(|| b.cmp(a))
}
