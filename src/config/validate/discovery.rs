//! `[discovery]`: where Argo CD Applications and Flux objects are read (manifests in git, a
//! control plane) and how their destinations are reached (`[[discovery.clusters]]`).

use super::Validator;
use crate::config::raw::{RawArgoCd, RawCluster, RawDestination, RawDiscovery, RawFlux};
use crate::config::{
    ArgoCdConfig, ClusterConfig, ConfigError, DestinationConfig, DiscoveryConfig, EnvironmentFrom, FluxConfig,
};

impl Validator<'_> {
    pub(super) fn discovery(&self, raw: RawDiscovery) -> Result<DiscoveryConfig, ConfigError> {
        let argocd = raw.argocd.map(|a| self.argocd(a)).transpose()?;
        let flux = raw.flux.map(|f| self.flux(f)).transpose()?;
        let mut clusters = Vec::new();
        for (i, d) in raw.clusters.into_iter().enumerate() {
            if let Some(d) = self.keep(self.destination(i, d)) {
                clusters.push(d);
            }
        }
        if argocd.is_none() && flux.is_none() && !clusters.is_empty() {
            return Err(self.invalid(
                "discovery.clusters",
                "maps Argo CD destinations and Flux kubeConfig secrets, but neither [discovery.argocd] nor [discovery.flux] is configured",
            ));
        }
        Ok(DiscoveryConfig { argocd, flux, clusters })
    }

    fn flux(&self, f: RawFlux) -> Result<FluxConfig, ConfigError> {
        if f.paths.is_empty() && f.cluster.is_none() {
            return Err(self.invalid(
                "discovery.flux",
                "give cluster (the cluster Flux runs in) or paths (Flux manifests in git), or both",
            ));
        }
        if let Some(s) = f.selector.as_deref().filter(|s| s.contains(['{', '}', '"'])) {
            return Err(self.invalid("discovery.flux.selector", format!("{s:?} is not a label selector")));
        }
        let (environment_from, cluster) = self.places(
            "flux",
            &f.paths,
            f.environment_from.as_deref(),
            &[("destination", EnvironmentFrom::Destination)],
            f.cluster,
        )?;
        Ok(FluxConfig {
            paths: f.paths,
            cluster,
            namespace: f.namespace.filter(|n| !n.is_empty()),
            selector: f.selector.filter(|s| !s.is_empty()),
            environment_from,
        })
    }

    fn argocd(&self, a: RawArgoCd) -> Result<ArgoCdConfig, ConfigError> {
        if a.paths.is_empty() && a.cluster.is_none() {
            return Err(self.invalid(
                "discovery.argocd",
                "give paths (Application manifests in git) or cluster (the Argo CD control plane), or both",
            ));
        }
        let (environment_from, cluster) = self.places(
            "argocd",
            &a.paths,
            a.environment_from.as_deref(),
            &[
                ("project", EnvironmentFrom::Project),
                ("destination", EnvironmentFrom::Destination),
            ],
            a.cluster,
        )?;
        Ok(ArgoCdConfig {
            paths: a.paths,
            cluster,
            namespace: a.namespace.filter(|n| !n.is_empty()),
            selector: a.selector.filter(|s| !s.is_empty()),
            environment_from,
        })
    }

    /// What `[discovery.<section>]` tables share: `paths` (valid patterns), `environment_from`
    /// (`name`, `label:<key>`, `annotation:<key>`, or one of `words`) and `cluster` (named
    /// after the section unless it has a name).
    fn places(
        &self,
        section: &str,
        paths: &[String],
        environment_from: Option<&str>,
        words: &[(&str, EnvironmentFrom)],
        cluster: Option<RawCluster>,
    ) -> Result<(EnvironmentFrom, Option<ClusterConfig>), ConfigError> {
        for (i, p) in paths.iter().enumerate() {
            crate::core::paths::PathPattern::new(p)
                .map_err(|e| self.invalid(format!("discovery.{section}.paths[{i}]"), e.to_string()))?;
        }
        let word = |w: &str| words.iter().find(|(name, _)| *name == w).map(|(_, e)| e.clone());
        let environment_from = match environment_from {
            None | Some("name") => EnvironmentFrom::Name,
            Some(other) => match (word(other), other.split_once(':')) {
                (Some(e), _) => e,
                (None, Some(("label", k))) if !k.is_empty() => EnvironmentFrom::Label(k.into()),
                (None, Some(("annotation", k))) if !k.is_empty() => EnvironmentFrom::Annotation(k.into()),
                _ => {
                    let names: Vec<&str> = words.iter().map(|(name, _)| *name).collect();
                    return Err(self.invalid(
                        format!("discovery.{section}.environment_from"),
                        format!(
                            "{other:?} is not one of name, {}, label:<key>, annotation:<key>",
                            names.join(", ")
                        ),
                    ));
                }
            },
        };
        let cluster = cluster
            .map(|c| {
                let c = RawCluster {
                    name: c.name.or_else(|| Some(section.into())),
                    ..c
                };
                self.cluster_at(&format!("discovery.{section}.cluster"), section, c)
            })
            .transpose()?;
        Ok((environment_from, cluster))
    }

    fn destination(&self, i: usize, d: RawDestination) -> Result<DestinationConfig, ConfigError> {
        let key = format!("discovery.clusters[{i}]");
        if d.server.is_none() && d.name.is_none() {
            return Err(self.invalid(key, "give the Argo CD destination's server or name"));
        }
        let name = d
            .name
            .clone()
            .or_else(|| d.context.clone())
            .or_else(|| d.server.as_deref().map(host_of));
        let raw = RawCluster {
            name,
            kubeconfig: d.kubeconfig,
            context: d.context,
            in_cluster: d.in_cluster,
            snapshot: d.snapshot,
            namespaces: d.namespaces,
        };
        let fallback = d.server.clone().unwrap_or_default();
        Ok(DestinationConfig {
            cluster: self.cluster_at(&key, &fallback, raw)?,
            server: d.server.map(|s| s.trim_end_matches('/').to_string()),
            name: d.name,
        })
    }
}

/// `https://prod-eu1.example.com:6443/` → `prod-eu1.example.com`: a cluster name for findings.
fn host_of(server: &str) -> String {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or(rest);
    host.to_string()
}
