//! Signed certificate timestamps embedded in a Fulcio certificate (RFC 6962 §3.2, extension
//! 1.3.6.1.4.1.11129.2.4.2), checked against the trusted root's CT log keys.

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::error::Rejected;
use crate::trusted_root::TrustedRoot;

pub const OID_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// One SCT, parsed from its TLS encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sct {
    pub log_id: Vec<u8>,
    pub timestamp: u64,
    pub extensions: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Checks that one SCT of `leaf` is signed by a CT log of the root. A root without CT logs
/// checks nothing (a private Sigstore without CT).
pub(crate) fn verify(leaf: &Certificate, issuer: &Certificate, root: &TrustedRoot) -> Result<(), Rejected> {
    if root.ctlogs.is_empty() {
        return Ok(());
    }
    let exts = leaf.tbs_certificate.extensions.as_deref().unwrap_or_default();
    let ext = exts
        .iter()
        .find(|e| e.extn_id == OID_SCT_LIST)
        .ok_or_else(|| Rejected::Sct("the certificate has no embedded SCT".into()))?;
    let list = der::asn1::OctetString::from_der(ext.extn_value.as_bytes())
        .map_err(|e| Rejected::Sct(format!("SCT list: {e}")))?;
    let scts = parse_list(list.as_bytes()).map_err(|e| Rejected::Sct(e.to_string()))?;
    let tbs = precert_tbs(leaf)?;
    let issuer_key_hash: [u8; 32] = Sha256::digest(
        issuer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Rejected::Sct(e.to_string()))?,
    )
    .into();
    let mut why = String::from("no SCT from a CT log of the trusted root");
    for sct in &scts {
        let Some(log) = root.ctlog(&sct.log_id) else {
            continue;
        };
        let data = signed_data(sct, &issuer_key_hash, &tbs);
        match log.key.verify(&data, &sct.signature) {
            Ok(()) => return Ok(()),
            Err(_) => why = format!("the SCT of {} does not verify", log.base_url),
        }
    }
    Err(Rejected::Sct(why))
}

/// The leaf's TBSCertificate without the SCT list: what the log signed.
pub(crate) fn precert_tbs(leaf: &Certificate) -> Result<Vec<u8>, Rejected> {
    let mut tbs = leaf.tbs_certificate.clone();
    if let Some(exts) = tbs.extensions.as_mut() {
        exts.retain(|e| e.extn_id != OID_SCT_LIST);
    }
    tbs.to_der().map_err(|e| Rejected::Sct(e.to_string()))
}

/// RFC 6962 §3.2's `digitally-signed` input for a precertificate entry.
pub(crate) fn signed_data(sct: &Sct, issuer_key_hash: &[u8; 32], tbs: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8, 0u8]; // v1, certificate_timestamp
    d.extend_from_slice(&sct.timestamp.to_be_bytes());
    d.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    d.extend_from_slice(issuer_key_hash);
    let len = u32::try_from(tbs.len()).unwrap_or(u32::MAX).to_be_bytes();
    d.extend_from_slice(&len[1..]);
    d.extend_from_slice(tbs);
    let ext_len = u16::try_from(sct.extensions.len()).unwrap_or(u16::MAX);
    d.extend_from_slice(&ext_len.to_be_bytes());
    d.extend_from_slice(&sct.extensions);
    d
}

/// Why an SCT list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SctFormatError {
    #[error("truncated SCT list")]
    Truncated,
    #[error("SCT version {0} is not v1")]
    Version(u8),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SctFormatError> {
        if self.0.len() < n {
            return Err(SctFormatError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<usize, SctFormatError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
}

/// A TLS `SignedCertificateTimestampList`.
pub(crate) fn parse_list(bytes: &[u8]) -> Result<Vec<Sct>, SctFormatError> {
    let mut r = Reader(bytes);
    let total = r.u16()?;
    let mut list = Reader(r.take(total)?);
    let mut out = Vec::new();
    while !list.0.is_empty() {
        let len = list.u16()?;
        out.push(parse_one(list.take(len)?)?);
    }
    Ok(out)
}

fn parse_one(bytes: &[u8]) -> Result<Sct, SctFormatError> {
    let mut r = Reader(bytes);
    let version = r.take(1)?[0];
    if version != 0 {
        return Err(SctFormatError::Version(version));
    }
    let log_id = r.take(32)?.to_vec();
    let ts = r.take(8)?;
    let timestamp = u64::from_be_bytes(ts.try_into().map_err(|_| SctFormatError::Truncated)?);
    let ext_len = r.u16()?;
    let extensions = r.take(ext_len)?.to_vec();
    let _algorithms = r.take(2)?;
    let sig_len = r.u16()?;
    let signature = r.take(sig_len)?.to_vec();
    Ok(Sct {
        log_id,
        timestamp,
        extensions,
        signature,
    })
}

/// Encodes SCTs as a TLS list (the test support embeds one).
#[cfg(feature = "test-support")]
pub fn encode_list(scts: &[(Vec<u8>, u64, Vec<u8>)]) -> Vec<u8> {
    let mut items = Vec::new();
    for (log_id, timestamp, signature) in scts {
        let mut one = vec![0u8];
        one.extend_from_slice(log_id);
        one.extend_from_slice(&timestamp.to_be_bytes());
        one.extend_from_slice(&0u16.to_be_bytes());
        one.extend_from_slice(&[4, 3]); // sha256, ecdsa
        one.extend_from_slice(&u16::try_from(signature.len()).unwrap_or(0).to_be_bytes());
        one.extend_from_slice(signature);
        items.extend_from_slice(&u16::try_from(one.len()).unwrap_or(0).to_be_bytes());
        items.extend_from_slice(&one);
    }
    let mut out = u16::try_from(items.len()).unwrap_or(0).to_be_bytes().to_vec();
    out.extend_from_slice(&items);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_unknown_scts_are_refused() {
        assert_eq!(parse_list(&[]), Err(SctFormatError::Truncated));
        assert_eq!(parse_list(&[0, 5, 0]), Err(SctFormatError::Truncated));
        assert_eq!(parse_list(&[0, 3, 0, 1, 7]), Err(SctFormatError::Version(7)));
        assert_eq!(parse_list(&[0, 0]), Ok(vec![]));
    }
}
