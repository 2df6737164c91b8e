//! The built-in renderer as the default engine and the render cache, through the real binary:
//! a commit whose overlays did not change renders nothing, one changed overlay renders once, a
//! changed base re-renders every overlay using it, corrupt entries are discarded, concurrent runs
//! share one cache, external renders are cached too, and an overlay the built-in renderer leaves
//! to kustomize, or fails on, says why (or, without kustomize, is an error naming the feature or
//! the failure while the rest of the environment is still audited).

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, D3, deployment, list, pod};
use support::git::GitRepo;
use support::run::{Output, driftwatch, finding, findings};
use support::write;

const API: &str = "registry.example.com/shop/api";
const WEB: &str = "registry.example.com/shop/web";

/// A base per app (a Deployment at a tag, a generated ConfigMap it mounts) and a production
/// overlay pinning a digest, patching the container and merging into the ConfigMap.
fn app(name: &str, image: &str, digest: &str, level: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("apps/{name}/base/kustomization.yaml"),
            format!(
                "resources:\n  - deployment.yaml\nconfigMapGenerator:\n  - name: {name}-settings\n    literals: [LEVEL=info]\n"
            ),
        ),
        (
            format!("apps/{name}/base/deployment.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: {image}:latest\n          envFrom:\n            - configMapRef:\n                name: {name}-settings\n"
            ),
        ),
        (
            format!("apps/{name}/overlays/production/kustomization.yaml"),
            format!(
                "namespace: shop\nresources:\n  - ../../base\nimages:\n  - name: {image}\n    digest: {digest}\npatches:\n  - path: resources.yaml\nconfigMapGenerator:\n  - name: {name}-settings\n    behavior: merge\n    literals: [LEVEL={level}]\n"
            ),
        ),
        (
            format!("apps/{name}/overlays/production/resources.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {name}\n          resources:\n            limits:\n              memory: 256Mi\n"
            ),
        ),
    ]
}

struct Fleet {
    _dir: tempfile::TempDir,
    repo: GitRepo,
    cfg: PathBuf,
    cache: PathBuf,
}

impl Fleet {
    /// The repository (served over file://), a snapshot where api runs its declared digest and
    /// web a different one, and a config with its render cache in the test's directory.
    fn new(configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = GitRepo::init(&dir.path().join("infra"));
        let files: Vec<(String, String)> = [app("api", API, D1, "warn"), app("web", WEB, D2, "warn")].concat();
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        repo.commit(&refs, "two apps");
        let (api, api_rs) = deployment("shop", "api", &[("api", &format!("{API}@{D1}"))], 1);
        let (web, web_rs) = deployment("shop", "web", &[("web", &format!("{WEB}@{D2}"))], 1);
        let api_pod = pod(&api_rs, "a", &[("api", &format!("{API}@{D1}"))]);
        let web_pod = pod(&web_rs, "w", &[("web", &format!("{WEB}@{D3}"))]);
        let snapshot = dir.path().join("cluster.json");
        write(&snapshot, &list(vec![api, api_rs, web, web_rs, api_pod, web_pod]));
        let cache = dir.path().join("render-cache");
        let url = format!("file://{}", repo.dir.display());
        let builder = ConfigBuilder::new(dir.path())
            .gitops(|g| g.url(&url).cache_dir(dir.path().join("gitops")))
            .render(|r| r.cache_dir(&cache))
            .environment("production", |e| {
                // The ConfigMaps are rendered (and their references rewritten) but not compared:
                // this file is about rendering.
                e.paths(&["apps/*/overlays/production"])
                    .snapshot(&snapshot)
                    .compare_configmaps("false")
            });
        let cfg = configure(builder).write();
        Self {
            _dir: dir,
            repo,
            cfg,
            cache,
        }
    }

    fn audit(&self) -> Output {
        let dir = self.cfg.parent().unwrap();
        driftwatch(
            dir,
            &["--once", "--format", "json", "--config", self.cfg.to_str().unwrap()],
            &[],
        )
    }

    /// `--once` that must find exactly web's digest drift.
    fn audit_ok(&self) -> Value {
        let out = self.audit();
        assert_eq!(out.code, 1, "{}", out.stderr);
        let report = out.json();
        assert_eq!(
            findings(&report),
            vec![finding("digest-drift", "shop/web", "web")],
            "{}",
            out.stderr
        );
        report
    }
}

/// (path, renderer, cached) per rendered path of the first environment.
fn paths(report: &Value) -> Vec<(String, String, bool)> {
    report["environments"][0]["paths"]
        .as_array()
        .expect("paths listed")
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_string(),
                p["renderer"].as_str().unwrap().to_string(),
                p["cached"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn rendered(report: &Value) -> Vec<String> {
    paths(report)
        .into_iter()
        .filter(|(_, _, cached)| !cached)
        .map(|(p, _, _)| p)
        .collect()
}

const API_OVERLAY: &str = "apps/api/overlays/production";
const WEB_OVERLAY: &str = "apps/web/overlays/production";

#[test]
fn an_unchanged_commit_renders_nothing_and_one_changed_overlay_renders_once() {
    let fleet = Fleet::new(|b| b);
    let first = fleet.audit_ok();
    assert_eq!(
        paths(&first),
        vec![
            (API_OVERLAY.to_string(), "builtin".to_string(), false),
            (WEB_OVERLAY.to_string(), "builtin".to_string(), false),
        ]
    );

    // Same commit, a new process: everything comes from the cache on disk.
    let second = fleet.audit_ok();
    assert_eq!(rendered(&second), Vec::<String>::new());
    assert_eq!(second["findings"], first["findings"], "the cached audit finds the same");

    // Only api's patch changes: only api renders.
    fleet.repo.commit(
        &[(
            "apps/api/overlays/production/resources.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          resources:\n            limits:\n              memory: 512Mi\n",
        )],
        "api: more memory",
    );
    assert_eq!(rendered(&fleet.audit_ok()), vec![API_OVERLAY]);

    // A commit that touches neither app renders nothing.
    fleet.repo.commit(&[("README.md", "infra\n")], "docs");
    assert_eq!(rendered(&fleet.audit_ok()), Vec::<String>::new());
}

#[test]
fn a_changed_base_re_renders_every_overlay_using_it() {
    let fleet = Fleet::new(|b| b);
    fleet.audit_ok();
    fleet.repo.commit(
        &[(
            "apps/web/base/kustomization.yaml",
            "resources:\n  - deployment.yaml\nconfigMapGenerator:\n  - name: web-settings\n    literals: [LEVEL=info, COLOR=blue]\n",
        )],
        "web: a new setting",
    );
    assert_eq!(rendered(&fleet.audit_ok()), vec![WEB_OVERLAY]);
}

#[test]
fn a_corrupt_cache_entry_is_discarded_and_rendered_again() {
    let fleet = Fleet::new(|b| b);
    fleet.audit_ok();
    let entries: Vec<PathBuf> = walkdir::WalkDir::new(&fleet.cache)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| e.into_path())
        .collect();
    assert_eq!(entries.len(), 2, "one entry per overlay");
    std::fs::write(&entries[0], "{\"key\": \"trunc").unwrap();

    let out = fleet.audit();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let name = entries[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        out.stderr.contains(&name) && out.stderr.contains("corrupt"),
        "the warning names the discarded entry: {}",
        out.stderr
    );
    let report = out.json();
    assert_eq!(findings(&report), vec![finding("digest-drift", "shop/web", "web")]);
    assert_eq!(
        rendered(&report).len(),
        1,
        "only the discarded entry was rendered again"
    );
    assert_eq!(rendered(&fleet.audit_ok()), Vec::<String>::new(), "and stored again");
}

#[test]
fn concurrent_runs_share_one_cache() {
    let fleet = Fleet::new(|b| b);
    // The gitops clone is shared too; its lock serialises the syncs, the render cache is
    // written by both at once.
    let dir = fleet.cfg.parent().unwrap();
    let args = ["--once", "--format", "json", "--config", fleet.cfg.to_str().unwrap()];
    let children: Vec<_> = (0..3)
        .map(|_| {
            support::run::command(dir, &args, &[])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start driftwatch")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(findings(&report), vec![finding("digest-drift", "shop/web", "web")]);
    }
    let after = fleet.audit();
    assert!(!after.stderr.contains("corrupt"), "{}", after.stderr);
    assert_eq!(rendered(&after.json()), Vec::<String>::new());
}

#[test]
fn the_cache_can_be_turned_off() {
    let fleet = Fleet::new(|b| b.render(|r| r.cache(false)));
    fleet.audit_ok();
    assert_eq!(rendered(&fleet.audit_ok()).len(), 2);
    assert!(!fleet.cache.exists(), "nothing written");
}

/// A `kustomize` that logs each call, then runs `kubectl kustomize`.
fn counting_kustomize(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("kustomize-calls.log");
    let script = dir.join("kustomize");
    write(
        &script,
        &format!(
            "#!/bin/sh\necho \"$1\" >> {log}\nif [ \"$1\" = build ]; then shift; exec kubectl kustomize \"$@\"; fi\nexec kubectl version --client\n",
            log = log.display()
        ),
    );
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    (script, log)
}

fn builds(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == "build")
        .count()
}

#[test]
fn external_renders_are_cached_too() {
    let tools = tempfile::tempdir().unwrap();
    let (kustomize, log) = counting_kustomize(tools.path());
    let fleet = Fleet::new(|b| b.render(|r| r.engine("external").kustomize(kustomize.to_str().unwrap())));
    let first = fleet.audit_ok();
    assert_eq!(
        paths(&first)
            .iter()
            .map(|(_, r, c)| (r.as_str(), *c))
            .collect::<Vec<_>>(),
        vec![("external", false), ("external", false)]
    );
    assert_eq!(builds(&log), 2);
    assert_eq!(rendered(&fleet.audit_ok()), Vec::<String>::new());
    assert_eq!(builds(&log), 2, "the warm run did not start kustomize");

    fleet.repo.commit(
        &[("apps/web/overlays/production/extra.txt", "x\n")],
        "a file in web's overlay",
    );
    assert_eq!(
        rendered(&fleet.audit_ok()),
        vec![WEB_OVERLAY],
        "anything in an overlay's tree counts"
    );
    assert_eq!(builds(&log), 3);
}

/// api's overlay uses `vars` (naming its Deployment): the built-in renderer leaves it to
/// kustomize and says why.
fn with_vars(fleet: &Fleet) {
    fleet.repo.commit(
        &[(
            "apps/api/overlays/production/kustomization.yaml",
            &format!(
                "namespace: shop\nresources:\n  - ../../base\nimages:\n  - name: {API}\n    digest: {D1}\nvars:\n  - name: API_NAME\n    objref: {{kind: Deployment, name: api, apiVersion: apps/v1}}\n"
            ),
        )],
        "api: vars",
    );
}

#[test]
fn an_overlay_the_builtin_renderer_leaves_goes_to_kustomize_with_the_reason() {
    let fleet = Fleet::new(|b| b.render(|r| r.kustomize("kubectl")));
    with_vars(&fleet);
    let report = fleet.audit_ok();
    assert_eq!(
        paths(&report),
        vec![
            (API_OVERLAY.to_string(), "external: uses vars".to_string(), false),
            (WEB_OVERLAY.to_string(), "builtin".to_string(), false),
        ]
    );
    let warm = fleet.audit_ok();
    assert_eq!(
        paths(&warm)[0],
        (API_OVERLAY.to_string(), "external: uses vars".to_string(), true),
        "the external render is cached, the reason kept"
    );

    let out = driftwatch(
        fleet.cfg.parent().unwrap(),
        &[
            "declared",
            "--env",
            "production",
            "--format",
            "json",
            "--config",
            fleet.cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let declared = out.json();
    assert_eq!(declared["paths"][0]["renderer"], "external: uses vars");
    assert_eq!(declared["paths"][1]["renderer"], "builtin");

    let out = driftwatch(
        fleet.cfg.parent().unwrap(),
        &[
            "declared",
            "--env",
            "production",
            "--config",
            fleet.cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.stdout
            .contains(&format!("{API_OVERLAY}  external: uses vars (cached)")),
        "the text listing says how each path was rendered:\n{}",
        out.stdout
    );
}

#[test]
fn without_kustomize_such_an_overlay_is_an_error_naming_the_feature_and_the_rest_is_audited() {
    let fleet = Fleet::new(|b| b.render(|r| r.kustomize("/nonexistent/bin/kustomize")));
    with_vars(&fleet);
    let out = fleet.audit();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    let error = report["environments"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(API_OVERLAY) && error.contains("uses vars") && error.contains("not installed"),
        "{error}"
    );
    assert_eq!(
        findings(&report),
        vec![finding("digest-drift", "shop/web", "web")],
        "web is still rendered and compared"
    );
}

/// api's base Deployment saved with a UTF-8 byte order mark (as some Windows editors write it):
/// kustomize reads the file, the built-in renderer's YAML reader refuses it.
fn with_byte_order_mark(fleet: &Fleet) {
    let (path, text) = app("api", API, D1, "warn").swap_remove(1);
    assert!(path.ends_with("base/deployment.yaml"));
    fleet.repo.commit(&[(&path, &format!("\u{feff}{text}"))], "api: a BOM");
}

/// An overlay the built-in renderer fails on is not an error when kustomize builds it: it goes
/// to kustomize, and the report says the built-in renderer failed and why.
#[test]
fn an_overlay_the_builtin_renderer_fails_on_goes_to_kustomize_with_the_reason() {
    let fleet = Fleet::new(|b| b.render(|r| r.kustomize("kubectl")));
    with_byte_order_mark(&fleet);
    let report = fleet.audit_ok();
    let paths = paths(&report);
    let (path, renderer, cached) = &paths[0];
    assert_eq!((path.as_str(), *cached), (API_OVERLAY, false));
    assert!(
        renderer.starts_with("external: built-in renderer failed: apps/api/base/deployment.yaml: "),
        "{renderer}"
    );
    assert_eq!(paths[1], (WEB_OVERLAY.to_string(), "builtin".to_string(), false));
    assert_eq!(
        report["environments"][0]["declared_workloads"], 2,
        "api is declared from kustomize's output"
    );
    let warm = fleet.audit_ok();
    assert_eq!(
        (
            &warm["environments"][0]["paths"][0]["renderer"],
            &warm["environments"][0]["paths"][0]["cached"]
        ),
        (&Value::String(renderer.clone()), &Value::Bool(true)),
        "the external render is cached, the reason kept"
    );
}

/// Without kustomize, the overlay the built-in renderer fails on is an error with the built-in
/// renderer's reason; with kustomize failing too, kustomize's error is the overlay's.
#[test]
fn an_overlay_both_fail_on_is_an_error_with_the_judges_reason() {
    let fleet = Fleet::new(|b| b.render(|r| r.kustomize("/nonexistent/bin/kustomize")));
    with_byte_order_mark(&fleet);
    let out = fleet.audit();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    let error = report["environments"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("kustomize {API_OVERLAY}: apps/api/base/deployment.yaml: "))
            && !error.contains("not installed"),
        "{error}"
    );
    assert_eq!(findings(&report), vec![finding("digest-drift", "shop/web", "web")]);

    let fleet = Fleet::new(|b| b.render(|r| r.kustomize("kubectl")));
    fleet.repo.commit(
        &[(
            "apps/api/overlays/production/kustomization.yaml",
            "resources:\n  - ../../missing\n",
        )],
        "api: a missing base",
    );
    let out = fleet.audit();
    assert_eq!(out.code, 2, "{}", out.stderr);
    let error = out.json()["environments"][0]["error"].as_str().unwrap().to_string();
    assert!(
        error.contains(&format!("kustomize {API_OVERLAY}:"))
            && error.contains("missing")
            && error.contains("evalsymlink failure"),
        "kustomize's own error: {error}"
    );
}

#[test]
fn an_environment_may_choose_the_external_engine() {
    let fleet = Fleet::new(|b| b);
    let dir = fleet.cfg.parent().unwrap();
    let url = format!("file://{}", fleet.repo.dir.display());
    let env = |e: support::config::Environment, path: &str| {
        e.paths(&[path])
            .snapshot(dir.join("cluster.json"))
            .compare_configmaps("false")
    };
    let cfg = ConfigBuilder::at(&dir.join("per-environment.toml"))
        .gitops(|g| g.url(&url).cache_dir(dir.join("gitops")))
        .render(|r| r.cache(false))
        .environment("production", |e| env(e, API_OVERLAY).engine("external"))
        .environment("staging", |e| env(e, WEB_OVERLAY))
        .write();
    let out = driftwatch(
        dir,
        &["--once", "--format", "json", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert_ne!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    let renderer = |i: usize| report["environments"][i]["paths"][0]["renderer"].clone();
    assert_eq!(
        (renderer(0), renderer(1)),
        (Value::from("external"), Value::from("builtin")),
        "engine per environment, [render] engine for the others"
    );
}
