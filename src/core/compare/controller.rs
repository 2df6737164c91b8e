//! The controller's own view next to ours: each finding about a workload of an Argo CD
//! Application listed from a control plane carries what Argo CD reports of that Application
//! (sync status, revision, health), and [`note`] says it in one sentence. A drift finding on an
//! Application Argo CD calls `Synced` is the blind spot argo-cd #7155 is about: Argo CD compares
//! the live spec with git, never the digests the Pods run. A workload of a Flux Kustomization
//! or HelmRelease carries what Flux reports (the revision it last applied, its `Ready`
//! condition) the same way: Flux reconciles on an interval and never compares imageIDs either.

use super::{Scope, short};
use crate::core::model::{
    ArgoCdStatus, ControllerStatus, Finding, FindingType, FluxStatus, HelmSource, OverrideTarget,
};

/// Attaches to each finding the status of the Application (or Flux object) that deploys its
/// workload (by the path or Helm release that declared it): the first of each controller's.
pub(super) fn attach(scope: &Scope<'_>, findings: &mut [Finding]) {
    if scope.controller.is_empty() {
        return;
    }
    for f in findings.iter_mut() {
        let Some(source) = f.source.as_deref() else {
            continue;
        };
        let mut views = scope
            .controller
            .iter()
            .filter(|v| v.targets.iter().any(|t| applies(t, source, f.helm.as_ref())));
        f.argocd = views.clone().find_map(|v| match &v.status {
            ControllerStatus::ArgoCd(s) => Some(s.clone()),
            ControllerStatus::Flux(_) => None,
        });
        f.flux = views.find_map(|v| match &v.status {
            ControllerStatus::Flux(s) => Some(s.clone()),
            ControllerStatus::ArgoCd(_) => None,
        });
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

/// What the controllers report, in one sentence a responder reads first: Argo CD's
/// ([`argocd_note`]), then Flux's ([`flux_note`]).
pub fn note(f: &Finding) -> Option<String> {
    match (argocd_note(f), flux_note(f)) {
        (Some(a), Some(b)) => Some(format!("{a}. {b}")),
        (a, b) => a.or(b),
    }
}

/// What Argo CD reports: `Argo CD reports Synced at 4f2a91c (Application argocd/web,
/// Healthy); Pods run sha256:… which git does not declare`.
pub fn argocd_note(f: &Finding) -> Option<String> {
    let s = f.argocd.as_ref()?;
    let reported = reported(s);
    if s.sync.as_deref() == Some("Synced") && runs_undeclared(f.kind) {
        return Some(format!("{reported}; {}", undeclared_run(f)));
    }
    Some(reported)
}

/// What Flux reports: `Flux reports Ready at main@sha1:4f2a91c (Kustomization
/// flux-system/apps, ReconciliationSucceeded); Pods run sha256:… which git does not declare`.
/// Ready is Flux's "applied what git says": drift under it is what Flux does not see.
pub fn flux_note(f: &Finding) -> Option<String> {
    let s = f.flux.as_ref()?;
    let reported = flux_reported(s);
    if s.ready.as_deref() == Some("True") && runs_undeclared(f.kind) {
        return Some(format!("{reported}; {}", undeclared_run(f)));
    }
    Some(reported)
}

/// `Flux reports Ready at main@sha1:4f2a91c (Kustomization flux-system/apps,
/// ReconciliationSucceeded)`; `Flux reports not Ready (…, BuildFailed)`.
fn flux_reported(s: &FluxStatus) -> String {
    let state = match s.ready.as_deref() {
        Some("True") => "Ready",
        Some("False") => "not Ready",
        Some(_) => "Ready Unknown",
        None => "no Ready condition",
    };
    let at = s
        .revision
        .as_deref()
        .map(|r| format!(" at {}", flux_revision(r)))
        .unwrap_or_default();
    let reason = s.reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default();
    format!("Flux reports {state}{at} ({}{reason})", s.object)
}

/// `main@sha1:4f2a91c0…` → `main@sha1:4f2a91c`; `main/4f2a91c0…` (before Flux v2.0) →
/// `main/4f2a91c`; a chart version as it is.
fn flux_revision(r: &str) -> String {
    let (head, sha) = match r.rsplit_once(':').or_else(|| r.rsplit_once('/')) {
        Some((h, s)) => (Some(h), s),
        None => (None, r),
    };
    let sha = revision(sha);
    match head {
        Some(h) if r.contains(':') => format!("{h}:{sha}"),
        Some(h) => format!("{h}/{sha}"),
        None => sha,
    }
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

    fn flux(ready: Option<&str>, reason: Option<&str>) -> FluxStatus {
        FluxStatus {
            object: "Kustomization flux-system/apps".into(),
            revision: Some(format!("main@sha1:{REV}")),
            ready: ready.map(str::to_string),
            reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn the_wording_of_each_flux_status() {
        let with = |kind: FindingType, s: FluxStatus| {
            let mut f = drift(kind, status(None, None));
            f.argocd = None;
            f.flux = Some(s);
            f
        };
        let cases: Vec<(&str, Finding, &str)> = vec![
            (
                "digest drift under Ready: what Flux does not see, said plainly",
                with(
                    FindingType::DigestDrift,
                    flux(Some("True"), Some("ReconciliationSucceeded")),
                ),
                "Flux reports Ready at main@sha1:4f2a91c (Kustomization flux-system/apps, ReconciliationSucceeded); Pods run sha256:222222222222 which git does not declare",
            ),
            (
                "not Ready: Flux already knows something is wrong, only its view",
                with(FindingType::DigestDrift, flux(Some("False"), Some("BuildFailed"))),
                "Flux reports not Ready at main@sha1:4f2a91c (Kustomization flux-system/apps, BuildFailed)",
            ),
            (
                "no status yet",
                with(
                    FindingType::DigestDrift,
                    FluxStatus {
                        revision: None,
                        ..flux(None, None)
                    },
                ),
                "Flux reports no Ready condition (Kustomization flux-system/apps)",
            ),
            (
                "a revision before Flux 2.0 and a chart version",
                with(
                    FindingType::Unpinned,
                    FluxStatus {
                        revision: Some(format!("main/{REV}")),
                        ..flux(Some("True"), None)
                    },
                ),
                "Flux reports Ready at main/4f2a91c (Kustomization flux-system/apps)",
            ),
            (
                "a HelmRelease's chart version is shown as it is",
                with(
                    FindingType::Unpinned,
                    FluxStatus {
                        object: "HelmRelease podinfo/podinfo".into(),
                        revision: Some("6.5.4".into()),
                        ..flux(Some("True"), Some("UpgradeSucceeded"))
                    },
                ),
                "Flux reports Ready at 6.5.4 (HelmRelease podinfo/podinfo, UpgradeSucceeded)",
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(note(&f).as_deref(), Some(want), "{name}");
            assert_eq!(argocd_note(&f), None, "{name}: no Argo CD sentence");
        }
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
            status: ControllerStatus::ArgoCd(ArgoCdStatus {
                application: app.into(),
                ..status(Some("Synced"), None)
            }),
            targets: vec![target],
        };
        let views = [
            view("argocd/web", OverrideTarget::Path("apps/web".into())),
            view("argocd/shop", OverrideTarget::Release("shop".into())),
            ControllerView {
                status: ControllerStatus::Flux(flux(Some("True"), None)),
                targets: vec![OverrideTarget::Path("apps/webshop".into())],
            },
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
        let flux: Vec<bool> = found.iter().map(|f| f.flux.is_some()).collect();
        assert_eq!(flux, vec![false, false, true, false], "the Flux object's path only");
    }
}
