//! What image a container declares and runs: `unpinned`, `spec-drift`, `unverifiable` (Pods
//! that report a config ID), and `digest-drift` / `mixed-rollout` for the Pods' digests.

use super::rollout::{held, stuck_note};
use super::{Container, Flow, list_short, rewrite, short};
use crate::core::image::ImageRef;
use crate::core::model::{Finding, FindingType, LiveWorkload, Severity};

/// `unpinned`: declared by tag, so the bytes can change without a commit.
pub(super) fn unpinned(c: &mut Container<'_>, out: &mut Vec<Finding>) -> Flow {
    if c.image.digest().is_none() {
        let severity = if c.scope.require_digest {
            Severity::Critical
        } else {
            Severity::Info
        };
        let message = format!(
            "{} is declared by tag, not by digest: the bytes behind it can change without a commit",
            c.spec.image
        );
        let mut f = c.finding(FindingType::Unpinned, severity, Vec::new(), message);
        // What the Pods run is shown to the responder, but it is not what is wrong (the tag
        // is), so it is added after the fingerprint: a new digest behind the same tag stays the
        // same finding.
        f.running = c.running.clone();
        out.push(f);
    }
    Flow::Next
}

/// `spec-drift`: the live spec lacks the container or names another image (after rewrites).
/// It carries the running digests, so nothing more is said about this container.
pub(super) fn spec_drift(c: &mut Container<'_>, lw: &LiveWorkload, out: &mut Vec<Finding>) -> Flow {
    let Some(live_spec) = lw.containers.iter().find(|s| s.name == c.spec.name) else {
        let message = format!(
            "container {} is declared in git but absent from the live {} spec",
            c.spec.name, lw.kind
        );
        out.push(c.finding(FindingType::SpecDrift, Severity::Critical, c.running.clone(), message));
        return Flow::Stop;
    };
    if !ImageRef::parse(&rewrite(&live_spec.image, c.scope.rewrites)).is_ok_and(|l| l.same_image(&c.image)) {
        let message = format!("live spec runs {} but git declares {}", live_spec.image, c.spec.image);
        out.push(c.finding(FindingType::SpecDrift, Severity::Critical, c.running.clone(), message));
        return Flow::Stop;
    }
    Flow::Next
}

/// `unverifiable`: Pods that report an image config ID, whose manifest digest is unknown.
pub(super) fn unverifiable(c: &mut Container<'_>, _: &LiveWorkload, out: &mut Vec<Finding>) -> Flow {
    if !c.unverifiable.is_empty() {
        let pods: usize = c.unverifiable.iter().map(|r| r.pods).sum();
        let message = format!(
            "{pods} Pod(s) report only an image config ID, not a manifest digest: the running digest cannot be checked"
        );
        out.push(c.finding(
            FindingType::Unverifiable,
            Severity::Info,
            c.unverifiable.clone(),
            message,
        ));
    }
    Flow::Next
}

/// `digest-drift` when no Pod runs the declared digest, `mixed-rollout` when some do and some
/// do not, or, for a tag, when the Pods run several digests.
pub(super) fn digest_drift(c: &mut Container<'_>, lw: &LiveWorkload, out: &mut Vec<Finding>) -> Flow {
    let stuck = stuck_note(&lw.rollout);
    let running = &c.running;
    match c.image.digest() {
        Some(want) => {
            let others: usize = running.iter().filter(|r| r.digest != want).map(|r| r.pods).sum();
            if others == 0 {
                return Flow::Next;
            }
            let (kind, severity, message) = if running.iter().any(|r| r.digest == want) {
                let message = format!(
                    "{others} Pod(s) still run another digest than the declared {}{stuck}",
                    short(want)
                );
                (FindingType::MixedRollout, Severity::Warning, message)
            } else if held(&lw.rollout) {
                let message = format!(
                    "Pods run {}, none the declared {}{stuck}",
                    list_short(running),
                    short(want)
                );
                (FindingType::MixedRollout, Severity::Warning, message)
            } else {
                let message = format!("Pods run {} but git declares {}", list_short(running), short(want));
                (FindingType::DigestDrift, Severity::Critical, message)
            };
            out.push(c.finding(kind, severity, running.clone(), message));
        }
        None if running.len() > 1 => {
            let message = format!(
                "Pods of one workload run {} different digests for {}{stuck}",
                running.len(),
                c.spec.image
            );
            out.push(c.finding(FindingType::MixedRollout, Severity::Warning, running.clone(), message));
        }
        None => {}
    }
    Flow::Next
}

#[cfg(test)]
mod tests {
    use super::super::compare;
    use super::super::fixtures::{D1, D2, REPO, declared, digest, live, pinned, pod, run_with, scope};
    use crate::core::model::{
        ConfigObject, DeclaredState, Finding, FindingType, LiveState, ManifestProblem, RunningDigest, Severity,
    };

    fn find(findings: &[Finding], kind: FindingType) -> &Finding {
        findings
            .iter()
            .find(|f| f.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} in {findings:?}"))
    }

    /// Each finding carries the facts a responder needs: the live spec's image, the file.
    #[test]
    fn findings_carry_live_image_and_file() {
        let hotfix = format!("{REPO}:hotfix-1");
        let stray = live("stray", &format!("{REPO}:debug"), vec![pod("s", "app", digest(D2))]);
        let declared_state = DeclaredState {
            workloads: vec![
                declared("api", &pinned(D1)),
                declared("web", &format!("{REPO}:1")),
                declared("gone", &pinned(D1)),
            ],
            configs: vec![ConfigObject {
                secret: false,
                namespace: "shop".into(),
                name: "app-config".into(),
                values: Default::default(),
                source: "apps/api".into(),
                file: "apps/api/config.yaml".into(),
            }],
            problems: vec![ManifestProblem {
                file: "apps/api/broken.yaml".into(),
                source: "apps/api".into(),
                workload: Some(declared("api", &pinned(D1)).key()),
                container: None,
                reason: "bad".into(),
            }],
            ..Default::default()
        };
        let live_state = LiveState {
            workloads: [
                live("api", &hotfix, vec![pod("a", "app", digest(D1))]),
                live("web", &format!("{REPO}:1"), vec![pod("w", "app", digest(D2))]),
                stray,
            ]
            .into_iter()
            .map(|w| (w.key(), w))
            .collect(),
            ..Default::default()
        };
        let f = compare(&scope(&[], &[]), &declared_state, Some(&live_state));
        let spec = find(&f, FindingType::SpecDrift);
        assert_eq!(spec.live_image.as_deref(), Some(hotfix.as_str()));
        let unpinned = find(&f, FindingType::Unpinned);
        assert_eq!(
            unpinned.running,
            vec![RunningDigest {
                digest: D2.into(),
                pods: 1
            }]
        );
        let undeclared = find(&f, FindingType::Undeclared);
        assert_eq!(undeclared.live_image, Some(format!("{REPO}:debug")));
        assert_eq!(find(&f, FindingType::Missing).live_image, None);
        assert_eq!(
            find(&f, FindingType::ConfigDrift).file.as_deref(),
            Some("apps/api/config.yaml")
        );
        assert_eq!(
            find(&f, FindingType::InvalidManifest).file.as_deref(),
            Some("apps/api/broken.yaml")
        );
    }

    /// The running digests shown for `unpinned` do not change its identity.
    #[test]
    fn unpinned_fingerprint_ignores_running() {
        let run = |d: &str| {
            let state = DeclaredState {
                workloads: vec![declared("web", &format!("{REPO}:1"))],
                ..Default::default()
            };
            let live_state = LiveState {
                workloads: [live("web", &format!("{REPO}:1"), vec![pod("w", "app", digest(d))])]
                    .into_iter()
                    .map(|w| (w.key(), w))
                    .collect(),
                ..Default::default()
            };
            find(
                &compare(&scope(&[], &[]), &state, Some(&live_state)),
                FindingType::Unpinned,
            )
            .fingerprint
            .clone()
        };
        assert_eq!(run(D1), run(D2));
    }

    #[test]
    fn ignore_containers_and_not_required_digest() {
        let ignore = vec!["app".to_string()];
        let s = scope(&[], &ignore);
        let d = DeclaredState {
            workloads: vec![declared("api", &pinned(D1))],
            ..Default::default()
        };
        assert_eq!(
            run_with(&s, d, vec![live("api", &pinned(D1), vec![pod("a", "app", digest(D2))])]),
            vec![]
        );
        let mut s = scope(&[], &[]);
        s.require_digest = false;
        let d = DeclaredState {
            workloads: vec![declared("api", &format!("{REPO}:1"))],
            ..Default::default()
        };
        assert_eq!(
            run_with(&s, d, vec![live("api", &format!("{REPO}:1"), vec![])]),
            vec![(FindingType::Unpinned, Severity::Info, "api".into())]
        );
    }
}
