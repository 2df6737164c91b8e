//! cosign's tag scheme: the simple-signing payload (`critical.image.docker-manifest-digest`)
//! and the layer annotations (signature, certificate, chain, Rekor bundle, RFC 3161 timestamp).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::Rejected;
use crate::fulcio::{Leaf, pem_der};
use crate::rekor::Entry;

pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";
pub const TIMESTAMP: &str = "dev.sigstore.cosign/timestamp";

/// The digest a simple-signing payload signs (`critical.image.docker-manifest-digest`).
pub(crate) fn payload_digest(payload: &[u8]) -> Result<String, Rejected> {
    #[derive(Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(Deserialize)]
    struct Critical {
        image: Image,
    }
    #[derive(Deserialize)]
    struct Image {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    let p: Payload = serde_json::from_slice(payload).map_err(|e| {
        Rejected::malformed(format!(
            "simple-signing payload (critical.image.docker-manifest-digest): {e}"
        ))
    })?;
    Ok(p.critical.image.digest)
}

/// A tag-scheme layer's annotations, read.
#[derive(Debug)]
pub(crate) struct Annotations {
    /// The signature (absent on `.att` layers: the DSSE envelope carries it).
    pub signature: Option<Vec<u8>>,
    pub certificate: Option<Leaf>,
    pub tlog: Option<Entry>,
    /// An RFC 3161 timestamp over the signature (DER).
    pub timestamp: Option<Vec<u8>>,
}

pub(crate) fn annotations(map: &BTreeMap<String, String>) -> Result<Annotations, Rejected> {
    let signature = match map.get(SIGNATURE) {
        Some(s) => Some(
            STANDARD
                .decode(s.trim())
                .map_err(|_| Rejected::malformed(format!("{SIGNATURE}: not base64")))?,
        ),
        None => None,
    };
    let certificate = match map.get(CERTIFICATE).filter(|c| !c.trim().is_empty()) {
        Some(pem) => Some(Leaf::from_der(&pem_der(pem, "CERTIFICATE")?)?),
        None => None,
    };
    let tlog = match map.get(BUNDLE) {
        Some(json) => Some(legacy_bundle(json)?),
        None => None,
    };
    let timestamp = match map.get(TIMESTAMP) {
        Some(json) => Some(timestamp_annotation(json)?),
        None => None,
    };
    Ok(Annotations {
        signature,
        certificate,
        tlog,
        timestamp,
    })
}

/// cosign's `dev.sigstore.cosign/bundle`: `{"SignedEntryTimestamp": b64, "Payload": {"body":
/// b64, "integratedTime": n, "logIndex": n, "logID": hex}}`.
fn legacy_bundle(json: &str) -> Result<Entry, Rejected> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Raw {
        signed_entry_timestamp: String,
        payload: RawPayload,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RawPayload {
        body: String,
        integrated_time: i64,
        log_index: i64,
        #[serde(rename = "logID")]
        log_id: String,
    }
    let bad = |why: String| Rejected::malformed(format!("{BUNDLE}: {why}"));
    let raw: Raw = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    Ok(Entry {
        body: STANDARD
            .decode(&raw.payload.body)
            .map_err(|_| bad("Payload.body is not base64".into()))?,
        integrated_time: raw.payload.integrated_time,
        log_index: raw.payload.log_index,
        log_id: hex::decode(&raw.payload.log_id).map_err(|_| bad("Payload.logID is not hex".into()))?,
        set: Some(
            STANDARD
                .decode(&raw.signed_entry_timestamp)
                .map_err(|_| bad("SignedEntryTimestamp is not base64".into()))?,
        ),
        proof: None,
    })
}

/// cosign's `dev.sigstore.cosign/timestamp`: `{"SignedRFC3161Timestamp": b64}`.
fn timestamp_annotation(json: &str) -> Result<Vec<u8>, Rejected> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(rename = "SignedRFC3161Timestamp")]
        signed: String,
    }
    let bad = |why: String| Rejected::malformed(format!("{TIMESTAMP}: {why}"));
    let raw: Raw = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    STANDARD
        .decode(raw.signed.trim())
        .map_err(|_| bad("SignedRFC3161Timestamp is not base64".into()))
}
