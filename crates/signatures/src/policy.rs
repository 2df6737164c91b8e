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

/// The version of the verification rules: part of [`Policy::fingerprint`], so that verdicts
/// cached by an older driftwatch are checked again when the rules change.
pub const RULES_VERSION: u32 = 1;

impl Policy {
    /// `sha256:<hex>` over everything that decides a verdict (the rules' version, key
    /// fingerprints, identities, the trusted root's digest, the provenance policy): a verdict
    /// cached under it stays valid while it is unchanged.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut field = |tag: &str, value: &str| {
            h.update(tag.as_bytes());
            h.update((value.len() as u64).to_be_bytes());
            h.update(value.as_bytes());
        };
        field("rules", &RULES_VERSION.to_string());
        for k in &self.keys {
            field("key", &k.fingerprint());
        }
        for i in &self.identities {
            field("issuer", &i.issuer);
            field("subject", i.subject_regex.as_str());
        }
        if let Some(root) = &self.trusted_root {
            field("root", &root.digest());
        }
        if let Some(p) = &self.provenance {
            field("builder", p.builder_id.as_deref().unwrap_or("\0"));
            field("source", p.source_repo.as_deref().unwrap_or("\0"));
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }
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
