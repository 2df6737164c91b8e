//! Wording every channel shares: notices grouped by environment, the worst severity, counts,
//! what a notice is about and since when, truncation. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::alerts::lifecycle::{Event, Notice, Subject, age, since};
use crate::core::compare::short;
use crate::core::model::{Finding, Severity};

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
                _ => f.source.clone().unwrap_or_default(),
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

/// Since when a notice is open, or when it was resolved and after how long.
pub fn when(n: &Notice, now: DateTime<Utc>) -> String {
    match (n.event, n.resolved_at) {
        (Event::Resolved, Some(at)) => format!(
            "resolved {} after {}",
            at.format("%Y-%m-%d %H:%M UTC"),
            age(at.signed_duration_since(n.first_seen).to_std().unwrap_or_default())
        ),
        _ => since(n.first_seen, now),
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
