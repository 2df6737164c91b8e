//! `[[policies.signatures]]`: keys (PEM files) and the trusted root are read and parsed, and
//! identity regexes compiled, here, so that a bad key is an error at start naming its key and
//! file, never a finding later.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::Validator;
use crate::config::raw::{RawPolicies, RawSignaturePolicy};
use crate::config::{ConfigError, PoliciesConfig, SignaturePolicyConfig};
use crate::core::model::Severity;

impl Validator<'_> {
    pub(super) fn policies(
        &self,
        raw: RawPolicies,
        env_names: &[String],
        has_discovery: bool,
    ) -> Result<PoliciesConfig, ConfigError> {
        let mut signatures: Vec<SignaturePolicyConfig> = Vec::new();
        for (i, p) in raw.signatures.into_iter().enumerate() {
            if let Some(p) = self.keep(self.signature_policy(i, p, env_names, has_discovery)) {
                if signatures.iter().any(|s| s.name == p.name) {
                    self.record(self.invalid(
                        format!("policies.signatures[{i}].name"),
                        format!("{:?} names another policy too", p.name),
                    ));
                }
                signatures.push(p);
            }
        }
        Ok(PoliciesConfig { signatures })
    }

    fn signature_policy(
        &self,
        i: usize,
        p: RawSignaturePolicy,
        env_names: &[String],
        has_discovery: bool,
    ) -> Result<SignaturePolicyConfig, ConfigError> {
        let key = format!("policies.signatures[{i}]");
        // Discovered environments are named only once discovery runs.
        if !has_discovery && let Some(e) = p.environments.iter().find(|e| !env_names.contains(e)) {
            return Err(self.invalid(format!("{key}.environments"), format!("no environment is named {e:?}")));
        }
        let images = p
            .images
            .iter()
            .enumerate()
            .map(|(n, g)| {
                glob::Pattern::new(g)
                    .map_err(|e| self.invalid(format!("{key}.images[{n}]"), format!("{g:?} is not a glob: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = p
            .keys
            .into_iter()
            .enumerate()
            .map(|(n, path)| self.public_key(&format!("{key}.keys[{n}]"), self.path(path)))
            .collect::<Result<Vec<_>, _>>()?;
        let identities = p
            .identities
            .into_iter()
            .enumerate()
            .map(|(n, id)| {
                let k = format!("{key}.identities[{n}]");
                if id.issuer.is_empty() {
                    return Err(self.invalid(format!("{k}.issuer"), "must not be empty"));
                }
                let subject_regex = regex::Regex::new(&id.subject_regex)
                    .map_err(|e| self.invalid(format!("{k}.subject_regex"), format!("not a regex: {e}")))?;
                Ok(signatures::Identity {
                    issuer: id.issuer,
                    subject_regex,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let trusted_root = match p.trusted_root {
            Some(path) => Some(self.trusted_root(&format!("{key}.trusted_root"), self.path(path))?),
            None => None,
        };
        if keys.is_empty() && identities.is_empty() {
            return Err(self.invalid(format!("{key}.keys"), "give keys, identities, or both"));
        }
        if !identities.is_empty() && trusted_root.is_none() {
            return Err(self.invalid(
                format!("{key}.trusted_root"),
                "identities need a Sigstore trusted root (trusted_root.json) to verify certificates against",
            ));
        }
        let provenance = p.provenance.map(|p| signatures::ProvenancePolicy {
            builder_id: p.builder_id,
            source_repo: p.source_repo,
        });
        let severity = self.severity(&format!("{key}.severity"), p.severity, Severity::Critical)?;
        let hash = policy_hash(&keys, &identities, trusted_root.as_ref(), provenance.as_ref());
        let key_files = keys.iter().map(|(path, k)| (path.clone(), k.fingerprint())).collect();
        let trusted_root_file = trusted_root.as_ref().map(|(path, _)| path.clone());
        Ok(SignaturePolicyConfig {
            name: p.name.unwrap_or_else(|| format!("signatures[{i}]")),
            environments: p.environments,
            images,
            policy: Arc::new(signatures::Policy {
                keys: keys.into_iter().map(|(_, k)| k).collect(),
                identities,
                trusted_root: trusted_root.map(|(_, r)| r),
                provenance,
            }),
            key_files,
            trusted_root_file,
            severity,
            hash,
        })
    }

    /// A PEM public key file, parsed.
    fn public_key(&self, key: &str, path: PathBuf) -> Result<(PathBuf, signatures::PublicKey), ConfigError> {
        let err = |reason: String| self.invalid(key, format!("{}: {reason}", path.display()));
        let pem = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let parsed = signatures::PublicKey::from_pem(&pem).map_err(|e| err(e.to_string()))?;
        Ok((path, parsed))
    }

    /// A Sigstore `trusted_root.json`, parsed.
    fn trusted_root(&self, key: &str, path: PathBuf) -> Result<(PathBuf, signatures::TrustedRoot), ConfigError> {
        let err = |reason: String| self.invalid(key, format!("{}: {reason}", path.display()));
        let bytes = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
        let parsed = signatures::TrustedRoot::from_json(&bytes).map_err(|e| err(e.to_string()))?;
        Ok((path, parsed))
    }
}

/// What decides a verdict, hashed: key fingerprints (not paths: a key moved is the same key),
/// identities, the trusted root's digest and the provenance wanted.
fn policy_hash(
    keys: &[(PathBuf, signatures::PublicKey)],
    identities: &[signatures::Identity],
    trusted_root: Option<&(PathBuf, signatures::TrustedRoot)>,
    provenance: Option<&signatures::ProvenancePolicy>,
) -> String {
    let mut fingerprints: Vec<String> = keys.iter().map(|(_, k)| k.fingerprint()).collect();
    fingerprints.sort();
    let mut h = Sha256::new();
    h.update(b"driftwatch-signature-policy/v1\0");
    for f in fingerprints {
        h.update(format!("key\0{f}\0"));
    }
    for id in identities {
        h.update(format!("identity\0{}\0{}\0", id.issuer, id.subject_regex.as_str()));
    }
    if let Some((_, root)) = trusted_root {
        h.update(format!("root\0{}\0", root.digest()));
    }
    if let Some(p) = provenance {
        h.update(format!(
            "provenance\0{}\0{}\0",
            p.builder_id.as_deref().unwrap_or(""),
            p.source_repo.as_deref().unwrap_or("")
        ));
    }
    format!("{:x}", h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(environments: &[&str], images: &[&str]) -> SignaturePolicyConfig {
        SignaturePolicyConfig {
            name: "p".into(),
            environments: environments.iter().map(|s| s.to_string()).collect(),
            images: images.iter().map(|g| glob::Pattern::new(g).unwrap()).collect(),
            policy: Arc::new(signatures::Policy::default()),
            key_files: Vec::new(),
            trusted_root_file: None,
            severity: Severity::Critical,
            hash: String::new(),
        }
    }

    #[test]
    fn covers_by_environment_and_image_glob() {
        let p = policy(&["production"], &["registry.example.com/release/**"]);
        for (env, image, want) in [
            ("production", "registry.example.com/release/shop/api", true),
            ("production", "registry.example.com/release/api", true),
            ("production", "registry.example.com/releases/api", false),
            ("production", "registry.example.com/other/api", false),
            ("staging", "registry.example.com/release/api", false),
        ] {
            assert_eq!(p.covers(env, image), want, "{env} {image}");
        }
        let one_level = policy(&[], &["registry.example.com/release/*"]);
        assert!(one_level.covers("any", "registry.example.com/release/api"));
        assert!(
            !one_level.covers("any", "registry.example.com/release/shop/api"),
            "* stops at /"
        );
        assert!(policy(&[], &[]).covers("any", "docker.io/library/nginx"));
    }

    #[test]
    fn the_hash_changes_with_the_keys_and_the_provenance() {
        let none = policy_hash(&[], &[], None, None);
        let with = policy_hash(
            &[],
            &[],
            None,
            Some(&signatures::ProvenancePolicy {
                builder_id: Some("b".into()),
                source_repo: None,
            }),
        );
        assert_ne!(none, with);
        assert_eq!(none, policy_hash(&[], &[], None, None));
    }
}
