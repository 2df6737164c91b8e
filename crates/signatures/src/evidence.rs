//! One piece of evidence as a registry holds it, and what verifying it proved.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// One piece of evidence as found in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// cosign tag scheme `sha256-<hex>.sig`: one layer = the simple-signing payload blob and the
    /// layer's annotations (`dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`,
    /// `dev.sigstore.cosign/chain`, `dev.sigstore.cosign/bundle`, `dev.sigstore.cosign/timestamp`).
    SimpleSigning {
        payload: Vec<u8>,
        annotations: BTreeMap<String, String>,
    },
    /// cosign tag scheme `sha256-<hex>.att`: one layer = a DSSE envelope blob and its annotations.
    Attestation {
        envelope: Vec<u8>,
        annotations: BTreeMap<String, String>,
    },
    /// A Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`, also v0.1 and v0.2),
    /// from the referrers API or its tag fallback.
    Bundle { json: Vec<u8> },
}

/// What a verified piece of evidence proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The digest the evidence names (`sha256:…`), one of the subjects passed in.
    pub signed_digest: String,
    pub signer: Signer,
    /// The transparency log entry that was verified, if any.
    pub tlog: Option<TlogEntry>,
    /// A verified RFC 3161 timestamp, if any.
    pub timestamp: Option<Timestamp>,
    /// What a SLSA provenance attestation says (attestations of another predicate: `None`).
    pub provenance: Option<Provenance>,
    pub kind: Kind,
}

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// One of the policy's keys (`sha256:<hex>` of its DER SubjectPublicKeyInfo).
    Key { fingerprint: String },
    /// A Fulcio certificate: its OIDC issuer and subject (SAN URI or email), serial (hex) and
    /// validity.
    Certificate {
        issuer: String,
        subject: String,
        serial: String,
        not_before: SystemTime,
        not_after: SystemTime,
    },
}

/// A verified Rekor entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: u64,
    /// The log's id (hex SHA-256 of its key).
    pub log_id: String,
    /// When the log says it integrated the entry; a signing-time proof only when the signed
    /// entry timestamp covers it (`proof` is `Set` or `Both`).
    pub integrated_time: SystemTime,
    pub proof: TlogProof,
}

/// What proved a transparency log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlogProof {
    /// The signed entry timestamp (inclusion promise): covers the integrated time.
    Set,
    /// An inclusion proof up to a checkpoint signed by the log: covers the entry, not the time.
    InclusionProof,
    /// Both.
    Both,
}

impl TlogProof {
    /// Whether the entry's integrated time is signed by the log.
    pub fn proves_time(self) -> bool {
        matches!(self, TlogProof::Set | TlogProof::Both)
    }
}

/// A verified RFC 3161 timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub time: SystemTime,
    /// The timestamping authority (its certificate's subject).
    pub authority: String,
}

/// What a SLSA provenance predicate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub predicate_type: String,
    pub builder_id: Option<String>,
    pub source_repo: Option<String>,
}

/// A signature (simple signing, a bundle's message signature, cosign's `sign/v1` statement) or an
/// attestation (an in-toto statement of another predicate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Signature,
    Attestation,
}
