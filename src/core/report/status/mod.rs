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
//!
//! # Layout
//! - `environments.rs`: the Environments table;
//! - `matrix.rs`: the matrix of workload containers by environment, and its cells;
//! - `findings.rs`: the findings list;
//! - `order.rs`: the order environments are shown in;
//! - `timeline.rs`: a workload's deployments and drift episodes, and the weekly charts.

mod environments;
mod findings;
#[cfg(test)]
pub(super) mod fixtures;
mod matrix;
mod order;
mod timeline;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{EnvironmentResult, Report, Summary};
use crate::core::ignore::Ignored;
use crate::core::model::Finding;

pub use environments::{Counts, EnvStatus, EnvironmentView};
pub use findings::{FindingView, IgnoredBy};
pub use matrix::{Cell, CellState, Labelled, Matrix, MatrixRow};
pub use order::promotion_order;
pub use timeline::{DeploymentRow, EpisodeRow, Week, history_of, weekly};

pub const STATUS_SCHEMA: &str = "driftwatch.status/v1";

/// Matrix rows per HTML page. Measured (unoptimised test build, 2 cores) at 4,000 workloads ×
/// 4 environments: building the view takes about 110 ms (the daemon does it once per audit, on
/// the first request after it), rendering one page of 200 rows about 6 ms (450 kB); the whole
/// matrix as `/api/status` JSON about 260 ms (11 MB) and as the standalone file about 100 ms
/// (8.5 MB). A release build is several times faster.
pub const PAGE_ROWS: usize = 200;

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
        let mut envs: Vec<&EnvironmentResult> = order
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

        let environments = environments::views(report, &envs, commit_short.as_deref(), duration);

        let matrix = matrix::matrix(&envs, &index, &entries);

        let mut findings: Vec<FindingView> = entries.iter().map(|(f, i)| findings::finding_view(f, *i)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::status::fixtures::*;

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
}
