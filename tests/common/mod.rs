//! Test harness: runs the real binary, builds real git repositories, serves them with a real
//! `git daemon`, and serves a Kubernetes API over HTTP that the real kube client talks to.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
pub const REPO: &str = "registry.example.com/shop/api";

// ---- the binary ------------------------------------------------------------------------------

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

/// Runs driftwatch with `args`, a clean environment plus `env`, in `dir`.
pub fn driftwatch(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run driftwatch");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `(type, namespace/name, container)` of every finding, for compact assertions.
pub fn findings(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    f["namespace"].as_str().unwrap_or(""),
                    f["name"].as_str().unwrap_or("")
                ),
                f["container"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

pub fn finding(t: &str, workload: &str, container: &str) -> (String, String, String) {
    (t.to_string(), workload.to_string(), container.to_string())
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

// ---- manifests ---------------------------------------------------------------------------------

pub fn deployment_yaml(name: &str, namespace: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: {image}\n"
    )
}

/// `driftwatch --once --format json --config CFG`, the audit most tests run.
pub fn audit(dir: &Path, cfg: &Path) -> Output {
    driftwatch(
        dir,
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    )
}

/// Serves `app` on 127.0.0.1 from its own thread and runtime, so tests can run the binary
/// synchronously while it answers.
fn serve(app: axum::Router) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (addr, thread)
}

/// A GitOps tree (`gitops/`) declaring shop/api at D1 and a snapshot (`cluster.json`) whose Pod
/// runs D2: exactly one `digest-drift`.
pub fn one_drift(dir: &Path) {
    write(
        &dir.join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
    );
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D2}"))]);
    write(&dir.join("cluster.json"), &list(vec![d, rs, p]));
}

// ---- git -------------------------------------------------------------------------------------

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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on {addr}");
        std::thread::yield_now();
    }
}

/// `git daemon` serving every repository below `base` over git:// on 127.0.0.1.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn start(base: &Path) -> Self {
        let port = free_port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
            ])
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon must be installed (package git): the gitops tests need a real git transport");
        wait_for_port(([127, 0, 0, 1], port).into(), "git daemon");
        Self { child, port }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- a Kubernetes API ------------------------------------------------------------------------

/// How the fake API answers LISTs of one resource.
#[derive(Clone, Debug)]
pub enum Behaviour {
    Forbidden,
    ServerError,
    /// Accept the request and never answer.
    Hang,
    /// Answer after a delay (a slow but healthy API server).
    Slow(Duration),
}

#[derive(Default)]
struct KubeState {
    objects: Vec<Value>,
    behaviours: HashMap<String, Behaviour>,
    requests: Vec<String>,
    /// coordination.k8s.io Leases by (namespace, name), with optimistic concurrency.
    leases: HashMap<(String, String), Value>,
    resource_version: u64,
}

/// A Kubernetes API served over HTTP on 127.0.0.1: LIST for the seven audited resources,
/// cluster-wide and per namespace, with `limit`/`continue` pagination, bearer-token auth, and
/// scripted failures. Runs on its own thread, so tests can run the binary synchronously.
pub struct FakeKube {
    pub addr: SocketAddr,
    state: Arc<Mutex<KubeState>>,
    _runtime: std::thread::JoinHandle<()>,
}

pub const KUBE_TOKEN: &str = "kube-test-token";

fn kind_of(plural: &str) -> Option<&'static str> {
    Some(match plural {
        "deployments" => "Deployment",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        "replicasets" => "ReplicaSet",
        "jobs" => "Job",
        "cronjobs" => "CronJob",
        "pods" => "Pod",
        "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        _ => return None,
    })
}

impl FakeKube {
    pub fn start(objects: Vec<Value>) -> Self {
        let state = Arc::new(Mutex::new(KubeState {
            objects,
            ..Default::default()
        }));
        let (addr, runtime) = serve(axum::Router::new().fallback(handle).with_state(state.clone()));
        Self {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn behave(&self, resource: &str, b: Behaviour) {
        self.state.lock().unwrap().behaviours.insert(resource.to_string(), b);
    }

    pub fn set_objects(&self, objects: Vec<Value>) {
        self.state.lock().unwrap().objects = objects;
    }

    /// Every request as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn server(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Lease `namespace/name`, as stored.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .leases
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Writes a kubeconfig for this server with context `context`, returns its path.
    pub fn kubeconfig(&self, dir: &Path, context: &str) -> PathBuf {
        let path = dir.join(format!("kubeconfig-{context}"));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: auditor\n  user:\n    token: {KUBE_TOKEN}\ncontexts:\n- name: {context}\n  context:\n    cluster: fake\n    user: auditor\ncurrent-context: {context}\n",
            self.server()
        );
        write(&path, &text);
        path
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<KubeState>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    let method = req.method().clone();
    let uri = req.uri().clone();
    let authorized =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KUBE_TOKEN}"));
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let path = uri.path().to_string();
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let plural = segments.last().copied().unwrap_or("");
    let namespace = segments
        .iter()
        .position(|s| *s == "namespaces")
        .and_then(|i| segments.get(i + 1))
        .map(|s| s.to_string());

    let behaviour = {
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{method} {uri}"));
        s.behaviours.get(plural).cloned()
    };
    let status = |code: u16, reason: &str, message: String| {
        let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": message, "reason": reason, "details": {"kind": plural}, "code": code});
        (
            StatusCode::from_u16(code).unwrap(),
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized".into());
    }
    if path.starts_with("/apis/coordination.k8s.io/v1/") {
        return lease(&state, &method, &segments, body).await;
    }
    if method != axum::http::Method::GET {
        return status(
            405,
            "MethodNotAllowed",
            format!("driftwatch must only read; got {method}"),
        );
    }
    let Some(kind) = kind_of(plural) else {
        return status(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        );
    };
    match behaviour {
        Some(Behaviour::Forbidden) => {
            let scope = namespace.as_ref().map_or("at the cluster scope".to_string(), |n| {
                format!("in the namespace \"{n}\"")
            });
            return status(
                403,
                "Forbidden",
                format!(
                    "{plural} is forbidden: User \"system:serviceaccount:driftwatch:driftwatch\" cannot list resource \"{plural}\" in API group \"\" {scope}"
                ),
            );
        }
        Some(Behaviour::ServerError) => {
            return status(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: request timed out".into(),
            );
        }
        Some(Behaviour::Hang) => std::future::pending::<()>().await,
        Some(Behaviour::Slow(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let items: Vec<Value> = {
        let s = state.lock().unwrap();
        s.objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .filter(|o| {
                namespace
                    .as_ref()
                    .is_none_or(|n| o["metadata"]["namespace"] == n.as_str())
            })
            .cloned()
            .collect()
    };
    let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
    let start: usize = query.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let end = start.saturating_add(limit).min(items.len());
    let page: Vec<Value> = items[start.min(end)..end].to_vec();
    let mut metadata = json!({"resourceVersion": "12345"});
    if end < items.len() {
        metadata["continue"] = json!(end.to_string());
        metadata["remainingItemCount"] = json!(items.len() - end);
    }
    let body = json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": metadata, "items": page});
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// GET, POST and PUT of Leases, with 404, 409 AlreadyExists and 409 Conflict on a stale
/// resourceVersion, as the API server answers them.
async fn lease(
    state: &Arc<Mutex<KubeState>>,
    method: &axum::http::Method,
    segments: &[&str],
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::{Method, StatusCode};
    use axum::response::IntoResponse;
    let reply = |code: u16, v: Value| {
        (
            StatusCode::from_u16(code).unwrap(),
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    let status = |code: u16, reason: &str, message: String| {
        reply(
            code,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
        )
    };
    // apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]
    let ns = segments.get(4).copied().unwrap_or("").to_string();
    let mut s = state.lock().unwrap();
    s.requests
        .push(format!("{method} lease {}", segments.get(6).copied().unwrap_or("")));
    let incoming: Option<Value> = serde_json::from_slice(&body).ok();
    match (method.clone(), segments.get(6)) {
        (Method::GET, Some(name)) => match s.leases.get(&(ns.clone(), name.to_string())) {
            Some(l) => reply(200, l.clone()),
            None => status(
                404,
                "NotFound",
                format!("leases.coordination.k8s.io \"{name}\" not found"),
            ),
        },
        (Method::POST, None) => {
            let mut lease = incoming.expect("lease body");
            let name = lease["metadata"]["name"].as_str().unwrap_or("").to_string();
            if s.leases.contains_key(&(ns.clone(), name.clone())) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("leases.coordination.k8s.io \"{name}\" already exists"),
                );
            }
            s.resource_version += 1;
            lease["metadata"]["namespace"] = json!(ns);
            lease["metadata"]["resourceVersion"] = json!(s.resource_version.to_string());
            lease["apiVersion"] = json!("coordination.k8s.io/v1");
            lease["kind"] = json!("Lease");
            s.leases.insert((ns, name), lease.clone());
            reply(201, lease)
        }
        (Method::PUT, Some(name)) => {
            let mut lease = incoming.expect("lease body");
            let key = (ns.clone(), name.to_string());
            let stored = s.leases.get(&key).map(|l| l["metadata"]["resourceVersion"].clone());
            if stored.is_none() || stored != Some(lease["metadata"]["resourceVersion"].clone()) {
                return status(
                    409,
                    "Conflict",
                    "Operation cannot be fulfilled on leases.coordination.k8s.io: the object has been modified".into(),
                );
            }
            s.resource_version += 1;
            lease["metadata"]["resourceVersion"] = json!(s.resource_version.to_string());
            s.leases.insert(key, lease.clone());
            reply(200, lease)
        }
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{method} on leases is not served by the test API"),
        ),
    }
}

// ---- HTTP client for the daemon's endpoint ------------------------------------------------------

/// A plain HTTP/1.0 request to 127.0.0.1: (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the daemon");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

/// Polls `check` until it returns Some, or panics after `secs` seconds naming `what`.
pub fn wait_until<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> SocketAddr {
    ([127, 0, 0, 1], free_port()).into()
}

/// The daemon (`driftwatch run`) as a child process; killed on drop.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, cfg: &Path, addr: SocketAddr, env: &[(&str, &str)]) -> Self {
        let stderr = dir.join(format!("daemon-{}.log", addr.port()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
        cmd.args(["run", "--config", cfg.to_str().unwrap()])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start the daemon");
        let mut daemon = Self { child, addr, stderr };
        wait_until(10, "the daemon to listen", || {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!("the daemon exited ({status}) before listening:\n{}", daemon.logs());
            }
            TcpStream::connect(addr).is_ok().then_some(())
        });
        daemon
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, secs: u64) -> i32 {
        let child = &mut self.child;
        wait_until(secs, "the daemon to exit", || child.try_wait().unwrap())
            .code()
            .unwrap_or(-1)
    }

    /// The value of one series, written as in the exposition (`name{labels}`), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics");
        body.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- Kubernetes objects as the API returns them ------------------------------------------------

static UID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

fn uid() -> String {
    format!(
        "00000000-0000-4000-8000-{:012}",
        UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn template(containers: &[(&str, &str)]) -> Value {
    let cs: Vec<Value> = containers.iter().map(|(n, i)| json!({"name": n, "image": i})).collect();
    json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": cs}})
}

/// A Deployment whose rollout is complete, with its ReplicaSet.
pub fn deployment(namespace: &str, name: &str, containers: &[(&str, &str)], replicas: i64) -> (Value, Value) {
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "uid": uid(), "generation": 1, "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"replicas": replicas, "template": template(containers)},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}});
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{name}-5f7b8c9d4"), "namespace": namespace, "uid": uid(), "creationTimestamp": "2026-11-01T00:00:00Z",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": d["metadata"]["uid"], "controller": true}]},
        "spec": {"replicas": replicas, "template": template(containers)}, "status": {"replicas": replicas}});
    (d, rs)
}

/// A running Pod owned by `owner`, whose containers report `statuses` (name, imageID).
pub fn pod(owner: &Value, suffix: &str, statuses: &[(&str, &str)]) -> Value {
    let spec: Vec<Value> = statuses
        .iter()
        .map(|(n, _)| json!({"name": n, "image": "set-by-owner"}))
        .collect();
    let st: Vec<Value> = statuses
        .iter()
        .map(|(n, id)| json!({"name": n, "image": "x", "imageID": id, "ready": true, "restartCount": 0}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{}-{suffix}", owner["metadata"]["name"].as_str().unwrap()), "namespace": owner["metadata"]["namespace"],
                     "uid": uid(), "creationTimestamp": "2026-11-01T00:00:10Z",
                     "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": true}]},
        "spec": {"containers": spec},
        "status": {"phase": "Running", "containerStatuses": st}})
}

/// A v1 List, as `kubectl get … -o json` writes it.
pub fn list(items: Vec<Value>) -> String {
    serde_json::to_string_pretty(
        &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}),
    )
    .unwrap()
}

// ---- git over smart HTTP with Basic auth ---------------------------------------------------------

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
        let (addr, runtime) = serve(axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (base, expected) = (base.clone(), expected.clone());
            async move { http_backend(req, &base, &expected).await }
        }));
        Self {
            addr,
            _runtime: runtime,
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
    // CGI: headers, a blank line, the body.
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return (axum::http::StatusCode::BAD_GATEWAY, "bad CGI output").into_response();
    };
    let mut response = axum::http::Response::builder();
    for line in String::from_utf8_lossy(&out.stdout[..end]).lines() {
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
        .body(axum::body::Body::from(out.stdout[end + sep..].to_vec()))
        .unwrap()
}

// ---- HTTP receivers standing in for Slack, webhooks and Alertmanager ---------------------------

/// A request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Per path: answers to give before answering 200, as (status, Retry-After).
    script: HashMap<String, std::collections::VecDeque<(u16, Option<u64>)>>,
    /// Per path: answer this status to every request.
    down: HashMap<String, u16>,
}

/// An HTTP server that records every request and answers 200, or what a test scripts.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    _runtime: std::thread::JoinHandle<()>,
}

impl Receiver {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = state.clone();
        let (addr, runtime) = serve(axum::Router::new().fallback(move |req: axum::extract::Request| {
            let shared = shared.clone();
            async move { receive(req, shared).await }
        }));
        Self {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next answers for `path`, before it answers 200 again.
    pub fn script(&self, path: &str, answers: &[(u16, Option<u64>)]) {
        self.state
            .lock()
            .unwrap()
            .script
            .insert(path.to_string(), answers.iter().copied().collect());
    }

    /// Answer `status` to every request on `path` (None: healthy again).
    pub fn down(&self, path: &str, status: Option<u16>) {
        let mut s = self.state.lock().unwrap();
        match status {
            Some(code) => s.down.insert(path.to_string(), code),
            None => s.down.remove(path),
        };
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.state
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(req: axum::extract::Request, state: Arc<Mutex<ReceiverState>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = axum::body::to_bytes(req.into_body(), 16 << 20).await.unwrap().to_vec();
    let answer = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            path: path.clone(),
            headers,
            body,
        });
        match s.down.get(&path) {
            Some(code) => Some((*code, None)),
            None => s.script.get_mut(&path).and_then(|q| q.pop_front()),
        }
    };
    match answer {
        None => (axum::http::StatusCode::OK, "ok").into_response(),
        Some((code, retry_after)) => {
            let mut resp = (
                axum::http::StatusCode::from_u16(code).unwrap(),
                format!("scripted {code}"),
            )
                .into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
            }
            resp
        }
    }
}

// ---- a real SMTP server ----------------------------------------------------------------------

/// A received email: its envelope and raw message.
#[derive(Debug)]
pub struct Mail {
    pub envelope: Value,
    pub raw: String,
}

/// Debian's aiosmtpd (python3-aiosmtpd, installed by scripts/prereqs) on 127.0.0.1 with
/// STARTTLS or implicit TLS and AUTH, with a throwaway CA-less certificate for 127.0.0.1.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub cert: PathBuf,
    maildir: PathBuf,
}

impl SmtpServer {
    pub fn start(dir: &Path, mode: &str, user: &str, password: &str) -> Self {
        let cert = dir.join("smtp-cert.pem");
        let key = dir.join("smtp-key.pem");
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-days",
                "2",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args([
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl must be installed: the SMTP tests make a TLS certificate");
        assert!(status.success(), "openssl req failed");
        let maildir = dir.join("maildir");
        std::fs::create_dir_all(&maildir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(["--mode", mode, "--user", user, "--password", password])
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .arg("--maildir")
            .arg(&maildir)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("smtp-server.log")).unwrap())
            .spawn()
            .expect("/usr/bin/python3 with python3-aiosmtpd must be installed (scripts/prereqs installs it)");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the SMTP server did not start (it printed {line:?})"));
        wait_for_port(([127, 0, 0, 1], port).into(), "SMTP server");
        Self {
            child,
            port,
            cert,
            maildir,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        let mut n = 1;
        let mut out = Vec::new();
        while let Ok(raw) = std::fs::read_to_string(self.maildir.join(format!("{n}.eml"))) {
            let envelope =
                serde_json::from_str(&std::fs::read_to_string(self.maildir.join(format!("{n}.json"))).unwrap())
                    .unwrap();
            out.push(Mail { envelope, raw });
            n += 1;
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- a real OCI registry -----------------------------------------------------------------------

/// Debian's `docker-registry` (the CNCF distribution registry) on 127.0.0.1 with htpasswd auth
/// and deletes enabled; content is pushed over its HTTP API.
pub struct OciRegistry {
    child: Child,
    pub port: u16,
    user: String,
    password: String,
    http: reqwest::blocking::Client,
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

impl OciRegistry {
    pub fn start(dir: &Path, user: &str, password: &str) -> Self {
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd must be installed (apache2-utils; scripts/prereqs installs it)");
        assert!(htpasswd.status.success());
        write(
            &dir.join("registry/htpasswd"),
            &String::from_utf8_lossy(&htpasswd.stdout),
        );
        // free_port() releases the port before the registry binds it, and a parallel test can
        // take it in between: the registry is ready when it answers /v2/ itself (401 with its
        // API version header); a start that lost its port is retried on another.
        let http = reqwest::blocking::Client::new();
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: driftwatch-test\n    path: {htpasswd}\n",
                root = dir.join("registry/data").display(),
                htpasswd = dir.join("registry/htpasswd").display()
            );
            write(&dir.join("registry/config.yml"), &config);
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(dir.join("registry/config.yml"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("registry/registry.log")).unwrap())
                .spawn()
                .expect(
                    "docker-registry must be installed (Debian package docker-registry; scripts/prereqs installs it)",
                );
            let ours = wait_until(10, "docker-registry", || {
                if child.try_wait().unwrap().is_some() {
                    return Some(false);
                }
                let answer = http.get(format!("http://127.0.0.1:{port}/v2/")).send().ok()?;
                (answer.status() == 401 && answer.headers().contains_key("docker-distribution-api-version"))
                    .then_some(true)
            });
            if ours {
                return Self {
                    child,
                    port,
                    user: user.into(),
                    password: password.into(),
                    http,
                };
            }
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(dir.join("registry/registry.log")).unwrap_or_default()
        );
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn digest(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        format!("sha256:{:x}", sha2::Sha256::digest(bytes))
    }

    /// Uploads a blob (monolithic upload); returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = Self::digest(bytes);
        let start = self
            .http
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .unwrap();
        assert_eq!(start.status(), 202, "start upload: {:?}", start.text());
        let location = start.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            self.url(&location)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self
            .http
            .put(format!("{location}{sep}digest={digest}"))
            .basic_auth(&self.user, Some(&self.password))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(put.status(), 201, "finish upload: {:?}", put.text());
        digest
    }

    /// Puts a manifest under `reference` (a tag or its digest); returns its digest.
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &Value) -> String {
        let bytes = serde_json::to_vec(body).unwrap();
        let digest = Self::digest(&bytes);
        let reference = if reference.is_empty() {
            digest.as_str()
        } else {
            reference
        };
        let resp = self
            .http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .basic_auth(&self.user, Some(&self.password))
            .header("content-type", media_type)
            .body(bytes)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201, "put manifest: {:?}", resp.text());
        digest
    }

    /// Pushes a one-layer image for `arch` (distinct content per `seed`); returns (digest, size).
    pub fn push_image(&self, repo: &str, tag: &str, arch: &str, seed: &str) -> (String, usize) {
        let config = serde_json::to_vec(&json!({"architecture": arch, "os": "linux", "config": {"Labels": {"seed": seed}}, "rootfs": {"type": "layers", "diff_ids": []}})).unwrap();
        let layer = format!("layer {seed} {arch}").into_bytes();
        let config_digest = self.push_blob(repo, &config);
        let layer_digest = self.push_blob(repo, &layer);
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}]});
        let size = serde_json::to_vec(&manifest).unwrap().len();
        (self.push_manifest(repo, tag, OCI_MANIFEST, &manifest), size)
    }

    /// Pushes an image index over `platforms` (digest, size, arch); returns its digest.
    pub fn push_index(&self, repo: &str, tag: &str, platforms: &[(String, usize, &str)]) -> String {
        let manifests: Vec<Value> = platforms
            .iter()
            .map(|(d, size, arch)| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size, "platform": {"os": "linux", "architecture": arch}}))
            .collect();
        self.push_manifest(
            repo,
            tag,
            OCI_INDEX,
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
    }

    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let resp = self
            .http
            .delete(self.url(&format!("/v2/{repo}/manifests/{digest}")))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 202, "delete manifest: {:?}", resp.text());
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A registry front that speaks the Bearer token flow, as hosted registries (Docker Hub, ECR,
/// GHCR) do: 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` until the client
/// brings a token from `/token` (which wants the Basic credentials); then forwards to the real
/// registry behind it. Records the token requests it saw.
pub struct TokenFront {
    pub addr: SocketAddr,
    pub token_requests: Arc<Mutex<Vec<String>>>,
    /// Authorized requests forwarded to the registry, as `METHOD path`.
    pub forwarded: Arc<Mutex<Vec<String>>>,
    _runtime: std::thread::JoinHandle<()>,
}

impl TokenFront {
    pub fn start(registry: &OciRegistry) -> Self {
        use base64::Engine as _;
        let backend = format!("http://127.0.0.1:{}", registry.port);
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", registry.user, registry.password))
        );
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let forwarded: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let seen_forwarded = forwarded.clone();
        let addr_cell: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let (seen, cell) = (token_requests.clone(), addr_cell.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (backend, basic, seen, cell) = (backend.clone(), basic.clone(), seen.clone(), cell.clone());
            let seen_forwarded = seen_forwarded.clone();
            async move {
                use axum::response::IntoResponse;
                let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let uri = req.uri().clone();
                if uri.path() == "/token" {
                    seen.lock().unwrap().push(uri.query().unwrap_or("").to_string());
                    if auth != basic {
                        return (axum::http::StatusCode::UNAUTHORIZED, "bad credentials").into_response();
                    }
                    return axum::Json(json!({"token": "front-token-1", "expires_in": 300})).into_response();
                }
                if auth != "Bearer front-token-1" {
                    let me = cell.lock().unwrap().unwrap();
                    let repo = uri.path().trim_start_matches("/v2/").split("/manifests/").next().unwrap_or("").to_string();
                    let challenge = format!("Bearer realm=\"http://{me}/token\",service=\"driftwatch-test\",scope=\"repository:{repo}:pull\"");
                    return (axum::http::StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)], "").into_response();
                }
                seen_forwarded.lock().unwrap().push(format!("{} {}", req.method(), uri.path()));
                let client = reqwest::Client::new();
                let upstream = client
                    .request(req.method().clone(), format!("{backend}{uri}"))
                    .header("accept", req.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or("*/*"))
                    .header("authorization", basic)
                    .send()
                    .await
                    .unwrap();
                let status = upstream.status().as_u16();
                let mut headers = Vec::new();
                for name in ["content-type", "docker-content-digest"] {
                    if let Some(v) = upstream.headers().get(name) {
                        headers.push((name.to_string(), v.to_str().unwrap().to_string()));
                    }
                }
                let body = upstream.bytes().await.unwrap();
                let mut resp = (axum::http::StatusCode::from_u16(status).unwrap(), body.to_vec()).into_response();
                for (k, v) in headers {
                    resp.headers_mut().insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
                }
                resp
            }
        });
        let (addr, runtime) = serve(app);
        *addr_cell.lock().unwrap() = Some(addr);
        Self {
            addr,
            token_requests,
            forwarded,
            _runtime: runtime,
        }
    }
}
