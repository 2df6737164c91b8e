//! The audit report: its types, summary and exit code. Each rendering is one file: `text.rs`
//! (an aligned table; also the `driftwatch.declared/v1` listing), `markdown.rs` (a PR
//! comment), `json.rs` (the stable `driftwatch.report/v1` JSON), and for pipelines `sarif.rs`
//! (GitHub code scanning), `junit.rs` (test reports) and `github.rs` (workflow-command
//! annotations); `status/` is the status page's view model (`driftwatch.status/v1`) and
//! `html.rs` renders it (the daemon's pages, and the standalone `--format html` file). A new
//! format is one file here with an `impl Report { pub fn to_<format> }` plus one arm in the
//! command line's `--format` enum. Pure.

mod github;
pub mod html;
mod json;
mod junit;
mod markdown;
mod sarif;
pub mod status;
mod text;

pub use text::table;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use crate::core::compare::short;
use crate::core::ignore::{Ignored, Rule};
use crate::core::model::{
    ContainerRun, DeclaredWorkload, Finding, FindingType, PathRender, ReleaseRender, Severity, WorkloadKey,
};

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
    /// What discovery could not read or map (an unreachable Argo CD control plane, an
    /// Application without a known destination), with the fix: each counts as an error, as
    /// the environments it would have added are not audited.
    pub discovery_errors: Vec<String>,
    pub summary: Summary,
    /// Environments gone from the config since the last audit (a deleted Argo CD
    /// Application's, as a complete discovery found): their open alerts are resolved. Not
    /// part of the JSON report.
    #[serde(skip)]
    pub retired: Vec<String>,
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
    /// Audited, but what git declares is not completely known (a file failed to parse or
    /// read), so `undeclared` could not be judged: a gate must not pass on it.
    Incomplete,
    Error,
}

#[derive(Clone, Debug)]
pub struct EnvironmentResult {
    pub name: String,
    pub cluster: String,
    pub status: Status,
    /// Every audit error of the environment, in the order they were met (empty when `ok`).
    pub errors: Vec<String>,
    /// What could not be judged and why, while the status is `incomplete`.
    pub incomplete: Vec<String>,
    pub declared_workloads: usize,
    pub live_workloads: usize,
    /// The workloads git declares, for outputs that list each one (JUnit: one test case per
    /// workload). Not part of the JSON report, which keeps only the count.
    pub declared: Vec<WorkloadKey>,
    /// How each declared path was rendered.
    pub paths: Vec<PathRender>,
    /// How each Helm release was rendered.
    pub releases: Vec<ReleaseRender>,
    /// What each declared container runs, for the deployment history. Not in the JSON report.
    pub runs: Vec<ContainerRun>,
}

impl EnvironmentResult {
    /// The errors as one line, joined with `; `, as the outputs and alerts show them; `None`
    /// without errors.
    pub fn error(&self) -> Option<String> {
        (!self.errors.is_empty()).then(|| self.errors.join("; "))
    }

    /// Why part of the environment was not judged: its audit errors, or what its incomplete
    /// declared state left out; empty when it was audited fully.
    pub fn not_judged(&self) -> &[String] {
        match self.status {
            Status::Ok => &[],
            Status::Incomplete => &self.incomplete,
            Status::Error => &self.errors,
        }
    }
}

/// The JSON shape of an [`EnvironmentResult`]: `error` stays the joined string (`null` when
/// `ok`) that consumers of `driftwatch.report/v1` read; `errors` is the same as a list.
#[derive(Serialize)]
struct EnvironmentJson<'a> {
    name: &'a str,
    cluster: &'a str,
    status: Status,
    error: Option<String>,
    errors: &'a [String],
    incomplete: &'a [String],
    declared_workloads: usize,
    live_workloads: usize,
    paths: &'a [PathRender],
    /// Only in environments with Helm releases: every other report stays as it was.
    #[serde(skip_serializing_if = "<[ReleaseRender]>::is_empty")]
    releases: &'a [ReleaseRender],
}

impl Serialize for EnvironmentResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EnvironmentJson {
            name: &self.name,
            cluster: &self.cluster,
            status: self.status,
            error: self.error(),
            errors: &self.errors,
            incomplete: &self.incomplete,
            declared_workloads: self.declared_workloads,
            live_workloads: self.live_workloads,
            paths: &self.paths,
            releases: &self.releases,
        }
        .serialize(serializer)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
    pub errors: usize,
    /// Environments whose declared state is incomplete (see [`Status::Incomplete`]).
    pub incomplete: usize,
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
            discovery_errors: Vec::new(),
            summary: Summary::default(),
            retired: Vec::new(),
        };
        report.sort_findings();
        report.judge_completeness();
        report.summarise();
        report
    }

    /// Findings by severity, critical first, in every output that lists them flat (JSON, text,
    /// Markdown, SARIF, annotations). The sort is stable: within a severity they stay as audited,
    /// environment by environment, each sorted by namespace, kind, name, container.
    fn sort_findings(&mut self) {
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }

    /// An environment audited without error is `incomplete` while a manifest file of it could
    /// not be read or parsed (an `invalid-manifest` finding naming no workload), unless an
    /// ignore rule accepted that finding: then `undeclared` was not judged, and the report says
    /// so instead of passing as clean.
    fn judge_completeness(&mut self) {
        for e in &mut self.environments {
            if e.status == Status::Error {
                continue;
            }
            e.incomplete = self
                .findings
                .iter()
                .filter(|f| f.environment == e.name && f.kind == FindingType::InvalidManifest && f.name.is_none())
                .map(|f| format!("undeclared workloads not judged: {}", f.message))
                .collect();
            e.status = if e.incomplete.is_empty() {
                Status::Ok
            } else {
                Status::Incomplete
            };
        }
    }

    pub(crate) fn summarise(&mut self) {
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        self.summary = Summary {
            findings: self.findings.len(),
            critical: count(Severity::Critical),
            warning: count(Severity::Warning),
            info: count(Severity::Info),
            errors: self.environments.iter().filter(|e| e.status == Status::Error).count()
                + self.discovery_errors.len(),
            incomplete: self
                .environments
                .iter()
                .filter(|e| e.status == Status::Incomplete)
                .count(),
            ignored: self.ignored.len(),
        };
    }

    /// Adds what discovery could not read or map: errors of this audit.
    pub fn with_discovery_errors(mut self, errors: Vec<String>) -> Self {
        self.discovery_errors = errors;
        self.summarise();
        self
    }

    /// Moves the findings the rules accept to `ignored` and reports expired rules.
    pub fn apply_ignore_rules(&mut self, rules: &[Rule], today: NaiveDate) {
        let (kept, ignored) = crate::core::ignore::apply(rules, std::mem::take(&mut self.findings), today);
        self.findings = kept;
        self.ignored = ignored;
        self.judge_completeness();
        self.summarise();
    }

    /// This report with the environments `partial` audited replaced by what `partial` found
    /// (their results, findings and ignored findings), and `partial`'s times and commit: what a
    /// re-audit of some environments (after a watched change) makes of the last full picture.
    /// Environments `partial` did not audit keep their results from `self`.
    pub fn merged(&self, partial: &Report) -> Report {
        let audited: std::collections::BTreeSet<&str> = partial.environments.iter().map(|e| e.name.as_str()).collect();
        let mut environments: Vec<EnvironmentResult> = self
            .environments
            .iter()
            .map(|e| {
                partial
                    .environments
                    .iter()
                    .find(|p| p.name == e.name)
                    .unwrap_or(e)
                    .clone()
            })
            .collect();
        for p in &partial.environments {
            if !environments.iter().any(|e| e.name == p.name) {
                environments.push(p.clone());
            }
        }
        let kept = |env: &str| !audited.contains(env);
        // Environment by environment in config order, each as its audit sorted it, then by
        // severity (in `sort_findings`), as a full audit lists them.
        let mut findings: Vec<Finding> = Vec::new();
        for e in &environments {
            let from = if kept(&e.name) {
                &self.findings
            } else {
                &partial.findings
            };
            findings.extend(from.iter().filter(|f| f.environment == e.name).cloned());
        }
        let mut ignored: Vec<Ignored> = self
            .ignored
            .iter()
            .filter(|i| kept(&i.finding.environment))
            .cloned()
            .collect();
        ignored.extend(partial.ignored.iter().cloned());
        let mut report = Report {
            schema: REPORT_SCHEMA,
            started_at: partial.started_at,
            finished_at: partial.finished_at,
            gitops: partial.gitops.clone(),
            environments,
            findings,
            ignored,
            discovery_errors: partial.discovery_errors.clone(),
            summary: Summary::default(),
            retired: Vec::new(),
        };
        report.sort_findings();
        report.judge_completeness();
        report.summarise();
        report
    }

    /// Records an error that concerns every environment (an unreadable ignore file).
    pub fn add_error_to_all(&mut self, error: &str) {
        for e in &mut self.environments {
            e.status = Status::Error;
            e.errors.push(error.to_string());
        }
        self.summarise();
    }

    /// 2 when any environment could not be fully audited (an error, or an incomplete declared
    /// state), whatever `fail_on` says, else 1 when a finding is at or above `fail_on`, else 0.
    pub fn exit_code(&self, fail_on: Severity) -> u8 {
        if self.summary.errors > 0 || self.summary.incomplete > 0 {
            EXIT_ERROR
        } else if self.findings.iter().any(|f| f.severity >= fail_on) {
            EXIT_DRIFT
        } else {
            EXIT_CLEAN
        }
    }

    fn summary_line(&self) -> String {
        let s = &self.summary;
        // A `-dirty` checkout keeps its mark in the short form, and says what it means.
        let commit = match self.gitops.commit.as_deref() {
            Some(c) => match c.strip_suffix("-dirty") {
                Some(sha) => format!("{}-dirty (uncommitted changes)", &sha[..sha.len().min(12)]),
                None => c[..c.len().min(12)].to_string(),
            },
            None => "(no commit)".to_string(),
        };
        format!(
            "{} finding{} ({} critical, {} warning, {} info) in {} environment{} at {} {}; {} error{}{}{}",
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
            if s.incomplete > 0 {
                format!("; {} incomplete", s.incomplete)
            } else {
                String::new()
            },
            if s.ignored > 0 {
                format!("; {} ignored", s.ignored)
            } else {
                String::new()
            }
        )
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
        // A ConfigMap or Secret: its name (the message says which kind).
        (None, Some(n)) => n.clone(),
        // A file that could not be read as workloads: the file, never its directory.
        _ => f
            .file
            .clone()
            .or_else(|| f.source.clone())
            .unwrap_or_else(|| "-".into()),
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

/// What git declares for one environment (`driftwatch declared`).
#[derive(Clone, Debug, Serialize)]
pub struct DeclaredReport {
    pub schema: &'static str,
    pub environment: String,
    pub commit: Option<String>,
    pub workloads: Vec<DeclaredWorkload>,
    /// How each path was rendered.
    pub paths: Vec<PathRender>,
    /// How each Helm release was rendered (absent without releases).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<ReleaseRender>,
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

    pub(super) fn report(errors: bool, severity: Severity) -> Report {
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
            live_image: Some(format!("registry.example.com/shop/api@{D1}")),
            file: None,
            helm: None,
            argocd: None,
            flux: None,
        };
        let env = EnvironmentResult {
            name: "production".into(),
            cluster: "prod-eu1".into(),
            status: if errors { Status::Error } else { Status::Ok },
            errors: if errors {
                vec!["cluster prod-eu1: unreachable".into()]
            } else {
                Vec::new()
            },
            incomplete: Vec::new(),
            declared_workloads: 1,
            live_workloads: 1,
            declared: vec![WorkloadKey {
                kind: WorkloadKind::Deployment,
                namespace: "shop".into(),
                name: "api".into(),
            }],
            paths: vec![PathRender {
                path: "apps/api/overlays/production".into(),
                renderer: "builtin".into(),
                cached: false,
            }],
            releases: Vec::new(),
            runs: Vec::new(),
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

    /// A manifest file that could not be parsed: `undeclared` was not judged.
    fn with_unparsed_file(mut r: Report) -> Report {
        let mut f = r.findings[0].clone();
        f.kind = FindingType::InvalidManifest;
        f.severity = Severity::Warning;
        f.fingerprint = "broken-file".into();
        f.name = None;
        f.container = None;
        f.message = "apps/broken/deploy.yaml: document 1: did not find expected node content".into();
        r.findings.push(f);
        r.judge_completeness();
        r.summarise();
        r
    }

    #[test]
    fn an_unparsed_file_makes_the_environment_incomplete_and_fails_any_gate() {
        let r = with_unparsed_file(report(false, Severity::Info));
        assert_eq!(r.environments[0].status, Status::Incomplete);
        assert_eq!(r.summary.incomplete, 1);
        assert_eq!(
            r.exit_code(Severity::Critical),
            EXIT_ERROR,
            "whatever --fail-on says, an audit that could not judge everything does not pass"
        );
        // Lines wrap at 120 columns with a two-space indent.
        let text = r.to_text().replace("\n  ", " ");
        assert!(
            text.contains(
                "incomplete: environment production: undeclared workloads not judged: apps/broken/deploy.yaml"
            ),
            "{text}"
        );
        assert!(text.contains("; 1 incomplete"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["environments"][0]["status"], "incomplete");
        assert!(
            json["environments"][0]["incomplete"][0]
                .as_str()
                .unwrap()
                .contains("apps/broken/deploy.yaml")
        );
    }

    #[test]
    fn an_ignored_unparsed_file_leaves_the_environment_complete() {
        let mut r = with_unparsed_file(report(false, Severity::Info));
        let rules = crate::core::ignore::parse(
            "ignore:\n  - type: invalid-manifest\n    environment: production\n    reason: vendored chart, known broken\n",
        )
        .unwrap();
        r.apply_ignore_rules(&rules, NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        assert_eq!(r.environments[0].status, Status::Ok);
        assert_eq!(r.exit_code(Severity::Critical), EXIT_CLEAN);
    }

    #[test]
    fn a_dirty_commit_keeps_its_mark_in_the_summary() {
        let mut r = report(false, Severity::Info);
        r.gitops.commit = Some(format!("{}-dirty", "a".repeat(40)));
        assert!(
            r.to_text()
                .replace("\n  ", " ")
                .contains(&format!("{}-dirty (uncommitted changes)", "a".repeat(12))),
            "{}",
            r.to_text()
        );
    }
}

#[cfg(test)]
mod merge_tests {
    use super::tests::report;
    use super::*;

    /// A re-audit of one environment replaces that environment's result and findings and
    /// keeps the others'.
    #[test]
    fn a_partial_report_replaces_only_the_environments_it_audited() {
        let mut full = report(false, Severity::Critical);
        let mut staging = full.environments[0].clone();
        staging.name = "staging".into();
        full.environments.push(staging);
        let mut staging_finding = full.findings[0].clone();
        staging_finding.environment = "staging".into();
        staging_finding.fingerprint = "staging-fp".into();
        full.findings.push(staging_finding);
        full.summarise();
        assert_eq!(full.summary.findings, 2);

        // production re-audited: clean now.
        let mut partial = full.clone();
        partial.environments.retain(|e| e.name == "production");
        partial.findings.clear();
        partial.gitops.commit = Some("def".into());
        partial.summarise();

        let merged = full.merged(&partial);
        assert_eq!(
            merged.environments.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["production", "staging"]
        );
        assert_eq!(merged.findings.len(), 1);
        assert_eq!(merged.findings[0].environment, "staging", "staging's finding is kept");
        assert_eq!(merged.summary.findings, 1);
        assert_eq!(merged.gitops.commit.as_deref(), Some("def"));
    }

    /// An Argo CD control plane that could not be read: the environments it would have added
    /// are not audited, and every output says so and fails the gate.
    #[test]
    fn discovery_errors_are_audit_errors_in_every_output() {
        let line = "discovery: argocd Applications from cluster mgmt: connection refused".to_string();
        let r = report(false, Severity::Info).with_discovery_errors(vec![line.clone()]);
        assert_eq!(r.summary.errors, 1);
        assert_eq!(r.exit_code(Severity::Critical), EXIT_ERROR);
        assert_eq!(serde_json::to_value(&r).unwrap()["discovery_errors"][0], line.as_str());
        assert!(r.to_text().contains(&format!("error: {line}")), "{}", r.to_text());
        assert!(
            r.to_markdown().contains(&format!("**error**: {line}")),
            "{}",
            r.to_markdown()
        );
        assert!(r.to_markdown().starts_with("## 🔴"));
        assert!(
            r.to_github()
                .starts_with("::error title=discovery::discovery: argocd Applications"),
            "{}",
            r.to_github()
        );
    }

    /// The Synced-but-drifting sentence the alerts carry is in the pull-request comment and
    /// the workflow annotations too.
    #[test]
    fn argo_cd_view_in_markdown_and_github() {
        let mut r = report(false, Severity::Critical);
        r.findings[0].argocd = Some(crate::core::model::ArgoCdStatus {
            application: "argocd/api".into(),
            sync: Some("Synced".into()),
            revisions: vec!["4f2a91c0e8a1b2c3d4e5f60718293a4b5c6d7e8f".into()],
            health: Some("Healthy".into()),
        });
        let sentence = "Argo CD reports Synced at 4f2a91c (Application argocd/api, Healthy); Pods run sha256:";
        assert!(r.to_markdown().contains(sentence), "{}", r.to_markdown());
        assert!(
            r.to_github().contains(&format!("production: {sentence}")),
            "{}",
            r.to_github()
        );
    }
}
