//! Wording every channel shares: notices grouped by environment, the worst severity, counts,
//! what a notice is about and since when, truncation. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::core::alert_lifecycle::{Event, Notice, Subject, age, since};
use crate::core::compare::short;
use crate::core::model::{Finding, FindingType, RunningDigest, Severity};

/// Notices grouped by environment, in a stable order.
pub fn by_environment(notices: &[Notice]) -> BTreeMap<&str, Vec<&Notice>> {
    let mut map: BTreeMap<&str, Vec<&Notice>> = BTreeMap::new();
    for n in notices {
        map.entry(n.subject.environment()).or_default().push(n);
    }
    map
}

/// The highest severity among notices that are not resolved.
pub fn worst(notices: &[Notice]) -> Option<Severity> {
    notices
        .iter()
        .filter(|n| n.event != Event::Resolved)
        .map(|n| n.subject.severity())
        .max()
}

/// `3 alerts, 1 resolved`.
pub fn counts(notices: &[Notice]) -> String {
    let open = notices.iter().filter(|n| n.event != Event::Resolved).count();
    let resolved = notices.len() - open;
    let mut parts = Vec::new();
    if open > 0 {
        parts.push(format!("{open} alert{}", if open == 1 { "" } else { "s" }));
    }
    if resolved > 0 {
        parts.push(format!("{resolved} resolved"));
    }
    parts.join(", ")
}

/// `shop/Deployment/api` (container `api`), or the environment for an audit error.
pub fn what(subject: &Subject) -> String {
    match subject {
        Subject::Finding(f) => {
            let workload = match (&f.workload_kind, &f.name) {
                (Some(k), Some(n)) => format!("{}/{k}/{n}", f.namespace),
                // A ConfigMap or Secret (the explanation says which).
                (None, Some(n)) => format!("{}/{n}", f.namespace),
                // A file that could not be read as workloads: the file, not its directory.
                _ => f.file.clone().or_else(|| f.source.clone()).unwrap_or_default(),
            };
            match &f.container {
                Some(c) => format!("{workload} container {c}"),
                None => workload,
            }
        }
        Subject::AuditError {
            environment, cluster, ..
        } => format!("environment {environment} (cluster {cluster})"),
    }
}

/// Since when a notice is open, or when it was resolved and how long it lasted.
pub fn when(n: &Notice, now: DateTime<Utc>) -> String {
    match (n.event, n.resolved_at) {
        (Event::Resolved, Some(at)) => format!(
            "resolved {}, lasted {} (first seen {})",
            at.format("%Y-%m-%d %H:%M UTC"),
            age(at.signed_duration_since(n.first_seen).to_std().unwrap_or_default()),
            n.first_seen.format("%Y-%m-%d %H:%M UTC")
        ),
        _ => since(n.first_seen, now),
    }
}

/// What the notification says first, and what a phone shows: the environments, the open
/// alerts by severity, and what resolved: `production: 2 critical, 1 warning drift`.
pub fn headline(notices: &[Notice]) -> String {
    by_environment(notices)
        .into_iter()
        .map(|(env, list)| {
            let open_findings = |sev: Severity| {
                list.iter()
                    .filter(|n| n.event != Event::Resolved && matches!(n.subject, Subject::Finding(_)))
                    .filter(|n| n.subject.severity() == sev)
                    .count()
            };
            let by_severity: Vec<String> = [Severity::Critical, Severity::Warning, Severity::Info]
                .into_iter()
                .map(|sev| (sev, open_findings(sev)))
                .filter(|(_, count)| *count > 0)
                .map(|(sev, count)| format!("{count} {sev}"))
                .collect();
            let mut parts = Vec::new();
            if !by_severity.is_empty() {
                parts.push(format!("{} drift", by_severity.join(", ")));
            }
            let errors = list
                .iter()
                .filter(|n| n.event != Event::Resolved && matches!(n.subject, Subject::AuditError { .. }))
                .count();
            if errors > 0 {
                parts.push(format!(
                    "audit failed{}",
                    if errors == 1 {
                        String::new()
                    } else {
                        format!(" ×{errors}")
                    }
                ));
            }
            let resolved = list.iter().filter(|n| n.event == Event::Resolved).count();
            if resolved > 0 {
                parts.push(format!("{resolved} resolved"));
            }
            format!("{env}: {}", parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Per environment, the cluster and the audited commit: `production: cluster prod-eu1, commit
/// 0123456789ab`.
pub fn context(notices: &[Notice]) -> Vec<String> {
    by_environment(notices)
        .into_iter()
        .map(|(env, list)| {
            let cluster = list.iter().find_map(|n| match &n.subject {
                Subject::Finding(f) => Some(f.cluster.as_str()).filter(|c| !c.is_empty()),
                Subject::AuditError { cluster, .. } => Some(cluster.as_str()),
            });
            let commit = list.iter().find_map(|n| match &n.subject {
                Subject::Finding(f) => f.commit.as_deref(),
                Subject::AuditError { .. } => None,
            });
            format!(
                "{env}: cluster {}, commit {}",
                cluster.unwrap_or("-"),
                commit.map(short_commit).unwrap_or_else(|| "-".into())
            )
        })
        .collect()
}

/// The first 12 characters of a commit (and a `-dirty` mark, if any).
pub fn short_commit(commit: &str) -> String {
    match commit.split_once('-') {
        Some((id, rest)) => format!("{}-{rest}", &id[..id.len().min(12)]),
        None => commit.chars().take(12).collect(),
    }
}

/// What Argo CD reports of the finding's Application, when it came from one: `Argo CD reports
/// Synced at 4f2a91c (Application argocd/web, Healthy); Pods run sha256:… which git does not
/// declare`; and Flux of its Kustomization or HelmRelease (`Flux reports Ready at
/// main@sha1:4f2a91c …`). Every channel says it before the finding's own message.
pub fn argocd(f: &Finding) -> Option<String> {
    crate::core::compare::controller_note(f)
}

/// `sha256:… (3 Pods), sha256:… (1 Pod)`, digests in full.
pub fn pods_list(running: &[RunningDigest]) -> String {
    running
        .iter()
        .map(|r| format!("{} ({} Pod{})", r.digest, r.pods, if r.pods == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The facts behind a finding, as (label, value), in full, in the order a responder reads
/// them. A resolved notice speaks in the past: what ran is no longer current.
pub fn facts(f: &Finding, resolved: bool) -> Vec<(&'static str, String)> {
    let (live_label, pods_label) = if resolved {
        ("live spec was", "Pods ran")
    } else {
        ("live spec", "Pods run")
    };
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let live = |out: &mut Vec<(&'static str, String)>| {
        if let Some(l) = &f.live_image {
            out.push((live_label, l.clone()));
        }
    };
    let declared = |out: &mut Vec<(&'static str, String)>| {
        if let Some(d) = &f.declared {
            out.push(("declared", d.clone()));
        }
    };
    let pods = |out: &mut Vec<(&'static str, String)>| {
        if !f.running.is_empty() {
            out.push((pods_label, pods_list(&f.running)));
        }
    };
    match f.kind {
        FindingType::SpecDrift => {
            out.push((
                live_label,
                f.live_image
                    .clone()
                    .unwrap_or_else(|| "(container absent from the live spec)".into()),
            ));
            declared(&mut out);
            pods(&mut out);
        }
        FindingType::Missing => {
            let what = match (&f.workload_kind, &f.name) {
                (Some(k), Some(n)) => format!("{k} {}/{n}", f.namespace),
                _ => "-".into(),
            };
            out.push(("declared", what));
        }
        FindingType::Undeclared => {
            live(&mut out);
            pods(&mut out);
        }
        FindingType::Unverifiable => {
            declared(&mut out);
            live(&mut out);
            if !f.running.is_empty() {
                out.push(("image config ID (not a manifest digest)", pods_list(&f.running)));
            }
        }
        FindingType::ConfigDrift | FindingType::InvalidManifest => {
            if let Some(file) = &f.file {
                out.push(("file", file.clone()));
            }
        }
        _ => {
            declared(&mut out);
            if f.live_image.is_some() && f.live_image != f.declared {
                live(&mut out);
            }
            pods(&mut out);
        }
    }
    if let Some(source) = &f.source {
        out.push(("source", source.clone()));
    }
    out
}

/// The one-line summary next to the headline, short digests: for `spec-drift` the live spec's
/// reference next to the declared one, never two equal digests that read as "no drift".
pub fn summary(f: &Finding) -> Vec<(&'static str, String)> {
    let short_running = || {
        f.running
            .iter()
            .map(|r| format!("{} ×{}", short(&r.digest), r.pods))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match f.kind {
        FindingType::SpecDrift => vec![
            (
                "live spec",
                f.live_image.clone().unwrap_or_else(|| "(container absent)".into()),
            ),
            ("declared", f.declared.clone().unwrap_or_default()),
        ],
        FindingType::Missing => vec![("declared in", f.source.clone().unwrap_or_default())],
        FindingType::Undeclared => vec![("live spec", f.live_image.clone().unwrap_or_default())],
        FindingType::Unverifiable if !f.running.is_empty() => vec![
            ("declared", declared_short(f)),
            ("config ID, not a digest", short_running()),
        ],
        FindingType::ConfigDrift | FindingType::InvalidManifest => {
            vec![("file", f.file.clone().or_else(|| f.source.clone()).unwrap_or_default())]
        }
        FindingType::Unpinned if f.running.is_empty() => vec![("declared", declared_short(f))],
        _ => vec![
            ("declared", declared_short(f)),
            (
                "running",
                if f.running.is_empty() {
                    "-".into()
                } else {
                    short_running()
                },
            ),
        ],
    }
}

/// The declared digest, shortened, or the reference as declared when it has none.
pub fn declared_short(f: &Finding) -> String {
    match f.declared.as_deref() {
        Some(d) => match d.split_once('@') {
            Some((_, digest)) => short(digest),
            None => d.to_string(),
        },
        None => "-".into(),
    }
}

/// At most `max` characters, the last one `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
