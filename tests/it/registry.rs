//! Registry-aware checks against a real OCI registry (Debian's docker-registry, htpasswd auth)
//! filled over its HTTP API: multi-arch index vs platform digest (no false drift), a re-pointed
//! tag (`tag-moved`), a deleted manifest (`digest-not-found`), a real mismatch (`digest-drift`),
//! the Bearer token flow, and a registry that is down or refuses the credentials.

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::config::{ConfigBuilder, Environment};
use support::fixtures::{deployment, deployment_yaml, list, pod};
use support::registry::{OciRegistry, TokenFront};
use support::run::{Output, driftwatch};
use support::write;

const USER: &str = "puller";
const PASSWORD: &str = "registry-pa55-do-not-print";

struct Images {
    index: String,
    amd64: String,
    arm64: String,
    other: String,
    web_old: String,
    web_new: String,
    gone: String,
}

/// shop/api: a two-platform index (tag v1) and an unrelated build; shop/web: tag `stable`
/// pushed, deployed, then re-pointed; shop/gone: pushed, deployed, then deleted.
fn fill(r: &OciRegistry) -> Images {
    let (amd64, amd64_size) = r.push_image("shop/api", "v1-amd64", "amd64", "api-1");
    let (arm64, arm64_size) = r.push_image("shop/api", "v1-arm64", "arm64", "api-1");
    let index = r.push_index(
        "shop/api",
        "v1",
        &[
            (amd64.clone(), amd64_size, "amd64"),
            (arm64.clone(), arm64_size, "arm64"),
        ],
    );
    let (other, _) = r.push_image("shop/api", "hotfix", "amd64", "api-hotfix");
    let (web_old, _) = r.push_image("shop/web", "stable", "amd64", "web-1");
    let (web_new, _) = r.push_image("shop/web", "stable", "amd64", "web-2");
    let (gone, _) = r.push_image("shop/gone", "v1", "amd64", "gone-1");
    r.delete_manifest("shop/gone", &gone);
    Images {
        index,
        amd64,
        arm64,
        other,
        web_old,
        web_new,
        gone,
    }
}

/// Git declares api by its index digest (twice: one Pod on a platform digest, one on an
/// unrelated build), web by tag, gone by a deleted digest. `host` is how images are named, and
/// the registry entry's host; `environments` are the names of environments auditing it all.
fn setup(dir: &Path, host: &str, environments: &[&str], i: &Images) -> PathBuf {
    let deploy = |name: &str, image: &str| deployment_yaml(name, "shop", image);
    write(
        &dir.join("gitops/apps/api/production/deploy.yaml"),
        &deploy("api", &format!("{host}/shop/api@{}", i.index)),
    );
    write(
        &dir.join("gitops/apps/api2/production/deploy.yaml"),
        &deploy("api2", &format!("{host}/shop/api@{}", i.index)),
    );
    write(
        &dir.join("gitops/apps/web/production/deploy.yaml"),
        &deploy("web", &format!("{host}/shop/web:stable")),
    );
    write(
        &dir.join("gitops/apps/gone/production/deploy.yaml"),
        &deploy("gone", &format!("{host}/shop/gone@{}", i.gone)),
    );
    let mut objects = Vec::new();
    let mut add = |name: &str, spec: String, runs: &[&str]| {
        let (d, rs) = deployment("shop", name, &[(name, &spec)], runs.len() as i64);
        for (n, digest) in runs.iter().enumerate() {
            objects.push(pod(
                &rs,
                &format!("p{n}"),
                &[(
                    name,
                    &format!("{host}/shop/{}@{digest}", if name == "api2" { "api" } else { name }),
                )],
            ));
        }
        objects.extend([d, rs]);
    };
    add("api", format!("{host}/shop/api@{}", i.index), &[&i.amd64, &i.arm64]);
    add("api2", format!("{host}/shop/api@{}", i.index), &[&i.other]);
    add("web", format!("{host}/shop/web:stable"), &[&i.web_old]);
    add("gone", format!("{host}/shop/gone@{}", i.gone), &[&i.gone]);
    write(&dir.join("cluster.json"), &list(objects));
    let environment = |e: Environment| {
        e.paths(&["apps/*/production"])
            .require_digest(false)
            .snapshot("cluster.json")
    };
    let mut cfg = ConfigBuilder::new(dir).gitops(|g| g.path("gitops")).registry(|r| {
        r.host(host)
            .insecure(true)
            .backoff("10ms")
            .max_attempts(2)
            .timeout("3s")
            .username_env("REG_USER")
            .password_env("REG_PASSWORD")
    });
    for name in environments {
        cfg = cfg.environment(name, environment);
    }
    cfg.write()
}

fn audit(dir: &Path, cfg: &Path, password: &str) -> Output {
    let out = driftwatch(
        dir,
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[("REG_USER", USER), ("REG_PASSWORD", password)],
    );
    assert!(
        !out.stdout.contains(password) && !out.stderr.contains(password),
        "the registry password is never printed"
    );
    out
}

fn by_workload(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or("").to_string(),
                f["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn multi_arch_tag_moved_digest_not_found_and_real_drift() {
    let dir = tempfile::tempdir().unwrap();
    let registry = OciRegistry::start(dir.path(), USER, PASSWORD);
    let images = fill(&registry);
    assert_ne!(images.web_old, images.web_new);
    let cfg = setup(dir.path(), &registry.host(), &["production"], &images);

    let out = audit(dir.path(), &cfg, PASSWORD);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        by_workload(&report),
        vec![
            ("api2".to_string(), "digest-drift".to_string()),
            ("gone".to_string(), "digest-not-found".to_string()),
            ("web".to_string(), "tag-moved".to_string()),
            ("web".to_string(), "unpinned".to_string()),
        ],
        "api's Pods run the amd64 and arm64 manifests of the declared index: not drift"
    );
    let moved = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "tag-moved")
        .unwrap();
    let short = |d: &str| d[..19].to_string();
    let message = moved["message"].as_str().unwrap();
    assert!(
        message.contains(&short(&images.web_new)) && message.contains(&short(&images.web_old)),
        "{message}"
    );
    assert_eq!(report["environments"][0]["status"], "ok");
}

#[test]
fn the_bearer_token_flow_in_front_of_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let registry = OciRegistry::start(dir.path(), USER, PASSWORD);
    let images = fill(&registry);
    let front = TokenFront::start(&registry);
    let host = front.addr.to_string();
    let cfg = setup(dir.path(), &host, &["production"], &images);

    let out = audit(dir.path(), &cfg, PASSWORD);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        by_workload(&out.json()).len(),
        4,
        "the same findings through the token flow: {}",
        out.stdout
    );
    let tokens = front.token_requests.lock().unwrap().clone();
    assert!(
        !tokens.is_empty()
            && tokens
                .iter()
                .all(|q| q.contains("service=driftwatch-test") && q.contains("scope=repository")),
        "{tokens:?}"
    );
    assert!(
        tokens.len() <= 3,
        "tokens are reused per repository, not fetched per request: {tokens:?}"
    );

    let out = audit(dir.path(), &cfg, "wrong-password");
    let report = out.json();
    let unverifiable: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "unverifiable")
        .collect();
    assert!(!unverifiable.is_empty(), "{}", out.stdout);
    assert!(
        unverifiable[0]["message"]
            .as_str()
            .unwrap()
            .contains("credentials refused"),
        "{}",
        unverifiable[0]
    );
}

#[test]
fn a_registry_that_is_down_makes_checks_unverifiable_and_the_audit_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = OciRegistry::start(dir.path(), USER, PASSWORD);
    let images = fill(&registry);
    let cfg = setup(dir.path(), &registry.host(), &["production"], &images);
    registry.stop();

    let out = audit(dir.path(), &cfg, PASSWORD);
    let report = out.json();
    assert_eq!(
        report["environments"][0]["status"], "ok",
        "a registry outage does not fail the audit"
    );
    let types = by_workload(&report);
    assert!(
        types.contains(&("gone".to_string(), "unverifiable".to_string())),
        "{types:?}"
    );
    assert!(
        types.contains(&("web".to_string(), "unverifiable".to_string())),
        "{types:?}"
    );
    assert!(
        !types.iter().any(|(_, t)| t == "digest-not-found" || t == "tag-moved"),
        "nothing claimed without the registry: {types:?}"
    );
    let reason = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "unverifiable")
        .unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains(&format!("registry {}", registry.host())), "{reason}");
}

#[test]
fn a_tag_is_asked_once_per_audit_even_when_two_environments_declare_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = OciRegistry::start(dir.path(), USER, PASSWORD);
    let images = fill(&registry);
    let front = TokenFront::start(&registry);
    let host = front.addr.to_string();
    // A second environment over the same tree and cluster: the same `web:stable` tag.
    let cfg = setup(dir.path(), &host, &["production", "production-b"], &images);

    let out = audit(dir.path(), &cfg, PASSWORD);
    assert_eq!(
        out.json()["environments"].as_array().unwrap().len(),
        2,
        "{}",
        out.stderr
    );
    let asked = |path: &str| {
        front
            .forwarded
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.ends_with(path))
            .count()
    };
    assert_eq!(
        asked("/v2/shop/web/manifests/stable"),
        1,
        "{:?}",
        front.forwarded.lock().unwrap()
    );
    let first: Vec<String> = front.forwarded.lock().unwrap().clone();
    let distinct: std::collections::BTreeSet<&String> = first.iter().collect();
    assert_eq!(
        distinct.len(),
        first.len(),
        "no manifest is fetched twice in one audit: {first:?}"
    );

    // The next audit asks again: a tag can move between audits.
    audit(dir.path(), &cfg, PASSWORD);
    assert_eq!(asked("/v2/shop/web/manifests/stable"), 2);
}

/// A registry that accepts connections and drops them at once, counting them: what a crashed
/// registry behind a load balancer looks like.
fn dropping_registry() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (host, accepted)
}

#[test]
fn a_registry_found_down_is_not_asked_again_in_that_audit() {
    let dir = tempfile::tempdir().unwrap();
    let (host, accepted) = dropping_registry();
    let apps: Vec<String> = (0..12).map(|i| format!("app{i}")).collect();
    let mut objects = Vec::new();
    for app in &apps {
        let image = format!("{host}/shop/{app}:v1");
        write(
            &dir.path().join(format!("gitops/apps/{app}/production/deploy.yaml")),
            &deployment_yaml(app, "shop", &image),
        );
        let (d, rs) = deployment("shop", app, &[(app.as_str(), &image)], 1);
        objects.extend([d, rs]);
    }
    write(&dir.path().join("cluster.json"), &list(objects));
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .registry(|r| {
            r.host(&host)
                .insecure(true)
                .backoff("10ms")
                .max_attempts(2)
                .timeout("2s")
        })
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .require_digest(false)
                .snapshot("cluster.json")
        })
        .write();
    let out = driftwatch(
        dir.path(),
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    );
    let report = out.json();
    let unverifiable: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "unverifiable")
        .collect();
    assert_eq!(
        unverifiable.len(),
        apps.len(),
        "every tag check is unverifiable: {report}"
    );
    for f in &unverifiable {
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("registry {host} unreachable in this audit")),
            "{message}"
        );
    }
    // Asking every tag on its own would take 12 lookups × 2 attempts. Once the first lookup
    // has failed, only the lookups already under way (at most 4 per registry) may still try.
    let asked = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        asked <= 8,
        "the registry was asked {asked} times after it was found down"
    );
    assert_eq!(
        out.stderr.matches("registry unreachable").count(),
        1,
        "the reason is logged once: {}",
        out.stderr
    );
}
