//! What a verification costs (for the README's benchmark figures): run in release,
//! `cargo test -p signatures --release --test it cost -- --ignored --nocapture`.

use std::time::Instant;

use signatures::testing::{BundleSigner, BundleVersion, Ca, KeyPair, RekorLog, make_bundle, sign_simple_signing};
use signatures::{Evidence, verify};

use crate::common::*;

#[test]
#[ignore = "a measurement: run it in release"]
fn verifying_1000_pieces_of_evidence() {
    let n = 1_000;
    let key = KeyPair::p256();
    let signed = sign_simple_signing(&key, REFERENCE, &platform());
    let policy = key_policy(vec![key.public_key()]);
    let start = Instant::now();
    for _ in 0..n {
        verify(&signed, &subjects(), &policy, audit_time()).unwrap();
    }
    let key_based = start.elapsed();
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let cert = ca.issue(ISSUER, SUBJECT, t0());
    let json = make_bundle(
        BundleSigner::Keyless(&cert),
        BundleVersion::V03,
        &platform(),
        Some((&mut log, signed_at())),
    );
    let bundle = Evidence::Bundle { json };
    let policy = keyless_policy(&ca, &log);
    let start = Instant::now();
    for _ in 0..n {
        verify(&bundle, &subjects(), &policy, audit_time()).unwrap();
    }
    let keyless = start.elapsed();
    eprintln!(
        "{n} key-based .sig layers: {key_based:?}; {n} keyless v0.3 bundles (chain, SET, inclusion proof, checkpoint, SCT): {keyless:?}"
    );
}
