//! An OCI Distribution client for the checks that need a registry: what a tag points to now,
//! whether a digest still exists, and which platform manifests an image index lists. Only
//! registries configured in `[[registries]]` are contacted.
//!
//! [`RegistryClient`] is built once per config (HTTP client, per-registry limits, the bounded
//! manifest cache) and held across audits; each audit asks through its own [`Registry`], which
//! asks every tag and manifest once ([`memo`]) and authenticates per [`auth`]. [`referrers`]:
//! the artifacts (signatures, attestations) that name a manifest as their subject.

pub mod auth;
pub mod client;
pub mod memo;
pub mod referrers;

pub use client::{Registry, RegistryClient};
pub use memo::ManifestCache;
pub use referrers::{Referrer, Referrers, ReferrersVia};

/// Why a registry could not be asked; the lookup that hit it is reported as unavailable.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    HttpClient(#[from] crate::retry::ClientError),
    #[error("{0}")]
    Transport(String),
    #[error("401: the registry wants credentials and none are configured")]
    CredentialsMissing,
    #[error("401 with an auth scheme driftwatch does not speak: {0:?}")]
    UnsupportedScheme(String),
    #[error("401: Bearer challenge without a realm")]
    NoRealm,
    #[error("token endpoint: {0}")]
    TokenEndpoint(String),
    #[error("token endpoint answered {0}: credentials refused")]
    TokenRefused(reqwest::StatusCode),
    #[error("token endpoint: no token in the answer")]
    NoToken,
}

/// `configured` (their credentials and `insecure`), and every host of `hosts` none covers,
/// asked anonymously over https (public charts and artifacts need no `[[registries]]` entry).
pub fn with_anonymous<'a>(
    configured: &[crate::config::RegistryConfig],
    hosts: impl Iterator<Item = &'a str>,
) -> Vec<crate::config::RegistryConfig> {
    use std::time::Duration;
    let mut registries = configured.to_vec();
    for host in hosts {
        if !registries.iter().any(|r| r.host == host) {
            registries.push(crate::config::RegistryConfig {
                host: host.to_string(),
                credentials: None,
                insecure: false,
                retry: crate::config::DeliveryConfig {
                    timeout: Duration::from_secs(10),
                    max_attempts: 3,
                    backoff: Duration::from_secs(1),
                    backoff_max: Duration::from_secs(30),
                },
            });
        }
    }
    registries
}
