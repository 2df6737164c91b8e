//! One watcher's store: its objects by namespace and name, whether it synced or is failing,
//! and its figures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::WatchStats;
use crate::sources::cluster::ClusterError;

/// What one watcher shares with [`ClusterWatch`].
pub(super) struct Slot<T> {
    pub(super) resource: &'static str,
    pub(super) kind: &'static str,
    pub(super) namespace: Option<String>,
    pub(super) state: Mutex<SlotState<T>>,
}

pub(super) struct SlotState<T> {
    /// By (namespace, name): the object and a hash of its resourceVersion.
    pub(super) objects: HashMap<(String, String), (u64, T)>,
    pub(super) synced: bool,
    pub(super) failing: Option<ClusterError>,
    pub(super) events: u64,
    pub(super) restarts: u64,
    pub(super) last_event: Option<DateTime<Utc>>,
    pub(super) initial_sync: Option<Duration>,
}

impl<T> Slot<T> {
    pub(super) fn new(resource: &'static str, kind: &'static str, namespace: Option<String>) -> Self {
        Self {
            resource,
            kind,
            namespace,
            state: Mutex::new(SlotState {
                objects: HashMap::new(),
                synced: false,
                failing: None,
                events: 0,
                restarts: 0,
                last_event: None,
                initial_sync: None,
            }),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        // A panic while holding the lock leaves plain data behind; the store stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Synced, or failing (then `state()` reports it): either way the daemon can audit.
    pub(super) fn settled(&self) -> bool {
        let s = self.lock();
        s.synced || s.failing.is_some()
    }

    pub(super) fn stats(&self) -> WatchStats {
        let s = self.lock();
        WatchStats {
            resource: self.resource,
            namespace: self.namespace.clone(),
            events: s.events,
            restarts: s.restarts,
            objects: s.objects.len(),
            last_event: s.last_event,
            initial_sync: s.initial_sync,
            synced: s.synced,
            error: s.failing.as_ref().map(ToString::to_string),
        }
    }
}

impl<T: Clone> Slot<T> {
    pub(super) fn values(&self) -> Vec<T> {
        self.lock().objects.values().map(|(_, o)| o.clone()).collect()
    }
}
