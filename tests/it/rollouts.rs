//! Argo Rollouts as workloads: `driftwatch --once` against the suite's Kubernetes API serving
//! Rollouts (`argoproj.io/v1alpha1`, shaped as Argo Rollouts' CRD), the ReplicaSets they own
//! (labelled `rollouts-pod-template-hash`) and their Pods, with the declared side in a real git
//! repository: in sync, a canary in progress, a pause past `rollout_grace`, an abort, drift,
//! `workloadRef`, a cluster without the Rollout CRD, and one that refuses to list Rollouts.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, REPO, deployment, deployment_yaml, pod};
use support::git::GitRepo;
use support::kube::{Behaviour, FakeKube};
use support::run::{audit, finding, findings};

const WEB: &str = "registry.example.com/shop/web";

/// The Rollout `shop/web` as git declares it: a canary at `image`.
fn rollout_yaml(image: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 5\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: {image}\n  strategy:\n    canary:\n      steps:\n        - setWeight: 20\n        - pause: {{}}\n        - setWeight: 60\n        - pause: {{duration: 10m}}\n"
    )
}

/// A real git repository declaring the Rollout at D1 and the Deployment shop/api at D1.
fn gitops(dir: &Path, rollout: &str) -> PathBuf {
    let repo = GitRepo::init(&dir.join("infra"));
    repo.commit(
        &[
            ("apps/web/rollout.yaml", rollout),
            (
                "apps/api/deploy.yaml",
                &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
            ),
        ],
        "web and api at D1",
    );
    repo.dir
}

fn config(dir: &Path, repo: &Path, kubeconfig: &Path) -> PathBuf {
    ConfigBuilder::new(dir)
        .gitops(|g| {
            g.url(&format!("file://{}", repo.display()))
                .branch("main")
                .cache_dir("cache")
        })
        .environment("production", |e| {
            e.paths(&["apps/*"])
                .kubeconfig(kubeconfig)
                .context("production-ctx")
                .namespaces(&["shop"])
        })
        .write()
}

fn ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339()
}

/// The live Rollout shop/web (uid `rollout-web`) whose template names `image`, with `status`
/// as Argo Rollouts writes it (observedGeneration as a string).
fn rollout(image: &str, status: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "uid": "rollout-web", "generation": 3,
                     "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}},
                 "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "10m"}}]}}},
        "status": status})
}

/// A ReplicaSet of the Rollout, for Pod template hash `hash`.
fn replicaset(hash: &str, created: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("web-{hash}"), "namespace": "shop", "uid": format!("rs-{hash}"), "creationTimestamp": created,
                     "labels": {"app": "web", "rollouts-pod-template-hash": hash},
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web", "uid": "rollout-web",
                                          "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "set-by-rollout"}]}}}})
}

/// `count` Pods of the ReplicaSet `rs`, running `digest`.
fn pods(rs: &Value, prefix: &str, count: usize, digest: &str) -> Vec<Value> {
    (0..count)
        .map(|i| pod(rs, &format!("{prefix}{i}"), &[("web", &format!("{WEB}@{digest}"))]))
        .collect()
}

/// shop/api, in sync at D1, next to the Rollout.
fn api() -> Vec<Value> {
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 1);
    let p = pod(&rs, "a", &[("api", &format!("{REPO}@{D1}"))]);
    vec![d, rs, p]
}

/// A canary of D1 over stable D2: `canary` Pods of the new ReplicaSet, `stable` of the old,
/// with the Rollout's `status`.
fn canary(stable: usize, canary: usize, status: Value) -> Vec<Value> {
    let old = replicaset("5c6b9f", "2026-11-01T00:00:00Z");
    let new = replicaset("7d9f4c", &ago(120));
    let mut objects = vec![rollout(&format!("{WEB}@{D1}"), status)];
    objects.extend(pods(&old, "s", stable, D2));
    objects.extend(pods(&new, "c", canary, D1));
    objects.extend([old, new]);
    objects.extend(api());
    objects
}

/// Argo Rollouts' status of a canary paused at its first step since `minutes` ago.
fn paused_status(minutes: i64) -> Value {
    json!({"observedGeneration": "3", "currentPodHash": "7d9f4c", "stableRS": "5c6b9f", "phase": "Paused",
           "message": "CanaryPauseStep", "replicas": 5, "updatedReplicas": 1, "readyReplicas": 5, "availableReplicas": 5,
           "currentStepIndex": 1, "selector": "app=web",
           "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": ago(minutes)}],
           "canary": {},
           "conditions": [{"type": "Paused", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused",
                           "lastUpdateTime": ago(minutes), "lastTransitionTime": ago(minutes)}]})
}

fn run(dir: &Path, kube: &FakeKube, rollout: &str) -> support::run::Output {
    let repo = gitops(dir, rollout);
    let kc = kube.kubeconfig(dir, "production-ctx");
    let cfg = config(dir, &repo, &kc);
    audit(dir, &cfg)
}

#[test]
fn a_rollout_in_sync_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let stable = replicaset("7d9f4c", "2026-11-01T00:00:00Z");
    let status = json!({"observedGeneration": "3", "currentPodHash": "7d9f4c", "stableRS": "7d9f4c", "phase": "Healthy",
                        "replicas": 5, "updatedReplicas": 5, "readyReplicas": 5, "availableReplicas": 5, "canary": {},
                        "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "",
                                        "lastUpdateTime": ago(300), "lastTransitionTime": ago(300)}]});
    let mut objects = vec![rollout(&format!("{WEB}@{D1}"), status)];
    objects.extend(pods(&stable, "p", 5, D1));
    objects.push(stable);
    objects.extend(api());
    let kube = FakeKube::start(objects);

    let out = run(dir.path(), &kube, &rollout_yaml(&format!("{WEB}@{D1}")));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(findings(&report), vec![]);
    let env = &report["environments"][0];
    assert_eq!(
        (env["declared_workloads"].as_u64(), env["live_workloads"].as_u64()),
        (Some(2), Some(2)),
        "the Rollout is one workload, its ReplicaSet none: {env}"
    );
}

#[test]
fn a_canary_in_progress_is_not_drift() {
    let dir = tempfile::tempdir().unwrap();
    let kube = FakeKube::start(canary(4, 1, paused_status(3)));
    let out = run(dir.path(), &kube, &rollout_yaml(&format!("{WEB}@{D1}")));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(findings(&out.json()), vec![]);
}

#[test]
fn a_canary_paused_past_the_grace_is_a_mixed_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let kube = FakeKube::start(canary(4, 1, paused_status(40)));
    let out = run(dir.path(), &kube, &rollout_yaml(&format!("{WEB}@{D1}")));
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![finding("mixed-rollout", "shop/web", "web")],
        "{report}\n{}",
        out.stderr
    );
    let f = &report["findings"][0];
    assert_eq!(
        (f["kind"].as_str(), f["severity"].as_str()),
        (Some("Rollout"), Some("warning"))
    );
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("Rollout paused (CanaryPauseStep)"), "{message}");
    assert_eq!(
        f["running"],
        json!([{"digest": D1, "pods": 1}, {"digest": D2, "pods": 4}])
    );
    let cfg = dir.path().join("driftwatch.toml");
    let text = support::run::driftwatch(dir.path(), &["--once", "--config", cfg.to_str().unwrap()], &[]);
    assert!(
        text.stdout.contains("Rollout/web"),
        "the text report names the Rollout: {}",
        text.stdout
    );
    let sarif = support::run::driftwatch(
        dir.path(),
        &["--once", "--format", "sarif", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert!(
        sarif.stdout.contains("Rollout shop/web"),
        "SARIF names the Rollout: {}",
        sarif.stdout
    );
}

#[test]
fn an_aborted_canary_past_the_grace_is_a_mixed_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let status = json!({"observedGeneration": "3", "currentPodHash": "7d9f4c", "stableRS": "5c6b9f", "phase": "Degraded",
                        "abort": true, "abortedAt": ago(45), "message": "RolloutAborted: Rollout aborted update to revision 3",
                        "replicas": 5, "updatedReplicas": 0, "canary": {},
                        "conditions": [{"type": "Progressing", "status": "False", "reason": "RolloutAborted", "message": "",
                                        "lastUpdateTime": ago(45), "lastTransitionTime": ago(45)}]});
    let kube = FakeKube::start(canary(5, 0, status));
    let out = run(dir.path(), &kube, &rollout_yaml(&format!("{WEB}@{D1}")));
    let report = out.json();
    assert_eq!(findings(&report), vec![finding("mixed-rollout", "shop/web", "web")]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("Rollout aborted"), "{message}");
}

#[test]
fn a_rollout_running_a_digest_git_does_not_declare_is_drift() {
    let dir = tempfile::tempdir().unwrap();
    let stable = replicaset("5c6b9f", "2026-11-01T00:00:00Z");
    let status = json!({"observedGeneration": "3", "currentPodHash": "5c6b9f", "stableRS": "5c6b9f", "phase": "Healthy",
                        "replicas": 3, "updatedReplicas": 3, "canary": {}});
    let mut objects = vec![rollout(&format!("{WEB}@{D1}"), status)];
    objects.extend(pods(&stable, "p", 3, D2));
    objects.push(stable);
    objects.extend(api());
    let kube = FakeKube::start(objects);

    let out = run(dir.path(), &kube, &rollout_yaml(&format!("{WEB}@{D1}")));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![finding("digest-drift", "shop/web", "web")],
        "{}",
        report["findings"]
    );
    let f = &report["findings"][0];
    assert_eq!(
        (f["kind"].as_str(), f["severity"].as_str()),
        (Some("Rollout"), Some("critical"))
    );
    assert_eq!(f["running"], json!([{"digest": D2, "pods": 3}]));
}

/// `spec.workloadRef`: the Rollout runs the Pod template of the Deployment it names (scaled to
/// zero by Argo Rollouts), declared in git next to it.
#[test]
fn a_rollout_through_workload_ref_is_compared_with_the_deployment_git_declares() {
    let dir = tempfile::tempdir().unwrap();
    let by_ref = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n  workloadRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web-template\n    scaleDown: onsuccess\n";
    let template = deployment_yaml("web-template", "shop", &format!("{WEB}@{D1}"));
    let repo = GitRepo::init(&dir.path().join("infra"));
    repo.commit(
        &[
            ("apps/web/rollout.yaml", by_ref),
            ("apps/web-template/deploy.yaml", &template),
        ],
        "web through a workloadRef",
    );
    let (template_live, _) = deployment("shop", "web-template", &[("web-template", &format!("{WEB}@{D1}"))], 0);
    let mut live_rollout = rollout(
        "unused",
        json!({"observedGeneration": "3", "currentPodHash": "5c6b9f", "stableRS": "5c6b9f",
                                                    "phase": "Healthy", "replicas": 2, "updatedReplicas": 2}),
    );
    live_rollout["spec"].as_object_mut().unwrap().remove("template");
    live_rollout["spec"]["workloadRef"] =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-template"});
    let rs = replicaset("5c6b9f", "2026-11-01T00:00:00Z");
    let mut objects = vec![live_rollout, template_live];
    objects.extend((0..2).map(|i| pod(&rs, &format!("p{i}"), &[("web-template", &format!("{WEB}@{D2}"))])));
    objects.push(rs);
    let kube = FakeKube::start(objects);
    let kc = kube.kubeconfig(dir.path(), "production-ctx");
    let cfg = config(dir.path(), &repo.dir, &kc);

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        findings(&out.json()),
        vec![finding("digest-drift", "shop/web", "web-template")],
        "the Rollout's Pods run D2; the Deployment it names declares D1"
    );
}

/// A cluster without Argo Rollouts answers 404 on rollouts: Deployments are audited as ever,
/// with no error and no finding about Rollouts.
#[test]
fn a_cluster_without_the_rollout_crd_audits_deployments_normally() {
    let dir = tempfile::tempdir().unwrap();
    let (d, rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 2);
    let mut objects = vec![d, pod(&rs, "a", &[("api", &format!("{REPO}@{D2}"))])];
    objects.push(rs);
    let kube = FakeKube::start(objects);
    kube.behave("rollouts", Behaviour::NotServed);
    let repo = GitRepo::init(&dir.path().join("infra"));
    repo.commit(
        &[(
            "apps/api/deploy.yaml",
            &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
        )],
        "api at D1",
    );
    let kc = kube.kubeconfig(dir.path(), "production-ctx");
    let cfg = config(dir.path(), &repo.dir, &kc);

    let out = audit(dir.path(), &cfg);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(findings(&report), vec![finding("digest-drift", "shop/api", "api")]);
    assert_eq!(report["environments"][0]["status"], "ok");
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.contains("/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts")),
        "{:?}",
        kube.requests()
    );
    assert!(!out.stderr.to_lowercase().contains("rollout"), "silent: {}", out.stderr);
}

/// A reader the cluster does not let list Rollouts: the declared Rollout is one `unverifiable`
/// finding naming the permission, not `missing`, and the rest is audited.
#[test]
fn a_403_on_rollouts_is_unverifiable_for_the_declared_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let kube = FakeKube::start(api());
    kube.behave("rollouts", Behaviour::Forbidden);
    let out = run(dir.path(), &kube, &rollout_yaml(&format!("{WEB}@{D1}")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["environments"][0]["status"], "ok");
    let types: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["unverifiable"]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("shop/web") && message.contains("rollouts.argoproj.io") && message.contains("403"),
        "{message}"
    );
}
