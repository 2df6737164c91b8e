//! Rekor entries verified offline: the signed entry timestamp (the log's signature over the
//! canonical JSON of body, integrated time, log id and index), the RFC 6962 inclusion proof up
//! to a signed checkpoint (a signed note), and that the entry's body is this signature's.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Rejected;
use crate::evidence::{TlogEntry, TlogProof};
use crate::time::from_unix;
use crate::trusted_root::{TransparencyLog, TrustedRoot};

/// A Rekor entry as a bundle or cosign's bundle annotation carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The canonicalized body (JSON: kind, apiVersion, spec).
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub log_index: i64,
    pub log_id: Vec<u8>,
    /// The signed entry timestamp (inclusion promise).
    pub set: Option<Vec<u8>>,
    pub proof: Option<InclusionProof>,
}

/// An RFC 6962 inclusion proof and the checkpoint (signed note) it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InclusionProof {
    pub log_index: u64,
    pub tree_size: u64,
    pub root_hash: Vec<u8>,
    pub hashes: Vec<Vec<u8>>,
    pub checkpoint: String,
}

/// What the entry's body must say to be this signature's entry.
#[derive(Debug, Clone)]
pub(crate) enum Binding<'a> {
    /// `hashedrekord`: the hash of the signed bytes and the signature.
    HashedRekord { digest: &'a [u8], signature: &'a [u8] },
    /// `dsse` or `intoto`: the hash of the envelope's payload and one of its signatures.
    Dsse { payload: &'a [u8], signature: &'a [u8] },
}

/// Verifies `entry` against the trusted root's Rekor logs: its SET and/or inclusion proof (at
/// least one), and that its body is `binding`'s.
pub(crate) fn verify(entry: &Entry, root: &TrustedRoot, binding: &Binding<'_>) -> Result<TlogEntry, Rejected> {
    let log = root
        .tlog(&entry.log_id)
        .ok_or_else(|| Rejected::Tlog(format!("log {} is not in the trusted root", hex::encode(&entry.log_id))))?;
    let integrated_time =
        from_unix(entry.integrated_time).ok_or_else(|| Rejected::Tlog("negative integrated time".into()))?;
    if !log.valid.contains(integrated_time) {
        return Err(Rejected::Tlog(format!(
            "the key of log {} was not trusted at the entry's time",
            log.base_url
        )));
    }
    check_body(&entry.body, binding)?;
    let proof = match (&entry.set, &entry.proof) {
        (None, None) => {
            return Err(Rejected::Tlog(
                "neither a signed entry timestamp nor an inclusion proof".into(),
            ));
        }
        (Some(set), None) => {
            verify_set(entry, set, log)?;
            TlogProof::Set
        }
        (None, Some(p)) => {
            verify_inclusion(entry, p, root)?;
            TlogProof::InclusionProof
        }
        (Some(set), Some(p)) => {
            verify_set(entry, set, log)?;
            verify_inclusion(entry, p, root)?;
            TlogProof::Both
        }
    };
    Ok(TlogEntry {
        log_index: u64::try_from(entry.log_index).unwrap_or_default(),
        log_id: hex::encode(&entry.log_id),
        integrated_time,
        proof,
    })
}

/// The bytes a signed entry timestamp signs: canonical JSON (sorted keys, no spaces).
pub(crate) fn set_payload(entry: &Entry) -> Vec<u8> {
    let v = serde_json::json!({
        "body": STANDARD.encode(&entry.body),
        "integratedTime": entry.integrated_time,
        "logID": hex::encode(&entry.log_id),
        "logIndex": entry.log_index,
    });
    // serde_json's map is a BTreeMap (no preserve_order feature): keys come out sorted.
    serde_json::to_vec(&v).unwrap_or_default()
}

fn verify_set(entry: &Entry, set: &[u8], log: &TransparencyLog) -> Result<(), Rejected> {
    log.key.verify(&set_payload(entry), set).map_err(|_| {
        Rejected::Tlog(format!(
            "the signed entry timestamp of entry {} does not verify with the key of log {}",
            entry.log_index, log.base_url
        ))
    })
}

/// RFC 6962 leaf hash.
pub(crate) fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

/// RFC 6962 interior node hash.
pub(crate) fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn verify_inclusion(entry: &Entry, p: &InclusionProof, root: &TrustedRoot) -> Result<(), Rejected> {
    let computed = root_from_proof(p.log_index, p.tree_size, &leaf_hash(&entry.body), &p.hashes)
        .map_err(|e| Rejected::Tlog(e.to_string()))?;
    if computed[..] != p.root_hash[..] {
        return Err(Rejected::Tlog(format!(
            "the inclusion proof of entry {} does not lead to the root hash it names",
            p.log_index
        )));
    }
    let note = verify_checkpoint(&p.checkpoint, root)?;
    if note.size != p.tree_size || note.root_hash != p.root_hash {
        return Err(Rejected::Tlog(
            "the checkpoint signs another tree than the inclusion proof's".into(),
        ));
    }
    Ok(())
}

/// Why an inclusion proof has the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProofError {
    #[error("the inclusion proof's index {index} is outside a tree of {size} entries")]
    Outside { index: u64, size: u64 },
    #[error("the inclusion proof has more hashes than the tree needs")]
    TooMany,
    #[error("the inclusion proof has fewer hashes than the tree needs")]
    TooFew,
}

/// RFC 9162 §2.1.3.2: the root hash an inclusion proof leads to.
pub(crate) fn root_from_proof(
    index: u64,
    size: u64,
    leaf: &[u8; 32],
    hashes: &[Vec<u8>],
) -> Result<[u8; 32], ProofError> {
    if index >= size {
        return Err(ProofError::Outside { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in hashes {
        if snode == 0 {
            return Err(ProofError::TooMany);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::TooFew);
    }
    Ok(r)
}

/// A checkpoint's signed content.
struct Checkpoint {
    size: u64,
    root_hash: Vec<u8>,
}

/// Verifies a checkpoint (a signed note: origin, size, base64 root hash, optional lines, a blank
/// line, then `— <name> <base64(key hint ‖ signature)>` lines) with a Rekor key of the root.
fn verify_checkpoint(note: &str, root: &TrustedRoot) -> Result<Checkpoint, Rejected> {
    let bad = |why: &str| Rejected::Tlog(format!("checkpoint: {why}"));
    let (body, sigs) = note
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line before the signatures"))?;
    let text = format!("{body}\n");
    let verified = sigs.lines().filter_map(|l| l.strip_prefix("\u{2014} ")).any(|line| {
        let Some((_, sig_b64)) = line.rsplit_once(' ') else {
            return false;
        };
        let Ok(raw) = STANDARD.decode(sig_b64) else {
            return false;
        };
        raw.len() > 4
            && root
                .tlogs
                .iter()
                .any(|log| log.key.verify(text.as_bytes(), &raw[4..]).is_ok())
    });
    if !verified {
        return Err(bad("no signature by a Rekor log of the trusted root"));
    }
    let mut lines = body.lines();
    let _origin = lines.next();
    let size = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| bad("no tree size"))?;
    let root_hash = lines
        .next()
        .and_then(|l| STANDARD.decode(l).ok())
        .ok_or_else(|| bad("no root hash"))?;
    Ok(Checkpoint { size, root_hash })
}

/// Checks that the entry's body is about this signature (else any entry of the log would do).
fn check_body(body: &[u8], binding: &Binding<'_>) -> Result<(), Rejected> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Rejected::Tlog(format!("the entry's body is not JSON: {e}")))?;
    let kind = v["kind"].as_str().unwrap_or_default();
    let spec = &v["spec"];
    let ok = match (kind, binding) {
        ("hashedrekord", Binding::HashedRekord { digest, signature }) => {
            hex_eq(&spec["data"]["hash"]["value"], digest) && b64_eq(&spec["signature"]["content"], signature)
        }
        ("dsse", Binding::Dsse { payload, signature }) => {
            hex_eq(&spec["payloadHash"]["value"], &Sha256::digest(payload))
                && spec["signatures"]
                    .as_array()
                    .is_some_and(|sigs| sigs.iter().any(|s| b64_eq(&s["signature"], signature)))
        }
        ("intoto", Binding::Dsse { payload, .. }) => {
            hex_eq(&spec["content"]["payloadHash"]["value"], &Sha256::digest(payload))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Rejected::Tlog(format!(
            "the log entry ({}) is for another signature or payload",
            if kind.is_empty() { "no kind" } else { kind }
        )))
    }
}

fn hex_eq(v: &Value, bytes: &[u8]) -> bool {
    v.as_str().and_then(|s| hex::decode(s).ok()).is_some_and(|d| d == bytes)
}

fn b64_eq(v: &Value, bytes: &[u8]) -> bool {
    v.as_str()
        .and_then(|s| STANDARD.decode(s).ok())
        .is_some_and(|d| d == bytes)
}

/// The integrated time as a proof of signing time, if the SET covers it.
pub(crate) fn proven_time(entry: &TlogEntry) -> Option<SystemTime> {
    entry.proof.proves_time().then_some(entry.integrated_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
    }

    /// RFC 6962 §2.1: the tree hash and the audit path, written from the definition.
    fn mth(l: &[[u8; 32]]) -> [u8; 32] {
        if l.len() == 1 {
            return l[0];
        }
        let k = l.len().next_power_of_two() / 2;
        node_hash(&mth(&l[..k]), &mth(&l[k..]))
    }

    fn path(m: usize, l: &[[u8; 32]]) -> Vec<Vec<u8>> {
        if l.len() <= 1 {
            return Vec::new();
        }
        let k = l.len().next_power_of_two() / 2;
        let (mut p, sibling) = if m < k {
            (path(m, &l[..k]), mth(&l[k..]))
        } else {
            (path(m - k, &l[k..]), mth(&l[..k]))
        };
        p.push(sibling.to_vec());
        p
    }

    #[test]
    fn every_leaf_of_trees_of_every_size_up_to_33_proves_its_inclusion() {
        for n in 1..=33usize {
            let l = leaves(n);
            let root = mth(&l);
            for (m, leaf) in l.iter().enumerate() {
                let got = root_from_proof(m as u64, n as u64, leaf, &path(m, &l)).unwrap();
                assert_eq!(got, root, "leaf {m} of {n}");
            }
        }
    }

    #[test]
    fn a_proof_of_the_wrong_shape_is_refused() {
        let l = leaves(5);
        let p = path(2, &l);
        assert_eq!(
            root_from_proof(5, 5, &l[0], &p),
            Err(ProofError::Outside { index: 5, size: 5 })
        );
        assert_eq!(root_from_proof(2, 5, &l[2], &p[..1]), Err(ProofError::TooFew));
        let mut long = p.clone();
        long.push(vec![0; 32]);
        assert_eq!(root_from_proof(2, 5, &l[2], &long), Err(ProofError::TooMany));
        // The right shape with another leaf leads elsewhere.
        assert_ne!(root_from_proof(2, 5, &l[3], &p).unwrap(), mth(&l));
    }

    #[test]
    fn the_set_payload_is_canonical_json() {
        let e = Entry {
            body: b"{}".to_vec(),
            integrated_time: 1_700_000_000,
            log_index: 42,
            log_id: vec![0xab, 0xcd],
            set: None,
            proof: None,
        };
        assert_eq!(
            String::from_utf8(set_payload(&e)).unwrap(),
            r#"{"body":"e30=","integratedTime":1700000000,"logID":"abcd","logIndex":42}"#
        );
    }
}
