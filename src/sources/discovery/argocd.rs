//! Argo CD Applications (`argoproj.io/v1alpha1`) → environment sources. Pure: an
//! Application's JSON in, the environment it belongs to and its paths and releases out, or
//! why it is not mapped. Field names and defaults are Argo CD's
//! (`pkg/apis/application/v1alpha1/types.go`): `releaseName` defaults to the Application's
//! name, `targetRevision` empty or `HEAD` is the default branch, a source with `chart` is a
//! Helm chart of `repoURL`, `valueFiles` are relative to the source's `path` unless they start
//! with `$<ref>/`, and `valuesObject` wins over `values`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::{
    ChartSource, ClusterConfig, DestinationConfig, DirectoryConfig, EnvironmentFrom, GitRef, KustomizeOverrides,
    PathConfig, ReleaseConfig, Renderer, RepoRef, VALUES_REF, ValuesRepo,
};
use crate::core::image::ImageRef;
use crate::core::model::{ArgoCdStatus, ControllerStatus, ControllerView, ImageOverride, OverrideTarget};

/// What mapping an Application needs besides the Application.
pub struct Context<'a> {
    pub environment_from: &'a EnvironmentFrom,
    pub destinations: &'a [DestinationConfig],
    /// The cluster Argo CD runs in (`https://kubernetes.default.svc`, `in-cluster`), when
    /// Applications are listed from it.
    pub control_plane: Option<&'a ClusterConfig>,
    /// Read from a cluster: its `kustomize.images` and `helm.parameters` may be Image
    /// Updater's write-back, not git.
    pub live: bool,
}

/// One Application, mapped.
#[derive(Clone, Debug)]
pub struct Mapped {
    /// `Application argocd/web`.
    pub object: String,
    pub environment: String,
    pub cluster: ClusterConfig,
    pub paths: Vec<PathConfig>,
    pub releases: Vec<ReleaseConfig>,
    pub overrides: Vec<ImageOverride>,
    /// For an Application listed from a control plane: what Argo CD reports of it, and the
    /// workloads that is about.
    pub controller: Option<ControllerView>,
    /// What of it is left out, and why (the rest is audited).
    pub partial: Vec<String>,
}

/// An Application that is not mapped: which one, why, and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    pub object: String,
    pub reason: String,
    pub fix: String,
}

pub(super) fn unmapped(object: &str, reason: impl Into<String>, fix: impl Into<String>) -> Unmapped {
    Unmapped {
        object: object.to_string(),
        reason: reason.into(),
        fix: fix.into(),
    }
}

/// Whether `doc` is an Argo CD Application.
pub fn is_application(doc: &Value) -> bool {
    doc["kind"] == "Application"
        && doc["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("argoproj.io/"))
}

/// Maps one Application.
pub fn map(app: &Value, cx: &Context<'_>) -> Result<Mapped, Unmapped> {
    let name = app["metadata"]["name"].as_str().unwrap_or_default();
    let ns = app["metadata"]["namespace"].as_str().unwrap_or("argocd");
    let object = format!("Application {ns}/{name}");
    if name.is_empty() {
        return Err(unmapped(&object, "has no metadata.name", "name the Application"));
    }
    let spec = &app["spec"];
    let destination = &spec["destination"];
    let cluster = destination_cluster(destination, cx).map_err(|Why { reason, fix }| unmapped(&object, reason, fix))?;
    let environment = environment_name(app, &cluster, cx.environment_from).ok_or_else(|| {
        unmapped(
            &object,
            format!("has no {} to name its environment", cx.environment_from),
            format!(
                "set it, or change discovery.argocd.environment_from (now {})",
                cx.environment_from
            ),
        )
    })?;
    let namespace = destination["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let sources: Vec<&Value> = match spec["sources"].as_array() {
        Some(list) if !list.is_empty() => list.iter().collect(),
        _ if spec["source"].is_object() => vec![&spec["source"]],
        _ => {
            return Err(unmapped(
                &object,
                "has neither spec.source nor spec.sources",
                "give the Application a source",
            ));
        }
    };
    let refs = references(&sources);
    let mut mapped = Mapped {
        object: object.clone(),
        environment,
        cluster,
        paths: Vec::new(),
        releases: Vec::new(),
        overrides: Vec::new(),
        controller: None,
        partial: Vec::new(),
    };
    let field = |i: usize| {
        if spec["sources"].is_array() {
            format!("spec.sources[{i}]")
        } else {
            "spec.source".to_string()
        }
    };
    for (i, source) in sources.iter().enumerate() {
        let at = Source {
            app: name,
            namespace: namespace.as_deref(),
            field: field(i),
            refs: &refs,
            object: &object,
            live: cx.live,
        };
        at.map(source, &mut mapped)
            .map_err(|Why { reason, fix }| unmapped(&object, format!("{}: {reason}", at.field), fix))?;
    }
    if mapped.paths.is_empty() && mapped.releases.is_empty() {
        return Err(unmapped(
            &object,
            "has only `ref` sources: nothing is deployed from them",
            "add a source with a path or chart",
        ));
    }
    if cx.live {
        mapped.controller = Some(controller_view(app, &format!("{ns}/{name}"), &mapped));
    }
    Ok(mapped)
}

/// What Argo CD reports of a live Application (`status.sync`, `status.health`), about the
/// paths and releases it deploys.
fn controller_view(app: &Value, name: &str, m: &Mapped) -> ControllerView {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let sync = &app["status"]["sync"];
    let revisions = match text(&sync["revision"]) {
        Some(r) => vec![r],
        None => sync["revisions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(text)
            .collect(),
    };
    let targets = m
        .paths
        .iter()
        .map(|p| OverrideTarget::Path(p.pattern.clone()))
        .chain(m.releases.iter().map(|r| OverrideTarget::Release(r.name.clone())))
        .collect();
    ControllerView {
        status: ControllerStatus::ArgoCd(ArgoCdStatus {
            application: name.to_string(),
            sync: text(&sync["status"]),
            revisions,
            health: text(&app["status"]["health"]["status"]),
        }),
        targets,
    }
}

/// The repository of a source: `repoURL` at `targetRevision`.
fn repo_of(source: &Value) -> Option<RepoRef> {
    let url = source["repoURL"].as_str().filter(|u| !u.is_empty())?;
    let reference = match source["targetRevision"].as_str().map(str::trim) {
        None | Some("" | "HEAD") => GitRef::DefaultBranch,
        Some(r) => GitRef::Revision(r.to_string()),
    };
    Some(RepoRef {
        url: url.to_string(),
        reference,
    })
}

/// `ref` sources by name (`$values/...` value files read from them).
fn references(sources: &[&Value]) -> BTreeMap<String, RepoRef> {
    sources
        .iter()
        .filter_map(|s| Some((s["ref"].as_str()?.to_string(), repo_of(s)?)))
        .collect()
}

/// The cluster an Application deploys to: its `destination.server` or `name` in
/// `[[discovery.clusters]]`, or Argo CD's own cluster. An unknown one is not guessed.
fn destination_cluster(destination: &Value, cx: &Context<'_>) -> Result<ClusterConfig, Why> {
    let server = destination["server"]
        .as_str()
        .map(|s| s.trim_end_matches('/'))
        .filter(|s| !s.is_empty());
    let name = destination["name"].as_str().filter(|s| !s.is_empty());
    if let Some(c) = cx
        .destinations
        .iter()
        .find(|d| (server.is_some() && d.server.as_deref() == server) || (name.is_some() && d.name.as_deref() == name))
    {
        return Ok(c.cluster.clone());
    }
    let own = server == Some("https://kubernetes.default.svc") || name == Some("in-cluster");
    if let (true, Some(c)) = (own, cx.control_plane) {
        return Ok(c.clone());
    }
    let shown = server
        .map(|s| format!("server {s}"))
        .or_else(|| name.map(|n| format!("name {n}")));
    match shown {
        Some(d) => Err((
            format!("destination {d} is not a configured cluster"),
            format!(
                "add [[discovery.clusters]] with {} = {:?} and its kubeconfig",
                if server.is_some() { "server" } else { "name" },
                server.or(name).unwrap_or_default()
            ),
        )
            .into()),
        None => Err((
            "has no destination.server or destination.name".into(),
            "set the Application's destination".into(),
        )
            .into()),
    }
}

fn environment_name(app: &Value, cluster: &ClusterConfig, from: &EnvironmentFrom) -> Option<String> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    match from {
        EnvironmentFrom::Name => text(&app["metadata"]["name"]),
        EnvironmentFrom::Label(k) => text(&app["metadata"]["labels"][k]),
        EnvironmentFrom::Annotation(k) => text(&app["metadata"]["annotations"][k]),
        EnvironmentFrom::Project => text(&app["spec"]["project"]).or_else(|| Some("default".into())),
        EnvironmentFrom::Destination => {
            text(&app["spec"]["destination"]["name"]).or_else(|| Some(cluster.name.clone()))
        }
    }
}

/// One source of an Application, being mapped.
struct Source<'a> {
    app: &'a str,
    namespace: Option<&'a str>,
    field: String,
    refs: &'a BTreeMap<String, RepoRef>,
    object: &'a str,
    live: bool,
}

use super::Why;

impl Source<'_> {
    fn map(&self, s: &Value, out: &mut Mapped) -> Result<(), Why> {
        let repo = repo_of(s).ok_or_else(|| ("has no repoURL".to_string(), "set repoURL".to_string()))?;
        if s["plugin"].is_object() {
            return Err((
                "uses a config management plugin, which driftwatch does not run".into(),
                "declare the environment by hand with its rendered manifests' path".into(),
            )
                .into());
        }
        if let Some(chart) = s["chart"].as_str().filter(|c| !c.is_empty()) {
            let release = self.release(s, self.chart_source(&repo, chart), None)?;
            self.parameter_overrides(s, &release.name, out);
            out.releases.push(release);
            return Ok(());
        }
        let Some(path) = s["path"].as_str() else {
            // A `ref` source only lends its files to `$ref/...` value files.
            return if s["ref"].is_string() {
                Ok(())
            } else {
                Err(("has neither path nor chart".into(), "set path or chart".into()).into())
            };
        };
        let path = normalise(path)?;
        if s["helm"].is_object() {
            let release = self.release(s, ChartSource::Path(path.clone()), Some(&repo))?;
            self.parameter_overrides(s, &release.name, out);
            out.releases.push(release);
            return Ok(());
        }
        let mut entry = PathConfig {
            pattern: if path.is_empty() { ".".into() } else { path.clone() },
            namespace: self.namespace.map(str::to_string),
            repo: Some(repo),
            ..PathConfig::default()
        };
        if let Some(d) = s["directory"].as_object() {
            if d.get("jsonnet")
                .is_some_and(|j| j.as_object().is_some_and(|o| !o.is_empty()))
            {
                return Err((
                    "directory.jsonnet: Jsonnet is not rendered".into(),
                    "declare the environment by hand with the rendered manifests' path".into(),
                )
                    .into());
            }
            entry.renderer = Some(Renderer::Plain);
            entry.directory = DirectoryConfig {
                recurse: d.get("recurse").and_then(Value::as_bool).unwrap_or(false),
                include: d
                    .get("include")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                exclude: d
                    .get("exclude")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            };
        }
        if let Some(k) = s["kustomize"].as_object() {
            entry.renderer = Some(Renderer::Kustomize);
            let o = kustomize_overrides(k)?;
            if self.live {
                out.overrides.extend(o.images.iter().enumerate().filter_map(|(i, img)| {
                    image_override(
                        self.object,
                        &format!("{}.kustomize.images[{i}]", self.field),
                        img,
                        &path,
                    )
                }));
            }
            entry.kustomize = (o != KustomizeOverrides::default()).then_some(o);
        }
        out.paths.push(entry);
        Ok(())
    }

    /// On a live Application, each `helm.parameters` entry naming an image (`image.tag`,
    /// `image.repository`, …) is an override of the release's images.
    fn parameter_overrides(&self, s: &Value, release: &str, out: &mut Mapped) {
        if !self.live {
            return;
        }
        for (i, p) in s["helm"]["parameters"].as_array().into_iter().flatten().enumerate() {
            let (Some(name), Some(value)) = (p["name"].as_str(), p["value"].as_str()) else {
                continue;
            };
            if !name.to_lowercase().contains("image") || value.is_empty() {
                continue;
            }
            out.overrides.push(ImageOverride {
                object: self.object.to_string(),
                field: format!("{}.helm.parameters[{i}]", self.field),
                value: format!("{name}={value}"),
                target: OverrideTarget::Release(release.to_string()),
                repository: None,
                needle: Some(value.to_string()),
            });
        }
    }

    /// `chart` from `repoURL`: a Helm repository, or an OCI registry (`oci://` or no scheme).
    fn chart_source(&self, repo: &RepoRef, chart: &str) -> ChartSource {
        let version = match &repo.reference {
            GitRef::Revision(v) => Some(v.clone()),
            _ => None,
        };
        match repo.url.strip_prefix("oci://") {
            Some(rest) => ChartSource::Oci {
                reference: format!("{}/{chart}", rest.trim_end_matches('/')),
                version,
            },
            None if !repo.url.contains("://") => ChartSource::Oci {
                reference: format!("{}/{chart}", repo.url.trim_end_matches('/')),
                version,
            },
            None => ChartSource::Repository {
                repo: repo.url.clone(),
                name: chart.to_string(),
                version,
            },
        }
    }

    /// `helm.valueFiles`: the repository of the release's files (a chart of a Helm repository
    /// reads them from the `ref` source's repository), the repository of its `$values/…` files
    /// (a chart directory's value files of another repository), and the files in order.
    fn value_files(&self, helm: &Value, base: &str, git: Option<&RepoRef>) -> Result<ValueFiles, Why> {
        let mut files_repo = git.cloned();
        let mut values_repo: Option<RepoRef> = None;
        let mut values_files = Vec::new();
        for file in helm["valueFiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let Some((reference, rest)) = file.strip_prefix('$').and_then(|r| r.split_once('/')) else {
                values_files.push(normalise(&format!("{base}/{file}"))?);
                continue;
            };
            let r = self.refs.get(reference).ok_or_else(|| {
                (
                    format!("value file {file}: no source has ref {reference:?}"),
                    format!("add a source with ref: {reference}"),
                )
            })?;
            if git.is_none() && files_repo.as_ref().is_none_or(|v| v == r) {
                files_repo = Some(r.clone());
                values_files.push(normalise(rest)?);
            } else if files_repo.as_ref() == Some(r) {
                values_files.push(normalise(rest)?);
            } else if values_repo.as_ref().is_none_or(|v| v == r) {
                values_repo = Some(r.clone());
                values_files.push(format!("{VALUES_REF}{}", normalise(rest)?));
            } else {
                return Err((
                    format!(
                        "value file {file}: value files from more than one repository besides the chart's are not read"
                    ),
                    "keep the value files of this release in one repository, or declare the release by hand".into(),
                )
                    .into());
            }
        }
        Ok(ValueFiles {
            files_repo,
            values_repo,
            files: values_files,
        })
    }

    /// A Helm release: `git` is the repository holding a chart directory (`None` for a chart
    /// of a Helm repository or registry, whose value files come from `$ref` sources).
    fn release(&self, s: &Value, chart: ChartSource, git: Option<&RepoRef>) -> Result<ReleaseConfig, Why> {
        let helm = &s["helm"];
        let name = helm["releaseName"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(self.app)
            .to_string();
        let base = match &chart {
            ChartSource::Path(p) => p.clone(),
            _ => String::new(),
        };
        let ValueFiles {
            files_repo,
            values_repo,
            files: values_files,
        } = self.value_files(helm, &base, git)?;
        let values = helm_values(helm)?;
        let mut set_file = Vec::new();
        for p in helm["fileParameters"].as_array().into_iter().flatten() {
            let (Some(name), Some(file)) = (p["name"].as_str(), p["path"].as_str()) else {
                continue;
            };
            if git.is_none() {
                return Err((
                    format!(
                        "helm.fileParameters {name}: a chart of a Helm repository has no files of the Application's"
                    ),
                    "put the value in helm.valuesObject".into(),
                )
                    .into());
            }
            set_file.push((name.to_string(), normalise(&format!("{base}/{file}"))?));
        }
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        Ok(ReleaseConfig {
            name,
            // `helm.namespace`, else the destination's.
            namespace: text(&helm["namespace"])
                .or_else(|| self.namespace.map(str::to_string))
                .unwrap_or_else(|| "default".into()),
            chart,
            values_files,
            values,
            kube_version: text(&helm["kubeVersion"]),
            api_versions: helm["apiVersions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            engine: None,
            git: files_repo,
            values_repo: values_repo.map(|r| ValuesRepo { repo: Some(r) }),
            ignore_missing_values_files: helm["ignoreMissingValueFiles"].as_bool().unwrap_or(false),
            set_file,
            values_from: None,
        })
    }
}

/// A release's value files and the repositories they are read from.
struct ValueFiles {
    /// The release's files' repository (`git`).
    files_repo: Option<RepoRef>,
    /// The `$values/…` files' repository, when it is another one.
    values_repo: Option<RepoRef>,
    files: Vec<String>,
}

/// `values` (YAML text), then `valuesObject` over it, then each of `parameters` (`a.b=c`, as
/// `--set`; `forceString` keeps the text), as Argo CD hands them to Helm.
fn helm_values(helm: &Value) -> Result<Map<String, Value>, Why> {
    let mut values = Map::new();
    if let Some(text) = helm["values"].as_str().filter(|t| !t.trim().is_empty()) {
        let (docs, err) = safe_yaml::documents(text);
        if let Some(e) = err {
            return Err((
                format!("helm.values is not YAML: {e}"),
                "fix the Application's helm.values".into(),
            )
                .into());
        }
        if let Some(Value::Object(m)) = docs.into_iter().next() {
            merge(&mut values, m);
        }
    }
    if let Some(Value::Object(m)) = helm.get("valuesObject") {
        merge(&mut values, m.clone());
    }
    for p in helm["parameters"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (p["name"].as_str(), p["value"].as_str()) else {
            continue;
        };
        let value = match p["forceString"].as_bool().unwrap_or(false) {
            true => Value::String(value.into()),
            false => scalar(value),
        };
        set_path(&mut values, name, value);
    }
    Ok(values)
}

/// `--set`'s reading of a value: a bool or an integer, else the text.
pub(super) fn scalar(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        t => t
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(t.into())),
    }
}

/// Sets `value` at the dotted `path` (`image.tag`), making the maps on the way, as `--set`.
pub fn set_path(values: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut at = values;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at.insert(part.to_string(), value);
            return;
        }
        let slot = at.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        at = slot.as_object_mut().expect("just made an object");
    }
}

/// Helm's coalescing: maps merge key by key, anything else replaces.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    crate::config::merge_values(into, from);
}

fn kustomize_overrides(k: &Map<String, Value>) -> Result<KustomizeOverrides, Why> {
    if k.get("components")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        return Err((
            "kustomize.components are not applied yet".into(),
            "list the components in the kustomization itself, or declare the environment by hand".into(),
        )
            .into());
    }
    let strings = |key: &str| -> BTreeMap<String, String> {
        k.get(key)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(a, b)| Some((a.clone(), b.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |key: &str| {
        k.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut replicas = Vec::new();
    for r in k.get("replicas").and_then(Value::as_array).into_iter().flatten() {
        let count = r["count"]
            .as_i64()
            .or_else(|| r["count"].as_str().and_then(|c| c.parse().ok()));
        match (r["name"].as_str(), count) {
            (Some(n), Some(c)) => replicas.push((n.to_string(), c)),
            _ => {
                return Err((
                    format!("kustomize.replicas entry {r} needs a name and a count"),
                    "fix the Application".into(),
                )
                    .into());
            }
        }
    }
    Ok(KustomizeOverrides {
        images: k
            .get("images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        name_prefix: text("namePrefix"),
        name_suffix: text("nameSuffix"),
        namespace: text("namespace"),
        common_labels: strings("commonLabels"),
        common_annotations: strings("commonAnnotations"),
        patches: k.get("patches").and_then(Value::as_array).cloned().unwrap_or_default(),
        replicas,
        ..KustomizeOverrides::default()
    })
}

/// An override of `kustomize.images`: the image it makes containers run.
pub(super) fn image_override(object: &str, field: &str, arg: &str, path: &str) -> Option<ImageOverride> {
    let entry = crate::core::kustomize_edit::image_entry(arg).ok()?;
    let name = entry["newName"].as_str().or(entry["name"].as_str())?;
    let repository = ImageRef::parse(name).ok().map(|i| i.name());
    let needle = entry["digest"]
        .as_str()
        .or(entry["newTag"].as_str())
        .map(str::to_string);
    Some(ImageOverride {
        object: object.to_string(),
        field: field.to_string(),
        value: arg.to_string(),
        target: OverrideTarget::Path(path.to_string()),
        repository,
        needle,
    })
}

/// A repository path as driftwatch writes it: no `./`, no trailing `/`, `..` resolved; one
/// that leaves the repository (`../../etc/passwd`) is not mapped, since the files it names are
/// not the repository's.
pub(super) fn normalise(path: &str) -> Result<String, Why> {
    let p = path.trim().trim_start_matches("./").trim_end_matches('/');
    kustomize::files::join("", p).map_err(|_| {
        Why::from((
            format!("path {path:?} leaves the repository"),
            "give a path inside the repository".to_string(),
        ))
    })
}

#[cfg(test)]
#[path = "argocd_tests.rs"]
mod tests;
