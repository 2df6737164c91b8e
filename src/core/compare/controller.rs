//! The controller's own view next to ours: each finding about a workload of an Argo CD
//! Application listed from a control plane carries what Argo CD reports of that Application
//! (sync status, revision, health), and [`note`] says it in one sentence. A drift finding on an
//! Application Argo CD calls `Synced` is the blind spot argo-cd #7155 is about: Argo CD compares
//! the live spec with git, never the digests the Pods run.

use super::{Scope, short};
use crate::core::model::{ArgoCdStatus, Finding, FindingType, HelmSource, OverrideTarget};

/// Attaches to each finding the status of the Application that deploys its workload (by the
/// path or Helm release that declared it).
pub(super) fn attach(scope: &Scope<'_>, findings: &mut [Finding]) {
    if scope.controller.is_empty() {
        return;
    }
    for f in findings.iter_mut() {
        let Some(source) = f.source.as_deref() else {
            continue;
        };
        f.argocd = scope
            .controller
            .iter()
            .find(|v| v.targets.iter().any(|t| applies(t, source, f.helm.as_ref())))
            .map(|v| v.status.clone());
    }
}

fn applies(target: &OverrideTarget, source: &str, helm: Option<&HelmSource>) -> bool {
    match target {
        OverrideTarget::Path(dir) => {
            helm.is_none() && (dir == "." || source == dir || source.starts_with(&format!("{dir}/")))
        }
        OverrideTarget::Release(name) => helm.is_some_and(|h| h.release == *name),
    }
}

/// Findings where the Pods (or the live spec) run what git does not declare.
fn runs_undeclared(kind: FindingType) -> bool {
    matches!(
        kind,
        FindingType::DigestDrift | FindingType::SpecDrift | FindingType::MixedRollout | FindingType::Override
    )
}

/// What Argo CD reports, in one sentence a responder reads first: `Argo CD reports Synced at
/// 4f2a91c (Application argocd/web, Healthy); Pods run sha256:… which git does not declare`.
pub fn note(f: &Finding) -> Option<String> {
    let s = f.argocd.as_ref()?;
    let reported = reported(s);
    if s.sync.as_deref() == Some("Synced") && runs_undeclared(f.kind) {
        return Some(format!("{reported}; {}", undeclared_run(f)));
    }
    Some(reported)
}

/// `Argo CD reports Synced at 4f2a91c (Application argocd/web, Healthy)`.
fn reported(s: &ArgoCdStatus) -> String {
    let sync = s.sync.as_deref().unwrap_or("no sync status");
    let at = match s.revisions.as_slice() {
        [] => String::new(),
        revs => format!(
            " at {}",
            revs.iter().map(|r| revision(r)).collect::<Vec<_>>().join(", ")
        ),
    };
    let health = s.health.as_deref().map(|h| format!(", {h}")).unwrap_or_default();
    format!("Argo CD reports {sync}{at} (Application {}{health})", s.application)
}

/// A commit as `git log --oneline` shows it; a chart version as it is.
fn revision(r: &str) -> String {
    if r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()) {
        r[..7].to_string()
    } else {
        r.to_string()
    }
}

/// `Pods run sha256:… which git does not declare`, or the live spec's image when no Pod
/// reports a digest git does not declare.
fn undeclared_run(f: &Finding) -> String {
    let declared = f.declared.as_deref().and_then(|d| d.split_once('@')).map(|(_, d)| d);
    let other: Vec<String> = f
        .running
        .iter()
        .filter(|r| Some(r.digest.as_str()) != declared)
        .map(|r| short(&r.digest))
        .collect();
    match (&other[..], f.kind, &f.declared, &f.live_image) {
        ([], FindingType::Override, Some(d), _) => format!("Pods run {d}, which git does not declare"),
        ([], _, _, Some(live)) => format!("the live spec names {live}, which git does not declare"),
        ([], _, _, None) => "the Pods run what git does not declare".into(),
        (digests, ..) => format!("Pods run {} which git does not declare", digests.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{ControllerView, RunningDigest, Severity};

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const REV: &str = "4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b";

    fn status(sync: Option<&str>, health: Option<&str>) -> ArgoCdStatus {
        ArgoCdStatus {
            application: "argocd/web".into(),
            sync: sync.map(str::to_string),
            revisions: vec![REV.into()],
            health: health.map(str::to_string),
        }
    }

    fn drift(kind: FindingType, s: ArgoCdStatus) -> Finding {
        let mut f = Finding::sample("production", "web", kind, Severity::Critical);
        f.declared = Some(format!("registry.example.com/shop/web@{D1}"));
        f.running = vec![RunningDigest {
            digest: D2.into(),
            pods: 3,
        }];
        f.argocd = Some(s);
        f
    }

    #[test]
    fn the_wording_of_each_status() {
        let synced = status(Some("Synced"), Some("Healthy"));
        let cases: Vec<(&str, Finding, Option<&str>)> = vec![
            (
                "digest drift on a Synced Application: the #7155 case, said plainly",
                drift(FindingType::DigestDrift, synced.clone()),
                Some(
                    "Argo CD reports Synced at 4f2a91c (Application argocd/web, Healthy); Pods run sha256:222222222222 which git does not declare",
                ),
            ),
            (
                "spec drift with no Pod digest: the live spec's image",
                {
                    let mut f = drift(FindingType::SpecDrift, synced.clone());
                    f.running.clear();
                    f.live_image = Some("registry.example.com/shop/web:hotfix".into());
                    f
                },
                Some(
                    "Argo CD reports Synced at 4f2a91c (Application argocd/web, Healthy); the live spec names registry.example.com/shop/web:hotfix, which git does not declare",
                ),
            ),
            (
                "OutOfSync: Argo CD already knows, only its view",
                drift(FindingType::DigestDrift, status(Some("OutOfSync"), Some("Degraded"))),
                Some("Argo CD reports OutOfSync at 4f2a91c (Application argocd/web, Degraded)"),
            ),
            (
                "Synced, but a finding that is not about what runs",
                drift(FindingType::Unpinned, synced.clone()),
                Some("Argo CD reports Synced at 4f2a91c (Application argocd/web, Healthy)"),
            ),
            (
                "no status yet",
                drift(
                    FindingType::DigestDrift,
                    ArgoCdStatus {
                        revisions: vec![],
                        ..status(None, None)
                    },
                ),
                Some("Argo CD reports no sync status (Application argocd/web)"),
            ),
            (
                "a chart version is shown as it is",
                drift(
                    FindingType::Unpinned,
                    ArgoCdStatus {
                        revisions: vec!["6.5.1".into(), REV.into()],
                        ..synced
                    },
                ),
                Some("Argo CD reports Synced at 6.5.1, 4f2a91c (Application argocd/web, Healthy)"),
            ),
            (
                "not an Application's workload",
                Finding::sample("production", "web", FindingType::DigestDrift, Severity::Critical),
                None,
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(note(&f).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn each_finding_gets_the_status_of_the_application_that_declares_its_workload() {
        let view = |app: &str, target: OverrideTarget| ControllerView {
            status: ArgoCdStatus {
                application: app.into(),
                ..status(Some("Synced"), None)
            },
            targets: vec![target],
        };
        let views = [
            view("argocd/web", OverrideTarget::Path("apps/web".into())),
            view("argocd/shop", OverrideTarget::Release("shop".into())),
        ];
        let s = super::super::fixtures::scope(&[], &[]);
        let s = Scope {
            controller: &views,
            signatures: None,
            ..s
        };
        let mut web = Finding::sample("production", "web", FindingType::DigestDrift, Severity::Critical);
        web.source = Some("apps/web/overlays/production".into());
        let mut shop = web.clone();
        shop.helm = Some(HelmSource {
            release: "shop".into(),
            template: "shop/templates/deployment.yaml".into(),
        });
        let mut other = web.clone();
        other.source = Some("apps/webshop".into());
        let mut undeclared = web.clone();
        undeclared.source = None;
        let mut found = vec![web, shop, other, undeclared];
        attach(&s, &mut found);
        let apps: Vec<Option<&str>> = found
            .iter()
            .map(|f| f.argocd.as_ref().map(|a| a.application.as_str()))
            .collect();
        assert_eq!(apps, vec![Some("argocd/web"), Some("argocd/shop"), None, None]);
    }
}
