//! The fleet on a real kube-apiserver (`../shared/kapi`): `BENCH_KAPI=<KAPI_DIR>` points a
//! bench at one started by that folder's `setup`, instead of the suite's served API.
//!
//! Objects are written with server-side apply as the admin (so a second run updates what the
//! first wrote instead of failing), each ReplicaSet's and Pod's owner reference carrying the
//! uid the apiserver gave its owner, and their `status` through the status subresource, as a
//! controller would. driftwatch reads them as the `reader2` user (get/list/watch on Pods,
//! workloads and ConfigMaps only): the least privilege `deploy/` grants.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

/// A kapi folder: its URL, admin token and CA.
pub struct Kapi {
    dir: PathBuf,
    server: String,
    client: reqwest::blocking::Client,
    token: String,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e} (run ../shared/kapi/setup first)", path.display()))
}

/// The REST path of `obj`'s collection (`/api/v1/namespaces/ns/pods`) and its name.
fn resource(obj: &Value) -> (String, String) {
    let api = obj["apiVersion"].as_str().unwrap();
    let plural = match obj["kind"].as_str().unwrap() {
        "Deployment" => "deployments",
        "ReplicaSet" => "replicasets",
        "Pod" => "pods",
        "ConfigMap" => "configmaps",
        "Namespace" => "namespaces",
        "Application" => "applications",
        "Kustomization" => "kustomizations",
        "HelmRelease" => "helmreleases",
        "GitRepository" => "gitrepositories",
        "HelmRepository" => "helmrepositories",
        "ClusterRole" => "clusterroles",
        "ClusterRoleBinding" => "clusterrolebindings",
        other => panic!("the kapi loader does not write {other}"),
    };
    let group = if api.contains('/') {
        format!("/apis/{api}")
    } else {
        format!("/api/{api}")
    };
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => (format!("{group}/namespaces/{ns}/{plural}"), name),
        None => (format!("{group}/{plural}"), name),
    }
}

impl Kapi {
    pub fn open(dir: &Path) -> Self {
        let kubeconfig = read(&dir.join("admin.kubeconfig"));
        let server = kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix("server:"))
            .expect("a server in admin.kubeconfig")
            .trim()
            .to_string();
        let ca = reqwest::Certificate::from_pem(read(&dir.join("ca.crt")).as_bytes()).unwrap();
        let client = reqwest::blocking::Client::builder()
            .add_root_certificate(ca)
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        Self {
            dir: dir.to_path_buf(),
            server,
            client,
            token: read(&dir.join("admin.token")).trim().to_string(),
        }
    }

    /// The admin's kubeconfig (for what no reader may read, e.g. Applications).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// The kubeconfig driftwatch reads the cluster with (`reader2`).
    pub fn reader_kubeconfig(&self) -> PathBuf {
        self.dir.join("reader2.kubeconfig")
    }

    /// Server-side apply of `obj` (its `status` and generated fields left out); the object
    /// as the apiserver stored it.
    fn apply(&self, obj: &Value, subresource: &str) -> Value {
        let (collection, name) = resource(obj);
        let url = format!(
            "{}{collection}/{name}{subresource}?fieldManager=driftwatch-bench&force=true",
            self.server
        );
        let response = self
            .client
            .patch(&url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/apply-patch+yaml")
            .body(obj.to_string())
            .send()
            .unwrap_or_else(|e| panic!("PATCH {url}: {e}"));
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "PATCH {url}: {status} {body}");
        body
    }

    /// Writes `obj` and then its status; its uid. What the served API does not ask for and
    /// the apiserver's validation does (a ReplicaSet's selector) is filled in first.
    fn write(&self, obj: &Value) -> String {
        let mut spec = obj.clone();
        // Argo CD's Application CRD has no status subresource: its status is written with it.
        if obj["kind"] == "Application" {
            let meta = spec["metadata"].as_object_mut().unwrap();
            meta.remove("uid");
            return self.apply(&spec, "")["metadata"]["uid"].as_str().unwrap().to_string();
        }
        if obj["kind"] == "ReplicaSet" && spec["spec"]["selector"].is_null() {
            spec["spec"]["selector"] = json!({"matchLabels": obj["spec"]["template"]["metadata"]["labels"]});
        }
        let status = spec.as_object_mut().unwrap().remove("status");
        let meta = spec["metadata"].as_object_mut().unwrap();
        meta.remove("uid");
        meta.remove("creationTimestamp");
        let stored = self.apply(&spec, "");
        if let Some(mut status) = status {
            // Observed as the apiserver counts generations, or a rollout looks under way.
            if status.get("observedGeneration").is_some() {
                status["observedGeneration"] = stored["metadata"]["generation"].clone();
            }
            let mut patch = json!({"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]}});
            patch["status"] = status;
            self.apply(&patch, "/status");
        }
        stored["metadata"]["uid"].as_str().unwrap().to_string()
    }

    /// Writes one environment's snapshot (`items` of the fleet's live objects): namespaces
    /// first, then each Deployment before its ReplicaSet before its Pods, owner references
    /// rewritten to the uids the apiserver gave. `threads` apps at a time.
    pub fn load(&self, items: &[Value], threads: usize) {
        let namespaces: std::collections::BTreeSet<&str> = items
            .iter()
            .filter_map(|o| o["metadata"]["namespace"].as_str())
            .collect();
        for ns in namespaces {
            self.apply(
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                "",
            );
        }
        // uid as generated by the fleet → uid as stored, filled as owners are written.
        let uids = Mutex::new(std::collections::HashMap::<String, String>::new());
        let rank = |o: &Value| match o["kind"].as_str() {
            Some("Deployment") | Some("ConfigMap") => 0,
            Some("ReplicaSet") => 1,
            _ => 2,
        };
        for level in 0..3 {
            let batch: Vec<&Value> = items.iter().filter(|o| rank(o) == level).collect();
            let chunk = batch.len().div_ceil(threads.max(1)).max(1);
            std::thread::scope(|s| {
                for part in batch.chunks(chunk) {
                    let uids = &uids;
                    s.spawn(move || {
                        for obj in part {
                            let mut obj = (*obj).clone();
                            if let Some(owners) = obj["metadata"]["ownerReferences"].as_array_mut() {
                                for owner in owners {
                                    let fake = owner["uid"].as_str().unwrap().to_string();
                                    owner["uid"] = Value::String(uids.lock().unwrap()[&fake].clone());
                                }
                            }
                            let fake = obj["metadata"]["uid"].as_str().unwrap_or_default().to_string();
                            let real = self.write(&obj);
                            uids.lock().unwrap().insert(fake, real);
                        }
                    });
                }
            });
        }
    }

    /// Writes `objs` as they are (RBAC objects, sources), in order, with their status if any.
    pub fn put(&self, objs: &[Value]) {
        for obj in objs {
            self.write(obj);
        }
    }

    /// GET `path` (`/apis/…`) as `user` (a token file of the kapi folder: `reader2`): the
    /// status code, the body's length and how long the whole response took.
    pub fn get_as(&self, user: &str, path: &str) -> (u16, usize, std::time::Duration) {
        let token = read(&self.dir.join(format!("{user}.token")));
        let url = format!("{}{path}", self.server);
        let start = std::time::Instant::now();
        let response = self
            .client
            .get(&url)
            .bearer_auth(token.trim())
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let len = response.bytes().map(|b| b.len()).unwrap_or_default();
        (status, len, start.elapsed())
    }

    /// Sets a Deployment as `obj` has it, its rollout observed (a hand change, as the
    /// fleet's served API makes it: the template's image changed, the Deployment at rest).
    pub fn change(&self, obj: &Value) {
        self.write(obj);
    }
}
