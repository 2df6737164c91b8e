//! Fulcio certificates: the chain up to a CA of the trusted root, and the OIDC identity a
//! certificate carries (issuer extensions 1.3.6.1.4.1.57264.1.8 and .1.1; subject from the SAN
//! URI or email).

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};

use crate::error::Rejected;
use crate::keys::{HashAlg, PublicKey};
use crate::trusted_root::TrustedRoot;

/// OIDC issuer, v1: the extension's value is the raw UTF-8 string.
pub const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// OIDC issuer, v2: the value is a DER UTF8String.
pub const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// A signing certificate, read: its key, identity and validity.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub cert: Certificate,
    pub key: PublicKey,
    pub issuer: String,
    pub subject: String,
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Leaf {
    /// Reads a signing certificate (DER).
    pub fn from_der(der: &[u8]) -> Result<Leaf, Rejected> {
        let cert = Certificate::from_der(der).map_err(|e| Rejected::malformed(format!("certificate: {e}")))?;
        Self::read(cert)
    }

    fn read(cert: Certificate) -> Result<Leaf, Rejected> {
        let tbs = &cert.tbs_certificate;
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| Rejected::malformed(format!("certificate key: {e}")))?;
        let key = PublicKey::from_spki_der(&spki).map_err(|e| Rejected::malformed(format!("certificate key: {e}")))?;
        let issuer = oidc_issuer(&cert).unwrap_or_default();
        let subject = san_subject(&cert).unwrap_or_default();
        Ok(Leaf {
            key,
            issuer,
            subject,
            serial: hex::encode(tbs.serial_number.as_bytes()),
            not_before: tbs.validity.not_before.to_system_time(),
            not_after: tbs.validity.not_after.to_system_time(),
            cert,
        })
    }

    pub fn valid_at(&self, t: SystemTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }
}

/// The PEM blocks of `label` in `pem`, as DER (the first one).
pub(crate) fn pem_der(pem: &str, label: &str) -> Result<Vec<u8>, Rejected> {
    let (found, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| Rejected::malformed(format!("PEM {label}: {e}")))?;
    if found != label {
        return Err(Rejected::malformed(format!("expected a PEM {label}, found {found}")));
    }
    Ok(der)
}

fn extension(cert: &Certificate, oid: ObjectIdentifier) -> Option<&[u8]> {
    let exts = cert.tbs_certificate.extensions.as_ref()?;
    exts.iter().find(|e| e.extn_id == oid).map(|e| e.extn_value.as_bytes())
}

fn oidc_issuer(cert: &Certificate) -> Option<String> {
    if let Some(v) = extension(cert, OID_ISSUER_V2)
        && let Ok(s) = der::asn1::Utf8StringRef::from_der(v)
    {
        return Some(s.as_str().to_string());
    }
    extension(cert, OID_ISSUER_V1).and_then(|v| String::from_utf8(v.to_vec()).ok())
}

fn san_subject(cert: &Certificate) -> Option<String> {
    let v = extension(cert, const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)?;
    let san = SubjectAltName::from_der(v).ok()?;
    san.0.iter().find_map(|name| match name {
        GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str().to_string()),
        GeneralName::Rfc822Name(email) => Some(email.as_str().to_string()),
        _ => None,
    })
}

/// Checks that `leaf` is a code-signing certificate that chains, at `at`, to a Fulcio CA of the
/// root trusted at `at`. Returns the certificate that issued the leaf (for the SCT).
pub(crate) fn verify_chain<'r>(
    leaf: &Leaf,
    root: &'r TrustedRoot,
    at: SystemTime,
) -> Result<&'r Certificate, Rejected> {
    check_code_signing(&leaf.cert)?;
    let mut last = String::from("the trusted root has no Fulcio CA");
    for ca in &root.certificate_authorities {
        if !ca.valid.contains(at) {
            last = format!("{} is not trusted at the signing time", ca.uri);
            continue;
        }
        match chain_to(&leaf.cert, &ca.chain, at) {
            Ok(()) => return Ok(&ca.chain[0]),
            Err(why) => last = format!("{}: {why}", ca.uri),
        }
    }
    Err(Rejected::Chain(last))
}

fn check_code_signing(cert: &Certificate) -> Result<(), Rejected> {
    let eku =
        extension(cert, const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE).and_then(|v| ExtendedKeyUsage::from_der(v).ok());
    match eku {
        Some(eku) if eku.0.contains(&OID_CODE_SIGNING) => Ok(()),
        _ => Err(Rejected::Chain(
            "the certificate is not for code signing (no extended key usage codeSigning)".into(),
        )),
    }
}

/// Why a certificate does not chain to a CA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChainError {
    #[error("empty certificate chain")]
    Empty,
    #[error("issued by {issuer}, not by {ca}")]
    OtherIssuer { issuer: String, ca: String },
    #[error("{0} is not a CA")]
    NotCa(String),
    #[error("{0} is not valid at the signing time")]
    NotValid(String),
    #[error("the signature of {child} does not verify with the key of {parent}")]
    Signature { child: String, parent: String },
    #[error("unreadable certificate: {0}")]
    Encoding(String),
    #[error("unsupported certificate signature algorithm {0}")]
    Algorithm(String),
}

/// Walks leaf → chain[0] → … → chain[last]: each issued by the next (name and signature), each
/// issuer a CA, each valid at `at`.
fn chain_to(leaf: &Certificate, chain: &[Certificate], at: SystemTime) -> Result<(), ChainError> {
    if chain.is_empty() {
        return Err(ChainError::Empty);
    }
    let mut child = leaf;
    for parent in chain {
        if child.tbs_certificate.issuer != parent.tbs_certificate.subject {
            return Err(ChainError::OtherIssuer {
                issuer: child.tbs_certificate.issuer.to_string(),
                ca: parent.tbs_certificate.subject.to_string(),
            });
        }
        if !is_ca(parent) {
            return Err(ChainError::NotCa(parent.tbs_certificate.subject.to_string()));
        }
        let v = &parent.tbs_certificate.validity;
        if at < v.not_before.to_system_time() || at > v.not_after.to_system_time() {
            return Err(ChainError::NotValid(parent.tbs_certificate.subject.to_string()));
        }
        verify_signed_by(child, parent)?;
        child = parent;
    }
    Ok(())
}

fn is_ca(cert: &Certificate) -> bool {
    extension(cert, const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .and_then(|v| BasicConstraints::from_der(v).ok())
        .is_some_and(|bc| bc.ca)
}

/// Checks `child`'s signature with `parent`'s key.
pub(crate) fn verify_signed_by(child: &Certificate, parent: &Certificate) -> Result<(), ChainError> {
    let enc = |e: &dyn std::fmt::Display| ChainError::Encoding(e.to_string());
    let spki = parent
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| enc(&e))?;
    let key = PublicKey::from_spki_der(&spki).map_err(|e| enc(&e))?;
    let tbs = child.tbs_certificate.to_der().map_err(|e| enc(&e))?;
    let alg = signature_hash(&child.signature_algorithm.oid)?;
    let sig = child
        .signature
        .as_bytes()
        .ok_or_else(|| enc(&"the signature is not whole bytes"))?;
    key.verify_with(alg, &tbs, sig).map_err(|_| ChainError::Signature {
        child: name_of(child),
        parent: name_of(parent),
    })
}

/// A certificate's subject, or its serial when the subject is empty (Fulcio's leaves).
fn name_of(cert: &Certificate) -> String {
    let subject = cert.tbs_certificate.subject.to_string();
    if subject.is_empty() {
        format!(
            "the certificate {}",
            hex::encode(cert.tbs_certificate.serial_number.as_bytes())
        )
    } else {
        subject
    }
}

fn signature_hash(oid: &ObjectIdentifier) -> Result<HashAlg, ChainError> {
    use const_oid::db::{rfc5912, rfc8410};
    let alg = match *oid {
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::SHA_256_WITH_RSA_ENCRYPTION => HashAlg::Sha256,
        rfc5912::ECDSA_WITH_SHA_384 | rfc5912::SHA_384_WITH_RSA_ENCRYPTION => HashAlg::Sha384,
        rfc5912::ECDSA_WITH_SHA_512 | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => HashAlg::Sha512,
        // Ed25519 hashes internally; the hash named here is not used.
        rfc8410::ID_ED_25519 => HashAlg::Sha512,
        other => return Err(ChainError::Algorithm(other.to_string())),
    };
    Ok(alg)
}
