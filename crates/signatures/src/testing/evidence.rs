//! Evidence as cosign and the Sigstore clients write it: simple-signing layers with their
//! annotations, `.att` DSSE layers, and bundles v0.1–v0.3, key-based or keyless.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ca::{Ca, Issued};
use super::keys::KeyPair;
use super::rekor::{LogEntry, RekorLog, dsse_body, hashedrekord_body};
use super::unix;
use crate::cosign;
use crate::dsse::{IN_TOTO, pae};
use crate::evidence::Evidence;

/// A log to record the signature in, and when.
pub type Tlog<'a> = Option<(&'a mut RekorLog, SystemTime)>;

/// cosign's simple-signing payload for `reference` at `digest`.
pub fn simple_signing_payload(reference: &str, digest: &str) -> Vec<u8> {
    let v = json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature"
        },
        "optional": null
    });
    serde_json::to_vec(&v).expect("JSON")
}

/// A `.sig` layer signed with `key` (`cosign sign --key`, no transparency log).
pub fn sign_simple_signing(key: &KeyPair, reference: &str, digest: &str) -> Evidence {
    let payload = simple_signing_payload(reference, digest);
    let sig = key.sign(&payload);
    let annotations = BTreeMap::from([(cosign::SIGNATURE.to_string(), STANDARD.encode(sig))]);
    Evidence::SimpleSigning { payload, annotations }
}

/// A `.sig` layer signed keyless: certificate and chain annotations, and the Rekor bundle
/// annotation when a log is given.
pub fn sign_simple_signing_keyless(cert: &Issued, ca: &Ca, tlog: Tlog<'_>, reference: &str, digest: &str) -> Evidence {
    let payload = simple_signing_payload(reference, digest);
    let sig = cert.key.sign(&payload);
    let mut annotations = BTreeMap::from([
        (cosign::SIGNATURE.to_string(), STANDARD.encode(&sig)),
        (cosign::CERTIFICATE.to_string(), cert.pem()),
        (cosign::CHAIN.to_string(), ca.chain_pem()),
    ]);
    if let Some((log, t)) = tlog {
        let body = hashedrekord_body(&Sha256::digest(&payload), &sig, &cert.pem());
        let entry = log.append(body, unix(t));
        annotations.insert(cosign::BUNDLE.to_string(), entry.cosign_bundle_annotation());
    }
    Evidence::SimpleSigning { payload, annotations }
}

/// An in-toto v1 statement about `subject_digest` (`sha256:<hex>`).
pub fn in_toto_statement(subject_digest: &str, predicate_type: &str, predicate: Value) -> Value {
    let (alg, hex) = subject_digest.split_once(':').unwrap_or(("sha256", subject_digest));
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {alg: hex}}],
        "predicateType": predicate_type,
        "predicate": predicate
    })
}

/// A SLSA v1 provenance predicate as GitHub's generator writes it.
pub fn slsa_v1_predicate(builder_id: &str, source_repo: &str) -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {
                "ref": "refs/tags/v1.0.0",
                "repository": source_repo,
                "path": ".github/workflows/release.yml"
            }},
            "resolvedDependencies": [{"uri": format!("git+{source_repo}@refs/tags/v1.0.0")}]
        },
        "runDetails": {"builder": {"id": builder_id}, "metadata": {}}
    })
}

/// A SLSA v0.2 provenance predicate.
pub fn slsa_v02_predicate(builder_id: &str, source_uri: &str) -> Value {
    json!({
        "builder": {"id": builder_id},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
        "invocation": {"configSource": {"uri": source_uri, "entryPoint": "release.yml"}}
    })
}

fn envelope(payload: &[u8], sig: &[u8]) -> Value {
    json!({
        "payloadType": IN_TOTO,
        "payload": STANDARD.encode(payload),
        "signatures": [{"keyid": "", "sig": STANDARD.encode(sig)}]
    })
}

/// A `.att` layer signed with `key` (`cosign attest --key`).
pub fn attest(key: &KeyPair, statement: &Value) -> Evidence {
    let payload = serde_json::to_vec(statement).expect("JSON");
    let sig = key.sign(&pae(IN_TOTO, &payload));
    Evidence::Attestation {
        envelope: serde_json::to_vec(&envelope(&payload, &sig)).expect("JSON"),
        annotations: BTreeMap::new(),
    }
}

/// A `.att` layer signed keyless, with the Rekor bundle annotation when a log is given.
pub fn attest_keyless(cert: &Issued, ca: &Ca, tlog: Tlog<'_>, statement: &Value) -> Evidence {
    let payload = serde_json::to_vec(statement).expect("JSON");
    let sig = cert.key.sign(&pae(IN_TOTO, &payload));
    let env = serde_json::to_vec(&envelope(&payload, &sig)).expect("JSON");
    let mut annotations = BTreeMap::from([
        (cosign::CERTIFICATE.to_string(), cert.pem()),
        (cosign::CHAIN.to_string(), ca.chain_pem()),
    ]);
    if let Some((log, t)) = tlog {
        let entry = log.append(dsse_body(&env, &payload, &sig, &cert.pem()), unix(t));
        annotations.insert(cosign::BUNDLE.to_string(), entry.cosign_bundle_annotation());
    }
    Evidence::Attestation {
        envelope: env,
        annotations,
    }
}

/// Who signs a bundle.
pub enum BundleSigner<'a> {
    Key(&'a KeyPair),
    Keyless(&'a Issued),
}

impl BundleSigner<'_> {
    fn key(&self) -> &KeyPair {
        match self {
            BundleSigner::Key(k) => k,
            BundleSigner::Keyless(c) => &c.key,
        }
    }

    fn verifier_pem(&self) -> String {
        match self {
            BundleSigner::Key(k) => k.public_pem(),
            BundleSigner::Keyless(c) => c.pem(),
        }
    }
}

/// A bundle format version. v0.1 carries the signed entry timestamp only; v0.2 and v0.3 the
/// inclusion proof and checkpoint too; v0.3 a single certificate instead of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleVersion {
    V01,
    V02,
    V03,
}

fn material(signer: &BundleSigner<'_>, version: BundleVersion, entry: Option<(&LogEntry, &str)>) -> Value {
    let mut m = match (signer, version) {
        (BundleSigner::Key(k), _) => json!({"publicKey": {"hint": k.public_key().fingerprint()}}),
        (BundleSigner::Keyless(c), BundleVersion::V03) => {
            json!({"certificate": {"rawBytes": STANDARD.encode(c.der())}})
        }
        (BundleSigner::Keyless(c), _) => {
            json!({"x509CertificateChain": {"certificates": [{"rawBytes": STANDARD.encode(c.der())}]}})
        }
    };
    let entries: Vec<Value> = entry
        .map(|(e, kind)| e.bundle_json(kind, true, version != BundleVersion::V01))
        .into_iter()
        .collect();
    m["tlogEntries"] = Value::Array(entries);
    m
}

fn media_type(version: BundleVersion) -> &'static str {
    match version {
        BundleVersion::V01 => "application/vnd.dev.sigstore.bundle+json;version=0.1",
        BundleVersion::V02 => "application/vnd.dev.sigstore.bundle+json;version=0.2",
        BundleVersion::V03 => "application/vnd.dev.sigstore.bundle.v0.3+json",
    }
}

/// A bundle with a message signature over the artifact whose digest is `digest`
/// (`sha256:<hex>`; for an image, its manifest).
pub fn make_bundle(signer: BundleSigner<'_>, version: BundleVersion, digest: &str, tlog: Tlog<'_>) -> Vec<u8> {
    let raw = hex::decode(digest.trim_start_matches("sha256:")).expect("sha256:<hex>");
    let sig = signer.key().sign_prehash(&raw);
    let entry = tlog.map(|(log, t)| log.append(hashedrekord_body(&raw, &sig, &signer.verifier_pem()), unix(t)));
    let b = json!({
        "mediaType": media_type(version),
        "verificationMaterial": material(&signer, version, entry.as_ref().map(|e| (e, "hashedrekord"))),
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(&raw)},
            "signature": STANDARD.encode(&sig)
        }
    });
    serde_json::to_vec(&b).expect("JSON")
}

/// A bundle with a DSSE envelope holding `statement` (`cosign attest --new-bundle-format`).
pub fn make_dsse_bundle(
    signer: BundleSigner<'_>,
    version: BundleVersion,
    statement: &Value,
    tlog: Tlog<'_>,
) -> Vec<u8> {
    let payload = serde_json::to_vec(statement).expect("JSON");
    let sig = signer.key().sign(&pae(IN_TOTO, &payload));
    let env = envelope(&payload, &sig);
    let env_bytes = serde_json::to_vec(&env).expect("JSON");
    let entry = tlog.map(|(log, t)| log.append(dsse_body(&env_bytes, &payload, &sig, &signer.verifier_pem()), unix(t)));
    let b = json!({
        "mediaType": media_type(version),
        "verificationMaterial": material(&signer, version, entry.as_ref().map(|e| (e, "dsse"))),
        "dsseEnvelope": env
    });
    serde_json::to_vec(&b).expect("JSON")
}
