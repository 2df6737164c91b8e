//! The status page's view model: what `GET /api/status` serves (schema
//! `driftwatch.status/v1`) and what the HTML pages render, built from a [`Report`] and the
//! order the environments are shown in. Pure.
//!
//! # `driftwatch.status/v1`
//! - `schema`, `generation` (grows with each audit the daemon completes; 0 for `--once`),
//!   `started_at`, `finished_at`, `duration_seconds`, `gitops` (`url`, `commit`,
//!   `commit_short`), `summary` (as in `driftwatch.report/v1`).
//! - `environments`: one per environment in page order ([`promotion_order`]): `name`,
//!   `cluster`, `status` (`ok`, `drift` = audited fully with findings, `incomplete`, `error`),
//!   `errors`, `incomplete`, `commit` (short SHA audited), `audited_at`, `duration_seconds`,
//!   `declared_workloads`, `live_workloads`, `findings` (`critical`, `warning`, `info`,
//!   `total`) and `ignored`. The audit times are the report's: a re-audit of some
//!   environments carries its own times for all.
//! - `matrix`: `environments` (the column order) and `rows`, sorted by namespace, workload and
//!   container: `namespace`, `workload` (`namespace/Kind/name`), `kind`, `name`, `container`
//!   (`null` for a row about the whole workload: missing or undeclared everywhere it is seen),
//!   `problem` (a cell is neither `in-sync` nor `absent`) and `cells`, one per environment in
//!   column order: `environment`, `state` ([`CellState`]), `declared_image`, `declared` and
//!   `running` (digests with a `label` and `tone` that are the same for the same digest across
//!   the row, `A`, `B`, …, so that staging running what production will get shows), `pods` on
//!   running digests, `live_image`, `since` (when the running rollout started, where known),
//!   `severity` (the worst finding's), `findings` (their fingerprints) and `ignored` (the state
//!   comes only from findings an ignore rule accepted).
//! - `findings`: every finding, then every ignored one (`ignored` holds the rule's `reason`
//!   and `expires`): `fingerprint`, `environment`, `severity`, `type`, `workload`,
//!   `namespace`, `container`, `declared`, `live_image`, `running`, `source`, `file`,
//!   `commit`, `message`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Report, Status, Summary};
use crate::core::compare::short;
use crate::core::dora::{Deployment, DeploymentKind, Episode};
use crate::core::ignore::Ignored;
use crate::core::model::{ContainerRun, Finding, FindingType, RunningDigest, Severity};

pub const STATUS_SCHEMA: &str = "driftwatch.status/v1";

/// Matrix rows per HTML page: a page of 200 rows × a handful of environments renders in a few
/// milliseconds, whatever the fleet's size.
pub const PAGE_ROWS: usize = 200;

/// Environments in page order: each environment of a `promoted_from` chain right after the one
/// it is promoted from (the chain's first environment where it stands in the config), then the
/// rest in config order. `envs` is `(name, promoted_from)` in config order.
pub fn promotion_order(envs: &[(&str, Option<&str>)]) -> Vec<String> {
    let involved: HashSet<&str> = envs
        .iter()
        .filter_map(|(name, from)| from.map(|f| [*name, f]))
        .flatten()
        .collect();
    let mut out: Vec<String> = Vec::with_capacity(envs.len());
    let mut seen: HashSet<&str> = HashSet::new();
    fn visit<'a>(
        name: &'a str,
        envs: &[(&'a str, Option<&'a str>)],
        seen: &mut HashSet<&'a str>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(name) {
            return;
        }
        out.push(name.to_string());
        for (next, _) in envs.iter().filter(|(_, from)| *from == Some(name)) {
            visit(next, envs, seen, out);
        }
    }
    // Chain roots: involved, promoted from nothing configured.
    for (name, from) in envs {
        let root = from.is_none_or(|f| !envs.iter().any(|(n, _)| *n == f));
        if involved.contains(name) && root {
            visit(name, envs, &mut seen, &mut out);
        }
    }
    // A cycle (config validation names it; kept here so no environment is ever dropped), then
    // the environments outside any chain.
    for (name, _) in envs.iter().filter(|(n, _)| involved.contains(n)) {
        visit(name, envs, &mut seen, &mut out);
    }
    for (name, _) in envs {
        if seen.insert(name) {
            out.push(name.to_string());
        }
    }
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct StatusView {
    pub schema: &'static str,
    pub generation: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub gitops: GitopsView,
    pub summary: Summary,
    pub environments: Vec<EnvironmentView>,
    pub matrix: Matrix,
    pub findings: Vec<FindingView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GitopsView {
    pub url: String,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
}

/// An environment's overall state, as the Environments table shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvStatus {
    Ok,
    /// Audited fully, with findings.
    Drift,
    Incomplete,
    Error,
}

impl EnvStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Drift => "drift",
            Self::Incomplete => "incomplete",
            Self::Error => "error",
        }
    }

    /// A symbol beside the word, so the state never rests on colour alone.
    pub fn icon(self) -> &'static str {
        match self {
            Self::Ok => "✓",
            Self::Drift => "⚠",
            Self::Incomplete => "◐",
            Self::Error => "✗",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
    pub total: usize,
}

impl Counts {
    fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::Warning => self.warning += 1,
            Severity::Info => self.info += 1,
        }
        self.total += 1;
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EnvironmentView {
    pub name: String,
    pub cluster: String,
    pub status: EnvStatus,
    pub errors: Vec<String>,
    pub incomplete: Vec<String>,
    pub commit: Option<String>,
    pub audited_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub declared_workloads: usize,
    pub live_workloads: usize,
    pub findings: Counts,
    pub ignored: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    pub environments: Vec<String>,
    pub rows: Vec<MatrixRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MatrixRow {
    pub namespace: String,
    /// `namespace/Kind/name`.
    pub workload: String,
    pub kind: String,
    pub name: String,
    pub container: Option<String>,
    pub problem: bool,
    pub cells: Vec<Cell>,
}

/// What one workload container is in one environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellState {
    /// Runs what git declares.
    InSync,
    /// Runs something else than git declares (digest or spec drift, a rollout stuck past its
    /// grace).
    Drifting,
    /// A rollout is under way, within its grace.
    RollingOut,
    /// Declared, not running.
    Missing,
    /// Running, declared by no path of the environment.
    Undeclared,
    /// Declared by tag, not by digest.
    Unpinned,
    /// What runs could not be told (a config ID instead of a digest, a registry that did not
    /// answer, an environment whose audit failed).
    Unverifiable,
    /// Not declared in this environment.
    Absent,
}

impl CellState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "in-sync",
            Self::Drifting => "drifting",
            Self::RollingOut => "rolling-out",
            Self::Missing => "missing",
            Self::Undeclared => "undeclared",
            Self::Unpinned => "unpinned",
            Self::Unverifiable => "unverifiable",
            Self::Absent => "absent",
        }
    }

    /// The words the page shows.
    pub fn label(self) -> &'static str {
        match self {
            Self::InSync => "in sync",
            Self::Drifting => "drifting",
            Self::RollingOut => "rolling out",
            Self::Missing => "missing",
            Self::Undeclared => "undeclared",
            Self::Unpinned => "unpinned",
            Self::Unverifiable => "unverifiable",
            Self::Absent => "not declared",
        }
    }

    pub fn icon(self) -> &'static str {
        match self {
            Self::InSync => "✓",
            Self::Drifting => "✗",
            Self::RollingOut => "↻",
            Self::Missing => "∅",
            Self::Undeclared => "+",
            Self::Unpinned => "#",
            Self::Unverifiable => "?",
            Self::Absent => "–",
        }
    }

    /// Whether the cell asks for attention.
    pub fn is_problem(self) -> bool {
        !matches!(self, Self::InSync | Self::Absent)
    }
}

/// A digest with the label it has across its row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Labelled {
    pub digest: String,
    pub short: String,
    /// `A`, `B`, …: the same digest has the same label across the row.
    pub label: String,
    /// The colour class (0..8) going with the label.
    pub tone: usize,
    /// Pods running it; `None` for a declared digest.
    pub pods: Option<usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub environment: String,
    pub state: CellState,
    pub declared_image: Option<String>,
    pub declared: Option<Labelled>,
    pub running: Vec<Labelled>,
    pub live_image: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub severity: Option<Severity>,
    pub findings: Vec<String>,
    pub ignored: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct FindingView {
    pub fingerprint: String,
    pub environment: String,
    pub severity: Severity,
    #[serde(rename = "type")]
    pub kind: FindingType,
    /// `namespace/Kind/name`, for a finding about a workload.
    pub workload: Option<String>,
    /// What the finding is about, as the page names it: `Kind/name`, a ConfigMap's name, a
    /// file.
    pub subject: String,
    pub namespace: String,
    pub container: Option<String>,
    pub declared: Option<String>,
    pub live_image: Option<String>,
    pub running: Vec<RunningDigest>,
    pub source: Option<String>,
    pub file: Option<String>,
    pub commit: Option<String>,
    pub message: String,
    pub ignored: Option<IgnoredBy>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IgnoredBy {
    pub reason: String,
    pub expires: Option<chrono::NaiveDate>,
}

/// The first 12 hex digits of a commit, keeping a `-dirty` mark.
fn short_commit(c: &str) -> String {
    match c.strip_suffix("-dirty") {
        Some(sha) => format!("{}-dirty", &sha[..sha.len().min(12)]),
        None => c[..c.len().min(12)].to_string(),
    }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

/// `namespace/Kind/name` of a finding about a workload.
fn workload_of(f: &Finding) -> Option<String> {
    match (&f.workload_kind, &f.name) {
        (Some(k), Some(n)) => Some(format!("{}/{}/{n}", f.namespace, k.as_str())),
        _ => None,
    }
}

/// The digest of an image reference (`repo@sha256:…`), if pinned.
fn digest_of(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, d)| d)
}

/// `A`…`Z`, then `AA`, `AB`, …
fn label(i: usize) -> String {
    if i < 26 {
        char::from(b'A' + i as u8).to_string()
    } else {
        format!("{}{}", label(i / 26 - 1), label(i % 26))
    }
}

/// Which findings decide a cell's state, strongest first; other types only mark the cell.
fn state_of(kind: FindingType) -> Option<CellState> {
    Some(match kind {
        FindingType::Missing => CellState::Missing,
        FindingType::Undeclared => CellState::Undeclared,
        FindingType::DigestDrift | FindingType::SpecDrift | FindingType::MixedRollout => CellState::Drifting,
        FindingType::Unpinned => CellState::Unpinned,
        FindingType::Unverifiable => CellState::Unverifiable,
        _ => return None,
    })
}

fn rank(s: CellState) -> u8 {
    match s {
        CellState::Missing => 0,
        CellState::Undeclared => 1,
        CellState::Drifting => 2,
        CellState::Unpinned => 3,
        CellState::Unverifiable => 4,
        _ => 5,
    }
}

/// A finding, and the ignore rule that accepted it.
type Entry<'a> = (&'a Finding, Option<&'a Ignored>);

impl StatusView {
    /// The view of `report`, environments in `order` (any the report has beyond it follow in
    /// report order).
    pub fn build(report: &Report, order: &[String]) -> StatusView {
        let mut envs: Vec<&super::EnvironmentResult> = order
            .iter()
            .filter_map(|n| report.environments.iter().find(|e| &e.name == n))
            .collect();
        for e in &report.environments {
            if !order.contains(&e.name) {
                envs.push(e);
            }
        }
        let index: HashMap<&str, usize> = envs.iter().enumerate().map(|(i, e)| (e.name.as_str(), i)).collect();
        let commit_short = report.gitops.commit.as_deref().map(short_commit);
        let duration = seconds(report.started_at, report.finished_at);

        let entries: Vec<Entry<'_>> = report
            .findings
            .iter()
            .map(|f| (f, None))
            .chain(report.ignored.iter().map(|i| (&i.finding, Some(i))))
            .collect();

        let environments = envs
            .iter()
            .map(|e| {
                let mut findings = Counts::default();
                for f in report.findings.iter().filter(|f| f.environment == e.name) {
                    findings.add(f.severity);
                }
                let status = match e.status {
                    Status::Error => EnvStatus::Error,
                    Status::Incomplete => EnvStatus::Incomplete,
                    Status::Ok if findings.total > 0 => EnvStatus::Drift,
                    Status::Ok => EnvStatus::Ok,
                };
                EnvironmentView {
                    name: e.name.clone(),
                    cluster: e.cluster.clone(),
                    status,
                    errors: e.errors.clone(),
                    incomplete: e.incomplete.clone(),
                    commit: commit_short.clone(),
                    audited_at: report.finished_at,
                    duration_seconds: duration,
                    declared_workloads: e.declared_workloads,
                    live_workloads: e.live_workloads,
                    findings,
                    ignored: report
                        .ignored
                        .iter()
                        .filter(|i| i.finding.environment == e.name)
                        .count(),
                }
            })
            .collect();

        let matrix = matrix(&envs, &index, &entries);

        let mut findings: Vec<FindingView> = entries.iter().map(|(f, i)| finding_view(f, *i)).collect();
        // Page order of environments; within one, as the audit sorted them; ignored last.
        findings.sort_by_key(|f| {
            (
                f.ignored.is_some(),
                index.get(f.environment.as_str()).copied().unwrap_or(usize::MAX),
            )
        });

        StatusView {
            schema: STATUS_SCHEMA,
            generation: 0,
            started_at: report.started_at,
            finished_at: report.finished_at,
            duration_seconds: duration,
            gitops: GitopsView {
                url: report.gitops.url.clone(),
                commit: report.gitops.commit.clone(),
                commit_short,
            },
            summary: report.summary.clone(),
            environments,
            matrix,
            findings,
        }
    }

    /// The matrix rows of one workload (`namespace/Kind/name`).
    pub fn rows_of(&self, workload: &str) -> Vec<&MatrixRow> {
        // Rows are sorted by namespace then workload: a binary search finds the first.
        let ns = workload.split('/').next().unwrap_or_default();
        let start = self
            .matrix
            .rows
            .partition_point(|r| (r.namespace.as_str(), r.workload.as_str()) < (ns, workload));
        self.matrix.rows[start..]
            .iter()
            .take_while(|r| r.workload == workload)
            .collect()
    }

    /// The findings about one workload, ignored ones included.
    pub fn findings_of(&self, workload: &str) -> Vec<&FindingView> {
        self.findings
            .iter()
            .filter(|f| f.workload.as_deref() == Some(workload))
            .collect()
    }

    /// Page `page` (from 1) of the matrix rows, and how many pages there are (at least 1).
    pub fn page(&self, page: usize) -> (&[MatrixRow], usize) {
        let pages = self.matrix.rows.len().div_ceil(PAGE_ROWS).max(1);
        let page = page.clamp(1, pages);
        let start = (page - 1) * PAGE_ROWS;
        let end = (start + PAGE_ROWS).min(self.matrix.rows.len());
        (&self.matrix.rows[start..end], pages)
    }
}

fn finding_view(f: &Finding, ignored: Option<&Ignored>) -> FindingView {
    FindingView {
        fingerprint: f.fingerprint.clone(),
        environment: f.environment.clone(),
        severity: f.severity,
        kind: f.kind,
        workload: workload_of(f),
        subject: super::workload(f),
        namespace: f.namespace.clone(),
        container: f.container.clone(),
        declared: f.declared.clone(),
        live_image: f.live_image.clone(),
        running: f.running.clone(),
        source: f.source.clone(),
        file: f.file.clone(),
        commit: f.commit.clone(),
        message: f.message.clone(),
        ignored: ignored.map(|i| IgnoredBy {
            reason: i.reason.clone(),
            expires: i.expires,
        }),
    }
}

/// Row key: namespace, workload, container (`None`: the whole workload).
type RowKey = (String, String, Option<String>);

fn matrix(envs: &[&super::EnvironmentResult], index: &HashMap<&str, usize>, entries: &[Entry<'_>]) -> Matrix {
    let namespace = |w: &str| w.split('/').next().unwrap_or_default().to_string();
    let mut rows: BTreeMap<RowKey, ()> = BTreeMap::new();
    let mut runs: HashMap<(usize, &str, &str), &ContainerRun> = HashMap::new();
    for (i, e) in envs.iter().enumerate() {
        for r in &e.runs {
            runs.insert((i, r.workload.as_str(), r.container.as_str()), r);
            rows.insert(
                (namespace(&r.workload), r.workload.clone(), Some(r.container.clone())),
                (),
            );
        }
    }
    // Findings by environment, workload and container (`None`: about the whole workload).
    let mut by_cell: HashMap<(usize, String, Option<String>), Vec<Entry<'_>>> = HashMap::new();
    let mut whole: HashSet<String> = HashSet::new();
    for (f, ig) in entries {
        let (Some(w), Some(&i)) = (workload_of(f), index.get(f.environment.as_str())) else {
            continue;
        };
        match &f.container {
            Some(c) => {
                rows.insert((f.namespace.clone(), w.clone(), Some(c.clone())), ());
            }
            None => {
                whole.insert(w.clone());
            }
        }
        by_cell.entry((i, w, f.container.clone())).or_default().push((f, *ig));
    }
    // A workload seen only as a whole (missing or undeclared everywhere) gets one row.
    for w in whole {
        let ns = namespace(&w);
        let has_rows = rows
            .range((ns.clone(), w.clone(), None)..)
            .next()
            .is_some_and(|((_, rw, _), _)| *rw == w);
        if !has_rows {
            rows.insert((ns, w, None), ());
        }
    }
    let declared: Vec<HashSet<String>> = envs
        .iter()
        .map(|e| e.declared.iter().map(|k| k.to_string()).collect())
        .collect();

    let rows = rows
        .into_keys()
        .map(|(ns, w, c)| {
            let mut parts = w.splitn(3, '/').skip(1);
            let kind = parts.next().unwrap_or_default().to_string();
            let name = parts.next().unwrap_or_default().to_string();
            let mut labels: Vec<String> = Vec::new();
            let cells: Vec<Cell> = envs
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let run = c.as_deref().and_then(|c| runs.get(&(i, w.as_str(), c)).copied());
                    let mut found: Vec<Entry<'_>> = Vec::new();
                    if let Some(v) = by_cell.get(&(i, w.clone(), None)) {
                        found.extend(v);
                    }
                    if c.is_some()
                        && let Some(v) = by_cell.get(&(i, w.clone(), c.clone()))
                    {
                        found.extend(v);
                    }
                    cell(e, run, &found, declared[i].contains(&w), &mut labels)
                })
                .collect();
            MatrixRow {
                namespace: ns,
                problem: cells.iter().any(|c| c.state.is_problem()),
                workload: w,
                kind,
                name,
                container: c,
                cells,
            }
        })
        .collect();
    Matrix {
        environments: envs.iter().map(|e| e.name.clone()).collect(),
        rows,
    }
}

fn labelled(digest: &str, pods: Option<usize>, labels: &mut Vec<String>) -> Labelled {
    let i = match labels.iter().position(|d| d == digest) {
        Some(i) => i,
        None => {
            labels.push(digest.to_string());
            labels.len() - 1
        }
    };
    Labelled {
        digest: digest.to_string(),
        short: short(digest),
        label: label(i),
        tone: i % 8,
        pods,
    }
}

fn cell(
    env: &super::EnvironmentResult,
    run: Option<&ContainerRun>,
    found: &[Entry<'_>],
    declared_here: bool,
    labels: &mut Vec<String>,
) -> Cell {
    let deciding = found
        .iter()
        .filter_map(|(f, ig)| state_of(f.kind).map(|s| (s, ig.is_some())))
        .min_by_key(|(s, _)| rank(*s));
    let state = match (deciding, run) {
        (Some((s, _)), _) => s,
        (None, Some(r)) if r.in_progress => CellState::RollingOut,
        (None, Some(_)) => CellState::InSync,
        (None, None) if declared_here && env.status == Status::Error => CellState::Unverifiable,
        (None, None) if found.iter().any(|(f, _)| f.declared.is_some()) => CellState::InSync,
        (None, None) => CellState::Absent,
    };
    // Only ignored findings decide the state: said beside it.
    let ignored = deciding.is_some()
        && found
            .iter()
            .filter(|(f, _)| state_of(f.kind) == Some(state))
            .all(|(_, ig)| ig.is_some());
    let declared_image = run
        .map(|r| r.declared_image.clone())
        .or_else(|| found.iter().find_map(|(f, _)| f.declared.clone()));
    let declared = declared_image
        .as_deref()
        .and_then(digest_of)
        .map(|d| labelled(d, None, labels));
    let running_digests: Vec<RunningDigest> = match run {
        Some(r) => r.digests.clone(),
        None => found
            .iter()
            .find(|(f, _)| !f.running.is_empty())
            .map(|(f, _)| f.running.clone())
            .unwrap_or_default(),
    };
    let running = if state == CellState::Absent {
        Vec::new()
    } else {
        running_digests
            .iter()
            .map(|r| labelled(&r.digest, Some(r.pods), labels))
            .collect()
    };
    let live_image = run
        .and_then(|r| r.live_image.clone())
        .or_else(|| found.iter().find_map(|(f, _)| f.live_image.clone()));
    let since = match state {
        CellState::Drifting | CellState::RollingOut => run.and_then(|r| r.rollout_started),
        _ => None,
    };
    Cell {
        environment: env.name.clone(),
        state,
        declared_image,
        declared,
        running,
        live_image,
        since,
        severity: found.iter().map(|(f, _)| f.severity).max(),
        findings: found.iter().map(|(f, _)| f.fingerprint.clone()).collect(),
        ignored,
    }
}

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
    ds.sort_by(|a, b| b.started_at.cmp(&a.started_at));
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
    es.sort_by(|a, b| b.first_seen.cmp(&a.first_seen));
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
