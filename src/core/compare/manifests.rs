//! `invalid-manifest`: a declared file that could not be read as workloads, so what it
//! declares is unknown.

use super::{Environment, Scope, fingerprint};
use crate::core::model::{Finding, FindingType, ManifestProblem, Severity, SkippedPath};

/// One `invalid-manifest` per problem the manifest extraction reported, and one `unverifiable`
/// per path that was selected but not read.
pub(super) fn invalid_manifests(env: &Environment<'_>, out: &mut Vec<Finding>) {
    for problem in &env.declared.problems {
        out.push(invalid_manifest(env.scope, problem));
    }
    for skipped in &env.declared.skipped {
        out.push(not_read(env.scope, skipped));
    }
}

/// A path that no renderer read: what it declares is not known, so it is a warning; it names
/// no workload, so the rest of the environment is still judged (not `incomplete`).
fn not_read(scope: &Scope<'_>, s: &SkippedPath) -> Finding {
    let mut f = invalid_manifest(
        scope,
        &ManifestProblem {
            file: s.path.clone(),
            source: s.source.clone(),
            workload: None,
            container: None,
            reason: s.reason.clone(),
        },
    );
    f.kind = FindingType::Unverifiable;
    f.namespace = s.namespace.clone().unwrap_or_default();
    f.fingerprint = fingerprint(&f, &s.path);
    f
}

fn invalid_manifest(scope: &Scope<'_>, p: &ManifestProblem) -> Finding {
    let mut f = Finding {
        fingerprint: String::new(),
        kind: FindingType::InvalidManifest,
        severity: Severity::Warning,
        environment: scope.environment.to_string(),
        cluster: scope.cluster.to_string(),
        namespace: p.workload.as_ref().map(|w| w.namespace.clone()).unwrap_or_default(),
        workload_kind: p.workload.as_ref().map(|w| w.kind),
        name: p.workload.as_ref().map(|w| w.name.clone()),
        container: p.container.clone(),
        declared: None,
        running: Vec::new(),
        source: Some(p.source.clone()),
        commit: scope.commit.map(str::to_string),
        message: format!("{}: {}", p.file, p.reason),
        live_image: None,
        file: Some(p.file.clone()),
        helm: None,
        argocd: None,
        flux: None,
    };
    // The reason is left out of the fingerprint: a line number moving inside a still-broken
    // file is the same problem.
    f.fingerprint = fingerprint(&f, &p.file);
    f
}

#[cfg(test)]
mod tests {
    use super::super::compare;
    use super::super::fixtures::scope;
    use crate::core::model::{DeclaredState, FindingType, ManifestProblem};

    #[test]
    fn invalid_manifest_findings_carry_file_and_reason() {
        let d = DeclaredState {
            problems: vec![ManifestProblem {
                file: "apps/x/bad.yaml".into(),
                source: "apps/x".into(),
                workload: None,
                container: None,
                reason: "document 1: mapping values are not allowed".into(),
            }],
            ..Default::default()
        };
        let f = compare(&scope(&[], &[]), &d, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingType::InvalidManifest);
        assert_eq!(
            f[0].message,
            "apps/x/bad.yaml: document 1: mapping values are not allowed"
        );
    }
}
