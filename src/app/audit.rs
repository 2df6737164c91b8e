//! One audit: sync the GitOps checkout once, then audit every environment (render what git
//! declares, list what the cluster runs, compare) concurrently with a bound. An error in one
//! environment is recorded in its result; the others go on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tracing::{debug, info, warn};

use super::release_inputs;
use crate::config::{ArtifactRef, Config, EnvironmentConfig, GitopsConfig, RepoRef};
use crate::core::compare::{self, Scope};
use crate::core::model::{ContainerRun, DeclaredState, Finding, LiveState};
use crate::core::report::{DECLARED_SCHEMA, DeclaredReport, EnvironmentResult, GitopsInfo, Report, Status};
use crate::sources::Sources;
use crate::sources::artifacts::ArtifactError;
use crate::sources::cluster::watch::ClusterWatch;
use crate::sources::cluster::{ClusterError, ListOptions, LiveSource};
use crate::sources::git::{self, Checkout, GitError};
use crate::sources::git_history::{self, HistoryError};
use crate::sources::registry::{Registry, RegistryClient};
use crate::sources::render::files::{DirFiles, TreeError, TreeFiles};
use crate::sources::render::{Renderer, SharedFiles};

/// Why the GitOps checkout is not available. The git error stays whole, so a caller can tell
/// an unreachable remote from a missing ref or a busy cache.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// The blocking git task panicked or was cancelled.
    #[error("git task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Why an environment's history is not there to walk.
#[derive(Debug, thiserror::Error)]
enum NoHistory {
    #[error("the gitops repository is not available")]
    Gitops,
    #[error("repository {0} is not available")]
    Repository(String),
    #[error("{from} is declared in {from_repo} and {to} in {to_repo}: lineage is walked within one repository")]
    Apart {
        from: String,
        from_repo: String,
        to: String,
        to_repo: String,
    },
}

/// Why the promotion lineage of an environment could not be walked.
#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error(transparent)]
    History(#[from] HistoryError),
    /// The blocking history walk panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// Why `driftwatch declared` has no listing for an environment.
#[derive(Debug, thiserror::Error)]
pub enum DeclaredError {
    #[error("gitops: {0}")]
    Gitops(#[source] SyncError),
    /// Every path that failed to render: a partial listing would look complete.
    #[error("{}", .0.join("; "))]
    Render(Vec<String>),
}

/// How long the IO parts of an audit took, for metrics.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    pub git_fetch: Option<Duration>,
    /// (cluster, time to list it), for clusters that answered.
    pub kube_list: Vec<(String, Duration)>,
}

/// A repository snapshot an audit read: the checkout and the files the renderers saw; and the
/// other repositories sources name, each synced once for the audit.
#[derive(Clone)]
pub struct Snapshot {
    pub checkout: Checkout,
    pub files: SharedFiles,
    pub repositories: Repositories,
    pub artifacts: Artifacts,
}

/// One repository's checkout and files.
#[derive(Clone)]
pub struct RepoSnapshot {
    pub checkout: Checkout,
    pub files: SharedFiles,
}

/// The repositories sources name besides `[gitops]`, each synced once per audit (or why it
/// could not be; shared by every environment that reads it).
pub type Repositories = Arc<BTreeMap<RepoRef, Result<RepoSnapshot, Arc<SyncError>>>>;

/// The OCI artifacts paths are read from, each pulled once per audit: its files (as a
/// snapshot whose directory is the unpacked layer) and the name render-cache keys carry (with
/// the layer's digest, so a new push under the same tag renders again), or why not.
pub type Artifacts = Arc<BTreeMap<ArtifactRef, Result<(RepoSnapshot, String), Arc<ArtifactError>>>>;

/// Fetches the GitOps repository (as an audit does) and returns the checkout, for commands
/// that read its history.
pub async fn checkout(cfg: &Config) -> Result<Checkout, SyncError> {
    sync(cfg).await.map(|(checkout, _, _)| checkout)
}

/// What an audit covers and what it may reuse instead of fetching and listing.
#[derive(Clone, Default)]
pub struct Plan {
    /// The environments to audit; all when empty.
    pub only: Vec<String>,
    /// Audit this snapshot again instead of fetching (a re-audit after a watched change).
    pub reuse: Option<Snapshot>,
    /// Live state from these watchers (by cluster name) instead of listing, for clusters whose
    /// watchers are synced and healthy; other clusters are listed.
    pub watched: HashMap<String, Arc<ClusterWatch>>,
    /// What environments declared at `reuse`'s commit (with their render errors), so a
    /// re-audit of the same snapshot does not render again.
    pub declared: HashMap<String, Declared>,
}

/// What one environment declares at one snapshot, with the errors rendering it gave.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    pub state: DeclaredState,
    pub errors: Vec<String>,
}

/// An audit's report and what the daemon keeps from it.
pub struct Audited {
    pub report: Report,
    pub timings: Timings,
    /// What each audited environment declares (workloads and configs), for `sync_grace` and
    /// re-audits of the same snapshot.
    pub declared: BTreeMap<String, Declared>,
    /// The snapshot audited, to re-audit it without fetching.
    pub snapshot: Option<Snapshot>,
}

/// Audits the environments named in `only` (all when empty), through the clients and caches of
/// `sources` (built from `cfg`).
pub async fn run(cfg: &Config, sources: &Sources, only: &[String]) -> Report {
    run_timed(cfg, sources, only).await.0
}

/// [`run`], with the durations of the git fetch and of listing each cluster.
pub async fn run_timed(cfg: &Config, sources: &Sources, only: &[String]) -> (Report, Timings) {
    let plan = Plan {
        only: only.to_vec(),
        ..Plan::default()
    };
    let audited = run_planned(cfg, sources, &plan).await;
    (audited.report, audited.timings)
}

/// An audit as `plan` says.
pub async fn run_planned(cfg: &Config, sources: &Sources, plan: &Plan) -> Audited {
    let only = &plan.only;
    let started_at = Utc::now();
    let envs: Vec<&EnvironmentConfig> = cfg
        .environments
        .iter()
        .filter(|e| only.is_empty() || only.contains(&e.name))
        .collect();
    let mut timings = Timings::default();
    // One per audit: it asks each tag and manifest once for all environments.
    let registry = sources.registry().map(RegistryClient::audit);
    let synced = sync_all(cfg, sources, plan, &envs, &mut timings).await;
    // Without the default repository, the environments reading only it are not audited; the
    // others are, with the default's error for what they read from it.
    let (unaudited, audited_envs): (Vec<&EnvironmentConfig>, Vec<&EnvironmentConfig>) = envs.iter().partition(|e| {
        synced.default.is_none()
            && uses_default(e)
            && repos_of(e).is_empty()
            && artifacts_of(e).is_empty()
            && !reads_no_files(e)
    });
    let mut results = match &synced.default_error {
        Some(e) => gitops_unavailable(&unaudited, e),
        None => Vec::new(),
    };
    let audit = SnapshotAudit {
        cfg,
        sources,
        plan,
        default: synced.default.as_ref(),
        default_error: synced.default_error.as_ref().map(|e| crate::error_chain(e)),
        repositories: &synced.repositories,
        artifacts: &synced.artifacts,
        registry: registry.as_ref(),
    };
    let mut declared = BTreeMap::new();
    for (result, findings, listed_in, state) in audit.environments(&audited_envs).await {
        declared.insert(result.name.clone(), state);
        results.push((result, findings, listed_in));
    }
    // In config order, whichever way each went.
    results.sort_by_key(|(r, _, _)| envs.iter().position(|e| e.name == r.name));
    let checkout = synced.default.as_ref().map(|d| d.checkout.clone());
    let snapshot = synced.default.map(|d| Snapshot {
        checkout: d.checkout,
        files: d.files,
        repositories: synced.repositories,
        artifacts: synced.artifacts,
    });
    let mut environments = Vec::new();
    let mut findings = Vec::new();
    for (result, f, listed_in) in results {
        if let Some(took) = listed_in {
            timings.kube_list.push((result.cluster.clone(), took));
        }
        environments.push(result);
        findings.extend(f);
    }
    let ignore_file = ignore_file(cfg, checkout.as_ref());
    let gitops = GitopsInfo {
        url: cfg.gitops.display_url(),
        commit: checkout.and_then(|c| c.commit),
    };
    let mut report = Report::new(started_at, Utc::now(), gitops, environments, findings)
        .with_discovery_errors(cfg.discovery_problems.clone());
    if let Some(path) = ignore_file {
        apply_ignore_file(&mut report, &path);
    }
    Audited {
        report,
        timings,
        declared,
        snapshot,
    }
}

/// The repositories an audit reads: the default one (or why not) and every other one.
struct Synced {
    default: Option<RepoSnapshot>,
    default_error: Option<SyncError>,
    repositories: Repositories,
    artifacts: Artifacts,
}

/// Syncs the default repository (unless `plan` reuses a snapshot, or no environment reads it)
/// and every other repository `envs` name, each once; pulls every artifact they name, once.
async fn sync_all(
    cfg: &Config,
    sources: &Sources,
    plan: &Plan,
    envs: &[&EnvironmentConfig],
    timings: &mut Timings,
) -> Synced {
    if let Some(s) = &plan.reuse {
        return Synced {
            default: Some(RepoSnapshot {
                checkout: s.checkout.clone(),
                files: s.files.clone(),
            }),
            default_error: None,
            repositories: s.repositories.clone(),
            artifacts: s.artifacts.clone(),
        };
    }
    let wanted = matches!(cfg.gitops, GitopsConfig::Local { .. } | GitopsConfig::Remote { .. })
        && (envs.is_empty() || envs.iter().any(|e| uses_default(e)) || !cfg.discovery.is_configured());
    let (default, repositories, artifacts) = tokio::join!(
        async {
            match wanted {
                true => sync(cfg).await.map(|(c, f, took)| (c, f, Some(took))),
                false => Err(SyncError::Git(GitError::NoDefault)),
            }
        },
        sync_repositories(cfg, envs),
        pull_artifacts(sources.artifacts(), envs)
    );
    match default {
        Ok((checkout, files, took)) => {
            timings.git_fetch = took;
            Synced {
                default: Some(RepoSnapshot { checkout, files }),
                default_error: None,
                repositories,
                artifacts,
            }
        }
        Err(e) => Synced {
            default: None,
            default_error: Some(e),
            repositories,
            artifacts,
        },
    }
}

/// Whether `env` reads anything from the `[gitops]` repository.
fn uses_default(env: &EnvironmentConfig) -> bool {
    env.paths.iter().any(|p| p.repo.is_none() && p.artifact.is_none())
        || env
            .releases
            .iter()
            .any(|r| r.git.is_none() || r.values_repo.as_ref().is_some_and(|v| v.repo.is_none()))
}

/// The OCI artifacts `env` reads.
fn artifacts_of(env: &EnvironmentConfig) -> BTreeSet<&ArtifactRef> {
    env.paths.iter().filter_map(|p| p.artifact.as_ref()).collect()
}

/// Pulls every artifact `envs` name, each once, side by side, through one registry session.
async fn pull_artifacts(artifacts: &crate::sources::artifacts::Artifacts, envs: &[&EnvironmentConfig]) -> Artifacts {
    let wanted: BTreeSet<ArtifactRef> = envs.iter().flat_map(|e| artifacts_of(e)).cloned().collect();
    if wanted.is_empty() {
        return Arc::default();
    }
    let session = artifacts.session();
    let pulls = wanted.into_iter().map(|a| {
        let session = &session;
        async move {
            let pulled = match session {
                Ok(registry) => artifacts.pull(registry, &a).await,
                Err(e) => Err(ArtifactError::Client {
                    artifact: a.to_string(),
                    source: e.clone(),
                }),
            };
            let pulled = match pulled {
                Ok(p) => {
                    info!(artifact = %a, manifest = %p.manifest, layer = %p.layer, "OCI artifact ready");
                    let name = format!("{a} (layer {})", p.layer);
                    let snapshot = RepoSnapshot {
                        files: Arc::new(DirFiles::new(&p.dir)),
                        checkout: Checkout {
                            dir: p.dir,
                            commit: None,
                        },
                    };
                    Ok((snapshot, name))
                }
                Err(e) => {
                    warn!(artifact = %a, error = %crate::error_chain(&e), "OCI artifact unavailable");
                    Err(Arc::new(e))
                }
            };
            (a, pulled)
        }
    });
    let pulled: BTreeMap<_, _> = futures::future::join_all(pulls).await.into_iter().collect();
    artifacts.prune();
    Arc::new(pulled)
}

/// The other repositories `env` reads.
fn repos_of(env: &EnvironmentConfig) -> BTreeSet<&RepoRef> {
    env.paths
        .iter()
        .filter_map(|p| p.repo.as_ref())
        .chain(env.releases.iter().filter_map(|r| r.git.as_ref()))
        .chain(
            env.releases
                .iter()
                .filter_map(|r| r.values_repo.as_ref().and_then(|v| v.repo.as_ref())),
        )
        .collect()
}

/// Every repository the configured environments name besides the default.
pub fn repository_refs(cfg: &Config) -> BTreeSet<RepoRef> {
    cfg.environments.iter().flat_map(repos_of).cloned().collect()
}

/// Every repository the configured environments name besides the default, synced (for
/// commands that read their histories).
pub async fn repositories(cfg: &Config) -> Repositories {
    let envs: Vec<&EnvironmentConfig> = cfg.environments.iter().collect();
    sync_repositories(cfg, &envs).await
}

/// Syncs every repository `envs` name besides the default, each once, side by side.
async fn sync_repositories(cfg: &Config, envs: &[&EnvironmentConfig]) -> Repositories {
    let wanted: BTreeSet<RepoRef> = envs.iter().flat_map(|e| repos_of(e)).cloned().collect();
    let syncs = wanted.into_iter().map(|repo| {
        let auth = auth_for(cfg, &repo);
        let dir = cfg.repositories.dir(&repo);
        async move {
            let started = Instant::now();
            let task = {
                let repo = repo.clone();
                tokio::task::spawn_blocking(move || {
                    let checkout = git::sync_repo(&repo, &auth, &dir)?;
                    let files = files_of(&checkout, true);
                    Ok::<_, GitError>(RepoSnapshot { checkout, files })
                })
            };
            let synced = match task.await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(Arc::new(SyncError::Git(e))),
                Err(e) => Err(Arc::new(SyncError::Task(e))),
            };
            match &synced {
                Ok(s) => info!(repository = %repo, commit = s.checkout.commit.as_deref().unwrap_or("-"), elapsed_ms = started.elapsed().as_millis() as u64, "repository checkout ready"),
                Err(e) => warn!(repository = %repo, error = %redacted(&repo, e.as_ref()), "repository unavailable"),
            }
            (repo, synced)
        }
    });
    Arc::new(futures::future::join_all(syncs).await.into_iter().collect())
}

/// The credentials `repo` is fetched with: `[[gitops.credentials]]` by URL prefix, else the
/// `[gitops]` repository's own for its URL at another revision.
fn auth_for(cfg: &Config, repo: &RepoRef) -> crate::config::GitAuth {
    cfg.repositories
        .credential(&repo.url)
        .cloned()
        .or_else(|| match &cfg.gitops {
            GitopsConfig::Remote { url, auth, .. } if *url == repo.url => Some(auth.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Fetches every repository the environments name besides the default, side by side, for the
/// daemon's poll: each one's commit now, or why it could not be fetched (only the fetch: the
/// audit reads the files).
pub async fn fetch_repositories(cfg: &Config) -> Vec<(RepoRef, Result<Option<String>, Arc<SyncError>>)> {
    let fetches = repository_refs(cfg).into_iter().map(|repo| {
        let (auth, dir) = (auth_for(cfg, &repo), cfg.repositories.dir(&repo));
        async move {
            let task = {
                let repo = repo.clone();
                tokio::task::spawn_blocking(move || git::sync_repo(&repo, &auth, &dir).map(|c| c.commit))
            };
            let fetched = match task.await {
                Ok(Ok(commit)) => Ok(commit),
                Ok(Err(e)) => Err(Arc::new(SyncError::Git(e))),
                Err(e) => Err(Arc::new(SyncError::Task(e))),
            };
            (repo, fetched)
        }
    });
    futures::future::join_all(fetches).await
}

/// `e` as text, without the password the configured URL of `repo` may hold.
pub(crate) fn redacted(repo: &RepoRef, e: &SyncError) -> String {
    crate::redacted_chain(e, &repo.url)
}

/// The files renderers read at `checkout`: the commit's tree for a clone, else the directory.
fn files_of(checkout: &Checkout, cloned: bool) -> SharedFiles {
    match (cloned, &checkout.commit) {
        (true, Some(commit)) => match TreeFiles::open(&checkout.dir, commit) {
            Ok(tree) => Arc::new(tree),
            Err(TreeError::Symlink(link)) => {
                debug!(%link, "the commit holds symbolic links: rendering from the working tree");
                Arc::new(DirFiles::new(&checkout.dir))
            }
            Err(e) => {
                warn!(error = %e, "cannot read the commit's tree; rendering from the working tree");
                Arc::new(DirFiles::new(&checkout.dir))
            }
        },
        _ => Arc::new(DirFiles::new(&checkout.dir)),
    }
}

/// One environment's result when the GitOps repository is unavailable: an error, nothing
/// compared.
type Unaudited = (EnvironmentResult, Vec<Finding>, Option<Duration>);

/// Every environment in `envs` failed with `e`, as the checkout could not be had.
fn gitops_unavailable(envs: &[&EnvironmentConfig], e: &SyncError) -> Vec<Unaudited> {
    let e = crate::error_chain(e);
    warn!(error = %e, "gitops repository unavailable");
    envs.iter()
        .map(|env| {
            let result = EnvironmentResult {
                name: env.name.clone(),
                cluster: env.cluster.name.clone(),
                status: Status::Error,
                errors: vec![format!("gitops: {e}")],
                incomplete: Vec::new(),
                declared_workloads: 0,
                live_workloads: 0,
                declared: Vec::new(),
                paths: Vec::new(),
                releases: Vec::new(),
                runs: Vec::new(),
            };
            (result, Vec::new(), None)
        })
        .collect()
}

/// The configured ignore file, else `.driftwatch-ignore.yaml` at the audited commit.
fn ignore_file(cfg: &Config, checkout: Option<&Checkout>) -> Option<PathBuf> {
    cfg.audit.ignore_file.clone().or_else(|| {
        checkout
            .map(|c| c.dir.join(".driftwatch-ignore.yaml"))
            .filter(|p| p.exists())
    })
}

/// Applies the ignore rules in `path` to `report`.
fn apply_ignore_file(report: &mut Report, path: &Path) {
    let rules: Result<_, Box<dyn std::error::Error>> = match std::fs::read_to_string(path) {
        Ok(text) => crate::core::ignore::parse(&text).map_err(Into::into),
        Err(e) => Err(e.into()),
    };
    match rules {
        Ok(rules) => report.apply_ignore_rules(&rules, Utc::now().date_naive()),
        // Nothing is ignored then: an unreadable exception list must not hide findings.
        Err(e) => report.add_error_to_all(&format!("ignore file {}: {}", path.display(), crate::error_chain(&*e))),
    }
}

/// The checkout, the snapshot the renderers read (the commit's tree for a cloned repository,
/// the directory for a local path, which may hold uncommitted changes), and how long it took.
async fn sync(cfg: &Config) -> Result<(Checkout, SharedFiles, Duration), SyncError> {
    let gitops_cfg = cfg.gitops.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let checkout = git::sync(&gitops_cfg)?;
        let files = files_of(&checkout, matches!(gitops_cfg, GitopsConfig::Remote { .. }));
        Ok::<_, GitError>((checkout, files))
    })
    .await;
    let (checkout, files) = result.map_err(SyncError::Task)??;
    info!(
        commit = checkout.commit.as_deref().unwrap_or("-"),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "gitops checkout ready"
    );
    Ok((checkout, files, started.elapsed()))
}

/// One environment's audit: its result, its findings, how long listing its cluster took (`None`
/// when watched or unread), and what it declares.
type EnvironmentAudit = (EnvironmentResult, Vec<Finding>, Option<Duration>, Declared);

/// What a live read gave: the state and its object count, and how long listing took (`None`
/// when read from a watcher).
type LiveRead = Result<((LiveState, usize), Option<Duration>), ClusterError>;

/// What every environment's audit at one snapshot shares.
struct SnapshotAudit<'a> {
    cfg: &'a Config,
    sources: &'a Sources,
    plan: &'a Plan,
    /// The `[gitops]` repository, or (`default_error`) why it is not there.
    default: Option<&'a RepoSnapshot>,
    default_error: Option<String>,
    repositories: &'a Repositories,
    artifacts: &'a Artifacts,
    registry: Option<&'a Registry<'a>>,
}

impl SnapshotAudit<'_> {
    /// Audits `envs` concurrently, at most `max_concurrent_environments` at once, in order.
    async fn environments(&self, envs: &[&EnvironmentConfig]) -> Vec<EnvironmentAudit> {
        // Collected before streaming: a lazy `map` closure over references here makes the
        // future not provably Send (a rustc limitation), and the daemon spawns it.
        let audits: Vec<_> = envs.iter().map(|env| self.environment(env)).collect();
        let audited: Vec<EnvironmentAudit> = futures::stream::iter(audits)
            .buffered(self.cfg.audit.max_concurrent_environments)
            .collect()
            .await;
        self.sources.renderer().prune();
        audited
    }

    /// Reads what `env` declares and what its cluster runs, and compares them.
    async fn environment(&self, env: &EnvironmentConfig) -> EnvironmentAudit {
        let (rendered, live) = self.read(env).await;
        let mut listed_in = None;
        let declared = &rendered.state;
        let mut errors: Vec<String> = rendered.errors.clone();
        let live = match live {
            Ok(((state, objects), took)) => {
                listed_in = took;
                let from = if took.is_some() { "listed" } else { "watched" };
                info!(environment = %env.name, cluster = %env.cluster.name, objects, workloads = state.workloads.len(), from, "cluster state read");
                Some(state)
            }
            Err(e) => {
                errors.push(crate::error_chain(&e));
                None
            }
        };
        for e in &errors {
            warn!(environment = %env.name, error = %e, "audit error");
        }
        let (findings, runs) = self.compare(env, declared, live.as_ref(), &mut errors).await;
        let result = EnvironmentResult {
            name: env.name.clone(),
            cluster: env.cluster.name.clone(),
            status: if errors.is_empty() { Status::Ok } else { Status::Error },
            errors,
            incomplete: Vec::new(),
            declared_workloads: declared.workloads.len(),
            live_workloads: live.map_or(0, |l| l.workloads.len()),
            declared: declared.workloads.iter().map(|w| w.key()).collect(),
            paths: declared.renders.clone(),
            releases: declared.releases.clone(),
            runs,
        };
        (result, findings, listed_in, rendered)
    }

    /// What `env` declares (rendered, or reused from the plan) and what its cluster runs, read
    /// concurrently.
    async fn read(&self, env: &EnvironmentConfig) -> (Declared, LiveRead) {
        let cfg = self.cfg;
        let list = ListOptions {
            secrets: env.compare_secrets,
            configmaps: env.compare_configmaps,
            timeout: cfg.audit.kube_timeout,
            page_size: cfg.audit.page_size,
        };
        let reused = self.plan.declared.get(&env.name).cloned();
        let render = async {
            match reused {
                Some(d) => d,
                None => {
                    let kube_version = self.kube_version(env).await;
                    let at = Repos {
                        default: self.default,
                        default_error: self.default_error.as_deref(),
                        url: cfg.gitops.display_url(),
                        others: self.repositories,
                        artifacts: self.artifacts,
                    };
                    declare(self.sources.renderer(), &at, env, kube_version.as_deref()).await
                }
            }
        };
        // From the watchers' stores when they are synced (no API call), else listed. Secrets are
        // not watched: an environment comparing them lists its cluster.
        let watched = self
            .plan
            .watched
            .get(&env.cluster.name)
            .filter(|w| w.synced() && !env.compare_secrets);
        tokio::join!(render, async {
            let started = Instant::now();
            match watched {
                Some(w) => w.state().map(|live| (live, None)),
                None => fetch_live(cfg, self.sources, env, list)
                    .await
                    .map(|live| (live, Some(started.elapsed()))),
            }
        })
    }

    /// The commit findings of `env` name: the `[gitops]` repository's, else that of the first
    /// repository it reads.
    fn commit(&self, env: &EnvironmentConfig) -> Option<&str> {
        if uses_default(env) {
            return self.default.and_then(|d| d.checkout.commit.as_deref());
        }
        let first = repos_of(env).into_iter().next()?;
        self.repositories.get(first)?.as_ref().ok()?.checkout.commit.as_deref()
    }

    /// The Kubernetes version of `env`'s cluster, when a Helm release needs it (one names no
    /// `kube_version`): `GET /version`, asked each audit (a cluster is upgraded in place).
    async fn kube_version(&self, env: &EnvironmentConfig) -> Option<String> {
        if env.releases.iter().all(|r| r.kube_version.is_some()) {
            return None;
        }
        self.sources.cluster(&env.cluster)?.kube_version().await
    }

    /// The checkout of the repository `env`'s history is in, which its `promoted_from`
    /// environment must share (lineage is walked within one repository), or why not.
    fn history_checkout(&self, env: &EnvironmentConfig) -> Result<&Checkout, NoHistory> {
        let home = env.history_repository();
        let name = |r: Option<&RepoRef>| r.map_or_else(|| self.cfg.gitops.display_url(), ToString::to_string);
        if let Some((from, _)) = &env.promoted_from
            && let Some(upstream) = self.cfg.environments.iter().find(|e| e.name == *from)
            && upstream.history_repository() != home
        {
            return Err(NoHistory::Apart {
                from: from.clone(),
                from_repo: name(upstream.history_repository()),
                to: env.name.clone(),
                to_repo: name(home),
            });
        }
        match home {
            None => self.default.map(|d| &d.checkout).ok_or(NoHistory::Gitops),
            Some(r) => match self.repositories.get(r) {
                Some(Ok(s)) => Ok(&s.checkout),
                _ => Err(NoHistory::Repository(r.to_string())),
            },
        }
    }

    /// The findings for `env` (declared vs live, with registry facts and promotion lineage) and
    /// what runs; a lineage that cannot be walked is added to `errors`.
    async fn compare(
        &self,
        env: &EnvironmentConfig,
        declared: &DeclaredState,
        live: Option<&LiveState>,
        errors: &mut Vec<String>,
    ) -> (Vec<Finding>, Vec<ContainerRun>) {
        let cfg = self.cfg;
        let scope = Scope {
            environment: &env.name,
            cluster: &env.cluster.name,
            commit: self.commit(env),
            require_digest: env.require_digest,
            ignore_containers: &env.ignore_containers,
            namespaces: &env.cluster.namespaces,
            rollout_grace: cfg.audit.rollout_grace,
            now: Utc::now(),
            allowed_sources: &env.allowed_sources,
            rewrites: &cfg.audit.registry_rewrites,
            registry: None,
            promotion: None,
            compare_secrets: env.compare_secrets,
            overrides: &env.overrides,
            controller: &env.controller,
            signatures: None,
        };
        let facts = match self.registry {
            Some(r) => Some(r.facts(declared, live, &env.ignore_containers).await),
            None => None,
        };
        let skipped = match (&env.promoted_from, self.history_checkout(env)) {
            (None, _) => None,
            // Lineage walks the history of the repository the environment is declared in.
            (Some((from, _)), Err(why)) => {
                errors.push(format!("promotion lineage from {from}: {why}"));
                None
            }
            (Some((from, depth)), Ok(checkout)) => {
                match lineage(cfg, self.sources, env, checkout, from, *depth).await {
                    Ok(skipped) => Some((from.as_str(), skipped)),
                    Err(e) => {
                        errors.push(format!("promotion lineage from {from}: {}", crate::error_chain(&e)));
                        None
                    }
                }
            }
        };
        let signatures = self.signatures(env, declared, live, facts.as_ref()).await;
        let scope = Scope {
            registry: facts.as_ref(),
            signatures: signatures.as_ref(),
            promotion: skipped.as_ref().map(|(from, s)| (*from, s)),
            ..scope
        };
        let findings = compare::compare(&scope, declared, live);
        let runs = live.map(|l| compare::runs(&scope, declared, l)).unwrap_or_default();
        (findings, runs)
    }
}

impl SnapshotAudit<'_> {
    /// What the signature policies applying to `env` conclude about the digests its Pods run
    /// (`None` when none applies or the cluster was not read).
    async fn signatures(
        &self,
        env: &EnvironmentConfig,
        declared: &DeclaredState,
        live: Option<&LiveState>,
        facts: Option<&crate::core::model::RegistryFacts>,
    ) -> Option<crate::core::signatures::SignatureFacts> {
        let (checks, live) = (self.sources.signatures()?, live?);
        let policies: Vec<&crate::config::SignaturePolicyConfig> = self
            .cfg
            .policies
            .signatures
            .iter()
            .filter(|p| p.environments.is_empty() || p.environments.contains(&env.name))
            .collect();
        if policies.is_empty() {
            return None;
        }
        let targets = crate::core::signatures::targets(declared, live, facts, &env.ignore_containers);
        let now = std::time::SystemTime::now();
        Some(
            checks
                .verdicts(&policies, &env.name, self.registry, &targets, now)
                .await,
        )
    }
}

/// The repositories one environment's sources are read from.
struct Repos<'a> {
    default: Option<&'a RepoSnapshot>,
    /// Why the default repository is not there (when it is not).
    default_error: Option<&'a str>,
    /// The default repository as reports name it (part of render cache keys).
    url: String,
    others: &'a Repositories,
    artifacts: &'a Artifacts,
}

impl Repos<'_> {
    /// The files of `repo` (`None`: `[gitops]`) as this audit synced them, or why not.
    fn files(&self, repo: Option<&RepoRef>) -> Result<SharedFiles, release_inputs::Unsynced> {
        use release_inputs::Unsynced;
        match repo {
            None => self
                .default
                .map(|d| d.files.clone())
                .ok_or_else(|| Unsynced::Gitops(self.default_error.unwrap_or("no gitops.url").to_string())),
            Some(r) => match self.others.get(r) {
                Some(Ok(s)) => Ok(s.files.clone()),
                Some(Err(e)) => Err(Unsynced::Repository {
                    repo: r.clone(),
                    error: e.clone(),
                }),
                None => Err(Unsynced::NotSynced),
            },
        }
    }
}

/// What `env` declares: its sources rendered from the repository each names (the default one
/// first), put together. A repository that could not be synced is an error naming it, and the
/// sources it holds count as failed (so `undeclared` is not judged on a partial set).
async fn declare(renderer: &Renderer, at: &Repos<'_>, env: &EnvironmentConfig, kube_version: Option<&str>) -> Declared {
    let mut state = DeclaredState::default();
    let mut errors = Vec::new();
    // Charts of Helm repositories and registries with inline values read no repository: with
    // no `[gitops]` one (discovery), they render from nothing.
    let groups = by_repository(env);
    let empty = (at.default.is_none() && groups.iter().any(|(r, p)| *r == Source::Default && reads_no_files(p)))
        .then(|| tempfile::tempdir().ok())
        .flatten();
    let nothing = empty.as_ref().map(|dir| RepoSnapshot {
        files: std::sync::Arc::new(crate::sources::render::files::DirFiles::new(dir.path())),
        checkout: crate::sources::git::Checkout {
            dir: dir.path().to_path_buf(),
            commit: None,
        },
    });
    for (source, part) in groups {
        let repository = |name: String, e: String| format!("gitops repository {name}: {e}");
        let snapshot = match &source {
            Source::Default if at.default.is_none() && reads_no_files(&part) && nothing.is_some() => {
                Ok((nothing.as_ref().expect("just checked"), String::new()))
            }
            Source::Default => at
                .default
                .map(|d| (d, at.url.clone()))
                .ok_or_else(|| repository(at.url.clone(), at.default_error.unwrap_or("no gitops.url").to_string())),
            Source::Git(r) => match at.others.get(r) {
                Some(Ok(s)) => Ok((s, r.to_string())),
                Some(Err(e)) => Err(repository(r.to_string(), redacted(r, e.as_ref()))),
                None => Err(repository(r.to_string(), "not synced".into())),
            },
            Source::Artifact(a) => match at.artifacts.get(a) {
                Some(Ok((s, name))) => Ok((s, name.clone())),
                Some(Err(e)) => Err(crate::error_chain(e.as_ref())),
                None => Err(format!("OCI artifact {a}: not pulled")),
            },
        };
        match snapshot {
            Ok((s, name)) => {
                let mut part = part;
                let unread = release_inputs::prepare(&mut part.releases, &s.files, &|r| at.files(r), &mut errors);
                state.failed_paths.extend(unread);
                let (rendered, failed) = renderer
                    .render(&s.files, &s.checkout.dir, &name, &part, kube_version)
                    .await;
                state.merge(rendered);
                errors.extend(failed.iter().map(|e| crate::error_chain(e)));
            }
            Err(e) => {
                errors.push(e);
                state.failed_paths.extend(part.paths.iter().map(|p| p.pattern.clone()));
                state
                    .failed_paths
                    .extend(part.releases.iter().map(|r| format!("release {}", r.name)));
            }
        }
    }
    // A Rollout's `workloadRef` may name a Deployment another path or repository declares.
    crate::core::manifest::resolve_workload_refs(&mut state);
    Declared { state, errors }
}

/// Whether `env` is only releases of charts fetched from a Helm repository or registry, with
/// no values files: nothing of it is in a git repository.
fn reads_no_files(env: &EnvironmentConfig) -> bool {
    env.paths.is_empty()
        && env.releases.iter().all(|r| {
            !matches!(r.chart, crate::config::ChartSource::Path(_))
                && r.values_files
                    .iter()
                    .all(|f| r.values_file_elsewhere(f).is_some_and(|(repo, _)| repo.is_some()))
                && r.set_file.is_empty()
        })
}

/// Where a group of an environment's sources is read from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// The `[gitops]` repository.
    Default,
    Git(RepoRef),
    Artifact(ArtifactRef),
}

impl Source {
    fn of(repo: Option<&RepoRef>, artifact: Option<&ArtifactRef>) -> Self {
        match (artifact, repo) {
            (Some(a), _) => Self::Artifact(a.clone()),
            (None, Some(r)) => Self::Git(r.clone()),
            (None, None) => Self::Default,
        }
    }
}

/// `env`'s sources grouped by where they are read from, each group as an environment of its own
/// with only those paths and releases; the default repository first.
fn by_repository(env: &EnvironmentConfig) -> Vec<(Source, EnvironmentConfig)> {
    let mut groups: BTreeMap<Source, EnvironmentConfig> = BTreeMap::new();
    let empty = || EnvironmentConfig {
        paths: Vec::new(),
        releases: Vec::new(),
        ..env.clone()
    };
    for p in &env.paths {
        groups
            .entry(Source::of(p.repo.as_ref(), p.artifact.as_ref()))
            .or_insert_with(empty)
            .paths
            .push(p.clone());
    }
    for r in &env.releases {
        groups
            .entry(Source::of(r.git.as_ref(), None))
            .or_insert_with(empty)
            .releases
            .push(r.clone());
    }
    groups.into_iter().collect()
}

/// Digests `env` declares that did not pass through `from` first, with the commit that
/// introduced each, from the history walk on a blocking thread.
async fn lineage(
    cfg: &Config,
    sources: &Sources,
    env: &EnvironmentConfig,
    checkout: &Checkout,
    from: &str,
    depth: usize,
) -> Result<BTreeMap<String, String>, LineageError> {
    let from = cfg
        .environments
        .iter()
        .find(|e| e.name == from)
        .map(git_history::Declares::of)
        .unwrap_or_default();
    let (dir, to) = (checkout.dir.clone(), git_history::Declares::of(env));
    let cache = sources.history().clone();
    let walked = tokio::task::spawn_blocking(move || git_history::skipped(&dir, &to, &from, depth, &cache)).await;
    Ok(walked??)
}

/// What `env`'s cluster runs, through its source in `sources`. A config newer than `sources`
/// (a reload between the two) may name a cluster they lack: it gets a source for this audit.
async fn fetch_live(
    cfg: &Config,
    sources: &Sources,
    env: &EnvironmentConfig,
    list: ListOptions,
) -> Result<(LiveState, usize), ClusterError> {
    match sources.cluster(&env.cluster) {
        Some(source) => source.fetch(&env.cluster, list).await,
        None => {
            LiveSource::new(&env.cluster, cfg.audit.kube_timeout)
                .await
                .fetch(&env.cluster, list)
                .await
        }
    }
}

/// What git declares for one environment, for `driftwatch declared`. Render errors are
/// returned as an error: a partial listing would look complete.
pub async fn declared(
    cfg: &Config,
    renderer: &Renderer,
    env: &EnvironmentConfig,
) -> Result<(DeclaredReport, DeclaredState), DeclaredError> {
    let (checkout, files) = match sync(cfg).await {
        Ok((checkout, files, _)) => (Some(checkout), Some(files)),
        Err(e) if uses_default(env) => return Err(DeclaredError::Gitops(e)),
        Err(_) => (None, None),
    };
    let default = checkout
        .clone()
        .zip(files)
        .map(|(checkout, files)| RepoSnapshot { checkout, files });
    let envs = [env];
    // Lives until rendered: without a cache directory, its own temp directory holds the files.
    let pulls = crate::sources::artifacts(cfg);
    let (repositories, artifacts) = tokio::join!(sync_repositories(cfg, &envs), pull_artifacts(&pulls, &envs));
    let at = Repos {
        default: default.as_ref(),
        default_error: None,
        url: cfg.gitops.display_url(),
        others: &repositories,
        artifacts: &artifacts,
    };
    // No cluster is asked here: releases without a kube_version render for the default.
    let rendered = declare(renderer, &at, env, None).await;
    renderer.prune();
    if !rendered.errors.is_empty() {
        return Err(DeclaredError::Render(rendered.errors));
    }
    let state = rendered.state;
    let checkout = checkout.unwrap_or(Checkout {
        dir: PathBuf::new(),
        commit: None,
    });
    let report = DeclaredReport {
        schema: DECLARED_SCHEMA,
        environment: env.name.clone(),
        commit: checkout.commit,
        workloads: state.workloads.clone(),
        paths: state.renders.clone(),
        releases: state.releases.clone(),
    };
    Ok((report, state))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Overrides;

    #[tokio::test]
    async fn a_missing_gitops_path_stays_a_git_error_and_reads_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let text = format!(
            "[gitops]\npath = {:?}\n[[environments]]\nname = \"production\"\npaths = [\"apps\"]\n[environments.cluster]\nsnapshot = \"live.json\"\n",
            missing.display().to_string()
        );
        let cfg = Config::from_str(
            &text,
            config::FileFormat::Toml,
            "driftwatch.toml",
            dir.path(),
            &HashMap::new(),
            &Overrides::default(),
        )
        .unwrap();
        let err = checkout(&cfg).await.unwrap_err();
        assert!(matches!(&err, SyncError::Git(GitError::Local { .. })), "{err:?}");

        let renderer = crate::sources::renderer(&cfg, None);
        let err = declared(&cfg, &renderer, &cfg.environments[0]).await.unwrap_err();
        assert!(
            matches!(&err, DeclaredError::Gitops(SyncError::Git(GitError::Local { .. }))),
            "{err:?}"
        );
        let text = crate::error_chain(&err);
        let want = format!("gitops: gitops path {}: ", missing.display());
        assert!(text.starts_with(&want), "{text}");
        assert_eq!(
            text.matches("gitops path").count(),
            1,
            "the source is not repeated: {text}"
        );
    }
}
