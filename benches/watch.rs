//! Watch mode at fleet size: `cargo bench --bench watch` (`BENCH_APPS`, default 1000;
//! `BENCH_ENVS`, default 4; `BENCH_CHANGES`, default 20).
//!
//! Generates the render benchmark's fleet ([`fleet`]: N apps × M environments of kustomize
//! overlays in a git repository, 3 Pods each), serves each environment's objects from its own
//! instance of the suite's Kubernetes API (one cluster per environment, watches included), runs
//! the release binary as `driftwatch run` with the built-in renderer, watch mode and a webhook
//! alert channel, and measures: the initial sync and first audit, the daemon's steady RSS with
//! the stores full, the time from a lone hand change (a Deployment's image set to another tag,
//! one MODIFIED watch event, each after the previous one's debounce window) to the webhook
//! receiving its alert, and the duration of each re-audit the change caused (from the daemon's
//! JSON log).
//!
//! `BENCH_LOG=<file>` keeps the daemon's JSON log there.
//!
//! `BENCH_KAPI=<KAPI_DIR>`: the same against a real kube-apiserver started by
//! `../shared/kapi/setup` (every environment's namespaces in that one cluster, written there
//! first, read by driftwatch as kapi's least-privilege `reader2`; not for CI).

// Shared with the render bench, which uses all of it; this one needs the fleet and its objects.
#[allow(dead_code)]
mod fleet;
// Shared with the discovery bench, which lists Applications as the admin.
#[allow(dead_code)]
mod kapi;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleet::Fleet;
use serde_json::Value;
use support::kube::FakeKube;
use support::receiver::Receiver;

const HOOK: &str = "/alerts";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of `pid`, in MiB.
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn get(client: &reqwest::blocking::Client, url: &str) -> Option<(u16, String)> {
    let r = client.get(url).send().ok()?;
    Some((r.status().as_u16(), r.text().ok()?))
}

fn wait<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

struct Daemon {
    child: Child,
    /// `duration_ms` of every "audit finished" line so far, in order.
    audits: Arc<Mutex<Vec<u64>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(cfg: &Path) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start driftwatch run");
    let stderr = child.stderr.take().unwrap();
    let audits = Arc::new(Mutex::new(Vec::new()));
    let seen = audits.clone();
    // BENCH_LOG=<file>: the daemon's log kept there, to see where a latency goes.
    let mut keep = std::env::var_os("BENCH_LOG").map(|p| std::fs::File::create(p).expect("BENCH_LOG is writable"));
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(f) = keep.as_mut() {
                use std::io::Write as _;
                let _ = writeln!(f, "{line}");
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let fields = &v["fields"];
            if fields["message"] == "audit finished"
                && let Some(d) = fields["duration_ms"].as_u64()
            {
                seen.lock().unwrap().push(d);
            }
        }
    });
    Daemon { child, audits }
}

fn main() {
    let apps = env_usize("BENCH_APPS", 1000);
    let envs = env_usize("BENCH_ENVS", 4);
    let changes = env_usize("BENCH_CHANGES", 20);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let fleet = Fleet::generate(work, apps, envs);
    let real = std::env::var_os("BENCH_KAPI").map(|dir| kapi::Kapi::open(Path::new(&dir)));
    // One cluster per environment, as promotion pipelines run them (with kapi: one cluster,
    // each environment in namespaces of its own).
    let mut clusters: Vec<FakeKube> = Vec::new();
    let (mut pods, mut served) = (0, 0);
    let mut deployments: Vec<Value> = Vec::new();
    let mut namespaces: Vec<Vec<String>> = Vec::new();
    let loading = Instant::now();
    for snapshot in &fleet.snapshots {
        let list: Value = serde_json::from_str(&std::fs::read_to_string(snapshot).unwrap()).unwrap();
        let items = list["items"].as_array().unwrap().clone();
        pods += items.iter().filter(|o| o["kind"] == "Pod").count();
        served += items.len();
        if deployments.is_empty() {
            deployments = items.iter().filter(|o| o["kind"] == "Deployment").cloned().collect();
        }
        let ns: std::collections::BTreeSet<String> = items
            .iter()
            .filter_map(|o| o["metadata"]["namespace"].as_str().map(String::from))
            .collect();
        namespaces.push(ns.into_iter().collect());
        match &real {
            Some(kapi) => kapi.load(&items, 8),
            None => clusters.push(FakeKube::start(items)),
        }
    }
    match &real {
        Some(_) => eprintln!(
            "fleet: {} overlays ({apps} apps × {envs} environments), {pods} Pods, {served} objects written to the real kube-apiserver in {:.0} s",
            fleet.overlays(),
            loading.elapsed().as_secs_f64()
        ),
        None => eprintln!(
            "fleet: {} overlays ({apps} apps × {envs} environments), {pods} Pods, {served} objects served by {} API servers",
            fleet.overlays(),
            clusters.len()
        ),
    }
    // Hand changes happen in the first environment's cluster.
    let hand_change = |d: Value| match &real {
        Some(kapi) => kapi.change(&d),
        None => clusters[0].apply(d),
    };
    let receiver = Receiver::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut toml = format!(
        "log_format = \"json\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n[gitops]\nurl = \"file://{}\"\nbranch = \"main\"\ncache_dir = {:?}\npoll_interval = \"off\"\n[render]\ncache_dir = {:?}\n[schedule]\ncron = \"0 0 3 1 1 *\"\nrun_on_start = true\n[state]\npath = {:?}\n[[alerts.webhook]]\nurl = {:?}\n",
        fleet.repo.display(),
        work.join("git-cache").display().to_string(),
        work.join("render-cache").display().to_string(),
        work.join("state.json").display().to_string(),
        receiver.url(HOOK),
    );
    for (i, env) in fleet.envs.iter().enumerate() {
        let (kubeconfig, scope) = match &real {
            Some(kapi) => (kapi.reader_kubeconfig(), format!("namespaces = {:?}\n", namespaces[i])),
            None => (clusters[i].kubeconfig(work, env), String::new()),
        };
        toml.push_str(&format!(
            "\n[[environments]]\nname = {env:?}\npaths = [\"apps/*/overlays/{env}\"]\n[environments.cluster]\nname = {env:?}\nkubeconfig = {:?}\n{scope}",
            kubeconfig.display().to_string()
        ));
    }
    let cfg = work.join("driftwatch.toml");
    std::fs::write(&cfg, toml).unwrap();

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::blocking::Client::new();
    let started = Instant::now();
    let daemon = start(&cfg);
    let pid = daemon.child.id();
    wait(600, "ready after the first audit", || {
        let (code, _) = get(&http, &format!("{base}/readyz"))?;
        let (rc, _) = get(&http, &format!("{base}/report"))?;
        (code == 200 && rc == 200 && !daemon.audits.lock().unwrap().is_empty()).then_some(())
    });
    let ready_in = started.elapsed();
    let first_audit = daemon.audits.lock().unwrap()[0];
    // The deliberate drifts of the fleet are alerted by the first audit: the baseline.
    std::thread::sleep(Duration::from_secs(3));
    let baseline = receiver.received(HOOK).len();
    let (steady, _) = rss(pid);

    let mut latencies = Vec::new();
    let stride = (apps / changes.max(1)).max(1);
    for i in 0..changes {
        // 1, 1 + stride, …: never one of the apps carrying the fleet's deliberate drifts (3, 5
        // and 7 modulo 500) for the default sizes.
        let app = (i * stride + 1) % apps;
        let name = format!("app-{app:04}");
        let mut d = deployments
            .iter()
            .find(|d| d["metadata"]["name"] == name.as_str())
            .unwrap()
            .clone();
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string();
        let repository = image.split('@').next().unwrap().to_string();
        d["spec"]["template"]["spec"]["containers"][0]["image"] = Value::String(format!("{repository}:hotfix-{i}"));
        let before = receiver.received(HOOK).len();
        let t = Instant::now();
        hand_change(d);
        wait(60, "the hand change's alert", || {
            let got = receiver.received(HOOK);
            got[before..]
                .iter()
                .any(|r| r.json().to_string().contains(&name))
                .then_some(())
        });
        latencies.push(t.elapsed());
        // A lone hand change, as an SRE's `kubectl set image` is: the next one comes after the
        // debounce window this one opened, or it would be measured as part of a burst (which
        // waits for the window's end by design).
        std::thread::sleep(Duration::from_millis(2_200));
    }
    // Steady state: the last re-audit has ended (its alert is sent before it does).
    std::thread::sleep(Duration::from_secs(3));
    let (after, peak) = rss(pid);
    let reaudits: Vec<u64> = daemon.audits.lock().unwrap()[1..].to_vec();
    latencies.sort();
    let mut sorted_reaudits = reaudits.clone();
    sorted_reaudits.sort_unstable();
    let reaudit_median = sorted_reaudits.get(sorted_reaudits.len() / 2).copied().unwrap_or(0);
    let reaudit_max = sorted_reaudits.last().copied().unwrap_or(0);
    println!(
        "\nFleet: {} overlays, {pods} Pods, {}; driftwatch run with watch mode (debounce 2s), {} hand changes after {baseline} baseline alert batches\n",
        fleet.overlays(),
        if real.is_some() {
            "one real kube-apiserver v1.26 (kapi), read as reader2"
        } else {
            "one suite-served API per environment"
        },
        latencies.len()
    );
    println!("| measure | value |");
    println!("|---|---:|");
    println!(
        "| start → ready (initial sync of every watch + first full audit) | {:.1} s |",
        ready_in.as_secs_f64()
    );
    println!("| first full audit (fetch, render cold, list) | {first_audit} ms |");
    println!("| hand change → alert, p50 | {} ms |", ms(percentile(&latencies, 0.5)));
    println!("| hand change → alert, p99 | {} ms |", ms(percentile(&latencies, 0.99)));
    println!("| hand change → alert, max | {} ms |", ms(*latencies.last().unwrap()));
    println!(
        "| re-audit of one environment from the stores, median ({} re-audits) | {reaudit_median} ms |",
        reaudits.len()
    );
    println!("| re-audit, max | {reaudit_max} ms |");
    println!("| steady RSS, stores full, after the first audit | {steady:.0} MiB |");
    println!("| steady RSS after the changes | {after:.0} MiB |");
    println!("| peak RSS (VmHWM) | {peak:.0} MiB |");
    drop(daemon);
}
