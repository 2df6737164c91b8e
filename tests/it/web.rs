//! The status pages of the real daemon (`/`, `/api/status`, a workload page, `/pipeline`,
//! their security headers) and `--once --format html`, over one planted digest drift:
//! production declares shop/api at D1 and runs D2; staging, on the same paths, runs D1.

use std::path::Path;

use serde_json::Value;
use support::config::{ConfigBuilder, Schedule};
use support::daemon::Daemon;
use support::fixtures::{D1, D2, REPO, deployment, list, one_drift, pod};
use support::net::wait_until;
use support::run::driftwatch;
use support::write;

use crate::NEVER;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn config(dir: &Path, schedule: impl FnOnce(Schedule) -> Schedule) -> ConfigBuilder {
    one_drift(dir);
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "s", &[("api", &format!("{REPO}@{D1}"))]);
    write(&dir.join("staging.json"), &list(vec![d, rs, p]));
    ConfigBuilder::new(dir)
        .schedule(schedule)
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod")
                .snapshot("cluster.json")
        })
        .environment("staging", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("stage")
                .snapshot("staging.json")
        })
}

/// GET with the response headers: (status, content type, CSP, nosniff, referrer policy, body).
struct Got {
    status: u16,
    header: reqwest::header::HeaderMap,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.header.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The headers every page carries.
    fn assert_secured(&self) {
        assert_eq!(self.header("content-security-policy"), CSP);
        assert_eq!(self.header("x-content-type-options"), "nosniff");
        assert_eq!(self.header("referrer-policy"), "no-referrer");
    }
}

fn get(d: &Daemon, path: &str) -> Got {
    let r = reqwest::blocking::get(format!("http://{}{path}", d.addr)).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    Got {
        status: r.status().as_u16(),
        header: r.headers().clone(),
        body: r.text().unwrap(),
    }
}

/// The `<tr>` of the shop/api row.
fn api_row(html: &str) -> &str {
    let row = html
        .split("<tr data-workload=\"shop/Deployment/api\" data-container=\"api\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no shop/api row in\n{html}"));
    &row[..row.find("</tr>").unwrap()]
}

/// The `<td>` of `env` in a row.
fn cell<'a>(row: &'a str, env: &str) -> &'a str {
    let cell = row
        .split("<td class=\"cell ")
        .find(|c| c.contains(&format!("data-env=\"{env}\"")))
        .unwrap_or_else(|| panic!("no {env} cell in\n{row}"));
    &cell[..cell.find("</td>").unwrap()]
}

/// The drift sits in production's cell, naming the running digest; staging is in sync.
fn assert_planted_drift(html: &str) {
    let row = api_row(html);
    let production = cell(row, "production");
    assert!(production.contains("data-state=\"drifting\""), "{production}");
    assert!(production.contains("data-severity=\"critical\""), "{production}");
    assert!(production.contains("sha256:111111111111"), "declared D1: {production}");
    assert!(
        production.contains("runs <span class=\"digest tone-1\">B</span> <code>sha256:222222222222</code> ×1"),
        "{production}"
    );
    let staging = cell(row, "staging");
    assert!(staging.contains("data-state=\"in-sync\""), "{staging}");
    assert!(
        staging.contains("runs <span class=\"digest tone-0\">A</span> <code>sha256:111111111111</code>"),
        "{staging}"
    );
}

#[test]
fn before_the_first_audit_the_page_says_so_with_its_headers() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &config(dir.path(), |s| s.cron(NEVER)), &[]);
    let page = get(&d, "/");
    assert_eq!(page.status, 503);
    page.assert_secured();
    assert!(page.body.contains("No audit yet"), "{}", page.body);
    let api = get(&d, "/api/status");
    assert_eq!(api.status, 503);
    assert_eq!(
        serde_json::from_str::<Value>(&api.body).unwrap()["error"],
        "no audit has completed yet"
    );
    assert_eq!(get(&d, "/api/status/generation").body, r#"{"generation":0}"#);
}

#[test]
fn the_status_pages_show_the_planted_drift() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        &config(dir.path(), |s| s.run_on_start(true).cron(NEVER)),
        &[],
    );
    let api = wait_until(20, "a status after the first audit", || {
        let got = get(&d, "/api/status");
        (got.status == 200).then_some(got)
    });
    status_api_shows_the_drift(&d, &api);
    status_page_and_assets(&d);
    workload_pages(&d);
    pipeline_page(&d);
}

/// `/api/status` after the first audit: the schema, the matrix and the finding.
fn status_api_shows_the_drift(d: &Daemon, api: &Got) {
    api.assert_secured();
    assert_eq!(api.header("content-type"), "application/json");
    let status: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(status["schema"], "driftwatch.status/v1");
    assert_eq!(status["generation"], 1);
    assert_eq!(
        status["matrix"]["environments"],
        serde_json::json!(["production", "staging"])
    );
    let envs: Vec<(&str, &str)> = status["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(envs, [("production", "drift"), ("staging", "ok")]);
    let row = &status["matrix"]["rows"][0];
    assert_eq!(row["workload"], "shop/Deployment/api");
    assert_eq!(row["cells"][0]["state"], "drifting");
    assert_eq!(row["cells"][0]["running"][0]["digest"], D2);
    assert_eq!(row["cells"][1]["state"], "in-sync");
    assert_eq!(
        row["cells"][0]["declared"]["label"], row["cells"][1]["running"][0]["label"],
        "D1 is one label across the row"
    );
    assert_eq!(status["findings"][0]["type"], "digest-drift");
    assert_eq!(status["findings"][0]["environment"], "production");
    assert_eq!(get(d, "/api/status/generation").body, r#"{"generation":1}"#);
}

/// `/` and its assets.
fn status_page_and_assets(d: &Daemon) {
    let page = get(d, "/");
    assert_eq!(page.status, 200);
    page.assert_secured();
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_planted_drift(&page.body);
    assert!(page.body.contains("data-type=\"digest-drift\""));
    assert!(page.body.contains("href=\"/workloads/shop/Deployment/api\""));
    assert!(
        page.body
            .contains("<script src=\"/assets/driftwatch.js\" defer></script>")
    );
    for (asset, kind) in [
        ("/assets/driftwatch.js", "text/javascript; charset=utf-8"),
        ("/assets/driftwatch.css", "text/css; charset=utf-8"),
    ] {
        let got = get(d, asset);
        assert_eq!((got.status, got.header("content-type")), (200, kind), "{asset}");
        assert_eq!(got.header("x-content-type-options"), "nosniff");
    }
}

/// A workload's page, and a 404 for one the daemon does not know.
fn workload_pages(d: &Daemon) {
    let workload = get(d, "/workloads/shop/Deployment/api");
    assert_eq!(workload.status, 200, "{}", workload.body);
    workload.assert_secured();
    assert!(
        workload
            .body
            .contains("<h1 id=\"workload\" data-workload=\"shop/Deployment/api\">")
    );
    assert!(
        cell(api_row(&workload.body), "production").contains("data-state=\"drifting\""),
        "{}",
        workload.body
    );
    assert!(workload.body.contains("id=\"deployments-title\""));
    assert!(
        !workload.body.contains("could not be read"),
        "the store answers: {}",
        workload.body
    );
    let unknown = get(d, "/workloads/shop/Deployment/nope");
    assert_eq!(unknown.status, 404);
    unknown.assert_secured();
    assert!(unknown.body.contains("knows no workload shop/Deployment/nope"));
}

/// `/pipeline`: every environment's DORA section.
fn pipeline_page(d: &Daemon) {
    let pipeline = get(d, "/pipeline");
    assert_eq!(pipeline.status, 200, "{}", pipeline.body);
    pipeline.assert_secured();
    for env in ["production", "staging"] {
        assert!(
            pipeline
                .body
                .contains(&format!("<section class=\"pipeline-env\" data-env=\"{env}\""))
        );
    }
    assert!(pipeline.body.contains("<svg"));
    assert!(pipeline.body.contains("data-metric=\"deployment-frequency\""));
}

#[test]
fn once_format_html_is_one_file_with_the_planted_drift_in_its_cell() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), |s| s).write();
    let out = driftwatch(
        dir.path(),
        &["--once", "--config", cfg.to_str().unwrap(), "--format", "html"],
        &[],
    );
    assert_eq!(out.code, 1, "drift found: {}", out.stderr);
    assert!(out.stdout.starts_with("<!DOCTYPE html>"));
    assert_planted_drift(&out.stdout);
    assert!(out.stdout.contains("<meta http-equiv=\"Content-Security-Policy\""));
    assert!(!out.stdout.contains("/assets/"), "nothing to load from a daemon");
    assert!(!out.stdout.contains("href=\"/"), "no links to a daemon");
}

/// Replica `identity` in its own folder below `dir`, electing a leader through `kube`; its
/// address in the Lease is its Pod IP (127.0.0.1 here) and listen port.
fn replica(dir: &Path, kube: &support::kube::FakeKube, identity: &str) -> ConfigBuilder {
    let kc = kube.kubeconfig(dir, "lease-ctx");
    let sub = dir.join(identity);
    std::fs::create_dir_all(&sub).unwrap();
    one_drift(&sub);
    ConfigBuilder::new(&sub)
        .gitops(|g| g.path("gitops"))
        .schedule(|s| s.run_on_start(true).cron("0 0 3 1 1 *"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod")
                .snapshot("cluster.json")
        })
        .replica(identity, "ops", &kc)
}

#[test]
fn a_follower_shows_the_leaders_page() {
    let dir = tempfile::tempdir().unwrap();
    let kube = support::kube::FakeKube::start(vec![]);
    let env = [("POD_IP", "127.0.0.1")];
    let a = Daemon::start(
        &dir.path().join("replica-a"),
        &replica(dir.path(), &kube, "replica-a"),
        &env,
    );
    wait_until(20, "replica-a to lead and audit", || {
        (a.get("/api/status").0 == 200).then_some(())
    });
    let b = Daemon::start(
        &dir.path().join("replica-b"),
        &replica(dir.path(), &kube, "replica-b"),
        &env,
    );
    let lease = kube.lease("ops", "driftwatch").unwrap();
    assert_eq!(
        lease["metadata"]["annotations"]["driftwatch.io/address"],
        a.addr.to_string(),
        "the leader says where it serves"
    );
    // The follower never audits, yet its page is the leader's, with the planted drift.
    let (code, body) = wait_until(10, "the follower to know the leader", || {
        let (code, body) = b.get("/");
        (code == 200).then_some((code, body))
    });
    assert_eq!(code, 200);
    assert!(body.contains("drifting"), "{body}");
    assert_eq!(b.get("/readyz"), (200, "ready: follower, standing by\n".into()));
    let (code, json) = b.get("/api/status");
    assert_eq!(code, 200);
    assert_eq!(json, a.get("/api/status").1, "the same view from either replica");
    // A request a replica already forwarded is answered where it lands: never a second hop.
    let answer = reqwest::blocking::Client::new()
        .get(format!("http://{}/", b.addr))
        .header("X-Driftwatch-Forwarded", "1")
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 503);
    let body = answer.text().unwrap();
    assert!(body.contains("follower"), "{body}");
}

/// 250 apps in two environments that are namespaces of one cluster (`dev-ns`, `prod-ns`);
/// in prod-ns every 50th app runs D2 (five rows need attention, the last past row 200).
fn environments_as_namespaces(dir: &Path) -> ConfigBuilder {
    let mut objects = Vec::new();
    for i in 0..250 {
        let name = format!("app{i:03}");
        for (env, ns) in [("dev", "dev-ns"), ("prod", "prod-ns")] {
            write(
                &dir.join(format!("gitops/apps/{name}/{env}/deploy.yaml")),
                &support::fixtures::deployment_yaml(&name, ns, &format!("{REPO}@{D1}")),
            );
            let runs = if env == "prod" && i % 50 == 0 { D2 } else { D1 };
            let (d, rs) = deployment(ns, &name, &[(name.as_str(), &format!("{REPO}@{D1}"))], 1);
            let p = pod(&rs, "a", &[(name.as_str(), &format!("{REPO}@{runs}"))]);
            objects.extend([d, rs, p]);
        }
    }
    write(&dir.join("cluster.json"), &list(objects));
    ConfigBuilder::new(dir)
        .schedule(|s| s.run_on_start(true).cron(NEVER))
        .gitops(|g| g.path("gitops"))
        .environment("dev", |e| {
            e.paths(&["apps/*/dev"])
                .cluster_name("shared")
                .snapshot("cluster.json")
                .namespaces(&["dev-ns"])
        })
        .environment("prod", |e| {
            e.paths(&["apps/*/prod"])
                .cluster_name("shared")
                .snapshot("cluster.json")
                .namespaces(&["prod-ns"])
        })
}

#[test]
fn environments_as_namespaces_are_one_row_per_app_and_attention_filters_before_paging() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &environments_as_namespaces(dir.path()), &[]);
    let api = wait_until(30, "a status after the first audit", || {
        let got = get(&d, "/api/status");
        (got.status == 200).then_some(got)
    });
    let status: Value = serde_json::from_str(&api.body).unwrap();
    let rows = status["matrix"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 250, "one row per app, not one per namespace");
    let app200 = rows.iter().find(|r| r["name"] == "app200").unwrap();
    assert_eq!(app200["workload"], "dev-ns/Deployment/app200");
    assert_eq!(app200["namespaces"], serde_json::json!(["dev-ns", "prod-ns"]));
    let cells: Vec<(&str, &str)> = app200["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["namespace"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(cells, [("dev-ns", "in-sync"), ("prod-ns", "drifting")]);

    let all = get(&d, "/");
    assert_eq!(all.body.matches("<tr data-workload=").count(), 200);
    assert!(all.body.contains("250 rows, page 1 of 2"), "{}", all.body);
    assert!(!all.body.contains("data-workload=\"dev-ns/Deployment/app200\""));
    let attention = get(&d, "/?attention=true");
    assert_eq!(attention.status, 200);
    let listed: Vec<&str> = attention
        .body
        .split("<tr data-workload=\"")
        .skip(1)
        .map(|r| &r[..r.find('"').unwrap()])
        .collect();
    let wanted: Vec<String> = (0..250)
        .step_by(50)
        .map(|i| format!("dev-ns/Deployment/app{i:03}"))
        .collect();
    assert_eq!(listed, wanted, "page 1 holds every row needing attention");
    assert!(attention.body.contains("5 rows needing attention, of 250"));
    let row = attention
        .body
        .split("<tr data-workload=\"dev-ns/Deployment/app200\"")
        .nth(1)
        .unwrap();
    assert!(cell(row, "prod").contains("in <code>prod-ns</code>"), "{row}");
    let page = get(&d, "/workloads/prod-ns/Deployment/app200");
    assert_eq!(page.status, 200);
    let row = page.body.split("<tr data-workload=").nth(1).unwrap();
    assert!(cell(row, "prod").contains("data-state=\"drifting\""), "{row}");
}

/// GET with request headers.
fn get_with(d: &Daemon, path: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::blocking::Client::new().get(format!("http://{}{path}", d.addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().unwrap().to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[test]
fn api_status_is_tagged_compressed_on_request_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        &config(dir.path(), |s| s.run_on_start(true).cron(NEVER)),
        &[],
    );
    let whole = wait_until(20, "a status after the first audit", || {
        let got = get(&d, "/api/status");
        (got.status == 200).then_some(got)
    });
    // The same generation: the same tag; asking with it is answered 304, without a body.
    let tag = whole.header("etag").to_string();
    assert!(tag.starts_with('"') && tag.ends_with("-g1\""), "{tag}");
    assert_eq!(whole.header("vary"), "Accept-Encoding");
    let (status, h, body) = get_with(&d, "/api/status", &[("If-None-Match", &tag)]);
    assert_eq!((status, header(&h, "etag"), body.len()), (304, tag.as_str(), 0));
    let (status, _, _) = get_with(&d, "/api/status", &[("If-None-Match", "\"other-g1\"")]);
    assert_eq!(status, 200, "another tag is not this generation");

    // gzip when asked: the same JSON.
    let (status, h, body) = get_with(&d, "/api/status", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!((status, header(&h, "content-encoding")), (200, "gzip"));
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut json).unwrap();
    assert_eq!(String::from_utf8(json).unwrap(), whole.body);
    assert!(body.len() < whole.body.len());
    let gz_tag = header(&h, "etag").to_string();
    assert_ne!(gz_tag, tag, "each representation has its own tag");
    let (status, _, _) = get_with(
        &d,
        "/api/status",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &gz_tag)],
    );
    assert_eq!(status, 304);

    filtered_status(&d);
}

/// `?env=`, `?attention=true`, `?limit=&cursor=`, and a refused query.
fn filtered_status(d: &Daemon) {
    let cases = [
        // (query, columns, rows, findings, next_cursor)
        ("env=staging", vec!["staging"], 1, 0, Value::Null),
        ("env=production&attention=true", vec!["production"], 1, 1, Value::Null),
        ("env=staging&attention=true", vec!["staging"], 0, 0, Value::Null),
        ("limit=1", vec!["production", "staging"], 1, 1, Value::Null),
        ("limit=1&cursor=1", vec!["production", "staging"], 0, 0, Value::Null),
    ];
    for (query, columns, rows, findings, next) in cases {
        let got = get(d, &format!("/api/status?{query}"));
        assert_eq!(got.status, 200, "{query}: {}", got.body);
        let v: Value = serde_json::from_str(&got.body).unwrap();
        assert_eq!(v["schema"], "driftwatch.status/v1");
        assert_eq!(v["matrix"]["environments"], serde_json::json!(columns), "{query}");
        assert_eq!(v["matrix"]["rows"].as_array().unwrap().len(), rows, "{query}");
        assert_eq!(v["findings"].as_array().unwrap().len(), findings, "{query}");
        assert_eq!(v["next_cursor"], next, "{query}");
        assert!(got.header("etag").contains("-g1-q"), "a tag of its own: {query}");
    }
    let refused = get(d, "/api/status?env=prod");
    assert_eq!(refused.status, 400);
    let v: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(
        v["error"],
        "no environment \"prod\" in the latest audit; it has: production, staging"
    );
    assert_eq!(get(d, "/api/status?limit=0").status, 400);
}

#[test]
fn beyond_the_bound_pages_and_filtered_status_answer_503_while_probes_and_the_shared_status_answer() {
    let dir = tempfile::tempdir().unwrap();
    // No slot at all: every request that costs work per request is beyond the bound.
    let d = Daemon::start(
        dir.path(),
        &config(dir.path(), |s| s.run_on_start(true).cron(NEVER)),
        &[("DRIFTWATCH_WEB_SLOTS", "0/0")],
    );
    wait_until(20, "a status after the first audit", || {
        (get(&d, "/api/status").status == 200).then_some(())
    });
    for path in ["/api/status?attention=true", "/", "/workloads/shop/Deployment/api"] {
        let got = get(&d, path);
        assert_eq!(
            (got.status, got.header("retry-after")),
            (503, "1"),
            "{path}: {}",
            got.body
        );
        got.assert_secured();
    }
    assert_eq!(get(&d, "/healthz").status, 200);
    assert_eq!(
        get(&d, "/api/status").status,
        200,
        "the shared bytes cost nothing per request"
    );
}
