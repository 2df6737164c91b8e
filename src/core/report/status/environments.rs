//! The Environments table: one row per environment, its overall state and counts.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::model::Severity;
use crate::core::report::{EnvironmentResult, Report, Status};

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

/// One view per environment, in page order (`envs`); `commit` is the short SHA audited.
pub(super) fn views(
    report: &Report,
    envs: &[&EnvironmentResult],
    commit: Option<&str>,
    duration: f64,
) -> Vec<EnvironmentView> {
    envs.iter().map(|e| view(report, e, commit, duration)).collect()
}

fn view(report: &Report, e: &EnvironmentResult, commit: Option<&str>, duration: f64) -> EnvironmentView {
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
        commit: commit.map(str::to_string),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::status::StatusView;
    use crate::core::report::status::fixtures::*;

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
}
