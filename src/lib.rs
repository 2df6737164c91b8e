//! driftwatch: compares the image digests a GitOps repository declares per environment with the
//! digests the Pods of live Kubernetes clusters run, reports every mismatch, and alerts on it.
//!
//! # Layout
//! Data flows one way, and the folders show it:
//!
//! ```text
//! config ──► sources/git ──► sources/render (plain, built-in kustomize, external) ──► declared ─┐
//!            sources/cluster (one LiveSource per cluster: API lists, watches, snapshot) ► live ┼─► core/compare ──► report
//!            sources/registry, sources/history, sources/lineage (facts) ───────────┘          │
//!                                                     store, alerts (lifecycle, channels/) ◄─┘
//! app/: cli, audit, daemon, schedule, leader, http, status, metrics, describe: wiring, never logic
//! ```
//!
//! - [`config`]: loads and validates configuration (defaults < file < env < CLI): `raw` serde
//!   shapes, `validate/` one file per section. IO.
//! - [`settings`]: what every config section uses: errors naming file and key, the validator,
//!   secrets that never print, retry settings. A leaf, so alert channels own their config
//!   sections without depending on [`config`] (config → channels → settings: no circle).
//! - [`sources`]: where facts come from, converted to [`core`] types at the edge. IO.
//!   [`sources::Sources`] holds what lasts across audits (a kube client per cluster, the
//!   registry client, bounded caches) and is rebuilt on reload.
//!   - [`sources::git`]: clones or fetches the GitOps repository into a locked cache.
//!   - [`sources::history`]: walks commits for promotion lineage; [`sources::lineage`]: the
//!     per-environment declared timeline (which commit declared a digest, deployments from git).
//!   - [`sources::render`]: paths → manifests, choosing per path: [`sources::render::plain`]
//!     files as they are, [`sources::render::builtin`] the built-in kustomize renderer (through
//!     [`sources::render::files`], a git tree or a directory), [`sources::render::kustomize_exec`]
//!     the external kustomize; every kustomize render through [`sources::render::cache`].
//!   - [`sources::cluster`]: a [`sources::cluster::LiveSource`] per cluster:
//!     [`sources::cluster::api`] (paginated lists) or [`sources::cluster::snapshot`];
//!     [`sources::cluster::watch`] keeps a cluster in memory from watches (the daemon).
//!   - [`sources::registry`]: OCI Distribution client ([`sources::registry::client`]), auth
//!     ([`sources::registry::auth`]), the single-flight and manifest caches
//!     ([`sources::registry::memo`]).
//! - [`core`]: the pure core; imports no tokio, kube, git2, reqwest, nor any IO module.
//!   - [`core::model`]: the domain types. [`core::image`]: image references and runtime IDs.
//!   - [`core::yaml`]: the one YAML parser (with a nesting limit). [`core::manifest`]:
//!     workloads, images and ConfigMaps from rendered manifests.
//!   - [`core::resolve`]: the Kubernetes fields the audit reads and owner resolution.
//!   - [`core::paths`]: the one path matcher, used by config, render and history alike.
//!   - [`core::compare`]: declared vs live as findings, one file per family of checks.
//!   - [`core::ignore`]: accepted findings, with reasons and expiry.
//!   - [`core::report`]: the report, one file per output format;
//!     [`core::report::status`] the status page's view model (`driftwatch.status/v1`) and
//!     [`core::report::html`] its HTML (askama templates in `templates/`, assets built in).
//!   - [`core::deployments`]: deployments from what audits see running. [`core::dora`]: DORA
//!     metrics and their bands from deployments and drift episodes, and their outputs.
//!   - [`core::git_hooks`]: git push webhooks: whether a request carries the shared secret
//!     (signatures, tokens) and what its payload asks for (a fetch, a ping's answer, nothing).
//! - [`alerts`]: what happens with a report.
//!   - [`alerts::lifecycle`]: alert lifecycle per fingerprint and channel. Pure.
//!   - [`alerts::settle`]: `sync_grace`, which drift a new commit explains for now. Pure.
//!   - [`alerts::state_file`]: the JSON state of earlier releases, read once to move it into
//!     the store. IO.
//!   - [`alerts::deliver`]: claims notices in the store, routes them to channels, records what
//!     was delivered. IO.
//!   - [`alerts::channels`]: one file per channel kind (its config section, pure payload and
//!     send) and `text` for the wording they share.
//! - [`store`]: alert state and history (audits, drift episodes, deployments) in SQLite or
//!   PostgreSQL through one code path, migrations embedded. IO.
//!   - [`store::alerts`]: the alert state, and per-notice claims. [`store::history`]: what
//!     DORA reads.
//! - [`app`]: the command line and the service, wiring only.
//!   - [`app::cli`] (commands, exit codes; `main` only parses), [`app::audit`] (one audit),
//!     [`app::describe`] (`check-config`), [`app::daemon`] (schedule, reload, shutdown, HA),
//!     [`app::status`] (what the daemon shows, read by [`app::http`]), [`app::schedule`]
//!     (tokio-cron-scheduler fires; no-overlap guard ours), [`app::leader`] (Lease election),
//!     [`app::metrics`], [`app::history`] (what is recorded after an audit), [`app::dora`]
//!     (`dora`, `/api/dora`), [`app::web`] (the status pages: `/`, `/api/status`,
//!     `/workloads/…`, `/pipeline`).
//! - [`retry`]: retries with backoff and `Retry-After`, and the one HTTP client constructor,
//!   for registries and alert channels alike.
//! - [`clock`]: wall-clock time on tokio's clock, so schedules are testable with paused time.

pub mod alerts;
pub mod app;
pub mod clock;
pub mod config;
pub mod core;
pub mod retry;
pub mod settings;
pub mod sources;
pub mod store;

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
