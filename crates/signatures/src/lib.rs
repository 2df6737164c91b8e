//! Offline verification of container image signatures and provenance, the way cosign and the
//! Sigstore clients write them: bytes found in a registry and a policy in, a verdict out. Pure:
//! no IO, no async runtime, no network (the trusted root is given), no driftwatch type.
//!
//! # Layout
//! - [`verify`] (verify.rs): the entry point; picks the checks a piece of evidence needs.
//! - evidence.rs: [`Evidence`] as found in a registry, [`Verified`] as proven.
//! - policy.rs: [`Policy`]: keys, keyless identities, trusted root, provenance policy.
//! - error.rs: [`Rejected`], each reason in a user's words, and its finding ([`Class`]).
//! - trusted_root.rs: Sigstore's `trusted_root.json` (Fulcio CAs, Rekor and CT logs, TSAs).
//! - keys.rs: PEM/DER public keys (ECDSA P-256/P-384, Ed25519, RSA) and signature checks.
//! - time.rs: RFC 3339 and Unix times.
//!
//! # Crates chosen, and why
//! The primitives are RustCrypto's (`p256`, `p384`, `ecdsa`, `ed25519-dalek`, `rsa`, `sha2`,
//! `x509-cert`, `der`, `spki`): pure Rust, no C, already in driftwatch's lock file through other
//! dependencies. No cryptographic primitive is written here. The Sigstore formats on top
//! (simple-signing payload, cosign annotations, bundle JSON, DSSE PAE, Rekor SET canonical JSON,
//! RFC 6962 inclusion proofs and signed checkpoint notes, SCTs) are formats, written here.
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
mod trusted_root;
mod verify;

pub use dsse::pae;
pub use error::{Class, Rejected};
pub use evidence::{Evidence, Kind, Provenance, Signer, Timestamp, TlogEntry, TlogProof, Verified};
pub use keys::{HashAlg, KeyError, PublicKey, SignatureError};
pub use policy::{Identity, Policy, ProvenancePolicy};
pub use provenance::normalize_repo;
pub use trusted_root::{RootError, TrustedRoot};
pub use verify::{COSIGN_SIGN_V1, verify};

/// The annotation keys of cosign's tag-scheme layers.
pub mod annotations {
    pub use crate::cosign::{BUNDLE, CERTIFICATE, CHAIN, SIGNATURE, TIMESTAMP};
}
