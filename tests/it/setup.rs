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

/// A kubeconfig with the contexts `names` (each on one cluster and user), the first current.
fn kubeconfig_with(names: &[&str]) -> String {
    let contexts: String = names
        .iter()
        .map(|n| format!("- name: {n}\n  context: {{cluster: c, user: u}}\n"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:1\"}}\n\
         users:\n- name: u\n  user: {{token: t}}\ncontexts:\n{contexts}current-context: {}\n",
        names[0]
    )
}

/// The kubeconfig a cluster would use must exist and have the context asked for: without one
/// configured, the default `~/.kube/config` (or `$KUBECONFIG`) is checked, and a context it
/// lacks is named with the contexts it has, instead of `ok` and a first audit failing with
/// "failed to load current context".
#[test]
fn check_config_fails_on_a_kubeconfig_or_context_the_run_would_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    support::write(
        &dir.path().join("gitops/apps/api/production/deploy.yaml"),
        "kind: List\n",
    );
    let config = |context: Option<&str>| {
        ConfigBuilder::new(dir.path())
            .gitops(|g| g.path("gitops"))
            .environment("production", |e| {
                let e = e.paths(&["apps/*/production"]);
                match context {
                    Some(c) => e.context(c),
                    None => e,
                }
            })
            .write()
    };
    let check = |cfg: &std::path::Path, env: &[(&str, &str)]| {
        driftwatch(dir.path(), &["check-config", "-c", cfg.to_str().unwrap()], env)
    };
    // HOME is the temp dir: no ~/.kube/config.
    let cfg = config(None);
    let out = check(&cfg, &[]);
    let default = dir.path().join(".kube/config");
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("environments[0].cluster.kubeconfig: not set, and the default")
            && out.stderr.contains(&format!("{} does not exist", default.display())),
        "{}",
        out.stderr
    );
    let listed = dir.path().join("elsewhere.yaml");
    let out = check(&cfg, &[("KUBECONFIG", listed.to_str().unwrap())]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("KUBECONFIG names {}, which does not exist", listed.display())),
        "{}",
        out.stderr
    );

    support::write(&default, &kubeconfig_with(&["staging", "dev"]));
    assert_eq!(check(&cfg, &[]).code, 0, "the current context is used");
    let out = check(&config(Some("prod")), &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let want = format!(
        "environments[0].cluster.context: \"prod\" is not a context in {} (it has staging, dev)",
        default.display()
    );
    assert!(out.stderr.contains(&want), "{want}\n{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(check(&config(Some("dev")), &[]).code, 0);

    // Through $KUBECONFIG (files merged, as kube reads them) and a named file alike.
    support::write(&listed, &kubeconfig_with(&["prod"]));
    let both = format!("{}:{}", default.display(), listed.display());
    let out = check(&config(Some("prod")), &[("KUBECONFIG", &both)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let named = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).kubeconfig(&default).context("prod")
        })
        .write();
    let out = check(&named, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("\"prod\" is not a context in"), "{}", out.stderr);
}

/// An unknown key does not hide the wrong values behind it: one run names them all, in
/// `check-config` and in the audit alike.
#[test]
fn an_unknown_key_hides_no_other_problem() {
    let dir = tempfile::tempdir().unwrap();
    support::write(
        &dir.path().join("gitops/apps/api/production/deploy.yaml"),
        "kind: List\n",
    );
    support::write(&dir.path().join("c.json"), "{\"kind\": \"List\", \"items\": []}");
    let cfg = dir.path().join("driftwatch.toml");
    support::write(
        &cfg,
        "[gitops]\npath = \"gitops\"\n[audit]\nfial_on = \"info\"\nrollout_grace = \"soon\"\n\
         [[environments]]\nname = \"production\"\npaths = [\"apps/*/production\"]\nrenderer = \"kustomise\"\n\
         [environments.cluster]\nsnapshot = \"c.json\"\nnamepsaces = [\"shop\"]\n",
    );
    let cfg = cfg.to_str().unwrap();
    for args in [&["check-config", "-c", cfg][..], &["--once", "-c", cfg]] {
        let out = driftwatch(dir.path(), args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        for want in [
            "unknown key `fial_on`",
            "unknown key `namepsaces`, expected one of `name`, `kubeconfig`, `context`, `in_cluster`, `snapshot`, `namespaces` for key `environments[0].cluster`",
            "environments[0].renderer: \"kustomise\"",
            "audit.rollout_grace: \"soon\"",
        ] {
            assert!(
                errors.iter().any(|l| l.contains(want) && l.contains("driftwatch.toml")),
                "{args:?}: {want}: {}",
                out.stderr
            );
        }
        assert_eq!(errors.len(), 4, "{args:?}: one line each: {}", out.stderr);
    }
}
