//! Signature and provenance verdicts on running digests: what `[[policies.signatures]]` found
//! for each (repository, digest), and how one digest's evidence, verified piece by piece by the
//! `signatures` crate, becomes one verdict. Pure: the registry reads and the verdict cache are
//! in `sources::signatures`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use signatures::{Class, Kind, Provenance, Rejected, Signer, TlogEntry, Verified};

use crate::core::model::Severity;

/// What one policy concludes about one running digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Verified: what verified (signature, signer, log entry, provenance), one line each.
    Signed { evidence: Vec<String> },
    /// Nothing from the policy's keys or identities; `found` says what the registry holds.
    Unsigned { found: String },
    /// A signature of the policy's keys or identities that does not verify, and why.
    Invalid { why: String },
    /// Signed, but built elsewhere than the policy says: the builder and source found.
    ProvenanceMismatch { found: String },
    /// The registry could not be read: nothing is known.
    Unverifiable { reason: String },
}

impl Verdict {
    pub fn is_signed(&self) -> bool {
        matches!(self, Self::Signed { .. })
    }
}

/// One policy's verdict, with what the finding needs of the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVerdict {
    pub policy: String,
    pub severity: Severity,
    pub verdict: Verdict,
}

/// The verdicts of one environment's running digests, by (`registry/repository`, digest).
#[derive(Clone, Debug, Default)]
pub struct SignatureFacts {
    pub verdicts: BTreeMap<(String, String), Vec<PolicyVerdict>>,
}

impl SignatureFacts {
    pub fn of(&self, name: &str, digest: &str) -> &[PolicyVerdict] {
        self.verdicts
            .get(&(name.to_string(), digest.to_string()))
            .map_or(&[], Vec::as_slice)
    }
}

/// One piece of evidence's outcome: where it was found, and what verification said.
pub type Outcome = (String, Result<Verified, Rejected>);

/// The verdict of one policy over everything found for a digest. A verified signature (and,
/// when the policy asks for provenance, a verified attestation whose provenance matches) is
/// `Signed`; otherwise a signature of ours that failed is `Invalid`, a provenance of ours
/// naming another builder is `ProvenanceMismatch`; nothing of ours is `Unsigned` — unless
/// part of the registry could not be read (`unavailable`), which makes it `Unverifiable`.
pub fn judge(outcomes: &[Outcome], wants_provenance: bool, unavailable: Option<&str>) -> Verdict {
    let verified: Vec<(&String, &Verified)> = outcomes
        .iter()
        .filter_map(|(origin, r)| r.as_ref().ok().map(|v| (origin, v)))
        .collect();
    let signature = verified.iter().find(|(_, v)| v.kind == Kind::Signature);
    let provenance = verified.iter().find(|(_, v)| v.provenance.is_some());
    let rejected = || outcomes.iter().filter_map(|(o, r)| r.as_ref().err().map(|e| (o, e)));
    let mismatch = rejected().find(|(_, e)| e.class() == Class::ProvenanceMismatch);
    let broken = rejected().find(|(_, e)| e.class() == Class::Invalid);
    let signed = signature.or(verified.first());
    match (signed, provenance, wants_provenance) {
        (Some(s), Some(p), true) => Verdict::Signed {
            evidence: dedup(vec![describe(s.0, s.1), describe(p.0, p.1)]),
        },
        (Some(_), _, false) => Verdict::Signed {
            evidence: dedup(verified.iter().map(|(o, v)| describe(o, v)).collect()),
        },
        _ => match (mismatch, broken, unavailable) {
            (Some((origin, e)), _, _) => Verdict::ProvenanceMismatch {
                found: format!("{e} ({origin})"),
            },
            (None, Some((origin, e)), _) => Verdict::Invalid {
                why: format!("{e} ({origin})"),
            },
            (None, None, Some(reason)) => Verdict::Unverifiable {
                reason: reason.to_string(),
            },
            (None, None, None) if signed.is_some() => Verdict::ProvenanceMismatch {
                found: "no SLSA provenance attestation from the policy's keys or identities".into(),
            },
            (None, None, None) => Verdict::Unsigned { found: found(outcomes) },
        },
    }
}

fn dedup(mut lines: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    lines.retain(|l| seen.insert(l.clone()));
    lines
}

/// One verified piece of evidence in a line: what, signed by whom, logged where.
pub fn describe(origin: &str, v: &Verified) -> String {
    let kind = match v.kind {
        Kind::Signature => "signature",
        Kind::Attestation => "attestation",
    };
    let mut line = format!("{origin}: {kind} of {} by {}", v.signed_digest, signer(&v.signer));
    if let Some(t) = &v.tlog {
        line.push_str(&format!(", {}", tlog(t)));
    }
    if let Some(t) = &v.timestamp {
        line.push_str(&format!(", timestamped {} by {}", rfc3339(t.time), t.authority));
    }
    if let Some(p) = &v.provenance {
        line.push_str(&format!(", {}", provenance(p)));
    }
    line
}

fn signer(s: &Signer) -> String {
    match s {
        Signer::Key { fingerprint } => format!("key {fingerprint}"),
        Signer::Certificate {
            issuer,
            subject,
            serial,
            not_before,
            not_after,
        } => format!(
            "certificate {subject} (issuer {issuer}, serial {serial}, valid {} to {})",
            rfc3339(*not_before),
            rfc3339(*not_after)
        ),
    }
}

fn tlog(t: &TlogEntry) -> String {
    format!(
        "Rekor entry {} of log {} integrated {}",
        t.log_index,
        &t.log_id[..t.log_id.len().min(16)],
        rfc3339(t.integrated_time)
    )
}

fn provenance(p: &Provenance) -> String {
    format!(
        "built by {} from {} ({})",
        p.builder_id.as_deref().unwrap_or("-"),
        p.source_repo.as_deref().unwrap_or("-"),
        p.predicate_type
    )
}

fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// What the registry holds when nothing verified: "no signature, attestation or bundle", or
/// the pieces found and why each is not the policy's.
fn found(outcomes: &[Outcome]) -> String {
    if outcomes.is_empty() {
        return "no signature, attestation or Sigstore bundle found (cosign tag scheme, referrers)".into();
    }
    let parts: Vec<String> = outcomes
        .iter()
        .filter_map(|(origin, r)| r.as_ref().err().map(|e| format!("{origin}: {e}")))
        .collect();
    format!(
        "{} piece(s) of evidence found, none from the policy's keys or identities: {}",
        outcomes.len(),
        parts.join("; ")
    )
}

/// A running digest to check: the reference it runs under and the image indexes that list it
/// (a signature of one of those covers it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub image: crate::core::image::ImageRef,
    pub indexes: std::collections::BTreeSet<String>,
}

impl Target {
    /// The digests a signature may name for `digest`: itself, then the indexes listing it.
    pub fn subjects(&self, digest: &str) -> Vec<String> {
        std::iter::once(digest.to_string())
            .chain(self.indexes.iter().cloned())
            .collect()
    }
}

/// The digests the Pods of `declared`'s containers run, by (`registry/repository`, digest),
/// with the declared digest and the tag's current digest where the registry says they are
/// indexes listing the running one.
pub fn targets(
    declared: &crate::core::model::DeclaredState,
    live: &crate::core::model::LiveState,
    registry: Option<&crate::core::model::RegistryFacts>,
    ignore_containers: &[String],
) -> BTreeMap<(String, String), Target> {
    use crate::core::image::{ImageRef, RunningImage};
    let mut out: BTreeMap<(String, String), Target> = BTreeMap::new();
    for w in &declared.workloads {
        let Some(lw) = live.workloads.get(&w.key()) else {
            continue;
        };
        for c in w.containers.iter().filter(|c| !ignore_containers.contains(&c.name)) {
            let Ok(image) = ImageRef::parse(&c.image) else {
                continue;
            };
            let name = image.name();
            let wanted: Vec<String> = image
                .digest()
                .map(str::to_string)
                .into_iter()
                .chain(image.effective_tag().and_then(|t| match registry?.tag(&name, t)? {
                    crate::core::model::Lookup::Found(d) => Some(d.clone()),
                    _ => None,
                }))
                .collect();
            let running = lw.pods.iter().flat_map(|p| &p.statuses).filter(|s| s.name == c.name);
            for s in running {
                let RunningImage::Digest { digest, .. } = &s.image else {
                    continue;
                };
                let t = out.entry((name.clone(), digest.clone())).or_insert_with(|| Target {
                    image: image.clone(),
                    indexes: Default::default(),
                });
                for index in wanted.iter().filter(|w| *w != digest) {
                    if lists(registry, &name, index, digest) {
                        t.indexes.insert(index.clone());
                    }
                }
            }
        }
    }
    out
}

/// Whether the registry says `index` is an image index listing `digest`.
fn lists(registry: Option<&crate::core::model::RegistryFacts>, name: &str, index: &str, digest: &str) -> bool {
    use crate::core::model::{Lookup, Manifest};
    match registry.and_then(|r| r.manifest(name, index)) {
        Some(Lookup::Found(Manifest::Index(platforms))) => platforms.iter().any(|(d, _)| d == digest),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(kind: Kind, provenance: Option<&str>) -> Verified {
        Verified {
            signed_digest: "sha256:aa".into(),
            signer: Signer::Key {
                fingerprint: "sha256:feed".into(),
            },
            tlog: None,
            timestamp: None,
            provenance: provenance.map(|b| Provenance {
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                builder_id: Some(b.into()),
                source_repo: Some("github.com/example/shop".into()),
            }),
            kind,
        }
    }

    fn at(origin: &str, r: Result<Verified, Rejected>) -> Outcome {
        (origin.to_string(), r)
    }

    fn kind_of(v: &Verdict) -> &'static str {
        match v {
            Verdict::Signed { .. } => "signed",
            Verdict::Unsigned { .. } => "unsigned",
            Verdict::Invalid { .. } => "invalid",
            Verdict::ProvenanceMismatch { .. } => "provenance-mismatch",
            Verdict::Unverifiable { .. } => "unverifiable",
        }
    }

    /// (case, outcomes, provenance wanted, registry unavailable, verdict).
    type Case = (&'static str, Vec<Outcome>, bool, Option<&'static str>, &'static str);

    fn check(cases: Vec<Case>) {
        for (name, outcomes, wants_provenance, unavailable, want) in cases {
            assert_eq!(
                kind_of(&judge(&outcomes, wants_provenance, unavailable)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn signature_verdicts() {
        check(vec![
            ("nothing found", vec![], false, None, "unsigned"),
            (
                "nothing found, registry down",
                vec![],
                false,
                Some("down"),
                "unverifiable",
            ),
            (
                "another key",
                vec![at("a.sig", Err(Rejected::NoMatchingKey))],
                false,
                None,
                "unsigned",
            ),
            (
                "another key beside a good one",
                vec![
                    at("a.sig", Err(Rejected::NoMatchingKey)),
                    at("b.sig", Ok(signature(Kind::Signature, None))),
                ],
                false,
                None,
                "signed",
            ),
            (
                "ours but broken",
                vec![at(
                    "a.sig",
                    Err(Rejected::DigestMismatch {
                        signed: "sha256:bb".into(),
                    }),
                )],
                false,
                None,
                "invalid",
            ),
            (
                "broken beats a down registry",
                vec![at("a.sig", Err(Rejected::BadSignature("x".into())))],
                false,
                Some("down"),
                "invalid",
            ),
        ]);
    }

    #[test]
    fn provenance_verdicts() {
        let mismatch = || Rejected::ProvenanceMismatch {
            builder_id: "https://ci.example.net".into(),
            source_repo: "-".into(),
            expected: "builder x".into(),
        };
        check(vec![
            (
                "signed, provenance wanted, none found",
                vec![at("a.sig", Ok(signature(Kind::Signature, None)))],
                true,
                None,
                "provenance-mismatch",
            ),
            (
                "signed, provenance from elsewhere",
                vec![
                    at("a.sig", Ok(signature(Kind::Signature, None))),
                    at("a.att", Err(mismatch())),
                ],
                true,
                None,
                "provenance-mismatch",
            ),
            (
                "signed with matching provenance",
                vec![
                    at("a.sig", Ok(signature(Kind::Signature, None))),
                    at("a.att", Ok(signature(Kind::Attestation, Some("builder")))),
                ],
                true,
                None,
                "signed",
            ),
        ]);
    }

    #[test]
    fn unsigned_says_what_was_found() {
        let v = judge(
            &[at("shop/api:sha256-aa.sig layer 0", Err(Rejected::NoMatchingKey))],
            false,
            None,
        );
        let Verdict::Unsigned { found } = v else {
            panic!("{v:?}")
        };
        assert!(
            found.contains("sha256-aa.sig layer 0: not signed by any of the policy's keys"),
            "{found}"
        );
    }

    #[test]
    fn evidence_names_signer_and_log_entry() {
        let mut v = signature(Kind::Signature, None);
        v.tlog = Some(TlogEntry {
            log_index: 42,
            log_id: "c0ffee".repeat(8),
            integrated_time: std::time::UNIX_EPOCH,
            proof: signatures::TlogProof::Set,
        });
        let line = describe("shop/api:sha256-aa.sig layer 0", &v);
        assert_eq!(
            line,
            "shop/api:sha256-aa.sig layer 0: signature of sha256:aa by key sha256:feed, Rekor entry 42 of log c0ffeec0ffeec0ff integrated 1970-01-01T00:00:00Z"
        );
    }
}
