//! A part of the status view, as `GET /api/status?env=…&attention=true&limit=…&cursor=…`
//! serves it: the same `driftwatch.status/v1` document, holding only the environments asked
//! for, the matrix rows that matter to them, and a page of those rows with their findings.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Cell, EnvironmentView, FindingView, GitopsView, MatrixRow, StatusView};
use crate::core::report::Summary;

/// Which part of the view to serve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these environments (their columns, rows and findings); empty: all.
    pub envs: Vec<String>,
    /// Only rows with a cell (of the environments kept) needing attention, and findings no
    /// ignore rule accepted.
    pub attention: bool,
    /// At most this many matrix rows, and only the findings their cells name.
    pub limit: Option<usize>,
    /// The first row of the page: a `next_cursor` of an earlier answer (0: the first).
    pub cursor: usize,
}

/// The part of a [`StatusView`] a [`Filter`] keeps, serialised as the view is, plus
/// `next_cursor`.
#[derive(Debug, Serialize)]
pub struct Slice<'a> {
    pub schema: &'static str,
    pub generation: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub gitops: &'a GitopsView,
    pub summary: &'a Summary,
    pub environments: Vec<&'a EnvironmentView>,
    pub matrix: SliceMatrix<'a>,
    pub findings: Vec<&'a FindingView>,
    /// Where the next page starts (`?cursor=`); `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SliceMatrix<'a> {
    pub environments: Vec<&'a str>,
    pub rows: Vec<SliceRow<'a>>,
    /// Rows on every page together.
    pub total_rows: usize,
}

/// A matrix row with the cells of the environments kept.
#[derive(Debug, Serialize)]
pub struct SliceRow<'a> {
    pub namespace: &'a str,
    pub namespaces: &'a [String],
    pub workload: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub container: Option<&'a str>,
    pub problem: bool,
    pub cells: Vec<&'a Cell>,
}

/// An environment the filter names that the view does not have.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("no environment {name:?} in the latest audit; it has: {known}")]
pub struct UnknownEnvironment {
    pub name: String,
    pub known: String,
}

impl StatusView {
    /// The part of the view `filter` keeps. Rows absent from every environment kept are left
    /// out; a page holds `limit` rows from `cursor`, and the findings their cells name.
    pub fn slice(&self, filter: &Filter) -> Result<Slice<'_>, UnknownEnvironment> {
        let columns = self.columns(&filter.envs)?;
        let keep = |name: &str| columns.iter().any(|&i| self.matrix.environments[i] == name);
        let rows: Vec<SliceRow<'_>> = self
            .matrix
            .rows
            .iter()
            .filter_map(|r| slice_row(r, &columns, filter.attention))
            .collect();
        let total_rows = rows.len();
        let start = filter.cursor.min(total_rows);
        let end = filter.limit.map_or(total_rows, |l| (start + l).min(total_rows));
        let rows: Vec<SliceRow<'_>> = rows.into_iter().skip(start).take(end - start).collect();
        let named: Option<std::collections::HashSet<&str>> = filter.limit.map(|_| {
            rows.iter()
                .flat_map(|r| r.cells.iter().flat_map(|c| c.findings.iter().map(String::as_str)))
                .collect()
        });
        let findings = self
            .findings
            .iter()
            .filter(|f| keep(&f.environment) && !(filter.attention && f.ignored.is_some()))
            .filter(|f| named.as_ref().is_none_or(|n| n.contains(f.fingerprint.as_str())))
            .collect();
        Ok(Slice {
            schema: self.schema,
            generation: self.generation,
            started_at: self.started_at,
            finished_at: self.finished_at,
            duration_seconds: self.duration_seconds,
            gitops: &self.gitops,
            summary: &self.summary,
            environments: self.environments.iter().filter(|e| keep(&e.name)).collect(),
            matrix: SliceMatrix {
                environments: columns.iter().map(|&i| self.matrix.environments[i].as_str()).collect(),
                rows,
                total_rows,
            },
            findings,
            next_cursor: (end < total_rows).then(|| end.to_string()),
        })
    }

    /// The column indexes of `envs` in column order; every column when empty.
    fn columns(&self, envs: &[String]) -> Result<Vec<usize>, UnknownEnvironment> {
        let all = &self.matrix.environments;
        if let Some(name) = envs.iter().find(|e| !all.contains(e)) {
            return Err(UnknownEnvironment {
                name: name.clone(),
                known: all.join(", "),
            });
        }
        Ok((0..all.len())
            .filter(|&i| envs.is_empty() || envs.contains(&all[i]))
            .collect())
    }
}

fn slice_row<'a>(r: &'a MatrixRow, columns: &[usize], attention: bool) -> Option<SliceRow<'a>> {
    let cells: Vec<&Cell> = columns.iter().filter_map(|&i| r.cells.get(i)).collect();
    let problem = cells.iter().any(|c| c.state.is_problem());
    let present = cells.iter().any(|c| c.state != super::CellState::Absent);
    if !present || (attention && !problem) {
        return None;
    }
    Some(SliceRow {
        namespace: &r.namespace,
        namespaces: &r.namespaces,
        workload: &r.workload,
        kind: &r.kind,
        name: &r.name,
        container: r.container.as_deref(),
        problem,
        cells,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::status::fixtures::*;

    fn filter(envs: &[&str], attention: bool, limit: Option<usize>, cursor: usize) -> Filter {
        Filter {
            envs: envs.iter().map(|e| e.to_string()).collect(),
            attention,
            limit,
            cursor,
        }
    }

    fn rows(s: &Slice<'_>) -> Vec<String> {
        s.matrix.rows.iter().map(|r| r.name.to_string()).collect()
    }

    #[test]
    fn a_slice_keeps_the_environments_rows_and_findings_asked_for() {
        let v = StatusView::build(&fleet(), &order());
        let cases = [
            // (filter, rows, findings, columns, next cursor)
            (
                filter(&[], false, None, 0),
                vec!["api", "flaky", "gone", "stray", "tagged", "worker"],
                5,
                vec!["staging", "production"],
                None,
            ),
            (
                filter(&["production"], false, None, 0),
                vec!["api", "flaky", "gone", "stray"],
                4,
                vec!["production"],
                None,
            ),
            (
                filter(&["production"], true, None, 0),
                vec!["api", "flaky", "gone", "stray"],
                3,
                vec!["production"],
                None,
            ),
            (
                filter(&["staging"], true, None, 0),
                vec!["tagged", "worker"],
                1,
                vec!["staging"],
                None,
            ),
            (
                filter(&[], true, Some(2), 0),
                vec!["api", "flaky"],
                1,
                vec!["staging", "production"],
                Some("2"),
            ),
            (
                filter(&[], true, Some(2), 4),
                vec!["tagged", "worker"],
                1,
                vec!["staging", "production"],
                None,
            ),
            (
                filter(&[], false, Some(2), 99),
                vec![],
                0,
                vec!["staging", "production"],
                None,
            ),
        ];
        for (f, want_rows, findings, columns, next) in cases {
            let s = v.slice(&f).unwrap();
            assert_eq!(rows(&s), want_rows, "{f:?}");
            assert_eq!(s.findings.len(), findings, "{f:?}");
            assert_eq!(s.matrix.environments, columns, "{f:?}");
            assert!(s.matrix.rows.iter().all(|r| r.cells.len() == columns.len()));
            assert_eq!(s.next_cursor.as_deref(), next, "{f:?}");
        }
    }

    #[test]
    fn an_unknown_environment_is_named_with_the_known_ones() {
        let v = StatusView::build(&fleet(), &order());
        let e = v.slice(&filter(&["prod"], false, None, 0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no environment \"prod\" in the latest audit; it has: staging, production"
        );
    }

    #[test]
    fn the_whole_slice_serialises_as_the_view_does_plus_the_cursor() {
        let v = StatusView::build(&fleet(), &order());
        let mut whole = serde_json::to_value(&v).unwrap();
        let slice = serde_json::to_value(v.slice(&Filter::default()).unwrap()).unwrap();
        whole["next_cursor"] = serde_json::Value::Null;
        whole["matrix"]["total_rows"] = v.matrix.rows.len().into();
        assert_eq!(slice, whole);
    }
}
