//! A workload's deployments and drift episodes (its page), and an environment's deployments
//! by week (the pipeline page's charts).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::short_commit;
use crate::core::compare::short;
use crate::core::dora::{Deployment, DeploymentKind, Episode};

/// One deployment of a workload, as its page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct DeploymentRow {
    pub environment: String,
    pub container: String,
    pub digest: String,
    pub short: String,
    pub previous: Option<String>,
    /// `promotion`, `rollback` or `hand` (a digest git does not declare).
    pub kind: &'static str,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// From the first declaration of the digest along the promotion chain to every Pod
    /// running it; promotions only.
    pub lead_time_seconds: Option<i64>,
    pub commit: Option<String>,
}

/// One drift episode of a workload.
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeRow {
    pub environment: String,
    pub container: Option<String>,
    pub finding_type: String,
    pub fingerprint: String,
    pub first_seen: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
}

/// The deployments and drift episodes of `workload` (`namespace/Kind/name`), newest first.
pub fn history_of(
    workload: &str,
    deployments: &[Deployment],
    episodes: &[Episode],
) -> (Vec<DeploymentRow>, Vec<EpisodeRow>) {
    let mut ds: Vec<DeploymentRow> = deployments
        .iter()
        .filter(|d| d.workload == workload)
        .map(|d| DeploymentRow {
            environment: d.environment.clone(),
            container: d.container.clone(),
            digest: d.digest.clone(),
            short: short(&d.digest),
            previous: d.previous_digest.as_deref().map(short),
            kind: match d.kind {
                DeploymentKind::Promotion => "promotion",
                DeploymentKind::Rollback => "rollback",
                DeploymentKind::Hand => "hand",
            },
            started_at: d.started_at,
            completed_at: d.completed_at,
            lead_time_seconds: match (d.kind, d.lineage.first(), d.completed_at) {
                (DeploymentKind::Promotion, Some(first), Some(done)) => Some((done - first.at).num_seconds().max(0)),
                _ => None,
            },
            commit: d.declared.as_ref().map(|c| short_commit(&c.commit)),
        })
        .collect();
    ds.sort_by_key(|d| std::cmp::Reverse(d.started_at));
    let mut es: Vec<EpisodeRow> = episodes
        .iter()
        .filter(|e| e.workload.as_deref() == Some(workload))
        .map(|e| EpisodeRow {
            environment: e.environment.clone(),
            container: e.container.clone(),
            finding_type: e.finding_type.clone(),
            fingerprint: e.fingerprint.clone(),
            first_seen: e.first_seen,
            resolved_at: e.resolved_at,
            duration_seconds: e.resolved_at.map(|r| (r - e.first_seen).num_seconds().max(0)),
        })
        .collect();
    es.sort_by_key(|e| std::cmp::Reverse(e.first_seen));
    (ds, es)
}

/// One week of an environment's deployments, for the pipeline page's charts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Week {
    pub start: DateTime<Utc>,
    /// Deployments (promotions, rollbacks, hand changes) that completed in the week.
    pub deployments: usize,
    /// The median lead time of the promotions that completed in the week.
    pub lead_time_median_seconds: Option<i64>,
}

/// The last `weeks` weeks of `environment`'s deployments up to `now`, oldest first.
pub fn weekly(deployments: &[Deployment], environment: &str, weeks: usize, now: DateTime<Utc>) -> Vec<Week> {
    let week = chrono::Duration::days(7);
    let first = now - week * i32::try_from(weeks).unwrap_or(i32::MAX);
    let mut out: Vec<(Week, Vec<i64>)> = (0..weeks)
        .map(|i| {
            (
                Week {
                    start: first + week * i as i32,
                    deployments: 0,
                    lead_time_median_seconds: None,
                },
                Vec::new(),
            )
        })
        .collect();
    for d in deployments.iter().filter(|d| d.environment == environment) {
        let Some(done) = d.completed_at.filter(|t| *t >= first && *t < now) else {
            continue;
        };
        let i = ((done - first).num_seconds() / week.num_seconds()) as usize;
        let Some((w, leads)) = out.get_mut(i) else {
            continue;
        };
        w.deployments += 1;
        if let (DeploymentKind::Promotion, Some(start)) = (d.kind, d.lineage.first()) {
            leads.push((done - start.at).num_seconds().max(0));
        }
    }
    out.into_iter()
        .map(|(mut w, leads)| {
            w.lead_time_median_seconds = crate::core::dora::compute::stat(leads).median;
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::status::fixtures::*;

    #[test]
    fn a_workload_history_lists_its_deployments_newest_first_with_lead_time() {
        use crate::core::dora::Declaration;
        let decl = |env: &str, t: &str| Declaration {
            environment: env.into(),
            commit: "abcdef0123456789".into(),
            at: at(t),
            revert: false,
        };
        let dep = |workload: &str, kind: DeploymentKind, started: &str, done: Option<&str>| Deployment {
            environment: "production".into(),
            workload: workload.into(),
            container: "api".into(),
            digest: D2.into(),
            previous_digest: Some(D1.into()),
            kind,
            started_at: at(started),
            completed_at: done.map(at),
            declared: Some(decl("production", "2026-11-20T09:00:00Z")),
            lineage: vec![decl("staging", "2026-11-20T08:00:00Z")],
            lineage_unjudged: None,
        };
        let deployments = [
            dep(
                "shop/Deployment/api",
                DeploymentKind::Promotion,
                "2026-11-20T10:00:00Z",
                Some("2026-11-20T10:05:00Z"),
            ),
            dep(
                "shop/Deployment/api",
                DeploymentKind::Rollback,
                "2026-11-21T10:00:00Z",
                Some("2026-11-21T10:01:00Z"),
            ),
            dep(
                "shop/Deployment/other",
                DeploymentKind::Promotion,
                "2026-11-22T10:00:00Z",
                None,
            ),
        ];
        let episodes = [Episode {
            environment: "production".into(),
            workload: Some("shop/Deployment/api".into()),
            container: Some("api".into()),
            finding_type: "digest-drift".into(),
            fingerprint: "fp".into(),
            first_seen: at("2026-11-21T09:00:00Z"),
            resolved_at: Some(at("2026-11-21T10:01:00Z")),
        }];
        let (ds, es) = history_of("shop/Deployment/api", &deployments, &episodes);
        assert_eq!(ds.iter().map(|d| d.kind).collect::<Vec<_>>(), ["rollback", "promotion"]);
        assert_eq!(
            ds[1].lead_time_seconds,
            Some(2 * 3600 + 300),
            "from staging's declaration"
        );
        assert_eq!(ds[0].lead_time_seconds, None, "a rollback is no change");
        assert_eq!(ds[1].commit.as_deref(), Some("abcdef012345"));
        assert_eq!(es.len(), 1);
        assert_eq!(es[0].duration_seconds, Some(3660));

        let weeks = weekly(&deployments, "production", 4, at("2026-11-26T00:00:00Z"));
        assert_eq!(weeks.len(), 4);
        assert_eq!(
            weeks.iter().map(|w| w.deployments).sum::<usize>(),
            2,
            "the open rollout is not counted"
        );
        assert_eq!(weeks[3].lead_time_median_seconds, Some(2 * 3600 + 300));
    }
}
