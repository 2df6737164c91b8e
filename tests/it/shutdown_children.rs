//! A second SIGTERM exits at once, and takes the kustomize runs under way (and what they
//! started) with it instead of leaving them running.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::config::ConfigBuilder;
use support::daemon::Daemon;
use support::net::wait_until;
use support::write;

fn alive(pid: &str) -> bool {
    // A zombie has exited; only a running or sleeping process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

/// A gitops tree whose one overlay is rendered by a kustomize that never finishes: it records
/// its own pid and that of the sleep it starts in `pids`.
fn slow_kustomize(dir: &Path) -> (ConfigBuilder, PathBuf) {
    write(
        &dir.join("gitops/apps/api/production/kustomization.yaml"),
        "resources: []\n",
    );
    // A kustomize that never finishes: it records its own pid and that of the sleep it starts.
    let script = dir.join("slow-kustomize");
    let pids = dir.join("pids");
    write(
        &script,
        &format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then echo v5.5.0; exit 0; fi\necho $$ >> {0}\nsleep 300 &\necho $! >> {0}\nwait\n",
            pids.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(&dir.join("cluster.json"), r#"{"kind": "List", "items": []}"#);
    let config = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        // The external engine: the built-in one would start no process to kill.
        .render(|r| r.kustomize(script.to_str().unwrap()).engine("external"))
        .schedule(|s| s.cron("0 0 0 1 1 *").run_on_start(true).shutdown_grace("10m"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        });
    (config, pids)
}

fn started(pids: &Path) -> Vec<String> {
    wait_until(30, "kustomize and its child to start", || {
        let text = std::fs::read_to_string(pids).ok()?;
        let list: Vec<String> = text.lines().map(str::to_string).collect();
        (list.len() == 2).then_some(list)
    })
}

fn gone(pids: &[String]) {
    for pid in pids {
        wait_until(10, "the kustomize process group to be gone", || {
            (!alive(pid)).then_some(())
        });
    }
}

#[test]
fn a_second_sigterm_kills_the_kustomize_children() {
    let dir = tempfile::tempdir().unwrap();
    let (config, pids) = slow_kustomize(dir.path());
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let started = started(&pids);
    daemon.signal("TERM");
    wait_until(10, "the first signal to be taken", || {
        daemon.logs().contains("send it again to exit at once").then_some(())
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(10), 2, "a second signal exits at once with 2");
    gone(&started);
}

#[test]
fn sigterm_during_once_kills_the_kustomize_children_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let (config, pids) = slow_kustomize(dir.path());
    let cfg = config.write();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["--once", "--config", cfg.to_str().unwrap()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = started(&pids);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = wait_until(10, "--once to exit", || child.try_wait().unwrap()).code();
    assert_eq!(code, Some(143), "the exit status a killed process would have");
    gone(&started);
}
