//! A cluster read from a snapshot file (`kubectl get … -A -o json`) instead of an API server:
//! read again at every audit, so a refreshed file is picked up.

use std::path::Path;

use super::ClusterError;
use crate::core::resolve::RawObjects;

pub async fn read(path: &Path) -> Result<RawObjects, ClusterError> {
    let shown = path.display().to_string();
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| ClusterError::Snapshot {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    RawObjects::from_snapshot_json(&text).map_err(|e| ClusterError::Snapshot {
        path: shown,
        reason: crate::error_chain(&e),
    })
}
