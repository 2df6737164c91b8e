//! Keyless signatures (`cosign sign` with an OIDC identity): the Fulcio chain, the identity,
//! the signing time proven by Rekor, the SCT.

use std::time::Duration;

use signatures::testing::{Ca, RekorLog, sign_simple_signing_keyless};
use signatures::{Class, Evidence, Policy, Rejected, Signer, TlogProof, annotations, verify};

use crate::common::*;

fn signed(ca: &Ca, log: &mut RekorLog, subject: &str) -> Evidence {
    let cert = ca.issue(ISSUER, subject, t0());
    sign_simple_signing_keyless(&cert, ca, Some((log, signed_at())), REFERENCE, &platform())
}

/// Replaces one annotation of a simple-signing layer.
fn with_annotation(e: Evidence, key: &str, value: String) -> Evidence {
    let Evidence::SimpleSigning {
        payload,
        mut annotations,
    } = e
    else {
        unreachable!()
    };
    annotations.insert(key.to_string(), value);
    Evidence::SimpleSigning { payload, annotations }
}

fn without_annotation(e: Evidence, key: &str) -> Evidence {
    let Evidence::SimpleSigning {
        payload,
        mut annotations,
    } = e
    else {
        unreachable!()
    };
    annotations.remove(key);
    Evidence::SimpleSigning { payload, annotations }
}

#[test]
fn the_right_identity_verifies_and_names_issuer_subject_and_log_entry() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let v = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap();
    let Signer::Certificate { issuer, subject, .. } = &v.signer else {
        panic!("{:?}", v.signer)
    };
    assert_eq!((issuer.as_str(), subject.as_str()), (ISSUER, SUBJECT));
    let tlog = v.tlog.expect("Rekor entry");
    assert_eq!(tlog.proof, TlogProof::Set);
    assert_eq!(tlog.integrated_time, signed_at());
}

#[test]
fn an_email_identity_is_read_from_the_san() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, "release@example.com");
    let mut policy = keyless_policy(&ca, &log);
    policy.identities = vec![identity(ISSUER, r"^release@example\.com$")];
    let v = verify(&e, &subjects(), &policy, audit_time()).unwrap();
    assert!(matches!(v.signer, Signer::Certificate { ref subject, .. } if subject == "release@example.com"));
}

#[test]
fn a_wrong_identity_is_not_ours_and_named() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let intruder = "https://github.com/example/shop/.github/workflows/ci-bot.yml@refs/heads/main";
    let e = signed(&ca, &mut log, intruder);
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert_eq!(
        r,
        Rejected::IdentityMismatch {
            issuer: ISSUER.into(),
            subject: intruder.into()
        }
    );
    assert_eq!(r.class(), Class::NotOurs);
    let msg = r.to_string();
    assert!(msg.contains(intruder) && msg.contains(ISSUER), "{msg}");
}

#[test]
fn a_wrong_issuer_with_the_right_subject_is_not_ours() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let cert = ca.issue("https://accounts.example.org", SUBJECT, t0());
    let e = sign_simple_signing_keyless(&cert, &ca, Some((&mut log, signed_at())), REFERENCE, &platform());
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(
        matches!(r, Rejected::IdentityMismatch { ref issuer, .. } if issuer == "https://accounts.example.org"),
        "{r}"
    );
}

#[test]
fn an_expired_certificate_without_a_log_entry_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = without_annotation(signed(&ca, &mut log, SUBJECT), annotations::BUNDLE);
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    let Rejected::CertificateExpired { proven, signed_at, .. } = r else {
        panic!("{r}")
    };
    assert!(!proven);
    assert_eq!(signed_at, audit_time());
    assert!(r.to_string().contains("no transparency log entry"), "{r}");
    // Even while the certificate is valid, nothing proves when it signed: refused, as cosign
    // refuses a keyless signature without a log entry.
    let r = verify(
        &e,
        &subjects(),
        &keyless_policy(&ca, &log),
        t0() + Duration::from_secs(300),
    )
    .unwrap_err();
    assert!(matches!(r, Rejected::Tlog(_)), "{r}");
    assert_eq!(r.class(), signatures::Class::Invalid);
    assert!(
        r.to_string()
            .contains("needs a transparency log entry or a signed timestamp"),
        "{r}"
    );
}

#[test]
fn an_expired_certificate_with_a_rekor_time_inside_its_validity_is_accepted() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let far = audit_time() + Duration::from_secs(365 * 86_400);
    assert!(verify(&e, &subjects(), &keyless_policy(&ca, &log), far).is_ok());
}

#[test]
fn a_rekor_time_after_the_certificate_expired_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    let late = t0() + Duration::from_secs(3_600);
    let e = sign_simple_signing_keyless(&cert, &ca, Some((&mut log, late)), REFERENCE, &platform());
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::CertificateExpired { proven: true, .. }), "{r}");
    assert!(r.to_string().contains("proven by the transparency log"), "{r}");
}

#[test]
fn a_tampered_signed_entry_timestamp_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let Evidence::SimpleSigning { annotations: a, .. } = &e else {
        unreachable!()
    };
    // Move the integrated time: the SET no longer covers it.
    let mut bundle: serde_json::Value = serde_json::from_str(&a[annotations::BUNDLE]).unwrap();
    bundle["Payload"]["integratedTime"] = serde_json::json!(unix_secs(signed_at()) + 1);
    let e = with_annotation(e, annotations::BUNDLE, bundle.to_string());
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::Tlog(_)), "{r}");
    assert_eq!(r.class(), Class::Invalid);
    assert!(r.to_string().contains("signed entry timestamp"), "{r}");
}

fn unix_secs(t: std::time::SystemTime) -> i64 {
    signatures::testing::unix(t)
}

#[test]
fn a_log_entry_of_another_signature_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let other_entry = signed(&ca, &mut log, SUBJECT);
    let Evidence::SimpleSigning { annotations: a, .. } = &other_entry else {
        unreachable!()
    };
    let e = with_annotation(e, annotations::BUNDLE, a[annotations::BUNDLE].clone());
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(r.to_string().contains("for another signature"), "{r}");
}

#[test]
fn a_log_the_trusted_root_does_not_know_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let policy = keyless_policy(&ca, &RekorLog::new());
    let r = verify(&e, &subjects(), &policy, audit_time()).unwrap_err();
    assert!(r.to_string().contains("not in the trusted root"), "{r}");
}

#[test]
fn a_certificate_from_another_ca_does_not_chain() {
    let ca = Ca::new();
    let rogue = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&rogue, &mut log, SUBJECT);
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::Chain(_)), "{r}");
    assert_eq!(r.class(), Class::Invalid);
}

#[test]
fn a_signature_not_made_with_the_certificates_key_is_invalid() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let other = signed(&ca, &mut log, SUBJECT);
    let Evidence::SimpleSigning { annotations: a, .. } = &other else {
        unreachable!()
    };
    let e = with_annotation(e, annotations::CERTIFICATE, a[annotations::CERTIFICATE].clone());
    let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::BadSignature(_)), "{r}");
}

#[test]
fn an_sct_from_a_log_the_root_does_not_trust_is_rejected() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    // The same Fulcio and Rekor, but another CT log.
    let mut root: serde_json::Value = serde_json::from_slice(&signatures::testing::trusted_root(&ca, &log)).unwrap();
    let other: serde_json::Value =
        serde_json::from_slice(&signatures::testing::trusted_root(&Ca::new(), &log)).unwrap();
    root["ctlogs"] = other["ctlogs"].clone();
    let policy = Policy {
        trusted_root: Some(signatures::TrustedRoot::from_json(root.to_string().as_bytes()).unwrap()),
        ..keyless_policy(&ca, &log)
    };
    let r = verify(&e, &subjects(), &policy, audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::Sct(_)), "{r}");
}

#[test]
fn keyless_evidence_needs_a_trusted_root_and_identities() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let no_root = Policy {
        trusted_root: None,
        ..keyless_policy(&ca, &log)
    };
    let r = verify(&e, &subjects(), &no_root, audit_time()).unwrap_err();
    assert_eq!(r, Rejected::NotApplicable("trusted root"));
    let no_ids = Policy {
        identities: vec![],
        ..keyless_policy(&ca, &log)
    };
    let r = verify(&e, &subjects(), &no_ids, audit_time()).unwrap_err();
    assert_eq!(r, Rejected::NotApplicable("keyless identities"));
}

#[test]
fn an_absurd_integrated_time_is_rejected_without_a_panic() {
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let e = signed(&ca, &mut log, SUBJECT);
    let Evidence::SimpleSigning { annotations: a, .. } = &e else {
        unreachable!()
    };
    for t in [i64::MAX, -1, 0] {
        let mut bundle: serde_json::Value = serde_json::from_str(&a[annotations::BUNDLE]).unwrap();
        bundle["Payload"]["integratedTime"] = serde_json::json!(t);
        let e = with_annotation(e.clone(), annotations::BUNDLE, bundle.to_string());
        let r = verify(&e, &subjects(), &keyless_policy(&ca, &log), audit_time()).unwrap_err();
        assert!(matches!(r, Rejected::Tlog(_)), "{t}: {r}");
    }
}
