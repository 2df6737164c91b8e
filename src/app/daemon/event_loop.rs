//! The daemon's event loop: one task that selects over schedule fires, watched changes (and the
//! end of a `sync_grace` hold), new commits from the git side, leadership, reload requests and
//! shutdown, and decides what runs. Never two audits at once: a fire during an audit is skipped
//! and counted; the first watched change of a burst is re-audited at once (leading edge) and the
//! changes after it within `debounce` together when that window ends, after the running audit
//! when one runs. Only a leading re-audit opens a window: the burst's trailing re-audit does
//! not, so a lone change after it (another hand change once a rollout's events died down) is
//! re-audited at once again, and a continuous stream of changes costs at most two re-audits per
//! window. A new commit found while an audit runs is audited once it
//! ends unless that audit audited it. Only the leader audits. At shutdown a running audit may
//! finish within `shutdown_grace`.
//!
//! What an audit, a reload or a change of leadership does is the [`Driver`]'s: the daemon's runs
//! audits against the clusters and the repository, the tests' records what it was asked.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::app::status::{ReloadError, ReloadRequests};
use crate::clock::Clock;
use crate::sources::cluster::watch::Change;

/// What an audit covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Coverage {
    /// Every environment, fetched and listed: the schedule (the full re-list, the safety net).
    Full,
    /// Every environment, fetched, the live side from the watchers' stores once they synced
    /// (listed when not watching): the start-up audit, a new leader, a new commit.
    Fetched,
    /// These environments, from the last snapshot and the watchers' stores: a watched change
    /// or a grace ending.
    Environments(BTreeSet<String>),
}

/// What a completed audit audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LastAudit {
    /// `None` when the repository could not be synced.
    pub commit: Option<String>,
}

/// What the git side reads: whether an audit runs, and what the last completed one audited
/// (`None` before the first).
#[derive(Clone, Debug, Default)]
pub(super) struct Audits {
    pub running: bool,
    pub last: Option<LastAudit>,
}

/// What the loop drives.
pub(super) trait Driver: Send + Sync + 'static {
    type Audit: Future<Output = Option<LastAudit>> + Send + 'static;
    /// One audit and its alerts: what it audited, `None` when it was abandoned.
    fn audit(&self, coverage: Coverage) -> Self::Audit;
    /// Leadership changed: start or stop the cluster watches.
    fn lead(&self, leads: bool) -> impl Future<Output = ()> + Send;
    /// Loads the config again; a valid one replaces the sources, the schedule and the watches.
    fn reload(&self) -> impl Future<Output = Result<(), ReloadError>> + Send;
    /// Shutting down: stop the watches and the schedule.
    fn stop(&self) -> impl Future<Output = ()> + Send;
    /// A scheduled audit was skipped (counted).
    fn skipped(&self);
    /// The environments a watched change concerns.
    fn environments_of(&self, change: &Change) -> Vec<String>;
    /// Every configured environment.
    fn environments(&self) -> Vec<String>;
    /// The window a re-audit of changes opens: changes within it are re-audited together when
    /// it ends (the first change of a burst is re-audited at once).
    fn debounce(&self) -> Duration;
    fn run_on_start(&self) -> bool;
    /// Hands the watchers' figures to the metrics.
    fn watch_figures(&self);
}

/// Where the loop's events come from.
pub(super) struct Inputs {
    /// One per schedule fire.
    pub fires: mpsc::UnboundedReceiver<()>,
    pub changes: mpsc::UnboundedReceiver<Change>,
    /// Commits the git side fetched that the last audit did not audit.
    pub commits: mpsc::UnboundedReceiver<String>,
    pub leader: watch::Receiver<bool>,
    pub reloads: ReloadRequests,
    /// When the next `sync_grace` hold ends, as the last audit said.
    pub hold_ends: watch::Receiver<Option<DateTime<Utc>>>,
}

/// The loop's own state.
pub(super) struct EventLoop<D> {
    driver: D,
    clock: Clock,
    /// Where audits run, so that shutdown can wait for the running one.
    tracker: TaskTracker,
    running: Option<JoinHandle<Option<LastAudit>>>,
    audits: watch::Sender<Audits>,
    leader: bool,
    /// Environments changed since the last re-audit, due at `due`.
    dirty: BTreeSet<String>,
    due: Option<Instant>,
    /// The end of the debounce window the last re-audit of changes opened: a change before it
    /// waits for it, a change after it is re-audited at once.
    quiet_until: Option<Instant>,
    /// Whether `due` is the end of a window (the burst's trailing re-audit), not a leading edge.
    due_trails: bool,
    hold: Option<DateTime<Utc>>,
    /// A new commit to audit when the running audit is over, unless it audited it.
    commit: Option<String>,
}

impl<D: Driver> EventLoop<D> {
    /// `leader`: whether this replica leads at start; `audits` is what the git side reads.
    pub fn new(driver: D, clock: Clock, leader: bool, audits: watch::Sender<Audits>) -> Self {
        Self {
            driver,
            clock,
            tracker: TaskTracker::new(),
            running: None,
            audits,
            leader,
            dirty: BTreeSet::new(),
            due: None,
            quiet_until: None,
            due_trails: false,
            hold: None,
            commit: None,
        }
    }

    /// Runs until `shutdown`, then lets a running audit finish within `grace`.
    pub async fn run(mut self, mut inputs: Inputs, shutdown: CancellationToken, grace: Duration) {
        if self.driver.run_on_start() {
            self.fire(Coverage::Fetched);
        }
        // The watchers' figures go to the metrics now and then (a scrape reads the last ones).
        let mut figures = tokio::time::interval(Duration::from_secs(5));
        figures.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut leader_open, mut changes_open, mut hold_open) = (true, true, true);
        loop {
            let (hold_at, due) = (self.hold_at(), self.due);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                ended = audit_end(&mut self.running) => self.ended(ended),
                Some(()) = inputs.fires.recv() => self.fire(Coverage::Full),
                changed = inputs.leader.changed(), if leader_open => match changed {
                    Ok(()) => {
                        let leads = *inputs.leader.borrow_and_update();
                        self.lead(leads).await;
                    }
                    Err(_) => leader_open = false,
                },
                change = inputs.changes.recv(), if changes_open => match change {
                    Some(change) => self.changed(&change),
                    None => changes_open = false,
                },
                Some(commit) = inputs.commits.recv() => self.new_commit(commit),
                Some(reply) = inputs.reloads.next() => {
                    let outcome = self.driver.reload().await;
                    // Nobody may wait for the outcome (SIGHUP): it is logged either way.
                    let _ = reply.send(outcome);
                }
                changed = inputs.hold_ends.changed(), if hold_open => match changed {
                    Ok(()) => self.hold = *inputs.hold_ends.borrow_and_update(),
                    Err(_) => hold_open = false,
                },
                () = sleep_until_some(hold_at) => self.hold_over(),
                () = sleep_until_some(due) => self.reaudit(),
                _ = figures.tick() => self.driver.watch_figures(),
            }
        }
        self.driver.stop().await;
        info!("shutting down: no new audits");
        drain(self.tracker, grace).await;
    }

    /// Starts an audit unless one runs (false then); a follower leaves it to the leader.
    fn start(&mut self, coverage: Coverage) -> bool {
        if self.running.is_some() {
            return false;
        }
        if !self.leader {
            debug!("not the leader: this audit is left to the leader");
            return true;
        }
        self.running = Some(self.tracker.spawn(self.driver.audit(coverage)));
        self.audits.send_modify(|a| a.running = true);
        true
    }

    /// A fire of the schedule (or the start-up audit, or a new leader's): skipped and counted
    /// when an audit runs.
    fn fire(&mut self, coverage: Coverage) {
        if !self.start(coverage) {
            self.driver.skipped();
            warn!("the previous audit is still running: this scheduled audit is skipped");
        }
    }

    fn ended(&mut self, ended: Result<Option<LastAudit>, JoinError>) {
        self.running = None;
        // An abandoned audit leaves the last commit as it was.
        let audited = ended.ok().flatten();
        self.audits.send_modify(|a| {
            a.running = false;
            if audited.is_some() {
                a.last = audited;
            }
        });
        if let Some(commit) = self.commit.take() {
            let last = self.audits.borrow().last.clone();
            if last.and_then(|a| a.commit).as_deref() != Some(commit.as_str()) {
                self.start(Coverage::Fetched);
            }
        }
    }

    /// A replica that becomes leader audits at once when `run_on_start` is set: at start it was
    /// still a follower when the start-up audit was due, and after a failover the fleet should
    /// not wait for the next fire to be watched again.
    async fn lead(&mut self, leads: bool) {
        self.leader = leads;
        info!(leader = leads, "leadership changed");
        self.driver.lead(leads).await;
        if leads && self.driver.run_on_start() {
            self.fire(Coverage::Fetched);
        }
    }

    fn changed(&mut self, change: &Change) {
        let touched = self.driver.environments_of(change);
        if touched.is_empty() {
            return;
        }
        debug!(cluster = %change.cluster, kind = change.kind, namespace = %change.namespace, name = %change.name, "watched change");
        self.dirty.extend(touched);
        // The first change of a burst is re-audited at once (a hand change alerts without
        // waiting); the ones after it wait for the end of the window that re-audit opened.
        let now = Instant::now();
        if self.due.is_none() {
            let window = self.quiet_until.filter(|end| *end > now);
            self.due = Some(window.unwrap_or(now));
            self.due_trails = window.is_some();
        }
    }

    /// The running audit fetched for itself: once it ends, another starts only if it did not
    /// audit `commit`, so a push is never lost to a skipped start.
    fn new_commit(&mut self, commit: String) {
        if !self.start(Coverage::Fetched) {
            self.commit = Some(commit);
        }
    }

    /// The wall-clock end of a hold as a tokio instant (so paused time in tests applies).
    fn hold_at(&self) -> Option<Instant> {
        self.hold
            .map(|t| Instant::now() + (t - self.clock.now()).to_std().unwrap_or_default())
    }

    /// The hold is over: look again at every environment (the merged report keeps the others
    /// as they were), so a stuck sync alerts now.
    fn hold_over(&mut self) {
        self.dirty.extend(self.driver.environments());
        self.hold = None;
        self.due = Some(Instant::now());
    }

    fn reaudit(&mut self) {
        self.driver.watch_figures();
        let envs = std::mem::take(&mut self.dirty);
        if self.start(Coverage::Environments(envs.clone())) {
            self.due = None;
            self.quiet_until = (!self.due_trails).then(|| Instant::now() + self.driver.debounce());
        } else {
            // An audit is running: this burst is audited after it.
            self.dirty = envs;
            self.due = Some(Instant::now() + self.driver.debounce());
            self.due_trails = true;
        }
    }
}

/// The end of the running audit; never, when none runs.
async fn audit_end(running: &mut Option<JoinHandle<Option<LastAudit>>>) -> Result<Option<LastAudit>, JoinError> {
    match running {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Lets a running audit finish within `grace`.
async fn drain(audits: TaskTracker, grace: Duration) {
    audits.close();
    let running = !audits.is_empty();
    if tokio::time::timeout(grace, audits.wait()).await.is_err() {
        warn!(grace = %humantime::format_duration(grace), "the running audit did not finish within shutdown_grace; exiting without it");
    } else if running {
        info!("running audit finished");
    }
}

#[cfg(test)]
#[path = "event_loop_tests.rs"]
mod tests;
