//! Zero-config onboarding from Flux: Kustomizations and HelmReleases listed from the cluster
//! Flux runs in (the suite's Kubernetes API serving Flux's kinds at the groups and versions of
//! their CRDs), with their GitRepository and HelmRepository sources, become environments
//! audited against real git repositories and the suite's Helm repository server. `postBuild`
//! variables and `valuesFrom` values come from ConfigMaps and Secrets where RBAC allows, and
//! otherwise are one `unverifiable` finding naming the permission; a Flux `images` entry is an
//! `override` finding; Flux's own view (Ready, lastAppliedRevision) is said in findings and
//! alerts; `driftwatch discover` prints the environments with where each came from.

use base64::Engine as _;
use serde_json::{Value, json};
use support::charts::{ChartRepo, index, package};
use support::fixtures::{D1, D2, deployment, pod};
use support::git::{GitDaemon, GitRepo};
use support::kube::{Behaviour, FakeKube};
use support::run::driftwatch;
use support::write;

const WEB: &str = "registry.example.com/shop/web";
const PODINFO: &str = "registry.example.com/shop/podinfo";
const REV: &str = "4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b";
/// A Secret's value: it must never be printed.
const TOKEN: &str = "s3cr3t-flux-token-never-shown";

/// A Deployment manifest without a namespace (the Kustomization's targetNamespace sets it).
fn manifest(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: {image}\n"
    )
}

struct Flux {
    dir: tempfile::TempDir,
    _git: GitDaemon,
    charts: ChartRepo,
    fleet_url: String,
}

/// The fleet repository (served over git://): `apps/production` (a directory without a
/// kustomization, as most Flux paths are), `apps/vars` (with `${…}` variables) and the Flux
/// manifests `flux bootstrap` writes under `clusters/production`; and the Helm repository with
/// chart podinfo 6.5.0 whose default image runs at D1.
fn flux() -> Flux {
    let dir = tempfile::tempdir().unwrap();
    let fleet = GitRepo::init(&dir.path().join("served/fleet"));
    let git = GitDaemon::start(&dir.path().join("served"));
    let fleet_url = git.url("fleet");
    let cluster_files = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: {fleet_url}\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./apps/production\n  prune: true\n  targetNamespace: shop\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n"
    );
    fleet.commit(
        &[
            ("apps/production/web.yaml", &manifest("web", &format!("{WEB}@{D1}"))),
            ("apps/production/README.md", "not a manifest\n"),
            (
                "apps/vars/web.yaml",
                &format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    token: ${{token}}\nspec:\n  replicas: ${{replicas:=1}}\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {WEB}@${{web_digest}}\n"
                ),
            ),
            ("clusters/production/apps.yaml", &cluster_files),
        ],
        "fleet",
    );
    let src = dir.path().join("chart-src/podinfo");
    write(
        &src.join("Chart.yaml"),
        "apiVersion: v2\nname: podinfo\nversion: 6.5.0\n",
    );
    write(&src.join("values.yaml"), &format!("image: {PODINFO}@{D1}\n"));
    write(
        &src.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n{{- with .Values.token }}\n  annotations:\n    token: {{ . | quote }}\n{{- end }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: podinfo\n          image: {{ .Values.image | quote }}\n",
    );
    let served = dir.path().join("charts-served/charts");
    package(&src, &served);
    index(&served);
    let charts = ChartRepo::start(served.parent().unwrap(), None);
    Flux {
        dir,
        _git: git,
        charts,
        fleet_url,
    }
}

fn git_repository(url: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {"interval": "1m", "url": url, "ref": {"branch": "main"}},
        "status": {"artifact": {"revision": format!("main@sha1:{REV}")}}
    })
}

fn ready(reason: &str) -> Value {
    json!({"lastAppliedRevision": format!("main@sha1:{REV}"),
           "conditions": [{"type": "Ready", "status": "True", "reason": reason, "message": "Applied revision"}]})
}

fn kustomization(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["sourceRef"] = json!({"kind": "GitRepository", "name": "fleet"});
    spec["interval"] = json!("10m");
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": spec,
        "status": ready("ReconciliationSucceeded"),
    })
}

fn helm_repository(url: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "podinfo", "namespace": "podinfo"},
        "spec": {"interval": "1h", "url": url}
    })
}

fn helm_release(spec_extra: Value) -> Value {
    let mut spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "podinfo", "version": "6.5.x", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
    });
    for (k, v) in spec_extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "podinfo"},
        "spec": spec,
        "status": {"history": [{"chartName": "podinfo", "chartVersion": "6.5.0"}],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "UpgradeSucceeded"}]}
    })
}

/// A Deployment whose spec names `spec_image` (`repo@digest`), and its Pod running it.
fn running(ns: &str, name: &str, spec_image: &str) -> Vec<Value> {
    let (d, rs) = deployment(ns, name, &[(name, spec_image)], 1);
    let p = pod(&rs, "a", &[(name, spec_image)]);
    vec![d, rs, p]
}

fn secret(name: &str, data: &[(&str, &str)]) -> Value {
    let enc = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let data: serde_json::Map<String, Value> = data.iter().map(|(k, v)| (k.to_string(), json!(enc(v)))).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "flux-system"}, "type": "Opaque", "data": data})
}

fn config_map(name: &str, ns: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data})
}

impl Flux {
    /// `[discovery.flux]` alone: no `[gitops] url`, no `[[environments]]`.
    fn config(&self, kube: &FakeKube, extra: &str) -> String {
        let kubeconfig = kube.kubeconfig(self.dir.path(), "flux");
        format!(
            "[gitops]\ncache_dir = \"cache\"\n[discovery.flux]\ncluster = {{ kubeconfig = \"{}\" }}\n{extra}",
            kubeconfig.display()
        )
    }

    fn run(&self, config: &str, args: &[&str], env: &[(&str, &str)]) -> support::run::Output {
        let cfg = self.dir.path().join("driftwatch.toml");
        write(&cfg, config);
        let mut all: Vec<&str> = args.to_vec();
        let cfg = cfg.display().to_string();
        all.extend(["--config", &cfg]);
        driftwatch(self.dir.path(), &all, env)
    }
}

/// (environment, type, workload) of every finding.
fn found(report: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let s = |k: &str| x[k].as_str().unwrap_or_default().to_string();
            (s("environment"), s("type"), s("name"))
        })
        .collect();
    out.sort();
    out
}

fn row(env: &str, kind: &str, name: &str) -> (String, String, String) {
    (env.into(), kind.into(), name.into())
}

/// A config with only `[discovery.flux]` audits a Kustomization (a directory without a
/// kustomization, built as Flux builds it, in its targetNamespace) and a HelmRelease (a chart
/// of a HelmRepository): the hand-changed web image is drift, podinfo is in sync. The finding
/// carries what Flux reports (Ready at the revision it applied), said plainly in the text
/// report and the webhook alert: Flux calls it Ready while the Pods run what git does not
/// declare.
#[test]
fn a_config_with_only_flux_audits_its_kustomizations_and_helm_releases() {
    let f = flux();
    let mut objects = vec![
        git_repository(&f.fleet_url),
        helm_repository(&f.charts.url("charts")),
        kustomization(
            "apps",
            json!({"path": "./apps/production", "prune": true, "targetNamespace": "shop"}),
        ),
        helm_release(json!({})),
    ];
    objects.extend(running("shop", "web", &format!("{WEB}@{D2}")));
    objects.extend(running("podinfo", "podinfo", &format!("{PODINFO}@{D1}")));
    let kube = FakeKube::start(objects);
    let receiver = support::receiver::Receiver::start();
    let config = f.config(
        &kube,
        &format!(
            "[state]\npath = \"state/state.json\"\n[[alerts.webhook]]\nurl = \"{}\"\n",
            receiver.url("/hook")
        ),
    );
    let out = f.run(&config, &["--once", "--notify", "--format", "json"], &[]);
    assert_eq!(out.code, 1, "{}\n{}", out.stderr, out.stdout);
    let report = out.json();
    assert_eq!(found(&report), vec![row("apps", "spec-drift", "web")], "{report}");
    let envs: Vec<&str> = report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        envs.contains(&"podinfo"),
        "the HelmRelease is an environment, audited: {envs:?}"
    );
    let finding = &report["findings"][0];
    assert_eq!(
        finding["flux"],
        json!({"object": "Kustomization flux-system/apps", "revision": format!("main@sha1:{REV}"), "ready": "True", "reason": "ReconciliationSucceeded"})
    );
    assert!(finding.get("argocd").is_none(), "no Argo CD view on a Flux workload");
    let said = format!(
        "Flux reports Ready at main@sha1:4f2a91c (Kustomization flux-system/apps, ReconciliationSucceeded); Pods run {} which git does not declare",
        &D2[..19]
    );
    let hook = receiver.received("/hook")[0].json();
    assert_eq!(hook["alerts"][0]["flux"], json!(said), "{hook}");
    assert!(hook["alerts"][0]["argocd"].is_null());
    let text = f.run(&config, &["--once", "--format", "text"], &[]);
    let words = text.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains(&said), "the text report says it: {}", text.stdout);
    let page = f.run(&config, &["--once", "--format", "html"], &[]);
    assert!(page.stdout.contains(&said), "the status page says it");
    let check = f.run(&config, &["check-config"], &[]);
    assert!(
        check
            .stdout
            .contains("discovered environment apps: Kustomization flux-system/apps (cluster flux)")
            && check
                .stdout
                .contains("discovered environment podinfo: HelmRelease podinfo/podinfo (cluster flux)"),
        "{}\n{}",
        check.stdout,
        check.stderr
    );
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.contains("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")),
        "listed at the CRD's group and version"
    );
    assert!(
        kube.requests()
            .iter()
            .filter(|r| r.contains(".toolkit.fluxcd.io/"))
            .all(|r| r.contains("resourceVersion=0")),
        "Flux objects are listed from the apiserver's cache, not read through from etcd: {:?}",
        kube.requests()
    );
}

/// `postBuild.substituteFrom` (a ConfigMap and a Secret) and `valuesFrom` read where RBAC
/// allows: the variables and values render, and the Secret's value is never printed. Without
/// `get` on Secrets, the Kustomization and the HelmRelease that need one are each one
/// `unverifiable` finding naming the permission, and the rest is audited.
#[test]
fn substitute_from_and_values_from_with_and_without_permission() {
    let f = flux();
    let mut objects = vec![
        git_repository(&f.fleet_url),
        helm_repository(&f.charts.url("charts")),
        kustomization(
            "vars",
            json!({"path": "./apps/vars", "targetNamespace": "shop", "postBuild": {
                "substitute": {"replicas": "2"},
                "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}, {"kind": "Secret", "name": "cluster-secrets"}]
            }}),
        ),
        kustomization(
            "plain",
            json!({"path": "./apps/production", "targetNamespace": "store"}),
        ),
        helm_release(json!({"valuesFrom": [
            {"kind": "ConfigMap", "name": "podinfo-values"},
            {"kind": "Secret", "name": "podinfo-image", "valuesKey": "digest", "targetPath": "digest"}
        ], "values": {"image": format!("{PODINFO}@{D2}")}})),
        config_map("cluster-vars", "flux-system", json!({"web_digest": D1})),
        secret("cluster-secrets", &[("token", TOKEN)]),
        config_map(
            "podinfo-values",
            "podinfo",
            json!({"values.yaml": format!("image: {PODINFO}@{D1}\n")}),
        ),
    ];
    let mut pi_secret = secret("podinfo-image", &[("digest", D2)]);
    pi_secret["metadata"]["namespace"] = json!("podinfo");
    objects.push(pi_secret);
    objects.extend(running("shop", "web", &format!("{WEB}@{D1}")));
    objects.extend(running("store", "web", &format!("{WEB}@{D2}")));
    objects.extend(running("podinfo", "podinfo", &format!("{PODINFO}@{D2}")));
    let kube = FakeKube::start(objects);
    let config = f.config(&kube, "");

    // Everything readable: web in shop runs the digest the ConfigMap's variable declares;
    // podinfo's values win over valuesFrom; web in store is drift.
    let out = f.run(&config, &["--once", "--format", "json"], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(found(&report), vec![row("plain", "spec-drift", "web")], "{report}");
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "a Secret's value is never shown"
    );
    let discover = f.run(&config, &["discover"], &[]);
    assert_eq!(discover.code, 0, "{}", discover.stderr);
    assert!(
        discover.stdout.contains("postBuild substitutes 3 entries from ConfigMap flux-system/cluster-vars, Secret flux-system/cluster-secrets"),
        "{}",
        discover.stdout
    );
    assert!(!discover.stdout.contains(TOKEN), "{}", discover.stdout);

    // No `get` on Secrets: one unverifiable finding per object that needs one, naming the
    // permission; the plain Kustomization is still audited.
    kube.behave("secrets", Behaviour::Forbidden);
    let out = f.run(&config, &["--once", "--format", "json"], &[]);
    let report = out.json();
    assert_eq!(
        found(&report),
        vec![
            row("plain", "spec-drift", "web"),
            row("podinfo", "unverifiable", ""),
            row("vars", "unverifiable", ""),
        ],
        "{report}\n{}",
        out.stderr
    );
    for f in report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "unverifiable")
    {
        let m = f["message"].as_str().unwrap();
        assert!(m.contains("grant get on secrets in namespace"), "{m}");
        assert!(m.contains("deploy/components/flux-secrets"), "{m}");
    }
}

/// An image a Kustomization's `images` sets is declared, but not in git: an `override` finding
/// naming the Kustomization and the field, and the Pods running it are not drift.
#[test]
fn a_flux_images_entry_is_an_override_finding() {
    let f = flux();
    let mut objects = vec![
        git_repository(&f.fleet_url),
        kustomization(
            "apps",
            json!({"path": "./apps/production", "targetNamespace": "shop", "images": [{"name": WEB, "digest": D2}]}),
        ),
    ];
    objects.extend(running("shop", "web", &format!("{WEB}@{D2}")));
    let kube = FakeKube::start(objects);
    let out = f.run(&f.config(&kube, ""), &["--once", "--format", "json"], &[]);
    assert_eq!(out.code, 1, "the override is a warning\n{}", out.stderr);
    let report = out.json();
    assert_eq!(found(&report), vec![row("apps", "override", "web")], "{report}");
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "Kustomization flux-system/apps sets spec.images[0] = \"{WEB}@{D2}\" outside git"
        )),
        "{message}"
    );
}

/// A `v1beta2` Kustomization built as kustomize-controller builds it: an `images` entry naming
/// an image the kustomization already rewrites is merged into that entry (its `newName` is
/// set, the entry's digest stays), `patchesStrategicMerge` and `patchesJson6902` are appended to
/// the kustomization's, and a missing component is left out with `ignoreMissingComponents`.
#[test]
fn a_v1beta2_kustomization_merges_images_and_applies_its_legacy_patches() {
    let f = flux();
    let fleet = GitRepo {
        dir: f.dir.path().join("served/fleet"),
    };
    let mirror = "mirror.example.com/shop/web";
    fleet.commit(
        &[
            (
                "apps/legacy/kustomization.yaml",
                &format!("resources: [web.yaml, api.yaml]\nimages:\n  - name: {WEB}\n    digest: {D1}\n"),
            ),
            ("apps/legacy/web.yaml", &manifest("web", &format!("{WEB}:v0"))),
            ("apps/legacy/api.yaml", &manifest("api", &format!("{WEB}-api@{D2}"))),
        ],
        "legacy app",
    );
    let mut k = kustomization(
        "legacy",
        json!({"path": "./apps/legacy", "targetNamespace": "shop",
               "images": [{"name": WEB, "newName": mirror}],
               "components": ["../absent-component"], "ignoreMissingComponents": true,
               "patchesStrategicMerge": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
                   "spec": {"template": {"spec": {"containers": [{"name": "api", "image": format!("{WEB}-api@{D1}")}]}}}}],
               "patchesJson6902": [{"target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "web"},
                   "patch": [{"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}}]}]}),
    );
    k["apiVersion"] = json!("kustomize.toolkit.fluxcd.io/v1beta2");
    let mut objects = vec![git_repository(&f.fleet_url), k];
    objects.extend(running("shop", "web", &format!("{mirror}@{D1}")));
    objects.extend(running("shop", "api", &format!("{WEB}-api@{D1}")));
    let kube = FakeKube::start(objects);
    let out = f.run(&f.config(&kube, ""), &["--once", "--format", "json"], &[]);
    let report = out.json();
    // Replacing the entry would declare the mirror at the manifest's tag v0 (drift); without
    // the strategic-merge patch, api would declare D2.
    assert_eq!(
        found(&report),
        vec![row("legacy", "override", "web")],
        "{report}\n{}",
        out.stderr
    );
    let declared = f.run(&f.config(&kube, ""), &["declared", "-e", "legacy"], &[]);
    assert!(
        declared.stdout.contains(&format!("{mirror}@{D1}")) && declared.stdout.contains(&format!("{WEB}-api@{D1}")),
        "{}\n{}",
        declared.stdout,
        declared.stderr
    );
}

/// A directory without a kustomization is built from what the source's artifact holds:
/// source-controller leaves out what `.sourceignore` files and the GitRepository's
/// `spec.ignore` exclude, so a test manifest beside the app's is not declared (it would be a
/// `missing` workload nobody deploys).
#[test]
fn files_a_source_ignores_are_not_in_the_generated_kustomization() {
    let f = flux();
    let fleet = GitRepo {
        dir: f.dir.path().join("served/fleet"),
    };
    fleet.commit(
        &[
            ("apps/production/.sourceignore", "*-test.yaml\n"),
            (
                "apps/production/web-test.yaml",
                &manifest("web-test", &format!("{WEB}@{D2}")),
            ),
            ("apps/production/extra.yaml", &manifest("extra", &format!("{WEB}@{D2}"))),
        ],
        "a test manifest and an extra one beside web",
    );
    let mut repo = git_repository(&f.fleet_url);
    repo["spec"]["ignore"] = json!("# not deployed\n/apps/production/extra.yaml\n");
    let mut objects = vec![
        repo,
        kustomization("apps", json!({"path": "./apps/production", "targetNamespace": "shop"})),
    ];
    objects.extend(running("shop", "web", &format!("{WEB}@{D1}")));
    let kube = FakeKube::start(objects);
    let out = f.run(&f.config(&kube, ""), &["--once", "--format", "json"], &[]);
    let report = out.json();
    assert_eq!(found(&report), Vec::new(), "{report}\n{}", out.stderr);
    assert_eq!(report["environments"][0]["declared_workloads"], 1, "{report}");
}

/// `driftwatch discover` on Flux objects listed from the cluster and committed in git
/// (`[discovery.flux] paths`, as `flux bootstrap` lays them out): the environments with where
/// each came from; a Bucket source and a forbidden kind are named with the fix.
#[test]
fn discover_prints_flux_environments_with_their_origins() {
    let f = flux();
    let bucket = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "from-bucket", "namespace": "flux-system"},
        "spec": {"path": "./", "sourceRef": {"kind": "Bucket", "name": "b"}}
    });
    let kube = FakeKube::start(vec![
        git_repository(&f.fleet_url),
        helm_repository(&f.charts.url("charts")),
        helm_release(json!({"targetNamespace": "web"})),
        bucket,
    ]);
    let config = format!(
        "{}paths = [\"clusters/production/*.yaml\"]\n",
        f.config(&kube, "")
            .replace("[gitops]\n", &format!("[gitops]\nurl = \"{}\"\n", f.fleet_url))
    );
    let out = f.run(&config, &["discover", "--format", "json"], &[]);
    assert_eq!(out.code, 2, "the Bucket is not mapped\n{}", out.stderr);
    let json = out.json();
    let origins: Vec<(String, Value)> = json["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["origins"].clone()))
        .collect();
    assert_eq!(
        origins,
        vec![
            (
                "apps".to_string(),
                json!(["Kustomization flux-system/apps (git clusters/production/apps.yaml)"])
            ),
            (
                "podinfo".to_string(),
                json!(["HelmRelease podinfo/podinfo (cluster flux)"])
            ),
        ]
    );
    assert_eq!(
        json["environments"][1]["releases"],
        json!(["web-podinfo"]),
        "[<targetNamespace>-]<name>"
    );
    assert!(
        out.stderr.contains(
            "Kustomization flux-system/from-bucket not mapped: spec.sourceRef: Bucket sources are not supported"
        ),
        "{}",
        out.stderr
    );
    let toml = f.run(&config, &["discover"], &[]);
    assert!(
        toml.stdout.contains(&format!(
            "# from Kustomization flux-system/apps (git clusters/production/apps.yaml)\n# apps/production: built as Flux builds it (a kustomization is generated where there is none)\n[[environments]]\nname = \"apps\"\npaths = [\n  {{ path = \"apps/production\", namespace = \"shop\", repo = \"{}\", revision = \"main\", renderer = \"kustomize\", kustomize = {{ namespace = \"shop\" }} }},\n]",
            f.fleet_url
        )),
        "{}",
        toml.stdout
    );

    kube.behave("helmreleases", Behaviour::Forbidden);
    let out = f.run(&config, &["discover", "--format", "json"], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("flux HelmRelease from cluster flux: forbidden")
            && out.stderr.contains(r#"add the rule {apiGroups: ["helm.toolkit.fluxcd.io"], resources: ["helmreleases"], verbs: ["get", "list", "watch"]} to a ClusterRole"#),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.json()["environments"][0]["name"],
        "apps",
        "the rest is still discovered"
    );
}

/// The daemon watches Flux's Kustomizations: a new one is audited and a deleted one's
/// environment dropped (its alert resolved) at once, with a schedule that does not fire during
/// the test; a status write Flux makes at every reconcile is not a change. The metric counts
/// the environments discovered from Flux.
#[tokio::test]
async fn the_daemon_follows_kustomization_watch_events() {
    use super::discovery::poll;
    use crate::inprocess::Daemon;
    use support::receiver::Receiver;
    let f = flux();
    let labelled = |name: &str, env: &str| {
        let mut k = kustomization(name, json!({"path": "./apps/production", "targetNamespace": "shop"}));
        k["metadata"]["labels"] = json!({"env": env});
        k
    };
    let mut objects = vec![git_repository(&f.fleet_url), labelled("web", "production")];
    objects.extend(running("shop", "web", &format!("{WEB}@{D2}")));
    let kube = FakeKube::start(objects);
    let receiver = Receiver::start();
    let cfg = f.dir.path().join("driftwatch.toml");
    write(
        &cfg,
        &format!(
            "{}[state]\npath = \"state/state.json\"\n[schedule]\ncron = \"0 0 1 1 *\"\nrun_on_start = true\n[[alerts.webhook]]\nurl = \"{}\"\n",
            f.config(&kube, "environment_from = \"label:env\"\n"),
            receiver.url("/hook"),
        ),
    );
    let d = Daemon::start(&cfg, Default::default()).await;
    let audited = |want: &'static [&'static str]| crate::discovery::audited(&d, want);
    poll(15, "the start-up audit", || audited(&["production"])).await;
    const DISCOVERED: &str = "driftwatch_discovered_environments{source=\"flux\"}";
    assert_eq!(d.metric(DISCOVERED).await, Some(1.0));
    let audits = || async { d.metric("driftwatch_audits_total{result=\"ok\"}").await };
    let before = audits().await;
    // Flux rewrites its conditions' times and messages at every reconcile: no audit for that.
    let mut same = labelled("web", "production");
    same["status"]["conditions"][0]["lastTransitionTime"] = json!("2026-12-05T10:00:00Z");
    same["status"]["lastHandledReconcileAt"] = json!("2026-12-05T10:00:00Z");
    kube.apply(same);
    kube.apply(labelled("web-staging", "staging"));
    poll(15, "an audit of the new Kustomization's environment", || {
        audited(&["production", "staging"])
    })
    .await;
    assert_eq!(d.metric(DISCOVERED).await, Some(2.0));
    kube.delete("Kustomization", "flux-system", "web");
    poll(15, "an audit without the deleted Kustomization's environment", || {
        audited(&["staging"])
    })
    .await;
    assert_eq!(
        audits().await.unwrap_or_default() - before.unwrap_or_default(),
        2.0,
        "one audit per Kustomization change, none for the reconcile's write"
    );
    let resolved = || crate::discovery::resolved(&receiver, "production");
    poll(15, "the deleted Kustomization's alert resolved", || async {
        resolved()
    })
    .await;
    d.stop().await;
}

/// A `release` branch of the fleet repository, declaring web at D2; its commit.
fn release_branch(f: &Flux) -> String {
    let fleet = GitRepo {
        dir: f.dir.path().join("served/fleet"),
    };
    support::git::git(&fleet.dir, &["checkout", "-q", "-b", "release"]);
    let release = fleet.commit(
        &[("apps/production/web.yaml", &manifest("web", &format!("{WEB}@{D2}")))],
        "web at D2 on release",
    );
    support::git::git(&fleet.dir, &["checkout", "-q", "main"]);
    release
}

/// The daemon's config: discovery only, a schedule that does not fire during the test, alerts
/// to `receiver`.
fn daemon_config(f: &Flux, kube: &FakeKube, receiver: &support::receiver::Receiver) -> std::path::PathBuf {
    let cfg = f.dir.path().join("driftwatch.toml");
    write(
        &cfg,
        &format!(
            "{}[state]\npath = \"state/state.json\"\n[schedule]\ncron = \"0 0 1 1 *\"\nrun_on_start = true\n[[alerts.webhook]]\nurl = \"{}\"\n",
            f.config(kube, "environment_from = \"label:env\"\n"),
            receiver.url("/hook"),
        ),
    );
    cfg
}

/// The daemon watches Flux's sources too: a GitRepository whose `spec.ref` moves from `main`
/// (declaring web at D1 while the Pods run D2: drift) to `release` (declaring D2) starts an
/// audit at once, which audits the new branch: the drift resolves, without waiting for the
/// schedule. A status write source-controller makes at every fetch (the conditions' times and
/// message, the artifact's time) is not a change. The cluster serves no OCIRepository (its CRD
/// is not installed): the other kinds are watched regardless, and that kind is not asked again
/// and again.
#[tokio::test]
async fn a_git_repository_ref_change_is_audited_at_once() {
    use super::discovery::poll;
    use crate::inprocess::Daemon;
    let (logs, _logging) = crate::inprocess::capture_logs();
    let f = flux();
    let release = release_branch(&f);
    let mut k = kustomization("web", json!({"path": "./apps/production", "targetNamespace": "shop"}));
    k["metadata"]["labels"] = json!({"env": "production"});
    let mut objects = vec![git_repository(&f.fleet_url), k];
    objects.extend(running("shop", "web", &format!("{WEB}@{D2}")));
    let kube = FakeKube::start(objects);
    kube.behave("ocirepositories", Behaviour::NotServed);
    let receiver = support::receiver::Receiver::start();
    let d = Daemon::start(&daemon_config(&f, &kube, &receiver), Default::default()).await;
    let drifting = || async {
        let (_, body) = d.request(reqwest::Method::GET, "/report").await;
        let report: Value = serde_json::from_str(&body).unwrap_or_default();
        report["findings"].as_array().map(|_| found(&report))
    };
    poll(15, "the start-up audit finding web drifting on main", || async {
        drifting().await == Some(vec![row("production", "spec-drift", "web")])
    })
    .await;
    // Changes made before the watch is open would be in its initial list, not events.
    poll(15, "the GitRepositories watched", || {
        let requests = kube.requests();
        async move {
            requests
                .iter()
                .any(|r| r.contains("/gitrepositories?") && r.contains("watch=true"))
        }
    })
    .await;
    let audits = || async { d.metric("driftwatch_audits_total{result=\"ok\"}").await };
    let before = audits().await.unwrap_or_default();
    // source-controller's write at each fetch: new times and message, the same revision.
    let mut fetched = git_repository(&f.fleet_url);
    fetched["status"]["artifact"]["lastUpdateTime"] = json!("2026-12-05T10:00:00Z");
    fetched["status"]["conditions"] = json!([{"type": "Ready", "status": "True", "reason": "Succeeded",
        "message": "stored artifact for revision 'main@sha1:4f2a'", "lastTransitionTime": "2026-12-05T10:00:00Z"}]);
    kube.apply(fetched);
    let mut moved = git_repository(&f.fleet_url);
    moved["spec"]["ref"] = json!({"branch": "release"});
    moved["status"]["artifact"]["revision"] = json!(format!("release@sha1:{release}"));
    kube.apply(moved);
    poll(15, "the drift resolved by an audit of the release branch", || async {
        drifting().await == Some(vec![])
    })
    .await;
    poll(15, "the drift's alert resolved", || async {
        crate::discovery::resolved(&receiver, "production")
    })
    .await;
    // The status write came first on the same watch: had it been a change, it would be said
    // by now.
    let said: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("auditing with discovery"))
        .map(str::to_string)
        .collect();
    assert!(
        said.len() == 1 && said[0].contains("GitRepository flux-system/fleet changed"),
        "one audit for the ref change, none for the status write: {said:?}"
    );
    assert_eq!(audits().await.unwrap_or_default() - before, 1.0);
    unserved_asked_once(&kube, &logs);
    d.stop().await;
}

/// A reader refused one source kind (no rule for HelmCharts): the watch says so once, the
/// report's discovery error names the rule to grant, and the other kinds are still watched: a
/// Kustomization's new path is audited at once.
#[tokio::test]
async fn a_refused_source_kind_is_said_once_and_the_others_are_watched() {
    use super::discovery::poll;
    use crate::inprocess::Daemon;
    let (logs, _logging) = crate::inprocess::capture_logs();
    let f = flux();
    let mut k = kustomization("web", json!({"path": "./apps/production", "targetNamespace": "shop"}));
    k["metadata"]["labels"] = json!({"env": "production"});
    let mut objects = vec![git_repository(&f.fleet_url), k.clone()];
    objects.extend(running("shop", "web", &format!("{WEB}@{D1}")));
    let kube = FakeKube::start(objects);
    kube.behave("helmcharts", Behaviour::Forbidden);
    let receiver = support::receiver::Receiver::start();
    let d = Daemon::start(&daemon_config(&f, &kube, &receiver), Default::default()).await;
    let report = || async {
        let (_, body) = d.request(reqwest::Method::GET, "/report").await;
        serde_json::from_str::<Value>(&body).unwrap_or_default()
    };
    poll(15, "the start-up audit, in sync", || async {
        report().await["findings"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    poll(15, "the Kustomizations watched", || {
        let requests = kube.requests();
        async move {
            requests
                .iter()
                .any(|r| r.contains("/kustomizations?") && r.contains("watch=true"))
        }
    })
    .await;
    let errors = report().await["discovery_errors"].to_string();
    assert!(
        errors.contains("HelmChart") && errors.contains("deploy/components/flux"),
        "names the kind and the rule to grant: {errors}"
    );
    // A path that does not exist: the audit that reads it says so.
    k["spec"]["path"] = json!("./apps/absent");
    kube.apply(k);
    poll(15, "an audit of the Kustomization's new path", || async {
        report().await.to_string().contains("apps/absent")
    })
    .await;
    let text = logs.text();
    assert_eq!(
        text.matches("Flux helmcharts.source.toolkit.fluxcd.io cannot be watched")
            .count(),
        1,
        "said once, not at each retry: {text}"
    );
    assert!(
        text.contains("Kustomization flux-system/web changed: auditing with discovery"),
        "{text}"
    );
    d.stop().await;
}

/// The OCIRepository the cluster does not serve was asked once at each version per LIST of
/// the others (each discovery and the watch list GitRepositories once), and said once: no
/// retries on the watch's backoff. Every LIST of the sources is served from the apiserver's
/// cache (`resourceVersion=0`).
fn unserved_asked_once(kube: &FakeKube, logs: &crate::inprocess::Logs) {
    let requests = kube.requests();
    let lists = |path: &str| {
        requests
            .iter()
            .filter(|r| r.contains(path) && !r.contains("watch=true"))
            .count()
    };
    assert_eq!(
        logs.text()
            .matches("Flux ocirepositories.source.toolkit.fluxcd.io cannot be watched: not served")
            .count(),
        1,
        "said once, not at each retry"
    );
    let listed = lists("/gitrepositories?");
    for version in ["v1", "v1beta2"] {
        assert_eq!(
            lists(&format!("/{version}/ocirepositories?")),
            listed,
            "the unserved OCIRepository is asked once per LIST of the others at {version}: {requests:?}"
        );
    }
    for r in requests
        .iter()
        .filter(|r| r.contains("source.toolkit.fluxcd.io/") && !r.contains("watch=true"))
    {
        assert!(
            r.contains("resourceVersion=0"),
            "listed from the apiserver's cache: {r}"
        );
    }
}

/// A `helm` that appends each `helm template` command line to `log`, then runs the stand-in.
fn logging_helm(dir: &std::path::Path, log: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.join("bin/helm");
    write(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = template ] && echo \"$*\" >> {}\nexec {} \"$@\"\n",
            log.display(),
            support::charts::helm_stand_in().display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Every file below `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_symlink() {
            continue;
        } else if p.is_dir() {
            out.extend(files_containing(&p, needle));
        } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())) {
            out.push(p);
        }
    }
    out
}

/// (environment, cached) of every release rendered.
fn releases_cached(report: &Value) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            let env = e["name"].as_str().unwrap().to_string();
            e["releases"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |r| (env.clone(), r["cached"].as_bool().unwrap()))
        })
        .collect();
    out.sort();
    out
}

/// HelmRelease podinfo with its values (image at D2, `token` TOKEN) from a Secret, and
/// podinfo-cm (in podinfo-cm) with its values (image at D1, a token) from a ConfigMap, each
/// running what its values declare.
fn releases_from_a_secret_and_a_config_map(f: &Flux) -> Vec<Value> {
    let mut from_config_map = helm_release(json!({
        "valuesFrom": [{"kind": "ConfigMap", "name": "podinfo-cm-values"}],
        "targetNamespace": "podinfo-cm",
        "releaseName": "podinfo-cm"
    }));
    from_config_map["metadata"]["name"] = json!("podinfo-cm");
    let mut objects = vec![
        git_repository(&f.fleet_url),
        helm_repository(&f.charts.url("charts")),
        helm_release(json!({"valuesFrom": [{"kind": "Secret", "name": "podinfo-values"}]})),
        from_config_map,
        config_map(
            "podinfo-cm-values",
            "podinfo",
            json!({"values.yaml": format!("image: {PODINFO}@{D1}\ntoken: visible-config-map-token\n")}),
        ),
    ];
    let mut values = secret(
        "podinfo-values",
        &[("values.yaml", &format!("image: {PODINFO}@{D2}\ntoken: {TOKEN}\n"))],
    );
    values["metadata"]["namespace"] = json!("podinfo");
    objects.push(values);
    objects.extend(running("podinfo", "podinfo", &format!("{PODINFO}@{D2}")));
    // The chart names its container podinfo whatever the release.
    let image = format!("{PODINFO}@{D1}");
    let (d, rs) = deployment("podinfo-cm", "podinfo-cm", &[("podinfo", &image)], 1);
    let p = pod(&rs, "a", &[("podinfo", &image)]);
    objects.extend([d, rs, p]);
    objects
}

/// A HelmRelease whose values come from a Secret, rendered by `helm template`: the values reach
/// the render (podinfo runs the image the Secret's values declare: in sync) but never helm's
/// command line, the render cache, the state, the logs (at debug), the reports, `discover` or
/// `check-config`; and each audit renders it again. A HelmRelease whose values come from a
/// ConfigMap is cached as any release (its render, holding the ConfigMap's value, is on disk).
#[test]
fn values_from_a_secret_never_reach_helms_command_line_nor_the_disk() {
    let f = flux();
    let log = f.dir.path().join("helm-runs.log");
    let helm = logging_helm(f.dir.path(), &log);
    let kube = FakeKube::start(releases_from_a_secret_and_a_config_map(&f));
    let config = f.config(
        &kube,
        &format!(
            "[render]\nengine = \"external\"\nhelm = \"{}\"\ncache_dir = \"render-cache\"\n[state]\npath = \"state/state.json\"\n",
            helm.display()
        ),
    );
    let debug = [("RUST_LOG", "debug")];

    let first = f.run(&config, &["--once", "--format", "json"], &debug);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(found(&first.json()), vec![], "the Secret's image is declared: in sync");
    let second = f.run(&config, &["--once", "--format", "json"], &debug);
    assert_eq!(found(&second.json()), vec![], "{}", second.stderr);
    assert_eq!(
        releases_cached(&second.json()),
        vec![("podinfo".to_string(), false), ("podinfo-cm".to_string(), true)],
        "the release with a Secret's values is rendered again, the other one is cached"
    );

    let command_lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(command_lines.lines().count(), 3, "helm ran: {command_lines}");
    assert!(command_lines.lines().all(|l| l.contains(" -f ")), "{command_lines}");
    for secret_derived in [TOKEN, D2] {
        assert!(
            !command_lines.contains(secret_derived),
            "{secret_derived} on helm's command line: {command_lines}"
        );
    }
    assert!(
        !files_containing(&f.dir.path().join("render-cache"), "visible-config-map-token").is_empty(),
        "a render holding a ConfigMap's value is on disk"
    );
    let page = f.run(&config, &["--once", "--format", "html"], &[]);
    let discover = f.run(&config, &["discover", "--format", "json"], &debug);
    let check = f.run(&config, &["check-config"], &debug);
    for (what, out) in [
        ("first", &first),
        ("second", &second),
        ("html", &page),
        ("discover", &discover),
        ("check-config", &check),
    ] {
        assert!(
            !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
            "{what} shows the Secret's value"
        );
    }
    assert_eq!(
        files_containing(f.dir.path(), TOKEN),
        Vec::<std::path::PathBuf>::new(),
        "the Secret's value is in no file (render cache, state, caches)"
    );
}

/// A Kustomization whose `postBuild` variables come from a Secret: its variable is substituted
/// after the render cache (the cached render holds `${token}`, not the value), so the path is
/// cached and the Secret's value is in no file and no log.
#[test]
fn substitute_from_a_secret_never_reaches_the_disk() {
    let f = flux();
    let mut objects = vec![
        git_repository(&f.fleet_url),
        kustomization(
            "vars",
            json!({"path": "./apps/vars", "targetNamespace": "shop", "postBuild": {
                "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}, {"kind": "Secret", "name": "cluster-secrets"}]
            }}),
        ),
        config_map("cluster-vars", "flux-system", json!({"web_digest": D1})),
        secret("cluster-secrets", &[("token", TOKEN)]),
    ];
    objects.extend(running("shop", "web", &format!("{WEB}@{D1}")));
    let kube = FakeKube::start(objects);
    let config = f.config(
        &kube,
        "[render]\ncache_dir = \"render-cache\"\n[state]\npath = \"state/state.json\"\n",
    );
    let debug = [("RUST_LOG", "debug")];
    let first = f.run(&config, &["--once", "--format", "json"], &debug);
    assert_eq!(first.code, 0, "in sync: {}\n{}", first.stdout, first.stderr);
    let second = f.run(&config, &["--once", "--format", "json"], &debug);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let cached = second.json()["environments"][0]["paths"][0]["cached"].clone();
    assert_eq!(cached, json!(true), "{}", second.stdout);
    for out in [&first, &second] {
        assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
    }
    assert!(
        !files_containing(&f.dir.path().join("render-cache"), "${token}").is_empty(),
        "the render is cached, before substitution"
    );
    assert_eq!(
        files_containing(f.dir.path(), TOKEN),
        Vec::<std::path::PathBuf>::new(),
        "the Secret's value is in no file"
    );
}

/// The registry's password: it must never be printed.
const REGISTRY_PW: &str = "registry-pw-never-shown";

/// An OCIRepository `name` at `url`'s tag `production`, its layer selected as Flux's own
/// artifacts are; `pulled`: the digest source-controller reports in its status.
fn oci_repository(name: &str, url: &str, pulled: Option<&str>) -> Value {
    let status = match pulled {
        Some(d) => json!({"artifact": {"revision": format!("production@{d}")}}),
        None => json!({}),
    };
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"interval": "5m", "url": url, "ref": {"tag": "production"},
                 "layerSelector": {"mediaType": support::registry::FLUX_CONTENT, "operation": "extract"}},
        "status": status
    })
}

/// A Kustomization of the OCIRepository `source`, building `./apps` into namespace `ns`.
fn oci_kustomization(name: &str, source: &str, ns: &str) -> Value {
    let mut k = kustomization(name, json!({"path": "./apps", "targetNamespace": ns}));
    k["spec"]["sourceRef"] = json!({"kind": "OCIRepository", "name": source});
    k
}

/// The first audit of the OCI test: the artifacts that cannot be read are each an error of
/// their environment naming the artifact and why; the others are audited.
fn artifact_errors(report: &Value, host: &str, garbage: &str) {
    let url = format!("oci://{host}/fleet/manifests");
    let missing = format!("OCI artifact oci://{host}/fleet/gone:production: no such tag or digest in {host}");
    let envs = statuses(report);
    let said: Vec<(&str, &str)> = envs.iter().map(|(n, s, _)| (n.as_str(), s.as_str())).collect();
    let want = [
        ("apps", "ok"),
        ("artifact", "ok"),
        ("corrupt", "error"),
        ("layer", "error"),
        ("missing", "error"),
    ];
    assert_eq!(said, want, "the rest is audited: {envs:?}");
    assert_eq!(envs[4].2, missing);
    assert!(
        envs[3].2.contains(&format!("OCI artifact {url}:production"))
            && envs[3].2.contains("no layer of media type application/x-other"),
        "{}",
        envs[3].2
    );
    assert!(
        envs[2].2.starts_with(&format!(
            "OCI artifact oci://{host}/fleet/corrupt:production: layer {garbage}: not a readable tar.gz"
        )),
        "{}",
        envs[2].2
    );
}

/// (name, status, errors) of every environment.
fn statuses(report: &Value) -> Vec<(String, String, String)> {
    report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let errors: Vec<&str> = e["errors"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            (
                e["name"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                errors.join("; "),
            )
        })
        .collect()
}

/// The `artifact` environment's one error starts with `start` and holds `part`; the git
/// environment `apps` is still audited.
fn artifact_error(report: &Value, start: &str, part: &str) {
    let envs = statuses(report);
    let (name, status, error) = &envs[1];
    assert_eq!((name.as_str(), status.as_str()), ("artifact", "error"));
    assert!(error.starts_with(start) && error.contains(part), "{error}");
    assert_eq!(envs[0].1, "ok", "the git environment is still audited");
}

/// `discover` prints the artifact of `url` as the path keys a user can freeze.
fn discover_prints_the_artifact(f: &Flux, config: &str, creds: &[(&str, &str)], url: &str) {
    let toml = f.run(config, &["discover"], creds);
    assert!(
        toml.stdout.contains(&format!(
            "{{ path = \"apps\", namespace = \"oci\", oci_artifact = \"{url}\", oci_tag = \"production\", oci_media_type = \"{}\", renderer = \"kustomize\"",
            support::registry::FLUX_CONTENT
        )),
        "{}",
        toml.stdout
    );
}

/// A Kustomization whose source is an OCIRepository (an artifact pushed as `flux push
/// artifact` pushes it, to a real registry with auth): the Deployment the artifact declares is
/// audited, its hand-changed image is drift. A new artifact pushed under the same tag (the
/// OCIRepository's status naming its digest) is read by the next audit, not the render cache's
/// old result. An OCIRepository whose tag is missing, or a registry refusing the credentials, is
/// an audit error naming the artifact while the other environments are audited; the password
/// is never printed. `discover` prints the artifact as the config keys a user can freeze.
#[test]
fn a_kustomization_from_an_oci_repository_is_read_from_the_artifact() {
    let f = flux();
    let mut registry = support::registry::OciRegistry::start(f.dir.path(), "pusher", REGISTRY_PW);
    let host = registry.host();
    let url = format!("oci://{host}/fleet/manifests");
    let web = |digest: &str| manifest("web", &format!("{WEB}@{digest}"));
    let (first, _) = registry.push_flux_artifact("fleet/manifests", "production", &[("apps/web.yaml", &web(D1))]);
    // The same artifact, asked for a layer of a media type it has none of.
    let mut other_layer = oci_repository("other-layer", &url, None);
    other_layer["spec"]["layerSelector"]["mediaType"] = json!("application/x-other");
    let mut objects = vec![
        git_repository(&f.fleet_url),
        kustomization("apps", json!({"path": "./apps/production", "targetNamespace": "shop"})),
        oci_repository("manifests", &url, Some(&first)),
        oci_kustomization("artifact", "manifests", "oci"),
        oci_repository("gone", &format!("oci://{host}/fleet/gone"), None),
        oci_kustomization("missing", "gone", "gone"),
        oci_repository("corrupt", &format!("oci://{host}/fleet/corrupt"), None),
        oci_kustomization("corrupt", "corrupt", "corrupt"),
        other_layer,
        oci_kustomization("layer", "other-layer", "layer"),
    ];
    let (_, garbage) = registry.push_flux_layer("fleet/corrupt", "production", b"apiVersion: v1\nkind: List\n");
    objects.extend(running("shop", "web", &format!("{WEB}@{D1}")));
    objects.extend(running("oci", "web", &format!("{WEB}@{D2}")));
    let kube = FakeKube::start(objects);
    let config = f.config(
        &kube,
        &format!("[[registries]]\nhost = \"{host}\"\ninsecure = true\nusername_env = \"REG_USER\"\npassword_env = \"REG_PASSWORD\"\n"),
    );
    let creds = [("REG_USER", "pusher"), ("REG_PASSWORD", REGISTRY_PW)];

    let out = f.run(&config, &["--once", "--format", "json"], &creds);
    assert_eq!(out.code, 2, "an audit error: {}", out.stderr);
    let report = out.json();
    assert_eq!(found(&report), vec![row("artifact", "spec-drift", "web")], "{report}");
    artifact_errors(&report, &host, &garbage);
    assert!(!out.stdout.contains(REGISTRY_PW) && !out.stderr.contains(REGISTRY_PW));

    // A new push under the same tag: Flux pulls it, and so does the next audit.
    let (second, _) = registry.push_flux_artifact(
        "fleet/manifests",
        "production",
        &[("apps/web.yaml", &web(D2)), ("apps/README.md", "not a manifest\n")],
    );
    assert_ne!(first, second);
    kube.apply(oci_repository("manifests", &url, Some(&second)));
    let out = f.run(&config, &["--once", "--format", "json"], &creds);
    let report = out.json();
    assert_eq!(found(&report), vec![], "the new artifact declares what runs: {report}");
    let artifact = &report["environments"][1];
    assert_eq!(artifact["declared_workloads"], 1);
    assert_eq!(artifact["paths"][0]["cached"], false, "a new digest renders anew");

    // Credentials the registry refuses: an error naming the artifact, without the password.
    let wrong = [("REG_USER", "pusher"), ("REG_PASSWORD", "not-the-password")];
    let out = f.run(&config, &["--once", "--format", "json"], &wrong);
    let report = out.json();
    artifact_error(&report, &format!("OCI artifact {url}:production: "), "401");
    assert!(!out.stdout.contains("not-the-password") && !out.stderr.contains("not-the-password"));

    // The registry down: an error naming the artifact; the git environment is audited.
    registry.stop();
    let out = f.run(&config, &["--once", "--format", "json"], &creds);
    artifact_error(
        &out.json(),
        &format!("OCI artifact {url}:production: registry {host} unreachable"),
        "",
    );

    discover_prints_the_artifact(&f, &config, &creds, &url);
}
