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
