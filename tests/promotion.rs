//! Promotion lineage over a real git history: a digest promoted dev → staging → production
//! passes; one committed straight to production is `promotion-skipped`, naming the commit.

mod common;

use std::path::Path;

use common::*;

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

fn config(dir: &Path, depth: usize, from: &str) -> std::path::PathBuf {
    let cfg = dir.join("driftwatch.toml");
    write(
        &cfg,
        &format!(
            "[gitops]\nurl = \"infra\"\nbranch = \"main\"\ncache_dir = \"cache\"\n\n\
             [[environments]]\nname = \"dev\"\npaths = [\"apps/*/dev\"]\n[environments.cluster]\nsnapshot = \"cluster.json\"\nnamespaces = [\"none\"]\n\n\
             [[environments]]\nname = \"staging\"\npaths = [\"apps/*/staging\"]\npromoted_from = \"dev\"\n[environments.cluster]\nsnapshot = \"cluster.json\"\nnamespaces = [\"none\"]\n\n\
             [[environments]]\nname = \"production\"\npaths = [\"apps/*/production\"]\npromoted_from = \"{from}\"\nlineage_depth = {depth}\n[environments.cluster]\nsnapshot = \"cluster.json\"\n"
        ),
    );
    cfg
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
