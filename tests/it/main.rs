//! driftwatch's integration tests, built as one test binary with a module per area (as
//! ripgrep's `tests/tests.rs` and cargo's testsuite do): each file used to be a binary of its
//! own, and each linked the whole crate.
//!
//! Run one area with `cargo test --test it <module>::`, e.g. `cargo test --test it alerts::`.
//!
//! The modules share one process, with the test threads running beside each other: a test
//! must not change process-wide state (environment variables, the current directory, signal
//! dispositions, umask, rlimits). What the daemon under test needs is set on its child process
//! (`Command::env`, `current_dir`, `pre_exec`) or passed in-process (`inprocess::Daemon::start`
//! takes its environment as a map). The fixtures are the `support` crate (tests/support).
//!
//! The built-in kustomize renderer's differential tests live with it, in `crates/kustomize/tests/`.

mod inprocess;

mod alerts;
mod browser_harness;
mod cli;
mod config_drift;
mod daemon;
mod daemon_in_process;
mod deploy;
mod discovery;
mod dockerfile;
mod dora;
/// Needs a real cluster: `DRIFTWATCH_E2E_KUBECONFIG=… cargo test --features e2e --test it e2e::`.
#[cfg(feature = "e2e")]
mod e2e;
mod flux;
mod formats;
mod gates;
mod git_hooks;
mod gitops;
mod helm;
mod ignore_baseline;
mod kube_api;
mod kustomize;
mod leader;
mod logs;
mod paths;
mod postgres_harness;
mod promotion;
mod rbac;
mod readme_map;
mod registry;
mod render_cache;
mod repositories;
mod rollouts;
mod setup;
mod shutdown_children;
mod signed_images;
mod sources;
mod state_faults;
mod store;
mod watch;
mod watch_daemon;
mod web;
mod web_auth;
mod web_browser;

use std::path::Path;

/// The repository's root (the crate's manifest directory).
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The repository's root, as a path.
fn repo_root() -> &'static Path {
    Path::new(ROOT)
}

/// A schedule that does not fire during a test (03:00:00 on 1 January).
const NEVER: &str = "0 0 3 1 1 *";
