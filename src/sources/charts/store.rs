//! Chart archives on disk, by name, version and digest: `<dir>/<name>-<version>-<hex>.tgz`.
//! Written atomically (a temp file in the same directory, then a rename), so concurrent runs
//! only ever see whole archives; an archive is checked against its digest whenever it is
//! taken from disk, so a damaged file is fetched again rather than used.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::ChartError;

/// The most the archives on disk may take; the least recently used go first beyond it.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// A temp file this old belongs to no running write.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Where archives are kept: the configured directory, or one of this process's own (removed
/// when it ends) when there is none.
pub struct Store {
    dir: Result<PathBuf, super::SetupError>,
    /// Keeps the process's own directory alive.
    _temp: Option<tempfile::TempDir>,
}

impl Store {
    pub fn new(dir: Option<PathBuf>) -> Self {
        match dir {
            Some(d) => Self {
                dir: Ok(d),
                _temp: None,
            },
            None => match tempfile::Builder::new().prefix("driftwatch-charts-").tempdir() {
                Ok(t) => Self {
                    dir: Ok(t.path().to_path_buf()),
                    _temp: Some(t),
                },
                Err(e) => Self {
                    dir: Err(super::SetupError::Store(Arc::new(e))),
                    _temp: None,
                },
            },
        }
    }

    /// The archive of `name` `version` with `digest` (`sha256:<hex>`), when it is on disk and
    /// whole.
    pub fn get(&self, name: &str, version: &str, digest: &str) -> Option<PathBuf> {
        let path = self.path(name, version, digest)?;
        let bytes = std::fs::read(&path).ok()?;
        if sha256(&bytes) == digest {
            // Used is used: [`Store::prune`] keeps the most recently used.
            let _ = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            return Some(path);
        }
        tracing::warn!(file = %path.display(), "chart store: discarding an archive that does not match its digest");
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Keeps `bytes` (already verified against `digest`) as `name` `version`.
    pub fn put(&self, name: &str, version: &str, digest: &str, bytes: &[u8]) -> Result<PathBuf, ChartError> {
        let failed = |dir: &Path, source: std::io::Error| ChartError::Store {
            chart: format!("{name} {version}"),
            dir: dir.display().to_string(),
            source: Arc::new(source),
        };
        let dir = match &self.dir {
            Ok(d) => d.as_path(),
            Err(e) => {
                return Err(ChartError::Setup {
                    chart: format!("{name} {version}"),
                    source: e.clone(),
                });
            }
        };
        let path = self
            .path(name, version, digest)
            .ok_or_else(|| failed(dir, std::io::Error::other("the digest is not sha256:<hex>")))?;
        std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".chart-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| failed(dir, e))?;
        temp.write_all(bytes).map_err(|e| failed(dir, e))?;
        temp.persist(&path).map_err(|e| failed(dir, e.error))?;
        Ok(path)
    }

    /// Deletes the least recently used archives (by mtime: written or last used) until the
    /// rest take at most `max` bytes, and temp files a crashed writer left. Another process
    /// only sees an archive vanish, and fetches it again.
    pub fn prune(&self, max: u64) {
        let Ok(dir) = &self.dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let now = std::time::SystemTime::now();
        let mut archives = Vec::new();
        for entry in entries.flatten() {
            let (Ok(meta), name) = (entry.metadata(), entry.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            let modified = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            if name.starts_with(".chart-") {
                if now.duration_since(modified).is_ok_and(|age| age > STALE_TEMP) {
                    let _ = std::fs::remove_file(entry.path());
                }
            } else if meta.is_file() && name.ends_with(".tgz") {
                archives.push((modified, meta.len(), entry.path()));
            }
        }
        archives.sort();
        let mut total: u64 = archives.iter().map(|(_, size, _)| size).sum();
        for (_, size, path) in archives {
            if total <= max {
                break;
            }
            let _ = std::fs::remove_file(path);
            total -= size;
        }
    }

    /// `<dir>/<name>-<version>-<hex>.tgz`, with anything but `[A-Za-z0-9._+-]` in the name and
    /// version (which come from the repository) replaced, so no file lands outside `dir`.
    fn path(&self, name: &str, version: &str, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let dir = self.dir.as_ref().ok()?;
        Some(dir.join(format!(
            "{}-{}-{}.tgz",
            safe(name).trim_start_matches('.'),
            safe(version),
            hex.to_ascii_lowercase()
        )))
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_is_kept_by_digest_and_a_damaged_one_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path().join("charts")));
        let bytes = b"chart bytes".to_vec();
        let digest = sha256(&bytes);
        assert_eq!(store.get("shop", "1.0.0", &digest), None);
        let path = store.put("shop", "1.0.0", &digest, &bytes).unwrap();
        assert_eq!(store.get("shop", "1.0.0", &digest), Some(path.clone()));
        assert!(path.starts_with(dir.path().join("charts")));
        std::fs::write(&path, b"damaged").unwrap();
        assert_eq!(store.get("shop", "1.0.0", &digest), None, "checked on every read");
        assert!(!path.exists());
    }

    #[test]
    fn prune_keeps_the_most_recently_used_archives_under_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path().to_path_buf()));
        let now = std::time::SystemTime::now();
        let mut paths = Vec::new();
        for (n, age) in [(1u8, 3u64), (2, 2), (3, 1)] {
            let bytes = vec![n; 100];
            let path = store.put("c", &n.to_string(), &sha256(&bytes), &bytes).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(now - std::time::Duration::from_secs(3600 * age))
                .unwrap();
            paths.push(path);
        }
        // The oldest is used again: it stays, the next oldest goes.
        assert!(store.get("c", "1", &sha256(&[1u8; 100])).is_some());
        store.prune(200);
        let kept: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(kept, [true, false, true]);
    }

    #[test]
    fn names_from_a_repository_cannot_leave_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path().to_path_buf()));
        let digest = sha256(b"x");
        let path = store.put("../../etc/x", "1.0/../..", &digest, b"x").unwrap();
        assert_eq!(path.parent(), Some(dir.path()));
        assert!(store.put("x", "1", "md5:abc", b"x").is_err());
    }
}
