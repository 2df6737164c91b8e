//! The Sigstore trusted root (`trusted_root.json`, as `cosign trusted-root create` writes it and
//! the public-good TUF repository serves it): Fulcio CAs, Rekor logs, CT logs and timestamping
//! authorities, each with the period it is trusted for.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::Decode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::keys::{KeyError, PublicKey};
use crate::time::parse_rfc3339;

/// Why a trusted root could not be read. Each names the entry it is about.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RootError {
    #[error("not a Sigstore trusted root (JSON): {0}")]
    Json(#[source] std::sync::Arc<serde_json::Error>),
    #[error("{what}: not base64")]
    Base64 { what: String },
    #[error("{what}: {source}")]
    Key {
        what: String,
        #[source]
        source: KeyError,
    },
    #[error("{what}: not a DER X.509 certificate: {source}")]
    Certificate {
        what: String,
        #[source]
        source: der::Error,
    },
    #[error("{what}: not an RFC 3339 time: {value:?}")]
    Time { what: String, value: String },
    #[error("the trusted root has no Fulcio certificate authority and no transparency log")]
    Empty,
}

/// A Sigstore trusted root: whom keyless signatures, log entries and timestamps are checked
/// against.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub(crate) certificate_authorities: Vec<CertificateAuthority>,
    pub(crate) tlogs: Vec<TransparencyLog>,
    pub(crate) ctlogs: Vec<TransparencyLog>,
    pub(crate) timestamp_authorities: Vec<CertificateAuthority>,
    digest: String,
}

/// A Fulcio CA (or a timestamping authority): its chain, leaf-most first, ending at the root.
#[derive(Debug, Clone)]
pub(crate) struct CertificateAuthority {
    pub uri: String,
    pub chain: Vec<Certificate>,
    pub valid: Validity,
}

/// A Rekor or CT log: its key and id (SHA-256 of the key, or as the root says).
#[derive(Debug, Clone)]
pub(crate) struct TransparencyLog {
    pub base_url: String,
    pub log_id: Vec<u8>,
    pub key: PublicKey,
    pub valid: Validity,
}

/// The period an entry of the trusted root is trusted for (`end` absent: still trusted).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validity {
    pub start: Option<SystemTime>,
    pub end: Option<SystemTime>,
}

impl Validity {
    pub fn contains(&self, t: SystemTime) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawKey,
    log_id: Option<RawLogId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    #[serde(default)]
    key_details: String,
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawValidity>,
}

#[derive(Deserialize)]
pub(crate) struct RawChain {
    pub certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawBytes {
    pub raw_bytes: String,
}

#[derive(Deserialize)]
struct RawValidity {
    start: Option<String>,
    end: Option<String>,
}

impl TrustedRoot {
    /// Reads a `trusted_root.json` (media type
    /// `application/vnd.dev.sigstore.trustedroot+json;version=0.1`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, RootError> {
        let raw: RawRoot = serde_json::from_slice(bytes).map_err(|e| RootError::Json(std::sync::Arc::new(e)))?;
        let root = TrustedRoot {
            certificate_authorities: cas(&raw.certificate_authorities, "certificateAuthorities")?,
            tlogs: logs(&raw.tlogs, "tlogs")?,
            ctlogs: logs(&raw.ctlogs, "ctlogs")?,
            timestamp_authorities: cas(&raw.timestamp_authorities, "timestampAuthorities")?,
            digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        };
        if root.certificate_authorities.is_empty() && root.tlogs.is_empty() {
            return Err(RootError::Empty);
        }
        Ok(root)
    }

    /// `sha256:<hex>` of the file's bytes: a verdict cached under it is re-checked when the
    /// root changes.
    pub fn digest(&self) -> String {
        self.digest.clone()
    }

    /// How many Fulcio CAs, Rekor logs, CT logs and timestamping authorities it trusts (for
    /// `check-config`'s summary).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.certificate_authorities.len(),
            self.tlogs.len(),
            self.ctlogs.len(),
            self.timestamp_authorities.len(),
        )
    }

    pub(crate) fn tlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }

    pub(crate) fn ctlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }
}

fn logs(raw: &[RawLog], field: &str) -> Result<Vec<TransparencyLog>, RootError> {
    let mut out = Vec::new();
    for (i, log) in raw.iter().enumerate() {
        let what = format!("{field}[{i}] ({})", log.base_url);
        let der = b64(&log.public_key.raw_bytes, &what)?;
        let key = if log.public_key.key_details.starts_with("PKCS1_RSA") {
            PublicKey::from_pkcs1_rsa_der(&der)
        } else {
            PublicKey::from_spki_der(&der)
        };
        let key = match key {
            Ok(key) => key,
            // A log of an algorithm this version does not know (a newer root) is left out:
            // evidence from it is rejected as from an unknown log, the rest still verifies.
            Err(KeyError::Unsupported(_)) => continue,
            Err(source) => {
                return Err(RootError::Key {
                    what: what.clone(),
                    source,
                });
            }
        };
        let log_id = match &log.log_id {
            Some(id) => b64(&id.key_id, &what)?,
            None => key.key_id().to_vec(),
        };
        out.push(TransparencyLog {
            base_url: log.base_url.clone(),
            log_id,
            key,
            valid: validity(log.public_key.valid_for.as_ref(), &what)?,
        });
    }
    Ok(out)
}

fn cas(raw: &[RawCa], field: &str) -> Result<Vec<CertificateAuthority>, RootError> {
    let mut out = Vec::new();
    for (i, ca) in raw.iter().enumerate() {
        let what = format!("{field}[{i}] ({})", ca.uri);
        let chain = certificates(&ca.cert_chain, &what)?;
        out.push(CertificateAuthority {
            uri: ca.uri.clone(),
            chain,
            valid: validity(ca.valid_for.as_ref(), &what)?,
        });
    }
    Ok(out)
}

pub(crate) fn certificates(chain: &RawChain, what: &str) -> Result<Vec<Certificate>, RootError> {
    chain
        .certificates
        .iter()
        .map(|c| {
            let der = b64(&c.raw_bytes, what)?;
            Certificate::from_der(&der).map_err(|source| RootError::Certificate {
                what: what.to_string(),
                source,
            })
        })
        .collect()
}

fn validity(raw: Option<&RawValidity>, what: &str) -> Result<Validity, RootError> {
    let parse = |v: &Option<String>| -> Result<Option<SystemTime>, RootError> {
        match v {
            None => Ok(None),
            Some(s) => parse_rfc3339(s).map(Some).ok_or_else(|| RootError::Time {
                what: what.to_string(),
                value: s.clone(),
            }),
        }
    };
    match raw {
        None => Ok(Validity { start: None, end: None }),
        Some(v) => Ok(Validity {
            start: parse(&v.start)?,
            end: parse(&v.end)?,
        }),
    }
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, RootError> {
    STANDARD
        .decode(s.trim())
        .map_err(|_| RootError::Base64 { what: what.to_string() })
}
