//! The command line as a user meets it: the bundled demo, exit codes, formats, config errors,
//! malformed manifests and snapshots, `check-config`.

use std::path::{Path, PathBuf};

use support::config::{Audit, ConfigBuilder};
use support::fixtures::{deployment_yaml, one_drift};
use support::run::{driftwatch, finding, findings};
use support::write;

use crate::repo_root;

#[test]
fn the_bundled_demo_finds_the_drift_it_ships_with() {
    let out = driftwatch(
        repo_root(),
        &["--once", "--config", "config/demo.toml", "--format", "json"],
        &[],
    );
    assert_eq!(out.code, 1, "the demo holds drift\n{}", out.stderr);
    let report = out.json();
    assert_eq!(report["schema"], "driftwatch.report/v1");
    assert_eq!(
        findings(&report),
        vec![
            finding("unpinned", "payments/settlement", "settlement"),
            finding("spec-drift", "shop/api", "api"),
            finding("mixed-rollout", "payments/ledger", "ledger"),
            finding("undeclared", "shop/debug-shell", ""),
            finding("missing", "shop/recommendations", ""),
            finding("unverifiable", "shop/web", "web"),
        ]
    );
    assert_eq!(
        report["summary"],
        serde_json::json!({"findings": 6, "critical": 2, "warning": 3, "info": 1, "errors": 0, "incomplete": 0, "ignored": 0})
    );
    let envs: Vec<(&str, &str)> = report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(envs, vec![("production", "ok"), ("staging", "ok")]);
    let spec = &report["findings"][1];
    assert!(
        spec["message"]
            .as_str()
            .unwrap()
            .contains("registry.example.com/shop/api:hotfix-1"),
        "{spec}"
    );
    assert_eq!(
        spec["running"][0]["pods"], 3,
        "the injected istio-proxy sidecar is not counted or reported"
    );
    assert_eq!(spec["live_image"], "registry.example.com/shop/api:hotfix-1");
    assert_eq!(
        report["findings"][3]["live_image"],
        "docker.io/nicolaka/netshoot@sha256:fb71754ad0875927bf6b9aa593734dd442100f950a1662d690bb251f12f3e4d3",
        "undeclared: the running image reference"
    );
    assert_eq!(
        report["findings"][4]["live_image"],
        serde_json::Value::Null,
        "missing: no live workload"
    );
}

/// The demo's text report fits a 120-column terminal; `--wide` keeps the full digests.
#[test]
fn the_demo_text_fits_120_columns_and_wide_keeps_full_digests() {
    let run = |extra: &[&str]| {
        let mut args = vec!["--once", "--config", "config/demo.toml"];
        args.extend(extra);
        driftwatch(repo_root(), &args, &[])
    };
    let text = run(&[]);
    assert_eq!(text.code, 1, "{}", text.stderr);
    for line in text.stdout.lines() {
        assert!(line.chars().count() <= 120, "{} columns: {line}", line.chars().count());
    }
    assert!(
        text.stdout.contains("live spec registry.example.com/shop/api:hotfix-1"),
        "{}",
        text.stdout
    );
    let wide = run(&["--wide"]);
    assert_eq!(wide.code, 1, "{}", wide.stderr);
    let full = "sha256:fd7c66b053ab";
    let full_line = wide
        .stdout
        .lines()
        .find(|l| l.contains("spec-drift"))
        .unwrap_or_else(|| panic!("{}", wide.stdout));
    assert!(
        full_line.contains(
            "registry.example.com/shop/api@sha256:10856c3ed444d4a3c3a9bfa773d85de0cf95db36bc91ea938e6da69c18a9d483"
        ),
        "{full_line}"
    );
    let running = full_line.split(full).nth(1).expect("running digest shown");
    assert!(running.len() > 52, "the whole 64-hex digest: {full_line}");
}

#[test]
fn exit_codes_follow_fail_on_and_the_environment_filter() {
    let run = |args: &[&str]| {
        let mut all = vec!["--once", "--config", "config/demo.toml"];
        all.extend(args);
        driftwatch(repo_root(), &all, &[])
    };
    assert_eq!(run(&["--env", "staging"]).code, 0, "staging is clean");
    assert_eq!(
        run(&["--fail-on", "critical"]).code,
        1,
        "production has critical findings"
    );
    assert_eq!(run(&["--env", "production", "--fail-on", "critical"]).code, 1);
    let unknown = run(&["--env", "prod"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("unknown environment prod (configured: production, staging)"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn text_and_markdown_reports() {
    let text = driftwatch(repo_root(), &["--once", "--config", "config/demo.toml"], &[]);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].starts_with("SEVERITY  TYPE"), "{}", text.stdout);
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("6 findings (2 critical, 3 warning, 1 info) in 2 environments"),
        "{}",
        text.stdout
    );
    let md = driftwatch(
        repo_root(),
        &["--once", "--config", "config/demo.toml", "--format", "markdown"],
        &[],
    );
    assert!(md.stdout.starts_with("## 🔴 driftwatch: 6 findings"), "{}", md.stdout);
    assert!(
        md.stdout
            .contains("| critical | `spec-drift` | production | `shop/Deployment/api` |"),
        "{}",
        md.stdout
    );
}

/// One drift (shop/api) and a config over it, with `[audit]` as `audit` sets it.
fn minimal(dir: &Path, audit: impl FnOnce(Audit) -> Audit) -> PathBuf {
    one_drift(dir);
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .audit(audit)
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        })
        .write()
}

#[test]
fn config_errors_exit_2_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal(dir.path(), |a| a.other("fail_onn", "critical"));
    let out = driftwatch(dir.path(), &["--once", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("driftwatch.toml") && out.stderr.contains("fail_onn"),
        "{}",
        out.stderr
    );

    let out = driftwatch(dir.path(), &["check-config", "--config", "missing.toml"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("missing.toml: cannot read"), "{}", out.stderr);

    let cfg = minimal(dir.path(), |a| a);
    let out = driftwatch(
        dir.path(),
        &["--once", "--config", cfg.to_str().unwrap()],
        &[("DRIFTWATCH__AUDIT__ROLLOUT_GRACE", "soon")],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("audit.rollout_grace") && out.stderr.contains("soon"),
        "{}",
        out.stderr
    );
}

#[test]
fn cli_flags_beat_environment_variables_which_beat_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal(dir.path(), |a| a.fail_on("warning"));
    let cfg = cfg.to_str().unwrap();
    let env = [("DRIFTWATCH__AUDIT__FAIL_ON", "info")];
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg], &[]);
    assert!(out.stdout.contains("fail_on warning"), "file: {}", out.stdout);
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg], &env);
    assert!(
        out.stdout.contains("fail_on info"),
        "environment beats file: {}",
        out.stdout
    );
    let out = driftwatch(
        dir.path(),
        &["check-config", "--config", cfg, "--fail-on", "critical"],
        &env,
    );
    assert!(
        out.stdout.contains("fail_on critical"),
        "CLI beats environment: {}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn malformed_yaml_is_a_finding_and_the_rest_is_still_audited() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal(dir.path(), |a| a);
    write(
        &dir.path().join("gitops/apps/broken/production/deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  labels: [unclosed\n",
    );
    write(
        &dir.path().join("gitops/apps/badimage/production/deploy.yaml"),
        &deployment_yaml("badimage", "shop", "Registry.Example.com/Shop:1"),
    );
    let out = driftwatch(
        dir.path(),
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    );
    // Exit 2, not 1 (issue 8): a file that failed to parse leaves the declared state
    // incomplete, so `undeclared` was not judged and the gate must not pass.
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![
            finding("digest-drift", "shop/api", "api"),
            finding("invalid-manifest", "/", ""),
            finding("missing", "shop/badimage", ""),
            finding("invalid-manifest", "shop/badimage", "badimage"),
        ]
    );
    let msg = report["findings"][1]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("apps/broken/production/deploy.yaml: document 1:") && msg.contains("line"),
        "{msg}"
    );
    let msg = report["findings"][3]["message"].as_str().unwrap();
    assert!(msg.contains("Registry.Example.com/Shop:1"), "{msg}");
}

#[test]
fn a_corrupt_snapshot_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal(dir.path(), |a| a);
    write(&dir.path().join("cluster.json"), "{\"kind\": \"List\", \"items\": [");
    let out = driftwatch(dir.path(), &["--once", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("error: environment production: snapshot") && out.stdout.contains("cluster.json"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_config_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::at(&dir.path().join("c.toml"))
        .gitops(|g| {
            g.url("https://git.example.com/org/infra.git")
                .token_env("GITOPS_TOKEN")
                .cache_dir("cache")
        })
        .environment("production", |e| e.paths(&["apps/*/production"]).in_cluster(true))
        .write();
    let out = driftwatch(
        dir.path(),
        &["check-config", "--config", cfg.to_str().unwrap()],
        &[("GITOPS_TOKEN", "ghp_supersecret")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("token set"), "{}", out.stdout);
    assert!(!out.stdout.contains("ghp_supersecret") && !out.stderr.contains("ghp_supersecret"));

    let out = driftwatch(dir.path(), &["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("gitops.token_env: environment variable GITOPS_TOKEN is not set"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_commented_example_config_is_valid() {
    let cfg = repo_root().join("config/driftwatch.example.toml");
    let secrets = [
        ("GITOPS_TOKEN", "t"),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/secret"),
        ("SMTP_PASSWORD", "p"),
        ("DRIFT_HOOK_TOKEN", "b"),
        ("DRIFT_HOOK_SECRET", "h"),
        ("REG_USER", "u"),
        ("REG_PASSWORD", "registry-password"),
    ];
    let out = driftwatch(
        repo_root(),
        &["check-config", "--config", cfg.to_str().unwrap()],
        &secrets,
    );
    // The example names the kubeconfig a real host has: here the only problem is that it does
    // not exist, and what the config resolves to is still printed.
    assert_eq!(out.code, 2, "{}", out.stderr);
    for line in out.stderr.lines() {
        assert!(
            line.ends_with("/etc/driftwatch/kubeconfig does not exist"),
            "{}",
            out.stderr
        );
    }
    assert!(
        out.stdout.contains("environment production:") && out.stdout.contains("environment staging:"),
        "{}",
        out.stdout
    );
    for channel in [
        "channel oncall: slack",
        "channel email-1: email",
        "channel webhook-1: webhook",
        "channel alertmanager-1: alertmanager",
    ] {
        assert!(out.stdout.contains(channel), "{channel}: {}", out.stdout);
    }
    assert!(
        !out.stdout.contains("hooks.slack.com"),
        "the Slack webhook URL is a secret"
    );
}

#[test]
fn ignore_baseline_round_trip_expiry_and_a_broken_ignore_file() {
    let dir = tempfile::tempdir().unwrap();
    let demo = ["--once", "--config", "config/demo.toml", "--format", "json"];
    let report = driftwatch(repo_root(), &demo, &[]);
    write(&dir.path().join("report.json"), &report.stdout);
    let baseline = driftwatch(
        dir.path(),
        &[
            "ignore",
            "--from-report",
            "report.json",
            "--reason",
            "accepted at go-live",
        ],
        &[],
    );
    assert_eq!(baseline.code, 0, "{}", baseline.stderr);
    let ignore_file = dir.path().join("ignore.yaml");
    write(&ignore_file, &baseline.stdout);

    // Every finding accepted: exit 0, each listed under `ignored` with its reason.
    let with = |path: &Path| [("DRIFTWATCH__AUDIT__IGNORE_FILE", path.to_str().unwrap().to_string())];
    let env = with(&ignore_file);
    let out = driftwatch(repo_root(), &demo, &[(env[0].0, env[0].1.as_str())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = out.json();
    assert_eq!(r["findings"], serde_json::json!([]));
    assert_eq!(r["summary"]["ignored"], 6);
    assert_eq!(r["ignored"][0]["reason"], "accepted at go-live");
    assert_eq!(r["ignored"][0]["type"], "unpinned");

    // An expired rule hides nothing and is reported itself.
    let expired = dir.path().join("expired.yaml");
    write(
        &expired,
        "ignore:\n  - environment: production\n    workload: api\n    reason: hotfix until the next release\n    expires: 2020-01-31\n",
    );
    let env = with(&expired);
    let out = driftwatch(repo_root(), &demo, &[(env[0].0, env[0].1.as_str())]);
    assert_eq!(out.code, 1);
    let r = out.json();
    assert!(findings(&r).contains(&finding("spec-drift", "shop/api", "api")));
    let exp = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "expired-ignore")
        .expect("expired-ignore finding");
    assert_eq!(exp["severity"], "warning");
    assert!(
        exp["message"].as_str().unwrap().contains("expired on 2020-01-31"),
        "{exp}"
    );

    // A broken ignore file is an error naming it; nothing is ignored.
    let broken = dir.path().join("broken.yaml");
    write(&broken, "ignore:\n  - workload: api\n");
    let env = with(&broken);
    let out = driftwatch(repo_root(), &demo, &[(env[0].0, env[0].1.as_str())]);
    assert_eq!(out.code, 2);
    let r = out.json();
    assert!(
        r["environments"][0]["error"]
            .as_str()
            .unwrap()
            .contains("broken.yaml: missing field `reason`"),
        "{}",
        r["environments"][0]
    );
    assert_eq!(r["summary"]["findings"], 6, "nothing ignored");
}

#[test]
fn the_ignore_file_at_the_repository_root_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = minimal(dir.path(), |a| a);
    write(
        &dir.path().join("gitops/.driftwatch-ignore.yaml"),
        "ignore:\n  - workload: api\n    type: digest-drift\n    reason: canary on purpose\n",
    );
    let out = driftwatch(
        dir.path(),
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json()["ignored"][0]["reason"], "canary on purpose");
}

/// Each subcommand offers only its own flags; short flags; every old form still parses.
#[test]
fn each_subcommand_lists_only_its_own_flags() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let out = driftwatch(dir.path(), args, &[]);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        out.stdout
    };
    let ignore = help(&["ignore", "--help"]);
    assert!(
        !ignore.contains("--config") && !ignore.contains("--fail-on"),
        "{ignore}"
    );
    for sub in ["declared", "notify-test", "run"] {
        let text = help(&[sub, "--help"]);
        assert!(!text.contains("--fail-on"), "{sub}: {text}");
        assert!(text.contains("-c, --config <FILE>"), "{sub}: {text}");
    }
    let declared = help(&["declared", "--help"]);
    assert!(
        declared.contains("-e, --env <NAME>") && declared.contains("The environment to list"),
        "{declared}"
    );
    assert!(
        declared.contains("-o, --format <FORMAT>") && declared.contains("Output format"),
        "{declared}"
    );
    let top = help(&["--help"]);
    assert!(
        top.contains("-o, --format") && top.contains("-e, --env") && top.contains("--fail-on"),
        "{top}"
    );
    let out = driftwatch(
        dir.path(),
        &["ignore", "--config", "x.toml", "--from-report", "r.json"],
        &[],
    );
    assert_eq!(out.code, 2, "ignore has no --config: {}", out.stderr);
    assert!(out.stderr.contains("--config"), "{}", out.stderr);
}

#[test]
fn short_flags_and_every_old_form_work() {
    let cfg = "config/demo.toml";
    let run = |args: &[&str]| driftwatch(repo_root(), args, &[]);
    let short = run(&["--once", "-c", cfg, "-o", "json", "-e", "staging"]);
    assert_eq!(short.code, 0, "{}", short.stderr);
    assert_eq!(short.json()["environments"][0]["name"], "staging");
    let long = run(&["--once", "--config", cfg, "--format", "json", "--env", "staging"]);
    assert_eq!(long.json()["findings"], short.json()["findings"]);
    assert_eq!(long.json()["summary"], short.json()["summary"]);
    for args in [
        &["check-config", "--config", cfg][..],
        &["--config", cfg, "check-config"],
        &["-c", cfg, "check-config"],
        &["check-config", "-c", cfg, "--fail-on", "critical"],
        &["--config", cfg, "--fail-on", "critical", "check-config"],
        &["--config", cfg, "declared", "--env", "staging"],
        &["declared", "-c", cfg, "-e", "staging", "-o", "json"],
        &[
            "declared",
            "--config",
            cfg,
            "--env",
            "staging",
            "--format",
            "json",
            "--log-format",
            "json",
        ],
    ] {
        let out = run(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    let critical = run(&["check-config", "-c", cfg, "--fail-on", "critical"]);
    assert!(critical.stdout.contains("fail_on critical"), "{}", critical.stdout);
    let json = run(&["declared", "-c", cfg, "-e", "staging", "-o", "json"]);
    assert!(json.stdout.trim_start().starts_with('{'), "{}", json.stdout);
}

/// Two environments in config order: `staging` (clean api, an undeclared Deployment: a
/// warning) before `production` (api running another digest: critical).
fn warning_then_critical(dir: &Path) -> PathBuf {
    use support::fixtures::{D1, REPO, deployment, list, pod};
    one_drift(dir);
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    let (extra, extra_rs) = deployment("shop", "debug", &[("debug", &format!("{REPO}@{D1}"))], 1);
    write(&dir.join("staging.json"), &list(vec![d, rs, p, extra, extra_rs]));
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .state(|s| s.path("state/alerts.json"))
        .environment("staging", |e| e.paths(&["apps/*/production"]).snapshot("staging.json"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        })
        .write()
}

/// Findings are listed by severity first, critical before warning, as the README's JSON
/// table says, whatever the environment order (in the JSON and in the flat text table).
#[test]
fn findings_are_sorted_by_severity_before_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = warning_then_critical(dir.path());
    let out = driftwatch(dir.path(), &["--once", "-c", cfg.to_str().unwrap(), "-o", "json"], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    let seen: Vec<(&str, &str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap();
            (s("severity"), s("environment"), s("type"))
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("critical", "production", "digest-drift"),
            ("warning", "staging", "undeclared"),
        ]
    );
    let text = driftwatch(dir.path(), &["--once", "-c", cfg.to_str().unwrap()], &[]);
    let digest = text
        .stdout
        .find("digest-drift")
        .unwrap_or_else(|| panic!("{}", text.stdout));
    let undeclared = text
        .stdout
        .find("undeclared")
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(digest < undeclared, "{}", text.stdout);
}

/// `driftwatch audit` is `--once`: the same flags (after it, or before it), the same report
/// and the same exit codes.
#[test]
fn audit_is_once_by_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = warning_then_critical(dir.path());
    let cfg = cfg.to_str().unwrap();
    let run = |args: &[&str]| driftwatch(dir.path(), args, &[]);
    let once = run(&["--once", "-c", cfg, "-o", "json"]);
    for args in [
        &["audit", "-c", cfg, "-o", "json"][..],
        &["-c", cfg, "audit", "--format", "json"],
        &["--config", cfg, "-o", "json", "audit"],
    ] {
        let audit = run(args);
        assert_eq!(audit.code, once.code, "{args:?}: {}", audit.stderr);
        assert_eq!(audit.json()["findings"], once.json()["findings"], "{args:?}");
        assert_eq!(audit.json()["summary"], once.json()["summary"], "{args:?}");
    }
    assert_eq!(once.code, 1);
    // --env and --fail-on, as with --once.
    assert_eq!(
        run(&["audit", "-c", cfg, "-e", "staging"]).code,
        1,
        "a warning fails by default"
    );
    assert_eq!(
        run(&["audit", "-c", cfg, "-e", "staging", "--fail-on", "critical"]).code,
        0
    );
    assert_eq!(
        run(&["--fail-on", "critical", "audit", "-c", cfg, "-e", "staging"]).code,
        0
    );
    assert_eq!(
        run(&[
            "-e",
            "staging",
            "audit",
            "-c",
            cfg,
            "-e",
            "production",
            "--fail-on",
            "critical"
        ])
        .code,
        1
    );
    let unknown = run(&["audit", "-c", cfg, "-e", "prod"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("unknown environment prod"),
        "{}",
        unknown.stderr
    );
    let text = run(&["audit", "-c", cfg, "--wide"]);
    assert_eq!(text.stdout, run(&["--once", "-c", cfg, "--wide"]).stdout);
    // --notify keeps alert state and history, as --once --notify does.
    let notify = run(&["audit", "--notify", "-c", cfg]);
    assert_eq!(notify.code, 1, "{}", notify.stderr);
    assert!(
        notify.stderr.contains("no alert channels are configured"),
        "{}",
        notify.stderr
    );
    assert!(dir.path().join("state/driftwatch.db").exists(), "the store is used");
    let help = run(&["audit", "--help"]);
    for flag in ["--format", "--env", "--fail-on", "--wide", "--notify", "--config"] {
        assert!(help.stdout.contains(flag), "{flag}: {}", help.stdout);
    }
}
