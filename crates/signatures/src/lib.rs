//! Offline verification of container image signatures and provenance, the way cosign and the
//! Sigstore clients write them: bytes found in a registry and a policy in, a verdict out. Pure:
//! no IO, no async runtime, no network (the trusted root is given), no driftwatch type.
//!
//! # Layout
//! - [`verify`] (verify.rs): the entry point; picks the checks a piece of evidence needs.
//! - evidence.rs: [`Evidence`] as found in a registry, [`Verified`] as proven.
//! - policy.rs: [`Policy`]: keys, keyless identities, trusted root, provenance policy; its
//!   fingerprint for verdict caches.
//! - error.rs: [`Rejected`], each reason in a user's words, and the finding it makes ([`Class`]).
//! - trusted_root.rs: Sigstore's `trusted_root.json` (Fulcio CAs, Rekor and CT logs, TSAs).
//! - keys.rs: PEM/DER public keys (ECDSA P-256/P-384, Ed25519, RSA) and signature checks.
//! - cosign.rs: the tag scheme's simple-signing payload and layer annotations.
//! - bundle.rs: Sigstore bundles v0.1–v0.3.
//! - dsse.rs: DSSE envelopes, the PAE, in-toto statements.
//! - fulcio.rs: the certificate chain to a Fulcio CA, the OIDC issuer and subject.
//! - rekor.rs: signed entry timestamps, RFC 6962 inclusion proofs, signed checkpoints, and the
//!   entry's body bound to the signature.
//! - sct.rs: the certificate's embedded SCT against the CT logs.
//! - timestamp.rs: RFC 3161 timestamps (CMS SignedData, TSTInfo) against the root's TSAs.
//! - provenance.rs: SLSA v1 and v0.2 provenance, compared with the policy.
//! - time.rs: RFC 3339 and Unix times.
//! - testing/ (feature `test-support`): keys, a Fulcio-style CA, a Rekor-style log, a trusted
//!   root, and evidence built from them as cosign writes it (see `testing`'s docs, when the
//!   feature is on).
//!
//! # What a verdict means
//! - Key-based: one of the policy's keys verifies the signature over the exact payload bytes
//!   (ECDSA with SHA-256, P-384 also SHA-384; Ed25519; RSA PKCS#1 v1.5 or PSS), and the payload
//!   names one of the subjects. A Rekor entry, when present and its log is in the policy's
//!   trusted root, is verified and reported; it is not required.
//! - Keyless: the certificate's OIDC issuer (exact) and SAN subject (regex) match an identity;
//!   the certificate's key verifies the signature; the Rekor entry (if any) is bound to this
//!   signature and verified by its signed entry timestamp and/or inclusion proof up to a
//!   checkpoint signed by a Rekor key of the trusted root; the certificate was valid at the
//!   signing time and chains, at that time, to a Fulcio CA of the root trusted then; an
//!   embedded SCT verifies with a CT log of the root (when the root lists CT logs).
//! - The signing time is the entry's integrated time only when the signed entry timestamp
//!   covers it: an inclusion proof proves that the entry is in the log, not when it got there.
//!   A keyless signature without a signed time (no signed entry timestamp, no RFC 3161 token;
//!   an inclusion proof alone proves the entry is logged, not when)
//!   is rejected, as cosign rejects it: an expired certificate as expired at the audit's clock,
//!   a still-valid one because nothing proves it signed while valid.
//! - An RFC 3161 timestamp (`dev.sigstore.cosign/timestamp`, a bundle's
//!   `timestampVerificationData`; the first one) must be over the signature and signed by a
//!   timestamping authority of the root (its leaf certificate valid at `genTime`); its time is
//!   then a signing time too (keyless only), and the certificate must be valid at every proven
//!   time.
//! - Chains are built from the trusted root's CA chains only: cosign's `dev.sigstore.cosign/chain`
//!   annotation and a bundle's extra chain certificates are not trusted (as the Sigstore
//!   clients do).
//! - The first transparency log entry and the first timestamp are checked; Rekor v2 entries (no
//!   integrated time, `…V002` bodies) are not supported yet and are rejected as such.
//! - A bundle's message signature is taken to sign the artifact whose digest it names (for an
//!   image: its manifest). Ed25519 keys cannot sign a digest alone, so such bundles need
//!   ECDSA or RSA.
//!
//! # Using it
//! For one running digest: collect every piece of evidence the registry holds for it and for
//! each index that lists it (`.sig` layers, `.att` layers, referrers' bundles), call [`verify`]
//! on each with `subjects` = the running digest and those index digests, then: any `Ok` that is
//! a signature → signed (and an attestation's [`Provenance`] is reported); else a rejection of
//! [`Class::ProvenanceMismatch`] → `provenance-mismatch`; else one of [`Class::Invalid`] →
//! `signature-invalid` (its message says why); else (no evidence, or only [`Class::NotOurs`])
//! → `unsigned`. Cache the verdict under the digest and [`Policy::fingerprint`].
//!
//! # Crates chosen, and why
//! The primitives are RustCrypto's (`p256`, `p384`, `ecdsa`, `ed25519-dalek`, `rsa`, `sha2`,
//! `x509-cert`, `der`, `spki`; `cms` and `x509-tsp` for RFC 3161 tokens): pure Rust, no C, no
//! OpenSSL, no async runtime. `p256`, `ecdsa`, `rsa`, `der`, `spki` and `sha2` were already in
//! driftwatch's lock file through other dependencies. No cryptographic primitive is written
//! here. The Sigstore formats on top (simple-signing payload, cosign annotations, bundle JSON,
//! DSSE PAE, Rekor SET canonical JSON, RFC 6962 inclusion proofs and signed checkpoint notes,
//! SCTs) are formats, written here.
//!
//! `sigstore` (sigstore-rs) was not used: its `verify` feature pulls `fulcio`, which pulls
//! `reqwest` and `openidconnect` (and `oauth`), its cosign verification goes through the async
//! `oci-client`, and its default `native-tls` brings OpenSSL; the tag-scheme annotations it does
//! read are tied to its own registry client. `sigstore-verify` (sigstore-rust) is offline but
//! builds on `aws-lc-rs` (a C library built with CMake) and does not read cosign's tag-scheme
//! layers.

mod bundle;
mod cosign;
mod dsse;
mod error;
mod evidence;
mod fulcio;
mod keys;
mod policy;
mod provenance;
mod rekor;
mod sct;
#[cfg(feature = "test-support")]
pub mod testing;
mod time;
mod timestamp;
mod trusted_root;
mod verify;

pub use dsse::pae;
pub use error::{Class, Rejected};
pub use evidence::{Evidence, Kind, Provenance, Signer, Timestamp, TlogEntry, TlogProof, Verified};
pub use keys::{HashAlg, KeyError, PublicKey, SignatureError};
pub use policy::{Identity, Policy, ProvenancePolicy, RULES_VERSION};
pub use provenance::normalize_repo;
pub use trusted_root::{RootError, TrustedRoot};
pub use verify::{COSIGN_SIGN_V1, verify};

/// The annotation keys of cosign's tag-scheme layers.
pub mod annotations {
    pub use crate::cosign::{BUNDLE, CERTIFICATE, CHAIN, SIGNATURE, TIMESTAMP};
}

/// The media types of the evidence, as cosign and the Sigstore clients push it.
pub mod media_types {
    /// A `.sig` layer: the simple-signing payload.
    pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    /// A `.att` layer: a DSSE envelope.
    pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
    /// A DSSE envelope's payload type for in-toto statements.
    pub const IN_TOTO: &str = crate::dsse::IN_TOTO;
    /// A Sigstore bundle as the referrers API holds it (the artifact type, and the layer's).
    pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    /// Older bundles (media type field of the JSON).
    pub const BUNDLE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
    pub const BUNDLE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
}
