//! `namePrefix` and `nameSuffix` (kustomize's PrefixTransformer and SuffixTransformer): the name
//! fields of the field specs get the prefix or suffix, except on CustomResourceDefinitions,
//! APIServices and Namespaces, and each resource remembers the prefixes and suffixes it got so
//! the name-reference fix-up can tell apart same-named referents from differently prefixed bases.

use serde_json::{Map, Value};

use super::BuildError;
use super::fieldspec::{self, Create, Defaults, FieldSpec};
use super::resource::{ResId, ResMap, Resource};

/// Where kustomize records the prefixes a resource got, comma-separated, oldest first (a build
/// annotation it removes from its output; [`super::nameref::fix_references`] removes it here).
pub const PREFIXES_ANNOTATION: &str = "internal.config.kubernetes.io/prefixes";
/// The same for suffixes.
pub const SUFFIXES_ANNOTATION: &str = "internal.config.kubernetes.io/suffixes";

/// `namePrefix` then `nameSuffix` with kustomize's default field specs.
pub fn apply(res: &mut ResMap, prefix: &str, suffix: &str) -> Result<(), BuildError> {
    if !prefix.is_empty() {
        apply_prefix(res, prefix, fieldspec::defaults(Defaults::NamePrefix))?;
    }
    if !suffix.is_empty() {
        apply_suffix(res, suffix, fieldspec::defaults(Defaults::NameSuffix))?;
    }
    Ok(())
}

/// A PrefixTransformer with these field specs.
pub fn apply_prefix(res: &mut ResMap, prefix: &str, specs: &[FieldSpec]) -> Result<(), BuildError> {
    run(res, prefix, specs, PREFIXES_ANNOTATION, |name, p| format!("{p}{name}"))
}

/// A SuffixTransformer with these field specs.
pub fn apply_suffix(res: &mut ResMap, suffix: &str, specs: &[FieldSpec]) -> Result<(), BuildError> {
    run(res, suffix, specs, SUFFIXES_ANNOTATION, |name, s| format!("{name}{s}"))
}

/// The id a resource was first known by, as kustomize's `OrgId` reads it: the oldest stored id's
/// kind, name and namespace, with the current group and version.
pub(crate) fn org_id(r: &Resource) -> ResId {
    let cur = r.id();
    match r.previous.first() {
        Some(p) => ResId {
            group: cur.group,
            version: cur.version,
            kind: p.kind.clone(),
            name: p.name.clone(),
            namespace: p.namespace.clone(),
        },
        None => cur,
    }
}

/// Kinds both transformers leave alone (`prefixFieldSpecsToSkip`), judged by the original id.
fn skipped(id: &ResId) -> bool {
    id.kind == "CustomResourceDefinition"
        || id.kind == "Namespace"
        || (id.kind == "APIService" && id.group == "apiregistration.k8s.io")
}

fn run(
    res: &mut ResMap,
    affix: &str,
    specs: &[FieldSpec],
    annotation: &str,
    join: fn(&str, &str) -> String,
) -> Result<(), BuildError> {
    for r in &mut res.resources {
        let org = org_id(r);
        if skipped(&org) {
            continue;
        }
        for spec in specs {
            if !spec.selects(&org.group, &org.version, &org.kind) {
                continue;
            }
            if spec.path == "metadata/name" {
                append_csv_annotation(r, annotation, affix);
                if !affix.is_empty() {
                    r.previous.push(r.id());
                }
            }
            let mut set = |node: &mut Value| -> Result<(), BuildError> {
                let current = match node {
                    Value::String(s) => s.clone(),
                    Value::Object(_) | Value::Array(_) => {
                        return Err(BuildError::Invalid(format!(
                            "considering field '{}': wrong node kind: expected ScalarNode",
                            spec.path
                        )));
                    }
                    // A null or non-string name reads differently in kustomize's YAML nodes.
                    _ => return Err(BuildError::Unsupported("uses names that are not strings".into())),
                };
                *node = Value::String(join(&current, affix));
                Ok(())
            };
            fieldspec::apply(&mut r.obj, spec, Create::Scalar, &mut set)?;
        }
    }
    Ok(())
}

/// kustomize's `appendCsvAnnotation`: empty values are not recorded.
fn append_csv_annotation(r: &mut Resource, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let meta = r.metadata_mut();
    let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    let annotations = annotations.as_object_mut().expect("just made an object");
    let new = match annotations.get(key).and_then(Value::as_str) {
        Some(old) => format!("{old},{value}"),
        None => value.to_string(),
    };
    annotations.insert(key.to_string(), Value::String(new));
}

/// The prefixes (or suffixes) a resource got, oldest first.
pub fn recorded(r: &Resource, key: &str) -> Vec<String> {
    r.obj
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names_after(objs: Vec<Value>, prefix: &str, suffix: &str) -> Vec<String> {
        let mut m = ResMap::default();
        for o in objs {
            m.append(Resource::new(o)).unwrap();
        }
        apply(&mut m, prefix, suffix).unwrap();
        m.resources.iter().map(|r| r.name().to_string()).collect()
    }

    // Expected names are what `kubectl kustomize` (kustomize v5.5.0) printed with
    // `namePrefix: p-` and `nameSuffix: -s`.
    #[test]
    fn renames_what_kustomize_renames() {
        let cases = vec![
            (
                "a ConfigMap",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}),
                "p-cm-s",
            ),
            (
                "a cluster-scoped ClusterRole",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"}}),
                "p-cr-s",
            ),
            (
                "a Namespace",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
                "ns",
            ),
            (
                "a Namespace of any version",
                json!({"apiVersion": "v2", "kind": "Namespace", "metadata": {"name": "ns"}}),
                "ns",
            ),
            (
                "a CRD",
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "foos.x.io"}}),
                "foos.x.io",
            ),
            (
                "an APIService",
                json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.foo"}}),
                "v1.foo",
            ),
            (
                "a custom resource",
                json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
                "p-w-s",
            ),
        ];
        for (what, obj, want) in cases {
            assert_eq!(names_after(vec![obj], "p-", "-s"), vec![want.to_string()], "{what}");
        }
    }

    #[test]
    fn records_prefixes_and_previous_names() {
        let mut m = ResMap::default();
        m.append(Resource::new(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}),
        ))
        .unwrap();
        apply(&mut m, "a-", "").unwrap();
        apply(&mut m, "b-", "-x").unwrap();
        let r = &m.resources[0];
        assert_eq!(r.name(), "b-a-cm-x");
        assert_eq!(recorded(r, PREFIXES_ANNOTATION), vec!["a-", "b-"]);
        assert_eq!(recorded(r, SUFFIXES_ANNOTATION), vec!["-x"]);
        let previous: Vec<&str> = r.previous.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(previous, vec!["cm", "a-cm", "b-a-cm"]);
    }
}
