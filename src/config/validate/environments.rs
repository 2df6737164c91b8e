//! `[[environments]]`: each environment's paths, renderer, policy and cluster.

use super::Validator;
use crate::config::raw::{RawCluster, RawEnvironment, RawPath, RawPathEntry, RawToggle};
use crate::config::{
    ArtifactAt, ArtifactRef, ClusterConfig, ClusterSource, CompareConfigMaps, ConfigError, DirectoryConfig,
    EnvironmentConfig, GitRef, KustomizeOverrides, PathConfig, Renderer, RepoRef, is_sha256,
};

impl Validator<'_> {
    /// At least one environment, names unique, `promoted_from` naming another one.
    pub(super) fn environments(
        &self,
        raw: Vec<RawEnvironment>,
        discovery: bool,
    ) -> Result<Vec<EnvironmentConfig>, ConfigError> {
        if raw.is_empty() && !discovery {
            return Err(self.invalid("environments", "at least one [[environments]] entry is required"));
        }
        let mut environments: Vec<EnvironmentConfig> = Vec::new();
        for (i, e) in raw.into_iter().enumerate() {
            // Each environment on its own, so one run names the problems of all of them.
            let Some(env) = self.keep(self.environment(i, e)) else {
                continue;
            };
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
            // The history walk renders releases from the chart directories at each commit; a
            // fetched chart is the config's, not the history's: its digests would look never
            // declared.
            let fetched = |name: &str| {
                environments
                    .iter()
                    .filter(|x| x.name == name)
                    .flat_map(|x| &x.releases)
                    .find(|r| !matches!(r.chart, super::super::ChartSource::Path(_)))
                    .map(|r| (name.to_string(), r.name.clone()))
            };
            if let Some((from, _)) = &e.promoted_from
                && let Some((env, release)) = fetched(&e.name).or_else(|| fetched(from))
            {
                return Err(self.invalid(
                    format!("environments[{i}].promoted_from"),
                    format!(
                        "promotion lineage renders Helm releases from chart directories at each commit; release {release:?} of {env:?} takes its chart from a Helm repository or registry, which has no history"
                    ),
                ));
            }
        }
        Ok(environments)
    }

    fn environment(&self, i: usize, e: RawEnvironment) -> Result<EnvironmentConfig, ConfigError> {
        let at = |k: &str| format!("environments[{i}].{k}");
        if e.name.trim().is_empty() {
            return Err(self.invalid(at("name"), "is empty"));
        }
        let renderer = self
            .renderer(&at("renderer"), e.renderer.as_deref())?
            .unwrap_or(Renderer::Auto);
        // A Helm environment may list paths beside its releases (rendered as with `auto`).
        let paths = match renderer {
            Renderer::Helm if e.paths.is_empty() => Vec::new(),
            _ => self.paths(i, &e.name, e.paths)?,
        };
        let engine = self.engine(&at("engine"), e.engine.as_deref())?;
        let namespace = e
            .namespace
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let releases = self.releases(i, renderer, &namespace, e.releases)?;
        let cluster = self.cluster(i, &e.name, e.cluster)?;
        Ok(EnvironmentConfig {
            paths,
            renderer,
            namespace,
            require_digest: e.require_digest.unwrap_or(true),
            ignore_containers: e.ignore_containers,
            allowed_sources: e.allowed_sources,
            promoted_from: e.promoted_from.map(|from| (from, e.lineage_depth.unwrap_or(500))),
            compare_secrets: e.compare_secrets.unwrap_or(false),
            compare_configmaps: match e.compare_configmaps {
                None => CompareConfigMaps::Auto,
                Some(RawToggle::Bool(true)) => CompareConfigMaps::Always,
                Some(RawToggle::Bool(false)) => CompareConfigMaps::Never,
                Some(RawToggle::Word(w)) if w == "auto" => CompareConfigMaps::Auto,
                Some(RawToggle::Word(w)) => {
                    return Err(self.invalid(
                        format!("environments[{i}].compare_configmaps"),
                        format!("{w:?} is not one of \"auto\", true, false"),
                    ));
                }
            },
            cluster,
            engine,
            releases,
            overrides: Vec::new(),
            controller: Vec::new(),
            name: e.name,
        })
    }

    /// Promotion lineage walks one repository's history (the one an environment's sources are
    /// in): an environment and the one it is promoted from must be declared in the same
    /// repository, each in one. Checked once every source's repository is known.
    pub(super) fn promotion_repositories(&self, environments: &[EnvironmentConfig]) {
        let name = |r: Option<&crate::config::RepoRef>| {
            r.map_or_else(|| "the [gitops] repository".to_string(), ToString::to_string)
        };
        let spread = |x: &EnvironmentConfig| {
            let home = x.history_repository();
            x.paths.iter().any(|p| p.repo.as_ref() != home) || x.releases.iter().any(|r| r.git.as_ref() != home)
        };
        for (i, e) in environments.iter().enumerate() {
            let Some((from, _)) = &e.promoted_from else { continue };
            let Some(upstream) = environments.iter().find(|x| x.name == *from) else {
                continue;
            };
            let reason = if let Some(x) = [e, upstream].into_iter().find(|x| spread(x)) {
                format!(
                    "environment {} reads more than one repository; promotion lineage walks one repository's history",
                    x.name
                )
            } else if e.history_repository() != upstream.history_repository() {
                format!(
                    "{from} is declared in {} and {} in {}; promotion lineage walks one repository's history",
                    name(upstream.history_repository()),
                    e.name,
                    name(e.history_repository())
                )
            } else {
                continue;
            };
            self.record(self.invalid(format!("environments[{i}].promoted_from"), reason));
        }
    }

    /// A `renderer` key: `auto`, `kustomize`, `plain` or `helm`.
    fn renderer(&self, key: &str, value: Option<&str>) -> Result<Option<Renderer>, ConfigError> {
        Ok(Some(match value {
            None => return Ok(None),
            Some("auto") => Renderer::Auto,
            Some("kustomize") => Renderer::Kustomize,
            Some("plain") => Renderer::Plain,
            Some("helm") => Renderer::Helm,
            Some(other) => {
                return Err(self.invalid(key, format!("{other:?} is not one of auto, kustomize, plain, helm")));
            }
        }))
    }

    /// `repo` + `revision` of a source: `None` for the `[gitops]` repository at its ref.
    pub(super) fn repo_ref(
        &self,
        key: &str,
        repo: Option<String>,
        revision: Option<String>,
    ) -> Result<Option<RepoRef>, ConfigError> {
        let reference = |r: Option<String>| match r.as_deref().map(str::trim) {
            None | Some("" | "HEAD") => GitRef::DefaultBranch,
            Some(r) => GitRef::Revision(r.to_string()),
        };
        match (repo, revision) {
            (Some(url), _) if url.trim().is_empty() => Err(self.invalid(format!("{key}.repo"), "is empty")),
            (Some(url), revision) => Ok(Some(RepoRef {
                url,
                reference: reference(revision),
            })),
            // A revision of the default repository: its URL is filled in once `[gitops]` is read.
            (None, Some(revision)) => Ok(Some(RepoRef {
                url: String::new(),
                reference: reference(Some(revision)),
            })),
            (None, None) => Ok(None),
        }
    }

    /// `oci_artifact` + `oci_tag`/`oci_digest` + `oci_media_type` of a path: `None` for a path in
    /// git. An artifact is not also in a git repository, and is named by one tag or digest.
    fn artifact(&self, key: &str, p: &RawPath) -> Result<Option<ArtifactRef>, ConfigError> {
        let Some(url) = p.oci_artifact.as_deref() else {
            for (k, v) in [
                ("oci_tag", &p.oci_tag),
                ("oci_digest", &p.oci_digest),
                ("oci_media_type", &p.oci_media_type),
            ] {
                if v.is_some() {
                    return Err(self.invalid(format!("{key}.{k}"), "is set without oci_artifact"));
                }
            }
            return Ok(None);
        };
        let k = format!("{key}.oci_artifact");
        if p.repo.is_some() || p.revision.is_some() {
            return Err(self.invalid(
                k,
                "is an OCI artifact, not a git repository: set it or repo/revision, not both",
            ));
        }
        let repository = artifact_repository(url).map_err(|reason| self.invalid(&k, reason.to_string()))?;
        let at = match (&p.oci_tag, &p.oci_digest) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(format!("{key}.oci_digest"), "set oci_tag or oci_digest, not both"));
            }
            (_, Some(d)) if !is_sha256(d) => {
                return Err(self.invalid(
                    format!("{key}.oci_digest"),
                    format!("{d:?} is not sha256:<64 hex digits>"),
                ));
            }
            (_, Some(d)) => ArtifactAt::Digest(d.clone()),
            (Some(t), None) if !is_tag(t) => {
                return Err(self.invalid(format!("{key}.oci_tag"), format!("{t:?} is not an OCI tag")));
            }
            (Some(t), None) => ArtifactAt::Tag(t.clone()),
            (None, None) => ArtifactAt::Tag("latest".into()),
        };
        if p.oci_media_type.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(self.invalid(format!("{key}.oci_media_type"), "is empty"));
        }
        Ok(Some(ArtifactRef {
            repository,
            at,
            media_type: p.oci_media_type.clone(),
        }))
    }

    /// Globs relative to the repository root that stay inside it, each with its namespace,
    /// repository, renderer and overrides.
    fn paths(&self, i: usize, name: &str, paths: Vec<RawPathEntry>) -> Result<Vec<PathConfig>, ConfigError> {
        let key = format!("environments[{i}].paths");
        if paths.is_empty() {
            return Err(self.invalid(key, format!("environment {name:?} lists no paths")));
        }
        let mut out = Vec::with_capacity(paths.len());
        for (j, RawPathEntry(p)) in paths.into_iter().enumerate() {
            out.push(self.path_entry(&key, &format!("{key}[{j}]"), p)?);
        }
        Ok(out)
    }

    fn path_entry(&self, list: &str, key: &str, p: RawPath) -> Result<PathConfig, ConfigError> {
        // The one path matcher, so a pattern accepted here is read the same way by the
        // renderer and by the promotion history.
        crate::core::paths::PathPattern::new(&p.path).map_err(|err| self.invalid(list, err.to_string()))?;
        if p.namespace.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(self.invalid(format!("{key}.namespace"), "is empty"));
        }
        for (k, glob) in [("include", &p.include), ("exclude", &p.exclude)] {
            if let Some(g) = glob {
                crate::core::paths::file_glob(g).map_err(|e| self.invalid(format!("{key}.{k}"), e.to_string()))?;
            }
        }
        let artifact = self.artifact(key, &p)?;
        let kustomize = match p.kustomize {
            None => None,
            Some(v) => Some(kustomize_overrides(v).map_err(|e| {
                let reason = e.to_string().replace("unknown field", "unknown key");
                self.invalid(format!("{key}.kustomize"), reason)
            })?),
        };
        Ok(PathConfig {
            repo: self.repo_ref(key, p.repo, p.revision)?,
            artifact,
            renderer: self.renderer(&format!("{key}.renderer"), p.renderer.as_deref())?,
            directory: DirectoryConfig {
                recurse: p.recurse.unwrap_or(true),
                include: p.include,
                exclude: p.exclude,
            },
            kustomize,
            pattern: p.path,
            namespace: p.namespace,
            substitute: None,
        })
    }

    /// `[environments.cluster]`: one of kubeconfig (the default), in-cluster or a snapshot.
    fn cluster(&self, i: usize, env_name: &str, c: RawCluster) -> Result<ClusterConfig, ConfigError> {
        self.cluster_at(&format!("environments[{i}].cluster"), env_name, c)
    }

    /// A cluster section at `key`; `fallback` names it when nothing else does.
    pub(super) fn cluster_at(&self, key: &str, fallback: &str, c: RawCluster) -> Result<ClusterConfig, ConfigError> {
        let env_name = fallback;
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
                return Err(self.invalid(key, "give one of kubeconfig, in_cluster = true or snapshot"));
            }
        };
        let name = c.name.or(c.context).unwrap_or_else(|| match &source {
            ClusterSource::InCluster => "in-cluster".into(),
            ClusterSource::Snapshot(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "snapshot".into()),
            ClusterSource::Kubeconfig { .. } => env_name.to_string(),
        });
        Ok(ClusterConfig {
            name,
            source,
            namespaces: c.namespaces,
        })
    }
}

/// A path's `kustomize` table: what Argo CD's `spec.source.kustomize` sets, in snake case.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKustomize {
    #[serde(default)]
    images: Vec<String>,
    name_prefix: Option<String>,
    name_suffix: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    common_labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    common_annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    patches: Vec<serde_json::Value>,
    #[serde(default)]
    replicas: Vec<RawReplicas>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplicas {
    name: String,
    count: i64,
}

fn kustomize_overrides(v: serde_json::Value) -> Result<KustomizeOverrides, serde_json::Error> {
    let k: RawKustomize = serde_json::from_value(v)?;
    Ok(KustomizeOverrides {
        images: k.images,
        name_prefix: k.name_prefix,
        name_suffix: k.name_suffix,
        namespace: k.namespace,
        common_labels: k.common_labels,
        common_annotations: k.common_annotations,
        patches: k.patches,
        replicas: k.replicas.into_iter().map(|r| (r.name, r.count)).collect(),
        ..KustomizeOverrides::default()
    })
}

/// Why an `oci_artifact` is not `oci://<host>/<repository>`.
#[derive(Debug, thiserror::Error)]
enum BadArtifactUrl {
    #[error("{0:?} does not start with oci://")]
    Scheme(String),
    #[error("{0:?} names no repository after the registry host")]
    NoRepository(String),
    #[error("{0:?} has no registry host")]
    NoHost(String),
    #[error("{0:?}: the URL must not carry a tag or digest (set oci_tag or oci_digest)")]
    TagOrDigest(String),
    #[error("{url:?}: {path:?} is not a repository name (lowercase letters, digits, '.', '_', '-', '/')")]
    Name { url: String, path: String },
}

/// `oci://host/path` → `host/path`, or why it is not an artifact's repository (as Flux says: no
/// tag in the URL; the tag or digest is given apart).
fn artifact_repository(url: &str) -> Result<String, BadArtifactUrl> {
    let Some(rest) = url.strip_prefix("oci://") else {
        return Err(BadArtifactUrl::Scheme(url.into()));
    };
    let rest = rest.trim_end_matches('/');
    let Some((host, path)) = rest.split_once('/') else {
        return Err(BadArtifactUrl::NoRepository(url.into()));
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            })
    };
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b == b'@') {
        return Err(BadArtifactUrl::NoHost(url.into()));
    }
    if path.contains(['@', ':']) {
        return Err(BadArtifactUrl::TagOrDigest(url.into()));
    }
    if !name_ok(path) {
        return Err(BadArtifactUrl::Name {
            url: url.into(),
            path: path.into(),
        });
    }
    Ok(format!("{host}/{path}"))
}

/// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let mut b = t.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && t.len() <= 128
        && b.all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}
