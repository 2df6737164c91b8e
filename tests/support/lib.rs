//! Fixtures for driftwatch's integration tests: the real binary, real git repositories and
//! servers, a Kubernetes API served over HTTP, and a typed builder for the config file.
//!
//! # Layout
//! - [`run`]: runs the driftwatch binary once and reads its [`run::Output`].
//! - [`daemon`]: the daemon under test (`driftwatch run`) as a child process.
//! - [`config`]: [`config::ConfigBuilder`], the TOML file every test writes.
//! - [`fixtures`]: digests, GitOps manifests, and Kubernetes objects as the API returns them.
//! - [`git`]: repositories, `git daemon` (git://) and smart HTTP with Basic auth.
//! - [`kube`]: [`kube::FakeKube`], a Kubernetes API (LIST, Leases) served over HTTP.
//! - [`registry`]: a real OCI registry (docker-registry) and a Bearer-token front for it.
//! - [`charts`]: Helm charts packaged and indexed by real Helm, a Helm repository over HTTP,
//!   and the `helm` stand-in.
//! - [`smtp`]: a real SMTP server (aiosmtpd) with TLS and AUTH.
//! - [`postgres`]: a real PostgreSQL server (run as `nobody` under root), databases, `psql`.
//! - [`receiver`]: HTTP receivers standing in for Slack, webhooks and Alertmanager.
//! - [`net`]: listeners on 127.0.0.1:0, a plain HTTP client, polling with a deadline.
//! - [`process`]: external servers in their own process group, stopped with the whole group.
//! - [`browser`]: headless Chromium driven over the DevTools protocol (pages, clicks, typing,
//!   screenshots, console errors and CSP violations).
//!
//! In-process servers bind 127.0.0.1:0 and serve that listener. External programs that must
//! be told a port (git daemon, docker-registry, aiosmtpd, postgres, the daemon) are given a free one and
//! started again on another when they lost it to a parallel test before binding it.

pub mod browser;
pub mod charts;
pub mod config;
pub mod daemon;
pub mod fixtures;
pub mod git;
pub mod kube;
pub mod net;
pub mod postgres;
pub mod process;
pub mod receiver;
pub mod registry;
pub mod run;
pub mod smtp;

use std::path::Path;

/// Copies a file, or a directory with everything below it, creating parent directories.
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().expect("a file path")).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

/// Writes `text` to `path`, creating its parent directories.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a file path")).unwrap();
    std::fs::write(path, text).unwrap();
}
