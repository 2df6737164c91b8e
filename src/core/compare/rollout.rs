//! Rollout judgement: while a rollout is in progress and younger than the grace, old Pods on the
//! old digest are expected, so the Pods are not judged; after it, the findings say it is stuck.
//!
//! An Argo Rollout steps through a canary or blue-green with old and new Pods side by side on
//! purpose ([`Pace::Stepped`]): while it progresses nothing is judged, and the grace counts
//! from when it was held (paused, aborted, past its progress deadline). A held Rollout whose
//! Pods run none of the declared digest is on its way to git's version, not away from it: that
//! is `mixed-rollout` too, not `digest-drift`.

use super::{Container, Flow};
use crate::core::model::{Finding, LiveWorkload, Pace, Rollout};

/// Stops the judgement of the Pods while the workload's rollout is within its grace.
pub(super) fn within_grace(c: &mut Container<'_>, lw: &LiveWorkload, _: &mut Vec<Finding>) -> Flow {
    let rollout = &lw.rollout;
    if !rollout.in_progress {
        return Flow::Next;
    }
    let since = match &rollout.pace {
        Pace::Continuous => rollout.started_at,
        // Progressing step by step: Argo Rollouts' own progress deadline says when it stalls.
        Pace::Stepped(None) => return Flow::Stop,
        Pace::Stepped(Some(hold)) => hold.since,
    };
    let scope = c.scope;
    let young =
        since.is_none_or(|t| scope.now.signed_duration_since(t).to_std().unwrap_or_default() < scope.rollout_grace);
    if young { Flow::Stop } else { Flow::Next }
}

/// Whether the Pods of a rollout that is held half-way may run none of the declared digest:
/// they are the stable ones of a rollout toward it.
pub(super) fn held(rollout: &Rollout) -> bool {
    rollout.in_progress && matches!(rollout.pace, Pace::Stepped(Some(_)))
}

/// The note a finding about the Pods carries when their rollout outlived the grace.
pub(super) fn stuck_note(rollout: &Rollout) -> String {
    if !rollout.in_progress {
        return String::new();
    }
    match &rollout.pace {
        Pace::Stepped(Some(hold)) => {
            let since = hold
                .since
                .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            format!(
                " (Rollout {} ({}){since}, longer than the grace period)",
                hold.state.as_str(),
                hold.reason
            )
        }
        _ => " (rollout in progress longer than the grace period)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{D1, D2, declared, digest, live, now, pinned, pod, run};
    use crate::core::model::{FindingType, Rollout, Severity};

    #[test]
    fn rollout_in_progress_is_quiet_within_grace_and_reported_after() {
        let mut l = live(
            "api",
            &pinned(D1),
            vec![pod("a", "app", digest(D1)), pod("b", "app", digest(D2))],
        );
        l.rollout = Rollout {
            in_progress: true,
            started_at: Some(now() - chrono::Duration::minutes(5)),
            pace: Default::default(),
        };
        assert_eq!(run(vec![declared("api", &pinned(D1))], vec![l.clone()]), vec![]);
        l.rollout.started_at = Some(now() - chrono::Duration::minutes(30));
        let got = run(vec![declared("api", &pinned(D1))], vec![l]);
        assert_eq!(
            got,
            vec![(FindingType::MixedRollout, Severity::Warning, "api".to_string())]
        );
    }

    mod argo {
        use super::super::super::fixtures::{D1, D2, declared, digest, live, now, pinned, pod, scope};
        use crate::core::compare::compare;
        use crate::core::model::{
            DeclaredState, DeclaredWorkload, Finding, FindingType, Hold, HoldState, LiveState, LiveWorkload, Pace,
            Rollout, Severity, WorkloadKind,
        };

        fn minutes_ago(m: i64) -> Option<chrono::DateTime<chrono::Utc>> {
            Some(now() - chrono::Duration::minutes(m))
        }

        /// Rollout `web` declaring D1, as git has it.
        fn declared_web() -> DeclaredWorkload {
            let mut d = declared("web", &pinned(D1));
            d.kind = WorkloadKind::Rollout;
            d
        }

        /// Live Rollout `web` whose spec names D1 (the canary/preview), with Pods on `stable`
        /// and `new` digests, and its rollout state.
        fn live_web(stable: usize, new: usize, in_progress: bool, hold: Option<Hold>) -> LiveWorkload {
            let mut pods = Vec::new();
            for i in 0..stable {
                pods.push(pod(&format!("web-stable-{i}"), "app", digest(D2)));
            }
            for i in 0..new {
                pods.push(pod(&format!("web-canary-{i}"), "app", digest(D1)));
            }
            let mut l = live("web", &pinned(D1), pods);
            l.kind = WorkloadKind::Rollout;
            l.rollout = Rollout {
                in_progress,
                // The canary's ReplicaSet is old: only a hold starts the grace.
                started_at: minutes_ago(180),
                pace: Pace::Stepped(hold),
            };
            l
        }

        fn hold(state: HoldState, reason: &str, minutes: i64) -> Option<Hold> {
            Some(Hold {
                state,
                reason: reason.into(),
                since: minutes_ago(minutes),
            })
        }

        fn judge(l: LiveWorkload) -> Vec<Finding> {
            let live = LiveState {
                workloads: [(l.key(), l)].into_iter().collect(),
                ..Default::default()
            };
            let declared = DeclaredState {
                workloads: vec![declared_web()],
                ..Default::default()
            };
            compare(&scope(&[], &[]), &declared, Some(&live))
        }

        fn kinds(findings: &[Finding]) -> Vec<(FindingType, Severity)> {
            findings.iter().map(|f| (f.kind, f.severity)).collect()
        }

        #[test]
        fn a_rollout_in_sync_is_no_finding() {
            assert_eq!(kinds(&judge(live_web(0, 3, false, None))), vec![]);
        }

        /// Stable and canary digests side by side are the canary, not drift: while it
        /// progresses (however long: its progress deadline is Argo's to judge), and while a
        /// pause is younger than the grace.
        #[test]
        fn a_canary_in_progress_is_not_drift() {
            assert_eq!(kinds(&judge(live_web(4, 1, true, None))), vec![]);
            let paused = hold(HoldState::Paused, "CanaryPauseStep", 5);
            assert_eq!(kinds(&judge(live_web(4, 1, true, paused))), vec![]);
        }

        #[test]
        fn a_rollout_paused_past_the_grace_is_a_mixed_rollout() {
            let paused = hold(HoldState::Paused, "CanaryPauseStep", 30);
            let f = judge(live_web(4, 1, true, paused));
            assert_eq!(kinds(&f), vec![(FindingType::MixedRollout, Severity::Warning)]);
            assert_eq!(f[0].workload_kind, Some(WorkloadKind::Rollout));
            assert!(
                f[0].message
                    .contains("Rollout paused (CanaryPauseStep) since 2026-11-26 11:30 UTC"),
                "{}",
                f[0].message
            );
        }

        /// Aborted, the canary is scaled away and every Pod runs the stable digest: the
        /// Rollout is stuck on its way to git's version, a mixed rollout once the grace is past.
        #[test]
        fn a_rollout_aborted_past_the_grace_is_a_mixed_rollout() {
            let young = hold(HoldState::Aborted, "RolloutAborted: metric error-rate failed", 5);
            assert_eq!(kinds(&judge(live_web(5, 0, true, young))), vec![]);
            let old = hold(HoldState::Aborted, "RolloutAborted: metric error-rate failed", 30);
            let f = judge(live_web(5, 0, true, old));
            assert_eq!(kinds(&f), vec![(FindingType::MixedRollout, Severity::Warning)]);
            assert!(
                f[0].message.contains("none the declared sha256:111111111111"),
                "{}",
                f[0].message
            );
            assert!(f[0].message.contains("Rollout aborted"), "{}", f[0].message);
        }

        /// A Rollout that is not rolling out but whose every Pod runs a digest git does not
        /// declare has drifted, as a Deployment would.
        #[test]
        fn a_drifted_rollout_is_digest_drift() {
            let f = judge(live_web(3, 0, false, None));
            assert_eq!(kinds(&f), vec![(FindingType::DigestDrift, Severity::Critical)]);
            assert_eq!(
                (f[0].workload_kind, f[0].name.as_deref()),
                (Some(WorkloadKind::Rollout), Some("web"))
            );
        }

        /// Blue-green: the active ReplicaSet serves the stable digest, the preview runs git's,
        /// and the Rollout waits for promotion (`BlueGreenPause`).
        #[test]
        fn blue_green_with_a_preview_waits_for_promotion_within_the_grace() {
            let waiting = hold(HoldState::Paused, "BlueGreenPause", 9);
            assert_eq!(kinds(&judge(live_web(3, 3, true, waiting))), vec![]);
            let forgotten = hold(HoldState::Paused, "BlueGreenPause", 11);
            let f = judge(live_web(3, 3, true, forgotten));
            assert_eq!(kinds(&f), vec![(FindingType::MixedRollout, Severity::Warning)]);
            assert!(f[0].message.contains("BlueGreenPause"), "{}", f[0].message);
        }

        /// Past its progress deadline without an abort (phase Degraded), the grace counts from
        /// the deadline.
        #[test]
        fn a_stalled_rollout_past_the_grace_is_a_mixed_rollout() {
            let stalled = hold(HoldState::Stalled, "ProgressDeadlineExceeded", 20);
            let f = judge(live_web(4, 1, true, stalled));
            assert_eq!(kinds(&f), vec![(FindingType::MixedRollout, Severity::Warning)]);
        }

        /// A Rollout whose live spec names another image than git (`kubectl argo rollouts set
        /// image`) is spec-drift, canary or not.
        #[test]
        fn a_rollout_set_by_hand_is_spec_drift() {
            let mut l = live_web(4, 1, true, None);
            l.containers[0].image = pinned(D2);
            assert_eq!(kinds(&judge(l)), vec![(FindingType::SpecDrift, Severity::Critical)]);
        }

        /// A cluster that refused to list Rollouts: one unverifiable finding naming the
        /// permission, and the declared Rollout is not called missing.
        #[test]
        fn rollouts_the_cluster_refused_to_list_are_unverifiable_not_missing() {
            let live = LiveState {
                rollouts_refused: Some("cluster prod: list rollouts: forbidden (HTTP 403): no".into()),
                ..Default::default()
            };
            let both = DeclaredState {
                workloads: vec![declared_web(), declared("api", &pinned(D1))],
                ..Default::default()
            };
            let f = compare(&scope(&[], &[]), &both, Some(&live));
            assert_eq!(
                f.iter().map(|f| (f.kind, f.name.as_deref())).collect::<Vec<_>>(),
                vec![(FindingType::Missing, Some("api")), (FindingType::Unverifiable, None)]
            );
            assert!(f[1].message.contains("shop/web"), "{}", f[1].message);
            assert!(f[1].message.contains("rollouts.argoproj.io"), "{}", f[1].message);
            // Nothing declares a Rollout: nothing to say.
            let api_only = DeclaredState {
                workloads: vec![declared("api", &pinned(D1))],
                ..Default::default()
            };
            assert_eq!(compare(&scope(&[], &[]), &api_only, Some(&live)).len(), 1);
        }
    }
}
