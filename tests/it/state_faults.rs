//! The store under faults: a disk that refuses writes sends nothing that could not be
//! remembered (one alert says so instead), alerts resume without repeats when it can be written
//! again, and a kill -9 after one channel delivered never re-sends that channel's notice while
//! the other channel still gets it (the dead process's claim is taken over at once). A state
//! directory that cannot be written at all is alerted by every run, naming it and the fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use driftwatch::app::deliver::{self, StoreHealth};
use driftwatch::config::{Config, Overrides};
use driftwatch::sources::Sources;
use driftwatch::store::StoreHandle;
use support::config::ConfigBuilder;
use support::fixtures::one_drift;
use support::net::wait_until;
use support::receiver::Receiver;
use support::run::driftwatch;

/// One drift in production and a webhook channel per path, the state (and so the store,
/// `driftwatch.db` beside it) at `state`.
fn config(dir: &Path, receiver: &Receiver, hooks: &[&str], state: &Path) -> PathBuf {
    one_drift(dir);
    let mut builder = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .state(|s| s.path(state))
        .alerts(|a| a.backoff("10ms").max_attempts(1).timeout("60s"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        });
    for hook in hooks {
        let url = if hook.starts_with("http") {
            hook.to_string()
        } else {
            receiver.url(hook)
        };
        builder = builder.webhook(|w| w.url(&url));
    }
    builder.write()
}

fn texts(receiver: &Receiver, path: &str) -> Vec<String> {
    receiver
        .received(path)
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// `driftwatch --once --notify` with writes to files refused (RLIMIT_FSIZE 0, SIGXFSZ ignored):
/// what a full disk does to the state file, while HTTP still works.
#[allow(unsafe_code)]
fn once_on_a_full_disk(dir: &Path, cfg: &Path) -> i32 {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
    cmd.args(["--once", "--notify", "--config", cfg.to_str().unwrap()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &none) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.status().expect("run driftwatch").code().unwrap_or(-1)
}

#[test]
fn a_full_disk_sends_only_the_state_alert_and_later_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let cfg = config(dir.path(), &receiver, &["/hook"], &dir.path().join("state/alerts.json"));
    for run in 0..3 {
        assert_eq!(once_on_a_full_disk(dir.path(), &cfg), 2, "run {run}: the unit fails");
    }
    let sent = texts(&receiver, "/hook");
    assert_eq!(
        sent.len(),
        1,
        "one alert for the outage across processes, nothing else: {sent:#?}"
    );
    for text in &sent {
        assert!(
            text.contains("store sqlite://") && text.contains("driftwatch.db") && text.contains("cannot write"),
            "{text}"
        );
        assert!(
            !text.contains("digest-drift"),
            "no drift notice it could not remember: {text}"
        );
    }

    // Space is back: the drift is delivered once, and then not again.
    for _ in 0..2 {
        let out = driftwatch(
            dir.path(),
            &["--once", "--notify", "--config", cfg.to_str().unwrap()],
            &[],
        );
        assert_eq!(out.code, 1, "{}", out.stderr);
    }
    let after: Vec<String> = texts(&receiver, "/hook").into_iter().skip(1).collect();
    assert_eq!(after.len(), 1, "{after:#?}");
    assert!(after[0].contains("digest-drift"), "{}", after[0]);

    // A later outage is a new one, with its own alert.
    assert_eq!(once_on_a_full_disk(dir.path(), &cfg), 2);
    let later: Vec<String> = texts(&receiver, "/hook").into_iter().skip(2).collect();
    assert_eq!(later.len(), 1, "{later:#?}");
    assert!(later[0].contains("cannot write"), "{}", later[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsavable_state_is_alerted_once_per_process_and_alerts_resume() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    // The state's directory is a regular file: every save fails, as on a full disk.
    let blocked = dir.path().join("state");
    std::fs::write(&blocked, "not a directory").unwrap();
    let cfg_path = config(dir.path(), &receiver, &["/hook"], &blocked.join("alerts.json"));
    let cfg = Config::load(&cfg_path, &HashMap::new(), &Overrides::default()).unwrap();
    let sources = Sources::new(&cfg).await;
    let health = StoreHealth::default();
    let store = StoreHandle::new(&cfg);
    for _ in 0..3 {
        let report = driftwatch::app::audit::run(&cfg, &sources, &[]).await;
        let err = deliver::notify(&cfg, &store, &report, chrono::Utc::now(), &health)
            .await
            .expect_err("the store cannot be opened");
        assert!(err.to_string().contains("state/driftwatch.db"), "{err}");
    }
    let sent = texts(&receiver, "/hook");
    assert_eq!(sent.len(), 1, "one alert for the daemon's lifetime: {sent:#?}");
    assert!(sent[0].contains("state/driftwatch.db"), "names the store: {}", sent[0]);

    std::fs::remove_file(&blocked).unwrap();
    for _ in 0..2 {
        let report = driftwatch::app::audit::run(&cfg, &sources, &[]).await;
        deliver::notify(&cfg, &store, &report, chrono::Utc::now(), &health)
            .await
            .unwrap();
    }
    let after: Vec<String> = texts(&receiver, "/hook").into_iter().skip(1).collect();
    assert_eq!(after.len(), 1, "the drift, once: {after:#?}");
    assert!(after[0].contains("digest-drift"), "{}", after[0]);
}

/// `driftwatch --once --notify` as a user who cannot write the state directory: nobody when
/// the suite runs as root (to whom a directory's mode is no obstacle).
fn once_as_unprivileged(dir: &Path, cfg: &Path) -> support::run::Output {
    let binary = support::run::binary();
    let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mut cmd = if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    let out = cmd
        .args(["--once", "--notify", "--config", cfg.to_str().unwrap()])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .output()
        .expect("run driftwatch");
    support::run::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A read-only state directory: the store cannot be created there, nor the marker that makes
/// the outage one alert, so every `--once --notify` (a timer's run) sends the alert again; it
/// names the directory and what to do.
#[test]
fn a_read_only_state_directory_is_named_with_the_fix_in_its_alert() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let cfg = config(dir.path(), &receiver, &["/hook"], &state.join("alerts.json"));
    // Everything readable by the unprivileged user; the state directory writable by no one.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o555)).unwrap();
    for run in 0..2 {
        let out = once_as_unprivileged(dir.path(), &cfg);
        assert_eq!(out.code, 2, "run {run}: the unit fails: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("state directory {} cannot be written", state.display())),
            "run {run}: {}",
            out.stderr
        );
    }
    let sent = texts(&receiver, "/hook");
    assert_eq!(sent.len(), 2, "one alert per run: none can be recorded: {sent:#?}");
    for text in &sent {
        assert!(
            text.contains(&format!("state directory {} cannot be written", state.display()))
                && text.contains(&format!(
                    "make {} writable by the user driftwatch runs as",
                    state.display()
                ))
                && text.contains("StateDirectory=driftwatch"),
            "names the directory and the fix: {text}"
        );
        assert!(
            !text.contains("digest-drift"),
            "no notice it could not remember: {text}"
        );
    }
}

/// Whether the SQLite store at `db` records a delivery to `channel` (read with Python's
/// sqlite3, another reader of the same file).
fn delivered(db: &Path, channel: &str) -> bool {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute('SELECT COUNT(*) FROM alert_deliveries WHERE channel = ? AND notified_at IS NOT NULL', (sys.argv[2],)).fetchone()[0])",
        ])
        .arg(db)
        .arg(channel)
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

#[test]
fn kill_9_after_one_channel_delivered_never_resends_that_channel() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    // The second channel accepts the connection and never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    let held = std::thread::spawn(move || hanging.incoming().take(1).map(|c| c.unwrap()).collect::<Vec<_>>());
    let state = dir.path().join("state/alerts.json");
    let cfg = config(dir.path(), &receiver, &["/a", &hanging_url], &state);
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["--once", "--notify", "--config", cfg.to_str().unwrap()])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first channel's delivery is in the store before the second has answered: kill then.
    let db = dir.path().join("state/driftwatch.db");
    wait_until(30, "webhook-1's delivery recorded", || {
        (texts(&receiver, "/a").len() == 1 && delivered(&db, "webhook-1")).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    drop(held);

    // Restarted with the second channel healthy: only it gets the notice.
    let cfg = config(dir.path(), &receiver, &["/a", "/b"], &state);
    let out = driftwatch(
        dir.path(),
        &["--once", "--notify", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        texts(&receiver, "/a").len(),
        1,
        "webhook-1 is not sent the same notice twice"
    );
    assert_eq!(texts(&receiver, "/b").len(), 1, "webhook-2 gets what it was owed");
}
