//! The external kustomize renderer: runs `kustomize build DIR` (or `kubectl kustomize DIR`) with
//! the configured timeout and takes its output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::process::Command;

use super::files::{self, Files, Kind};
use super::{RenderError, Rendered};
use crate::config::RenderConfig;

/// Process groups of the kustomize runs under way. `kill_on_drop` covers a cancelled audit, but
/// an immediate exit (a second SIGTERM) runs no destructors, so the exit path kills these.
/// This tracks live processes, not a cache, hence process-wide.
static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Kills every kustomize run under way (and anything it started). For the exit path.
pub fn kill_running() {
    for pgid in RUNNING.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        if let Some(pid) = Pid::from_raw(*pgid) {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

/// One kustomize run's process group, registered while it runs. Dropped before the child was
/// reaped (a timeout, a cancelled audit), it kills the group; once reaped it only unregisters,
/// since the id may then belong to someone else.
struct Group {
    pgid: i32,
    reaped: bool,
}

impl Group {
    fn new(pid: Option<u32>) -> Option<Self> {
        let pgid = i32::try_from(pid?).ok()?;
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).insert(pgid);
        Some(Self { pgid, reaped: false })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.pgid);
        if !self.reaped
            && let Some(pid) = Pid::from_raw(self.pgid)
        {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

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
        cmd.arg(dir);
        // `helmCharts:` need both (kustomize runs helm only for those): the built-in renderer
        // leaves some to kustomize, and `engine = "external"` renders them all here.
        let helm = cfg.helm.clone().unwrap_or_else(|| "helm".into());
        cmd.args(["--enable-helm", "--helm-command", &helm]);
        let output = match run(cmd, cfg.timeout).await {
            Ok(output) => output,
            // Not installed under this name: try the next candidate.
            Err(RunError::NotFound) => continue,
            Err(RunError::Start(e)) => return Err(failed(format!("cannot start {command}: {e}"))),
            Err(e) => return Err(failed(e.to_string())),
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

/// Why an external renderer's process gave no output.
#[derive(Debug, thiserror::Error)]
pub(super) enum RunError {
    /// No such command (not installed under this name).
    #[error("not found")]
    NotFound,
    #[error("cannot start: {0}")]
    Start(#[source] std::io::Error),
    #[error("{0}")]
    Wait(#[source] std::io::Error),
    #[error("timed out after {}", humantime::format_duration(*.0))]
    TimedOut(std::time::Duration),
}

/// Runs `cmd` (stdin closed, output taken) in a process group of its own, so that it and
/// whatever it starts are killed together: on timeout, when the audit is dropped, or by
/// [`kill_running`] on an immediate exit. The external kustomize and `helm` both run here.
pub(super) async fn run(mut cmd: Command, timeout: std::time::Duration) -> Result<std::process::Output, RunError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(RunError::NotFound),
        Err(e) => return Err(RunError::Start(e)),
    };
    let mut group = Group::new(child.id());
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(r) => {
            if let Some(g) = &mut group {
                g.reaped = true;
            }
            r.map_err(RunError::Wait)
        }
        Err(_) => Err(RunError::TimedOut(timeout)),
    }
}

/// The external kustomize's version (the command that would run, and what it reports), part
/// of every external render's cache key so an upgrade never reuses an older kustomize's output.
pub async fn version(cfg: &RenderConfig) -> Result<String, RenderError> {
    let candidates: Vec<String> = match &cfg.kustomize {
        Some(c) => vec![c.clone()],
        None => vec!["kustomize".into(), "kubectl".into()],
    };
    for command in &candidates {
        let is_kubectl = Path::new(command).file_name().is_some_and(|n| n == "kubectl");
        let mut cmd = Command::new(command);
        if is_kubectl {
            cmd.args(["version", "--client"]);
        } else {
            cmd.arg("version");
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let output = match tokio::time::timeout(cfg.timeout, cmd.output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => continue,
            Ok(Err(e)) => {
                return Err(RenderError::Kustomize {
                    path: command.clone(),
                    reason: format!("cannot ask its version: {e}"),
                });
            }
            Err(_) => {
                return Err(RenderError::Kustomize {
                    path: command.clone(),
                    reason: "timed out asking its version".into(),
                });
            }
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let reported = text
            .lines()
            .find(|l| l.contains("Kustomize Version"))
            .unwrap_or(text.trim());
        return Ok(format!("{command} {}", reported.trim()));
    }
    Err(RenderError::KustomizeMissing {
        command: candidates.join(" or "),
    })
}

/// What an external build of `dir` can read, for the render cache: every kustomization root it
/// reaches (the overlay, its bases and components, transformer and generator directories),
/// each as a whole tree, since kustomize's load restrictor keeps every file it reads inside one
/// of them. `None` when the build reaches outside the repository (a remote base, a Helm chart
/// pulled from a repository): such output is not cached.
pub fn inputs(files: &dyn Files, dir: &str) -> Option<BTreeMap<String, Option<String>>> {
    let mut deps = BTreeMap::new();
    let mut queue = vec![dir.to_string()];
    while let Some(root) = queue.pop() {
        let key = format!("{root}/");
        if deps.contains_key(&key) {
            continue;
        }
        deps.insert(key.clone(), files.identity(&key));
        let Some(k) = kustomize::kustomization::FILE_NAMES.iter().find_map(|name| {
            files::join(&root, name)
                .ok()
                .filter(|p| files.kind(p) == Some(Kind::File))
        }) else {
            continue;
        };
        let text = String::from_utf8(files.read(&k).ok()?).ok()?;
        let (docs, _) = safe_yaml::documents(&text);
        let doc = docs.into_iter().next().unwrap_or_default();
        if doc
            .get("helmCharts")
            .and_then(|c| c.as_array())
            .is_some_and(|c| c.iter().any(|chart| chart.get("repo").is_some()))
        {
            return None;
        }
        for field in [
            "resources",
            "bases",
            "components",
            "transformers",
            "generators",
            "validators",
        ] {
            for entry in doc.get(field).and_then(|v| v.as_array()).into_iter().flatten() {
                let Some(entry) = entry.as_str() else { continue };
                if kustomize::load::is_remote(entry) {
                    return None;
                }
                match files::join(&root, entry) {
                    Ok(path) if files.kind(&path) == Some(Kind::Dir) => queue.push(path),
                    // Files are inside this root (or the build fails); inline YAML is in the
                    // kustomization file itself.
                    Ok(_) => {}
                    // Outside the repository: cannot be tracked.
                    Err(_) => return None,
                }
            }
        }
    }
    Some(deps)
}
