//! The store: alert state and history (audits, drift episodes, deployments) in one SQL
//! database, an embedded SQLite file by default or a shared PostgreSQL for replicas. One code
//! path serves both (sqlx's Any driver, portable SQL), with versioned migrations embedded in the
//! binary that run when the store is opened. Times are kept as UTC milliseconds.
//!
//! - [`alerts`]: the alert lifecycle's state, and per-notice claims so that two processes
//!   sharing the store never send the same notice.
//! - [`verdicts`]: signature verdicts per (digest, policy hash), so verified digests are not
//!   checked again.
//! - [`history`]: audits, drift episodes and deployments, and what DORA reads back.
//! - [`state_file`]: the JSON alert state of earlier releases, moved into the store once, and
//!   the marker that makes "the store cannot be written" one alert per outage.

pub mod alerts;
pub mod history;
pub mod state_file;
pub mod verdicts;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Transaction};
use tracing::warn;

use crate::config::{StoreBackend, StoreConfig};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store}: cannot open: {reason}")]
    Open { store: String, reason: String },
    #[error("store {store}: cannot read: {reason}")]
    Read { store: String, reason: String },
    #[error("store {store}: cannot write: {reason}")]
    Write { store: String, reason: String },
}

/// Which database the store is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An open store: a connection pool, migrated.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// As messages name it: the file, or the URL without a password.
    name: String,
    /// This process, as claims name it: `host/pid/uuid`.
    owner: String,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The newest migration this release knows: a store at a higher version was written by a
/// newer release.
pub fn schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

impl Store {
    /// Opens (creating an SQLite file and its directory when missing) and migrates the store.
    /// A SQLite file that is not a database is moved aside (`<file>.corrupt-<time>`) with a
    /// warning, and a new one started: the alternative, no alerts until someone deletes it, is
    /// worse than forgetting what was sent.
    pub async fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let name = cfg.backend.display();
        match Self::open_once(cfg, &name).await {
            Err(OpenError::Corrupt(reason)) => {
                let StoreBackend::Sqlite(path) = &cfg.backend else {
                    return Err(StoreError::Open { store: name, reason });
                };
                let aside = format!("{}.corrupt-{}", path.display(), Utc::now().format("%Y%m%dT%H%M%SZ"));
                std::fs::rename(path, &aside).map_err(|e| StoreError::Open {
                    store: name.clone(),
                    reason: format!("corrupt ({reason}) and cannot be moved aside: {e}"),
                })?;
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                warn!(store = %name, moved_to = %aside, error = %reason, "the store was not a database; moved it aside and started a new one");
                Self::open_once(cfg, &name).await.map_err(|e| e.into_store(&name))
            }
            other => other.map_err(|e| e.into_store(&name)),
        }
    }

    async fn open_once(cfg: &StoreConfig, name: &str) -> Result<Store, OpenError> {
        let (options, backend, max) = match &cfg.backend {
            StoreBackend::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| OpenError::Write(format!("{}: {e}", dir.display())))?;
                }
                let url = sqlite_url(path, "rwc");
                (url, Backend::Sqlite, 4)
            }
            StoreBackend::Postgres { url, password } => {
                let mut url = url.clone();
                if let Some(p) = password {
                    url.set_password(Some(p.expose()))
                        .map_err(|()| OpenError::Other("the URL cannot hold a password".into()))?;
                }
                (url.to_string(), Backend::Postgres, 5)
            }
        };
        let options = AnyConnectOptions::from_str(&options).map_err(|e| OpenError::Other(redact(&e, cfg)))?;
        if backend == Backend::Sqlite {
            check_sqlite(&options, cfg).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Writers wait for each other (BEGIN IMMEDIATE) instead of failing.
                        // WAL, which lets readers go on meanwhile, is the file's own mode since
                        // `check_sqlite`: changing it again could answer SQLITE_BUSY at once.
                        sqlx::raw_sql("PRAGMA busy_timeout = 30000; PRAGMA synchronous = NORMAL;")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| OpenError::classify(&e, cfg))?;
        migrate(&pool, backend, cfg).await?;
        Ok(Store {
            pool,
            backend,
            name: name.to_string(),
            owner: owner(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction that holds its locks from the start: `BEGIN IMMEDIATE` in SQLite
    /// (which otherwise upgrades a read lock to a write lock late, and fails instead of
    /// waiting when another writer got there first); in PostgreSQL the rows are locked with
    /// `FOR UPDATE` as they are read.
    async fn write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(|e| self.write_error(&e))
    }

    /// `FOR UPDATE` where the database has row locks; SQLite's write transaction already
    /// holds the whole file.
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    fn read_error(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Read {
            store: self.name.clone(),
            reason: e.to_string(),
        }
    }

    fn write_error(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Write {
            store: self.name.clone(),
            reason: e.to_string(),
        }
    }

    /// Whether the store answers a query (for `check-config` and readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| self.read_error(&e))
    }

    /// The schema version the store is at.
    pub async fn version(&self) -> Result<i64, StoreError> {
        let (v,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.read_error(&e))?;
        Ok(v)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The store as a process uses it: opened on first use (moving a `[state]` JSON file into it
/// then), and again on the next use after an open failed, so a store that was down at start
/// is picked up when it is back.
#[derive(Debug)]
pub struct StoreHandle {
    cfg: StoreConfig,
    state_file: std::path::PathBuf,
    open: tokio::sync::Mutex<Option<Store>>,
}

impl StoreHandle {
    pub fn new(cfg: &crate::config::Config) -> Self {
        Self {
            cfg: cfg.store.clone(),
            state_file: cfg.state.path.clone(),
            open: tokio::sync::Mutex::new(None),
        }
    }

    /// The store, with a note for the log when this call opened it and moved a state file in.
    pub async fn get(&self) -> Result<(Store, Option<String>), StoreError> {
        let mut slot = self.open.lock().await;
        if let Some(store) = slot.as_ref() {
            return Ok((store.clone(), None));
        }
        let store = Store::open(&self.cfg).await?;
        let note = store.import_state_file(&self.state_file, Utc::now()).await?;
        *slot = Some(store.clone());
        Ok((store, note))
    }

    /// The store's name, for messages, without opening it.
    pub fn name(&self) -> String {
        self.cfg.backend.display()
    }
}

/// How long opening a SQLite store waits for other processes holding its lock.
const SQLITE_BUSY_WAIT: Duration = Duration::from_secs(30);

/// One direct connection to a SQLite store, switched to WAL: the pool retries a failing
/// connection until its timeout, this tells a file that is not a database (or cannot be
/// written) at once. Another process creating the same store holds its lock meanwhile, and
/// SQLite answers some of those moments `SQLITE_BUSY` without waiting (a journal-mode change,
/// the first read of a schema being written): those are tried again for up to
/// [`SQLITE_BUSY_WAIT`].
async fn check_sqlite(options: &AnyConnectOptions, cfg: &StoreConfig) -> Result<(), OpenError> {
    let deadline = tokio::time::Instant::now() + SQLITE_BUSY_WAIT;
    loop {
        let checked = async {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect_with(options).await?;
            let checked = sqlx::raw_sql(
                "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; SELECT COUNT(*) FROM sqlite_master;",
            )
            .execute(&mut conn)
            .await;
            let _ = sqlx::Connection::close(conn).await;
            checked.map(|_| ())
        }
        .await;
        match checked {
            Err(e) if sqlite_busy(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other.map_err(|e| OpenError::classify(&e, cfg)),
        }
    }
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED`, with their extended codes.
fn sqlite_busy(e: &sqlx::Error) -> bool {
    let code = e.as_database_error().and_then(|d| d.code());
    code.and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Brings the store to this release's schema. Processes opening the store at once take turns:
/// PostgreSQL's migrator holds an advisory lock; sqlx's SQLite migrator takes none (each
/// migration is its own transaction, after a check made outside it, so two processes starting on
/// a new file both ran migration 1 and one failed with "table alerts already exists"). On SQLite
/// the whole run is one `BEGIN IMMEDIATE` transaction instead: it holds the database's write
/// lock from the check of what is applied to the commit, the others wait for it (busy timeout)
/// and then find nothing left to do. No lock file, so nothing is created beside the database
/// and a read-only probe takes no lock at all.
async fn migrate(pool: &AnyPool, backend: Backend, cfg: &StoreConfig) -> Result<(), OpenError> {
    let run = match backend {
        Backend::Postgres => MIGRATOR.run(pool).await,
        Backend::Sqlite => {
            let mut tx = pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(|e| OpenError::classify(&e, cfg))?;
            // Each migration's own transaction is a savepoint inside this one. `run_direct`
            // takes the connection itself: `run`'s generic `Acquire` makes this future one
            // the compiler cannot prove `Send` (sqlx keeps `run_direct` public for that).
            let run = MIGRATOR.run_direct(None, &mut *tx, false).await;
            if run.is_ok() {
                tx.commit().await.map_err(|e| OpenError::classify(&e, cfg))?;
            }
            run
        }
    };
    run.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => OpenError::Other(format!(
            "it is at schema version {v}, written by a newer driftwatch release; this one knows versions up to {}",
            schema_version()
        )),
        sqlx::migrate::MigrateError::Execute(e) => OpenError::classify(&e, cfg),
        other => OpenError::Other(redact(&other, cfg)),
    })
}

/// What `check-config` says about the store, without changing it (no file created, no
/// migration run): whether it is reachable, its schema version and how much history it holds.
pub async fn probe(cfg: &StoreConfig) -> Result<String, StoreError> {
    sqlx::any::install_default_drivers();
    let name = cfg.backend.display();
    let open_err = |reason: String| StoreError::Open {
        store: name.clone(),
        reason,
    };
    let url = match &cfg.backend {
        StoreBackend::Sqlite(path) => {
            if !path.exists() {
                let parent = path.ancestors().skip(1).find(|a| a.exists());
                return match parent {
                    Some(p) if !p.is_dir() => Err(open_err(format!("{} is not a directory", p.display()))),
                    _ => Ok(format!(
                        "not created yet: created at first start, at schema version {}",
                        schema_version()
                    )),
                };
            }
            sqlite_url(path, "ro")
        }
        StoreBackend::Postgres { url, password } => {
            let mut url = url.clone();
            if let Some(p) = password {
                let _ = url.set_password(Some(p.expose()));
            }
            url.to_string()
        }
    };
    let options = AnyConnectOptions::from_str(&url).map_err(|e| open_err(redact(&e, cfg)))?;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| open_err(redact(&e, cfg)))?;
    let version: Result<(i64,), _> =
        sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&pool)
            .await;
    let line = match version {
        // No migrations table: a new, empty database.
        Err(_) => format!(
            "reachable, empty: migrated to schema version {} at first start",
            schema_version()
        ),
        Ok((v,)) if v > schema_version() => {
            pool.close().await;
            return Err(open_err(format!(
                "it is at schema version {v}, written by a newer driftwatch release; this one knows versions up to {}",
                schema_version()
            )));
        }
        Ok((v,)) => {
            let audits: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audits")
                .fetch_one(&pool)
                .await
                .unwrap_or((0,));
            let pending = if v < schema_version() {
                format!(", migrated to {} at next start", schema_version())
            } else {
                String::new()
            };
            format!("reachable, schema version {v}{pending}, {} audits recorded", audits.0)
        }
    };
    pool.close().await;
    Ok(line)
}

enum OpenError {
    /// The SQLite file is not a database (or is damaged).
    Corrupt(String),
    Write(String),
    Other(String),
}

impl OpenError {
    fn classify(e: &sqlx::Error, cfg: &StoreConfig) -> Self {
        let text = redact(e, cfg);
        match e.as_database_error().and_then(|d| d.code()) {
            // SQLITE_CORRUPT, SQLITE_NOTADB
            Some(code) if matches!(cfg.backend, StoreBackend::Sqlite(_)) && (code == "11" || code == "26") => {
                Self::Corrupt(text)
            }
            // SQLITE_READONLY, SQLITE_IOERR*, SQLITE_CANTOPEN, SQLITE_FULL
            Some(code)
                if matches!(cfg.backend, StoreBackend::Sqlite(_))
                    && (code == "8"
                        || code == "10"
                        || code == "13"
                        || code == "14"
                        || code.parse::<i64>().is_ok_and(|c| c & 0xff == 10)) =>
            {
                Self::Write(text)
            }
            // read_only_sql_transaction, disk_full
            Some(code)
                if matches!(cfg.backend, StoreBackend::Postgres { .. }) && (code == "25006" || code == "53100") =>
            {
                Self::Write(text)
            }
            _ => Self::Other(text),
        }
    }

    fn into_store(self, name: &str) -> StoreError {
        match self {
            Self::Write(reason) => StoreError::Write {
                store: name.to_string(),
                reason,
            },
            Self::Corrupt(reason) | Self::Other(reason) => StoreError::Open {
                store: name.to_string(),
                reason,
            },
        }
    }
}

/// An error's text with the store's password cut out, should a driver ever echo it.
fn redact(e: &dyn std::fmt::Display, cfg: &StoreConfig) -> String {
    let text = e.to_string();
    match &cfg.backend {
        StoreBackend::Postgres { password: Some(p), .. } if !p.expose().is_empty() => text.replace(p.expose(), "***"),
        _ => text,
    }
}

/// `host/pid/uuid`: the host and pid let another process on the same host see that a claim's
/// holder is gone; the uuid tells this process from an earlier one with the same pid (a
/// restarted container is pid 1 again).
fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}/{}/{}", std::process::id(), uuid::Uuid::new_v4())
}

/// `t` as the store keeps it (whole milliseconds), so that what a process holds in memory
/// compares equal with what it reads back.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    at(ms(t))
}

/// The SQLite URL of `path`, opened in `mode`. sqlx reads the path up to the first `?` and
/// percent-decodes it, so a state directory named with `%`, `?`, `#` or spaces must be
/// encoded, or the store would open another file than the one configured.
fn sqlite_url(path: &std::path::Path, mode: &str) -> String {
    let mut encoded = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            ' ' => encoded.push_str("%20"),
            c => encoded.push(c),
        }
    }
    format!("sqlite://{encoded}?mode={mode}")
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_store_path_with_url_characters_opens_exactly_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state 50% ?#x").join("driftwatch.db");
        let cfg = StoreConfig {
            backend: StoreBackend::Sqlite(path.clone()),
            retention: Duration::from_secs(86_400),
        };
        let store = Store::open(&cfg).await.unwrap();
        assert_eq!(store.version().await.unwrap(), schema_version());
        store.close().await;
        assert!(path.is_file(), "the configured file, not a truncated name");
        let entries: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, vec!["state 50% ?#x"], "nothing opened beside it");
        assert!(
            probe(&cfg)
                .await
                .unwrap()
                .starts_with(&format!("reachable, schema version {}", schema_version()))
        );
    }
}
