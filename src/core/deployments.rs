//! Deployments from what audits see running: a workload container moving to a new digest in
//! an environment. Pure: the store hands in what each container ran at the last audit and
//! writes back the steps. An environment's first audit is the baseline (what runs then was
//! deployed before driftwatch looked); after that, a container whose Pods move to a digest it
//! did not run is a deployment, complete once every Pod runs it. A rollout seen half-way
//! (old and new digests side by side) starts the deployment; a later audit completes it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::core::dora::{Deployment, DeploymentKind};
use crate::core::model::ContainerRun;

/// Digests a container ran before, kept to tell a rollback (back to one of them).
const REMEMBERED: usize = 10;

/// What one container ran at the last audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub digest: String,
    /// Digests it ran before `digest`, newest first.
    pub previous: Vec<String>,
    /// The deployment to `digest` (its start), when one was seen.
    pub deployment_started_at: Option<DateTime<Utc>>,
    /// Every Pod runs `digest`.
    pub complete: bool,
    /// The audit that first saw `digest`.
    pub since: DateTime<Utc>,
}

/// (workload, container)
pub type Key = (String, String);

/// What the store records for one container after an audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// What runs now, with no deployment to record (the environment's first audit).
    Baseline(Key, Running),
    /// A new deployment (complete or under way), and what runs now.
    Started(Key, Running, Box<Deployment>),
    /// The deployment that started at `started_at` reached every Pod.
    Completed {
        key: Key,
        running: Running,
        digest: String,
        started_at: DateTime<Utc>,
        completed_at: DateTime<Utc>,
    },
}

/// The steps for one environment's audit at `now`. `known` is what the store holds for the
/// environment; empty means this is its first audit (a baseline).
pub fn steps(
    environment: &str,
    runs: &[ContainerRun],
    known: &BTreeMap<Key, Running>,
    now: DateTime<Utc>,
) -> Vec<Step> {
    let baseline = known.is_empty();
    runs.iter()
        .filter_map(|run| {
            let key = (run.workload.clone(), run.container.clone());
            match known.get(&key) {
                None => first_seen(environment, run, key, baseline, now),
                Some(prev) => seen_before(environment, run, key, prev, now),
            }
        })
        .collect()
}

/// A container the store does not know yet: recorded only once it settled on one digest, as
/// the baseline at the environment's first audit and as a new deployment after it.
fn first_seen(environment: &str, run: &ContainerRun, key: Key, baseline: bool, now: DateTime<Utc>) -> Option<Step> {
    let [digest] = &run.digests[..] else { return None };
    if run.in_progress {
        return None;
    }
    let digest = digest.digest.as_str();
    let running = Running {
        digest: digest.to_string(),
        previous: Vec::new(),
        deployment_started_at: None,
        complete: true,
        since: now,
    };
    if baseline {
        return Some(Step::Baseline(key, running));
    }
    let started = run.rollout_started.filter(|t| *t <= now).unwrap_or(now);
    let deployment = deployment(
        environment,
        run,
        digest,
        None,
        kind(run, digest, &[]),
        started,
        Some(now),
    );
    let running = Running {
        deployment_started_at: Some(started),
        ..running
    };
    Some(Step::Started(key, running, Box::new(deployment)))
}

/// A container the store knows (`prev`): its deployment under way completes, or it moved to
/// one new digest.
fn seen_before(environment: &str, run: &ContainerRun, key: Key, prev: &Running, now: DateTime<Utc>) -> Option<Step> {
    let digests: Vec<&str> = run.digests.iter().map(|d| d.digest.as_str()).collect();
    // While the last deployment is under way its old Pods still run the digest before.
    let outgoing = (!prev.complete)
        .then(|| prev.previous.first().map(String::as_str))
        .flatten();
    let new: Vec<&str> = digests
        .iter()
        .copied()
        .filter(|d| *d != prev.digest && Some(*d) != outgoing)
        .collect();
    let settled = digests.len() == 1 && !run.in_progress;
    match new[..] {
        [] if !prev.complete && settled && digests[0] == prev.digest => Some(completed(key, prev, now)),
        [] => None,
        [digest] => Some(moved(environment, run, key, prev, digest, settled, now)),
        // Several new digests at once (a rollout replaced mid-way): wait until it settles.
        _ => None,
    }
}

/// Every Pod now runs the digest whose deployment was under way.
fn completed(key: Key, prev: &Running, now: DateTime<Utc>) -> Step {
    let running = Running {
        complete: true,
        ..prev.clone()
    };
    match prev.deployment_started_at {
        Some(started_at) => Step::Completed {
            key,
            running,
            digest: prev.digest.clone(),
            started_at,
            completed_at: now,
        },
        None => Step::Baseline(key, running),
    }
}

/// The container moved from `prev` to `digest`: a new deployment, complete when `settled`.
fn moved(
    environment: &str,
    run: &ContainerRun,
    key: Key,
    prev: &Running,
    digest: &str,
    settled: bool,
    now: DateTime<Utc>,
) -> Step {
    // A ReplicaSet created before the digest we knew (a rollback reuses the old one) does
    // not date this deployment; the audit that saw it does.
    let started = run
        .rollout_started
        .filter(|t| *t >= prev.since && *t <= now)
        .unwrap_or(now);
    let complete = settled;
    let mut previous = vec![prev.digest.clone()];
    previous.extend(
        prev.previous
            .iter()
            .filter(|d| *d != digest && **d != prev.digest)
            .cloned(),
    );
    previous.truncate(REMEMBERED);
    let deployment = deployment(
        environment,
        run,
        digest,
        Some(prev.digest.clone()),
        kind(run, digest, &prev.previous),
        started,
        complete.then_some(now),
    );
    let running = Running {
        digest: digest.to_string(),
        previous,
        deployment_started_at: Some(started),
        complete,
        since: now,
    };
    Step::Started(key, running, Box::new(deployment))
}

/// A rollback goes back to a digest the container ran before; a digest whose Pods were made
/// from a template naming another image than git declares is a hand change; anything else is
/// what git declared. The template is the one that made the Pods (their ReplicaSet's), not the
/// workload's spec as read: the audit reads the watch stores of Deployments and of ReplicaSets
/// and Pods, which events reach apart, so a new ReplicaSet's Pods can be read before the
/// Deployment change that made them, and a hand change would be judged by the spec before it
/// (the Deployment's spec is the fallback, for Pods whose controller was not read).
fn kind(run: &ContainerRun, digest: &str, before: &[String]) -> DeploymentKind {
    let live = run.made_as.get(digest).or(run.live_image.as_ref());
    if before.iter().any(|d| d == digest) {
        DeploymentKind::Rollback
    } else if live.is_some_and(|live| *live != run.declared_image) {
        DeploymentKind::Hand
    } else {
        DeploymentKind::Promotion
    }
}

fn deployment(
    environment: &str,
    run: &ContainerRun,
    digest: &str,
    previous_digest: Option<String>,
    kind: DeploymentKind,
    started_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
) -> Deployment {
    Deployment {
        environment: environment.to_string(),
        workload: run.workload.clone(),
        container: run.container.clone(),
        digest: digest.to_string(),
        previous_digest,
        kind,
        started_at,
        completed_at,
        declared: None,
        lineage: Vec::new(),
        lineage_unjudged: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::RunningDigest;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minute)
    }

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// `api` running `digests` (pod counts 1), declared as `declared`, live spec `live`.
    fn run(digests: &[char], in_progress: bool, declared: &str, live: &str, started: Option<i64>) -> ContainerRun {
        ContainerRun {
            workload: "shop/Deployment/api".into(),
            container: "api".into(),
            declared_image: declared.into(),
            live_image: Some(live.into()),
            made_as: BTreeMap::new(),
            digests: digests
                .iter()
                .map(|c| RunningDigest {
                    digest: digest(*c),
                    pods: 1,
                })
                .collect(),
            in_progress,
            rollout_started: started.map(t),
            signed: None,
        }
    }

    fn key() -> Key {
        ("shop/Deployment/api".into(), "api".into())
    }

    fn known(d: char, previous: &[char], complete: bool, since: i64) -> BTreeMap<Key, Running> {
        BTreeMap::from([(
            key(),
            Running {
                digest: digest(d),
                previous: previous.iter().map(|c| digest(*c)).collect(),
                deployment_started_at: Some(t(since)),
                complete,
                since: t(since),
            },
        )])
    }

    fn other() -> BTreeMap<Key, Running> {
        BTreeMap::from([(
            ("shop/Deployment/web".into(), "web".into()),
            Running {
                digest: digest('f'),
                previous: Vec::new(),
                deployment_started_at: None,
                complete: true,
                since: t(0),
            },
        )])
    }

    /// (name, known, run, expected: (kind, digest, previous, started minute, completed minute)
    /// of a new deployment; or "completed"/"baseline"/nothing)
    #[test]
    fn audits_turn_into_deployments() {
        let same = "r/api:1";
        type Want = Option<(DeploymentKind, char, Option<char>, i64, Option<i64>)>;
        let cases: Vec<(&str, BTreeMap<Key, Running>, ContainerRun, Want)> = vec![
            (
                "first audit of the environment is a baseline",
                BTreeMap::new(),
                run(&['a'], false, same, same, Some(-500)),
                None,
            ),
            (
                "unchanged digest is nothing",
                known('a', &[], true, 0),
                run(&['a'], false, same, same, None),
                None,
            ),
            (
                "a promotion, complete at once, dated by its ReplicaSet",
                known('a', &[], true, 0),
                run(&['b'], false, same, same, Some(50)),
                Some((DeploymentKind::Promotion, 'b', Some('a'), 50, Some(60))),
            ),
            (
                "a rollout seen half-way starts a deployment",
                known('a', &[], true, 0),
                run(&['a', 'b'], true, same, same, Some(55)),
                Some((DeploymentKind::Promotion, 'b', Some('a'), 55, None)),
            ),
            (
                "back to the digest before is a rollback, dated by the audit (the ReplicaSet is old)",
                known('b', &['a'], true, 30),
                run(&['a'], false, same, same, Some(-100)),
                Some((DeploymentKind::Rollback, 'a', Some('b'), 60, Some(60))),
            ),
            (
                "a digest the live spec names while git declares another image is a hand change",
                known('a', &[], true, 0),
                run(&['c'], false, same, "r/api:hotfix", Some(58)),
                Some((DeploymentKind::Hand, 'c', Some('a'), 58, Some(60))),
            ),
            (
                "a new workload after the baseline is a deployment with no previous digest",
                other(),
                run(&['a'], false, same, same, Some(40)),
                Some((DeploymentKind::Promotion, 'a', None, 40, Some(60))),
            ),
            (
                "a new workload still rolling out waits",
                other(),
                run(&['a', 'b'], true, same, same, None),
                None,
            ),
            (
                "old Pods of an unfinished deployment are not a new one",
                known('b', &['a'], false, 55),
                run(&['a', 'b'], true, same, same, Some(55)),
                None,
            ),
        ];
        for (name, known, run, want) in cases {
            let steps = steps("production", &[run], &known, t(60));
            let got = steps.iter().find_map(|s| match s {
                Step::Started(_, _, d) => Some((
                    d.kind,
                    d.digest.clone(),
                    d.previous_digest.clone(),
                    d.started_at,
                    d.completed_at,
                )),
                _ => None,
            });
            let want = want.map(|(k, d, p, s, c)| (k, digest(d), p.map(digest), t(s), c.map(t)));
            assert_eq!(got, want, "{name}: {steps:?}");
        }
    }

    /// The kind is judged by the template the Pods running the new digest were made from
    /// (their ReplicaSet's), where known: the Deployment as read may be older or newer than
    /// the ReplicaSets and Pods, whose watch events reach the daemon apart.
    #[test]
    fn a_deployment_is_judged_by_the_template_its_pods_were_made_from() {
        let same = "r/api:1";
        let made_as = |live: &str, image: &str| {
            let mut run = run(&['c'], false, same, live, Some(58));
            run.made_as.insert(digest('c'), image.into());
            run
        };
        let cases = [
            (
                "a hand-set image in the ReplicaSet, the Deployment read before its change",
                made_as(same, "r/api:hotfix"),
                DeploymentKind::Hand,
            ),
            (
                "git's image in the ReplicaSet, a hand change in the Deployment not rolled out yet",
                made_as("r/api:hotfix", same),
                DeploymentKind::Promotion,
            ),
        ];
        for (name, run, want) in cases {
            let steps = steps("production", &[run], &known('a', &[], true, 0), t(60));
            let got = steps.iter().find_map(|s| match s {
                Step::Started(_, _, d) => Some(d.kind),
                _ => None,
            });
            assert_eq!(got, Some(want), "{name}: {steps:?}");
        }
    }

    #[test]
    fn a_deployment_under_way_completes_when_every_pod_runs_it() {
        let known = known('b', &['a'], false, 55);
        let steps = steps(
            "production",
            &[run(&['b'], false, "r/api:1", "r/api:1", Some(55))],
            &known,
            t(70),
        );
        assert_eq!(steps.len(), 1);
        let Step::Completed {
            digest: d,
            started_at,
            completed_at,
            running,
            ..
        } = &steps[0]
        else {
            panic!("{steps:?}");
        };
        assert_eq!((d.clone(), *started_at, *completed_at), (digest('b'), t(55), t(70)));
        assert!(running.complete);
        assert_eq!(
            running.previous,
            vec![digest('a')],
            "the digest before is kept for a rollback"
        );
    }

    #[test]
    fn the_first_audit_records_what_runs_as_a_baseline() {
        let steps = steps(
            "production",
            &[run(&['a'], false, "r/api:1", "r/api:1", None)],
            &BTreeMap::new(),
            t(0),
        );
        assert!(
            matches!(&steps[..], [Step::Baseline(_, r)] if r.digest == digest('a') && r.complete),
            "{steps:?}"
        );
    }
}
