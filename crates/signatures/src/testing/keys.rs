//! Signing keys of each kind cosign uses, signing as cosign does.

use p256::pkcs8::{EncodePublicKey, LineEnding};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use signature::Signer;
use signature::hazmat::PrehashSigner;

use crate::keys::PublicKey;

/// A signing key: ECDSA P-256/P-384, Ed25519 or RSA.
#[derive(Clone)]
pub enum KeyPair {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(rsa::RsaPrivateKey),
}

impl KeyPair {
    pub fn p256() -> Self {
        KeyPair::P256(p256::ecdsa::SigningKey::random(&mut OsRng))
    }

    pub fn p384() -> Self {
        KeyPair::P384(p384::ecdsa::SigningKey::random(&mut OsRng))
    }

    pub fn ed25519() -> Self {
        KeyPair::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng))
    }

    /// An RSA key from PKCS#8 PEM (generating one is slow in debug builds: keep one in the
    /// test's fixtures).
    pub fn rsa_from_pkcs8_pem(pem: &str) -> Self {
        use rsa::pkcs8::DecodePrivateKey;
        KeyPair::Rsa(rsa::RsaPrivateKey::from_pkcs8_pem(pem).expect("an RSA PKCS#8 PEM key"))
    }

    /// A fixed RSA-2048 test key (`tests/fixtures/rsa-test-key.pem`), for tests that need one
    /// without the wait.
    pub fn rsa_test_key() -> Self {
        Self::rsa_from_pkcs8_pem(include_str!("../../tests/fixtures/rsa-test-key.pem"))
    }

    /// The public key as `cosign.pub` holds it.
    pub fn public_pem(&self) -> String {
        let pem = match self {
            KeyPair::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            KeyPair::P384(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            KeyPair::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            KeyPair::Rsa(k) => k.to_public_key().to_public_key_pem(LineEnding::LF),
        };
        pem.expect("public key PEM")
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_pem(&self.public_pem()).expect("own public key")
    }

    /// Signs `message` as cosign does: ECDSA in DER with SHA-256 (P-384: SHA-384), Ed25519 over
    /// the message, RSA PKCS#1 v1.5 with SHA-256.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            KeyPair::P256(k) => {
                let s: p256::ecdsa::DerSignature = k.sign(message);
                s.as_bytes().to_vec()
            }
            KeyPair::P384(k) => {
                let s: p384::ecdsa::DerSignature = k.sign(message);
                s.as_bytes().to_vec()
            }
            KeyPair::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            KeyPair::Rsa(_) => self.sign_prehash(&Sha256::digest(message)),
        }
    }

    /// Signs a SHA-256 digest (a bundle's message signature). Ed25519 cannot.
    pub fn sign_prehash(&self, digest: &[u8]) -> Vec<u8> {
        match self {
            KeyPair::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(digest).expect("prehash");
                s.to_der().as_bytes().to_vec()
            }
            KeyPair::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(digest).expect("prehash");
                s.to_der().as_bytes().to_vec()
            }
            KeyPair::Ed25519(_) => panic!("Ed25519 signs messages, not digests"),
            KeyPair::Rsa(k) => k
                .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), digest)
                .expect("RSA signature"),
        }
    }
}
