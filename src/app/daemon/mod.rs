//! The service: audits on the configured schedule (only while leader when HA is on), each audit
//! bounded by `audit_timeout` and followed by alert delivery; between audits, fetches the GitOps
//! repository on `poll_interval` and on push webhooks and audits a new commit; re-audits what a
//! cluster watch saw change; serves the HTTP endpoint; reloads the config on request, keeping
//! the running one when the new one is invalid. When `shutdown` is cancelled it stops
//! scheduling, lets a running audit finish within `shutdown_grace`, and returns.
//!
//! The parts: `event_loop` decides what runs when (generic over what it drives, and tested
//! so); `driver` is what it drives here; `one_audit` is one audit, `interest` which
//! environments a watched change concerns, `reaudit` the partial re-audit after it, `watching`
//! the cluster watches, `git` the polls and webhooks; `context` is what they share. The HTTP
//! side reads [`ServiceState`], which the daemon writes.

mod context;
mod driver;
mod event_loop;
mod git;
mod interest;
mod one_audit;
mod reaudit;
mod watching;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use self::context::{Context, Setup};
use self::driver::Daemon;
use self::event_loop::{Audits, EventLoop, Inputs};
use self::git::GitSide;
use crate::app::http;
use crate::app::leader::Elector;
use crate::app::metrics::Metrics;
use crate::app::probes::{ProbeError, Probes};
use crate::app::schedule::{OnFire, Scheduler};
use crate::app::status::{ReloadRequests, ServiceState, Update, fetch_channel};
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::sources::Sources;
use crate::store::StoreHandle;

/// Where the config comes from, to load it again on reload.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub env: HashMap<String, String>,
    pub overrides: Overrides,
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
    let leader = cfg.ha.is_none();
    let (leader_tx, leader_rx) = watch::channel(leader);
    let elector = match &cfg.ha {
        Some(ha) => Some(Elector::new(ha).await?),
        None => None,
    };
    // Environments derived from Argo CD Applications, read again on reload.
    let cfg = crate::app::discover::logged(cfg).await;
    let grace = cfg.schedule.shutdown_grace;
    info!(%listen, cron = %cfg.schedule.cron, timezone = %cfg.schedule.timezone, ha = cfg.ha.is_some(), "driftwatch daemon started");
    let sources = Arc::new(Sources::new(&cfg).await);
    let (git_fetch, git_fetches) = fetch_channel();
    let store = Arc::new(StoreHandle::new(&cfg));
    let cfg = Arc::new(cfg);
    let state = Arc::new(ServiceState::new(
        Metrics::new(),
        leader,
        cfg.clone(),
        store.clone(),
        reloads.handle(),
        git_fetch,
    ));
    // Not ready before the watches started and synced: said before anyone can ask.
    if watching::will_watch(&cfg, leader) {
        state.apply(Update::WatchesSynced(false));
    }
    let setup = Setup {
        config: cfg,
        sources,
        store,
    };
    let cx = Arc::new(Context::new(source, setup, state.clone(), clock));
    let probes = serve(&background, listener, &cx.config(), state.clone(), &shutdown)?;
    follow_election(&background, elector, clock, leader_tx, &state, &shutdown);
    let (changes_tx, changes_rx) = mpsc::unbounded_channel();
    if leader {
        cx.start_watching(&changes_tx, &shutdown).await;
    }
    let (fires_tx, fires_rx) = mpsc::unbounded_channel();
    // The schedule lists every cluster again; the start-up audit and a new leader's read the
    // watchers' stores once they synced.
    let on_fire: OnFire = Arc::new(move || {
        let _ = fires_tx.send(());
    });
    let scheduler = Scheduler::start(cx.config().schedule.clone(), on_fire)
        .await
        .context("starting the scheduler")?;
    let (audits_tx, audits_rx) = watch::channel(Audits::default());
    let (commits_tx, commits_rx) = mpsc::unbounded_channel();
    let discovery = watching::DiscoveryWatches::start(&background, &commits_tx, &shutdown, &cx.config());
    let side = GitSide {
        audits: audits_rx,
        commits: commits_tx,
        requests: git_fetches,
    };
    background.spawn(git::follow_git(cx.clone(), side, shutdown.clone()));
    let inputs = Inputs {
        fires: fires_rx,
        changes: changes_rx,
        commits: commits_rx,
        leader: leader_rx,
        reloads,
        hold_ends: cx.hold_ends.subscribe(),
    };
    let driver = Daemon {
        cx,
        scheduler,
        changes: changes_tx,
        shutdown: shutdown.clone(),
        discovery,
    };
    EventLoop::new(driver, clock, leader, audits_tx)
        .run(inputs, shutdown, grace)
        .await;
    wait_for(background, probes).await;
    info!("stopped");
    Ok(())
}

/// With `[ha]`, runs the election, which says who leads and where the leader serves HTTP;
/// without, this replica leads for good.
fn follow_election(
    background: &TaskTracker,
    elector: Option<Elector>,
    clock: Clock,
    leader: watch::Sender<bool>,
    state: &ServiceState,
    shutdown: &CancellationToken,
) {
    match elector {
        Some(elector) => {
            let (address_tx, address_rx) = watch::channel(None);
            state.apply(Update::LeaderAddress(address_rx));
            background.spawn(elector.run(clock, leader, address_tx, shutdown.clone()));
        }
        None => drop(leader),
    }
}

/// Serves HTTP on `listener`, and the probes on `server.probe_listen` when set, until
/// `shutdown`.
fn serve(
    background: &TaskTracker,
    listener: TcpListener,
    cfg: &Config,
    state: Arc<ServiceState>,
    shutdown: &CancellationToken,
) -> Result<Option<Probes>, ProbeError> {
    let probes = cfg
        .server
        .probe_listen
        .map(|addr| Probes::start(addr, state.clone(), shutdown.clone()))
        .transpose()?;
    let app = http::router(state);
    let stop = shutdown.clone();
    background.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Ok(probes)
}

/// After shutdown: the background tasks and the probe thread, for at most 5 s.
async fn wait_for(background: TaskTracker, probes: Option<Probes>) {
    background.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        background.wait().await;
        if let Some(probes) = probes {
            probes.join().await;
        }
    })
    .await;
}
