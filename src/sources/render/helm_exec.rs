//! The external Helm engine: `helm template NAME CHART --namespace NS -f FILE… -f VALUES
//! --kube-version V --api-versions A…`, run as the external kustomize is (a process group of
//! its own, the configured timeout), for releases with `engine = "external"` and those the
//! built-in engine leaves to it.
//!
//! The inline values (which may hold a Flux `valuesFrom` Secret's) are never on the command
//! line, where `ps` and `/proc/<pid>/cmdline` show them to every user: they are written to a
//! file readable by driftwatch's user only (mode 0600, in a private temporary directory,
//! removed after the run), given as the last `-f`. Helm merges `-f` files in order, each over
//! the previous ones as a JSON `--set-json` object would be: the values Helm renders with are
//! the same.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
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
    /// Written to a private file given as the last `-f` (after the files); not passed when
    /// empty.
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

/// The arguments after the command, in `helm template`'s own terms; `values_file` holds the
/// inline values (written by [`template`]).
pub fn arguments(inv: &Invocation<'_>, values_file: Option<&Path>) -> Vec<String> {
    let mut args = vec![
        "template".to_string(),
        inv.release.to_string(),
        inv.chart.display().to_string(),
        "--namespace".into(),
        inv.namespace.into(),
    ];
    // The release's files in order, then the inline values over them: Helm merges each `-f`
    // over the previous ones (nested tables are merged, not replaced).
    for file in inv.values_files.iter().map(PathBuf::as_path).chain(values_file) {
        args.extend(["-f".into(), file.display().to_string()]);
    }
    args.extend(["--kube-version".into(), inv.kube_version.into()]);
    for api in inv.api_versions {
        args.extend(["--api-versions".into(), api.clone()]);
    }
    args
}

/// `inv`'s inline values in a file only driftwatch's user can read, in a private temporary
/// directory (removed with it); `None` when there are none. JSON is YAML, as Helm reads it.
fn values_file(inv: &Invocation<'_>) -> Result<Option<(tempfile::TempDir, PathBuf)>, ExecError> {
    if inv.values.is_empty() {
        return Ok(None);
    }
    // The error names the step, never the values (they may be a Secret's).
    let failed = |e: std::io::Error| ExecError::Failed(format!("cannot write the release's values for helm: {e}"));
    // Created 0700 (not the umask's 0755): nobody else lists it, nor opens what is in it.
    let dir = tempfile::Builder::new()
        .prefix("driftwatch-values-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(failed)?;
    let path = dir.path().join("values.json");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    let text = serde_json::Value::Object(inv.values.clone()).to_string();
    file.write_all(text.as_bytes()).map_err(failed)?;
    Ok(Some((dir, path)))
}

/// `helm template`'s output for `inv`. An error says what helm said, never its arguments.
pub async fn template(cfg: &RenderConfig, inv: &Invocation<'_>) -> Result<String, ExecError> {
    let command = command(cfg);
    // Removed when `_values` drops, after the run (or its timeout).
    let values = values_file(inv)?;
    let (_values, file) = values.map_or((None, None), |(dir, path)| (Some(dir), Some(path)));
    let mut cmd = Command::new(&command);
    cmd.args(arguments(inv, file.as_deref()));
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

    fn invocation<'a>(values: &'a serde_json::Map<String, serde_json::Value>, apis: &'a [String]) -> Invocation<'a> {
        Invocation {
            release: "shop",
            namespace: "shop",
            chart: Path::new("/repo/charts/shop"),
            values_files: vec!["/repo/charts/shop/values-prod.yaml".into()],
            values,
            kube_version: "1.30",
            api_versions: apis,
        }
    }

    #[test]
    fn the_command_line_helm_template_is_given() {
        let values = serde_json::json!({"replicaCount": 3, "image": {"tag": "v2"}});
        let apis = ["monitoring.coreos.com/v1".to_string()];
        let inv = invocation(values.as_object().unwrap(), &apis);
        assert_eq!(
            arguments(&inv, Some(Path::new("/tmp/driftwatch-values-x/values.json"))),
            [
                "template",
                "shop",
                "/repo/charts/shop",
                "--namespace",
                "shop",
                "-f",
                "/repo/charts/shop/values-prod.yaml",
                "-f",
                "/tmp/driftwatch-values-x/values.json",
                "--kube-version",
                "1.30",
                "--api-versions",
                "monitoring.coreos.com/v1"
            ],
            "the inline values come after the release's files, as --set-json did"
        );
        let empty = serde_json::Map::new();
        let bare = Invocation {
            values_files: Vec::new(),
            ..invocation(&empty, &[])
        };
        assert!(values_file(&bare).unwrap().is_none(), "no values, no file");
        assert!(!arguments(&bare, None).contains(&"-f".to_string()));
    }

    #[test]
    fn inline_values_go_to_a_private_file_removed_after_use_never_to_the_command_line() {
        let values = serde_json::json!({"token": "s3cr3t-from-a-secret", "image": {"tag": "v2"}});
        let inv = invocation(values.as_object().unwrap(), &[]);
        let (dir, path) = values_file(&inv).unwrap().unwrap();
        let args = arguments(&inv, Some(&path));
        assert!(
            !args.iter().any(|a| a.contains("s3cr3t")),
            "no value on the command line: {args:?}"
        );
        assert_eq!(args.last().map(String::as_str), Some("1.30"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only driftwatch's user reads it");
        let dir_mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700, "in a private directory");
        let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written, values, "the values Helm merges, as they were");
        let kept = dir.path().to_path_buf();
        drop(dir);
        assert!(!kept.exists(), "removed after the run");
    }
}
