//! GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding, so a
//! job's log and summary show each drift as an annotation on the manifest that declares it.
//! Audit errors are `::error` lines too: a run that could not judge an environment says so.

use super::{Report, Status};
use crate::core::model::{Finding, Severity};

impl Report {
    pub fn to_github(&self) -> String {
        let mut out = String::new();
        for e in &self.environments {
            let title = match e.status {
                Status::Incomplete => "incomplete",
                _ => "audit error",
            };
            for err in e.not_judged() {
                out.push_str(&command(
                    "error",
                    None,
                    &format!("{title} {}", e.name),
                    &format!("{} (cluster {}): {err}", e.name, e.cluster),
                ));
            }
        }
        for err in &self.discovery_errors {
            out.push_str(&command("error", None, "discovery", err));
        }
        for f in &self.findings {
            out.push_str(&annotation(f));
        }
        out
    }
}

fn annotation(f: &Finding) -> String {
    let kind = match f.severity {
        Severity::Critical => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    };
    let title = match (f.workload_kind, &f.name) {
        (Some(k), Some(n)) => format!("{} {k} {}/{n}", f.kind, f.namespace),
        _ => f.kind.to_string(),
    };
    command(
        kind,
        super::sarif::location(f),
        &title,
        &match crate::core::compare::controller_note(f) {
            Some(note) => format!("{}: {note}. {}", f.environment, f.message),
            None => format!("{}: {}", f.environment, f.message),
        },
    )
}

/// `::KIND file=…,title=…::MESSAGE\n`, escaped as the runner decodes workflow commands.
fn command(kind: &str, file: Option<&str>, title: &str, message: &str) -> String {
    let mut props = Vec::new();
    if let Some(file) = file {
        props.push(format!("file={}", escape_property(file)));
    }
    props.push(format!("title={}", escape_property(title)));
    format!("::{kind} {}::{}\n", props.join(","), escape_data(message))
}

/// A command's message: `%` first, so the escapes added after it are not escaped again.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A property value also ends at `,` and the properties end at `::`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use super::*;

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("50% a:b,c\r\nd"), "50%25 a:b,c%0D%0Ad");
        assert_eq!(escape_property("50% a:b,c\nd"), "50%25 a%3Ab%2Cc%0Ad");
    }

    #[test]
    fn one_line_per_finding_by_severity() {
        let out = report(false, Severity::Info).to_github();
        assert_eq!(
            out,
            "::notice file=apps/api/overlays/production,title=digest-drift Deployment shop/api::production: Pods run a|b\n"
        );
    }

    #[test]
    fn audit_errors_are_error_lines() {
        let out = report(true, Severity::Critical).to_github();
        assert!(
            out.starts_with(
                "::error title=audit error production::production (cluster prod-eu1): cluster prod-eu1: unreachable\n"
            ),
            "{out}"
        );
    }
}
