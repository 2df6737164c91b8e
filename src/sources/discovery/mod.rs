//! Environments derived from Argo CD Applications: the manifests committed in the `[gitops]`
//! repository (app-of-apps, `[discovery.argocd] paths`) and the Application objects of an Argo
//! CD control plane (`cluster`). IO at the edge (the git checkout, one LIST of Applications);
//! each Application is mapped by the pure [`argocd`] module, and the results are put together
//! into environments. Hand-written `[[environments]]` win over discovered ones of the same
//! name.

pub mod argocd;
pub mod watch;

use std::time::Duration;

use serde_json::Value;

use crate::config::{ArgoCdConfig, ClusterConfig, CompareConfigMaps, Config, EnvironmentConfig, Renderer};
use crate::core::paths::PathPattern;
use crate::sources::cluster::ClusterError;
use crate::sources::git::{self, GitError};
use argocd::{Context, Mapped, Unmapped};

/// Why Applications could not be read from one place.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("argocd Applications in git: {0}")]
    Git(#[source] GitError),
    #[error("{file}: {reason}")]
    Manifest { file: String, reason: String },
    #[error("argocd Applications from cluster {cluster}: {source}")]
    Cluster {
        cluster: String,
        #[source]
        source: ClusterError,
    },
    #[error("argocd Applications from cluster {cluster}: {reason}")]
    List { cluster: String, reason: String },
    #[error("discovery task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// One discovered environment and the Applications it came from.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub config: EnvironmentConfig,
    /// `Application argocd/web (git argocd/apps/web.yaml)`, `Application argocd/web (cluster argocd)`.
    pub origins: Vec<String>,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub environments: Vec<Discovered>,
    /// Applications not mapped, with the reason and the fix.
    pub unmapped: Vec<Unmapped>,
    /// Discovered environments a hand-written one of the same name replaces.
    pub shadowed: Vec<String>,
    /// Places Applications could not be read from (the rest is still used).
    pub errors: Vec<DiscoveryError>,
}

/// An Application as read, and where from.
struct Found {
    app: Value,
    origin: String,
    live: bool,
}

/// Reads every configured place, maps each Application, and groups them into environments.
pub async fn discover(cfg: &Config) -> Discovery {
    let mut d = Discovery::default();
    let Some(argo) = &cfg.discovery.argocd else {
        return d;
    };
    let mut found = Vec::new();
    if !argo.paths.is_empty() {
        match from_git(cfg, argo).await {
            Ok((apps, errors)) => {
                found.extend(apps);
                d.errors.extend(errors);
            }
            Err(e) => d.errors.push(e),
        }
    }
    if let Some(cluster) = &argo.cluster {
        match from_cluster(cluster, argo, cfg.audit.kube_timeout).await {
            Ok(apps) => found.extend(apps),
            Err(e) => d.errors.push(e),
        }
    }
    assemble(cfg, argo, found, &mut d);
    d
}

/// Maps the Applications and puts those of one environment together (they must share its
/// cluster). A live Application replaces the one of the same name found in git.
fn assemble(cfg: &Config, argo: &ArgoCdConfig, found: Vec<Found>, d: &mut Discovery) {
    let mut mapped: Vec<(Mapped, String)> = Vec::new();
    for f in found {
        let cx = Context {
            environment_from: &argo.environment_from,
            destinations: &cfg.discovery.clusters,
            control_plane: argo.cluster.as_ref(),
            live: f.live,
        };
        match argocd::map(&f.app, &cx) {
            Ok(m) => {
                mapped.retain(|(x, _)| x.object != m.object);
                mapped.push((m, f.origin));
            }
            Err(u) => d.unmapped.push(u),
        }
    }
    for (mut m, origin) in mapped {
        default_repository(cfg, &mut m);
        if cfg
            .environments
            .iter()
            .any(|e| e.name == m.environment && !cfg.discovered.contains(&e.name))
        {
            if !d.shadowed.contains(&m.environment) {
                d.shadowed.push(m.environment.clone());
            }
            continue;
        }
        match d.environments.iter_mut().find(|e| e.config.name == m.environment) {
            Some(e) if e.config.cluster.name != m.cluster.name => d.unmapped.push(Unmapped {
                object: m.object.clone(),
                reason: format!(
                    "deploys to cluster {} while environment {} is on cluster {}",
                    m.cluster.name, m.environment, e.config.cluster.name
                ),
                fix: "name environments by destination (environment_from = \"destination\") or by a label that differs per cluster".into(),
            }),
            Some(e) => {
                e.config.paths.extend(m.paths);
                e.config.releases.extend(m.releases);
                e.config.overrides.extend(m.overrides);
                e.config.controller.extend(m.controller);
                e.config.renderer = renderer(&e.config);
                e.origins.push(format!("{} ({origin})", m.object));
            }
            None => d.environments.push(Discovered {
                origins: vec![format!("{} ({origin})", m.object)],
                config: environment(m),
            }),
        }
    }
}

/// Sources in the `[gitops]` repository at its ref read from the default checkout, as
/// hand-written ones do.
fn default_repository(cfg: &Config, m: &mut Mapped) {
    let crate::config::GitopsConfig::Remote { url, reference, .. } = &cfg.gitops else {
        return;
    };
    let slots = m
        .paths
        .iter_mut()
        .map(|p| &mut p.repo)
        .chain(m.releases.iter_mut().map(|r| &mut r.git));
    for slot in slots {
        if slot
            .as_ref()
            .is_some_and(|r| r.url == *url && same_ref(&r.reference, reference))
        {
            *slot = None;
        }
    }
}

/// `targetRevision: main` is `[gitops] branch = "main"`.
fn same_ref(a: &crate::config::GitRef, b: &crate::config::GitRef) -> bool {
    use crate::config::GitRef::{Branch, DefaultBranch, Rev, Revision};
    match (a, b) {
        (DefaultBranch, DefaultBranch) => true,
        (Revision(x) | Branch(x) | Rev(x), Revision(y) | Branch(y) | Rev(y)) => x == y,
        _ => false,
    }
}

fn renderer(e: &EnvironmentConfig) -> Renderer {
    if e.releases.is_empty() {
        Renderer::Auto
    } else {
        Renderer::Helm
    }
}

/// A discovered environment with driftwatch's defaults.
fn environment(m: Mapped) -> EnvironmentConfig {
    let mut e = EnvironmentConfig {
        name: m.environment,
        paths: m.paths,
        renderer: Renderer::Auto,
        namespace: "default".into(),
        require_digest: true,
        ignore_containers: Vec::new(),
        allowed_sources: Vec::new(),
        promoted_from: None,
        compare_secrets: false,
        compare_configmaps: CompareConfigMaps::Auto,
        cluster: m.cluster,
        engine: None,
        releases: m.releases,
        overrides: m.overrides,
        controller: m.controller.into_iter().collect(),
    };
    e.renderer = renderer(&e);
    e
}

/// `cfg` (as written: without what an earlier discovery added) with the discovered
/// environments after the hand-written ones.
pub fn merged(cfg: &Config, d: &Discovery) -> Config {
    let mut out = written(cfg);
    out.environments.extend(d.environments.iter().map(|e| e.config.clone()));
    out.discovered = d.environments.iter().map(|e| e.config.name.clone()).collect();
    out
}

/// `cfg` without the environments discovery added to it.
pub fn written(cfg: &Config) -> Config {
    let mut out = cfg.clone();
    out.environments.retain(|e| !cfg.discovered.contains(&e.name));
    out.discovered.clear();
    out
}

/// Application manifests in the `[gitops]` repository, each file's documents; a file that does
/// not parse is an error naming it, the others are read.
async fn from_git(cfg: &Config, argo: &ArgoCdConfig) -> Result<(Vec<Found>, Vec<DiscoveryError>), DiscoveryError> {
    let (gitops, patterns) = (cfg.gitops.clone(), argo.paths.clone());
    tokio::task::spawn_blocking(move || {
        let checkout = git::sync(&gitops).map_err(DiscoveryError::Git)?;
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for p in &patterns {
            let Ok(pattern) = PathPattern::new(p) else { continue };
            for file in crate::sources::render::expand(&checkout.dir, &pattern)
                .into_iter()
                .filter(|f| f.is_file())
            {
                let rel = crate::sources::render::relative(&checkout.dir, &file);
                let text = match std::fs::read_to_string(&file) {
                    Ok(t) => t,
                    Err(e) => {
                        errors.push(DiscoveryError::Manifest {
                            file: rel,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                };
                let (docs, err) = safe_yaml::documents(&text);
                if let Some(e) = err {
                    errors.push(DiscoveryError::Manifest {
                        file: rel.clone(),
                        reason: format!("not YAML: {e}"),
                    });
                }
                found.extend(docs.into_iter().filter(argocd::is_application).map(|app| Found {
                    app,
                    origin: format!("git {rel}"),
                    live: false,
                }));
            }
        }
        Ok((found, errors))
    })
    .await
    .map_err(DiscoveryError::Task)?
}

/// The Applications of an Argo CD control plane: one LIST (in `namespace`, or all), with the
/// label `selector`.
async fn from_cluster(
    cluster: &ClusterConfig,
    argo: &ArgoCdConfig,
    timeout: Duration,
) -> Result<Vec<Found>, DiscoveryError> {
    use kube::api::{Api, ApiResource, DynamicObject, ListParams};
    let client = crate::sources::cluster::api::client(&cluster.name, &cluster.source, timeout)
        .await
        .map_err(|source| DiscoveryError::Cluster {
            cluster: cluster.name.clone(),
            source,
        })?;
    let resource = ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    };
    let api: Api<DynamicObject> = match &argo.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    };
    let mut params = ListParams::default();
    if let Some(s) = &argo.selector {
        params = params.labels(s);
    }
    let list = api.list(&params).await.map_err(|e| DiscoveryError::List {
        cluster: cluster.name.clone(),
        reason: match &e {
            kube::Error::Api(s) if s.code == 403 => format!("forbidden: {} ({})", s.message, grant(argo)),
            other => crate::error_chain(other),
        },
    })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .map(|mut app| {
            app["kind"] = "Application".into();
            app["apiVersion"] = "argoproj.io/v1alpha1".into();
            Found {
                app,
                origin: format!("cluster {}", cluster.name),
                live: true,
            }
        })
        .collect())
}

/// The rule a 403 on listing Applications asks for, where it must be granted.
fn grant(argo: &ArgoCdConfig) -> String {
    let rule = r#"apiGroups: ["argoproj.io"], resources: ["applications"], verbs: ["get", "list", "watch"]"#;
    match &argo.namespace {
        Some(ns) => format!(
            "add the rule {{{rule}}} to a Role in namespace {ns} bound to driftwatch's identity: deploy/components/argocd-applications"
        ),
        None => format!(
            "add the rule {{{rule}}} to a ClusterRole bound to driftwatch's identity (Applications are listed in all namespaces), or set discovery.argocd.namespace"
        ),
    }
}
