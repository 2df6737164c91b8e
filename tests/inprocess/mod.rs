//! The daemon run in-process (`daemon::run(config, source, reloads, listener, shutdown)`) on the
//! test's runtime, read over HTTP: shared by the test files that drive it this way. (Not in
//! `tests/support`, which does not depend on driftwatch so it never rebuilds with `src/`.)

use std::collections::HashMap;
use std::path::Path;

use driftwatch::app::daemon::{self, ConfigSource};
use driftwatch::app::status::{ReloadHandle, reload_channel};
use driftwatch::config::{Config, Overrides};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A daemon running on this test's runtime.
pub struct Daemon {
    pub base: String,
    #[allow(dead_code)] // Read by daemon_in_process only: each test file compiles this module on its own.
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
