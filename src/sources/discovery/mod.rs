//! Environments derived from Argo CD Applications and Flux objects: the manifests committed in
//! the `[gitops]` repository (app-of-apps, `[discovery.argocd] paths`, `[discovery.flux]
//! paths`) and the objects of a control plane (`cluster`). IO at the edge (the git checkout,
//! one LIST per kind, in [`flux_io`] for Flux); each object is mapped by a pure module
//! ([`argocd`], [`flux`]), and the results are put together into environments by one
//! [`assemble`]. Hand-written `[[environments]]` win over discovered ones of the same name.

pub mod appset;
pub mod argocd;
pub mod flux;
mod flux_io;
pub mod watch;

use std::time::Duration;

use serde_json::Value;

use crate::config::{ArgoCdConfig, ClusterConfig, CompareConfigMaps, Config, EnvironmentConfig, Renderer};
use crate::core::paths::PathPattern;
use crate::sources::cluster::ClusterError;
use crate::sources::git::{self, GitError};
use argocd::{Context, Mapped, Unmapped};

/// Why an object is not mapped (`reason`), and what would map it (`fix`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} (fix: {fix})")]
pub struct Why {
    pub reason: String,
    pub fix: String,
}

impl From<(String, String)> for Why {
    fn from((reason, fix): (String, String)) -> Self {
        Self { reason, fix }
    }
}

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
    #[error("{appset}: repository {repo}: {source}")]
    Repository {
        appset: String,
        repo: String,
        #[source]
        source: GitError,
    },
    #[error("discovery task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("flux objects in git: {0}")]
    FluxGit(#[source] GitError),
    #[error("flux objects from cluster {cluster}: {source}")]
    FluxCluster {
        cluster: String,
        #[source]
        source: ClusterError,
    },
    #[error("flux {kind} from cluster {cluster}: {reason}")]
    FluxList {
        kind: &'static str,
        cluster: String,
        reason: String,
    },
}

/// One discovered environment and the Applications (or Flux objects) it came from.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub config: EnvironmentConfig,
    /// `Application argocd/web (git argocd/apps/web.yaml)`, `Application argocd/web (cluster
    /// argocd)`, `Kustomization flux-system/apps (cluster flux)`.
    pub origins: Vec<String>,
    /// `argocd` or `flux`: the controller of the object that first named it.
    pub source: &'static str,
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

/// One object mapped, where it was read, and by which controller's discovery.
pub(crate) struct MappedFrom {
    mapped: Mapped,
    origin: String,
    source: &'static str,
}

/// Reads every configured place, maps each Application and Flux object, and groups them into
/// environments.
pub async fn discover(cfg: &Config) -> Discovery {
    let mut d = Discovery::default();
    let mut mapped = Vec::new();
    if let Some(argo) = &cfg.discovery.argocd {
        let found = argocd_found(cfg, argo, &mut d).await;
        mapped.extend(map_applications(cfg, argo, found, &mut d));
    }
    if let Some(fx) = &cfg.discovery.flux {
        mapped.extend(flux_io::discover(cfg, fx, &mut d).await);
    }
    assemble(cfg, mapped, &mut d);
    d
}

/// The Applications of the places `[discovery.argocd]` names.
async fn argocd_found(cfg: &Config, argo: &ArgoCdConfig, d: &mut Discovery) -> Vec<Found> {
    let mut found = Vec::new();
    if !argo.paths.is_empty() {
        match from_git(cfg, argo).await {
            Ok(git) => {
                found.extend(git.found);
                d.errors.extend(git.errors);
                d.unmapped.extend(git.not_expanded);
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
    found
}

/// Maps the Applications; a live Application replaces the one of the same name found in git.
fn map_applications(cfg: &Config, argo: &ArgoCdConfig, found: Vec<Found>, d: &mut Discovery) -> Vec<MappedFrom> {
    let mut mapped: Vec<MappedFrom> = Vec::new();
    for f in found {
        let cx = Context {
            environment_from: &argo.environment_from,
            destinations: &cfg.discovery.clusters,
            control_plane: argo.cluster.as_ref(),
            live: f.live,
        };
        match argocd::map(&f.app, &cx) {
            Ok(m) => {
                mapped.retain(|x| x.mapped.object != m.object);
                mapped.push(MappedFrom {
                    mapped: m,
                    origin: f.origin,
                    source: "argocd",
                });
            }
            Err(u) => d.unmapped.push(u),
        }
    }
    mapped
}

/// Puts the mapped objects of one environment together (they must share its cluster), Argo CD's
/// and Flux's alike.
fn assemble(cfg: &Config, mapped: Vec<MappedFrom>, d: &mut Discovery) {
    for MappedFrom {
        mapped: mut m,
        origin,
        source,
    } in mapped
    {
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
                source,
            }),
        }
    }
}

/// Sources in the `[gitops]` repository at its ref read from the default checkout, as
/// hand-written ones do.
fn default_repository(cfg: &Config, m: &mut Mapped) {
    let crate::config::GitopsConfig::Remote { url, reference, .. } = &cfg.gitops else {
        m.releases
            .iter_mut()
            .for_each(crate::config::ReleaseConfig::settle_values_repo);
        return;
    };
    let slots = m.paths.iter_mut().map(|p| &mut p.repo).chain(
        m.releases
            .iter_mut()
            .flat_map(|r| std::iter::once(&mut r.git).chain(r.values_repo.as_mut().map(|v| &mut v.repo))),
    );
    for slot in slots {
        if slot
            .as_ref()
            .is_some_and(|r| r.url == *url && same_ref(&r.reference, reference))
        {
            *slot = None;
        }
    }
    m.releases
        .iter_mut()
        .for_each(crate::config::ReleaseConfig::settle_values_repo);
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
    for e in &d.environments {
        *out.discovered_by.entry(e.source).or_default() += 1;
    }
    out
}

/// `cfg` without the environments discovery added to it.
pub fn written(cfg: &Config) -> Config {
    let mut out = cfg.clone();
    out.environments.retain(|e| !cfg.discovered.contains(&e.name));
    out.discovered.clear();
    out.discovery_problems.clear();
    out.discovered_by.clear();
    out
}

/// What the manifests in git hold: Applications (those ApplicationSets generate among them),
/// what could not be read, and what of the ApplicationSets is not expanded.
#[derive(Default)]
struct FromGit {
    found: Vec<Found>,
    errors: Vec<DiscoveryError>,
    not_expanded: Vec<Unmapped>,
}

/// Application and ApplicationSet manifests in the `[gitops]` repository, each file's
/// documents; a file that does not parse is an error naming it, the others are read. Each
/// ApplicationSet is expanded with the repositories its git generators read.
async fn from_git(cfg: &Config, argo: &ArgoCdConfig) -> Result<FromGit, DiscoveryError> {
    let (gitops, patterns, repos) = (cfg.gitops.clone(), argo.paths.clone(), cfg.repositories.clone());
    tokio::task::spawn_blocking(move || {
        let checkout = git::sync(&gitops).map_err(DiscoveryError::Git)?;
        let mut out = FromGit::default();
        let mut sets = Vec::new();
        for (doc, rel) in manifests(&checkout.dir, &patterns, &mut out.errors) {
            if argocd::is_application(&doc) {
                out.found.push(Found {
                    app: doc,
                    origin: format!("git {rel}"),
                    live: false,
                });
            } else if appset::is_application_set(&doc) {
                sets.push((doc, rel));
            }
        }
        if !sets.is_empty() {
            let read = Reader {
                gitops: &gitops,
                default_dir: &checkout.dir,
                repos: &repos,
            };
            expand_sets(&read, sets, &mut out);
        }
        Ok(out)
    })
    .await
    .map_err(DiscoveryError::Task)?
}

/// The YAML documents of the files `patterns` select, with each file's path.
pub(super) fn manifests(
    root: &std::path::Path,
    patterns: &[String],
    errors: &mut Vec<DiscoveryError>,
) -> Vec<(Value, String)> {
    let mut out = Vec::new();
    for p in patterns {
        let Ok(pattern) = PathPattern::new(p) else { continue };
        for file in crate::sources::render::expand(root, &pattern)
            .into_iter()
            .filter(|f| f.is_file())
        {
            let rel = crate::sources::render::relative(root, &file);
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
            out.extend(docs.into_iter().map(|d| (d, rel.clone())));
        }
    }
    out
}

/// Where the repositories ApplicationSets' git generators name are read from.
struct Reader<'a> {
    gitops: &'a crate::config::GitopsConfig,
    default_dir: &'a std::path::Path,
    repos: &'a crate::config::RepositoriesConfig,
}

impl Reader<'_> {
    /// The checkout of `repo`: the default one for the `[gitops]` repository at its ref, else
    /// the repository's own cache, synced.
    fn checkout(&self, repo: &crate::config::RepoRef) -> Result<std::path::PathBuf, GitError> {
        let own_auth = match self.gitops {
            crate::config::GitopsConfig::Remote {
                url, reference, auth, ..
            } if *url == repo.url => {
                if same_ref(reference, &repo.reference) {
                    return Ok(self.default_dir.to_path_buf());
                }
                Some(auth.clone())
            }
            _ => None,
        };
        let auth = self
            .repos
            .credential(&repo.url)
            .cloned()
            .or(own_auth)
            .unwrap_or_default();
        git::sync_repo(repo, &auth, &self.repos.dir(repo)).map(|c| c.dir)
    }
}

/// Expands each ApplicationSet: its git generators' repositories read once each.
fn expand_sets(read: &Reader<'_>, sets: Vec<(Value, String)>, out: &mut FromGit) {
    use std::collections::BTreeMap;
    let mut globs: BTreeMap<crate::config::RepoRef, Vec<String>> = BTreeMap::new();
    for (set, _) in &sets {
        for r in appset::git_reads(set) {
            globs.entry(r.repo).or_default().extend(r.files);
        }
    }
    let mut trees = BTreeMap::new();
    for (repo, files) in globs {
        match read.checkout(&repo) {
            Ok(dir) => {
                trees.insert(repo, tree(&dir, &files));
            }
            Err(source) => out.errors.push(DiscoveryError::Repository {
                appset: sets
                    .iter()
                    .filter(|(s, _)| appset::git_reads(s).iter().any(|r| r.repo == repo))
                    .map(|(s, _)| appset::object(s))
                    .collect::<Vec<_>>()
                    .join(", "),
                repo: repo.to_string(),
                source,
            }),
        }
    }
    for (set, rel) in sets {
        let expanded = appset::expand(&set, &trees);
        let origin = format!("{} in git {rel}", appset::object(&set));
        out.found.extend(expanded.applications.into_iter().map(|app| Found {
            app,
            origin: origin.clone(),
            live: false,
        }));
        out.not_expanded.extend(expanded.not_expanded);
    }
}

/// A checkout as a git generator sees it: its directories (hidden ones and what is below them
/// left out) and the text of the files `globs` match.
fn tree(root: &std::path::Path, globs: &[String]) -> appset::Tree {
    let mut t = appset::Tree::default();
    let walk = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk.filter_map(Result::ok).filter(|e| e.depth() > 0) {
        let rel = crate::sources::render::relative(root, entry.path());
        if entry.file_type().is_dir() {
            t.dirs.push(rel);
        } else if entry.file_type().is_file()
            && globs.iter().any(|g| appset::glob_matches(g, &rel))
            && let Ok(text) = std::fs::read_to_string(entry.path())
        {
            t.files.insert(rel, text);
        }
    }
    t
}

/// The Applications of `cluster` (in `argo.namespace`, or all): what discovery lists and the
/// daemon watches.
pub(crate) async fn applications_api(
    cluster: &ClusterConfig,
    argo: &ArgoCdConfig,
    timeout: Duration,
) -> Result<kube::Api<kube::api::DynamicObject>, DiscoveryError> {
    use kube::api::{Api, ApiResource};
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
    Ok(match &argo.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    })
}

/// The Applications of an Argo CD control plane: one LIST (in `namespace`, or all), with the
/// label `selector`.
async fn from_cluster(
    cluster: &ClusterConfig,
    argo: &ArgoCdConfig,
    timeout: Duration,
) -> Result<Vec<Found>, DiscoveryError> {
    use kube::api::ListParams;
    let api = applications_api(cluster, argo, timeout).await?;
    // `resourceVersion=0`: from the apiserver's watch cache, not read through from etcd (a
    // read-through LIST of 2,000 objects costs a real apiserver about 0.6 s; Argo CD itself
    // reconciles on minutes).
    let mut params = ListParams::default().match_any();
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
