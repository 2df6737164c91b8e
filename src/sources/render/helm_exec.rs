//! The external Helm engine: `helm template NAME CHART --namespace NS -f FILE… --set-json
//! VALUES --kube-version V --api-versions A…`, run as the external kustomize is (a process
//! group of its own, the configured timeout), for releases with `engine = "external"` and
//! those the built-in engine leaves to it.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::kustomize_exec::{RunError, run};
use crate::config::RenderConfig;

/// What one `helm template` is asked.
pub struct Invocation<'a> {
    pub release: &'a str,
    pub namespace: &'a str,
    /// A chart directory or `.tgz`.
    pub chart: &'a Path,
    /// `-f`, in order.
    pub values_files: Vec<PathBuf>,
    /// `--set-json`, after the files; not passed when empty.
    pub values: &'a serde_json::Map<String, serde_json::Value>,
    pub kube_version: &'a str,
    pub api_versions: &'a [String],
}

/// Why `helm template` gave no manifests.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No `helm` at the configured path or on PATH.
    #[error("{command:?} not found (set render.helm to its path)")]
    Missing { command: String },
    /// It ran and failed (its own words), timed out, or printed something unreadable.
    #[error("{0}")]
    Failed(String),
}

/// The `helm` command: `render.helm`, else `helm` from PATH.
pub fn command(cfg: &RenderConfig) -> String {
    cfg.helm.clone().unwrap_or_else(|| "helm".into())
}

/// The arguments after the command, in `helm template`'s own terms.
pub fn arguments(inv: &Invocation<'_>) -> Vec<String> {
    let mut args = vec![
        "template".to_string(),
        inv.release.to_string(),
        inv.chart.display().to_string(),
        "--namespace".into(),
        inv.namespace.into(),
    ];
    for file in &inv.values_files {
        args.extend(["-f".into(), file.display().to_string()]);
    }
    if !inv.values.is_empty() {
        // One JSON object: Helm merges it over the files as it merges -f files (nested tables
        // are merged, not replaced), which `key=value` pairs would not do.
        args.extend([
            "--set-json".into(),
            serde_json::Value::Object(inv.values.clone()).to_string(),
        ]);
    }
    args.extend(["--kube-version".into(), inv.kube_version.into()]);
    for api in inv.api_versions {
        args.extend(["--api-versions".into(), api.clone()]);
    }
    args
}

/// `helm template`'s output for `inv`.
pub async fn template(cfg: &RenderConfig, inv: &Invocation<'_>) -> Result<String, ExecError> {
    let command = command(cfg);
    let mut cmd = Command::new(&command);
    cmd.args(arguments(inv));
    let output = match run(cmd, cfg.timeout).await {
        Ok(o) => o,
        Err(RunError::NotFound) => return Err(ExecError::Missing { command }),
        Err(e) => return Err(ExecError::Failed(format!("{command}: {e}"))),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr.trim();
        let said = said.strip_prefix("Error: ").unwrap_or(said);
        return Err(ExecError::Failed(format!("{said} ({})", output.status)));
    }
    String::from_utf8(output.stdout).map_err(|_| ExecError::Failed("helm's output is not UTF-8".into()))
}

/// `helm version --short` as the command answers it, part of every external render's cache
/// key so that another Helm never reuses an older one's output. What it prints is taken as is
/// (a stand-in may answer only `helm template`).
pub async fn version(cfg: &RenderConfig) -> Result<String, ExecError> {
    let command = command(cfg);
    let mut cmd = Command::new(&command);
    cmd.args(["version", "--short"]);
    match run(cmd, cfg.timeout).await {
        Ok(o) => Ok(format!("{command} {}", String::from_utf8_lossy(&o.stdout).trim())),
        Err(RunError::NotFound) => Err(ExecError::Missing { command }),
        Err(e) => Err(ExecError::Failed(format!("{command} version: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_helm_template_is_given() {
        let values = serde_json::json!({"replicaCount": 3, "image": {"tag": "v2"}});
        let inv = Invocation {
            release: "shop",
            namespace: "shop",
            chart: Path::new("/repo/charts/shop"),
            values_files: vec!["/repo/charts/shop/values-prod.yaml".into()],
            values: values.as_object().unwrap(),
            kube_version: "1.30",
            api_versions: &["monitoring.coreos.com/v1".to_string()],
        };
        assert_eq!(
            arguments(&inv),
            [
                "template",
                "shop",
                "/repo/charts/shop",
                "--namespace",
                "shop",
                "-f",
                "/repo/charts/shop/values-prod.yaml",
                "--set-json",
                r#"{"image":{"tag":"v2"},"replicaCount":3}"#,
                "--kube-version",
                "1.30",
                "--api-versions",
                "monitoring.coreos.com/v1"
            ]
        );
        let empty = serde_json::Map::new();
        let bare = Invocation {
            values: &empty,
            values_files: Vec::new(),
            api_versions: &[],
            ..inv
        };
        assert!(!arguments(&bare).contains(&"--set-json".to_string()));
    }
}
