//! `missing` (declared, not in the cluster) and `undeclared` (in the cluster, declared by no
//! path), and which namespaces each may judge.

use std::collections::BTreeSet;

use super::{Environment, digests_of, finding, fingerprint};
use crate::core::manifest::{is_generated_prefix, names_match};
use crate::core::model::{DeclaredWorkload, Finding, FindingType, Severity, WorkloadKey, WorkloadKind};

/// Declared workloads of a listed namespace that the cluster does not run. Nothing is missing
/// when the cluster could not be listed: that is an error, not a finding.
pub(super) fn missing(env: &Environment<'_>, out: &mut Vec<Finding>) {
    let Some(live) = env.live else {
        return;
    };
    for dw in env.declared.workloads.iter().filter(|w| env.listed(&w.namespace)) {
        // A `generateName` object (an Argo CD hook Job) is created at each sync and often
        // deleted after it: its absence is not drift.
        if live.workloads.contains_key(&dw.key()) || is_generated_prefix(&dw.name) {
            continue;
        }
        // Rollouts the cluster would not list are not known absent: `rollouts_not_listed` says so.
        if dw.kind == WorkloadKind::Rollout && live.rollouts_refused.is_some() {
            continue;
        }
        out.push(finding(
            env.scope,
            FindingType::Missing,
            Severity::Warning,
            &dw.key(),
            None,
            Some(dw),
            None,
            Vec::new(),
            format!(
                "{} {} is declared in {} but does not exist in namespace {}",
                dw.kind, dw.name, dw.source, dw.namespace
            ),
        ));
    }
}

/// One `unverifiable` finding for an environment that declares Argo Rollouts on a cluster that
/// refused to list them (403): what is missing and the way out, instead of failing the audit of
/// a least-privilege reader or calling every Rollout missing. A cluster that does not serve
/// Rollouts at all (no CRD) lists none, and declared ones are `missing` there.
pub(super) fn rollouts_not_listed(env: &Environment<'_>, out: &mut Vec<Finding>) {
    let Some(reason) = env.live.and_then(|l| l.rollouts_refused.as_deref()) else {
        return;
    };
    let declared: Vec<&DeclaredWorkload> = env
        .declared
        .workloads
        .iter()
        .filter(|w| w.kind == WorkloadKind::Rollout && env.listed(&w.namespace))
        .collect();
    let Some(first) = declared.first() else {
        return;
    };
    let names: Vec<String> = declared.iter().map(|w| format!("{}/{}", w.namespace, w.name)).collect();
    let message = format!(
        "Rollouts not compared ({}): {reason}. Grant get, list and watch on rollouts.argoproj.io to compare them",
        names.join(", ")
    );
    let mut f = finding(
        env.scope,
        FindingType::Unverifiable,
        Severity::Info,
        &first.key(),
        None,
        None,
        None,
        Vec::new(),
        message,
    );
    f.name = None;
    // One per environment and cluster, whatever the server's wording or which Rollouts.
    f.fingerprint = fingerprint(&f, "rollouts-not-listed");
    out.push(f);
}

/// Live workloads no path declares, in the namespaces that are judged: the listed ones, or
/// when all were listed, those where git declares something (so `kube-system` is left alone).
pub(super) fn undeclared(env: &Environment<'_>, out: &mut Vec<Finding>) {
    let declared = env.declared;
    // Undeclared workloads can only be judged when the declared set is complete.
    let declared_complete = declared.failed_paths.is_empty() && declared.problems.iter().all(|p| p.workload.is_some());
    let Some(live) = env.live.filter(|_| declared_complete) else {
        return;
    };
    let scope = env.scope;
    let declared_keys: BTreeSet<_> = declared.workloads.iter().map(DeclaredWorkload::key).collect();
    let declared_namespaces: BTreeSet<&str> = declared.workloads.iter().map(|w| w.namespace.as_str()).collect();
    let prefixes: Vec<_> = declared_keys.iter().filter(|k| is_generated_prefix(&k.name)).collect();
    // What a path left unrendered (a Helm chart) deploys into its namespace: not judged there.
    let unknown: BTreeSet<&str> = declared.skipped.iter().filter_map(|s| s.namespace.as_deref()).collect();
    for (key, lw) in &live.workloads {
        let generated =
            |p: &&WorkloadKey| p.kind == key.kind && p.namespace == key.namespace && names_match(&p.name, &key.name);
        if declared_keys.contains(key) || prefixes.iter().any(generated) || unknown.contains(key.namespace.as_str()) {
            continue;
        }
        let in_scope = if scope.namespaces.is_empty() {
            declared_namespaces.contains(key.namespace.as_str())
        } else {
            env.listed(&key.namespace)
        };
        if !in_scope {
            continue;
        }
        let running = digests_of(lw, |_| true, scope.ignore_containers).0;
        let images: Vec<&str> = lw
            .containers
            .iter()
            .filter(|c| !scope.ignore_containers.contains(&c.name))
            .map(|c| c.image.as_str())
            .collect();
        let mut f = finding(
            scope,
            FindingType::Undeclared,
            Severity::Warning,
            key,
            None,
            None,
            None,
            running,
            format!(
                "{} {} runs in namespace {} ({}) but no environment path declares it",
                key.kind,
                key.name,
                key.namespace,
                images.join(", ")
            ),
        );
        f.live_image = Some(images.join(", "));
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{D1, declared, live, pinned, run, run_with, scope};
    use crate::core::model::{DeclaredState, FindingType, Severity};

    #[test]
    fn undeclared_scope() {
        let mut other_ns = live("coredns", &pinned(D1), vec![]);
        other_ns.namespace = "kube-system".into();
        // No namespaces configured: only namespaces with a declared workload are judged.
        assert_eq!(
            run(
                vec![declared("api", &pinned(D1))],
                vec![live("api", &pinned(D1), vec![]), other_ns.clone()]
            ),
            vec![]
        );
        // Namespaces configured: every listed namespace is judged.
        let ns = vec!["shop".to_string(), "kube-system".to_string()];
        let s = scope(&ns, &[]);
        let got = run_with(
            &s,
            DeclaredState {
                workloads: vec![declared("api", &pinned(D1))],
                ..Default::default()
            },
            vec![other_ns.clone()],
        );
        assert!(
            got.contains(&(FindingType::Undeclared, Severity::Warning, "coredns".into())),
            "{got:?}"
        );
        // An incomplete declared set (a path failed to render) never claims undeclared.
        let incomplete = DeclaredState {
            workloads: vec![],
            failed_paths: vec!["apps/x".into()],
            ..Default::default()
        };
        assert_eq!(run_with(&s, incomplete, vec![other_ns]), vec![]);
    }
}
