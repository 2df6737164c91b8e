//! What tests declare and run: digests, manifests for the GitOps tree, and Kubernetes objects
//! as the API (or a `kubectl get -o json` snapshot) returns them.

use std::path::Path;

use serde_json::{Value, json};

use crate::write;

pub const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
pub const REPO: &str = "registry.example.com/shop/api";

/// A Deployment manifest as a GitOps repository holds it.
pub fn deployment_yaml(name: &str, namespace: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: {image}\n"
    )
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
