//! kustomize's field specs: where its built-in transformers write (a group/version/kind filter
//! and a `/`-separated path whose arrays are walked implicitly), the default specs it ships
//! (`api/internal/konfig/builtinpluginconsts`, v5.5.0, embedded verbatim in `tables.rs`), the
//! walk itself (`api/filters/fieldspec`), and kustomize's own list of cluster-scoped types,
//! which decides namespaces more precisely than a kind-only list.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::BuildError;
use tables::{
    CLUSTER_SCOPED, COMMON_ANNOTATIONS, COMMON_LABELS, METADATA_LABELS, NAME_PREFIX, NAME_REFERENCE, NAME_SUFFIX,
    NAMESPACE,
};

mod tables;

/// Where a transformer writes: objects of the group/version/kind (empty is any) at `path`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    /// Create the missing fields on the way (only where the transformer says what to create).
    #[serde(default, rename = "create")]
    pub create: bool,
}

impl FieldSpec {
    /// Whether this spec's group/version/kind (empty fields match anything) selects the type.
    pub fn selects(&self, group: &str, version: &str, kind: &str) -> bool {
        gvk_selects(&self.group, &self.version, &self.kind, group, version, kind)
    }
}

/// kyaml's `Gvk.IsSelected`: an empty selector field is a wildcard.
pub fn gvk_selects(sel_group: &str, sel_version: &str, sel_kind: &str, group: &str, version: &str, kind: &str) -> bool {
    (sel_group.is_empty() || sel_group == group)
        && (sel_version.is_empty() || sel_version == version)
        && (sel_kind.is_empty() || sel_kind == kind)
}

/// One `nameReference` entry: fields of referrers that hold the name of a referent type.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackRef {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}

/// The default spec lists kustomize configures its transformers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defaults {
    NamePrefix,
    NameSuffix,
    Namespace,
    CommonLabels,
    TemplateLabels,
    CommonAnnotations,
}

/// A default spec list.
pub fn defaults(which: Defaults) -> &'static [FieldSpec] {
    &DEFAULTS
        .iter()
        .find(|(w, _)| *w == which)
        .expect("every list is parsed")
        .1
}

/// The default `nameReference` entries, in kustomize's file order.
pub fn name_references() -> &'static [BackRef] {
    &NAME_REFERENCES
}

static DEFAULTS: LazyLock<Vec<(Defaults, Vec<FieldSpec>)>> = LazyLock::new(|| {
    [
        (Defaults::NamePrefix, NAME_PREFIX.to_string()),
        (Defaults::NameSuffix, NAME_SUFFIX.to_string()),
        (Defaults::Namespace, NAMESPACE.to_string()),
        (Defaults::CommonLabels, format!("{COMMON_LABELS}{METADATA_LABELS}")),
        (Defaults::TemplateLabels, METADATA_LABELS.to_string()),
        (Defaults::CommonAnnotations, COMMON_ANNOTATIONS.to_string()),
    ]
    .into_iter()
    .map(|(w, text)| {
        let specs: Vec<FieldSpec> = serde_yaml::from_str(&text).expect("the embedded field specs parse");
        (w, specs)
    })
    .collect()
});

static NAME_REFERENCES: LazyLock<Vec<BackRef>> =
    LazyLock::new(|| serde_yaml::from_str(NAME_REFERENCE).expect("the embedded name references parse"));

/// Which fields the walk may create when `create` is set (kustomize's `CreateKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Create {
    /// Never create (the nameref filter passes no kind).
    Nothing,
    /// The last field is a string (names, namespaces).
    Scalar,
    /// The last field is a map (labels, annotations).
    Mapping,
}

/// One step from a value to a nested one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// kyaml's `PathSplitter`: `/`-separated, a leading `/` allowed, `\/` escapes a slash.
pub fn split_path(path: &str) -> Vec<String> {
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 1 && parts[0].is_empty() {
        parts.remove(0);
    }
    let mut out: Vec<String> = vec![parts[0].to_string()];
    for p in &parts[1..] {
        let last = out.last_mut().expect("never empty");
        if let Some(stripped) = last.strip_suffix('\\') {
            *last = format!("{stripped}/{p}");
        } else {
            out.push(p.to_string());
        }
    }
    out
}

/// The group and version of an `apiVersion` (kyaml's `ParseGroupVersion`: split at the first
/// `/`; no `/` is the core group).
pub fn group_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

fn str_field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Whether the spec's group/version/kind selects the object as it is now (`isMatchGVK`).
pub fn matches(spec: &FieldSpec, obj: &Value) -> bool {
    let (group, version) = group_version(str_field(obj, "apiVersion"));
    spec.selects(group, version, str_field(obj, "kind"))
}

fn check_segment(seg: &str) -> Result<(), BuildError> {
    if seg.is_empty() {
        return Err(BuildError::Invalid("cannot set or create an empty field name".into()));
    }
    // kyaml's Lookup reads `[a=b]` and friends as list matchers; no default spec uses them.
    if seg.starts_with('[') || seg == "-" {
        return Err(BuildError::Unsupported("uses field specs with list matchers".into()));
    }
    Ok(())
}

/// Runs `set` on every value at `spec.path` in `obj` (when the spec selects it), creating missing
/// fields as kustomize's fieldspec filter does when `spec.create` and `create` allow it.
pub fn apply(
    obj: &mut Value,
    spec: &FieldSpec,
    create: Create,
    set: &mut dyn FnMut(&mut Value) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    if !matches(spec, obj) {
        return Ok(());
    }
    let path = split_path(&spec.path);
    walk_mut(obj, &path, spec.create, create, set)
        .map_err(|e| prefix_error(e, &format!("considering field '{}' of object", spec.path)))
}

fn prefix_error(e: BuildError, what: &str) -> BuildError {
    match e {
        BuildError::Invalid(m) => BuildError::Invalid(format!("{what}: {m}")),
        other => other,
    }
}

fn walk_mut(
    node: &mut Value,
    path: &[String],
    spec_create: bool,
    create: Create,
    set: &mut dyn FnMut(&mut Value) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let Some((first, rest)) = path.split_first() else {
        return set(node);
    };
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                walk_mut(item, path, spec_create, create, set)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            let (name, is_seq) = match first.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (first.as_str(), false),
            };
            check_segment(name)?;
            if !spec_create || create == Create::Nothing || is_seq {
                let Some(field) = map.get_mut(name) else {
                    return Ok(());
                };
                // kustomize turns a null field marked `[]` into an empty sequence.
                if is_seq && field.is_null() {
                    *field = Value::Array(Vec::new());
                }
                return walk_mut(field, rest, spec_create, create, set);
            }
            let empty = if rest.is_empty() && create == Create::Scalar {
                Value::String(String::new())
            } else {
                Value::Object(Map::new())
            };
            let field = map.entry(name.to_string()).or_insert(Value::Null);
            if field.is_null() {
                *field = empty;
            }
            walk_mut(field, rest, spec_create, create, set)
        }
        _ => Err(BuildError::Invalid("expected sequence or mapping node".into())),
    }
}

/// Where `spec.path` leads in `obj` (when the spec selects it), without creating anything:
/// each location as the steps from `obj`. Null values are not locations.
pub fn locate(obj: &Value, spec: &FieldSpec) -> Result<Vec<Vec<Step>>, BuildError> {
    let mut out = Vec::new();
    if matches(spec, obj) {
        let path = split_path(&spec.path);
        let mut here = Vec::new();
        walk_ref(obj, &path, &mut here, &mut out)
            .map_err(|e| prefix_error(e, &format!("considering field '{}' of object", spec.path)))?;
    }
    Ok(out)
}

fn walk_ref(node: &Value, path: &[String], here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) -> Result<(), BuildError> {
    let Some((first, rest)) = path.split_first() else {
        if !node.is_null() {
            out.push(here.clone());
        }
        return Ok(());
    };
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                here.push(Step::Index(i));
                walk_ref(item, path, here, out)?;
                here.pop();
            }
            Ok(())
        }
        Value::Object(map) => {
            let name = first.strip_suffix("[]").unwrap_or(first);
            check_segment(name)?;
            if first.ends_with("[]") {
                // Only the mutating walk can turn null into `[]`; nothing to locate there.
                return Err(BuildError::Unsupported("uses name references through [] paths".into()));
            }
            let Some(field) = map.get(name) else {
                return Ok(());
            };
            here.push(Step::Key(name.to_string()));
            walk_ref(field, rest, here, out)?;
            here.pop();
            Ok(())
        }
        _ => Err(BuildError::Invalid("expected sequence or mapping node".into())),
    }
}

/// The value at `steps` below `obj`.
pub fn get_mut<'a>(obj: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for s in steps {
        cur = match s {
            Step::Key(k) => cur.get_mut(k.as_str())?,
            Step::Index(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// The value at `steps` below `obj`.
pub fn get<'a>(obj: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let mut cur = obj;
    for s in steps {
        cur = match s {
            Step::Key(k) => cur.get(k.as_str())?,
            Step::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

/// Whether kustomize treats the type as cluster-scoped.
pub fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    CLUSTER_SCOPED.iter().any(|(a, k)| *a == api_version && *k == kind)
}

/// The group/version form of [`is_cluster_scoped`].
pub fn is_cluster_scoped_gv(group: &str, version: &str, kind: &str) -> bool {
    if group.is_empty() {
        is_cluster_scoped(version, kind)
    } else {
        is_cluster_scoped(&format!("{group}/{version}"), kind)
    }
}

/// kustomize's `EffectiveNamespace`: cluster-scoped types have none (a marker), an empty
/// namespace is `default`.
pub fn effective_namespace(group: &str, version: &str, kind: &str, namespace: &str) -> String {
    if is_cluster_scoped_gv(group, version, kind) {
        "_non_namespaceable_".to_string()
    } else if namespace.is_empty() {
        "default".to_string()
    } else {
        namespace.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn splits_paths_as_kyaml_does() {
        let cases = [
            (
                "spec/template/metadata/labels",
                vec!["spec", "template", "metadata", "labels"],
            ),
            ("/metadata/name", vec!["metadata", "name"]),
            (
                r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-secret",
                vec!["metadata", "annotations", "nginx.ingress.kubernetes.io/auth-secret"],
            ),
        ];
        for (path, want) in cases {
            assert_eq!(split_path(path), want, "{path}");
        }
    }

    fn spec(kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            kind: kind.into(),
            path: path.into(),
            create,
            ..Default::default()
        }
    }

    /// Writes `"x"` at the spec's path; the expected objects follow kustomize's fieldspec filter
    /// (`api/filters/fieldspec`): arrays walked implicitly, fields created only with `create`.
    #[test]
    fn walks_and_creates_like_the_fieldspec_filter() {
        let cases: Vec<(&str, Value, FieldSpec, Value)> = vec![
            (
                "arrays on the way are walked element by element",
                json!({"kind": "Pod", "spec": {"containers": [{"env": [{"v": "a"}, {"v": "b"}]}, {"env": [{"w": 1}]}]}}),
                spec("Pod", "spec/containers/env/v", false),
                json!({"kind": "Pod", "spec": {"containers": [{"env": [{"v": "x"}, {"v": "x"}]}, {"env": [{"w": 1}]}]}}),
            ),
            (
                "missing fields are created when the spec says so",
                json!({"kind": "Pod"}),
                spec("", "metadata/namespace", true),
                json!({"kind": "Pod", "metadata": {"namespace": "x"}}),
            ),
            (
                "and left alone otherwise",
                json!({"kind": "Pod"}),
                spec("", "metadata/namespace", false),
                json!({"kind": "Pod"}),
            ),
            (
                "a spec for another kind does nothing",
                json!({"kind": "Pod", "metadata": {"name": "a"}}),
                spec("Service", "metadata/name", false),
                json!({"kind": "Pod", "metadata": {"name": "a"}}),
            ),
            (
                "a null field marked [] becomes an empty list",
                json!({"kind": "Pod", "spec": {"items": null}}),
                spec("", "spec/items[]/name", true),
                json!({"kind": "Pod", "spec": {"items": []}}),
            ),
        ];
        for (what, mut obj, spec, want) in cases {
            let mut set = |v: &mut Value| {
                *v = json!("x");
                Ok(())
            };
            apply(&mut obj, &spec, Create::Scalar, &mut set).unwrap();
            assert_eq!(obj, want, "{what}");
        }
    }

    #[test]
    fn a_scalar_in_the_way_is_kustomizes_error() {
        let mut obj = json!({"kind": "Pod", "spec": "oops"});
        let mut set = |_: &mut Value| Ok(());
        let err = apply(&mut obj, &spec("", "spec/x", false), Create::Nothing, &mut set).unwrap_err();
        assert!(matches!(err, BuildError::Invalid(m) if m.contains("expected sequence or mapping node")));
    }

    #[test]
    fn knows_cluster_scope_by_api_version_as_kustomize_does() {
        let cases = [
            ("rbac.authorization.k8s.io/v1", "ClusterRole", true),
            ("rbac.authorization.k8s.io/v1alpha1", "ClusterRole", false),
            ("v1", "Namespace", true),
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", false),
            ("v1", "ConfigMap", false),
        ];
        for (api_version, kind, want) in cases {
            assert_eq!(is_cluster_scoped(api_version, kind), want, "{api_version} {kind}");
        }
    }

    #[test]
    fn the_embedded_defaults_parse() {
        assert_eq!(defaults(Defaults::Namespace).len(), 3);
        assert!(
            defaults(Defaults::CommonLabels)
                .iter()
                .any(|s| s.path == "spec/volumeClaimTemplates[]/metadata/labels")
        );
        assert!(
            name_references()
                .iter()
                .any(|b| b.kind == "ConfigMap" && b.field_specs.len() > 40)
        );
    }
}
