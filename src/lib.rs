//! driftwatch: compares the image digests a GitOps repository declares per environment with the
//! digests the Pods of live Kubernetes clusters run, reports every mismatch, and alerts on it.
//!
//! # Layout
//! Data flows one way, and the folders show it. The pure renderers are workspace crates of their
//! own (`crates/`), which import nothing of driftwatch:
//!
//! ```text
//! crates/kustomize (the built-in kustomize renderer), crates/helm (charts, values, Helm's semver),
//! crates/yaml (safe-yaml: YAML with a nesting limit)
//!
//! config ──► sources/git ──► sources/render (plain, kustomize, Helm, external) ──► declared ───┐
//!            sources/charts (Helm repositories, OCI charts) ─┘                                  │
//!            sources/cluster (one LiveSource per cluster: API lists, watches, snapshot) ► live ┼─► core/compare ──► report
//!            sources/registry, sources/git_history, sources/lineage (facts) ──────┘            │
//!                                   store (state, history) ◄── app/deliver ──► alerts/channels ◄┘
//! app/: cli, audit (one audit), daemon/ (event loop + parts), schedule, leader, http (reads one
//!       status model), web, metrics, describe, record, dora, deliver
//! ```
//!
//! Imports point down this picture: `cargo xtask check-modules` (in CI) fails on any import
//! cycle among sibling modules, at every level.
//!
//! - [`settings`]: what every config section uses: errors naming file and key, the validator,
//!   secrets that never print, retry settings. A leaf: it imports nothing of the crate, so
//!   alert channels own their config sections without depending on [`config`].
//! - [`config`]: loads and validates configuration (defaults < file < env < CLI): `raw` serde
//!   shapes, `validate/` one file per section. IO.
//! - [`sources`]: where facts come from, converted to [`core`] types at the edge. IO.
//!   [`sources::Sources`] holds what lasts across audits (a kube client per cluster, the
//!   registry client, bounded caches) and is rebuilt on reload.
//!   - [`sources::git`]: clones or fetches the GitOps repository into a locked cache.
//!   - [`sources::git_history`]: walks commits for promotion lineage; [`sources::lineage`]: the
//!     per-environment declared timeline (which commit declared a digest, deployments from git).
//!   - [`sources::render`]: paths → manifests, choosing per path: [`sources::render::plain`]
//!     files as they are, the built-in kustomize renderer (the `kustomize` crate, reading
//!     through [`sources::render::files`], a git tree or a directory),
//!     [`sources::render::kustomize_exec`] the external kustomize; Helm releases with
//!     [`sources::render::helm`] (the `helm` crate, else `helm template` through
//!     [`sources::render::helm_exec`]); every kustomize and Helm render through
//!     [`sources::render::cache`].
//!   - [`sources::charts`]: Helm charts from outside the repository, verified and kept on disk:
//!     [`sources::charts::repo`] (Helm repositories), [`sources::charts::oci`] (OCI registries,
//!     through the registry client), [`sources::charts::dependencies`] (what `charts/` lacks),
//!     [`sources::charts::store`].
//!   - [`sources::cluster`]: a [`sources::cluster::LiveSource`] per cluster:
//!     [`sources::cluster::api`] (paginated lists) or [`sources::cluster::snapshot`];
//!     [`sources::cluster::watch`] keeps a cluster in memory from watches (the daemon).
//!   - [`sources::registry`]: OCI Distribution client ([`sources::registry::client`]), auth
//!     ([`sources::registry::auth`]), the single-flight and manifest caches
//!     ([`sources::registry::memo`]).
//! - [`core`]: the pure core; imports no tokio, kube, git2, reqwest, nor any IO module.
//!   - [`core::model`]: the domain types. [`core::image`]: image references and runtime IDs.
//!   - [`core::manifest`]: workloads, images and ConfigMaps from rendered manifests (YAML parsed
//!     by the `safe_yaml` crate).
//!   - [`core::resolve`]: the Kubernetes fields the audit reads and owner resolution.
//!   - [`core::paths`]: the one path matcher, used by config, render and history alike.
//!   - [`core::compare`]: declared vs live as findings, one file per family of checks.
//!   - [`core::ignore`]: accepted findings, with reasons and expiry.
//!   - [`core::report`]: the report, one file per output format;
//!     [`core::report::status`] the status page's view model (`driftwatch.status/v1`) and
//!     [`core::report::html`] its HTML (askama templates in `templates/`, assets built in).
//!   - [`core::deployments`]: deployments from what audits see running. [`core::dora`]: DORA
//!     metrics and their bands from deployments and drift episodes, and their outputs.
//!   - [`core::alert_lifecycle`]: alert lifecycle per fingerprint and channel (what the store
//!     keeps, what the channels are sent).
//!   - [`core::git_hooks`]: git push webhooks: whether a request carries the shared secret
//!     (signatures, tokens) and what its payload asks for (a fetch, a ping's answer, nothing).
//! - [`alerts`]: where alerts go and when.
//!   - [`alerts::settle`]: `sync_grace`, which drift a new commit explains for now. Pure.
//!   - [`alerts::channels`]: one file per channel kind (its config section, pure payload and
//!     send) and `text` for the wording they share.
//! - [`store`]: alert state and history (audits, drift episodes, deployments) in SQLite or
//!   PostgreSQL through one code path, migrations embedded. IO.
//!   - [`store::alerts`]: the alert state, and per-notice claims. [`store::history`]: what
//!     DORA reads. [`store::state_file`]: the JSON alert state of earlier releases, read once
//!     to move it into the store.
//! - [`app`]: the command line and the service: wiring, and the service's own rules that have
//!   no other user (webhook verification, `[server.auth]`, the schedule's times, readiness).
//!   - [`app::cli`] (commands, exit codes; `main` only parses), [`app::audit`] (one audit),
//!     [`app::describe`] (`check-config`), [`app::checks`] (what `check-config` probes).
//!   - [`app::daemon`]: the event loop (schedule fires, watch changes, commits, leadership,
//!     reloads, shutdown) over small parts: one audit, the partial re-audit, watches, the git
//!     side. It writes [`app::status`] (one read model: latest report with its generation,
//!     readiness, leadership), which [`app::http`], [`app::web`] and [`app::metrics`] read;
//!     the HTTP side never imports the daemon.
//!   - [`app::schedule`] (tokio-cron-scheduler fires), [`app::leader`] (Lease election),
//!     [`app::auth`]
//!     (`[server.auth]`), [`app::web`] (the status pages: `/`, `/api/status`, `/workloads/…`,
//!     `/pipeline`), [`app::metrics`].
//!   - After an audit: [`app::deliver`] (claims notices in the store, routes them to the
//!     channels, records what was delivered), [`app::record`] (audits and deployments into the
//!     store's history), [`app::dora`] (`dora`, `/api/dora`).
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

/// [`error_chain`] of an error about the repository at `url`, without the password `url` may
/// hold.
pub fn redacted_chain(e: &dyn std::error::Error, url: &str) -> String {
    error_chain(e).replace(url, &config::redact_url(url))
}

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
