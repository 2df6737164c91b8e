//! Helm environments (issue 20) through the real binary: config and its errors, a chart
//! directory in a git repository rendered by `helm template` (the stand-in over real Helm)
//! with values files per environment, a `--once` audit against the suite's Kubernetes API that
//! names the release and template of a hand-changed image, charts from a Helm repository
//! (digest checked, Basic auth) and from the suite's OCI registry, an unreachable repository,
//! the render cache (both engines), `helm` not installed, and a repository password that never
//! shows.
//!
//! Most use the external engine (`engine = "external"`, through the stand-in); the built-in
//! engine's own output is checked against real Helm in `crates/helm`'s differential tests,
//! and here beside `helm template`'s and through the render cache.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::charts::{ChartRepo, helm_stand_in, index, package};
use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, D3, deployment, list, pod};
use support::git::GitRepo;
use support::kube::FakeKube;
use support::net::free_port;
use support::registry::OciRegistry;
use support::run::{Output, driftwatch, finding, findings};
use support::write;

const API: &str = "registry.example.com/shop/api";

/// A chart `name` (version `version`): a helper, a Deployment `<release>-api` from
/// `image.repository@image.digest`, a worker Deployment behind `worker.enabled`, a
/// pre-install hook Job and a ConfigMap.
fn chart(name: &str, version: &str) -> Vec<(String, String)> {
    let t = |f: &str| format!("templates/{f}");
    vec![
        (
            "Chart.yaml".into(),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        ),
        (
            "values.yaml".into(),
            format!("replicaCount: 1\nimage:\n  repository: {API}\n  digest: {D3}\nworker:\n  enabled: false\n"),
        ),
        (
            t("_helpers.tpl"),
            "{{- define \"shop.api\" -}}{{ .Release.Name }}-api{{- end -}}\n".into(),
        ),
        (
            t("deployment.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"shop.api\" . }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n  template:\n    spec:\n      containers:\n        - name: api\n          image: \"{{ .Values.image.repository }}@{{ .Values.image.digest }}\"\n".into(),
        ),
        (
            t("worker.yaml"),
            "{{- if .Values.worker.enabled }}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-worker\nspec:\n  template:\n    spec:\n      containers:\n        - name: worker\n          image: \"{{ .Values.image.repository }}-worker@{{ .Values.image.digest }}\"\n{{- end }}\n".into(),
        ),
        (
            t("migrate.yaml"),
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-install\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: migrate\n          image: \"{{ .Values.image.repository }}@{{ .Values.image.digest }}\"\n".into(),
        ),
        (
            t("configmap.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  replicas: {{ .Values.replicaCount | quote }}\n".into(),
        ),
    ]
}

/// The chart under `charts/shop`, with production (D1, worker on) and staging (D2) values.
fn gitops_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = chart("shop", "1.4.0")
        .into_iter()
        .map(|(p, t)| (format!("charts/shop/{p}"), t))
        .collect();
    files.push((
        "charts/shop/values-production.yaml".into(),
        format!("image:\n  digest: {D1}\nworker:\n  enabled: true\n"),
    ));
    files.push((
        "charts/shop/values-staging.yaml".into(),
        format!("image:\n  digest: {D2}\n"),
    ));
    files
}

fn write_files(dir: &Path, files: &[(String, String)]) {
    for (path, text) in files {
        write(&dir.join(path), text);
    }
}

/// A GitOps repository holding the chart, committed.
fn repo(dir: &Path) -> GitRepo {
    let repo = GitRepo::init(&dir.join("infra"));
    let files = gitops_files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    repo.commit(&refs, "the shop chart");
    repo
}

/// An empty cluster snapshot (for what only renders).
fn empty_snapshot(dir: &Path) -> PathBuf {
    let path = dir.join("cluster.json");
    write(&path, &list(Vec::new()));
    path
}

fn declared(dir: &Path, cfg: &Path, env: &str) -> Output {
    driftwatch(
        dir,
        &[
            "declared",
            "--env",
            env,
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    )
}

fn once(dir: &Path, cfg: &Path, env: &[(&str, &str)]) -> Output {
    driftwatch(
        dir,
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        env,
    )
}

/// (kind namespace/name, image, release, template) of every declared container.
fn workloads(declared: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for w in declared["workloads"].as_array().expect("workloads") {
        for c in w["containers"].as_array().unwrap() {
            out.push((
                format!(
                    "{} {}/{}",
                    w["kind"].as_str().unwrap(),
                    w["namespace"].as_str().unwrap(),
                    w["name"].as_str().unwrap()
                ),
                c["image"].as_str().unwrap().to_string(),
                w["release"].as_str().unwrap_or("-").to_string(),
                w["template"].as_str().unwrap_or("-").to_string(),
            ));
        }
    }
    out
}

fn row(w: &str, image: &str, release: &str, template: &str) -> (String, String, String, String) {
    (w.into(), image.into(), release.into(), template.into())
}

#[test]
fn a_chart_directory_renders_with_each_environments_values_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let snapshot = empty_snapshot(dir.path());
    let url = format!("file://{}", repo.dir.display());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.url(&url).cache_dir(dir.path().join("gitops")))
        .render(|r| r.helm(helm_stand_in()))
        .environment("production", |e| {
            e.renderer("helm")
                .engine("external")
                .snapshot(&snapshot)
                .release("shop", |r| {
                    r.namespace("shop")
                        .chart("charts/shop")
                        .values_files(&["charts/shop/values-production.yaml"])
                        .values("{ replicaCount = 3 }")
                })
        })
        .environment("staging", |e| {
            e.renderer("helm").snapshot(&snapshot).release("shop", |r| {
                r.namespace("shop-staging")
                    .chart("charts/shop")
                    .values_files(&["charts/shop/values-staging.yaml"])
                    .engine("external")
            })
        })
        .write();

    let out = declared(dir.path(), &cfg, "production");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let production = out.json();
    assert_eq!(
        workloads(&production),
        vec![
            row(
                "Deployment shop/shop-api",
                &format!("{API}@{D1}"),
                "shop",
                "shop/templates/deployment.yaml"
            ),
            row(
                "Deployment shop/shop-worker",
                &format!("{API}-worker@{D1}"),
                "shop",
                "shop/templates/worker.yaml"
            ),
        ],
        "the values file per environment; the hook Job is not declared"
    );
    assert_eq!(
        production["releases"],
        json!([{"release": "shop", "namespace": "shop", "chart": "charts/shop", "renderer": "external", "cached": false}])
    );
    assert_eq!(production["paths"], json!([]));

    let staging = declared(dir.path(), &cfg, "staging");
    assert_eq!(staging.code, 0, "{}", staging.stderr);
    assert_eq!(
        workloads(&staging.json()),
        vec![row(
            "Deployment shop-staging/shop-api",
            &format!("{API}@{D2}"),
            "shop",
            "shop/templates/deployment.yaml"
        )]
    );
    let text = driftwatch(
        dir.path(),
        &["declared", "--env", "staging", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert!(
        text.stdout.contains("RELEASE") && text.stdout.contains("charts/shop") && text.stdout.contains("(cached)"),
        "{}",
        text.stdout
    );
}

/// The live side: production runs shop-api by hand at a hotfix tag, shop-worker as declared.
fn live(namespace: &str) -> Vec<Value> {
    let hotfix = format!("{API}:hotfix-1");
    let (api, api_rs) = deployment(namespace, "shop-api", &[("api", &hotfix)], 3);
    let (worker, worker_rs) = deployment(
        namespace,
        "shop-worker",
        &[("worker", &format!("{API}-worker@{D1}"))],
        1,
    );
    let api_pod = pod(&api_rs, "a", &[("api", &format!("{API}@{D2}"))]);
    let worker_pod = pod(&worker_rs, "w", &[("worker", &format!("{API}-worker@{D1}"))]);
    vec![api, api_rs, worker, worker_rs, api_pod, worker_pod]
}

#[test]
fn once_finds_a_hand_changed_image_and_names_the_release_and_template() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("gitops"), &gitops_files());
    let kube = FakeKube::start(live("shop"));
    let kc = kube.kubeconfig(dir.path(), "prod");
    let (helm, log) = counting_helm(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(&helm))
        .environment("production", |e| {
            e.renderer("helm")
                .kubeconfig(&kc)
                .namespaces(&["shop"])
                .compare_configmaps("false")
                .release("shop", |r| {
                    r.namespace("shop")
                        .chart("charts/shop")
                        .values_files(&["charts/shop/values-production.yaml"])
                        .engine("external")
                })
        })
        .write();

    let out = once(dir.path(), &cfg, &[]);
    assert_eq!(out.code, 1, "drift: {}", out.stderr);
    let report = out.json();
    assert_eq!(
        findings(&report),
        vec![finding("spec-drift", "shop/shop-api", "api")],
        "the hook Job is not missing, the worker matches"
    );
    let f = &report["findings"][0];
    assert_eq!(
        (f["release"].as_str(), f["template"].as_str(), f["source"].as_str()),
        (
            Some("shop"),
            Some("shop/templates/deployment.yaml"),
            Some("charts/shop")
        )
    );
    assert_eq!(f["live_image"], format!("{API}:hotfix-1"));
    assert_eq!(report["environments"][0]["releases"][0]["release"], "shop");
    let command = std::fs::read_to_string(&log).unwrap();
    assert!(
        command.contains("--kube-version v1.33.0"),
        "a release without kube_version renders for the cluster's version: {command}"
    );

    let text = driftwatch(dir.path(), &["--once", "--config", cfg.to_str().unwrap()], &[]);
    let words = text.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("release shop · template shop/templates/deployment.yaml"),
        "{}",
        text.stdout
    );
}

/// The daemon (built-in engine) audits the release at start and its status page shows the
/// hand-changed workload with the release and template it came from: in `/api/status`, on the
/// fleet page's row and on the workload's page.
#[test]
fn the_status_page_shows_a_releases_drifting_workload_with_its_release() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("gitops"), &gitops_files());
    let kube = FakeKube::start(live("shop"));
    let kc = kube.kubeconfig(dir.path(), "prod");
    let cfg = ConfigBuilder::new(dir.path())
        .schedule(|s| s.run_on_start(true).cron(crate::NEVER))
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.renderer("helm")
                .kubeconfig(&kc)
                .namespaces(&["shop"])
                .compare_configmaps("false")
                .release("shop", |r| {
                    r.namespace("shop")
                        .chart("charts/shop")
                        .values_files(&["charts/shop/values-production.yaml"])
                })
        });
    let d = support::daemon::Daemon::start(dir.path(), &cfg, &[]);
    let status: Value = support::net::wait_until(20, "the first audit's /api/status", || {
        let (code, body) = d.get("/api/status");
        (code == 200).then(|| serde_json::from_str(&body).unwrap())
    });
    let f = &status["findings"][0];
    assert_eq!(
        (
            f["type"].as_str(),
            f["workload"].as_str(),
            f["release"].as_str(),
            f["template"].as_str()
        ),
        (
            Some("spec-drift"),
            Some("shop/Deployment/shop-api"),
            Some("shop"),
            Some("shop/templates/deployment.yaml")
        ),
        "{status}"
    );
    let (code, page) = d.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("href=\"/workloads/shop/Deployment/shop-api\""), "{page}");
    let (code, workload) = d.get("/workloads/shop/Deployment/shop-api");
    assert_eq!(code, 200, "{workload}");
    assert!(
        workload.contains("<dt>Helm release</dt><dd>shop · <code>shop/templates/deployment.yaml</code></dd>"),
        "{workload}"
    );
}

#[test]
fn config_errors_name_the_release_key_with_dots() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("gitops"), &gitops_files());
    let snapshot = empty_snapshot(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.renderer("helm")
                .snapshot(&snapshot)
                .release("shop", |r| {
                    r.chart("charts/shop")
                        .other("value_files", "x.yaml")
                        .values_files(&["charts/shop/values-nope.yaml"])
                })
                .release("Bad_Name", |r| r.chart("charts/shop").version("1.x"))
        })
        .write();
    let out = driftwatch(dir.path(), &["check-config", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    for needle in [
        "unknown key `value_files`",
        "for key `environments[0].releases[0]`",
        "environments[0].releases[1].name: \"Bad_Name\"",
        "environments[0].releases[0].values_files[0]: \"charts/shop/values-nope.yaml\" is not a file",
    ] {
        assert!(out.stderr.contains(needle), "{needle:?} in {}", out.stderr);
    }
    assert!(!out.stderr.contains("]releases"), "{}", out.stderr);
}

/// Charts `web` 1.0.0, 1.2.0 and 2.0.0 packaged and indexed by real Helm under `dir/charts`.
fn packaged(dir: &Path) -> PathBuf {
    let served = dir.join("served/charts");
    for version in ["1.0.0", "1.2.0", "2.0.0"] {
        let src = dir.join(format!("src/web-{version}"));
        write_files(&src, &chart("web", version));
        package(&src, &served);
    }
    index(&served);
    served
}

/// A production environment with release `web` from `repo` (range 1.x), rendered by the
/// stand-in; the repository's password in `CHARTS_PASSWORD`.
fn repo_config(dir: &Path, repo: &str, auth: bool) -> PathBuf {
    let snapshot = empty_snapshot(dir);
    std::fs::create_dir_all(dir.join("gitops")).unwrap();
    let mut cfg = ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(helm_stand_in()))
        .environment("production", |e| {
            e.renderer("helm")
                .engine("external")
                .snapshot(&snapshot)
                .release("web", |r| r.namespace("web").chart("web").repo(repo).version("1.x"))
        });
    if auth {
        cfg = cfg.helm_repository(|h| h.url(repo).username("ci").password_env("CHARTS_PASSWORD"));
    }
    cfg.write()
}

const PASSWORD: &str = "chart-repo-s3cret-never-shown";

#[test]
fn a_chart_from_a_helm_repository_is_picked_verified_and_fetched_once() {
    let dir = tempfile::tempdir().unwrap();
    let served = packaged(dir.path());
    let server = ChartRepo::start(served.parent().unwrap(), Some(("ci", PASSWORD)));
    let cfg = repo_config(dir.path(), &server.url("charts"), true);
    let env = [("CHARTS_PASSWORD", PASSWORD), ("RUST_LOG", "debug")];

    let out = driftwatch(
        dir.path(),
        &[
            "declared",
            "--env",
            "production",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let digest = format!(
        "sha256:{}",
        sha256_hex(&std::fs::read(served.join("web-1.2.0.tgz")).unwrap())
    );
    assert_eq!(
        report["releases"],
        json!([{"release": "web", "namespace": "web", "chart": format!("web from {}", server.url("charts")),
                "version": "1.2.0", "digest": digest, "renderer": "external", "cached": false}]),
        "the highest 1.x, verified against the index"
    );
    assert_eq!(
        workloads(&report)[0],
        row(
            "Deployment web/web-api",
            &format!("{API}@{D3}"),
            "web",
            "web/templates/deployment.yaml"
        )
    );
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains(PASSWORD),
        "the repository password never shows"
    );

    // Again: the index is asked (ranges move), the archive is not downloaded again.
    let again = driftwatch(
        dir.path(),
        &[
            "declared",
            "--env",
            "production",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["releases"][0]["cached"], true);
    let asked = server.asked();
    assert_eq!(
        asked.iter().filter(|p| p.ends_with(".tgz")).count(),
        1,
        "downloaded once, then taken from disk: {asked:?}"
    );

    // Without the password the repository refuses, and the error says so (not the password).
    let refused = repo_config(dir.path(), &server.url("charts"), false);
    let out = declared(dir.path(), &refused, "production");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("chart web from http://") && out.stderr.contains("401"),
        "{}",
        out.stderr
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn an_archive_that_does_not_match_the_index_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let served = packaged(dir.path());
    let index_path = served.join("index.yaml");
    let text = std::fs::read_to_string(&index_path).unwrap();
    let real = sha256_hex(&std::fs::read(served.join("web-1.2.0.tgz")).unwrap());
    assert!(text.contains(&real), "the index holds the digest");
    write(&index_path, &text.replace(&real, &"0".repeat(64)));
    let server = ChartRepo::start(served.parent().unwrap(), None);
    let cfg = repo_config(dir.path(), &server.url("charts"), false);

    let out = declared(dir.path(), &cfg, "production");
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("chart web 1.2.0")
            && out.stderr.contains(&format!("sha256:{real}"))
            && out.stderr.contains("the index says sha256:0000"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_chart_from_an_oci_registry() {
    let dir = tempfile::tempdir().unwrap();
    let registry = OciRegistry::start(dir.path(), "pusher", "registry-pw");
    let src = dir.path().join("src/web");
    write_files(&src, &chart("web", "0.3.0"));
    let archive = std::fs::read(package(&src, &dir.path().join("pkg"))).unwrap();
    let layer = registry.push_chart(
        "charts/web",
        "0.3.0",
        &json!({"apiVersion": "v2", "name": "web", "version": "0.3.0"}),
        &archive,
    );
    let other = registry.push_chart(
        "charts/web",
        "0.4.0",
        &json!({"apiVersion": "v2", "name": "web", "version": "0.4.0"}),
        &archive,
    );
    assert_eq!(layer, other, "same archive, same layer");
    let snapshot = empty_snapshot(dir.path());
    std::fs::create_dir_all(dir.path().join("gitops")).unwrap();
    let reference = format!("oci://{}/charts/web", registry.host());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(helm_stand_in()))
        .registry(|r| {
            r.host(&registry.host())
                .insecure(true)
                .username_env("REG_USER")
                .password_env("REG_PASSWORD")
        })
        .environment("production", |e| {
            e.renderer("helm")
                .engine("external")
                .snapshot(&snapshot)
                .release("web", |r| r.namespace("web").chart(&reference).version("~0.3"))
        })
        .write();
    let out = driftwatch(
        dir.path(),
        &[
            "declared",
            "--env",
            "production",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[("REG_USER", "pusher"), ("REG_PASSWORD", "registry-pw")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        report["releases"],
        json!([{"release": "web", "namespace": "web", "chart": reference,
                "version": "0.3.0", "digest": layer, "renderer": "external", "cached": false}])
    );
    assert_eq!(
        workloads(&report)[0],
        row(
            "Deployment web/web-api",
            &format!("{API}@{D3}"),
            "web",
            "web/templates/deployment.yaml"
        )
    );
}

/// Production's release `web` comes from a source that does not answer (`web` adds it to a
/// config, which `setup` completes); staging has only the chart directory. The audit is an
/// error of production naming the chart (its `error` returned), and the rest is audited: the
/// other release of production, and staging.
fn one_chart_source_down(
    setup: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    web: impl Fn(support::config::Release) -> support::config::Release,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("gitops"), &gitops_files());
    let snapshot = dir.path().join("cluster.json");
    write(&snapshot, &list(live("shop")));
    let shop = |e: support::config::Environment| {
        e.renderer("helm")
            .snapshot(&snapshot)
            .compare_configmaps("false")
            .release("shop", |r| {
                r.namespace("shop")
                    .chart("charts/shop")
                    .values_files(&["charts/shop/values-production.yaml"])
            })
    };
    let cfg = setup(ConfigBuilder::new(dir.path()).gitops(|g| g.path("gitops")))
        .environment("production", |e| shop(e).release("web", |r| web(r.namespace("web"))))
        .environment("staging", shop)
        .write();

    let out = once(dir.path(), &cfg, &[]);
    assert_eq!(out.code, 2, "an audit error: {}", out.stderr);
    let report = out.json();
    let production = &report["environments"][0];
    assert_eq!(production["declared_workloads"], 2, "the other release is still read");
    assert_eq!(report["environments"][1]["status"], "ok");
    let drift: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["environment"].as_str().unwrap().into(),
                f["type"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        drift,
        vec![
            ("production".to_string(), "spec-drift".to_string()),
            ("staging".to_string(), "spec-drift".to_string())
        ],
        "both environments audited"
    );
    production["error"].as_str().unwrap().to_string()
}

#[test]
fn an_unreachable_repository_names_the_chart_and_the_rest_is_audited() {
    let down = format!("http://127.0.0.1:{}/charts", free_port());
    let error = one_chart_source_down(
        |c| c.render(|r| r.helm(helm_stand_in()).engine("external")),
        |r| r.chart("web").repo(&down),
    );
    assert!(
        error.contains(&format!(
            "helm release web: chart web from {down}: repository {down}/index.yaml unreachable"
        )),
        "{error}"
    );
}

/// A `helm` that logs each `helm template` command line in `log`, then runs the stand-in.
fn counting_helm(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("helm-runs.log");
    let script = dir.join("bin/helm");
    write(
        &script,
        &format!(
            "#!/bin/sh\n[ \"$1\" = template ] && echo \"$*\" >> {}\nexec {} \"$@\"\n",
            log.display(),
            helm_stand_in().display()
        ),
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

fn runs(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

#[test]
fn an_unchanged_release_is_never_rendered_again() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let snapshot = dir.path().join("cluster.json");
    write(&snapshot, &list(live("shop")));
    let (helm, log) = counting_helm(dir.path());
    let url = format!("file://{}", repo.dir.display());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.url(&url).cache_dir(dir.path().join("gitops")))
        .render(|r| r.helm(&helm))
        .environment("production", |e| {
            e.renderer("helm")
                .engine("external")
                .snapshot(&snapshot)
                .compare_configmaps("false")
                .release("shop", |r| {
                    r.namespace("shop")
                        .chart("charts/shop")
                        .values_files(&["charts/shop/values-production.yaml"])
                })
        })
        .write();
    let cached = |out: &Output| {
        assert_eq!(out.code, 1, "{}", out.stderr);
        out.json()["environments"][0]["releases"][0]["cached"]
            .as_bool()
            .unwrap()
    };

    assert!(!cached(&once(dir.path(), &cfg, &[])));
    assert_eq!(runs(&log), 1);
    // A new process, the same commit: from the cache on disk, helm is not run.
    assert!(cached(&once(dir.path(), &cfg, &[])));
    assert_eq!(runs(&log), 1);
    // A commit elsewhere in the repository changes nothing the release reads.
    repo.commit(&[("README.md", "infra\n")], "docs");
    assert!(cached(&once(dir.path(), &cfg, &[])));
    // The values file changes: rendered once more.
    repo.commit(
        &[(
            "charts/shop/values-production.yaml",
            &format!("image:\n  digest: {D1}\nworker:\n  enabled: true\nreplicaCount: 2\n"),
        )],
        "production: two replicas",
    );
    assert!(!cached(&once(dir.path(), &cfg, &[])));
    assert_eq!(runs(&log), 2);
    // So does the chart.
    repo.commit(
        &[(
            "charts/shop/templates/extra.yaml",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shop\n",
        )],
        "chart: a service account",
    );
    assert!(!cached(&once(dir.path(), &cfg, &[])));
    assert_eq!(runs(&log), 3);
}

#[test]
fn without_helm_a_release_is_an_error_naming_it_and_the_rest_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("gitops"), &gitops_files());
    write(
        &dir.path().join("gitops/apps/api/deploy.yaml"),
        &support::fixtures::deployment_yaml("api", "plain", &format!("{API}@{D1}")),
    );
    let snapshot = empty_snapshot(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.renderer("helm")
                .snapshot(&snapshot)
                .paths(&["apps/api"])
                .release("shop", |r| r.namespace("shop").chart("charts/shop").engine("external"))
        })
        .environment("staging", |e| e.paths(&["apps/api"]).snapshot(&snapshot))
        .write();
    // A PATH without helm (git is not needed: the GitOps tree is a directory).
    let out = once(dir.path(), &cfg, &[("PATH", "/nonexistent")]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    let error = report["environments"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(
            "helm release shop: engine = \"external\" renders it with helm, which is not installed: \"helm\" not found"
        ),
        "{error}"
    );
    assert_eq!(
        report["environments"][0]["declared_workloads"], 1,
        "the environment's path is still read"
    );
    assert_eq!(report["environments"][1]["status"], "ok");
    let missing: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["environment"].as_str().unwrap(), f["type"].as_str().unwrap()))
        .collect();
    assert_eq!(missing, ["production missing", "staging missing"]);
}

#[test]
fn dependencies_missing_from_charts_are_fetched_as_chart_lock_pins_them() {
    let dir = tempfile::tempdir().unwrap();
    let served = packaged(dir.path());
    let server = ChartRepo::start(served.parent().unwrap(), None);
    let gitops = dir.path().join("gitops");
    let umbrella = format!(
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n  - name: web\n    version: 1.x\n    repository: {repo}\n  - name: common\n    version: 0.1.0\n    repository: file://../common\n",
        repo = server.url("charts")
    );
    let lock = format!(
        "dependencies:\n  - name: web\n    repository: {}\n    version: 1.0.0\n  - name: common\n    repository: file://../common\n    version: 0.1.0\ndigest: sha256:0\ngenerated: \"2026-01-01T00:00:00Z\"\n",
        server.url("charts")
    );
    write_files(
        &gitops,
        &[
            ("charts/umbrella/Chart.yaml".into(), umbrella),
            ("charts/umbrella/Chart.lock".into(), lock),
            ("charts/umbrella/values.yaml".into(), format!("web:\n  image:\n    digest: {D1}\n")),
            ("charts/common/Chart.yaml".into(), "apiVersion: v2\nname: common\nversion: 0.1.0\n".into()),
            (
                "charts/common/templates/settings.yaml".into(),
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-common\ndata:\n  from: common\n".into(),
            ),
        ],
    );
    let snapshot = empty_snapshot(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(helm_stand_in()))
        .environment("production", |e| {
            e.renderer("helm")
                .engine("external")
                .snapshot(&snapshot)
                .release("shop", |r| r.namespace("shop").chart("charts/umbrella"))
        })
        .write();

    let out = declared(dir.path(), &cfg, "production");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        workloads(&out.json()),
        vec![row(
            "Deployment shop/shop-api",
            &format!("{API}@{D1}"),
            "shop",
            "umbrella/charts/web/templates/deployment.yaml"
        )],
        "the subchart fetched, the umbrella's values given to it"
    );
    let asked = server.asked();
    assert!(
        asked.contains(&"charts/web-1.0.0.tgz".to_string()) && !asked.iter().any(|p| p.contains("web-1.2.0")),
        "Chart.lock's version, not the range's highest: {asked:?}"
    );
    assert!(
        !gitops.join("charts/umbrella/charts").exists(),
        "the checkout is left as it is"
    );
}

#[test]
fn the_built_in_engine_declares_what_helm_template_does() {
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("gitops"), &gitops_files());
    let snapshot = empty_snapshot(dir.path());
    let env = |e: support::config::Environment| {
        e.renderer("helm").snapshot(&snapshot).release("shop", |r| {
            r.namespace("shop")
                .chart("charts/shop")
                .values_files(&["charts/shop/values-production.yaml"])
                .values("{ replicaCount = 3 }")
        })
    };
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(helm_stand_in()))
        .environment("builtin", env)
        .environment("external", |e| env(e).engine("external"))
        .write();
    let builtin = declared(dir.path(), &cfg, "builtin");
    let external = declared(dir.path(), &cfg, "external");
    assert_eq!(
        (builtin.code, external.code),
        (0, 0),
        "{}{}",
        builtin.stderr,
        external.stderr
    );
    let (builtin, external) = (builtin.json(), external.json());
    assert_eq!(builtin["releases"][0]["renderer"], "builtin");
    assert_eq!(external["releases"][0]["renderer"], "external");
    assert_eq!(workloads(&builtin), workloads(&external));
    assert_eq!(workloads(&builtin).len(), 2);
}

/// An overlay whose base inflates the shop chart with kustomize's `helmCharts:` (values inline,
/// hooks skipped), for `--once`; and one that names no release, which only the external
/// kustomize renders (Helm names the release after the clock).
fn helm_charts_overlays(gitops: &Path) {
    for (path, text) in chart("shop", "1.4.0") {
        write(&gitops.join("apps/shop/base/charts/shop").join(path), &text);
    }
    write(
        &gitops.join("apps/shop/base/kustomization.yaml"),
        &format!(
            "helmCharts:\n- name: shop\n  releaseName: shop\n  namespace: shop\n  skipHooks: true\n  valuesInline:\n    image:\n      digest: {D1}\n    worker:\n      enabled: true\n"
        ),
    );
    write(
        &gitops.join("apps/shop/production/kustomization.yaml"),
        "resources:\n- ../base\nnamespace: shop\n",
    );
    for (path, text) in chart("shop", "1.4.0") {
        write(&gitops.join("apps/unnamed/charts/shop").join(path), &text);
    }
    write(
        &gitops.join("apps/unnamed/kustomization.yaml"),
        "helmCharts:\n- name: shop\n  namespace: shop\n",
    );
}

#[test]
fn an_overlay_with_helm_charts_renders_with_the_built_in_engines_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    helm_charts_overlays(&dir.path().join("gitops"));
    let kube = FakeKube::start(live("shop"));
    let kc = kube.kubeconfig(dir.path(), "prod");
    let snapshot = empty_snapshot(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(helm_stand_in()))
        .environment("production", |e| {
            e.paths(&["apps/shop/production"])
                .kubeconfig(&kc)
                .namespaces(&["shop"])
                .compare_configmaps("false")
        })
        .environment("unnamed", |e| e.paths(&["apps/unnamed"]).snapshot(&snapshot))
        .write();

    let out = declared(dir.path(), &cfg, "production");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let production = out.json();
    assert_eq!(
        production["paths"][0]["renderer"], "builtin",
        "kustomize and Helm both built in: {production}"
    );
    assert_eq!(
        workloads(&production)
            .into_iter()
            .map(|(w, image, _, _)| (w, image))
            .collect::<Vec<_>>(),
        vec![
            ("Deployment shop/shop-api".to_string(), format!("{API}@{D1}")),
            ("Deployment shop/shop-worker".to_string(), format!("{API}-worker@{D1}")),
        ],
        "inline values over the chart's; no hook Job (skipHooks)"
    );

    let out = once(dir.path(), &cfg, &[]);
    assert_eq!(out.code, 1, "drift: {}", out.stderr);
    let report = out.json();
    let production: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["environment"] == "production")
        .collect();
    assert_eq!(
        findings(&json!({"findings": production})),
        vec![finding("spec-drift", "shop/shop-api", "api")],
        "the worker runs as the chart declares it"
    );
    let drift = production[0];
    assert_eq!(drift["declared"], format!("{API}@{D1}"));
    assert_eq!(drift["source"], "apps/shop/production");
    assert_eq!(drift["live_image"], format!("{API}:hotfix-1"));

    // No release name: the external kustomize (with the `helm` stand-in) renders it, and says why.
    let out = declared(dir.path(), &cfg, "unnamed");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let unnamed = out.json();
    assert_eq!(
        unnamed["paths"][0]["renderer"], "external: uses helmCharts without releaseName",
        "{unnamed}"
    );
    let names: Vec<String> = workloads(&unnamed).into_iter().map(|(w, ..)| w).collect();
    let api = names
        .iter()
        .find(|n| n.starts_with("Deployment "))
        .expect("the Deployment");
    let release = api
        .strip_prefix("Deployment default/shop-")
        .and_then(|n| n.strip_suffix("-api"))
        .unwrap_or_default();
    assert!(
        !release.is_empty() && release.bytes().all(|b| b.is_ascii_digit()),
        "Helm's generated release name (`<chart>-<unix time>`): {names:?}"
    );
}

/// Every reason the built-in Helm engine gives for leaving a chart to Helm (the template that
/// triggers it, the reason): each function Helm has and the engine lacks
/// (`helm::template::funcs::HELM_ONLY`, so a new one is covered here without a change), and
/// the implemented functions' unsupported corners.
fn unsupported_reasons() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = helm::template::funcs::HELM_ONLY
        .iter()
        .map(|name| (format!("{{{{ {name} }}}}"), (*name).to_string()))
        .collect();
    for (t, r) in [
        ("{{ dateInZone \"2006\" now \"Europe/Paris\" }}", "dateInZone"),
        ("{{ htmlDateInZone now \"America/New_York\" }}", "htmlDateInZone"),
        ("{{ genPrivateKey \"dsa\" }}", "genPrivateKey \"dsa\""),
        ("{{ genPrivateKey \"ed25519\" }}", "genPrivateKey \"ed25519\""),
        ("{{ tpl .Values.loop . }}", "tpl nested beyond 10000 levels"),
    ] {
        out.push((t.to_string(), r.to_string()));
    }
    out
}

/// A chart whose ConfigMap runs the template of reason number `.Values.use`.
fn uses_chart(dir: &Path, reasons: &[(String, String)]) {
    let defines: String = reasons
        .iter()
        .enumerate()
        .map(|(i, (t, _))| format!("{{{{- define \"call.{i}\" -}}}}{t}{{{{- end -}}}}\n"))
        .collect();
    write(&dir.join("Chart.yaml"), "apiVersion: v2\nname: uses\nversion: 1.0.0\n");
    write(&dir.join("values.yaml"), "use: 0\nloop: \"{{ tpl .Values.loop . }}\"\n");
    write(&dir.join("templates/_calls.tpl"), &defines);
    write(
        &dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  x: {{ include (printf \"call.%v\" .Values.use) . | quote }}\n",
    );
}

#[test]
fn every_unsupported_reason_is_named_to_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let reasons = unsupported_reasons();
    uses_chart(&dir.path().join("gitops/charts/uses"), &reasons);
    let snapshot = empty_snapshot(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(dir.path().join("no/helm")))
        .environment("production", |e| {
            let mut e = e.renderer("helm").snapshot(&snapshot);
            for i in 0..reasons.len() {
                e = e.release(&format!("r{i}"), |r| {
                    r.namespace("shop")
                        .chart("charts/uses")
                        .values(&format!("{{ use = {i} }}"))
                });
            }
            e
        })
        .write();

    // Without helm, each release is an error that says what the engine leaves to helm.
    let out = once(dir.path(), &cfg, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let error = out.json()["environments"][0]["error"].as_str().unwrap().to_string();
    let missing: Vec<&str> = reasons
        .iter()
        .enumerate()
        .filter(|(i, (_, reason))| {
            !error.contains(&format!(
                "helm release r{i}: the built-in Helm engine leaves this release to helm (uses {reason}), which is not installed"
            ))
        })
        .map(|(_, (_, reason))| reason.as_str())
        .collect();
    assert!(missing.is_empty(), "not named: {missing:?} in {error}");
}

/// The daemon counts a release the built-in engine left to helm under its reason, as
/// Prometheus scrapes it, beside one it rendered itself.
#[test]
fn renders_total_counts_a_release_left_to_helm_under_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A call real Helm runs (toToml is Helm's, not the built-in engine's).
    let name = "toToml";
    assert!(helm::template::funcs::HELM_ONLY.contains(&name));
    let reasons = vec![("{{ toToml (dict \"a\" 1) }}".to_string(), name.to_string())];
    uses_chart(&dir.path().join("gitops/charts/uses"), &reasons);
    write_files(&dir.path().join("gitops"), &gitops_files());
    let snapshot = empty_snapshot(dir.path());
    let cfg = ConfigBuilder::new(dir.path())
        .schedule(|s| s.run_on_start(true).cron(crate::NEVER))
        .gitops(|g| g.path("gitops"))
        .render(|r| r.helm(helm_stand_in()))
        .environment("production", |e| {
            e.renderer("helm")
                .snapshot(&snapshot)
                .release("uses", |r| r.namespace("shop").chart("charts/uses"))
                .release("shop", |r| r.namespace("shop").chart("charts/shop"))
        });
    let d = support::daemon::Daemon::start(dir.path(), &cfg, &[]);
    support::net::wait_until(30, "the first audit", || {
        let (code, body) = d.get("/readyz");
        (code == 200 && body.contains("completed")).then_some(())
    });
    let external = format!("driftwatch_renders_total{{engine=\"external\",reason=\"uses {name}\",renderer=\"helm\"}}");
    let (_, metrics) = d.get("/metrics");
    let renders: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("driftwatch_renders_total"))
        .collect();
    assert_eq!(d.metric(&external), Some(1.0), "{external} in {renders:#?}");
    let builtin = "driftwatch_renders_total{engine=\"builtin\",reason=\"\",renderer=\"helm\"}";
    assert_eq!(d.metric(builtin), Some(1.0), "{builtin}");
}

/// With helm there, the reason is the renderer's, for a release, a `helmCharts:` chart and the
/// promotion lineage alike.
#[test]
fn an_unsupported_release_says_why_helm_rendered_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("infra"));
    let toml = vec![("{{ toToml .Values.table }}".to_string(), "toToml".to_string())];
    let tree = tempfile::tempdir().unwrap();
    uses_chart(&tree.path().join("charts/uses"), &toml);
    uses_chart(&tree.path().join("apps/kust/charts/uses"), &toml);
    write(
        &tree.path().join("apps/kust/kustomization.yaml"),
        "helmCharts:\n- name: uses\n  releaseName: kust\n  valuesInline: {table: {a: 1}}\n",
    );
    let files: Vec<(String, String)> = walk(tree.path());
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let commit = repo.commit(&refs, "a chart using toToml");
    let snapshot = empty_snapshot(dir.path());
    let url = format!("file://{}", repo.dir.display());
    let release = |e: support::config::Environment| {
        e.renderer("helm").snapshot(&snapshot).release("toml", |r| {
            r.namespace("shop").chart("charts/uses").values("{ table = { a = 1 } }")
        })
    };
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.url(&url).cache_dir(dir.path().join("cache")))
        .render(|r| r.helm(helm_stand_in()))
        .environment("staging", release)
        .environment("production", |e| release(e).promoted_from("staging"))
        .environment("kust", |e| e.paths(&["apps/kust"]).snapshot(&snapshot))
        .write();

    let out = declared(dir.path(), &cfg, "staging");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let staging = out.json();
    assert_eq!(staging["releases"][0]["renderer"], "external: uses toToml", "{staging}");

    let out = declared(dir.path(), &cfg, "kust");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.json()["paths"][0]["renderer"],
        "external: uses toToml in helmCharts chart apps/kust/charts/uses"
    );

    let out = once(dir.path(), &cfg, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let error = out.json()["environments"][1]["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(&format!(
            "promotion lineage from staging: helm release toml at commit {commit}: the built-in Helm engine leaves it to helm (uses toToml), so its history cannot be rendered"
        )),
        "{error}"
    );
}

/// Every file below `dir`: (relative path, text).
fn walk(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().to_string();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out
}

/// `declared --format json` for `env` with extra environment variables.
fn declared_with(dir: &Path, cfg: &Path, env: &[(&str, &str)]) -> Output {
    driftwatch(
        dir,
        &[
            "declared",
            "--env",
            "production",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        env,
    )
}

#[test]
fn a_helm_repository_over_https_with_a_private_ca_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let served = packaged(dir.path());
    let ca = support::charts::PrivateCa::new(&dir.path().join("tls"));
    let server = support::charts::HttpsChartRepo::start(served.parent().unwrap(), &ca, Some(("ci", PASSWORD)));
    let repo = server.url("charts");
    let password_file = dir.path().join("charts-password");
    write(&password_file, &format!("{PASSWORD}\n"));
    let snapshot = empty_snapshot(dir.path());
    std::fs::create_dir_all(dir.path().join("gitops")).unwrap();
    let config = |ca_file: Option<&Path>| {
        ConfigBuilder::new(dir.path())
            .gitops(|g| g.path("gitops"))
            .helm_repository(|h| {
                let h = h.url(&repo).username("ci").password_file(&password_file);
                match ca_file {
                    Some(f) => h.ca_file(f),
                    None => h,
                }
            })
            .environment("production", |e| {
                e.renderer("helm")
                    .snapshot(&snapshot)
                    .release("web", |r| r.namespace("web").chart("web").repo(&repo).version("1.x"))
            })
            .write()
    };
    let debug = [("RUST_LOG", "debug")];

    let out = declared_with(dir.path(), &config(Some(&ca.ca)), &debug);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let digest = format!(
        "sha256:{}",
        sha256_hex(&std::fs::read(served.join("web-1.2.0.tgz")).unwrap())
    );
    assert_eq!(
        (&report["releases"][0]["version"], &report["releases"][0]["digest"]),
        (&json!("1.2.0"), &json!(digest)),
        "fetched over TLS from the private CA's server, verified against the index"
    );
    assert_eq!(workloads(&report)[0].1, format!("{API}@{D3}"));
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains(PASSWORD),
        "the password from password_file never shows"
    );

    // Without the CA, the server's certificate is not trusted: the release's error names the
    // chart and the repository, and still no password.
    let out = declared_with(dir.path(), &config(None), &debug);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "helm release web: chart web from {repo}: repository {repo}/index.yaml unreachable"
        )),
        "{}",
        out.stderr
    );
    assert!(!format!("{}{}", out.stdout, out.stderr).contains(PASSWORD));
}

#[test]
fn an_unreachable_oci_registry_names_the_chart_and_the_rest_is_audited() {
    let host = format!("127.0.0.1:{}", free_port());
    let reference = format!("oci://{host}/charts/web");
    let error = one_chart_source_down(
        |c| c.registry(|r| r.host(&host).insecure(true).max_attempts(1)),
        |r| r.chart(&reference).version("0.3.0"),
    );
    assert!(
        error.contains(&format!("helm release web: chart {reference}")) && error.contains(&host),
        "names the chart and the registry: {error}"
    );
}

/// A chart directory with a vendored subchart (`charts/shop/charts/metrics`) and a `file://`
/// dependency outside it (`charts/common`): each renders a Deployment whose image is `digest`.
fn chart_with_dependencies(shop: &str, metrics: &str, common: &str) -> Vec<(String, String)> {
    let deployment = |name: &str, image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: \"{image}\"\n"
        )
    };
    vec![
        (
            "charts/shop/Chart.yaml".into(),
            "apiVersion: v2\nname: shop\nversion: 1.4.0\ndependencies:\n  - name: metrics\n    version: 0.3.0\n  - name: common\n    version: 0.1.0\n    repository: file://../common\n".into(),
        ),
        ("charts/shop/values-production.yaml".into(), "replicaCount: 2\n".into()),
        ("charts/shop/templates/api.yaml".into(), deployment("api", &format!("{API}@{shop}"))),
        (
            "charts/shop/charts/metrics/Chart.yaml".into(),
            "apiVersion: v2\nname: metrics\nversion: 0.3.0\n".into(),
        ),
        (
            "charts/shop/charts/metrics/templates/metrics.yaml".into(),
            deployment("metrics", &format!("{API}-metrics@{metrics}")),
        ),
        (
            "charts/common/Chart.yaml".into(),
            "apiVersion: v2\nname: common\nversion: 0.1.0\n".into(),
        ),
        (
            "charts/common/templates/common.yaml".into(),
            deployment("common", &format!("{API}-common@{common}")),
        ),
    ]
}

/// The built-in engine through the render cache, across processes: a warm release of a chart
/// directory comes from the cache (its key known from the tree's identities, the chart not
/// read), and a change to any file the render read is rendered again, with its new image:
/// the values file, a vendored subchart inside the chart's directory, and a `file://`
/// dependency outside it (not in the key: its identity is checked from the cache entry).
#[test]
fn a_built_in_release_is_rendered_again_only_when_a_file_it_reads_changes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&dir.path().join("infra"));
    let commit = |files: Vec<(String, String)>, message: &str| {
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        repo.commit(&refs, message);
    };
    commit(chart_with_dependencies(D1, D1, D1), "the shop chart");
    let snapshot = empty_snapshot(dir.path());
    let url = format!("file://{}", repo.dir.display());
    let cfg = ConfigBuilder::new(dir.path())
        .gitops(|g| g.url(&url).cache_dir(dir.path().join("gitops")))
        .environment("production", |e| {
            e.renderer("helm").snapshot(&snapshot).release("shop", |r| {
                r.namespace("shop")
                    .chart("charts/shop")
                    .values_files(&["charts/shop/values-production.yaml"])
            })
        })
        .write();
    // (cached, images of shop-api, shop-common, shop-metrics) of one `declared` run.
    let run = || {
        let out = declared(dir.path(), &cfg, "production");
        assert_eq!(out.code, 0, "{}", out.stderr);
        let json = out.json();
        assert_eq!(json["releases"][0]["renderer"], "builtin");
        let mut images: Vec<(String, String)> = workloads(&json).into_iter().map(|w| (w.0, w.1)).collect();
        images.sort();
        let digest = |i: usize| images[i].1.rsplit('@').next().unwrap().to_string();
        (
            json["releases"][0]["cached"].as_bool().unwrap(),
            digest(0),
            digest(1),
            digest(2),
        )
    };
    let (d1, d2, d3) = (D1.to_string(), D2.to_string(), D3.to_string());

    assert_eq!(run(), (false, d1.clone(), d1.clone(), d1.clone()), "cold");
    assert_eq!(
        run(),
        (true, d1.clone(), d1.clone(), d1.clone()),
        "warm: a new process, from disk"
    );
    commit(chart_with_dependencies(D1, D1, D2), "common: a new image");
    assert_eq!(
        run(),
        (false, d1.clone(), d2.clone(), d1.clone()),
        "the file:// dependency changed"
    );
    assert_eq!(run(), (true, d1.clone(), d2.clone(), d1.clone()));
    commit(chart_with_dependencies(D1, D3, D2), "metrics: a new image");
    assert_eq!(
        run(),
        (false, d1.clone(), d2.clone(), d3.clone()),
        "the vendored subchart changed"
    );
    commit(chart_with_dependencies(D2, D3, D2), "shop: a new image");
    assert_eq!(
        run(),
        (false, d2.clone(), d2.clone(), d3.clone()),
        "the chart's own template changed"
    );
    repo.commit(&[("README.md", "infra\n")], "docs");
    assert_eq!(
        run(),
        (true, d2.clone(), d2, d3),
        "a commit elsewhere changes nothing it reads"
    );
}
