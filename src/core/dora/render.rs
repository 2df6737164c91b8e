//! The DORA report as text (a terminal), Markdown (a PR comment, a wiki page) and JSON (the
//! `driftwatch.dora/v1` interface). Text and Markdown mark a figure of fewer than
//! [`TREND`] samples as too few for a trend.

use std::fmt::Write as _;

use super::compute::{DoraReport, Figures, Stat};
use super::model::{DeploymentKind, Source};
use crate::core::dora::bands::Band;

/// Fewer samples than this are not a trend.
pub const TREND: usize = 5;

pub fn render_json(r: &DoraReport) -> String {
    let mut out = serde_json::to_string_pretty(r).expect("the report serialises");
    out.push('\n');
    out
}

/// `2d 4h`, `45m`, `30s`: the largest unit, and the next one when it is not zero.
pub fn human(secs: i64) -> String {
    const UNITS: [(&str, i64); 4] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)];
    let secs = secs.max(0);
    let i = UNITS
        .iter()
        .position(|(_, size)| secs >= *size)
        .unwrap_or(UNITS.len() - 1);
    let (name, size) = UNITS[i];
    let mut out = format!("{}{name}", secs / size);
    if let Some((next, next_size)) = UNITS.get(i + 1) {
        let rest = secs % size / next_size;
        if rest > 0 {
            out.push_str(&format!(" {rest}{next}"));
        }
    }
    out
}

fn samples(n: usize) -> String {
    if n > 0 && n < TREND {
        format!("n={n}, too few for a trend")
    } else {
        format!("n={n}")
    }
}

fn duration(s: &Stat) -> String {
    match (s.median, s.p90) {
        (Some(m), Some(p)) => format!("median {}, p90 {} ({})", human(m), human(p), samples(s.samples)),
        _ => "no data".into(),
    }
}

fn band(b: Option<Band>) -> &'static str {
    b.map_or("", Band::as_str)
}

fn header(r: &DoraReport) -> String {
    let days = (r.until - r.since).num_days();
    let source = match r.source {
        Source::Observed => "observed",
        Source::Git => "declared-side estimate from git history",
    };
    format!(
        "({source}, {} → {}, {})",
        r.since.format("%Y-%m-%d"),
        r.until.format("%Y-%m-%d"),
        count(days.max(0) as usize, "day")
    )
}

fn rate(f: &Figures) -> String {
    match f.change_failure_rate {
        Some(r) => format!(
            "{:.1}% ({} of {}{})",
            r * 100.0,
            f.failed_deployments,
            f.deployments,
            if f.deployments < TREND {
                ", too few for a trend"
            } else {
                ""
            }
        ),
        None => "no data".into(),
    }
}

/// `n deployment(s)`.
pub fn count(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The deployment rate as read at a glance, with what it is made of: `2.5/week (10
/// deployments in 28 days)`, `1 every 12 weeks (1 deployment in 86 days)`; `no data (no
/// deployments in 30 days)` without any.
pub fn frequency(f: &Figures, days: i64) -> String {
    let made_of = format!(
        "{} in {}",
        count(f.deployments, "deployment"),
        count(days.max(0) as usize, "day")
    );
    if f.deployments == 0 {
        return format!("no data (no deployments in {})", count(days.max(0) as usize, "day"));
    }
    let per_week = f.deployments_per_week;
    let rate = if per_week >= 1.0 {
        format!("{per_week}/week")
    } else {
        let weeks = 1.0 / per_week;
        let weeks = if weeks >= 10.0 {
            format!("{weeks:.0}")
        } else {
            format!("{:.1}", (weeks * 10.0).round() / 10.0)
        };
        format!("1 every {weeks} weeks")
    };
    format!("{rate} ({made_of})")
}

/// The changes counted that have no lead time although declared here, and why.
fn lead_time_notes(f: &Figures) -> Vec<String> {
    let mut out = Vec::new();
    if f.skipped_stage_changes > 0 {
        out.push(format!(
            "{} skipped a stage of the promotion chain (promotion-skipped): no lead time",
            count(f.skipped_stage_changes, "change")
        ));
    }
    if f.unknown_lineage_changes > 0 {
        out.push(format!(
            "{} of unknown lineage (a moving tag, or a tag and a digest to compare): no lead time",
            count(f.unknown_lineage_changes, "change")
        ));
    }
    out
}

/// The lead time figure, with [`lead_time_notes`] after it.
fn lead_time(f: &Figures, figure: String) -> String {
    std::iter::once(figure)
        .chain(lead_time_notes(f))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `--explain`: every deployment counted, oldest first, one a line (time, environment,
/// workload, kind, version, commit), to check the figures against `git log`.
pub fn render_explain(r: &DoraReport) -> String {
    let mut out = format!("\nevents counted ({}):\n", r.events.len());
    if r.events.is_empty() {
        out.push_str("  none: no deployment completed in the window\n");
    }
    for e in &r.events {
        let workload = if e.container.is_empty() {
            e.workload.clone()
        } else {
            format!("{} {}", e.workload, e.container)
        };
        let kind = match e.kind {
            DeploymentKind::Promotion => "promotion",
            DeploymentKind::Rollback => "rollback",
            DeploymentKind::Hand => "hand",
        };
        let mut line = format!(
            "  {}  {}  {workload}  {kind}  {}",
            e.at.format("%Y-%m-%d %H:%M:%S UTC"),
            e.environment,
            version(&e.version),
        );
        if let Some(p) = &e.previous {
            let _ = write!(line, " (was {})", version(p));
        }
        let _ = write!(
            line,
            "  commit {}",
            e.commit.as_deref().map_or("-", |c| &c[..c.len().min(12)])
        );
        match (e.lead_time_seconds, e.skipped.is_empty()) {
            (Some(s), _) => {
                let _ = write!(line, "  lead time {}", human(s));
            }
            (None, false) => {
                let _ = write!(line, "  skipped {}: no lead time", e.skipped.join(", "));
            }
            (None, true) if e.unknown_lineage => match &e.unknown_lineage_reason {
                Some(why) => {
                    let _ = write!(line, "  lineage cannot be judged ({why}): no lead time");
                }
                None => line.push_str("  lineage cannot be judged: no lead time"),
            },
            (None, true) => {}
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// A digest shortened; a tag reference as declared.
fn version(v: &str) -> String {
    if v.starts_with("sha256:") {
        crate::core::compare::short(v).to_string()
    } else {
        v.to_string()
    }
}

/// The window's length in whole days.
pub fn days(r: &DoraReport) -> i64 {
    (r.until - r.since).num_days()
}

pub fn render_text(r: &DoraReport) -> String {
    let mut out = String::new();
    if r.environments.is_empty() {
        let _ = writeln!(out, "no environments {}", header(r));
    }
    for e in &r.environments {
        let f = &e.figures;
        let _ = writeln!(out, "{}  {}", e.name, header(r));
        let row = |out: &mut String, label: &str, value: String, b: Option<Band>| {
            let line = format!("  {label:<26} {value:<52} {}", band(b));
            let _ = writeln!(out, "{}", line.trim_end());
        };
        row(
            &mut out,
            "deployment frequency",
            frequency(f, days(r)),
            f.bands.deployment_frequency,
        );
        row(&mut out, "lead time", duration(&f.lead_time_seconds), f.bands.lead_time);
        for note in lead_time_notes(f) {
            let _ = writeln!(out, "    {note}");
        }
        for s in &f.stages {
            let label = if s.to == "rollout" {
                format!("  {} rollout", s.from)
            } else {
                format!("  {} → {}", s.from, s.to)
            };
            row(&mut out, &label, duration(&s.stat), None);
        }
        row(&mut out, "change failure rate", rate(f), f.bands.change_failure_rate);
        let mut restore = duration(&f.time_to_restore_seconds);
        if f.unrestored_failures > 0 {
            let _ = write!(restore, "; {} not restored yet", f.unrestored_failures);
        }
        row(&mut out, "time to restore", restore, f.bands.time_to_restore);
        for (kind, s) in &f.drift_time_to_restore_seconds {
            row(&mut out, &format!("drift restore: {kind}"), duration(s), None);
        }
        for fail in &f.failures {
            let _ = writeln!(
                out,
                "  failed: {} {} {} at {} ({}){}",
                fail.workload,
                fail.container,
                crate::core::compare::short(&fail.digest),
                fail.deployed_at.format("%Y-%m-%d %H:%M UTC"),
                fail.reason,
                fail.restored_at.map_or(", not restored yet".to_string(), |t| format!(
                    ", restored {}",
                    t.format("%Y-%m-%d %H:%M UTC")
                ))
            );
        }
    }
    out
}

pub fn render_markdown(r: &DoraReport) -> String {
    let mut out = format!("## DORA metrics {}\n", header(r));
    let cell = |s: &Stat| match (s.median, s.p90) {
        (Some(m), Some(p)) => format!("median {}, p90 {}", human(m), human(p)),
        _ => "no data".into(),
    };
    let n = |k: usize| {
        if k > 0 && k < TREND {
            format!("{k} (too few for a trend)")
        } else {
            k.to_string()
        }
    };
    for e in &r.environments {
        let f = &e.figures;
        let _ = write!(
            out,
            "\n### {}\n\n| Metric | Value | Samples | Band |\n|---|---|---:|---|\n",
            e.name
        );
        let _ = writeln!(
            out,
            "| Deployment frequency | {} | {} | {} |",
            frequency(f, days(r)),
            n(f.deployments),
            band(f.bands.deployment_frequency)
        );
        let _ = writeln!(
            out,
            "| Lead time for changes | {} | {} | {} |",
            lead_time(f, cell(&f.lead_time_seconds)),
            n(f.lead_time_seconds.samples),
            band(f.bands.lead_time)
        );
        for s in &f.stages {
            let label = if s.to == "rollout" {
                format!("{} rollout", s.from)
            } else {
                format!("{} → {}", s.from, s.to)
            };
            let _ = writeln!(
                out,
                "| &nbsp;&nbsp;{label} | {} | {} | |",
                cell(&s.stat),
                n(s.stat.samples)
            );
        }
        let cfr = f.change_failure_rate.map_or("no data".to_string(), |r| {
            format!("{:.1}% ({} failed)", r * 100.0, f.failed_deployments)
        });
        let _ = writeln!(
            out,
            "| Change failure rate | {cfr} | {} | {} |",
            n(f.deployments),
            band(f.bands.change_failure_rate)
        );
        let unrestored = if f.unrestored_failures > 0 {
            format!("; {} not restored yet", f.unrestored_failures)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| Time to restore | {}{unrestored} | {} | {} |",
            cell(&f.time_to_restore_seconds),
            n(f.time_to_restore_seconds.samples),
            band(f.bands.time_to_restore)
        );
        for (kind, s) in &f.drift_time_to_restore_seconds {
            let _ = writeln!(
                out,
                "| Drift time to restore: {kind} | {} | {} | |",
                cell(s),
                n(s.samples)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        let cases = [
            (0, "0s"),
            (30, "30s"),
            (45 * 60, "45m"),
            (90 * 60, "1h 30m"),
            (2 * 86_400 + 4 * 3600, "2d 4h"),
            (5 * 86_400 + 3, "5d"),
            (-5, "0s"),
        ];
        for (secs, want) in cases {
            assert_eq!(human(secs), want, "{secs}s");
        }
    }
}
