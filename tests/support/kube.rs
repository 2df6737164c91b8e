//! A Kubernetes API served over HTTP on 127.0.0.1 for the real kube client: LIST of the audited
//! resources with pagination, bearer-token auth, scripted failures, and Leases.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::net::{listen, serve};
use crate::write;

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
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        Self {
            addr,
            state,
            _runtime: serve(listener, app),
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

/// A Kubernetes `Status` failure, as the API server answers errors; `kind` fills its details.
fn status(code: u16, reason: &str, message: String, kind: Option<&str>) -> axum::response::Response {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": message, "reason": reason, "code": code});
    if let Some(kind) = kind {
        body["details"] = json!({"kind": kind});
    }
    reply(code, body)
}

fn reply(code: u16, body: Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::from_u16(code).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<KubeState>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let authorized =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KUBE_TOKEN}"));
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let path = uri.path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let plural = segments.last().copied().unwrap_or("");

    let behaviour = {
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{method} {uri}"));
        s.behaviours.get(plural).cloned()
    };
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized".into(), Some(plural));
    }
    if path.starts_with("/apis/coordination.k8s.io/v1/") {
        return lease(&state, &method, &segments, body).await;
    }
    if method != axum::http::Method::GET {
        return status(
            405,
            "MethodNotAllowed",
            format!("driftwatch must only read; got {method}"),
            Some(plural),
        );
    }
    let Some(kind) = kind_of(plural) else {
        return status(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
            Some(plural),
        );
    };
    let namespace = segments
        .iter()
        .position(|s| *s == "namespaces")
        .and_then(|i| segments.get(i + 1))
        .map(|s| s.to_string());
    if let Some(failure) = misbehave(behaviour, plural, namespace.as_deref()).await {
        return failure;
    }
    list(&state, kind, namespace.as_deref(), uri.query().unwrap_or(""))
}

/// What a scripted `behaviour` answers instead of the list, after any delay it scripts.
async fn misbehave(
    behaviour: Option<Behaviour>,
    plural: &str,
    namespace: Option<&str>,
) -> Option<axum::response::Response> {
    match behaviour? {
        Behaviour::Forbidden => {
            let scope = namespace.map_or("at the cluster scope".to_string(), |n| {
                format!("in the namespace \"{n}\"")
            });
            Some(status(
                403,
                "Forbidden",
                format!(
                    "{plural} is forbidden: User \"system:serviceaccount:driftwatch:driftwatch\" cannot list resource \"{plural}\" in API group \"\" {scope}"
                ),
                Some(plural),
            ))
        }
        Behaviour::ServerError => Some(status(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out".into(),
            Some(plural),
        )),
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Slow(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

/// One page of the `kind` objects (in `namespace`, or all), following `limit` and `continue`.
fn list(state: &Mutex<KubeState>, kind: &str, namespace: Option<&str>, query: &str) -> axum::response::Response {
    let query: HashMap<&str, &str> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
    let items: Vec<Value> = {
        let s = state.lock().unwrap();
        s.objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .filter(|o| namespace.is_none_or(|n| o["metadata"]["namespace"] == n))
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
    reply(
        200,
        json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": metadata, "items": page}),
    )
}

/// GET, POST and PUT of Leases, with 404, 409 AlreadyExists and 409 Conflict on a stale
/// resourceVersion, as the API server answers them.
async fn lease(
    state: &Arc<Mutex<KubeState>>,
    method: &axum::http::Method,
    segments: &[&str],
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::Method;
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
                None,
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
                    None,
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
                    None,
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
            None,
        ),
    }
}
