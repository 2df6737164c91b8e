//! What `check-config` checks beyond loading, without side effects: files the config names
//! exist (snapshots, CA and key files, the ignore file), every kubeconfig a cluster would use
//! exists (`$KUBECONFIG` or `~/.kube/config` when none is named) and has the context asked for
//! (or a current one), every `paths` glob matches
//! something in the repository (a local `gitops.path`, or the HEAD tree of an existing git
//! cache, read with git2 and never fetched), and the schedule fires at all. Not part of every
//! load: a file may appear later, and the daemon must not refuse to start for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::{ClusterSource, Config, ConfigError, GitopsConfig};
use crate::core::paths::PathPattern;

/// Every problem found, as config errors naming the key; and a line saying where the globs
/// were checked (or why not). `env` is the environment the audit would run in (`KUBECONFIG`,
/// `HOME`).
pub fn check(cfg: &Config, env: &HashMap<String, String>, now: DateTime<Utc>) -> (Vec<ConfigError>, String) {
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
    for (key, reason) in kubeconfigs(cfg, env) {
        problems.push(problem(key, reason));
    }
    let (tree, note) = repository_paths(&cfg.gitops);
    if let Some(tree) = &tree {
        for (i, env) in cfg.environments.iter().enumerate() {
            // Paths in another repository or an OCI artifact are checked when an audit fetches it.
            for p in env
                .paths
                .iter()
                .filter(|p| p.repo.is_none() && p.artifact.is_none())
                .map(|p| p.pattern.clone())
            {
                let Ok(pattern) = PathPattern::new(&p) else { continue };
                if !tree.iter().any(|t| pattern.matches(t)) {
                    let reason = format!("{p:?} matches nothing in {note}");
                    problems.push(problem(format!("environments[{i}].paths"), reason));
                }
            }
            for (key, reason) in release_files(i, env, tree, &note) {
                problems.push(problem(key, reason));
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

/// The chart directories and values files `env`'s releases name that `tree` (the repository's
/// files) lacks, with their keys.
fn release_files(
    i: usize,
    env: &crate::config::EnvironmentConfig,
    tree: &[String],
    note: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let has = |path: &str| tree.iter().any(|t| t == path);
    for (j, r) in env.releases.iter().enumerate().filter(|(_, r)| r.git.is_none()) {
        let key = format!("environments[{i}].releases[{j}]");
        if let crate::config::ChartSource::Path(dir) = &r.chart {
            let chart_yaml = if dir.is_empty() {
                "Chart.yaml".to_string()
            } else {
                format!("{dir}/Chart.yaml")
            };
            if !has(&chart_yaml) {
                out.push((
                    format!("{key}.chart"),
                    format!("no chart at {dir:?} in {note} ({chart_yaml} is missing)"),
                ));
            }
        }
        for (k, file) in r.values_files.iter().enumerate() {
            // `$values/…` of the `[gitops]` repository is a file of this tree; of another
            // repository, it is read at the audit.
            let file = match r.values_file_elsewhere(file) {
                Some((None, path)) => path,
                Some((Some(_), _)) => continue,
                None => file.as_str(),
            };
            if !has(file) {
                out.push((
                    format!("{key}.values_files[{k}]"),
                    format!("{file:?} is not a file in {note}"),
                ));
            }
        }
    }
    out
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
        if let ClusterSource::Snapshot(p) = &e.cluster.source {
            out.push((key("snapshot"), p.clone()));
        }
    }
    for (i, r) in cfg.helm_repositories.iter().enumerate() {
        if let Some(ca) = &r.ca_file {
            out.push((format!("helm_repositories[{i}].ca_file"), ca.clone()));
        }
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

/// Every cluster's kubeconfig (and the Lease's, under `[ha]`): a problem with its key when
/// the client would fail to load it, so that the first audit does not find out.
fn kubeconfigs(cfg: &Config, env: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, e) in cfg.environments.iter().enumerate() {
        if let ClusterSource::Kubeconfig { path, context } = &e.cluster.source {
            let section = format!("environments[{i}].cluster");
            out.extend(kubeconfig(&section, path.as_deref(), context.as_deref(), env));
        }
    }
    // Without a kubeconfig the Lease is reached through the Pod's service account.
    if let Some(ha) = &cfg.ha
        && let Some(path) = &ha.kubeconfig
    {
        out.extend(kubeconfig("ha", Some(path), ha.context.as_deref(), env));
    }
    out
}

/// The one problem (key, reason) with the kubeconfig `section` names (or, with none, the one
/// kube reads: every file in `$KUBECONFIG`, else `~/.kube/config`) and its context.
fn kubeconfig(
    section: &str,
    path: Option<&Path>,
    context: Option<&str>,
    env: &HashMap<String, String>,
) -> Option<(String, String)> {
    let key = |k: &str| format!("{section}.{k}");
    let files = match path {
        Some(p) if !p.exists() => return Some((key("kubeconfig"), format!("{} does not exist", p.display()))),
        Some(p) => vec![p.to_path_buf()],
        None => match default_kubeconfig(env) {
            Ok(files) => files,
            Err(reason) => return Some((key("kubeconfig"), reason.to_string())),
        },
    };
    let mut merged = kube::config::Kubeconfig::default();
    for file in &files {
        let read = kube::config::Kubeconfig::read_from(file).and_then(|kc| merged.clone().merge(kc));
        match read {
            Ok(kc) => merged = kc,
            Err(e) => {
                let reason = format!("{}: {}", file.display(), crate::error_chain(&e));
                return Some((key("kubeconfig"), reason));
            }
        }
    }
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let reason = missing_context(&merged, context, &shown.join(", "))?;
    Some((key("context"), reason))
}

/// Why `context` (or, when `None`, the current context) cannot be used from `kc`, read from
/// `file`.
fn missing_context(kc: &kube::config::Kubeconfig, context: Option<&str>, file: &str) -> Option<String> {
    let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    let known = if names.is_empty() {
        "it has none".to_string()
    } else {
        format!("it has {}", names.join(", "))
    };
    match (context, kc.current_context.as_deref()) {
        (Some(c), _) if !names.contains(&c) => Some(format!("{c:?} is not a context in {file} ({known})")),
        (Some(_), _) => None,
        (None, None | Some("")) => Some(format!("not set, and {file} has no current-context ({known})")),
        (None, Some(current)) if !names.contains(&current) => Some(format!(
            "not set, and the current-context {current:?} of {file} is not one of its contexts ({known})"
        )),
        (None, Some(_)) => None,
    }
}

/// Why no kubeconfig is found where kube looks when none is configured.
#[derive(Debug, thiserror::Error)]
enum NoKubeconfig {
    #[error(
        "not set, and KUBECONFIG names {0}, which does not exist (set kubeconfig, or in_cluster = true when \
         driftwatch runs in the cluster)"
    )]
    FromVariable(String),
    #[error(
        "not set, and the default {0} does not exist (set kubeconfig or KUBECONFIG, or in_cluster = true \
         when driftwatch runs in the cluster)"
    )]
    Default(String),
    #[error("not set, and there is no home directory to find ~/.kube/config in (set kubeconfig)")]
    NoHome,
}

/// The files kube reads when no kubeconfig is configured, as its `Kubeconfig::read` does:
/// every file in `KUBECONFIG` (empty entries skipped), else `$HOME/.kube/config`.
fn default_kubeconfig(env: &HashMap<String, String>) -> Result<Vec<PathBuf>, NoKubeconfig> {
    let listed: Vec<PathBuf> = env
        .get("KUBECONFIG")
        .map(|v| std::env::split_paths(v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if !listed.is_empty() {
        return match listed.iter().find(|p| !p.exists()) {
            Some(missing) => Err(NoKubeconfig::FromVariable(missing.display().to_string())),
            None => Ok(listed),
        };
    }
    let home = env
        .get("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
        .ok_or(NoKubeconfig::NoHome)?;
    let default = home.join(".kube").join("config");
    if default.exists() {
        Ok(vec![default])
    } else {
        Err(NoKubeconfig::Default(default.display().to_string()))
    }
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
        GitopsConfig::Unset => (None, "no gitops.url: sources name their own repositories".into()),
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
