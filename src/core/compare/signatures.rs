//! `unsigned`, `signature-invalid`, `provenance-mismatch`, and `unverifiable` when a signature
//! check could not read the registry: what `[[policies.signatures]]` concluded about each
//! digest a declared container's Pods run. Judged apart from the precedence of the other
//! checks: whatever else is wrong with a container, the bytes it runs are signed or not.

use super::{Container, fingerprint, short};
use crate::core::model::{Finding, FindingType, RunningDigest, Severity};
use crate::core::signatures::{SignatureFacts, Verdict};

/// One finding per running digest and policy that did not conclude `Signed`.
pub(super) fn running(c: &Container<'_>, out: &mut Vec<Finding>) {
    let Some(facts) = c.scope.signatures else {
        return;
    };
    for r in &c.running {
        for v in facts.of(&c.name, &r.digest) {
            let what = format!("{}@{}", c.name, short(&r.digest));
            let policy = &v.policy;
            let (kind, severity, message) = match &v.verdict {
                Verdict::Signed { .. } => continue,
                Verdict::Unsigned { found } => (
                    FindingType::Unsigned,
                    v.severity,
                    format!("{what} runs without a signature of policy {policy}: {found}"),
                ),
                Verdict::Invalid { why } => (
                    FindingType::SignatureInvalid,
                    v.severity,
                    format!("{what}: a signature of policy {policy} does not verify: {why}"),
                ),
                Verdict::ProvenanceMismatch { found } => (
                    FindingType::ProvenanceMismatch,
                    v.severity,
                    format!("{what} was built elsewhere than policy {policy} says: {found}"),
                ),
                Verdict::Unverifiable { reason } => (
                    FindingType::Unverifiable,
                    Severity::Info,
                    format!("{what}: signature check (policy {policy}) not possible: {reason}"),
                ),
            };
            let mut f = c.finding(kind, severity, vec![r.clone()], message);
            // One finding per policy: two policies covering a digest are two findings.
            f.fingerprint = fingerprint(&f, policy);
            out.push(f);
        }
    }
}

/// The mark the status page shows for a container: `Some(true)` when every policy verified
/// every digest it runs, `Some(false)` when one found it unsigned, invalid or built
/// elsewhere; `None` when no policy applies or nothing could be checked.
pub fn signed(facts: Option<&SignatureFacts>, name: &str, running: &[RunningDigest]) -> Option<bool> {
    let facts = facts?;
    let verdicts: Vec<&Verdict> = running
        .iter()
        .flat_map(|r| facts.of(name, &r.digest))
        .map(|v| &v.verdict)
        .collect();
    if verdicts.is_empty() || verdicts.iter().any(|v| matches!(v, Verdict::Unverifiable { .. })) {
        return verdicts
            .iter()
            .any(|v| !v.is_signed() && !matches!(v, Verdict::Unverifiable { .. }))
            .then_some(false);
    }
    Some(verdicts.iter().all(|v| v.is_signed()))
}
