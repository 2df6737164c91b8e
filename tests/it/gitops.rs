//! The GitOps side against real git repositories: cloned over a real transport (`git daemon`,
//! git://), file:// and local paths; later runs fetch instead of cloning; branch and rev
//! selection; unreachable repositories.

use std::path::{Path, PathBuf};

use support::config::{ConfigBuilder, Gitops};
use support::fixtures::{D1, D2, REPO, deployment, deployment_yaml, list, pod};
use support::git::{GitDaemon, GitHttp, GitRepo, git};
use support::net::free_port;
use support::run::{audit, driftwatch, finding, findings};
use support::write;

const PATHS: &str = "apps/api/production/deploy.yaml";

/// A snapshot in which shop/api runs D1 on 2 Pods, spec pinned to D1.
fn snapshot(dir: &Path) -> PathBuf {
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 2);
    let pods = vec![
        pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]),
        pod(&rs, "b", &[("api", &format!("{REPO}@{D1}"))]),
    ];
    let path = dir.join("cluster.json");
    write(&path, &list([vec![d, rs], pods].concat()));
    path
}

/// `[gitops]` as `gitops` sets it, with `cache_dir = "cache"`, over the snapshot.
fn config(dir: &Path, gitops: impl FnOnce(Gitops) -> Gitops) -> PathBuf {
    let snapshot = snapshot(dir);
    ConfigBuilder::new(dir)
        .gitops(|g| gitops(g).cache_dir("cache"))
        .environment("production", |e| e.paths(&["apps/*/production"]).snapshot(snapshot))
        .write()
}

fn manifest(digest: &str) -> String {
    deployment_yaml("api", "shop", &format!("{REPO}@{digest}"))
}

#[test]
fn clones_over_git_daemon_then_fetches_the_new_commit() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    let repo = GitRepo::init(&served.join("infra"));
    let first = repo.commit(&[(PATHS, &manifest(D1))], "api at D1");
    let daemon = GitDaemon::start(&served);
    let cfg = config(dir.path(), |g| g.url(&daemon.url("infra")).branch("main"));

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 0, "in sync: {}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["gitops"]["commit"], first.as_str());
    assert_eq!(report["gitops"]["url"], daemon.url("infra"));
    assert!(dir.path().join("cache/.git").is_dir(), "cloned into cache_dir");

    // A later run fetches into the same cache instead of cloning again.
    let marker = dir.path().join("cache/.git/driftwatch-test-marker");
    write(&marker, "kept");
    let second = repo.commit(&[(PATHS, &manifest(D2))], "promote api to D2");
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "git now declares D2 while the cluster runs D1");
    let report = out.json();
    assert_eq!(report["gitops"]["commit"], second.as_str());
    assert_eq!(findings(&report), vec![finding("spec-drift", "shop/api", "api")]);
    assert_eq!(
        report["findings"][0]["commit"],
        second.as_str(),
        "every finding names the audited commit"
    );
    assert!(marker.exists(), "the cache was fetched into, not re-cloned");
}

#[test]
fn branch_and_rev_select_what_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    let repo = GitRepo::init(&served.join("infra"));
    let pinned = repo.commit(&[(PATHS, &manifest(D1))], "api at D1");
    repo.commit(&[(PATHS, &manifest(D2))], "api at D2 on main");
    git(&repo.dir, &["branch", "release", &pinned]);
    git(&repo.dir, &["tag", "v1", &pinned]);
    let daemon = GitDaemon::start(&served);

    let url = daemon.url("infra");
    let by_sha = format!("rev = \"{pinned}\"");
    let selectors: [(&str, &dyn Fn(Gitops) -> Gitops); 3] = [
        ("branch = \"release\"", &|g| g.branch("release")),
        ("rev = \"v1\"", &|g| g.rev("v1")),
        (&by_sha, &|g| g.rev(&pinned)),
    ];
    for (selector, select) in selectors {
        let cfg = config(dir.path(), |g| select(g.url(&url)));
        let out = audit(dir.path(), &cfg);
        assert_eq!(out.code, 0, "{selector}: {}", out.stderr);
        assert_eq!(out.json()["gitops"]["commit"], pinned.as_str(), "{selector}");
    }

    // No branch: the remote's default branch.
    let cfg = config(dir.path(), |g| g.url(&daemon.url("infra")));
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "main declares D2: {}", out.stderr);

    let cfg = config(dir.path(), |g| g.url(&daemon.url("infra")).branch("no-such-branch"));
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2);
    let err = out.json()["environments"][0]["error"].as_str().unwrap().to_string();
    assert!(err.contains("no-such-branch"), "{err}");
}

#[test]
fn file_urls_and_local_repository_paths() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("infra"));
    let sha = repo.commit(&[(PATHS, &manifest(D1))], "api at D1");
    for url in [
        format!("file://{}", repo.dir.display()),
        repo.dir.display().to_string(),
        "infra".to_string(),
    ] {
        let cfg = config(dir.path(), |g| g.url(&url).branch("main"));
        let out = audit(dir.path(), &cfg);
        assert_eq!(out.code, 0, "{url}: {}", out.stdout);
        assert_eq!(out.json()["gitops"]["commit"], sha.as_str(), "{url}");
    }
}

#[test]
fn an_unreachable_repository_is_an_audit_error_naming_the_url_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let daemon = GitDaemon::start(&served);

    let cfg = config(dir.path(), |g| g.url(&daemon.url("does-not-exist")));
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2);
    let report = out.json();
    let err = report["environments"][0]["error"].as_str().unwrap();
    assert!(
        err.starts_with("gitops: cannot fetch git://127.0.0.1:") && err.contains("does-not-exist"),
        "{err}"
    );

    let closed = free_port();
    let cfg = config(dir.path(), |g| {
        g.url(&format!("https://bot:hunter2-secret@127.0.0.1:{closed}/infra.git"))
    });
    let out = driftwatch(dir.path(), &["--once", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains(&format!("https://bot:***@127.0.0.1:{closed}/infra.git")),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"),
        "the password never appears:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn a_cache_dir_that_holds_something_else_is_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("infra"));
    repo.commit(&[(PATHS, &manifest(D1))], "api at D1");
    write(&dir.path().join("cache/precious.txt"), "not ours");
    let cfg = config(dir.path(), |g| g.url("infra"));
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 2);
    let err = out.json()["environments"][0]["error"].as_str().unwrap().to_string();
    assert!(err.contains("not a driftwatch git cache"), "{err}");
    assert!(dir.path().join("cache/precious.txt").exists());

    // A cache of another URL is driftwatch's own: replaced.
    std::fs::remove_file(dir.path().join("cache/precious.txt")).unwrap();
    assert_eq!(audit(dir.path(), &cfg).code, 0);
    let other = GitRepo::init(&dir.path().join("other"));
    let sha = other.commit(&[(PATHS, &manifest(D1))], "other repo");
    let cfg = config(dir.path(), |g| g.url("other"));
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.json()["gitops"]["commit"], sha.as_str());
}

#[test]
fn https_token_auth_over_smart_http_and_a_rejected_token() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    let repo = GitRepo::init(&served.join("infra"));
    let sha = repo.commit(&[(PATHS, &manifest(D1))], "api at D1");
    let server = GitHttp::start(&served, "x-access-token", "tok-correct-horse");

    let cfg = config(dir.path(), |g| {
        g.url(&server.url("infra")).branch("main").token_env("GITOPS_TOKEN")
    });
    let args = ["--once", "--format", "json", "--config", cfg.to_str().unwrap()];
    let out = driftwatch(dir.path(), &args, &[("GITOPS_TOKEN", "tok-correct-horse")]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["gitops"]["commit"], sha.as_str());

    std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
    let out = driftwatch(dir.path(), &args, &[("GITOPS_TOKEN", "tok-wrong-battery")]);
    assert_eq!(out.code, 2, "a rejected token is an audit error");
    let err = out.json()["environments"][0]["error"].as_str().unwrap().to_string();
    assert!(
        err.contains(&server.url("infra")) && err.contains("authentication"),
        "{err}"
    );
    assert!(
        !out.stdout.contains("tok-wrong-battery") && !out.stderr.contains("tok-wrong-battery"),
        "the token never appears"
    );
}
