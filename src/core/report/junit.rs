//! The JUnit XML rendering, for CI systems that show test reports (GitLab, Jenkins, Azure
//! Pipelines): one `<testsuite>` per environment, one `<testcase>` per declared workload, a
//! `<failure>` per finding at or above `--fail-on`. Findings on no declared workload (an
//! undeclared Deployment, an unparseable file) get a test case of their own, and an audit error
//! is an `<error>`, so a test report never looks greener than the exit code.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{EnvironmentResult, Report, Status};
use crate::core::model::{Finding, Severity};

/// One test case: its findings split into those that fail it and those only shown.
#[derive(Default)]
struct Case<'a> {
    failing: Vec<&'a Finding>,
    shown: Vec<&'a Finding>,
    /// Audit errors: only the environment's `audit` case has them.
    errors: Vec<&'a str>,
}

impl Case<'_> {
    fn failed(&self) -> bool {
        !self.failing.is_empty()
    }
}

impl Report {
    /// Findings below `fail_on` do not fail a test case; they are listed in its `system-out`.
    pub fn to_junit(&self, fail_on: Severity) -> String {
        let suites: Vec<(String, Counts)> = self.environments.iter().map(|env| suite(self, env, fail_on)).collect();
        let total = suites.iter().fold(Counts::default(), |a, (_, c)| a.add(c));
        let seconds = (self.finished_at - self.started_at).num_milliseconds() as f64 / 1000.0;
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"driftwatch\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{seconds:.3}\">",
            total.tests, total.failures, total.errors, total.skipped
        );
        for (xml, _) in suites {
            out.push_str(&xml);
        }
        out.push_str("</testsuites>\n");
        out
    }
}

#[derive(Clone, Copy, Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn add(self, o: &Counts) -> Counts {
        Counts {
            tests: self.tests + o.tests,
            failures: self.failures + o.failures,
            errors: self.errors + o.errors,
            skipped: self.skipped + o.skipped,
        }
    }
}

/// The test cases of one environment, by name: declared workloads first (so each has a case
/// even without findings), then every other workload or file a finding names.
fn cases<'a>(report: &'a Report, env: &'a EnvironmentResult, fail_on: Severity) -> BTreeMap<String, Case<'a>> {
    let mut cases: BTreeMap<String, Case> = env
        .declared
        .iter()
        .map(|k| (format!("{} {}/{}", k.kind, k.namespace, k.name), Case::default()))
        .collect();
    for f in report.findings.iter().filter(|f| f.environment == env.name) {
        let name = match (f.workload_kind, &f.name) {
            (Some(kind), Some(name)) => format!("{kind} {}/{name}", f.namespace),
            _ => format!(
                "{} {}",
                f.kind,
                super::sarif::location(f).unwrap_or(f.namespace.as_str())
            ),
        };
        let case = cases.entry(name).or_default();
        if f.severity >= fail_on {
            case.failing.push(f);
        } else {
            case.shown.push(f);
        }
    }
    if env.status != Status::Ok {
        cases.entry("audit".into()).or_default().errors = env.not_judged().iter().map(String::as_str).collect();
    }
    cases
}

fn suite(report: &Report, env: &EnvironmentResult, fail_on: Severity) -> (String, Counts) {
    let cases = cases(report, env, fail_on);
    // With audit errors or an incomplete declared state, a workload without findings was
    // perhaps never compared: skipped, not passed.
    let incomplete = env.status != Status::Ok;
    let skipped = |c: &Case| incomplete && c.errors.is_empty() && !c.failed() && c.shown.is_empty();
    let counts = Counts {
        tests: cases.len(),
        failures: cases.values().filter(|c| c.failed()).count(),
        errors: cases.values().filter(|c| !c.errors.is_empty()).count(),
        skipped: cases.values().filter(|c| skipped(c)).count(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" timestamp=\"{}\">",
        escape(&env.name),
        counts.tests,
        counts.failures,
        counts.errors,
        counts.skipped,
        super::timestamp(report.started_at)
    );
    out.push_str("    <properties>\n");
    let commit = report.gitops.commit.as_deref().unwrap_or("");
    for (name, value) in [
        ("cluster", env.cluster.as_str()),
        ("gitops.url", &report.gitops.url),
        ("gitops.commit", commit),
    ] {
        let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", escape(value));
    }
    out.push_str("    </properties>\n");
    for (name, case) in &cases {
        testcase(&mut out, &env.name, name, case, skipped(case));
    }
    out.push_str("  </testsuite>\n");
    (out, counts)
}

fn testcase(out: &mut String, env: &str, name: &str, case: &Case, skipped: bool) {
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\"",
        escape(name),
        escape(env)
    );
    if case.failing.is_empty() && case.shown.is_empty() && case.errors.is_empty() && !skipped {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for e in &case.errors {
        let _ = writeln!(
            out,
            "      <error type=\"audit-error\" message=\"{}\">{}</error>",
            escape(e),
            escape(e)
        );
    }
    for f in &case.failing {
        let _ = writeln!(
            out,
            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
            f.kind,
            escape(&format!("{} {}: {}", f.severity, f.kind, f.message)),
            escape(&details(f))
        );
    }
    if skipped {
        out.push_str("      <skipped message=\"not judged: the environment had audit errors\"/>\n");
    }
    if !case.shown.is_empty() {
        let text: Vec<String> = case.shown.iter().map(|f| details(f)).collect();
        let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&text.join("\n\n")));
    }
    out.push_str("    </testcase>\n");
}

/// The facts of a finding, one per line, as the body of its `<failure>`.
fn details(f: &Finding) -> String {
    let mut lines = vec![format!("{} {}: {}", f.severity, f.kind, f.message)];
    let mut fact = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            lines.push(format!("{k}: {v}"));
        }
    };
    fact("cluster", Some(&f.cluster));
    fact("container", f.container.as_deref());
    fact("declared", f.declared.as_deref());
    let running = super::running_summary(f);
    fact("running", (running != "-").then_some(running.as_str()));
    fact("source", f.source.as_deref());
    fact("commit", f.commit.as_deref());
    fact("fingerprint", Some(&f.fingerprint));
    lines.join("\n")
}

/// Escapes text for XML content and attribute values alike. Line breaks and tabs become
/// character references (an attribute keeps them; content reads the same), and characters XML
/// 1.0 cannot carry at all become U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use super::*;

    #[test]
    fn escapes_markup_quotes_breaks_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"c'\nd\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;d\u{FFFD}"
        );
    }

    #[test]
    fn a_finding_below_fail_on_is_shown_not_failed() {
        let xml = report(false, Severity::Warning).to_junit(Severity::Critical);
        assert!(xml.contains("tests=\"1\" failures=\"0\""), "{xml}");
        assert!(xml.contains("<system-out>warning digest-drift: Pods run a|b"), "{xml}");
        let failing = report(false, Severity::Critical).to_junit(Severity::Critical);
        assert!(failing.contains("tests=\"1\" failures=\"1\""), "{failing}");
    }

    #[test]
    fn an_audit_error_is_an_error_case_and_skips_unjudged_workloads() {
        let mut r = report(true, Severity::Critical);
        r.findings.clear();
        let xml = r.to_junit(Severity::Warning);
        assert!(
            xml.contains("tests=\"2\" failures=\"0\" errors=\"1\" skipped=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<error type=\"audit-error\" message=\"cluster prod-eu1: unreachable\""));
    }
}
