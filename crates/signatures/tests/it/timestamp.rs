//! RFC 3161 timestamps: a signing time proven by a timestamping authority of the root.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use signatures::testing::{
    BundleSigner, BundleVersion, Ca, RekorLog, Tsa, cosign_timestamp_annotation, make_bundle,
    sign_simple_signing_keyless, trusted_root_with_tsa,
};
use signatures::{Class, Evidence, Policy, Rejected, TrustedRoot, annotations, verify};

use crate::common::*;

fn policy(ca: &Ca, log: &RekorLog, tsa: &Tsa) -> Policy {
    Policy {
        trusted_root: Some(TrustedRoot::from_json(&trusted_root_with_tsa(ca, log, tsa)).unwrap()),
        ..keyless_policy(ca, log)
    }
}

/// A keyless `.sig` layer without a Rekor entry, timestamped by `tsa` at `at`.
fn stamped(ca: &Ca, tsa: &Tsa, at: std::time::SystemTime) -> Evidence {
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    let Evidence::SimpleSigning {
        payload,
        mut annotations,
    } = sign_simple_signing_keyless(&cert, ca, None, REFERENCE, &platform())
    else {
        unreachable!()
    };
    let sig = STANDARD.decode(&annotations[annotations::SIGNATURE]).unwrap();
    let response = tsa.stamp(&sig, at);
    annotations.insert(annotations::TIMESTAMP.into(), cosign_timestamp_annotation(&response));
    Evidence::SimpleSigning { payload, annotations }
}

#[test]
fn an_expired_certificate_with_a_timestamp_inside_its_validity_is_accepted() {
    let (ca, log, tsa) = (Ca::new(), RekorLog::new(), Tsa::new());
    let e = stamped(&ca, &tsa, signed_at());
    let v = verify(&e, &subjects(), &policy(&ca, &log, &tsa), audit_time()).unwrap();
    let ts = v.timestamp.expect("verified timestamp");
    assert_eq!(ts.time, signed_at());
    assert_eq!(ts.authority, "CN=timestamps,O=driftwatch.test");
    assert!(v.tlog.is_none());
}

#[test]
fn a_timestamp_after_the_certificate_expired_is_rejected() {
    let (ca, log, tsa) = (Ca::new(), RekorLog::new(), Tsa::new());
    let e = stamped(&ca, &tsa, t0() + Duration::from_secs(3_600));
    let r = verify(&e, &subjects(), &policy(&ca, &log, &tsa), audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::CertificateExpired { proven: true, .. }), "{r}");
}

#[test]
fn a_timestamp_by_an_authority_the_root_does_not_trust_is_rejected() {
    let (ca, log, tsa) = (Ca::new(), RekorLog::new(), Tsa::new());
    let e = stamped(&ca, &Tsa::new(), signed_at());
    let r = verify(&e, &subjects(), &policy(&ca, &log, &tsa), audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::Timestamp(_)), "{r}");
    assert_eq!(r.class(), Class::Invalid);
}

#[test]
fn a_timestamp_of_another_signature_in_a_bundle_is_rejected() {
    let (ca, mut log, tsa) = (Ca::new(), RekorLog::new(), Tsa::new());
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    let json = make_bundle(
        BundleSigner::Keyless(&cert),
        BundleVersion::V03,
        &platform(),
        Some((&mut log, signed_at())),
    );
    let mut b: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let sig = STANDARD
        .decode(b["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    let stamp = |s: &[u8]| serde_json::json!({"rfc3161Timestamps": [{"signedTimestamp": STANDARD.encode(tsa.stamp(s, signed_at()))}]});
    b["verificationMaterial"]["timestampVerificationData"] = stamp(&sig);
    let good = Evidence::Bundle {
        json: serde_json::to_vec(&b).unwrap(),
    };
    let v = verify(&good, &subjects(), &policy(&ca, &log, &tsa), audit_time()).unwrap();
    assert!(v.timestamp.is_some() && v.tlog.is_some());
    b["verificationMaterial"]["timestampVerificationData"] = stamp(b"another signature");
    let bad = Evidence::Bundle {
        json: serde_json::to_vec(&b).unwrap(),
    };
    let r = verify(&bad, &subjects(), &policy(&ca, &log, &tsa), audit_time()).unwrap_err();
    assert!(r.to_string().contains("for another signature"), "{r}");
}
