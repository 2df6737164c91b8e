//! Real git: repositories built with the `git` CLI, served by `git daemon` (git://) or by
//! `git http-backend` behind Basic auth (smart HTTP, as a hosted git server with a token).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::net::{free_port, listen, serve};
use crate::process::{ServerProcess, Stop, lines};
use crate::write;

/// Runs `git args…` in `dir` as a fixed test identity, ignoring the system config; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A real git repository in a directory, with a `main` branch.
pub struct GitRepo {
    pub dir: PathBuf,
}

impl GitRepo {
    pub fn init(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
        Self { dir: dir.to_path_buf() }
    }

    /// Writes `files` (path → content) and commits them; returns the commit SHA.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, text) in files {
            write(&self.dir.join(path), text);
        }
        git(&self.dir, &["add", "-A"]);
        git(&self.dir, &["commit", "-q", "--allow-empty", "-m", message]);
        git(&self.dir, &["rev-parse", "HEAD"])
    }
}

/// `git daemon` serving every repository below `base` over git:// on 127.0.0.1.
pub struct GitDaemon {
    _process: ServerProcess,
    pub port: u16,
}

/// What a `git daemon` start came to.
enum Start {
    Ready(ServerProcess),
    /// It exited before listening (it lost its port to a parallel test): what it printed.
    Exited(String),
}

impl GitDaemon {
    pub fn start(base: &Path) -> Self {
        // free_port() releases the port before git daemon binds it, and a parallel test can
        // take it in between: then git daemon exits, and is started again on another port.
        let mut printed = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::try_start(base, port) {
                Start::Ready(process) => {
                    return Self {
                        _process: process,
                        port,
                    };
                }
                Start::Exited(text) => printed = text,
            }
        }
        panic!("git daemon did not start: {printed}");
    }

    fn try_start(base: &Path, port: u16) -> Start {
        let mut process = ServerProcess::spawn(
            Command::new("git")
                .args([
                    "daemon",
                    // --verbose makes it say "Ready to rumble" once it listens: a connection
                    // test could reach another test's server that took the port.
                    "--verbose",
                    "--reuseaddr",
                    "--export-all",
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                ])
                .arg(format!("--base-path={}", base.display()))
                .arg(base)
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
            Stop::Terminate,
            "git daemon must be installed (package git): the gitops tests need a real git transport",
        );
        let log = lines(process.take_stderr().unwrap());
        let mut printed = String::new();
        loop {
            match log.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.contains("Ready to rumble") => return Start::Ready(process),
                Ok(line) => printed.push_str(&format!("{line}\n")),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Start::Exited(printed),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("git daemon did not start listening within 10s: {printed}")
                }
            }
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

/// Serves the repositories below `base` over smart HTTP through the real `git http-backend`
/// (CGI), requiring Basic auth with `user`/`password`, as a hosted git server with a token does.
pub struct GitHttp {
    pub addr: SocketAddr,
    _runtime: std::thread::JoinHandle<()>,
}

impl GitHttp {
    pub fn start(base: &Path, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let base = base.to_path_buf();
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (base, expected) = (base.clone(), expected.clone());
            async move { http_backend(req, &base, &expected).await }
        });
        Self {
            addr,
            _runtime: serve(listener, app),
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}", self.addr)
    }
}

async fn http_backend(req: axum::extract::Request, base: &Path, expected: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let authorized = req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(expected);
    if !authorized {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"git\"")],
            "",
        )
            .into_response();
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "bot")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git http-backend");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&body).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    cgi_response(&out.stdout)
}

/// A CGI program's output (headers, a blank line, the body) as an HTTP response.
fn cgi_response(stdout: &[u8]) -> axum::response::Response {
    use axum::response::IntoResponse;
    let split = stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return (axum::http::StatusCode::BAD_GATEWAY, "bad CGI output").into_response();
    };
    let mut response = axum::http::Response::builder();
    for line in String::from_utf8_lossy(&stdout[..end]).lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                let code: u16 = v.trim().split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(200);
                response = response.status(code);
            } else {
                response = response.header(k.trim(), v.trim());
            }
        }
    }
    response
        .body(axum::body::Body::from(stdout[end + sep..].to_vec()))
        .unwrap()
}
