//! What the daemon's parts share: the running config with its sources and store (swapped as one
//! on reload), the read model it writes for the HTTP side, and what audits keep between them.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::ConfigSource;
use super::interest::DeclaredNamespaces;
use crate::alerts::settle::Settling;
use crate::app::audit::{Declared, Snapshot};
use crate::app::deliver;
use crate::app::status::{ReloadError, ServiceState, Update};
use crate::clock::Clock;
use crate::config::Config;
use crate::core::report::Report;
use crate::sources::Sources;
use crate::sources::cluster::watch::ClusterWatch;
use crate::store::StoreHandle;

/// What the daemon keeps between audits.
#[derive(Default)]
pub(super) struct Memory {
    /// The full picture: the last full audit with later partial re-audits merged in.
    pub report: Option<Report>,
    /// The repository snapshot last audited, re-audited after a watched change.
    pub snapshot: Option<Snapshot>,
    /// What each environment declared at that snapshot: a re-audit does not render again.
    pub declared: HashMap<String, Declared>,
    /// Where each environment in `declared` puts something: which watched changes concern it.
    pub namespaces: DeclaredNamespaces,
    pub settling: Settling,
}

/// Running watchers, by cluster name, and the token that stops them.
pub(super) struct Watching {
    pub stop: CancellationToken,
    pub clusters: HashMap<String, Arc<ClusterWatch>>,
}

/// The running config and what was built from it; replaced as a whole on reload, so an audit
/// reads one consistent set.
pub(super) struct Setup {
    pub config: Arc<Config>,
    pub sources: Arc<Sources>,
    /// Alert state and history; a new one when `[store]` changed.
    pub store: Arc<StoreHandle>,
}

/// What the daemon's tasks share. What the HTTP side reads is in [`ServiceState`], which the
/// daemon writes.
pub(super) struct Context {
    pub source: ConfigSource,
    setup: RwLock<Arc<Setup>>,
    pub state: Arc<ServiceState>,
    pub audits_started: AtomicU64,
    /// Whether an unusable store was already alerted in this process.
    pub store_health: deliver::StoreHealth,
    pub clock: Clock,
    /// What re-audits and `sync_grace` need from earlier audits.
    pub memory: Mutex<Memory>,
    /// The cluster watchers while this replica leads (and `[watch]` is on).
    pub watching: Mutex<Option<Watching>>,
    /// When the next `sync_grace` hold ends, for the event loop's timer.
    pub hold_ends: watch::Sender<Option<DateTime<Utc>>>,
    /// Wakes the git side after a reload, as `poll_interval` may have changed.
    pub git_reconfigured: Notify,
    /// Environments a complete re-discovery dropped, for the next audit's alerts to resolve.
    pub retired: Mutex<Vec<String>>,
}

impl Context {
    pub fn new(source: ConfigSource, setup: Setup, state: Arc<ServiceState>, clock: Clock) -> Self {
        Self {
            source,
            setup: RwLock::new(Arc::new(setup)),
            state,
            audits_started: AtomicU64::new(0),
            store_health: deliver::StoreHealth::default(),
            clock,
            memory: Mutex::new(Memory::default()),
            watching: Mutex::new(None),
            hold_ends: watch::channel(None).0,
            git_reconfigured: Notify::new(),
            retired: Mutex::new(Vec::new()),
        }
    }

    pub fn setup(&self) -> Arc<Setup> {
        self.setup.read().expect("setup lock").clone()
    }

    pub fn config(&self) -> Arc<Config> {
        self.setup().config.clone()
    }

    /// Keeps the audit's history and refreshes the DORA gauges. A store that cannot be used
    /// is alerted by the notification step; here it is logged.
    pub async fn record_history(
        &self,
        setup: &Setup,
        report: &Report,
        dir: Option<&std::path::Path>,
        now: DateTime<Utc>,
    ) {
        let cfg = &setup.config;
        let store = match setup.store.get().await {
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
        if let Err(e) = crate::app::record::after_audit(cfg, &store, setup.sources.lineage(), report, dir, now).await {
            error!(error = %e, "history not recorded");
            return;
        }
        match crate::app::dora::from_store(cfg, &store, &[], cfg.dora.window, self.clock.now()).await {
            Ok(dora) => self.state.metrics.dora(&dora),
            Err(e) => warn!(error = %e, "DORA metrics not updated"),
        }
    }

    /// Discovery again, before a full audit: when the Applications changed the environments,
    /// the setup is rebuilt as on reload (from the config as loaded, not the file: an edit of
    /// the file waits for a reload), so a new Application is audited and a deleted one's
    /// environment is no longer.
    pub async fn rediscover(&self) {
        let old = self.setup();
        if !old.config.discovery.is_configured() {
            return;
        }
        let (new, problems) =
            crate::app::discover::with_discovered(crate::sources::discovery::written(&old.config)).await;
        for p in &problems {
            warn!(problem = %p, "discovery");
        }
        if format!("{:?}", new.environments) == format!("{:?}", old.config.environments) {
            return;
        }
        // Only a discovery that read every place may say an Application is gone.
        if problems.is_empty() {
            let gone = old
                .config
                .discovered
                .iter()
                .filter(|e| !new.environments.iter().any(|n| n.name == **e))
                .cloned();
            self.retired.lock().expect("retired lock").extend(gone);
        }
        info!(environments = ?new.discovered, "discovered environments changed");
        // Only what Argo CD reports changed (a sync, a health change): the sources stay.
        let sources = if format!("{:?}", without_status(&new)) == format!("{:?}", without_status(&old.config)) {
            old.sources.clone()
        } else {
            Arc::new(old.sources.reload(&new).await)
        };
        let config = Arc::new(new);
        self.state.apply(Update::Config {
            cfg: config.clone(),
            store: old.store.clone(),
        });
        *self.setup.write().expect("setup lock") = Arc::new(Setup {
            config,
            sources,
            store: old.store.clone(),
        });
    }

    /// Loads the config file again; an invalid one is rejected and the running one kept.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let source = self.source.clone();
        let loaded =
            tokio::task::spawn_blocking(move || Config::load(&source.path, &source.env, &source.overrides)).await?;
        let new = match loaded {
            Ok(new) => new,
            Err(e) => {
                self.state.metrics.reloaded(false);
                error!(error = %e, "new config rejected; the running config is kept");
                return Err(e.into());
            }
        };
        // Discovered environments are read again with the config (a new Application joins on
        // reload; re-discovery at every audit is not built yet).
        let new = crate::app::discover::logged(new).await;
        let old = self.setup();
        if new.server.listen != old.config.server.listen || new.ha.is_some() != old.config.ha.is_some() {
            warn!("server.listen and [ha] changes take effect on restart");
        }
        let store = if new.store.backend.display() == old.config.store.backend.display() {
            old.store.clone()
        } else {
            info!(store = %new.store.backend.display(), "the store changed; the next audit uses it");
            Arc::new(StoreHandle::new(&new))
        };
        let sources = Arc::new(old.sources.reload(&new).await);
        let config = Arc::new(new);
        self.state.apply(Update::Config {
            cfg: config.clone(),
            store: store.clone(),
        });
        *self.setup.write().expect("setup lock") = Arc::new(Setup { config, sources, store });
        self.git_reconfigured.notify_waiters();
        self.state.metrics.reloaded(true);
        info!(config = %self.source.path.display(), "config reloaded");
        Ok(())
    }
}

/// `cfg`'s environments without what Argo CD reported of their Applications.
fn without_status(cfg: &Config) -> Vec<crate::config::EnvironmentConfig> {
    let mut envs = cfg.environments.clone();
    for e in &mut envs {
        e.controller.clear();
    }
    envs
}
