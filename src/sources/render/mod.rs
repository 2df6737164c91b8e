//! What git declares for one environment: expands the environment's path globs in the checkout,
//! renders each match (an external `kustomize build`, or the YAML/JSON files as they are) and
//! hands the documents to [`crate::core::manifest`].

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::config::{EnvironmentConfig, RenderConfig, Renderer};
use crate::core::manifest::{self, Origin};
use crate::core::model::DeclaredState;

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

/// Renders every path of `env` below `root`. Paths that fail to render are named in the returned
/// errors and in `failed_paths`; everything that did render is in the state.
pub async fn render(root: &Path, env: &EnvironmentConfig, cfg: &RenderConfig) -> (DeclaredState, Vec<RenderError>) {
    let mut state = DeclaredState::default();
    let mut errors = Vec::new();
    for pattern in &env.paths {
        let matches = match expand(root, pattern) {
            Ok(m) if m.is_empty() => {
                state.failed_paths.push(pattern.clone());
                errors.push(RenderError::NoMatch {
                    pattern: pattern.clone(),
                });
                continue;
            }
            Ok(m) => m,
            Err(e) => {
                state.failed_paths.push(pattern.clone());
                errors.push(e);
                continue;
            }
        };
        for path in matches {
            let rel = relative(root, &path);
            if let Err(e) = render_path(root, &path, &rel, env, cfg, &mut state).await {
                state.failed_paths.push(rel);
                errors.push(e);
            }
        }
    }
    (state, errors)
}

fn expand(root: &Path, pattern: &str) -> Result<Vec<PathBuf>, RenderError> {
    let root_str = root.to_str().ok_or_else(|| RenderError::Io {
        path: root.display().to_string(),
        reason: "path is not UTF-8".into(),
    })?;
    // The checkout path is literal; only the configured pattern is a glob.
    let full = format!(
        "{}/{}",
        glob::Pattern::escape(root_str.trim_end_matches('/')),
        pattern.trim_end_matches('/')
    );
    let mut out: Vec<PathBuf> = glob::glob(&full)
        .map_err(|e| RenderError::Io {
            path: pattern.into(),
            reason: e.to_string(),
        })?
        .filter_map(Result::ok)
        .collect();
    out.sort();
    Ok(out)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn is_kustomization(dir: &Path) -> bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

async fn render_path(
    root: &Path,
    path: &Path,
    rel: &str,
    env: &EnvironmentConfig,
    cfg: &RenderConfig,
    state: &mut DeclaredState,
) -> Result<(), RenderError> {
    let use_kustomize = match env.renderer {
        Renderer::Kustomize => true,
        Renderer::Plain => false,
        Renderer::Auto => path.is_dir() && is_kustomization(path),
    };
    if use_kustomize {
        let text = kustomize(path, rel, cfg).await?;
        let origin = Origin {
            file: rel,
            source: rel,
            default_namespace: &env.namespace,
        };
        manifest::extract_text(&text, origin, state);
        return Ok(());
    }
    let io_err = |path: &str, e: &dyn std::fmt::Display| RenderError::Io {
        path: path.into(),
        reason: e.to_string(),
    };
    for file in manifest_files(path).map_err(|e| io_err(rel, &e))? {
        let file_rel = relative(root, &file);
        let text = tokio::fs::read_to_string(&file)
            .await
            .map_err(|e| io_err(&file_rel, &e))?;
        let origin = Origin {
            file: &file_rel,
            source: rel,
            default_namespace: &env.namespace,
        };
        manifest::extract_text(&text, origin, state);
    }
    Ok(())
}

/// Every `.yaml`, `.yml` and `.json` file below `path` (or `path` itself), sorted, skipping
/// hidden directories such as `.git`.
fn manifest_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(std::io::Error::other)?;
        let is_manifest = entry
            .path()
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if entry.file_type().is_file() && is_manifest {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Runs `kustomize build DIR` (or `kubectl kustomize DIR`) with the configured timeout.
async fn kustomize(dir: &Path, rel: &str, cfg: &RenderConfig) -> Result<String, RenderError> {
    let candidates: Vec<String> = match &cfg.kustomize {
        Some(c) => vec![c.clone()],
        None => vec!["kustomize".into(), "kubectl".into()],
    };
    for command in &candidates {
        let is_kubectl = Path::new(command).file_name().is_some_and(|n| n == "kubectl");
        let mut cmd = Command::new(command);
        if is_kubectl {
            cmd.arg("kustomize")
        } else {
            cmd.arg("build")
        };
        cmd.arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(RenderError::Kustomize {
                    path: rel.into(),
                    reason: format!("cannot start {command}: {e}"),
                });
            }
        };
        let output = match tokio::time::timeout(cfg.timeout, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| RenderError::Kustomize {
                path: rel.into(),
                reason: e.to_string(),
            })?,
            Err(_) => {
                return Err(RenderError::Kustomize {
                    path: rel.into(),
                    reason: format!("timed out after {}", humantime::format_duration(cfg.timeout)),
                });
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(RenderError::Kustomize {
                path: rel.into(),
                reason: format!("{} ({})", stderr.trim(), output.status),
            });
        }
        return String::from_utf8(output.stdout).map_err(|_| RenderError::Kustomize {
            path: rel.into(),
            reason: "output is not UTF-8".into(),
        });
    }
    Err(RenderError::KustomizeMissing {
        command: candidates.join(" or "),
    })
}
