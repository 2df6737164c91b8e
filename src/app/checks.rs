//! What `check-config` checks beyond loading, without side effects: files the config names
//! exist (snapshots, kubeconfigs, CA and key files, the ignore file), every `paths` glob matches
//! something in the repository (a local `gitops.path`, or the HEAD tree of an existing git
//! cache, read with git2 and never fetched), and the schedule fires at all. Not part of every
//! load: a file may appear later, and the daemon must not refuse to start for it.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::config::{ClusterSource, Config, ConfigError, GitopsConfig};
use crate::core::paths::PathPattern;

/// Every problem found, as config errors naming the key; and a line saying where the globs
/// were checked (or why not).
pub fn check(cfg: &Config, now: DateTime<Utc>) -> (Vec<ConfigError>, String) {
    let problem = |key: String, reason: String| ConfigError::Invalid {
        origin: cfg.origin.clone(),
        key,
        reason,
    };
    let mut problems = Vec::new();
    for (key, path) in files(cfg) {
        if !path.exists() {
            problems.push(problem(key, format!("{} does not exist", path.display())));
        }
    }
    let (tree, note) = repository_paths(&cfg.gitops);
    if let Some(tree) = &tree {
        for (i, env) in cfg.environments.iter().enumerate() {
            for p in env.patterns() {
                let Ok(pattern) = PathPattern::new(&p) else { continue };
                if !tree.iter().any(|t| pattern.matches(t)) {
                    let reason = format!("{p:?} matches nothing in {note}");
                    problems.push(problem(format!("environments[{i}].paths"), reason));
                }
            }
        }
    }
    if crate::app::schedule::next_fire(&cfg.schedule, now).is_none() {
        let reason = format!("\"{}\" never fires: no date matches it", cfg.schedule.cron);
        problems.push(problem("schedule.cron".into(), reason));
    }
    let line = match tree {
        Some(_) => format!("paths: checked against {note}\n"),
        None => format!("paths: not checked: {note}\n"),
    };
    (problems, line)
}

/// Every file the config names, with its key.
fn files(cfg: &Config) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    if let GitopsConfig::Remote { auth, .. } = &cfg.gitops
        && let Some(k) = &auth.ssh_key
    {
        out.push(("gitops.ssh_key".to_string(), k.clone()));
    }
    if let Some(f) = &cfg.audit.ignore_file {
        out.push(("audit.ignore_file".to_string(), f.clone()));
    }
    for (i, e) in cfg.environments.iter().enumerate() {
        let key = |k: &str| format!("environments[{i}].cluster.{k}");
        match &e.cluster.source {
            ClusterSource::Snapshot(p) => out.push((key("snapshot"), p.clone())),
            ClusterSource::Kubeconfig { path: Some(p), .. } => out.push((key("kubeconfig"), p.clone())),
            _ => {}
        }
    }
    if let Some(k) = cfg.ha.as_ref().and_then(|ha| ha.kubeconfig.clone()) {
        out.push(("ha.kubeconfig".to_string(), k));
    }
    let mut emails = 0;
    for c in &cfg.alerts.channels {
        if let crate::alerts::channels::ChannelKind::Email(e) = &c.kind {
            if let Some(ca) = &e.ca_file {
                out.push((format!("alerts.email[{emails}].ca_file"), ca.clone()));
            }
            emails += 1;
        }
    }
    out
}

/// Every file and directory path of the repository (`/`-separated, relative), and where they
/// were read; `None` with the reason when there is nothing to read without fetching.
fn repository_paths(gitops: &GitopsConfig) -> (Option<Vec<String>>, String) {
    match gitops {
        GitopsConfig::Local { path } if path.is_dir() => {
            let all = walkdir::WalkDir::new(path)
                .into_iter()
                .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".git"))
                .filter_map(Result::ok)
                .filter(|e| e.depth() > 0)
                .map(|e| crate::sources::render::relative(path, e.path()))
                .collect();
            (Some(all), path.display().to_string())
        }
        GitopsConfig::Local { path } => (None, format!("gitops.path {} is not a directory", path.display())),
        GitopsConfig::Remote { cache_dir, .. } => match head_tree(cache_dir) {
            Ok((paths, commit)) => (
                Some(paths),
                format!("the git cache {} at {commit}", cache_dir.display()),
            ),
            Err(e) => (
                None,
                format!("git cache {}: {}", cache_dir.display(), crate::error_chain(&e)),
            ),
        },
    }
}

/// Why the git cache's HEAD tree could not be read.
#[derive(Debug, thiserror::Error)]
enum CacheError {
    #[error("not cloned yet (the first audit clones it)")]
    NotCloned,
    /// git2's message only: its class and code add nothing for the reader. Kept whole, but not
    /// as the source: [`crate::error_chain`] would append git2's full text (with them).
    #[error("{}", .0.message())]
    Git(git2::Error),
}

impl From<git2::Error> for CacheError {
    fn from(e: git2::Error) -> Self {
        Self::Git(e)
    }
}

/// The paths of the cache's HEAD tree and its commit.
fn head_tree(cache_dir: &Path) -> Result<(Vec<String>, String), CacheError> {
    if !cache_dir.join(".git").exists() {
        return Err(CacheError::NotCloned);
    }
    let repo = git2::Repository::open(cache_dir)?;
    let commit = repo.head().and_then(|h| h.peel_to_commit())?;
    let tree = commit.tree()?;
    let mut paths = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        if let Ok(name) = entry.name() {
            paths.push(format!("{root}{name}"));
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok((paths, commit.id().to_string()))
}
