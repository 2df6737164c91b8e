//! The store end to end with the real binary, on both backends: the embedded SQLite file and a
//! real PostgreSQL server the suite starts (as an unprivileged user, in a temp dir). Alerts go
//! to an HTTP receiver; every run is a new process, so "once" also means "once across
//! processes".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;

use driftwatch::config::{Config, Overrides};
use driftwatch::store::StoreHandle;
use serde_json::Value;
use support::config::ConfigBuilder;
use support::fixtures::{D1, REPO, deployment, list, one_drift, pod};
use support::net::wait_until;
use support::postgres::Postgres;
use support::process::{ServerProcess, Stop, lines};
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

/// Opens the FIFO at `path` for writing once `child` has opened it for reading (polled: the
/// open fails with ENXIO until then). Panics if `child` exits first.
fn fifo_writer(path: &Path, child: &mut ServerProcess) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    wait_until(60, "every process waiting on its snapshot", || {
        let open = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
        match open {
            Ok(file) => Some(file),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                let status = child.try_wait();
                assert!(status.is_none(), "exited ({status:?}) before reading its snapshot");
                None
            }
            Err(e) => panic!("{}: {e}", path.display()),
        }
    })
}

/// The rows of the migrations table of the SQLite store at `db` (read with Python's sqlite3,
/// another reader of the same file).
fn migrations(db: &Path) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT version, success FROM _sqlx_migrations ORDER BY version').fetchall())",
        ])
        .arg(db)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `driftwatch --once --notify` in its own folder below `dir` (one drift, the webhook), sharing
/// the store `dir/state/driftwatch.db`, started reading its cluster snapshot from a FIFO: it
/// waits there until the test writes it. The process (killed if the test fails) with its
/// stderr lines, the FIFO and what to write into it.
fn waiting_on_its_snapshot(
    dir: &Path,
    receiver: &Receiver,
    i: usize,
) -> (ServerProcess, mpsc::Receiver<String>, PathBuf, Vec<u8>) {
    let sub = dir.join(format!("p{i}"));
    one_drift(&sub);
    let cfg = config(&sub, receiver, None)
        .state(|st| st.path(dir.join("state/alerts.json")))
        .write();
    let fifo = sub.join("cluster.json");
    let snapshot = std::fs::read(&fifo).unwrap();
    std::fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut cmd = command(&sub, &["--once", "--notify", "--config", cfg.to_str().unwrap()], &[]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = ServerProcess::spawn(&mut cmd, Stop::Kill, "start driftwatch");
    let stderr = lines(child.take_stderr().unwrap());
    (child, stderr, fifo, snapshot)
}

/// Four `--once --notify` on a host whose store does not exist yet, released at once: each
/// reads its cluster snapshot from a FIFO that is written only when all four wait on it, so
/// they reach the store's first open together. Each round on a new store.
#[test]
fn processes_starting_together_on_a_new_sqlite_store_all_run() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let receiver = Receiver::start();
        let mut children: Vec<_> = (0..4)
            .map(|i| waiting_on_its_snapshot(dir.path(), &receiver, i))
            .collect();
        // The barrier: every process has opened its snapshot; then all are released.
        let writers: Vec<_> = children
            .iter_mut()
            .map(|(child, _, fifo, snapshot)| (fifo_writer(fifo, child), std::mem::take(snapshot)))
            .collect();
        for (mut writer, snapshot) in writers {
            std::io::Write::write_all(&mut writer, &snapshot).unwrap();
        }
        for (mut child, stderr, _, _) in children {
            let status = wait_until(120, "every process exits", || child.try_wait());
            let stderr: Vec<String> = stderr.iter().collect();
            assert_eq!(status.code(), Some(1), "round {round}: {stderr:#?}");
            assert!(
                !stderr.iter().any(|l| l.contains("cannot open")),
                "round {round}: {stderr:#?}"
            );
        }
        assert_eq!(
            migrations(&dir.path().join("state/driftwatch.db")),
            each_migration_once(),
            "round {round}: migrated once"
        );
        let s = Setup {
            cfg: dir.path().join("p0/driftwatch.toml"),
            dir,
            receiver,
            database: None,
        };
        assert_eq!(
            s.events(),
            vec!["firing digest-drift"],
            "round {round}: one notice, no \"store cannot be used\": {:#?}",
            s.sent()
        );
    }
}

/// The config a [`a_helper_opens_the_store_when_told`] process opens the store of.
const HELPER_CONFIG: &str = "DRIFTWATCH_TEST_OPEN_STORE_OF";

/// Not a test on its own: the process [`processes_opening_a_new_store_at_once_take_turns`]
/// starts (this test binary again). It loads the config named by `HELPER_CONFIG`, prints
/// `ready`, and when a line arrives on stdin opens the store as a run does, printing `opened`
/// or `failed: <error>`.
#[test]
#[ignore = "a helper process of processes_opening_a_new_store_at_once_take_turns"]
fn a_helper_opens_the_store_when_told() {
    let Some(path) = std::env::var_os(HELPER_CONFIG) else {
        return;
    };
    let cfg = Config::load(Path::new(&path), &HashMap::new(), &Overrides::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    runtime.block_on(async {
        match StoreHandle::new(&cfg).get().await {
            Ok((store, _)) => {
                println!("opened at schema version {}", store.version().await.unwrap());
                store.close().await;
            }
            Err(e) => println!("failed: {e}"),
        }
    });
}

/// Four processes open a store that does not exist yet at the same instant (each waits on its
/// stdin, and the four lines are written one after the other), five times: every one opens it,
/// the later ones finding it migrated, instead of one failing with "table alerts already
/// exists" (the store that cannot be used, alerted to every channel).
#[test]
fn processes_opening_a_new_store_at_once_take_turns() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let receiver = Receiver::start();
        let cfg = config(dir.path(), &receiver, None).write();
        let mut helpers: Vec<_> = (0..4)
            .map(|_| {
                let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
                cmd.args([
                    "--exact",
                    "store::a_helper_opens_the_store_when_told",
                    "--ignored",
                    "--nocapture",
                ])
                .env(HELPER_CONFIG, &cfg)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
                let mut helper = ServerProcess::spawn(&mut cmd, Stop::Kill, "start a helper");
                let stdin = helper.take_stdin().unwrap();
                let stdout = lines(helper.take_stdout().unwrap());
                (helper, stdin, stdout)
            })
            .collect();
        for (_, _, stdout) in &helpers {
            next_line(stdout, "ready");
        }
        // The barrier: all four wait on their stdin; release them together.
        for (_, stdin, _) in &mut helpers {
            std::io::Write::write_all(stdin, b"go\n").unwrap();
        }
        for (_, _, stdout) in &helpers {
            let line = next_line(stdout, "opened");
            assert_eq!(
                line,
                format!("opened at schema version {}", driftwatch::store::schema_version()),
                "round {round}"
            );
        }
        assert_eq!(
            migrations(&dir.path().join("driftwatch.db")),
            each_migration_once(),
            "round {round}"
        );
    }
}

/// The next line of a helper's output starting with `ready`, `opened` or `failed`; panics
/// unless it starts with `want`.
fn next_line(stdout: &mpsc::Receiver<String>, want: &str) -> String {
    loop {
        let line = stdout
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no `{want}` from a helper: {e}"));
        if ["ready", "opened", "failed"].iter().any(|p| line.starts_with(p)) {
            assert!(line.starts_with(want), "{line}");
            return line;
        }
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
        out.stdout.contains(&format!(
            "store: reachable, schema version {}, 1 audits recorded",
            driftwatch::store::schema_version()
        )),
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

/// What `migrations` shows when every migration of this release ran once: `[(1, 1), (2, 1)]`.
fn each_migration_once() -> String {
    let each: Vec<String> = (1..=driftwatch::store::schema_version())
        .map(|v| format!("({v}, 1)"))
        .collect();
    format!("[{}]", each.join(", "))
}
