use serde_json::json;

use super::*;
use crate::config::{ArtifactAt, ArtifactRef, ClusterSource, KustomizeOverrides};

fn cluster(name: &str) -> ClusterConfig {
    ClusterConfig {
        name: name.into(),
        source: ClusterSource::InCluster,
        namespaces: Vec::new(),
    }
}

fn git_repository(name: &str, reference: Value) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": {"url": format!("https://git.example.com/{name}.git"), "ref": reference}
    })
}

fn kustomization(spec: Value) -> Value {
    let mut spec = spec;
    if spec["sourceRef"].is_null() {
        spec["sourceRef"] = json!({"kind": "GitRepository", "name": "fleet"});
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "labels": {"env": "production"}},
        "spec": spec
    })
}

fn helm_release(spec: Value) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "apps"},
        "spec": spec
    })
}

/// The sources and objects a test maps against.
struct World {
    sources: BTreeMap<Key, Value>,
    objects: BTreeMap<Key, Read>,
    destinations: Vec<DestinationConfig>,
    from: EnvironmentFrom,
    live: bool,
}

impl World {
    fn new() -> Self {
        let mut w = World {
            sources: BTreeMap::new(),
            objects: BTreeMap::new(),
            destinations: Vec::new(),
            from: EnvironmentFrom::Name,
            live: true,
        };
        w.source(git_repository("fleet", json!({"branch": "main"})));
        w.source(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "podinfo", "namespace": "apps"},
            "spec": {"url": "https://stefanprodan.github.io/podinfo"}
        }));
        w
    }

    fn source(&mut self, doc: Value) {
        self.sources.insert(key(&doc), doc);
    }

    fn object(&mut self, kind: &str, ns: &str, name: &str, read: Read) {
        self.objects.insert((kind.into(), ns.into(), name.into()), read);
    }

    fn map(&self, doc: &Value) -> Result<Mapped, Unmapped> {
        let c = cluster("flux");
        let cx = Context {
            environment_from: &self.from,
            destinations: &self.destinations,
            cluster: Some(&c),
            sources: &self.sources,
            objects: &self.objects,
            live: self.live,
        };
        map(doc, &cx)
    }
}

fn data(pairs: &[(&str, &str)]) -> Read {
    Read::Data(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn reason(r: Result<Mapped, Unmapped>) -> String {
    r.expect_err("not mapped").reason
}

#[test]
fn a_kustomization_is_its_git_path_built_as_flux_builds_it() {
    let m = World::new()
        .map(&kustomization(json!({"path": "./apps/production", "prune": true})))
        .unwrap();
    assert_eq!(m.object, "Kustomization flux-system/apps");
    assert_eq!(m.environment, "apps");
    assert_eq!(m.cluster.name, "flux", "applies to the cluster Flux runs in");
    let p = &m.paths[0];
    assert_eq!(p.pattern, "apps/production");
    assert_eq!(
        p.repo,
        Some(RepoRef {
            url: "https://git.example.com/fleet.git".into(),
            reference: GitRef::Branch("main".into()),
        })
    );
    assert_eq!(p.renderer, Some(Renderer::Kustomize));
    assert!(
        p.kustomize.as_ref().unwrap().generate,
        "a path without kustomization.yaml is generated"
    );
    assert_eq!(p.substitute, None);
}

#[test]
fn no_path_is_the_repository_root() {
    let m = World::new().map(&kustomization(json!({}))).unwrap();
    assert_eq!(m.paths[0].pattern, ".");
}

#[test]
fn each_override_field_goes_into_the_overlay() {
    let m = World::new()
        .map(&kustomization(json!({
            "path": "apps",
            "targetNamespace": "shop",
            "namePrefix": "prod-",
            "nameSuffix": "-eu",
            "images": [
                {"name": "web", "newName": "registry.example.com/shop/web", "newTag": "1.4.2"},
                {"name": "api", "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}
            ],
            "patches": [{"patch": "- op: replace\n  path: /spec/replicas\n  value: 2", "target": {"kind": "Deployment"}}],
            "components": ["../components/tls"],
        })))
        .unwrap();
    let p = &m.paths[0];
    assert_eq!(
        p.namespace.as_deref(),
        Some("shop"),
        "targetNamespace is the default namespace"
    );
    let k = p.kustomize.clone().unwrap();
    assert_eq!(
        k,
        KustomizeOverrides {
            images: vec![
                "web=registry.example.com/shop/web:1.4.2".into(),
                "api@sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
            ],
            name_prefix: Some("prod-".into()),
            name_suffix: Some("-eu".into()),
            namespace: Some("shop".into()),
            patches: vec![
                json!({"patch": "- op: replace\n  path: /spec/replicas\n  value: 2", "target": {"kind": "Deployment"}})
            ],
            components: vec!["../components/tls".into()],
            generate: true,
            merge_images: true,
            source_ignore: Some(SourceIgnoreConfig::default()),
            ..KustomizeOverrides::default()
        }
    );
}

#[test]
fn images_are_overrides_naming_the_object_and_field() {
    let m = World::new()
        .map(&kustomization(json!({
            "path": "apps",
            "images": [{"name": "web", "newName": "registry.example.com/shop/web", "newTag": "1.4.2"}],
        })))
        .unwrap();
    let o = &m.overrides[0];
    assert_eq!(o.object, "Kustomization flux-system/apps");
    assert_eq!(o.field, "spec.images[0]");
    assert_eq!(o.value, "web=registry.example.com/shop/web:1.4.2");
    assert_eq!(o.repository.as_deref(), Some("registry.example.com/shop/web"));
    assert_eq!(o.needle.as_deref(), Some("1.4.2"));
    assert_eq!(o.target, OverrideTarget::Path("apps".into()));
}

#[test]
fn each_git_ref_is_the_revision_read() {
    let fetched = json!({"artifact": {"revision": "v1.2.0@sha1:4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b"}});
    // (what, ref, status, the revision)
    let cases = [
        (
            "branch",
            json!({"branch": "release"}),
            json!({}),
            Ok(GitRef::Branch("release".into())),
        ),
        (
            "no ref: Flux's default branch",
            json!(null),
            json!({}),
            Ok(GitRef::Branch("master".into())),
        ),
        (
            "tag",
            json!({"tag": "v1.2.0"}),
            json!({}),
            Ok(GitRef::Rev("v1.2.0".into())),
        ),
        (
            "commit wins",
            json!({"branch": "main", "commit": "4f2a91c"}),
            json!({}),
            Ok(GitRef::Rev("4f2a91c".into())),
        ),
        (
            "name of a branch",
            json!({"name": "refs/heads/main"}),
            json!({}),
            Ok(GitRef::Branch("main".into())),
        ),
        (
            "name of a tag",
            json!({"name": "refs/tags/v1"}),
            json!({}),
            Ok(GitRef::Rev("v1".into())),
        ),
        (
            "semver: the commit source-controller fetched",
            json!({"semver": "1.x"}),
            fetched.clone(),
            Ok(GitRef::Rev("4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b".into())),
        ),
        (
            "semver without a fetched commit",
            json!({"semver": "1.x"}),
            json!({}),
            Err("ref.semver 1.x"),
        ),
        (
            "another ref name",
            json!({"name": "refs/pull/1/head"}),
            json!({}),
            Err("ref.name refs/pull/1/head"),
        ),
    ];
    for (what, reference, status, want) in cases {
        let mut w = World::new();
        let mut repo = git_repository("fleet", reference);
        repo["status"] = status;
        w.source(repo);
        let got = w.map(&kustomization(json!({"path": "apps"})));
        match want {
            Ok(r) => assert_eq!(got.unwrap().paths[0].repo.as_ref().unwrap().reference, r, "{what}"),
            Err(part) => assert!(reason(got).contains(part), "{what}"),
        }
    }
}

fn oci_repository(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    spec["url"] = spec
        .get("url")
        .cloned()
        .unwrap_or(json!("oci://ghcr.io/example/manifests"));
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": "manifests", "namespace": "flux-system"},
        "spec": spec,
        "status": status
    })
}

#[test]
fn an_oci_kustomization_is_its_artifacts_path_built_as_flux_builds_it() {
    let mut w = World::new();
    w.source(oci_repository(
        json!({"ref": {"tag": "v1.2.0"}, "layerSelector": {"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "operation": "extract"}}),
        json!({}),
    ));
    let m = w
        .map(&kustomization(json!({
            "sourceRef": {"kind": "OCIRepository", "name": "manifests"},
            "path": "./production", "targetNamespace": "shop",
            "images": [{"name": "web", "newTag": "1.4.2"}],
            "components": ["../components/ha"],
            "postBuild": {"substitute": {"replicas": "2"}}
        })))
        .unwrap();
    let p = &m.paths[0];
    assert_eq!(p.pattern, "production");
    assert_eq!(p.repo, None);
    assert_eq!(
        p.artifact,
        Some(ArtifactRef {
            repository: "ghcr.io/example/manifests".into(),
            at: ArtifactAt::Tag("v1.2.0".into()),
            media_type: Some("application/vnd.cncf.flux.content.v1.tar+gzip".into()),
        })
    );
    let o = p.kustomize.as_ref().unwrap();
    assert!(o.generate, "Flux's generated kustomization when the artifact has none");
    assert_eq!(o.namespace.as_deref(), Some("shop"));
    assert_eq!(o.images, vec!["web:1.4.2".to_string()]);
    assert_eq!(o.components, vec!["../components/ha".to_string()]);
    assert_eq!(p.substitute.as_ref().unwrap().data["replicas"], "2");
    assert_eq!(m.overrides.len(), 1, "an images entry is an override as for git");
}

/// What source-controller leaves out of the artifact: the source's `spec.ignore` after its
/// defaults and `.sourceignore` files, except for an OCI layer it copies as it is.
#[test]
fn a_sources_ignore_rules_go_with_its_paths_unless_the_layer_is_copied() {
    let ignore_of = |spec: Value| {
        let mut w = World::new();
        w.source(oci_repository(spec, json!({})));
        let m = w
            .map(&kustomization(
                json!({"sourceRef": {"kind": "OCIRepository", "name": "manifests"}, "path": "./production"}),
            ))
            .unwrap();
        m.paths[0].kustomize.as_ref().unwrap().source_ignore.clone()
    };
    assert_eq!(
        ignore_of(json!({"ref": {"tag": "v1"}, "ignore": "*.md\n"})),
        Some(SourceIgnoreConfig {
            spec_ignore: Some("*.md\n".into())
        })
    );
    assert_eq!(
        ignore_of(json!({"ref": {"tag": "v1"}, "ignore": "*.md\n", "layerSelector": {"operation": "copy"}})),
        None
    );
}

/// (what, OCIRepository spec, status, the manifest read or a part of the reason).
type OciCase = (&'static str, Value, Value, Result<ArtifactAt, &'static str>);

fn oci_ref_cases() -> Vec<OciCase> {
    let d1 = format!("sha256:{}", "1".repeat(64));
    let d2 = format!("sha256:{}", "2".repeat(64));
    let pulled = json!({"artifact": {"revision": format!("1.2.0@{d2}")}});
    vec![
        (
            "no ref: Flux's latest tag",
            json!({}),
            json!({}),
            Ok(ArtifactAt::Tag("latest".into())),
        ),
        (
            "tag",
            json!({"ref": {"tag": "1.2.0"}}),
            json!({}),
            Ok(ArtifactAt::Tag("1.2.0".into())),
        ),
        (
            "digest wins over semver and tag",
            json!({"ref": {"digest": d1, "semver": "1.x", "tag": "1.2.0"}}),
            pulled.clone(),
            Ok(ArtifactAt::Digest(d1.clone())),
        ),
        (
            "semver: the digest source-controller pulled",
            json!({"ref": {"semver": "1.x", "tag": "1.0.0"}}),
            pulled.clone(),
            Ok(ArtifactAt::Digest(d2.clone())),
        ),
        (
            "semver: a bare digest revision (Flux before 2.1)",
            json!({"ref": {"semver": "1.x"}}),
            json!({"artifact": {"revision": d2}}),
            Ok(ArtifactAt::Digest(d2.clone())),
        ),
        (
            "semver without a pulled digest",
            json!({"ref": {"semver": "1.x"}}),
            json!({}),
            Err(
                "ref.semver 1.x is a range of tags driftwatch does not resolve, and the OCIRepository reports no pulled digest",
            ),
        ),
        (
            "a tag in the url",
            json!({"url": "oci://ghcr.io/example/manifests:v1"}),
            json!({}),
            Err("is not oci://<host>/<repository> without a tag"),
        ),
        (
            "not oci://",
            json!({"url": "https://ghcr.io/example/manifests"}),
            json!({}),
            Err("is not oci://<host>/<repository>"),
        ),
        (
            "copy: kustomize-controller unpacks the copied layer the same",
            json!({"layerSelector": {"operation": "copy"}}),
            json!({}),
            Ok(ArtifactAt::Tag("latest".into())),
        ),
        (
            "another operation",
            json!({"layerSelector": {"operation": "mount"}}),
            json!({}),
            Err("layerSelector.operation mount is not extract or copy"),
        ),
    ]
}

#[test]
fn each_oci_ref_is_the_artifact_read() {
    for (what, spec, status, want) in oci_ref_cases() {
        let mut w = World::new();
        w.source(oci_repository(spec, status));
        let got = w.map(&kustomization(
            json!({"sourceRef": {"kind": "OCIRepository", "name": "manifests"}}),
        ));
        match want {
            Ok(at) => assert_eq!(got.unwrap().paths[0].artifact.as_ref().unwrap().at, at, "{what}"),
            Err(part) => {
                let u = got.expect_err(what);
                assert!(u.reason.contains(part), "{what}: {}", u.reason);
                assert!(!u.fix.is_empty(), "{what}: says the fix");
            }
        }
    }
}

#[test]
fn an_oci_semver_from_git_says_to_list_it_from_the_cluster() {
    let mut w = World::new();
    w.live = false;
    w.source(oci_repository(json!({"ref": {"semver": "1.x"}}), json!({})));
    let from_git = w.map(&kustomization(
        json!({"sourceRef": {"kind": "OCIRepository", "name": "manifests"}}),
    ));
    assert!(
        from_git
            .expect_err("not mapped")
            .fix
            .contains("list the OCIRepository from the cluster"),
        "the fix for an OCIRepository committed in git"
    );
}

#[test]
fn each_source_kind() {
    let mut w = World::new();
    w.source(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository",
        "metadata": {"name": "manifests", "namespace": "flux-system"},
        "spec": {"url": "oci://ghcr.io/example/manifests", "ref": {"tag": "latest"}}
    }));
    let oci = w
        .map(&kustomization(
            json!({"sourceRef": {"kind": "OCIRepository", "name": "manifests"}}),
        ))
        .unwrap();
    assert_eq!(oci.paths[0].repo, None, "read from the artifact, not git");
    assert_eq!(
        oci.paths[0].artifact.as_ref().map(ToString::to_string).as_deref(),
        Some("oci://ghcr.io/example/manifests:latest")
    );
    let bucket = w.map(&kustomization(json!({"sourceRef": {"kind": "Bucket", "name": "b"}})));
    assert!(reason(bucket).contains("Bucket sources are not supported"));
    let missing = w.map(&kustomization(
        json!({"sourceRef": {"kind": "GitRepository", "name": "nope"}}),
    ));
    assert!(reason(missing).contains("GitRepository flux-system/nope is not found"));
    let other_ns = w.map(&kustomization(
        json!({"sourceRef": {"kind": "GitRepository", "name": "fleet", "namespace": "elsewhere"}}),
    ));
    assert!(
        reason(other_ns).contains("elsewhere/fleet"),
        "sourceRef.namespace is read"
    );
}

#[test]
fn a_remote_cluster_is_the_one_its_kubeconfig_secret_names() {
    let mut w = World::new();
    let doc = kustomization(json!({"path": "apps", "kubeConfig": {"secretRef": {"name": "prod-kubeconfig"}}}));
    let u = w.map(&doc).unwrap_err();
    assert!(
        u.reason.contains("kubeConfig secret flux-system/prod-kubeconfig"),
        "{}",
        u.reason
    );
    assert!(u.fix.contains("name = \"prod-kubeconfig\""), "{}", u.fix);
    w.destinations.push(DestinationConfig {
        server: None,
        name: Some("prod-kubeconfig".into()),
        cluster: cluster("prod"),
    });
    assert_eq!(w.map(&doc).unwrap().cluster.name, "prod");
}

#[test]
fn the_environment_is_named_as_configured() {
    let mut w = World::new();
    let doc = kustomization(json!({"path": "apps"}));
    let cases = [
        (EnvironmentFrom::Name, Some("apps")),
        (EnvironmentFrom::Label("env".into()), Some("production")),
        (EnvironmentFrom::Label("team".into()), None),
        (EnvironmentFrom::Destination, Some("flux")),
    ];
    for (from, want) in cases {
        w.from = from.clone();
        assert_eq!(w.map(&doc).ok().map(|m| m.environment).as_deref(), want, "{from}");
    }
}

#[test]
fn substitute_from_objects_in_order_then_substitute_wins() {
    let mut w = World::new();
    w.object(
        "ConfigMap",
        "flux-system",
        "vars",
        data(&[("tag", "1.0"), ("region", "eu")]),
    );
    w.object(
        "Secret",
        "flux-system",
        "creds",
        data(&[("tag", "2.0"), ("token", "s3cr3t")]),
    );
    w.object("ConfigMap", "flux-system", "gone", Read::NotFound);
    let m = w
        .map(&kustomization(json!({"path": "apps", "postBuild": {
            "substitute": {"region": "us", "replicas": 3},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "vars"},
                {"kind": "Secret", "name": "creds"},
                {"kind": "ConfigMap", "name": "gone", "optional": true},
            ]
        }})))
        .unwrap();
    let s = m.paths[0].substitute.clone().unwrap();
    let want: BTreeMap<String, String> = [("tag", "2.0"), ("region", "us"), ("replicas", "3"), ("token", "s3cr3t")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(s.data, want, "later sources win, substitute over all");
    assert_eq!(
        s.sources,
        vec!["ConfigMap flux-system/vars", "Secret flux-system/creds"]
    );
    assert_eq!(s.refused, None, "an optional missing object is nothing");
    assert!(
        !format!("{s:?}").contains("s3cr3t"),
        "a Secret's value is never in Debug"
    );
    let mut changed = s.clone();
    changed.data.insert("token".into(), "rotated".into());
    assert_ne!(
        format!("{s:?}"),
        format!("{changed:?}"),
        "a changed value shows (as a digest)"
    );
}

#[test]
fn an_unreadable_or_missing_object_is_said_by_its_path() {
    let mut w = World::new();
    w.object(
        "Secret",
        "flux-system",
        "creds",
        Read::Refused("forbidden: grant get on secrets in namespace flux-system".into()),
    );
    w.object("ConfigMap", "flux-system", "gone", Read::NotFound);
    let refused = |from: Value| {
        w.map(&kustomization(
            json!({"path": "apps", "postBuild": {"substituteFrom": from}}),
        ))
        .unwrap()
        .paths[0]
            .substitute
            .clone()
            .unwrap()
            .refused
            .unwrap()
    };
    assert!(refused(json!([{"kind": "Secret", "name": "creds"}])).contains("grant get on secrets"));
    assert!(
        refused(json!([{"kind": "ConfigMap", "name": "gone"}])).contains("ConfigMap flux-system/gone is not found")
    );
    assert!(refused(json!([{"kind": "ConfigMap", "name": "unlisted"}])).contains("is not read"));
}

#[test]
fn a_helm_release_of_a_helm_repository() {
    let m = World::new()
        .map(&helm_release(json!({
            "chart": {"spec": {"chart": "podinfo", "version": "6.5.*", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
            "values": {"replicaCount": 2},
        })))
        .unwrap();
    let r = &m.releases[0];
    assert_eq!(r.name, "podinfo");
    assert_eq!(r.namespace, "apps", "the HelmRelease's namespace");
    assert_eq!(
        r.chart,
        ChartSource::Repository {
            repo: "https://stefanprodan.github.io/podinfo".into(),
            name: "podinfo".into(),
            version: Some("6.5.*".into()),
        }
    );
    assert_eq!(r.values["replicaCount"], 2);
    assert_eq!(r.git, None);
}

#[test]
fn post_renderers_that_set_images_are_not_mapped() {
    let w = World::new();
    let chart = json!({"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}});
    let images = w.map(&helm_release(json!({"chart": chart, "postRenderers": [
        {"kustomize": {"patches": [{"patch": "x"}]}},
        {"kustomize": {"images": [{"name": "podinfo", "newTag": "6.6.0"}]}}
    ]})));
    assert!(reason(images).starts_with("spec.postRenderers[1].kustomize.images"));
    let labels = w.map(&helm_release(
        json!({"chart": chart, "postRenderers": [{"kustomize": {"patches": [{"patch": "x"}]}}]}),
    ));
    assert!(labels.is_ok(), "other post-renderers leave what runs alone");
}

#[test]
fn release_names_default_as_helm_controller_does() {
    let w = World::new();
    let chart = json!({"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}});
    let name = |spec: Value| w.map(&helm_release(spec)).unwrap().releases[0].clone();
    assert_eq!(name(json!({"chart": chart})).name, "podinfo");
    let targeted = name(json!({"chart": chart, "targetNamespace": "web"}));
    assert_eq!(targeted.name, "web-podinfo", "[<targetNamespace>-]<name>");
    assert_eq!(targeted.namespace, "web");
    assert_eq!(name(json!({"chart": chart, "releaseName": "shop"})).name, "shop");
    let long = name(json!({"chart": chart, "targetNamespace": "a-very-long-namespace-name-for-the-team-of-payments"}));
    assert_eq!(long.name.len(), 53, "{}", long.name);
    assert!(long.name.starts_with("a-very-long-namespace-name-for-the-team-"));
    assert_eq!(
        shorten_release_name("a-very-long-namespace-name-for-the-team-of-payments-podinfo"),
        long.name
    );
    assert_eq!(
        shorten_release_name(&"x".repeat(53)),
        "x".repeat(53),
        "53 is not shortened"
    );
}

#[test]
fn charts_of_each_source_kind() {
    let mut w = World::new();
    w.source(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "ghcr", "namespace": "apps"},
        "spec": {"url": "oci://ghcr.io/stefanprodan/charts", "type": "oci"}
    }));
    w.source(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository",
        "metadata": {"name": "podinfo-chart", "namespace": "apps"},
        "spec": {"url": "oci://ghcr.io/stefanprodan/charts/podinfo", "ref": {"tag": "6.5.4"}}
    }));
    w.source(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "metadata": {"name": "apps-podinfo", "namespace": "apps"},
        "spec": {"chart": "podinfo", "version": "6.5.4", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}
    }));
    let mut repo = git_repository("fleet", json!({"tag": "v1"}));
    repo["metadata"]["namespace"] = json!("apps");
    w.source(repo);
    let chart = |spec: Value| w.map(&helm_release(spec)).map(|m| m.releases[0].clone());
    let oci_repo = chart(
        json!({"chart": {"spec": {"chart": "podinfo", "version": "6.5.4", "sourceRef": {"kind": "HelmRepository", "name": "ghcr"}}}}),
    );
    assert_eq!(
        oci_repo.unwrap().chart,
        ChartSource::Oci {
            reference: "ghcr.io/stefanprodan/charts/podinfo".into(),
            version: Some("6.5.4".into())
        }
    );
    let chart_ref = chart(json!({"chartRef": {"kind": "OCIRepository", "name": "podinfo-chart"}}));
    assert_eq!(
        chart_ref.unwrap().chart,
        ChartSource::Oci {
            reference: "ghcr.io/stefanprodan/charts/podinfo".into(),
            version: Some("6.5.4".into())
        }
    );
    let helm_chart = chart(json!({"chartRef": {"kind": "HelmChart", "name": "apps-podinfo"}})).unwrap();
    assert!(matches!(helm_chart.chart, ChartSource::Repository { ref name, .. } if name == "podinfo"));
    let git = chart(json!({"chart": {"spec": {"chart": "./charts/podinfo", "sourceRef": {"kind": "GitRepository", "name": "fleet"}, "valuesFiles": ["charts/podinfo/values-prod.yaml"]}}})).unwrap();
    assert_eq!(git.chart, ChartSource::Path("charts/podinfo".into()));
    assert_eq!(git.values_files, vec!["charts/podinfo/values-prod.yaml"]);
    assert_eq!(git.git.unwrap().reference, GitRef::Rev("v1".into()));
    let bucket = chart(json!({"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "Bucket", "name": "b"}}}}));
    assert!(bucket.unwrap_err().reason.contains("Bucket sources are not supported"));
}

#[test]
fn values_from_in_order_under_values() {
    let mut w = World::new();
    w.object(
        "ConfigMap",
        "apps",
        "base",
        data(&[(
            "values.yaml",
            "replicaCount: 1\nimage:\n  tag: 1.0\n  pullPolicy: Always\n",
        )]),
    );
    w.object(
        "Secret",
        "apps",
        "tag",
        data(&[("tag", "2.0"), ("other.yaml", "ingress:\n  enabled: true\n")]),
    );
    w.object("ConfigMap", "apps", "absent", Read::NotFound);
    let m = w
        .map(&helm_release(json!({
            "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
            "values": {"replicaCount": 3},
            "valuesFrom": [
                {"kind": "ConfigMap", "name": "base"},
                {"kind": "Secret", "name": "tag", "valuesKey": "tag", "targetPath": "image.tag"},
                {"kind": "Secret", "name": "tag", "valuesKey": "other.yaml"},
                {"kind": "ConfigMap", "name": "absent", "optional": true},
            ],
        })))
        .unwrap();
    let r = &m.releases[0];
    let from = r.values_from.clone().unwrap();
    assert_eq!(from.refused, None);
    let values = r.inline_values();
    assert_eq!(values["replicaCount"], 3, "values win over valuesFrom");
    assert_eq!(values["image"]["tag"], "2.0", "targetPath sets the key's text");
    assert_eq!(values["image"]["pullPolicy"], "Always", "maps merge");
    assert_eq!(values["ingress"]["enabled"], true);
    assert!(
        r.values.get("image").is_none(),
        "values as written stay apart from valuesFrom"
    );
}

#[test]
fn values_from_without_permission_or_key() {
    let mut w = World::new();
    w.object(
        "Secret",
        "apps",
        "creds",
        Read::Refused("forbidden: grant get on secrets in namespace apps".into()),
    );
    w.object("ConfigMap", "apps", "base", data(&[("other", "x")]));
    let refused = |from: Value| {
        w.map(&helm_release(json!({
            "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
            "valuesFrom": from,
        })))
        .unwrap()
        .releases[0]
            .values_from
            .clone()
            .unwrap()
            .refused
    };
    assert!(
        refused(json!([{"kind": "Secret", "name": "creds"}]))
            .unwrap()
            .contains("grant get on secrets")
    );
    assert!(
        refused(json!([{"kind": "ConfigMap", "name": "base"}]))
            .unwrap()
            .contains("has no key values.yaml")
    );
    assert_eq!(
        refused(json!([{"kind": "ConfigMap", "name": "base", "valuesKey": "v", "optional": true}])),
        None
    );
}

#[test]
fn flux_reports_its_revision_and_ready_condition() {
    let mut doc = kustomization(json!({"path": "apps"}));
    doc["status"] = json!({
        "lastAppliedRevision": "main@sha1:4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b",
        "conditions": [{"type": "Reconciling", "status": "False"}, {"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"}]
    });
    let m = World::new().map(&doc).unwrap();
    let v = m.controller.unwrap();
    assert_eq!(
        v.status,
        ControllerStatus::Flux(FluxStatus {
            object: "Kustomization flux-system/apps".into(),
            revision: Some("main@sha1:4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b".into()),
            ready: Some("True".into()),
            reason: Some("ReconciliationSucceeded".into()),
        })
    );
    assert_eq!(v.targets, vec![OverrideTarget::Path("apps".into())]);
    let mut hr = helm_release(
        json!({"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}),
    );
    hr["status"] = json!({"history": [{"chartVersion": "6.5.4"}], "conditions": [{"type": "Ready", "status": "False", "reason": "UpgradeFailed"}]});
    let ControllerStatus::Flux(s) = World::new().map(&hr).unwrap().controller.unwrap().status else {
        panic!("a Flux status")
    };
    assert_eq!(
        (s.revision.as_deref(), s.ready.as_deref()),
        (Some("6.5.4"), Some("False"))
    );
    let mut w = World::new();
    w.live = false;
    assert!(
        w.map(&doc).unwrap().controller.is_none(),
        "from git: no status to report"
    );
}
