//! The alert state file of releases before the store (`[state] path`), read once to move it
//! into the store, and the marker beside it that makes "the store cannot be written" one alert
//! per outage across processes. A missing file is nothing to move; a corrupt one is moved
//! aside with a warning; any other read failure is an error, because dropping a file that could
//! not be read would lose its alerts.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::core::alert_lifecycle::{AlertState, STATE_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: cannot read: {reason}")]
    Read { path: PathBuf, reason: String },
}

#[derive(Debug)]
pub struct Loaded {
    pub state: AlertState,
    /// Set when a corrupt file was moved aside.
    pub warning: Option<String>,
}

pub fn load(path: &Path, now: DateTime<Utc>) -> Result<Loaded, StateError> {
    let read_err = |reason: String| StateError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Loaded {
                state: AlertState::default(),
                warning: None,
            });
        }
        Err(e) => return Err(read_err(e.to_string())),
    };
    match serde_json::from_str::<AlertState>(&text) {
        Ok(state) if state.version == STATE_VERSION => Ok(Loaded { state, warning: None }),
        Ok(state) => Err(read_err(format!(
            "written with state version {} by another driftwatch release; this one reads version {STATE_VERSION}",
            state.version
        ))),
        Err(parse) => {
            let aside = PathBuf::from(format!("{}.corrupt-{}", path.display(), now.format("%Y%m%dT%H%M%SZ")));
            std::fs::rename(path, &aside)
                .map_err(|e| read_err(format!("corrupt ({parse}) and cannot be moved aside: {e}")))?;
            let warning = format!(
                "state file {} was corrupt ({parse}); moved it to {} and started with empty alert state",
                path.display(),
                aside.display()
            );
            Ok(Loaded {
                state: AlertState::default(),
                warning: Some(warning),
            })
        }
    }
}

/// The marker that says the alert about an unusable store was sent. Empty, so it can be
/// created when the disk has no room for the state itself, and it outlives the process, so a
/// timer's `--once` runs send that alert once per outage too.
fn unwritable_marker(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.unwritable", path.display()))
}

/// Whether the alert about an unwritable state was already sent for this outage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outage {
    /// First seen now: the marker was created.
    New,
    /// The marker exists: already alerted.
    Known,
    /// Not even the marker could be created: the caller decides from what it remembers. What
    /// to tell the user: the state directory, why, and the fix, since each process (a timer's
    /// `--once`) then alerts again.
    Unrecorded(String),
}

pub fn claim_unwritable(path: &Path) -> Outage {
    let marker = unwritable_marker(path);
    let dir = marker
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let _ = std::fs::create_dir_all(dir);
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&marker) {
        Ok(_) => Outage::New,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Outage::Known,
        Err(e) => Outage::Unrecorded(unrecorded(dir, &e)),
    }
}

/// Why every run repeats the alert, and the fix: the directory is usually read-only to the
/// service user (a unit without `StateDirectory=`, a volume mounted read-only).
fn unrecorded(dir: &Path, e: &std::io::Error) -> String {
    format!(
        "The state directory {} cannot be written either ({e}), so driftwatch cannot record that it sent this alert and every run sends it again: make {} writable by the user driftwatch runs as (the systemd units' StateDirectory=driftwatch does), or set [state] path to a writable directory",
        dir.display(),
        dir.display()
    )
}

/// The state was written again: the next outage gets its own alert.
pub fn clear_unwritable(path: &Path) {
    let _ = std::fs::remove_file(unwritable_marker(path));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn missing_file_is_nothing_to_move() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&dir.path().join("sub/state.json"), now()).unwrap();
        assert_eq!(loaded.state, AlertState::default());
        assert!(loaded.warning.is_none());
    }

    #[test]
    fn corrupt_file_is_moved_aside_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{\"version\": 1, \"alerts\": {").unwrap();
        let loaded = load(&path, now()).unwrap();
        assert_eq!(loaded.state, AlertState::default());
        let warning = loaded.warning.unwrap();
        assert!(
            warning.contains("was corrupt") && warning.contains("state.json.corrupt-20261126T100000Z"),
            "{warning}"
        );
        assert!(dir.path().join("state.json.corrupt-20261126T100000Z").exists());
        assert!(!path.exists());
    }

    #[test]
    fn an_unwritable_state_directory_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where the directory should be: nothing can be created in it.
        let blocked = dir.path().join("state");
        std::fs::write(&blocked, "").unwrap();
        let Outage::Unrecorded(text) = claim_unwritable(&blocked.join("alerts.json")) else {
            panic!("the marker cannot be created");
        };
        assert!(
            text.contains(&format!("state directory {} cannot be written", blocked.display()))
                && text.contains(&format!("make {} writable", blocked.display()))
                && text.contains("StateDirectory="),
            "{text}"
        );
    }

    #[test]
    fn unreadable_or_newer_file_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let as_dir = dir.path().join("state.json");
        std::fs::create_dir(&as_dir).unwrap();
        let err = load(&as_dir, now()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("state file {}: cannot read", as_dir.display())),
            "{err}"
        );

        let newer = dir.path().join("newer.json");
        std::fs::write(&newer, "{\"version\": 99, \"alerts\": {}}").unwrap();
        assert!(
            load(&newer, now())
                .unwrap_err()
                .to_string()
                .contains("state version 99")
        );
        assert!(newer.exists());
    }
}
