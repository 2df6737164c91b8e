//! driftwatch: compares the image digests a GitOps repository declares per environment with the
//! digests the Pods of live Kubernetes clusters run, and reports every mismatch.
//!
//! # Layout
//! Data flows one way: config → gitops + declared (what git says) and cluster + live (what
//! runs) → compare → report.
//!
//! - [`config`]: loads and validates configuration (defaults < file < env < CLI). IO.
//! - [`gitops`]: clones or fetches the GitOps repository into a cache with git2. IO.
//! - [`declared`]: renders each environment's paths (kustomize or plain files). IO.
//! - [`yaml`]: the one place that parses YAML. Pure.
//! - [`manifest`]: extracts workloads and images from rendered manifests. Pure.
//! - [`image`]: image references and runtime image IDs. Pure.
//! - [`cluster`]: lists workloads and Pods through the Kubernetes API, or reads a snapshot. IO.
//! - [`live`]: the Kubernetes fields the audit reads and owner resolution. Pure.
//! - [`compare`]: declared vs live, as findings. Pure.
//! - [`model`]: the domain types all of the above share. Pure.
//! - [`report`]: the report and its text, markdown and JSON renderings. Pure.
//! - [`audit`]: runs one audit over all environments, concurrently with a bound.
//! - [`cli`]: the command line and the commands behind it.

pub mod alerts;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod daemon;
pub mod declared;
pub mod gitops;
pub mod ignore;
pub mod image;
pub mod leader;
pub mod lineage;
pub mod live;
pub mod manifest;
pub mod message;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod registry;
pub mod report;
pub mod retry;
pub mod schedule;
pub mod server;
pub mod state;
pub mod yaml;

/// An error with its sources, `a: b: c`, so that "connection refused" is not hidden behind a
/// generic "service error". Parts already contained in the text are not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}
