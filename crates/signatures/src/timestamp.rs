//! RFC 3161 timestamps (a bundle's `timestampVerificationData`, cosign's
//! `dev.sigstore.cosign/timestamp`): a timestamping authority of the trusted root signed, at
//! its `genTime`, the hash of the signature.

use std::time::SystemTime;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_tsp::{TimeStampResp, TstInfo};

use crate::error::Rejected;
use crate::evidence::Timestamp;
use crate::keys::{HashAlg, PublicKey};
use crate::trusted_root::TrustedRoot;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

fn bad(why: impl std::fmt::Display) -> Rejected {
    Rejected::Timestamp(why.to_string())
}

/// Verifies a timestamp (a DER `TimeStampResp`, or the token alone) over `signature` with the
/// root's timestamping authorities.
pub(crate) fn verify(token: &[u8], signature: &[u8], root: &TrustedRoot) -> Result<Timestamp, Rejected> {
    let info = match TimeStampResp::from_der(token) {
        Ok(resp) => resp
            .time_stamp_token
            .ok_or_else(|| bad("the timestamp response holds no token"))?,
        Err(_) => ContentInfo::from_der(token).map_err(|e| bad(format!("not an RFC 3161 timestamp: {e}")))?,
    };
    if info.content_type != ID_SIGNED_DATA {
        return Err(bad("the timestamp token is not CMS SignedData"));
    }
    let signed: SignedData = info.content.decode_as().map_err(|e| bad(format!("SignedData: {e}")))?;
    let econtent = tst_bytes(&signed)?;
    let tst = TstInfo::from_der(&econtent).map_err(|e| bad(format!("TSTInfo: {e}")))?;
    let imprint_alg = digest_alg(&tst.message_imprint.hash_algorithm.oid)?;
    if hash(imprint_alg, signature) != tst.message_imprint.hashed_message.as_bytes() {
        return Err(bad("the timestamp is for another signature"));
    }
    let time = tst.gen_time.to_system_time();
    let signer = signed
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| bad("the timestamp has no signer"))?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("the timestamp's signer has no signed attributes"))?;
    let alg = digest_alg(&signer.digest_alg.oid)?;
    check_attributes(attrs, alg, &econtent)?;
    let signed_bytes = attrs.to_der().map_err(bad)?;
    // The signature's own hash (ecdsa-with-SHA384 …) can differ from the digest algorithm.
    let sig_alg = signature_hash(&signer.signature_algorithm.oid).unwrap_or(alg);
    authority(root, time, sig_alg, &signed_bytes, signer.signature.as_bytes())
}

/// The TSTInfo bytes (the encapsulated content, an OCTET STRING).
fn tst_bytes(signed: &SignedData) -> Result<Vec<u8>, Rejected> {
    let encap = &signed.encap_content_info;
    if encap.econtent_type != ID_CT_TST_INFO {
        return Err(bad("the timestamp token does not hold a TSTInfo"));
    }
    let any = encap
        .econtent
        .as_ref()
        .ok_or_else(|| bad("the timestamp token is detached"))?;
    let octets: OctetString = any.decode_as().map_err(|e| bad(format!("TSTInfo: {e}")))?;
    Ok(octets.as_bytes().to_vec())
}

/// The signed attributes must name TSTInfo as the content type and carry its digest.
fn check_attributes(attrs: &cms::signed_data::SignedAttributes, alg: HashAlg, econtent: &[u8]) -> Result<(), Rejected> {
    let value = |oid: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
            .ok_or_else(|| bad(format!("the timestamp's signed attributes lack {oid}")))
    };
    let content_type: ObjectIdentifier = value(ID_CONTENT_TYPE)?.decode_as().map_err(bad)?;
    let digest: OctetString = value(ID_MESSAGE_DIGEST)?.decode_as().map_err(bad)?;
    if content_type != ID_CT_TST_INFO || digest.as_bytes() != hash(alg, econtent) {
        return Err(bad("the timestamp's signed attributes do not match its TSTInfo"));
    }
    Ok(())
}

/// The first timestamping authority of the root, trusted at `time`, whose leaf certificate
/// (valid at `time`) verifies the signature.
fn authority(
    root: &TrustedRoot,
    time: SystemTime,
    alg: HashAlg,
    signed: &[u8],
    sig: &[u8],
) -> Result<Timestamp, Rejected> {
    for tsa in root.timestamp_authorities.iter().filter(|t| t.valid.contains(time)) {
        let Some(leaf) = tsa.chain.first() else { continue };
        let v = &leaf.tbs_certificate.validity;
        if time < v.not_before.to_system_time() || time > v.not_after.to_system_time() {
            continue;
        }
        let Ok(spki) = leaf.tbs_certificate.subject_public_key_info.to_der() else {
            continue;
        };
        let Ok(key) = PublicKey::from_spki_der(&spki) else {
            continue;
        };
        if key.verify_with(alg, signed, sig).is_ok() {
            return Ok(Timestamp {
                time,
                authority: leaf.tbs_certificate.subject.to_string(),
            });
        }
    }
    Err(bad(
        "not signed by a timestamping authority of the trusted root valid at its time",
    ))
}

fn signature_hash(oid: &ObjectIdentifier) -> Option<HashAlg> {
    use const_oid::db::rfc5912;
    match *oid {
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::SHA_256_WITH_RSA_ENCRYPTION => Some(HashAlg::Sha256),
        rfc5912::ECDSA_WITH_SHA_384 | rfc5912::SHA_384_WITH_RSA_ENCRYPTION => Some(HashAlg::Sha384),
        rfc5912::ECDSA_WITH_SHA_512 | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => Some(HashAlg::Sha512),
        _ => None,
    }
}

fn digest_alg(oid: &ObjectIdentifier) -> Result<HashAlg, Rejected> {
    match oid.to_string().as_str() {
        "2.16.840.1.101.3.4.2.1" => Ok(HashAlg::Sha256),
        "2.16.840.1.101.3.4.2.2" => Ok(HashAlg::Sha384),
        "2.16.840.1.101.3.4.2.3" => Ok(HashAlg::Sha512),
        other => Err(bad(format!("unsupported digest algorithm {other}"))),
    }
}

pub(crate) fn hash(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlg::Sha256 => Sha256::digest(data).to_vec(),
        HashAlg::Sha384 => Sha384::digest(data).to_vec(),
        HashAlg::Sha512 => Sha512::digest(data).to_vec(),
    }
}
