//! A timestamping authority: RFC 3161 responses over a signature, as a TSA returns them.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, GeneralizedTime, Int, OctetString, SetOfVec};
use der::{Encode, Header, Tag};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TspVersion, TstInfo};

use super::keys::KeyPair;
use crate::timestamp::{ID_CONTENT_TYPE, ID_CT_TST_INFO, ID_MESSAGE_DIGEST};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// A TSA with a P-256 key and a self-signed certificate (2020–2045).
pub struct Tsa {
    key: p256::ecdsa::SigningKey,
    pub cert: Certificate,
}

impl Default for Tsa {
    fn default() -> Self {
        Self::new()
    }
}

fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid, parameters: None }
}

fn any(value: &impl Encode) -> Any {
    use der::Decode;
    Any::from_der(&value.to_der().expect("DER")).expect("DER")
}

impl Tsa {
    pub fn new() -> Tsa {
        let key = p256::ecdsa::SigningKey::random(&mut OsRng);
        let cert = super::ca::self_signed(&key, "CN=timestamps,O=driftwatch.test");
        Tsa { key, cert }
    }

    /// A DER `TimeStampResp` (status granted) whose token says `signature` existed at `at`.
    pub fn stamp(&self, signature: &[u8], at: SystemTime) -> Vec<u8> {
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2"),
            message_imprint: MessageImprint {
                hash_algorithm: alg(SHA256),
                hashed_message: OctetString::new(Sha256::digest(signature).to_vec()).expect("DER"),
            },
            serial_number: Int::new(&[1]).expect("DER"),
            gen_time: GeneralizedTime::from_system_time(at).expect("time"),
            accuracy: None,
            ordering: false,
            nonce: None,
            tsa: None,
            extensions: None,
        };
        let econtent = tst.to_der().expect("DER");
        let token = self.token(&econtent);
        let status = [0x30, 0x03, 0x02, 0x01, 0x00]; // PKIStatusInfo { status: granted }
        let mut body = status.to_vec();
        body.extend(token);
        let mut out = Header::new(Tag::Sequence, der::Length::try_from(body.len()).expect("length"))
            .expect("header")
            .to_der()
            .expect("DER");
        out.extend(body);
        out
    }

    /// The CMS SignedData token over a TSTInfo.
    fn token(&self, econtent: &[u8]) -> Vec<u8> {
        let attribute = |oid, value: Any| Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).expect("set"),
        };
        let digest = OctetString::new(Sha256::digest(econtent).to_vec()).expect("DER");
        let attrs = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, any(&ID_CT_TST_INFO)),
            attribute(ID_MESSAGE_DIGEST, any(&digest)),
        ])
        .expect("attributes");
        let sig = KeyPair::P256(self.key.clone()).sign(&attrs.to_der().expect("DER"));
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.cert.tbs_certificate.issuer.clone(),
                serial_number: self.cert.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: alg(SHA256),
            signed_attrs: Some(attrs),
            signature_algorithm: alg(const_oid::db::rfc5912::ECDSA_WITH_SHA_256),
            signature: OctetString::new(sig).expect("DER"),
            unsigned_attrs: None,
        };
        let signed = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![alg(SHA256)]).expect("set"),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(any(&OctetString::new(econtent.to_vec()).expect("DER"))),
            },
            certificates: None,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).expect("set")),
        };
        ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: any(&signed),
        }
        .to_der()
        .expect("DER")
    }

    /// The trusted root's `timestampAuthorities[]` entry for this TSA.
    pub fn root_entry(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": {"organization": "driftwatch.test", "commonName": "timestamps"},
            "uri": "https://tsa.driftwatch.test",
            "certChain": {"certificates": [{"rawBytes": STANDARD.encode(self.cert.to_der().expect("DER"))}]},
            "validFor": {"start": "2020-01-01T00:00:00Z"}
        })
    }
}

/// cosign's `dev.sigstore.cosign/timestamp` annotation for a timestamp response.
pub fn cosign_timestamp_annotation(response: &[u8]) -> String {
    serde_json::json!({"SignedRFC3161Timestamp": STANDARD.encode(response)}).to_string()
}
