//! Real public-good Sigstore bundles (Fulcio + Rekor) verified offline against the real trusted
//! root. The vectors are sigstore-python's test assets; they are not committed here (see
//! `tests/fixtures/README.md`): point `SIGSTORE_PYTHON_ASSETS` at a checkout's `test/assets`
//! and run `cargo test -p signatures --test it public_vectors -- --ignored`.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use signatures::{Evidence, Policy, Rejected, Signer, TlogProof, TrustedRoot, verify};

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
fn a_public_good_v02_bundle_from_github_actions_verifies_offline() {
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

fn staging() -> TrustedRoot {
    TrustedRoot::from_json(&read(STAGING_ROOT)).expect("staging root")
}

/// The staging instance's root as sigstore-python's TUF fixture serves it (its CT logs include
/// a PKCS#1 RSA key and its Rekor logs an Ed25519 one).
const STAGING_ROOT: &str =
    "staging-tuf/targets/ed6a9cf4e7c2e3297a4b5974fce0d17132f03c63512029d7aa3a402b43acab49.trusted_root.json";

fn staging_policy() -> Policy {
    Policy {
        identities: vec![
            identity("https://github.com/login/oauth", r"^william@yossarian\.net$"),
            identity("https://github.com/login/oauth", r"^a@tny\.town$"),
        ],
        trusted_root: Some(staging()),
        ..Policy::default()
    }
}

#[test]
#[ignore = "needs SIGSTORE_PYTHON_ASSETS (sigstore-python's test/assets)"]
fn staging_bundles_v01_v02_v03_verify_against_the_staging_root() {
    for (bundle, artifact, proof) in [
        ("bundle.txt.sigstore", "bundle.txt", TlogProof::Both),
        // v0.2 whose inclusion proof has no checkpoint: the SET alone verifies it.
        (
            "bundle_no_checkpoint.txt.sigstore",
            "bundle_no_checkpoint.txt",
            TlogProof::Set,
        ),
        ("bundle_v3.txt.sigstore", "bundle_v3.txt", TlogProof::Both),
        ("bundle_v3_alt.txt.sigstore", "bundle_v3_alt.txt", TlogProof::Both),
    ] {
        let e = Evidence::Bundle { json: read(bundle) };
        let v = verify(&e, &[digest_of(artifact)], &staging_policy(), audit_time())
            .unwrap_or_else(|r| panic!("{bundle}: {r}"));
        assert_eq!(v.tlog.unwrap().proof, proof, "{bundle}");
    }
}

#[test]
#[ignore = "needs SIGSTORE_PYTHON_ASSETS (sigstore-python's test/assets)"]
fn cve_2022_36056_a_log_entry_of_another_signature_is_rejected() {
    let e = Evidence::Bundle {
        json: read("bundle_cve_2022_36056.txt.sigstore"),
    };
    let r = verify(
        &e,
        &[digest_of("bundle_cve_2022_36056.txt")],
        &staging_policy(),
        audit_time(),
    )
    .unwrap_err();
    assert!(r.to_string().contains("for another signature"), "{r}");
}

#[test]
#[ignore = "needs SIGSTORE_PYTHON_ASSETS (sigstore-python's test/assets)"]
fn a_public_good_v01_bundle_of_a_python_release_authenticates() {
    // The tarball itself is not in the assets: the signature is verified over the digest the
    // bundle names, which must then be among the subjects.
    let e = Evidence::Bundle {
        json: read("integration/Python-3.12.5.tgz.sigstore"),
    };
    let policy = Policy {
        identities: vec![identity("https://accounts.google.com", r"^thomas@python\.org$")],
        ..any_identity()
    };
    let named = "sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405";
    let v = verify(&e, &[named.to_string()], &policy, audit_time()).unwrap();
    assert_eq!(v.tlog.unwrap().proof, TlogProof::Set);
    let r = verify(&e, &[other()], &policy, audit_time()).unwrap_err();
    assert_eq!(r, Rejected::DigestMismatch { signed: named.into() });
}

/// sigstore-python's TSA fixture: a test instance's root (inside a client trust config) whose
/// timestamping authority is `tsa/ca.json` (as sigstore-python's own tests set it), and a v0.3
/// bundle carrying RFC 3161 timestamps.
fn tsa_root() -> TrustedRoot {
    let mut config: serde_json::Value = serde_json::from_slice(&read("tsa/trust_config.json")).unwrap();
    let ca: serde_json::Value = serde_json::from_slice(&read("tsa/ca.json")).unwrap();
    config["trustedRoot"]["timestampAuthorities"] = serde_json::json!([ca]);
    TrustedRoot::from_json(config["trustedRoot"].to_string().as_bytes()).expect("TSA test root")
}

#[test]
#[ignore = "needs SIGSTORE_PYTHON_ASSETS (sigstore-python's test/assets)"]
fn a_bundle_with_rfc3161_timestamps_verifies_them() {
    let policy = Policy {
        identities: vec![identity(TSA_ISSUER, "")],
        trusted_root: Some(tsa_root()),
        ..Policy::default()
    };
    let e = Evidence::Bundle {
        json: read("tsa/bundle.txt.sigstore"),
    };
    let v = verify(&e, &[digest_of("tsa/bundle.txt")], &policy, audit_time()).unwrap();
    let ts = v.timestamp.expect("a verified timestamp");
    assert_eq!(ts.authority, "CN=Test TSA Timestamping,O=local");
    // The trust config's own authority (another certificate) did not sign it.
    let config: serde_json::Value = serde_json::from_slice(&read("tsa/trust_config.json")).unwrap();
    let policy = Policy {
        trusted_root: Some(TrustedRoot::from_json(config["trustedRoot"].to_string().as_bytes()).unwrap()),
        ..policy
    };
    let r = verify(&e, &[digest_of("tsa/bundle.txt")], &policy, audit_time()).unwrap_err();
    assert!(matches!(r, Rejected::Timestamp(_)), "{r}");
}

const TSA_ISSUER: &str = "https://accounts.google.com";
