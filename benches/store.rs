//! The store's cost per audit at fleet size, against the audit itself, and the status page's
//! server time on the same report: `cargo bench --bench store` (`BENCH_APPS`, default 1000;
//! `BENCH_ENVS`, default 4; `BENCH_RUNS`, default 5).
//!
//! Generates the fleet of `benches/fleet` (N apps × M environments, 3 Pods each: 12,000 Pods by
//! default), audits it in process (built-in renderer with a warm render cache, one snapshot per
//! environment), and times in the same run, on the same report: the audit; and what the daemon
//! does with the store after each audit (record the alert state, the audit, the deployments,
//! prune), on the embedded SQLite file and on a PostgreSQL server started for the bench. Two
//! store cases: a steady audit (nothing moved: the common one); one where 20 workloads per
//! environment were set by hand to a new digest (20 × M hand deployments recorded); and one
//! where they went back to the declared digest (20 × M rollbacks, each attributed to its commit
//! by the walk of the git history, cached per commit). Medians of `BENCH_RUNS`; the walk's own
//! cost (paid once per new commit) is printed apart.

// Shared with the render bench, which uses all of it; this one needs the fleet alone.
#[allow(dead_code)]
mod fleet;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use driftwatch::app::deliver::{self, StoreHealth};
use driftwatch::app::{audit, record};
use driftwatch::config::{Config, Overrides};
use driftwatch::core::model::RunningDigest;
use driftwatch::core::report::Report;
use driftwatch::sources::Sources;
use driftwatch::store::StoreHandle;
use fleet::Fleet;
use support::postgres::Postgres;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn config(work: &Path, fleet: &Fleet, store: &str) -> String {
    let mut toml = format!(
        "[gitops]\nurl = \"file://{}\"\nbranch = \"main\"\ncache_dir = {:?}\n[render]\ncache_dir = {:?}\n[state]\npath = {:?}\n{store}\n",
        fleet.repo.display(),
        work.join("git-cache").display().to_string(),
        work.join("render-cache").display().to_string(),
        work.join("state.json").display().to_string(),
    );
    for (env, snapshot) in fleet.envs.iter().zip(&fleet.snapshots) {
        toml.push_str(&format!(
            "\n[[environments]]\nname = {env:?}\npaths = [\"apps/*/overlays/{env}\"]\n[environments.cluster]\nname = {env:?}\nsnapshot = {:?}\n",
            snapshot.display().to_string()
        ));
    }
    toml
}

/// `report` with 20 workloads per environment running a new digest (a deployment each).
fn moved(report: &Report, generation: usize) -> Report {
    let mut r = report.clone();
    for env in &mut r.environments {
        for run in env.runs.iter_mut().take(20) {
            run.digests = vec![RunningDigest {
                digest: format!("sha256:{:064x}", generation * 1000 + run.workload.len()),
                pods: 3,
            }];
            run.live_image = Some(format!("{}-moved", run.declared_image));
        }
    }
    r.finished_at += chrono::Duration::seconds(generation as i64);
    r
}

/// What the daemon does with the store after an audit.
async fn store_step(cfg: &Config, sources: &Sources, store: &StoreHandle, report: &Report, dir: &Path) -> Duration {
    let started = Instant::now();
    deliver::notify(cfg, store, report, report.finished_at, &StoreHealth::default())
        .await
        .expect("alert state recorded");
    let (opened, _) = store.get().await.expect("store");
    record::after_audit(cfg, &opened, sources.lineage(), report, Some(dir), report.finished_at)
        .await
        .expect("history recorded");
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let apps = env_usize("BENCH_APPS", 1000);
    let envs = env_usize("BENCH_ENVS", 4);
    let runs = env_usize("BENCH_RUNS", 5);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let fleet = Fleet::generate(work, apps, envs);
    eprintln!("fleet: {} overlays, {} Pods", fleet.overlays(), fleet.pods());
    let pg = Postgres::start();
    let backends = backends(&pg);

    let path = work.join("driftwatch.toml");
    std::fs::write(&path, config(work, &fleet, "")).unwrap();
    let cfg = Config::load(&path, &HashMap::new(), &Overrides::default()).unwrap();
    let sources = Sources::new(&cfg).await;
    let (report, dir, audit_median) = time_audits(&cfg, &sources, &fleet, runs).await;
    time_status_page(&cfg, &report, runs);
    time_history_walk(&cfg, &dir, runs, audit_median);
    println!();
    let moved_n = 20 * envs;
    println!(
        "| store | steady audit | share | {moved_n} hand deployments | share | {moved_n} rollbacks, attributed | share |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, section, vars) in backends {
        std::fs::write(&path, config(work, &fleet, &section)).unwrap();
        let cfg = Config::load(&path, &vars, &Overrides::default()).unwrap();
        let times = StoreTimes::measure(&cfg, &sources, &report, &dir, runs).await;
        times.print_row(name, audit_median);
    }
}

/// The stores to time: (name, its `[store]` section, the environment it reads).
fn backends(pg: &Postgres) -> [(&'static str, String, HashMap<String, String>); 2] {
    [
        ("SQLite (embedded)", String::new(), HashMap::new()),
        (
            "PostgreSQL (local server)",
            format!(
                "[store]\nurl = {:?}\npassword_env = \"STORE_PASSWORD\"\n",
                pg.database("bench")
            ),
            HashMap::from([("STORE_PASSWORD".to_string(), pg.password().to_string())]),
        ),
    ]
}

/// Audits the fleet once to warm the render and git caches, then `runs` times, and prints the
/// median. Returns the last report, the checkout it audited and the median.
async fn time_audits(cfg: &Config, sources: &Sources, fleet: &Fleet, runs: usize) -> (Report, PathBuf, Duration) {
    let plan = audit::Plan::default();
    // Warm: the render cache filled, the git cache cloned.
    let first = audit::run_planned(cfg, sources, &plan).await;
    let dir = first.snapshot.as_ref().unwrap().checkout.dir.clone();
    let mut audits = Vec::new();
    let mut report = first.report;
    for _ in 0..runs {
        let started = Instant::now();
        report = audit::run_planned(cfg, sources, &plan).await.report;
        audits.push(started.elapsed());
    }
    let audit_median = median(audits);
    assert_eq!(
        report.findings.len(),
        fleet.expected().len(),
        "the audit found the fleet's drifts"
    );
    let containers: usize = report.environments.iter().map(|e| e.runs.len()).sum();
    println!(
        "audit (warm, built-in renderer): median {} over {runs} runs; {} Pods, {containers} declared containers",
        ms(audit_median),
        fleet.pods()
    );
    (report, dir, audit_median)
}

/// The status page at this size: the view is built once per audit, each request renders a page
/// of it; /api/status serialises all of it.
fn time_status_page(cfg: &Config, report: &Report, runs: usize) {
    let order = cfg.environment_order();
    let (mut builds, mut pages, mut apis) = (Vec::new(), Vec::new(), Vec::new());
    let mut api_bytes = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let view = driftwatch::core::report::status::StatusView::build(report, &order);
        builds.push(started.elapsed());
        let started = Instant::now();
        let html = driftwatch::core::report::html::render_page(&view, 1, false);
        pages.push(started.elapsed());
        assert!(html.contains("data-workload="), "the page shows the matrix");
        let started = Instant::now();
        api_bytes = serde_json::to_string(&view).unwrap().len();
        apis.push(started.elapsed());
    }
    println!(
        "status page: view built once per audit {}; a page (200 rows) rendered {}; /api/status JSON {} ({:.1} MiB)",
        ms(median(builds)),
        ms(median(pages)),
        ms(median(apis)),
        api_bytes as f64 / 1_048_576.0
    );
}

/// What a new commit costs once: the history walk that attributes its deployments.
fn time_history_walk(cfg: &Config, dir: &Path, runs: usize, audit_median: Duration) {
    let mut walks = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        driftwatch::sources::lineage::walk(dir, &record::environment_paths(cfg, None), record::depth(cfg)).unwrap();
        walks.push(started.elapsed());
    }
    let walk = median(walks);
    println!(
        "history walk to attribute deployments (once per new commit, then cached): median {} ({:.1}% of an audit)",
        ms(walk),
        100.0 * walk.as_secs_f64() / audit_median.as_secs_f64()
    );
}

/// One store's medians per store case.
struct StoreTimes {
    steady: Duration,
    hand: Duration,
    back: Duration,
}

impl StoreTimes {
    /// Times the store step of `cfg`'s store after a steady audit, after hand deployments and
    /// after their rollbacks, `runs` times each.
    async fn measure(cfg: &Config, sources: &Sources, report: &Report, dir: &Path, runs: usize) -> Self {
        let store = StoreHandle::new(cfg);
        // The baseline audit and the first alerts, not measured.
        store_step(cfg, sources, &store, report, dir).await;
        let at = |r: &Report, k: usize| {
            let mut r = r.clone();
            r.finished_at += chrono::Duration::seconds(k as i64);
            r
        };
        let mut steady = Vec::new();
        for i in 0..runs {
            steady.push(store_step(cfg, sources, &store, &at(report, 1 + i), dir).await);
        }
        let (mut hand, mut back) = (Vec::new(), Vec::new());
        for i in 0..runs {
            let k = runs + 1 + 2 * i;
            hand.push(store_step(cfg, sources, &store, &moved(report, k), dir).await);
            back.push(store_step(cfg, sources, &store, &at(report, k + 1), dir).await);
        }
        Self {
            steady: median(steady),
            hand: median(hand),
            back: median(back),
        }
    }

    /// The store's table row: each median and its share of an audit.
    fn print_row(&self, name: &str, audit_median: Duration) {
        let (s, h, b) = (self.steady, self.hand, self.back);
        let share = |d: Duration| format!("{:.1}%", 100.0 * d.as_secs_f64() / audit_median.as_secs_f64());
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            ms(s),
            share(s),
            ms(h),
            share(h),
            ms(b),
            share(b)
        );
    }
}
