//! The `trusted_root.json` naming a test CA, CT log, Rekor log and timestamping authorities.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::Encode;

use super::ca::Ca;
use super::rekor::RekorLog;
use super::tsa::Tsa;

/// A `trusted_root.json` trusting `ca` (Fulcio and CT log) and `log` (Rekor), since 2020.
pub fn trusted_root(ca: &Ca, log: &RekorLog) -> Vec<u8> {
    trusted_root_with(ca, log, &[])
}

/// Like [`trusted_root`], with timestamping authorities.
pub fn trusted_root_with_tsa(ca: &Ca, log: &RekorLog, tsa: &Tsa) -> Vec<u8> {
    trusted_root_with(ca, log, &[tsa.root_entry()])
}

fn trusted_root_with(ca: &Ca, log: &RekorLog, tsas: &[serde_json::Value]) -> Vec<u8> {
    let b64 = |b: &[u8]| STANDARD.encode(b);
    let key = |der: Vec<u8>| {
        serde_json::json!({
            "rawBytes": b64(&der),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": "2020-01-01T00:00:00Z"}
        })
    };
    let chain: Vec<_> = [&ca.intermediate, &ca.root]
        .iter()
        .map(|c| serde_json::json!({"rawBytes": b64(&c.to_der().expect("DER"))}))
        .collect();
    let root = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.driftwatch.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": key(log.public_key_der()),
            "logId": {"keyId": b64(&log.log_id())}
        }],
        "certificateAuthorities": [{
            "subject": {"organization": "driftwatch.test", "commonName": "sigstore"},
            "uri": "https://fulcio.driftwatch.test",
            "certChain": {"certificates": chain},
            "validFor": {"start": "2020-01-01T00:00:00Z"}
        }],
        "ctlogs": [{
            "baseUrl": "https://ctfe.driftwatch.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": key(ca.ct_key_der()),
            "logId": {"keyId": b64(&ca.ct_log_id())}
        }],
        "timestampAuthorities": tsas
    });
    serde_json::to_vec_pretty(&root).expect("JSON")
}
