//! The external kustomize renderer: runs `kustomize build DIR` (or `kubectl kustomize DIR`) with
//! the configured timeout and takes its output.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::{RenderError, Rendered};
use crate::config::RenderConfig;

/// Whether `dir` holds a kustomization (what `auto` renders with kustomize).
pub fn is_kustomization(dir: &Path) -> bool {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

/// The output of kustomize for `dir`, attributed to the directory itself.
pub async fn render(dir: &Path, rel: &str, cfg: &RenderConfig) -> Result<Vec<Rendered>, RenderError> {
    let text = build(dir, rel, cfg).await?;
    Ok(vec![Rendered {
        file: rel.to_string(),
        content: Ok(text),
    }])
}

/// Runs the configured command, else `kustomize` from PATH, else `kubectl kustomize`.
async fn build(dir: &Path, rel: &str, cfg: &RenderConfig) -> Result<String, RenderError> {
    let candidates: Vec<String> = match &cfg.kustomize {
        Some(c) => vec![c.clone()],
        None => vec!["kustomize".into(), "kubectl".into()],
    };
    let failed = |reason: String| RenderError::Kustomize {
        path: rel.into(),
        reason,
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
            // Not installed under this name: try the next candidate.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(failed(format!("cannot start {command}: {e}"))),
        };
        let output = match tokio::time::timeout(cfg.timeout, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| failed(e.to_string()))?,
            Err(_) => {
                return Err(failed(format!(
                    "timed out after {}",
                    humantime::format_duration(cfg.timeout)
                )));
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(failed(format!("{} ({})", stderr.trim(), output.status)));
        }
        return String::from_utf8(output.stdout).map_err(|_| failed("output is not UTF-8".into()));
    }
    Err(RenderError::KustomizeMissing {
        command: candidates.join(" or "),
    })
}
