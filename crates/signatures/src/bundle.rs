//! Sigstore bundles v0.1, v0.2 and v0.3 (`application/vnd.dev.sigstore.bundle…`): the
//! verification material (certificate, chain or public-key hint; Rekor entries; timestamps)
//! and the content (a message signature or a DSSE envelope).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;

use crate::dsse::{Envelope, RawEnvelope};
use crate::error::Rejected;
use crate::fulcio::Leaf;
use crate::keys::HashAlg;
use crate::rekor::{Entry, InclusionProof};

/// A bundle, read.
#[derive(Debug)]
pub(crate) struct Bundle {
    /// The signing certificate (keyless), or `None` (key-based: every key of the policy is
    /// tried; the `publicKey.hint` is the signer's word only).
    pub certificate: Option<Leaf>,
    pub tlog_entries: Vec<Entry>,
    /// RFC 3161 timestamps (DER), over the signature.
    pub timestamps: Vec<Vec<u8>>,
    pub content: Content,
}

/// What the bundle signs.
#[derive(Debug)]
pub(crate) enum Content {
    /// A signature over an artifact known by its digest (for an image: its manifest).
    Message {
        alg: HashAlg,
        digest: Vec<u8>,
        signature: Vec<u8>,
    },
    Dsse(Envelope),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    media_type: String,
    verification_material: RawMaterial,
    message_signature: Option<RawMessage>,
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    x509_certificate_chain: Option<RawChain>,
    certificate: Option<RawBytes>,
    #[serde(default)]
    tlog_entries: Vec<RawEntry>,
    timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamps {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    message_digest: RawDigest,
    signature: String,
}

#[derive(Deserialize)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    log_index: Value,
    log_id: RawLogId,
    integrated_time: Option<Value>,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: Value,
    root_hash: String,
    tree_size: Value,
    #[serde(default)]
    hashes: Vec<String>,
    /// Absent in early v0.1 bundles: such a proof leads to a root hash nobody signed, so it is
    /// ignored (the signed entry timestamp must then verify the entry).
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

fn bad(why: impl std::fmt::Display) -> Rejected {
    Rejected::malformed(format!("bundle: {why}"))
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, Rejected> {
    STANDARD
        .decode(s.trim())
        .map_err(|_| bad(format!("{what} is not base64")))
}

/// protobuf's JSON writes int64 as a string; accept a number too.
fn int(v: &Value, what: &str) -> Result<i64, Rejected> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| bad(format!("{what} is not an integer")))
}

impl Bundle {
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, Rejected> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(bad)?;
        if !raw.media_type.starts_with("application/vnd.dev.sigstore.bundle") {
            return Err(bad(format!("unknown media type {:?}", raw.media_type)));
        }
        let material = raw.verification_material;
        let certificate = match (&material.certificate, &material.x509_certificate_chain) {
            (Some(c), _) => Some(Leaf::from_der(&b64(&c.raw_bytes, "certificate")?)?),
            (None, Some(chain)) => {
                let first = chain
                    .certificates
                    .first()
                    .ok_or_else(|| bad("empty x509CertificateChain"))?;
                Some(Leaf::from_der(&b64(&first.raw_bytes, "certificate")?)?)
            }
            (None, None) => None,
        };
        let tlog_entries = material.tlog_entries.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        let timestamps = match &material.timestamp_verification_data {
            Some(t) => t
                .rfc3161_timestamps
                .iter()
                .map(|t| b64(&t.signed_timestamp, "signedTimestamp"))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(m), None) => message(&m)?,
            (None, Some(e)) => Content::Dsse(Envelope::from_raw(e)?),
            _ => return Err(bad("needs exactly one of messageSignature and dsseEnvelope")),
        };
        Ok(Bundle {
            certificate,
            tlog_entries,
            timestamps,
            content,
        })
    }
}

fn message(m: &RawMessage) -> Result<Content, Rejected> {
    let alg = match m.message_digest.algorithm.as_str() {
        "SHA2_256" => HashAlg::Sha256,
        "SHA2_384" => HashAlg::Sha384,
        "SHA2_512" => HashAlg::Sha512,
        other => return Err(bad(format!("unsupported message digest algorithm {other}"))),
    };
    Ok(Content::Message {
        alg,
        digest: b64(&m.message_digest.digest, "messageDigest.digest")?,
        signature: b64(&m.signature, "messageSignature.signature")?,
    })
}

fn entry(raw: &RawEntry) -> Result<Entry, Rejected> {
    let proof = match &raw.inclusion_proof {
        None => None,
        Some(RawProof { checkpoint: None, .. }) => None,
        Some(p) => Some(InclusionProof {
            log_index: u64::try_from(int(&p.log_index, "inclusionProof.logIndex")?)
                .map_err(|_| bad("negative inclusionProof.logIndex"))?,
            tree_size: u64::try_from(int(&p.tree_size, "inclusionProof.treeSize")?)
                .map_err(|_| bad("negative inclusionProof.treeSize"))?,
            root_hash: b64(&p.root_hash, "inclusionProof.rootHash")?,
            hashes: p
                .hashes
                .iter()
                .map(|h| b64(h, "inclusionProof.hashes"))
                .collect::<Result<_, _>>()?,
            checkpoint: p.checkpoint.as_ref().map(|c| c.envelope.clone()).unwrap_or_default(),
        }),
    };
    Ok(Entry {
        body: b64(&raw.canonicalized_body, "canonicalizedBody")?,
        integrated_time: match &raw.integrated_time {
            Some(v) => int(v, "integratedTime")?,
            None => 0,
        },
        log_index: int(&raw.log_index, "logIndex")?,
        log_id: b64(&raw.log_id.key_id, "logId.keyId")?,
        set: match &raw.inclusion_promise {
            Some(p) => Some(b64(&p.signed_entry_timestamp, "signedEntryTimestamp")?),
            None => None,
        },
        proof,
    })
}

/// `sha256:<hex>` (or sha384/sha512) for a digest of `alg`.
pub(crate) fn digest_string(alg: HashAlg, digest: &[u8]) -> String {
    let name = match alg {
        HashAlg::Sha256 => "sha256",
        HashAlg::Sha384 => "sha384",
        HashAlg::Sha512 => "sha512",
    };
    format!("{name}:{}", hex::encode(digest))
}
