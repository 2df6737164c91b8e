//! What the event loop drives in the daemon: audits through the [`Context`], the schedule and
//! the cluster watches.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::event_loop::{Coverage, Driver, LastAudit};
use super::interest::environments_of;
use crate::app::schedule::Scheduler;
use crate::app::status::{ReloadError, Update};
use crate::sources::cluster::watch::Change;

pub(super) struct Daemon {
    pub cx: Arc<Context>,
    pub scheduler: Arc<Scheduler>,
    /// Where the watchers send what they see; a watcher started later gets a clone.
    pub changes: mpsc::UnboundedSender<Change>,
    pub shutdown: CancellationToken,
    /// The watches on Applications and Flux objects, which follow reloads.
    pub discovery: Arc<super::watching::DiscoveryWatches>,
}

impl Driver for Daemon {
    type Audit = BoxFuture<'static, Option<LastAudit>>;

    fn audit(&self, coverage: Coverage) -> Self::Audit {
        self.cx.clone().audit(coverage).boxed()
    }

    /// Only the leader watches: a replica that becomes leader starts its watchers (the first
    /// audit then reads synced stores), one that loses the lease stops them.
    async fn lead(&self, leads: bool) {
        self.cx.state.apply(Update::Leader(leads));
        if leads {
            self.cx.start_watching(&self.changes, &self.shutdown).await;
        } else {
            self.cx.stop_watching();
        }
    }

    /// A valid new config replaces the schedule and the watches too.
    async fn reload(&self) -> Result<(), ReloadError> {
        self.cx.reload().await?;
        self.scheduler.replace(self.cx.config().schedule.clone()).await;
        // `[discovery]` or `[watch]` may have changed.
        self.discovery.follow(&self.cx.config());
        // Clusters, namespaces or the [watch] section may have changed.
        if self.cx.state.is_leader() {
            self.cx.stop_watching();
            self.cx.start_watching(&self.changes, &self.shutdown).await;
        }
        Ok(())
    }

    async fn stop(&self) {
        self.cx.stop_watching();
        self.scheduler.stop().await;
    }

    fn skipped(&self) {
        self.cx.state.metrics.skipped();
    }

    fn environments_of(&self, change: &Change) -> Vec<String> {
        let cfg = self.cx.config();
        let memory = self.cx.memory.lock().expect("memory lock");
        environments_of(&cfg, &memory.namespaces, change)
    }

    fn environments(&self) -> Vec<String> {
        self.cx.config().environments.iter().map(|e| e.name.clone()).collect()
    }

    fn debounce(&self) -> Duration {
        self.cx.config().watch.debounce
    }

    fn run_on_start(&self) -> bool {
        self.cx.config().schedule.run_on_start
    }

    fn watch_figures(&self) {
        self.cx.watch_figures();
    }
}
