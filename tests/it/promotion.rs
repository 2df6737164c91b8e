//! Promotion lineage over a real git history: a digest promoted dev → staging → production
//! passes; one committed straight to production is `promotion-skipped`, naming the commit.

use std::path::{Path, PathBuf};

use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, D3, REPO, deployment, deployment_yaml, list, pod};
use support::git::GitRepo;
use support::run::{audit, finding, findings};
use support::write;

fn manifest(name: &str, digest: &str) -> String {
    deployment_yaml(name, "shop", &format!("{REPO}-{name}@{digest}"))
}

fn snapshot(dir: &Path, running: &[(&str, &str)]) {
    let mut objects = Vec::new();
    for (name, digest) in running {
        let image = format!("{REPO}-{name}@{digest}");
        let (d, rs) = deployment("shop", name, &[(name, &image)], 1);
        objects.push(pod(&rs, "p", &[(name, &image)]));
        objects.extend([d, rs]);
    }
    write(&dir.join("cluster.json"), &list(objects));
}

/// dev → staging → production (promoted from `from`, judged over `depth` commits); dev and
/// staging audit no namespace of the snapshot.
fn config(dir: &Path, depth: i64, from: &str) -> PathBuf {
    ConfigBuilder::new(dir)
        .gitops(|g| g.url("infra").branch("main").cache_dir("cache"))
        .environment("dev", |e| {
            e.paths(&["apps/*/dev"]).snapshot("cluster.json").namespaces(&["none"])
        })
        .environment("staging", |e| {
            e.paths(&["apps/*/staging"])
                .promoted_from("dev")
                .snapshot("cluster.json")
                .namespaces(&["none"])
        })
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .promoted_from(from)
                .lineage_depth(depth)
                .snapshot("cluster.json")
        })
        .write()
}

#[test]
fn a_promoted_digest_passes_and_one_committed_straight_to_production_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("infra"));
    repo.commit(
        &[
            ("apps/api/dev/deploy.yaml", &manifest("api", D1)),
            ("apps/web/dev/deploy.yaml", &manifest("web", D3)),
        ],
        "build api D1 into dev",
    );
    repo.commit(
        &[("apps/api/staging/deploy.yaml", &manifest("api", D1))],
        "promote api D1 to staging",
    );
    repo.commit(
        &[("apps/api/production/deploy.yaml", &manifest("api", D1))],
        "promote api D1 to production",
    );
    let bypass = repo.commit(
        &[("apps/web/production/deploy.yaml", &manifest("web", D2))],
        "hotfix web straight to production",
    );
    snapshot(dir.path(), &[("api", D1), ("web", D2)]);

    let out = audit(dir.path(), &config(dir.path(), 500, "staging"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![finding("promotion-skipped", "shop/web", "web")],
        "api went dev → staging → production"
    );
    let f = &report["findings"][0];
    assert_eq!(f["environment"], "production");
    assert_eq!(f["declared"], format!("{REPO}-web@{D2}"));
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&bypass[..12]) && message.contains("without being declared in staging first"),
        "{message}"
    );
}

#[test]
fn promotion_order_matters_and_a_short_window_judges_nothing_it_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("infra"));
    // Production got D1 before staging did: the gate was skipped even though staging has it now.
    let early = repo.commit(
        &[("apps/api/production/deploy.yaml", &manifest("api", D1))],
        "api D1 to production first",
    );
    repo.commit(
        &[("apps/api/staging/deploy.yaml", &manifest("api", D1))],
        "staging catches up",
    );
    snapshot(dir.path(), &[("api", D1)]);
    let out = audit(dir.path(), &config(dir.path(), 500, "staging"));
    let report = out.json();
    assert_eq!(findings(&report), vec![finding("promotion-skipped", "shop/api", "api")]);
    assert!(
        report["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&early[..12])
    );

    // With a window of one commit, the production commit is out of sight: no verdict.
    let out = audit(dir.path(), &config(dir.path(), 1, "staging"));
    assert_eq!(findings(&out.json()), vec![]);

    let out = audit(dir.path(), &config(dir.path(), 500, "qa"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("environments[2].promoted_from") && out.stderr.contains("\"qa\""),
        "{}",
        out.stderr
    );
}

/// A chart whose Deployment `api` runs `{image.repository}@{image.digest}`: the reference is
/// whole only once rendered.
const CHART: &[(&str, &str)] = &[
    ("charts/api/Chart.yaml", "apiVersion: v2\nname: api\nversion: 1.0.0\n"),
    (
        "charts/api/values.yaml",
        "image:\n  repository: registry.example.com/shop/api\n  digest: \"\"\n",
    ),
    (
        "charts/api/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: \"{{ .Values.image.repository }}@{{ .Values.image.digest }}\"\n",
    ),
];

fn helm_values(digest: &str) -> String {
    format!("image:\n  digest: {digest}\n")
}

/// staging → production as Helm environments: one chart directory, a values file each.
fn helm_config(dir: &Path) -> PathBuf {
    let env = |e: support::config::Environment, name: &str| {
        e.renderer("helm").snapshot("cluster.json").release("api", |r| {
            r.namespace("shop")
                .chart("charts/api")
                .values_files(&[&format!("envs/{name}.yaml")])
        })
    };
    ConfigBuilder::new(dir)
        .gitops(|g| g.url("infra").branch("main").cache_dir("cache"))
        .environment("staging", |e| env(e, "staging").namespaces(&["none"]))
        .environment("production", |e| env(e, "production").promoted_from("staging"))
        .write()
}

#[test]
fn helm_environments_are_judged_by_what_their_releases_rendered_at_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("infra"));
    let mut first: Vec<(&str, &str)> = CHART.to_vec();
    let staging = helm_values(D1);
    first.push(("envs/staging.yaml", &staging));
    repo.commit(&first, "the api chart; staging runs D1");
    let production = helm_values(D1);
    repo.commit(&[("envs/production.yaml", &production)], "promote D1 to production");
    let running = |digest: &str| {
        let image = format!("registry.example.com/shop/api@{digest}");
        let (d, rs) = deployment("shop", "api", &[("api", &image)], 1);
        let p = pod(&rs, "p", &[("api", &image)]);
        list(vec![d, rs, p])
    };
    write(&dir.path().join("cluster.json"), &running(D1));
    let out = audit(dir.path(), &helm_config(dir.path()));
    assert_eq!(out.code, 0, "promoted through staging: {}", out.stderr);

    // A hotfix straight into production's values file.
    let hotfix = helm_values(D2);
    let bypass = repo.commit(
        &[("envs/production.yaml", &hotfix)],
        "hotfix api straight to production",
    );
    write(&dir.path().join("cluster.json"), &running(D2));
    let out = audit(dir.path(), &helm_config(dir.path()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(findings(&report), vec![finding("promotion-skipped", "shop/api", "api")]);
    let f = &report["findings"][0];
    assert_eq!(f["release"], "api");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(&bypass[..12]) && message.contains("without being declared in staging first"),
        "{message}"
    );

    // Staging catches up later: the gate was still skipped when production got D2.
    let later = helm_values(D2);
    repo.commit(&[("envs/staging.yaml", &later)], "staging catches up");
    let out = audit(dir.path(), &helm_config(dir.path()));
    assert_eq!(
        findings(&out.json()),
        vec![finding("promotion-skipped", "shop/api", "api")]
    );

    // A chart change that does not change the image keeps the verdict's commit.
    let mut chart = CHART[2].1.to_string();
    chart = chart.replace(
        "metadata:\n  name: api\n",
        "metadata:\n  name: api\n  labels: {tier: backend}\n",
    );
    repo.commit(&[("charts/api/templates/deployment.yaml", &chart)], "label the api");
    let out = audit(dir.path(), &helm_config(dir.path()));
    let report = out.json();
    assert!(
        report["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&bypass[..12]),
        "{report:#}"
    );
}

/// Environments declared in a repository other than `[gitops]` (as discovered Applications
/// whose `repoURL` is a team's repository are): promotion lineage walks that repository's
/// history, and DORA's estimate from git counts its deployments.
#[test]
fn lineage_and_dora_walk_the_repository_the_environments_are_declared_in() {
    let dir = tempfile::tempdir().unwrap();
    GitRepo::init(&dir.path().join("infra")).commit(&[("README.md", "platform\n")], "init");
    let team = GitRepo::init(&dir.path().join("team"));
    team.commit(
        &[("apps/api/staging/deploy.yaml", &manifest("api", D1))],
        "api D1 to staging",
    );
    team.commit(
        &[("apps/api/production/deploy.yaml", &manifest("api", D1))],
        "promote api D1",
    );
    let bypass = team.commit(
        &[("apps/web/production/deploy.yaml", &manifest("web", D2))],
        "hotfix web straight to production",
    );
    snapshot(dir.path(), &[("api", D1), ("web", D2)]);
    let team_url = dir.path().join("team");
    let cfg = dir.path().join("driftwatch.toml");
    write(
        &cfg,
        &format!(
            r#"[gitops]
url = "infra"
branch = "main"
cache_dir = "cache"

[[environments]]
name = "staging"
paths = [{{ path = "apps/*/staging", repo = "{team}", revision = "main" }}]
[environments.cluster]
snapshot = "cluster.json"
namespaces = ["none"]

[[environments]]
name = "production"
paths = [{{ path = "apps/*/production", repo = "{team}", revision = "main" }}]
promoted_from = "staging"
[environments.cluster]
snapshot = "cluster.json"
"#,
            team = team_url.display()
        ),
    );
    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![finding("promotion-skipped", "shop/web", "web")],
        "api went staging → production in the team's repository"
    );
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains(&bypass[..12]), "{message}");

    let out = support::run::driftwatch(
        dir.path(),
        &[
            "dora",
            "--from-git",
            "--since",
            "all",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dora = out.json();
    let production = dora["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "production")
        .unwrap_or_else(|| panic!("{dora:#}"));
    assert_eq!(
        production["deployments"], 2,
        "api D1 and web D2, from the team's history: {dora:#}"
    );
}
