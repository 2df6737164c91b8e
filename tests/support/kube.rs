//! A Kubernetes API served over HTTP on 127.0.0.1 for the real kube client: LIST and WATCH of the
//! audited resources with pagination, bearer-token auth, scripted failures, and Leases.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

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
    /// Answer 404 as a kube-apiserver that does not serve the resource (its CRD is not
    /// installed) does.
    NotServed,
}

#[derive(Default)]
struct KubeState {
    objects: Vec<Value>,
    behaviours: HashMap<String, Behaviour>,
    requests: Vec<String>,
    /// coordination.k8s.io Leases by (namespace, name), with optimistic concurrency.
    leases: HashMap<(String, String), Value>,
    resource_version: u64,
    /// Every change since start, so a watch from an older resourceVersion gets what it missed.
    history: Vec<Change>,
    /// Per kind: a watch from a resourceVersion below this one is answered 410 Gone (etcd
    /// compacted the history it asks for).
    compacted: HashMap<String, u64>,
    watches: Vec<OpenWatch>,
    next_watch: u64,
    /// Watch streams the server still holds (dropped when the client goes away).
    open_streams: HashSet<u64>,
    /// Answer `sendInitialEvents` as a server with the WatchList feature gate off does (422).
    no_streaming_lists: bool,
}

/// One object change, as a watch event.
#[derive(Clone)]
struct Change {
    rv: u64,
    kind: String,
    namespace: String,
    kind_of_event: &'static str,
    object: Value,
}

/// A watch being served: its events go down `tx` as JSON lines.
struct OpenWatch {
    id: u64,
    kind: String,
    namespace: Option<String>,
    bookmarks: bool,
    tx: mpsc::UnboundedSender<String>,
}

impl OpenWatch {
    fn wants(&self, kind: &str, namespace: &str) -> bool {
        self.kind == kind && self.namespace.as_deref().is_none_or(|n| n == namespace)
    }
}

fn event_line(kind_of_event: &str, object: &Value) -> String {
    format!("{}\n", json!({"type": kind_of_event, "object": object}))
}

fn bookmark_line(rv: u64, initial_end: bool) -> String {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line(
        "BOOKMARK",
        &json!({"kind": "Bookmark", "apiVersion": "v1", "metadata": meta}),
    )
}

fn gone_line(rv: u64) -> String {
    event_line(
        "ERROR",
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {rv}"), "reason": "Expired", "code": 410}),
    )
}

impl KubeState {
    /// Every object gets a resourceVersion of its own, as stored objects do.
    fn set_objects(&mut self, objects: Vec<Value>) {
        self.objects = objects;
        for i in 0..self.objects.len() {
            let rv = self.bump();
            self.objects[i]["metadata"]["resourceVersion"] = json!(rv.to_string());
        }
    }

    fn bump(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    /// Records a change and sends it to the open watches of its kind and namespace.
    fn emit(&mut self, kind_of_event: &'static str, object: Value) {
        let rv = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.resource_version);
        let change = Change {
            rv,
            kind: object["kind"].as_str().unwrap_or("").to_string(),
            namespace: object["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
            kind_of_event,
            object,
        };
        let line = event_line(kind_of_event, &change.object);
        for w in self.watches.iter().filter(|w| w.wants(&change.kind, &change.namespace)) {
            let _ = w.tx.send(line.clone());
        }
        self.history.push(change);
    }
}

/// A Kubernetes API served over HTTP on 127.0.0.1: LIST and WATCH for the audited resources,
/// cluster-wide and per namespace, with `limit`/`continue` pagination, bearer-token auth, and
/// scripted failures. Runs on its own thread, so tests can run the binary synchronously.
///
/// Watches stream chunked JSON lines (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`) as
/// the API server does: from a resourceVersion (replaying what happened since, or `410 Gone`
/// after [`FakeKube::expire`]), or as a streaming list (`sendInitialEvents=true`: the current
/// objects, then a bookmark marking the end of the initial events). Every object carries a
/// `metadata.resourceVersion`, and LISTs answer the current one.
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
        // Argo CD's Application CRD (argoproj.io/v1alpha1), for discovery.
        "applications" => "Application",
        // Argo Rollouts' Rollout CRD (argoproj.io/v1alpha1); `Behaviour::NotServed` for a
        // cluster without it.
        "rollouts" => "Rollout",
        // Flux's CRDs, for discovery (served at the group and versions of [`flux_served`]).
        "kustomizations" => "Kustomization",
        "helmreleases" => "HelmRelease",
        "gitrepositories" => "GitRepository",
        "ocirepositories" => "OCIRepository",
        "helmrepositories" => "HelmRepository",
        "helmcharts" => "HelmChart",
        _ => return None,
    })
}

/// Where a Flux kind is served, as the CRDs of Flux 2.5 define them (group, storage version):
/// OCIRepository is still `v1beta2` there, so a client asking `v1` first gets a 404.
fn flux_served(plural: &str) -> Option<(&'static str, &'static str)> {
    Some(match plural {
        "kustomizations" => ("kustomize.toolkit.fluxcd.io", "v1"),
        "helmreleases" => ("helm.toolkit.fluxcd.io", "v2"),
        "gitrepositories" | "helmrepositories" | "helmcharts" => ("source.toolkit.fluxcd.io", "v1"),
        "ocirepositories" => ("source.toolkit.fluxcd.io", "v1beta2"),
        _ => return None,
    })
}

/// Whether `path` (`/apis/<group>/<version>/…`) asks for a Flux kind where it is served.
fn served_at(plural: &str, path: &str) -> bool {
    match flux_served(plural) {
        Some((group, version)) => path.starts_with(&format!("/apis/{group}/{version}/")),
        None => true,
    }
}

impl FakeKube {
    pub fn start(objects: Vec<Value>) -> Self {
        let mut state = KubeState::default();
        state.set_objects(objects);
        let state = Arc::new(Mutex::new(state));
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

    /// Serves `resource` normally again after [`FakeKube::behave`].
    pub fn heal(&self, resource: &str) {
        self.state.lock().unwrap().behaviours.remove(resource);
    }

    /// Replaces every object at once (without watch events: for tests that only LIST).
    pub fn set_objects(&self, objects: Vec<Value>) {
        self.state.lock().unwrap().set_objects(objects);
    }

    /// Creates or replaces `object` (by kind, namespace and name) under a new resourceVersion:
    /// LISTs return it and open watches of its kind get `ADDED` or `MODIFIED`.
    pub fn apply(&self, mut object: Value) {
        let mut s = self.state.lock().unwrap();
        let rv = s.bump();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let same = |o: &Value| {
            o["kind"] == object["kind"]
                && o["metadata"]["namespace"] == object["metadata"]["namespace"]
                && o["metadata"]["name"] == object["metadata"]["name"]
        };
        let kind_of_event = match s.objects.iter().position(same) {
            Some(i) => {
                s.objects[i] = object.clone();
                "MODIFIED"
            }
            None => {
                s.objects.push(object.clone());
                "ADDED"
            }
        };
        s.emit(kind_of_event, object);
    }

    /// Deletes the `kind` (`Deployment`, `Pod`, …) object `namespace/name`: open watches get
    /// `DELETED` with its last state under a new resourceVersion. Panics if there is none.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        let i = s
            .objects
            .iter()
            .position(|o| o["kind"] == kind && o["metadata"]["namespace"] == namespace && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {namespace}/{name} to delete"));
        let mut object = s.objects.remove(i);
        let rv = s.bump();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        s.emit("DELETED", object);
    }

    /// Ends every open watch stream cleanly, as an API server does at `timeoutSeconds` or when
    /// it restarts; clients re-watch from their last resourceVersion.
    pub fn drop_watches(&self) {
        self.state.lock().unwrap().watches.clear();
    }

    /// Compacts the history of `resource` (plural, as [`FakeKube::behave`] takes it): open
    /// watches of it get an `ERROR` event with a 410 Status and end, and any later watch from
    /// a resourceVersion older than now is answered the same, so the client must re-list.
    pub fn expire(&self, resource: &str) {
        let kind = kind_of(resource).unwrap_or_else(|| panic!("not a served resource: {resource}"));
        let mut s = self.state.lock().unwrap();
        let rv = s.bump();
        s.compacted.insert(kind.to_string(), rv);
        let (gone, kept): (Vec<OpenWatch>, Vec<OpenWatch>) =
            std::mem::take(&mut s.watches).into_iter().partition(|w| w.kind == kind);
        for w in gone {
            let _ = w.tx.send(gone_line(rv - 1));
        }
        s.watches = kept;
    }

    /// Sends a BOOKMARK with the current resourceVersion to every open watch that allowed them.
    pub fn bookmark(&self) {
        let s = self.state.lock().unwrap();
        let line = bookmark_line(s.resource_version, false);
        for w in s.watches.iter().filter(|w| w.bookmarks) {
            let _ = w.tx.send(line.clone());
        }
    }

    /// Answers streaming lists (`sendInitialEvents=true`) with 422 Invalid, as an API server
    /// with the WatchList feature gate off does; clients fall back to LIST then WATCH.
    pub fn refuse_streaming_lists(&self) {
        self.state.lock().unwrap().no_streaming_lists = true;
    }

    /// How many watch streams the server is serving now: ended ones (by the client going away,
    /// [`FakeKube::drop_watches`], or their timeout) no longer count.
    pub fn open_watches(&self) -> usize {
        self.state.lock().unwrap().open_streams.len()
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

    /// Another replica takes the Lease `namespace/name`: it holds it as `holder`, renewed now.
    pub fn take_lease(&self, namespace: &str, name: &str, holder: &str) {
        let mut s = self.state.lock().unwrap();
        s.resource_version += 1;
        let version = s.resource_version.to_string();
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let lease = s
            .leases
            .get_mut(&(namespace.to_string(), name.to_string()))
            .expect("the lease exists");
        lease["spec"]["holderIdentity"] = json!(holder);
        lease["spec"]["renewTime"] = json!(now);
        lease["spec"]["leaseDurationSeconds"] = json!(3600);
        lease["metadata"]["resourceVersion"] = json!(version);
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
    // `…/configmaps` lists; `…/configmaps/<name>` gets one object.
    let (plural, single) = match segments.as_slice() {
        [.., p, name] if kind_of(p).is_some() && kind_of(name).is_none() && *p != "namespaces" => (*p, Some(*name)),
        [.., p] => (*p, None),
        [] => ("", None),
    };

    let behaviour = {
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{method} {uri}"));
        s.behaviours.get(plural).cloned()
    };
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized".into(), Some(plural));
    }
    if path == "/version" {
        return reply(
            200,
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"}),
        );
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
    let Some(kind) = kind_of(plural).filter(|_| served_at(plural, &path)) else {
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
    let query = uri.query().unwrap_or("");
    let watching = query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (watching, single) {
        (true, _) => "watch",
        (false, Some(_)) => "get",
        (false, None) => "list",
    };
    if let Some(failure) = misbehave(behaviour, verb, plural, namespace.as_deref()).await {
        return failure;
    }
    if let Some(name) = single {
        let found = {
            let s = state.lock().unwrap();
            current(&s, kind, namespace.as_deref())
                .into_iter()
                .find(|o| o["metadata"]["name"] == name)
        };
        return match found {
            Some(o) => reply(200, o),
            None => status(404, "NotFound", format!("{plural} \"{name}\" not found"), Some(plural)),
        };
    }
    if watching {
        watch(&state, kind, namespace, query)
    } else {
        list(&state, kind, namespace.as_deref(), query)
    }
}

/// What a scripted `behaviour` answers instead of the list, after any delay it scripts.
async fn misbehave(
    behaviour: Option<Behaviour>,
    verb: &str,
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
                    "{plural} is forbidden: User \"system:serviceaccount:driftwatch:driftwatch\" cannot {verb} resource \"{plural}\" in API group \"\" {scope}"
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
        // What a real kube-apiserver answers for an API group it does not serve: plain text,
        // not a Status.
        Behaviour::NotServed => {
            use axum::response::IntoResponse;
            Some(
                (
                    axum::http::StatusCode::NOT_FOUND,
                    [("content-type", "text/plain; charset=utf-8")],
                    "404 page not found\n",
                )
                    .into_response(),
            )
        }
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
    let (mut items, rv) = {
        let s = state.lock().unwrap();
        (current(&s, kind, namespace), s.resource_version)
    };
    if let Some(selector) = query.get("labelSelector") {
        items.retain(|o| selects(selector, o));
    }
    let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
    let start: usize = query.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let end = start.saturating_add(limit).min(items.len());
    let page: Vec<Value> = items[start.min(end)..end].to_vec();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if end < items.len() {
        metadata["continue"] = json!(end.to_string());
        metadata["remainingItemCount"] = json!(items.len() - end);
    }
    reply(
        200,
        json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": metadata, "items": page}),
    )
}

/// The `kind` objects (in `namespace`, or all) in the order etcd keeps them: by namespace, then
/// name.
fn current(s: &KubeState, kind: &str, namespace: Option<&str>) -> Vec<Value> {
    let mut items: Vec<Value> = s
        .objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .filter(|o| namespace.is_none_or(|n| o["metadata"]["namespace"] == n))
        .cloned()
        .collect();
    let key = |o: &Value| {
        (
            o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
            o["metadata"]["name"].as_str().unwrap_or("").to_string(),
        )
    };
    items.sort_by_key(key);
    items
}

/// Whether `object`'s labels meet a `labelSelector` of `key=value` terms (URL-encoded).
fn selects(selector: &str, object: &Value) -> bool {
    let decoded = selector.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/");
    decoded
        .split(',')
        .filter(|t| !t.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => object["metadata"]["labels"][k.trim_end_matches('=')] == v.trim_start_matches('='),
            None => !object["metadata"]["labels"][term].is_null(),
        })
}

/// Removes a watch stream from the open ones when the server lets go of it.
struct StreamGuard {
    state: Arc<Mutex<KubeState>>,
    id: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap();
        s.open_streams.remove(&self.id);
        s.watches.retain(|w| w.id != self.id);
    }
}

/// A WATCH of the `kind` objects: a streaming list, or the events after `resourceVersion`
/// (410 Gone when that history was compacted), then every change until the client goes away,
/// [`FakeKube::drop_watches`] or `timeoutSeconds`.
fn watch(
    state: &Arc<Mutex<KubeState>>,
    kind: &str,
    namespace: Option<String>,
    query: &str,
) -> axum::response::Response {
    let query: HashMap<&str, &str> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
    let flag = |name: &str| query.get(name).is_some_and(|v| *v == "true" || *v == "1");
    let bookmarks = flag("allowWatchBookmarks");
    let streaming = flag("sendInitialEvents");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .map(Duration::from_secs);
    let from: Option<u64> = query.get("resourceVersion").and_then(|v| v.parse().ok());

    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let mut s = state.lock().unwrap();
    if streaming && (s.no_streaming_lists || query.get("resourceVersionMatch") != Some(&"NotOlderThan")) {
        return status(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled".into(),
            None,
        );
    }
    let compacted = s.compacted.get(kind).copied().unwrap_or(0);
    match from.filter(|_| !streaming).unwrap_or(0) {
        // A streaming list, or "any version" (0 or none): the current objects, as ADDED.
        0 => {
            for o in current(&s, kind, namespace.as_deref()) {
                let _ = tx.send(event_line("ADDED", &o));
            }
            if streaming {
                let _ = tx.send(bookmark_line(s.resource_version, true));
            }
        }
        rv if rv < compacted => {
            let _ = tx.send(gone_line(rv));
            drop(tx);
            return stream_reply(state, rx_stream(rx, None), None);
        }
        rv => {
            let missed = s
                .history
                .iter()
                .filter(|c| c.rv > rv && c.kind == kind && namespace.as_deref().is_none_or(|n| n == c.namespace));
            for c in missed {
                let _ = tx.send(event_line(c.kind_of_event, &c.object));
            }
        }
    }
    s.next_watch += 1;
    let id = s.next_watch;
    s.watches.push(OpenWatch {
        id,
        kind: kind.to_string(),
        namespace,
        bookmarks,
        tx,
    });
    drop(s);
    stream_reply(state, rx_stream(rx, timeout), Some(id))
}

/// The lines sent on `rx` until every sender is gone or `timeout` passes.
fn rx_stream(
    rx: mpsc::UnboundedReceiver<String>,
    timeout: Option<Duration>,
) -> impl futures::Stream<Item = Result<String, std::convert::Infallible>> + Send + 'static {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    futures::stream::unfold(rx, move |mut rx| async move {
        let line = match deadline {
            Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok().flatten(),
            None => rx.recv().await,
        }?;
        Some((Ok(line), rx))
    })
}

/// A chunked 200 answer streaming `lines`; while it is served, watch `id` counts as open.
fn stream_reply(
    state: &Arc<Mutex<KubeState>>,
    lines: impl futures::Stream<Item = Result<String, std::convert::Infallible>> + Send + 'static,
    id: Option<u64>,
) -> axum::response::Response {
    use futures::StreamExt;
    let guard = id.map(|id| {
        state.lock().unwrap().open_streams.insert(id);
        StreamGuard {
            state: state.clone(),
            id,
        }
    });
    // The guard lives as long as the body: hyper drops the body when the stream ends or the
    // client goes away.
    let body = lines.map(move |l| {
        let _ = &guard;
        l
    });
    axum::response::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(body))
        .unwrap()
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
