//! Git changes reach the daemon quickly: `POST /hooks/git` (GitHub, GitLab and Gitea push
//! webhooks) and `[gitops] poll_interval`. The daemon runs in-process (`daemon::run`) against a
//! real git repository (file://, and `git daemon` over git://) and a cluster snapshot; the test
//! commits, calls the hook as a git host would, and polls `/report` and `/metrics` with a
//! deadline. The cron never fires during a test, so only a hook or a poll explains a new audit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::config::{ConfigBuilder, Gitops};
use support::fixtures::{D1, D2, REPO, deployment, deployment_yaml, list, pod};
use support::git::{GitDaemon, GitRepo};
use support::net::wait_until_async;
use support::run::driftwatch;
use support::write;

use crate::NEVER;
use crate::inprocess::{self, capture_logs};

const SECRET: &str = "hook-s3cret-value";
const SECRET_VAR: &str = "DRIFTWATCH_HOOK_SECRET";
const MANIFEST: &str = "apps/api/production/deploy.yaml";
const ACCEPTED: &str = "driftwatch_git_webhook_requests_total{result=\"accepted\"}";
const UNAUTHORIZED: &str = "driftwatch_git_webhook_requests_total{result=\"unauthorized\"}";
const IGNORED: &str = "driftwatch_git_webhook_requests_total{result=\"ignored\"}";
const AUDITS_OK: &str = "driftwatch_audits_total{result=\"ok\"}";

/// A repository at `dir/served/infra` declaring shop/api at D1 on `main`, and a snapshot in
/// which the cluster runs it; the first commit.
fn repository(dir: &Path) -> (GitRepo, String) {
    let repo = GitRepo::init(&dir.join("served/infra"));
    let first = repo.commit(&[(MANIFEST, &manifest(D1))], "api at D1");
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    write(&dir.join("cluster.json"), &list(vec![d, rs, p]));
    (repo, first)
}

fn manifest(digest: &str) -> String {
    deployment_yaml("api", "shop", &format!("{REPO}@{digest}"))
}

/// The config: `url` on branch main, audited once at start and then never by the schedule,
/// with `[gitops]` as `gitops` sets it further.
fn config(dir: &Path, url: &str, gitops: impl FnOnce(Gitops) -> Gitops) -> PathBuf {
    ConfigBuilder::new(dir)
        .gitops(|g| gitops(g.url(url).branch("main").cache_dir("cache")))
        .schedule(|s| s.cron(NEVER).run_on_start(true))
        .state(|s| s.path("state.json"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod")
                .snapshot("cluster.json")
        })
        .write()
}

fn file_url(repo: &GitRepo) -> String {
    format!("file://{}", repo.dir.display())
}

/// Polling off and the webhook secret from [`SECRET_VAR`]: only a hook fetches.
fn hooks_only(g: Gitops) -> Gitops {
    g.poll_interval("off").webhook_secret_env(SECRET_VAR)
}

/// The daemon running on this test's runtime, reading [`SECRET_VAR`] from its environment.
struct Daemon(inprocess::Daemon);

impl Daemon {
    async fn start(cfg: &Path) -> Self {
        let env: HashMap<String, String> = [(SECRET_VAR.to_string(), SECRET.to_string())].into();
        Self(inprocess::Daemon::start(cfg, env).await)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.0.get(path).await
    }

    /// `POST /hooks/git` with `headers` and `body`: (status, body).
    async fn hook(&self, headers: &[(&str, String)], body: &str) -> (u16, String) {
        let mut all = vec![("content-type", "application/json".to_string())];
        all.extend(headers.iter().map(|(n, v)| (*n, v.clone())));
        self.0.send(reqwest::Method::POST, "/hooks/git", &all, body).await
    }

    async fn metric(&self, series: &str) -> Option<f64> {
        self.0.metric(series).await
    }

    /// The commit the latest report audited, once there is a report.
    async fn audited_commit(&self) -> Option<String> {
        let (code, body) = self.get("/report").await;
        if code != 200 {
            return None;
        }
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        report["gitops"]["commit"].as_str().map(str::to_string)
    }

    /// `type workload` of each finding in the latest report.
    async fn findings(&self) -> Vec<String> {
        let (code, body) = self.get("/report").await;
        if code != 200 {
            return Vec::new();
        }
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                format!(
                    "{} {}",
                    f["type"].as_str().unwrap_or_default(),
                    f["name"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Waits until the latest report audited `commit`.
    async fn wait_for_commit(&self, commit: &str, what: &str) {
        wait_until_async(30, what, || async {
            (self.audited_commit().await.as_deref() == Some(commit)).then_some(())
        })
        .await;
    }

    /// Waits until `series` is at least `value`.
    async fn wait_for_metric(&self, series: &str, value: f64) {
        wait_until_async(30, &format!("{series} >= {value}"), || async {
            self.metric(series).await.filter(|v| *v >= value)
        })
        .await;
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

/// Hex HMAC-SHA256 of `body` under `secret`, as GitHub and Gitea sign.
fn hmac_hex(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The push payload's part driftwatch reads, as the three hosts send it.
fn push_to(branch: &str) -> String {
    format!(r#"{{"ref":"refs/heads/{branch}","before":"0000","after":"1111","commits":[]}}"#)
}

/// The headers each host sends with a push, signed with `secret`.
fn push_headers(host: &str, secret: &str, body: &str) -> Vec<(&'static str, String)> {
    match host {
        "github" => vec![
            ("X-GitHub-Event", "push".into()),
            ("X-Hub-Signature-256", format!("sha256={}", hmac_hex(secret, body))),
        ],
        "gitlab" => vec![
            ("X-Gitlab-Event", "Push Hook".into()),
            ("X-Gitlab-Token", secret.into()),
        ],
        "gitea" => vec![
            ("X-Gitea-Event", "push".into()),
            ("X-Gitea-Signature", hmac_hex(secret, body)),
        ],
        other => panic!("no host {other} in these tests"),
    }
}

/// A commit is pushed and `host` calls the hook: the daemon fetches and audits that commit at
/// once, with polling off and a cron that never fires.
async fn push_webhook_audits_the_new_commit(host: &str, url: impl FnOnce(&Path, &GitRepo) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = repository(dir.path());
    let url = url(dir.path(), &repo);
    let d = Daemon::start(&config(dir.path(), &url, hooks_only)).await;
    d.wait_for_commit(&first, "the start-up audit").await;

    let second = repo.commit(&[(MANIFEST, &manifest(D2))], "promote api to D2");
    let body = push_to("main");
    let (code, answer) = d.hook(&push_headers(host, SECRET, &body), &body).await;
    assert_eq!((code, answer.as_str()), (202, "fetching\n"), "{host}");
    d.wait_for_commit(&second, "the pushed commit to be audited").await;

    let (_, report) = d.get("/report").await;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        report["findings"][0]["type"], "spec-drift",
        "git now declares D2 while the cluster runs D1: {report}"
    );
    assert_eq!(d.metric(ACCEPTED).await, Some(1.0));
    assert_eq!(
        d.metric("driftwatch_git_fetches_total{trigger=\"webhook\",result=\"new_commit\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(d.metric(AUDITS_OK).await, Some(2.0), "start-up, then the push");
    d.stop().await;
}

#[tokio::test]
async fn a_github_push_webhook_audits_the_new_commit_at_once() {
    // Over a real transport: git daemon serving the repository over git://.
    let mut served = None;
    push_webhook_audits_the_new_commit("github", |dir, _| {
        let daemon = GitDaemon::start(&dir.join("served"));
        let url = daemon.url("infra");
        served = Some(daemon);
        url
    })
    .await;
}

#[tokio::test]
async fn a_gitlab_push_webhook_audits_the_new_commit_at_once() {
    push_webhook_audits_the_new_commit("gitlab", |_, repo| file_url(repo)).await;
}

#[tokio::test]
async fn a_gitea_push_webhook_audits_the_new_commit_at_once() {
    push_webhook_audits_the_new_commit("gitea", |_, repo| file_url(repo)).await;
}

/// What the endpoint answers to requests that must not fetch, and that none of them did.
#[tokio::test]
async fn bad_signatures_are_refused_and_counted_and_other_requests_fetch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = repository(dir.path());
    let d = Daemon::start(&config(dir.path(), &file_url(&repo), hooks_only)).await;
    d.wait_for_commit(&first, "the start-up audit").await;
    repo.commit(&[(MANIFEST, &manifest(D2))], "promote api to D2");

    let main = push_to("main");
    // (what, headers, body, expected status)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, String, u16);
    let cases: Vec<Case> = vec![
        (
            "github signed with another secret",
            push_headers("github", "not-the-secret", &main),
            main.clone(),
            401,
        ),
        (
            "github signature of another body",
            push_headers("github", SECRET, &push_to("feature")),
            main.clone(),
            401,
        ),
        (
            "gitlab wrong token",
            push_headers("gitlab", "not-the-secret", &main),
            main.clone(),
            401,
        ),
        (
            "gitea wrong signature",
            push_headers("gitea", "not-the-secret", &main),
            main.clone(),
            401,
        ),
        ("unsigned", vec![("X-GitHub-Event", "push".into())], main.clone(), 401),
        (
            "a push to another branch",
            push_headers("github", SECRET, &push_to("feature")),
            push_to("feature"),
            202,
        ),
        (
            "github ping",
            vec![
                ("X-GitHub-Event", "ping".into()),
                ("X-Hub-Signature-256", format!("sha256={}", hmac_hex(SECRET, "{}"))),
            ],
            "{}".into(),
            200,
        ),
        (
            "over 1 MiB",
            push_headers("github", SECRET, &main),
            format!("{main}{}", " ".repeat(1 << 20)),
            413,
        ),
    ];
    for (name, headers, body, expected) in &cases {
        let (code, answer) = d.hook(headers, body).await;
        assert_eq!(code, *expected, "{name}: {answer}");
        assert!(!answer.contains(SECRET), "{name}: {answer}");
    }
    assert_eq!(d.metric(UNAUTHORIZED).await, Some(5.0));
    assert_eq!(d.metric(IGNORED).await, Some(2.0), "the other branch and the ping");
    assert_eq!(d.metric(ACCEPTED).await, Some(0.0));

    // Nothing was fetched (every fetch is counted) and the report is still the first commit;
    // a valid push then goes through, so the endpoint was not simply broken.
    let metrics = d.get("/metrics").await.1;
    assert!(!metrics.contains("driftwatch_git_fetches_total{"), "{metrics}");
    assert_eq!(d.audited_commit().await.as_deref(), Some(first.as_str()));
    let (code, _) = d.hook(&push_headers("github", SECRET, &main), &main).await;
    assert_eq!(code, 202);
    d.wait_for_metric(
        "driftwatch_git_fetches_total{trigger=\"webhook\",result=\"new_commit\"}",
        1.0,
    )
    .await;
    d.stop().await;
}

#[tokio::test]
async fn without_a_secret_the_endpoint_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = repository(dir.path());
    let d = Daemon::start(&config(dir.path(), &file_url(&repo), |g| g.poll_interval("off"))).await;
    d.wait_for_commit(&first, "the start-up audit").await;

    let body = push_to("main");
    let (code, answer) = d.hook(&push_headers("github", SECRET, &body), &body).await;
    assert_eq!((code, answer.as_str()), (404, ""), "as an unknown path");
    assert_eq!(d.metric(ACCEPTED).await, Some(0.0));
    d.stop().await;
}

#[tokio::test]
async fn poll_interval_picks_up_a_new_commit_without_a_hook() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = repository(dir.path());
    let d = Daemon::start(&config(dir.path(), &file_url(&repo), |g| g.poll_interval("200ms"))).await;
    d.wait_for_commit(&first, "the start-up audit").await;

    let second = repo.commit(&[(MANIFEST, &manifest(D2))], "promote api to D2");
    d.wait_for_commit(&second, "a poll to find the new commit").await;
    assert_eq!(
        d.metric("driftwatch_git_fetches_total{trigger=\"poll\",result=\"new_commit\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        d.metric(ACCEPTED).await,
        Some(0.0),
        "the endpoint is off without a secret"
    );
    d.stop().await;
}

/// A poll fetches every repository the environments read, not only `[gitops]`: a commit in a
/// team's repository is audited within the interval, though the `[gitops]` commit is the same.
#[tokio::test]
async fn a_poll_picks_up_a_new_commit_in_another_repository() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = repository(dir.path());
    let team = GitRepo::init(&dir.path().join("served/team"));
    let web = |digest: &str| deployment_yaml("web", "shop", &format!("{REPO}-web@{digest}"));
    team.commit(&[("deploy/web.yaml", &web(D1))], "web at D1");
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    let (wd, wrs) = deployment("shop", "web", &[("web", &format!("{REPO}-web@{D1}"))], 1);
    let wp = pod(&wrs, "a", &[("web", &format!("{REPO}-web@{D1}"))]);
    write(&dir.path().join("cluster.json"), &list(vec![d, rs, p, wd, wrs, wp]));
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| {
            g.url(&file_url(&repo))
                .branch("main")
                .cache_dir("cache")
                .poll_interval("200ms")
        })
        .schedule(|s| s.cron(NEVER).run_on_start(true))
        .state(|s| s.path("state.json"))
        .environment("production", |e| {
            e.other(
                "paths",
                support::config::Value::Raw(format!(
                    "[\"apps/*/production\", {{ path = \"deploy\", repo = \"{}\", revision = \"main\" }}]",
                    file_url(&team)
                )),
            )
            .cluster_name("prod")
            .snapshot("cluster.json")
        })
        .write();
    let d = Daemon::start(&cfg).await;
    d.wait_for_commit(&first, "the start-up audit").await;
    assert_eq!(d.findings().await, Vec::<String>::new(), "in sync at start");

    team.commit(&[("deploy/web.yaml", &web(D2))], "web to D2");
    wait_until_async(30, "a poll to audit the team repository's new commit", || async {
        let found = d.findings().await;
        found.iter().any(|f| f.contains("web")).then_some(found)
    })
    .await;
    assert_eq!(
        d.audited_commit().await.as_deref(),
        Some(first.as_str()),
        "[gitops] did not move"
    );
    d.stop().await;
}

#[tokio::test]
async fn a_poll_that_finds_no_new_commit_does_not_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = repository(dir.path());
    let d = Daemon::start(&config(dir.path(), &file_url(&repo), |g| g.poll_interval("100ms"))).await;
    d.wait_for_commit(&first, "the start-up audit").await;

    // Three polls, whatever they found: a poll that re-audits an unchanged commit fails below
    // rather than by a timeout.
    wait_until_async(30, "three polls", || async {
        let unchanged = d.metric("driftwatch_git_fetches_total{trigger=\"poll\",result=\"unchanged\"}");
        let new = d.metric("driftwatch_git_fetches_total{trigger=\"poll\",result=\"new_commit\"}");
        let polls = unchanged.await.unwrap_or(0.0) + new.await.unwrap_or(0.0);
        (polls >= 3.0).then_some(())
    })
    .await;
    assert_eq!(d.metric(AUDITS_OK).await, Some(1.0), "only the start-up audit");
    assert_eq!(d.metric("driftwatch_audits_total{result=\"error\"}").await, None);
    assert_eq!(
        d.metric("driftwatch_git_fetches_total{trigger=\"poll\",result=\"new_commit\"}")
            .await,
        None
    );
    d.stop().await;
}

#[tokio::test]
async fn the_webhook_secret_never_appears_in_logs_metrics_or_check_config() {
    let (logs, _logging) = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = repository(dir.path());
    let cfg = config(dir.path(), &file_url(&repo), hooks_only);
    let d = Daemon::start(&cfg).await;
    d.wait_for_commit(&first, "the start-up audit").await;

    // A refused token (GitLab sends the secret itself: a wrong one is close to it) and an
    // accepted one, both logged.
    let body = push_to("main");
    let near_miss = format!("{SECRET}x");
    assert_eq!(d.hook(&push_headers("gitlab", &near_miss, &body), &body).await.0, 401);
    assert_eq!(d.hook(&push_headers("gitlab", SECRET, &body), &body).await.0, 202);
    d.wait_for_metric(
        "driftwatch_git_fetches_total{trigger=\"webhook\",result=\"unchanged\"}",
        1.0,
    )
    .await;
    let metrics = d.get("/metrics").await.1;
    d.stop().await;

    let text = logs.text();
    assert!(text.contains("git webhook refused"), "{text}");
    assert!(text.contains("git push webhook: fetching"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!metrics.contains(SECRET));

    let out = driftwatch(
        dir.path(),
        &["check-config", "--config", cfg.to_str().unwrap()],
        &[(SECRET_VAR, SECRET)],
    );
    assert!(
        out.stdout
            .contains("  updates: poll_interval off, webhook POST /hooks/git, secret set"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET));
}
