//! Flux objects → environment sources. Pure: a Kustomization's or HelmRelease's JSON in, with
//! the sources (`GitRepository`, `OCIRepository`, `HelmRepository`, `HelmChart`) and the
//! ConfigMaps and Secrets it names as they were read; the environment it belongs to and its
//! path or release out, or why it is not mapped. Field names and defaults are Flux's
//! (kustomize-controller `api/v1`, helm-controller `api/v2`, source-controller `api/v1`): a
//! `sourceRef` without a namespace is in the object's, a GitRepository without `ref` follows
//! `master`, a Kustomization without `path` builds the repository root, a HelmRelease's release
//! name is `[<targetNamespace>-]<name>` (shortened past 53 characters as helm-controller does),
//! and `valuesFrom` reads `values.yaml` unless `valuesKey` says otherwise.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::argocd::{Mapped, Unmapped, image_override, normalise, scalar, set_path, unmapped};
use crate::config::{
    ArtifactAt, ArtifactRef, ChartSource, ClusterConfig, DestinationConfig, EnvironmentFrom, GitRef,
    KustomizeOverrides, PathConfig, ReleaseConfig, Renderer, RepoRef, SourceIgnoreConfig, Substitution, ValuesFrom,
};
use crate::core::model::{ControllerStatus, ControllerView, FluxStatus, OverrideTarget};

/// A Flux object by kind, namespace and name.
pub type Key = (String, String, String);

/// What reading a ConfigMap or Secret gave: its data (a Secret's decoded), or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    Data(BTreeMap<String, String>),
    NotFound,
    /// A 403 or another failure: the sentence says what to grant.
    Refused(String),
}

/// What mapping a Flux object needs besides the object.
pub struct Context<'a> {
    pub environment_from: &'a EnvironmentFrom,
    /// `[[discovery.clusters]]`: a `kubeConfig.secretRef` name → the cluster.
    pub destinations: &'a [DestinationConfig],
    /// The cluster Flux runs in (`[discovery.flux] cluster`): where objects without
    /// `kubeConfig` apply.
    pub cluster: Option<&'a ClusterConfig>,
    /// The source objects found with it (from the same cluster, or the same git files).
    pub sources: &'a BTreeMap<Key, Value>,
    /// The ConfigMaps and Secrets `substituteFrom`/`valuesFrom` name, as read; absent: not
    /// read (the objects came from git and no cluster is configured).
    pub objects: &'a BTreeMap<Key, Read>,
    /// Listed from the cluster: Flux's view of it goes into findings.
    pub live: bool,
}

/// The kinds that are deployed from: Kustomization and HelmRelease.
pub fn is_deployer(doc: &Value) -> bool {
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    (doc["kind"] == "Kustomization" && api.starts_with("kustomize.toolkit.fluxcd.io/"))
        || (doc["kind"] == "HelmRelease" && api.starts_with("helm.toolkit.fluxcd.io/"))
}

/// Source objects (`source.toolkit.fluxcd.io`): what `sourceRef`s resolve to.
pub fn is_source(doc: &Value) -> bool {
    doc["apiVersion"]
        .as_str()
        .is_some_and(|a| a.starts_with("source.toolkit.fluxcd.io/"))
}

/// `(kind, namespace, name)` of an object.
pub fn key(doc: &Value) -> Key {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        text(&doc["kind"]),
        text(&doc["metadata"]["namespace"]),
        text(&doc["metadata"]["name"]),
    )
}

/// The ConfigMaps and Secrets `substituteFrom`/`valuesFrom` of `doc` name (in its namespace).
pub fn object_refs(doc: &Value) -> Vec<Key> {
    let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
    let spec = &doc["spec"];
    spec["postBuild"]["substituteFrom"]
        .as_array()
        .into_iter()
        .chain(spec["valuesFrom"].as_array())
        .flatten()
        .filter_map(|r| {
            let kind = r["kind"].as_str().filter(|k| matches!(*k, "ConfigMap" | "Secret"))?;
            Some((kind.to_string(), ns.to_string(), r["name"].as_str()?.to_string()))
        })
        .collect()
}

use super::Why;

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// Maps one Kustomization or HelmRelease.
pub fn map(doc: &Value, cx: &Context<'_>) -> Result<Mapped, Unmapped> {
    let kind = doc["kind"].as_str().unwrap_or_default();
    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
    let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
    let object = format!("{kind} {ns}/{name}");
    if name.is_empty() {
        return Err(unmapped(&object, "has no metadata.name", "name the object"));
    }
    let at = Object {
        doc,
        object: &object,
        name,
        ns,
        cx,
    };
    let cluster = at
        .cluster()
        .map_err(|Why { reason, fix }| unmapped(&object, reason, fix))?;
    let environment = environment_name(doc, &cluster, cx.environment_from).ok_or_else(|| {
        unmapped(
            &object,
            format!("has no {} to name its environment", cx.environment_from),
            format!(
                "set it, or change discovery.flux.environment_from (now {})",
                cx.environment_from
            ),
        )
    })?;
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
    let done = if kind == "Kustomization" {
        at.kustomization(&mut mapped)
    } else {
        at.helm_release(&mut mapped)
    };
    done.map_err(|Why { reason, fix }| unmapped(&object, reason, fix))?;
    if cx.live {
        mapped.controller = Some(controller_view(doc, &object, &mapped));
    }
    Ok(mapped)
}

fn environment_name(doc: &Value, cluster: &ClusterConfig, from: &EnvironmentFrom) -> Option<String> {
    let meta = &doc["metadata"];
    match from {
        EnvironmentFrom::Name => text(&meta["name"]),
        EnvironmentFrom::Label(k) => text(&meta["labels"][k]),
        EnvironmentFrom::Annotation(k) => text(&meta["annotations"][k]),
        EnvironmentFrom::Destination | EnvironmentFrom::Project => Some(cluster.name.clone()),
    }
}

/// What Flux reports: the revision last applied (a HelmRelease's chart version) and `Ready`.
fn controller_view(doc: &Value, object: &str, m: &Mapped) -> ControllerView {
    let status = &doc["status"];
    let ready = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    let revision = text(&status["lastAppliedRevision"])
        .or_else(|| text(&status["history"][0]["chartVersion"]))
        .or_else(|| text(&status["lastAttemptedRevision"]));
    let targets = m
        .paths
        .iter()
        .map(|p| OverrideTarget::Path(p.pattern.clone()))
        .chain(m.releases.iter().map(|r| OverrideTarget::Release(r.name.clone())))
        .collect();
    ControllerView {
        status: ControllerStatus::Flux(FluxStatus {
            object: object.to_string(),
            revision,
            ready: ready.and_then(|c| text(&c["status"])),
            reason: ready.and_then(|c| text(&c["reason"])),
        }),
        targets,
    }
}

/// helm-controller's `ShortenName`: a name longer than 53 characters is its first 40, `-` and
/// the first 12 hex digits of its SHA-256.
pub fn shorten_release_name(name: &str) -> String {
    use sha2::Digest as _;
    if name.len() <= 53 {
        return name.to_string();
    }
    let sum = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}-{}", &name[..40], &sum[..12])
}

/// One object being mapped.
struct Object<'a> {
    doc: &'a Value,
    object: &'a str,
    name: &'a str,
    ns: &'a str,
    cx: &'a Context<'a>,
}

impl Object<'_> {
    /// Where it applies: the cluster a `kubeConfig.secretRef` names (through
    /// `[[discovery.clusters]]` by `name`), else the one Flux runs in.
    fn cluster(&self) -> Result<ClusterConfig, Why> {
        if let Some(secret) = text(&self.doc["spec"]["kubeConfig"]["secretRef"]["name"]) {
            return self
                .cx
                .destinations
                .iter()
                .find(|d| d.name.as_deref() == Some(&secret))
                .map(|d| d.cluster.clone())
                .ok_or_else(|| {
                    Why::from((
                        format!("applies to the cluster of kubeConfig secret {}/{secret}, which is not a configured cluster", self.ns),
                        format!("add [[discovery.clusters]] with name = {secret:?} and the kubeconfig driftwatch reaches that cluster with"),
                    ))
                });
        }
        self.cx.cluster.cloned().ok_or_else(|| {
            Why::from((
                "applies to the cluster Flux runs in, and discovery.flux.cluster is not set".into(),
                "set [discovery.flux] cluster to the cluster Flux runs in".into(),
            ))
        })
    }

    /// A source object `sourceRef` (or `chartRef`) names: its kind, and the object.
    fn source(&self, r: &Value, field: &str) -> Result<(String, Value), Why> {
        let kind = text(&r["kind"]).unwrap_or_else(|| "GitRepository".into());
        let name = text(&r["name"]).ok_or_else(|| (format!("{field} has no name"), format!("set {field}.name")))?;
        let ns = text(&r["namespace"]).unwrap_or_else(|| self.ns.to_string());
        if kind == "Bucket" {
            return Err((
                format!("{field}: Bucket sources are not supported (driftwatch reads git repositories)"),
                "declare the environment by hand with the manifests' path in git".into(),
            )
                .into());
        }
        let found = self.cx.sources.get(&(kind.clone(), ns.clone(), name.clone())).ok_or_else(|| {
            (
                format!("{field} {kind} {ns}/{name} is not found"),
                "list it from the cluster (discovery.flux.cluster), or commit it in the files discovery.flux.paths selects".into(),
            )
        })?;
        Ok((kind, found.clone()))
    }

    /// A GitRepository's URL and the revision driftwatch reads.
    fn git_repo(&self, repo: &Value, field: &str) -> Result<RepoRef, Why> {
        let url = text(&repo["spec"]["url"]).ok_or_else(|| {
            (
                format!("{field}: the GitRepository has no spec.url"),
                "set the GitRepository's url".into(),
            )
        })?;
        let r = &repo["spec"]["ref"];
        // `main@sha1:4f2a…` (Flux 2), `main/4f2a…` (before): the commit source-controller fetched.
        let fetched = text(&repo["status"]["artifact"]["revision"])
            .and_then(|rev| rev.rsplit([':', '/']).next().map(str::to_string))
            .filter(|c| c.len() >= 7 && c.chars().all(|c| c.is_ascii_hexdigit()));
        let reference = if let Some(c) = text(&r["commit"]) {
            GitRef::Rev(c)
        } else if let Some(n) = text(&r["name"]) {
            match (n.strip_prefix("refs/heads/"), n.strip_prefix("refs/tags/"), &fetched) {
                (Some(b), _, _) => GitRef::Branch(b.into()),
                (_, Some(t), _) => GitRef::Rev(t.into()),
                (_, _, Some(c)) => GitRef::Rev(c.clone()),
                _ => {
                    return Err((
                        format!("{field}: ref.name {n} is not a branch or tag, and the GitRepository reports no fetched commit"),
                        "list the GitRepository from the cluster (its status.artifact.revision names the commit), or pin ref.commit".into(),
                    ).into());
                }
            }
        } else if let Some(semver) = text(&r["semver"]) {
            match fetched {
                Some(c) => GitRef::Rev(c),
                None => {
                    return Err((
                        format!("{field}: ref.semver {semver} is a range of tags driftwatch does not resolve, and the GitRepository reports no fetched commit"),
                        "list the GitRepository from the cluster (its status.artifact.revision names the commit), or pin ref.tag".into(),
                    ).into());
                }
            }
        } else if let Some(t) = text(&r["tag"]) {
            GitRef::Rev(t)
        } else {
            GitRef::Branch(text(&r["branch"]).unwrap_or_else(|| "master".into()))
        };
        Ok(RepoRef { url, reference })
    }

    /// An OCIRepository's artifact as source-controller pulls it: `ref.digest`, else the tag
    /// `ref.semver` picked (the digest its `status.artifact.revision` names), else `ref.tag`,
    /// else `latest`; the layer `layerSelector.mediaType` names, else the first.
    fn oci_artifact(&self, repo: &Value, field: &str) -> Result<ArtifactRef, Why> {
        let spec = &repo["spec"];
        let url = text(&spec["url"]).ok_or_else(|| {
            (
                format!("{field}: the OCIRepository has no spec.url"),
                "set the OCIRepository's url".into(),
            )
        })?;
        let repository = url
            .strip_prefix("oci://")
            .map(|r| r.trim_end_matches('/').to_string())
            .filter(|r| r.contains('/') && !r.rsplit('/').next().unwrap_or_default().contains(':'))
            .ok_or_else(|| {
                (
                    format!("{field}: the OCIRepository's url {url} is not oci://<host>/<repository> without a tag"),
                    "fix the OCIRepository's url (Flux refuses it too)".into(),
                )
            })?;
        let selector = &spec["layerSelector"];
        // `copy` keeps the layer's tar.gz as the artifact, which kustomize-controller
        // extracts as it extracts what `extract` re-packs: the same files.
        if let Some(op) = text(&selector["operation"]).filter(|o| o != "extract" && o != "copy") {
            return Err((
                format!("{field}: the OCIRepository's layerSelector.operation {op} is not extract or copy"),
                "fix the OCIRepository (source-controller refuses it too)".into(),
            )
                .into());
        }
        let r = &spec["ref"];
        // `<tag>@sha256:<hex>` (Flux 2.1+), `sha256:<hex>`: what source-controller pulled.
        let pulled = text(&repo["status"]["artifact"]["revision"])
            .and_then(|rev| rev.rsplit('@').next().map(str::to_string))
            .filter(|d| crate::config::is_sha256(d));
        let at = if let Some(d) = text(&r["digest"]) {
            ArtifactAt::Digest(d)
        } else if let Some(semver) = text(&r["semver"]) {
            match pulled {
                Some(d) => ArtifactAt::Digest(d),
                None => {
                    return Err((
                        format!("{field}: ref.semver {semver} is a range of tags driftwatch does not resolve, and the OCIRepository reports no pulled digest"),
                        "list the OCIRepository from the cluster (its status.artifact.revision names the digest), or pin ref.tag or ref.digest".into(),
                    ).into());
                }
            }
        } else {
            ArtifactAt::Tag(text(&r["tag"]).unwrap_or_else(|| "latest".into()))
        };
        Ok(ArtifactRef {
            repository,
            at,
            media_type: text(&selector["mediaType"]),
        })
    }

    fn kustomization(&self, out: &mut Mapped) -> Result<(), Why> {
        let spec = &self.doc["spec"];
        let (kind, source) = self.source(&spec["sourceRef"], "spec.sourceRef")?;
        let (repo, artifact) = match kind.as_str() {
            "GitRepository" => (Some(self.git_repo(&source, "spec.sourceRef")?), None),
            "OCIRepository" => (None, Some(self.oci_artifact(&source, "spec.sourceRef")?)),
            other => {
                return Err((
                    format!("spec.sourceRef kind {other} is not a GitRepository, an OCIRepository or a Bucket"),
                    "fix the Kustomization's sourceRef".into(),
                )
                    .into());
            }
        };
        let path = normalise(spec["path"].as_str().unwrap_or_default())?;
        let pattern = if path.is_empty() { ".".to_string() } else { path };
        let target = text(&spec["targetNamespace"]);
        let mut images = Vec::new();
        for (i, img) in spec["images"].as_array().into_iter().flatten().enumerate() {
            let arg = image_arg(img).ok_or_else(|| {
                (
                    format!("spec.images[{i}] has no name"),
                    "give each images entry its name".into(),
                )
            })?;
            out.overrides.extend(image_override(
                self.object,
                &format!("spec.images[{i}]"),
                &arg,
                &pattern,
            ));
            images.push(arg);
        }
        let overrides = KustomizeOverrides {
            images,
            name_prefix: text(&spec["namePrefix"]),
            name_suffix: text(&spec["nameSuffix"]),
            namespace: target.clone(),
            patches: spec["patches"].as_array().cloned().unwrap_or_default(),
            components: spec["components"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
            generate: true,
            merge_images: true,
            patches_strategic_merge: spec["patchesStrategicMerge"].as_array().cloned().unwrap_or_default(),
            patches_json6902: spec["patchesJson6902"].as_array().cloned().unwrap_or_default(),
            ignore_missing_components: spec["ignoreMissingComponents"].as_bool().unwrap_or(false),
            // source-controller filters what it archives, not an OCI layer it copies.
            source_ignore: (source["spec"]["layerSelector"]["operation"] != "copy").then(|| SourceIgnoreConfig {
                spec_ignore: text(&source["spec"]["ignore"]),
            }),
            ..KustomizeOverrides::default()
        };
        out.paths.push(PathConfig {
            pattern,
            namespace: target,
            repo,
            artifact,
            renderer: Some(Renderer::Kustomize),
            kustomize: Some(overrides),
            substitute: self.substitution(&spec["postBuild"]),
            ..PathConfig::default()
        });
        Ok(())
    }

    /// `postBuild`: `substituteFrom` objects' data in order, then `substitute` over them.
    fn substitution(&self, post: &Value) -> Option<Substitution> {
        let inline = post["substitute"].as_object();
        let from = post["substituteFrom"].as_array();
        if inline.is_none_or(Map::is_empty) && from.is_none_or(Vec::is_empty) {
            return None;
        }
        let mut s = Substitution::default();
        for r in from.into_iter().flatten() {
            let Some(data) = self.read(r, "spec.postBuild.substituteFrom", &mut s.sources, &mut s.refused) else {
                continue;
            };
            s.data.extend(data);
        }
        for (k, v) in inline.into_iter().flatten() {
            let v = match v {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            s.data.insert(k.clone(), v);
        }
        Some(s)
    }

    /// The data of the ConfigMap or Secret `r` names, noting where it came from or why it was
    /// not read (a missing `optional` one is nothing).
    fn read(
        &self,
        r: &Value,
        field: &str,
        sources: &mut Vec<String>,
        refused: &mut Option<String>,
    ) -> Option<BTreeMap<String, String>> {
        let kind = text(&r["kind"]).unwrap_or_default();
        let name = text(&r["name"]).unwrap_or_default();
        let shown = format!("{kind} {}/{name}", self.ns);
        let why = match self.cx.objects.get(&(kind.clone(), self.ns.to_string(), name.clone())) {
            Some(Read::Data(d)) => {
                sources.push(shown);
                return Some(d.clone());
            }
            Some(Read::NotFound) if r["optional"].as_bool().unwrap_or(false) => return None,
            Some(Read::NotFound) => format!(
                "{field}: {shown} is not found (Flux cannot reconcile {} either)",
                self.object
            ),
            Some(Read::Refused(reason)) => format!("{field}: {shown}: {reason}"),
            None => {
                format!("{field}: {shown} is not read: ConfigMaps and Secrets are read from discovery.flux.cluster")
            }
        };
        refused.get_or_insert(why);
        None
    }

    fn helm_release(&self, out: &mut Mapped) -> Result<(), Why> {
        let spec = &self.doc["spec"];
        // Other post-renderers (labels, patches) leave what runs alone; images do not.
        if let Some(i) = spec["postRenderers"]
            .as_array()
            .into_iter()
            .flatten()
            .position(|p| p["kustomize"]["images"].as_array().is_some_and(|l| !l.is_empty()))
        {
            return Err((
                format!(
                    "spec.postRenderers[{i}].kustomize.images: post-renderers are not applied by driftwatch, and these change the images"
                ),
                "set the images in the HelmRelease's values, or declare the release by hand".into(),
            ).into());
        }
        let target = text(&spec["targetNamespace"]);
        let namespace = target.clone().unwrap_or_else(|| self.ns.to_string());
        let name = text(&spec["releaseName"]).unwrap_or_else(|| match &target {
            Some(t) => format!("{t}-{}", self.name),
            None => self.name.to_string(),
        });
        let (chart, git, values_files) = self.chart(spec)?;
        let mut values = Map::new();
        if let Some(v) = spec["values"].as_object() {
            values = v.clone();
        }
        out.releases.push(ReleaseConfig {
            name: shorten_release_name(&name),
            namespace,
            chart,
            values_files,
            values,
            kube_version: None,
            api_versions: Vec::new(),
            engine: None,
            git,
            ignore_missing_values_files: false,
            set_file: Vec::new(),
            values_from: self.values_from(&spec["valuesFrom"])?,
            values_repo: None,
        });
        Ok(())
    }

    /// The chart (`chart.spec`, or `chartRef`), the repository of a chart directory, and the
    /// values files.
    fn chart(&self, spec: &Value) -> Result<(ChartSource, Option<RepoRef>, Vec<String>), Why> {
        if spec["chartRef"].is_object() {
            let (kind, source) = self.source(&spec["chartRef"], "spec.chartRef")?;
            return match kind.as_str() {
                "OCIRepository" => Ok((self.oci_chart(&source)?, None, Vec::new())),
                "HelmChart" => self.chart_spec(&source["spec"], "spec.chartRef (HelmChart spec)"),
                other => Err((
                    format!("spec.chartRef kind {other} is not an OCIRepository or a HelmChart"),
                    "fix the HelmRelease's chartRef".into(),
                )
                    .into()),
            };
        }
        if !spec["chart"]["spec"].is_object() {
            return Err((
                "has neither spec.chart.spec nor spec.chartRef".into(),
                "give the HelmRelease its chart".into(),
            )
                .into());
        }
        self.chart_spec(&spec["chart"]["spec"], "spec.chart.spec")
    }

    /// A chart template (`chart.spec`, a HelmChart's `spec`): `chart` of a HelmRepository, or
    /// a chart directory of a GitRepository.
    fn chart_spec(&self, c: &Value, field: &str) -> Result<(ChartSource, Option<RepoRef>, Vec<String>), Why> {
        let chart = text(&c["chart"]).ok_or_else(|| (format!("{field} has no chart"), format!("set {field}.chart")))?;
        let version = text(&c["version"]).filter(|v| v != "*");
        let files: Vec<String> = c["valuesFiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(normalise))
            .collect::<Result<_, _>>()?;
        let (kind, source) = self.source(&c["sourceRef"], &format!("{field}.sourceRef"))?;
        match kind.as_str() {
            "GitRepository" => {
                let repo = self.git_repo(&source, &format!("{field}.sourceRef"))?;
                Ok((ChartSource::Path(normalise(&chart)?), Some(repo), files))
            }
            "HelmRepository" => {
                if !files.is_empty() {
                    return Err((
                        format!("{field}.valuesFiles: files inside a chart of a Helm repository are not read"),
                        "put those values in the HelmRelease's values".into(),
                    )
                        .into());
                }
                let url = text(&source["spec"]["url"]).ok_or_else(|| {
                    (
                        format!("{field}.sourceRef: the HelmRepository has no spec.url"),
                        "set the HelmRepository's url".into(),
                    )
                })?;
                let oci = source["spec"]["type"] == "oci" || url.starts_with("oci://");
                Ok((
                    if oci {
                        ChartSource::Oci {
                            reference: format!("{}/{chart}", url.trim_start_matches("oci://").trim_end_matches('/')),
                            version,
                        }
                    } else {
                        ChartSource::Repository {
                            repo: url,
                            name: chart,
                            version,
                        }
                    },
                    None,
                    Vec::new(),
                ))
            }
            other => Err((
                format!("{field}.sourceRef kind {other} is not a HelmRepository or a GitRepository"),
                "fix the chart's sourceRef".into(),
            )
                .into()),
        }
    }

    /// An OCIRepository holding a chart: `oci://host/path/chart` at its `ref.tag` (or
    /// `ref.semver`).
    fn oci_chart(&self, source: &Value) -> Result<ChartSource, Why> {
        let url = text(&source["spec"]["url"]).ok_or_else(|| {
            (
                "spec.chartRef: the OCIRepository has no spec.url".to_string(),
                "set the OCIRepository's url".to_string(),
            )
        })?;
        let r = &source["spec"]["ref"];
        if r["digest"].is_string() {
            return Err((
                "spec.chartRef: an OCIRepository pinned by ref.digest is not fetched by driftwatch (charts are fetched by version)".into(),
                "pin ref.tag to the chart version".into(),
            ).into());
        }
        Ok(ChartSource::Oci {
            reference: url.trim_start_matches("oci://").trim_end_matches('/').to_string(),
            version: text(&r["tag"]).or_else(|| text(&r["semver"])),
        })
    }

    /// `valuesFrom`, merged in order: a key's YAML merged in, or its text set at `targetPath`.
    fn values_from(&self, list: &Value) -> Result<Option<ValuesFrom>, Why> {
        let Some(list) = list.as_array().filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let mut v = ValuesFrom::default();
        for (i, r) in list.iter().enumerate() {
            let field = format!("spec.valuesFrom[{i}]");
            let Some(data) = self.read(r, &field, &mut v.sources, &mut v.refused) else {
                continue;
            };
            let key = text(&r["valuesKey"]).unwrap_or_else(|| "values.yaml".into());
            let Some(content) = data.get(&key) else {
                if !r["optional"].as_bool().unwrap_or(false) {
                    v.refused.get_or_insert(format!(
                        "{field}: {} has no key {key} (Flux cannot reconcile {} either)",
                        v.sources.last().cloned().unwrap_or_default(),
                        self.object
                    ));
                }
                continue;
            };
            match text(&r["targetPath"]) {
                Some(path) => set_path(&mut v.data, &path, scalar(content)),
                None => {
                    let (docs, err) = safe_yaml::documents(content);
                    if err.is_some() {
                        // The source is named, never its content: it may be a Secret's.
                        return Err((
                            format!(
                                "{field}: key {key} of {} is not YAML",
                                v.sources.last().cloned().unwrap_or_default()
                            ),
                            "fix the values in that object".into(),
                        )
                            .into());
                    }
                    if let Some(Value::Object(m)) = docs.into_iter().next() {
                        crate::config::merge_values(&mut v.data, m);
                    }
                }
            }
        }
        Ok(Some(v))
    }
}

/// A Flux `images` entry (`name`, `newName`, `newTag`, `digest`) as `kustomize edit set image`
/// takes it.
fn image_arg(img: &Value) -> Option<String> {
    let name = text(&img["name"])?;
    let mut arg = match text(&img["newName"]) {
        Some(new) => format!("{name}={new}"),
        None => name,
    };
    if let Some(tag) = text(&img["newTag"]) {
        arg = format!("{arg}:{tag}");
    }
    if let Some(d) = text(&img["digest"]) {
        arg = format!("{arg}@{d}");
    }
    Some(arg)
}

#[cfg(test)]
#[path = "flux_tests.rs"]
mod tests;
