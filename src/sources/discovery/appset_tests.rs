//! One test per generator and templating rule: ApplicationSet JSON and repository trees in,
//! Applications or the reason they are not generated out.

use serde_json::{Value, json};

use super::*;

const REPO: &str = "https://git.example.com/infra.git";

fn appset(spec: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": spec,
    })
}

fn template(name: &str, path: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"env": "production"}},
        "spec": {
            "project": "shop",
            "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://prod.example.com", "namespace": "shop"},
        },
    })
}

fn repo() -> RepoRef {
    RepoRef {
        url: REPO.into(),
        reference: GitRef::DefaultBranch,
    }
}

fn trees(dirs: &[&str], files: &[(&str, &str)]) -> BTreeMap<RepoRef, Tree> {
    let tree = Tree {
        dirs: dirs.iter().map(|d| d.to_string()).collect(),
        files: files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect(),
    };
    BTreeMap::from([(repo(), tree)])
}

/// (name, path) of each generated Application.
fn names(e: &Expanded) -> Vec<(String, String)> {
    e.applications
        .iter()
        .map(|a| {
            (
                a["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                a["spec"]["source"]["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn reasons(e: &Expanded) -> Vec<String> {
    e.not_expanded.iter().map(|u| u.reason.clone()).collect()
}

#[test]
fn list_elements_with_fasttemplate() {
    let set = appset(json!({
        "generators": [{"list": {"elements": [
            {"cluster": "eu", "values": {"dir": "apps/web"}},
            {"cluster": "us", "values": {"dir": "apps/api"}},
        ]}}],
        "template": template("{{cluster}}-web", "{{values.dir}}/{{ cluster }}"),
    }));
    let e = expand(&set, &BTreeMap::new());
    assert_eq!(
        names(&e),
        pairs(&[("eu-web", "apps/web/eu"), ("us-web", "apps/api/us")])
    );
    assert_eq!(e.applications[0]["metadata"]["namespace"], "argocd");
    assert_eq!(e.applications[0]["kind"], "Application");
    assert!(e.not_expanded.is_empty());
}

#[test]
fn fasttemplate_leaves_unknown_tags_as_written() {
    let set = appset(json!({
        "generators": [{"list": {"elements": [{"cluster": "eu"}]}}],
        "template": template("{{cluster}}-{{missing}}", "a/{{ .cluster }}"),
    }));
    assert_eq!(
        names(&expand(&set, &BTreeMap::new())),
        pairs(&[("eu-{{missing}}", "a/{{ .cluster }}")])
    );
}

#[test]
fn fasttemplate_list_values_must_be_strings() {
    let set = appset(json!({
        "generators": [{"list": {"elements": [{"replicas": 3}]}}],
        "template": template("x", "y"),
    }));
    let e = expand(&set, &BTreeMap::new());
    assert!(e.applications.is_empty());
    assert!(reasons(&e)[0].contains("replicas is not a string"), "{:?}", reasons(&e));
}

#[test]
fn list_with_go_template_and_sprig() {
    let set = appset(json!({
        "goTemplate": true,
        "generators": [{"list": {"elements": [{"cluster": {"name": "EU_West"}, "n": 2}]}}],
        "template": template("{{ .cluster.name | normalize }}-{{ .n }}", "apps/{{ upper .cluster.name }}"),
    }));
    assert_eq!(
        names(&expand(&set, &BTreeMap::new())),
        pairs(&[("eu-west-2", "apps/EU_WEST")])
    );
}

#[test]
fn list_elements_yaml() {
    let set = appset(json!({
        "goTemplate": true,
        "generators": [{"list": {"elements": [{"c": "a"}], "elementsYaml": "- c: b\n- c: c\n"}}],
        "template": template("{{.c}}", "p/{{.c}}"),
    }));
    assert_eq!(
        names(&expand(&set, &BTreeMap::new())),
        pairs(&[("a", "p/a"), ("b", "p/b"), ("c", "p/c")])
    );
}

#[test]
fn git_directories_with_fasttemplate_params() {
    let set = appset(json!({
        "generators": [{"git": {"repoURL": REPO, "revision": "HEAD", "directories": [
            {"path": "apps/*"}, {"path": "apps/legacy", "exclude": true},
        ]}}],
        "template": template("{{path.basenameNormalized}}", "{{path}}|{{path[0]}}|{{path.basename}}"),
    }));
    let t = trees(
        &["apps", "apps/Web_UI", "apps/legacy", "apps/Web_UI/base", "other"],
        &[],
    );
    assert_eq!(
        names(&expand(&set, &t)),
        pairs(&[("web-ui", "apps/Web_UI|apps|Web_UI")])
    );
}

#[test]
fn git_directories_with_go_template_segments() {
    let set = appset(json!({
        "goTemplate": true,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"git": {"repoURL": REPO, "directories": [{"path": "apps/*/overlays/*"}]}}],
        "template": template("{{ index .path.segments 1 }}-{{ .path.basename }}", "{{ .path.path }}"),
    }));
    let t = trees(
        &["apps/web/overlays/prod", "apps/api/overlays/prod", "apps/api/base"],
        &[],
    );
    assert_eq!(
        names(&expand(&set, &t)),
        pairs(&[
            ("web-prod", "apps/web/overlays/prod"),
            ("api-prod", "apps/api/overlays/prod")
        ])
    );
}

#[test]
fn git_path_param_prefix_and_values() {
    let set = appset(json!({
        "generators": [{"git": {"repoURL": REPO, "pathParamPrefix": "app", "directories": [{"path": "apps/*"}],
            "values": {"name": "{{app.path.basename}}-x"}}}],
        "template": template("{{values.name}}", "{{app.path}}"),
    }));
    assert_eq!(
        names(&expand(&set, &trees(&["apps/web"], &[]))),
        pairs(&[("web-x", "apps/web")])
    );
}

#[test]
fn git_files_flattened_for_fasttemplate() {
    let set = appset(json!({
        "generators": [{"git": {"repoURL": REPO, "files": [{"path": "config/*/config.json"}]}}],
        "template": template("{{app.name}}-{{path.basename}}", "{{app.path}}|{{path.filename}}|{{list.1}}"),
    }));
    let t = trees(
        &[],
        &[
            (
                "config/eu/config.json",
                r#"{"app": {"name": "web", "path": "apps/web"}, "list": ["a", "b"]}"#,
            ),
            ("config/us/other.json", r#"{"app": {"name": "no"}}"#),
        ],
    );
    assert_eq!(names(&expand(&set, &t)), pairs(&[("web-eu", "apps/web|config.json|b")]));
}

#[test]
fn git_files_nested_for_go_template_and_lists_of_objects() {
    let set = appset(json!({
        "goTemplate": true,
        "generators": [{"git": {"repoURL": REPO, "files": [{"path": "config/**/*.yaml"}, {"path": "config/skip/*", "exclude": true}]}}],
        "template": template("{{.app.name}}", "{{.app.path}}@{{.path.path}}"),
    }));
    let t = trees(
        &[],
        &[
            (
                "config/eu/apps.yaml",
                "- app: {name: a, path: p/a}\n- app: {name: b, path: p/b}\n",
            ),
            ("config/skip/x.yaml", "app: {name: skipped, path: s}\n"),
        ],
    );
    assert_eq!(
        names(&expand(&set, &t)),
        pairs(&[("a", "p/a@config/eu"), ("b", "p/b@config/eu")])
    );
}

#[test]
fn git_file_that_is_not_an_object_is_reported() {
    let set = appset(json!({
        "generators": [{"git": {"repoURL": REPO, "files": [{"path": "c/*.json"}]}}],
        "template": template("x", "y"),
    }));
    let e = expand(&set, &trees(&[], &[("c/a.json", "[1, 2]")]));
    assert!(reasons(&e)[0].contains("file c/a.json"), "{:?}", reasons(&e));
}

#[test]
fn missing_key_error_reports_the_parameter_set() {
    let mut spec = json!({
        "goTemplate": true,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"list": {"elements": [{"c": "a"}]}}],
        "template": template("{{.c}}-{{.nope}}", "p"),
    });
    let e = expand(&appset(spec.clone()), &BTreeMap::new());
    assert!(e.applications.is_empty());
    assert!(
        reasons(&e)[0].contains("map has no entry for key \"nope\""),
        "{:?}",
        reasons(&e)
    );
    // Without the option, Go prints a missing key as <no value>.
    spec["goTemplateOptions"] = json!([]);
    assert_eq!(
        names(&expand(&appset(spec), &BTreeMap::new())),
        pairs(&[("a-<no value>", "p")])
    );
}

#[test]
fn generator_template_overrides_the_spec_template() {
    let set = appset(json!({
        "generators": [{"list": {"elements": [{"c": "a"}], "template": {
            "metadata": {}, "spec": {"source": {"path": "override/{{c}}"}}}}}],
        "template": template("{{c}}", "base/{{c}}"),
    }));
    let e = expand(&set, &BTreeMap::new());
    assert_eq!(names(&e), pairs(&[("a", "override/a")]));
    assert_eq!(e.applications[0]["spec"]["source"]["repoURL"], REPO);
}

#[test]
fn template_patch_is_not_expanded() {
    let set = appset(json!({
        "generators": [{"list": {"elements": [{"c": "a"}]}}],
        "template": template("{{c}}", "p"),
        "templatePatch": "spec:\n  project: x\n",
    }));
    let e = expand(&set, &BTreeMap::new());
    assert!(e.applications.is_empty());
    assert_eq!(e.not_expanded[0].object, "ApplicationSet argocd/shop");
    assert!(reasons(&e)[0].contains("templatePatch"));
}

#[test]
fn other_generators_are_named_with_the_fix_and_the_rest_expands() {
    let set = appset(json!({
        "generators": [
            {"clusters": {"selector": {}}},
            {"matrix": {"generators": []}},
            {"list": {"elements": [{"c": "a"}]}},
        ],
        "template": template("{{c}}", "p"),
    }));
    let e = expand(&set, &BTreeMap::new());
    assert_eq!(names(&e), pairs(&[("a", "p")]));
    assert_eq!(
        reasons(&e),
        [
            "generators[0]: generator clusters: its parameters come from the clusters registered in Argo CD",
            "generators[1]: generator matrix: its parameters come from combined generators",
        ]
    );
    assert!(e.not_expanded[0].fix.contains("discovery.argocd.cluster"));
}

#[test]
fn an_unread_repository_is_reported() {
    let set = appset(json!({
        "generators": [{"git": {"repoURL": REPO, "directories": [{"path": "*"}]}}],
        "template": template("{{path}}", "{{path}}"),
    }));
    let e = expand(&set, &BTreeMap::new());
    assert!(reasons(&e)[0].contains("could not be read"), "{:?}", reasons(&e));
}

#[test]
fn git_reads_name_repository_revision_and_file_globs() {
    let set = appset(json!({
        "generators": [{"git": {"repoURL": REPO, "revision": "v1", "files": [{"path": "c/*.json"}]}}],
    }));
    assert_eq!(
        git_reads(&set),
        [GitRead {
            repo: RepoRef {
                url: REPO.into(),
                reference: GitRef::Revision("v1".into()),
            },
            files: vec!["c/*.json".into()],
        }]
    );
}

#[test]
fn normalize_is_argo_cds_sanitize_name() {
    for (input, want) in [("Web_UI", "web-ui"), ("-a.b-", "a.b"), ("ÄB", "b")] {
        assert_eq!(normalize(input), want, "{input}");
    }
}

#[test]
fn go_template_has_argo_cds_functions_not_helms() {
    let set = appset(json!({
        "goTemplate": true,
        "generators": [{"list": {"elements": [{"c": "a"}]}}],
        "template": template("{{ include \"x\" . }}", "p"),
    }));
    let e = expand(&set, &BTreeMap::new());
    assert!(e.applications.is_empty());
    assert!(
        reasons(&e)[0].contains("function \"include\" not defined"),
        "{:?}",
        reasons(&e)
    );
}

#[test]
fn fasttemplate_prints_file_numbers_as_go_prints_a_float64() {
    let set = appset(json!({
        "generators": [{"git": {"repoURL": REPO, "files": [{"path": "c.json"}]}}],
        "template": template("{{n}}-{{big}}-{{f}}-{{b}}", "p"),
    }));
    let t = trees(&[], &[("c.json", r#"{"n": 3, "big": 1000000, "f": 1.5, "b": true}"#)]);
    assert_eq!(names(&expand(&set, &t)), pairs(&[("3-1e+06-1.5-true", "p")]));
}

/// Argo CD's own cases (`applicationset/utils/utils_test.go`).
#[test]
fn slugify_is_argo_cds() {
    let long = "feat/a_really+long_pull_request_name_to_test_argo_slugification_and_branch_name_shortening_feature";
    let one_word = "feat/areallylongpullrequestnametotestargoslugificationandbranchnameshorteningfeature";
    for (max, smart, name, want) in [
        (50, false, long, "feat-a-really-long-pull-request-name-to-test-argo"),
        (53, true, long, "feat-a-really-long-pull-request-name-to-test-argo"),
        (50, true, one_word, "feat"),
        (
            50,
            false,
            one_word,
            "feat-areallylongpullrequestnametotestargoslugifica",
        ),
    ] {
        let set = appset(json!({
            "goTemplate": true,
            "generators": [{"list": {"elements": [{"b": name}]}}],
            "template": template(&format!("{{{{ slugify {max} {smart} .b }}}}"), "p"),
        }));
        assert_eq!(names(&expand(&set, &BTreeMap::new()))[0].0, want, "{max} {smart}");
    }
    let set = appset(json!({
        "goTemplate": true,
        "generators": [{"list": {"elements": [{"b": "Feature/ABC_1"}]}}],
        "template": template("{{ slugify .b }}", "p"),
    }));
    assert_eq!(names(&expand(&set, &BTreeMap::new()))[0].0, "feature-abc-1");
}

#[test]
fn a_generator_selector_is_not_applied_so_not_expanded() {
    let set = appset(json!({
        "generators": [{"list": {"elements": [{"c": "a"}]}, "selector": {"matchLabels": {"c": "a"}}}],
        "template": template("{{c}}", "p"),
    }));
    let e = expand(&set, &BTreeMap::new());
    assert!(e.applications.is_empty());
    assert_eq!(
        reasons(&e),
        ["generators[0]: generator list has a selector, which is not applied"]
    );
}
