//! Shared fixtures: digests, times, policies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signatures::testing::{Ca, RekorLog, trusted_root};
use signatures::{Identity, Policy, PublicKey, TrustedRoot};

pub const REFERENCE: &str = "registry.example.com/release/shop";
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const SUBJECT: &str = "https://github.com/example/shop/.github/workflows/release.yml@refs/tags/v1.2.0";
pub const SUBJECT_REGEX: &str = r"^https://github\.com/example/.+/\.github/workflows/release\.yml@refs/tags/v.*$";

/// The running (platform) digest.
pub fn platform() -> String {
    format!("sha256:{}", "1".repeat(64))
}

/// The digest of the index that lists it.
pub fn index() -> String {
    format!("sha256:{}", "2".repeat(64))
}

/// Some other image.
pub fn other() -> String {
    format!("sha256:{}", "3".repeat(64))
}

pub fn subjects() -> Vec<String> {
    vec![platform()]
}

/// When the certificates are issued (2023-11-14).
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A minute after issuance: the certificate (10 minutes) is still valid.
pub fn signed_at() -> SystemTime {
    t0() + Duration::from_secs(60)
}

/// A month later: every certificate has expired.
pub fn audit_time() -> SystemTime {
    t0() + Duration::from_secs(30 * 86_400)
}

pub fn key_policy(keys: Vec<PublicKey>) -> Policy {
    Policy {
        keys,
        ..Policy::default()
    }
}

pub fn identity(issuer: &str, subject_regex: &str) -> Identity {
    Identity {
        issuer: issuer.to_string(),
        subject_regex: regex::Regex::new(subject_regex).expect("regex"),
    }
}

pub fn root(ca: &Ca, log: &RekorLog) -> TrustedRoot {
    TrustedRoot::from_json(&trusted_root(ca, log)).expect("trusted root")
}

pub fn keyless_policy(ca: &Ca, log: &RekorLog) -> Policy {
    Policy {
        identities: vec![identity(ISSUER, SUBJECT_REGEX)],
        trusted_root: Some(root(ca, log)),
        ..Policy::default()
    }
}
