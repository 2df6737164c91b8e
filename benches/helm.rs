//! Helm releases at fleet size: `cargo build --release && cargo bench --bench helm` (`-- --smoke`
//! for 20 apps × 2 environments).
//!
//! Generates N apps × M environments of Helm releases (`BENCH_APPS`, default 250;
//! `BENCH_ENVS`, default 4: 1,000 releases) in a git repository ([`helm_fleet`]: one
//! ingress-nginx-like chart per app with a subchart and a values file per environment), audits
//! it with the release binary (`driftwatch --once --format json`, the repository cloned from a
//! local URL like any remote, `renderer = "helm"` environments of `[[environments.releases]]`)
//! against one snapshot per environment, and times in one run on one machine:
//! - the built-in engine with an empty render cache (cold) and with the cache the cold run
//!   filled (warm): wall time and peak RSS of the driftwatch process, each the median of
//!   `BENCH_RUNS` (default 3); every run's report is checked to hold exactly the fleet's
//!   deliberate drifts, so an engine that errs shows up as a failure, not as a fast time;
//! - the same releases rendered in process, no audit around them: the `helm` crate
//!   (`helm::template`, chart loaded from disk) and real Helm v4's Go library through
//!   helm-python-sdk (`.venv/helm`, `scripts/prereqs` installs it), each release loaded and
//!   rendered in one process.
//!
//! `BENCH_BASELINE=/path/to/driftwatch` also times that binary (an older build) cold and warm
//! on the same fleet in the same run, for an A/B on this noisy machine.

// The kustomize fleet's drifts, digests and environment names (the rest is its own).
#[allow(dead_code)]
mod fleet;
mod helm_fleet;
mod measure;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use helm_fleet::HelmFleet;
use measure::{Measured, check, env_usize, measure_child, median, once, once_with};

/// One environment's releases: every app, or (`only`) the first app, for the untimed warm-up.
fn config(fleet: &HelmFleet, work: &Path, label: &str, cache_dir: Option<&Path>, only_first: bool) -> PathBuf {
    let mut toml = String::new();
    writeln!(toml, "[gitops]\nurl = {:?}", fleet.repo.display().to_string()).unwrap();
    // One clone for every run, made by the warm-up: the runs time rendering, not cloning.
    writeln!(toml, "cache_dir = {:?}", work.join("git-cache").display().to_string()).unwrap();
    writeln!(toml, "\n[render]\nengine = \"builtin\"").unwrap();
    match cache_dir {
        Some(dir) => writeln!(toml, "cache = true\ncache_dir = {:?}", dir.display().to_string()).unwrap(),
        None => writeln!(toml, "cache = false").unwrap(),
    }
    let apps = if only_first { 1 } else { fleet.apps };
    for (env, snapshot) in fleet.envs.iter().zip(&fleet.snapshots) {
        writeln!(toml, "\n[[environments]]\nname = {env:?}\nrenderer = \"helm\"").unwrap();
        for app in 0..apps {
            writeln!(
                toml,
                "[[environments.releases]]\nname = {:?}\nnamespace = {:?}\nchart = {:?}\nvalues_files = [{:?}]",
                helm_fleet::app_name(app),
                helm_fleet::namespace(app, env),
                HelmFleet::chart(app),
                HelmFleet::values_file(app, env),
            )
            .unwrap();
        }
        writeln!(toml, "[environments.cluster]\nname = {env:?}").unwrap();
        writeln!(toml, "snapshot = {:?}", snapshot.display().to_string()).unwrap();
        if only_first {
            break;
        }
    }
    let path = work.join(format!("{label}.toml"));
    std::fs::write(&path, toml).unwrap();
    path
}

/// Which binary audits which fleet.
#[derive(Clone, Copy)]
struct Run<'a> {
    fleet: &'a HelmFleet,
    work: &'a Path,
    driftwatch: &'a str,
}

/// One audit of the whole fleet, checked to report exactly the deliberate drifts and to have
/// rendered every release with the built-in engine (`cached` as `cold` says).
fn audit(run: &Run<'_>, label: &str, cache_dir: &Path, cold: bool) -> Measured {
    let Run {
        fleet,
        work,
        driftwatch,
    } = *run;
    let cfg = config(fleet, work, label, Some(cache_dir), false);
    let m = once_with(driftwatch, work, label, &cfg);
    check(label, &m, &fleet.expected());
    let report: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    let (mut builtin, mut cached) = (0, 0);
    for env in report["environments"].as_array().unwrap() {
        for r in env["releases"].as_array().into_iter().flatten() {
            builtin += usize::from(r["renderer"] == "builtin");
            cached += usize::from(r["cached"] == true);
        }
    }
    assert_eq!(
        builtin,
        fleet.releases(),
        "{label}: releases not rendered by the built-in engine"
    );
    let want = if cold { 0 } else { fleet.releases() };
    assert_eq!(cached, want, "{label}: {cached} releases from the cache");
    m
}

/// Untimed: clones the repository into the shared git cache and warms the page cache, with one
/// release of one environment.
fn warm_up(fleet: &HelmFleet, work: &Path) {
    let cfg = config(fleet, work, "warmup", None, true);
    let w = once(work, "warmup", &cfg);
    assert!(
        w.code == 0 || w.code == 1,
        "warm-up failed (exit {}):\n{}",
        w.code,
        w.stderr
    );
}

/// Every release as (chart directory, values files, name, namespace), on disk.
fn releases(fleet: &HelmFleet) -> Vec<(PathBuf, Vec<PathBuf>, String, String)> {
    let mut out = Vec::new();
    for env in &fleet.envs {
        for app in 0..fleet.apps {
            out.push((
                fleet.repo.join(HelmFleet::chart(app)),
                vec![fleet.repo.join(HelmFleet::values_file(app, env))],
                helm_fleet::app_name(app),
                helm_fleet::namespace(app, env),
            ));
        }
    }
    out
}

/// The `helm` crate rendering every release in this process (chart loaded from disk, values
/// files merged, `helm template`'s output): seconds, and the documents printed.
fn ours_in_process(fleet: &HelmFleet) -> (Duration, usize) {
    use helm::values::render::{ReleaseOptions, TemplateOptions};
    let releases = releases(fleet);
    let values: Vec<Vec<(String, Vec<u8>)>> = releases
        .iter()
        .map(|(_, files, _, _)| {
            files
                .iter()
                .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
                .collect()
        })
        .collect();
    let start = Instant::now();
    let mut documents = 0;
    for ((chart, _, name, namespace), files) in releases.iter().zip(&values) {
        let chart = helm::chart::archive::load_path(chart).unwrap();
        let user = helm::values::user_values(files, &[]).unwrap();
        let opts = TemplateOptions {
            release: ReleaseOptions {
                name: name.clone(),
                namespace: namespace.clone(),
                ..ReleaseOptions::default()
            },
            kube_version: Some("1.30".into()),
            ..TemplateOptions::default()
        };
        documents += helm::template(chart, &user, &opts, helm::Show::default())
            .unwrap()
            .documents
            .len();
    }
    (start.elapsed(), documents)
}

/// Real Helm's Go library (helm-python-sdk) rendering every release in one process.
fn helm_in_process(fleet: &HelmFleet, work: &Path) -> (Duration, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/helm/bin/python");
    assert!(
        python.exists(),
        "the Helm oracle is missing: {} (scripts/prereqs)",
        python.display()
    );
    let list: Vec<serde_json::Value> = releases(fleet)
        .into_iter()
        .map(|(chart, files, name, namespace)| {
            serde_json::json!({"chart": chart, "values_files": files, "name": name, "namespace": namespace})
        })
        .collect();
    let path = work.join("oracle-releases.json");
    std::fs::write(&path, serde_json::to_string(&list).unwrap()).unwrap();
    let out = Command::new(python)
        .arg(root.join("benches/helm_fleet/oracle.py"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["releases"], fleet.releases());
    (
        Duration::from_secs_f64(v["seconds"].as_f64().unwrap()),
        v["templates"].as_u64().unwrap() as usize,
    )
}

/// For each binary, the median of `reps` cold audits (each with an empty render cache) and of
/// `reps` warm ones (with the cache its first cold one filled), logged as they run. The
/// binaries take turns, so a load that comes and goes on this shared machine weighs on each.
fn cold_and_warm(runs: &[(Run<'_>, &str)], reps: usize) -> Vec<(Measured, Measured)> {
    let mut cold: Vec<Vec<Measured>> = runs.iter().map(|_| Vec::new()).collect();
    let mut warm: Vec<Vec<Measured>> = runs.iter().map(|_| Vec::new()).collect();
    let log = |run: &Run<'_>, what: &str, m: &Measured| {
        eprintln!(
            "{} {what}: {:.2} s, {:.0} MiB",
            run.driftwatch,
            m.wall.as_secs_f64(),
            m.rss_mib
        );
    };
    for (phase, out) in [(true, &mut cold), (false, &mut warm)] {
        for i in 0..reps {
            for ((run, prefix), ms) in runs.iter().zip(out.iter_mut()) {
                let what = if phase { "cold" } else { "warm" };
                let cache = run
                    .work
                    .join(format!("{prefix}render-cache-{}", if phase { i } else { 0 }));
                let m = audit(run, &format!("{prefix}{what}-{i}"), &cache, phase);
                log(run, &format!("cache {what}"), &m);
                ms.push(m);
            }
        }
    }
    cold.into_iter()
        .zip(warm)
        .map(|(c, w)| (median(c), median(w)))
        .collect()
}

fn bench(apps: usize, envs: usize, reps: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let t = Instant::now();
    let fleet = HelmFleet::generate(work, apps, envs);
    eprintln!(
        "generated {} releases ({apps} apps × {envs} environments), {} Pods, in {:.1} s under {}",
        fleet.releases(),
        fleet.pods(),
        t.elapsed().as_secs_f64(),
        work.display()
    );
    warm_up(&fleet, work);
    let run = Run {
        fleet: &fleet,
        work,
        driftwatch: env!("CARGO_BIN_EXE_driftwatch"),
    };
    let baseline = std::env::var("BENCH_BASELINE").ok();
    let mut runs = vec![(run, "")];
    let mut labels = vec!["`--once`, built-in".to_string()];
    if let Some(b) = &baseline {
        runs.push((Run { driftwatch: b, ..run }, "baseline-"));
        labels.push(format!("`--once` of {b}"));
    }
    let rows: Vec<(String, (Measured, Measured))> = labels.into_iter().zip(cold_and_warm(&runs, reps)).collect();
    let (ours, documents) = ours_in_process(&fleet);
    eprintln!("helm crate in process: {:.2} s", ours.as_secs_f64());
    let (theirs, templates) = helm_in_process(&fleet, work);
    eprintln!("Helm v4 (helm-python-sdk) in process: {:.2} s", theirs.as_secs_f64());
    println!(
        "\nFleet: {apps} apps × {envs} environments = {} Helm releases, {} Pods ({} expected findings, checked in every run)\n",
        fleet.releases(),
        fleet.pods(),
        fleet.expected().len()
    );
    println!("| {} releases | wall s | peak RSS MiB |", fleet.releases());
    println!("|---|---:|---:|");
    for (what, (cold, warm)) in &rows {
        for (cache, m) in [("cache cold", cold), ("cache warm", warm)] {
            println!("| {what}, {cache} | {:.2} | {:.0} |", m.wall.as_secs_f64(), m.rss_mib);
        }
    }
    println!(
        "| render only, in process: the `helm` crate ({documents} documents) | {:.2} | |",
        ours.as_secs_f64()
    );
    println!(
        "| render only, in process: Helm v4's Go library via helm-python-sdk ({templates} templates) | {:.2} | |",
        theirs.as_secs_f64()
    );
    println!(
        "\nHelm's library / the helm crate: {:.1}×",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        return measure_child(&args[2..]);
    }
    let smoke = args.iter().any(|a| a == "--smoke") || std::env::var_os("BENCH_SMOKE").is_some();
    let reps = env_usize("BENCH_RUNS", 3).max(1);
    if smoke {
        return bench(env_usize("BENCH_APPS", 20), env_usize("BENCH_ENVS", 2), reps);
    }
    bench(env_usize("BENCH_APPS", 250), env_usize("BENCH_ENVS", 4), reps);
}
