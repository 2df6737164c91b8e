//! What a cluster runs, one [`LiveSource`] per configured cluster: the Kubernetes API through a
//! kube client built once per source ([`api`]) or a snapshot file ([`snapshot`]); in watch mode,
//! [`watch`] keeps a cluster's objects current in memory instead. The objects go
//! to [`crate::core::resolve`] for owner resolution. A new kind of live source is one more file
//! here plus one arm of `Kind` below.

pub mod api;
pub mod snapshot;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::config::{ClusterConfig, ClusterSource, CompareConfigMaps};
use crate::core::model::{ConfigListing, LiveState};
use crate::core::resolve;

#[derive(Clone, Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster {cluster}: cannot load client configuration: {reason}")]
    Config { cluster: String, reason: String },
    #[error("cluster {cluster}: list {resource}: forbidden (HTTP 403): {message}")]
    Forbidden {
        cluster: String,
        resource: String,
        message: String,
    },
    #[error("cluster {cluster}: list {resource}: HTTP {code}: {message}")]
    Api {
        cluster: String,
        resource: String,
        code: u16,
        message: String,
    },
    #[error("cluster {cluster}: list {resource}: no answer within {timeout}")]
    Timeout {
        cluster: String,
        resource: String,
        timeout: String,
    },
    #[error("cluster {cluster}: list {resource}: unreachable: {reason}")]
    Unreachable {
        cluster: String,
        resource: String,
        reason: String,
    },
    /// Watch mode: the watcher of `resource` has not finished its initial sync yet.
    #[error("cluster {cluster}: watch {resource}: initial sync not finished")]
    Syncing { cluster: String, resource: String },
    #[error("snapshot {path}: {reason}")]
    Snapshot { path: String, reason: String },
}

/// Listing settings shared by every cluster.
#[derive(Clone, Copy, Debug)]
pub struct ListOptions {
    /// Also list Secrets (only for environments with `compare_secrets`).
    pub secrets: bool,
    /// Whether and how ConfigMaps are listed (`compare_configmaps`).
    pub configmaps: CompareConfigMaps,
    pub timeout: Duration,
    pub page_size: u32,
}

/// Where one cluster's objects come from, held across audits: its kube client is built when the
/// source is created (at start or reload) and reused by every audit of every environment on it.
pub struct LiveSource {
    name: String,
    kind: Kind,
}

enum Kind {
    Api {
        source: ClusterSource,
        timeout: Duration,
        /// Built at creation; a client that could not be built (an unreadable kubeconfig) is
        /// tried again at the next audit, which reports the error meanwhile.
        client: OnceCell<kube::Client>,
    },
    Snapshot(PathBuf),
}

impl LiveSource {
    /// The source for `cfg`, its client built now with `timeout` on connecting and reading.
    pub async fn new(cfg: &ClusterConfig, timeout: Duration) -> Self {
        let kind = match &cfg.source {
            ClusterSource::Snapshot(path) => Kind::Snapshot(path.clone()),
            source => Kind::Api {
                source: source.clone(),
                timeout,
                client: OnceCell::new(),
            },
        };
        let live = Self {
            name: cfg.name.clone(),
            kind,
        };
        if let Kind::Api {
            source,
            timeout,
            client,
        } = &live.kind
        {
            // An error is reported by the first audit that needs the client.
            let _ = built(client, &live.name, source, *timeout).await;
        }
        live
    }

    /// The cluster's Kubernetes version (`gitVersion` of `GET /version`, as Helm's
    /// `.Capabilities.KubeVersion` reads it from a cluster), for Helm releases that name none.
    /// `None` for a snapshot, or when the API does not say (the caller's default applies; the
    /// audit's own lists report an unreachable cluster).
    pub async fn kube_version(&self) -> Option<String> {
        let Kind::Api {
            source,
            timeout,
            client,
        } = &self.kind
        else {
            return None;
        };
        let client = built(client, &self.name, source, *timeout).await.ok()?;
        // Short: rendering waits for it, and a cluster that does not answer is the lists' to
        // report, not worth a second full timeout.
        let asked = tokio::time::timeout(Duration::from_secs(5), client.apiserver_version()).await;
        match asked {
            Ok(Ok(info)) => Some(info.git_version).filter(|v| !v.is_empty()),
            Ok(Err(e)) => {
                tracing::debug!(cluster = %self.name, error = %e, "cluster version unknown");
                None
            }
            Err(_) => None,
        }
    }

    /// What `cfg`'s namespaces (all when empty) run now, and how many objects were read.
    pub async fn fetch(&self, cfg: &ClusterConfig, opts: ListOptions) -> Result<(LiveState, usize), ClusterError> {
        let namespaces = (!cfg.namespaces.is_empty()).then_some(cfg.namespaces.as_slice());
        let raw = match &self.kind {
            Kind::Snapshot(path) => {
                let mut raw = snapshot::read(path).await?;
                // As for a cluster reached through the API: `compare_configmaps = false` means
                // no config checks, whatever the snapshot holds.
                if opts.configmaps == CompareConfigMaps::Never {
                    raw.config_listing = ConfigListing::Skipped;
                }
                raw
            }
            Kind::Api {
                source,
                timeout,
                client,
            } => {
                let client = built(client, &self.name, source, *timeout).await?;
                api::list_all(&cfg.name, client, namespaces, opts).await?
            }
        };
        let objects = raw.workloads.len() + raw.pods.len();
        Ok((resolve::build(&raw, namespaces), objects))
    }
}

/// The client in `cell`, built first if it is not there yet.
async fn built<'a>(
    cell: &'a OnceCell<kube::Client>,
    name: &str,
    source: &ClusterSource,
    timeout: Duration,
) -> Result<&'a kube::Client, ClusterError> {
    cell.get_or_try_init(|| api::client(name, source, timeout)).await
}
