//! Many GitOps repositories: an environment's paths in different repositories and revisions,
//! each fetched over a real transport (smart HTTP with Basic auth) with the credentials its
//! URL prefix selects; an unreachable repository is an error naming it, and the rest is audited.

use std::path::Path;

use support::fixtures::{D1, D2, REPO, deployment, deployment_yaml, list, pod};
use support::git::{GitHttp, GitRepo, git};
use support::net::free_port;
use support::run::{driftwatch, finding, findings};
use support::write;

/// A snapshot in which shop/api and shop/web each run D1 on one Pod, spec pinned to D1.
fn snapshot(dir: &Path) -> String {
    let mut objects = Vec::new();
    for name in ["api", "web"] {
        let image = format!("{REPO}-{name}@{D1}");
        let (d, rs) = deployment("shop", name, &[(name, &image)], 1);
        let p = pod(&rs, "a", &[(name, &image)]);
        objects.extend([d, rs, p]);
    }
    let path = dir.join("cluster.json");
    write(&path, &list(objects));
    path.display().to_string()
}

fn manifest(name: &str, digest: &str) -> String {
    deployment_yaml(name, "shop", &format!("{REPO}-{name}@{digest}"))
}

/// production reads infra and team (main), pinned reads team at v1, staging an unreachable
/// repository; team's credentials by URL prefix, a longer prefix that does not apply.
fn config(infra_server: &GitHttp, team_server: &GitHttp, gone: &str, snapshot: &str) -> String {
    format!(
        r#"
[gitops]
url = "{infra}"
token_env = "INFRA_TOKEN"
cache_dir = "cache"
[[gitops.credentials]]
url_prefix = "http://{team_addr}/"
username = "team-bot"
password_env = "TEAM_PASSWORD"
[[gitops.credentials]]
url_prefix = "http://{team_addr}/nothing-here/"
username = "wrong"
password_env = "INFRA_TOKEN"

[[environments]]
name = "production"
paths = ["apps/api/production", {{ path = "web", repo = "{team}", namespace = "shop" }}]
[environments.cluster]
snapshot = "{snapshot}"

[[environments]]
name = "pinned"
paths = [{{ path = "web", repo = "{team}", revision = "v1" }}]
[environments.cluster]
snapshot = "{snapshot}"

[[environments]]
name = "staging"
paths = [{{ path = "web", repo = "{gone}" }}]
[environments.cluster]
snapshot = "{snapshot}"
"#,
        infra = infra_server.url("infra"),
        team = team_server.url("team"),
        team_addr = team_server.addr,
    )
}

/// (type, workload) of the findings of environment `env`.
fn of(report: &serde_json::Value, env: &str) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["environment"] == env)
        .map(|f| {
            (
                f["type"].as_str().unwrap().to_string(),
                f["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn paths_in_two_repositories_with_their_own_credentials_and_an_unreachable_one() {
    let dir = tempfile::tempdir().unwrap();
    let (infra_base, team_base) = (dir.path().join("infra-served"), dir.path().join("team-served"));
    let infra = GitRepo::init(&infra_base.join("infra"));
    infra.commit(
        &[("apps/api/production/deploy.yaml", &manifest("api", D1))],
        "api at D1",
    );
    let team = GitRepo::init(&team_base.join("team"));
    let pinned = team.commit(&[("web/deploy.yaml", &manifest("web", D1))], "web at D1");
    git(&team.dir, &["tag", "v1", &pinned]);
    team.commit(&[("web/deploy.yaml", &manifest("web", D2))], "web at D2 on main");
    // Two servers, each accepting only its own credentials.
    let infra_server = GitHttp::start(&infra_base, "x-access-token", "infra-token-1");
    let team_server = GitHttp::start(&team_base, "team-bot", "team-password-2");
    let gone = format!("http://bot:hunter2-secret@127.0.0.1:{}/gone", free_port());
    let snapshot = snapshot(dir.path());
    let cfg = dir.path().join("driftwatch.toml");
    write(&cfg, &config(&infra_server, &team_server, &gone, &snapshot));
    let env = [("INFRA_TOKEN", "infra-token-1"), ("TEAM_PASSWORD", "team-password-2")];
    let args = ["--once", "--format", "json", "--config", cfg.to_str().unwrap()];
    let out = driftwatch(dir.path(), &args, &env);
    assert_eq!(
        out.code, 2,
        "the unreachable repository is an audit error\n{}",
        out.stderr
    );
    let report = out.json();
    let envs = report["environments"].as_array().unwrap();
    let by_name = |n: &str| envs.iter().find(|e| e["name"] == n).unwrap();
    // production: api from infra (in sync), web from team's main (D2 while D1 runs).
    assert_eq!(by_name("production")["status"], "ok", "{}", by_name("production"));
    assert_eq!(of(&report, "production"), vec![("spec-drift".into(), "web".into())]);
    // pinned: team's tag v1 declares D1, as the cluster runs.
    assert_eq!(by_name("pinned")["status"], "ok");
    assert!(findings(&report).contains(&finding("spec-drift", "shop/web", "web")));
    let pinned: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["environment"] == "pinned")
        .map(|f| (f["type"].as_str().unwrap(), f["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pinned,
        vec![("undeclared", "api")],
        "web at v1 is in sync; api is not in that environment"
    );
    // staging: an error naming the repository, its password redacted.
    let err = by_name("staging")["error"].as_str().unwrap().to_string();
    assert!(err.contains("gitops repository http://bot:***@127.0.0.1"), "{err}");
    for secret in ["hunter2-secret", "team-password-2", "infra-token-1"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} is printed"
        );
    }
    // One cache per repository and revision, beside the default one.
    let repos: Vec<_> = std::fs::read_dir(dir.path().join("cache.repos"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .collect();
    assert_eq!(repos.len(), 3, "team at main, team at v1, and the unreachable one");

    // Without the team credentials the team repository is refused, and named.
    let out = driftwatch(
        dir.path(),
        &args,
        &[("INFRA_TOKEN", "infra-token-1"), ("TEAM_PASSWORD", "wrong")],
    );
    let err = out.json()["environments"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains(&team_server.url("team")), "{err}");
}
