//! The GitOps repository: the first audit clones it into the cache directory, later audits fetch
//! and hard-reset to the wanted ref instead of cloning again. Blocking (git2); callers run it on
//! a blocking thread.

use std::cell::Cell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git2::{Cred, CredentialType, ErrorClass, FetchOptions, RemoteCallbacks, Repository};
use tracing::warn;

use crate::config::{GitAuth, GitRef, GitopsConfig, RepoRef};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url}: {reference} not found: {reason}")]
    RefNotFound {
        url: String,
        reference: String,
        reason: String,
    },
    #[error("git cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
    #[error("gitops path {path}: {reason}")]
    Local { path: PathBuf, reason: String },
    #[error("git cache {path}: another driftwatch run held its lock for {waited:?}; giving up")]
    Busy { path: PathBuf, waited: Duration },
    #[error("no gitops.url: this source names no repository of its own")]
    NoDefault,
}

/// How long a run waits for another run (the daemon, an operator's `--once`, a timer) to finish
/// syncing the same cache before it gives up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// A working tree at a known commit.
#[derive(Clone, Debug)]
pub struct Checkout {
    pub dir: PathBuf,
    /// The audited commit; `None` for a local directory outside any git repository.
    pub commit: Option<String>,
}

/// The commit a repository's cache is at (`None` when it is not a repository yet).
pub fn head(dir: &Path) -> Option<String> {
    let repo = Repository::open(dir).ok()?;
    let id = repo.head().ok()?.peel_to_commit().ok()?.id();
    Some(id.to_string())
}

/// Brings the working tree to the configured ref and returns it.
pub fn sync(cfg: &GitopsConfig) -> Result<Checkout, GitError> {
    match cfg {
        GitopsConfig::Local { path } => local(path),
        GitopsConfig::Remote {
            url,
            reference,
            auth,
            cache_dir,
        } => remote(url, reference, auth, cache_dir),
        GitopsConfig::Unset => Err(GitError::NoDefault),
    }
}

/// Brings the clone of `repo` in `dir` (its own locked cache) to the wanted revision.
pub fn sync_repo(repo: &RepoRef, auth: &GitAuth, dir: &Path) -> Result<Checkout, GitError> {
    remote(&repo.url, &repo.reference, auth, dir)
}

fn local(path: &Path) -> Result<Checkout, GitError> {
    let meta = std::fs::metadata(path).map_err(|e| GitError::Local {
        path: path.into(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(GitError::Local {
            path: path.into(),
            reason: "not a directory".into(),
        });
    }
    // The directory may sit inside a repository (a CI checkout): report the commit it is at,
    // marked `-dirty` (as `git describe --dirty` does) when what is audited has uncommitted
    // changes, so a report never claims a commit it did not audit.
    let commit = Repository::discover(path).ok().and_then(|r| {
        let id = r.head().ok()?.peel_to_commit().ok()?.id().to_string();
        Some(if has_changes(&r, path) {
            format!("{id}-dirty")
        } else {
            id
        })
    });
    Ok(Checkout {
        dir: path.to_path_buf(),
        commit,
    })
}

/// Whether files under `path` differ from HEAD: modified, staged, deleted, or new and not ignored.
fn has_changes(repo: &Repository, path: &Path) -> bool {
    let Some(workdir) = repo.workdir() else {
        return false;
    };
    let (Ok(workdir), Ok(path)) = (workdir.canonicalize(), path.canonicalize()) else {
        return false;
    };
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .exclude_submodules(true);
    if let Ok(rel) = path.strip_prefix(&workdir)
        && !rel.as_os_str().is_empty()
    {
        options.pathspec(rel);
    }
    repo.statuses(Some(&mut options))
        .map(|s| {
            s.iter()
                .any(|e| e.status() != git2::Status::CURRENT && !e.status().is_ignored())
        })
        .unwrap_or(false)
}

fn remote(url: &str, reference: &GitRef, auth: &GitAuth, cache_dir: &Path) -> Result<Checkout, GitError> {
    let cache_err = |reason: String| GitError::Cache {
        path: cache_dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(cache_dir).map_err(|e| cache_err(unwritable_hint(e)))?;
    let _lock = lock_cache(cache_dir, LOCK_TIMEOUT)?;
    match fetch_and_checkout(url, reference, auth, cache_dir) {
        // A crash or a full disk can leave our own cache without objects or refs, or with a
        // stale lock: start it again rather than fail every audit until someone cleans up.
        Err(Attempt::Damaged(reason)) if is_ours(cache_dir) => {
            warn!(cache = %cache_dir.display(), %reason, "git cache is damaged; cloning it again");
            clear_dir(cache_dir).map_err(|e| cache_err(e.to_string()))?;
            fetch_and_checkout(url, reference, auth, cache_dir).map_err(|a| a.into_error(cache_dir))
        }
        other => other.map_err(|a| a.into_error(cache_dir)),
    }
}

/// The default cache (`/var/lib/driftwatch/gitops`) is only writable by the service user: a
/// person running `--once` needs to be told which key to set, not just "permission denied".
fn unwritable_hint(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!("{e}: set gitops.cache_dir to a directory you can write (or run as the service user)")
    } else {
        e.to_string()
    }
}

/// Why a sync attempt failed: a damaged cache can be repaired by cloning again; anything else
/// (network, credentials, a missing ref, a directory that is not ours) cannot.
enum Attempt {
    Damaged(String),
    Failed(GitError),
}

impl Attempt {
    fn into_error(self, cache_dir: &Path) -> GitError {
        match self {
            Attempt::Damaged(reason) => GitError::Cache {
                path: cache_dir.to_path_buf(),
                reason,
            },
            Attempt::Failed(e) => e,
        }
    }
}

impl From<GitError> for Attempt {
    fn from(e: GitError) -> Self {
        Attempt::Failed(e)
    }
}

/// An error about the repository's own data (objects, refs, index, a lock file) means the cache
/// is damaged; network, TLS, credential or disk errors say nothing about it.
fn damaged(e: &git2::Error) -> bool {
    matches!(
        e.class(),
        ErrorClass::Odb
            | ErrorClass::Object
            | ErrorClass::Reference
            | ErrorClass::Index
            | ErrorClass::Repository
            | ErrorClass::Tree
            | ErrorClass::Zlib
    )
}

/// The exclusive lock on a cache, held for the whole sync. It is a file beside the cache
/// (`<cache_dir>.lock`), because the cache directory must be empty before the first clone.
fn lock_cache(cache_dir: &Path, timeout: Duration) -> Result<File, GitError> {
    let path = PathBuf::from(format!("{}.lock", cache_dir.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| GitError::Cache {
            path: path.clone(),
            reason: unwritable_hint(e),
        })?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                // Polling rather than a blocking lock() keeps the wait bounded; syncs take
                // seconds, so a 50 ms step costs nothing.
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(GitError::Busy {
                    path: cache_dir.to_path_buf(),
                    waited: started.elapsed(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(GitError::Cache {
                    path: path.clone(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

fn fetch_and_checkout(url: &str, reference: &GitRef, auth: &GitAuth, cache_dir: &Path) -> Result<Checkout, Attempt> {
    let shown = crate::config::redact_url(url);
    let local = |e: git2::Error| {
        if damaged(&e) {
            Attempt::Damaged(e.message().to_string())
        } else {
            Attempt::Failed(GitError::Cache {
                path: cache_dir.to_path_buf(),
                reason: e.message().to_string(),
            })
        }
    };
    // We hold the cache lock, so an index.lock left behind can only be from a crashed run.
    let index_lock = cache_dir.join(".git").join("index.lock");
    if index_lock.exists() {
        warn!(path = %index_lock.display(), "removing a stale index.lock left by an interrupted run");
        std::fs::remove_file(&index_lock).map_err(|e| Attempt::Damaged(format!("{}: {e}", index_lock.display())))?;
    }
    let repo = open_cache(cache_dir, url)?;

    let refspecs: Vec<String> = match reference {
        GitRef::DefaultBranch => vec!["+HEAD:refs/remotes/origin/HEAD".into()],
        GitRef::Branch(b) => vec![format!("+refs/heads/{b}:refs/remotes/origin/{b}")],
        GitRef::Rev(_) | GitRef::Revision(_) => vec![
            "+refs/heads/*:refs/remotes/origin/*".into(),
            "+refs/tags/*:refs/tags/*".into(),
        ],
    };
    let mut remote = repo.find_remote("origin").map_err(local)?;
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks(auth));
    options.download_tags(git2::AutotagOption::None);
    remote.fetch(&refspecs, Some(&mut options), None).map_err(|e| {
        if damaged(&e) {
            Attempt::Damaged(e.message().to_string())
        } else {
            Attempt::Failed(GitError::Fetch {
                url: shown.clone(),
                reason: e.message().to_string(),
            })
        }
    })?;

    let (name, spec) = match reference {
        GitRef::DefaultBranch => ("default branch".to_string(), "refs/remotes/origin/HEAD".to_string()),
        GitRef::Branch(b) => (format!("branch {b:?}"), format!("refs/remotes/origin/{b}")),
        GitRef::Rev(r) => (format!("rev {r:?}"), r.clone()),
        // A branch first, then a tag, then a commit, as Argo CD resolves targetRevision.
        GitRef::Revision(r) => {
            let spec = [format!("refs/remotes/origin/{r}"), format!("refs/tags/{r}")]
                .into_iter()
                .find(|s| repo.revparse_single(s).is_ok())
                .unwrap_or_else(|| r.clone());
            (format!("revision {r:?}"), spec)
        }
    };
    let not_found = |e: git2::Error| {
        // A ref that resolves to a missing object is damage; a ref that does not exist is not.
        if e.class() == ErrorClass::Odb {
            return Attempt::Damaged(e.message().to_string());
        }
        Attempt::Failed(GitError::RefNotFound {
            url: shown.clone(),
            reference: name.clone(),
            reason: e.message().to_string(),
        })
    };
    let commit = repo
        .revparse_single(&spec)
        .and_then(|o| o.peel_to_commit())
        .map_err(not_found)?;
    repo.set_head_detached(commit.id()).map_err(local)?;
    repo.reset(
        commit.as_object(),
        git2::ResetType::Hard,
        Some(git2::build::CheckoutBuilder::new().force().remove_untracked(true)),
    )
    .map_err(local)?;
    Ok(Checkout {
        dir: cache_dir.to_path_buf(),
        commit: Some(commit.id().to_string()),
    })
}

/// Marks a repository as driftwatch's own cache, the only kind it ever deletes.
const CACHE_MARKER: &str = "driftwatch-cache";

/// Whether `dir` is driftwatch's own cache (the marker is there even when the repository is too
/// damaged to open).
fn is_ours(dir: &Path) -> bool {
    dir.join(".git").join(CACHE_MARKER).is_file()
}

/// Opens the cache, or creates it in an empty directory. A cache of another URL (the config
/// changed) is started afresh; a directory that is not driftwatch's cache is never deleted.
fn open_cache(dir: &Path, url: &str) -> Result<Repository, Attempt> {
    let io = |e: std::io::Error| {
        Attempt::Failed(GitError::Cache {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })
    };
    let git = |e: git2::Error| Attempt::Damaged(e.message().to_string());
    match Repository::open(dir) {
        Ok(r)
            if is_ours(dir)
                && r.find_remote("origin")
                    .ok()
                    .and_then(|o| o.url().ok().map(str::to_string))
                    .as_deref()
                    == Some(url) =>
        {
            return Ok(r);
        }
        Ok(_) if is_ours(dir) => clear_dir(dir).map_err(io)?,
        Err(e) if is_ours(dir) => return Err(git(e)),
        _ => {
            let empty = std::fs::read_dir(dir).map_err(io)?.next().is_none();
            if !empty {
                return Err(Attempt::Failed(GitError::Cache {
                    path: dir.to_path_buf(),
                    reason: "not empty and not a driftwatch git cache: refusing to replace it (give gitops.cache_dir a directory of its own)".into(),
                }));
            }
        }
    }
    let r = Repository::init(dir).map_err(git)?;
    r.remote("origin", url).map_err(git)?;
    std::fs::write(
        r.path().join(CACHE_MARKER),
        "this repository is driftwatch's cache of the GitOps repository\n",
    )
    .map_err(io)?;
    Ok(r)
}

fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?
        } else {
            std::fs::remove_file(&path)?
        }
    }
    Ok(())
}

/// Credentials for https (token as password) and ssh (key file). libgit2 asks again after a
/// rejected credential; answering each kind once turns a wrong token into an error instead of
/// a loop.
fn callbacks(auth: &GitAuth) -> RemoteCallbacks<'_> {
    let mut cb = RemoteCallbacks::new();
    let tried_userpass = Cell::new(false);
    let tried_key = Cell::new(false);
    cb.credentials(move |_url, username_from_url, allowed| {
        if allowed.contains(CredentialType::SSH_KEY) && !tried_key.replace(true) {
            if let Some(key) = &auth.ssh_key {
                let pass = auth.ssh_key_passphrase.as_ref().map(|s| s.expose());
                return Cred::ssh_key(username_from_url.unwrap_or("git"), None, key, pass);
            }
            return Cred::ssh_key_from_agent(username_from_url.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && !tried_userpass.replace(true)
            && let Some(token) = &auth.token
        {
            return Cred::userpass_plaintext(username_from_url.unwrap_or(&auth.username), token.expose());
        }
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username_from_url.unwrap_or("git"));
        }
        Err(git2::Error::from_str(
            "authentication failed: the configured credentials were rejected or none are configured",
        ))
    });
    cb
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A repository with one commit, and the config that syncs it over file:// into `cache`.
    fn upstream(dir: &Path) -> (GitopsConfig, String) {
        let src = dir.join("upstream");
        std::fs::create_dir_all(src.join("production")).unwrap();
        git(&src, &["init", "-q"]);
        std::fs::write(src.join("production/app.yaml"), "kind: ConfigMap\n").unwrap();
        git(&src, &["add", "."]);
        git(&src, &["commit", "-qm", "first"]);
        let head = git(&src, &["rev-parse", "HEAD"]);
        let cfg = GitopsConfig::Remote {
            url: format!("file://{}", src.display()),
            reference: GitRef::Branch("main".into()),
            auth: GitAuth {
                username: "git".into(),
                token: None,
                ssh_key: None,
                ssh_key_passphrase: None,
            },
            cache_dir: dir.join("cache"),
        };
        (cfg, head)
    }

    fn cache_dir(cfg: &GitopsConfig) -> PathBuf {
        match cfg {
            GitopsConfig::Remote { cache_dir, .. } => cache_dir.clone(),
            GitopsConfig::Local { .. } | GitopsConfig::Unset => unreachable!(),
        }
    }

    #[test]
    fn concurrent_syncs_of_one_cache_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, head) = upstream(dir.path());
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| sync(&cfg))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            let checkout = r.unwrap_or_else(|e| panic!("a concurrent sync failed: {e}"));
            assert_eq!(checkout.commit.as_deref(), Some(head.as_str()));
        }
    }

    #[test]
    fn a_damaged_cache_of_ours_is_cloned_again() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, head) = upstream(dir.path());
        let cache = cache_dir(&cfg);
        sync(&cfg).unwrap();
        type Harm = fn(&Path);
        let damage: [(&str, Harm); 4] = [
            ("stale index.lock", |c| {
                std::fs::write(c.join(".git/index.lock"), "").unwrap()
            }),
            ("objects deleted", |c| {
                std::fs::remove_dir_all(c.join(".git/objects")).unwrap();
                std::fs::create_dir(c.join(".git/objects")).unwrap();
            }),
            ("refs deleted", |c| {
                std::fs::remove_dir_all(c.join(".git/refs")).unwrap()
            }),
            ("HEAD deleted", |c| std::fs::remove_file(c.join(".git/HEAD")).unwrap()),
        ];
        for (name, harm) in damage {
            harm(&cache);
            let checkout = sync(&cfg).unwrap_or_else(|e| panic!("{name}: not repaired: {e}"));
            assert_eq!(checkout.commit.as_deref(), Some(head.as_str()), "{name}");
            assert!(
                cache.join("production/app.yaml").is_file(),
                "{name}: working tree restored"
            );
            assert!(is_ours(&cache), "{name}: still marked as ours");
        }
    }

    #[test]
    fn a_directory_that_is_not_ours_is_never_touched() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, _) = upstream(dir.path());
        let cache = cache_dir(&cfg);
        std::fs::create_dir_all(cache.join(".git")).unwrap();
        std::fs::write(cache.join("notes.txt"), "mine").unwrap();
        let err = sync(&cfg).unwrap_err().to_string();
        assert!(err.contains("not a driftwatch git cache"), "{err}");
        assert_eq!(std::fs::read_to_string(cache.join("notes.txt")).unwrap(), "mine");
    }

    #[test]
    fn a_local_checkout_with_uncommitted_changes_is_marked_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let (_, head) = upstream(dir.path());
        let repo = dir.path().join("upstream");
        let local = GitopsConfig::Local {
            path: repo.join("production"),
        };
        let commit = |cfg: &GitopsConfig| sync(cfg).unwrap().commit.unwrap();
        assert_eq!(commit(&local), head, "clean");
        std::fs::write(repo.join("README"), "outside the audited path").unwrap();
        assert_eq!(commit(&local), head, "changes elsewhere do not matter");
        std::fs::write(repo.join("production/new.yaml"), "kind: ConfigMap\n").unwrap();
        assert_eq!(commit(&local), format!("{head}-dirty"), "an untracked manifest");
        std::fs::remove_file(repo.join("production/new.yaml")).unwrap();
        std::fs::write(repo.join("production/app.yaml"), "kind: Secret\n").unwrap();
        assert_eq!(commit(&local), format!("{head}-dirty"), "a modified manifest");
    }

    #[test]
    fn a_lock_held_too_long_is_an_error_naming_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let _held = lock_cache(&cache, Duration::ZERO).unwrap();
        let err = lock_cache(&cache, Duration::from_millis(100)).unwrap_err().to_string();
        assert!(
            err.contains(&cache.display().to_string()) && err.contains("lock"),
            "{err}"
        );
    }
}
