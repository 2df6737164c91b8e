//! DORA metrics on demand: from the store's history (`driftwatch dora`, `GET /api/dora`, the
//! gauges after each audit) or estimated from git history alone (`dora --from-git`). Wiring:
//! the definitions are in [`crate::core::dora`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

use crate::app::{audit, record};
use crate::config::{Config, StoreBackend};
use crate::core::dora::{self, DoraReport, Options, Source, Window};
use crate::core::image::ImageRef;
use crate::core::model::Lookup;
use crate::core::report::{EXIT_CLEAN, EXIT_ERROR};
use crate::sources::git_history::HistoryError;
use crate::sources::lineage;
use crate::sources::registry::{ManifestCache, RegistryClient};
use crate::store::{Store, StoreError, StoreHandle};

/// `driftwatch dora --output`: what [`command`] prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DoraFormat {
    Text,
    Json,
    Markdown,
}

/// `driftwatch dora --since`: how far back to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// `all`: from the first audit recorded (from the oldest commit walked, `--from-git`).
    All,
    /// A duration back from now (`30d`, `12w`).
    Back(Duration),
}

/// `all` or a duration (`30d`).
pub fn parse_since(s: &str) -> Result<Since, humantime::DurationError> {
    if s.eq_ignore_ascii_case("all") {
        Ok(Since::All)
    } else {
        humantime::parse_duration(s).map(Since::Back)
    }
}

/// What `driftwatch dora` prints and reads, besides its environments and window.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub format: DoraFormat,
    /// `--explain`: every deployment counted, after the figures (text).
    pub explain: bool,
}

/// What `driftwatch dora` says about a store that has recorded no audit, in place of figures.
pub const NO_AUDITS: &str = "no audits recorded yet: DORA metrics come from the audits of the daemon or of `driftwatch --once --notify` (or estimate them from git history with `driftwatch dora --from-git`)";

/// Why `driftwatch dora` has no figures.
#[derive(Debug, thiserror::Error)]
pub enum DoraError {
    #[error("gitops: {0}")]
    Gitops(#[source] audit::SyncError),
    #[error("git history: {0}")]
    History(#[source] HistoryError),
    #[error("repository {repo}: {source}")]
    Repository {
        repo: String,
        #[source]
        source: std::sync::Arc<audit::SyncError>,
    },
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

/// Each environment's `promoted_from` chain, upstream environments first (see
/// [`dora::Options::chains`]). A cycle or an unknown name ends a chain.
pub fn chains(cfg: &Config) -> BTreeMap<String, Vec<String>> {
    let from = |name: &str| {
        cfg.environments
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.promoted_from.as_ref().map(|(f, _)| f.clone()))
    };
    cfg.environments
        .iter()
        .map(|e| {
            let mut chain: Vec<String> = Vec::new();
            let mut at = from(&e.name);
            while let Some(up) = at.filter(|u| *u != e.name && !chain.contains(u)) {
                at = cfg
                    .environments
                    .iter()
                    .any(|c| c.name == up)
                    .then(|| from(&up))
                    .flatten();
                chain.push(up);
            }
            chain.reverse();
            (e.name.clone(), chain)
        })
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
        chains: chains(cfg),
    };
    Ok(dora::compute(&deployments, &episodes, &opts))
}

/// DORA estimated from git history: a deployment is a commit that changed the version (digest
/// or tag) an environment declares; lead time ends at that commit. `Since::All`: from the
/// oldest commit walked.
pub async fn from_git(
    cfg: &Config,
    envs: &[String],
    since: Since,
    now: DateTime<Utc>,
) -> Result<DoraReport, DoraError> {
    let mut walks = Vec::new();
    let others = audit::repositories(cfg).await;
    // Each repository environments are declared in: its own history, its own deployments.
    for repo in record::history_repositories(cfg) {
        let dir = match &repo {
            None => audit::checkout(cfg).await.map_err(DoraError::Gitops)?.dir,
            Some(r) => match others.get(r) {
                Some(Ok(s)) => s.checkout.dir.clone(),
                Some(Err(e)) => {
                    return Err(DoraError::Repository {
                        repo: r.to_string(),
                        source: e.clone(),
                    });
                }
                None => continue,
            },
        };
        let (paths, depth) = (record::environment_paths(cfg, repo.as_ref()), record::depth(cfg));
        let mut walked = tokio::task::spawn_blocking(move || lineage::walk(&dir, &paths, depth))
            .await?
            .map_err(DoraError::History)?;
        if !cfg.registries.is_empty() {
            let resolved = resolve_tags(cfg, walked.tags()).await;
            walked.resolve_tags(resolved);
        }
        walks.push(walked);
    }
    let since = match since {
        Since::Back(d) => d,
        Since::All => walks
            .iter()
            .filter_map(lineage::Lineage::first_commit_at)
            .min()
            .map_or(Duration::ZERO, |first| back_to(first, now)),
    };
    let window = window(since, now);
    let opts = Options {
        window,
        source: Source::Git,
        failure_window: cfg.dora.failure_window,
        environments: environments(cfg, envs),
        chains: chains(cfg),
    };
    let mut deployments: Vec<_> = walks.iter().flat_map(|w| w.deployments(&window)).collect();
    deployments.sort_by(|a, b| {
        (a.started_at, &a.environment, &a.workload, &a.digest).cmp(&(
            b.started_at,
            &b.environment,
            &b.workload,
            &b.digest,
        ))
    });
    Ok(dora::compute(&deployments, &[], &opts))
}

/// What the configured registries say each of `tags` (`repo:tag` as declared) points to now,
/// each asked once; tags of registries not configured are left out. A client that cannot be
/// built makes every lookup unavailable, with the reason.
async fn resolve_tags(cfg: &Config, tags: BTreeSet<&str>) -> HashMap<String, Lookup<String>> {
    let tags = tags.into_iter().filter_map(|tag| {
        let image = ImageRef::parse(tag).ok()?;
        let name = image.effective_tag()?.to_string();
        let known = cfg.registries.iter().any(|r| r.host == image.registry());
        known.then(|| (tag.to_string(), image, name))
    });
    let client = match RegistryClient::new(&cfg.registries, Arc::new(ManifestCache::new(1))) {
        Ok(client) => client,
        Err(e) => {
            let why = crate::error_chain(&e);
            return tags.map(|(tag, ..)| (tag, Lookup::Unavailable(why.clone()))).collect();
        }
    };
    let registry = client.audit();
    let registry = &registry;
    let lookups = tags.map(|(tag, image, name)| async move {
        let found = registry.resolve_tag(&image, &name).await;
        (tag, found)
    });
    futures::future::join_all(lookups).await.into_iter().collect()
}

/// How long ago `first` was, from the window's end (see [`window`]): a window starting at it.
fn back_to(first: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    use chrono::SubsecRound as _;
    let end = now.trunc_subsecs(0) + chrono::Duration::seconds(1);
    (end - first).to_std().unwrap_or(Duration::ZERO)
}

/// The store's report, or `None` when it has recorded no audit: a SQLite file that does not
/// exist is not created (nor migrated) to say so.
async fn observed(
    cfg: &Config,
    envs: &[String],
    since: Since,
    now: DateTime<Utc>,
) -> Result<Option<DoraReport>, DoraError> {
    if let StoreBackend::Sqlite(path) = &cfg.store.backend
        && !path.exists()
    {
        return Ok(None);
    }
    let handle = StoreHandle::new(cfg);
    let (store, _) = handle.get().await?;
    let r = async {
        let (audits, first) = store.audits().await?;
        if audits == 0 {
            return Ok(None);
        }
        let since = match since {
            Since::Back(d) => d,
            Since::All => first.map_or(Duration::ZERO, |first| back_to(first, now)),
        };
        from_store(cfg, &store, envs, since, now).await.map(Some)
    }
    .await;
    store.close().await;
    Ok(r?)
}

/// The names in `envs` that are not configured environments, said as an error.
fn unknown_environments(cfg: &Config, envs: &[String]) -> Option<String> {
    let unknown: Vec<&str> = envs
        .iter()
        .filter(|e| !cfg.environments.iter().any(|c| &c.name == *e))
        .map(String::as_str)
        .collect();
    let known: Vec<&str> = cfg.environments.iter().map(|e| e.name.as_str()).collect();
    (!unknown.is_empty()).then(|| {
        format!(
            "unknown environment {} (configured: {})",
            unknown.join(", "),
            known.join(", ")
        )
    })
}

/// `driftwatch dora`.
pub async fn command(cfg: &Config, envs: &[String], since: Since, git: bool, output: Output) -> u8 {
    if let Some(why) = unknown_environments(cfg, envs) {
        eprintln!("error: {why}");
        return EXIT_ERROR;
    }
    let now = Utc::now();
    let report = if git {
        from_git(cfg, envs, since, now).await.map(Some)
    } else {
        observed(cfg, envs, since, now).await
    };
    use std::io::Write as _;
    match report {
        Ok(Some(r)) => {
            let text = match output.format {
                DoraFormat::Text if output.explain => dora::render_text(&r) + &dora::render_explain(&r),
                DoraFormat::Text => dora::render_text(&r),
                DoraFormat::Json => dora::render_json(&r),
                DoraFormat::Markdown => dora::render_markdown(&r),
            };
            let _ = std::io::stdout().write_all(text.as_bytes());
            EXIT_CLEAN
        }
        Ok(None) => {
            match output.format {
                DoraFormat::Json => eprintln!("{NO_AUDITS}"),
                _ => println!("{NO_AUDITS}"),
            }
            EXIT_CLEAN
        }
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            EXIT_ERROR
        }
    }
}
