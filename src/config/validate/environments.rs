//! `[[environments]]`: each environment's paths, renderer, policy and cluster.

use super::Validator;
use crate::config::raw::{RawCluster, RawEnvironment, RawPath, RawToggle};
use crate::config::{
    ClusterConfig, ClusterSource, CompareConfigMaps, ConfigError, EnvironmentConfig, PathConfig, Renderer,
};

impl Validator<'_> {
    /// At least one environment, names unique, `promoted_from` naming another one.
    pub(super) fn environments(&self, raw: Vec<RawEnvironment>) -> Result<Vec<EnvironmentConfig>, ConfigError> {
        if raw.is_empty() {
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
        let renderer = match e.renderer.as_deref() {
            None | Some("auto") => Renderer::Auto,
            Some("kustomize") => Renderer::Kustomize,
            Some("plain") => Renderer::Plain,
            Some("helm") => Renderer::Helm,
            Some(other) => {
                return Err(self.invalid(
                    at("renderer"),
                    format!("{other:?} is not one of auto, kustomize, plain, helm"),
                ));
            }
        };
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
            name: e.name,
        })
    }

    /// Globs relative to the repository root that stay inside it, each with its namespace.
    fn paths(&self, i: usize, name: &str, paths: Vec<RawPath>) -> Result<Vec<PathConfig>, ConfigError> {
        let key = format!("environments[{i}].paths");
        if paths.is_empty() {
            return Err(self.invalid(key, format!("environment {name:?} lists no paths")));
        }
        let mut out = Vec::with_capacity(paths.len());
        for (j, p) in paths.into_iter().enumerate() {
            // The one path matcher, so a pattern accepted here is read the same way by the
            // renderer and by the promotion history.
            crate::core::paths::PathPattern::new(&p.path).map_err(|err| self.invalid(&key, err.to_string()))?;
            if p.namespace.as_deref().is_some_and(|n| n.trim().is_empty()) {
                return Err(self.invalid(format!("{key}[{j}].namespace"), "is empty"));
            }
            out.push(PathConfig {
                pattern: p.path,
                namespace: p.namespace,
            });
        }
        Ok(out)
    }

    /// `[environments.cluster]`: one of kubeconfig (the default), in-cluster or a snapshot.
    fn cluster(&self, i: usize, env_name: &str, c: RawCluster) -> Result<ClusterConfig, ConfigError> {
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
                return Err(self.invalid(
                    format!("environments[{i}].cluster"),
                    "give one of kubeconfig, in_cluster = true or snapshot",
                ));
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
