//! The daemon as operators run it: the real binary, its HTTP endpoint, reload, signals, log
//! format, and leader election against the Kubernetes API served by the suite.

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::config::{ConfigBuilder, Environment, Schedule};
use support::daemon::Daemon;
use support::fixtures::{D1, REPO, deployment, one_drift, pod};
use support::kube::{Behaviour, FakeKube};
use support::net::{http, wait_until};
use support::run::{finding, findings};

use crate::NEVER;

/// A GitOps tree and a snapshot with one digest drift (shop/api), and a daemon config whose
/// schedule is `schedule` and whose cluster `prod` is what `cluster` sets.
fn setup(
    dir: &Path,
    schedule: impl FnOnce(Schedule) -> Schedule,
    cluster: impl FnOnce(Environment) -> Environment,
) -> ConfigBuilder {
    one_drift(dir);
    ConfigBuilder::new(dir)
        .schedule(schedule)
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            cluster(e.paths(&["apps/*/production"]).cluster_name("prod"))
        })
}

fn snapshot(e: Environment) -> Environment {
    e.snapshot("cluster.json")
}

fn never(s: Schedule) -> Schedule {
    s.cron(NEVER)
}

/// Never on schedule, one audit at start.
fn on_start(s: Schedule) -> Schedule {
    s.run_on_start(true).cron(NEVER)
}

fn ready(d: &Daemon) -> Option<String> {
    let (code, body) = d.get("/readyz");
    (code == 200).then_some(body)
}

/// Waits until an audit has completed.
fn audited(d: &Daemon) {
    wait_until(10, "a completed audit", || ready(d).filter(|b| b.contains("completed")));
}

/// `probe_listen`: the kubelet's two paths on a port of their own, nothing else there, and
/// the port closed once the daemon stopped.
#[test]
fn probes_on_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let probes = std::net::SocketAddr::from(([127, 0, 0, 1], support::net::free_port()));
    let config = setup(dir.path(), on_start, snapshot).probe_listen(probes);
    let mut d = Daemon::start(dir.path(), &config, &[]);
    wait_until(10, "the probe port to answer", || {
        std::net::TcpStream::connect(probes).ok()
    });
    assert_eq!(http(probes, "GET", "/healthz"), (200, "ok\n".into()));
    audited(&d);
    assert_eq!(
        http(probes, "GET", "/readyz"),
        (200, "ready: 1 audit completed\n".into())
    );
    assert_eq!(
        http(probes, "GET", "/report").0,
        404,
        "only the probes on the probe port"
    );
    assert_eq!(d.get("/healthz").0, 200, "server.listen still answers the probes");

    d.signal("TERM");
    assert_eq!(d.wait_exit(15), 0);
    assert!(
        std::net::TcpStream::connect(probes).is_err(),
        "the probe port is closed once the daemon stopped"
    );
}

#[test]
fn endpoints_health_readiness_report_and_prometheus_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &setup(dir.path(), never, snapshot), &[]);

    assert_eq!(d.get("/healthz"), (200, "ok\n".into()));
    assert_eq!(d.get("/readyz"), (503, "not ready: no audit has run yet\n".into()));
    assert_eq!(d.get("/report").0, 404);
    drop(d);

    // run_on_start: one audit at start, then ready with a report and metrics.
    let d = Daemon::start(dir.path(), &setup(dir.path(), on_start, snapshot), &[]);
    audited(&d);
    assert_eq!(d.get("/readyz"), (200, "ready: 1 audit completed\n".into()));
    let (code, report) = d.get("/report");
    assert_eq!(code, 200);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["schema"], "driftwatch.report/v1");
    assert_eq!(findings(&report), vec![finding("digest-drift", "shop/api", "api")]);

    let (code, text) = d.get("/metrics");
    assert_eq!(code, 200);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the metrics parse as Prometheus text exposition");
    let names: std::collections::BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for name in [
        "driftwatch_findings",
        "driftwatch_audit_duration_seconds_count",
        "driftwatch_audits_total",
        "driftwatch_last_successful_audit_timestamp_seconds",
        "driftwatch_audits_skipped_total",
        "driftwatch_git_fetch_duration_seconds_count",
        "driftwatch_kube_list_duration_seconds_count",
        "driftwatch_leader",
        "driftwatch_config_last_reload_successful",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    assert_eq!(
        d.metric("driftwatch_findings{environment=\"production\",type=\"digest-drift\",severity=\"critical\"}"),
        Some(1.0)
    );
    assert_eq!(d.metric("driftwatch_audits_total{result=\"ok\"}"), Some(1.0));
    assert_eq!(d.metric("driftwatch_leader"), Some(1.0));
    assert_eq!(
        d.metric("driftwatch_kube_list_duration_seconds_count{cluster=\"prod\"}"),
        Some(1.0)
    );
}

#[test]
fn reload_takes_a_valid_config_and_keeps_the_running_one_on_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &setup(dir.path(), never, snapshot), &[]);
    let addr = d.addr;

    // Valid: the new schedule runs an audit every second.
    let every_second = setup(dir.path(), |s| s.cron("* * * * * *"), snapshot);
    d.rewrite_config(&every_second);
    assert_eq!(http(addr, "POST", "/-/reload"), (200, "config reloaded\n".into()));
    audited(&d);
    assert_eq!(d.metric("driftwatch_config_reloads_total{result=\"ok\"}"), Some(1.0));

    // Invalid: rejected with the key named, the daemon keeps running the old config.
    d.rewrite_config(&every_second.schedule(|s| s.other("crn", "x")));
    let (code, body) = http(addr, "POST", "/-/reload");
    assert_eq!(code, 400);
    assert!(
        body.contains("config not reloaded, the running one is kept") && body.contains("crn"),
        "{body}"
    );
    assert_eq!(d.metric("driftwatch_config_last_reload_successful"), Some(0.0));
    let audits = d.metric("driftwatch_audits_total{result=\"ok\"}").unwrap();
    wait_until(10, "audits to go on under the old config", || {
        (d.metric("driftwatch_audits_total{result=\"ok\"}")? > audits).then_some(())
    });

    // SIGHUP reloads too.
    d.rewrite_config(&setup(dir.path(), never, snapshot));
    d.signal("HUP");
    wait_until(10, "the SIGHUP reload", || {
        (d.metric("driftwatch_config_reloads_total{result=\"ok\"}")? >= 2.0).then_some(())
    });
    assert_eq!(d.metric("driftwatch_config_last_reload_successful"), Some(1.0));
    assert!(d.logs().contains("new config rejected; the running config is kept"));
}

/// A cluster whose Pods list answers slowly, so that an audit is under way when signalled;
/// its kubeconfig.
fn slow_cluster(dir: &Path, behaviour: Behaviour) -> (FakeKube, PathBuf) {
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    let kube = FakeKube::start(vec![d, rs, p]);
    kube.behave("pods", behaviour);
    let kc = kube.kubeconfig(dir, "prod");
    (kube, kc)
}

/// The daemon config over the slow cluster, with a kube timeout far above its delays.
/// Watches off: these tests are about an audit whose LIST is slow or hangs, which a watcher's
/// initial sync would wait on too (and `/readyz` with it).
fn slow_config(dir: &Path, schedule: impl FnOnce(Schedule) -> Schedule, kubeconfig: &Path) -> ConfigBuilder {
    setup(dir, schedule, |e| e.kubeconfig(kubeconfig))
        .audit(|a| a.kube_timeout("60s"))
        .watch(|w| w.enabled(false))
}

#[test]
fn sigterm_lets_the_running_audit_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (_kube, kc) = slow_cluster(dir.path(), Behaviour::Slow(Duration::from_millis(1500)));
    let cfg = slow_config(dir.path(), on_start, &kc);
    let mut d = Daemon::start(dir.path(), &cfg, &[]);
    assert_eq!(
        wait_until(10, "the audit to start", || ready(&d)),
        "ready: first audit in progress\n"
    );
    d.signal("TERM");
    assert_eq!(d.wait_exit(20), 0);
    let logs = d.logs();
    let signalled = logs.find("signal received").expect("logged the signal");
    let finished = logs.find("audit finished").expect("the audit finished");
    assert!(
        signalled < finished,
        "the audit finished after the signal, before exit:\n{logs}"
    );
    assert!(logs.contains("stopped"));
}

#[test]
fn shutdown_grace_bounds_the_wait_and_a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_kube, kc) = slow_cluster(dir.path(), Behaviour::Hang);
    let cfg = slow_config(dir.path(), |s| on_start(s).shutdown_grace("1s"), &kc);
    let mut d = Daemon::start(dir.path(), &cfg, &[]);
    wait_until(10, "the audit to start", || ready(&d));
    d.signal("TERM");
    assert_eq!(
        d.wait_exit(10),
        0,
        "exits after shutdown_grace even though the audit hangs"
    );
    assert!(
        d.logs().contains("did not finish within shutdown_grace"),
        "{}",
        d.logs()
    );

    let cfg = slow_config(dir.path(), |s| on_start(s).shutdown_grace("10m"), &kc);
    let mut d = Daemon::start(dir.path(), &cfg, &[]);
    wait_until(10, "the audit to start", || ready(&d));
    d.signal("TERM");
    wait_until(10, "the first signal to be handled", || {
        d.logs().contains("signal received").then_some(())
    });
    d.signal("TERM");
    assert_eq!(d.wait_exit(10), 2, "a second signal exits at once, without waiting 10m");
    assert!(d.logs().contains("second signal: exiting now"));
}

#[test]
fn json_logs_carry_the_audit_id_on_every_line_of_an_audit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), on_start, snapshot).log_format("json");
    let d = Daemon::start(dir.path(), &cfg, &[]);
    audited(&d);
    let logs = d.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let started = lines
        .iter()
        .position(|l| l["fields"]["message"] == "audit started")
        .expect("audit started");
    let finished = lines
        .iter()
        .position(|l| l["fields"]["message"] == "audit finished")
        .expect("audit finished");
    let id = lines[started]["span"]["audit_id"]
        .as_str()
        .expect("audit id")
        .to_string();
    assert!(finished > started + 1, "the audit logged its steps");
    for l in &lines[started..=finished] {
        assert_eq!(l["span"]["audit_id"].as_str(), Some(id.as_str()), "{l}");
    }
}

/// Replica `identity`, in its own folder below `dir`, electing a leader through `kube`.
fn ha_config(dir: &Path, kube: &FakeKube, identity: &str) -> ConfigBuilder {
    let kc = kube.kubeconfig(dir, "lease-ctx");
    let sub = dir.join(identity);
    std::fs::create_dir_all(&sub).unwrap();
    setup(&sub, on_start, snapshot).replica(identity, "ops", &kc)
}

#[test]
fn only_the_leader_audits_and_a_follower_takes_over_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let kube = FakeKube::start(vec![]);
    let a_cfg = ha_config(dir.path(), &kube, "replica-a");
    let mut a = Daemon::start(&dir.path().join("replica-a"), &a_cfg, &[]);
    wait_until(10, "replica-a to lead", || {
        (a.metric("driftwatch_leader")? == 1.0).then_some(())
    });
    let b_cfg = ha_config(dir.path(), &kube, "replica-b");
    let b = Daemon::start(&dir.path().join("replica-b"), &b_cfg, &[]);

    wait_until(10, "replica-a to audit", || {
        (a.metric("driftwatch_audits_total{result=\"ok\"}")? >= 1.0).then_some(())
    });
    assert_eq!(b.metric("driftwatch_leader"), Some(0.0));
    assert_eq!(b.get("/readyz"), (200, "ready: follower, standing by\n".into()));
    assert_eq!(b.get("/healthz").0, 200);
    assert_eq!(
        b.metric("driftwatch_audits_total{result=\"ok\"}"),
        None,
        "a follower never audits"
    );
    assert_eq!(
        kube.lease("ops", "driftwatch").unwrap()["spec"]["holderIdentity"],
        "replica-a"
    );

    // The leader dies without releasing its lease: the follower takes over once it expires.
    a.signal("KILL");
    a.wait_exit(5);
    let took = std::time::Instant::now();
    wait_until(10, "replica-b to take over", || {
        (b.metric("driftwatch_leader")? == 1.0).then_some(())
    });
    assert!(
        took.elapsed() < Duration::from_secs(5),
        "takeover within the lease duration (2s) plus a renew interval"
    );
    let lease = kube.lease("ops", "driftwatch").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    wait_until(10, "replica-b to audit", || {
        (b.metric("driftwatch_audits_total{result=\"ok\"}")? >= 1.0).then_some(())
    });
}
