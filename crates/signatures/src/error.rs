//! Why a piece of evidence was not accepted, in a user's words, and which finding that makes.

use std::time::SystemTime;

use crate::time::rfc3339;

/// Why one piece of evidence (a signature, an attestation, a bundle) was not accepted.
///
/// [`Rejected::class`] sorts the reasons into the three findings driftwatch reports: the evidence
/// is not from the policy's keys or identities (`unsigned` if nothing else verifies), it is from
/// them but does not verify (`signature-invalid`), or it verifies but the provenance differs
/// (`provenance-mismatch`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Key-based evidence that none of the policy's keys verifies (a signature by another key
    /// looks exactly like this).
    #[error("not signed by any of the policy's keys")]
    NoMatchingKey,
    /// The evidence needs something the policy does not have (keyless evidence and no trusted
    /// root or identities; key-based evidence and no keys).
    #[error("the policy has no {0} to check this signature with")]
    NotApplicable(&'static str),
    /// The signature over the payload does not verify with the key it claims (certificate key).
    #[error("the signature does not verify: {0}")]
    BadSignature(String),
    /// The signed payload names a digest that is none of the subjects (the running digest and the
    /// indexes that list it).
    #[error("the signature is for {signed}, not for the running image")]
    DigestMismatch { signed: String },
    /// The certificate does not chain to a Fulcio CA of the trusted root.
    #[error("the certificate does not chain to a Fulcio CA of the trusted root: {0}")]
    Chain(String),
    /// The certificate was not valid at the signing time (proven by a transparency log entry or a
    /// timestamp when `proven`, else the audit's clock).
    #[error(
        "the certificate was valid from {} to {}, but the signing time {} ({}) is outside that",
        rfc3339(*.not_before), rfc3339(*.not_after), rfc3339(*.signed_at),
        if *.proven { "proven by the transparency log" } else { "no transparency log entry or timestamp proves an earlier time" }
    )]
    CertificateExpired {
        not_before: SystemTime,
        not_after: SystemTime,
        signed_at: SystemTime,
        proven: bool,
    },
    /// The certificate's OIDC issuer and subject match none of the policy's identities.
    #[error("signed by {subject} (issuer {issuer}), which matches none of the policy's identities")]
    IdentityMismatch { issuer: String, subject: String },
    /// The transparency log entry does not verify (signed entry timestamp, inclusion proof,
    /// checkpoint, or an entry for another signature).
    #[error("transparency log entry: {0}")]
    Tlog(String),
    /// An RFC 3161 timestamp does not verify (another signature's, not by a timestamping
    /// authority of the trusted root, malformed).
    #[error("timestamp: {0}")]
    Timestamp(String),
    /// The certificate's signed certificate timestamp does not verify against the trusted root's
    /// CT logs.
    #[error("certificate transparency: {0}")]
    Sct(String),
    /// A verified SLSA provenance attestation that names another builder or source repository
    /// than the policy (`-` where the attestation names none).
    #[error("built by {builder_id} from {source_repo}, not as the provenance policy requires ({expected})")]
    ProvenanceMismatch {
        builder_id: String,
        source_repo: String,
        expected: String,
    },
    /// The evidence cannot be read (not JSON, missing field, bad base64, bad certificate, …).
    #[error("malformed: {0}")]
    Malformed(String),
}

/// The finding a [`Rejected`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Not from the policy's keys or identities: by itself, the image is `unsigned`.
    NotOurs,
    /// From the policy's keys or identities (or claiming so) but broken: `signature-invalid`.
    Invalid,
    /// Verified, but built elsewhere: `provenance-mismatch`.
    ProvenanceMismatch,
}

impl Rejected {
    /// Which finding this rejection makes.
    pub fn class(&self) -> Class {
        match self {
            Rejected::NoMatchingKey | Rejected::NotApplicable(_) | Rejected::IdentityMismatch { .. } => Class::NotOurs,
            Rejected::ProvenanceMismatch { .. } => Class::ProvenanceMismatch,
            _ => Class::Invalid,
        }
    }

    pub(crate) fn malformed(what: impl std::fmt::Display) -> Self {
        Rejected::Malformed(what.to_string())
    }
}
