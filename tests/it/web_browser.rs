//! The status page in a real browser: headless Chromium (`support::browser`, over the DevTools
//! protocol) loads the pages of a daemon started by the test against the suite's Kubernetes
//! API. The planted drift appears in its cell, the filters hide what they should, the workload
//! page shows the deployment history from the store, hostile names from the cluster and git are
//! shown as text (no script runs, no CSP violation), and `--once --format html` opens from disk
//! with networking off. Each test saves a screenshot under its temp dir and prints the path.

use std::path::Path;

use serde_json::{Value, json};
use support::browser::Browser;
use support::config::ConfigBuilder;
use support::daemon::Daemon;
use support::fixtures::{D1, D2, D3, REPO, deployment, deployment_yaml, pod};
use support::git::GitRepo;
use support::kube::FakeKube;
use support::net::wait_until;
use support::run::driftwatch;

/// A workload name and image no page may run as markup.
const HOSTILE_NAME: &str = "<script>window.__xss=1</script>";
const HOSTILE_IMAGE: &str = "registry.example.com/\"><img src=x onerror=\"window.__xss=2\">";
const HOSTILE_COMMIT: &str = "<img src=x onerror=\"window.__xss=3\"> api at D1";

/// shop/api (drifting: git D1, Pods D2), shop/web (in sync at D1) and an undeclared Deployment
/// whose name and image are hostile.
fn cluster() -> Vec<Value> {
    let (api, api_rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let (web, web_rs) = deployment("shop", "web", &[("web", &format!("{REPO}-web@{D1}"))], 1);
    let (bad, bad_rs) = deployment("shop", HOSTILE_NAME, &[("x", &format!("{HOSTILE_IMAGE}@{D1}"))], 1);
    let pods = vec![
        pod(&api_rs, "a", &[("api", &format!("{REPO}@{D2}"))]),
        pod(&web_rs, "w", &[("web", &format!("{REPO}-web@{D1}"))]),
        pod(&bad_rs, "x", &[("x", &format!("{REPO}@{D1}"))]),
    ];
    [vec![api, api_rs, web, web_rs, bad, bad_rs], pods].concat()
}

struct Site {
    dir: tempfile::TempDir,
    kube: FakeKube,
    cfg: ConfigBuilder,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("gitops"));
    repo.commit(
        &[
            (
                "apps/api/production/deploy.yaml",
                &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
            ),
            (
                "apps/web/production/deploy.yaml",
                &deployment_yaml("web", "shop", &format!("{REPO}-web@{D1}")),
            ),
        ],
        HOSTILE_COMMIT,
    );
    let kube = FakeKube::start(cluster());
    let kubeconfig = kube.kubeconfig(dir.path(), "prod");
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .schedule(|s| s.cron("0 0 3 1 1 *").run_on_start(true))
        .watch(|w| w.debounce("300ms"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod-eu1")
                .kubeconfig(&kubeconfig)
                .namespaces(&["shop"])
        });
    Site { dir, kube, cfg }
}

/// Saves a screenshot under the test's temp dir and prints its path; with
/// `DRIFTWATCH_SCREENSHOTS=<dir>` also copies it there (how `docs/` gets its pictures).
fn shot(page: &support::browser::Page<'_>, dir: &Path, name: &str) {
    let path = page.screenshot(dir.join(format!("{name}.png")));
    println!("screenshot: {}", path.display());
    if let Some(keep) = std::env::var_os("DRIFTWATCH_SCREENSHOTS") {
        let to = Path::new(&keep).join(format!("status-{name}.png"));
        std::fs::copy(&path, &to).unwrap();
        println!("screenshot kept: {}", to.display());
    }
}

fn no_script_ran(page: &support::browser::Page<'_>) {
    assert_eq!(
        page.eval("window.__xss === undefined"),
        json!(true),
        "a hostile value ran as script"
    );
    assert_eq!(page.csp_violations(), Vec::<String>::new());
    assert_eq!(page.console_errors(), Vec::<String>::new());
}

#[test]
fn the_page_shows_the_planted_drift_filters_and_the_workload_history() {
    let s = site();
    let d = Daemon::start(s.dir.path(), &s.cfg, &[]);
    wait_until(20, "the first audit", || (d.get("/api/status").0 == 200).then_some(()));
    let base = format!("http://{}", d.addr);
    let browser = Browser::start();
    let page = browser.open(&format!("{base}/"));

    // The drift is in production's cell of shop/api, with the digest the Pods run.
    let cell = r#"document.querySelector('tr[data-workload="shop/Deployment/api"] td[data-env="production"]')"#;
    assert_eq!(page.eval(&format!("{cell}.dataset.state")), json!("drifting"));
    let text = page.eval(&format!("{cell}.textContent")).as_str().unwrap().to_string();
    assert!(
        text.contains(&D2["sha256:".len().."sha256:".len() + 12]),
        "the running digest: {text}"
    );
    let web = r#"document.querySelector('tr[data-workload="shop/Deployment/web"] td[data-env="production"]')"#;
    assert_eq!(page.eval(&format!("{web}.dataset.state")), json!("in-sync"));
    // The finding says how long the drift has lasted; the cell says since when (the alert
    // state's first sighting, from the store).
    let status: Value = serde_json::from_str(&d.get("/api/status").1).unwrap();
    let drift = status["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "digest-drift")
        .unwrap()
        .clone();
    assert!(drift["first_seen"].is_string(), "{drift}");
    let details = page.eval(&format!(
        "document.getElementById('finding-{}').textContent",
        drift["fingerprint"].as_str().unwrap()
    ));
    assert!(details.as_str().unwrap().contains("First seen"), "{details}");
    // Hostile names are text.
    let body = page.eval("document.body.textContent").as_str().unwrap().to_string();
    assert!(
        body.contains(HOSTILE_NAME),
        "the hostile workload name is shown as text"
    );
    no_script_ran(&page);
    shot(&page, s.dir.path(), "status");

    // Filters: by type, then by text; nothing else is hidden meanwhile.
    let visible = "Array.from(document.querySelectorAll('#findings-list .finding')).filter(f => !f.hidden).map(f => f.dataset.type).sort().join(',')";
    let all = page.eval(visible).as_str().unwrap().to_string();
    assert!(all.contains("digest-drift") && all.contains("undeclared"), "{all}");
    page.eval("(() => { const s = document.getElementById('filter-type'); s.value = 'digest-drift'; s.dispatchEvent(new Event('change', {bubbles: true})); })()");
    page.wait_for(&format!("{visible} === 'digest-drift'"), 5);
    page.eval("(() => { const s = document.getElementById('filter-type'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true})); })()");
    page.type_into("#filter-text", "script");
    page.wait_for(&format!("{visible} === 'undeclared'"), 5);

    // A hand change in production: a deployment in the store, shown on the workload page.
    let (web, web_rs) = deployment("shop", "web", &[("web", &format!("{REPO}-web:hotfix"))], 1);
    let mut rs = web_rs.clone();
    rs["metadata"]["name"] = json!("web-hotfix");
    rs["metadata"]["creationTimestamp"] = json!(chrono::Utc::now().to_rfc3339());
    s.kube.apply(web);
    s.kube.apply(rs.clone());
    s.kube.delete("Pod", "shop", "web-5f7b8c9d4-w");
    s.kube.apply(pod(&rs, "h", &[("web", &format!("{REPO}-web@{D3}"))]));
    let _ = web_rs;
    wait_until(20, "the hand change in the page", || {
        let (_, body) = d.get("/workloads/shop/Deployment/web");
        body.contains("hand").then_some(())
    });
    let page = browser.open(&format!("{base}/workloads/shop/Deployment/web"));
    let rows = page.eval("document.querySelectorAll('#deployments-table tbody tr').length");
    assert!(rows.as_u64().unwrap() >= 1, "{rows}");
    let history = page.text("#deployments").unwrap();
    assert!(history.contains("hand"), "the hand change is marked: {history}");
    no_script_ran(&page);
    shot(&page, s.dir.path(), "workload");
}

#[test]
fn the_html_report_opens_from_disk_with_networking_off() {
    let s = site();
    let cfg = s.cfg.clone().write();
    let out = driftwatch(
        s.dir.path(),
        &["--once", "--format", "html", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let file = s.dir.path().join("report.html");
    std::fs::write(&file, &out.stdout).unwrap();
    let browser = Browser::start_offline();
    let page = browser.open(&format!("file://{}", file.display()));
    let cell = r#"document.querySelector('tr[data-workload="shop/Deployment/api"] td[data-env="production"]')"#;
    assert_eq!(page.eval(&format!("{cell}.dataset.state")), json!("drifting"));
    no_script_ran(&page);
    shot(&page, s.dir.path(), "report");
}
