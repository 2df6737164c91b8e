//! The pure core: domain types, parsing, owner resolution, comparison and reports. Nothing here
//! imports tokio, kube, git2 or reqwest, or any module under [`crate::sources`], [`crate::alerts`]
//! or [`crate::app`].

pub mod alert_lifecycle;
pub mod compare;
pub mod deployments;
pub mod dora;
pub mod git_hooks;
pub mod ignore;
pub mod image;
pub mod kustomize_edit;
pub mod manifest;
pub mod model;
pub mod paths;
pub mod postbuild;
pub mod report;
pub mod resolve;
pub mod signatures;
