//! `/api/status` under concurrent load: `cargo bench --bench status_load` (needs `wrk`, e.g.
//! `apt-get install wrk`; `BENCH_APPS`, default 1000; `BENCH_ENVS`, default 4;
//! `BENCH_SECONDS` per scenario, default 20; `BENCH_CONNECTIONS`, default 256).
//!
//! Generates the render benchmark's fleet ([`fleet`]: N apps × M environments, the
//! environments namespaces of their clusters), runs the release binary as `driftwatch run` on
//! the fleet's snapshots, and once its first audit is done and `/api/status` was asked once,
//! measures its idle RSS; then, for each scenario, runs `wrk` with that many connections
//! against it for the given time while two threads poll `/healthz` side by side (one request
//! every 50 ms each, their latency), one on `server.listen` (where `wrk` sends its load) and
//! one on `server.probe_listen` (the probes' own listener and thread), and another samples the
//! daemon's RSS (every 20 ms). Prints one Markdown row per scenario: requests/s, non-2xx
//! answers, peak RSS and its ratio to idle, `/healthz` latency on each listener.

// Shared with the render bench, which uses all of it; this one needs the fleet.
#[allow(dead_code)]
mod fleet;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fleet::Fleet;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
        .unwrap_or(default)
}

/// `VmRSS` of `pid`, in MiB.
fn rss(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn wait<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(work: &std::path::Path, fleet: &Fleet, port: u16, probe_port: u16) -> std::path::PathBuf {
    let mut toml = format!(
        "log_format = \"json\"\n[server]\nlisten = \"127.0.0.1:{port}\"\nprobe_listen = \"127.0.0.1:{probe_port}\"\n[gitops]\nurl = \"file://{}\"\nbranch = \"main\"\ncache_dir = {:?}\npoll_interval = \"off\"\n[render]\ncache_dir = {:?}\n[schedule]\ncron = \"0 0 3 1 1 *\"\nrun_on_start = true\n[state]\npath = {:?}\n",
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
    let cfg = work.join("driftwatch.toml");
    std::fs::write(&cfg, toml).unwrap();
    cfg
}

/// What one scenario measured.
struct Load {
    requests_per_second: f64,
    non_2xx: u64,
    peak_rss: f64,
    /// `/healthz` on `server.listen`, sorted, and how many failed.
    healthz: Probed,
    /// `/healthz` on `server.probe_listen`.
    probes: Probed,
}

/// The latencies of one poller's `/healthz` requests, sorted, and how many failed.
struct Probed {
    times: Vec<Duration>,
    failed: usize,
}

impl Probed {
    fn quantile(&self, q: f64) -> Duration {
        self.times
            .get(((self.times.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    }

    /// `p50 / p99 / max` in ms.
    fn summary(&self) -> String {
        format!(
            "{} / {} / {}",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(1.0))
        )
    }
}

/// Asks `url` every 50 ms until `done`.
fn poll(url: String, done: Arc<AtomicBool>) -> std::thread::JoinHandle<Probed> {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let (mut times, mut failed) = (Vec::new(), 0);
        while !done.load(Ordering::Relaxed) {
            let t = Instant::now();
            match client.get(&url).send() {
                Ok(r) if r.status().is_success() => times.push(t.elapsed()),
                _ => failed += 1,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        times.sort();
        Probed { times, failed }
    })
}

/// `wrk` for `seconds` on `url` (with `header`, if any), `/healthz` polled on both listeners
/// and RSS sampled meanwhile.
fn load(pid: u32, bases: [&str; 2], path: &str, header: Option<&str>, seconds: usize, connections: usize) -> Load {
    let [base, probe_base] = bases;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rss(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let poller = poll(format!("{base}/healthz"), done.clone());
    let probe_poller = poll(format!("{probe_base}/healthz"), done.clone());
    let mut wrk = Command::new("wrk");
    wrk.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--timeout",
        "30s",
    ]);
    if let Some(h) = header {
        wrk.args(["-H", h]);
    }
    let out = wrk
        .arg(format!("{base}{path}"))
        .stderr(Stdio::inherit())
        .output()
        .expect("wrk runs (apt-get install wrk)");
    done.store(true, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{text}");
    let number = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Load {
        requests_per_second: number("Requests/sec:"),
        non_2xx: number("Non-2xx or 3xx responses:") as u64,
        peak_rss: sampler.join().unwrap(),
        healthz: poller.join().unwrap(),
        probes: probe_poller.join().unwrap(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let apps = env_usize("BENCH_APPS", 1000);
    let envs = env_usize("BENCH_ENVS", 4);
    let seconds = env_usize("BENCH_SECONDS", 20);
    let connections = env_usize("BENCH_CONNECTIONS", 256);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let fleet = Fleet::generate(work, apps, envs);
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, probe_port) = (free_port(), free_port());
    let cfg = config(work, &fleet, port, probe_port);
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_driftwatch"))
            .args(["run", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start driftwatch run"),
    );
    let pid = daemon.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let probe_base = format!("http://127.0.0.1:{probe_port}");
    let http = reqwest::blocking::Client::new();
    let body = wait(600, "the first audit's /api/status", || {
        let r = http.get(format!("{base}/api/status")).send().ok()?;
        r.status().is_success().then(|| r.bytes().ok())?
    });
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss(pid);
    println!(
        "\n{} overlays; /api/status {:.1} MiB ({} matrix rows, {} findings); idle RSS {idle:.0} MiB; {connections} connections for {seconds} s each\n",
        fleet.overlays(),
        body.len() as f64 / 1_048_576.0,
        status["matrix"]["rows"].as_array().map_or(0, Vec::len),
        status["findings"].as_array().map_or(0, Vec::len),
    );
    println!(
        "| request | requests/s | non-2xx | peak RSS MiB | × idle | `/healthz` on `listen` p50 / p99 / max ms | on `probe_listen` | failed |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let scenarios = [
        ("GET /api/status", "/api/status", None),
        ("GET /api/status, gzip", "/api/status", Some("Accept-Encoding: gzip")),
        ("GET /api/status?attention=true", "/api/status?attention=true", None),
    ];
    for (name, path, header) in scenarios {
        let l = load(pid, [&base, &probe_base], path, header, seconds, connections);
        println!(
            "| {name} | {:.0} | {} | {:.0} | {:.2} | {} | {} | {} / {} |",
            l.requests_per_second,
            l.non_2xx,
            l.peak_rss,
            l.peak_rss / idle,
            l.healthz.summary(),
            l.probes.summary(),
            l.healthz.failed,
            l.probes.failed,
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    println!("\nRSS after the load: {:.0} MiB", rss(pid));
    drop(daemon);
}
