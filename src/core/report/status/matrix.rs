//! The matrix: one row per workload container, one cell per environment saying what the
//! container is there, with the digests labelled alike across the row.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Entry;
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
    /// The namespace of the first environment (in column order) that has the row.
    pub namespace: String,
    /// The namespaces the row's environments have it in, distinct, in column order: one,
    /// unless environments are namespaces (`dev-ns`, `prod-ns`, … on one cluster).
    pub namespaces: Vec<String>,
    /// `namespace/Kind/name`, with the row's `namespace`.
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
    /// The namespace the workload is in in this environment; `None` where it is absent.
    pub namespace: Option<String>,
    pub state: CellState,
    pub declared_image: Option<String>,
    pub declared: Option<Labelled>,
    pub running: Vec<Labelled>,
    pub live_image: Option<String>,
    /// The live spec's digest, labelled across the row, when the spec names another image
    /// than git declares (spec drift: the Pods may still run the declared one).
    pub spec: Option<Labelled>,
    pub since: Option<DateTime<Utc>>,
    pub severity: Option<Severity>,
    pub findings: Vec<String>,
    pub ignored: bool,
    /// The signature mark: `Some(true)` signed as the policies require, `Some(false)`
    /// unsigned, invalid or built elsewhere; `None` where no policy applies.
    pub signed: Option<bool>,
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

/// A workload as the matrix rows it: its kind and name across environments, so that an app
/// in `dev-ns` and `prod-ns` is one row. Only where one environment has the same kind and name
/// in several namespaces does each namespace get rows of its own (`split`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ident {
    kind: String,
    name: String,
    split: Option<String>,
}

/// Row key: the workload, and the container (`None`: the whole workload).
type RowKey = (Ident, Option<String>);

/// The container runs by environment (its index), workload and container, with the namespace.
type Runs<'a> = HashMap<(usize, Ident, &'a str), (&'a str, &'a ContainerRun)>;

/// Findings by environment, workload and container (`None`: about the whole workload).
type ByCell<'a> = HashMap<(usize, Ident, Option<String>), Vec<Entry<'a>>>;

/// The namespaces each environment declares a kind and name in.
type Declared = Vec<HashMap<(String, String), Vec<String>>>;

/// `namespace/Kind/name` as its parts.
fn parts(workload: &str) -> (&str, &str, &str) {
    let mut p = workload.splitn(3, '/');
    let ns = p.next().unwrap_or_default();
    let kind = p.next().unwrap_or_default();
    (ns, kind, p.next().unwrap_or_default())
}

/// The kinds and names some environment has in more than one namespace.
struct Splits(HashSet<(String, String)>);

impl Splits {
    fn of(envs: &[&EnvironmentResult], index: &HashMap<&str, usize>, entries: &[Entry<'_>]) -> Self {
        let mut seen: HashMap<(usize, &str, &str), &str> = HashMap::new();
        let mut split = HashSet::new();
        let runs = envs
            .iter()
            .enumerate()
            .flat_map(|(i, e)| e.runs.iter().map(move |r| (i, parts(&r.workload))));
        let found = entries.iter().filter_map(|(f, _)| {
            let i = *index.get(f.environment.as_str())?;
            Some((i, (f.namespace.as_str(), f.workload_kind?.as_str(), f.name.as_deref()?)))
        });
        for (i, (ns, kind, name)) in runs.chain(found) {
            let first = *seen.entry((i, kind, name)).or_insert(ns);
            if first != ns {
                split.insert((kind.to_string(), name.to_string()));
            }
        }
        Splits(split)
    }

    fn ident(&self, ns: &str, kind: &str, name: &str) -> Ident {
        let key = (kind.to_string(), name.to_string());
        let split = self.0.contains(&key).then(|| ns.to_string());
        Ident {
            kind: key.0,
            name: key.1,
            split,
        }
    }
}

pub(super) fn matrix(envs: &[&EnvironmentResult], index: &HashMap<&str, usize>, entries: &[Entry<'_>]) -> Matrix {
    let splits = Splits::of(envs, index, entries);
    let mut rows: BTreeMap<RowKey, ()> = BTreeMap::new();
    let runs = runs(envs, &splits, &mut rows);
    let by_cell = by_cell(index, entries, &splits, &mut rows);
    let declared: Declared = envs
        .iter()
        .map(|e| {
            let mut m: HashMap<(String, String), Vec<String>> = HashMap::new();
            for k in &e.declared {
                let key = (k.kind.as_str().to_string(), k.name.clone());
                m.entry(key).or_default().push(k.namespace.clone());
            }
            m
        })
        .collect();
    let mut rows: Vec<MatrixRow> = rows
        .into_keys()
        .map(|key| row(key, envs, &runs, &by_cell, &declared))
        .collect();
    rows.sort_by(|a, b| {
        (&a.namespaces, &a.kind, &a.name, &a.container).cmp(&(&b.namespaces, &b.kind, &b.name, &b.container))
    });
    Matrix {
        environments: envs.iter().map(|e| e.name.clone()).collect(),
        rows,
    }
}

/// Every container run, and a row for each.
fn runs<'a>(envs: &[&'a EnvironmentResult], splits: &Splits, rows: &mut BTreeMap<RowKey, ()>) -> Runs<'a> {
    let mut runs: Runs<'a> = HashMap::new();
    for (i, e) in envs.iter().enumerate() {
        for r in &e.runs {
            let (ns, kind, name) = parts(&r.workload);
            let id = splits.ident(ns, kind, name);
            rows.insert((id.clone(), Some(r.container.clone())), ());
            runs.insert((i, id, r.container.as_str()), (ns, r));
        }
    }
    runs
}

/// The findings by cell, and a row for each container they name; a workload seen only as a
/// whole (missing or undeclared everywhere) gets one row.
fn by_cell<'a>(
    index: &HashMap<&str, usize>,
    entries: &[Entry<'a>],
    splits: &Splits,
    rows: &mut BTreeMap<RowKey, ()>,
) -> ByCell<'a> {
    let mut by_cell: ByCell<'a> = HashMap::new();
    let mut whole: HashSet<Ident> = HashSet::new();
    for &(f, ig) in entries {
        let (Some(kind), Some(name), Some(&i)) = (f.workload_kind, &f.name, index.get(f.environment.as_str())) else {
            continue;
        };
        let id = splits.ident(&f.namespace, kind.as_str(), name);
        match &f.container {
            Some(c) => {
                rows.insert((id.clone(), Some(c.clone())), ());
            }
            None => {
                whole.insert(id.clone());
            }
        }
        by_cell.entry((i, id, f.container.clone())).or_default().push((f, ig));
    }
    for id in whole {
        let has_rows = rows
            .range((id.clone(), None)..)
            .next()
            .is_some_and(|((rid, _), _)| *rid == id);
        if !has_rows {
            rows.insert((id, None), ());
        }
    }
    by_cell
}

/// One row: a cell per environment, digests labelled across the row.
fn row(
    (id, c): RowKey,
    envs: &[&EnvironmentResult],
    runs: &Runs<'_>,
    by_cell: &ByCell<'_>,
    declared: &Declared,
) -> MatrixRow {
    let mut labels: Vec<String> = Vec::new();
    let cells: Vec<Cell> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let run = c.as_deref().and_then(|c| runs.get(&(i, id.clone(), c)).copied());
            let mut found: Vec<Entry<'_>> = Vec::new();
            if let Some(v) = by_cell.get(&(i, id.clone(), None)) {
                found.extend(v);
            }
            if c.is_some()
                && let Some(v) = by_cell.get(&(i, id.clone(), c.clone()))
            {
                found.extend(v);
            }
            let declared_in = declared[i]
                .get(&(id.kind.clone(), id.name.clone()))
                .and_then(|nss| nss.iter().find(|ns| id.split.as_ref().is_none_or(|s| s == *ns)));
            let namespace = run
                .map(|(ns, _)| ns)
                .or_else(|| found.first().map(|(f, _)| f.namespace.as_str()))
                .or(declared_in.map(String::as_str));
            let mut cell = cell(e, run.map(|(_, r)| r), &found, declared_in.is_some(), &mut labels);
            cell.namespace = namespace
                .map(str::to_string)
                .filter(|_| cell.state != CellState::Absent);
            cell
        })
        .collect();
    let mut namespaces: Vec<String> = Vec::new();
    for ns in cells.iter().filter_map(|c| c.namespace.as_ref()) {
        if !namespaces.contains(ns) {
            namespaces.push(ns.clone());
        }
    }
    if namespaces.is_empty() {
        namespaces.extend(id.split.clone());
    }
    let namespace = namespaces.first().cloned().unwrap_or_default();
    MatrixRow {
        workload: format!("{namespace}/{}/{}", id.kind, id.name),
        namespace,
        namespaces,
        problem: cells.iter().any(|c| c.state.is_problem()),
        kind: id.kind,
        name: id.name,
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

/// The live spec's image when it names another image than git declares: another digest, or
/// another reference where either is not pinned.
fn spec_drift<'a>(declared: Option<&str>, live: Option<&'a str>) -> Option<&'a str> {
    let (declared, live) = (declared?, live?);
    let differs = match (digest_of(declared), digest_of(live)) {
        (Some(d), Some(l)) => d != l,
        _ => declared != live,
    };
    differs.then_some(live)
}

impl Cell {
    /// `signed` or `unsigned`, the mark the page shows, where a signature policy applies.
    pub fn signature_mark(&self) -> Option<&'static str> {
        self.signed.map(|s| if s { "signed" } else { "unsigned" })
    }

    /// The live spec's image, shown in the cell, when it is not what git declares.
    pub fn spec_image(&self) -> Option<&str> {
        spec_drift(self.declared_image.as_deref(), self.live_image.as_deref())
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
    let spec = spec_drift(declared_image.as_deref(), live_image.as_deref())
        .and_then(digest_of)
        .map(|d| labelled(d, None, labels));
    let since = match state {
        CellState::Drifting | CellState::RollingOut => run.and_then(|r| r.rollout_started),
        _ => None,
    };
    Cell {
        environment: env.name.clone(),
        namespace: None,
        state,
        declared_image,
        declared,
        running,
        live_image,
        spec,
        since,
        severity: found.iter().map(|(f, _)| f.severity).max(),
        findings: found.iter().map(|(f, _)| f.fingerprint.clone()).collect(),
        ignored,
        signed: signed_mark(run, found),
    }
}

/// The cell's signature mark: a signature finding says unsigned (whatever the run says), else
/// what the run's verdicts say.
fn signed_mark(run: Option<&ContainerRun>, found: &[Entry<'_>]) -> Option<bool> {
    let unsigned = found.iter().any(|(f, _)| {
        matches!(
            f.kind,
            FindingType::Unsigned | FindingType::SignatureInvalid | FindingType::ProvenanceMismatch
        )
    });
    if unsigned {
        Some(false)
    } else {
        run.and_then(|r| r.signed)
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

    fn rows_named<'a>(v: &'a StatusView, name: &str) -> Vec<&'a MatrixRow> {
        v.matrix.rows.iter().filter(|r| r.name == name).collect()
    }

    #[test]
    fn a_workload_is_one_row_across_environments_that_are_namespaces() {
        let shared = StatusView::build(&fleet(), &order());
        let v = StatusView::build(&as_namespaces(false), &order());
        assert_eq!(v.matrix.rows.len(), shared.matrix.rows.len(), "no row per namespace");
        let cases = [
            // (workload, namespaces of its row, staging's cell, production's cell)
            (
                "api",
                vec!["staging-ns", "production-ns"],
                Some("staging-ns"),
                Some("production-ns"),
            ),
            (
                "gone",
                vec!["staging-ns", "production-ns"],
                Some("staging-ns"),
                Some("production-ns"),
            ),
            ("worker", vec!["staging-ns"], Some("staging-ns"), None),
            ("stray", vec!["production-ns"], None, Some("production-ns")),
        ];
        for (name, namespaces, staging, production) in cases {
            let rows = rows_named(&v, name);
            assert_eq!(rows.len(), 1, "{name}: one row");
            let row = rows[0];
            assert_eq!(row.namespaces, namespaces, "{name}");
            assert_eq!(row.namespace, namespaces[0], "{name}: the first environment's");
            assert_eq!(row.workload, format!("{}/Deployment/{name}", namespaces[0]));
            let ns: Vec<Option<&str>> = row.cells.iter().map(|c| c.namespace.as_deref()).collect();
            assert_eq!(ns, [staging, production], "{name}");
        }
        let api = rows_named(&v, "api")[0];
        assert_eq!(
            api.cells.iter().map(|c| c.state).collect::<Vec<_>>(),
            [CellState::InSync, CellState::Drifting]
        );
        for key in ["staging-ns/Deployment/api", "production-ns/Deployment/api"] {
            assert_eq!(v.rows_of(key).len(), 1, "{key}");
            assert_eq!(v.findings_of(key).len(), 1, "{key}: production's drift");
        }
        assert!(v.rows_of("shop/Deployment/api").is_empty());
    }

    #[test]
    fn one_environment_with_a_workload_in_two_namespaces_keeps_a_row_for_each() {
        let v = StatusView::build(&as_namespaces(true), &order());
        let api: Vec<(&str, Vec<&str>)> = rows_named(&v, "api")
            .iter()
            .map(|r| (r.workload.as_str(), r.namespaces.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            api,
            [
                ("other-ns/Deployment/api", vec!["other-ns"]),
                ("production-ns/Deployment/api", vec!["production-ns"]),
                ("staging-ns/Deployment/api", vec!["staging-ns"]),
            ]
        );
        assert_eq!(rows_named(&v, "gone").len(), 1, "the others stay one row");
    }

    #[test]
    fn a_spec_drift_cell_shows_the_live_spec_image() {
        let mut r = fleet();
        let hotfix = image("api", D3);
        r.environments[0].runs[0].live_image = Some(hotfix.clone());
        r.environments[1].runs[3].live_image = Some("registry.example.com/shop/tagged:v2".into());
        let v = StatusView::build(&r, &order());
        let cases = [
            // (workload, environment, the spec image shown, its digest's label)
            ("api", "production", Some(hotfix.as_str()), Some("C")),
            ("api", "staging", None, None),
            ("tagged", "staging", Some("registry.example.com/shop/tagged:v2"), None),
            ("gone", "staging", None, None),
        ];
        for (name, env, image, label) in cases {
            let c = cell(&v, name, Some(name), env);
            assert_eq!(c.spec_image(), image, "{name} in {env}");
            assert_eq!(c.spec.as_ref().map(|l| l.label.as_str()), label, "{name} in {env}");
        }
    }
}
