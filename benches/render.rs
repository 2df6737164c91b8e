//! Render cost of a kustomize fleet, external kustomize against the built-in renderer and the
//! render cache: `cargo bench --bench render` (`-- --smoke` for a 20-app fleet).
//!
//! Generates N apps × M environments (`BENCH_APPS`, default 1000; `BENCH_ENVS`, default 4) as
//! kustomize bases and overlays in a git repository ([`fleet`]), audits it with the release
//! binary (`driftwatch --once --format json`, the repository cloned from a local URL like any
//! remote) against one snapshot per environment, and times each way of rendering in one run on
//! one machine: wall time and peak RSS of the driftwatch process. Every run's report is checked
//! to hold exactly the fleet's deliberate drifts, so a renderer that errs or falls over shows up
//! as a failure, not as a fast time.
//!
//! `BENCH_LEGACY=1` leaves out the `[render] engine/cache/cache_dir` keys (a binary from before
//! them) and runs only the external path. `BENCH_RUNS` (default 3) repeats the quick runs and
//! reports the median; the external cold runs run once (minutes at full size).

mod fleet;
mod measure;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fleet::Fleet;
use measure::{Measured, check, env_usize, measure, measure_child, median, once};

/// How driftwatch renders in one run.
#[derive(Clone, Copy)]
struct Render<'a> {
    /// `"external"` or `"builtin"`; `None` leaves out every new `[render]` key (BENCH_LEGACY).
    engine: Option<&'static str>,
    /// The render cache directory, or `None` for `cache = false`.
    cache_dir: Option<&'a Path>,
}

/// The environments to audit: every environment of the fleet, or (`only`) one overlay of the
/// first, for the untimed warm-up.
struct Setup<'a> {
    fleet: &'a Fleet,
    work: &'a Path,
    /// `render.kustomize`: `kubectl` when no `kustomize` is on PATH.
    kustomize: Option<&'static str>,
}

impl Setup<'_> {
    fn config(&self, label: &str, render: Render<'_>, only: Option<&Path>) -> PathBuf {
        let mut toml = String::new();
        writeln!(toml, "[gitops]").unwrap();
        writeln!(toml, "url = {:?}", self.fleet.repo.display().to_string()).unwrap();
        // One clone for every run, made by the warm-up: the runs time rendering, not cloning.
        writeln!(
            toml,
            "cache_dir = {:?}",
            self.work.join("git-cache").display().to_string()
        )
        .unwrap();
        writeln!(toml, "\n[render]").unwrap();
        if let Some(k) = self.kustomize {
            writeln!(toml, "kustomize = {k:?}").unwrap();
        }
        if let Some(engine) = render.engine {
            writeln!(toml, "engine = {engine:?}").unwrap();
            match render.cache_dir {
                Some(dir) => writeln!(toml, "cache = true\ncache_dir = {:?}", dir.display().to_string()).unwrap(),
                None => writeln!(toml, "cache = false").unwrap(),
            }
        }
        for (env, snapshot) in self.fleet.envs.iter().zip(&self.fleet.snapshots) {
            let paths = match only {
                Some(dir) => dir.strip_prefix(&self.fleet.repo).unwrap().display().to_string(),
                None => format!("apps/*/overlays/{env}"),
            };
            writeln!(toml, "\n[[environments]]\nname = {env:?}\npaths = [{paths:?}]").unwrap();
            writeln!(toml, "[environments.cluster]\nname = {env:?}").unwrap();
            writeln!(toml, "snapshot = {:?}", snapshot.display().to_string()).unwrap();
            if only.is_some() {
                break;
            }
        }
        let path = self.work.join(format!("{label}.toml"));
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// One audit of the whole fleet, checked to report exactly the deliberate drifts.
    fn audit(&self, label: &str, render: Render<'_>) -> Measured {
        let config = self.config(label, render, None);
        let m = once(self.work, label, &config);
        check(label, &m, &self.fleet.expected());
        m
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// One table row: what ran and its (median) measurement.
struct Row {
    run: String,
    m: Measured,
}

/// Times every way of rendering on a fleet of `apps` × `envs` and prints the table.
fn bench(apps: usize, envs: usize, legacy: bool, reps: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let fleet = generate_fleet(work, apps, envs);
    let setup = Setup {
        fleet: &fleet,
        work,
        kustomize: (!on_path("kustomize")).then_some("kubectl"),
    };
    warm_up(&setup, legacy);
    let rows = timed_runs(&setup, legacy, reps);
    let (lone, single) = lone_kustomize(&setup);
    print_table(apps, envs, &fleet, &rows, &lone, &single);
}

/// The fleet of `apps` × `envs` in `work`, reporting what it generated and how long it took.
fn generate_fleet(work: &Path, apps: usize, envs: usize) -> Fleet {
    let t = Instant::now();
    let fleet = Fleet::generate(work, apps, envs);
    eprintln!(
        "generated {} overlays ({} apps × {} environments), {} Pods, in {:.1} s under {}",
        fleet.overlays(),
        apps,
        envs,
        fleet.pods(),
        t.elapsed().as_secs_f64(),
        work.display()
    );
    fleet
}

/// Rendering with external kustomize (the engine keys left out when `legacy`).
fn external(legacy: bool, cache_dir: Option<&Path>) -> Render<'_> {
    Render {
        engine: (!legacy).then_some("external"),
        cache_dir,
    }
}

/// Rendering with the built-in renderer.
fn builtin(cache_dir: Option<&Path>) -> Render<'_> {
    Render {
        engine: Some("builtin"),
        cache_dir,
    }
}

/// Untimed: clones the repository into the shared git cache and warms the page cache and the
/// kustomize binary, with one overlay of one environment.
fn warm_up(setup: &Setup<'_>, legacy: bool) {
    let warmup = setup.config("warmup", external(legacy, None), Some(&setup.fleet.overlay_dir(0)));
    let w = once(setup.work, "warmup", &warmup);
    assert!(
        w.code == 0 || w.code == 1,
        "warm-up failed (exit {}):\n{}",
        w.code,
        w.stderr
    );
}

/// The timed audits, one row each: external kustomize without a cache and (unless `legacy`)
/// with a cold and a warm one, then the built-in renderer with a cold cache, a warm one and a
/// warm one after an overlay changed. Quick runs are the median of `reps`.
fn timed_runs(setup: &Setup<'_>, legacy: bool, reps: usize) -> Vec<Row> {
    let work = setup.work;
    let mut rows = Vec::new();
    let mut row = |run: &str, m: Measured| {
        eprintln!("{run}: {:.2} s, {:.0} MiB", m.wall.as_secs_f64(), m.rss_mib);
        rows.push(Row { run: run.into(), m });
    };
    let many = |f: &mut dyn FnMut(usize) -> Measured| median((0..reps).map(&mut *f).collect());

    row(
        "external kustomize, no cache",
        setup.audit("external-nocache", external(legacy, None)),
    );
    if !legacy {
        let ext_cache = work.join("render-cache-external");
        row(
            "external kustomize, cache cold",
            setup.audit("external-cold", external(legacy, Some(&ext_cache))),
        );
        row(
            "external kustomize, cache warm (same commit)",
            many(&mut |i| setup.audit(&format!("external-warm-{i}"), external(legacy, Some(&ext_cache)))),
        );
        let builtin_cold = many(&mut |i| {
            let dir = work.join(format!("render-cache-builtin-{i}"));
            setup.audit(&format!("builtin-cold-{i}"), builtin(Some(&dir)))
        });
        row("built-in, cache cold", builtin_cold);
        let cache = work.join("render-cache-builtin-0");
        row(
            "built-in, cache warm (same commit)",
            many(&mut |i| setup.audit(&format!("builtin-warm-{i}"), builtin(Some(&cache)))),
        );
        row(
            "built-in, cache warm, one overlay changed",
            many(&mut |i| {
                setup.fleet.change_overlay();
                setup.audit(&format!("builtin-changed-{i}"), builtin(Some(&cache)))
            }),
        );
    }
    rows
}

/// What one kustomize process peaks at, to read the external rows' RSS (see `measure_child`):
/// the command run (less its overlay) and its measurement.
fn lone_kustomize(setup: &Setup<'_>) -> (String, Measured) {
    let mut lone = vec![setup.kustomize.unwrap_or("kustomize")];
    if setup.kustomize.is_some() {
        lone.push("kustomize");
    }
    let command = lone.join(" ");
    let dir = setup.fleet.overlay_dir(0);
    lone.push(dir.to_str().unwrap());
    let single = measure(setup.work, "lone-kustomize", &lone);
    assert_eq!(single.code, 0, "{}", single.stderr);
    (command, single)
}

/// The results as a Markdown table, with the fleet's size and the lone kustomize's peak RSS.
fn print_table(apps: usize, envs: usize, fleet: &Fleet, rows: &[Row], lone: &str, single: &Measured) {
    let base = rows[0].m.wall.as_secs_f64();
    println!(
        "\nFleet: {apps} apps × {envs} environments = {} overlays, {} Pods ({} expected findings, checked in every run)\n",
        fleet.overlays(),
        fleet.pods(),
        fleet.expected().len()
    );
    println!("| run | wall s | peak RSS MiB | speed-up vs external |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {:.2} | {:.0} | {:.1}× |",
            r.run,
            r.m.wall.as_secs_f64(),
            r.m.rss_mib,
            base / r.m.wall.as_secs_f64()
        );
    }
    println!(
        "\nPeak RSS is driftwatch's, or its largest kustomize child's when larger (one `{lone}` of an overlay: {:.0} MiB).",
        single.rss_mib
    );
}

/// Before minutes of full-size runs: the smoke fleet's audit (external kustomize, as every
/// driftwatch has it) reports exactly the deliberate drifts.
fn verify_smoke(legacy: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::generate(tmp.path(), 20, 2);
    let setup = Setup {
        fleet: &fleet,
        work: tmp.path(),
        kustomize: (!on_path("kustomize")).then_some("kubectl"),
    };
    let render = Render {
        engine: (!legacy).then_some("external"),
        cache_dir: None,
    };
    let m = setup.audit("smoke", render);
    eprintln!(
        "smoke fleet (20 apps × 2 environments): the {} deliberate drifts and nothing else, in {:.1} s",
        fleet.expected().len(),
        m.wall.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        return measure_child(&args[2..]);
    }
    let smoke = args.iter().any(|a| a == "--smoke") || std::env::var_os("BENCH_SMOKE").is_some();
    let legacy = std::env::var("BENCH_LEGACY").is_ok_and(|v| v == "1");
    let reps = env_usize("BENCH_RUNS", 3).max(1);
    if smoke {
        return bench(env_usize("BENCH_APPS", 20), env_usize("BENCH_ENVS", 2), legacy, reps);
    }
    verify_smoke(legacy);
    bench(env_usize("BENCH_APPS", 1000), env_usize("BENCH_ENVS", 4), legacy, reps);
}
