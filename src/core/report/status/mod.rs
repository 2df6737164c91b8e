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
//!   running digests, `live_image`, `since` (when the drift was first seen, from the daemon's
//!   alert state; else when the running rollout started, where known),
//!   `severity` (the worst finding's), `findings` (their fingerprints) and `ignored` (the state
//!   comes only from findings an ignore rule accepted).
//! - `findings`: every finding, then every ignored one (`ignored` holds the rule's `reason`
//!   and `expires`): `fingerprint`, `environment`, `severity`, `type`, `workload`,
//!   `namespace`, `container`, `declared`, `live_image`, `running`, `source`, `file`,
//!   `commit`, `message`, `first_seen` and `age_seconds` (at the audit; `null` without the
//!   daemon's store, as in `--once --format html`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Report, Status, Summary};
use crate::core::compare::short;
use crate::core::dora::{Deployment, DeploymentKind, Episode};
use crate::core::ignore::Ignored;
use crate::core::model::{ContainerRun, Finding, FindingType, RunningDigest, Severity};

pub const STATUS_SCHEMA: &str = "driftwatch.status/v1";

/// Matrix rows per HTML page. Measured (unoptimised test build, 2 cores) at 4,000 workloads ×
/// 4 environments: building the view takes about 110 ms (the daemon does it once per audit, on
/// the first request after it), rendering one page of 200 rows about 6 ms (450 kB); the whole
/// matrix as `/api/status` JSON about 260 ms (11 MB) and as the standalone file about 100 ms
/// (8.5 MB). A release build is several times faster.
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
    /// When the alert state first saw it (the daemon's store); `None` without one (`--once`).
    pub first_seen: Option<DateTime<Utc>>,
    /// How long it had lasted when the audit finished, in seconds.
    pub age_seconds: Option<i64>,
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
    /// Adds when each finding was first seen (the alert state's times, by fingerprint): on the
    /// finding, and as the "since" of a drifting cell (the earliest of its findings), which is
    /// when the drift began rather than when the running rollout did.
    pub fn with_first_seen(&mut self, first_seen: &HashMap<String, DateTime<Utc>>) {
        for f in &mut self.findings {
            f.first_seen = first_seen.get(&f.fingerprint).copied();
            f.age_seconds = f.first_seen.map(|t| (self.finished_at - t).num_seconds().max(0));
        }
        for row in &mut self.matrix.rows {
            for cell in &mut row.cells {
                if let Some(t) = cell.findings.iter().filter_map(|fp| first_seen.get(fp)).min() {
                    cell.since = Some(*t);
                }
            }
        }
    }

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
        first_seen: None,
        age_seconds: None,
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
pub(super) mod tests {
    use super::*;
    use crate::core::model::{WorkloadKey, WorkloadKind};
    use crate::core::report::{EnvironmentResult, GitopsInfo};

    pub const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    pub const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    pub const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const REPO: &str = "registry.example.com/shop";

    pub fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    pub fn image(name: &str, digest: &str) -> String {
        format!("{REPO}/{name}@{digest}")
    }

    /// `name` (container `name`) declared as `declared` and running `digests`.
    pub fn run(name: &str, declared: &str, digests: &[(&str, usize)], in_progress: bool) -> ContainerRun {
        ContainerRun {
            workload: format!("shop/Deployment/{name}"),
            container: name.into(),
            declared_image: declared.into(),
            live_image: Some(declared.into()),
            digests: digests
                .iter()
                .map(|(d, pods)| RunningDigest {
                    digest: d.to_string(),
                    pods: *pods,
                })
                .collect(),
            in_progress,
            rollout_started: Some(at("2026-11-25T14:02:00Z")),
        }
    }

    pub fn env(name: &str, declared: &[&str], runs: Vec<ContainerRun>) -> EnvironmentResult {
        EnvironmentResult {
            name: name.into(),
            cluster: format!("{name}-eu1"),
            status: Status::Ok,
            errors: Vec::new(),
            incomplete: Vec::new(),
            declared_workloads: declared.len(),
            live_workloads: runs.len(),
            declared: declared
                .iter()
                .map(|n| WorkloadKey {
                    kind: WorkloadKind::Deployment,
                    namespace: "shop".into(),
                    name: n.to_string(),
                })
                .collect(),
            paths: Vec::new(),
            runs,
        }
    }

    /// A finding about shop/Deployment `name` in `env`; `container` `None`: about the whole
    /// workload.
    pub fn finding(env: &str, name: &str, kind: FindingType, container: Option<&str>, running: &[&str]) -> Finding {
        let mut f = Finding::sample(env, name, kind, Severity::Warning);
        f.container = container.map(str::to_string);
        f.declared = container.map(|_| image(name, D1));
        f.running = running
            .iter()
            .map(|d| RunningDigest {
                digest: d.to_string(),
                pods: 2,
            })
            .collect();
        f.message = format!("{kind} of {name} in {env}");
        f
    }

    /// Two environments, production promoted from staging but listed first in the config:
    /// - api: staging runs D2 as declared; production declares D1 and runs D2 (digest drift);
    /// - worker: staging rolling out; not declared in production;
    /// - gone: staging in sync; production missing;
    /// - stray: undeclared in production only;
    /// - tagged: unpinned in staging;
    /// - flaky: in production, drift accepted by an ignore rule.
    pub fn fleet() -> Report {
        let production = env(
            "production",
            &["api", "gone", "flaky"],
            vec![
                run("api", &image("api", D1), &[(D2, 3)], false),
                run("flaky", &image("flaky", D1), &[(D3, 1)], false),
            ],
        );
        let staging = env(
            "staging",
            &["api", "worker", "gone", "tagged"],
            vec![
                run("api", &image("api", D2), &[(D2, 2)], false),
                run("worker", &image("worker", D3), &[(D1, 1), (D3, 1)], true),
                run("gone", &image("gone", D1), &[(D1, 1)], false),
                run("tagged", &format!("{REPO}/tagged:v1"), &[(D3, 1)], false),
            ],
        );
        let mut r = Report::new(
            at("2026-11-26T10:00:00Z"),
            at("2026-11-26T10:00:12Z"),
            GitopsInfo {
                url: "https://git.example.com/infra.git".into(),
                commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            },
            vec![production, staging],
            vec![
                finding("production", "api", FindingType::DigestDrift, Some("api"), &[D2]),
                finding("production", "gone", FindingType::Missing, None, &[]),
                finding("production", "stray", FindingType::Undeclared, None, &[D3]),
                finding("staging", "tagged", FindingType::Unpinned, Some("tagged"), &[]),
                finding("production", "flaky", FindingType::DigestDrift, Some("flaky"), &[D3]),
            ],
        );
        let rules = crate::core::ignore::parse(
            "ignore:\n  - fingerprint: production-flaky-digest-drift\n    reason: canary under test, TICKET-7\n",
        )
        .unwrap();
        r.apply_ignore_rules(&rules, chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        r
    }

    pub fn order() -> Vec<String> {
        vec!["staging".into(), "production".into()]
    }

    fn cell<'a>(v: &'a StatusView, workload: &str, container: Option<&str>, env: &str) -> &'a Cell {
        let row = v
            .matrix
            .rows
            .iter()
            .find(|r| r.workload == format!("shop/Deployment/{workload}") && r.container.as_deref() == container)
            .unwrap_or_else(|| panic!("no row {workload}/{container:?}"));
        row.cells.iter().find(|c| c.environment == env).unwrap()
    }

    #[test]
    fn each_cell_says_what_the_container_is_in_that_environment() {
        let v = StatusView::build(&fleet(), &order());
        let cases = [
            ("api", Some("api"), "staging", CellState::InSync),
            ("api", Some("api"), "production", CellState::Drifting),
            ("worker", Some("worker"), "staging", CellState::RollingOut),
            ("worker", Some("worker"), "production", CellState::Absent),
            ("gone", Some("gone"), "staging", CellState::InSync),
            ("gone", Some("gone"), "production", CellState::Missing),
            ("stray", None, "production", CellState::Undeclared),
            ("stray", None, "staging", CellState::Absent),
            ("tagged", Some("tagged"), "staging", CellState::Unpinned),
            ("flaky", Some("flaky"), "production", CellState::Drifting),
        ];
        for (workload, container, env, want) in cases {
            assert_eq!(
                cell(&v, workload, container, env).state,
                want,
                "{workload}/{container:?} in {env}"
            );
        }
        assert!(
            cell(&v, "flaky", Some("flaky"), "production").ignored,
            "an accepted drift says so"
        );
        assert!(!cell(&v, "api", Some("api"), "production").ignored);
    }

    #[test]
    fn a_drifting_cell_shows_the_running_digest_with_the_label_it_has_elsewhere_in_the_row() {
        let v = StatusView::build(&fleet(), &order());
        let staging = cell(&v, "api", Some("api"), "staging");
        let production = cell(&v, "api", Some("api"), "production");
        let d2 = staging.declared.as_ref().unwrap();
        assert_eq!((d2.digest.as_str(), d2.label.as_str()), (D2, "A"));
        assert_eq!(staging.running[0].label, "A", "staging runs what it declares");
        let d1 = production.declared.as_ref().unwrap();
        assert_eq!((d1.digest.as_str(), d1.label.as_str()), (D1, "B"));
        assert_eq!(production.running.len(), 1);
        assert_eq!(
            (production.running[0].label.as_str(), production.running[0].pods),
            ("A", Some(3)),
            "production runs staging's digest: the same label"
        );
        assert_eq!(production.running[0].tone, d2.tone);
        assert_ne!(production.running[0].tone, d1.tone);
        assert_eq!(production.since, Some(at("2026-11-25T14:02:00Z")));
        assert_eq!(production.findings, ["production-api-digest-drift"]);
        assert_eq!(production.severity, Some(Severity::Warning));
    }

    #[test]
    fn columns_follow_the_promotion_chain_then_config_order() {
        type Case<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)], &'a [&'a str]);
        let cases: [Case<'_>; 4] = [
            (
                "a chain listed backwards",
                &[
                    ("production", Some("staging")),
                    ("staging", Some("dev")),
                    ("dev", None),
                    ("sandbox", None),
                ],
                &["dev", "staging", "production", "sandbox"],
            ),
            (
                "unchained environments after the chain",
                &[("sandbox", None), ("production", Some("staging")), ("staging", None)],
                &["staging", "production", "sandbox"],
            ),
            ("no chain: config order", &[("b", None), ("a", None)], &["b", "a"]),
            (
                "two environments promoted from one",
                &[("eu", Some("staging")), ("us", Some("staging")), ("staging", None)],
                &["staging", "eu", "us"],
            ),
        ];
        for (what, envs, want) in cases {
            assert_eq!(promotion_order(envs), want, "{what}");
        }
        let v = StatusView::build(
            &fleet(),
            &promotion_order(&[("production", Some("staging")), ("staging", None)]),
        );
        assert_eq!(v.matrix.environments, ["staging", "production"]);
        let names: Vec<&str> = v.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["staging", "production"]);
        assert!(v.matrix.rows.iter().all(|r| r.cells[0].environment == "staging"));
    }

    #[test]
    fn environments_say_drift_when_audited_with_findings_and_error_when_not_audited() {
        let mut r = fleet();
        r.environments.push(env("dev", &[], Vec::new()));
        r.environments[2].status = Status::Error;
        r.environments[2].errors = vec!["cluster dev-eu1: connection refused".into()];
        r.environments.push(env("qa", &[], Vec::new()));
        let v = StatusView::build(&r, &order());
        let status = |n: &str| v.environments.iter().find(|e| e.name == n).unwrap();
        assert_eq!(status("production").status, EnvStatus::Drift);
        assert_eq!(
            status("production").findings,
            Counts {
                critical: 0,
                warning: 3,
                info: 0,
                total: 3
            }
        );
        assert_eq!(status("production").ignored, 1);
        assert_eq!(status("staging").status, EnvStatus::Drift);
        assert_eq!(status("dev").status, EnvStatus::Error);
        assert_eq!(status("dev").errors, ["cluster dev-eu1: connection refused"]);
        assert_eq!(status("qa").status, EnvStatus::Ok);
        assert_eq!(status("qa").commit.as_deref(), Some("0123456789ab"));
        assert_eq!(status("qa").duration_seconds, 12.0);
    }

    #[test]
    fn a_workload_declared_where_the_audit_failed_is_unverifiable_not_absent() {
        let mut r = fleet();
        r.environments[0].status = Status::Error;
        r.environments[0].runs.clear();
        r.findings.retain(|f| f.environment != "production");
        let v = StatusView::build(&r, &order());
        assert_eq!(
            cell(&v, "api", Some("api"), "production").state,
            CellState::Unverifiable
        );
        assert_eq!(
            cell(&v, "worker", Some("worker"), "production").state,
            CellState::Absent
        );
    }

    #[test]
    fn findings_list_every_finding_and_the_ignored_ones_last_with_the_reason() {
        let v = StatusView::build(&fleet(), &order());
        assert_eq!(v.findings.len(), 5);
        let last = v.findings.last().unwrap();
        assert_eq!(last.fingerprint, "production-flaky-digest-drift");
        assert_eq!(last.ignored.as_ref().unwrap().reason, "canary under test, TICKET-7");
        assert!(v.findings[..4].iter().all(|f| f.ignored.is_none()));
        assert_eq!(v.findings[0].environment, "staging", "page order: staging first");
        assert_eq!(v.findings_of("shop/Deployment/api").len(), 1);
        let json: serde_json::Value = serde_json::to_value(&v).unwrap();
        assert_eq!(json["schema"], STATUS_SCHEMA);
        assert_eq!(json["findings"][0]["type"], "unpinned");
        let api = json["matrix"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workload"] == "shop/Deployment/api")
            .unwrap();
        assert_eq!(api["cells"][1]["state"], "drifting");
        assert_eq!(api["cells"][1]["running"][0]["digest"], D2);
    }

    #[test]
    fn the_matrix_pages_by_200_rows() {
        let mut r = fleet();
        r.environments[0].runs = (0..450)
            .map(|i| run(&format!("w{i:03}"), &image("w", D1), &[(D1, 1)], false))
            .collect();
        let v = StatusView::build(&r, &order());
        let total = v.matrix.rows.len();
        let (first, pages) = v.page(1);
        assert_eq!((first.len(), pages), (PAGE_ROWS, total.div_ceil(PAGE_ROWS)));
        let (last, _) = v.page(99);
        assert_eq!(
            last.len(),
            total - (pages - 1) * PAGE_ROWS,
            "past the end: the last page"
        );
        assert_eq!(v.rows_of("shop/Deployment/w123").len(), 1);
        assert_eq!(v.rows_of("shop/Deployment/nothing").len(), 0);
    }

    #[test]
    fn labels_run_past_z() {
        let got: Vec<String> = [0, 1, 25, 26, 27, 51, 52].into_iter().map(label).collect();
        assert_eq!(got, ["A", "B", "Z", "AA", "AB", "AZ", "BA"]);
    }

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
