//! A Fulcio-style CA (root, intermediate) issuing code-signing certificates with the Sigstore
//! OIDC extensions and an SCT from its own CT log; and the trusted root naming it.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{Ia5String, OctetString, Utf8StringRef};
use der::{Encode, EncodePem, Length, Writer};
use p256::pkcs8::EncodePublicKey;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::AsExtension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

use super::keys::KeyPair;
use crate::fulcio::{OID_ISSUER_V1, OID_ISSUER_V2};
use crate::sct::{OID_SCT_LIST, Sct, encode_list, precert_tbs, signed_data};

type Signer = p256::ecdsa::SigningKey;
type DerSig = p256::ecdsa::DerSignature;

/// A root and an intermediate CA (valid 2020–2045), and a CT log.
pub struct Ca {
    pub root: Certificate,
    intermediate_key: Signer,
    pub intermediate: Certificate,
    ct_key: Signer,
}

/// A certificate the CA issued, with its (P-256) key.
pub struct Issued {
    pub key: KeyPair,
    pub cert: Certificate,
}

impl Issued {
    pub fn pem(&self) -> String {
        self.cert.to_pem(der::pem::LineEnding::LF).expect("certificate PEM")
    }

    pub fn der(&self) -> Vec<u8> {
        self.cert.to_der().expect("certificate DER")
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn validity(from: SystemTime, to: SystemTime) -> Validity {
    Validity {
        not_before: Time::try_from(from).expect("time"),
        not_after: Time::try_from(to).expect("time"),
    }
}

fn serial() -> SerialNumber {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[0] &= 0x7f;
    b[0] |= 0x01;
    SerialNumber::new(&b).expect("serial")
}

fn spki(k: &Signer) -> SubjectPublicKeyInfoOwned {
    let der = k.verifying_key().to_public_key_der().expect("SPKI");
    SubjectPublicKeyInfoOwned::try_from(der.as_bytes()).expect("SPKI")
}

impl Default for Ca {
    fn default() -> Self {
        Self::new()
    }
}

impl Ca {
    pub fn new() -> Ca {
        let root_key = Signer::random(&mut OsRng);
        let intermediate_key = Signer::random(&mut OsRng);
        let valid = validity(at(1_577_836_800), at(2_366_841_600));
        let root_name = Name::from_str("CN=sigstore,O=driftwatch.test").expect("name");
        let root = CertificateBuilder::new(
            Profile::Root,
            serial(),
            valid,
            root_name.clone(),
            spki(&root_key),
            &root_key,
        )
        .expect("root builder")
        .build::<DerSig>()
        .expect("root certificate");
        let intermediate = CertificateBuilder::new(
            Profile::SubCA {
                issuer: root_name,
                path_len_constraint: Some(0),
            },
            serial(),
            valid,
            Name::from_str("CN=sigstore-intermediate,O=driftwatch.test").expect("name"),
            spki(&intermediate_key),
            &root_key,
        )
        .expect("intermediate builder")
        .build::<DerSig>()
        .expect("intermediate certificate");
        Ca {
            root,
            intermediate_key,
            intermediate,
            ct_key: Signer::random(&mut OsRng),
        }
    }

    /// The CT log's id (SHA-256 of its key).
    pub fn ct_log_id(&self) -> [u8; 32] {
        let der = self.ct_key.verifying_key().to_public_key_der().expect("SPKI");
        Sha256::digest(der.as_bytes()).into()
    }

    pub(crate) fn ct_key_der(&self) -> Vec<u8> {
        let der = self.ct_key.verifying_key().to_public_key_der().expect("SPKI");
        der.as_bytes().to_vec()
    }

    /// Issues a 10-minute code-signing certificate from `not_before`, as Fulcio does: SAN URI
    /// (or email, if `subject` has an `@` and no `/`), OIDC issuer extensions, embedded SCT.
    pub fn issue(&self, issuer: &str, subject: &str, not_before: SystemTime) -> Issued {
        self.issue_for(issuer, subject, not_before, Duration::from_secs(600))
    }

    /// Like [`Ca::issue`], for `lifetime`.
    pub fn issue_for(&self, issuer: &str, subject: &str, not_before: SystemTime, lifetime: Duration) -> Issued {
        let key = p256::ecdsa::SigningKey::random(&mut OsRng);
        let serial = serial();
        let valid = validity(not_before, not_before + lifetime);
        let leaf = |sct: Option<Vec<u8>>| self.build_leaf(&key, serial.clone(), valid, issuer, subject, sct);
        let precert = leaf(None);
        let tbs = precert_tbs(&precert).expect("precert TBS");
        let sct = self.sct(&tbs, not_before);
        Issued {
            cert: leaf(Some(sct)),
            key: KeyPair::P256(key),
        }
    }

    fn build_leaf(
        &self,
        key: &Signer,
        serial: SerialNumber,
        valid: Validity,
        issuer: &str,
        subject: &str,
        sct: Option<Vec<u8>>,
    ) -> Certificate {
        let mut b = CertificateBuilder::new(
            Profile::Leaf {
                issuer: self.intermediate.tbs_certificate.subject.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            serial,
            valid,
            Name::default(),
            spki(key),
            &self.intermediate_key,
        )
        .expect("leaf builder");
        let code_signing = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
        b.add_extension(&ExtendedKeyUsage(vec![code_signing])).expect("EKU");
        let name = if subject.contains('@') && !subject.contains('/') {
            GeneralName::Rfc822Name(Ia5String::new(subject).expect("email"))
        } else {
            GeneralName::UniformResourceIdentifier(Ia5String::new(subject).expect("URI"))
        };
        b.add_extension(&SubjectAltName(vec![name])).expect("SAN");
        b.add_extension(&IssuerV1(issuer.to_string())).expect("issuer v1");
        b.add_extension(&IssuerV2(issuer.to_string())).expect("issuer v2");
        if let Some(list) = sct {
            b.add_extension(&SctList(list)).expect("SCT");
        }
        b.build::<DerSig>().expect("leaf certificate")
    }

    fn sct(&self, precert_tbs: &[u8], when: SystemTime) -> Vec<u8> {
        let issuer_spki = self
            .intermediate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .expect("SPKI");
        let issuer_key_hash: [u8; 32] = Sha256::digest(issuer_spki).into();
        let ms = u64::try_from(super::unix(when)).unwrap_or(0) * 1000;
        let mut sct = Sct {
            log_id: self.ct_log_id().to_vec(),
            timestamp: ms,
            extensions: Vec::new(),
            signature: Vec::new(),
        };
        let data = signed_data(&sct, &issuer_key_hash, precert_tbs);
        sct.signature = KeyPair::P256(self.ct_key.clone()).sign(&data);
        encode_list(&[(sct.log_id, sct.timestamp, sct.signature)])
    }

    /// The chain as cosign's `dev.sigstore.cosign/chain` annotation holds it (intermediate,
    /// root).
    pub fn chain_pem(&self) -> String {
        let lf = der::pem::LineEnding::LF;
        let i = self.intermediate.to_pem(lf).expect("PEM");
        let r = self.root.to_pem(lf).expect("PEM");
        format!("{i}{r}")
    }
}

/// A self-signed CA certificate for `key` (2020–2045).
pub(crate) fn self_signed(key: &Signer, subject: &str) -> Certificate {
    let valid = validity(at(1_577_836_800), at(2_366_841_600));
    CertificateBuilder::new(
        Profile::Root,
        serial(),
        valid,
        Name::from_str(subject).expect("name"),
        spki(key),
        key,
    )
    .expect("builder")
    .build::<DerSig>()
    .expect("certificate")
}

/// Fulcio's v1 issuer extension: the raw string, not DER.
struct IssuerV1(String);
/// Fulcio's v2 issuer extension: a DER UTF8String.
struct IssuerV2(String);
/// The SCT list extension: a DER OCTET STRING holding the TLS list.
struct SctList(Vec<u8>);

impl AssociatedOid for IssuerV1 {
    const OID: ObjectIdentifier = OID_ISSUER_V1;
}
impl AssociatedOid for IssuerV2 {
    const OID: ObjectIdentifier = OID_ISSUER_V2;
}
impl AssociatedOid for SctList {
    const OID: ObjectIdentifier = OID_SCT_LIST;
}

impl Encode for IssuerV1 {
    fn encoded_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }
    fn encode(&self, w: &mut impl Writer) -> der::Result<()> {
        w.write(self.0.as_bytes())
    }
}
impl Encode for IssuerV2 {
    fn encoded_len(&self) -> der::Result<Length> {
        Utf8StringRef::new(&self.0)?.encoded_len()
    }
    fn encode(&self, w: &mut impl Writer) -> der::Result<()> {
        Utf8StringRef::new(&self.0)?.encode(w)
    }
}
impl Encode for SctList {
    fn encoded_len(&self) -> der::Result<Length> {
        OctetString::new(self.0.clone())?.encoded_len()
    }
    fn encode(&self, w: &mut impl Writer) -> der::Result<()> {
        OctetString::new(self.0.clone())?.encode(w)
    }
}

impl AsExtension for IssuerV1 {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}
impl AsExtension for IssuerV2 {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}
impl AsExtension for SctList {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}
