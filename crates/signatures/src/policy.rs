//! What a signature policy accepts: keys, keyless identities with their trusted root, and the
//! provenance the attestations must name.

use crate::keys::PublicKey;
use crate::trusted_root::TrustedRoot;

/// One signature policy's trust: evidence verifies if one of `keys` signed it, or if a
/// certificate of `trusted_root`'s Fulcio CAs whose identity matches one of `identities` did.
///
/// Build it with `Policy { keys, ..Policy::default() }`: fields may be added.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub keys: Vec<PublicKey>,
    pub identities: Vec<Identity>,
    pub trusted_root: Option<TrustedRoot>,
    pub provenance: Option<ProvenancePolicy>,
}

/// A keyless signer: the certificate's OIDC issuer (exact) and subject (a regex, searched as
/// written: anchor it with `^…$`).
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject_regex: regex::Regex,
}

impl Identity {
    pub(crate) fn matches(&self, issuer: &str, subject: &str) -> bool {
        self.issuer == issuer && self.subject_regex.is_match(subject)
    }
}

/// What a SLSA provenance attestation must name (each `None` is not checked). Source
/// repositories compare without scheme, `git+` prefix, `.git` suffix and `@ref`:
/// `github.com/example/shop` matches `git+https://github.com/example/shop@refs/tags/v1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenancePolicy {
    pub builder_id: Option<String>,
    pub source_repo: Option<String>,
}
