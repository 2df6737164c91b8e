//! The file-loading seam of the renderer: it reads a repository through [`Files`], so a directory
//! on disk ([`DirFiles`]) and any other snapshot (a git commit's tree, in driftwatch) feed it
//! alike, and a render cache can ask the same trait for each file's identity.
//!
//! Paths are relative to the repository root, `/`-separated and normalised (no `.` or `..`
//! segments); the root itself is `""`. [`join`] makes such a path and refuses one that leaves the
//! root.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// What is at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// Why a file could not be read: the path and the cause (`{path}: {cause}`).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ReadError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl ReadError {
    pub fn new(path: &str, source: std::io::Error) -> Self {
        Self {
            path: path.to_string(),
            source,
        }
    }
}

/// A path written in a kustomization that cannot be resolved inside the repository.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("{0}: absolute paths are not supported")]
    Absolute(String),
    #[error("{rel} (from {from}) is outside the repository")]
    OutsideRoot { rel: String, from: String },
}

/// Read access to one repository snapshot.
pub trait Files: Sync {
    /// The file's bytes; the error says why it could not be read.
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError>;
    /// Whether `path` is a file, a directory, or nothing.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// A string that changes whenever the file's content does (a git blob id, or size, mtime and
    /// content hash on disk); `dir` for a directory; `None` when there is nothing at `path`.
    /// A path ending in `/` names a whole directory tree: its identity changes when anything
    /// below it does (the git tree id, or a digest of every file's identity on disk).
    fn identity(&self, path: &str) -> Option<String>;
    /// Every file below the directory `dir`, repository-relative and sorted; `None` when this
    /// snapshot cannot list directories (a Helm chart under `helmCharts:` is then left to
    /// kustomize: a chart is read whole, not file by file as a kustomization names them).
    fn files_below(&self, dir: &str) -> Option<Vec<String>> {
        let _ = dir;
        None
    }
}

/// `rel` (as written in a kustomization: relative, possibly with `..`) resolved against the
/// directory `dir`, normalised. An absolute path, or one that climbs above the repository root,
/// is an error naming it.
pub fn join(dir: &str, rel: &str) -> Result<String, JoinError> {
    if rel.starts_with('/') {
        return Err(JoinError::Absolute(rel.to_string()));
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(JoinError::OutsideRoot {
                        rel: rel.to_string(),
                        from: display(dir).to_string(),
                    });
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// `dir` for messages: the root shows as `.`.
pub fn display(dir: &str) -> &str {
    if dir.is_empty() { "." } else { dir }
}

/// Whether `path` is `dir` itself or below it (both normalised).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// A directory on disk (`gitops.path`, or a test fixture).
pub struct DirFiles {
    root: PathBuf,
}

impl DirFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }
}

impl DirFiles {
    /// A digest of the path and identity of every file below `dir` (symlinks followed, as
    /// kustomize reads through them).
    fn tree_identity(&self, dir: &str) -> Option<String> {
        let base = self.path(dir);
        if !base.is_dir() {
            return None;
        }
        let mut digest = Sha256::new();
        for entry in walkdir::WalkDir::new(&base)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
        {
            let rel = entry.path().strip_prefix(&self.root).unwrap_or(entry.path());
            let rel = rel.to_string_lossy().replace('\\', "/");
            let id = self.identity(&rel).unwrap_or_default();
            digest.update(format!("{}\0{rel}\0{}\0{id}\0", rel.len(), id.len()));
        }
        Some(hex::encode(digest.finalize()))
    }
}

impl Files for DirFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        std::fs::read(self.path(path)).map_err(|e| ReadError::new(path, e))
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        let meta = std::fs::metadata(self.path(path)).ok()?;
        Some(if meta.is_dir() { Kind::Dir } else { Kind::File })
    }

    fn identity(&self, path: &str) -> Option<String> {
        if let Some(dir) = path.strip_suffix('/') {
            return self.tree_identity(dir);
        }
        let full = self.path(path);
        let meta = std::fs::metadata(&full).ok()?;
        if meta.is_dir() {
            return Some("dir".into());
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        // The content hash catches an edit within the mtime's resolution that kept the size.
        let bytes = std::fs::read(&full).ok()?;
        Some(format!(
            "{}:{mtime}:{}",
            meta.len(),
            hex::encode(Sha256::digest(&bytes))
        ))
    }

    fn files_below(&self, dir: &str) -> Option<Vec<String>> {
        let base = self.path(dir);
        if !base.is_dir() {
            return None;
        }
        let mut out: Vec<String> = walkdir::WalkDir::new(&base)
            .follow_links(true)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(&self.root).unwrap_or(e.path());
                rel.to_string_lossy().replace('\\', "/")
            })
            .collect();
        out.sort();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises_and_refuses_to_leave_the_root() {
        for (dir, rel, want) in [
            ("apps/api/overlays/prod", "../../base", Ok("apps/api/base")),
            ("apps/api", "./deploy.yaml", Ok("apps/api/deploy.yaml")),
            ("", "a//b/./c", Ok("a/b/c")),
            ("apps", "..", Ok("")),
            ("apps", "../..", Err(())),
            ("apps", "/etc/passwd", Err(())),
        ] {
            assert_eq!(
                join(dir, rel).map_err(|_| ()),
                want.map(str::to_string),
                "{dir} + {rel}"
            );
        }
    }

    #[test]
    fn within_is_on_path_boundaries() {
        assert!(is_within("apps/api/x.yaml", "apps/api"));
        assert!(is_within("apps/api", "apps/api"));
        assert!(!is_within("apps/api2/x.yaml", "apps/api"));
        assert!(is_within("anything", ""));
    }

    /// On disk, a directory's tree identity changes when a file below it is added or edited.
    #[test]
    fn a_directory_tree_identity_follows_its_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("a/b")).expect("mkdir");
        std::fs::write(dir.path().join("a/b/x.yaml"), "1").expect("write");
        let files = DirFiles::new(dir.path());
        let before = files.identity("a/").expect("a directory");
        std::fs::write(dir.path().join("a/b/y.yaml"), "2").expect("write");
        let added = files.identity("a/").expect("a directory");
        assert_ne!(before, added);
        std::fs::write(dir.path().join("a/b/y.yaml"), "3").expect("write");
        assert_ne!(files.identity("a/").expect("a directory"), added);
        assert_eq!(files.identity("a/b/nope.yaml"), None);
    }
}
