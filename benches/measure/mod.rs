//! Timing one run of a command as its own process (wall time, exit code, peak RSS, output) and
//! checking its report, for the benches that run the release binary (`render`, `helm`).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One finding as the benches check it: type, environment, namespace, name, container.
pub type Expected = (String, String, String, String, Option<String>);

/// What one measured run of a command gave.
pub struct Measured {
    pub code: i32,
    pub wall: Duration,
    pub rss_mib: f64,
    pub stdout: String,
    pub stderr: String,
}

/// `<bench> --measure OUT CMD ARGS…` (run by `main` itself): runs CMD with stdout to `OUT` and
/// stderr to `OUT.stderr`, waits for it with `wait4` and prints its exit code, wall time in µs
/// and peak RSS in KiB. Being a fresh, small process matters: Linux carries the high-water mark
/// of the process that `exec`s into the child, so a child of the (large) bench itself would
/// report the bench's memory. `wait4` reports the child and the children it reaped: for the
/// external engine that is the larger of driftwatch and its largest kustomize run.
#[allow(unsafe_code)]
pub fn measure_child(args: &[String]) {
    let out = Path::new(&args[0]);
    let stdout = File::create(out).unwrap();
    let stderr = File::create(out.with_extension("stderr")).unwrap();
    let start = Instant::now();
    let child = Command::new(&args[1])
        .args(&args[2..])
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: wait4 only writes into the status and the zeroed rusage we pass it; the child is
    // ours and not waited for anywhere else (`child` is dropped without waiting).
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut u), pid);
        u
    };
    let wall = start.elapsed();
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    println!("{code} {} {}", wall.as_micros(), usage.ru_maxrss);
}

/// Runs `cmd` through `--measure` in `work`, keeping its output as `<label>.out`.
pub fn measure(work: &Path, label: &str, cmd: &[&str]) -> Measured {
    let out = work.join(format!("{label}.out"));
    let me = std::env::current_exe().unwrap();
    let res = Command::new(me)
        .arg("--measure")
        .arg(&out)
        .args(cmd)
        .current_dir(work)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(res.status.success(), "measuring {cmd:?} failed");
    let text = String::from_utf8(res.stdout).unwrap();
    let f: Vec<&str> = text.split_whitespace().collect();
    Measured {
        code: f[0].parse().unwrap(),
        wall: Duration::from_micros(f[1].parse().unwrap()),
        rss_mib: f[2].parse::<f64>().unwrap() / 1024.0,
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(out.with_extension("stderr")).unwrap(),
    }
}

/// `driftwatch --once --format json --config CONFIG` (the release binary) through [`measure`].
pub fn once(work: &Path, label: &str, config: &Path) -> Measured {
    once_with(env!("CARGO_BIN_EXE_driftwatch"), work, label, config)
}

/// [`once`] with another driftwatch binary (an older build, for an A/B in one run).
pub fn once_with(driftwatch: &str, work: &Path, label: &str, config: &Path) -> Measured {
    measure(
        work,
        label,
        &[
            driftwatch,
            "--once",
            "--format",
            "json",
            "--config",
            config.to_str().unwrap(),
        ],
    )
}

/// Fails the bench unless the run's report is a complete audit whose findings are exactly the
/// expected ones.
pub fn check(label: &str, m: &Measured, expected: &[Expected]) {
    let report: serde_json::Value = serde_json::from_str(&m.stdout)
        .unwrap_or_else(|e| panic!("{label}: no JSON report ({e}), exit {}:\n{}", m.code, m.stderr));
    let errors = &report["summary"]["errors"];
    let incomplete = &report["summary"]["incomplete"];
    assert!(
        errors == 0 && incomplete == 0,
        "{label}: the audit had errors: {}\n{}",
        report["environments"],
        m.stderr
    );
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut found: Vec<Expected> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                s(&f["type"]),
                s(&f["environment"]),
                s(&f["namespace"]),
                s(&f["name"]),
                f["container"].as_str().map(str::to_string),
            )
        })
        .collect();
    found.sort();
    if found != expected {
        let unexpected: Vec<_> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                let key = (
                    s(&f["type"]),
                    s(&f["environment"]),
                    s(&f["namespace"]),
                    s(&f["name"]),
                    f["container"].as_str().map(str::to_string),
                );
                !expected.contains(&key)
            })
            .take(5)
            .map(|f| f["message"].to_string())
            .collect();
        panic!(
            "{label}: {} findings, expected the {} deliberate drifts; first unexpected: {unexpected:#?}",
            found.len(),
            expected.len()
        );
    }
}

pub fn median(mut v: Vec<Measured>) -> Measured {
    v.sort_by_key(|m| m.wall);
    v.swap_remove(v.len() / 2)
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
        .unwrap_or(default)
}
