//! DSSE envelopes (the attestation wrapper: payload type, base64 payload, signatures over the
//! pre-authentication encoding) and the in-toto statement inside.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;

use crate::error::Rejected;

pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// A DSSE envelope, decoded.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<Vec<u8>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEnvelope {
    pub payload_type: String,
    pub payload: String,
    pub signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
pub(crate) struct RawSignature {
    pub sig: String,
}

impl Envelope {
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, Rejected> {
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| Rejected::malformed(format!("DSSE envelope: {e}")))?;
        Self::from_raw(raw)
    }

    pub fn from_raw(raw: RawEnvelope) -> Result<Envelope, Rejected> {
        let decode = |s: &str, what: &str| {
            STANDARD
                .decode(s)
                .map_err(|_| Rejected::malformed(format!("DSSE envelope: {what} is not base64")))
        };
        let payload = decode(&raw.payload, "payload")?;
        let signatures = raw
            .signatures
            .iter()
            .map(|s| decode(&s.sig, "sig"))
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(Rejected::malformed("DSSE envelope: no signature"));
        }
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The bytes each signature signs.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// DSSE v1 pre-authentication encoding: `DSSEv1 <len> <type> <len> <payload>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An in-toto statement: the digests it is about and its predicate.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub subject_digests: Vec<String>,
    pub predicate_type: String,
    pub predicate: Value,
}

impl Statement {
    pub fn from_envelope(env: &Envelope) -> Result<Statement, Rejected> {
        if env.payload_type != IN_TOTO {
            return Err(Rejected::malformed(format!(
                "DSSE payload type {:?} is not an in-toto statement ({IN_TOTO})",
                env.payload_type
            )));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            subject: Vec<Subject>,
            predicate_type: String,
            #[serde(default)]
            predicate: Value,
        }
        #[derive(Deserialize)]
        struct Subject {
            #[serde(default)]
            digest: std::collections::BTreeMap<String, String>,
        }
        let raw: Raw =
            serde_json::from_slice(&env.payload).map_err(|e| Rejected::malformed(format!("in-toto statement: {e}")))?;
        let subject_digests = raw
            .subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(alg, hex)| format!("{alg}:{hex}")))
            .collect();
        Ok(Statement {
            subject_digests,
            predicate_type: raw.predicate_type,
            predicate: raw.predicate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_specs_encoding() {
        // The DSSE specification's example (protocol.md).
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn an_envelope_without_signatures_or_of_another_type_is_malformed() {
        let none = br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#;
        assert!(
            Envelope::from_json(none)
                .unwrap_err()
                .to_string()
                .contains("no signature")
        );
        let other = br#"{"payloadType":"text/plain","payload":"e30=","signatures":[{"sig":"AA=="}]}"#;
        let env = Envelope::from_json(other).unwrap();
        let r = Statement::from_envelope(&env).unwrap_err();
        assert!(
            r.to_string().contains("\"text/plain\" is not an in-toto statement"),
            "{r}"
        );
    }
}
