//! driftwatch: compares the image digests a GitOps repository declares per environment with the
//! digests the Pods of live Kubernetes clusters run, reports every mismatch, and alerts on it.
//!
//! # Layout
//! Data flows one way: config → gitops + declared (what git says) and cluster + live (what
//! runs), plus registry and lineage facts → compare → report (+ ignore rules) → alerts.
//!
//! What an audit reads and decides:
//! - [`config`]: loads and validates configuration (defaults < file < env < CLI). IO.
//! - [`gitops`]: clones or fetches the GitOps repository into a cache with git2. IO.
//! - [`declared`]: renders each environment's paths (kustomize or plain files). IO.
//! - [`yaml`]: the one place that parses YAML. Pure.
//! - [`manifest`]: extracts workloads, images and ConfigMaps from rendered manifests. Pure.
//! - [`image`]: image references and runtime image IDs. Pure.
//! - [`cluster`]: lists workloads, Pods and ConfigMaps through the Kubernetes API, or reads a
//!   snapshot. IO.
//! - [`live`]: the Kubernetes fields the audit reads and owner resolution. Pure.
//! - [`registry`]: OCI Distribution client: tags, digests, image indexes. IO.
//! - [`lineage`]: promotion lineage from the GitOps history. IO.
//! - [`compare`]: declared vs live (and registry and lineage facts), as findings. Pure.
//! - [`ignore`]: accepted findings, with reasons and expiry. Pure.
//! - [`model`]: the domain types all of the above share. Pure.
//! - [`report`]: the report and its text, markdown and JSON renderings. Pure.
//! - [`audit`]: runs one audit over all environments, concurrently with a bound.
//!
//! What happens with the result:
//! - [`alerts`]: alert lifecycle per fingerprint and channel (new, reminder, resolved). Pure.
//! - [`message`]: Slack, email, webhook and Alertmanager payloads. Pure.
//! - [`state`]: the alert state file, atomic and locked. IO.
//! - [`notify`]: delivers to the channels and records what was delivered. IO.
//! - [`retry`]: retries with backoff and `Retry-After` for calls to other services.
//!
//! The service and the command line:
//! - [`schedule`]: cron schedule without overlapping runs, on tokio's clock.
//! - [`daemon`]: the long-running service: schedule, reload, shutdown, HA.
//! - [`server`]: `/metrics`, `/healthz`, `/readyz`, `/report`, `POST /-/reload`.
//! - [`metrics`]: the Prometheus metrics.
//! - [`leader`]: leader election through a Lease. IO.
//! - [`cli`]: the command line and the commands behind it; `main` only parses.

pub mod alerts;
pub mod app;
pub mod clock;
pub mod config;
pub mod core;
pub mod retry;
pub mod sources;

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
