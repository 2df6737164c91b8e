//! `commonLabels`, `labels` and `commonAnnotations` (kustomize's LabelTransformer and
//! AnnotationsTransformer with the field specs kustomize configures them with): labels go to
//! metadata, and as asked to selectors and pod templates, which later overlays' `labelSelector`
//! and `annotationSelector` patch targets depend on.

use std::collections::BTreeMap;

use serde_json::Value;

use super::BuildError;
use super::fieldspec::{self, Create, Defaults, FieldSpec};
use super::kustomization::Kustomization;
use super::resource::ResMap;

/// The kustomization's `labels` entries, then `commonLabels`, then `commonAnnotations`, as
/// kustomize's LabelTransformer and AnnotationsTransformer run them.
pub fn apply_kustomization(res: &mut ResMap, k: &Kustomization) -> Result<(), BuildError> {
    for label in k.labels.iter().flatten() {
        if label.fields.is_some() {
            return Err(BuildError::Unsupported("uses labels with fields".into()));
        }
        apply(res, &label.pairs, label.include_selectors, label.include_templates)?;
    }
    if let Some(labels) = &k.common_labels {
        set_all(res, labels, fieldspec::defaults(Defaults::CommonLabels))?;
    }
    if let Some(annotations) = &k.common_annotations {
        set_all(res, annotations, fieldspec::defaults(Defaults::CommonAnnotations))?;
    }
    Ok(())
}

/// One `labels` entry: metadata only; with `include_templates` pod templates too; with
/// `include_selectors` everything `commonLabels` reaches (selectors included).
pub fn apply(
    res: &mut ResMap,
    pairs: &BTreeMap<String, String>,
    include_selectors: bool,
    include_templates: bool,
) -> Result<(), BuildError> {
    let specs = entry_specs(include_selectors, include_templates);
    set_all(res, pairs, &specs)
}

/// The field specs kustomize builds for a `labels` entry (kusttarget_configplugin.go).
fn entry_specs(include_selectors: bool, include_templates: bool) -> Vec<FieldSpec> {
    if include_selectors {
        return fieldspec::defaults(Defaults::CommonLabels).to_vec();
    }
    let mut specs = Vec::new();
    if include_templates {
        merge(&mut specs, fieldspec::defaults(Defaults::TemplateLabels));
    }
    merge(
        &mut specs,
        &[FieldSpec {
            path: "metadata/labels".into(),
            create: true,
            ..Default::default()
        }],
    );
    specs
}

/// `FsSlice.MergeAll` for specs that never conflict: adds those not already present.
fn merge(into: &mut Vec<FieldSpec>, specs: &[FieldSpec]) {
    for s in specs {
        if !into
            .iter()
            .any(|x| x.group == s.group && x.version == s.version && x.kind == s.kind && x.path == s.path)
        {
            into.push(s.clone());
        }
    }
}

/// A LabelTransformer or AnnotationsTransformer: every pair, in key order, at every spec's
/// path (a map, created where the spec says), on every resource.
pub fn set_all(res: &mut ResMap, pairs: &BTreeMap<String, String>, specs: &[FieldSpec]) -> Result<(), BuildError> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in &mut res.resources {
        for (key, value) in pairs {
            for spec in specs {
                let mut set = |node: &mut Value| -> Result<(), BuildError> {
                    match node {
                        Value::Object(map) => {
                            map.insert(key.clone(), Value::String(value.clone()));
                            Ok(())
                        }
                        // kustomize's field setter does odd things on a null or non-map node.
                        _ => Err(BuildError::Unsupported(format!(
                            "uses labels or annotations on a field that is not a map ({})",
                            spec.path
                        ))),
                    }
                };
                fieldspec::apply(&mut r.obj, spec, Create::Mapping, &mut set)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kustomization::Label;
    use crate::resource::Resource;

    fn one(obj: Value) -> ResMap {
        let mut m = ResMap::default();
        m.append(Resource::new(obj)).unwrap();
        m
    }

    fn pairs(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    }

    fn statefulset() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
            "spec": {"selector": {"matchLabels": {"x": "y"}},
                "template": {"metadata": {"labels": {"x": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}})
    }

    fn cronjob() -> Value {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}}})
    }

    fn kustomization(yaml: &str) -> Kustomization {
        Kustomization::parse("kustomization.yaml", yaml).unwrap()
    }

    // Expected objects are what `kubectl kustomize` (kustomize v5.5.0) printed for the same
    // resources and kustomization fields.
    #[test]
    fn labels_and_annotations_land_where_kustomize_puts_them() {
        let cases: Vec<(&str, Value, &str, Value)> = vec![
            (
                "commonLabels reach a Deployment's metadata, created selector and template",
                deployment(),
                "commonLabels: {app: a}",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "a"}},
                    "spec": {"selector": {"matchLabels": {"app": "a"}},
                        "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
            ),
            (
                "commonLabels reach a Service selector",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}),
                "commonLabels: {app: a}",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"app": "a"}},
                    "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}}}),
            ),
            (
                "commonLabels reach a CronJob's job and pod templates but create no job selector",
                cronjob(),
                "commonLabels: {app: a}",
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "labels": {"app": "a"}},
                    "spec": {"schedule": "* * * * *", "jobTemplate": {"metadata": {"labels": {"app": "a"}},
                        "spec": {"template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}}}),
            ),
            (
                "commonLabels reach StatefulSet volume claim templates",
                statefulset(),
                "commonLabels: {app: a}",
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "labels": {"app": "a"}},
                    "spec": {"selector": {"matchLabels": {"x": "y", "app": "a"}},
                        "template": {"metadata": {"labels": {"x": "y", "app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                        "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"app": "a"}}}]}}),
            ),
            (
                "labels without options touch metadata only",
                deployment(),
                "labels: [{pairs: {app: a}}]",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "a"}},
                    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
            ),
            (
                "includeTemplates adds pod templates and volume claim templates, not selectors",
                statefulset(),
                "labels: [{pairs: {app: a}, includeTemplates: true}]",
                json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "labels": {"app": "a"}},
                    "spec": {"selector": {"matchLabels": {"x": "y"}},
                        "template": {"metadata": {"labels": {"x": "y", "app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                        "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"app": "a"}}}]}}),
            ),
            (
                "includeSelectors is commonLabels",
                deployment(),
                "labels: [{pairs: {app: a}, includeSelectors: true}]",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "a"}},
                    "spec": {"selector": {"matchLabels": {"app": "a"}},
                        "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
            ),
            (
                "commonAnnotations reach metadata and the pod template",
                deployment(),
                "commonAnnotations: {team: t}",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "annotations": {"team": "t"}},
                    "spec": {"template": {"metadata": {"annotations": {"team": "t"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}),
            ),
        ];
        for (what, input, k, want) in cases {
            let mut m = one(input);
            apply_kustomization(&mut m, &kustomization(k)).unwrap();
            assert_eq!(m.resources[0].obj, want, "{what}");
        }
    }

    #[test]
    fn a_label_entry_with_fields_is_left_to_kustomize() {
        let mut m = one(deployment());
        let k = Kustomization {
            labels: Some(vec![Label {
                pairs: pairs(&[("a", "b")]),
                fields: Some(json!([{"path": "spec/x"}])),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(matches!(
            apply_kustomization(&mut m, &k),
            Err(BuildError::Unsupported(_))
        ));
    }
}
