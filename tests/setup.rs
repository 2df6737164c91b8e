//! Setting up is honest: a first run by a person (not the service user) is told what to change.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// `--once` as an unprivileged user (nobody, when the suite runs as root) with no
/// `gitops.cache_dir`: the default under /var/lib is not writable, and the error says which key
/// to set instead of only "permission denied".
#[test]
fn a_non_root_once_without_cache_dir_is_told_to_set_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let snapshot = dir.path().join("prod.json");
    std::fs::write(&snapshot, r#"{"apiVersion":"v1","kind":"List","items":[]}"#).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[gitops]\nurl = \"file:///nonexistent/gitops.git\"\n\n[[environments]]\nname = \"production\"\npaths = [\"production\"]\n[environments.cluster]\nsnapshot = \"{}\"\n",
            snapshot.display()
        ),
    )
    .unwrap();
    for f in [&snapshot, &config] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let binary = env!("CARGO_BIN_EXE_driftwatch");
    let args = ["--once", "--config", config.to_str().unwrap()];
    let is_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mut cmd = if is_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", binary]);
        c
    } else {
        Command::new(binary)
    };
    let out = cmd
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .expect("run driftwatch");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("/var/lib/driftwatch/gitops"),
        "names the default path: {all}"
    );
    assert!(all.contains("set gitops.cache_dir"), "says what to do: {all}");
}
