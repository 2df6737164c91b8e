//! The text rendering: an aligned table of findings, the errors, and the summary line; and the
//! `driftwatch declared` listing.

use super::{DeclaredReport, Report, Status, dash, running_summary, short_ref, workload};

/// The width the text report fits in unless `--wide`: a common terminal.
pub const TEXT_WIDTH: usize = 120;

/// Columns that may be cut to fit [`TEXT_WIDTH`], each with the side kept: references and
/// workloads keep their end (`…shop/api@sha256:0123456789ab`), the rest their start.
/// Listed in the order they give way: names first, the digests last.
const SHRINKABLE: &[(usize, Keep)] = &[(4, Keep::End), (3, Keep::Start), (2, Keep::Start), (5, Keep::Start)];
/// A cut column keeps at least this much.
const MIN_CELL: usize = 14;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Start,
    End,
}

impl Report {
    /// The report for a 120-column terminal: one row per finding (who and what), then, indented
    /// and wrapped, what is declared and running and the explanation. Full digests are in the
    /// explanation and in `--wide`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.findings.is_empty() {
            let mut rows = vec![header(false)];
            rows.extend(self.findings.iter().map(who));
            fit(&mut rows, TEXT_WIDTH);
            let table = table(&rows);
            let mut lines = table.lines();
            if let Some(h) = lines.next() {
                out.push_str(h);
                out.push('\n');
            }
            for (line, f) in lines.zip(&self.findings) {
                out.push_str(line);
                out.push('\n');
                if let Some(facts) = facts_line(f) {
                    out.push_str(&wrap(&facts, TEXT_WIDTH, "    "));
                }
                if let Some(note) = crate::core::compare::controller_note(f) {
                    out.push_str(&wrap(&note, TEXT_WIDTH, "    "));
                }
                out.push_str(&wrap(&f.message, TEXT_WIDTH, "    "));
            }
            out.push('\n');
        }
        self.push_errors_and_summary(&mut out, Some(TEXT_WIDTH));
        out
    }

    /// `--wide`: every column in full (whole references and digests), one line per finding.
    pub fn to_text_wide(&self) -> String {
        let mut out = String::new();
        if !self.findings.is_empty() {
            let mut rows = vec![header(true)];
            rows.extend(self.findings.iter().map(|f| {
                let mut row = who(f);
                row.extend([
                    f.declared.clone().unwrap_or_else(|| "-".into()),
                    f.live_image.clone().unwrap_or_else(|| "-".into()),
                    running_full(f),
                    match crate::core::compare::controller_note(f) {
                        Some(note) => format!("{note}. {}", f.message),
                        None => f.message.clone(),
                    },
                ]);
                row
            }));
            out.push_str(&table(&rows));
            out.push('\n');
        }
        self.push_errors_and_summary(&mut out, None);
        out
    }

    fn push_errors_and_summary(&self, out: &mut String, width: Option<usize>) {
        let mut lines: Vec<String> = self
            .environments
            .iter()
            .filter(|e| e.status == Status::Error)
            .map(|e| format!("error: environment {}: {}", e.name, e.error().unwrap_or_default()))
            .collect();
        lines.extend(self.discovery_errors.iter().map(|e| format!("error: {e}")));
        for e in self.environments.iter().filter(|e| e.status == Status::Incomplete) {
            lines.extend(
                e.incomplete
                    .iter()
                    .map(|what| format!("incomplete: environment {}: {what}", e.name)),
            );
        }
        lines.push(self.summary_line());
        for line in lines {
            match width {
                Some(w) => out.push_str(&wrap(&line, w, "  ")),
                None => {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
    }
}

/// The columns that say who drifted: severity, type, environment, namespace, workload,
/// container.
fn who(f: &crate::core::model::Finding) -> Vec<String> {
    vec![
        f.severity.to_string(),
        f.kind.to_string(),
        f.environment.clone(),
        dash(&f.namespace),
        workload(f),
        f.container.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// `declared <ref> · live spec <ref> · running sha256:0123456789ab ×3`, what is known of them.
fn facts_line(f: &crate::core::model::Finding) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(d) = &f.declared {
        parts.push(format!("declared {}", short_ref(d)));
    }
    if let Some(l) = f.live_image.as_ref().filter(|l| f.declared.as_ref() != Some(*l)) {
        parts.push(format!("live spec {l}"));
    }
    if !f.running.is_empty() {
        parts.push(format!("running {}", running_summary(f)));
    }
    if let Some(file) = &f.file {
        parts.push(format!("file {file}"));
    }
    if let Some(h) = &f.helm {
        parts.push(format!("release {} · template {}", h.release, h.template));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn header(wide: bool) -> Vec<String> {
    let mut h = vec!["SEVERITY", "TYPE", "ENVIRONMENT", "NAMESPACE", "WORKLOAD", "CONTAINER"];
    if wide {
        h.extend(["DECLARED", "LIVE SPEC", "RUNNING", "DETAILS"]);
    }
    h.into_iter().map(String::from).collect()
}

/// Every running digest in full, with Pod counts.
fn running_full(f: &crate::core::model::Finding) -> String {
    if f.running.is_empty() {
        return "-".into();
    }
    f.running
        .iter()
        .map(|r| format!("{} ×{}", r.digest, r.pods))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Cuts the widest shrinkable column by one character at a time until the table fits `width`
/// (two spaces between columns); never below the header's width.
fn fit(rows: &mut [Vec<String>], width: usize) {
    let col_width = |rows: &[Vec<String>], c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let cols = rows[0].len();
    let mut widths: Vec<usize> = (0..cols).map(|c| col_width(rows, c)).collect();
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * (w.len() - 1);
    while total(&widths) > width {
        let floor = |c: usize| rows[0][c].chars().count().max(MIN_CELL);
        // The first column in SHRINKABLE order that can still give way; the digests last.
        let Some(&(c, _)) = SHRINKABLE.iter().find(|(c, _)| widths[*c] > floor(*c)) else {
            break;
        };
        widths[c] -= 1;
    }
    for &(c, keep) in SHRINKABLE {
        for row in rows.iter_mut().skip(1) {
            row[c] = cut(&row[c], widths[c], keep);
        }
    }
}

/// At most `max` characters, `…` marking the side cut off.
fn cut(s: &str, max: usize, keep: Keep) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    match keep {
        Keep::Start => s.chars().take(max - 1).chain(['…']).collect(),
        Keep::End => std::iter::once('…').chain(s.chars().skip(n - max + 1)).collect(),
    }
}

/// Words of `text` in lines of at most `width` characters, each line after the first (and, for
/// an explanation, the first too) starting with `indent`; a word longer than a line is split.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    // An explanation is indented from its first line; a summary or error line starts flush.
    let first_indent = if indent.len() > 2 { indent } else { "" };
    let mut line = first_indent.to_string();
    let room = |line: &str| width.saturating_sub(line.chars().count());
    for word in text.split_whitespace() {
        let at_start = line.trim().is_empty();
        let need = word.chars().count() + usize::from(!at_start);
        if need > room(&line) && !at_start {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
        }
        let mut rest: Vec<char> = word.chars().collect();
        if !line.trim().is_empty() {
            line.push(' ');
        }
        while rest.len() > room(&line) {
            let take = room(&line).max(1);
            line.extend(rest.drain(..take.min(rest.len())));
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
        }
        line.extend(rest);
    }
    if !line.trim().is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
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
        // Helm releases: which engine rendered each, from which chart.
        let releases = if self.releases.is_empty() {
            String::new()
        } else {
            let mut rows = vec![["RELEASE", "NAMESPACE", "CHART", "RENDERER"].map(String::from).to_vec()];
            rows.extend(self.releases.iter().map(|r| {
                let cached = if r.cached { " (cached)" } else { "" };
                let version = r.version.as_ref().map(|v| format!(" {v}")).unwrap_or_default();
                vec![
                    r.release.clone(),
                    r.namespace.clone(),
                    format!("{}{version}", r.chart),
                    format!("{}{cached}", r.renderer),
                ]
            }));
            table(&rows)
        };
        // How each path was rendered: which overlays went to the external kustomize, and why.
        let mut paths = vec![["PATH", "RENDERER"].map(String::from).to_vec()];
        paths.extend(self.paths.iter().map(|p| {
            let cached = if p.cached { " (cached)" } else { "" };
            vec![p.path.clone(), format!("{}{cached}", p.renderer)]
        }));
        if self.paths.is_empty() && !self.releases.is_empty() {
            paths.clear();
        }
        format!(
            "{}\n{releases}{}{} workloads declared for {} at {}\n",
            table(&rows),
            table(&paths),
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
    use super::TEXT_WIDTH;
    use crate::core::model::Severity;

    #[test]
    fn text_is_an_aligned_table_with_summary() {
        let text = report(true, Severity::Critical).to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SEVERITY  TYPE          ENVIRONMENT"), "{text}");
        assert_eq!(lines[0].find("WORKLOAD"), lines[1].find("Deployment/api"), "{text}");
        assert!(
            lines[2].contains(
                "declared registry.example.com/shop/api@sha256:111111111111 · running sha256:222222222222 ×3"
            ),
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

    /// A ConfigMap's name and a broken file are named in the WORKLOAD column, not a directory.
    #[test]
    fn text_names_the_configmap_or_the_file_not_the_directory() {
        let mut r = report(false, Severity::Critical);
        let mut config = r.findings[0].clone();
        config.kind = crate::core::model::FindingType::ConfigDrift;
        config.workload_kind = None;
        config.name = Some("app-config".into());
        config.file = Some("apps/api/overlays/production/config.yaml".into());
        let mut broken = config.clone();
        broken.kind = crate::core::model::FindingType::InvalidManifest;
        broken.name = None;
        broken.file = Some("apps/api/overlays/production/broken.yaml".into());
        r.findings = vec![config, broken];
        let text = r.to_text();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("critical")).collect();
        assert!(rows[0].contains("  app-config  "), "{text}");
        assert!(rows[1].contains("apps/api/overlays/production/broken.yaml"), "{text}");
        assert!(!rows.iter().any(|l| l.ends_with("overlays/production")), "{text}");
    }

    /// Long registry paths and 64-hex digests still fit a 120-column terminal; `--wide` keeps
    /// them whole.
    #[test]
    fn text_fits_120_columns_and_wide_keeps_everything() {
        let mut r = report(true, Severity::Critical);
        let long = format!(
            "registry.internal.example-corporation.com:5000/platform-team/shop/checkout-service-with-a-long-name@sha256:{}",
            "a".repeat(64)
        );
        let f = &mut r.findings[0];
        f.declared = Some(long.clone());
        f.live_image = Some(long.replace(&format!("@sha256:{}", "a".repeat(64)), ":hotfix-1"));
        f.name = Some("checkout-service-with-a-very-long-deployment-name-indeed".into());
        f.message = format!(
            "live spec runs {} but git declares {long}",
            f.live_image.clone().unwrap()
        );
        let text = r.to_text();
        for line in text.lines() {
            assert!(
                line.chars().count() <= TEXT_WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(text.contains("checkout-service-with-a-long-name:hotfix-1"), "{text}");
        let wide = r.to_text_wide();
        assert!(wide.contains(&long), "{wide}");
        assert!(wide.lines().any(|l| l.chars().count() > TEXT_WIDTH));
        assert!(wide.contains(&format!("sha256:{} ×3", "2".repeat(64))), "{wide}");
    }
}
