//! Extracts the workloads and container images that rendered manifests declare. Pure: it sees
//! JSON values (from the `safe_yaml` crate) and knows nothing of files, git or kustomize.

use serde_json::Value;

use crate::core::image::ImageRef;
use std::collections::BTreeMap;

use crate::core::model::{
    ConfigObject, ContainerSpec, DeclaredState, DeclaredWorkload, HelmSource, ManifestProblem, WorkloadKey,
    WorkloadKind, WorkloadRef, value_hash,
};
use safe_yaml as yaml;

/// Where a batch of documents came from, for findings and problems.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// The file (plain) or overlay directory (kustomize) the documents were read from.
    pub file: &'a str,
    /// The configured environment path that produced them.
    pub source: &'a str,
    /// Namespace for objects that name none.
    pub default_namespace: &'a str,
    /// For a Helm release's documents: the release, and the template (`# Source:` path) the
    /// documents came from.
    pub helm: Option<(&'a str, &'a str)>,
}

/// Adds the workloads in `docs` to `state`. `kind: List` documents are flattened; objects that
/// are not workloads are ignored; a workload without a name, or a container without a valid
/// image, becomes a [`ManifestProblem`] and the rest is still used.
pub fn extract(docs: &[Value], origin: Origin<'_>, state: &mut DeclaredState) {
    for doc in docs {
        extract_one(doc, origin, state);
    }
}

/// Parses YAML (or JSON) text and adds its workloads to `state`; a syntax error becomes a
/// [`ManifestProblem`] for `origin.file`, and the documents before it are still used.
pub fn extract_text(text: &str, origin: Origin<'_>, state: &mut DeclaredState) {
    let (docs, err) = yaml::documents(text);
    extract(&docs, origin, state);
    if let Some(reason) = err {
        state.problems.push(ManifestProblem {
            file: origin.file.to_string(),
            source: origin.source.to_string(),
            workload: None,
            container: None,
            reason: reason.to_string(),
        });
    }
}

/// Records a file that could not be read (or is not UTF-8) as a problem of that file, so the
/// environment's declared state is known to be incomplete.
pub fn unreadable(origin: Origin<'_>, reason: &str, state: &mut DeclaredState) {
    state.problems.push(problem(origin, None, None, reason.to_string()));
}

fn extract_one(doc: &Value, origin: Origin<'_>, state: &mut DeclaredState) {
    let Some(kind) = doc.get("kind").and_then(Value::as_str) else {
        return;
    };
    if kind == "List" || kind.ends_with("List") {
        if let Some(items) = doc.get("items").and_then(Value::as_array) {
            for item in items {
                extract_one(item, origin, state);
            }
        }
        return;
    }
    if kind == "ConfigMap" || kind == "Secret" {
        extract_config(doc, kind == "Secret", origin, state);
        return;
    }
    if let Some(kind) = WorkloadKind::from_kind(kind) {
        extract_workload(doc, kind, origin, state);
    }
}

fn problem(
    origin: Origin<'_>,
    workload: Option<&WorkloadKey>,
    container: Option<&str>,
    reason: String,
) -> ManifestProblem {
    ManifestProblem {
        file: origin.file.to_string(),
        source: origin.source.to_string(),
        workload: workload.cloned(),
        container: container.map(str::to_string),
        reason,
    }
}

fn extract_workload(doc: &Value, kind: WorkloadKind, origin: Origin<'_>, state: &mut DeclaredState) {
    let Some((name, namespace)) = name_and_namespace(doc, origin) else {
        state
            .problems
            .push(problem(origin, None, None, format!("{kind} without metadata.name")));
        return;
    };
    let key = WorkloadKey {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    if let Some(existing) = state.workloads.iter().find(|w| w.key() == key) {
        let reason = format!(
            "{key} is declared twice: in {} and in {}",
            existing.source, origin.source
        );
        state.problems.push(problem(origin, Some(&key), None, reason));
        return;
    }
    let containers = containers(pod_spec(kind, doc), &key, origin, state);
    if kind == WorkloadKind::Rollout && containers.is_empty() {
        workload_ref(doc, &key, origin, state);
    }
    state.workloads.push(DeclaredWorkload {
        kind,
        namespace: key.namespace,
        name: key.name,
        source: origin.source.to_string(),
        containers,
        helm: origin.helm.map(|(release, template)| HelmSource {
            release: release.to_string(),
            template: template.to_string(),
        }),
    });
}

/// Records a Rollout's `spec.workloadRef` (its Pod template is a Deployment's, which another
/// file or path may declare), or the problem with it.
fn workload_ref(doc: &Value, key: &WorkloadKey, origin: Origin<'_>, state: &mut DeclaredState) {
    let Some(reference) = doc.get("spec").and_then(|s| s.get("workloadRef")) else {
        let reason = "Rollout has neither spec.template containers nor spec.workloadRef".to_string();
        state.problems.push(problem(origin, Some(key), None, reason));
        return;
    };
    let field = |k: &str| reference.get(k).and_then(Value::as_str).unwrap_or("");
    let target = WorkloadKind::from_kind(field("kind")).filter(|_| !field("name").is_empty());
    let Some(target) = target else {
        let reason = format!(
            "spec.workloadRef names {:?} {:?}: not a workload driftwatch reads",
            field("kind"),
            field("name")
        );
        state.problems.push(problem(origin, Some(key), None, reason));
        return;
    };
    state.workload_refs.push(WorkloadRef {
        rollout: key.clone(),
        target: WorkloadKey {
            kind: target,
            namespace: key.namespace.clone(),
            name: field("name").to_string(),
        },
        file: origin.file.to_string(),
        source: origin.source.to_string(),
    });
}

/// Gives each Rollout with a `spec.workloadRef` the containers of the workload it names, once
/// every path of the environment is read (the Deployment is often in another file). A reference
/// to a workload the environment does not declare is a problem of that Rollout: git declares no
/// image for it, so there is nothing to compare.
pub fn resolve_workload_refs(state: &mut DeclaredState) {
    for r in std::mem::take(&mut state.workload_refs) {
        let containers = state
            .workloads
            .iter()
            .find(|w| w.key() == r.target)
            .map(|w| w.containers.clone());
        match containers {
            Some(containers) => {
                if let Some(rollout) = state.workloads.iter_mut().find(|w| w.key() == r.rollout) {
                    rollout.containers = containers;
                }
            }
            None => state.problems.push(ManifestProblem {
                file: r.file,
                source: r.source,
                reason: format!(
                    "spec.workloadRef names {} {}, which this environment does not declare: the Rollout's images are not compared",
                    r.target.kind, r.target.name
                ),
                workload: Some(r.rollout),
                container: None,
            }),
        }
    }
}

/// The init containers and containers of a pod spec, in order. A container whose image is not
/// a valid reference is kept as rendered and marked, so it is never silently dropped.
fn containers(
    pod_spec: Option<&Value>,
    key: &WorkloadKey,
    origin: Origin<'_>,
    state: &mut DeclaredState,
) -> Vec<ContainerSpec> {
    let mut containers = Vec::new();
    for (field, init) in [("initContainers", true), ("containers", false)] {
        let list = pod_spec.and_then(|s| s.get(field)).and_then(Value::as_array);
        for c in list.into_iter().flatten() {
            let Some(cname) = c.get("name").and_then(Value::as_str) else {
                let reason = format!("an entry of {field} has no name");
                state.problems.push(problem(origin, Some(key), None, reason));
                continue;
            };
            let Some(image) = c.get("image").and_then(Value::as_str) else {
                let reason = "container has no image".to_string();
                state.problems.push(problem(origin, Some(key), Some(cname), reason));
                continue;
            };
            let invalid = ImageRef::parse(image).err().map(|e| e.to_string());
            if let Some(reason) = &invalid {
                state
                    .problems
                    .push(problem(origin, Some(key), Some(cname), reason.clone()));
            }
            containers.push(ContainerSpec {
                name: cname.to_string(),
                image: image.to_string(),
                init,
                invalid,
            });
        }
    }
    containers
}

/// A ConfigMap's `binaryData` or a Secret's `data` value that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("{key}: not base64: {source}")]
pub struct NotBase64 {
    pub key: String,
    source: base64::DecodeError,
}

/// Keys and hashed values of a ConfigMap (`data`, `binaryData`) or Secret (`data` decoded,
/// `stringData`), as [`ConfigObject::values`].
pub fn config_values(doc: &Value, secret: bool) -> Result<BTreeMap<String, String>, NotBase64> {
    use base64::Engine as _;
    let mut values = BTreeMap::new();
    let decode = |k: &str, v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|source| NotBase64 {
                key: k.to_string(),
                source,
            })
    };
    let (plain, encoded) = if secret {
        ("stringData", "data")
    } else {
        ("data", "binaryData")
    };
    for (k, v) in doc.get(encoded).and_then(Value::as_object).into_iter().flatten() {
        values.insert(k.clone(), value_hash(&decode(k, v.as_str().unwrap_or(""))?));
    }
    for (k, v) in doc.get(plain).and_then(Value::as_object).into_iter().flatten() {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        values.insert(k.clone(), value_hash(text.as_bytes()));
    }
    Ok(values)
}

fn extract_config(doc: &Value, secret: bool, origin: Origin<'_>, state: &mut DeclaredState) {
    let kind = if secret { "Secret" } else { "ConfigMap" };
    let problem = |reason: String| ManifestProblem {
        file: origin.file.to_string(),
        source: origin.source.to_string(),
        workload: None,
        container: None,
        reason,
    };
    let Some((name, namespace)) = name_and_namespace(doc, origin) else {
        state.problems.push(problem(format!("{kind} without metadata.name")));
        return;
    };
    match config_values(doc, secret) {
        Ok(values) => state.configs.push(ConfigObject {
            secret,
            namespace: namespace.to_string(),
            name: name.to_string(),
            values,
            source: origin.source.to_string(),
            file: origin.file.to_string(),
        }),
        Err(e) => state.problems.push(problem(format!(
            "{kind} {namespace}/{name}: {}",
            crate::error_chain(&e)
        ))),
    }
}

/// `metadata.name` (else `metadata.generateName`, the prefix the API server completes, as Argo
/// CD hook Jobs use: the object is named by its prefix, `db-migrate-`) and `metadata.namespace`
/// (default: the path's).
fn name_and_namespace<'a>(doc: &'a Value, origin: Origin<'a>) -> Option<(&'a str, &'a str)> {
    let meta = doc.get("metadata");
    let field = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let name = field("name").or_else(|| field("generateName"))?;
    Some((name, field("namespace").unwrap_or(origin.default_namespace)))
}

/// Whether a workload name is a `generateName` prefix: an object name never ends with `-`, so
/// such a name stands for every object the API server named from it (`db-migrate-x7k2p`).
pub fn is_generated_prefix(name: &str) -> bool {
    name.ends_with('-')
}

/// Whether the live object `live` is the declared `declared`: the same name, or one the API
/// server generated from the declared `generateName` prefix.
pub fn names_match(declared: &str, live: &str) -> bool {
    declared == live || (is_generated_prefix(declared) && live.starts_with(declared) && live.len() > declared.len())
}

/// The Pod template spec of a workload object (for a Pod, its own spec).
pub fn pod_spec(kind: WorkloadKind, obj: &Value) -> Option<&Value> {
    let spec = obj.get("spec")?;
    match kind {
        WorkloadKind::Pod => Some(spec),
        WorkloadKind::CronJob => spec.get("jobTemplate")?.get("spec")?.get("template")?.get("spec"),
        _ => spec.get("template")?.get("spec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn run(docs: Vec<Value>) -> DeclaredState {
        let mut state = DeclaredState::default();
        let origin = Origin {
            file: "apps/api/deploy.yaml",
            source: "apps/api",
            default_namespace: "shop",
            helm: None,
        };
        extract(&docs, origin, &mut state);
        state
    }

    fn deployment(name: &str, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
               "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
    }

    #[test]
    fn every_workload_kind_and_its_pod_spec() {
        let tmpl = json!({"spec": {"initContainers": [{"name": "init", "image": "busybox:1"}],
                                   "containers": [{"name": "app", "image": format!("api@{D}")}]}});
        let docs = vec![
            json!({"kind": "Deployment", "metadata": {"name": "d", "namespace": "other"}, "spec": {"template": tmpl}}),
            json!({"kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {"template": tmpl}}),
            json!({"kind": "DaemonSet", "metadata": {"name": "ds"}, "spec": {"template": tmpl}}),
            json!({"kind": "ReplicaSet", "metadata": {"name": "rs"}, "spec": {"template": tmpl}}),
            json!({"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": tmpl}}),
            json!({"kind": "CronJob", "metadata": {"name": "cj"}, "spec": {"jobTemplate": {"spec": {"template": tmpl}}}}),
            json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": tmpl["spec"]}),
            json!({"kind": "Service", "metadata": {"name": "svc"}}),
        ];
        let state = run(docs);
        assert!(state.problems.is_empty(), "{:?}", state.problems);
        let kinds: Vec<_> = state
            .workloads
            .iter()
            .map(|w| (w.kind, w.namespace.as_str(), w.containers.len()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (WorkloadKind::Deployment, "other", 2),
                (WorkloadKind::StatefulSet, "shop", 2),
                (WorkloadKind::DaemonSet, "shop", 2),
                (WorkloadKind::ReplicaSet, "shop", 2),
                (WorkloadKind::Job, "shop", 2),
                (WorkloadKind::CronJob, "shop", 2),
                (WorkloadKind::Pod, "shop", 2),
            ]
        );
        let c = &state.workloads[0].containers;
        assert_eq!((c[0].name.as_str(), c[0].init), ("init", true));
        assert_eq!((c[1].image.as_str(), c[1].init), (format!("api@{D}").as_str(), false));
    }

    #[test]
    fn lists_are_flattened() {
        let state = run(vec![
            json!({"kind": "List", "items": [deployment("a", "nginx:1"), deployment("b", "nginx:2")]}),
        ]);
        assert_eq!(state.workloads.len(), 2);
    }

    #[test]
    fn bad_image_is_a_problem_and_workload_is_still_declared() {
        let state = run(vec![deployment("api", "Registry/API:1")]);
        assert_eq!(
            state.workloads.len(),
            1,
            "the workload stays declared so it is not reported undeclared"
        );
        // Kept exactly as rendered and marked, never silently dropped (issue 8): `declared`
        // shows it, and the comparison skips it.
        let c = &state.workloads[0].containers[0];
        assert_eq!((c.name.as_str(), c.image.as_str()), ("app", "Registry/API:1"));
        assert!(
            c.invalid.as_deref().is_some_and(|r| r.contains("Registry/API:1")),
            "{c:?}"
        );
        let p = &state.problems[0];
        assert_eq!(p.container.as_deref(), Some("app"));
        assert!(p.reason.contains("Registry/API:1"), "{}", p.reason);
        assert_eq!(p.file, "apps/api/deploy.yaml");
    }

    #[test]
    fn missing_name_and_duplicates_are_problems() {
        let state = run(vec![
            json!({"kind": "Deployment", "metadata": {}}),
            deployment("api", "nginx:1"),
            deployment("api", "nginx:2"),
        ]);
        assert_eq!(state.workloads.len(), 1);
        assert_eq!(state.problems.len(), 2);
        assert!(state.problems[0].reason.contains("without metadata.name"));
        assert!(state.problems[1].reason.contains("declared twice"));
    }

    /// Argo CD hook Jobs carry `generateName` and no `name` (issue 19): a workload named by its
    /// prefix, not a `Job without metadata.name` problem.
    #[test]
    fn generate_name_names_the_workload_by_its_prefix() {
        let job = json!({"kind": "Job", "metadata": {"generateName": "db-migrate-",
            "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
            "spec": {"template": {"spec": {"containers": [{"name": "migrate", "image": format!("migrate@{D}")}]}}}});
        let state = run(vec![job]);
        assert!(state.problems.is_empty(), "{:?}", state.problems);
        let w = &state.workloads[0];
        assert_eq!(
            (w.kind, w.namespace.as_str(), w.name.as_str()),
            (WorkloadKind::Job, "shop", "db-migrate-")
        );
        assert!(names_match("db-migrate-", "db-migrate-x7k2p"));
        assert!(!names_match("db-migrate-", "db-seed-x7k2p"));
        assert!(!names_match("db-migrate", "db-migrate-x7k2p"));
    }

    /// A Rollout declares its containers inline, or through `spec.workloadRef` as the
    /// Deployment it names, which another path may declare; a reference to nothing declared is
    /// a problem of the Rollout.
    #[test]
    fn rollouts_inline_and_through_workload_ref() {
        let inline = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": format!("web@{D}")}]}},
                     "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}}});
        let by_ref = |name: &str, target: &str| {
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name},
            "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target, "scaleDown": "onsuccess"}}})
        };
        let mut state = run(vec![inline, by_ref("api", "api-template"), by_ref("cart", "nowhere")]);
        // The Deployment comes from another file, after the Rollout.
        let origin = Origin {
            file: "apps/api/template.yaml",
            source: "apps/api",
            default_namespace: "shop",
            helm: None,
        };
        extract(&[deployment("api-template", &format!("api@{D}"))], origin, &mut state);
        resolve_workload_refs(&mut state);
        let images: Vec<(WorkloadKind, &str, Vec<&str>)> = state
            .workloads
            .iter()
            .map(|w| {
                (
                    w.kind,
                    w.name.as_str(),
                    w.containers.iter().map(|c| c.image.as_str()).collect(),
                )
            })
            .collect();
        let (web, api) = (format!("web@{D}"), format!("api@{D}"));
        assert_eq!(
            images,
            vec![
                (WorkloadKind::Rollout, "web", vec![web.as_str()]),
                (WorkloadKind::Rollout, "api", vec![api.as_str()]),
                (WorkloadKind::Rollout, "cart", vec![]),
                (WorkloadKind::Deployment, "api-template", vec![api.as_str()]),
            ]
        );
        assert_eq!(state.problems.len(), 1, "{:?}", state.problems);
        let p = &state.problems[0];
        assert_eq!(p.workload.as_ref().map(|k| k.name.as_str()), Some("cart"));
        assert!(p.reason.contains("Deployment nowhere"), "{}", p.reason);
        assert!(state.workload_refs.is_empty());
    }
}
