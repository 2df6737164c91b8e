//! The one entry point: which checks a piece of evidence needs, in which order, and what it
//! proved.

use std::time::SystemTime;

use crate::error::Rejected;
use crate::evidence::{Evidence, Verified};
use crate::policy::Policy;

/// Verifies one piece of evidence against a policy.
///
/// `subjects`: the digests the evidence may legitimately name: the running (platform) digest,
/// plus the digest of any index that lists it. `now`: the audit's clock (a certificate without
/// a proven signing time must be valid then).
pub fn verify(
    evidence: &Evidence,
    subjects: &[String],
    policy: &Policy,
    now: SystemTime,
) -> Result<Verified, Rejected> {
    let _ = (evidence, subjects, policy, now);
    Err(Rejected::malformed("not implemented"))
}
