//! What git declares for one environment: selects the environment's paths in the checkout with
//! the one matcher ([`crate::core::paths`]), renders each with the renderer chosen for it
//! ([`plain`] files as they are, or [`kustomize_exec`]) and hands the documents to
//! [`crate::core::manifest`]. A new renderer is one more file here plus one arm in `choose`.

pub mod builtin;
pub mod cache;
pub mod files;
pub mod kustomize_exec;
pub mod plain;

use std::path::{Path, PathBuf};

use crate::config::{EnvironmentConfig, RenderConfig, Renderer};
use crate::core::manifest::{self, Origin};
use crate::core::model::DeclaredState;
use crate::core::paths::PathPattern;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("path {pattern:?} matches nothing in the repository")]
    NoMatch { pattern: String },
    #[error("kustomize {path}: {reason}")]
    Kustomize { path: String, reason: String },
    #[error("kustomize is not installed: {command:?} not found (set render.kustomize to its path)")]
    KustomizeMissing { command: String },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

/// One rendered text (YAML or JSON documents) and the repository file it is attributed to; or
/// why that file could not be read.
pub struct Rendered {
    pub file: String,
    pub content: Result<String, String>,
}

/// How one selected path is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    Plain,
    KustomizeExec,
}

/// The renderer for `path`: the configured one, or with `auto` kustomize for a directory
/// holding a kustomization and plain files otherwise.
fn choose(renderer: Renderer, path: &Path) -> Choice {
    match renderer {
        Renderer::Kustomize => Choice::KustomizeExec,
        Renderer::Plain => Choice::Plain,
        Renderer::Auto if path.is_dir() && kustomize_exec::is_kustomization(path) => Choice::KustomizeExec,
        Renderer::Auto => Choice::Plain,
    }
}

/// Renders every path of `env` below `root`. Paths that fail to render are named in the returned
/// errors and in `failed_paths`; everything that did render is in the state.
pub async fn render(root: &Path, env: &EnvironmentConfig, cfg: &RenderConfig) -> (DeclaredState, Vec<RenderError>) {
    let mut state = DeclaredState::default();
    let mut errors = Vec::new();
    for text in &env.paths {
        // Config validation rejects invalid patterns; one that slips through is this path's error.
        let matches = PathPattern::new(text)
            .map_err(|e| RenderError::Io {
                path: text.clone(),
                reason: e.to_string(),
            })
            .map(|pattern| expand(root, &pattern));
        let matches = match matches {
            Ok(m) if m.is_empty() => {
                state.failed_paths.push(text.clone());
                errors.push(RenderError::NoMatch { pattern: text.clone() });
                continue;
            }
            Ok(m) => m,
            Err(e) => {
                state.failed_paths.push(text.clone());
                errors.push(e);
                continue;
            }
        };
        for path in matches {
            let rel = relative(root, &path);
            let rendered = match choose(env.renderer, &path) {
                Choice::KustomizeExec => kustomize_exec::render(&path, &rel, cfg).await,
                Choice::Plain => plain::render(root, &path, &rel).await,
            };
            match rendered {
                Ok(outputs) => {
                    for out in outputs {
                        let origin = Origin {
                            file: &out.file,
                            source: &rel,
                            default_namespace: &env.namespace,
                        };
                        match &out.content {
                            Ok(text) => manifest::extract_text(text, origin, &mut state),
                            Err(reason) => manifest::unreadable(origin, reason, &mut state),
                        }
                    }
                }
                Err(e) => {
                    state.failed_paths.push(rel);
                    errors.push(e);
                }
            }
        }
    }
    (state, errors)
}

/// The files and directories below `root` that `pattern` matches, sorted. The checkout's own
/// `.git` is not looked into: git trees never hold it, and history must see what this sees.
pub fn expand(root: &Path, pattern: &PathPattern) -> Vec<PathBuf> {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if e.depth() == 1 && e.file_name() == ".git" {
                return false;
            }
            let rel = relative(root, e.path());
            !e.file_type().is_dir() || pattern.may_contain(&rel)
        });
    let mut out: Vec<PathBuf> = walker
        .filter_map(Result::ok)
        .filter(|e| e.depth() > 0 && pattern.matches(&relative(root, e.path())))
        .map(walkdir::DirEntry::into_path)
        .collect();
    out.sort();
    out
}

pub(crate) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in [
            "apps/api/production/d.yaml",
            "apps/api/staging/d.yaml",
            "apps/web/production/w.yaml",
            "apps/web/production/.hidden/h.yaml",
            "apps/.tools/production/t.yaml",
            "deploy/app.yaml",
            ".git/config.yaml",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "x: 1\n").expect("write");
        }
        dir
    }

    /// The walk finds what `glob::glob` (how paths were expanded before) finds, `.git` aside.
    #[test]
    fn expansion_agrees_with_glob_on_disk() {
        let dir = tree();
        let root = dir.path();
        for p in [
            "apps/*/production",
            "apps/*/production/",
            "apps/**/production",
            "deploy/*.yaml",
            "*",
            "apps/[aw]*",
        ] {
            let ours: Vec<String> = expand(root, &PathPattern::new(p).expect("valid"))
                .iter()
                .map(|m| relative(root, m))
                .collect();
            let full = format!("{}/{}", root.display(), p.trim_end_matches('/'));
            let mut theirs: Vec<String> = glob::glob(&full)
                .expect("valid")
                .filter_map(Result::ok)
                .map(|m| relative(root, &m))
                .filter(|m| m != ".git")
                .collect();
            theirs.sort();
            assert_eq!(ours, theirs, "{p}");
        }
    }

    /// The files a render reads are exactly those the history matcher selects.
    #[test]
    fn render_and_history_select_the_same_files() {
        let dir = tree();
        let root = dir.path();
        let all: Vec<String> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && !relative(root, e.path()).starts_with(".git/"))
            .map(|e| relative(root, e.path()))
            .collect();
        for p in ["apps/*/production", "apps", "*", "deploy/app.yaml", "apps/.tools/*"] {
            let pattern = PathPattern::new(p).expect("valid");
            let mut on_disk: Vec<String> = expand(root, &pattern)
                .iter()
                .flat_map(|m| plain::manifest_files(m).expect("walk"))
                .map(|f| relative(root, &f))
                .collect();
            on_disk.sort();
            on_disk.dedup();
            let mut selected: Vec<String> = all.iter().filter(|f| pattern.selects(f)).cloned().collect();
            selected.sort();
            assert_eq!(on_disk, selected, "{p}");
        }
    }
}
