//! The audit report and its renderings: an aligned text table, markdown for a PR comment, and
//! the stable `driftwatch.report/v1` JSON. Also the `driftwatch.declared/v1` listing. Pure.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use crate::core::compare::short;
use crate::core::ignore::{Ignored, Rule};
use crate::core::model::{DeclaredWorkload, Finding, Severity};

pub const REPORT_SCHEMA: &str = "driftwatch.report/v1";
pub const DECLARED_SCHEMA: &str = "driftwatch.declared/v1";

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub gitops: GitopsInfo,
    pub environments: Vec<EnvironmentResult>,
    pub findings: Vec<Finding>,
    /// Findings accepted by an ignore rule, with its reason: not alerted, not failing the gate.
    pub ignored: Vec<Ignored>,
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize)]
pub struct GitopsInfo {
    pub url: String,
    pub commit: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnvironmentResult {
    pub name: String,
    pub cluster: String,
    pub status: Status,
    /// Every audit error of the environment, joined with `; ` (`null` when `ok`).
    pub error: Option<String>,
    pub declared_workloads: usize,
    pub live_workloads: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
    pub errors: usize,
    pub ignored: usize,
}

/// Exit codes a pipeline can gate on.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_DRIFT: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

impl Report {
    pub fn new(
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        gitops: GitopsInfo,
        environments: Vec<EnvironmentResult>,
        findings: Vec<Finding>,
    ) -> Self {
        let mut report = Self {
            schema: REPORT_SCHEMA,
            started_at,
            finished_at,
            gitops,
            environments,
            findings,
            ignored: Vec::new(),
            summary: Summary::default(),
        };
        report.summarise();
        report
    }

    fn summarise(&mut self) {
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        self.summary = Summary {
            findings: self.findings.len(),
            critical: count(Severity::Critical),
            warning: count(Severity::Warning),
            info: count(Severity::Info),
            errors: self.environments.iter().filter(|e| e.status == Status::Error).count(),
            ignored: self.ignored.len(),
        };
    }

    /// Moves the findings the rules accept to `ignored` and reports expired rules.
    pub fn apply_ignore_rules(&mut self, rules: &[Rule], today: NaiveDate) {
        let (kept, ignored) = crate::core::ignore::apply(rules, std::mem::take(&mut self.findings), today);
        self.findings = kept;
        self.ignored = ignored;
        self.summarise();
    }

    /// Records an error that concerns every environment (an unreadable ignore file).
    pub fn add_error_to_all(&mut self, error: &str) {
        for e in &mut self.environments {
            e.status = Status::Error;
            e.error = Some(match e.error.take() {
                Some(prev) => format!("{prev}; {error}"),
                None => error.to_string(),
            });
        }
        self.summarise();
    }

    /// 2 when any environment could not be fully audited (its result is incomplete), else 1
    /// when a finding is at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        if self.summary.errors > 0 {
            EXIT_ERROR
        } else if self.findings.iter().any(|f| f.severity >= fail_on) {
            EXIT_DRIFT
        } else {
            EXIT_CLEAN
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    fn summary_line(&self) -> String {
        let s = &self.summary;
        let commit = self
            .gitops
            .commit
            .as_deref()
            .map(|c| &c[..c.len().min(12)])
            .unwrap_or("(no commit)");
        format!(
            "{} finding{} ({} critical, {} warning, {} info) in {} environment{} at {} {}; {} error{}{}",
            s.findings,
            plural(s.findings),
            s.critical,
            s.warning,
            s.info,
            self.environments.len(),
            plural(self.environments.len()),
            self.gitops.url,
            commit,
            s.errors,
            plural(s.errors),
            if s.ignored > 0 {
                format!("; {} ignored", s.ignored)
            } else {
                String::new()
            }
        )
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.findings.is_empty() {
            let mut rows = vec![
                [
                    "SEVERITY",
                    "TYPE",
                    "ENVIRONMENT",
                    "NAMESPACE",
                    "WORKLOAD",
                    "CONTAINER",
                    "DECLARED",
                    "RUNNING",
                    "DETAILS",
                ]
                .map(String::from)
                .to_vec(),
            ];
            rows.extend(self.findings.iter().map(|f| {
                vec![
                    f.severity.to_string(),
                    f.kind.to_string(),
                    f.environment.clone(),
                    dash(&f.namespace),
                    workload(f),
                    f.container.clone().unwrap_or_else(|| "-".into()),
                    f.declared.as_deref().map(short_ref).unwrap_or_else(|| "-".into()),
                    running_summary(f),
                    f.message.clone(),
                ]
            }));
            out.push_str(&table(&rows));
            out.push('\n');
        }
        for e in self.environments.iter().filter(|e| e.status == Status::Error) {
            out.push_str(&format!(
                "error: environment {}: {}\n",
                e.name,
                e.error.as_deref().unwrap_or("")
            ));
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    pub fn to_markdown(&self) -> String {
        let s = &self.summary;
        let icon = if s.errors > 0 || s.critical > 0 {
            "🔴"
        } else if s.warning > 0 {
            "🟠"
        } else {
            "🟢"
        };
        let mut out = format!(
            "## {icon} driftwatch: {} finding{}\n\n{}\n\n",
            s.findings,
            plural(s.findings),
            md_escape(&self.summary_line())
        );
        out.push_str("| Environment | Cluster | Status | Declared | Live |\n|---|---|---|---|---|\n");
        for e in &self.environments {
            let status = match e.status {
                Status::Ok => "ok".to_string(),
                Status::Error => {
                    format!("**error**: {}", md_escape(e.error.as_deref().unwrap_or("")))
                }
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                md_escape(&e.name),
                md_escape(&e.cluster),
                status,
                e.declared_workloads,
                e.live_workloads
            ));
        }
        if !self.findings.is_empty() {
            out.push_str("\n| Severity | Type | Environment | Workload | Container | Declared | Running | Details |\n|---|---|---|---|---|---|---|---|\n");
            for f in &self.findings {
                out.push_str(&format!(
                    "| {} | `{}` | {} | `{}` | {} | `{}` | {} | {} |\n",
                    f.severity,
                    f.kind,
                    md_escape(&f.environment),
                    md_escape(&format!("{}/{}", dash(&f.namespace), workload(f))),
                    md_escape(f.container.as_deref().unwrap_or("-")),
                    md_escape(&f.declared.as_deref().map(short_ref).unwrap_or_else(|| "-".into())),
                    md_escape(&running_summary(f)),
                    md_escape(&f.message)
                ));
            }
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.to_string() }
}

fn workload(f: &Finding) -> String {
    match (&f.workload_kind, &f.name) {
        (Some(k), Some(n)) => format!("{k}/{n}"),
        _ => f.source.clone().unwrap_or_else(|| "-".into()),
    }
}

/// `sha256:0123456789ab ×3, …`: the running digests with Pod counts, short.
pub fn running_summary(f: &Finding) -> String {
    if f.running.is_empty() {
        return "-".into();
    }
    f.running
        .iter()
        .map(|r| format!("{} ×{}", short(&r.digest), r.pods))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `repo@sha256:0123456789ab` or the reference unchanged when it has no digest.
fn short_ref(reference: &str) -> String {
    match reference.split_once('@') {
        Some((name, digest)) => format!("{name}@{}", short(digest)),
        None => reference.to_string(),
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What git declares for one environment (`driftwatch declared`).
#[derive(Clone, Debug, Serialize)]
pub struct DeclaredReport {
    pub schema: &'static str,
    pub environment: String,
    pub commit: Option<String>,
    pub workloads: Vec<DeclaredWorkload>,
}

impl DeclaredReport {
    pub fn to_text(&self) -> String {
        let mut rows = vec![
            ["KIND", "NAMESPACE", "NAME", "CONTAINER", "IMAGE", "SOURCE"]
                .map(String::from)
                .to_vec(),
        ];
        for w in &self.workloads {
            for c in &w.containers {
                let name = if c.init {
                    format!("{} (init)", c.name)
                } else {
                    c.name.clone()
                };
                rows.push(vec![
                    w.kind.to_string(),
                    w.namespace.clone(),
                    w.name.clone(),
                    name,
                    c.image.clone(),
                    w.source.clone(),
                ]);
            }
        }
        let commit = self.commit.as_deref().unwrap_or("(no commit)");
        format!(
            "{}{} workloads declared for {} at {}\n",
            table(&rows),
            self.workloads.len(),
            self.environment,
            commit
        )
    }
}

/// RFC 3339 in UTC to the second, as the text output shows times.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{FindingType, RunningDigest, WorkloadKind};

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn report(errors: bool, severity: Severity) -> Report {
        let t = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let finding = Finding {
            fingerprint: "0123456789abcdef".into(),
            kind: FindingType::DigestDrift,
            severity,
            environment: "production".into(),
            cluster: "prod-eu1".into(),
            namespace: "shop".into(),
            workload_kind: Some(WorkloadKind::Deployment),
            name: Some("api".into()),
            container: Some("api".into()),
            declared: Some(format!("registry.example.com/shop/api@{D1}")),
            running: vec![RunningDigest {
                digest: D2.into(),
                pods: 3,
            }],
            source: Some("apps/api/overlays/production".into()),
            commit: Some("abc".into()),
            message: "Pods run a|b".into(),
        };
        let env = EnvironmentResult {
            name: "production".into(),
            cluster: "prod-eu1".into(),
            status: if errors { Status::Error } else { Status::Ok },
            error: errors.then(|| "cluster prod-eu1: unreachable".into()),
            declared_workloads: 1,
            live_workloads: 1,
        };
        Report::new(
            t,
            t,
            GitopsInfo {
                url: "https://git.example.com/infra.git".into(),
                commit: Some("abc".into()),
            },
            vec![env],
            vec![finding],
        )
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            report(false, Severity::Critical).exit_code(Severity::Warning),
            EXIT_DRIFT
        );
        assert_eq!(report(false, Severity::Info).exit_code(Severity::Warning), EXIT_CLEAN);
        assert_eq!(
            report(false, Severity::Warning).exit_code(Severity::Critical),
            EXIT_CLEAN
        );
        assert_eq!(
            report(true, Severity::Critical).exit_code(Severity::Warning),
            EXIT_ERROR
        );
    }

    #[test]
    fn json_follows_the_schema() {
        let v: serde_json::Value = serde_json::from_str(&report(false, Severity::Critical).to_json()).unwrap();
        assert_eq!(v["schema"], "driftwatch.report/v1");
        assert_eq!(v["environments"][0]["status"], "ok");
        assert_eq!(v["environments"][0]["error"], serde_json::Value::Null);
        let f = &v["findings"][0];
        assert_eq!(f["type"], "digest-drift");
        assert_eq!(f["kind"], "Deployment");
        assert_eq!(f["running"][0]["pods"], 3);
        assert_eq!(
            v["summary"],
            serde_json::json!({"findings": 1, "critical": 1, "warning": 0, "info": 0, "errors": 0, "ignored": 0})
        );
    }

    #[test]
    fn text_is_an_aligned_table_with_summary() {
        let text = report(true, Severity::Critical).to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SEVERITY  TYPE          ENVIRONMENT"), "{text}");
        assert_eq!(lines[0].find("RUNNING"), lines[1].find("sha256:222222222222"), "{text}");
        assert!(
            lines[1].contains("registry.example.com/shop/api@sha256:111111111111 "),
            "{text}"
        );
        assert!(text.contains("error: environment production: cluster prod-eu1: unreachable"));
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("1 finding (1 critical, 0 warning, 0 info) in 1 environment"),
            "{text}"
        );
    }

    #[test]
    fn markdown_escapes_pipes() {
        let md = report(false, Severity::Critical).to_markdown();
        assert!(md.starts_with("## 🔴 driftwatch: 1 finding"));
        assert!(md.contains("Pods run a\\|b"));
    }
}
