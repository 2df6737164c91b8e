//! The daemon as operators run it: the real binary, its HTTP endpoint, reload, signals, log
//! format, and leader election against the Kubernetes API served by the suite.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// A GitOps tree and a snapshot with one digest drift (shop/api), and a daemon config.
fn setup(dir: &Path, addr: SocketAddr, extra: &str, cluster: &str) -> PathBuf {
    one_drift(dir);
    let cfg = dir.join("driftwatch.toml");
    write(
        &cfg,
        &format!(
            "{extra}\n[gitops]\npath = \"gitops\"\n\n[server]\nlisten = \"{addr}\"\n\n[[environments]]\nname = \"production\"\npaths = [\"apps/*/production\"]\n[environments.cluster]\nname = \"prod\"\n{cluster}\n"
        ),
    );
    cfg
}

const SNAPSHOT: &str = "snapshot = \"cluster.json\"";
/// A schedule that does not fire during a test.
const NEVER: &str = "[schedule]\ncron = \"0 0 3 1 1 *\"\n";

fn ready(d: &Daemon) -> Option<String> {
    let (code, body) = d.get("/readyz");
    (code == 200).then_some(body)
}

/// Waits until an audit has completed.
fn audited(d: &Daemon) {
    wait_until(10, "a completed audit", || ready(d).filter(|b| b.contains("completed")));
}

#[test]
fn endpoints_health_readiness_report_and_prometheus_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let cfg = setup(dir.path(), addr, NEVER, SNAPSHOT);
    let d = Daemon::start(dir.path(), &cfg, addr, &[]);

    assert_eq!(d.get("/healthz"), (200, "ok\n".into()));
    assert_eq!(d.get("/readyz"), (503, "not ready: no audit has run yet\n".into()));
    assert_eq!(d.get("/report").0, 404);
    drop(d);

    // run_on_start: one audit at start, then ready with a report and metrics.
    let cfg = setup(
        dir.path(),
        addr,
        &NEVER.replace("[schedule]", "[schedule]\nrun_on_start = true"),
        SNAPSHOT,
    );
    let d = Daemon::start(dir.path(), &cfg, addr, &[]);
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
    let addr = free_addr();
    let cfg = setup(dir.path(), addr, NEVER, SNAPSHOT);
    let d = Daemon::start(dir.path(), &cfg, addr, &[]);

    // Valid: the new schedule runs an audit every second.
    setup(dir.path(), addr, "[schedule]\ncron = \"* * * * * *\"\n", SNAPSHOT);
    assert_eq!(http(addr, "POST", "/-/reload"), (200, "config reloaded\n".into()));
    audited(&d);
    assert_eq!(d.metric("driftwatch_config_reloads_total{result=\"ok\"}"), Some(1.0));

    // Invalid: rejected with the key named, the daemon keeps running the old config.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[schedule]", "[schedule]\ncrn = \"x\"");
    write(&cfg, &text);
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
    setup(dir.path(), addr, NEVER, SNAPSHOT);
    d.signal("HUP");
    wait_until(10, "the SIGHUP reload", || {
        (d.metric("driftwatch_config_reloads_total{result=\"ok\"}")? >= 2.0).then_some(())
    });
    assert_eq!(d.metric("driftwatch_config_last_reload_successful"), Some(1.0));
    assert!(d.logs().contains("new config rejected; the running config is kept"));
}

/// A cluster whose Pods list answers slowly, so that an audit is under way when signalled.
fn slow_cluster(dir: &Path, behaviour: Behaviour) -> (FakeKube, String) {
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    let kube = FakeKube::start(vec![d, rs, p]);
    kube.behave("pods", behaviour);
    let kc = kube.kubeconfig(dir, "prod");
    (
        kube,
        format!("kubeconfig = \"{}\"\n[audit]\nkube_timeout = \"60s\"", kc.display()),
    )
}

#[test]
fn sigterm_lets_the_running_audit_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let (_kube, cluster) = slow_cluster(dir.path(), Behaviour::Slow(Duration::from_millis(1500)));
    let cfg = setup(
        dir.path(),
        addr,
        &NEVER.replace("[schedule]", "[schedule]\nrun_on_start = true"),
        &cluster,
    );
    let mut d = Daemon::start(dir.path(), &cfg, addr, &[]);
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
    let addr = free_addr();
    let (_kube, cluster) = slow_cluster(dir.path(), Behaviour::Hang);
    let schedule = "[schedule]\ncron = \"0 0 3 1 1 *\"\nrun_on_start = true\nshutdown_grace = \"1s\"\n";
    let cfg = setup(dir.path(), addr, schedule, &cluster);
    let mut d = Daemon::start(dir.path(), &cfg, addr, &[]);
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

    let schedule = schedule.replace("shutdown_grace = \"1s\"", "shutdown_grace = \"10m\"");
    let cfg = setup(dir.path(), addr, &schedule, &cluster);
    let mut d = Daemon::start(dir.path(), &cfg, addr, &[]);
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
    let addr = free_addr();
    let cfg = setup(
        dir.path(),
        addr,
        &format!(
            "log_format = \"json\"\n{}",
            NEVER.replace("[schedule]", "[schedule]\nrun_on_start = true")
        ),
        SNAPSHOT,
    );
    let d = Daemon::start(dir.path(), &cfg, addr, &[]);
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

fn ha_config(dir: &Path, addr: SocketAddr, kube: &FakeKube, identity: &str) -> PathBuf {
    let kc = kube.kubeconfig(dir, "lease-ctx");
    let ha = format!(
        "[schedule]\ncron = \"0 0 3 1 1 *\"\nrun_on_start = true\n[ha]\nenabled = true\nidentity = \"{identity}\"\nlease_namespace = \"ops\"\nlease_duration = \"2s\"\nrenew_interval = \"200ms\"\nkubeconfig = \"{}\"\n",
        kc.display()
    );
    let sub = dir.join(identity);
    std::fs::create_dir_all(&sub).unwrap();
    setup(&sub, addr, &ha, SNAPSHOT)
}

#[test]
fn only_the_leader_audits_and_a_follower_takes_over_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let kube = FakeKube::start(vec![]);
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let a_cfg = ha_config(dir.path(), a_addr, &kube, "replica-a");
    let mut a = Daemon::start(&dir.path().join("replica-a"), &a_cfg, a_addr, &[]);
    wait_until(10, "replica-a to lead", || {
        (a.metric("driftwatch_leader")? == 1.0).then_some(())
    });
    let b_cfg = ha_config(dir.path(), b_addr, &kube, "replica-b");
    let b = Daemon::start(&dir.path().join("replica-b"), &b_cfg, b_addr, &[]);

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
