//! Discovery at fleet size: `cargo bench --bench discovery` (`BENCH_APPS`, default 500;
//! `BENCH_ENVS`, default 4; `BENCH_REPOS`, default 20; `BENCH_RUNS`, default 3).
//!
//! Generates the render benchmark's fleet ([`fleet`]: N apps × M environments of kustomize
//! overlays, one snapshot per environment) and copies its repository into `BENCH_REPOS` git
//! repositories; one Argo CD Application per app and environment (2,000 by default, labelled
//! `env=<environment>`, app `i` in repository `i % BENCH_REPOS`) is served by the suite's
//! Kubernetes API, or, with `BENCH_KAPI=<KAPI_DIR>`, written into a real kube-apiserver
//! (`../shared/kapi`; the Application CRD must be installed: see docs/benchmarks.md). Then,
//! warm (every repository cached, every overlay in the render cache), it times in turns
//! `driftwatch --once` with `[discovery.argocd]` listing those Applications and with the
//! config `driftwatch discover` printed for them pasted in (the same environments, written by
//! hand): the difference is what discovery adds to an audit. Every run's findings are checked
//! to be exactly the fleet's deliberate drifts.
//!
//! The same run does it again for Flux: one `GitRepository` per repository and one
//! `Kustomization` per app and environment in `flux-system` (`env` label, `targetNamespace`,
//! `postBuild.substitute`, one app in ten pinning its image with `images`, `kubeConfig` naming
//! the environment's cluster), with `[discovery.flux]`, beside the environments pasted from
//! `driftwatch discover`. On kapi the Flux kinds (CRDs from Flux's releases: docs/benchmarks.md)
//! are read as `reader2`, granted get/list/watch on them as deploy/components/flux does, and the
//! bench times one LIST of each kind as that user.

#[allow(dead_code)]
mod fleet;
// Shared with the watch bench, which writes workloads too.
mod flux_fleet;
#[allow(dead_code)]
mod kapi;
mod measure;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use fleet::Fleet;
use measure::{Expected, Measured, check, env_usize, measure_child, median, once};
use serde_json::{Value, json};
use support::kube::FakeKube;

fn application(repos: &[PathBuf], app: usize, env: &str) -> Value {
    let name = format!("app-{app:04}");
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": format!("{name}-{env}"), "namespace": "argocd", "labels": {"env": env}},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": format!("file://{}", repos[app % repos.len()].display()),
                "targetRevision": "main",
                "path": format!("apps/{name}/overlays/{env}"),
            },
            "destination": {"name": env, "namespace": format!("{env}-team-{:02}", app % 25)},
        },
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
    })
}

/// The sections both configs share: caches and one snapshot per destination cluster.
fn common(work: &Path) -> String {
    let mut toml = String::new();
    writeln!(
        toml,
        "[gitops]\ncache_dir = {:?}\n[render]\ncache_dir = {:?}\n[state]\npath = {:?}",
        work.join("git-cache").display().to_string(),
        work.join("render-cache").display().to_string(),
        work.join("state.json").display().to_string(),
    )
    .unwrap();
    toml
}

fn discovery_config(work: &Path, fleet: &Fleet, kubeconfig: &Path) -> PathBuf {
    let mut toml = common(work);
    writeln!(
        toml,
        "[discovery.argocd]\ncluster = {{ kubeconfig = {:?} }}\nnamespace = \"argocd\"\nenvironment_from = \"label:env\"",
        kubeconfig.display().to_string()
    )
    .unwrap();
    for (env, snapshot) in fleet.envs.iter().zip(&fleet.snapshots) {
        writeln!(
            toml,
            "[[discovery.clusters]]\nname = {env:?}\nsnapshot = {:?}",
            snapshot.display().to_string()
        )
        .unwrap();
    }
    let path = work.join("discovery.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// `driftwatch discover` of `discovery`, pasted after the shared sections (`shared`).
fn frozen_config(work: &Path, shared: &str, discovery: &Path, name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["discover", "--config", discovery.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "discover: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = work.join(format!("frozen-{name}.toml"));
    std::fs::write(&path, format!("{shared}{}", String::from_utf8_lossy(&out.stdout))).unwrap();
    path
}

/// The fleet, its repository copied `repos` times, and one Application per app and
/// environment (app `i` in copy `i % repos`).
fn generate(work: &Path, apps: usize, envs: usize, repos: usize) -> (Fleet, Vec<Value>) {
    let fleet = Fleet::generate(work, apps, envs);
    let copies: Vec<PathBuf> = (0..repos)
        .map(|i| {
            let copy = work.join(format!("repo-{i:02}"));
            let status = Command::new("cp")
                .arg("-a")
                .arg(&fleet.repo)
                .arg(&copy)
                .status()
                .unwrap();
            assert!(status.success());
            copy
        })
        .collect();
    let applications: Vec<Value> = fleet
        .envs
        .iter()
        .flat_map(|env| (0..apps).map(|app| application(&copies, app, env)).collect::<Vec<_>>())
        .collect();
    (fleet, applications)
}

fn secs(m: &Measured) -> String {
    format!("{:.2}", m.wall.as_secs_f64())
}

/// Warm-up, then `runs` turns of discovered and hand-written: their medians.
fn compare(
    work: &Path,
    name: &str,
    (discovery, frozen): (&Path, &Path),
    (with_discovery, by_hand): (&[Expected], &[Expected]),
    runs: usize,
) -> (Measured, Measured) {
    let check_one = |label: &str, m: &Measured, cfg: &Path| {
        check(label, m, if cfg == discovery { with_discovery } else { by_hand });
    };
    // Warm-up: clone every repository, fill the render cache (each config once).
    for (label, cfg) in [("warm-up discovered", discovery), ("warm-up frozen", frozen)] {
        let label = format!("{name}-{label}");
        check_one(&label, &once(work, &label, cfg), cfg);
    }
    let (mut discovered, mut written) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let m = once(work, &format!("{name}-discovered-{i}"), discovery);
        check_one(&format!("{name} discovered"), &m, discovery);
        discovered.push(m);
        let m = once(work, &format!("{name}-frozen-{i}"), frozen);
        check_one(&format!("{name} written by hand"), &m, frozen);
        written.push(m);
    }
    (median(discovered), median(written))
}

fn table(section: &str, (d, h): &(Measured, Measured)) {
    println!("| `{section}` | {} | {:.0} |", secs(d), d.rss_mib);
    println!(
        "| the same environments written by hand (`driftwatch discover`'s output) | {} | {:.0} |",
        secs(h),
        h.rss_mib
    );
    println!(
        "| what `{section}` adds to a warm audit | {:.2} | |",
        d.wall.as_secs_f64() - h.wall.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--measure") {
        return measure_child(&args[1..]);
    }
    let (apps, envs, repos) = (
        env_usize("BENCH_APPS", 500),
        env_usize("BENCH_ENVS", 4),
        env_usize("BENCH_REPOS", 20),
    );
    let runs = env_usize("BENCH_RUNS", 3).max(1);
    let mut tmp = tempfile::tempdir().unwrap();
    // BENCH_KEEP=1: the generated repositories, configs and each run's output stay.
    tmp.disable_cleanup(std::env::var_os("BENCH_KEEP").is_some());
    eprintln!("work: {}", tmp.path().display());
    let work = tmp.path();
    let (fleet, applications) = generate(work, apps, envs, repos);
    let count = applications.len();
    let flux = flux_fleet::objects(&fleet, work, repos);
    let real = std::env::var_os("BENCH_KAPI").map(|dir| kapi::Kapi::open(Path::new(&dir)));
    let served;
    let (argo_kubeconfig, flux_kubeconfig) = match &real {
        Some(kapi) => {
            kapi.load(&applications, 8);
            flux_fleet::load(kapi, &flux);
            (kapi.admin_kubeconfig(), kapi.reader_kubeconfig())
        }
        None => {
            served = FakeKube::start(applications.into_iter().chain(flux.all()).collect());
            (served.kubeconfig(work, "argocd"), served.kubeconfig(work, "flux"))
        }
    };
    let expected = fleet.expected();
    let argo_cfg = discovery_config(work, &fleet, &argo_kubeconfig);
    let argo_frozen = frozen_config(work, &common(work), &argo_cfg, "argo");
    let argo = compare(work, "argocd", (&argo_cfg, &argo_frozen), (&expected, &expected), runs);
    let flux_common = flux_fleet::common(work, &common(work), &flux);
    let flux_cfg = flux_fleet::config(work, &flux_common, &fleet, &flux_kubeconfig);
    let flux_frozen = frozen_config(work, &flux_common, &flux_cfg, "flux");
    // Pasted, an `images` entry is declared config: no `override` warning.
    let with_overrides = flux_fleet::expected(&fleet, expected.clone());
    let flux_m = compare(
        work,
        "flux",
        (&flux_cfg, &flux_frozen),
        (&with_overrides, &expected),
        runs,
    );
    let source = if real.is_some() {
        "listed from a real kube-apiserver v1.26 (kapi)"
    } else {
        "listed from the suite's Kubernetes API"
    };
    println!(
        "\n{count} Argo CD Applications and {} Flux Kustomizations ({apps} apps × {envs} environments) in {repos} repositories, {source}; warm `--once`, medians of {runs}\n",
        flux.kustomizations.len()
    );
    println!("| config | wall s | peak RSS MiB |\n|---|---:|---:|");
    table("[discovery.argocd]", &argo);
    table("[discovery.flux]", &flux_m);
    if let Some(kapi) = &real {
        flux_fleet::list_costs(kapi);
    }
}
