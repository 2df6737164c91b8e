//! The generated fleet `benches/render.rs` audits: N apps × M environments as kustomize bases
//! and overlays in a real git repository, and one cluster snapshot per environment holding
//! exactly what kustomize renders for it, plus a few deliberate drifts whose findings are known
//! in advance (so every timed run can be checked to be a correct audit, not an error path).
//!
//! Per app, `apps/<app>/base` holds a Deployment (3 replicas, an app container and a pinned
//! initContainer, both reading a generated ConfigMap through `envFrom`), a Service and a
//! `configMapGenerator`. Per environment, `apps/<app>/overlays/<env>` sets the namespace, pins
//! the app image to a per-app-per-environment digest with `images:`, patches the app container
//! (strategic merge) and merges literals into the base's ConfigMap (`behavior: merge`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use git2::{IndexAddOption, Repository, Signature, Time};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const REGISTRY: &str = "registry.example.com/bench";
pub const REPLICAS: usize = 3;
/// The initContainer's image, pinned in the base (no `images:` entry touches it).
const MIGRATE_DIGEST_SEED: &str = "db-migrate";
/// Old enough that no rollout counts as in progress.
pub const CREATED: &str = "2024-01-01T00:00:00Z";

/// A deliberate difference between git and the cluster, and the one finding it must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drift {
    /// The live Deployment and its Pods are still on the previous digest: `spec-drift`.
    Spec,
    /// One of the three Pods still runs the previous digest: `mixed-rollout`.
    Mixed,
    /// The live ConfigMap has another `LOG_LEVEL`: `config-drift`.
    Config,
}

/// Which apps drift: a handful per environment (2 of each kind per 1,000 apps, 1 of each in a
/// fleet of 20 or 250), the same apps in every environment (the Helm fleet's too).
pub fn drift(app: usize) -> Option<Drift> {
    match app % 500 {
        3 => Some(Drift::Spec),
        5 => Some(Drift::Mixed),
        7 => Some(Drift::Config),
        _ => None,
    }
}

/// The app whose overlay the "one overlay changed" run edits: not a drifting one, so the
/// expected findings stay the same.
pub const CHANGED_APP: usize = 1;

/// One finding as the bench checks it: type, environment, namespace, name, container.
pub type Expected = (String, String, String, String, Option<String>);

pub struct Fleet {
    pub apps: usize,
    pub envs: Vec<String>,
    /// The git repository's work tree (what `[gitops] url` points at).
    pub repo: PathBuf,
    /// One snapshot per environment, in the order of `envs`.
    pub snapshots: Vec<PathBuf>,
    /// How many times [`Fleet::change_overlay`] committed.
    changes: Cell<u32>,
}

pub fn app_name(app: usize) -> String {
    format!("app-{app:04}")
}

pub fn namespace(app: usize, env: &str) -> String {
    format!("{env}-team-{:02}", app % 25)
}

fn config_base(app: usize) -> String {
    format!("{}-config", app_name(app))
}

/// A stable digest for `seed`.
pub fn digest(seed: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(seed.as_bytes()))
}

/// The digest the overlay of `env` pins for `app`.
pub fn declared_digest(app: usize, env: &str) -> String {
    digest(&format!("{}/{env}", app_name(app)))
}

/// The digest the drifting apps still run.
fn previous_digest(app: usize, env: &str) -> String {
    digest(&format!("{}/{env}/previous", app_name(app)))
}

pub fn app_repo(app: usize) -> String {
    format!("{REGISTRY}/{}", app_name(app))
}

fn migrate_image() -> String {
    format!("{REGISTRY}/db-migrate@{}", digest(MIGRATE_DIGEST_SEED))
}

/// The names of `m` environments.
pub fn env_names(m: usize) -> Vec<String> {
    let known = ["dev", "staging", "prod-eu", "prod-us"];
    (0..m)
        .map(|k| known.get(k).map_or_else(|| format!("env-{k}"), |s| s.to_string()))
        .collect()
}

/// The ConfigMap data kustomize renders for `app` in `env`: the base literals with the
/// overlay's merged over them.
fn config_data(app: usize, env: &str) -> BTreeMap<String, String> {
    [
        ("APP_NAME", app_name(app)),
        ("ENVIRONMENT", env.to_string()),
        ("FEATURE_X", "false".to_string()),
        ("LOG_LEVEL", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// kustomize's name suffix for a generated ConfigMap (`api/hasher/hasher.go`): the SHA-256 of
/// the JSON of `{"data", "kind", "name"}` (keys sorted, as Go's encoder writes maps; kustomize
/// looks the name up under a path that never matches, so it is always `""`), the first 10 hex
/// digits with 0, 1, 3, a, e swapped for letters. The smoke audit checks it against
/// what kustomize renders: a wrong suffix shows up as `config-drift` findings.
fn config_name(app: usize, env: &str) -> String {
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    m.insert("data", json!(config_data(app, env)));
    m.insert("kind", json!("ConfigMap"));
    m.insert("name", json!(""));
    let encoded = serde_json::to_string(&m).unwrap();
    let hex = format!("{:x}", Sha256::digest(encoded.as_bytes()));
    let suffix: String = hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect();
    format!("{}-{suffix}", config_base(app))
}

pub fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn base_files(dir: &Path, app: usize) {
    let name = app_name(app);
    let config = config_base(app);
    write(
        &dir.join("kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
configMapGenerator:
  - name: {config}
    literals:
      - APP_NAME={name}
      - LOG_LEVEL=info
      - FEATURE_X=false
"
        ),
    );
    write(
        &dir.join("deployment.yaml"),
        &format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {REPLICAS}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      initContainers:
        - name: migrate
          image: {migrate}
          envFrom:
            - configMapRef:
                name: {config}
      containers:
        - name: app
          image: {repo}:1.0.0
          ports:
            - containerPort: 8080
          envFrom:
            - configMapRef:
                name: {config}
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
",
            migrate = migrate_image(),
            repo = app_repo(app),
        ),
    );
    write(
        &dir.join("service.yaml"),
        &format!(
            "apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app: {name}
  ports:
    - port: 80
      targetPort: 8080
"
        ),
    );
}

fn patch(app: usize, revision: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {}
spec:
  template:
    spec:
      containers:
        - name: app
          resources:
            limits:
              cpu: 500m
              memory: 256Mi
          env:
            - name: REVISION
              value: \"{revision}\"
",
        app_name(app)
    )
}

fn overlay_files(dir: &Path, app: usize, env: &str) {
    write(
        &dir.join("kustomization.yaml"),
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {ns}
resources:
  - ../../base
images:
  - name: {repo}
    digest: {digest}
patches:
  - path: patch.yaml
configMapGenerator:
  - name: {config}
    behavior: merge
    literals:
      - ENVIRONMENT={env}
      - LOG_LEVEL=warn
",
            ns = namespace(app, env),
            repo = app_repo(app),
            digest = declared_digest(app, env),
            config = config_base(app),
        ),
    );
    write(&dir.join("patch.yaml"), &patch(app, 0));
}

/// The live objects of one app in one environment, as `kubectl get -o json` lists them.
fn live_objects(app: usize, env: &str, items: &mut Vec<Value>) {
    let name = app_name(app);
    let ns = namespace(app, env);
    let config = config_name(app, env);
    let want = declared_digest(app, env);
    let old = previous_digest(app, env);
    let d = drift(app);
    let spec_digest = if d == Some(Drift::Spec) { &old } else { &want };
    let image = format!("{}@{spec_digest}", app_repo(app));
    let env_from = json!([{"configMapRef": {"name": config}}]);
    let tmpl = json!({"metadata": {"labels": {"app": name}}, "spec": {
        "initContainers": [{"name": "migrate", "image": migrate_image(), "envFrom": env_from}],
        "containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}], "envFrom": env_from,
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}]}});
    let uid = format!("{env}-{app}");
    items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("d-{uid}"), "generation": 2, "creationTimestamp": CREATED,
                     "labels": {"app": name}, "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}}, "template": tmpl},
        "status": {"observedGeneration": 2, "replicas": REPLICAS, "updatedReplicas": REPLICAS, "readyReplicas": REPLICAS, "availableReplicas": REPLICAS}}));
    let rs = format!("{name}-5d4f8b7c9");
    items.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": rs, "namespace": ns, "uid": format!("rs-{uid}"), "creationTimestamp": CREATED,
                     "labels": {"app": name, "pod-template-hash": "5d4f8b7c9"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": format!("d-{uid}"), "controller": true}]},
        "spec": {"replicas": REPLICAS, "template": tmpl},
        "status": {"replicas": REPLICAS, "readyReplicas": REPLICAS}}));
    for p in 0..REPLICAS {
        let running = if d == Some(Drift::Mixed) && p == 0 {
            &old
        } else {
            spec_digest
        };
        items.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("{rs}-p{p}"), "namespace": ns, "uid": format!("p-{uid}-{p}"), "creationTimestamp": CREATED,
                         "labels": {"app": name, "pod-template-hash": "5d4f8b7c9"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": format!("rs-{uid}"), "controller": true}]},
            "spec": tmpl["spec"],
            "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}],
                "initContainerStatuses": [{"name": "migrate", "image": migrate_image(), "imageID": migrate_image(), "ready": true, "restartCount": 0,
                                           "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
                "containerStatuses": [{"name": "app", "image": image, "imageID": format!("{}@{running}", app_repo(app)), "ready": true, "restartCount": 0,
                                       "state": {"running": {"startedAt": CREATED}}}]}}));
    }
    let mut data = config_data(app, env);
    if d == Some(Drift::Config) {
        data.insert("LOG_LEVEL".into(), "debug".into());
    }
    items.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": config, "namespace": ns, "uid": format!("cm-{uid}"), "creationTimestamp": CREATED},
        "data": data}));
}

fn signature() -> Signature<'static> {
    Signature::new("bench", "bench@example.com", &Time::new(1_700_000_000, 0)).unwrap()
}

/// A git repository on `main` in `dir` (its files written), everything committed.
pub fn init_and_commit(dir: &Path, message: &str) {
    let repo = Repository::init(dir).unwrap();
    repo.set_head("refs/heads/main").unwrap();
    commit_all(&repo, message);
}

/// One snapshot per environment under `dir` (`cluster-<env>.json`, a `kubectl get -o json`
/// List), each holding what `live` adds for every app.
pub fn snapshots(dir: &Path, envs: &[String], apps: usize, live: fn(usize, &str, &mut Vec<Value>)) -> Vec<PathBuf> {
    envs.iter()
        .map(|env| {
            let mut items = Vec::new();
            for app in 0..apps {
                live(app, env, &mut items);
            }
            let path = dir.join(format!("cluster-{env}.json"));
            let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
            fs::write(&path, serde_json::to_string(&list).unwrap()).unwrap();
            path
        })
        .collect()
}

/// Stages everything in the work tree and commits it on `main`.
fn commit_all(repo: &Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let sig = signature();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap();
}

impl Fleet {
    /// Writes the repository (one commit) under `dir/gitops` and the snapshots beside it.
    pub fn generate(dir: &Path, apps: usize, envs: usize) -> Self {
        let envs = env_names(envs);
        let repo_dir = dir.join("gitops");
        for app in 0..apps {
            let app_dir = repo_dir.join("apps").join(app_name(app));
            base_files(&app_dir.join("base"), app);
            for env in &envs {
                overlay_files(&app_dir.join("overlays").join(env), app, env);
            }
        }
        init_and_commit(&repo_dir, "the generated fleet");
        let snapshots = snapshots(dir, &envs, apps, live_objects);
        Self {
            apps,
            envs,
            repo: repo_dir,
            snapshots,
            changes: Cell::new(0),
        }
    }

    pub fn overlays(&self) -> usize {
        self.apps * self.envs.len()
    }

    pub fn pods(&self) -> usize {
        self.overlays() * REPLICAS
    }

    /// The overlay directory of `app` in the first environment (for a lone `kustomize` run).
    pub fn overlay_dir(&self, app: usize) -> PathBuf {
        self.repo
            .join("apps")
            .join(app_name(app))
            .join("overlays")
            .join(&self.envs[0])
    }

    /// Commits a change to the patch of one overlay ([`CHANGED_APP`] in the first environment):
    /// a new `REVISION` value, which changes neither images nor config, so the findings stay.
    pub fn change_overlay(&self) {
        let n = self.changes.get() + 1;
        self.changes.set(n);
        let path = self.overlay_dir(CHANGED_APP).join("patch.yaml");
        fs::write(&path, patch(CHANGED_APP, n)).unwrap();
        let repo = Repository::open(&self.repo).unwrap();
        commit_all(&repo, &format!("change {} ({n})", path.display()));
    }

    /// The findings a correct audit reports: one per deliberate drift, in every environment.
    pub fn expected(&self) -> Vec<Expected> {
        let mut out = Vec::new();
        for env in &self.envs {
            for app in 0..self.apps {
                let ns = namespace(app, env);
                let f = match drift(app) {
                    None => continue,
                    Some(Drift::Spec) => ("spec-drift", app_name(app), Some("app".to_string())),
                    Some(Drift::Mixed) => ("mixed-rollout", app_name(app), Some("app".to_string())),
                    Some(Drift::Config) => ("config-drift", config_name(app, env), None),
                };
                out.push((f.0.to_string(), env.clone(), ns, f.1, f.2));
            }
        }
        out.sort();
        out
    }
}
