//! Placeholder for the watchers (being built on the wt-watch branch); replaced on merge.

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::config::CompareConfigMaps;
use crate::core::model::LiveState;

use super::ClusterError;

#[derive(Clone, Debug)]
pub struct Change {
    pub cluster: String,
    pub namespace: String,
    pub kind: &'static str,
    pub name: String,
}

pub struct ClusterWatch;

impl ClusterWatch {
    pub fn start(
        _cluster: &str,
        _client: kube::Client,
        _namespaces: &[String],
        _configmaps: CompareConfigMaps,
        _changes: UnboundedSender<Change>,
        _shutdown: CancellationToken,
    ) -> Self {
        Self
    }

    pub fn synced(&self) -> bool {
        false
    }

    pub async fn wait_synced(&self) {
        std::future::pending::<()>().await
    }

    pub fn state(&self) -> Result<(LiveState, usize), ClusterError> {
        unreachable!("never synced")
    }
}
