//! The daemon under test (`driftwatch run`) as a child process, listening where the fixture
//! says and read through its HTTP endpoint, its log and its exit code.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::config::ConfigBuilder;
use crate::net::{free_port, http, wait_until};
use crate::process::{ServerProcess, Stop};
use crate::run::command;

/// `driftwatch run` in its own process group; killed with the group on drop.
pub struct Daemon {
    process: ServerProcess,
    pub addr: SocketAddr,
    config: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    /// Writes `config` with `[server] listen` set to a free port and starts the daemon on it in
    /// `dir`. The port is free when chosen but a parallel test may take it before the daemon
    /// binds it; the daemon then exits ("cannot listen") and is started on another.
    pub fn start(dir: &Path, config: &ConfigBuilder, env: &[(&str, &str)]) -> Self {
        for _ in 0..5 {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let path = config.clone().listen(addr).write();
            let stderr = dir.join(format!("daemon-{}.log", addr.port()));
            let mut cmd = command(dir, &["run", "--config", path.to_str().unwrap()], env);
            cmd.stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap());
            let process = ServerProcess::spawn(&mut cmd, Stop::Kill, "start the daemon");
            let mut daemon = Self {
                process,
                addr,
                config: path,
                stderr,
            };
            if daemon.wait_listening() {
                return daemon;
            }
        }
        panic!("the daemon did not find a free port in 5 tries");
    }

    /// True once this daemon listens; false if it lost its port.
    fn wait_listening(&mut self) -> bool {
        wait_until(10, "the daemon to listen", || {
            if let Some(status) = self.process.try_wait() {
                let logs = self.logs();
                assert!(
                    logs.contains("cannot listen"),
                    "the daemon exited ({status}) before listening:\n{logs}"
                );
                return Some(false);
            }
            // Its own log says it bound the port: a connection alone could reach another
            // test's daemon that took the port first.
            (self.logs().contains("driftwatch daemon started") && TcpStream::connect(self.addr).is_ok()).then_some(true)
        })
    }

    /// Writes `config` (listening where this daemon listens) over the file it reads, for a
    /// reload.
    pub fn rewrite_config(&self, config: &ConfigBuilder) {
        config.clone().listen(self.addr).write_to(&self.config);
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends `signal` ("TERM", "HUP", "KILL", "INT") to the daemon process.
    pub fn signal(&self, signal: &str) {
        let number = match signal {
            "TERM" => libc::SIGTERM,
            "HUP" => libc::SIGHUP,
            "KILL" => libc::SIGKILL,
            "INT" => libc::SIGINT,
            other => panic!("no signal {other} in the tests"),
        };
        self.process.signal(number);
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, secs: u64) -> i32 {
        let process = &mut self.process;
        wait_until(secs, "the daemon to exit", || process.try_wait())
            .code()
            .unwrap_or(-1)
    }

    /// The value of one series, written as in the exposition (`name{labels}`), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics");
        crate::net::metric_value(&body, series)
    }
}
