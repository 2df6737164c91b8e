//! The markdown rendering, for a pull-request comment: a status table per environment and a
//! table of findings.

use super::{Report, Status, dash, plural, running_summary, short_ref, workload};

impl Report {
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
                Status::Incomplete => format!("**incomplete**: {}", md_escape(&e.incomplete.join("; "))),
                Status::Error => {
                    format!("**error**: {}", md_escape(&e.error().unwrap_or_default()))
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
        for err in &self.discovery_errors {
            out.push_str(&format!("\n**error**: {}\n", md_escape(err)));
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
                    md_escape(&details(f))
                ));
            }
        }
        out
    }
}

/// The finding's message, with what the GitOps controller reports of it (Argo CD's "Synced,
/// yet Pods run what git does not declare") as every alert says it.
fn details(f: &crate::core::model::Finding) -> String {
    match crate::core::compare::controller_note(f) {
        Some(note) => format!("{note}. {}", f.message),
        None => f.message.clone(),
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use crate::core::model::Severity;

    #[test]
    fn markdown_escapes_pipes() {
        let md = report(false, Severity::Critical).to_markdown();
        assert!(md.starts_with("## 🔴 driftwatch: 1 finding"));
        assert!(md.contains("Pods run a\\|b"));
    }
}
