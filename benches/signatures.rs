//! Signature checks at fleet size: `cargo bench --bench signatures` (`BENCH_DIGESTS`, default
//! 1,000; `BENCH_RUNS`, default 3).
//!
//! Pushes `BENCH_DIGESTS` images to the suite's real docker-registry (htpasswd auth), each with
//! a cosign key signature in the tag scheme (`sha256-<hex>.sig`); git declares one Deployment per
//! image and the cluster snapshot runs each at its declared digest. Then it times
//! `driftwatch --once` (release binary, as its own process) in turns: without a signature policy
//! (the baseline: the registry checks only), with `[[policies.signatures]]` and an empty store
//! (cold: every digest's evidence read and verified), and again with the store the cold run
//! filled (warm: verdicts from the cache, no signature request). Every run must report no
//! finding. Warm minus baseline is what the checks add to an audit once digests are verified.

mod measure;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use measure::{Measured, check, env_usize, measure_child, median, once};
use serde_json::json;
use signatures::Evidence;
use signatures::testing::{KeyPair, sign_simple_signing};
use support::fixtures::{deployment, list, pod};
use support::registry::OciRegistry;

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// Pushes `n` signed images; their digests.
fn fill(registry: &OciRegistry, n: usize, key: &KeyPair) -> Vec<String> {
    (0..n)
        .map(|i| {
            let repo = format!("shop/app-{:02}", i % 20);
            let (digest, _) = registry.push_image(&repo, &format!("v{i}"), "amd64", &format!("seed-{i}"));
            let reference = format!("{}/{repo}", registry.host());
            let Evidence::SimpleSigning { payload, annotations } = sign_simple_signing(key, &reference, &digest) else {
                unreachable!("a simple-signing layer")
            };
            registry.push_cosign(&repo, &digest, ".sig", SIMPLE_SIGNING, &[(payload, json!(annotations))]);
            digest
        })
        .collect()
}

/// The GitOps tree and cluster snapshot: Deployment `app-<i>` declares and runs image `i`.
fn fleet(work: &Path, host: &str, digests: &[String]) {
    let mut docs = String::new();
    let mut objects = Vec::new();
    for (i, digest) in digests.iter().enumerate() {
        let name = format!("app-{i:04}");
        let image = format!("{host}/shop/app-{:02}@{digest}", i % 20);
        writeln!(
            docs,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image}"
        )
        .unwrap();
        let (d, rs) = deployment("shop", &name, &[("app", &image)], 1);
        objects.push(pod(&rs, "a", &[("app", &image)]));
        objects.extend([d, rs]);
    }
    support::write(&work.join("gitops/apps/all/production/deploy.yaml"), &docs);
    support::write(&work.join("cluster.json"), &list(objects));
}

fn config(work: &Path, host: &str, policy: bool) -> PathBuf {
    let mut toml = format!(
        "[gitops]\npath = {:?}\n[render]\ncache_dir = {:?}\n[state]\npath = {:?}\n\
         [[registries]]\nhost = {host:?}\ninsecure = true\nusername_file = {:?}\npassword_file = {:?}\n\
         [[environments]]\nname = \"production\"\npaths = [\"apps/*/production\"]\nrequire_digest = false\n\
         [environments.cluster]\nsnapshot = {:?}\n",
        work.join("gitops").display().to_string(),
        work.join("render-cache").display().to_string(),
        work.join("state.json").display().to_string(),
        work.join("user").display().to_string(),
        work.join("password").display().to_string(),
        work.join("cluster.json").display().to_string(),
    );
    if policy {
        writeln!(
            toml,
            "[[policies.signatures]]\nname = \"release\"\nkeys = [{:?}]",
            work.join("release.pub").display().to_string()
        )
        .unwrap();
    }
    let path = work.join(if policy { "policy.toml" } else { "baseline.toml" });
    std::fs::write(&path, toml).unwrap();
    path
}

fn ms(m: &Measured) -> String {
    format!("{:.0} ms", m.wall.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return measure_child(&args[1..]);
    }
    let n = env_usize("BENCH_DIGESTS", 1000);
    let runs = env_usize("BENCH_RUNS", 3).max(1);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let registry = OciRegistry::start(work, "bench", "bench-password");
    std::fs::write(work.join("user"), "bench").unwrap();
    std::fs::write(work.join("password"), "bench-password").unwrap();
    let key = KeyPair::p256();
    std::fs::write(work.join("release.pub"), key.public_pem()).unwrap();
    let started = std::time::Instant::now();
    let digests = fill(&registry, n, &key);
    eprintln!("pushed {n} signed images in {:.1} s", started.elapsed().as_secs_f64());
    fleet(work, &registry.host(), &digests);
    let (baseline_cfg, policy_cfg) = (
        config(work, &registry.host(), false),
        config(work, &registry.host(), true),
    );
    let store = work.join("driftwatch.db");
    let (mut baseline, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let b = once(work, &format!("baseline-{run}"), &baseline_cfg);
        check("baseline", &b, &[]);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
        }
        let c = once(work, &format!("cold-{run}"), &policy_cfg);
        check("cold", &c, &[]);
        let w = once(work, &format!("warm-{run}"), &policy_cfg);
        check("warm", &w, &[]);
        eprintln!("run {run}: baseline {}, cold {}, warm {}", ms(&b), ms(&c), ms(&w));
        baseline.push(b);
        cold.push(c);
        warm.push(w);
    }
    let (b, c, w) = (median(baseline), median(cold), median(warm));
    let added = w.wall.as_secs_f64() * 1000.0 - b.wall.as_secs_f64() * 1000.0;
    println!("| running digests | baseline (no policy) | cold (verify all) | warm (cached) | warm − baseline |");
    println!("|---|---|---|---|---|");
    println!(
        "| {n} | {} ({:.0} MiB) | {} ({:.0} MiB) | {} ({:.0} MiB) | {added:+.0} ms |",
        ms(&b),
        b.rss_mib,
        ms(&c),
        c.rss_mib,
        ms(&w),
        w.rss_mib
    );
}
