//! Test support (cargo feature `test-support`): keys, a Fulcio-style CA with the Sigstore
//! extensions and an embedded SCT, a Rekor-style log (signed entry timestamps, inclusion
//! proofs, signed checkpoints), a timestamping authority (RFC 3161), a trusted root naming them, and the evidence cosign and the
//! Sigstore bundle specs define, built from them. For test harnesses only: keys are made with
//! the OS RNG and nothing is kept secret.
//!
//! ```
//! use signatures::testing::{Ca, KeyPair, RekorLog, sign_simple_signing_keyless, trusted_root};
//! let ca = Ca::new();
//! let mut log = RekorLog::new();
//! let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
//! let cert = ca.issue("https://token.example", "https://github.com/example/shop/.github/workflows/release.yml@refs/tags/v1", t);
//! let digest = format!("sha256:{}", "a".repeat(64));
//! let evidence = sign_simple_signing_keyless(&cert, &ca, Some((&mut log, t)), "registry.example/shop", &digest);
//! let root = signatures::TrustedRoot::from_json(&trusted_root(&ca, &log)).unwrap();
//! # let _ = (evidence, root, KeyPair::p256());
//! ```

mod ca;
mod evidence;
mod keys;
mod rekor;
mod root;
mod tsa;

pub use ca::{Ca, Issued};
pub use evidence::{
    BundleSigner, BundleVersion, Tlog, attest, attest_keyless, in_toto_statement, make_bundle, make_dsse_bundle,
    sign_simple_signing, sign_simple_signing_keyless, simple_signing_payload, slsa_v1_predicate, slsa_v02_predicate,
};
pub use keys::KeyPair;
pub use rekor::{LogEntry, RekorLog, dsse_body, hashedrekord_body};
pub use root::{trusted_root, trusted_root_with_tsa};
pub use tsa::{Tsa, cosign_timestamp_annotation};

/// Unix seconds of a time (for Rekor's integrated time).
pub fn unix(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
