//! Key-based signatures (`cosign sign --key`): the signature over the exact payload bytes, the
//! payload naming one of the subjects.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use signatures::testing::{KeyPair, RekorLog, hashedrekord_body, sign_simple_signing, unix};
use signatures::{Class, Evidence, Kind, Rejected, Signer, annotations, verify};

use crate::common::*;

fn rsa() -> KeyPair {
    KeyPair::rsa_test_key()
}

#[test]
fn a_signature_by_each_kind_of_key_verifies_and_names_the_key() {
    for (name, key) in [
        ("P-256", KeyPair::p256()),
        ("P-384", KeyPair::p384()),
        ("Ed25519", KeyPair::ed25519()),
        ("RSA", rsa()),
    ] {
        let e = sign_simple_signing(&key, REFERENCE, &platform());
        let policy = key_policy(vec![KeyPair::p256().public_key(), key.public_key()]);
        let v = verify(&e, &subjects(), &policy, audit_time()).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(v.signed_digest, platform(), "{name}");
        assert_eq!(v.kind, Kind::Signature);
        let Signer::Key { fingerprint } = &v.signer else {
            panic!("{name}: {:?}", v.signer)
        };
        assert_eq!(fingerprint, &key.public_key().fingerprint(), "{name}");
        assert!(v.tlog.is_none());
    }
}

#[test]
fn a_signature_by_another_key_is_not_ours() {
    let e = sign_simple_signing(&KeyPair::p256(), REFERENCE, &platform());
    let policy = key_policy(vec![KeyPair::p256().public_key(), rsa().public_key()]);
    let r = verify(&e, &subjects(), &policy, audit_time()).unwrap_err();
    assert_eq!(r, Rejected::NoMatchingKey);
    assert_eq!(r.class(), Class::NotOurs);
    assert_eq!(r.to_string(), "not signed by any of the policy's keys");
}

#[test]
fn a_policy_without_keys_cannot_check_a_key_signature() {
    let e = sign_simple_signing(&KeyPair::p256(), REFERENCE, &platform());
    let r = verify(&e, &subjects(), &key_policy(vec![]), audit_time()).unwrap_err();
    assert_eq!(r, Rejected::NotApplicable("keys"));
    assert_eq!(r.class(), Class::NotOurs);
}

#[test]
fn a_payload_naming_another_digest_is_rejected_with_the_digest_it_signs() {
    let key = KeyPair::p256();
    let e = sign_simple_signing(&key, REFERENCE, &other());
    let r = verify(&e, &subjects(), &key_policy(vec![key.public_key()]), audit_time()).unwrap_err();
    assert_eq!(r, Rejected::DigestMismatch { signed: other() });
    assert_eq!(r.class(), Class::Invalid);
    assert!(r.to_string().contains(&other()), "{r}");
}

#[test]
fn a_signature_of_the_index_covers_the_platform_digest_listed_in_it() {
    let key = KeyPair::p256();
    let e = sign_simple_signing(&key, REFERENCE, &index());
    let policy = key_policy(vec![key.public_key()]);
    let v = verify(&e, &[platform(), index()], &policy, audit_time()).unwrap();
    assert_eq!(v.signed_digest, index());
    // Without the index among the subjects (it does not list the running digest), no.
    let r = verify(&e, &[platform()], &policy, audit_time()).unwrap_err();
    assert_eq!(r, Rejected::DigestMismatch { signed: index() });
}

#[test]
fn a_changed_payload_no_longer_verifies() {
    let key = KeyPair::p256();
    let Evidence::SimpleSigning {
        mut payload,
        annotations,
    } = sign_simple_signing(&key, REFERENCE, &platform())
    else {
        unreachable!()
    };
    payload.push(b' ');
    let e = Evidence::SimpleSigning { payload, annotations };
    let r = verify(&e, &subjects(), &key_policy(vec![key.public_key()]), audit_time());
    assert_eq!(r.unwrap_err(), Rejected::NoMatchingKey);
}

#[test]
fn a_key_signature_logged_in_rekor_reports_the_verified_entry() {
    use sha2::Digest;
    let key = KeyPair::p256();
    let ca = signatures::testing::Ca::new();
    let mut log = RekorLog::new();
    let Evidence::SimpleSigning {
        payload,
        mut annotations,
    } = sign_simple_signing(&key, REFERENCE, &platform())
    else {
        unreachable!()
    };
    let sig = STANDARD.decode(&annotations[annotations::SIGNATURE]).unwrap();
    let body = hashedrekord_body(&sha2::Sha256::digest(&payload), &sig, &key.public_pem());
    let entry = log.append(body, unix(signed_at()));
    annotations.insert(annotations::BUNDLE.into(), entry.cosign_bundle_annotation());
    let e = Evidence::SimpleSigning { payload, annotations };
    let mut policy = key_policy(vec![key.public_key()]);
    policy.trusted_root = Some(root(&ca, &log));
    let v = verify(&e, &subjects(), &policy, audit_time()).unwrap();
    let tlog = v.tlog.expect("the entry is verified");
    assert_eq!(tlog.integrated_time, signed_at());
    assert_eq!(tlog.log_id, hex::encode(log.log_id()));
}

#[test]
fn the_policy_fingerprint_changes_with_anything_that_decides_a_verdict() {
    let key = KeyPair::p256();
    let base = key_policy(vec![key.public_key()]);
    let same = key_policy(vec![key.public_key()]);
    assert_eq!(base.fingerprint(), same.fingerprint());
    let other_key = key_policy(vec![KeyPair::p256().public_key()]);
    let with_identity = signatures::Policy {
        identities: vec![identity(ISSUER, SUBJECT_REGEX)],
        ..key_policy(vec![key.public_key()])
    };
    let with_provenance = signatures::Policy {
        provenance: Some(signatures::ProvenancePolicy {
            builder_id: Some("b".into()),
            source_repo: None,
        }),
        ..key_policy(vec![key.public_key()])
    };
    let prints = [&base, &other_key, &with_identity, &with_provenance].map(|p| p.fingerprint());
    for (i, a) in prints.iter().enumerate() {
        for b in &prints[i + 1..] {
            assert_ne!(a, b);
        }
    }
}
