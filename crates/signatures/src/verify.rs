//! The one entry point: which checks a piece of evidence needs, in which order, and what it
//! proved.
//!
//! Order, so that the reason given is the useful one: first who signed (a key of the policy;
//! or a certificate whose identity is one of the policy's, then its signature, transparency log
//! entry, validity at the signing time, chain and SCT), then what was signed (the digest among
//! the subjects), then the provenance.

use std::collections::BTreeMap;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::bundle::{Bundle, Content, digest_string};
use crate::cosign;
use crate::dsse::{Envelope, Statement};
use crate::error::Rejected;
use crate::evidence::{Evidence, Kind, Signer, Timestamp, TlogEntry, Verified};
use crate::fulcio::{self, Leaf};
use crate::keys::PublicKey;
use crate::policy::Policy;
use crate::provenance;
use crate::rekor::{self, Binding, Entry};
use crate::sct;
use crate::timestamp as tsa;

/// The predicate type of cosign's image signatures in the bundle format (a statement whose
/// subject is the image).
pub const COSIGN_SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";

/// Verifies one piece of evidence against a policy.
///
/// `subjects`: the digests the evidence may legitimately name: the running (platform) digest,
/// plus the digest of any index that lists it. `now`: the audit's clock (a certificate without
/// a signing time proven by a signed entry timestamp is judged at it, and rejected).
pub fn verify(
    evidence: &Evidence,
    subjects: &[String],
    policy: &Policy,
    now: SystemTime,
) -> Result<Verified, Rejected> {
    match evidence {
        Evidence::SimpleSigning { payload, annotations } => simple_signing(payload, annotations, subjects, policy, now),
        Evidence::Attestation { envelope, annotations } => {
            let env = Envelope::from_json(envelope)?;
            let ann = cosign::annotations(annotations)?;
            let tlog: Vec<&Entry> = ann.tlog.iter().collect();
            let timestamps: Vec<Vec<u8>> = ann.timestamp.into_iter().collect();
            let proofs = Proofs {
                tlog: &tlog,
                timestamps: &timestamps,
            };
            dsse(&env, ann.certificate.as_ref(), &proofs, subjects, policy, now)
        }
        Evidence::Bundle { json } => bundle(json, subjects, policy, now),
    }
}

/// What may prove a signature's log entry and time.
struct Proofs<'a> {
    tlog: &'a [&'a Entry],
    timestamps: &'a [Vec<u8>],
}

/// A signature to authenticate: who may have made it, and the log entries that may prove it.
struct Signed<'a> {
    certificate: Option<&'a Leaf>,
    tlog: &'a [&'a Entry],
    /// RFC 3161 timestamps over `signature`.
    timestamps: &'a [Vec<u8>],
    signature: &'a [u8],
    binding: Binding<'a>,
    check: &'a dyn Fn(&PublicKey) -> bool,
}

fn simple_signing(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
    subjects: &[String],
    policy: &Policy,
    now: SystemTime,
) -> Result<Verified, Rejected> {
    let ann = cosign::annotations(annotations)?;
    let sig = ann
        .signature
        .as_deref()
        .ok_or_else(|| Rejected::malformed(format!("no {} annotation", cosign::SIGNATURE)))?;
    let digest = Sha256::digest(payload);
    let tlog: Vec<&Entry> = ann.tlog.iter().collect();
    let timestamps: Vec<Vec<u8>> = ann.timestamp.into_iter().collect();
    let check = |k: &PublicKey| k.verify(payload, sig).is_ok();
    let (signer, tlog, timestamp) = authenticate(
        &Signed {
            certificate: ann.certificate.as_ref(),
            tlog: &tlog,
            timestamps: &timestamps,
            signature: sig,
            binding: Binding::HashedRekord {
                digest: &digest,
                signature: sig,
            },
            check: &check,
        },
        policy,
        now,
    )?;
    let signed_digest = cosign::payload_digest(payload)?;
    check_subject(&signed_digest, subjects)?;
    Ok(Verified {
        signed_digest,
        signer,
        tlog,
        timestamp,
        provenance: None,
        kind: Kind::Signature,
    })
}

fn bundle(json: &[u8], subjects: &[String], policy: &Policy, now: SystemTime) -> Result<Verified, Rejected> {
    let b = Bundle::from_json(json)?;
    let tlog: Vec<&Entry> = b.tlog_entries.iter().collect();
    let proofs = Proofs {
        tlog: &tlog,
        timestamps: &b.timestamps,
    };
    match &b.content {
        Content::Dsse(env) => dsse(env, b.certificate.as_ref(), &proofs, subjects, policy, now),
        Content::Message { alg, digest, signature } => {
            let check = |k: &PublicKey| k.verify_prehash(*alg, digest, signature).is_ok();
            let (signer, tlog, timestamp) = authenticate(
                &Signed {
                    certificate: b.certificate.as_ref(),
                    tlog: &tlog,
                    timestamps: &b.timestamps,
                    signature,
                    binding: Binding::HashedRekord { digest, signature },
                    check: &check,
                },
                policy,
                now,
            )?;
            let signed_digest = digest_string(*alg, digest);
            check_subject(&signed_digest, subjects)?;
            Ok(Verified {
                signed_digest,
                signer,
                tlog,
                timestamp,
                provenance: None,
                kind: Kind::Signature,
            })
        }
    }
}

/// A DSSE envelope (an `.att` layer or a bundle's): any of its signatures over the PAE, then the
/// statement's subjects, then the provenance.
fn dsse(
    env: &Envelope,
    certificate: Option<&Leaf>,
    proofs: &Proofs<'_>,
    subjects: &[String],
    policy: &Policy,
    now: SystemTime,
) -> Result<Verified, Rejected> {
    let pae = env.pae();
    let check = |k: &PublicKey| env.signatures.iter().any(|s| k.verify(&pae, s).is_ok());
    let (signer, tlog, timestamp) = authenticate(
        &Signed {
            certificate,
            tlog: proofs.tlog,
            timestamps: proofs.timestamps,
            signature: &env.signatures[0],
            binding: Binding::Dsse {
                payload: &env.payload,
                signature: &env.signatures[0],
            },
            check: &check,
        },
        policy,
        now,
    )?;
    let statement = Statement::from_envelope(env)?;
    let signed_digest = statement
        .subject_digests
        .iter()
        .find(|d| subjects.iter().any(|s| s.eq_ignore_ascii_case(d)))
        .cloned()
        .ok_or_else(|| Rejected::DigestMismatch {
            signed: statement
                .subject_digests
                .first()
                .cloned()
                .unwrap_or_else(|| "no digest".into()),
        })?;
    let found = provenance::read(&statement.predicate_type, &statement.predicate);
    if let (Some(found), Some(wanted)) = (&found, &policy.provenance) {
        provenance::check(found, wanted)?;
    }
    let kind = if statement.predicate_type == COSIGN_SIGN_V1 {
        Kind::Signature
    } else {
        Kind::Attestation
    };
    Ok(Verified {
        signed_digest,
        signer,
        tlog,
        timestamp,
        provenance: found,
        kind,
    })
}

fn check_subject(signed: &str, subjects: &[String]) -> Result<(), Rejected> {
    if subjects.iter().any(|s| s.eq_ignore_ascii_case(signed)) {
        Ok(())
    } else {
        Err(Rejected::DigestMismatch {
            signed: signed.to_string(),
        })
    }
}

/// Who signed, the verified log entry, the verified timestamp.
type Authenticated = (Signer, Option<TlogEntry>, Option<Timestamp>);

fn authenticate(s: &Signed<'_>, policy: &Policy, now: SystemTime) -> Result<Authenticated, Rejected> {
    match s.certificate {
        Some(leaf) => keyless(leaf, s, policy, now),
        None => key_based(s, policy).map(|(signer, tlog)| (signer, tlog, None)),
    }
}

/// One of the policy's keys made the signature. A log entry is verified when the policy has a
/// trusted root that knows its log (cosign logs key-based signatures too, but need not).
fn key_based(s: &Signed<'_>, policy: &Policy) -> Result<(Signer, Option<TlogEntry>), Rejected> {
    if policy.keys.is_empty() {
        return Err(Rejected::NotApplicable("keys"));
    }
    let key = policy
        .keys
        .iter()
        .find(|k| (s.check)(k))
        .ok_or(Rejected::NoMatchingKey)?;
    let tlog = match (&policy.trusted_root, s.tlog.first()) {
        (Some(root), Some(entry)) if root.tlog(&entry.log_id).is_some() => {
            Some(rekor::verify(entry, root, &s.binding)?)
        }
        _ => None,
    };
    let signer = Signer::Key {
        fingerprint: key.fingerprint(),
    };
    Ok((signer, tlog))
}

/// A Fulcio certificate made the signature: identity, signature, log entry, validity at the
/// signing time, chain, SCT.
fn keyless(leaf: &Leaf, s: &Signed<'_>, policy: &Policy, now: SystemTime) -> Result<Authenticated, Rejected> {
    let root = policy
        .trusted_root
        .as_ref()
        .ok_or(Rejected::NotApplicable("trusted root"))?;
    if policy.identities.is_empty() {
        return Err(Rejected::NotApplicable("keyless identities"));
    }
    if !policy.identities.iter().any(|i| i.matches(&leaf.issuer, &leaf.subject)) {
        return Err(Rejected::IdentityMismatch {
            issuer: leaf.issuer.clone(),
            subject: leaf.subject.clone(),
        });
    }
    if !(s.check)(&leaf.key) {
        return Err(Rejected::BadSignature(format!(
            "not made with the key of the certificate of {}",
            leaf.subject
        )));
    }
    let tlog = match s.tlog.first() {
        Some(entry) => Some(rekor::verify(entry, root, &s.binding)?),
        None => None,
    };
    let timestamp = match s.timestamps.first() {
        Some(token) => Some(tsa::verify(token, s.signature, root)?),
        None => None,
    };
    let proven: Vec<SystemTime> = tlog
        .as_ref()
        .and_then(rekor::proven_time)
        .into_iter()
        .chain(timestamp.as_ref().map(|t| t.time))
        .collect();
    let times = if proven.is_empty() { vec![now] } else { proven.clone() };
    if let Some(&at) = times.iter().find(|t| !leaf.valid_at(**t)) {
        return Err(Rejected::CertificateExpired {
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            signed_at: at,
            proven: !proven.is_empty(),
        });
    }
    if proven.is_empty() {
        // A Fulcio certificate lives minutes: without a log entry or a timestamp nothing says
        // it was used while valid, and anyone holding its key could sign later. cosign refuses
        // this too (unless told to ignore the log).
        return Err(Rejected::Tlog(
            "a keyless signature needs a transparency log entry or a signed timestamp proving when it was made; none was found".into(),
        ));
    }
    let issuer = fulcio::verify_chain(leaf, root, times[0])?;
    sct::verify(&leaf.cert, issuer, root)?;
    let signer = Signer::Certificate {
        issuer: leaf.issuer.clone(),
        subject: leaf.subject.clone(),
        serial: leaf.serial.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
    };
    Ok((signer, tlog, timestamp))
}
