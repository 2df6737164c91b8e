//! DORA metrics on demand: from the store's history (`driftwatch dora`, `GET /api/dora`, the
//! gauges after each audit) or estimated from git history alone (`dora --from-git`). Wiring:
//! the definitions are in [`crate::core::dora`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

use crate::app::{audit, record};
use crate::config::Config;
use crate::core::dora::{self, DoraReport, Options, Source, Window};
use crate::core::report::{EXIT_CLEAN, EXIT_ERROR};
use crate::sources::git_history::HistoryError;
use crate::sources::lineage;
use crate::store::{Store, StoreError, StoreHandle};

/// `driftwatch dora --output`: what [`command`] prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DoraFormat {
    Text,
    Json,
    Markdown,
}

/// Why `driftwatch dora` has no figures.
#[derive(Debug, thiserror::Error)]
pub enum DoraError {
    #[error("gitops: {0}")]
    Gitops(#[source] audit::SyncError),
    #[error("git history: {0}")]
    History(#[source] HistoryError),
    /// The blocking history walk panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The window `[now - since, now)`, in whole seconds: its end is the next whole second, so
/// that what completed a moment ago (within this second) is in it.
fn window(since: Duration, now: DateTime<Utc>) -> Window {
    use chrono::SubsecRound as _;
    let now = now.trunc_subsecs(0) + chrono::Duration::seconds(1);
    Window {
        since: now - chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX),
        until: now,
    }
}

/// `envs` in config order; every configured environment when empty.
fn environments(cfg: &Config, envs: &[String]) -> Vec<String> {
    cfg.environments
        .iter()
        .map(|e| e.name.clone())
        .filter(|n| envs.is_empty() || envs.contains(n))
        .collect()
}

/// DORA over the store's history, `since` back from `now`.
pub async fn from_store(
    cfg: &Config,
    store: &Store,
    envs: &[String],
    since: Duration,
    now: DateTime<Utc>,
) -> Result<DoraReport, StoreError> {
    let window = window(since, now);
    let lookahead = cfg.dora.failure_window;
    let deployments = store.deployments(window, lookahead).await?;
    let episodes = store.episodes(window, lookahead).await?;
    let opts = Options {
        window,
        source: Source::Observed,
        failure_window: cfg.dora.failure_window,
        environments: environments(cfg, envs),
    };
    Ok(dora::compute(&deployments, &episodes, &opts))
}

/// DORA estimated from git history: a deployment is a commit that changed the digest an
/// environment declares; lead time ends at that commit.
pub async fn from_git(
    cfg: &Config,
    envs: &[String],
    since: Duration,
    now: DateTime<Utc>,
) -> Result<DoraReport, DoraError> {
    let checkout = audit::checkout(cfg).await.map_err(DoraError::Gitops)?;
    let (dir, paths, depth) = (checkout.dir.clone(), record::environment_paths(cfg), record::depth(cfg));
    let walked = tokio::task::spawn_blocking(move || lineage::walk(&dir, &paths, depth))
        .await?
        .map_err(DoraError::History)?;
    let window = window(since, now);
    let opts = Options {
        window,
        source: Source::Git,
        failure_window: cfg.dora.failure_window,
        environments: environments(cfg, envs),
    };
    Ok(dora::compute(&walked.deployments(&window), &[], &opts))
}

/// `driftwatch dora`.
pub async fn command(cfg: &Config, envs: &[String], since: Duration, git: bool, format: DoraFormat) -> u8 {
    let unknown: Vec<&String> = envs
        .iter()
        .filter(|e| !cfg.environments.iter().any(|c| &c.name == *e))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = cfg.environments.iter().map(|e| e.name.as_str()).collect();
        eprintln!(
            "error: unknown environment {} (configured: {})",
            unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            known.join(", ")
        );
        return EXIT_ERROR;
    }
    let now = Utc::now();
    let report = if git {
        from_git(cfg, envs, since, now).await
    } else {
        let handle = StoreHandle::new(cfg);
        match handle.get().await {
            Ok((store, _)) => {
                let r = from_store(cfg, &store, envs, since, now).await.map_err(DoraError::from);
                store.close().await;
                r
            }
            Err(e) => Err(e.into()),
        }
    };
    match report {
        Ok(r) => {
            let text = match format {
                DoraFormat::Text => dora::render_text(&r),
                DoraFormat::Json => dora::render_json(&r),
                DoraFormat::Markdown => dora::render_markdown(&r),
            };
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(text.as_bytes());
            EXIT_CLEAN
        }
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            EXIT_ERROR
        }
    }
}
