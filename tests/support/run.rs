//! The driftwatch binary run once, as a user runs it: a clean environment, a working directory,
//! and what it printed and exited with.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The driftwatch binary cargo built for this test run.
pub fn binary() -> PathBuf {
    // Cargo sets CARGO_BIN_EXE_<name> when it runs an integration test; `env!` would read it
    // when compiling this crate, where it is not set. Without cargo (the test executable run
    // by hand) the binary is where cargo puts it: next to the `deps/` folder holding the test.
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_driftwatch") {
        return path.into();
    }
    let test = std::env::current_exe().expect("the test executable's path");
    let path = test
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("driftwatch"))
        .expect("the test executable is in target/<profile>/deps");
    assert!(
        path.is_file(),
        "no driftwatch binary at {}: run the tests with cargo",
        path.display()
    );
    path
}

/// `driftwatch args…` in `dir`, with a clean environment plus `env` (HOME is `dir`, so no
/// user config is read).
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// What a run printed and its exit code.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

/// Runs driftwatch with `args`, a clean environment plus `env`, in `dir`.
pub fn driftwatch(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = command(dir, args, env).output().expect("run driftwatch");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `driftwatch --once --format json --config CFG`, the audit most tests run.
pub fn audit(dir: &Path, cfg: &Path) -> Output {
    driftwatch(
        dir,
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    )
}

/// `(type, namespace/name, container)` of every finding, for compact assertions.
pub fn findings(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    f["namespace"].as_str().unwrap_or(""),
                    f["name"].as_str().unwrap_or("")
                ),
                f["container"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

pub fn finding(t: &str, workload: &str, container: &str) -> (String, String, String) {
    (t.to_string(), workload.to_string(), container.to_string())
}
