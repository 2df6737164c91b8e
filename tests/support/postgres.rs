//! A real PostgreSQL server (Debian's `postgresql` package, installed by scripts/prereqs) for the
//! store tests: `initdb` with a password-only superuser, `postgres` on 127.0.0.1 with its socket
//! in a temp dir, fresh databases per test, SQL through `psql`, and an outage on demand.
//!
//! `initdb` and `postgres` refuse to run as root, which the tests are here and in CI: as root the
//! harness runs them as `nobody`. A server never outlives the test process: `postgres` is
//! started with a parent-death signal (SIGINT, PostgreSQL's fast shutdown), and the shared
//! server is shut down and its data removed when the test binary exits. The data dir of a test
//! binary that was killed is removed by the next server started on this machine.

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use crate::net::{free_port, wait_until};
use crate::process::{ServerProcess, Stop};

/// The superuser every test connects as.
pub const USER: &str = "driftwatch";

/// Temp dirs are named `driftwatch-pg-<test process id>-…`, so that a later run can tell those
/// of test processes that died without removing theirs.
const DIR_PREFIX: &str = "driftwatch-pg-";

const MISSING: &str = "PostgreSQL's server binaries (initdb, postgres, psql) are not installed: \
     install the Debian package `postgresql` (scripts/prereqs installs it)";

/// A PostgreSQL server on 127.0.0.1, with its data in a temp dir removed when it is dropped.
pub struct Postgres {
    process: Mutex<Option<ServerProcess>>,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The uid and gid `initdb` and `postgres` run as; None when the tests do not run as root.
    run_as: Option<(u32, u32)>,
    port: u16,
    password: String,
    databases: AtomicUsize,
}

impl Postgres {
    /// Runs `initdb` (superuser [`USER`], scram-sha-256 for every connection, a random
    /// password), starts `postgres` on 127.0.0.1 on a free port and returns once it accepts
    /// connections.
    pub fn start() -> Postgres {
        let bin = bin_dir().unwrap_or_else(|| panic!("{MISSING}"));
        for program in ["initdb", "postgres", "psql"] {
            assert!(
                bin.join(program).is_file(),
                "{MISSING} (no {program} in {})",
                bin.display()
            );
        }
        remove_stale_dirs();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .unwrap();
        // The directory is ours, so its owner is our effective uid: root or not, without libc.
        let run_as = if std::fs::metadata(dir.path()).unwrap().uid() == 0 {
            let (uid, gid) = nobody();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
            Some((uid, gid))
        } else {
            None
        };
        let password = random_hex(24);
        let mut pg = Postgres {
            process: Mutex::new(None),
            dir,
            bin,
            run_as,
            port: 0,
            password,
            databases: AtomicUsize::new(0),
        };
        pg.initdb();
        // free_port() releases the port before postgres binds it and a parallel test can take it
        // in between: postgres then exits saying so, and is started again on another port.
        for _ in 0..5 {
            pg.port = free_port();
            match pg.spawn() {
                Ok(process) => {
                    *pg.process.get_mut().unwrap() = Some(process);
                    return pg;
                }
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("postgres did not start:\n{log}"),
            }
        }
        panic!("postgres lost its port to another process five times");
    }

    /// One server per test binary, started by the first test that asks (initdb and a first start take about a second)
    /// and stopped, its data removed, when the test binary exits.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        extern "C" fn stop_shared() {
            if let Some(pg) = SHARED.get() {
                // A panic must not unwind out of an atexit handler; the data is in a temp dir.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    pg.stop();
                    let _ = std::fs::remove_dir_all(pg.dir.path());
                }));
            }
        }
        SHARED.get_or_init(|| {
            let pg = Postgres::start();
            at_exit(stop_shared);
            pg
        })
    }

    /// A new empty database on this server, named after `name_hint` plus a number; its URL
    /// without the password: `postgres://driftwatch@127.0.0.1:PORT/NAME`.
    pub fn database(&self, name_hint: &str) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = database_name(name_hint, n);
        self.sql(&self.url("postgres"), &format!("CREATE DATABASE \"{name}\""));
        self.url(&name)
    }

    /// The URL of database `name` on this server, without the password.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The superuser's password (random per server).
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` with `psql` as the superuser against `database_url`; its output, one row a
    /// line, columns separated by `|`, no header, without the final newline. Panics with psql's
    /// error when it fails.
    pub fn sql(&self, database_url: &str, sql: &str) -> String {
        self.try_sql(database_url, sql)
            .unwrap_or_else(|e| panic!("psql {database_url} -c {sql:?}: {e}"))
    }

    /// As [`Postgres::sql`], returning psql's error instead of panicking: for a connection that
    /// is meant to fail. A password in `database_url` overrides the superuser's.
    pub fn try_sql(&self, database_url: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                database_url,
                "-c",
                sql,
            ])
            .env_clear()
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{MISSING}: {e}"));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n').to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim_end().to_string())
        }
    }

    /// Shuts the server down (PostgreSQL's fast shutdown: sessions are ended, data is kept):
    /// a database outage. Nothing if it is stopped already.
    pub fn stop(&self) {
        let mut process = self.process.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut process) = process.take() {
            shut_down(&mut process);
        }
    }

    /// Starts the server again on the same port with the same data (stopping it first if it
    /// runs), and returns once it accepts connections.
    pub fn restart(&self) {
        let mut process = self.process.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut running) = process.take() {
            shut_down(&mut running);
        }
        match self.spawn() {
            Ok(started) => *process = Some(started),
            Err(log) => panic!("postgres did not start again on port {}:\n{log}", self.port),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command for one of PostgreSQL's programs, as the unprivileged user when we are root,
    /// in a clean environment (no PG* variables of the caller's).
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("LC_ALL", "C")
            // initdb scans the whole zoneinfo tree to guess the zone unless TZ names one.
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            // std drops the supplementary groups (setgroups) before setuid when uid is set.
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn initdb(&self) {
        let pwfile = self.dir.path().join("pwfile");
        std::fs::write(&pwfile, &self.password).unwrap();
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let out = self
            .command("initdb")
            .args([
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .arg(format!("--username={USER}"))
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("--pgdata")
            .arg(self.data())
            .output()
            .unwrap_or_else(|e| panic!("{MISSING}: {e}"));
        std::fs::remove_file(&pwfile).unwrap();
        assert!(
            out.status.success(),
            "initdb failed{}:\n{}{}",
            if self.run_as.is_some() {
                " (it runs as nobody: TMPDIR must be reachable by nobody)"
            } else {
                ""
            },
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `postgres` on `self.port` and waits until it accepts connections; its log when it
    /// exits instead.
    fn spawn(&self) -> Result<ServerProcess, String> {
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.path().display()))
            // Durability against a machine crash is of no use to a test; speed is.
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            // Each test's pool holds connections to the one shared server.
            .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.log()).unwrap());
        die_with_test_process(&mut cmd);
        // The parent-death signal fires when the *thread* that forked exits, so every server is
        // forked by one thread that lives as long as the test process, not by a test's thread.
        let mut process = on_keeper_thread(move || ServerProcess::spawn(&mut cmd, Stop::Kill, MISSING));
        // postmaster.pid's 8th line turns to "ready" once this postmaster accepts connections:
        // unlike a probe of the port, it cannot be another server that took the port.
        let pid_file = self.data().join("postmaster.pid");
        let ready = wait_until(30, "postgres to accept connections", || {
            if process.try_wait().is_some() {
                return Some(false);
            }
            let status = std::fs::read_to_string(&pid_file).ok()?;
            (status.lines().nth(7)?.trim() == "ready").then_some(true)
        });
        if ready {
            Ok(process)
        } else {
            Err(std::fs::read_to_string(self.log()).unwrap_or_default())
        }
    }
}

impl Drop for Postgres {
    /// A fast shutdown before the data dir goes: the default SIGKILL of [`ServerProcess`] would
    /// leave PostgreSQL's System V shared memory segment behind.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Fast shutdown (SIGINT): ends the sessions, writes a checkpoint and removes the shared memory,
/// which a SIGKILL would leave behind; SIGKILL to the group only if it takes over 10 s.
fn shut_down(process: &mut ServerProcess) {
    if process.try_wait().is_none() {
        process.signal(libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while process.try_wait().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    process.stop();
}

/// Removes the data dirs of test processes that ended without removing theirs (killed, Ctrl-C:
/// no exit handlers run); their servers shut down on the parent-death signal, so only files
/// remain. A dir whose test process or postmaster still lives is left alone.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let alive = |pid: &str| Path::new("/proc").join(pid.trim()).exists();
    for entry in entries.filter_map(Result::ok) {
        let Some(owner) = entry.file_name().to_str().and_then(owner_pid) else {
            continue;
        };
        let path = entry.path();
        // postgres removes postmaster.pid when it has shut down.
        let postmaster = std::fs::read_to_string(path.join("data/postmaster.pid")).ok();
        let postmaster_alive = postmaster.is_some_and(|p| p.lines().next().is_some_and(alive));
        if !alive(&owner.to_string()) && !postmaster_alive {
            // Another user's (a run as root, seen from a run as a user) may not be ours to remove.
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The test process that made a temp dir named `driftwatch-pg-<pid>-…`.
fn owner_pid(dir_name: &str) -> Option<u32> {
    let (pid, _) = dir_name.strip_prefix(DIR_PREFIX)?.split_once('-')?;
    pid.parse().ok()
}

/// The server binaries: the highest version under /usr/lib/postgresql (Debian installs each
/// major version there, with no `postgres` on PATH), else `pg_config --bindir`.
fn bin_dir() -> Option<PathBuf> {
    let versions: Vec<String> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("bin/postgres").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if let Some(version) = highest(&versions) {
        return Some(Path::new("/usr/lib/postgresql").join(version).join("bin"));
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && bin.join("postgres").is_file()).then_some(bin)
}

/// The highest of PostgreSQL's version directory names, compared as numbers ("9.6" < "15").
fn highest(versions: &[String]) -> Option<&String> {
    let key = |v: &String| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    versions.iter().max_by_key(|v| key(v))
}

/// A database name from a test's hint: lower-case letters, digits and `_`, at most 40 of them,
/// then `_n` so that every call gets a database of its own.
fn database_name(hint: &str, n: usize) -> String {
    let base: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let base = if base.is_empty() { "db".to_string() } else { base };
    format!("{base}_{n}")
}

/// The uid and gid of `nobody`, from /etc/passwd.
fn nobody() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == "nobody").then(|| (fields[2].parse().ok(), fields[3].parse().ok()))
        })
        .and_then(|(uid, gid)| Some((uid?, gid?)))
        .expect("the tests run as root and PostgreSQL refuses root: they need a `nobody` user to run it as")
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read as _;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `job` on a thread that lives as long as the test process and returns its result; a
/// panic in it panics the caller with the same message.
fn on_keeper_thread<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> T {
    type Job = Box<dyn FnOnce() + Send>;
    static KEEPER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("postgres-keeper".into())
            .spawn(move || rx.into_iter().for_each(|job| job()))
            .expect("start the thread that forks the PostgreSQL servers");
        tx
    });
    let (reply, answer) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = reply.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)));
    });
    keeper
        .send(job)
        .expect("the keeper thread lives as long as the process");
    match answer.recv().expect("the keeper thread answers") {
        Ok(value) => value,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{message}")
        }
    }
}

/// Makes the child receive SIGINT (PostgreSQL's fast shutdown) when the thread that forked it
/// exits: with the test process, however it ends, since the keeper thread forks every server.
#[allow(unsafe_code)]
fn die_with_test_process(cmd: &mut Command) {
    let parent = libc::pid_t::try_from(std::process::id()).expect("a pid fits pid_t");
    // SAFETY: the closure runs in the forked child before exec and makes only async-signal-safe
    // system calls (prctl, getppid) on plain integers; it allocates nothing. std runs it after
    // the uid/gid switch, which would otherwise clear the parent-death signal again.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The test process may have exited between fork and prctl: then nobody would signal.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the test process exited"));
            }
            Ok(())
        });
    }
}

/// Registers `handler` to run when the test binary exits normally (libtest returns from main
/// or calls `exit`): a static's value is never dropped, so the shared server's data dir would
/// otherwise stay behind.
#[allow(unsafe_code)]
fn at_exit(handler: extern "C" fn()) {
    // SAFETY: atexit(3) only stores the function pointer; `handler` catches its own panics, so
    // none unwinds into libc.
    let registered = unsafe { libc::atexit(handler) };
    assert_eq!(registered, 0, "atexit");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_installed_version_is_chosen_by_number_not_by_text() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["15"], Some("15")),
            (&["9.6", "15", "13"], Some("15")),
            (&["16", "9.6"], Some("16")),
            (&["10", "9"], Some("10")),
            (&[], None),
        ];
        for (versions, want) in cases {
            let versions: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
            assert_eq!(highest(&versions).map(String::as_str), *want, "{versions:?}");
        }
    }

    #[test]
    fn only_this_fixtures_temp_dirs_are_taken_for_a_test_process() {
        let cases = [
            ("driftwatch-pg-4242-a1B2c3", Some(4242)),
            ("driftwatch-pg-7-x-y", Some(7)),
            ("driftwatch-pg-aBcDeF", None),
            ("driftwatch-pg-", None),
            ("driftwatch-git-4242-a1B2c3", None),
            ("4242-a1B2c3", None),
        ];
        for (name, want) in cases {
            assert_eq!(owner_pid(name), want, "{name}");
        }
    }

    #[test]
    fn database_names_are_valid_identifiers_and_unique_per_call() {
        let cases = [
            ("store", 0, "store_0"),
            ("Failover-Test", 3, "failover_test_3"),
            ("", 1, "db_1"),
            ("a b/c", 2, "a_b_c_2"),
            (&"x".repeat(60), 7, &format!("{}_7", "x".repeat(40))),
        ];
        for (hint, n, want) in cases {
            assert_eq!(database_name(hint, n), want, "{hint:?}");
        }
    }
}
