//! Real public-good Sigstore bundles (Fulcio + Rekor) verified offline against the real trusted
//! root. The vectors are sigstore-python's test assets; they are not committed here (see
//! `tests/fixtures/README.md`): point `SIGSTORE_PYTHON_ASSETS` at a checkout's `test/assets`
//! and run `cargo test -p signatures --test it public_vectors -- --ignored`.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use signatures::{Evidence, Policy, Rejected, Signer, TrustedRoot, verify};

use crate::common::*;

fn assets() -> PathBuf {
    PathBuf::from(
        std::env::var("SIGSTORE_PYTHON_ASSETS")
            .expect("SIGSTORE_PYTHON_ASSETS: the test/assets directory of a sigstore-python checkout"),
    )
}

fn read(name: &str) -> Vec<u8> {
    let p = assets().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn public_good() -> TrustedRoot {
    TrustedRoot::from_json(&read("trusted_root/trustedroot.v1.json")).expect("public-good root")
}

/// The artifact's digest, computed from the artifact (not read from the bundle).
fn digest_of(name: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(read(name))))
}

fn any_identity() -> Policy {
    Policy {
        identities: vec![identity("https://token.actions.githubusercontent.com", "")],
        trusted_root: Some(public_good()),
        ..Policy::default()
    }
}

#[test]
#[ignore = "needs SIGSTORE_PYTHON_ASSETS (sigstore-python's test/assets)"]
fn a_public_good_v03_bundle_from_github_actions_verifies_offline() {
    let e = Evidence::Bundle {
        json: read("bundle_v3_github.whl.sigstore"),
    };
    let subjects = vec![digest_of("bundle_v3_github.whl")];
    let v = verify(&e, &subjects, &any_identity(), audit_time()).unwrap();
    let Signer::Certificate { issuer, subject, .. } = &v.signer else {
        panic!("{:?}", v.signer)
    };
    eprintln!("verified: {issuer} {subject} {:?}", v.tlog);
    assert_eq!(issuer, "https://token.actions.githubusercontent.com");
    assert!(subject.starts_with("https://github.com/"), "{subject}");
    assert!(v.tlog.unwrap().proof.proves_time());
}

#[test]
#[ignore = "needs SIGSTORE_PYTHON_ASSETS (sigstore-python's test/assets)"]
fn a_public_good_bundle_with_another_identity_is_named() {
    let e = Evidence::Bundle {
        json: read("bundle_v3_github.whl.sigstore"),
    };
    let subjects = vec![digest_of("bundle_v3_github.whl")];
    let policy = Policy {
        identities: vec![identity("https://accounts.google.com", "")],
        ..any_identity()
    };
    let r = verify(&e, &subjects, &policy, audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::IdentityMismatch { .. }), "{r}");
}

#[test]
#[ignore = "needs SIGSTORE_PYTHON_ASSETS (sigstore-python's test/assets)"]
fn a_public_good_bundle_for_another_artifact_is_rejected() {
    let e = Evidence::Bundle {
        json: read("bundle_v3_github.whl.sigstore"),
    };
    let r = verify(&e, &[other()], &any_identity(), audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::DigestMismatch { .. }), "{r}");
}
