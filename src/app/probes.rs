//! `/healthz` and `/readyz` on a listener and a thread of their own (`[server] probe_listen`).
//!
//! On `server.listen` the probes share the runtime's workers with everything else: 256
//! clients fetching a 6 MiB `/api/status` put a probe behind their writes (a `/healthz` max
//! of 277 ms on this 2-core machine). On their own thread, with a single-threaded runtime that
//! does nothing else, a probe waits only for the operating system's scheduler. The kubelet is
//! pointed at this port (`deploy/deployment.yaml`); `server.listen` still answers both paths.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::http;
use crate::app::status::ServiceState;

/// Why the probe server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("server.probe_listen {addr}: cannot listen")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server.probe_listen: cannot start the probe thread")]
    Thread(#[source] std::io::Error),
}

/// The probe server's thread: [`Probes::join`] waits for it after shutdown was cancelled.
pub struct Probes {
    thread: JoinHandle<()>,
}

impl Probes {
    /// Binds `addr` (now, so that a port in use is an error at start-up) and serves the probes
    /// on a thread of their own until `shutdown`.
    pub fn start(
        addr: std::net::SocketAddr,
        state: Arc<ServiceState>,
        shutdown: CancellationToken,
    ) -> Result<Self, ProbeError> {
        let listener = std::net::TcpListener::bind(addr).map_err(|source| ProbeError::Bind { addr, source })?;
        Self::serve(listener, state, shutdown)
    }

    /// Serves the probes on `listener` (bound by the caller; tests use port 0).
    pub fn serve(
        listener: std::net::TcpListener,
        state: Arc<ServiceState>,
        shutdown: CancellationToken,
    ) -> Result<Self, ProbeError> {
        listener.set_nonblocking(true).map_err(ProbeError::Thread)?;
        let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let thread = std::thread::Builder::new()
            .name("driftwatch-probes".into())
            .spawn(move || run(listener, state, shutdown))
            .map_err(ProbeError::Thread)?;
        info!(listen = %local, "probes served on their own listener");
        Ok(Self { thread })
    }

    /// Waits for the thread to end (it ends once shutdown is cancelled and the open probe
    /// requests are answered).
    pub async fn join(self) {
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

fn run(listener: std::net::TcpListener, state: Arc<ServiceState>, shutdown: CancellationToken) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            warn!(error = %e, "probe thread: cannot build its runtime; probes stay on server.listen");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                warn!(error = %e, "probe thread: cannot use its listener; probes stay on server.listen");
                return;
            }
        };
        let app = http::probes_router(state);
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        {
            warn!(error = %e, "probe server stopped");
        }
    });
}
