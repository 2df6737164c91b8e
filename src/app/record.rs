//! After each audit of a process that keeps state (the daemon, `--once --notify`): records the
//! audit and its deployments in the store, attributing each new deployment to the commit that
//! declared its digest, or the tag its workload declares (git history, walked only when there
//! is a deployment to attribute), and
//! deletes history past `[store] retention`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use tracing::{info, warn};

use crate::config::{Config, RepoRef};
use crate::core::dora::Deployment;
use crate::core::report::Report;
use crate::sources::lineage::{EnvironmentPaths, Lineage, LineageCache};
use crate::store::{Store, StoreError};

/// How far back the attribution looks, in commits, when an environment sets no
/// `promotion_depth`.
const DEPTH: usize = 500;

/// Records `report` (audited at `dir`, the checkout, and recorded in the alert state at `now`)
/// in `store`; returns the new deployments.
pub async fn after_audit(
    cfg: &Config,
    store: &Store,
    lineage: &LineageCache,
    report: &Report,
    dir: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<Vec<Deployment>, StoreError> {
    store.record_audit(report).await?;
    let steps = store.deployment_steps(report, now).await?;
    let walked = if steps.needs_attribution() {
        walk_all(cfg, lineage, dir, report.gitops.commit.as_deref()).await
    } else {
        BTreeMap::new()
    };
    let new = store
        .record_deployments(steps, |d| {
            let home = cfg
                .environments
                .iter()
                .find(|e| e.name == d.environment)
                .and_then(|e| e.history_repository().cloned());
            match walked.get(&home) {
                Some(l) => l.attribute(&d.environment, (&d.workload, &d.container), &d.digest),
                None => (None, Vec::new()),
            }
        })
        .await?;
    for d in &new {
        info!(
            environment = %d.environment,
            workload = %d.workload,
            container = %d.container,
            digest = %d.digest,
            kind = ?d.kind,
            commit = d.declared.as_ref().map(|c| c.commit.as_str()).unwrap_or("-"),
            "deployment"
        );
    }
    store.prune_history(cfg.store.retention, now).await?;
    Ok(new)
}

/// The repositories environments' histories are in (`None`: `[gitops]`), each once.
pub fn history_repositories(cfg: &Config) -> BTreeSet<Option<RepoRef>> {
    cfg.environments
        .iter()
        .map(|e| e.history_repository().cloned())
        .collect()
}

/// The paths and promotion chains of the environments whose history is in `repo` (`None`:
/// `[gitops]`), as the history walk of that repository takes them.
pub fn environment_paths(cfg: &Config, repo: Option<&RepoRef>) -> Vec<EnvironmentPaths> {
    cfg.environments
        .iter()
        .filter(|e| e.history_repository() == repo)
        .map(|e| EnvironmentPaths {
            name: e.name.clone(),
            paths: e.patterns(),
            releases: e
                .history_releases()
                .filter_map(crate::sources::release_history::HistoryRelease::from_config)
                .collect(),
            promoted_from: e.promoted_from.as_ref().map(|(from, _)| from.clone()),
        })
        .collect()
}

/// The deepest `promotion_depth` configured, else [`DEPTH`].
pub fn depth(cfg: &Config) -> usize {
    cfg.environments
        .iter()
        .filter_map(|e| e.promoted_from.as_ref().map(|(_, d)| *d))
        .max()
        .unwrap_or(DEPTH)
}

/// The walk of each repository environments' histories are in: the `[gitops]` checkout at
/// `dir` (audited at `commit`), and the cache of every other one, as the audit synced it. A
/// repository whose history cannot be walked is logged; its deployments are recorded without
/// their commits.
async fn walk_all(
    cfg: &Config,
    cache: &LineageCache,
    dir: Option<&Path>,
    commit: Option<&str>,
) -> BTreeMap<Option<RepoRef>, Arc<Lineage>> {
    let mut out = BTreeMap::new();
    for repo in history_repositories(cfg) {
        let (at, head) = match &repo {
            None => match dir {
                Some(d) => (d.to_path_buf(), commit.map(str::to_string)),
                None => continue,
            },
            // Another repository's cache, at the commit this audit synced it to.
            Some(r) => {
                let at = cfg.repositories.dir(r);
                let head = crate::sources::git::head(&at);
                (at, head)
            }
        };
        let paths = environment_paths(cfg, repo.as_ref());
        let walked = cache.walk(&at, head.as_deref(), &paths, depth(cfg)).await;
        keep(&mut out, cfg, repo, walked);
    }
    out
}

fn keep(
    out: &mut BTreeMap<Option<RepoRef>, Arc<Lineage>>,
    cfg: &Config,
    repo: Option<RepoRef>,
    walked: Result<Arc<Lineage>, crate::sources::git_history::HistoryError>,
) {
    match walked {
        Ok(l) => {
            out.insert(repo, l);
        }
        Err(e) => {
            let name = repo
                .as_ref()
                .map_or_else(|| cfg.gitops.display_url(), ToString::to_string);
            warn!(repository = %name, error = %e, "git history unavailable: new deployments are recorded without their commits");
        }
    }
}
