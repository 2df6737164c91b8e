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
//! - `matrix`: `environments` (the column order) and `rows`, one per workload container across
//!   environments (kind, name, container: with environments as namespaces of one cluster, an
//!   app is one row; only a kind and name one environment has in two namespaces gets a row per
//!   namespace), sorted by namespaces, kind, name and container: `namespace` (of the first
//!   environment in column order that has the row), `namespaces` (every one, distinct, in
//!   column order), `workload` (`namespace/Kind/name` with that `namespace`), `kind`, `name`,
//!   `container` (`null` for a row about the whole workload: missing or undeclared everywhere it
//!   is seen), `problem` (a cell is neither `in-sync` nor `absent`) and `cells`, one per
//!   environment in column order: `environment`, `namespace` (where the workload is in that
//!   environment; `null` where absent), `state` ([`CellState`]), `declared_image`, `declared` and
//!   `running` (digests with a `label` and `tone` that are the same for the same digest across
//!   the row, `A`, `B`, …, so that staging running what production will get shows), `pods` on
//!   running digests, `live_image`, `spec` (the live spec's digest, labelled, when the spec
//!   names another image than git declares), `since` (when the drift was first seen, from the daemon's
//!   alert state; else when the running rollout started, where known),
//!   `severity` (the worst finding's), `findings` (their fingerprints) and `ignored` (the state
//!   comes only from findings an ignore rule accepted).
//! - `findings`: every finding, then every ignored one (`ignored` holds the rule's `reason`
//!   and `expires`): `fingerprint`, `environment`, `severity`, `type`, `workload`,
//!   `namespace`, `container`, `declared`, `live_image`, `running`, `source`, `file`,
//!   `release` and `template` (a Helm release's workloads only), `commit`, `message`, `first_seen` and `age_seconds` (at the audit; `null` without the
//!   daemon's store, as in `--once --format html`).
//!
//! # Layout
//! - `environments.rs`: the Environments table;
//! - `filter.rs`: a part of the view (`/api/status?env=…&attention=true&limit=…&cursor=…`);
//! - `matrix.rs`: the matrix of workload containers by environment, and its cells;
//! - `findings.rs`: the findings list;
//! - `order.rs`: the order environments are shown in;
//! - `timeline.rs`: a workload's deployments and drift episodes, and the weekly charts.

mod environments;
mod filter;
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
pub use filter::{Filter, Slice, UnknownEnvironment};
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

    /// The matrix rows of one workload (`namespace/Kind/name`): the rows of its kind and name
    /// that have it in that namespace in some environment (with environments as namespaces,
    /// `dev-ns/Deployment/api` and `prod-ns/Deployment/api` are the same rows).
    pub fn rows_of(&self, workload: &str) -> Vec<&MatrixRow> {
        let mut p = workload.splitn(3, '/');
        let (ns, kind, name) = (p.next(), p.next(), p.next());
        self.matrix
            .rows
            .iter()
            .filter(|r| {
                Some(r.kind.as_str()) == kind
                    && Some(r.name.as_str()) == name
                    && r.namespaces.iter().any(|n| Some(n.as_str()) == ns)
            })
            .collect()
    }

    /// The findings about one workload, ignored ones included: in every namespace its rows
    /// have it in.
    pub fn findings_of(&self, workload: &str) -> Vec<&FindingView> {
        let mut keys: Vec<String> = vec![workload.to_string()];
        for r in self.rows_of(workload) {
            keys.extend(r.namespaces.iter().map(|ns| format!("{ns}/{}/{}", r.kind, r.name)));
        }
        self.findings
            .iter()
            .filter(|f| f.workload.as_ref().is_some_and(|w| keys.contains(w)))
            .collect()
    }

    /// The matrix rows a page lists: every row, or (`attention`) only those with a cell
    /// neither in sync nor absent.
    pub fn rows(&self, attention: bool) -> Vec<&MatrixRow> {
        self.matrix.rows.iter().filter(|r| !attention || r.problem).collect()
    }

    /// Page `page` (from 1; out of range: the nearest) of the matrix rows, filtered before
    /// paging, so that page 1 of the rows needing attention holds the first [`PAGE_ROWS`] of
    /// them.
    pub fn page(&self, page: usize, attention: bool) -> Page<'_> {
        let mut rows = self.rows(attention);
        let total = rows.len();
        let pages = total.div_ceil(PAGE_ROWS).max(1);
        let page = page.clamp(1, pages);
        let start = (page - 1) * PAGE_ROWS;
        rows.truncate((start + PAGE_ROWS).min(total));
        rows.drain(..start);
        Page {
            rows,
            page,
            pages,
            total,
        }
    }
}

/// One page of matrix rows.
#[derive(Debug)]
pub struct Page<'a> {
    pub rows: Vec<&'a MatrixRow>,
    /// This page, from 1.
    pub page: usize,
    /// How many pages there are (at least 1).
    pub pages: usize,
    /// Rows on every page together.
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::FindingType;
    use crate::core::report::status::fixtures::*;

    #[test]
    fn the_matrix_pages_by_200_rows() {
        let mut r = fleet();
        r.environments[0].runs = (0..450)
            .map(|i| run(&format!("w{i:03}"), &image("w", D1), &[(D1, 1)], false))
            .collect();
        let v = StatusView::build(&r, &order());
        let total = v.matrix.rows.len();
        let first = v.page(1, false);
        assert_eq!(
            (first.rows.len(), first.pages, first.total),
            (PAGE_ROWS, total.div_ceil(PAGE_ROWS), total)
        );
        let pages = first.pages;
        let last = v.page(99, false);
        assert_eq!(
            (last.rows.len(), last.page),
            (total - (pages - 1) * PAGE_ROWS, pages),
            "past the end: the last page"
        );
        assert_eq!(v.rows_of("shop/Deployment/w123").len(), 1);
        assert_eq!(v.rows_of("shop/Deployment/nothing").len(), 0);
    }

    /// 450 rows, every other one drifting in production.
    fn many_with_some_drifting() -> Report {
        let mut r = fleet();
        r.environments[0].runs = (0..450)
            .map(|i| {
                let digest = if i % 2 == 0 { D2 } else { D1 };
                run(&format!("w{i:03}"), &image("w", D1), &[(digest, 1)], false)
            })
            .collect();
        r.findings.extend((0..450).step_by(2).map(|i| {
            let name = format!("w{i:03}");
            finding("production", &name, FindingType::DigestDrift, Some(&name), &[D2])
        }));
        r
    }

    #[test]
    fn only_rows_needing_attention_are_filtered_before_paging() {
        let v = StatusView::build(&many_with_some_drifting(), &order());
        let wanted: Vec<&str> = v
            .matrix
            .rows
            .iter()
            .filter(|r| r.problem)
            .map(|r| r.workload.as_str())
            .collect();
        let n = wanted.len();
        assert!(n > PAGE_ROWS, "225 drifting plus the fleet's own: {n}");
        let all = v.matrix.rows.len();
        let cases = [
            // (page, attention, rows on it, pages, total)
            (1, true, PAGE_ROWS, 2, n),
            (2, true, n - PAGE_ROWS, 2, n),
            (1, false, PAGE_ROWS, all.div_ceil(PAGE_ROWS), all),
        ];
        for (page, attention, rows, pages, total) in cases {
            let p = v.page(page, attention);
            assert_eq!(
                (p.rows.len(), p.pages, p.total),
                (rows, pages, total),
                "page {page}, attention {attention}"
            );
        }
        let got: Vec<&str> = v.page(1, true).rows.iter().map(|r| r.workload.as_str()).collect();
        assert_eq!(
            got,
            wanted[..PAGE_ROWS],
            "page 1 holds the first rows needing attention"
        );
        assert!(v.page(2, true).rows.iter().all(|r| r.problem));
    }
}
