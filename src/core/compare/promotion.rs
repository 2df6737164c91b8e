//! `promotion-skipped`: a declared digest that reached this environment without passing
//! through the one it is promoted from.

use super::{Container, Flow, short};
use crate::core::model::{Finding, FindingType, Severity};

pub(super) fn promotion_skipped(c: &mut Container<'_>, out: &mut Vec<Finding>) -> Flow {
    if let (Some((from, skipped)), Some(d)) = (c.scope.promotion, c.image.digest())
        && let Some(commit) = skipped.get(d)
    {
        let message = format!(
            "{} reached {} in commit {} without being declared in {from} first: the promotion gate was skipped",
            short(d),
            c.scope.environment,
            &commit[..commit.len().min(12)]
        );
        out.push(c.finding(FindingType::PromotionSkipped, Severity::Critical, Vec::new(), message));
    }
    Flow::Next
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::compare;
    use super::super::fixtures::{D1, D2, declared, pinned, scope};
    use crate::core::model::{DeclaredState, FindingType, Severity};

    #[test]
    fn a_digest_that_skipped_the_gate_is_critical_and_names_the_commit() {
        let skipped = BTreeMap::from([(D1.to_string(), "abcdef1234567890".to_string())]);
        let mut s = scope(&[], &[]);
        s.promotion = Some(("staging", &skipped));
        let d = DeclaredState {
            workloads: vec![declared("api", &pinned(D1)), declared("web", &pinned(D2))],
            ..Default::default()
        };
        let f = compare(&s, &d, None);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].kind, f[0].severity),
            (FindingType::PromotionSkipped, Severity::Critical)
        );
        assert_eq!(f[0].name.as_deref(), Some("api"));
        assert_eq!(
            f[0].message,
            "sha256:111111111111 reached production in commit abcdef123456 without being declared in staging first: the promotion gate was skipped"
        );
    }
}
