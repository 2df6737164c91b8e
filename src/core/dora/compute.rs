//! The DORA figures of a window, per environment and per workload. Each figure is one
//! function below, whose doc comment is its definition (the README quotes them).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::bands::{self, Band};
use super::model::{Deployment, DeploymentKind, Episode, Source, Window};

pub const DORA_SCHEMA: &str = "driftwatch.dora/v1";

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    pub window: Window,
    pub source: Source,
    /// A deployment followed within this long by a rollback, hotfix or revert failed.
    pub failure_window: Duration,
    /// The environments to report, in this order; every one in the inputs (sorted) when empty.
    pub environments: Vec<String>,
    /// Each environment's `promoted_from` chain: the environments upstream of it, first
    /// environment first. A change whose lineage misses one of them skipped a stage (what the
    /// audit reports as `promotion-skipped`): it has no lead time. Absent: not judged.
    pub chains: BTreeMap<String, Vec<String>>,
}

/// `driftwatch.dora/v1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoraReport {
    pub schema: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub source: Source,
    pub failure_window_seconds: u64,
    pub environments: Vec<EnvironmentFigures>,
    /// Every deployment counted (completed in the window, in the environments reported),
    /// oldest first: what the figures are made of, to check against `git log`.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One deployment counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it completed (for `source: git`, the commit time).
    pub at: DateTime<Utc>,
    pub environment: String,
    pub workload: String,
    /// Empty when unknown (`source: git` without a container name).
    pub container: String,
    pub kind: DeploymentKind,
    /// The digest, or the reference as declared when it names no digest (`repo:tag`).
    pub version: String,
    pub previous: Option<String>,
    /// The commit that declared it here (`null` for a hand change).
    pub commit: Option<String>,
    /// `null` for a rollback, a hand change, or a change that skipped a stage.
    pub lead_time_seconds: Option<i64>,
    /// The environments of the promotion chain it did not pass through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// Declared here, but where it came from cannot be judged (see
    /// [`Figures::unknown_lineage_changes`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown_lineage: bool,
    /// Why, when it is known (`unknown_lineage`): a moving tag, no registry configured to
    /// compare a tag with a digest, the tag not found, the registry unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_lineage_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentFigures {
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
    pub workloads: Vec<WorkloadFigures>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadFigures {
    /// `namespace/Kind/name`, or the image repository for `source: git`.
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The figures of one environment or workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub deployments: usize,
    pub deployments_per_day: f64,
    pub deployments_per_week: f64,
    pub lead_time_seconds: Stat,
    /// Changes that skipped a stage of the promotion chain (`promotion-skipped`): not lead
    /// time samples, since the gate they skipped took no time.
    #[serde(default)]
    pub skipped_stage_changes: usize,
    /// Changes declared here whose lineage cannot be judged (a moving tag such as `latest`, or
    /// a tag where an upstream environment declares the image by digest, or the reverse): no
    /// lead time rather than a guessed one.
    #[serde(default)]
    pub unknown_lineage_changes: usize,
    pub stages: Vec<StageStat>,
    /// `null` without deployments.
    pub change_failure_rate: Option<f64>,
    pub failed_deployments: usize,
    pub failures: Vec<Failure>,
    pub time_to_restore_seconds: Stat,
    pub unrestored_failures: usize,
    /// By finding type.
    pub drift_time_to_restore_seconds: BTreeMap<String, Stat>,
    pub bands: Bands,
}

/// A duration figure: `null`s with no samples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub median: Option<i64>,
    pub p90: Option<i64>,
    pub samples: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageStat {
    pub from: String,
    /// An environment, or `rollout` (declared in this environment → every Pod on it).
    pub to: String,
    #[serde(flatten)]
    pub stat: Stat,
}

/// A failed deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub workload: String,
    pub container: String,
    pub digest: String,
    pub deployed_at: DateTime<Utc>,
    /// `rollback`, `hotfix` or `revert`: the first sign of failure.
    pub reason: String,
    /// `null` while not restored.
    pub restored_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bands {
    pub deployment_frequency: Option<Band>,
    pub lead_time: Option<Band>,
    pub change_failure_rate: Option<Band>,
    pub time_to_restore: Option<Band>,
}

/// The report of `opts.window` from `deployments` and `episodes` (which may reach past the
/// window by the failure window, so that a failure just after it is seen).
pub fn compute(deployments: &[Deployment], episodes: &[Episode], opts: &Options) -> DoraReport {
    let names: Vec<String> = if opts.environments.is_empty() {
        let all: BTreeSet<&str> = deployments
            .iter()
            .map(|d| d.environment.as_str())
            .chain(episodes.iter().map(|e| e.environment.as_str()))
            .collect();
        all.into_iter().map(String::from).collect()
    } else {
        opts.environments.clone()
    };
    let environments: Vec<EnvironmentFigures> = names
        .into_iter()
        .map(|name| {
            let ds: Vec<&Deployment> = deployments.iter().filter(|d| d.environment == name).collect();
            let es: Vec<&Episode> = episodes.iter().filter(|e| e.environment == name).collect();
            let workloads: BTreeSet<&str> = ds
                .iter()
                .filter(|d| d.completed_at.is_some_and(|t| opts.window.contains(t)))
                .map(|d| d.workload.as_str())
                .chain(
                    es.iter()
                        .filter(|e| e.resolved_at.is_some_and(|t| opts.window.contains(t)))
                        .filter_map(|e| e.workload.as_deref()),
                )
                .collect();
            let workloads = workloads
                .into_iter()
                .map(|w| {
                    let wd: Vec<&Deployment> = ds.iter().copied().filter(|d| d.workload == w).collect();
                    let we: Vec<&Episode> = es
                        .iter()
                        .copied()
                        .filter(|e| e.workload.as_deref() == Some(w))
                        .collect();
                    WorkloadFigures {
                        name: w.to_string(),
                        figures: figures(&wd, &we, opts),
                    }
                })
                .collect();
            EnvironmentFigures {
                figures: figures(&ds, &es, opts),
                name,
                workloads,
            }
        })
        .collect();
    DoraReport {
        schema: DORA_SCHEMA.to_string(),
        since: opts.window.since,
        until: opts.window.until,
        source: opts.source,
        failure_window_seconds: opts.failure_window.as_secs(),
        events: events(deployments, &environments, opts),
        environments,
    }
}

/// The deployments counted in `environments`, oldest first.
fn events(deployments: &[Deployment], environments: &[EnvironmentFigures], opts: &Options) -> Vec<Event> {
    let mut out: Vec<Event> = deployments
        .iter()
        .filter(|d| environments.iter().any(|e| e.name == d.environment))
        .filter_map(|d| {
            let at = d.completed_at.filter(|t| opts.window.contains(*t))?;
            Some(Event {
                at,
                environment: d.environment.clone(),
                workload: d.workload.clone(),
                container: d.container.clone(),
                kind: d.kind,
                version: d.digest.clone(),
                previous: d.previous_digest.clone(),
                commit: d.declared.as_ref().map(|c| c.commit.clone()),
                lead_time_seconds: lead_time(d, opts),
                skipped: skipped(d, opts),
                unknown_lineage: unknown_lineage(d),
                unknown_lineage_reason: d.lineage_unjudged.clone().filter(|_| unknown_lineage(d)),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.at, &a.environment, &a.workload).cmp(&(b.at, &b.environment, &b.workload)));
    out
}

/// Whether `d` is a change declared here whose lineage the history could not judge: it came
/// with none (not even its own declaration).
fn unknown_lineage(d: &Deployment) -> bool {
    d.kind != DeploymentKind::Rollback && d.declared.is_some() && d.lineage.is_empty()
}

/// The environments of `d`'s promotion chain (`opts.chains`) its version was not declared in
/// before it reached `d`'s environment: the stages it skipped. Only for changes declared here.
fn skipped(d: &Deployment, opts: &Options) -> Vec<String> {
    let Some(chain) = opts.chains.get(&d.environment) else {
        return Vec::new();
    };
    let declared_here = d.lineage.last().is_some_and(|l| l.environment == d.environment);
    if d.kind == DeploymentKind::Rollback || !declared_here {
        return Vec::new();
    }
    chain
        .iter()
        .filter(|e| **e != d.environment && !d.lineage.iter().any(|l| l.environment == **e))
        .cloned()
        .collect()
}

fn figures(ds: &[&Deployment], es: &[&Episode], opts: &Options) -> Figures {
    let counted: Vec<&Deployment> = ds
        .iter()
        .copied()
        .filter(|d| d.completed_at.is_some_and(|t| opts.window.contains(t)))
        .collect();
    let days = (opts.window.until - opts.window.since).num_seconds().max(1) as f64 / 86_400.0;
    let n = counted.len();
    let per_day = n as f64 / days;
    let lead = stat(counted.iter().filter_map(|d| lead_time(d, opts)).collect());
    let failures: Vec<Failure> = counted.iter().filter_map(|d| failure(d, ds, es, opts)).collect();
    let restore = stat(
        failures
            .iter()
            .filter_map(|f| Some((f.restored_at? - f.deployed_at).num_seconds().max(0)))
            .collect(),
    );
    let change_failure_rate = (n > 0).then(|| round(failures.len() as f64 / n as f64, 3));
    Figures {
        deployments: n,
        deployments_per_day: significant(per_day),
        deployments_per_week: significant(per_day * 7.0),
        bands: Bands {
            deployment_frequency: (n > 0).then(|| bands::deployment_frequency(per_day)),
            lead_time: lead.median.map(|m| bands::lead_time(m as f64)),
            change_failure_rate: change_failure_rate.map(bands::change_failure_rate),
            time_to_restore: restore.median.map(|m| bands::time_to_restore(m as f64)),
        },
        lead_time_seconds: lead,
        skipped_stage_changes: counted.iter().filter(|d| !skipped(d, opts).is_empty()).count(),
        unknown_lineage_changes: counted.iter().filter(|d| unknown_lineage(d)).count(),
        stages: stages(&counted, opts),
        change_failure_rate,
        failed_deployments: failures.len(),
        unrestored_failures: failures.iter().filter(|f| f.restored_at.is_none()).count(),
        failures,
        time_to_restore_seconds: restore,
        drift_time_to_restore_seconds: drift_restore(es, &opts.window),
    }
}

/// Lead time for changes: `completed − lineage[0].at`, from the commit that first declared the
/// digest in the first environment of the `promoted_from` chain to every Pod running it here
/// (for `source: git`, to the commit declaring it here). Only for changes: hand changes have no
/// commit, and a rollback brings back what was already delivered. Not for a change that
/// skipped a stage of the promotion chain either: the gate it skipped took no time, and its
/// lead time would read as a fast pipeline (a change declared straight into production would
/// show 0 s).
fn lead_time(d: &Deployment, opts: &Options) -> Option<i64> {
    if d.kind == DeploymentKind::Rollback || !skipped(d, opts).is_empty() {
        return None;
    }
    let first = d.lineage.first()?;
    let secs = (d.completed_at? - first.at).num_seconds();
    (secs >= 0).then_some(secs)
}

/// Stages (of changes, not rollbacks): for each consecutive pair of the chain, the time between the digest's first
/// declarations there (`dev → staging`, `staging → production`); then `<environment> →
/// rollout`, from the commit declaring it here to every Pod running it (not for `source: git`,
/// where it is always zero). In chain order. A change that skipped a stage gives no
/// environment-to-environment samples (the pair it shows spans the stage it skipped).
fn stages(counted: &[&Deployment], opts: &Options) -> Vec<StageStat> {
    let source = opts.source;
    let mut order: Vec<(String, String)> = Vec::new();
    let mut samples: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    let mut add = |from: &str, to: &str, secs: i64| {
        let key = (from.to_string(), to.to_string());
        if !order.contains(&key) {
            order.push(key.clone());
        }
        samples.entry(key).or_default().push(secs.max(0));
    };
    let changes = counted.iter().filter(|d| d.kind != DeploymentKind::Rollback);
    for d in changes.clone().filter(|d| skipped(d, opts).is_empty()) {
        for pair in d.lineage.windows(2) {
            add(
                &pair[0].environment,
                &pair[1].environment,
                (pair[1].at - pair[0].at).num_seconds(),
            );
        }
    }
    let mut rollout = Vec::new();
    if source == Source::Observed {
        for d in changes {
            if let (Some(decl), Some(done)) = (&d.declared, d.completed_at) {
                rollout.push((d.environment.clone(), (done - decl.at).num_seconds()));
            }
        }
    }
    // The chain's pairs in chain order: a pair whose `to` is another's `from` comes first.
    let pairs = order.clone();
    order.sort_by_key(|(from, _)| {
        std::iter::successors(Some(from.clone()), |f| {
            pairs.iter().find(|(_, to)| to == f).map(|(from, _)| from.clone())
        })
        .take(pairs.len() + 1)
        .count()
    });
    let mut out: Vec<StageStat> = order
        .into_iter()
        .map(|key| {
            let stat = stat(samples.remove(&key).unwrap_or_default());
            StageStat {
                from: key.0,
                to: key.1,
                stat,
            }
        })
        .collect();
    if let Some((env, _)) = rollout.first() {
        let env = env.clone();
        out.push(StageStat {
            from: env,
            to: "rollout".into(),
            stat: stat(rollout.into_iter().map(|(_, s)| s).collect()),
        });
    }
    out
}

/// A sign of failure: when it came, why, and when it ended (`None` while it lasts).
type Signal<'a> = (DateTime<Utc>, &'a str, Option<DateTime<Utc>>);

/// Whether `d` failed: within the failure window after it completed (`T < t ≤ T + window`)
/// came a rollback (a later deployment of the same workload container back to a digest it ran
/// before, or to `d`'s previous digest), a hand hotfix (a `spec-drift` or `digest-drift`
/// episode on the workload) or a revert commit (a later deployment declared by a revert). The
/// earliest gives the reason. Restored when every one of them ended: the rollback or revert
/// completed, the hotfix drift resolved (the environment runs a declared, non-drifting digest
/// again); the latest of those ends.
fn failure(d: &Deployment, ds: &[&Deployment], es: &[&Episode], opts: &Options) -> Option<Failure> {
    let t = d.completed_at?;
    let end = t + chrono::Duration::from_std(opts.failure_window).unwrap_or(chrono::Duration::MAX);
    let within = |at: DateTime<Utc>| t < at && at <= end;
    // (when it came, why, when it ended)
    let mut signals: Vec<Signal> = Vec::new();
    for o in ds
        .iter()
        .filter(|o| o.workload == d.workload && o.container == d.container)
    {
        let at = match opts.source {
            Source::Observed => o.started_at,
            Source::Git => o.completed_at.unwrap_or(o.started_at),
        };
        if !within(at) {
            continue;
        }
        if o.declared.as_ref().is_some_and(|x| x.revert) {
            signals.push((at, "revert", o.completed_at));
        } else if o.kind == DeploymentKind::Rollback
            || o.previous_digest.is_some() && d.previous_digest.as_deref() == Some(o.digest.as_str())
        {
            signals.push((at, "rollback", o.completed_at));
        }
    }
    for e in es {
        let on_it = e.workload.as_deref() == Some(d.workload.as_str())
            && e.container.as_deref().is_none_or(|c| c == d.container);
        if on_it && matches!(e.finding_type.as_str(), "spec-drift" | "digest-drift") && within(e.first_seen) {
            signals.push((e.first_seen, "hotfix", e.resolved_at));
        }
    }
    let (_, reason, _) = *signals.iter().min_by_key(|(at, _, _)| *at)?;
    let restored_at = signals
        .iter()
        .map(|(_, _, end)| *end)
        .collect::<Option<Vec<_>>>()
        .and_then(|ends| ends.into_iter().max());
    Some(Failure {
        workload: d.workload.clone(),
        container: d.container.clone(),
        digest: d.digest.clone(),
        deployed_at: t,
        reason: reason.to_string(),
        restored_at,
    })
}

/// Drift time to restore, per finding type: `resolved − first seen` of the episodes resolved
/// in the window.
fn drift_restore(es: &[&Episode], window: &Window) -> BTreeMap<String, Stat> {
    let mut by_type: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in es {
        if let Some(resolved) = e.resolved_at.filter(|t| window.contains(*t)) {
            by_type
                .entry(e.finding_type.clone())
                .or_default()
                .push((resolved - e.first_seen).num_seconds().max(0));
        }
    }
    by_type.into_iter().map(|(k, v)| (k, stat(v))).collect()
}

/// Median (the middle value; the mean of the two middle ones for an even count) and p90
/// (nearest rank: the ⌈0.9·n⌉-th smallest), in whole seconds.
pub fn stat(mut v: Vec<i64>) -> Stat {
    if v.is_empty() {
        return Stat::default();
    }
    v.sort_unstable();
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        ((v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0).round() as i64
    };
    let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
    Stat {
        median: Some(median),
        p90: Some(v[rank - 1]),
        samples: n,
    }
}

/// `v` to three significant digits: a rate of one deployment in 2000 days stays 0.0035 a
/// week, not 0.
fn significant(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let places = 2 - v.abs().log10().floor() as i32;
    round(v, places.max(0))
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dora::model::Declaration;
    use crate::core::dora::{render_json, render_markdown, render_text};

    const H: i64 = 3600;
    const D: i64 = 86_400;

    /// Hours after the window's start.
    fn t(hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-10-27T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::hours(hours)
    }

    fn decl(env: &str, hours: i64) -> Declaration {
        Declaration {
            environment: env.into(),
            commit: format!("c-{env}-{hours}"),
            at: t(hours),
            revert: false,
        }
    }

    /// A promotion of `digest` to production completed at `done`, declared in dev, staging and
    /// production at `chain` hours.
    fn promo(digest: &str, previous: Option<&str>, chain: [i64; 3], done: i64) -> Deployment {
        let lineage = vec![
            decl("dev", chain[0]),
            decl("staging", chain[1]),
            decl("production", chain[2]),
        ];
        Deployment {
            environment: "production".into(),
            workload: "shop/Deployment/api".into(),
            container: "api".into(),
            digest: digest.into(),
            previous_digest: previous.map(String::from),
            kind: DeploymentKind::Promotion,
            started_at: t(done) - chrono::Duration::minutes(5),
            completed_at: Some(t(done)),
            declared: Some(decl("production", chain[2])),
            lineage,
            lineage_unjudged: None,
        }
    }

    fn rollback(digest: &str, previous: &str, at: i64) -> Deployment {
        Deployment {
            kind: DeploymentKind::Rollback,
            started_at: t(at),
            completed_at: Some(t(at) + chrono::Duration::minutes(2)),
            declared: None,
            lineage: Vec::new(),
            ..promo(digest, Some(previous), [0, 0, 0], at)
        }
    }

    fn episode(kind: &str, from: i64, to: Option<i64>) -> Episode {
        Episode {
            environment: "production".into(),
            workload: Some("shop/Deployment/api".into()),
            container: Some("api".into()),
            finding_type: kind.into(),
            fingerprint: format!("f-{from}"),
            first_seen: t(from),
            resolved_at: to.map(t),
        }
    }

    fn opts(source: Source) -> Options {
        Options {
            window: Window {
                since: t(0),
                until: t(30 * 24),
            },
            source,
            failure_window: Duration::from_secs(24 * 3600),
            environments: vec!["production".into()],
            chains: BTreeMap::from([("production".into(), vec!["dev".into(), "staging".into()])]),
        }
    }

    fn prod(ds: &[Deployment], es: &[Episode]) -> Figures {
        compute(ds, es, &opts(Source::Observed)).environments.remove(0).figures
    }

    #[test]
    fn median_and_p90_nearest_rank() {
        let cases = [
            ("odd count: the middle", vec![5, 1, 3], (3, 5)),
            ("even count: the mean of the middle two", vec![1, 2, 3, 4], (3, 4)),
            ("ten values: p90 is the 9th", (1..=10).collect(), (6, 9)),
            ("one sample", vec![7], (7, 7)),
        ];
        for (name, v, (median, p90)) in cases {
            let s = stat(v);
            assert_eq!((s.median, s.p90), (Some(median), Some(p90)), "{name}");
        }
        assert_eq!(stat(vec![]), Stat::default(), "no samples: nulls");
    }

    #[test]
    fn a_clean_chain_gives_lead_time_and_stages_in_chain_order() {
        // dev at 0h, staging at 24h, production at 30h, every Pod on it at 31h.
        let f = prod(&[promo("d2", Some("d1"), [0, 24, 30], 31)], &[]);
        assert_eq!(f.deployments, 1);
        assert_eq!(f.lead_time_seconds.median, Some(31 * H));
        let stages: Vec<(String, String, Option<i64>)> = f
            .stages
            .iter()
            .map(|s| (s.from.clone(), s.to.clone(), s.stat.median))
            .collect();
        assert_eq!(
            stages,
            vec![
                ("dev".into(), "staging".into(), Some(24 * H)),
                ("staging".into(), "production".into(), Some(6 * H)),
                ("production".into(), "rollout".into(), Some(H)),
            ]
        );
        assert_eq!(f.change_failure_rate, Some(0.0));
        assert_eq!(f.bands.lead_time, Some(Band::High));
    }

    #[test]
    fn a_slow_staging_gate_shows_in_its_stage() {
        let ds = [
            promo("d2", Some("d1"), [0, 2, 200], 201),
            promo("d3", Some("d2"), [300, 302, 500], 501),
        ];
        let f = prod(&ds, &[]);
        let gate = f.stages.iter().find(|s| s.from == "staging").unwrap();
        assert_eq!(gate.stat.median, Some(198 * H), "staging → production holds it 8 days");
        let dev = f.stages.iter().find(|s| s.from == "dev").unwrap();
        assert_eq!(dev.stat.median, Some(2 * H));
    }

    #[test]
    fn failures_and_restores() {
        type Want = (usize, Option<&'static str>, Option<i64>, usize);
        let cases: Vec<(&str, Vec<Deployment>, Vec<Episode>, Want)> = vec![
            (
                "a rollback within the window fails it, restored when the rollback completed",
                vec![promo("d2", Some("d1"), [0, 1, 2], 10), rollback("d1", "d2", 12)],
                vec![],
                (1, Some("rollback"), Some(2 * H + 120), 0),
            ),
            (
                "a rollback after the failure window does not",
                vec![promo("d2", Some("d1"), [0, 1, 2], 10), rollback("d1", "d2", 40)],
                vec![],
                (0, None, None, 0),
            ),
            (
                "a hand hotfix fails it, restored when its drift resolved",
                vec![promo("d2", Some("d1"), [0, 1, 2], 10)],
                vec![episode("spec-drift", 11, Some(15))],
                (1, Some("hotfix"), Some(5 * H), 0),
            ),
            (
                "an unresolved hotfix is a failure not restored yet",
                vec![promo("d2", Some("d1"), [0, 1, 2], 10)],
                vec![episode("digest-drift", 11, None)],
                (1, Some("hotfix"), None, 1),
            ),
            (
                "other drift is not a failure",
                vec![promo("d2", Some("d1"), [0, 1, 2], 10)],
                vec![episode("unpinned", 11, Some(12))],
                (0, None, None, 0),
            ),
            (
                "a revert commit fails it",
                vec![promo("d2", Some("d1"), [0, 1, 2], 10), {
                    let mut r = promo("d1", Some("d2"), [0, 1, 20], 21);
                    r.declared.as_mut().unwrap().revert = true;
                    r
                }],
                vec![],
                (1, Some("revert"), Some(11 * H), 0),
            ),
        ];
        for (name, ds, es, (failed, reason, restore, unrestored)) in cases {
            let f = prod(&ds, &es);
            assert_eq!(f.failed_deployments, failed, "{name}: {f:#?}");
            assert_eq!(f.failures.first().map(|x| x.reason.as_str()), reason, "{name}");
            assert_eq!(f.time_to_restore_seconds.median, restore, "{name}");
            assert_eq!(f.unrestored_failures, unrestored, "{name}");
        }
    }

    #[test]
    fn a_hand_change_is_not_failed_by_its_own_drift() {
        let mut hand = promo("d9", Some("d1"), [0, 0, 0], 10);
        hand.kind = DeploymentKind::Hand;
        hand.lineage.clear();
        hand.declared = None;
        let f = prod(&[hand], &[episode("spec-drift", 10, None)]);
        assert_eq!((f.deployments, f.failed_deployments), (1, 0));
        assert_eq!(f.lead_time_seconds.samples, 0, "no commit: no lead time");
    }

    #[test]
    fn no_deployments_is_no_data_not_a_band() {
        let r = compute(&[], &[], &opts(Source::Observed));
        let f = &r.environments[0].figures;
        assert_eq!((f.deployments, f.deployments_per_week), (0, 0.0));
        assert_eq!(f.change_failure_rate, None);
        assert_eq!(f.lead_time_seconds, Stat::default());
        assert_eq!(f.bands.deployment_frequency, None, "no deployments: no data, not low");
        assert_eq!((f.bands.lead_time, f.bands.change_failure_rate), (None, None));
        let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
        assert_eq!(json["schema"], "driftwatch.dora/v1");
        assert_eq!(
            json["environments"][0]["lead_time_seconds"]["median"],
            serde_json::Value::Null
        );
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "environments",
                "events",
                "failure_window_seconds",
                "schema",
                "since",
                "source",
                "until"
            ]
        );
        assert_eq!(serde_json::from_value::<DoraReport>(json).unwrap(), r, "round-trips");
        let text = render_text(&r);
        assert!(text.contains("no data (no deployments in 30 days)"), "{text}");
        assert!(!text.contains("low"), "{text}");
    }

    #[test]
    fn a_change_that_skipped_a_stage_has_no_lead_time_and_says_so() {
        let mut skipping = promo("d3", Some("d2"), [0, 0, 10], 11);
        skipping.lineage.remove(1);
        let ds = [promo("d2", Some("d1"), [0, 24, 30], 31), skipping];
        let r = compute(&ds, &[], &opts(Source::Observed));
        let f = &r.environments[0].figures;
        assert_eq!(f.lead_time_seconds.samples, 1, "not a 0 s or 11 h sample");
        assert_eq!(f.skipped_stage_changes, 1);
        assert!(f.stages.iter().all(|s| !(s.from == "dev" && s.to == "production")));
        let event = r.events.iter().find(|e| e.version == "d3").expect("d3 counted");
        assert_eq!(event.skipped, vec!["staging".to_string()]);
        assert_eq!(event.lead_time_seconds, None);
        assert!(render_text(&r).contains("1 change skipped a stage"));
    }

    #[test]
    fn the_rate_keeps_its_precision_and_counts_read_in_the_singular() {
        let one = prod(&[promo("d2", Some("d1"), [0, 0, 0], 5)], &[]);
        assert_eq!(one.deployments_per_week, 0.233, "1 in 30 days");
        assert_eq!(
            crate::core::dora::render::frequency(&one, 30),
            "1 every 4.3 weeks (1 deployment in 30 days)"
        );
    }

    #[test]
    fn frequency_per_day_and_week_with_its_band() {
        // 30 completed in a 30-day window: one a day, elite; one outside the window not counted.
        let mut ds: Vec<Deployment> = (0..30)
            .map(|i| promo(&format!("d{i}"), None, [0, 0, 0], i * 24 + 1))
            .collect();
        ds.push(promo("late", None, [0, 0, 0], 31 * 24));
        let f = prod(&ds, &[]);
        assert_eq!(
            (f.deployments, f.deployments_per_day, f.deployments_per_week),
            (30, 1.0, 7.0)
        );
        assert_eq!(f.bands.deployment_frequency, Some(Band::Elite));
    }

    #[test]
    fn a_single_sample_says_so_and_workloads_get_their_own_figures() {
        let mut web = promo("w2", Some("w1"), [0, 1, 2], 5);
        web.workload = "shop/Deployment/web".into();
        let r = compute(
            &[promo("d2", Some("d1"), [0, 1, 2], 3), web],
            &[],
            &opts(Source::Observed),
        );
        let text = render_text(&r);
        assert!(text.contains("n=2, too few for a trend"), "{text}");
        let names: Vec<(&str, usize)> = r.environments[0]
            .workloads
            .iter()
            .map(|w| (w.name.as_str(), w.figures.deployments))
            .collect();
        assert_eq!(names, vec![("shop/Deployment/api", 1), ("shop/Deployment/web", 1)]);
        assert_eq!(
            r.environments[0].workloads[1].figures.lead_time_seconds.median,
            Some(5 * H)
        );
        let md = render_markdown(&r);
        assert!(
            md.contains("| Lead time for changes | median 4h, p90 5h | 2 (too few for a trend) | elite |"),
            "{md}"
        );
    }

    #[test]
    fn git_estimates_have_no_rollout_stage_and_say_what_they_are() {
        let mut d = promo("d2", Some("d1"), [0, 24, 48], 48);
        d.started_at = t(48);
        let r = compute(&[d], &[], &opts(Source::Git));
        let f = &r.environments[0].figures;
        assert!(f.stages.iter().all(|s| s.to != "rollout"));
        assert_eq!(f.lead_time_seconds.median, Some(2 * D));
        assert!(render_text(&r).contains("declared-side estimate from git history"));
    }
}
