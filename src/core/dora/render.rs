//! The DORA report as text (a terminal), Markdown (a PR comment, a wiki page) and JSON (the
//! `driftwatch.dora/v1` interface). Text and Markdown mark a figure of fewer than
//! [`TREND`] samples as too few for a trend.

use std::fmt::Write as _;

use super::compute::{DoraReport, Figures, Stat};
use super::model::Source;
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
        "({source}, {} → {}, {days} days)",
        r.since.format("%Y-%m-%d"),
        r.until.format("%Y-%m-%d")
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

fn frequency(f: &Figures) -> String {
    format!("{}/week ({} deployments)", f.deployments_per_week, f.deployments)
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
            frequency(f),
            f.bands.deployment_frequency,
        );
        row(&mut out, "lead time", duration(&f.lead_time_seconds), f.bands.lead_time);
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
            "| Deployment frequency | {}/week | {} | {} |",
            f.deployments_per_week,
            n(f.deployments),
            band(f.bands.deployment_frequency)
        );
        let _ = writeln!(
            out,
            "| Lead time for changes | {} | {} | {} |",
            cell(&f.lead_time_seconds),
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
