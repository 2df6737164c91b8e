//! The event loop under paused time, driving a fake that records what it was asked to do.
//! An audit of the fake takes `audit_takes` of (virtual) time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt as _;
use futures::future::BoxFuture;

use super::*;
use crate::app::daemon::interest::tests::{TWO, change as change_in, config, declared};
use crate::app::daemon::interest::{DeclaredNamespaces, environments_of};
use crate::app::status::reload_channel;
use crate::config::{Config, ConfigError};

/// What the loop asked of the fake, with the (virtual) seconds since the test started.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    /// An audit started, reading these sources (their version).
    Audit(Coverage, u64),
    AuditEnded,
    Skipped,
    Lead(bool),
    Stop,
}

#[derive(Default)]
struct Record {
    calls: Mutex<Vec<(u64, Call)>>,
    /// The version of the sources the next audit reads; a reload swaps in the next one.
    sources: AtomicU64,
    watching: AtomicBool,
    reject_reload: AtomicBool,
}

#[derive(Clone)]
struct Fake {
    record: Arc<Record>,
    start: Instant,
    audit_takes: Duration,
    commit: Option<String>,
    /// Which environments a change concerns, as the daemon decides it; without, a change on
    /// cluster `X` concerns environment `X`.
    interest: Option<Arc<(Config, DeclaredNamespaces)>>,
}

impl Fake {
    fn new(audit_takes: Duration) -> Self {
        let record = Record::default();
        record.sources.store(1, Ordering::SeqCst);
        record.watching.store(true, Ordering::SeqCst);
        Self {
            record: Arc::new(record),
            start: Instant::now(),
            audit_takes,
            commit: Some("c1".into()),
            interest: None,
        }
    }

    fn note(&self, call: Call) {
        let at = (Instant::now() - self.start).as_secs();
        self.record.calls.lock().unwrap().push((at, call));
    }

    fn calls(&self) -> Vec<(u64, Call)> {
        self.record.calls.lock().unwrap().clone()
    }

    fn audits(&self) -> Vec<(u64, Coverage, u64)> {
        let calls = self.calls().into_iter();
        calls
            .filter_map(|(at, c)| match c {
                Call::Audit(coverage, sources) => Some((at, coverage, sources)),
                _ => None,
            })
            .collect()
    }

    fn count(&self, call: &Call) -> usize {
        self.calls().iter().filter(|(_, c)| c == call).count()
    }
}

impl Driver for Fake {
    type Audit = BoxFuture<'static, Option<LastAudit>>;

    fn audit(&self, coverage: Coverage) -> Self::Audit {
        self.note(Call::Audit(coverage, self.record.sources.load(Ordering::SeqCst)));
        let (me, takes) = (self.clone(), self.audit_takes);
        async move {
            tokio::time::sleep(takes).await;
            me.note(Call::AuditEnded);
            Some(LastAudit {
                commit: me.commit.clone(),
            })
        }
        .boxed()
    }

    async fn lead(&self, leads: bool) {
        self.note(Call::Lead(leads));
        self.record.watching.store(leads, Ordering::SeqCst);
    }

    async fn reload(&self) -> Result<(), ReloadError> {
        if self.record.reject_reload.load(Ordering::SeqCst) {
            return Err(ReloadError::Rejected(ConfigError::Load {
                origin: "driftwatch.toml".into(),
                reason: "unknown key crn".into(),
            }));
        }
        self.record.sources.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn stop(&self) {
        self.note(Call::Stop);
        self.record.watching.store(false, Ordering::SeqCst);
    }

    fn skipped(&self) {
        self.note(Call::Skipped);
    }

    fn environments_of(&self, change: &Change) -> Vec<String> {
        match &self.interest {
            Some(interest) => environments_of(&interest.0, &interest.1, change),
            None => vec![change.cluster.clone()],
        }
    }

    fn environments(&self) -> Vec<String> {
        vec!["prod".into(), "staging".into()]
    }

    fn debounce(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn run_on_start(&self) -> bool {
        false
    }

    fn watch_figures(&self) {}
}

/// The test's ends of the loop's inputs.
struct Ends {
    fires: mpsc::UnboundedSender<()>,
    changes: mpsc::UnboundedSender<Change>,
    commits: mpsc::UnboundedSender<String>,
    leader: watch::Sender<bool>,
    reload: crate::app::status::ReloadHandle,
    _hold_ends: watch::Sender<Option<DateTime<Utc>>>,
    audits: watch::Receiver<Audits>,
    shutdown: CancellationToken,
    run: tokio::task::JoinHandle<()>,
}

/// Starts the loop as leader over `fake`, with `grace` to finish a running audit at shutdown.
fn start(fake: &Fake, grace: Duration) -> Ends {
    let (fires, fires_rx) = mpsc::unbounded_channel();
    let (changes, changes_rx) = mpsc::unbounded_channel();
    let (commits, commits_rx) = mpsc::unbounded_channel();
    let (leader, leader_rx) = watch::channel(true);
    let (reload, reloads) = reload_channel();
    let (hold_ends, hold_rx) = watch::channel(None);
    let (audits_tx, audits) = watch::channel(Audits::default());
    let shutdown = CancellationToken::new();
    let inputs = Inputs {
        fires: fires_rx,
        changes: changes_rx,
        commits: commits_rx,
        leader: leader_rx,
        reloads,
        hold_ends: hold_rx,
    };
    let event_loop = EventLoop::new(fake.clone(), Clock::new(), true, audits_tx);
    let run = tokio::spawn(event_loop.run(inputs, shutdown.clone(), grace));
    Ends {
        fires,
        changes,
        commits,
        leader,
        reload,
        _hold_ends: hold_ends,
        audits,
        shutdown,
        run,
    }
}

/// Lets the loop handle what was sent, then `secs` of time pass.
async fn after(secs: u64) {
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

fn change(cluster: &str) -> Change {
    Change {
        cluster: cluster.into(),
        namespace: "shop".into(),
        kind: "Deployment",
        name: "web".into(),
    }
}

fn envs(names: &[&str]) -> Coverage {
    Coverage::Environments(names.iter().map(|n| n.to_string()).collect())
}

const GRACE: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn a_schedule_fire_during_an_audit_is_skipped_and_counted() {
    let fake = Fake::new(Duration::from_secs(60));
    let ends = start(&fake, GRACE);
    ends.fires.send(()).unwrap();
    after(10).await;
    ends.fires.send(()).unwrap();
    after(60).await;
    assert_eq!(
        fake.audits().len(),
        1,
        "no second audit while the first ran: {:?}",
        fake.calls()
    );
    assert_eq!(fake.count(&Call::Skipped), 1);
    // Once the audit ended, a fire starts the next one.
    ends.fires.send(()).unwrap();
    after(0).await;
    assert_eq!(
        fake.audits().iter().map(|a| a.1.clone()).collect::<Vec<_>>(),
        [Coverage::Full, Coverage::Full]
    );
    assert_eq!(fake.count(&Call::Skipped), 1);
}

#[tokio::test(start_paused = true)]
async fn a_watched_change_during_a_full_audit_is_reaudited_after_it() {
    let fake = Fake::new(Duration::from_secs(60));
    let ends = start(&fake, GRACE);
    ends.fires.send(()).unwrap();
    after(5).await;
    ends.changes.send(change("prod")).unwrap();
    after(50).await;
    assert_eq!(fake.audits().len(), 1, "nothing overlaps the full audit");
    after(10).await;
    let audits = fake.audits();
    assert_eq!(audits.len(), 2, "{:?}", fake.calls());
    let (at, coverage, _) = &audits[1];
    assert_eq!(*coverage, envs(&["prod"]));
    assert!(
        (60..=61).contains(at),
        "re-audited within a debounce of the full audit's end, at {at}s"
    );
    assert_eq!(
        fake.count(&Call::Skipped),
        0,
        "a re-audit waiting is not a skipped fire"
    );
}

#[tokio::test(start_paused = true)]
async fn changes_that_arrive_together_are_reaudited_together_at_once() {
    let fake = Fake::new(Duration::from_secs(5));
    let ends = start(&fake, GRACE);
    ends.changes.send(change("prod")).unwrap();
    ends.changes.send(change("staging")).unwrap();
    after(0).await;
    assert_eq!(
        fake.audits(),
        [(0, envs(&["prod", "staging"]), 1)],
        "at once, in one re-audit"
    );
    after(10).await;
    assert_eq!(fake.audits().len(), 1, "nothing more to re-audit");
}

#[tokio::test(start_paused = true)]
async fn the_first_change_is_reaudited_at_once_without_waiting_for_the_debounce() {
    let fake = Fake::new(Duration::ZERO);
    let ends = start(&fake, GRACE);
    after(30).await;
    let sent = Instant::now();
    ends.changes.send(change("prod")).unwrap();
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let audits = fake.audits();
    assert_eq!(audits.len(), 1, "{:?}", fake.calls());
    assert_eq!(audits[0].1, envs(&["prod"]));
    assert!(
        Instant::now() - sent < Duration::from_millis(10),
        "no debounce before the first re-audit"
    );
}

#[tokio::test(start_paused = true)]
async fn a_burst_after_the_first_change_is_one_more_reaudit_when_the_debounce_ends() {
    let fake = Fake::new(Duration::ZERO);
    let ends = start(&fake, GRACE);
    ends.changes.send(change("prod")).unwrap();
    after(0).await;
    assert_eq!(fake.audits(), [(0, envs(&["prod"]), 1)], "the first change at once");
    // A rollout: ten more events over the next 900 ms (debounce 1 s).
    for i in 0..10 {
        let cluster = if i % 2 == 0 { "prod" } else { "staging" };
        ends.changes.send(change(cluster)).unwrap();
        tokio::time::sleep(Duration::from_millis(90)).await;
    }
    assert_eq!(fake.audits().len(), 1, "the burst waits for the window to end");
    after(1).await;
    assert_eq!(
        fake.audits(),
        [(0, envs(&["prod"]), 1), (1, envs(&["prod", "staging"]), 1)],
        "one more re-audit for the whole burst, not one per change"
    );
    // Quiet since: the next change is re-audited at once again.
    after(5).await;
    ends.changes.send(change("staging")).unwrap();
    after(0).await;
    assert_eq!(fake.audits().len(), 3);
    assert_eq!(fake.audits()[2].1, envs(&["staging"]));
}

/// What a real apiserver sends for a hand change (the Deployment's spec, then its status a few
/// milliseconds later) and a second hand change soon after the first burst's trailing
/// re-audit: the second is re-audited at once, not at the end of a window that trailing
/// re-audit would have opened (measured on a real kube-apiserver: 1.7 s instead of 0.1 s).
#[tokio::test(start_paused = true)]
async fn a_lone_change_after_a_bursts_trailing_reaudit_is_reaudited_at_once() {
    let fake = Fake::new(Duration::ZERO);
    let ends = start(&fake, GRACE);
    ends.changes.send(change("prod")).unwrap();
    after(0).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    ends.changes.send(change("prod")).unwrap();
    after(1).await;
    assert_eq!(
        fake.audits().len(),
        2,
        "the first at once, the second event at the window's end"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    ends.changes.send(change("staging")).unwrap();
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(fake.audits().len(), 3, "{:?}", fake.calls());
    assert_eq!(fake.audits()[2].1, envs(&["staging"]));
    assert!(
        Instant::now() - sent < Duration::from_millis(10),
        "not held for a window"
    );
    // That leading re-audit opened a window again: a change within it waits for its end.
    ends.changes.send(change("prod")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        fake.audits().len(),
        3,
        "within the window opened by the leading re-audit"
    );
    after(1).await;
    assert_eq!(fake.audits().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn losing_the_lease_stops_watches_and_audits() {
    let fake = Fake::new(Duration::from_secs(5));
    let ends = start(&fake, GRACE);
    ends.leader.send(false).unwrap();
    after(0).await;
    assert!(!fake.record.watching.load(Ordering::SeqCst), "the watches stop");
    assert_eq!(fake.count(&Call::Lead(false)), 1);
    ends.fires.send(()).unwrap();
    ends.changes.send(change("prod")).unwrap();
    ends.commits.send("c2".into()).unwrap();
    after(10).await;
    assert!(
        fake.audits().is_empty(),
        "a follower neither audits nor alerts: {:?}",
        fake.calls()
    );
    assert_eq!(fake.count(&Call::Skipped), 0, "a follower's fire is not a skip");
    // Leading again starts the watches again.
    ends.leader.send(true).unwrap();
    after(0).await;
    assert!(fake.record.watching.load(Ordering::SeqCst));
    ends.fires.send(()).unwrap();
    after(0).await;
    assert_eq!(fake.audits().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_reload_swaps_the_sources_of_the_next_audit() {
    let fake = Fake::new(Duration::from_secs(10));
    let ends = start(&fake, GRACE);
    ends.fires.send(()).unwrap();
    after(1).await;
    ends.reload.reload().await.expect("a valid config reloads");
    after(10).await;
    ends.fires.send(()).unwrap();
    after(0).await;
    let sources: Vec<u64> = fake.audits().iter().map(|a| a.2).collect();
    assert_eq!(
        sources,
        [1, 2],
        "the running audit kept its sources; the next one has the new ones"
    );
    // A rejected config keeps the running sources, and its error reaches the caller.
    fake.record.reject_reload.store(true, Ordering::SeqCst);
    let rejected = ends.reload.reload().await.expect_err("an invalid config is rejected");
    assert!(rejected.to_string().contains("crn"), "{rejected}");
    after(10).await;
    ends.fires.send(()).unwrap();
    after(0).await;
    assert_eq!(fake.audits().last().unwrap().2, 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_mid_audit_waits_for_it_within_grace() {
    let fake = Fake::new(Duration::from_secs(20));
    let started = Instant::now();
    let ends = start(&fake, GRACE);
    ends.fires.send(()).unwrap();
    after(5).await;
    ends.shutdown.cancel();
    ends.run.await.unwrap();
    let took = Instant::now() - started;
    assert_eq!(
        took,
        Duration::from_secs(20),
        "returned when the audit finished, not at grace"
    );
    assert_eq!(fake.count(&Call::AuditEnded), 1);
    assert_eq!(fake.count(&Call::Stop), 1, "the watches and the schedule stop first");
    assert!(!fake.record.watching.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn shutdown_abandons_an_audit_that_overruns_grace() {
    let fake = Fake::new(Duration::from_secs(600));
    let ends = start(&fake, GRACE);
    ends.fires.send(()).unwrap();
    after(5).await;
    let asked = Instant::now();
    ends.shutdown.cancel();
    ends.run.await.unwrap();
    assert_eq!(Instant::now() - asked, GRACE, "returned at grace");
    assert_eq!(fake.count(&Call::AuditEnded), 0, "without the audit");
}

#[tokio::test(start_paused = true)]
async fn a_new_commit_during_an_audit_is_audited_after_it_unless_it_audited_it() {
    let mut fake = Fake::new(Duration::from_secs(10));
    fake.commit = Some("c1".into());
    let ends = start(&fake, GRACE);
    ends.fires.send(()).unwrap();
    after(1).await;
    ends.commits.send("c1".into()).unwrap();
    after(10).await;
    assert_eq!(fake.audits().len(), 1, "the running audit audited c1");
    assert_eq!(
        ends.audits.borrow().last,
        Some(LastAudit {
            commit: Some("c1".into())
        })
    );
    ends.fires.send(()).unwrap();
    after(1).await;
    ends.commits.send("c2".into()).unwrap();
    after(10).await;
    let coverages: Vec<Coverage> = fake.audits().into_iter().map(|a| a.1).collect();
    assert_eq!(
        coverages,
        [Coverage::Full, Coverage::Full, Coverage::Fetched],
        "c2 audited after"
    );
}

#[tokio::test(start_paused = true)]
async fn the_git_side_sees_whether_an_audit_runs() {
    let fake = Fake::new(Duration::from_secs(10));
    let ends = start(&fake, GRACE);
    assert!(!ends.audits.borrow().running);
    ends.fires.send(()).unwrap();
    after(1).await;
    assert!(ends.audits.borrow().running);
    after(10).await;
    assert!(!ends.audits.borrow().running);
}

#[tokio::test(start_paused = true)]
async fn a_change_in_a_namespace_no_environment_judges_reaudits_nothing() {
    let mut fake = Fake::new(Duration::ZERO);
    fake.interest = Some(Arc::new((config(TWO), declared())));
    let ends = start(&fake, GRACE);
    // Elsewhere in the cluster (`production` declares things in shop and payments only).
    for (ns, kind, name) in [
        ("kube-system", "Pod", "coredns-x"),
        ("monitoring", "DaemonSet", "node-exporter"),
    ] {
        ends.changes.send(change_in("prod", ns, kind, name)).unwrap();
    }
    after(10).await;
    assert!(fake.audits().is_empty(), "{:?}", fake.calls());
    // A Pod of a declared workload: re-audited at once.
    ends.changes
        .send(change_in("prod", "shop", "Pod", "api-5d8f7-x2x"))
        .unwrap();
    after(0).await;
    assert_eq!(fake.audits(), [(10, envs(&["production"]), 1)]);
}
