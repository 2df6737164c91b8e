//! What the DORA computation reads: deployments and drift episodes (observed by the daemon and
//! kept in the store, or estimated from git history alone), and the window to measure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where the deployments came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Seen running in the clusters by the daemon (the store's history).
    Observed,
    /// Estimated from git history alone (`dora --from-git`): a deployment is a commit that
    /// changed the digest an environment declares, and it ends at that commit.
    Git,
}

/// How a deployment came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    /// A digest git declares for this environment (a promotion, or the first build).
    Promotion,
    /// Back to the digest the workload ran before the previous deployment.
    Rollback,
    /// A digest git does not declare for this environment (`kubectl set image`, a hotfix).
    Hand,
}

/// A commit that declared something, with its commit time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub environment: String,
    pub commit: String,
    pub at: DateTime<Utc>,
    /// The commit is a revert (`git revert`'s "Revert \"…\"" subject, or a `This reverts commit`
    /// trailer).
    #[serde(default)]
    pub revert: bool,
}

/// One workload container moving to a new digest in one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub environment: String,
    /// `namespace/Kind/name`.
    pub workload: String,
    pub container: String,
    pub digest: String,
    pub previous_digest: Option<String>,
    pub kind: DeploymentKind,
    /// When the rollout started: the creation time of the ReplicaSet (or controller revision)
    /// carrying the template, else the first audit that saw it; for `Source::Git`, the commit
    /// time.
    pub started_at: DateTime<Utc>,
    /// When every Pod ran the digest; `None` while the rollout is under way. For
    /// `Source::Git`, the commit time.
    pub completed_at: Option<DateTime<Utc>>,
    /// The commit that declared `digest` in this environment (`None` for a hand change).
    pub declared: Option<Declaration>,
    /// The first declaration of `digest` in each environment of the `promoted_from` chain,
    /// first environment first, ending with this environment's (when declared). Lead time
    /// starts at `lineage[0].at`; stage times are the gaps between consecutive entries.
    pub lineage: Vec<Declaration>,
    /// Why `lineage` is empty although the change was declared here, when the history could
    /// not judge where it came from (a moving tag; a tag and a digest the registry did not
    /// resolve). `Source::Git` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage_unjudged: Option<String>,
}

/// One drift episode: a finding from first seen to resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    pub environment: String,
    /// `namespace/Kind/name`, when the finding is about a workload.
    pub workload: Option<String>,
    pub container: Option<String>,
    /// The finding type (`spec-drift`, `digest-drift`, …).
    pub finding_type: String,
    pub fingerprint: String,
    pub first_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The half-open time window measured: `since <= t < until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.since <= t && t < self.until
    }
}
