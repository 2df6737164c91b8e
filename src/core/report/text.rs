//! The text rendering: an aligned table of findings, the errors, and the summary line; and the
//! `driftwatch declared` listing.

use super::{DeclaredReport, Report, Status, dash, running_summary, short_ref, workload};

impl Report {
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
                e.error().unwrap_or_default()
            ));
        }
        for e in self.environments.iter().filter(|e| e.status == Status::Incomplete) {
            for what in &e.incomplete {
                out.push_str(&format!("incomplete: environment {}: {what}\n", e.name));
            }
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }
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
                    match &c.invalid {
                        Some(_) => format!("{} (INVALID)", c.image),
                        None => c.image.clone(),
                    },
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

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use crate::core::model::Severity;

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
}
