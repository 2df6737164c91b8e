//! The discovery bench's Flux fleet: one `GitRepository` per copy of the render fleet's
//! repository (served over smart HTTP by the real `git http-backend`, Basic auth, as Flux's CRD
//! only takes `http`, `https` and `ssh` URLs) and one `Kustomization` per app and environment
//! in `flux-system`, written as fleets write them: `env` label, `targetNamespace`,
//! `postBuild.substitute`, `kubeConfig.secretRef` naming the environment's cluster, and one app
//! in ten with an `images` entry (as image automation leaves it: the digest git pins, so
//! rendering is unchanged and each such workload gets its `override` warning).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::git::GitHttp;

use crate::fleet::{self, Fleet};
use crate::kapi::Kapi;
use crate::measure::Expected;

const NS: &str = "flux-system";
const USER: &str = "bench";
const PASSWORD: &str = "bench-password";

/// The objects, and the git server their URLs name.
pub struct Objects {
    pub sources: Vec<Value>,
    pub kustomizations: Vec<Value>,
    /// Serves `work/repo-NN` at `http://…/repo-NN`.
    pub git: GitHttp,
}

impl Objects {
    pub fn all(&self) -> Vec<Value> {
        self.sources.iter().chain(&self.kustomizations).cloned().collect()
    }
}

/// Whether `app`'s Kustomizations set `images` (not a drifting app: its findings stay).
fn pins_image(app: usize) -> bool {
    app % 10 == 1
}

fn git_repository(git: &GitHttp, i: usize) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": format!("repo-{i:02}"), "namespace": NS},
        "spec": {"url": git.url(&format!("repo-{i:02}")), "interval": "5m", "ref": {"branch": "main"},
                 "secretRef": {"name": "git-credentials"}},
    })
}

fn kustomization(app: usize, env: &str, repos: usize) -> Value {
    let name = fleet::app_name(app);
    let mut spec = json!({
        "interval": "10m",
        "prune": true,
        "sourceRef": {"kind": "GitRepository", "name": format!("repo-{:02}", app % repos)},
        "path": format!("./apps/{name}/overlays/{env}"),
        "targetNamespace": fleet::namespace(app, env),
        "kubeConfig": {"secretRef": {"name": env}},
        "postBuild": {"substitute": {"cluster_env": env, "team": format!("team-{:02}", app % 25)}},
    });
    if pins_image(app) {
        spec["images"] = json!([{"name": fleet::app_repo(app), "digest": fleet::declared_digest(app, env)}]);
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": format!("{name}-{env}"), "namespace": NS, "labels": {"env": env}},
        "spec": spec,
        "status": {
            "observedGeneration": 1,
            "lastAppliedRevision": "main@sha1:4f2a91c0b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4",
            "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                            "message": "Applied revision: main@sha1:4f2a91c0b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4",
                            "lastTransitionTime": fleet::CREATED, "observedGeneration": 1}],
        },
    })
}

/// The Flux objects for `fleet` over the repository copies `repos` (all in `work`).
pub fn objects(fleet: &Fleet, work: &Path, repos: usize) -> Objects {
    let git = GitHttp::start(work, USER, PASSWORD);
    let sources = (0..repos).map(|i| git_repository(&git, i)).collect();
    let kustomizations = fleet
        .envs
        .iter()
        .flat_map(|env| (0..fleet.apps).map(move |app| kustomization(app, env, repos)))
        .collect();
    Objects {
        sources,
        kustomizations,
        git,
    }
}

/// The findings of the fleet's drifts, and an `override` for each workload an `images` sets.
pub fn expected(fleet: &Fleet, mut out: Vec<Expected>) -> Vec<Expected> {
    for env in &fleet.envs {
        for app in (0..fleet.apps).filter(|a| pins_image(*a)) {
            out.push((
                "override".into(),
                env.clone(),
                fleet::namespace(app, env),
                fleet::app_name(app),
                Some("app".into()),
            ));
        }
    }
    out.sort();
    out
}

/// What both Flux configs share: the caches, and the git server's credentials.
pub fn common(work: &Path, shared: &str, objects: &Objects) -> String {
    let password = work.join("git-password");
    std::fs::write(&password, PASSWORD).unwrap();
    format!(
        "{shared}[[gitops.credentials]]\nurl_prefix = {:?}\nusername = {USER:?}\npassword_file = {:?}\n",
        objects.git.url(""),
        password.display().to_string()
    )
}

/// `[discovery.flux]` listing `flux-system` with `kubeconfig`, one snapshot cluster per
/// environment (what each Kustomization's `kubeConfig.secretRef` names).
pub fn config(work: &Path, common: &str, fleet: &Fleet, kubeconfig: &Path) -> PathBuf {
    let mut toml = common.to_string();
    writeln!(
        toml,
        "[discovery.flux]\ncluster = {{ kubeconfig = {:?} }}\nnamespace = {NS:?}\nenvironment_from = \"label:env\"",
        kubeconfig.display().to_string()
    )
    .unwrap();
    for (env, snapshot) in fleet.envs.iter().zip(&fleet.snapshots) {
        writeln!(
            toml,
            "[[discovery.clusters]]\nname = {env:?}\nsnapshot = {:?}",
            snapshot.display().to_string()
        )
        .unwrap();
    }
    let path = work.join("discovery-flux.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// RBAC as deploy/components/flux grants it, bound to `reader2` (the user the bench reads as).
fn grant() -> Vec<Value> {
    let rule = |group: &str, resources: &[&str]| json!({"apiGroups": [group], "resources": resources, "verbs": ["get", "list", "watch"]});
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "driftwatch-flux"},
               "rules": [rule("kustomize.toolkit.fluxcd.io", &["kustomizations"]),
                         rule("helm.toolkit.fluxcd.io", &["helmreleases"]),
                         rule("source.toolkit.fluxcd.io", &["gitrepositories", "ocirepositories", "helmrepositories", "helmcharts"])]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "driftwatch-flux-reader2"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "driftwatch-flux"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "reader2"}]}),
    ]
}

/// Writes the RBAC, the sources and the Kustomizations (their status through the status
/// subresource) into kapi. The Flux CRDs must be installed (docs/benchmarks.md).
pub fn load(kapi: &Kapi, objects: &Objects) {
    kapi.put(&grant());
    kapi.load(&objects.sources, 1);
    kapi.load(&objects.kustomizations, 8);
}

/// The LISTs discovery makes (as `reader2`), each timed once after a warm-up: status, size,
/// time. A version the cluster does not serve is a 404; a kind `reader2` may not list a 403.
pub fn list_costs(kapi: &Kapi) {
    let kinds = [
        ("kustomize.toolkit.fluxcd.io", "kustomizations", &["v1", "v1beta2"][..]),
        ("helm.toolkit.fluxcd.io", "helmreleases", &["v2", "v2beta2"][..]),
        ("source.toolkit.fluxcd.io", "gitrepositories", &["v1", "v1beta2"][..]),
        ("source.toolkit.fluxcd.io", "ocirepositories", &["v1", "v1beta2"][..]),
        ("source.toolkit.fluxcd.io", "helmrepositories", &["v1", "v1beta2"][..]),
        ("source.toolkit.fluxcd.io", "helmcharts", &["v1", "v1beta2"][..]),
        ("source.toolkit.fluxcd.io", "buckets", &["v1"][..]),
    ];
    println!("\nLIST in {NS} as reader2 on kapi (after one warm-up LIST each)\n");
    println!("| LIST | status | bytes | ms |\n|---|---:|---:|---:|");
    for (group, plural, versions) in kinds {
        for version in versions {
            let path = format!("/apis/{group}/{version}/namespaces/{NS}/{plural}");
            kapi.get_as("reader2", &path);
            let (status, bytes, took) = kapi.get_as("reader2", &path);
            println!(
                "| `{plural}` {group}/{version} | {status} | {bytes} | {:.0} |",
                ms(took)
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
