//! The file-loading seam of the built-in renderer: it reads a repository through [`Files`], so a
//! directory on disk ([`DirFiles`]) and a git commit tree ([`TreeFiles`]) feed it alike, and the
//! render cache asks the same trait for each file's identity.
//!
//! Paths are relative to the repository root, `/`-separated and normalised (no `.` or `..`
//! segments); the root itself is `""`. [`join`] makes such a path and refuses one that leaves the
//! root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// What is at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// Read access to one repository snapshot.
pub trait Files: Sync {
    /// The file's bytes; the error says why it could not be read.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
    /// Whether `path` is a file, a directory, or nothing.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// A string that changes whenever the file's content does (a git blob id, or size, mtime and
    /// content hash on disk); `dir` for a directory; `None` when there is nothing at `path`.
    /// A path ending in `/` names a whole directory tree: its identity changes when anything
    /// below it does (the git tree id, or a digest of every file's identity on disk).
    fn identity(&self, path: &str) -> Option<String>;
}

/// `rel` (as written in a kustomization: relative, possibly with `..`) resolved against the
/// directory `dir`, normalised. An absolute path, or one that climbs above the repository root,
/// is an error naming it.
pub fn join(dir: &str, rel: &str) -> Result<String, String> {
    if rel.starts_with('/') {
        return Err(format!("{rel}: absolute paths are not supported"));
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("{rel} (from {}) is outside the repository", display(dir)));
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
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(self.path(path)).map_err(|e| format!("{path}: {e}"))
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
}

/// Why a commit's tree cannot be read through [`TreeFiles`].
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{0} is a symbolic link")]
    Symlink(String),
    #[error("{}", .0.message())]
    Git(#[from] git2::Error),
}

/// The tree of one git commit: every path is indexed once, a file's identity is its blob id and
/// its content is read from the object database, so what is rendered is exactly the commit.
pub struct TreeFiles {
    // `Repository` is `Send` but not `Sync`; reads are short, so one lock is enough.
    repo: Mutex<git2::Repository>,
    // Sorted, so the entries below a directory are one range.
    entries: BTreeMap<String, (git2::Oid, Kind)>,
}

impl TreeFiles {
    /// Indexes the tree of `commit` in the repository at `repo_dir`. A tree holding symbolic
    /// links is refused: kustomize follows them on disk, a blob would give the link's target
    /// path as content, so such a repository is read from its working tree instead.
    pub fn open(repo_dir: &Path, commit: &str) -> Result<Self, TreeError> {
        let repo = git2::Repository::open(repo_dir)?;
        let mut entries = BTreeMap::new();
        let mut symlink = None;
        {
            let oid = git2::Oid::from_str(commit)?;
            let tree = repo.find_commit(oid)?.tree()?;
            entries.insert(String::new(), (tree.id(), Kind::Dir));
            let walked = tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
                let Ok(name) = entry.name() else {
                    return git2::TreeWalkResult::Ok;
                };
                if entry.filemode() == 0o120000 {
                    symlink = Some(format!("{parent}{name}"));
                    return git2::TreeWalkResult::Abort;
                }
                let kind = match entry.kind() {
                    Some(git2::ObjectType::Tree) => Kind::Dir,
                    Some(git2::ObjectType::Blob) => Kind::File,
                    // Submodules (commits) are not part of this repository's content.
                    _ => return git2::TreeWalkResult::Skip,
                };
                entries.insert(format!("{parent}{name}"), (entry.id(), kind));
                git2::TreeWalkResult::Ok
            });
            if let Some(link) = symlink {
                return Err(TreeError::Symlink(link));
            }
            walked?;
        }
        Ok(Self {
            repo: Mutex::new(repo),
            entries,
        })
    }
}

impl Files for TreeFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        match self.entries.get(path) {
            Some((oid, Kind::File)) => {
                let repo = self.repo.lock().unwrap_or_else(|e| e.into_inner());
                let blob = repo.find_blob(*oid).map_err(|e| format!("{path}: {}", e.message()))?;
                Ok(blob.content().to_vec())
            }
            Some((_, Kind::Dir)) => Err(format!("{path}: is a directory")),
            None => Err(format!("{path}: no such file in the commit")),
        }
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        self.entries.get(path).map(|(_, k)| *k)
    }

    fn identity(&self, path: &str) -> Option<String> {
        if let Some(dir) = path.strip_suffix('/') {
            return match self.entries.get(dir) {
                Some((oid, Kind::Dir)) => Some(oid.to_string()),
                _ => None,
            };
        }
        match self.entries.get(path) {
            Some((oid, Kind::File)) => Some(oid.to_string()),
            Some((_, Kind::Dir)) => Some("dir".into()),
            None => None,
        }
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
}

#[cfg(test)]
mod tree_tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn repo(files: &[(&str, &str)], link: Option<(&str, &str)>) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        }
        if let Some((from, to)) = link {
            std::os::unix::fs::symlink(to, dir.path().join(from)).expect("symlink");
        }
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "files"]);
        let head = git(dir.path(), &["rev-parse", "HEAD"]);
        (dir, head)
    }

    /// The commit, not the working tree: an uncommitted edit is not seen, identities are blob
    /// and tree ids, and a directory's identity changes with anything below it.
    #[test]
    fn a_commit_tree_is_read_as_committed() {
        let (dir, head) = repo(
            &[("apps/api/kustomization.yaml", "resources: []\n"), ("README", "x\n")],
            None,
        );
        std::fs::write(dir.path().join("apps/api/kustomization.yaml"), "edited\n").expect("edit");
        let tree = TreeFiles::open(dir.path(), &head).expect("opens");
        assert_eq!(
            tree.read("apps/api/kustomization.yaml").expect("reads"),
            b"resources: []\n"
        );
        assert_eq!(tree.kind("apps/api"), Some(Kind::Dir));
        assert_eq!(tree.kind("apps/nope"), None);
        let blob = git(dir.path(), &["rev-parse", "HEAD:apps/api/kustomization.yaml"]);
        assert_eq!(tree.identity("apps/api/kustomization.yaml"), Some(blob));
        let subtree = git(dir.path(), &["rev-parse", "HEAD:apps/api"]);
        assert_eq!(tree.identity("apps/api/"), Some(subtree));
        assert_eq!(tree.identity("apps/api"), Some("dir".into()));
        assert!(tree.read("apps/nope.yaml").is_err());
    }

    /// kustomize follows symbolic links on disk; a blob would hold the link's target path.
    #[test]
    fn a_tree_with_a_symbolic_link_is_refused() {
        let (dir, head) = repo(
            &[("base/deploy.yaml", "kind: Deployment\n")],
            Some(("overlay.yaml", "base/deploy.yaml")),
        );
        match TreeFiles::open(dir.path(), &head) {
            Err(TreeError::Symlink(path)) => assert_eq!(path, "overlay.yaml"),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a tree with a symlink was accepted"),
        }
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
