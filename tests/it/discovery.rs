//! Zero-config onboarding from Argo CD: Applications committed in git (app-of-apps) and
//! listed from a control plane (the suite's Kubernetes API serving
//! `apis/argoproj.io/v1alpha1/applications`) become environments; `driftwatch discover`
//! prints them as the config a user would write; an image an Application sets outside git is
//! an `override` finding; what cannot be read or mapped is an error naming it, with the fix.

use std::path::Path;

use serde_json::{Value, json};
use support::fixtures::{D1, D2, deployment, deployment_yaml, list, pod};
use support::git::{GitDaemon, GitHttp, GitRepo, git};
use support::kube::{Behaviour, FakeKube};
use support::run::driftwatch;
use support::write;

const WEB: &str = "registry.example.com/shop/web";
const API: &str = "registry.example.com/shop/api";
const SHOP: &str = "registry.example.com/shop/shop";
const CACHE: &str = "registry.example.com/shop/cache";

fn application(name: &str, env: &str, source: Value, destination: Value) -> String {
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "labels": {"env": env}},
        "spec": {"project": "shop", "source": source, "destination": destination},
    });
    serde_json::to_string_pretty(&app).unwrap()
}

/// The infra repository: a kustomize overlay (web), a plain directory (api), a chart (shop),
/// and the Application manifests deploying them and the team repository's cache.
fn infra_files(infra: &str, team: &str) -> Vec<(String, String)> {
    let prod = json!({"server": "https://prod.example.com", "namespace": "shop"});
    vec![
        ("apps/web/base/kustomization.yaml".into(), "resources: [deploy.yaml]\n".into()),
        ("apps/web/base/deploy.yaml".into(), deployment_yaml("web", "shop", &format!("{WEB}:latest"))),
        (
            "apps/web/overlays/production/kustomization.yaml".into(),
            format!("resources: [../../base]\nimages:\n  - name: {WEB}\n    digest: {D1}\n"),
        ),
        ("apps/api/production/deploy.yaml".into(), deployment_yaml("api", "shop", &format!("{API}@{D1}"))),
        (
            "apps/api/production/old/deploy.yaml".into(),
            deployment_yaml("api-old", "shop", &format!("{API}@{D2}")),
        ),
        ("charts/shop/Chart.yaml".into(), "apiVersion: v2\nname: shop\nversion: 1.0.0\n".into()),
        ("charts/shop/values.yaml".into(), format!("image: {SHOP}@{D2}\n")),
        ("charts/shop/values-prod.yaml".into(), format!("image: {SHOP}@{D1}\n")),
        (
            "charts/shop/templates/deployment.yaml".into(),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: shop\n          image: {{ .Values.image | quote }}\n".into(),
        ),
        (
            "argocd/apps/web.yaml".into(),
            application("web", "production", json!({"repoURL": infra, "targetRevision": "HEAD", "path": "apps/web/overlays/production"}), prod.clone()),
        ),
        (
            "argocd/apps/api.yaml".into(),
            application("api", "production", json!({"repoURL": infra, "path": "apps/api/production", "directory": {"recurse": false}}), prod.clone()),
        ),
        (
            "argocd/apps/shop.yaml".into(),
            application("shop", "production", json!({"repoURL": infra, "path": "charts/shop", "helm": {"valueFiles": ["values-prod.yaml"]}}), prod),
        ),
        (
            "argocd/apps/cache.yaml".into(),
            application("cache", "staging", json!({"repoURL": team, "targetRevision": "main", "path": "deploy"}), json!({"name": "staging", "namespace": "cache"})),
        ),
    ]
}

/// A snapshot of `objects` (Deployment name, namespace, image) each on one Pod.
fn snapshot(path: &Path, objects: &[(&str, &str, String)]) {
    let mut all = Vec::new();
    for (name, ns, image) in objects {
        let (d, rs) = deployment(ns, name, &[(name, image)], 1);
        let p = pod(&rs, "a", &[(name, image)]);
        all.extend([d, rs, p]);
    }
    write(path, &list(all));
}

struct Fleet {
    dir: tempfile::TempDir,
    _daemon: GitDaemon,
    team: GitHttp,
    infra_url: String,
}

/// The two repositories served (infra over git://, team over smart HTTP behind Basic auth),
/// and the clusters: production runs web with a hand-changed image.
fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let team_repo = GitRepo::init(&dir.path().join("team-served/team"));
    team_repo.commit(
        &[(
            "deploy/cache.yaml",
            &deployment_yaml("cache", "cache", &format!("{CACHE}@{D1}")),
        )],
        "cache",
    );
    let team = GitHttp::start(&dir.path().join("team-served"), "team-bot", "team-pw");
    let infra = GitRepo::init(&dir.path().join("served/infra"));
    let daemon = GitDaemon::start(&dir.path().join("served"));
    let infra_url = daemon.url("infra");
    let files = infra_files(&infra_url, &team.url("team"));
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    infra.commit(&refs, "fleet");
    snapshot(
        &dir.path().join("prod.json"),
        &[
            ("web", "shop", format!("{WEB}:hotfix")),
            ("api", "shop", format!("{API}@{D1}")),
            ("shop", "shop", format!("{SHOP}@{D1}")),
        ],
    );
    snapshot(
        &dir.path().join("staging.json"),
        &[("cache", "cache", format!("{CACHE}@{D1}"))],
    );
    Fleet {
        dir,
        _daemon: daemon,
        team,
        infra_url,
    }
}

impl Fleet {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `[gitops]` with the team credentials, as both configs start.
    fn gitops(&self) -> String {
        format!(
            "[gitops]\nurl = \"{}\"\ncache_dir = \"cache\"\n[[gitops.credentials]]\nurl_prefix = \"http://{}/\"\nusername = \"team-bot\"\npassword_env = \"TEAM_PW\"\n",
            self.infra_url, self.team.addr
        )
    }

    fn run(&self, config: &str, args: &[&str]) -> support::run::Output {
        let cfg = self.dir.path().join("driftwatch.toml");
        write(&cfg, config);
        let mut all: Vec<&str> = args.to_vec();
        let cfg = cfg.display().to_string();
        all.extend(["--config", &cfg]);
        driftwatch(self.dir.path(), &all, &[("TEAM_PW", "team-pw")])
    }
}

/// The config a user would write by hand for the fleet, after `[gitops]`.
fn hand_written(f: &Fleet) -> String {
    format!(
        r#"# Environments derived by driftwatch discover: paste them into the config as they are.

# from:
#   Application argocd/api (git argocd/apps/api.yaml)
#   Application argocd/shop (git argocd/apps/shop.yaml)
#   Application argocd/web (git argocd/apps/web.yaml)
[[environments]]
name = "production"
renderer = "helm"
paths = [
  {{ path = "apps/api/production", namespace = "shop", renderer = "plain", recurse = false }},
  {{ path = "apps/web/overlays/production", namespace = "shop" }},
]
[environments.cluster]
name = "prod"
snapshot = "{prod}"
[[environments.releases]]
name = "shop"
namespace = "shop"
chart = "charts/shop"
values_files = ["charts/shop/values-prod.yaml"]

# from Application argocd/cache (git argocd/apps/cache.yaml)
[[environments]]
name = "staging"
paths = [
  {{ path = "deploy", namespace = "cache", repo = "{team}", revision = "main" }},
]
[environments.cluster]
name = "staging"
snapshot = "{staging}"
"#,
        prod = f.path("prod.json"),
        staging = f.path("staging.json"),
        team = f.team.url("team"),
    )
}

fn discovery_config(f: &Fleet) -> String {
    format!(
        "{}[discovery.argocd]\npaths = [\"argocd/apps/*.yaml\"]\nenvironment_from = \"label:env\"\n[[discovery.clusters]]\nserver = \"https://prod.example.com\"\nname = \"prod\"\nsnapshot = \"{}\"\n[[discovery.clusters]]\nname = \"staging\"\nsnapshot = \"{}\"\n",
        f.gitops(),
        f.path("prod.json"),
        f.path("staging.json")
    )
}

/// (environment, type, workload) of every finding.
fn found(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let s = |k: &str| x[k].as_str().unwrap_or_default().to_string();
            (s("environment"), s("type"), s("name"))
        })
        .collect()
}

#[test]
fn discover_prints_the_config_a_user_would_write_and_both_audit_the_same() {
    let f = fleet();
    let out = f.run(&discovery_config(&f), &["discover"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, hand_written(&f));

    // The printed config, pasted after [gitops], audits the fleet: the hand-changed web image
    // is drift; the rest (kustomize, plain without recursion, Helm, the team repository) is
    // in sync.
    let pasted = format!("{}{}", f.gitops(), out.stdout);
    let by_hand = f.run(&pasted, &["--once", "--format", "json"]);
    assert_eq!(by_hand.code, 1, "{}\n{}", by_hand.stdout, by_hand.stderr);
    let want = vec![("production".to_string(), "spec-drift".to_string(), "web".to_string())];
    assert_eq!(found(&by_hand.json()), want);
    let envs = by_hand.json()["environments"].clone();
    assert_eq!(
        envs[0]["declared_workloads"], 3,
        "api-old is in a subdirectory: not read"
    );
    assert_eq!(envs[1]["status"], "ok", "{envs}");

    let json = f.run(&discovery_config(&f), &["discover", "--format", "json"]).json();
    assert_eq!(
        json["environments"][0]["origins"].as_array().unwrap().len(),
        3,
        "{json}"
    );
    assert_eq!(json["unmapped"], json!([]));

    // Discovery alone audits the same.
    let discovered = f.run(&discovery_config(&f), &["--once", "--format", "json"]);
    assert_eq!(discovered.code, 1, "{}", discovered.stderr);
    assert_eq!(found(&discovered.json()), want);
}

#[test]
fn check_config_lists_discovered_environments_and_says_which_hand_written_one_wins() {
    let f = fleet();
    let text = format!(
        "{}[[environments]]\nname = \"staging\"\npaths = [{{ path = \"deploy\", repo = \"{}\" }}]\n[environments.cluster]\nsnapshot = \"{}\"\n",
        discovery_config(&f),
        f.team.url("team"),
        f.path("staging.json")
    );
    // The git cache exists once an audit cloned it.
    f.run(&text, &["--once"]);
    let out = f.run(&text, &["check-config"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("discovered environment production: Application argocd/api (git argocd/apps/api.yaml)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("discovered environment staging: the hand-written [[environments]] of that name wins"),
        "{}",
        out.stdout
    );
}

#[test]
fn malformed_manifests_and_unknown_destinations_are_named_and_the_rest_is_audited() {
    let f = fleet();
    let infra = GitRepo {
        dir: f.dir.path().join("served/infra"),
    };
    infra.commit(
        &[
            (
                "argocd/apps/broken.yaml",
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: [unclosed\n",
            ),
            (
                "argocd/apps/eu.yaml",
                &application(
                    "eu",
                    "eu",
                    json!({"repoURL": f.infra_url, "path": "apps/api/production"}),
                    json!({"server": "https://eu.example.com"}),
                ),
            ),
        ],
        "a broken manifest and an unknown cluster",
    );
    let out = f.run(&discovery_config(&f), &["--once", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("argocd/apps/broken.yaml: not YAML"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Application argocd/eu not mapped: destination server https://eu.example.com is not a configured cluster (fix: add [[discovery.clusters]] with server = \"https://eu.example.com\""),
        "{}",
        out.stderr
    );
    let report = out.json();
    assert_eq!(
        found(&report),
        vec![("production".to_string(), "spec-drift".to_string(), "web".to_string())]
    );
    // The report itself says what discovery could not do, not only stderr.
    assert_eq!(report["summary"]["errors"], 2, "{report}");
    let errors = report["discovery_errors"].to_string();
    assert!(
        errors.contains("argocd/apps/broken.yaml: not YAML") && errors.contains("Application argocd/eu not mapped"),
        "{errors}"
    );
}

/// Applications listed from the Argo CD control plane (the suite's Kubernetes API): the one
/// Image Updater wrote an image into is audited with that image, and the image is an
/// `override` finding naming the Application and the field; a 403 on listing is an error
/// naming the permission.
#[test]
fn live_applications_their_overrides_and_a_forbidden_list() {
    let f = fleet();
    let (d, rs) = deployment("shop", "web", &[("web", &format!("{WEB}@{D2}"))], 1);
    let p = pod(&rs, "a", &[("web", &format!("{WEB}@{D2}"))]);
    let app = |name: &str, team: &str, server: &str| {
        let mut a: Value = serde_json::from_str(&application(
            name,
            "production",
            json!({"repoURL": f.infra_url, "path": "apps/web/overlays/production",
                   "kustomize": {"images": [format!("{WEB}@{D2}")]}}),
            json!({"server": server, "namespace": "shop"}),
        ))
        .unwrap();
        a["metadata"]["labels"]["team"] = json!(team);
        a
    };
    let kube = FakeKube::start(vec![
        d,
        rs,
        p,
        app("web", "payments", "https://kubernetes.default.svc"),
        app("other-team", "search", "https://kubernetes.default.svc"),
    ]);
    let kubeconfig = kube.kubeconfig(f.dir.path(), "mgmt");
    // No [gitops] url: the repositories come from the Applications.
    let gitops = f.gitops().replace(&format!("url = \"{}\"\n", f.infra_url), "");
    let config = format!(
        "{gitops}[discovery.argocd]\ncluster = {{ kubeconfig = \"{}\" }}\nnamespace = \"argocd\"\nselector = \"team=payments\"\nenvironment_from = \"label:env\"\n",
        kubeconfig.display()
    );
    let out = f.run(&config, &["--once", "--format", "json"]);
    assert_eq!(out.code, 1, "the override is a warning\n{}", out.stderr);
    let report = out.json();
    assert_eq!(
        found(&report),
        vec![("production".to_string(), "override".to_string(), "web".to_string())],
        "the Pods run what the Application sets: no spec-drift; other-team is not selected"
    );
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "Application argocd/web sets spec.source.kustomize.images[0] = \"{WEB}@{D2}\" outside git"
        )),
        "{message}"
    );
    assert!(
        kube.requests().iter().any(
            |r| r.contains("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications")
                && r.contains("resourceVersion=0")
        ),
        "Applications are listed from the apiserver's watch cache, not read through from etcd"
    );

    kube.behave("applications", Behaviour::Forbidden);
    let out = f.run(&config, &["--once", "--format", "json"]);
    assert_eq!(out.code, 2);
    let report = out.json();
    assert_eq!(report["summary"]["errors"], 1, "{report}");
    assert!(
        report["discovery_errors"][0].as_str().unwrap().contains("forbidden"),
        "{report}"
    );
    assert!(
        out.stderr
            .contains("argocd Applications from cluster argocd: forbidden")
            && out.stderr.contains(
                r#"add the rule {apiGroups: ["argoproj.io"], resources: ["applications"], verbs: ["get", "list", "watch"]} to a Role in namespace argocd"#
            ),
        "{}",
        out.stderr
    );
}

/// Live Applications from `kube` (environment from label `env`), alerts on Slack (its URL in
/// `SLACK_URL`), a webhook and email (password in `SMTP_PW`).
fn alerting_config(
    f: &Fleet,
    kube: &FakeKube,
    receiver: &support::receiver::Receiver,
    smtp: &support::smtp::SmtpServer,
) -> String {
    let kubeconfig = kube.kubeconfig(f.dir.path(), "mgmt");
    let gitops = f.gitops().replace(&format!("url = \"{}\"\n", f.infra_url), "");
    format!(
        "{gitops}[state]\npath = \"state/state.json\"\n[discovery.argocd]\ncluster = {{ kubeconfig = \"{}\" }}\nnamespace = \"argocd\"\nenvironment_from = \"label:env\"\n\
         [[alerts.slack]]\nwebhook_url_env = \"SLACK_URL\"\n[[alerts.webhook]]\nurl = \"{}\"\n\
         [[alerts.email]]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nca_file = \"{}\"\nusername = \"driftwatch\"\npassword_env = \"SMTP_PW\"\nfrom = \"driftwatch@example.com\"\nto = [\"sre@example.com\"]\n",
        kubeconfig.display(),
        receiver.url("/hook"),
        smtp.port,
        smtp.cert.display(),
    )
}

/// argo-cd #7155: a live Application Argo CD calls Synced, whose Deployment someone changed by
/// hand. Every channel (Slack, the webhook, email) and the page say that Argo CD reports Synced
/// while the Pods run a digest git does not declare; the JSON report carries Argo CD's view.
#[test]
fn a_synced_application_running_what_git_does_not_declare_is_said_plainly() {
    use support::receiver::Receiver;
    use support::smtp::SmtpServer;
    const REV: &str = "4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b";
    let f = fleet();
    let (d, rs) = deployment("shop", "web", &[("web", &format!("{WEB}:hotfix"))], 1);
    let p = pod(&rs, "a", &[("web", &format!("{WEB}@{D2}"))]);
    let mut app: Value = serde_json::from_str(&application(
        "web",
        "production",
        json!({"repoURL": f.infra_url, "path": "apps/web/overlays/production"}),
        json!({"server": "https://kubernetes.default.svc", "namespace": "shop"}),
    ))
    .unwrap();
    app["status"] = json!({"sync": {"status": "Synced", "revision": REV}, "health": {"status": "Healthy"}});
    let kube = FakeKube::start(vec![d, rs, p, app.clone()]);
    let receiver = Receiver::start();
    let smtp = SmtpServer::start(f.dir.path(), "starttls", "driftwatch", "smtp-pw");
    let config = alerting_config(&f, &kube, &receiver, &smtp);
    let cfg = f.dir.path().join("driftwatch.toml");
    write(&cfg, &config);
    let cfg = cfg.display().to_string();
    let slack_url = receiver.url("/slack");
    let run = |format: &str| {
        driftwatch(
            f.dir.path(),
            &["--once", "--notify", "--format", format, "--config", &cfg],
            &[
                ("TEAM_PW", "team-pw"),
                ("SMTP_PW", "smtp-pw"),
                ("SLACK_URL", &slack_url),
            ],
        )
    };
    let said = format!(
        "Argo CD reports Synced at 4f2a91c (Application argocd/web, Healthy); Pods run {} which git does not declare",
        &D2[..19]
    );

    let out = run("json");
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    let finding = &report["findings"][0];
    assert_eq!(finding["type"], "spec-drift", "{report}");
    assert_eq!(
        finding["argocd"],
        json!({"application": "argocd/web", "sync": "Synced", "revisions": [REV], "health": "Healthy"})
    );

    let slack = receiver.received("/slack");
    assert_eq!(slack.len(), 1, "one alert");
    let slack = slack[0].json().to_string();
    assert!(slack.contains(&said), "Slack says it: {slack}");
    let hook = receiver.received("/hook")[0].json();
    assert_eq!(hook["alerts"][0]["argocd"], json!(said), "{hook}");
    assert_eq!(hook["findings"][0]["argocd"]["sync"], "Synced");
    let mail = smtp.mails();
    assert_eq!(mail.len(), 1);
    let text = mail[0].raw.replace("=\r\n", "").replace("=\n", "");
    assert!(
        text.contains("Argo CD reports Synced at 4f2a91c (Application argocd/web, Healthy)"),
        "{text}"
    );

    // The page, from the same audit (the alert was sent once: no second notice).
    let out = run("html");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains(&said), "the page says it");
    assert_eq!(receiver.received("/slack").len(), 1, "not sent twice");

    // Once Argo CD sees the difference, it is its view that is shown, not the #7155 sentence.
    app["status"]["sync"]["status"] = json!("OutOfSync");
    kube.apply(app);
    let out = run("json");
    let report = out.json();
    assert_eq!(report["findings"][0]["argocd"]["sync"], "OutOfSync");
    let out = run("text");
    assert!(
        out.stdout
            .contains("Argo CD reports OutOfSync at 4f2a91c (Application argocd/web, Healthy)")
            && !out.stdout.contains("which git does not declare"),
        "{}",
        out.stdout
    );
}

/// A multi-source Application: the chart from a Helm repository, its values file from the
/// git repository through a `ref` source (`$values/…`).
#[test]
fn a_multi_source_application_takes_its_values_from_the_ref_source() {
    use support::charts::{ChartRepo, index, package};
    let f = fleet();
    let src = f.dir.path().join("chart-src/podinfo");
    write(
        &src.join("Chart.yaml"),
        "apiVersion: v2\nname: podinfo\nversion: 6.5.0\n",
    );
    write(&src.join("values.yaml"), &format!("image: {SHOP}-podinfo@{D2}\n"));
    write(
        &src.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: podinfo\n          image: {{ .Values.image | quote }}\n",
    );
    let served = f.dir.path().join("charts-served/charts");
    package(&src, &served);
    index(&served);
    let charts = ChartRepo::start(served.parent().unwrap(), None);
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "podinfo", "namespace": "argocd", "labels": {"env": "production"}},
        "spec": {
            "sources": [
                {"repoURL": charts.url("charts"), "chart": "podinfo", "targetRevision": "6.5.0",
                 "helm": {"valueFiles": ["$values/envs/prod/podinfo.yaml", "$values/envs/prod/absent.yaml"],
                          "ignoreMissingValueFiles": true}},
                {"repoURL": f.infra_url, "targetRevision": "HEAD", "ref": "values"},
            ],
            "destination": {"server": "https://prod.example.com", "namespace": "shop"},
        },
    });
    let infra = GitRepo {
        dir: f.dir.path().join("served/infra"),
    };
    infra.commit(
        &[
            ("envs/prod/podinfo.yaml", &format!("image: {SHOP}-podinfo@{D1}\n")),
            ("argocd/apps/podinfo.yaml", &serde_json::to_string_pretty(&app).unwrap()),
        ],
        "podinfo from the chart repository, values from git",
    );
    snapshot(
        &f.dir.path().join("prod.json"),
        &[
            ("web", "shop", format!("{WEB}@{D1}")),
            ("api", "shop", format!("{API}@{D1}")),
            ("shop", "shop", format!("{SHOP}@{D1}")),
            ("podinfo", "shop", format!("{SHOP}-podinfo@{D1}")),
        ],
    );
    let out = f.run(&discovery_config(&f), &["--once", "--format", "json"]);
    // The values file from git declares D1, as the cluster runs; the chart's default (D2)
    // would be drift. The absent values file is skipped, as ignoreMissingValueFiles says.
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    let releases = &report["environments"][0]["releases"];
    assert_eq!(releases[0]["release"], "podinfo", "{releases}");
    let discovered = f.run(&discovery_config(&f), &["discover"]);
    assert!(
        discovered.stdout.contains(&format!(
            "[[environments.releases]]\nname = \"podinfo\"\nnamespace = \"shop\"\nchart = \"podinfo\"\nrepo = \"{}\"\nversion = \"6.5.0\"\nvalues_files = [\"envs/prod/podinfo.yaml\", \"envs/prod/absent.yaml\"]\nignore_missing_values_files = true\n",
            charts.url("charts")
        )),
        "{}",
        discovered.stdout
    );
}

/// A chart template whose Deployment and container are named after the release.
const RELEASE_TEMPLATE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {{ .Release.Name }}\n          image: {{ .Values.image | quote }}\n";

/// Commits `orders` (a chart of the team repository, values in `[gitops]`) and `billing` (a
/// chart of `[gitops]`, values in the team repository), and a cluster running what their
/// values declare; returns the infra repository and the team repository's URL.
fn charts_with_values_elsewhere(f: &Fleet) -> (GitRepo, String) {
    let team = GitRepo {
        dir: f.dir.path().join("team-served/team"),
    };
    let infra = GitRepo {
        dir: f.dir.path().join("served/infra"),
    };
    team.commit(
        &[
            (
                "charts/orders/Chart.yaml",
                "apiVersion: v2\nname: orders\nversion: 1.0.0\n",
            ),
            ("charts/orders/values.yaml", &format!("image: {SHOP}-orders@{D2}\n")),
            ("charts/orders/templates/deployment.yaml", RELEASE_TEMPLATE),
            ("values/billing-prod.yaml", &format!("image: {SHOP}-billing@{D1}\n")),
        ],
        "the orders chart, and billing's production values",
    );
    let prod = json!({"server": "https://prod.example.com", "namespace": "shop"});
    let multi = |name: &str, sources: Value| {
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": {"env": "production"}},
            "spec": {"sources": sources, "destination": prod},
        });
        serde_json::to_string_pretty(&app).unwrap()
    };
    let team_url = f.team.url("team");
    let orders = multi(
        "orders",
        json!([
            {"repoURL": team_url, "targetRevision": "main", "path": "charts/orders",
             "helm": {"valueFiles": ["values.yaml", "$config/envs/prod/orders.yaml"]}},
            {"repoURL": f.infra_url, "targetRevision": "HEAD", "ref": "config"},
        ]),
    );
    let billing = multi(
        "billing",
        json!([
            {"repoURL": f.infra_url, "path": "charts/billing", "helm": {"valueFiles": ["$team/values/billing-prod.yaml"]}},
            {"repoURL": team_url, "targetRevision": "main", "ref": "team"},
        ]),
    );
    infra.commit(
        &[
            ("envs/prod/orders.yaml", &format!("image: {SHOP}-orders@{D1}\n") as &str),
            (
                "charts/billing/Chart.yaml",
                "apiVersion: v2\nname: billing\nversion: 1.0.0\n",
            ),
            ("charts/billing/values.yaml", &format!("image: {SHOP}-billing@{D2}\n")),
            ("charts/billing/templates/deployment.yaml", RELEASE_TEMPLATE),
            ("argocd/apps/orders.yaml", &orders),
            ("argocd/apps/billing.yaml", &billing),
        ],
        "orders and billing, each with values from the other repository",
    );
    snapshot(
        &f.dir.path().join("prod.json"),
        &[
            ("web", "shop", format!("{WEB}:hotfix")),
            ("api", "shop", format!("{API}@{D1}")),
            ("shop", "shop", format!("{SHOP}@{D1}")),
            ("orders", "shop", format!("{SHOP}-orders@{D1}")),
            ("billing", "shop", format!("{SHOP}-billing@{D1}")),
        ],
    );
    (infra, team_url)
}

/// Multi-source Applications whose chart directory is in one repository and whose `$values/…`
/// files are in another: the team's chart with values in the `[gitops]` repository, and a
/// chart of the `[gitops]` repository with values in the team's (behind its own credentials).
/// The values files are read from their repository at each audit, and `discover` prints
/// `values_git_repo` for the hand-written config, which audits the same.
#[test]
fn a_chart_directory_takes_values_files_from_another_repository() {
    let f = fleet();
    let (infra, team_url) = charts_with_values_elsewhere(&f);
    // Both charts default to D2; only the values of the other repository declare D1, as runs.
    let want = vec![("production".to_string(), "spec-drift".to_string(), "web".to_string())];
    let discovered = f.run(&discovery_config(&f), &["--once", "--format", "json"]);
    assert_eq!(discovered.code, 1, "{}\n{}", discovered.stdout, discovered.stderr);
    assert_eq!(found(&discovered.json()), want, "{}", discovered.stdout);

    let printed = f.run(&discovery_config(&f), &["discover"]);
    assert_eq!(printed.code, 0, "{}", printed.stderr);
    for release in [
        format!(
            "name = \"orders\"\nnamespace = \"shop\"\nchart = \"charts/orders\"\ngit_repo = \"{team_url}\"\nrevision = \"main\"\nvalues_files = [\"charts/orders/values.yaml\", \"$values/envs/prod/orders.yaml\"]\n"
        ),
        format!(
            "name = \"billing\"\nnamespace = \"shop\"\nchart = \"charts/billing\"\nvalues_files = [\"$values/values/billing-prod.yaml\"]\nvalues_git_repo = \"{team_url}\"\nvalues_revision = \"main\"\n"
        ),
    ] {
        assert!(
            printed.stdout.contains(&release),
            "{release}\nnot in\n{}",
            printed.stdout
        );
    }
    let pasted = format!("{}{}", f.gitops(), printed.stdout);
    let by_hand = f.run(&pasted, &["--once", "--format", "json"]);
    assert_eq!(found(&by_hand.json()), want, "{}\n{}", by_hand.stdout, by_hand.stderr);

    // The values move in their own repository: the next audit reads them.
    infra.commit(
        &[("envs/prod/orders.yaml", &format!("image: {SHOP}-orders@{D2}\n") as &str)],
        "orders to D2 in production",
    );
    let moved = f.run(&pasted, &["--once", "--format", "json"]);
    assert!(
        found(&moved.json()).contains(&("production".into(), "digest-drift".into(), "orders".into()))
            || found(&moved.json()).contains(&("production".into(), "spec-drift".into(), "orders".into())),
        "{}",
        moved.stdout
    );
}

/// `helm.fileParameters`: the file's text, at the parameter's value path, after the values
/// files and parameters (as `helm --set-file`); `discover` prints it as `set_file`.
#[test]
fn file_parameters_set_a_value_from_a_file_of_the_repository() {
    let f = fleet();
    let infra = GitRepo {
        dir: f.dir.path().join("served/infra"),
    };
    let shop = application(
        "shop",
        "production",
        json!({"repoURL": f.infra_url, "path": "charts/shop", "helm": {
            "valueFiles": ["values-prod.yaml"],
            "parameters": [{"name": "image", "value": format!("{SHOP}@{D2}")}],
            "fileParameters": [{"name": "image", "path": "files/image.txt"}]}}),
        json!({"server": "https://prod.example.com", "namespace": "shop"}),
    );
    infra.commit(
        &[
            ("charts/shop/files/image.txt", &format!("{SHOP}@{D1}")),
            ("argocd/apps/shop.yaml", &shop),
        ],
        "shop's image from a file",
    );
    let out = f.run(&discovery_config(&f), &["--once", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        found(&out.json()),
        vec![("production".to_string(), "spec-drift".to_string(), "web".to_string())],
        "shop declares the file's D1 (the parameter's D2 is set before it), as the cluster runs"
    );
    let toml = f.run(&discovery_config(&f), &["discover"]).stdout;
    assert!(
        toml.contains("set_file = [{ name = \"image\", path = \"charts/shop/files/image.txt\" }]"),
        "{toml}"
    );
}

/// The daemon discovers at its start and again before each scheduled audit: an Application
/// committed since joins the audits, a deleted one's environment leaves them; a reload
/// discovers too.
#[tokio::test]
async fn the_daemon_discovers_at_start_and_at_each_scheduled_audit() {
    use crate::inprocess::Daemon;
    let dir = tempfile::tempdir().unwrap();
    let infra = GitRepo::init(&dir.path().join("infra"));
    let url = infra.dir.display().to_string();
    let prod = json!({"name": "prod", "namespace": "shop"});
    let source = json!({"repoURL": url, "path": "apps/api/production"});
    infra.commit(
        &[
            (
                "apps/api/production/deploy.yaml",
                &deployment_yaml("api", "shop", &format!("{API}@{D1}")),
            ),
            (
                "argocd/apps/api.yaml",
                &application("api", "production", source.clone(), prod.clone()),
            ),
        ],
        "api",
    );
    snapshot(&dir.path().join("prod.json"), &[("api", "shop", format!("{API}@{D1}"))]);
    let cfg = dir.path().join("driftwatch.toml");
    write(
        &cfg,
        &format!(
            "[gitops]\nurl = \"{url}\"\ncache_dir = \"cache\"\n[schedule]\ncron = \"* * * * * *\"\n[discovery.argocd]\npaths = [\"argocd/apps/*.yaml\"]\nenvironment_from = \"label:env\"\n[[discovery.clusters]]\nname = \"prod\"\nsnapshot = \"prod.json\"\n"
        ),
    );
    let d = Daemon::start(&cfg, Default::default()).await;
    let audited = |want: &'static [&'static str]| {
        let d = &d;
        async move {
            let (_, body) = d.request(reqwest::Method::GET, "/report").await;
            let report: Value = serde_json::from_str(&body).unwrap_or_default();
            let names: Vec<&str> = report["environments"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["name"].as_str()).collect())
                .unwrap_or_default();
            let mut names = names;
            names.sort_unstable();
            names == want
        }
    };
    poll(15, "an audit of the discovered environment", || {
        audited(&["production"])
    })
    .await;
    const DISCOVERED: &str = "driftwatch_discovered_environments{source=\"argocd\"}";
    assert_eq!(d.metric(DISCOVERED).await, Some(1.0));

    infra.commit(
        &[(
            "argocd/apps/api-staging.yaml",
            &application("api-staging", "staging", source, prod),
        )],
        "api in staging too",
    );
    poll(15, "an audit with the new Application's environment", || {
        audited(&["production", "staging"])
    })
    .await;
    assert_eq!(d.metric(DISCOVERED).await, Some(2.0), "set at each discovery");
    git(&infra.dir, &["rm", "-q", "argocd/apps/api.yaml"]);
    infra.commit(&[], "api leaves production");
    poll(15, "an audit without the deleted Application's environment", || {
        audited(&["staging"])
    })
    .await;
    assert_eq!(d.metric(DISCOVERED).await, Some(1.0));
    // A reload discovers too (and keeps what it found).
    assert_eq!(
        d.request(reqwest::Method::POST, "/-/reload").await,
        (200, "config reloaded\n".into())
    );
    poll(15, "an audit after the reload", || audited(&["staging"])).await;
    d.stop().await;
}

/// An Application of the control plane deploying web's production overlay, as `name` in
/// environment `env`.
fn live_app(f: &Fleet, name: &str, env: &str) -> Value {
    serde_json::from_str(&application(
        name,
        env,
        json!({"repoURL": f.infra_url, "path": "apps/web/overlays/production"}),
        json!({"server": "https://kubernetes.default.svc", "namespace": "shop"}),
    ))
    .unwrap()
}

/// A control plane that is also the cluster: web hand-changed, and Application web
/// (production).
fn control_plane(f: &Fleet) -> FakeKube {
    let (d, rs) = deployment("shop", "web", &[("web", &format!("{WEB}:hotfix"))], 1);
    let p = pod(&rs, "a", &[("web", &format!("{WEB}@{D2}"))]);
    FakeKube::start(vec![d, rs, p, live_app(f, "web", "production")])
}

/// The daemon watches the control plane's Applications: a new one is audited and a deleted
/// one's environment dropped (its alert resolved) at once, with a schedule that does not fire
/// during the test; a status write Argo CD makes on every reconcile is not a change.
#[tokio::test]
async fn the_daemon_follows_application_watch_events() {
    use crate::inprocess::Daemon;
    use support::receiver::Receiver;
    let f = fleet();
    let app = |name: &str, env: &str| live_app(&f, name, env);
    let kube = control_plane(&f);
    let kubeconfig = kube.kubeconfig(f.dir.path(), "mgmt");
    let receiver = Receiver::start();
    let gitops = f.gitops().replace(&format!("url = \"{}\"\n", f.infra_url), "");
    let cfg = f.dir.path().join("driftwatch.toml");
    write(
        &cfg,
        &format!(
            "{gitops}[state]\npath = \"state/state.json\"\n[schedule]\ncron = \"0 0 1 1 *\"\nrun_on_start = true\n[discovery.argocd]\ncluster = {{ kubeconfig = \"{}\" }}\nnamespace = \"argocd\"\nenvironment_from = \"label:env\"\n[[alerts.webhook]]\nurl = \"{}\"\n",
            kubeconfig.display(),
            receiver.url("/hook"),
        ),
    );
    let env = [("TEAM_PW".to_string(), "team-pw".to_string())].into_iter().collect();
    let d = Daemon::start(&cfg, env).await;
    let audited = |want: &'static [&'static str]| crate::discovery::audited(&d, want);
    poll(15, "the start-up audit", || audited(&["production"])).await;
    let audits = || async { d.metric("driftwatch_audits_total{result=\"ok\"}").await };
    let before = audits().await;
    // Argo CD writes status on every reconcile: no audit for that.
    let mut same = app("web", "production");
    same["status"] = json!({"reconciledAt": "2026-12-05T10:00:00Z"});
    kube.apply(same);
    kube.apply(app("web-staging", "staging"));
    poll(15, "an audit of the new Application's environment", || {
        audited(&["production", "staging"])
    })
    .await;
    kube.delete("Application", "argocd", "web");
    poll(15, "an audit without the deleted Application's environment", || {
        audited(&["staging"])
    })
    .await;
    assert_eq!(
        audits().await.unwrap_or_default() - before.unwrap_or_default(),
        2.0,
        "one audit per Application change, none for the reconcile's write"
    );
    let resolved = || crate::discovery::resolved(&receiver, "production");
    poll(15, "the deleted Application's alert resolved", || async { resolved() }).await;
    d.stop().await;
}

/// A reload that points discovery at another namespace of the control plane moves the
/// Applications watch there: an Application created after it is audited at once, not at the
/// next scheduled audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_applications_watch_follows_a_reload() {
    use crate::inprocess::Daemon;
    let f = fleet();
    let app = |name: &str, env: &str| live_app(&f, name, env);
    let kube = control_plane(&f);
    let kubeconfig = kube.kubeconfig(f.dir.path(), "mgmt");
    let gitops = f.gitops().replace(&format!("url = \"{}\"\n", f.infra_url), "");
    let cfg = f.dir.path().join("driftwatch.toml");
    let config = |namespace: &str| {
        format!(
            "{gitops}[state]\npath = \"state/state.json\"\n[schedule]\ncron = \"0 0 1 1 *\"\nrun_on_start = true\n[discovery.argocd]\ncluster = {{ kubeconfig = \"{}\" }}\nnamespace = \"{namespace}\"\nenvironment_from = \"label:env\"\n",
            kubeconfig.display(),
        )
    };
    write(&cfg, &config("elsewhere"));
    let env = [("TEAM_PW".to_string(), "team-pw".to_string())].into_iter().collect();
    let d = Daemon::start(&cfg, env).await;
    let audited = |want: &'static [&'static str]| crate::discovery::audited(&d, want);
    poll(15, "the start-up audit, of no Application", || audited(&[])).await;
    write(&cfg, &config("argocd"));
    d.reload.reload().await.expect("the reload applies");
    let watching = || async {
        kube.requests()
            .iter()
            .any(|r| r.contains("/namespaces/argocd/applications") && r.contains("watch=true"))
    };
    poll(15, "a watch on the new namespace's Applications", watching).await;
    kube.apply(app("web-staging", "staging"));
    poll(15, "an audit of the Application created after the reload", || {
        audited(&["production", "staging"])
    })
    .await;
    d.stop().await;
}

/// Whether `receiver`'s webhook got a `resolved` alert of `environment`.
pub(crate) fn resolved(receiver: &support::receiver::Receiver, environment: &str) -> bool {
    receiver.received("/hook").iter().any(|h| {
        h.json()["alerts"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["event"] == "resolved" && a["environment"] == environment)
        })
    })
}

/// Whether the daemon's last report audited exactly the environments `want` (sorted), and not
/// merely that no report is there yet.
pub(crate) async fn audited(d: &crate::inprocess::Daemon, want: &[&str]) -> bool {
    let (_, body) = d.request(reqwest::Method::GET, "/report").await;
    let report: Value = serde_json::from_str(&body).unwrap_or_default();
    let Some(environments) = report["environments"].as_array() else {
        return false;
    };
    let mut names: Vec<&str> = environments.iter().filter_map(|e| e["name"].as_str()).collect();
    names.sort_unstable();
    names == want
}

/// Polls `check` every 50 ms (real time: the daemon runs real processes and git) until it
/// holds, for at most `secs`.
pub(crate) async fn poll<F, Fut>(secs: u64, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let polled = async {
        while !check().await {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(secs), polled)
        .await
        .is_err()
    {
        panic!("{what} did not happen within {secs}s");
    }
}

/// ApplicationSets committed in git: an infra repository (`apps/web`, `apps/api`, plain
/// manifests) and a second, config repository; production runs web on a digest git does not
/// declare.
struct Sets {
    dir: tempfile::TempDir,
    _daemon: GitDaemon,
    infra: GitRepo,
    infra_url: String,
    config_url: String,
}

fn sets(appsets: &[(&str, String)]) -> Sets {
    let dir = tempfile::tempdir().unwrap();
    let config = GitRepo::init(&dir.path().join("served/config"));
    config.commit(
        &[
            (
                "config/eu/config.json",
                r#"{"app": {"name": "web", "path": "apps/web"}, "env": "production", "cluster": "prod"}"#,
            ),
            (
                "config/us/config.json",
                r#"{"app": {"name": "api", "path": "apps/api"}, "env": "staging", "cluster": "staging"}"#,
            ),
            ("config/us/notes.json", r#"{"not": "read"}"#),
        ],
        "config",
    );
    let infra = GitRepo::init(&dir.path().join("served/infra"));
    let daemon = GitDaemon::start(&dir.path().join("served"));
    let mut files = vec![
        (
            "apps/web/deploy.yaml",
            deployment_yaml("web", "web", &format!("{WEB}@{D1}")),
        ),
        (
            "apps/api/deploy.yaml",
            deployment_yaml("api", "api", &format!("{API}@{D1}")),
        ),
    ];
    files.extend(appsets.iter().map(|(p, t)| (*p, t.clone())));
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    infra.commit(&refs, "apps");
    snapshot(
        &dir.path().join("prod.json"),
        &[
            ("web", "web", format!("{WEB}@{D2}")),
            ("api", "api", format!("{API}@{D1}")),
        ],
    );
    snapshot(
        &dir.path().join("staging.json"),
        &[("api", "api", format!("{API}@{D1}"))],
    );
    Sets {
        infra_url: daemon.url("infra"),
        config_url: daemon.url("config"),
        dir,
        _daemon: daemon,
        infra,
    }
}

impl Sets {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn config(&self) -> String {
        format!(
            "[gitops]\nurl = \"{}\"\ncache_dir = \"cache\"\n[discovery.argocd]\npaths = [\"argocd/*.yaml\"]\nenvironment_from = \"label:env\"\n[[discovery.clusters]]\nserver = \"https://prod.example.com\"\nname = \"prod\"\nsnapshot = \"{}\"\n[[discovery.clusters]]\nname = \"staging\"\nsnapshot = \"{}\"\n",
            self.infra_url,
            self.path("prod.json"),
            self.path("staging.json")
        )
    }

    fn run(&self, config: &str, args: &[&str]) -> support::run::Output {
        let cfg = self.dir.path().join("driftwatch.toml");
        write(&cfg, config);
        let cfg = cfg.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", &cfg]);
        driftwatch(self.dir.path(), &all, &[])
    }
}

fn application_set(name: &str, spec: Value) -> String {
    let set = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": spec,
    });
    serde_json::to_string_pretty(&set).unwrap()
}

/// `{ "environment on cluster": [paths entries as TOML] }` of `discover --format json`.
fn environments(out: &support::run::Output) -> Value {
    let json = out.json();
    let mut envs = serde_json::Map::new();
    for e in json["environments"].as_array().unwrap() {
        let name = format!("{} on {}", e["name"].as_str().unwrap(), e["cluster"].as_str().unwrap());
        envs.insert(name, e["paths"].clone());
    }
    Value::Object(envs)
}

/// A git-directory generator over `apps/*` with `goTemplate` (and `missingkey=error`): the
/// Applications it generates are discovered as the config a user would write, and audited.
#[test]
fn an_application_set_over_app_directories_discovers_what_a_user_would_write() {
    let infra = "INFRA";
    let spec = json!({
        "goTemplate": true,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"git": {"repoURL": infra, "revision": "HEAD", "directories": [{"path": "apps/*"}]}}],
        "template": {
            "metadata": {"name": "{{ .path.basename }}", "labels": {"env": "production"}},
            "spec": {
                "project": "shop",
                "source": {"repoURL": infra, "targetRevision": "HEAD", "path": "{{ .path.path }}"},
                "destination": {"server": "https://prod.example.com", "namespace": "{{ index .path.segments 1 }}"},
            },
        },
    });
    let s = sets(&[]);
    s.infra.commit(
        &[(
            "argocd/apps.yaml",
            &application_set("apps", spec).replace(infra, &s.infra_url),
        )],
        "appset",
    );
    let out = s.run(&s.config(), &["discover"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let by_hand = format!(
        r#"# Environments derived by driftwatch discover: paste them into the config as they are.

# from:
#   Application argocd/api (ApplicationSet argocd/apps in git argocd/apps.yaml)
#   Application argocd/web (ApplicationSet argocd/apps in git argocd/apps.yaml)
[[environments]]
name = "production"
paths = [
  {{ path = "apps/api", namespace = "api" }},
  {{ path = "apps/web", namespace = "web" }},
]
[environments.cluster]
name = "prod"
snapshot = "{}"
"#,
        s.path("prod.json")
    );
    assert_eq!(out.stdout, by_hand);

    // Audited from discovery alone: web runs a digest git does not declare.
    let audit = s.run(&s.config(), &["--once", "--format", "json"]);
    assert_eq!(audit.code, 1, "{}", audit.stderr);
    assert_eq!(
        found(&audit.json()),
        vec![("production".to_string(), "spec-drift".to_string(), "web".to_string())]
    );
}

/// A list generator with the default fasttemplate: one Application per element, each in the
/// environment and on the cluster its element names.
#[test]
fn an_application_set_with_a_list_generator_and_fasttemplate() {
    let spec = json!({
        "generators": [{"list": {"elements": [
            {"app": "web", "env": "production", "cluster": "prod"},
            {"app": "api", "env": "staging", "cluster": "staging"},
        ]}}],
        "template": {
            "metadata": {"name": "{{app}}-{{env}}", "labels": {"env": "{{env}}"}},
            "spec": {
                "source": {"repoURL": "INFRA", "path": "apps/{{app}}"},
                "destination": {"name": "{{cluster}}", "namespace": "{{ app }}"},
            },
        },
    });
    let s = sets(&[]);
    s.infra.commit(
        &[(
            "argocd/list.yaml",
            &application_set("list", spec).replace("INFRA", &s.infra_url),
        )],
        "appset",
    );
    let out = s.run(&s.config(), &["discover", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        environments(&out),
        json!({
            "production on prod": ["{ path = \"apps/web\", namespace = \"web\" }"],
            "staging on staging": ["{ path = \"apps/api\", namespace = \"api\" }"],
        }),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.json()["environments"][1]["origins"][0],
        "Application argocd/api-staging (ApplicationSet argocd/list in git argocd/list.yaml)"
    );
}

/// A git-files generator reading `config/*/config.json` from a second repository: each file's
/// keys (flattened with dots) make one Application.
#[test]
fn an_application_set_reads_config_files_from_a_second_repository() {
    let spec = json!({
        "generators": [{"git": {"repoURL": "CONFIG", "revision": "main", "files": [{"path": "config/*/config.json"}]}}],
        "template": {
            "metadata": {"name": "{{app.name}}-{{path.basename}}", "labels": {"env": "{{env}}"}},
            "spec": {
                "source": {"repoURL": "INFRA", "path": "{{app.path}}"},
                "destination": {"name": "{{cluster}}", "namespace": "{{app.name}}"},
            },
        },
    });
    let s = sets(&[]);
    let text = application_set("config", spec)
        .replace("CONFIG", &s.config_url)
        .replace("INFRA", &s.infra_url);
    s.infra.commit(&[("argocd/config.yaml", &text)], "appset");
    let out = s.run(&s.config(), &["discover", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        environments(&out),
        json!({
            "production on prod": ["{ path = \"apps/web\", namespace = \"web\" }"],
            "staging on staging": ["{ path = \"apps/api\", namespace = \"api\" }"],
        }),
        "{}",
        out.stdout
    );
    let origins: Vec<Value> = out.json()["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["origins"][0].clone())
        .collect();
    assert_eq!(
        origins,
        [
            "Application argocd/web-eu (ApplicationSet argocd/config in git argocd/config.yaml)",
            "Application argocd/api-us (ApplicationSet argocd/config in git argocd/config.yaml)",
        ]
    );
}

/// A generator driftwatch does not expand (`clusters`) is reported with the ApplicationSet, the
/// generator and the fix, in `discover` and `check-config`; the rest is discovered.
#[test]
fn an_unexpanded_generator_is_reported_with_the_fix_and_the_rest_is_discovered() {
    let template = json!({
        "metadata": {"name": "{{app}}", "labels": {"env": "production"}},
        "spec": {
            "source": {"repoURL": "INFRA", "path": "apps/{{app}}"},
            "destination": {"server": "https://prod.example.com", "namespace": "{{app}}"},
        },
    });
    let fleet_set = application_set(
        "fleet",
        json!({"generators": [{"clusters": {}}, {"list": {"elements": [{"app": "api"}]}}], "template": template}),
    );
    let s = sets(&[]);
    s.infra.commit(
        &[("argocd/fleet.yaml", &fleet_set.replace("INFRA", &s.infra_url))],
        "appset",
    );
    let out = s.run(&s.config(), &["discover", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let want = "ApplicationSet argocd/fleet not expanded: generators[0]: generator clusters: its parameters come from the clusters registered in Argo CD (fix: write the Applications it generates into git, or list them from the control plane (discovery.argocd.cluster))";
    assert!(out.stderr.contains(want), "{}", out.stderr);
    assert_eq!(
        environments(&out),
        json!({"production on prod": ["{ path = \"apps/api\", namespace = \"api\" }"]})
    );

    let check = s.run(&s.config(), &["check-config"]);
    assert!(
        check
            .stdout
            .contains("not expanded: ApplicationSet argocd/fleet: generators[0]: generator clusters"),
        "{}\n{}",
        check.stdout,
        check.stderr
    );
}

/// An Application Argo CD generated from an ApplicationSet, listed from the control plane, is
/// read as the Application it is (whatever the generator: here `clusters`, which is not
/// expanded from git), and replaces the one of the same name expanded from git.
#[test]
fn applications_an_application_set_generated_are_read_from_the_control_plane() {
    let s = sets(&[]);
    let template = |name: &str| {
        json!({
            "metadata": {"name": name, "labels": {"env": "production"}},
            "spec": {
                "source": {"repoURL": s.infra_url, "path": "apps/{{app}}"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{app}}"},
            },
        })
    };
    let listed = application_set(
        "listed",
        json!({"generators": [{"list": {"elements": [{"app": "web"}]}}], "template": template("{{app}}")}),
    );
    let clusters = application_set(
        "per-cluster",
        json!({"generators": [{"clusters": {}}], "template": template("api")}),
    );
    s.infra.commit(
        &[
            ("argocd/listed.yaml", listed.as_str()),
            ("argocd/clusters.yaml", clusters.as_str()),
        ],
        "appsets",
    );
    let generated = |name: &str, owner: &str| {
        let mut a: Value = serde_json::from_str(&application(
            name,
            "production",
            json!({"repoURL": s.infra_url, "path": format!("apps/{name}")}),
            json!({"server": "https://kubernetes.default.svc", "namespace": name}),
        ))
        .unwrap();
        a["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": owner,
            "uid": "0d6f9a52-0000-4000-8000-000000000000", "controller": true,
        }]);
        a
    };
    let kube = FakeKube::start(vec![generated("web", "listed"), generated("api", "per-cluster")]);
    let kubeconfig = kube.kubeconfig(s.dir.path(), "mgmt");
    // Without [[discovery.clusters]]: every destination is the control plane's own cluster.
    let base = s.config();
    let config = format!(
        "{}cluster = {{ kubeconfig = \"{}\" }}\nnamespace = \"argocd\"\n",
        &base[..base.find("[[discovery.clusters]]").unwrap()],
        kubeconfig.display()
    );
    let out = s.run(&config, &["discover", "--format", "json"]);
    let json = out.json();
    let origins: Vec<&str> = json["environments"][0]["origins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(origins.len(), 2, "{json}");
    assert!(
        origins.iter().all(|o| o.contains("(cluster ")),
        "both from the control plane, web replacing the one expanded from git: {origins:?}"
    );
    // The clusters generator in git is still said to be not expanded.
    assert!(
        out.stderr
            .contains("ApplicationSet argocd/per-cluster not expanded: generators[0]: generator clusters"),
        "{}",
        out.stderr
    );
}

/// A git generator naming a repository that cannot be read: an error naming the
/// ApplicationSet and the repository; the ApplicationSets that could be expanded are.
#[test]
fn an_unreadable_generator_repository_is_named_and_the_rest_is_discovered() {
    let s = sets(&[]);
    let missing = s.config_url.replace("config", "missing");
    let gone = application_set(
        "gone",
        json!({
            "generators": [{"git": {"repoURL": missing, "directories": [{"path": "*"}]}}],
            "template": {"metadata": {"name": "{{path.basename}}"}, "spec": {}},
        }),
    );
    let listed = application_set(
        "listed",
        json!({
            "generators": [{"list": {"elements": [{"app": "web"}]}}],
            "template": {
                "metadata": {"name": "{{app}}", "labels": {"env": "production"}},
                "spec": {
                    "source": {"repoURL": s.infra_url, "path": "apps/{{app}}"},
                    "destination": {"server": "https://prod.example.com", "namespace": "{{app}}"},
                },
            },
        }),
    );
    s.infra.commit(
        &[
            ("argocd/gone.yaml", gone.as_str()),
            ("argocd/listed.yaml", listed.as_str()),
        ],
        "appsets",
    );
    let out = s.run(&s.config(), &["discover", "--format", "json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "discovery: ApplicationSet argocd/gone: repository {missing}: "
        )),
        "{}",
        out.stderr
    );
    assert_eq!(
        environments(&out),
        json!({"production on prod": ["{ path = \"apps/web\", namespace = \"web\" }"]})
    );
}
