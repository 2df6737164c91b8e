//! The daemon run in-process (`daemon::run(config, source, reloads, listener, shutdown)`) on the
//! test's runtime, read over HTTP, and its log lines: shared by the modules that drive it this
//! way. (Not in `tests/support`, which does not depend on driftwatch so it never rebuilds with
//! `src/`.)

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use driftwatch::app::daemon::{self, ConfigSource};
use driftwatch::app::status::{ReloadHandle, reload_channel};
use driftwatch::config::{Config, Overrides};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A daemon running on this test's runtime.
pub struct Daemon {
    pub base: String,
    pub reload: ReloadHandle,
    pub shutdown: CancellationToken,
    pub run: JoinHandle<anyhow::Result<()>>,
    http: reqwest::Client,
}

impl Daemon {
    /// Loads `cfg` with `env` as its environment and runs the daemon on a port of its own.
    pub async fn start(cfg: &Path, env: HashMap<String, String>) -> Self {
        let config = Config::load(cfg, &env, &Overrides::default()).expect("a valid config");
        let source = ConfigSource {
            path: cfg.to_path_buf(),
            env,
            overrides: Overrides::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (reload, reloads) = reload_channel();
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(daemon::run(config, source, reloads, listener, shutdown.clone()));
        Self {
            base,
            reload,
            shutdown,
            run,
            http: reqwest::Client::new(),
        }
    }

    /// (status, body) of `method path`, with `headers` and `body`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> (u16, String) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn request(&self, method: reqwest::Method, path: &str) -> (u16, String) {
        self.send(method, path, &[], "").await
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        self.request(reqwest::Method::GET, path).await
    }

    /// The value of one series, written as in the exposition (`name{labels}`), if present.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        support::net::metric_value(&self.get("/metrics").await.1, series)
    }

    /// Cancels the shutdown token and waits for `run` to return.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.run.await.unwrap().expect("run returns Ok");
    }
}

/// The daemon's log lines of this test, as text, while the guard lives.
pub fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// Log lines, captured from the test's own thread (the daemon's tasks run on it).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Where `line` appears in the logs.
    pub fn position(&self, line: &str) -> usize {
        let text = self.text();
        text.find(line)
            .unwrap_or_else(|| panic!("{line:?} not logged:\n{text}"))
    }
}
