//! A Rekor-style log: entries appended to an RFC 6962 Merkle tree, each given a signed entry
//! timestamp, an inclusion proof and a signed checkpoint, as the log returns them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::EncodePublicKey;
use rand_core::OsRng;
use sha2::{Digest, Sha256};

use super::keys::KeyPair;
use crate::rekor::{Entry, leaf_hash, node_hash, set_payload};

/// A log with a P-256 key, holding the leaf hashes of its entries.
pub struct RekorLog {
    key: p256::ecdsa::SigningKey,
    leaves: Vec<[u8; 32]>,
}

/// An entry as the log returned it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub log_index: i64,
    pub log_id: [u8; 32],
    pub set: Vec<u8>,
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub hashes: Vec<[u8; 32]>,
    pub checkpoint: String,
}

impl Default for RekorLog {
    fn default() -> Self {
        Self::new()
    }
}

impl RekorLog {
    pub fn new() -> Self {
        RekorLog {
            key: p256::ecdsa::SigningKey::random(&mut OsRng),
            leaves: Vec::new(),
        }
    }

    pub fn public_key_der(&self) -> Vec<u8> {
        let der = self.key.verifying_key().to_public_key_der().expect("SPKI");
        der.as_bytes().to_vec()
    }

    /// SHA-256 of the log's key.
    pub fn log_id(&self) -> [u8; 32] {
        Sha256::digest(self.public_key_der()).into()
    }

    /// Appends `body` (a canonicalized entry) integrated at `integrated_time` (Unix seconds).
    /// Earlier entries' proofs stay valid for the tree size they name.
    pub fn append(&mut self, body: Vec<u8>, integrated_time: i64) -> LogEntry {
        self.leaves.push(leaf_hash(&body));
        let index = self.leaves.len() - 1;
        let log_index = i64::try_from(index).unwrap_or(i64::MAX);
        let log_id = self.log_id();
        let set = KeyPair::P256(self.key.clone()).sign(&set_payload(&Entry {
            body: body.clone(),
            integrated_time,
            log_index,
            log_id: log_id.to_vec(),
            set: None,
            proof: None,
        }));
        let root_hash = mth(&self.leaves);
        let tree_size = self.leaves.len() as u64;
        LogEntry {
            body,
            integrated_time,
            log_index,
            log_id,
            set,
            tree_size,
            root_hash,
            hashes: path(index, &self.leaves),
            checkpoint: self.checkpoint(tree_size, &root_hash),
        }
    }

    /// A signed note over (origin, size, root hash), signed by the log's key.
    fn checkpoint(&self, size: u64, root: &[u8; 32]) -> String {
        let origin = "rekor.driftwatch.test - 1";
        let body = format!("{origin}\n{size}\n{}\n", STANDARD.encode(root));
        let mut sig = self.log_id()[..4].to_vec();
        sig.extend(KeyPair::P256(self.key.clone()).sign(body.as_bytes()));
        format!("{body}\n\u{2014} rekor.driftwatch.test {}\n", STANDARD.encode(sig))
    }
}

/// RFC 6962 Merkle tree hash.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n`.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 audit path of leaf `m`.
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

impl LogEntry {
    /// cosign's `dev.sigstore.cosign/bundle` annotation for this entry.
    pub fn cosign_bundle_annotation(&self) -> String {
        serde_json::json!({
            "SignedEntryTimestamp": STANDARD.encode(&self.set),
            "Payload": {
                "body": STANDARD.encode(&self.body),
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": hex::encode(self.log_id),
            }
        })
        .to_string()
    }

    /// The entry as a bundle's `tlogEntries[]` member (`kind`: hashedrekord or dsse), with the
    /// signed entry timestamp and/or the inclusion proof.
    pub fn bundle_json(&self, kind: &str, with_set: bool, with_proof: bool) -> serde_json::Value {
        let mut v = serde_json::json!({
            "logIndex": self.log_index.to_string(),
            "logId": {"keyId": STANDARD.encode(self.log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": self.integrated_time.to_string(),
            "canonicalizedBody": STANDARD.encode(&self.body),
        });
        if with_set {
            v["inclusionPromise"] = serde_json::json!({"signedEntryTimestamp": STANDARD.encode(&self.set)});
        }
        if with_proof {
            v["inclusionProof"] = serde_json::json!({
                "logIndex": self.log_index.to_string(),
                "rootHash": STANDARD.encode(self.root_hash),
                "treeSize": self.tree_size.to_string(),
                "hashes": self.hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": self.checkpoint},
            });
        }
        v
    }
}

/// A `hashedrekord` v0.0.1 body: the SHA-256 of the signed bytes, the signature, and the
/// verifier (certificate or public key PEM).
pub fn hashedrekord_body(digest: &[u8], signature: &[u8], verifier_pem: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(digest)}},
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": {"content": STANDARD.encode(verifier_pem)}
            }
        }
    });
    serde_json::to_vec(&v).expect("JSON")
}

/// A `dsse` v0.0.1 body: hashes of the envelope and payload, the signature and verifier.
pub fn dsse_body(envelope: &[u8], payload: &[u8], signature: &[u8], verifier_pem: &str) -> Vec<u8> {
    let v = serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope))},
            "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))},
            "signatures": [{
                "signature": STANDARD.encode(signature),
                "verifier": STANDARD.encode(verifier_pem)
            }]
        }
    });
    serde_json::to_vec(&v).expect("JSON")
}
