//! Audit cost at cluster scale: `cargo bench --bench audit`.
//!
//! Builds synthetic clusters (Deployments of 10 Pods each, plus their ReplicaSets, as `kubectl
//! get -o json` writes them) and the matching declared state, then measures each stage in
//! process: reading the List JSON (the same slim deserialization the API path uses per page),
//! owner resolution, comparison; and the whole `driftwatch --once` binary on a snapshot and a
//! plain GitOps tree, with the binary's peak RSS (sizes run in ascending order, so the children's
//! maximum is that size's peak).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use driftwatch::core::compare::{Scope, compare};
use driftwatch::core::model::{ContainerSpec, DeclaredState, DeclaredWorkload, WorkloadKind};
use driftwatch::core::resolve::{RawObjects, build};
use serde_json::json;

const PODS_PER_DEPLOYMENT: usize = 10;

fn digest(i: usize) -> String {
    format!("sha256:{i:064x}")
}

fn snapshot(pods: usize) -> String {
    let deployments = pods / PODS_PER_DEPLOYMENT;
    let mut items = Vec::with_capacity(pods + 2 * deployments);
    for d in 0..deployments {
        let (name, ns) = (format!("app-{d}"), format!("team-{}", d % 50));
        let image = format!("registry.example.com/{ns}/{name}@{}", digest(d));
        let tmpl = json!({"metadata": {"labels": {"app": name}}, "spec": {"containers": [
            {"name": "app", "image": image, "ports": [{"containerPort": 8080}], "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
            {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0"}]}});
        items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "uid": format!("d-{d}"), "generation": 3, "creationTimestamp": "2026-11-01T00:00:00Z",
                         "labels": {"app": name}, "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": PODS_PER_DEPLOYMENT, "template": tmpl},
            "status": {"observedGeneration": 3, "replicas": PODS_PER_DEPLOYMENT, "updatedReplicas": PODS_PER_DEPLOYMENT, "readyReplicas": PODS_PER_DEPLOYMENT}}));
        items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("{name}-abc"), "namespace": ns, "uid": format!("rs-{d}"), "creationTimestamp": "2026-11-01T00:00:00Z",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": format!("d-{d}"), "controller": true}]},
            "spec": {"replicas": PODS_PER_DEPLOYMENT, "template": tmpl}, "status": {"replicas": PODS_PER_DEPLOYMENT}}));
        for p in 0..PODS_PER_DEPLOYMENT {
            // Every 100th Deployment has one Pod on another digest: some findings to report.
            let running = if d % 100 == 0 && p == 0 {
                digest(d + 1_000_000)
            } else {
                digest(d)
            };
            items.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{name}-abc-{p}"), "namespace": ns, "uid": format!("p-{d}-{p}"), "creationTimestamp": "2026-11-01T00:00:10Z",
                             "labels": {"app": name, "pod-template-hash": "abc"},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-abc"), "uid": format!("rs-{d}"), "controller": true}]},
                "spec": tmpl["spec"], 
                "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [
                               {"name": "app", "image": image, "imageID": format!("registry.example.com/{ns}/{name}@{running}"), "ready": true, "restartCount": 0,
                                "state": {"running": {"startedAt": "2026-11-01T00:00:20Z"}}},
                               {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0", "imageID": format!("docker.io/istio/proxyv2@{}", digest(7)), "ready": true, "restartCount": 0}]}}));
        }
    }
    serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": items})).unwrap()
}

fn declared(pods: usize) -> DeclaredState {
    let workloads = (0..pods / PODS_PER_DEPLOYMENT)
        .map(|d| {
            let ns = format!("team-{}", d % 50);
            DeclaredWorkload {
                kind: WorkloadKind::Deployment,
                name: format!("app-{d}"),
                source: format!("apps/app-{d}/overlays/production"),
                containers: vec![ContainerSpec {
                    name: "app".into(),
                    image: format!("registry.example.com/{ns}/app-{d}@{}", digest(d)),
                    init: false,
                    invalid: None,
                }],
                helm: None,
                namespace: ns,
            }
        })
        .collect();
    DeclaredState {
        workloads,
        ..Default::default()
    }
}

fn write_tree(dir: &Path, pods: usize, snapshot: &str) {
    for w in declared(pods).workloads {
        let path = dir.join(format!("gitops/{}/deploy.yaml", w.source));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let yaml = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\n  namespace: {}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {}\n",
            w.name, w.namespace, w.containers[0].image
        );
        std::fs::write(path, yaml).unwrap();
    }
    std::fs::write(dir.join("cluster.json"), snapshot).unwrap();
    std::fs::write(
        dir.join("bench.toml"),
        "[gitops]\npath = \"gitops\"\n[[environments]]\nname = \"production\"\npaths = [\"apps/*/overlays/production\"]\n[environments.cluster]\nsnapshot = \"cluster.json\"\n",
    )
    .unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Largest peak RSS of any child process waited for so far (getrusage reports the maximum).
/// Only meaningful in a small process: Linux carries a forked child's high-water mark across
/// `exec`, so a child of this (large) bench process would report the bench's own memory.
#[allow(unsafe_code)]
fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    usage.ru_maxrss as f64 / 1024.0
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// `audit --rss-of CMD ARGS…` (run by `main` itself): runs CMD, prints its exit code and peak
/// RSS in MiB. Being a fresh, small process, its child's high-water mark is the child's own.
fn rss_of(args: &[String]) {
    let status = Command::new(&args[0])
        .args(&args[1..])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    println!("{} {:.0}", status.code().unwrap_or(-1), children_peak_rss_mib());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--rss-of") {
        return rss_of(&args[2..]);
    }
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/driftwatch");
    let runs = 5;
    println!(
        "| Pods | snapshot MiB | parse ms | resolve ms | compare ms | findings | `driftwatch --once` ms | `--once` peak RSS MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for pods in [1_000usize, 10_000, 50_000] {
        let text = snapshot(pods);
        let decl = declared(pods);
        let (mut parse, mut resolve, mut cmp) = (Vec::new(), Vec::new(), Vec::new());
        let mut found = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let raw = RawObjects::from_snapshot_json(&text).unwrap();
            parse.push(t.elapsed());
            let t = Instant::now();
            let live = build(&raw, None);
            resolve.push(t.elapsed());
            let scope = bench_scope();
            let t = Instant::now();
            found = compare(&scope, &decl, Some(&live)).len();
            cmp.push(t.elapsed());
        }
        let (e2e, rss) = if binary.exists() {
            let dir = tempfile::tempdir().unwrap();
            write_tree(dir.path(), pods, &text);
            let args = ["--once", "--format", "json", "--config", "bench.toml"];
            let times: Vec<Duration> = (0..3)
                .map(|_| {
                    let t = Instant::now();
                    let out = Command::new(&binary)
                        .args(args)
                        .current_dir(dir.path())
                        .output()
                        .unwrap();
                    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
                    t.elapsed()
                })
                .collect();
            let me = std::env::current_exe().unwrap();
            let out = Command::new(me)
                .arg("--rss-of")
                .arg(&binary)
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let rss = text.split_whitespace().nth(1).unwrap_or("?").to_string();
            (ms(median(times)), rss)
        } else {
            ("(cargo build --release first)".into(), "-".into())
        };
        println!(
            "| {pods} | {:.1} | {} | {} | {} | {found} | {e2e} | {rss} |",
            text.len() as f64 / (1024.0 * 1024.0),
            ms(median(parse)),
            ms(median(resolve)),
            ms(median(cmp))
        );
    }
}

/// The production environment's settings, as an audit hands them to the comparison.
fn bench_scope() -> Scope<'static> {
    Scope {
        environment: "production",
        cluster: "bench",
        commit: None,
        require_digest: true,
        ignore_containers: &[],
        namespaces: &[],
        rollout_grace: Duration::from_secs(900),
        now: Utc::now(),
        allowed_sources: &[],
        rewrites: &[],
        registry: None,
        promotion: None,
        compare_secrets: false,
        overrides: &[],
        controller: &[],
        signatures: None,
    }
}
