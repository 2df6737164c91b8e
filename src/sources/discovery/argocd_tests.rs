//! One test per mapping rule: Application JSON in, sources or the reason out.

use serde_json::{Value, json};

use super::*;
use crate::config::ClusterSource;

fn cluster(name: &str) -> ClusterConfig {
    ClusterConfig {
        name: name.into(),
        source: ClusterSource::Snapshot(format!("{name}.json").into()),
        namespaces: Vec::new(),
    }
}

fn destinations() -> Vec<DestinationConfig> {
    vec![DestinationConfig {
        server: Some("https://prod.example.com".into()),
        name: Some("prod".into()),
        cluster: cluster("prod"),
    }]
}

fn app(spec: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd", "labels": {"env": "production"}},
        "spec": spec,
    })
}

fn with_source(source: Value) -> Value {
    app(
        json!({"project": "shop", "source": source, "destination": {"server": "https://prod.example.com", "namespace": "shop"}}),
    )
}

fn run(a: &Value, live: bool) -> Result<Mapped, Unmapped> {
    let d = destinations();
    let own = cluster("argocd");
    map(
        a,
        &Context {
            environment_from: &EnvironmentFrom::Label("env".into()),
            destinations: &d,
            control_plane: Some(&own),
            live,
        },
    )
}

const GIT: &str = "https://git.example.com/shop.git";

#[test]
fn a_path_is_a_path_of_its_repository_at_its_revision_in_the_destination() {
    let m = run(
        &with_source(json!({"repoURL": GIT, "path": "./apps/web/", "targetRevision": "v1.2"})),
        false,
    )
    .unwrap();
    assert_eq!(
        (m.environment.as_str(), m.cluster.name.as_str()),
        ("production", "prod")
    );
    assert_eq!(m.paths.len(), 1);
    let p = &m.paths[0];
    assert_eq!(
        (p.pattern.as_str(), p.namespace.as_deref(), p.renderer),
        ("apps/web", Some("shop"), None)
    );
    assert_eq!(
        p.repo,
        Some(RepoRef {
            url: GIT.into(),
            reference: GitRef::Revision("v1.2".into())
        })
    );
    let head = run(
        &with_source(json!({"repoURL": GIT, "path": "apps", "targetRevision": "HEAD"})),
        false,
    )
    .unwrap();
    assert_eq!(head.paths[0].repo.as_ref().unwrap().reference, GitRef::DefaultBranch);
}

#[test]
fn directory_is_plain_and_not_recursive_unless_asked() {
    let m = run(
        &with_source(
            json!({"repoURL": GIT, "path": "apps/web", "directory": {"include": "{a,b}.yaml", "exclude": "b.yaml"}}),
        ),
        false,
    )
    .unwrap();
    let p = &m.paths[0];
    assert_eq!(p.renderer, Some(Renderer::Plain));
    assert_eq!(
        p.directory,
        DirectoryConfig {
            recurse: false,
            include: Some("{a,b}.yaml".into()),
            exclude: Some("b.yaml".into())
        }
    );
    let m = run(
        &with_source(json!({"repoURL": GIT, "path": "apps/web", "directory": {"recurse": true}})),
        false,
    )
    .unwrap();
    assert!(m.paths[0].directory.recurse);
}

#[test]
fn jsonnet_and_plugins_are_not_mapped_with_the_reason() {
    let e = run(
        &with_source(
            json!({"repoURL": GIT, "path": "j", "directory": {"jsonnet": {"tlas": [{"name": "x", "value": "1"}]}}}),
        ),
        false,
    )
    .unwrap_err();
    assert!(e.reason.contains("spec.source: directory.jsonnet"), "{e:?}");
    let e = run(
        &with_source(json!({"repoURL": GIT, "path": "p", "plugin": {"name": "cdk8s"}})),
        false,
    )
    .unwrap_err();
    assert!(e.reason.contains("plugin"), "{e:?}");
}

#[test]
fn kustomize_overrides_are_carried_and_live_images_are_overrides() {
    let k = json!({"repoURL": GIT, "path": "apps/web", "kustomize": {
        "images": ["registry.example.com/shop/web:1.4.2"], "namePrefix": "p-", "nameSuffix": "-s", "namespace": "shop2",
        "commonLabels": {"team": "shop"}, "commonAnnotations": {"owner": "sre"},
        "patches": [{"patch": "x", "target": {"kind": "Deployment"}}], "replicas": [{"name": "web", "count": "3"}]}});
    let m = run(&with_source(k.clone()), false).unwrap();
    let o = m.paths[0].kustomize.as_ref().unwrap();
    assert_eq!(o.images, vec!["registry.example.com/shop/web:1.4.2"]);
    assert_eq!(
        (
            o.name_prefix.as_deref(),
            o.name_suffix.as_deref(),
            o.namespace.as_deref()
        ),
        (Some("p-"), Some("-s"), Some("shop2"))
    );
    assert_eq!(o.common_labels["team"], "shop");
    assert_eq!(o.common_annotations["owner"], "sre");
    assert_eq!(o.patches.len(), 1);
    assert_eq!(o.replicas, vec![("web".to_string(), 3)]);
    assert!(m.overrides.is_empty(), "in git: not an override");
    let live = run(&with_source(k), true).unwrap();
    assert_eq!(live.overrides.len(), 1);
    assert_eq!(live.overrides[0].field, "spec.source.kustomize.images[0]");
    assert_eq!(
        live.overrides[0].repository.as_deref(),
        Some("registry.example.com/shop/web")
    );
    assert_eq!(live.overrides[0].needle.as_deref(), Some("1.4.2"));
}

#[test]
fn helm_on_a_path_is_a_release_with_values_in_argo_cd_order() {
    let h = json!({"repoURL": GIT, "path": "charts/web", "helm": {
        "valueFiles": ["values-prod.yaml"], "values": "replicas: 1\nimage: {tag: a, pull: IfNotPresent}\n",
        "valuesObject": {"replicas": 2, "image": {"tag": "b"}},
        "parameters": [{"name": "image.tag", "value": "c"}, {"name": "port", "value": "8080"}, {"name": "ver", "value": "1", "forceString": true}],
        "ignoreMissingValueFiles": true}});
    let m = run(&with_source(h.clone()), false).unwrap();
    let r = &m.releases[0];
    assert_eq!(
        (r.name.as_str(), r.namespace.as_str()),
        ("web", "shop"),
        "releaseName defaults to the Application's name"
    );
    assert_eq!(r.chart, ChartSource::Path("charts/web".into()));
    assert_eq!(
        r.values_files,
        vec!["charts/web/values-prod.yaml"],
        "relative to the source path"
    );
    assert_eq!(
        Value::Object(r.values.clone()),
        json!({"replicas": 2, "image": {"tag": "c", "pull": "IfNotPresent"}, "port": 8080, "ver": "1"})
    );
    assert!(r.ignore_missing_values_files);
    let mut files = h.clone();
    files["helm"]["fileParameters"] = json!([{"name": "config.data", "path": "files/app.json"}]);
    let r = &run(&with_source(files), false).unwrap().releases[0];
    assert_eq!(
        r.set_file,
        vec![("config.data".to_string(), "charts/web/files/app.json".to_string())],
        "relative to the path, as --set-file"
    );
    assert_eq!(r.git.as_ref().unwrap().url, GIT);
    let mut named = h;
    named["helm"]["releaseName"] = json!("web-prod");
    let mut elsewhere = named.clone();
    elsewhere["helm"]["namespace"] = json!("web");
    elsewhere["helm"]["kubeVersion"] = json!("1.29");
    elsewhere["helm"]["apiVersions"] = json!(["monitoring.coreos.com/v1"]);
    let r = &run(&with_source(elsewhere), false).unwrap().releases[0];
    assert_eq!(r.namespace, "web", "helm.namespace wins over the destination's");
    assert_eq!((r.kube_version.as_deref(), r.api_versions.len()), (Some("1.29"), 1));
    assert_eq!(
        run(&with_source(named.clone()), false).unwrap().releases[0].name,
        "web-prod"
    );
    let live = run(&with_source(named), true).unwrap();
    assert_eq!(live.overrides.len(), 1, "image.tag is an image parameter, port is not");
    assert_eq!(live.overrides[0].target, OverrideTarget::Release("web-prod".into()));
}

#[test]
fn charts_of_helm_repositories_and_oci_registries() {
    let m = run(
        &with_source(json!({"repoURL": "https://charts.example.com", "chart": "podinfo", "targetRevision": "6.5.x"})),
        false,
    )
    .unwrap();
    assert_eq!(
        m.releases[0].chart,
        ChartSource::Repository {
            repo: "https://charts.example.com".into(),
            name: "podinfo".into(),
            version: Some("6.5.x".into())
        }
    );
    for url in ["oci://registry.example.com/charts", "registry.example.com/charts"] {
        let m = run(
            &with_source(json!({"repoURL": url, "chart": "redis", "targetRevision": "18.1.0"})),
            false,
        )
        .unwrap();
        assert_eq!(
            m.releases[0].chart,
            ChartSource::Oci {
                reference: "registry.example.com/charts/redis".into(),
                version: Some("18.1.0".into())
            },
            "{url}"
        );
    }
}

#[test]
fn multi_source_values_come_from_the_ref_source() {
    let a = app(json!({"sources": [
        {"repoURL": "https://charts.example.com", "chart": "podinfo", "targetRevision": "6.5.0", "helm": {"valueFiles": ["$values/envs/prod/podinfo.yaml"]}},
        {"repoURL": GIT, "targetRevision": "main", "ref": "values"}],
        "destination": {"name": "prod", "namespace": "web"}}));
    let m = run(&a, false).unwrap();
    let r = &m.releases[0];
    assert_eq!(r.values_files, vec!["envs/prod/podinfo.yaml"]);
    assert_eq!(
        r.git,
        Some(RepoRef {
            url: GIT.into(),
            reference: GitRef::Revision("main".into())
        })
    );
    let missing = app(
        json!({"sources": [{"repoURL": "https://charts.example.com", "chart": "x", "helm": {"valueFiles": ["$nope/a.yaml"]}}], "destination": {"name": "prod"}}),
    );
    assert!(
        run(&missing, false)
            .unwrap_err()
            .reason
            .contains("no source has ref \"nope\"")
    );
}

#[test]
fn a_chart_directory_with_values_of_another_repository() {
    const VALUES: &str = "https://git.example.com/values.git";
    let a = app(json!({"sources": [
        {"repoURL": GIT, "targetRevision": "v2", "path": "charts/shop",
         "helm": {"valueFiles": ["values.yaml", "$config/envs/prod.yaml", "$own/charts/shop/values-prod.yaml"]}},
        {"repoURL": VALUES, "targetRevision": "main", "ref": "config"},
        {"repoURL": GIT, "targetRevision": "v2", "ref": "own"}],
        "destination": {"name": "prod", "namespace": "web"}}));
    let m = run(&a, false).unwrap();
    let r = &m.releases[0];
    assert_eq!(r.chart, ChartSource::Path("charts/shop".into()));
    assert_eq!(
        r.values_files,
        vec![
            "charts/shop/values.yaml",
            "$values/envs/prod.yaml",
            "charts/shop/values-prod.yaml"
        ],
        "in Argo CD's order; a ref to the chart's own repository is a plain file"
    );
    assert_eq!(r.git.as_ref().map(|g| g.url.as_str()), Some(GIT));
    assert_eq!(
        r.values_repo,
        Some(ValuesRepo {
            repo: Some(RepoRef {
                url: VALUES.into(),
                reference: GitRef::Revision("main".into())
            })
        })
    );
    let three = app(json!({"sources": [
        {"repoURL": GIT, "path": "charts/shop", "helm": {"valueFiles": ["$a/x.yaml", "$b/y.yaml"]}},
        {"repoURL": VALUES, "ref": "a"},
        {"repoURL": "https://git.example.com/third.git", "ref": "b"}],
        "destination": {"name": "prod"}}));
    let why = run(&three, false).unwrap_err();
    assert!(
        why.reason
            .contains("value file $b/y.yaml: value files from more than one repository besides the chart's"),
        "{why:?}"
    );
}

#[test]
fn paths_and_value_files_that_leave_the_repository_are_not_mapped() {
    for source in [
        json!({"repoURL": GIT, "path": "../../etc"}),
        json!({"repoURL": GIT, "path": "charts/shop", "helm": {"valueFiles": ["../../../etc/passwd"]}}),
        json!({"repoURL": GIT, "path": "charts/shop", "helm": {"fileParameters": [{"name": "a", "path": "../../../x"}]}}),
    ] {
        let why = run(&with_source(source.clone()), false).unwrap_err();
        assert!(why.reason.contains("leaves the repository"), "{source}: {why:?}");
    }
    let inside =
        with_source(json!({"repoURL": GIT, "path": "charts/shop", "helm": {"valueFiles": ["../../values/prod.yaml"]}}));
    assert_eq!(
        run(&inside, false).unwrap().releases[0].values_files,
        vec!["values/prod.yaml"],
        "`..` that stays inside is resolved"
    );
}

#[test]
fn destinations_are_looked_up_never_guessed() {
    let by_name = app(json!({"source": {"repoURL": GIT, "path": "a"}, "destination": {"name": "prod"}}));
    assert_eq!(run(&by_name, false).unwrap().cluster.name, "prod");
    let own = app(
        json!({"source": {"repoURL": GIT, "path": "a"}, "destination": {"server": "https://kubernetes.default.svc"}}),
    );
    assert_eq!(
        run(&own, false).unwrap().cluster.name,
        "argocd",
        "Argo CD's own cluster"
    );
    let unknown =
        app(json!({"source": {"repoURL": GIT, "path": "a"}, "destination": {"server": "https://staging.example.com"}}));
    let e = run(&unknown, false).unwrap_err();
    assert!(
        e.reason
            .contains("destination server https://staging.example.com is not a configured cluster"),
        "{e:?}"
    );
    assert!(e.fix.contains("[[discovery.clusters]]"), "{e:?}");
}

#[test]
fn environment_names_come_from_where_configured() {
    let a = with_source(json!({"repoURL": GIT, "path": "a"}));
    let d = destinations();
    let name = |from: EnvironmentFrom| {
        map(
            &a,
            &Context {
                environment_from: &from,
                destinations: &d,
                control_plane: None,
                live: false,
            },
        )
        .map(|m| m.environment)
    };
    assert_eq!(name(EnvironmentFrom::Name).unwrap(), "web");
    assert_eq!(name(EnvironmentFrom::Project).unwrap(), "shop");
    assert_eq!(name(EnvironmentFrom::Destination).unwrap(), "prod");
    assert_eq!(name(EnvironmentFrom::Label("env".into())).unwrap(), "production");
    assert!(
        name(EnvironmentFrom::Annotation("env".into()))
            .unwrap_err()
            .reason
            .contains("annotation:env")
    );
}
