//! The audit schedule. tokio-cron-scheduler fires the jobs; what a fire does stays here: the
//! next fire time (a cron expression in a time zone, [`next_fire`]) and replacing the pending
//! job when the config is reloaded ([`Scheduler::replace`]). Never two audits at once is the
//! event loop's rule (`app::daemon::event_loop`): a fire during an audit is skipped and counted.
//!
//! Each fire is a one-shot job at the time [`next_fire`] computed; when it fires it arms the
//! next. tokio-cron-scheduler's own cron jobs are not used because they would change what a
//! schedule means: `Job::new_async_tz` fixes the zone's UTC offset when the job is created (so
//! after a daylight-saving change every fire is an hour off), requires a seconds field (our
//! 5-field expressions would be rejected) and matches day-of-month AND day-of-week where cron
//! (and croner's default, which the config validates with) matches either.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::future::BoxFuture;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{error, warn};
use uuid::Uuid;

use crate::config::ScheduleConfig;

/// The first fire time of `schedule` strictly after `now`, a whole second as cron's are.
pub fn next_fire(schedule: &ScheduleConfig, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // croner keeps the sub-second part of `now` in its answer.
    let local = now.trunc_subsecs(0).with_timezone(&schedule.timezone);
    schedule
        .cron()
        .find_next_occurrence(&local, false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What a fire does (the daemon's event loop starts an audit, or counts a skip when one runs).
pub type OnFire = Arc<dyn Fn() + Send + Sync>;

/// The fires of one schedule on tokio-cron-scheduler, replaced on reload.
pub struct Scheduler {
    jobs: JobScheduler,
    on_fire: OnFire,
    armed: tokio::sync::Mutex<Armed>,
}

/// The schedule in force and its pending one-shot job. `generation` changes on every replace,
/// so that a job that fires while being replaced neither fires nor arms a successor.
struct Armed {
    schedule: ScheduleConfig,
    generation: u64,
    pending: Option<Uuid>,
    stopped: bool,
}

impl Scheduler {
    /// Starts firing `schedule`; every fire calls `on_fire`.
    pub async fn start(schedule: ScheduleConfig, on_fire: OnFire) -> Result<Arc<Self>, JobSchedulerError> {
        let jobs = JobScheduler::new().await?;
        jobs.start().await?;
        let scheduler = Arc::new(Self {
            jobs,
            on_fire,
            armed: tokio::sync::Mutex::new(Armed {
                schedule,
                generation: 0,
                pending: None,
                stopped: false,
            }),
        });
        let mut armed = scheduler.armed.lock().await;
        scheduler.arm(&mut armed, Utc::now()).await;
        drop(armed);
        Ok(scheduler)
    }

    /// Replaces the schedule (a reload): the pending fire of the old one is removed.
    pub async fn replace(self: &Arc<Self>, schedule: ScheduleConfig) {
        let mut armed = self.armed.lock().await;
        if armed.stopped {
            return;
        }
        self.disarm(&mut armed).await;
        armed.schedule = schedule;
        self.arm(&mut armed, Utc::now()).await;
    }

    /// Stops firing; returns at once (a running audit is the caller's to wait for).
    pub async fn stop(&self) {
        let mut armed = self.armed.lock().await;
        armed.stopped = true;
        self.disarm(&mut armed).await;
        let mut jobs = self.jobs.clone();
        if let Err(e) = jobs.shutdown().await {
            warn!(error = %e, "stopping the scheduler");
        }
    }

    /// When the pending job fires, as tokio-cron-scheduler holds it.
    pub async fn pending_fire(&self) -> Option<DateTime<Utc>> {
        let id = self.armed.lock().await.pending?;
        self.jobs.clone().next_tick_for_job(id).await.ok().flatten()
    }

    async fn disarm(&self, armed: &mut Armed) {
        armed.generation += 1;
        if let Some(id) = armed.pending.take()
            && let Err(e) = self.jobs.remove(&id).await
        {
            warn!(error = %e, "removing the pending fire of the old schedule");
        }
    }

    /// Adds a one-shot job at the first fire after `after`. Boxed because a fire arms the
    /// next: the future type would otherwise contain itself.
    fn arm<'a>(self: &'a Arc<Self>, armed: &'a mut Armed, after: DateTime<Utc>) -> BoxFuture<'a, ()> {
        Box::pin(self.arm_at(armed, after))
    }

    async fn arm_at(self: &Arc<Self>, armed: &mut Armed, after: DateTime<Utc>) {
        let Some(at) = next_fire(&armed.schedule, after) else {
            warn!(cron = %armed.schedule.cron, "the schedule never fires again; waiting for a reload");
            return;
        };
        let (me, generation) = (Arc::downgrade(self), armed.generation);
        let job = Job::new_one_shot_async(Duration::ZERO, move |_, _| {
            let me = me.clone();
            Box::pin(async move {
                if let Some(me) = me.upgrade() {
                    me.fired(generation, at).await;
                }
            })
        })
        .and_then(|mut job| {
            // The constructor rounds its delay to whole seconds from now; the fire time is
            // ours, exact to the second as cron is.
            let mut data = job.job_data()?;
            data.next_tick = u64::try_from(at.timestamp()).unwrap_or(0);
            job.set_job_data(data)?;
            Ok(job)
        });
        let added = match job {
            Ok(job) => self.jobs.add(job).await,
            Err(e) => Err(e),
        };
        match added {
            Ok(id) => armed.pending = Some(id),
            Err(e) => error!(error = %e, "cannot schedule the next audit"),
        }
    }

    async fn fired(self: Arc<Self>, generation: u64, at: DateTime<Utc>) {
        let mut armed = self.armed.lock().await;
        if armed.stopped || armed.generation != generation {
            return;
        }
        armed.pending = None;
        (self.on_fire)();
        // From now when the fire came late (a suspended host): missed fires are not caught up.
        self.arm(&mut armed, at.max(Utc::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use tokio::sync::watch;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use crate::clock::Clock;

    fn schedule(cron: &str, run_on_start: bool) -> ScheduleConfig {
        ScheduleConfig {
            cron: cron.into(),
            timezone: chrono_tz::UTC,
            run_on_start,
            audit_timeout: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(30),
        }
    }

    /// The no-overlap rule the daemon's event loop applies, for this harness: at most one job
    /// runs at a time.
    #[derive(Clone, Debug, Default)]
    pub struct Guard {
        busy: Arc<AtomicBool>,
    }

    impl Guard {
        /// Starts `job` on `tracker` unless the previous one still runs; false means skipped.
        /// Jobs run on the caller's tracker, so that it can wait for a running job at shutdown.
        pub fn try_start<Fut>(&self, tracker: &TaskTracker, job: impl FnOnce() -> Fut) -> bool
        where
            Fut: Future<Output = ()> + Send + 'static,
        {
            if self.busy.swap(true, Ordering::SeqCst) {
                return false;
            }
            let fut = job();
            let busy = self.busy.clone();
            tracker.spawn(async move {
                fut.await;
                busy.store(false, Ordering::SeqCst);
            });
            true
        }
    }

    struct Harness {
        started: Arc<Mutex<Vec<Duration>>>,
        skipped: Arc<Mutex<u32>>,
        stop: CancellationToken,
        config: watch::Sender<ScheduleConfig>,
        origin: tokio::time::Instant,
    }

    /// Fires a job that takes `job_takes` (virtual time) through a `Guard` at every
    /// [`next_fire`], as [`Scheduler`] does, but on tokio's paused clock: tokio-cron-scheduler
    /// reads the wall clock, so its firing is proven in real time below. A new config on
    /// `config` is a reload: the next fire is computed from it, as [`Scheduler::replace`] does.
    fn start(cron: &str, run_on_start: bool, job_takes: Duration) -> Harness {
        let (config, mut rx) = watch::channel(schedule(cron, run_on_start));
        let started = Arc::new(Mutex::new(Vec::new()));
        let skipped = Arc::new(Mutex::new(0));
        let stop = CancellationToken::new();
        let origin = tokio::time::Instant::now();
        let (s, k, st) = (started.clone(), skipped.clone(), stop.clone());
        tokio::spawn(async move {
            // Midnight: the cron fires land at exact offsets from the start.
            let midnight = DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc);
            let clock = Clock::starting_at(midnight);
            let (guard, tracker) = (Guard::default(), TaskTracker::new());
            let fire = || {
                let started = guard.try_start(&tracker, || {
                    s.lock().unwrap().push(origin.elapsed());
                    tokio::time::sleep(job_takes)
                });
                if !started {
                    *k.lock().unwrap() += 1;
                }
            };
            if rx.borrow().run_on_start {
                fire();
            }
            loop {
                let next = next_fire(&rx.borrow(), clock.now()).expect("fires");
                let wait = (next - clock.now()).to_std().unwrap_or_default();
                tokio::select! {
                    () = st.cancelled() => return,
                    _ = rx.changed() => {}
                    () = tokio::time::sleep(wait) => fire(),
                }
            }
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

    #[tokio::test(start_paused = true)]
    async fn the_guard_refuses_a_second_job_until_the_first_is_done() {
        let (guard, tracker) = (Guard::default(), TaskTracker::new());
        assert!(guard.try_start(&tracker, || tokio::time::sleep(Duration::from_secs(5))));
        assert!(!guard.try_start(&tracker, || async {}), "overlaps the running job");
        tracker.close();
        tracker.wait().await;
        assert!(guard.try_start(&tracker, || async {}), "free again once it is done");
    }

    /// Polls `done` every 50 ms until it holds, for at most `secs` (real time).
    async fn wait_until(secs: u64, what: &str, done: impl Fn() -> bool) {
        let polled = async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(secs), polled)
            .await
            .unwrap_or_else(|_| panic!("timed out after {secs}s waiting for {what}"));
    }

    #[tokio::test]
    async fn tokio_cron_scheduler_fires_a_per_second_schedule() {
        let fires = Arc::new(AtomicU32::new(0));
        let counted = fires.clone();
        let on_fire: OnFire = Arc::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let scheduler = Scheduler::start(schedule("* * * * * *", false), on_fire).await.unwrap();
        wait_until(10, "two fires", || fires.load(Ordering::SeqCst) >= 2).await;
        let fired = scheduler.pending_fire().await.expect("the next fire is armed");
        assert!(fired > Utc::now() - chrono::Duration::seconds(1), "{fired}");
        scheduler.stop().await;
        assert_eq!(scheduler.pending_fire().await, None, "nothing armed after stop");
    }

    #[tokio::test]
    async fn reload_replaces_the_pending_fire_with_one_in_the_new_time_zone() {
        let on_fire: OnFire = Arc::new(|| {});
        // 03:00 UTC on January 1st, and 02:30 in Berlin daily: far enough from any test run
        // that `now` below cannot cross a fire.
        let yearly = schedule("0 0 3 1 1 *", false);
        let scheduler = Scheduler::start(yearly.clone(), on_fire).await.unwrap();
        assert_eq!(scheduler.pending_fire().await, next_fire(&yearly, Utc::now()));
        let old = scheduler.armed.lock().await.pending.expect("armed");

        let mut berlin = schedule("0 30 2 * * *", false);
        berlin.timezone = "Europe/Berlin".parse().unwrap();
        scheduler.replace(berlin.clone()).await;
        let pending = scheduler.pending_fire().await.expect("armed");
        assert_eq!(Some(pending), next_fire(&berlin, Utc::now()), "in Berlin time");
        assert_eq!(
            scheduler.jobs.clone().next_tick_for_job(old).await.unwrap(),
            None,
            "the old schedule's fire is removed"
        );
        scheduler.stop().await;
    }
}
