//! The service: audits on the configured schedule (only while leader when HA is on), each audit
//! bounded by `audit_timeout` and followed by alert delivery; between audits, fetches the GitOps
//! repository on `poll_interval` and on push webhooks and audits a new commit; serves the HTTP
//! endpoint; reloads the config on request, keeping the running one when the new one is
//! invalid. When `shutdown` is cancelled it stops scheduling, lets a running audit finish within
//! `shutdown_grace`, and returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::alerts::settle::Settling;
use crate::app::audit::{Audited, Declared, Plan, Snapshot};
use crate::app::deliver::{self, NotifyError};
use crate::app::leader::Elector;
use crate::app::metrics::Metrics;
use crate::app::schedule::{Guard, OnFire, Scheduler};
use crate::app::status::{FetchRequests, ReloadRequests, Status, fetch_channel};
use crate::app::{audit, http};
use crate::clock::Clock;
use crate::config::{ClusterConfig, ClusterSource, CompareConfigMaps, Config, GitopsConfig, Overrides};
use crate::core::report::Report;
use crate::sources::cluster::api;
use crate::sources::cluster::watch::{Change, ClusterWatch};
use crate::sources::{Sources, git};
use crate::store::StoreHandle;

/// Where the config comes from, to load it again on reload.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub env: HashMap<String, String>,
    pub overrides: Overrides,
}

/// What the daemon's tasks share: the running config and where it came from. What the HTTP
/// side reads is in [`Status`], which the daemon writes.
struct Context {
    source: ConfigSource,
    config: RwLock<Arc<Config>>,
    status: Arc<Status>,
    sources: RwLock<Arc<Sources>>,
    audits_started: AtomicU64,
    /// Alert state and history; replaced on reload when `[store]` changed.
    store: RwLock<Arc<StoreHandle>>,
    /// Whether an unusable store was already alerted in this process.
    store_health: deliver::StoreHealth,
    clock: Clock,
    /// What re-audits and `sync_grace` need from earlier audits.
    memory: Mutex<Memory>,
    /// The cluster watchers while this replica leads (and `[watch]` is on).
    watching: Mutex<Option<Watching>>,
    /// One audit at a time, full or partial.
    guard: Guard,
    /// When the next `sync_grace` hold ends, for the re-audit loop's timer.
    hold_ends: watch::Sender<Option<DateTime<Utc>>>,
    /// What the last completed audit audited (`None` before the first), sent at the end of
    /// every audit (completed or not), for [`follow_git`] to compare a fetched commit with.
    last_audit: watch::Sender<Option<LastAudit>>,
    /// Wakes [`follow_git`] after a reload, as `poll_interval` may have changed.
    git_reconfigured: Notify,
}

/// How long a watch connection may stay silent before it is considered broken: longer than the
/// API server's own watch timeout (at most 10 minutes by default, bookmarks every minute).
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(330);

/// Hands memory the allocator holds free back to the system. An audit's transient data (a cold
/// render of a fleet, a copy of a watched cluster) is freed when it ends, but glibc keeps it in
/// its per-thread arenas: the daemon's resident memory would stay at its highest point.
#[allow(unsafe_code)]
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the heap to the system; it has no
    // preconditions and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What the daemon keeps between audits.
#[derive(Default)]
struct Memory {
    /// The full picture: the last full audit with later partial re-audits merged in.
    report: Option<Report>,
    /// The repository snapshot last audited, re-audited after a watched change.
    snapshot: Option<Snapshot>,
    /// What each environment declared at that snapshot: a re-audit does not render again.
    declared: HashMap<String, Declared>,
    settling: Settling,
}

/// Running watchers, by cluster name, and the token that stops them.
struct Watching {
    stop: CancellationToken,
    clusters: HashMap<String, Arc<ClusterWatch>>,
}

/// What an audit covers.
#[derive(Clone, Debug)]
enum Coverage {
    /// Every environment, fetched and listed: the schedule (the full re-list, the safety net).
    Full,
    /// Every environment, fetched, the live side from the watchers' stores once they synced
    /// (listed when not watching): the start-up audit, a new leader, a new commit.
    Fetched,
    /// These environments, from the last snapshot and the watchers' stores: a watched change
    /// or a grace ending.
    Environments(BTreeSet<String>),
}

/// What an audit audited.
#[derive(Clone, Debug)]
struct LastAudit {
    /// `None` when the repository could not be synced.
    commit: Option<String>,
}

impl Context {
    fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock").clone()
    }

    fn store(&self) -> Arc<StoreHandle> {
        self.store.read().expect("store lock").clone()
    }

    /// Keeps the audit's history and refreshes the DORA gauges. A store that cannot be used
    /// is alerted by the notification step; here it is logged.
    async fn record_history(
        &self,
        cfg: &Config,
        store: &StoreHandle,
        report: &Report,
        dir: Option<&std::path::Path>,
        now: DateTime<Utc>,
    ) {
        let store = match store.get().await {
            Ok((store, note)) => {
                if let Some(note) = note {
                    warn!("{note}");
                }
                store
            }
            Err(e) => {
                error!(error = %e, "history not recorded");
                return;
            }
        };
        let sources = self.sources.read().expect("sources lock").clone();
        if let Err(e) = crate::app::history::record(cfg, &store, sources.lineage(), report, dir, now).await {
            error!(error = %e, "history not recorded");
            return;
        }
        match crate::app::dora::observed(cfg, &store, &[], cfg.dora.window, self.clock.now()).await {
            Ok(dora) => self.status.metrics.dora(&dora),
            Err(e) => warn!(error = %e, "DORA metrics not updated"),
        }
    }

    /// Loads the config file again; an invalid one is rejected and the running one kept.
    pub async fn reload(&self) -> Result<(), String> {
        let source = self.source.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&source.path, &source.env, &source.overrides))
            .await
            .map_err(|e| e.to_string())?;
        match loaded {
            Ok(new) => {
                let old = self.config();
                if new.server.listen != old.server.listen || new.ha.is_some() != old.ha.is_some() {
                    warn!("server.listen and [ha] changes take effect on restart");
                }
                self.status.set_audit_timeout(new.schedule.audit_timeout);
                self.status.set_git_hooks(&new);
                self.status.set_auth(&new);
                if new.store.backend.display() != old.store.backend.display() {
                    info!(store = %new.store.backend.display(), "the store changed; the next audit uses it");
                    *self.store.write().expect("store lock") = Arc::new(StoreHandle::new(&new));
                }
                let current = self.sources.read().expect("sources lock").clone();
                let sources = Arc::new(current.reload(&new).await);
                *self.sources.write().expect("sources lock") = sources;
                let new = Arc::new(new);
                self.status.set_dora(new.clone(), self.store());
                *self.config.write().expect("config lock") = new;
                self.git_reconfigured.notify_waiters();
                self.status.metrics.reloaded(true);
                info!(config = %self.source.path.display(), "config reloaded");
                Ok(())
            }
            Err(e) => {
                self.status.metrics.reloaded(false);
                error!(error = %e, "new config rejected; the running config is kept");
                Err(e.to_string())
            }
        }
    }

    /// Starts a watcher per cluster reached through the API (scoped to the namespaces its
    /// environments audit), unless `[watch]` is off; `/readyz` waits for their initial sync.
    async fn start_watching(self: Arc<Self>, changes: &mpsc::UnboundedSender<Change>, shutdown: &CancellationToken) {
        let cfg = self.config();
        if !cfg.watch.enabled {
            return;
        }
        // Per cluster: its config, the namespaces to watch (`None`: all) and whether ConfigMaps are.
        let mut scopes: BTreeMap<String, (ClusterConfig, Option<BTreeSet<String>>, CompareConfigMaps)> =
            BTreeMap::new();
        for env in &cfg.environments {
            if matches!(env.cluster.source, ClusterSource::Snapshot(_)) {
                continue;
            }
            let namespaces = (!env.cluster.namespaces.is_empty())
                .then(|| env.cluster.namespaces.iter().cloned().collect::<BTreeSet<String>>());
            let scope = scopes
                .entry(env.cluster.name.clone())
                .or_insert_with(|| (env.cluster.clone(), namespaces.clone(), CompareConfigMaps::Never));
            scope.1 = match (scope.1.take(), namespaces) {
                (Some(mut a), Some(b)) => {
                    a.extend(b);
                    Some(a)
                }
                _ => None,
            };
            scope.2 = match (scope.2, env.compare_configmaps) {
                (CompareConfigMaps::Always, _) | (_, CompareConfigMaps::Always) => CompareConfigMaps::Always,
                (CompareConfigMaps::Auto, _) | (_, CompareConfigMaps::Auto) => CompareConfigMaps::Auto,
                _ => CompareConfigMaps::Never,
            };
        }
        let stop = shutdown.child_token();
        let mut clusters = HashMap::new();
        for (name, (cluster, namespaces, configmaps)) in scopes {
            // A watch client of its own: the audit client's read timeout (`kube_timeout`) would
            // break every watch idle that long; the API server ends watches after minutes.
            // (Snapshots were left out above.)
            match api::client(&name, &cluster.source, WATCH_READ_TIMEOUT).await {
                Ok(client) => {
                    let namespaces: Vec<String> = namespaces.into_iter().flatten().collect();
                    let w = ClusterWatch::start(&name, client, &namespaces, configmaps, changes.clone(), stop.clone());
                    clusters.insert(name, Arc::new(w));
                }
                // The scheduled audit reports it; watching starts again on reload or failover.
                Err(e) => warn!(cluster = %name, error = %e, "cannot watch this cluster: audits list it"),
            }
        }
        if clusters.is_empty() {
            self.status.set_watches_synced(true);
            return;
        }
        info!(clusters = clusters.len(), "cluster watches started");
        self.status.set_watches_synced(false);
        let all: Vec<Arc<ClusterWatch>> = clusters.values().cloned().collect();
        let status = self.status.clone();
        let waiting = stop.clone();
        tokio::spawn(async move {
            let synced = async {
                for w in &all {
                    w.wait_synced().await;
                }
            };
            tokio::select! {
                () = waiting.cancelled() => {}
                () = synced => {
                    info!("cluster watches synced");
                    status.set_watches_synced(true);
                }
            }
        });
        if let Some(old) = self
            .watching
            .lock()
            .expect("watching lock")
            .replace(Watching { stop, clusters })
        {
            old.stop.cancel();
        }
    }

    /// Stops the watchers (lease lost, shutdown, reload).
    fn stop_watching(&self) {
        if let Some(w) = self.watching.lock().expect("watching lock").take() {
            w.stop.cancel();
            info!("cluster watches stopped");
        }
        self.status.set_watches_synced(true);
    }

    /// The watchers' stores to read instead of listing, by cluster name.
    fn watched(&self) -> HashMap<String, Arc<ClusterWatch>> {
        self.watching
            .lock()
            .expect("watching lock")
            .as_ref()
            .map(|w| w.clusters.clone())
            .unwrap_or_default()
    }

    /// Keeps what later audits need from `audited` and returns the full picture (a partial
    /// audit merged into the last one) with the findings `sync_grace` holds back; tells the
    /// re-audit loop when the next hold ends.
    fn remember(
        &self,
        cfg: &Config,
        audited: Audited,
        partial: bool,
        now: DateTime<Utc>,
    ) -> (Report, BTreeSet<String>) {
        let mut memory = self.memory.lock().expect("memory lock");
        for (env, declared) in audited.declared.iter() {
            memory
                .settling
                .observe(env, &declared.state.workloads, &declared.state.configs, now);
        }
        let report = match (&memory.report, partial) {
            (Some(last), true) => last.merged(&audited.report),
            _ => audited.report,
        };
        if let Some(snapshot) = audited.snapshot {
            // A partial audit re-read the remembered snapshot: its environments' declarations
            // stay valid. A full audit read a new one: only its declarations are.
            if !partial {
                memory.declared.clear();
            }
            memory.snapshot = Some(snapshot);
            memory.declared.extend(audited.declared);
        }
        let (quiet, next) = memory.settling.quiet(&report.findings, now, cfg.audit.sync_grace);
        if !quiet.is_empty() {
            info!(
                held = quiet.len(),
                until = %next.map(|t| t.to_rfc3339()).unwrap_or_default(),
                "drift on what a new commit changed is held back while the cluster follows (sync_grace)"
            );
        }
        self.hold_ends.send_replace(next);
        memory.report = Some(report.clone());
        (report, quiet)
    }

    /// One audit and its alerts, under a span carrying the audit id.
    async fn audit(self: Arc<Self>, coverage: Coverage) {
        if !self.status.is_leader() {
            debug!("not the leader: this audit is left to the leader");
            // Whoever waits for the end of an audit is told it is over.
            self.last_audit.send_modify(|_| {});
            return;
        }
        let cfg = self.config();
        let sources = self.sources.read().expect("sources lock").clone();
        if matches!(coverage, Coverage::Fetched) {
            // A new leader syncs, then audits: the stores answer instead of a second full list.
            let watched: Vec<Arc<ClusterWatch>> = self.watched().into_values().collect();
            let synced = async {
                for w in &watched {
                    w.wait_synced().await;
                }
            };
            // Bounded like one API call: a watch that does not sync in that time (an API server
            // that does not answer) leaves its clusters to be listed, as before watch mode.
            let _ = tokio::time::timeout(cfg.audit.kube_timeout, synced).await;
        }
        let plan = {
            let memory = self.memory.lock().expect("memory lock");
            match (&coverage, &memory.snapshot, &memory.report) {
                (Coverage::Fetched, _, _) => Plan {
                    watched: self.watched(),
                    ..Plan::default()
                },
                (Coverage::Environments(envs), Some(snapshot), Some(_)) => Plan {
                    only: envs.iter().cloned().collect(),
                    reuse: Some(snapshot.clone()),
                    watched: self.watched(),
                    // Only what this re-audit needs: copies of a fleet's declarations add up.
                    declared: memory
                        .declared
                        .iter()
                        .filter(|(env, _)| envs.contains(*env))
                        .map(|(env, d)| (env.clone(), d.clone()))
                        .collect(),
                },
                // Nothing to re-audit from yet: a full audit.
                _ => Plan::default(),
            }
        };
        let partial = !plan.only.is_empty();
        let n = self.audits_started.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{}-{n}", self.clock.now().format("%Y%m%dT%H%M%SZ"));
        let span = info_span!("audit", audit_id = %id);
        async {
            self.status.audit_started();
            let mut audited = None;
            info!("audit started");
            let started = Instant::now();
            let work = async {
                let audited = audit::run_planned(&cfg, &sources, &plan).await;
                let timings = audited.timings.clone();
                let now = self.clock.now();
                let dir = audited.snapshot.as_ref().map(|s| s.checkout.dir.clone());
                let (report, quiet) = self.remember(&cfg, audited, partial, now);
                let store = self.store();
                // Without channels too: the alert state is where drift episodes (DORA's hotfixes,
                // the page's "first seen") are recorded; nothing is sent then.
                let notified = deliver::notify_quiet(&cfg, &store, &report, &quiet, now, &self.store_health).await;
                self.record_history(&cfg, &store, &report, dir.as_deref(), now).await;
                (report, timings, notified)
            };
            match tokio::time::timeout(cfg.schedule.audit_timeout, work).await {
                Ok((report, timings, notified)) => {
                    self.status.metrics.audit(&report, &timings, started.elapsed());
                    match notified {
                        Ok(outcome) => {
                            for failure in &outcome.failed {
                                if let NotifyError::Delivery { channel, .. } = failure {
                                    self.status.metrics.notification_failed(channel);
                                }
                            }
                        }
                        Err(e) => error!(error = %e, "alert state unavailable: no alerts sent this run"),
                    }
                    audited = Some(LastAudit {
                        commit: report.gitops.commit.clone(),
                    });
                    self.status.set_report(Arc::new(report.clone()), cfg.clone());
                    self.status.audit_completed(report.to_json());
                    info!(
                        findings = report.summary.findings,
                        errors = report.summary.errors,
                        duration_ms = started.elapsed().as_millis() as u64,
                        "audit finished"
                    );
                }
                Err(_) => {
                    self.status.metrics.audit_timed_out(started.elapsed());
                    error!(timeout = %humantime::format_duration(cfg.schedule.audit_timeout), "audit exceeded audit_timeout and was abandoned");
                }
            }
            self.status.audit_ended();
            release_free_memory();
            // After audit_ended, so that whoever is woken sees no audit running. An abandoned
            // audit leaves the last commit as it was, and is still announced.
            self.last_audit.send_modify(|last| {
                if let Some(a) = audited {
                    *last = Some(a);
                }
            });
        }
        .instrument(span)
        .await
    }
}

/// Runs the daemon until `shutdown` is cancelled, serving HTTP on `listener`, which the caller
/// binds (the command line binds `server.listen`; tests bind port 0), as mini-redis's
/// `server::run(listener, signal)`. `reloads` carries reload requests (SIGHUP,
/// `POST /-/reload`).
pub async fn run(
    cfg: Config,
    source: ConfigSource,
    reloads: ReloadRequests,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listen = listener
        .local_addr()
        .map_or_else(|_| cfg.server.listen.to_string(), |a| a.to_string());
    let clock = Clock::new();
    let background = TaskTracker::new();
    let (leader_tx, leader_rx) = watch::channel(cfg.ha.is_none());
    let elector = match &cfg.ha {
        Some(ha) => Some(Elector::new(ha).await?),
        None => None,
    };
    let grace = cfg.schedule.shutdown_grace;
    info!(%listen, cron = %cfg.schedule.cron, timezone = %cfg.schedule.timezone, ha = cfg.ha.is_some(), "driftwatch daemon started");
    let sources = Sources::new(&cfg).await;
    let (hold_ends, hold_rx) = watch::channel(None);
    let (changes_tx, changes_rx) = mpsc::unbounded_channel();
    let (git_fetch, git_fetches) = fetch_channel();
    let status = Arc::new(Status::new(
        Metrics::new(),
        cfg.ha.is_none(),
        cfg.schedule.audit_timeout,
        reloads.handle(),
        git_fetch,
    ));
    status.set_git_hooks(&cfg);
    status.set_auth(&cfg);
    let store = Arc::new(StoreHandle::new(&cfg));
    let cfg = Arc::new(cfg);
    status.set_dora(cfg.clone(), store.clone());
    let cx = Arc::new(Context {
        source,
        sources: RwLock::new(Arc::new(sources)),
        config: RwLock::new(cfg),
        status: status.clone(),
        audits_started: AtomicU64::new(0),
        store: RwLock::new(store),
        store_health: deliver::StoreHealth::default(),
        clock,
        memory: Mutex::new(Memory::default()),
        watching: Mutex::new(None),
        guard: Guard::default(),
        hold_ends,
        last_audit: watch::channel(None).0,
        git_reconfigured: Notify::new(),
    });

    // Not ready before the watches started and synced: said before anyone can ask.
    let watches = {
        let cfg = cx.config();
        cfg.watch.enabled
            && cx.status.is_leader()
            && cfg
                .environments
                .iter()
                .any(|e| !matches!(e.cluster.source, ClusterSource::Snapshot(_)))
    };
    if watches {
        status.set_watches_synced(false);
    }
    let app = http::router(status.clone());
    let stop = shutdown.clone();
    background.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    match elector {
        Some(elector) => {
            let (address_tx, address_rx) = watch::channel(None);
            status.set_leader_address(address_rx);
            background.spawn(elector.run(clock, leader_tx, address_tx, shutdown.clone()));
        }
        None => drop(leader_tx),
    }
    let audits = TaskTracker::new();
    // The schedule lists every cluster again; the start-up audit and a new leader's read the
    // watchers' stores once they synced.
    let scheduled = start_audit(cx.clone(), audits.clone(), shutdown.clone(), Coverage::Full);
    let start = start_audit(cx.clone(), audits.clone(), shutdown.clone(), Coverage::Fetched);
    if cx.status.is_leader() {
        cx.clone().start_watching(&changes_tx, &shutdown).await;
    }
    background.spawn(follow_leadership(
        cx.clone(),
        start.clone(),
        leader_rx,
        changes_tx.clone(),
        shutdown.clone(),
    ));
    background.spawn(reaudit_on_change(
        cx.clone(),
        audits.clone(),
        changes_rx,
        hold_rx,
        shutdown.clone(),
    ));
    let scheduler = Scheduler::start(cx.config().schedule.clone(), scheduled)
        .await
        .context("starting the scheduler")?;
    background.spawn(serve_reloads(
        cx.clone(),
        scheduler.clone(),
        reloads,
        changes_tx,
        shutdown.clone(),
    ));
    background.spawn(follow_git(cx.clone(), audits.clone(), git_fetches, shutdown.clone()));
    if cx.config().schedule.run_on_start {
        start();
    }

    shutdown.cancelled().await;
    cx.stop_watching();
    scheduler.stop().await;
    info!("shutting down: no new audits");
    drain(audits, grace).await;
    background.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), background.wait()).await;
    info!("stopped");
    Ok(())
}

/// Follows leadership into the status. A replica that becomes leader audits at once when
/// run_on_start is set: at start it was still a follower when the start-up audit was due, and
/// after a failover the fleet should not wait for the next fire to be watched again.
/// Only the leader watches: a replica that becomes leader starts its watchers (the first audit
/// then reads synced stores), one that loses the lease stops them.
async fn follow_leadership(
    cx: Arc<Context>,
    start: OnFire,
    mut leader: watch::Receiver<bool>,
    changes: mpsc::UnboundedSender<Change>,
    stop: CancellationToken,
) {
    while leader.changed().await.is_ok() {
        let leads = *leader.borrow();
        cx.status.set_leader(leads);
        info!(leader = leads, "leadership changed");
        if leads {
            cx.clone().start_watching(&changes, &stop).await;
            if cx.config().schedule.run_on_start {
                start();
            }
        } else {
            cx.stop_watching();
        }
    }
}

/// Re-audits the environments a watched change touches, `debounce` after the first change of a
/// burst, from the watchers' stores and the last repository snapshot; and the environments
/// with drift held back by `sync_grace` exactly when the hold ends. One audit at a time: a
/// burst that arrives during an audit is audited after it.
async fn reaudit_on_change(
    cx: Arc<Context>,
    audits: TaskTracker,
    mut changes: mpsc::UnboundedReceiver<Change>,
    mut hold_ends: watch::Receiver<Option<DateTime<Utc>>>,
    stop: CancellationToken,
) {
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    let mut due: Option<Instant> = None;
    // The watchers' figures go to the metrics now and then (a scrape reads the last ones).
    let mut figures = tokio::time::interval(Duration::from_secs(5));
    figures.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let hold = *hold_ends.borrow();
        // The wall-clock end of a hold as a tokio instant (so paused time in tests applies).
        let hold_at = hold.map(|t| {
            let wait = (t - cx.clock.now()).to_std().unwrap_or_default();
            Instant::now() + wait
        });
        tokio::select! {
            () = stop.cancelled() => break,
            _ = figures.tick() => {
                for (cluster, w) in cx.watched() {
                    cx.status.metrics.watch(&cluster, &w.stats());
                }
            }
            change = changes.recv() => {
                let Some(change) = change else { break };
                let cfg = cx.config();
                let touched = environments_of(&cfg, &change);
                if touched.is_empty() {
                    continue;
                }
                debug!(cluster = %change.cluster, kind = change.kind, namespace = %change.namespace, name = %change.name, "watched change");
                dirty.extend(touched);
                due.get_or_insert_with(|| Instant::now() + cfg.watch.debounce);
            }
            changed = hold_ends.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = sleep_until_some(hold_at) => {
                // The hold is over: look again at every environment (the merged report keeps
                // the others as they were), so a stuck sync alerts now.
                let cfg = cx.config();
                dirty.extend(cfg.environments.iter().map(|e| e.name.clone()));
                hold_ends.borrow_and_update();
                cx.hold_ends.send_replace(None);
                due = Some(Instant::now());
            }
            () = sleep_until_some(due) => {
                for (cluster, w) in cx.watched() {
                    cx.status.metrics.watch(&cluster, &w.stats());
                }
                let envs = std::mem::take(&mut dirty);
                let started = cx.guard.try_start(&audits, || cx.clone().audit(Coverage::Environments(envs.clone())));
                if started {
                    due = None;
                } else {
                    // An audit is running: this burst is audited after it.
                    dirty = envs;
                    due = Some(Instant::now() + cx.config().watch.debounce);
                }
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The environments a watched change concerns: those on its cluster whose namespaces include
/// the object's (every one on the cluster for a watcher's own failure or recovery).
fn environments_of(cfg: &Config, change: &Change) -> Vec<String> {
    cfg.environments
        .iter()
        .filter(|e| e.cluster.name == change.cluster)
        .filter(|e| {
            change.namespace.is_empty()
                || e.cluster.namespaces.is_empty()
                || e.cluster.namespaces.contains(&change.namespace)
        })
        .map(|e| e.name.clone())
        .collect()
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

/// What a fire of the schedule does: start an audit on `audits` unless one is running (then
/// the fire is a skip, counted), and nothing once shutting down.
fn start_audit(cx: Arc<Context>, audits: TaskTracker, stop: CancellationToken, coverage: Coverage) -> OnFire {
    Arc::new(move || {
        if stop.is_cancelled() {
            return;
        }
        if !cx.guard.try_start(&audits, || cx.clone().audit(coverage.clone())) {
            cx.status.metrics.skipped();
            warn!("the previous audit is still running: this scheduled audit is skipped");
        }
    })
}

/// Answers reload requests one at a time until `stop`; a valid new config replaces the
/// schedule too.
async fn serve_reloads(
    cx: Arc<Context>,
    scheduler: Arc<Scheduler>,
    mut reloads: ReloadRequests,
    changes: mpsc::UnboundedSender<Change>,
    stop: CancellationToken,
) {
    loop {
        let reply = tokio::select! {
            () = stop.cancelled() => break,
            request = reloads.next() => match request {
                Some(reply) => reply,
                None => break,
            },
        };
        let outcome = cx.reload().await;
        if outcome.is_ok() {
            scheduler.replace(cx.config().schedule.clone()).await;
            // Clusters, namespaces or the [watch] section may have changed.
            if cx.status.is_leader() {
                cx.stop_watching();
                cx.clone().start_watching(&changes, &stop).await;
            }
        }
        // Nobody may wait for the outcome (SIGHUP): it is logged either way.
        let _ = reply.send(outcome);
    }
}

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

/// Fetches the GitOps repository every `poll_interval` and when a push webhook asks, and starts
/// an audit when the fetched commit is not the one the last audit audited. The next poll is
/// one interval after the last fetch ended (a webhook's fetch included), so missed intervals
/// do not pile up. A failed fetch is logged and counted, never alerted by itself: the next
/// audit reports the repository error as any audit does. Only the leader fetches.
///
/// Before the first audit there is nothing to compare with: the first poll only notes the
/// commit (when to audit first stays with the schedule and `run_on_start`), a later poll that
/// finds another commit audits it, and a webhook audits unless the commit is the one noted.
async fn follow_git(cx: Arc<Context>, audits: TaskTracker, requests: FetchRequests, stop: CancellationToken) {
    let mut last_audit = cx.last_audit.subscribe();
    let mut noted: Option<String> = None;
    let mut last_fetch = Instant::now();
    loop {
        let poll = cx.config().git_updates.poll_interval;
        let next_poll = async {
            match poll {
                Some(every) => tokio::time::sleep_until(last_fetch + every).await,
                None => std::future::pending().await,
            }
        };
        let trigger = tokio::select! {
            () = stop.cancelled() => return,
            () = cx.git_reconfigured.notified() => continue,
            () = requests.next() => FetchTrigger::Webhook,
            () = next_poll => FetchTrigger::Poll,
        };
        let cfg = cx.config();
        if !cx.status.is_leader() || !matches!(cfg.gitops, GitopsConfig::Remote { .. }) {
            last_fetch = Instant::now();
            continue;
        }
        // A running audit fetched for itself; resetting the working tree under it could change
        // what it reads (the ignore file). What it audited is compared with afterwards.
        if !audit_over(&cx, &mut last_audit, &stop).await {
            return;
        }
        let started = Instant::now();
        let gitops = cfg.gitops.clone();
        let fetched = tokio::select! {
            () = stop.cancelled() => return,
            joined = tokio::task::spawn_blocking(move || git::sync(&gitops)) => {
                joined.map_err(|e| format!("git task failed: {e}")).and_then(|r| r.map_err(|e| e.to_string()))
            }
        };
        last_fetch = Instant::now();
        let took = started.elapsed();
        let commit = match fetched {
            Ok(checkout) => checkout.commit.unwrap_or_default(),
            Err(e) => {
                cx.status.metrics.git_fetched(trigger.as_str(), "error", took);
                warn!(trigger = trigger.as_str(), error = %e, "git fetch failed; the next audit reports it if it lasts");
                continue;
            }
        };
        let last = last_audit.borrow().clone();
        let changed = match (last, trigger) {
            (Some(audited), _) => audited.commit.as_deref() != Some(commit.as_str()),
            (None, FetchTrigger::Poll) => noted.replace(commit.clone()).is_some_and(|n| n != commit),
            (None, FetchTrigger::Webhook) => noted.replace(commit.clone()).is_none_or(|n| n != commit),
        };
        let result = if changed { "new_commit" } else { "unchanged" };
        cx.status.metrics.git_fetched(trigger.as_str(), result, took);
        if changed {
            info!(trigger = trigger.as_str(), %commit, "new commit in the GitOps repository: auditing");
            audit_commit(&cx, &audits, &mut last_audit, &commit, &stop).await;
        } else {
            debug!(trigger = trigger.as_str(), %commit, "no new commit");
        }
    }
}

/// Waits until no audit runs; false when shutting down.
async fn audit_over(
    cx: &Context,
    last_audit: &mut watch::Receiver<Option<LastAudit>>,
    stop: &CancellationToken,
) -> bool {
    loop {
        // Marked seen before looking, so that an audit ending in between still wakes us.
        last_audit.borrow_and_update();
        if !cx.status.audit_running() {
            return true;
        }
        tokio::select! {
            () = stop.cancelled() => return false,
            changed = last_audit.changed() => if changed.is_err() { return false },
        }
    }
}

/// Starts an audit through the no-overlap guard. When one is already running (the schedule
/// fired meanwhile) it fetched for itself: once it ends, another starts only if it did not
/// audit `commit`, so a push is never lost to a skipped start.
async fn audit_commit(
    cx: &Arc<Context>,
    audits: &TaskTracker,
    last_audit: &mut watch::Receiver<Option<LastAudit>>,
    commit: &str,
    stop: &CancellationToken,
) {
    loop {
        last_audit.borrow_and_update();
        if stop.is_cancelled() || cx.guard.try_start(audits, || cx.clone().audit(Coverage::Fetched)) {
            return;
        }
        let audited = last_audit.borrow().as_ref().and_then(|a| a.commit.clone());
        if audited.as_deref() == Some(commit) {
            return;
        }
        if cx.status.audit_running() {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = last_audit.changed() => if changed.is_err() { return },
            }
        } else {
            // The guard is taken by an audit not yet started or just ended: a moment.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
