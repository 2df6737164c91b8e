//! After each audit of a process that keeps state (the daemon, `--once --notify`): records the
//! audit and its deployments in the store, attributing each new deployment to the commit that
//! declared its digest, or the tag its workload declares (git history, walked only when there
//! is a deployment to attribute), and
//! deletes history past `[store] retention`.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use tracing::{info, warn};

use crate::config::Config;
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
    let walked = match (steps.needs_attribution(), dir) {
        (true, Some(dir)) => walk(cfg, lineage, dir, report.gitops.commit.as_deref()).await,
        _ => None,
    };
    let new = store
        .record_deployments(steps, |d| match &walked {
            Some(l) => l.attribute(&d.environment, (&d.workload, &d.container), &d.digest),
            None => (None, Vec::new()),
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

/// The environments' paths and promotion chains, as the history walk takes them.
pub fn environment_paths(cfg: &Config) -> Vec<EnvironmentPaths> {
    cfg.environments
        .iter()
        .map(|e| EnvironmentPaths {
            name: e.name.clone(),
            paths: e.patterns(),
            releases: e
                .releases
                .iter()
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

async fn walk(cfg: &Config, cache: &LineageCache, dir: &Path, commit: Option<&str>) -> Option<Arc<Lineage>> {
    match cache.walk(dir, commit, &environment_paths(cfg), depth(cfg)).await {
        Ok(l) => Some(l),
        Err(e) => {
            warn!(error = %e, "git history unavailable: new deployments are recorded without their commits");
            None
        }
    }
}
