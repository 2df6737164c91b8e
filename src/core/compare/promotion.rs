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
