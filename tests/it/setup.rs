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
    let config = support::config::ConfigBuilder::at(&dir.path().join("config.toml"))
        .gitops(|g| g.url("file:///nonexistent/gitops.git"))
        .environment("production", |e| e.paths(&["production"]).snapshot(&snapshot))
        .write();
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

use support::config::ConfigBuilder;
use support::run::driftwatch;

/// A config with many problems: one `check-config` run names every one and exits 2.
fn broken_config(dir: &std::path::Path) -> std::path::PathBuf {
    support::write(&dir.join("gitops/apps/api/production/deploy.yaml"), "kind: List\n");
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .schedule(|s| s.cron("0 0 0 30 2 *"))
        .alerts(|a| a.renotify_after("24h"))
        .environment("production", |e| {
            e.paths(&["apps/*/production", "apps/*/prod"]).snapshot("missing.json")
        })
        .slack(|s| s.webhook_url_env("SLACK_URL"))
        .email(|e| {
            e.smtp_host("smtp.example.com")
                .username("dw")
                .password_env("SMTP_PASSWORD")
                .from("dw@example.com")
                .to(&["sre@example.com"])
                .ca_file("internal-ca.pem")
        })
        .webhook(|w| w.url("https://hooks.example.com/x").bearer_token_env("HOOK_TOKEN"))
        .write()
}

#[test]
fn check_config_reports_every_problem_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = broken_config(dir.path());
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let expected = [
        "alerts.slack[0].webhook_url_env: environment variable SLACK_URL is not set",
        "alerts.email[0].password_env: environment variable SMTP_PASSWORD is not set",
        "alerts.webhook[0].bearer_token_env: environment variable HOOK_TOKEN is not set",
        "environments[0].cluster.snapshot: ",
        "alerts.email[0].ca_file: ",
        "environments[0].paths: \"apps/*/prod\" matches nothing",
        "schedule.cron: \"0 0 0 30 2 *\" never fires",
    ];
    for e in expected {
        assert!(
            lines.iter().any(|l| l.starts_with("error: ") && l.contains(e)),
            "{e}: {}",
            out.stderr
        );
    }
    assert_eq!(lines.len(), expected.len(), "one line each: {}", out.stderr);
    assert!(out.stderr.contains("missing.json does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("internal-ca.pem does not exist"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("apps/*/production\" matches nothing"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_config_prints_values_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = broken_config(dir.path());
    support::write(&dir.path().join("missing.json"), "{\"kind\": \"List\", \"items\": []}");
    support::write(&dir.path().join("internal-ca.pem"), "");
    let fixed = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("0 0 0 30 2 *", "0 30 2 * * *")
        .replace("\"apps/*/prod\"", "\"apps/api\"");
    support::write(&cfg, &fixed);
    let env = [
        ("SLACK_URL", "https://hooks.slack.com/x"),
        ("SMTP_PASSWORD", "p"),
        ("HOOK_TOKEN", "t"),
    ];
    let out = driftwatch(dir.path(), &["-c", cfg.to_str().unwrap(), "check-config"], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for written in [
        "renotify_after 24h",
        "(starttls)",
        "cron \"0 30 2 * * *\"",
        "rollout_grace 15m",
    ] {
        assert!(out.stdout.contains(written), "{written}: {}", out.stdout);
    }
    assert!(!out.stdout.contains("1day"), "{}", out.stdout);
    assert!(out.stdout.contains("paths: checked against"), "{}", out.stdout);
}

#[test]
fn a_bad_environment_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    support::write(
        &dir.path().join("gitops/apps/api/production/deploy.yaml"),
        "kind: List\n",
    );
    support::write(&dir.path().join("c.json"), "{\"kind\": \"List\", \"items\": []}");
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| e.paths(&["apps/*/production"]).snapshot("c.json"))
        .write();
    let cfg = cfg.to_str().unwrap();
    for (var, value, key) in [
        ("DRIFTWATCH__AUDIT__FAIL_ON", "severe", "audit.fail_on"),
        ("DRIFTWATCH__AUDIT__PAGE_SIZE", "many", "page_size"),
        ("DRIFTWATCH__AUDIT__FAIL_ONN", "info", "fail_onn"),
    ] {
        let out = driftwatch(dir.path(), &["check-config", "--config", cfg], &[(var, value)]);
        assert_eq!(out.code, 2, "{var}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("error: {var}: ")) && out.stderr.contains(key),
            "{var}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("driftwatch.toml"), "{var}: {}", out.stderr);
    }
}

/// With a remote repository, globs are checked against the git cache's HEAD once an audit has
/// cloned it (never fetched by check-config): before that, it says they were not checked.
#[test]
fn globs_are_checked_against_the_git_cache_head() {
    let dir = tempfile::tempdir().unwrap();
    let repo = support::git::GitRepo::init(&dir.path().join("origin"));
    let head = repo.commit(&[("apps/api/production/deploy.yaml", "kind: List\n")], "init");
    support::write(&dir.path().join("c.json"), "{\"kind\": \"List\", \"items\": []}");
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.url(&format!("file://{}", repo.dir.display())).cache_dir("cache"))
        .environment("production", |e| {
            e.paths(&["apps/*/production", "apps/*/prod"]).snapshot("c.json")
        })
        .write();
    let cfg = cfg.to_str().unwrap();
    let before = driftwatch(dir.path(), &["check-config", "-c", cfg], &[]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(
        before.stdout.contains("paths: not checked: git cache"),
        "{}",
        before.stdout
    );
    assert!(!dir.path().join("cache/.git").exists(), "check-config clones nothing");

    // The audit clones the cache (and fails on the glob, as check-config says it will).
    let audit = driftwatch(dir.path(), &["--once", "-c", cfg], &[]);
    assert!(
        dir.path().join("cache/.git").exists(),
        "{}{}",
        audit.stdout,
        audit.stderr
    );
    let after = driftwatch(dir.path(), &["check-config", "-c", cfg], &[]);
    assert_eq!(after.code, 2, "{}", after.stderr);
    assert!(
        after
            .stderr
            .contains("environments[0].paths: \"apps/*/prod\" matches nothing in the git cache")
            && after.stderr.contains(&head),
        "{}",
        after.stderr
    );
    assert_eq!(after.stderr.lines().count(), 1, "{}", after.stderr);
}

/// The daemon and an operator's `--once` (or two timers) on one git cache: every run waits for
/// the other's sync instead of failing on libgit2's locks or on a half-made cache.
#[test]
fn concurrent_runs_on_one_git_cache_all_succeed() {
    use support::fixtures::{D1, D2, REPO, deployment, deployment_yaml, list, pod};
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    let repo = support::git::GitRepo::init(&upstream);
    repo.commit(
        &[(
            "apps/api/production/deploy.yaml",
            &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
        )],
        "declare api",
    );
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D2}"))]);
    support::write(&dir.path().join("cluster.json"), &list(vec![d, rs, p]));
    let cfg = support::config::ConfigBuilder::new(dir.path())
        .gitops(|g| {
            g.url(&format!("file://{}", upstream.display()))
                .branch("main")
                .cache_dir("cache")
        })
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        })
        .write();
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_driftwatch"))
                .args(["--once", "--config", cfg.to_str().unwrap()])
                .current_dir(dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "every run audits (the drift), none fails on the cache: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
