//! Sigstore bundles v0.1–v0.3: message signatures, key-based and keyless, with signed entry
//! timestamps and inclusion proofs up to signed checkpoints.

use std::time::Duration;

use signatures::testing::{BundleSigner, BundleVersion, Ca, KeyPair, RekorLog, make_bundle};
use signatures::{Class, Evidence, Rejected, Signer, TlogProof, verify};

use crate::common::*;

fn keyless_bundle(ca: &Ca, log: &mut RekorLog, version: BundleVersion) -> Vec<u8> {
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    make_bundle(
        BundleSigner::Keyless(&cert),
        version,
        &platform(),
        Some((log, signed_at())),
    )
}

/// Edits a bundle's JSON.
fn edit(json: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Evidence {
    let mut v: serde_json::Value = serde_json::from_slice(json).unwrap();
    f(&mut v);
    Evidence::Bundle {
        json: serde_json::to_vec(&v).unwrap(),
    }
}

#[test]
fn keyless_bundles_of_each_version_verify() {
    for (version, proof) in [
        (BundleVersion::V01, TlogProof::Set),
        (BundleVersion::V02, TlogProof::Both),
        (BundleVersion::V03, TlogProof::Both),
    ] {
        let ca = Ca::new();
        let mut log = RekorLog::new();
        // Other entries before and after: the proof is for a tree of several.
        for _ in 0..4 {
            keyless_bundle(&ca, &mut log, version);
        }
        let json = keyless_bundle(&ca, &mut log, version);
        keyless_bundle(&ca, &mut log, version);
        let v = verify(
            &Evidence::Bundle { json },
            &subjects(),
            &keyless_policy(&ca, &log),
            audit_time(),
        )
        .unwrap_or_else(|r| panic!("{version:?}: {r}"));
        assert_eq!(v.signed_digest, platform());
        assert!(matches!(v.signer, Signer::Certificate { .. }));
        let tlog = v.tlog.unwrap();
        assert_eq!(tlog.proof, proof, "{version:?}");
        assert_eq!(tlog.log_index, 4);
    }
}

#[test]
fn a_key_based_bundle_verifies_with_the_policy_key() {
    for key in [KeyPair::p256(), KeyPair::p384()] {
        let json = make_bundle(BundleSigner::Key(&key), BundleVersion::V03, &platform(), None);
        let e = Evidence::Bundle { json };
        let v = verify(&e, &subjects(), &key_policy(vec![key.public_key()]), audit_time());
        assert!(matches!(v.unwrap().signer, Signer::Key { .. }));
        let r = verify(
            &e,
            &subjects(),
            &key_policy(vec![KeyPair::p256().public_key()]),
            audit_time(),
        );
        assert_eq!(r.unwrap_err(), Rejected::NoMatchingKey);
    }
}

#[test]
fn a_bundle_for_another_artifact_names_it() {
    let key = KeyPair::p256();
    let json = make_bundle(BundleSigner::Key(&key), BundleVersion::V03, &other(), None);
    let r = verify(
        &Evidence::Bundle { json },
        &subjects(),
        &key_policy(vec![key.public_key()]),
        audit_time(),
    );
    assert_eq!(r.unwrap_err(), Rejected::DigestMismatch { signed: other() });
}

#[test]
fn a_tampered_inclusion_proof_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    keyless_bundle(&ca, &mut log, BundleVersion::V03);
    let json = keyless_bundle(&ca, &mut log, BundleVersion::V03);
    let e = edit(&json, |b| {
        let proof = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
        proof["hashes"][0] = serde_json::json!(base64_of(&[7u8; 32]));
    });
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(r.to_string().contains("inclusion proof"), "{r}");
    assert_eq!(r.class(), Class::Invalid);
}

#[test]
fn a_checkpoint_not_signed_by_the_log_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let json = keyless_bundle(&ca, &mut log, BundleVersion::V03);
    let e = edit(&json, |b| {
        let cp = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"];
        let text = cp["envelope"].as_str().unwrap().to_string();
        // Same tree, signed by some other log.
        let (body, _) = text.split_once("\n\n").unwrap();
        let forged = KeyPair::p256().sign(format!("{body}\n").as_bytes());
        let mut sig = vec![0u8; 4];
        sig.extend(forged);
        cp["envelope"] = serde_json::json!(format!("{body}\n\n\u{2014} rekor {}\n", base64_of(&sig)));
    });
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(r.to_string().contains("checkpoint"), "{r}");
}

#[test]
fn an_inclusion_proof_alone_proves_inclusion_but_not_the_time() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let json = keyless_bundle(&ca, &mut log, BundleVersion::V03);
    let e = edit(&json, |b| {
        let entry = b["verificationMaterial"]["tlogEntries"][0].as_object_mut().unwrap();
        entry.remove("inclusionPromise");
    });
    let policy = keyless_policy(&ca, &log);
    // While the certificate is valid: the entry is in the log, but nothing proves when it got
    // there, so nothing proves the certificate signed while valid (sigstore-go asks for a
    // verified time too).
    let r = verify(&e, &subjects(), &policy, t0() + Duration::from_secs(120)).unwrap_err();
    assert!(matches!(r, Rejected::Tlog(_)), "{r}");
    // Later: the integrated time is not signed, so the certificate has expired.
    let r = verify(&e, &subjects(), &policy, audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::CertificateExpired { proven: false, .. }), "{r}");
}

#[test]
fn a_wrong_identity_in_a_bundle_is_named() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let json = keyless_bundle(&ca, &mut log, BundleVersion::V02);
    let mut policy = keyless_policy(&ca, &log);
    policy.identities = vec![identity(ISSUER, r"^https://github\.com/other/")];
    let r = verify(&Evidence::Bundle { json }, &subjects(), &policy, audit_time()).unwrap_err();
    assert_eq!(
        r,
        Rejected::IdentityMismatch {
            issuer: ISSUER.into(),
            subject: SUBJECT.into()
        }
    );
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
