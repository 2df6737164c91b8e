//! The store end to end with the real binary, on both backends: the embedded SQLite file and a
//! real PostgreSQL server the suite starts (as an unprivileged user, in a temp dir). Alerts go
//! to an HTTP receiver; every run is a new process, so "once" also means "once across
//! processes".

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use support::config::ConfigBuilder;
use support::fixtures::{D1, REPO, deployment, list, one_drift, pod};
use support::postgres::Postgres;
use support::receiver::Receiver;
use support::run::{Output, command, driftwatch};
use support::write;

const STORE_PASSWORD_ENV: &str = "DRIFTWATCH_STORE_PASSWORD";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Setup {
    dir: tempfile::TempDir,
    receiver: Receiver,
    cfg: PathBuf,
    /// The PostgreSQL database, when that is the store.
    database: Option<String>,
}

fn setup(backend: Backend) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    one_drift(dir.path());
    let receiver = Receiver::start();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(Postgres::shared().database("store")),
    };
    let cfg = config(dir.path(), &receiver, database.as_deref()).write();
    Setup {
        dir,
        receiver,
        cfg,
        database,
    }
}

/// One `digest-drift` in production, a webhook channel, and the store: `database` (PostgreSQL,
/// password from the environment) or the default SQLite file beside the state.
fn config(dir: &Path, receiver: &Receiver, database: Option<&str>) -> ConfigBuilder {
    let b = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .alerts(|a| a.backoff("10ms").backoff_max("20ms").timeout("5s").max_attempts(1))
        .webhook(|w| w.url(&receiver.url("/hook")))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod")
                .snapshot("cluster.json")
        });
    match database {
        Some(url) => b.store(|s| s.url(url).password_env(STORE_PASSWORD_ENV)),
        None => b,
    }
}

impl Setup {
    /// The store password's variable, when the store is PostgreSQL.
    fn env(&self) -> Vec<(&'static str, &'static str)> {
        match self.database {
            Some(_) => vec![(STORE_PASSWORD_ENV, Postgres::shared().password())],
            None => Vec::new(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.cfg.to_str().unwrap()]);
        let out = driftwatch(self.dir.path(), &all, &self.env());
        let password = self.env().first().map_or("no password", |(_, p)| *p);
        assert!(
            !out.stdout.contains(password) && !out.stderr.contains(password),
            "the store password was printed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        out
    }

    fn notify(&self) -> Output {
        self.run(&["--once", "--notify"])
    }

    /// What the webhook received, as JSON bodies.
    fn sent(&self) -> Vec<Value> {
        self.receiver
            .received("/hook")
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    fn events(&self) -> Vec<String> {
        self.sent()
            .iter()
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                format!(
                    "{} {}",
                    a["event"].as_str().unwrap_or("?"),
                    a["type"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// The drift fixed: the Pod runs what git declares.
    fn fix(&self) {
        let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
        let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
        write(&self.dir.path().join("cluster.json"), &list(vec![d, rs, p]));
    }
}

#[test]
fn alerts_fire_once_and_resolve_once_on_sqlite_and_postgres() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let s = setup(backend);
        for _ in 0..3 {
            assert_eq!(s.notify().code, 1, "{backend:?}");
        }
        assert_eq!(
            s.events(),
            vec!["firing digest-drift"],
            "{backend:?}: one notice across three processes"
        );
        s.fix();
        for _ in 0..2 {
            assert_eq!(s.notify().code, 0, "{backend:?}");
        }
        assert_eq!(
            s.events(),
            vec!["firing digest-drift", "resolved digest-drift"],
            "{backend:?}: resolved once"
        );
        if let Backend::Sqlite = backend {
            assert!(
                s.dir.path().join("driftwatch.db").is_file(),
                "the default store sits beside the state"
            );
        }
    }
}

/// The alert state file of a release before the store, saying the webhook was told about
/// `finding` (as the JSON report shows it) at `at`.
fn old_state_file(finding: &Value, at: &str) -> String {
    let fingerprint = finding["fingerprint"].as_str().unwrap();
    serde_json::json!({
        "version": 1,
        "alerts": {fingerprint: {
            "subject": {"finding": finding},
            "first_seen": at, "last_seen": at, "resolved_at": null,
            "channels": {"webhook-1": {"notified_at": at, "resolved_notified": false}}
        }}
    })
    .to_string()
}

#[test]
fn a_state_file_from_before_the_store_moves_into_it_and_nothing_is_sent_again() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let s = setup(backend);
        let report = s.run(&["--once", "--format", "json"]).json();
        let finding = &report["findings"][0];
        assert_eq!(finding["type"], "digest-drift");
        let state = s.dir.path().join("state.json");
        let at = chrono::Utc::now().to_rfc3339();
        std::fs::write(&state, old_state_file(finding, &at)).unwrap();

        let out = s.notify();
        assert_eq!(out.code, 1, "{backend:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("moved the alert state file") && out.stderr.contains("1 alerts"),
            "{backend:?}: the move is reported: {}",
            out.stderr
        );
        assert!(!state.exists(), "{backend:?}");
        assert!(
            s.dir.path().join("state.json.migrated").is_file(),
            "{backend:?}: kept as *.migrated"
        );
        assert_eq!(
            s.events(),
            Vec::<String>::new(),
            "{backend:?}: told before the upgrade: not again"
        );

        // The episode goes on in the store: its resolution is announced, once.
        s.fix();
        assert_eq!(s.notify().code, 0);
        assert_eq!(s.notify().code, 0);
        assert_eq!(s.events(), vec!["resolved digest-drift"], "{backend:?}");
    }
}

#[test]
fn processes_sharing_a_store_never_send_the_same_notice() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let s = setup(backend);
        // Slow answers keep the senders' deliveries overlapping.
        s.receiver.script("/hook", &[(200, Some(300)); 8]);
        let cfg = s.cfg.to_str().unwrap().to_string();
        let children: Vec<_> = (0..4)
            .map(|_| {
                command(s.dir.path(), &["--once", "--notify", "--config", &cfg], &s.env())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(1),
                "{backend:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(
            s.events(),
            vec!["firing digest-drift"],
            "{backend:?}: four processes at once, one notice"
        );
    }
}

#[test]
fn a_store_that_turns_read_only_sends_one_alert_and_nothing_twice() {
    let s = setup(Backend::Postgres);
    let db = s.database.clone().unwrap();
    let pg = Postgres::shared();
    let out = s.notify();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(s.events(), vec!["firing digest-drift"], "{}", out.stderr);

    let name = db.rsplit('/').next().unwrap().to_string();
    pg.sql(
        &db,
        &format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"),
    );
    s.fix();
    for run in 0..3 {
        let out = s.notify();
        assert_eq!(out.code, 2, "run {run}: the unit fails: {}", out.stderr);
        assert!(out.stderr.contains("read-only"), "run {run}: names why: {}", out.stderr);
    }
    let sent = s.sent();
    assert_eq!(sent.len(), 2, "the drift, then one alert for the outage: {sent:#?}");
    let outage = sent[1].to_string();
    assert!(
        outage.contains("cannot write") && outage.contains(&db) && outage.contains("No new alerts are sent"),
        "{outage}"
    );

    // Writable again: the resolution it held back is sent, once; nothing else again.
    // From another database: in this one every transaction is read-only now.
    pg.sql(
        &pg.url("postgres"),
        &format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = off"),
    );
    for _ in 0..2 {
        assert_eq!(s.notify().code, 0);
    }
    let events = s.events();
    assert_eq!(
        events.last().map(String::as_str),
        Some("resolved digest-drift"),
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "firing digest-drift").count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "resolved digest-drift").count(),
        1,
        "{events:?}"
    );
}

#[test]
fn a_corrupt_sqlite_store_is_moved_aside_and_alerts_go_on() {
    let s = setup(Backend::Sqlite);
    std::fs::write(
        s.dir.path().join("driftwatch.db"),
        "this is not a database, it is a text file of 64 bytes or more....",
    )
    .unwrap();
    let out = s.notify();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("not a database") && out.stderr.contains("moved it aside"),
        "{}",
        out.stderr
    );
    let aside: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("driftwatch.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(s.events(), vec!["firing digest-drift"]);
}

#[test]
fn check_config_shows_the_store_and_whether_it_is_reachable() {
    // SQLite, not created yet: check-config creates nothing.
    let s = setup(Backend::Sqlite);
    let out = s.run(&["check-config"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "store: sqlite://{}",
            s.dir.path().join("driftwatch.db").display()
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("store: not created yet"), "{}", out.stdout);
    assert!(
        !s.dir.path().join("driftwatch.db").exists(),
        "check-config has no side effects"
    );
    assert_eq!(s.notify().code, 1);
    let out = s.run(&["check-config"]);
    assert!(
        out.stdout
            .contains("store: reachable, schema version 1, 1 audits recorded"),
        "{}",
        out.stdout
    );

    // PostgreSQL: reachable, and an error naming it with a wrong password (never printed).
    let p = setup(Backend::Postgres);
    let out = p.run(&["check-config"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("(shared PostgreSQL, password set)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("store: reachable, empty"), "{}", out.stdout);
    let wrong = driftwatch(
        p.dir.path(),
        &["check-config", "--config", p.cfg.to_str().unwrap()],
        &[(STORE_PASSWORD_ENV, "not-the-password")],
    );
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("store.url: store postgres://") && wrong.stderr.contains("cannot open"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("not-the-password"));
}

#[test]
fn a_password_in_the_store_url_is_refused_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    one_drift(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .store(|s| s.url("postgres://driftwatch:hunter2-secret@db.example.com/driftwatch"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        })
        .write();
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("store.url: holds a password: give it in store.password_env"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"));
}

#[test]
fn a_store_written_by_a_newer_release_is_refused_and_named() {
    let s = setup(Backend::Postgres);
    assert_eq!(s.notify().code, 1);
    let db = s.database.clone().unwrap();
    Postgres::shared().sql(
        &db,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'future', TRUE, '\\x00', 0)",
    );
    let out = s.notify();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("schema version 99, written by a newer driftwatch release"),
        "{}",
        out.stderr
    );
    let out = s.run(&["check-config"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("schema version 99"), "{}", out.stderr);
}

/// Two replicas electing a leader through the suite's Kubernetes API and sharing `database`:
/// replica `identity` lives in its own folder below `dir`, audits once when it leads.
fn replica(
    dir: &Path,
    kube: &support::kube::FakeKube,
    receiver: &Receiver,
    database: &str,
    identity: &str,
) -> ConfigBuilder {
    let kc = kube.kubeconfig(dir, "lease-ctx");
    let sub = dir.join(identity);
    std::fs::create_dir_all(&sub).unwrap();
    one_drift(&sub);
    config(&sub, receiver, Some(database))
        .schedule(|s| s.run_on_start(true).cron("0 0 3 1 1 *"))
        .replica(identity, "ops", &kc)
}

#[test]
fn a_failover_between_replicas_sharing_postgresql_does_not_announce_current_drift_again() {
    use support::daemon::Daemon;
    use support::net::wait_until;
    let dir = tempfile::tempdir().unwrap();
    let kube = support::kube::FakeKube::start(vec![]);
    let receiver = Receiver::start();
    let pg = Postgres::shared();
    let database = pg.database("replicas");
    let env = [(STORE_PASSWORD_ENV, pg.password())];
    let a_cfg = replica(dir.path(), &kube, &receiver, &database, "replica-a");
    let mut a = Daemon::start(&dir.path().join("replica-a"), &a_cfg, &env);
    wait_until(20, "replica-a to lead and audit", || {
        (a.metric("driftwatch_audits_total{result=\"ok\"}")? >= 1.0).then_some(())
    });
    let b_cfg = replica(dir.path(), &kube, &receiver, &database, "replica-b");
    let b = Daemon::start(&dir.path().join("replica-b"), &b_cfg, &env);
    assert_eq!(receiver.received("/hook").len(), 1, "the leader announced the drift");

    // The leader dies without releasing its lease; the follower takes over and audits.
    a.signal("KILL");
    a.wait_exit(5);
    wait_until(20, "replica-b to take over and audit", || {
        (b.metric("driftwatch_audits_total{result=\"ok\"}")? >= 1.0).then_some(())
    });
    assert_eq!(
        receiver.received("/hook").len(),
        1,
        "the new leader knows from the shared store that the drift was announced"
    );
    // Both replicas answer the same DORA from the one store.
    let (code, body) = b.get("/api/dora");
    assert_eq!(code, 200, "{body}");
    let dora: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(dora["environments"][0]["name"], "production");
    assert!(!body.contains(pg.password()));
}

#[tokio::test]
async fn history_past_retention_is_deleted_and_open_drift_is_kept() {
    use driftwatch::config::{Config, Overrides};
    use driftwatch::core::dora::Window;
    use driftwatch::store::Store;
    let s = setup(Backend::Sqlite);
    for _ in 0..2 {
        assert_eq!(s.notify().code, 1);
    }
    let cfg = Config::load(&s.cfg, &Default::default(), &Overrides::default()).unwrap();
    let store = Store::open(&cfg.store).await.unwrap();
    assert_eq!(store.audits().await.unwrap().0, 2, "every audit is recorded");
    let now = chrono::Utc::now();
    let all = Window {
        since: now - chrono::Duration::days(30),
        until: now + chrono::Duration::days(30),
    };
    assert_eq!(store.episodes(all, std::time::Duration::ZERO).await.unwrap().len(), 1);

    // A year and a half later with the default retention (400 days): the audits are gone, the
    // drift that is still open is not.
    let later = now + chrono::Duration::days(550);
    let deleted = store.prune_history(cfg.store.retention, later).await.unwrap();
    assert!(deleted >= 2, "{deleted}");
    assert_eq!(store.audits().await.unwrap().0, 0);
    let episodes = store.episodes(all, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(episodes.len(), 1, "an open episode is kept whatever its age");
    assert_eq!(episodes[0].finding_type, "digest-drift");
    assert!(episodes[0].resolved_at.is_none());
    store.close().await;
}
