//! Bad input: a clear error naming what is wrong, never a panic (hostile nesting included).

use std::collections::BTreeMap;

use signatures::testing::{Ca, KeyPair, RekorLog};
use signatures::{Class, Evidence, PublicKey, Rejected, TrustedRoot, annotations, verify};

use crate::common::*;

fn layer(payload: &[u8], pairs: &[(&str, &str)]) -> Evidence {
    Evidence::SimpleSigning {
        payload: payload.to_vec(),
        annotations: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn deep(n: usize) -> Vec<u8> {
    let mut v = "[".repeat(n).into_bytes();
    v.extend("]".repeat(n).bytes());
    v
}

/// `prefix`, then 100,000 nested arrays, then the closing brace.
fn nested_in(prefix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend(deep(100_000));
    v.push(b'}');
    v
}

/// An in-toto statement whose predicate nests 200 levels deep (serde_json stops at 128).
fn deep_statement() -> serde_json::Value {
    let mut v = serde_json::json!(1);
    for _ in 0..200 {
        v = serde_json::json!([v]);
    }
    signatures::testing::in_toto_statement(&platform(), "https://slsa.dev/provenance/v1", v)
}

#[test]
// A flat table of cases, one per line once rustfmt has spread them.
#[allow(clippy::too_many_lines)]
fn each_malformed_input_is_rejected_with_what_is_wrong() {
    let key = KeyPair::p256();
    let policy = key_policy(vec![key.public_key()]);
    let sig_of = |p: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(key.sign(p))
    };
    let cases: Vec<(&str, Evidence, &str)> = vec![
        (
            "no signature annotation",
            layer(b"{}", &[]),
            "dev.cosignproject.cosign/signature",
        ),
        (
            "signature not base64",
            layer(b"{}", &[(annotations::SIGNATURE, "%%%")]),
            "not base64",
        ),
        (
            "payload not JSON, signed",
            layer(b"nope", &[(annotations::SIGNATURE, &sig_of(b"nope"))]),
            "simple-signing payload",
        ),
        (
            "payload without digest, signed",
            layer(
                b"{\"critical\":{}}",
                &[(annotations::SIGNATURE, &sig_of(b"{\"critical\":{}}"))],
            ),
            "simple-signing payload",
        ),
        (
            "certificate not PEM",
            layer(
                b"{}",
                &[(annotations::SIGNATURE, "AAAA"), (annotations::CERTIFICATE, "garbage")],
            ),
            "PEM",
        ),
        (
            "rekor bundle not JSON",
            layer(b"{}", &[(annotations::SIGNATURE, "AAAA"), (annotations::BUNDLE, "{")]),
            "dev.sigstore.cosign/bundle",
        ),
        (
            "attestation not JSON",
            Evidence::Attestation {
                envelope: b"[".to_vec(),
                annotations: BTreeMap::new(),
            },
            "DSSE envelope",
        ),
        (
            "bundle not JSON",
            Evidence::Bundle {
                json: b"\x00\xff".to_vec(),
            },
            "bundle",
        ),
        (
            "bundle of unknown media type",
            Evidence::Bundle {
                json: br#"{"mediaType":"x","verificationMaterial":{}}"#.to_vec(),
            },
            "unknown media type",
        ),
        (
            "bundle without content",
            Evidence::Bundle {
                json: br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#
                    .to_vec(),
            },
            "messageSignature",
        ),
        (
            "a bundle that is nested arrays",
            Evidence::Bundle { json: deep(100_000) },
            "bundle",
        ),
        (
            "hostile nesting inside a bundle",
            Evidence::Bundle {
                json: nested_in(br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","x":"#),
            },
            "verificationMaterial",
        ),
        (
            "hostile nesting in a payload",
            layer(&deep(100_000), &[(annotations::SIGNATURE, &sig_of(&deep(100_000)))]),
            "simple-signing payload",
        ),
        (
            "hostile nesting inside a payload",
            layer(
                &nested_in(br#"{"critical":"#),
                &[(annotations::SIGNATURE, &sig_of(&nested_in(br#"{"critical":"#)))],
            ),
            "simple-signing payload",
        ),
        (
            "hostile nesting in an envelope",
            Evidence::Attestation {
                envelope: deep(100_000),
                annotations: BTreeMap::new(),
            },
            "DSSE envelope",
        ),
        (
            "hostile nesting in a signed predicate",
            signatures::testing::attest(&key, &deep_statement()),
            "recursion limit",
        ),
    ];
    for (name, e, needle) in cases {
        let r = verify(&e, &subjects(), &policy, audit_time()).unwrap_err();
        assert!(matches!(r, Rejected::Malformed(_)), "{name}: {r:?}");
        assert_eq!(r.class(), Class::Invalid, "{name}");
        assert!(r.to_string().contains(needle), "{name}: {r}");
    }
}

#[test]
fn a_bad_public_key_says_what_it_found() {
    let cases = [
        ("", "PEM"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "DER"),
    ];
    for (pem, needle) in cases {
        let e = PublicKey::from_pem(pem).unwrap_err();
        assert!(e.to_string().contains(needle), "{pem:?}: {e}");
    }
    let k = KeyPair::p384().public_key();
    assert_eq!(k.algorithm(), "ECDSA P-384");
    assert!(k.fingerprint().starts_with("sha256:") && k.fingerprint().len() == 71);
}

#[test]
fn a_bad_trusted_root_names_the_entry() {
    let ca = Ca::new();
    let log = RekorLog::new();
    let good: serde_json::Value = serde_json::from_slice(&signatures::testing::trusted_root(&ca, &log)).unwrap();
    let mut bad_key = good.clone();
    bad_key["tlogs"][0]["publicKey"]["rawBytes"] = serde_json::json!("AAAA");
    let mut bad_time = good.clone();
    bad_time["certificateAuthorities"][0]["validFor"]["start"] = serde_json::json!("yesterday");
    let cases = [
        (b"not json".to_vec(), "not a Sigstore trusted root"),
        (b"{}".to_vec(), "no Fulcio certificate authority"),
        (deep(100_000), "not a Sigstore trusted root"),
        // serde_json skips unknown fields without recursing: no stack to exhaust.
        (nested_in(br#"{"tlogs":[],"x":"#), "no Fulcio certificate authority"),
        (
            bad_key.to_string().into_bytes(),
            "tlogs[0] (https://rekor.driftwatch.test)",
        ),
        (bad_time.to_string().into_bytes(), "not an RFC 3339 time: \"yesterday\""),
    ];
    for (json, needle) in cases {
        let e = TrustedRoot::from_json(&json).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
    let root = TrustedRoot::from_json(good.to_string().as_bytes()).unwrap();
    assert_eq!(root.counts(), (1, 1, 1, 0));
    assert!(root.digest().starts_with("sha256:"));
}
