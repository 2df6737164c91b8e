//! DSSE attestations (`.att` layers and DSSE bundles): the PAE signature, the in-toto
//! statement's subject, the SLSA provenance against the policy.

use signatures::testing::{
    BundleSigner, BundleVersion, Ca, KeyPair, RekorLog, attest, attest_keyless, in_toto_statement, make_dsse_bundle,
    slsa_v1_predicate, slsa_v02_predicate,
};
use signatures::{COSIGN_SIGN_V1, Class, Evidence, Kind, Policy, ProvenancePolicy, Rejected, TlogProof, verify};

use crate::common::*;

const BUILDER: &str = "https://github.com/actions/runner/github-hosted";
const SOURCE: &str = "https://github.com/example/shop";

fn provenance_policy(keys: Vec<signatures::PublicKey>) -> Policy {
    Policy {
        provenance: Some(ProvenancePolicy {
            builder_id: Some(BUILDER.into()),
            source_repo: Some("github.com/example/shop".into()),
        }),
        ..key_policy(keys)
    }
}

fn slsa(builder: &str, source: &str) -> serde_json::Value {
    in_toto_statement(
        &platform(),
        "https://slsa.dev/provenance/v1",
        slsa_v1_predicate(builder, source),
    )
}

#[test]
fn provenance_from_the_right_builder_and_repository_verifies() {
    let key = KeyPair::p256();
    let e = attest(&key, &slsa(BUILDER, SOURCE));
    let v = verify(
        &e,
        &subjects(),
        &provenance_policy(vec![key.public_key()]),
        audit_time(),
    )
    .unwrap();
    assert_eq!(v.kind, Kind::Attestation);
    let p = v.provenance.unwrap();
    assert_eq!(p.builder_id.as_deref(), Some(BUILDER));
    assert_eq!(p.source_repo.as_deref(), Some(SOURCE));
}

#[test]
fn provenance_from_another_builder_names_the_builder_and_source_found() {
    let key = KeyPair::p256();
    let rogue = "https://ci.example.net/self-hosted";
    let e = attest(&key, &slsa(rogue, SOURCE));
    let r = verify(
        &e,
        &subjects(),
        &provenance_policy(vec![key.public_key()]),
        audit_time(),
    )
    .unwrap_err();
    let Rejected::ProvenanceMismatch {
        builder_id,
        source_repo,
        ..
    } = &r
    else {
        panic!("{r}")
    };
    assert_eq!((builder_id.as_str(), source_repo.as_str()), (rogue, SOURCE));
    assert_eq!(r.class(), Class::ProvenanceMismatch);
    assert!(r.to_string().contains(rogue) && r.to_string().contains(BUILDER), "{r}");
}

#[test]
fn provenance_from_another_repository_is_a_mismatch() {
    let key = KeyPair::p256();
    let e = attest(&key, &slsa(BUILDER, "https://github.com/attacker/shop"));
    let r = verify(
        &e,
        &subjects(),
        &provenance_policy(vec![key.public_key()]),
        audit_time(),
    );
    assert!(matches!(r, Err(Rejected::ProvenanceMismatch { ref source_repo, .. }) if source_repo.contains("attacker")));
}

#[test]
fn slsa_v02_provenance_is_read_too() {
    let key = KeyPair::ed25519();
    let st = in_toto_statement(
        &platform(),
        "https://slsa.dev/provenance/v0.2",
        slsa_v02_predicate(BUILDER, "git+https://github.com/example/shop@refs/tags/v1.2.0"),
    );
    let v = verify(
        &attest(&key, &st),
        &subjects(),
        &provenance_policy(vec![key.public_key()]),
        audit_time(),
    );
    assert_eq!(v.unwrap().provenance.unwrap().builder_id.as_deref(), Some(BUILDER));
}

#[test]
fn an_attestation_about_another_image_is_rejected() {
    let key = KeyPair::p256();
    let st = in_toto_statement(
        &other(),
        "https://slsa.dev/provenance/v1",
        slsa_v1_predicate(BUILDER, SOURCE),
    );
    let r = verify(
        &attest(&key, &st),
        &subjects(),
        &provenance_policy(vec![key.public_key()]),
        audit_time(),
    );
    assert_eq!(r.unwrap_err(), Rejected::DigestMismatch { signed: other() });
}

#[test]
fn a_keyless_attestation_layer_with_a_rekor_entry_verifies() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    let e = attest_keyless(&cert, &ca, Some((&mut log, signed_at())), &slsa(BUILDER, SOURCE));
    let policy = Policy {
        provenance: provenance_policy(vec![]).provenance,
        ..keyless_policy(&ca, &log)
    };
    let v = verify(&e, &subjects(), &policy, audit_time()).unwrap();
    assert_eq!(v.tlog.unwrap().proof, TlogProof::Set);
    // And with the wrong builder, keyless too.
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    let e = attest_keyless(&cert, &ca, Some((&mut log, signed_at())), &slsa("https://evil", SOURCE));
    let r = verify(&e, &subjects(), &policy, audit_time()).unwrap_err();
    assert_eq!(r.class(), Class::ProvenanceMismatch);
}

#[test]
fn a_dsse_bundle_verifies_and_a_cosign_sign_statement_is_a_signature() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    let st = in_toto_statement(&index(), COSIGN_SIGN_V1, serde_json::json!({}));
    let json = make_dsse_bundle(
        BundleSigner::Keyless(&cert),
        BundleVersion::V03,
        &st,
        Some((&mut log, signed_at())),
    );
    let v = verify(
        &Evidence::Bundle { json },
        &[platform(), index()],
        &keyless_policy(&ca, &log),
        audit_time(),
    )
    .unwrap();
    assert_eq!(v.kind, Kind::Signature);
    assert_eq!(v.signed_digest, index());
    assert_eq!(v.tlog.unwrap().proof, TlogProof::Both);
    assert!(v.provenance.is_none());
}

#[test]
fn a_changed_dsse_payload_does_not_verify() {
    let key = KeyPair::p256();
    let json = make_dsse_bundle(
        BundleSigner::Key(&key),
        BundleVersion::V03,
        &slsa(BUILDER, SOURCE),
        None,
    );
    let mut b: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let forged = serde_json::to_vec(&slsa("https://evil", SOURCE)).unwrap();
    use base64::Engine;
    b["dsseEnvelope"]["payload"] = serde_json::json!(base64::engine::general_purpose::STANDARD.encode(forged));
    let e = Evidence::Bundle {
        json: serde_json::to_vec(&b).unwrap(),
    };
    let r = verify(
        &e,
        &subjects(),
        &provenance_policy(vec![key.public_key()]),
        audit_time(),
    );
    assert_eq!(r.unwrap_err(), Rejected::NoMatchingKey);
}
