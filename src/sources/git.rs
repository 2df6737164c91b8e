//! The GitOps repository: the first audit clones it into the cache directory, later audits fetch
//! and hard-reset to the wanted ref instead of cloning again. Blocking (git2); callers run it on
//! a blocking thread.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use git2::{Cred, CredentialType, FetchOptions, RemoteCallbacks, Repository};

use crate::config::{GitAuth, GitRef, GitopsConfig};

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
}

/// A working tree at a known commit.
#[derive(Clone, Debug)]
pub struct Checkout {
    pub dir: PathBuf,
    /// The audited commit; `None` for a local directory outside any git repository.
    pub commit: Option<String>,
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
    }
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
    // The directory may sit inside a repository (a CI checkout): report the commit it is at.
    let commit = Repository::discover(path)
        .ok()
        .and_then(|r| r.head().ok()?.peel_to_commit().ok().map(|c| c.id().to_string()));
    Ok(Checkout {
        dir: path.to_path_buf(),
        commit,
    })
}

fn remote(url: &str, reference: &GitRef, auth: &GitAuth, cache_dir: &Path) -> Result<Checkout, GitError> {
    let shown = crate::config::redact_url(url);
    let cache_err = |reason: String| GitError::Cache {
        path: cache_dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(cache_dir).map_err(|e| cache_err(e.to_string()))?;
    let repo = open_cache(cache_dir, url).map_err(cache_err)?;

    let refspecs: Vec<String> = match reference {
        GitRef::DefaultBranch => vec!["+HEAD:refs/remotes/origin/HEAD".into()],
        GitRef::Branch(b) => vec![format!("+refs/heads/{b}:refs/remotes/origin/{b}")],
        GitRef::Rev(_) => vec![
            "+refs/heads/*:refs/remotes/origin/*".into(),
            "+refs/tags/*:refs/tags/*".into(),
        ],
    };
    let mut remote = repo
        .find_remote("origin")
        .map_err(|e| cache_err(e.message().to_string()))?;
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks(auth));
    options.download_tags(git2::AutotagOption::None);
    remote
        .fetch(&refspecs, Some(&mut options), None)
        .map_err(|e| GitError::Fetch {
            url: shown.clone(),
            reason: e.message().to_string(),
        })?;

    let (name, spec) = match reference {
        GitRef::DefaultBranch => ("default branch".to_string(), "refs/remotes/origin/HEAD".to_string()),
        GitRef::Branch(b) => (format!("branch {b:?}"), format!("refs/remotes/origin/{b}")),
        GitRef::Rev(r) => (format!("rev {r:?}"), r.clone()),
    };
    let not_found = |e: git2::Error| GitError::RefNotFound {
        url: shown.clone(),
        reference: name.clone(),
        reason: e.message().to_string(),
    };
    let commit = repo
        .revparse_single(&spec)
        .and_then(|o| o.peel_to_commit())
        .map_err(not_found)?;
    repo.set_head_detached(commit.id())
        .map_err(|e| cache_err(e.message().to_string()))?;
    repo.reset(
        commit.as_object(),
        git2::ResetType::Hard,
        Some(git2::build::CheckoutBuilder::new().force().remove_untracked(true)),
    )
    .map_err(|e| cache_err(e.message().to_string()))?;
    Ok(Checkout {
        dir: cache_dir.to_path_buf(),
        commit: Some(commit.id().to_string()),
    })
}

/// Marks a repository as driftwatch's own cache, the only kind it ever deletes.
const CACHE_MARKER: &str = "driftwatch-cache";

/// Opens the cache, or creates it in an empty directory. A cache of another URL (the config
/// changed) is started afresh; a directory that is not driftwatch's cache is never deleted.
fn open_cache(dir: &Path, url: &str) -> Result<Repository, String> {
    let ours = |r: &Repository| r.path().join(CACHE_MARKER).is_file();
    match Repository::open(dir) {
        Ok(r)
            if ours(&r)
                && r.find_remote("origin")
                    .ok()
                    .and_then(|o| o.url().ok().map(str::to_string))
                    .as_deref()
                    == Some(url) =>
        {
            return Ok(r);
        }
        Ok(r) if ours(&r) => clear_dir(dir).map_err(|e| e.to_string())?,
        _ => {
            let empty = std::fs::read_dir(dir).map_err(|e| e.to_string())?.next().is_none();
            if !empty {
                return Err("not empty and not a driftwatch git cache: refusing to replace it (give gitops.cache_dir a directory of its own)".into());
            }
        }
    }
    let r = Repository::init(dir).map_err(|e| e.message().to_string())?;
    r.remote("origin", url).map_err(|e| e.message().to_string())?;
    std::fs::write(
        r.path().join(CACHE_MARKER),
        "this repository is driftwatch's cache of the GitOps repository\n",
    )
    .map_err(|e| e.to_string())?;
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
