//! Public keys as cosign and Sigstore write them (PEM or DER SubjectPublicKeyInfo: ECDSA P-256
//! and P-384, Ed25519, RSA) and signature checks with them, hashing as cosign does.

use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::Verifier;
use signature::hazmat::PrehashVerifier;
use spki::{DecodePublicKey, SubjectPublicKeyInfoRef};

/// Why a public key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// (pem-rfc7468's error is no `std::error::Error` without its `std` feature: not a
    /// `source`, but kept.)
    #[error("not a PEM public key (expected -----BEGIN PUBLIC KEY-----): {0}")]
    Pem(der::pem::Error),
    #[error("not a PEM public key (expected -----BEGIN PUBLIC KEY-----): found a {0} block")]
    Label(String),
    #[error("not a DER SubjectPublicKeyInfo: {0}")]
    Der(#[source] der::Error),
    #[error("unsupported key algorithm {0} (ECDSA P-256/P-384, Ed25519 and RSA are)")]
    Unsupported(String),
    #[error("invalid {algorithm} key: {source}")]
    Invalid {
        algorithm: &'static str,
        #[source]
        source: InvalidKey,
    },
}

/// What the key's own decoder said of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    #[error(transparent)]
    Spki(#[from] spki::Error),
    #[error(transparent)]
    Pkcs1(#[from] rsa::pkcs1::Error),
}

/// A hash a signature was made over (a bundle's message digest names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

/// A verification key: ECDSA P-256/P-384, Ed25519 or RSA (PKCS#1 v1.5 or PSS).
#[derive(Clone)]
pub struct PublicKey {
    inner: Inner,
    spki_der: Vec<u8>,
}

#[derive(Clone)]
enum Inner {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} {})", self.algorithm(), self.fingerprint())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (what `cosign generate-key-pair` writes to `cosign.pub`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes()).map_err(KeyError::Pem)?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::Label(label.to_string()));
        }
        Self::from_spki_der(&der)
    }

    /// Reads a DER SubjectPublicKeyInfo (trusted roots and certificates carry these).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        use der::Decode;
        let info = SubjectPublicKeyInfoRef::from_der(der).map_err(KeyError::Der)?;
        let oid = info.algorithm.oid;
        let inner = if oid == const_oid::db::rfc5912::ID_EC_PUBLIC_KEY {
            ec_key(der, &info)?
        } else if oid == const_oid::db::rfc8410::ID_ED_25519 {
            let k = ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(|e| invalid("Ed25519", e))?;
            Inner::Ed25519(k)
        } else if oid == const_oid::db::rfc5912::RSA_ENCRYPTION {
            let k = rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| invalid("RSA", e))?;
            Inner::Rsa(k)
        } else {
            return Err(KeyError::Unsupported(oid.to_string()));
        };
        Ok(PublicKey {
            inner,
            spki_der: der.to_vec(),
        })
    }

    /// Reads a PKCS#1 `RSAPublicKey` (trusted roots say `PKCS1_RSA_PKCS1V5` for these).
    pub fn from_pkcs1_rsa_der(der: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use spki::EncodePublicKey;
        let k = rsa::RsaPublicKey::from_pkcs1_der(der).map_err(|e| invalid("RSA", e))?;
        let spki = k.to_public_key_der().map_err(|e| invalid("RSA", e))?;
        Ok(PublicKey {
            inner: Inner::Rsa(k),
            spki_der: spki.as_bytes().to_vec(),
        })
    }

    /// `sha256:<hex>` of the DER SubjectPublicKeyInfo: names the key in evidence and cache keys.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.spki_der)))
    }

    /// The raw SHA-256 of the DER SubjectPublicKeyInfo (a Rekor or CT log id).
    pub fn key_id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki_der).into()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// `ECDSA P-256`, `ECDSA P-384`, `Ed25519` or `RSA`.
    pub fn algorithm(&self) -> &'static str {
        match self.inner {
            Inner::P256(_) => "ECDSA P-256",
            Inner::P384(_) => "ECDSA P-384",
            Inner::Ed25519(_) => "Ed25519",
            Inner::Rsa(_) => "RSA",
        }
    }

    /// Checks `sig` over `message` as cosign signs: ECDSA with SHA-256 (P-384 also SHA-384),
    /// DER or fixed-size; Ed25519 over the message itself; RSA PKCS#1 v1.5 or PSS with SHA-256.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        match &self.inner {
            Inner::Ed25519(k) => {
                let s = ed25519_dalek::Signature::from_slice(sig).map_err(|_| SignatureError::Encoding("Ed25519"))?;
                k.verify(message, &s).map_err(|_| SignatureError::Mismatch)
            }
            Inner::P384(_) => self
                .verify_prehash(HashAlg::Sha384, &Sha384::digest(message), sig)
                .or_else(|_| self.verify_prehash(HashAlg::Sha256, &Sha256::digest(message), sig)),
            _ => self.verify_prehash(HashAlg::Sha256, &Sha256::digest(message), sig),
        }
    }

    /// Checks `sig` over a message known only by its digest (a bundle's message signature, a
    /// certificate's TBS already hashed). Ed25519 cannot: it signs messages, not digests.
    pub fn verify_prehash(&self, alg: HashAlg, digest: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        match &self.inner {
            Inner::P256(k) => {
                let s = ecdsa_sig::<p256::NistP256>(sig)?;
                k.verify_prehash(digest, &s).map_err(|_| SignatureError::Mismatch)
            }
            Inner::P384(k) => {
                let s = ecdsa_sig::<p384::NistP384>(sig)?;
                k.verify_prehash(digest, &s).map_err(|_| SignatureError::Mismatch)
            }
            Inner::Ed25519(_) => Err(SignatureError::Prehash),
            Inner::Rsa(k) => rsa_prehash(k, alg, digest, sig),
        }
    }

    /// Checks a signature whose hash is given by name (X.509 signature algorithms), hashing
    /// `message` with it.
    pub(crate) fn verify_with(&self, alg: HashAlg, message: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        if let Inner::Ed25519(_) = self.inner {
            return self.verify(message, sig);
        }
        let digest = match alg {
            HashAlg::Sha256 => Sha256::digest(message).to_vec(),
            HashAlg::Sha384 => Sha384::digest(message).to_vec(),
            HashAlg::Sha512 => Sha512::digest(message).to_vec(),
        };
        self.verify_prehash(alg, &digest, sig)
    }
}

/// Why a signature did not verify with a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature does not match the signed bytes and the key")]
    Mismatch,
    #[error("the signature is not a valid {0} signature encoding")]
    Encoding(&'static str),
    #[error("an Ed25519 key cannot verify a signature over a digest alone")]
    Prehash,
}

fn invalid(algorithm: &'static str, e: impl Into<InvalidKey>) -> KeyError {
    KeyError::Invalid {
        algorithm,
        source: e.into(),
    }
}

fn ec_key(der: &[u8], info: &SubjectPublicKeyInfoRef<'_>) -> Result<Inner, KeyError> {
    let curve = info.algorithm.parameters_oid().map_err(|e| invalid("ECDSA", e))?;
    if curve == const_oid::db::rfc5912::SECP_256_R_1 {
        let k = p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(|e| invalid("ECDSA P-256", e))?;
        Ok(Inner::P256(k))
    } else if curve == const_oid::db::rfc5912::SECP_384_R_1 {
        let k = p384::ecdsa::VerifyingKey::from_public_key_der(der).map_err(|e| invalid("ECDSA P-384", e))?;
        Ok(Inner::P384(k))
    } else {
        Err(KeyError::Unsupported(format!("ECDSA on curve {curve}")))
    }
}

/// An ECDSA signature in ASN.1 DER (what cosign and Sigstore write) or fixed-size r‖s.
fn ecdsa_sig<C>(sig: &[u8]) -> Result<ecdsa::Signature<C>, SignatureError>
where
    C: ecdsa::PrimeCurve + ecdsa::elliptic_curve::CurveArithmetic,
    ecdsa::der::MaxSize<C>: ecdsa::elliptic_curve::generic_array::ArrayLength<u8>,
    <ecdsa::elliptic_curve::FieldBytesSize<C> as std::ops::Add>::Output:
        std::ops::Add<ecdsa::der::MaxOverhead> + ecdsa::elliptic_curve::generic_array::ArrayLength<u8>,
{
    ecdsa::Signature::<C>::from_der(sig)
        .or_else(|_| ecdsa::Signature::<C>::from_slice(sig))
        .map_err(|_| SignatureError::Encoding("ECDSA"))
}

fn rsa_prehash(k: &rsa::RsaPublicKey, alg: HashAlg, digest: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
    use rsa::traits::SignatureScheme;
    let (pkcs1, pss) = match alg {
        HashAlg::Sha256 => (rsa::Pkcs1v15Sign::new::<Sha256>(), rsa::Pss::new::<Sha256>()),
        HashAlg::Sha384 => (rsa::Pkcs1v15Sign::new::<Sha384>(), rsa::Pss::new::<Sha384>()),
        HashAlg::Sha512 => (rsa::Pkcs1v15Sign::new::<Sha512>(), rsa::Pss::new::<Sha512>()),
    };
    if pkcs1.verify(k, digest, sig).is_ok() || pss.verify(k, digest, sig).is_ok() {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}
