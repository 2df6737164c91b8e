//! Rollout judgement: while a rollout is in progress and younger than the grace, old Pods on the
//! old digest are expected, so the Pods are not judged; after it, the findings say it is stuck.

use super::{Container, Flow};
use crate::core::model::{Finding, LiveWorkload};

/// Stops the judgement of the Pods while the workload's rollout is within its grace.
pub(super) fn within_grace(c: &mut Container<'_>, lw: &LiveWorkload, _: &mut Vec<Finding>) -> Flow {
    let rollout = &lw.rollout;
    let scope = c.scope;
    let young = rollout
        .started_at
        .is_none_or(|t| scope.now.signed_duration_since(t).to_std().unwrap_or_default() < scope.rollout_grace);
    if rollout.in_progress && young {
        Flow::Stop
    } else {
        Flow::Next
    }
}

/// The note a finding about the Pods carries when their rollout outlived the grace.
pub(super) fn stuck_note(in_progress: bool) -> &'static str {
    if in_progress {
        " (rollout in progress longer than the grace period)"
    } else {
        ""
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
        };
        assert_eq!(run(vec![declared("api", &pinned(D1))], vec![l.clone()]), vec![]);
        l.rollout.started_at = Some(now() - chrono::Duration::minutes(30));
        let got = run(vec![declared("api", &pinned(D1))], vec![l]);
        assert_eq!(
            got,
            vec![(FindingType::MixedRollout, Severity::Warning, "api".to_string())]
        );
    }
}
