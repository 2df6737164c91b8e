//! A git commit's tree as the renderers' [`Files`]: every path indexed once, a file's identity is
//! its blob id and its content comes from the object database, so what is rendered is exactly the
//! commit. Directories on disk use the renderer crate's own `DirFiles`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

pub use kustomize::files::{DirFiles, Files, JoinError, Kind, ReadError, display, is_within, join};

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
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        use std::io::{Error, ErrorKind};
        match self.entries.get(path) {
            Some((oid, Kind::File)) => {
                let repo = self.repo.lock().unwrap_or_else(|e| e.into_inner());
                let blob = repo
                    .find_blob(*oid)
                    .map_err(|e| ReadError::new(path, Error::other(e.message().to_string())))?;
                Ok(blob.content().to_vec())
            }
            Some((_, Kind::Dir)) => Err(ReadError::new(
                path,
                Error::new(ErrorKind::IsADirectory, "is a directory"),
            )),
            None => Err(ReadError::new(
                path,
                Error::new(ErrorKind::NotFound, "no such file in the commit"),
            )),
        }
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        self.entries.get(path).map(|(_, k)| *k)
    }

    fn files_below(&self, dir: &str) -> Option<Vec<String>> {
        if self.entries.get(dir).map(|(_, k)| *k) != Some(Kind::Dir) {
            return None;
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        Some(
            self.entries
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .filter(|(_, (_, k))| *k == Kind::File)
                .map(|(p, _)| p.clone())
                .collect(),
        )
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
}
