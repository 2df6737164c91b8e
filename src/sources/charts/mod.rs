//! Helm charts from outside the GitOps repository: a Helm repository's `index.yaml` and
//! `.tgz` ([`repo`]), or an OCI registry through the registry client and its auth ([`oci`]);
//! and the dependencies a chart declares but does not vendor ([`dependencies`]), fetched the
//! same way, so `helm dependency build` is never needed.
//!
//! Every archive is verified against the digest its index or manifest gives, and kept on disk
//! by name, version and digest ([`store`]): a chart version is downloaded once, whatever runs
//! read it. [`Charts`] lasts across audits (HTTP clients, the registry client); each render of
//! an environment asks through a [`Session`], which fetches each index once.

pub mod dependencies;
pub mod oci;
pub mod repo;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ChartSource, Config, HelmRepositoryConfig, RegistryConfig};
use crate::sources::registry::memo::Memo;
use crate::sources::registry::{ManifestCache, Registry, RegistryClient};

/// Why a chart could not be had. Every variant names the chart and where it was looked for;
/// none carries a credential.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart {chart}: repository {url} unreachable: {reason}")]
    Unreachable { chart: String, url: String, reason: String },
    #[error("chart {chart}: {url}: {reason}")]
    Refused { chart: String, url: String, reason: String },
    #[error("chart {chart}: {url} lists no version matching {wanted} (it has {available})")]
    NoVersion {
        chart: String,
        url: String,
        wanted: String,
        available: String,
    },
    #[error(
        "chart {chart} {version}: {url} served content with digest {actual}, but the index says {expected}: not used"
    )]
    Digest {
        chart: String,
        version: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("chart {chart}: {reason}")]
    Invalid { chart: String, reason: String },
    #[error("chart {chart}: cannot keep it in {dir}: {source}")]
    Store {
        chart: String,
        dir: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("chart {chart}: {source}")]
    Setup {
        chart: String,
        #[source]
        source: SetupError,
    },
}

/// Why a client or the store for charts could not be made; said by every chart that needs it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Client(Arc<crate::retry::ClientError>),
    #[error("CA file {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("CA file {path}: no PEM certificate in it")]
    NoCertificate { path: String },
    #[error("CA file {path}: {source}")]
    Certificate {
        path: String,
        #[source]
        source: Arc<reqwest::Error>,
    },
    #[error("cannot build an HTTP client: {0}")]
    Http(#[source] Arc<reqwest::Error>),
    #[error("registry client: {0}")]
    Registry(#[source] Arc<crate::sources::registry::RegistryError>),
    #[error("no directory to keep charts in: {0}")]
    Store(#[source] Arc<std::io::Error>),
}

/// A chart archive on disk, verified: its name and version as resolved, and the SHA-256 of
/// the `.tgz` (`sha256:<hex>`), which identifies its content in render-cache keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub archive: PathBuf,
}

/// What lasts across audits: a client per configured Helm repository (its CA), the registry
/// client for `oci://` charts, and where archives are kept.
pub struct Charts {
    repositories: Vec<repo::Client>,
    /// For repositories no `[[helm_repositories]]` entry covers.
    anonymous: Result<reqwest::Client, SetupError>,
    registry: Result<RegistryClient, SetupError>,
    store: store::Store,
}

/// One render's view: each index fetched once, registry tokens shared.
pub struct Session<'a> {
    charts: &'a Charts,
    indexes: Memo<Result<Arc<repo::Index>, ChartError>>,
    registry: Option<Registry<'a>>,
}

/// Requests to a repository no `[[helm_repositories]]` entry covers.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Charts {
    /// Clients for `cfg`'s Helm repositories and registries, archives kept under `dir` (a
    /// directory of the process's own when `None`).
    pub fn new(cfg: &Config, dir: Option<PathBuf>) -> Self {
        let repositories = cfg.helm_repositories.iter().map(repo::Client::new).collect();
        let anonymous = crate::retry::http_client(DEFAULT_TIMEOUT).map_err(|e| SetupError::Client(Arc::new(e)));
        let registry = RegistryClient::new(&chart_registries(cfg), Arc::new(ManifestCache::new(64)))
            .map_err(|e| SetupError::Registry(Arc::new(e)));
        Self {
            repositories,
            anonymous,
            registry,
            store: store::Store::new(dir),
        }
    }

    /// Bounds the archives kept on disk; after an audit.
    pub fn prune(&self) {
        self.store.prune(store::MAX_BYTES);
    }

    pub fn session(&self) -> Session<'_> {
        Session {
            charts: self,
            indexes: Memo::new(),
            registry: self.registry.as_ref().ok().map(RegistryClient::audit),
        }
    }

    /// The client and credentials for `url`: the `[[helm_repositories]]` entry with the longest
    /// matching prefix, else anonymous.
    fn client_for(&self, url: &str) -> Result<(&reqwest::Client, Option<&repo::Client>), SetupError> {
        let entry = self
            .repositories
            .iter()
            .filter(|r| r.covers(url))
            .max_by_key(|r| r.prefix_len());
        match entry {
            Some(r) => r.http().map(|http| (http, Some(r))),
            None => self.anonymous.as_ref().map(|http| (http, None)).map_err(Clone::clone),
        }
    }
}

impl Session<'_> {
    /// The chart `source` names, downloaded (or found on disk) and verified. A chart directory
    /// in the repository is not fetched: `None`.
    pub async fn fetch(&self, source: &ChartSource) -> Option<Result<Fetched, ChartError>> {
        match source {
            ChartSource::Path(_) => None,
            ChartSource::Repository { repo, name, version } => {
                Some(repo::fetch(self, repo, name, version.as_deref()).await)
            }
            ChartSource::Oci { reference, version } => Some(oci::fetch(self, reference, version.as_deref()).await),
        }
    }
}

/// The registries the chart client may ask: the configured ones (their credentials and
/// `insecure`), and the host of every `oci://` chart that none covers, anonymously over https.
fn chart_registries(cfg: &Config) -> Vec<RegistryConfig> {
    let oci_hosts = cfg
        .environments
        .iter()
        .flat_map(|e| &e.releases)
        .filter_map(|r| match &r.chart {
            ChartSource::Oci { reference, .. } => reference.split('/').next(),
            _ => None,
        });
    crate::sources::registry::with_anonymous(&cfg.registries, oci_hosts)
}

/// `HelmRepositoryConfig` for messages: the URL, whether it has credentials.
pub fn describe(r: &HelmRepositoryConfig) -> String {
    let auth = match &r.credentials {
        Some((user, _)) => format!("basic user {user} (password set)"),
        None => "anonymous".into(),
    };
    let ca = r
        .ca_file
        .as_ref()
        .map(|p| format!(", CA {}", p.display()))
        .unwrap_or_default();
    format!("{}: {auth}{ca}", r.url)
}
