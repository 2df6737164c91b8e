//! The matrix: one row per workload container, one cell per environment saying what the
//! container is there, with the digests labelled alike across the row.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Entry;
use super::findings::workload_of;
use crate::core::compare::short;
use crate::core::model::{ContainerRun, FindingType, RunningDigest, Severity};
use crate::core::report::{EnvironmentResult, Status};

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

/// Row key: namespace, workload, container (`None`: the whole workload).
type RowKey = (String, String, Option<String>);

/// The container runs by environment (its index), workload and container.
type Runs<'a> = HashMap<(usize, &'a str, &'a str), &'a ContainerRun>;

/// Findings by environment, workload and container (`None`: about the whole workload).
type ByCell<'a> = HashMap<(usize, String, Option<String>), Vec<Entry<'a>>>;

pub(super) fn matrix(envs: &[&EnvironmentResult], index: &HashMap<&str, usize>, entries: &[Entry<'_>]) -> Matrix {
    let mut rows: BTreeMap<RowKey, ()> = BTreeMap::new();
    let runs = runs(envs, &mut rows);
    let by_cell = by_cell(index, entries, &mut rows);
    let declared: Vec<HashSet<String>> = envs
        .iter()
        .map(|e| e.declared.iter().map(|k| k.to_string()).collect())
        .collect();
    let rows = rows
        .into_keys()
        .map(|key| row(key, envs, &runs, &by_cell, &declared))
        .collect();
    Matrix {
        environments: envs.iter().map(|e| e.name.clone()).collect(),
        rows,
    }
}

fn namespace(workload: &str) -> String {
    workload.split('/').next().unwrap_or_default().to_string()
}

/// Every container run, and a row for each.
fn runs<'a>(envs: &[&'a EnvironmentResult], rows: &mut BTreeMap<RowKey, ()>) -> Runs<'a> {
    let mut runs: Runs<'a> = HashMap::new();
    for (i, e) in envs.iter().enumerate() {
        for r in &e.runs {
            runs.insert((i, r.workload.as_str(), r.container.as_str()), r);
            rows.insert(
                (namespace(&r.workload), r.workload.clone(), Some(r.container.clone())),
                (),
            );
        }
    }
    runs
}

/// The findings by cell, and a row for each container they name; a workload seen only as a
/// whole (missing or undeclared everywhere) gets one row.
fn by_cell<'a>(index: &HashMap<&str, usize>, entries: &[Entry<'a>], rows: &mut BTreeMap<RowKey, ()>) -> ByCell<'a> {
    let mut by_cell: ByCell<'a> = HashMap::new();
    let mut whole: HashSet<String> = HashSet::new();
    for &(f, ig) in entries {
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
        by_cell.entry((i, w, f.container.clone())).or_default().push((f, ig));
    }
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
    by_cell
}

/// One row: a cell per environment, digests labelled across the row.
fn row(
    (ns, w, c): RowKey,
    envs: &[&EnvironmentResult],
    runs: &Runs<'_>,
    by_cell: &ByCell<'_>,
    declared: &[HashSet<String>],
) -> MatrixRow {
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
    env: &EnvironmentResult,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::status::StatusView;
    use crate::core::report::status::fixtures::*;

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
    fn labels_run_past_z() {
        let got: Vec<String> = [0, 1, 25, 26, 27, 51, 52].into_iter().map(label).collect();
        assert_eq!(got, ["A", "B", "Z", "AA", "AB", "AZ", "BA"]);
    }
}
