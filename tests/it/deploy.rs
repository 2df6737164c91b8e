//! The shipped Kubernetes manifests (`deploy/`), rendered by the real kustomize: driftwatch's
//! own rules hold for them (images pinned by digest, read-only access), the probes point at
//! the endpoints the daemon serves, and the bundled config is one the daemon accepts.

use std::path::Path;

use serde_json::Value;
use support::config::ConfigBuilder;
use support::run::driftwatch;
use support::write;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rendered() -> Vec<Value> {
    render(&repo().join("deploy"))
}

/// `kubectl kustomize dir`, as documents.
fn render(dir: &Path) -> Vec<Value> {
    let out = std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(dir)
        .output()
        .expect("kubectl must be installed (kubectl kustomize renders deploy/)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let (docs, err) = safe_yaml::documents(&String::from_utf8(out.stdout).unwrap());
    assert!(err.is_none(), "{err:?}");
    docs
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} is rendered"))
}

#[test]
fn driftwatch_declares_its_own_image_pinned_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::at(&dir.path().join("self.toml"))
        .gitops(|g| g.path(repo()))
        .environment("self", |e| e.paths(&["deploy"]).snapshot("none.json"))
        .write();
    let out = driftwatch(
        dir.path(),
        &[
            "declared",
            "--env",
            "self",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let declared = out.json();
    let images: Vec<&str> = declared["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["containers"].as_array().unwrap())
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    assert!(!images.is_empty());
    for image in images {
        let r = driftwatch::core::image::ImageRef::parse(image).unwrap();
        assert!(r.digest().is_some(), "{image} is pinned by digest");
    }
}

#[test]
fn rbac_is_read_only_and_leases_are_the_only_writes() {
    let docs = rendered();
    let reader = find(&docs, "ClusterRole", "driftwatch-reader");
    for rule in reader["rules"].as_array().unwrap() {
        for verb in rule["verbs"].as_array().unwrap() {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str().unwrap()),
                "read-only: {rule}"
            );
        }
    }
    let resources: Vec<&str> = reader["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    for needed in [
        "pods",
        "replicasets",
        "deployments",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
        "rollouts",
    ] {
        assert!(resources.contains(&needed), "{needed} in {resources:?}");
    }
    // Argo Rollouts are workloads: read-only, in their own API group and nothing else of it.
    let argo: Vec<&Value> = reader["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["apiGroups"] == serde_json::json!(["argoproj.io"]))
        .collect();
    assert_eq!(
        argo,
        [
            &serde_json::json!({"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get", "list", "watch"]})
        ]
    );
    assert!(!resources.contains(&"secrets"), "driftwatch never reads Secrets");
    let leases = find(&docs, "Role", "driftwatch-leader-election");
    assert_eq!(leases["rules"][0]["resources"], serde_json::json!(["leases"]));
}

#[test]
fn probes_ports_and_the_bundled_config() {
    let docs = rendered();
    let deployment = find(&docs, "Deployment", "driftwatch");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);

    // The ConfigMap's config is accepted by the daemon (in the Pod, POD_NAME and the secrets
    // come from the downward API and the Secret).
    let config = find(&docs, "ConfigMap", "driftwatch-config")["data"]["config.toml"]
        .as_str()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    write(&path, config);
    let env = [
        ("POD_NAME", "driftwatch-0"),
        ("POD_NAMESPACE", "driftwatch"),
        ("GITOPS_TOKEN", "t"),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/x"),
    ];
    let out = driftwatch(dir.path(), &["check-config", "--config", path.to_str().unwrap()], &env);
    // check-config also checks that the files exist: the kubeconfigs are mounted in the Pod
    // only, and that is the one problem here.
    assert_eq!(out.code, 2, "{}", out.stderr);
    for line in out.stderr.lines() {
        assert!(
            line.contains("/etc/driftwatch/kubeconfigs/") && line.ends_with("does not exist"),
            "{}",
            out.stderr
        );
    }
    assert!(
        out.stdout.contains("ha: lease driftwatch/driftwatch as driftwatch-0"),
        "{}",
        out.stdout
    );
    let listen = out.stdout.lines().find(|l| l.starts_with("server: listen")).unwrap();
    let port = |name: &str| {
        let ports = container["ports"].as_array().unwrap();
        let port = ports.iter().find(|p| p["name"] == name).unwrap();
        port["containerPort"].as_u64().unwrap()
    };
    assert!(
        listen.contains(&format!("0.0.0.0:{},", port("http"))),
        "the container port is the one the daemon listens on: {listen}"
    );
    assert!(
        listen.ends_with(&format!("probes also on 0.0.0.0:{}", port("probes"))),
        "the probes' port is the one the daemon serves them on: {listen}"
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["port"], "probes",
            "{probe} asks the probe port"
        );
    }
}

/// deploy/ with the opt-in Argo CD component, as an overlay of a user's would use it
/// (kustomize wants relative paths to what it includes).
fn rendered_with_argocd_component() -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let up = "../".repeat(dir.path().components().count() - 1);
    let deploy = format!(
        "{up}{}",
        repo().join("deploy").display().to_string().trim_start_matches('/')
    );
    write(
        &dir.path().join("kustomization.yaml"),
        &format!("resources: [{deploy}]\ncomponents: [{deploy}/components/argocd-applications]\n"),
    );
    render(dir.path())
}

/// Discovery from Argo CD needs get, list and watch on applications.argoproj.io where the
/// Applications live, and nothing more: the component grants exactly that, to driftwatch's
/// service account, and only when it is used.
#[test]
fn the_argocd_component_grants_reading_applications_and_nothing_else() {
    let is_argo_cd = |d: &&Value| d.to_string().contains("\"applications\"");
    assert!(
        !rendered().iter().any(|d| is_argo_cd(&d)),
        "opt-in: deploy/ alone grants nothing on Argo CD (Argo Rollouts are workloads, granted in rbac.yaml)"
    );
    let docs = rendered_with_argocd_component();
    let role = find(&docs, "Role", "driftwatch-argocd-applications");
    assert_eq!(
        role["metadata"]["namespace"], "argocd",
        "namespaced to where Applications live"
    );
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": ["argoproj.io"], "resources": ["applications"], "verbs": ["get", "list", "watch"]}]),
        "read-only and minimal"
    );
    let binding = find(&docs, "RoleBinding", "driftwatch-argocd-applications");
    assert_eq!(binding["metadata"]["namespace"], "argocd");
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["roleRef"]["name"], "driftwatch-argocd-applications");
    let account = find(&docs, "Deployment", "driftwatch")["spec"]["template"]["spec"]["serviceAccountName"].clone();
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": account, "namespace": "driftwatch"}]),
        "bound to the service account the daemon runs as"
    );
    // Nothing else changed, and no Secrets anywhere.
    assert_eq!(docs.len(), rendered().len() + 2);
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
    {
        for rule in d["rules"].as_array().unwrap() {
            assert!(
                !rule["resources"].as_array().unwrap().contains(&"secrets".into()),
                "no Secrets: {d}"
            );
        }
    }
}

/// deploy/ with `components` (under deploy/components/), as a user's overlay would use them.
fn rendered_with_components(components: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let up = "../".repeat(dir.path().components().count() - 1);
    let deploy = format!(
        "{up}{}",
        repo().join("deploy").display().to_string().trim_start_matches('/')
    );
    let list: Vec<String> = components.iter().map(|c| format!("{deploy}/components/{c}")).collect();
    write(
        &dir.path().join("kustomization.yaml"),
        &format!("resources: [{deploy}]\ncomponents: [{}]\n", list.join(", ")),
    );
    render(dir.path())
}

/// Discovery from Flux needs get, list and watch on the Flux kinds it maps and the sources they
/// name, and nothing more; Secrets (for substituteFrom/valuesFrom) are a second opt-in that
/// grants `get` only, in flux-system.
#[test]
fn the_flux_components_grant_reading_flux_objects_and_secrets_only_by_name() {
    let is_flux = |d: &&Value| d.to_string().contains("fluxcd.io");
    assert!(
        !rendered().iter().any(|d| is_flux(&d)),
        "opt-in: deploy/ alone grants nothing on Flux"
    );
    let docs = rendered_with_components(&["flux"]);
    let role = find(&docs, "ClusterRole", "driftwatch-flux");
    assert_eq!(
        role["rules"],
        serde_json::json!([
            {"apiGroups": ["kustomize.toolkit.fluxcd.io"], "resources": ["kustomizations"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["helm.toolkit.fluxcd.io"], "resources": ["helmreleases"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["source.toolkit.fluxcd.io"], "resources": ["gitrepositories", "ocirepositories", "helmrepositories", "helmcharts"], "verbs": ["get", "list", "watch"]},
        ]),
        "read-only and minimal"
    );
    let binding = find(&docs, "ClusterRoleBinding", "driftwatch-flux");
    assert_eq!(binding["roleRef"]["name"], "driftwatch-flux");
    let account = find(&docs, "Deployment", "driftwatch")["spec"]["template"]["spec"]["serviceAccountName"].clone();
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": account, "namespace": "driftwatch"}])
    );
    assert_eq!(docs.len(), rendered().len() + 2, "nothing else changed");
    let no_secrets = |docs: &[Value]| {
        docs.iter()
            .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
            .flat_map(|d| d["rules"].as_array().unwrap().clone())
            .all(|r| !r["resources"].as_array().unwrap().contains(&"secrets".into()))
    };
    assert!(no_secrets(&docs), "no Secrets without the second component");

    let docs = rendered_with_components(&["flux", "flux-secrets"]);
    let secrets = find(&docs, "Role", "driftwatch-flux-secrets");
    assert_eq!(secrets["metadata"]["namespace"], "flux-system");
    assert_eq!(
        secrets["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
        "get by name only: no list, no watch"
    );
    let binding = find(&docs, "RoleBinding", "driftwatch-flux-secrets");
    assert_eq!(binding["metadata"]["namespace"], "flux-system");
    assert_eq!(binding["subjects"][0]["name"], account);
}
