//! Wall-clock time on tokio's clock: the schedule, leader election and renotify intervals read
//! it, so tests drive them with paused time.

use chrono::{DateTime, Utc};

/// Wall-clock time that advances with tokio's clock, so the renotify interval can be tested
/// with paused time and a long-running process measures intervals on one clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self::starting_at(Utc::now())
    }

    /// A clock that reads `base` now (tests use a fixed, aligned time so cron fires land at
    /// known offsets).
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        Self {
            base,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
