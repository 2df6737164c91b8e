//! Helm charts for the Helm tests: packaged and indexed by real Helm (the oracle library,
//! helm-python-sdk, in the repository's `.venv`), served by a Helm repository over HTTP with
//! optional Basic auth, and the `helm` stand-in (`crates/helm/tests/oracle/helm`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::net::{listen, serve};

/// The repository's root (this crate is `tests/support`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `helm` stand-in: real Helm v4 rendering behind `helm template`'s command line.
pub fn helm_stand_in() -> PathBuf {
    root().join("crates/helm/tests/oracle/helm")
}

/// Runs `code` with the oracle's Python (helm_python importable); its stdout.
fn python(code: &str) -> String {
    let python = root().join(".venv/helm/bin/python");
    let out = Command::new(&python)
        .args(["-c", code])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/prereqs installs the Helm oracle)", python.display()));
    assert!(
        out.status.success(),
        "helm_python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `helm package CHART -d DEST` by real Helm: the archive's path.
pub fn package(chart: &Path, dest: &Path) -> PathBuf {
    std::fs::create_dir_all(dest).unwrap();
    let code = format!(
        "import helm_python as h; print(h.package({:?}, destination={:?}))",
        chart.display().to_string(),
        dest.display().to_string()
    );
    PathBuf::from(python(&code))
}

/// `helm repo index DIR` by real Helm: writes `DIR/index.yaml` (relative chart URLs, with
/// digests).
pub fn index(dir: &Path) {
    let code = format!(
        "import helm_python as h; h.repo_index_generate({:?})",
        dir.display().to_string()
    );
    python(&code);
}

/// A Helm repository: the files of a directory over HTTP, behind Basic auth when given
/// credentials; it records the paths asked and the `Authorization` headers seen.
pub struct ChartRepo {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
    _server: std::thread::JoinHandle<()>,
}

impl ChartRepo {
    pub fn start(dir: &Path, credentials: Option<(&str, &str)>) -> Self {
        use base64::Engine as _;
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let expected = credentials.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let (dir, seen) = (dir.to_path_buf(), requests.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (dir, seen, expected) = (dir.clone(), seen.clone(), expected.clone());
            async move {
                use axum::http::StatusCode;
                use axum::response::IntoResponse;
                let path = req.uri().path().trim_start_matches('/').to_string();
                seen.lock().unwrap().push(path.clone());
                let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
                if expected.is_some() && auth != expected.as_deref() {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [("www-authenticate", "Basic realm=\"charts\"")],
                        Vec::new(),
                    )
                        .into_response();
                }
                match std::fs::read(dir.join(&path)) {
                    Ok(body) if !path.contains("..") => (StatusCode::OK, body).into_response(),
                    _ => (StatusCode::NOT_FOUND, Vec::new()).into_response(),
                }
            }
        });
        Self {
            addr,
            requests,
            _server: serve(listener, app),
        }
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// The paths asked so far.
    pub fn asked(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A private CA and a certificate it signed for 127.0.0.1, made by `openssl` in `dir`: the
/// CA's PEM (what a `ca_file` names), the server's certificate and key.
pub struct PrivateCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl PrivateCa {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let p = |name: &str| dir.join(name);
        let ext = p("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl must be installed: the HTTPS chart repository tests make a CA");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=driftwatch test CA",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ]);
        Self {
            ca: p("ca.pem"),
            cert: p("server.pem"),
            key: p("server.key"),
        }
    }
}

/// A Helm repository over HTTPS (`https_server.py`: Python's TLS server, with `ca`'s server
/// certificate), behind Basic auth when given credentials; killed when dropped.
pub struct HttpsChartRepo {
    pub port: u16,
    child: std::process::Child,
}

impl HttpsChartRepo {
    pub fn start(dir: &Path, ca: &PrivateCa, credentials: Option<(&str, &str)>) -> Self {
        use std::io::BufRead as _;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("https_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([dir, &ca.cert, &ca.key])
            .arg(credentials.map(|(u, p)| format!("{u}:{p}")).unwrap_or_default())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 must be installed: it serves the HTTPS chart repository");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("https_server.py said {line:?}"));
        Self { port, child }
    }

    /// `https://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for HttpsChartRepo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
