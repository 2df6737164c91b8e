//! The git side: fetches the GitOps repository every `poll_interval` and when a push webhook
//! asks, and hands the event loop a commit the last audit did not audit; each poll fetches the
//! other repositories the environments read too, and one at a new commit audits as well.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::context::Context;
use super::event_loop::Audits;
use crate::app::status::FetchRequests;
use crate::config::GitopsConfig;
use crate::sources::git::{self, Checkout, GitError};

/// Why the repository is fetched between audits, as the metrics and logs say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FetchTrigger {
    Poll,
    Webhook,
}

impl FetchTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Poll => "poll",
            Self::Webhook => "webhook",
        }
    }
}

/// Why a fetch between audits failed.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("git task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error(transparent)]
    Git(#[from] GitError),
}

/// The git side's ends: what the event loop says of its audits, and where new commits go.
pub(super) struct GitSide {
    pub audits: watch::Receiver<Audits>,
    pub commits: mpsc::UnboundedSender<String>,
    pub requests: FetchRequests,
}

/// Fetches the GitOps repository every `poll_interval` and when a push webhook asks, and hands
/// the event loop a fetched commit that is not the one the last audit audited. The next poll is
/// one interval after the last fetch ended (a webhook's fetch included), so missed intervals
/// do not pile up. A failed fetch is logged and counted, never alerted by itself: the next
/// audit reports the repository error as any audit does. Only the leader fetches.
///
/// Before the first audit there is nothing to compare with: the first poll only notes the
/// commit (when to audit first stays with the schedule and `run_on_start`), a later poll that
/// finds another commit audits it, and a webhook audits unless the commit is the one noted.
pub(super) async fn follow_git(cx: Arc<Context>, mut side: GitSide, stop: CancellationToken) {
    let mut noted: Option<String> = None;
    let mut last_fetch = Instant::now();
    loop {
        let Some(trigger) = next_trigger(&cx, &side.requests, last_fetch, &stop).await else {
            return;
        };
        let cfg = cx.config();
        if !cx.state.is_leader() {
            last_fetch = Instant::now();
            continue;
        }
        // A running audit fetched for itself; resetting the working tree under it could change
        // what it reads (the ignore file). What it audited is compared with afterwards.
        if !audit_over(&mut side.audits, &stop).await {
            return;
        }
        let default = match &cfg.gitops {
            GitopsConfig::Remote { .. } => fetch_default(&cx, &side, trigger, &mut noted, &stop).await,
            _ => Fetched::Unchanged,
        };
        if default == Fetched::Stopped {
            return;
        }
        // The other repositories environments read (discovered Applications' too): a poll
        // fetches each, and a commit that moved since the last poll audits.
        let moved = if trigger == FetchTrigger::Poll {
            fetch_others(&cfg).await
        } else {
            Vec::new()
        };
        last_fetch = Instant::now();
        match default {
            Fetched::New(commit) => {
                let _ = side.commits.send(commit);
            }
            _ if !moved.is_empty() => {
                info!(repositories = ?moved, "new commit in another repository: auditing");
                let _ = side.commits.send(String::new());
            }
            _ => {}
        }
    }
}

/// What one fetch of the `[gitops]` repository found.
#[derive(Debug, PartialEq, Eq)]
enum Fetched {
    /// A commit the last audit did not audit.
    New(String),
    Unchanged,
    Stopped,
}

/// Fetches the `[gitops]` repository, counting and logging what it found.
async fn fetch_default(
    cx: &Context,
    side: &GitSide,
    trigger: FetchTrigger,
    noted: &mut Option<String>,
    stop: &CancellationToken,
) -> Fetched {
    let started = Instant::now();
    let gitops = cx.config().gitops.clone();
    let fetched: Result<Checkout, FetchError> = tokio::select! {
        () = stop.cancelled() => return Fetched::Stopped,
        joined = tokio::task::spawn_blocking(move || git::sync(&gitops)) => {
            joined.map_err(FetchError::Task).and_then(|r| r.map_err(FetchError::from))
        }
    };
    let took = started.elapsed();
    let commit = match fetched {
        Ok(checkout) => checkout.commit.unwrap_or_default(),
        Err(e) => {
            cx.state.metrics.git_fetched(trigger.as_str(), "error", took);
            warn!(trigger = trigger.as_str(), error = %e, "git fetch failed; the next audit reports it if it lasts");
            return Fetched::Unchanged;
        }
    };
    let last = side.audits.borrow().last.clone();
    let changed = match (last, trigger) {
        (Some(audited), _) => audited.commit.as_deref() != Some(commit.as_str()),
        (None, FetchTrigger::Poll) => noted.replace(commit.clone()).is_some_and(|n| n != commit),
        (None, FetchTrigger::Webhook) => noted.replace(commit.clone()).is_none_or(|n| n != commit),
    };
    let result = if changed { "new_commit" } else { "unchanged" };
    cx.state.metrics.git_fetched(trigger.as_str(), result, took);
    if changed {
        info!(trigger = trigger.as_str(), %commit, "new commit in the GitOps repository: auditing");
        Fetched::New(commit)
    } else {
        debug!(trigger = trigger.as_str(), %commit, "no new commit");
        Fetched::Unchanged
    }
}

/// Fetches every other repository the environments read, side by side, and returns those
/// whose commit moved: that is not the one its cache was at before (where the last audit or
/// poll left it). A repository not fetched yet, or not now, has not moved.
async fn fetch_others(cfg: &crate::config::Config) -> Vec<String> {
    let before: std::collections::BTreeMap<_, _> = crate::app::audit::repository_refs(cfg)
        .into_iter()
        .map(|repo| {
            let head = git::head(&cfg.repositories.dir(&repo));
            (repo, head)
        })
        .collect();
    let fetched = crate::app::audit::fetch_repositories(cfg).await;
    let mut moved = Vec::new();
    for (repo, f) in &fetched {
        match f {
            Ok(commit) => {
                let was = before.get(repo).cloned().flatten();
                debug!(repository = %repo, commit = commit.as_deref().unwrap_or("-"), "repository fetched");
                if was.is_some() && commit.is_some() && was != *commit {
                    moved.push(repo.to_string());
                }
            }
            Err(e) => {
                let error = crate::app::audit::redacted(repo, e.as_ref());
                warn!(repository = %repo, %error, "git fetch failed; the next audit reports it if it lasts");
            }
        }
    }
    moved
}

/// Waits for the next poll or webhook; `None` when shutting down. A reload restarts the wait,
/// as `poll_interval` may have changed.
async fn next_trigger(
    cx: &Context,
    requests: &FetchRequests,
    last_fetch: Instant,
    stop: &CancellationToken,
) -> Option<FetchTrigger> {
    loop {
        let poll = cx.config().git_updates.poll_interval;
        let next_poll = async {
            match poll {
                Some(every) => tokio::time::sleep_until(last_fetch + every).await,
                None => std::future::pending().await,
            }
        };
        return tokio::select! {
            () = stop.cancelled() => None,
            () = cx.git_reconfigured.notified() => continue,
            () = requests.next() => Some(FetchTrigger::Webhook),
            () = next_poll => Some(FetchTrigger::Poll),
        };
    }
}

/// Waits until no audit runs; false when shutting down.
async fn audit_over(audits: &mut watch::Receiver<Audits>, stop: &CancellationToken) -> bool {
    loop {
        // Marked seen before looking, so that an audit ending in between still wakes us.
        if !audits.borrow_and_update().running {
            return true;
        }
        tokio::select! {
            () = stop.cancelled() => return false,
            changed = audits.changed() => if changed.is_err() { return false },
        }
    }
}
