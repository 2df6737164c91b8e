//! The audit schedule: fires on a cron expression in a time zone, never runs two jobs at once
//! (a tick while the previous job runs is skipped and reported), and picks up a new schedule
//! on reload. Time comes from [`Clock`], which follows tokio's clock, so the schedule runs
//! under paused time in tests exactly as it does in production.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::clock::Clock;
use crate::config::ScheduleConfig;

/// The first fire time of `schedule` strictly after `now`.
pub fn next_fire(schedule: &ScheduleConfig, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&schedule.timezone);
    schedule
        .cron()
        .find_next_occurrence(&local, false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Runs `job` on every fire of the schedule, once at start with `run_on_start`, and on every
/// request on `run_now`, until `stop`. A fire while the previous job still runs calls
/// `on_skip` instead. Jobs run on `tracker`, so the caller can wait for a running job after
/// `stop`.
pub async fn run<J, Fut>(
    mut schedule: watch::Receiver<ScheduleConfig>,
    clock: Clock,
    stop: CancellationToken,
    tracker: TaskTracker,
    mut run_now: mpsc::Receiver<()>,
    job: J,
    on_skip: impl Fn(),
) where
    J: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let busy = Arc::new(AtomicBool::new(false));
    let start = |busy: &Arc<AtomicBool>| {
        if busy.swap(true, Ordering::SeqCst) {
            on_skip();
            return;
        }
        let fut = job();
        let busy = busy.clone();
        tracker.spawn(async move {
            fut.await;
            busy.store(false, Ordering::SeqCst);
        });
    };
    if schedule.borrow().run_on_start {
        start(&busy);
    }
    loop {
        let next = next_fire(&schedule.borrow(), clock.now());
        let Some(next) = next else {
            warn!(cron = %schedule.borrow().cron, "the schedule never fires again; waiting for a reload");
            tokio::select! {
                () = stop.cancelled() => return,
                changed = schedule.changed() => if changed.is_err() { return } else { continue },
            }
        };
        let wait = (next - clock.now()).to_std().unwrap_or_default();
        tokio::select! {
            () = stop.cancelled() => return,
            changed = schedule.changed() => if changed.is_err() { return },
            Some(()) = run_now.recv() => start(&busy),
            () = tokio::time::sleep(wait) => start(&busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    fn schedule(cron: &str, run_on_start: bool) -> ScheduleConfig {
        ScheduleConfig {
            cron: cron.into(),
            timezone: chrono_tz::UTC,
            run_on_start,
            audit_timeout: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    struct Harness {
        started: Arc<Mutex<Vec<Duration>>>,
        skipped: Arc<Mutex<u32>>,
        stop: CancellationToken,
        config: watch::Sender<ScheduleConfig>,
        origin: tokio::time::Instant,
    }

    /// Starts the schedule with a job that takes `job_takes` (virtual time).
    fn start(cron: &str, run_on_start: bool, job_takes: Duration) -> Harness {
        let (config, rx) = watch::channel(schedule(cron, run_on_start));
        let started = Arc::new(Mutex::new(Vec::new()));
        let skipped = Arc::new(Mutex::new(0));
        let stop = CancellationToken::new();
        let origin = tokio::time::Instant::now();
        let (s, k, st) = (started.clone(), skipped.clone(), stop.clone());
        let (now_tx, now_rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let _keep_open = now_tx;
            // Midnight: the cron fires land at exact offsets from the start.
            let midnight = DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc);
            run(
                rx,
                Clock::starting_at(midnight),
                st,
                TaskTracker::new(),
                now_rx,
                move || {
                    s.lock().unwrap().push(origin.elapsed());
                    tokio::time::sleep(job_takes)
                },
                move || *k.lock().unwrap() += 1,
            )
            .await;
        });
        Harness {
            started,
            skipped,
            stop,
            config,
            origin,
        }
    }

    impl Harness {
        async fn until(&self, secs: u64) {
            tokio::time::sleep_until(self.origin + Duration::from_secs(secs)).await;
        }

        fn starts(&self) -> Vec<u64> {
            self.started.lock().unwrap().iter().map(|d| d.as_secs()).collect()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fires_every_interval() {
        let h = start("*/10 * * * * *", false, Duration::from_secs(1));
        h.until(45).await;
        assert_eq!(h.starts(), vec![10, 20, 30, 40], "every 10 s");
        assert_eq!(*h.skipped.lock().unwrap(), 0);
        h.stop.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_job_is_never_overlapped_and_skips_are_counted() {
        // Every 10 s, a job of 25 s: it runs at 0 (on start), the fires at 10 and 20 are
        // skipped, the fire at 30 runs.
        let h = start("*/10 * * * * *", true, Duration::from_secs(25));
        h.until(35).await;
        assert_eq!(h.starts(), vec![0, 30], "no overlap");
        assert_eq!(*h.skipped.lock().unwrap(), 2);
        h.stop.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn five_field_cron_and_reload_of_the_schedule() {
        let h = start("* * * * *", false, Duration::from_secs(1));
        h.until(125).await;
        assert_eq!(h.starts().len(), 2, "standard cron: every minute: {:?}", h.starts());
        h.config.send(schedule("*/5 * * * * *", false)).unwrap();
        h.until(150).await;
        assert!(
            h.starts().len() >= 6,
            "the reloaded schedule fires every 5 s: {:?}",
            h.starts()
        );
        h.stop.cancel();
    }

    #[test]
    fn next_fire_in_a_time_zone() {
        let mut s = schedule("0 30 2 * * *", false);
        s.timezone = "Europe/Berlin".parse().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // 02:30 in Berlin (UTC+1 in November) is 01:30 UTC.
        assert_eq!(next_fire(&s, now).unwrap().to_rfc3339(), "2026-11-27T01:30:00+00:00");
    }
}
