//! A second SIGTERM exits at once, and takes the kustomize runs under way (and what they
//! started) with it instead of leaving them running.

use std::os::unix::fs::PermissionsExt;

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

#[test]
fn a_second_sigterm_kills_the_kustomize_children() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("gitops/apps/api/production/kustomization.yaml"),
        "resources: []\n",
    );
    // A kustomize that never finishes: it records its own pid and that of the sleep it starts.
    let script = dir.path().join("slow-kustomize");
    let pids = dir.path().join("pids");
    write(
        &script,
        &format!(
            "#!/bin/sh\necho $$ >> {0}\nsleep 300 &\necho $! >> {0}\nwait\n",
            pids.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    write(&dir.path().join("cluster.json"), r#"{"kind": "List", "items": []}"#);
    let config = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.kustomize(script.to_str().unwrap()))
        .schedule(|s| s.cron("0 0 0 1 1 *").run_on_start(true).shutdown_grace("10m"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        });
    let mut daemon = Daemon::start(dir.path(), &config, &[]);
    let started: Vec<String> = wait_until(30, "kustomize and its child to start", || {
        let text = std::fs::read_to_string(&pids).ok()?;
        let list: Vec<String> = text.lines().map(str::to_string).collect();
        (list.len() == 2).then_some(list)
    });
    daemon.signal("TERM");
    wait_until(10, "the first signal to be taken", || {
        daemon.logs().contains("send it again to exit at once").then_some(())
    });
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(10), 2, "a second signal exits at once with 2");
    for pid in &started {
        wait_until(10, "the kustomize process group to be gone", || {
            (!alive(pid)).then_some(())
        });
    }
}
