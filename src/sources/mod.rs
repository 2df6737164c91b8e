//! Where facts come from: the GitOps repository and its history, rendered manifests, live
//! clusters and OCI registries. IO at the edge; everything is converted to [`crate::core`] types
//! before the pure code sees it.

pub mod cluster;
pub mod git;
pub mod history;
pub mod registry;
pub mod render;
