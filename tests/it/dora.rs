//! DORA end to end with the real binary: a real git history with commit times set by the test,
//! cluster snapshots that move through a promotion, a rollback by hand and its revert in git,
//! `--once --notify` runs recording them in the store, and `driftwatch dora` reading it back
//! (observed) or estimating from git alone (`--from-git`). The daemon serves the same JSON at
//! `/api/dora` and the figures as gauges.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use support::config::ConfigBuilder;
use support::daemon::Daemon;
use support::fixtures::{D1, D2, D3, REPO, deployment, deployment_yaml, list, pod};
use support::net::wait_until;
use support::run::{Output, driftwatch};
use support::write;

/// Commits `files` in `repo` with author and committer time `at`.
fn commit_at(repo: &Path, files: &[(&str, &str)], message: &str, at: DateTime<Utc>) -> String {
    for (path, text) in files {
        write(&repo.join(path), text);
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("GIT_AUTHOR_DATE", at.to_rfc3339())
            .env("GIT_COMMITTER_DATE", at.to_rfc3339())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", message]);
    git(&["rev-parse", "HEAD"])
}

fn api(env: &str, digest: &str) -> (String, String) {
    (
        format!("apps/api/{env}/deploy.yaml"),
        deployment_yaml("api", "shop", &format!("{REPO}@{digest}")),
    )
}

/// `name.json`: shop/api whose spec names `spec` and whose Pod runs `runs`.
fn cluster(dir: &Path, name: &str, spec: &str, runs: &str) {
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{spec}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{runs}"))]);
    write(&dir.join(format!("{name}.json")), &list(vec![d, rs, p]));
}

/// dev and production (promoted from dev), each a snapshot cluster, git in `gitops/`.
fn builder(dir: &Path) -> ConfigBuilder {
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .environment("dev", |e| {
            e.paths(&["apps/*/dev"]).cluster_name("dev").snapshot("dev.json")
        })
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod")
                .snapshot("production.json")
                .promoted_from("dev")
        })
}

struct History {
    dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    /// Commit times: dev and production at D1, dev at D2, production at D2, the revert.
    t: [DateTime<Utc>; 4],
}

/// dev and production declare D1 (3 days ago); dev gets D2 (2 days ago). [`History::promote`]
/// gives production D2 (1 day ago), [`History::revert`] reverts it (12 hours ago).
fn history(now: DateTime<Utc>) -> History {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("gitops");
    std::fs::create_dir_all(&repo).unwrap();
    let out = Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    let t = [
        now - Duration::days(3),
        now - Duration::days(2),
        now - Duration::days(1),
        now - Duration::hours(12),
    ];
    let files = |pairs: &[(String, String)]| pairs.to_vec();
    let c = |pairs: Vec<(String, String)>, msg: &str, at| {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        commit_at(&repo, &refs, msg, at)
    };
    c(files(&[api("dev", D1), api("production", D1)]), "api 1", t[0]);
    c(files(&[api("dev", D2)]), "dev: api 2", t[1]);
    cluster(dir.path(), "dev", D2, D2);
    cluster(dir.path(), "production", D1, D1);
    let cfg = builder(dir.path()).write();
    History { dir, cfg, t }
}

impl History {
    fn run(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--config", self.cfg.to_str().unwrap()]);
        driftwatch(self.dir.path(), &all, &[])
    }

    fn dora(&self, args: &[&str]) -> Value {
        let mut all = vec!["dora", "--format", "json"];
        all.extend(args);
        let out = self.run(&all);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()
    }

    fn promote(&self) {
        let (path, text) = api("production", D2);
        commit_at(
            &self.dir.path().join("gitops"),
            &[(&path, &text)],
            "production: api 2",
            self.t[2],
        );
    }

    fn revert(&self) {
        let (path, text) = api("production", D1);
        commit_at(
            &self.dir.path().join("gitops"),
            &[(&path, &text)],
            "Revert \"production: api 2\"\n\nThis reverts commit 0000000.",
            self.t[3],
        );
    }
}

fn env<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

fn secs(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not seconds: {v}"))
}

#[test]
fn observed_deployments_give_lead_time_stages_and_a_failed_change_restored() {
    let started = Utc::now();
    let h = history(started);
    // The first audit is the baseline: production runs D1, deployed before driftwatch looked.
    assert_eq!(h.run(&["--once", "--notify"]).code, 0);
    let report = h.dora(&[]);
    assert_eq!(report["schema"], "driftwatch.dora/v1");
    assert_eq!(report["source"], "observed");
    assert_eq!(env(&report, "production")["deployments"], 0, "{report:#}");

    // Production is promoted to D2 and the cluster follows.
    h.promote();
    cluster(h.dir.path(), "production", D2, D2);
    let before = Utc::now();
    assert_eq!(h.run(&["--once", "--notify"]).code, 0);
    let after = Utc::now();
    let report = h.dora(&["--env", "production"]);
    assert_eq!(report["environments"].as_array().unwrap().len(), 1, "--env picks one");
    let prod = env(&report, "production");
    assert_eq!(prod["deployments"], 1, "{prod:#}");
    // Lead time: from dev's commit of D2 to the audit that saw every Pod on it.
    let lead = secs(&prod["lead_time_seconds"]["median"]);
    let (lo, hi) = ((before - h.t[1]).num_seconds(), (after - h.t[1]).num_seconds() + 1);
    assert!((lo..=hi).contains(&lead), "lead {lead} not in {lo}..={hi}");
    assert_eq!(prod["lead_time_seconds"]["samples"], 1);
    let stages = prod["stages"].as_array().unwrap();
    assert_eq!(
        (stages[0]["from"].as_str(), stages[0]["to"].as_str()),
        (Some("dev"), Some("production"))
    );
    assert_eq!(
        secs(&stages[0]["median"]),
        86_400,
        "dev → production: the commits a day apart"
    );
    assert_eq!(stages.last().unwrap()["to"], "rollout");
    assert_eq!(prod["change_failure_rate"], 0.0);
    assert_eq!(prod["bands"]["lead_time"], "high", "2 days: between a day and a week");

    // A hand rollback to D1 in production: a failed change, not yet restored (git still says D2).
    cluster(h.dir.path(), "production", D1, D1);
    assert_eq!(h.run(&["--once", "--notify"]).code, 1, "spec-drift");
    let prod = env(&h.dora(&[]), "production").clone();
    assert_eq!(prod["deployments"], 2, "the rollback is a deployment too: {prod:#}");
    assert_eq!(prod["failed_deployments"], 1);
    assert_eq!(prod["change_failure_rate"], 0.5);
    assert_eq!(prod["failures"][0]["reason"], "rollback");
    assert_eq!(
        prod["unrestored_failures"], 1,
        "the hand rollback is drift until git agrees"
    );
    assert_eq!(prod["time_to_restore_seconds"]["samples"], 0);

    // Git reverts to D1: the drift resolves, the failure is restored.
    h.revert();
    assert_eq!(h.run(&["--once", "--notify"]).code, 0);
    let prod = env(&h.dora(&[]), "production").clone();
    assert_eq!(prod["unrestored_failures"], 0, "{prod:#}");
    assert_eq!(prod["time_to_restore_seconds"]["samples"], 1);
    assert_eq!(prod["drift_time_to_restore_seconds"]["spec-drift"]["samples"], 1);
    let text = h.run(&["dora", "--env", "production"]).stdout;
    assert!(
        text.contains("production") && text.contains("too few for a trend"),
        "{text}"
    );
    let md = h.run(&["dora", "--format", "markdown"]).stdout;
    assert!(md.contains("| Metric |") && md.contains("production"), "{md}");
}

#[test]
fn from_git_estimates_promotions_lead_time_and_reverts_from_history_alone() {
    let h = history(Utc::now());
    h.promote();
    h.revert();
    // From 60 hours ago: the promotion and the revert, not the first commit (3 days ago).
    let report = h.dora(&["--from-git", "--since", "60h"]);
    assert_eq!(report["source"], "git");
    let prod = env(&report, "production");
    // D2 promoted a day ago, reverted to D1 twelve hours ago.
    assert_eq!(prod["deployments"], 2, "{prod:#}");
    // Lead time from commit times alone: D2 from dev (2 days ago) to production (1 day ago).
    // The revert brings back what was delivered before: a deployment, not a change.
    assert_eq!(secs(&prod["lead_time_seconds"]["median"]), 86_400);
    assert_eq!(prod["lead_time_seconds"]["samples"], 1);
    assert_eq!(prod["failed_deployments"], 1, "D2 was reverted within 24h");
    assert_eq!(prod["change_failure_rate"], 0.5);
    assert!(
        prod["stages"].as_array().unwrap().iter().all(|s| s["to"] != "rollout"),
        "git knows no rollout"
    );
    let dev = env(&report, "dev");
    assert_eq!(dev["deployments"], 1, "dev's D2 two days ago: {dev:#}");
    let text = h.run(&["dora", "--from-git", "--since", "60h"]).stdout;
    assert!(text.contains("declared-side estimate"), "{text}");
}

#[test]
fn the_daemon_serves_dora_and_exports_it_as_gauges() {
    let h = history(Utc::now());
    h.promote();
    let cfg = builder(h.dir.path()).schedule(|s| s.cron("0 0 3 1 1 *").run_on_start(true));
    let d = Daemon::start(h.dir.path(), &cfg, &[]);
    wait_until(20, "the first audit", || {
        d.metric("driftwatch_dora_samples{environment=\"production\",metric=\"deployments\"}")
    });
    // The first audit is the baseline: no deployment observed yet, so no rate (not a rate of 0).
    assert_eq!(
        d.metric("driftwatch_dora_deployments_per_week{environment=\"production\"}"),
        None,
        "no deployments is no data"
    );
    let (code, body) = d.get("/api/dora?env=production&since=7d");
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["schema"], "driftwatch.dora/v1");
    assert_eq!(report["environments"].as_array().unwrap().len(), 1);
    assert_eq!(d.get("/api/dora?env=nowhere").0, 400);
    assert_eq!(d.get("/api/dora?since=yesterday").0, 400);
}

/// shop/api at D1, D2, D3.
fn digests() -> [String; 3] {
    [D1, D2, D3].map(|d| format!("{REPO}@{d}"))
}

/// qa → staging → production in git: the root commit 100 days ago declares `v[0]` everywhere;
/// `v[1]` goes qa (7 days ago) → staging (6) → production (5); `v[2]` goes qa (3 days ago) →
/// production (2 days ago), skipping staging. Returns the config and the commits, oldest
/// first.
fn pipeline(dir: &Path, now: DateTime<Utc>, v: &[String; 3]) -> (std::path::PathBuf, Vec<String>) {
    let repo = dir.join("gitops");
    support::git::GitRepo::init(&repo);
    let app = |env: &str, image: &str| {
        (
            format!("apps/api/{env}/deploy.yaml"),
            deployment_yaml("api", "shop", image),
        )
    };
    // (days ago, files, message)
    type Step<'a> = (i64, Vec<(String, String)>, &'a str);
    let steps: Vec<Step> = vec![
        (
            100,
            vec![app("qa", &v[0]), app("staging", &v[0]), app("production", &v[0])],
            "api 1",
        ),
        (7, vec![app("qa", &v[1])], "qa: api 2"),
        (6, vec![app("staging", &v[1])], "staging: api 2"),
        (5, vec![app("production", &v[1])], "production: api 2"),
        (3, vec![app("qa", &v[2])], "qa: api 3"),
        (2, vec![app("production", &v[2])], "production: api 3, straight from qa"),
    ];
    let commits = steps
        .into_iter()
        .map(|(days, files, msg)| {
            let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            commit_at(&repo, &refs, msg, now - Duration::days(days))
        })
        .collect();
    let cfg = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .environment("qa", |e| e.paths(&["apps/*/qa"]).snapshot("qa.json"))
        .environment("staging", |e| {
            e.paths(&["apps/*/staging"])
                .snapshot("staging.json")
                .promoted_from("qa")
        })
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .snapshot("production.json")
                .promoted_from("staging")
        })
        .write();
    (cfg, commits)
}

fn dora_cli(dir: &Path, cfg: &Path, args: &[&str]) -> Output {
    let mut all = vec!["dora"];
    all.extend(args);
    all.extend(["--config", cfg.to_str().unwrap()]);
    let out = driftwatch(dir, &all, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

#[test]
fn from_git_lists_every_event_counted_and_a_skipped_stage_has_no_lead_time() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let (cfg, commits) = pipeline(dir.path(), now, &digests());
    let report = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "8d", "--format", "json"]).json();
    // Every event, oldest first, with the commit `git log` shows.
    let events: Vec<(String, String, String, String)> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("environment"), s("kind"), s("version"), s("commit"))
        })
        .collect();
    let ev = |env: &str, digest: &str, commit: &str| {
        (
            env.to_string(),
            "promotion".to_string(),
            digest.to_string(),
            commit.to_string(),
        )
    };
    assert_eq!(
        events,
        vec![
            ev("qa", D2, &commits[1]),
            ev("staging", D2, &commits[2]),
            ev("production", D2, &commits[3]),
            ev("qa", D3, &commits[4]),
            ev("production", D3, &commits[5]),
        ],
        "{report:#}"
    );
    let prod = env(&report, "production");
    assert_eq!(prod["deployments"], 2);
    // D2: qa (7 days ago) to production (5 days ago). D3 skipped staging: no lead time, not 0 s.
    assert_eq!(prod["lead_time_seconds"]["samples"], 1, "{prod:#}");
    assert_eq!(secs(&prod["lead_time_seconds"]["median"]), 2 * 86_400);
    assert_eq!(prod["skipped_stage_changes"], 1);
    let last = &report["events"][4];
    assert_eq!(last["lead_time_seconds"], Value::Null);
    assert_eq!(last["skipped"], serde_json::json!(["staging"]));
    let stages: Vec<(&str, &str, i64)> = prod["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["from"].as_str().unwrap(),
                s["to"].as_str().unwrap(),
                secs(&s["samples"]),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![("qa", "staging", 1), ("staging", "production", 1)],
        "no qa → production stage from the change that skipped staging"
    );

    let text = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "8d", "--explain"]).stdout;
    assert!(
        text.contains("1 change skipped a stage of the promotion chain (promotion-skipped): no lead time"),
        "{text}"
    );
    assert!(text.contains("1.75/week (2 deployments in 8 days)"), "{text}");
    assert!(text.contains("events counted (5):"), "{text}");
    let skipped_line = text
        .lines()
        .find(|l| l.contains(&commits[5][..12]))
        .unwrap_or_else(|| panic!("no event for {}: {text}", commits[5]));
    assert!(
        skipped_line.contains("production")
            && skipped_line.contains("promotion")
            && skipped_line.contains("skipped staging: no lead time"),
        "{skipped_line}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(&commits[3][..12]) && l.contains("lead time 2d")),
        "{text}"
    );
}

#[test]
fn since_all_shows_a_slow_rate_with_its_precision_and_no_deployments_is_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = pipeline(dir.path(), Utc::now(), &digests());
    // Everything since the root commit, 100 days ago: staging deployed twice (D1, D2).
    let all = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "all", "--format", "json"]).json();
    let staging = env(&all, "staging");
    assert_eq!(staging["deployments"], 2, "{all:#}");
    assert_eq!(staging["deployments_per_week"], 0.14, "not rounded to 0");
    assert_eq!(all["events"].as_array().unwrap().len(), 8);
    let text = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "all", "--env", "staging"]).stdout;
    assert!(text.contains("1 every 7.1 weeks (2 deployments in 100 days)"), "{text}");

    // The last day: nothing deployed anywhere. No rate and no band, in every format.
    let quiet = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "1d", "--format", "json"]).json();
    for e in quiet["environments"].as_array().unwrap() {
        assert_eq!(e["deployments"], 0);
        assert_eq!(e["bands"]["deployment_frequency"], Value::Null, "{e:#}");
    }
    assert_eq!(quiet["events"], serde_json::json!([]));
    let text = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "1d"]).stdout;
    assert!(text.contains("no data (no deployments in 1 day)"), "{text}");
    assert!(!text.contains("low"), "no band without data: {text}");
    let md = dora_cli(
        dir.path(),
        &cfg,
        &["--from-git", "--since", "1d", "--format", "markdown"],
    )
    .stdout;
    assert!(
        md.contains("| Deployment frequency | no data (no deployments in 1 day) | 0 |  |"),
        "{md}"
    );
}

#[test]
fn dora_on_a_store_without_audits_says_so_and_creates_nothing() {
    let h = history(Utc::now());
    let db = h.dir.path().join("driftwatch.db");
    assert!(!db.exists());
    let out = h.run(&["dora"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("no audits recorded yet"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("low") && !out.stdout.contains("/week"),
        "{}",
        out.stdout
    );
    assert!(!db.exists(), "dora does not create the store");
    let json = h.run(&["dora", "--format", "json"]);
    assert_eq!((json.code, json.stdout.as_str()), (0, ""), "no figures to print");
    assert!(json.stderr.contains("no audits recorded yet"), "{}", json.stderr);
    assert!(!db.exists());
    // Once an audit is recorded, figures (the baseline: no deployments, no data).
    assert_eq!(h.run(&["--once", "--notify"]).code, 0);
    assert!(db.exists(), "the audit created the store where dora looked");
    let out = h.run(&["dora", "--env", "production"]);
    assert!(
        out.stdout.contains("no data (no deployments in 30 days)"),
        "{}",
        out.stdout
    );
}

/// Each counted event of a JSON report as (environment, workload, container, version, commit).
fn event_rows(report: &Value) -> Vec<(String, String, String, String, String)> {
    let rows = report["events"].as_array().unwrap().iter().map(|e| {
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        (
            s("environment"),
            s("workload"),
            s("container"),
            s("version"),
            s("commit"),
        )
    });
    rows.collect()
}

#[test]
fn a_tag_change_is_a_deployment_of_its_workload_and_a_moving_tag_has_no_lineage_to_judge() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let tags = ["1.0", "1.1", "1.2"].map(|t| format!("{REPO}:{t}"));
    let (cfg, commits) = pipeline(dir.path(), now, &tags);
    // A second workload in production moves from a version to `latest`, yesterday.
    let repo = dir.path().join("gitops");
    let web = |tag: &str| deployment_yaml("web", "shop", &format!("registry.example.com/shop/web:{tag}"));
    commit_at(
        &repo,
        &[("apps/web/production/deploy.yaml", &web("2.0"))],
        "web 2.0",
        now - Duration::days(9),
    );
    let latest = commit_at(
        &repo,
        &[("apps/web/production/deploy.yaml", &web("latest"))],
        "web: latest",
        now - Duration::days(1),
    );
    let report = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "8d", "--format", "json"]).json();
    let events = event_rows(&report);
    let api = |env: &str, v: &str, commit: &str| {
        (
            env.into(),
            "shop/Deployment/api".into(),
            "api".into(),
            v.to_string(),
            commit.to_string(),
        )
    };
    assert_eq!(
        events,
        vec![
            api("qa", &tags[1], &commits[1]),
            api("staging", &tags[1], &commits[2]),
            api("production", &tags[1], &commits[3]),
            api("qa", &tags[2], &commits[4]),
            api("production", &tags[2], &commits[5]),
            (
                "production".into(),
                "shop/Deployment/web".into(),
                "web".into(),
                "registry.example.com/shop/web:latest".into(),
                latest
            ),
        ],
        "tag changes are deployments, named by the workload: {report:#}"
    );
    let prod = env(&report, "production");
    assert_eq!(prod["deployments"], 3);
    // 1.1 followed qa → staging → production: lead time from qa's commit, two days.
    assert_eq!(prod["lead_time_seconds"]["samples"], 1, "{prod:#}");
    assert_eq!(secs(&prod["lead_time_seconds"]["median"]), 2 * 86_400);
    // 1.2 skipped staging, as promotion-skipped would say; `latest` cannot be followed.
    assert_eq!(prod["skipped_stage_changes"], 1);
    assert_eq!(prod["unknown_lineage_changes"], 1);
    assert_eq!(report["events"][4]["skipped"], serde_json::json!(["staging"]));
    assert_eq!(report["events"][5]["unknown_lineage"], true);
    assert_eq!(report["events"][5]["lead_time_seconds"], Value::Null);

    let text = dora_cli(
        dir.path(),
        &cfg,
        &["--from-git", "--since", "8d", "--env", "production", "--explain"],
    )
    .stdout;
    assert!(
        text.contains("1 change of unknown lineage (a moving tag, or a tag and a digest to compare): no lead time"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("shop/Deployment/web web  promotion  registry.example.com/shop/web:latest (was registry.example.com/shop/web:2.0)")
            && l.contains("lineage cannot be judged")),
        "{text}"
    );
}

#[test]
fn an_observed_deployment_of_a_tagged_image_is_attributed_to_the_tag_commit() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let repo = dir.path().join("gitops");
    support::git::GitRepo::init(&repo);
    let tag = |t: &str| format!("{REPO}:{t}");
    let app = |env: &str, t: &str| {
        (
            format!("apps/api/{env}/deploy.yaml"),
            deployment_yaml("api", "shop", &tag(t)),
        )
    };
    let commit = |files: Vec<(String, String)>, msg: &str, at| {
        let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        commit_at(&repo, &refs, msg, at)
    };
    let (t0, t1, t2) = (
        now - Duration::days(3),
        now - Duration::days(2),
        now - Duration::days(1),
    );
    commit(vec![app("dev", "1.0"), app("production", "1.0")], "api 1.0", t0);
    commit(vec![app("dev", "1.1")], "dev: api 1.1", t1);
    // Each cluster's spec names the tag; its Pod runs the digest the tag resolved to.
    let cluster_at = |name: &str, t: &str, runs: &str| {
        let (d, rs) = deployment("shop", "api", &[("api", &tag(t))], 1);
        let p = pod(&rs, "a", &[("api", &format!("{REPO}@{runs}"))]);
        write(&dir.path().join(format!("{name}.json")), &list(vec![d, rs, p]));
    };
    cluster_at("dev", "1.1", D2);
    cluster_at("production", "1.0", D1);
    let cfg = builder(dir.path()).write();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", cfg.to_str().unwrap()]);
        driftwatch(dir.path(), &all, &[])
    };
    assert_ne!(run(&["--once", "--notify"]).code, 2, "the baseline");
    let promoted = commit(vec![app("production", "1.1")], "production: api 1.1", t2);
    cluster_at("production", "1.1", D2);
    let before = Utc::now();
    assert_ne!(run(&["--once", "--notify"]).code, 2);
    let out = run(&["dora", "--env", "production", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let prod = env(&report, "production");
    assert_eq!(prod["deployments"], 1, "{report:#}");
    let event = &report["events"][0];
    assert_eq!(event["version"], D2, "observed: the digest that runs");
    assert_eq!(
        event["commit"],
        promoted.as_str(),
        "the commit that declared the tag here"
    );
    // Lead time from dev's commit of the tag (2 days ago) to the audit that saw it run.
    let lead = secs(&prod["lead_time_seconds"]["median"]);
    let lo = (before - t1).num_seconds();
    assert!((lo..=lo + 120).contains(&lead), "lead {lead} from {lo}");
    assert_eq!(
        secs(&prod["stages"][0]["median"]),
        86_400,
        "dev → production, a day apart"
    );
}

const REG_USER: &str = "puller";
const REG_PASSWORD: &str = "dora-registry-pa55";

/// In `dir/gitops`: staging and production declare `host`'s shop/api:1.0 (10 days ago);
/// staging declares `digest` (3 days ago), production shop/api:1.1 (1 day ago). Returns that
/// tag reference and the commits, oldest first.
fn tag_and_digest_history(dir: &Path, host: &str, digest: &str, now: DateTime<Utc>) -> (String, Vec<String>) {
    let repo = dir.join("gitops");
    support::git::GitRepo::init(&repo);
    let app = |env: &str, image: String| {
        (
            format!("apps/api/{env}/deploy.yaml"),
            deployment_yaml("api", "shop", &image),
        )
    };
    let tagged = format!("{host}/shop/api:1.1");
    let steps = [
        (
            10,
            vec![
                app("staging", format!("{host}/shop/api:1.0")),
                app("production", format!("{host}/shop/api:1.0")),
            ],
        ),
        (3, vec![app("staging", format!("{host}/shop/api@{digest}"))]),
        (1, vec![app("production", tagged.clone())]),
    ];
    let commits = steps
        .iter()
        .map(|(days, files)| {
            let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            commit_at(&repo, &refs, "api", now - Duration::days(*days))
        })
        .collect();
    (tagged, commits)
}

/// staging → production, with `host` in `[[registries]]` when `registry`.
fn tag_config(dir: &Path, host: &str, registry: bool) -> std::path::PathBuf {
    let mut b = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .environment("staging", |e| e.paths(&["apps/*/staging"]).snapshot("staging.json"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .snapshot("production.json")
                .promoted_from("staging")
        });
    if registry {
        b = b.registry(|r| {
            r.host(host)
                .insecure(true)
                .backoff("10ms")
                .max_attempts(2)
                .timeout("3s")
                .username_env("REG_USER")
                .password_env("REG_PASSWORD")
        });
    }
    let path = dir.join(format!("driftwatch-{registry}.toml"));
    b.write_to(&path);
    path
}

/// staging declares an image by digest (3 days ago), production by a tag pointing to it in a
/// real registry (1 day ago). With the registry in `[[registries]]`, `dora --from-git`
/// resolves the tag and production's change has a lead time from staging's commit; without
/// it, or with the registry down, the change is of unknown lineage and the event says why.
#[test]
fn a_tag_resolved_through_the_registry_has_the_lead_time_of_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let mut registry = support::registry::OciRegistry::start(dir.path(), REG_USER, REG_PASSWORD);
    let host = registry.host();
    let (digest, _) = registry.push_image("shop/api", "1.1", "amd64", "api-1.1");
    let (tagged, commits) = tag_and_digest_history(dir.path(), &host, &digest, now);
    // Production's change: its lead time and why it has none.
    let production = |cfg: &Path| {
        let out = driftwatch(
            dir.path(),
            &[
                "dora",
                "--from-git",
                "--since",
                "8d",
                "--format",
                "json",
                "--config",
                cfg.to_str().unwrap(),
            ],
            &[("REG_USER", REG_USER), ("REG_PASSWORD", REG_PASSWORD)],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = out.json();
        let event = report["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["environment"] == "production")
            .cloned()
            .unwrap_or_else(|| panic!("production's change: {report:#}"));
        assert_eq!(
            (event["version"].as_str(), event["commit"].as_str()),
            (Some(tagged.as_str()), Some(commits[2].as_str()))
        );
        (
            event["lead_time_seconds"].clone(),
            event["unknown_lineage_reason"].clone(),
        )
    };

    assert_eq!(
        production(&tag_config(dir.path(), &host, true)),
        (serde_json::json!(2 * 86_400), Value::Null),
        "from staging's commit, by digest"
    );

    let (lead, why) = production(&tag_config(dir.path(), &host, false));
    assert_eq!(lead, Value::Null);
    assert!(why.as_str().unwrap().contains("no registry configured"), "{why}");

    registry.stop();
    let (lead, why) = production(&tag_config(dir.path(), &host, true));
    assert_eq!(lead, Value::Null);
    assert!(why.as_str().unwrap().contains("registry unreachable"), "{why}");
}

/// Helm environments in git: one chart directory, a values file per environment naming the
/// digest (the image reference is whole only once rendered): the root commit 100 days ago
/// declares D1 everywhere; D2 goes qa (7 days ago) → staging (6) → production (5).
#[test]
fn from_git_renders_helm_releases_at_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let repo = dir.path().join("gitops");
    support::git::GitRepo::init(&repo);
    let values = |env: &str, digest: &str| (format!("envs/{env}.yaml"), format!("image:\n  digest: {digest}\n"));
    let chart = [
        ("charts/api/Chart.yaml".to_string(), "apiVersion: v2\nname: api\nversion: 1.0.0\n".to_string()),
        (
            "charts/api/values.yaml".to_string(),
            format!("image:\n  repository: {REPO}\n  digest: \"\"\n"),
        ),
        (
            "charts/api/templates/deployment.yaml".to_string(),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: {{ .Release.Namespace }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: \"{{ .Values.image.repository }}@{{ .Values.image.digest }}\"\n".to_string(),
        ),
    ];
    type Step = (i64, Vec<(String, String)>, &'static str);
    let mut root: Vec<(String, String)> = chart.to_vec();
    root.extend(["qa", "staging", "production"].map(|e| values(e, D1)));
    let steps: Vec<Step> = vec![
        (100, root, "api 1"),
        (7, vec![values("qa", D2)], "qa: api 2"),
        (6, vec![values("staging", D2)], "staging: api 2"),
        (5, vec![values("production", D2)], "production: api 2"),
    ];
    let commits: Vec<String> = steps
        .into_iter()
        .map(|(days, files, msg)| {
            let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            commit_at(&repo, &refs, msg, now - Duration::days(days))
        })
        .collect();
    let helm = |e: support::config::Environment, name: &str| {
        e.renderer("helm").snapshot(format!("{name}.json")).release("api", |r| {
            r.namespace("shop")
                .chart("charts/api")
                .values_files(&[&format!("envs/{name}.yaml")])
        })
    };
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .environment("qa", |e| helm(e, "qa"))
        .environment("staging", |e| helm(e, "staging").promoted_from("qa"))
        .environment("production", |e| helm(e, "production").promoted_from("staging"))
        .write();

    let report = dora_cli(dir.path(), &cfg, &["--from-git", "--since", "8d", "--format", "json"]).json();
    let events: Vec<(String, String, String)> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("environment"), s("version"), s("commit"))
        })
        .collect();
    let ev = |env: &str, commit: &str| (env.to_string(), D2.to_string(), commit.to_string());
    assert_eq!(
        events,
        vec![
            ev("qa", &commits[1]),
            ev("staging", &commits[2]),
            ev("production", &commits[3])
        ],
        "{report:#}"
    );
    let prod = env(&report, "production");
    assert_eq!(prod["deployments"], 1);
    assert_eq!(
        secs(&prod["lead_time_seconds"]["median"]),
        2 * 86_400,
        "qa's commit to production's: {prod:#}"
    );
    assert_eq!(prod["skipped_stage_changes"], 0);
}
