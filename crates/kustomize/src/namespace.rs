//! The `namespace` transformer (kustomize's NamespaceTransformer, `api/filters/namespace`):
//! `metadata.namespace` on every type kustomize does not know to be cluster-scoped, the name of
//! a `v1` Namespace object, the namespace fields its field specs list, and RoleBinding and
//! ClusterRoleBinding subjects as `setRoleBindingSubjects` says.

use serde_json::Value;

use super::BuildError;
use super::fieldspec::{self, Create, Defaults, FieldSpec};
use super::resource::{ResMap, Resource};

/// Which RoleBinding/ClusterRoleBinding subjects get the namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SubjectMode {
    /// kustomize's default: subjects named `default`, whatever their kind.
    #[default]
    DefaultOnly,
    /// Subjects of kind ServiceAccount.
    AllServiceAccounts,
    /// None.
    None,
}

impl SubjectMode {
    /// The `setRoleBindingSubjects` value; empty is the default, anything unknown is
    /// kustomize's configuration error.
    pub fn parse(s: &str) -> Result<Self, BuildError> {
        match s {
            "" | "defaultOnly" => Ok(Self::DefaultOnly),
            "allServiceAccounts" => Ok(Self::AllServiceAccounts),
            "none" => Ok(Self::None),
            other => Err(BuildError::Invalid(format!(
                "invalid value \"{other}\" for setRoleBindingSubjects: must be one of \"defaultOnly\", \"none\" or \"allServiceAccounts\""
            ))),
        }
    }
}

/// The transformer's options (as a `transformers:` entry can set them).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only fill namespace fields that are missing or empty.
    pub unset_only: bool,
    pub set_role_binding_subjects: SubjectMode,
    /// The field specs; `None` is kustomize's defaults (what `namespace:` uses). A
    /// `transformers:` entry's `fieldSpecs` replace them.
    pub field_specs: Option<Vec<FieldSpec>>,
}

/// Applies the namespace `ns` to every resource, in order, as kustomize does.
pub fn apply(res: &mut ResMap, ns: &str, options: &Options) -> Result<(), BuildError> {
    if ns.is_empty() {
        return Ok(());
    }
    let specs: &[FieldSpec] = match &options.field_specs {
        Some(s) => s,
        None => fieldspec::defaults(Defaults::Namespace),
    };
    for i in 0..res.resources.len() {
        let r = &mut res.resources[i];
        if is_nil_or_empty(&r.obj) {
            continue;
        }
        // kustomize stores the id before every namespace transformation, changed or not; the
        // name-reference fix-up counts these entries.
        r.previous.push(r.id());
        transform(r, ns, options, specs)?;
        let id = r.id();
        let clashes = res.resources.iter().filter(|o| same_current_id(&o.id(), &id)).count();
        if clashes != 1 {
            return Err(BuildError::Invalid(format!(
                "namespace transformation produces ID conflict: {}",
                id.display()
            )));
        }
    }
    Ok(())
}

fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// kustomize's `ResId.Equals`: group, version, kind, name and effective namespace, with
/// kustomize's own idea of which types are cluster-scoped.
pub(crate) fn same_current_id(a: &super::resource::ResId, b: &super::resource::ResId) -> bool {
    a.group == b.group
        && a.version == b.version
        && a.kind == b.kind
        && a.name == b.name
        && fieldspec::effective_namespace(&a.group, &a.version, &a.kind, &a.namespace)
            == fieldspec::effective_namespace(&b.group, &b.version, &b.kind, &b.namespace)
}

fn transform(r: &mut Resource, ns: &str, options: &Options, specs: &[FieldSpec]) -> Result<(), BuildError> {
    let api_version = r.api_version().to_string();
    let kind = r.kind().to_string();
    // metadata.namespace is handled by kind, never through the specs (they would reach
    // cluster-scoped kinds); metadata.name only for the core Namespace.
    let mut specs: Vec<FieldSpec> = specs
        .iter()
        .filter(|s| s.path != "metadata/namespace")
        .filter(|s| api_version == "v1" || s.path != "metadata/name")
        .cloned()
        .collect();
    let mut set = setter(ns, options.unset_only);
    if !fieldspec::is_cluster_scoped(&api_version, &kind) {
        let meta = FieldSpec {
            path: "metadata/namespace".into(),
            create: true,
            ..Default::default()
        };
        fieldspec::apply(&mut r.obj, &meta, Create::Scalar, &mut set)?;
    }
    if kind == "RoleBinding" || kind == "ClusterRoleBinding" {
        specs.retain(|s| {
            !((s.kind == "RoleBinding" || s.kind == "ClusterRoleBinding") && s.path == "subjects/namespace")
        });
        set_subjects(&mut r.obj, options.set_role_binding_subjects, &mut set)?;
    }
    for spec in &specs {
        fieldspec::apply(&mut r.obj, spec, Create::Scalar, &mut set)
            .map_err(|e| with_prefix(e, "namespace transformation failed"))?;
    }
    Ok(())
}

fn with_prefix(e: BuildError, what: &str) -> BuildError {
    match e {
        BuildError::Invalid(m) => BuildError::Invalid(format!("{what}: {m}")),
        other => other,
    }
}

/// kustomize's `SetEntry("", ns)` (or `SetEntryIfEmpty` for `unsetOnly`) on the located node.
fn setter(ns: &str, unset_only: bool) -> impl FnMut(&mut Value) -> Result<(), BuildError> + '_ {
    move |node: &mut Value| {
        match node {
            Value::Object(_) | Value::Array(_) => {
                return Err(BuildError::Invalid(
                    "namespace field specs must target scalar nodes".into(),
                ));
            }
            Value::String(s) if unset_only && !s.is_empty() => return Ok(()),
            // A number or boolean has a non-empty value to kustomize.
            Value::Number(_) | Value::Bool(_) if unset_only => return Ok(()),
            _ => {}
        }
        *node = Value::String(ns.to_string());
        Ok(())
    }
}

fn set_subjects(
    obj: &mut Value,
    mode: SubjectMode,
    set: &mut dyn FnMut(&mut Value) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    if mode == SubjectMode::None {
        return Ok(());
    }
    let Some(subjects) = obj.get_mut("subjects") else {
        return Ok(());
    };
    let items = match subjects {
        Value::Null => return Ok(()),
        Value::Array(items) => items,
        _ => {
            return Err(BuildError::Invalid(
                "setting namespace on (cluster)role binding subjects: wrong node kind".into(),
            ));
        }
    };
    let (field, wanted) = match mode {
        SubjectMode::DefaultOnly => ("name", "default"),
        SubjectMode::AllServiceAccounts => ("kind", "ServiceAccount"),
        SubjectMode::None => unreachable!("returned above"),
    };
    for subject in items {
        let Some(map) = subject.as_object_mut() else {
            return Err(BuildError::Unsupported(
                "uses role binding subjects that are not maps".into(),
            ));
        };
        if map.get(field).and_then(Value::as_str) != Some(wanted) {
            continue;
        }
        let slot = map.entry("namespace").or_insert(Value::String(String::new()));
        if slot.is_null() {
            *slot = Value::String(String::new());
        }
        set(slot)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resmap(objs: Vec<Value>) -> ResMap {
        let mut m = ResMap::default();
        for o in objs {
            m.append(Resource::new(o)).unwrap();
        }
        m
    }

    /// One case: (what, the input object, the options, the object kustomize printed).
    type Case<'a> = (&'a str, Value, Options, Value);

    /// Expected objects are what `kubectl kustomize` (kustomize v5.5.0) printed for the same
    /// inputs with `namespace: newns` (and, for the rows with options, a NamespaceTransformer
    /// entry).
    fn assert_sets_namespaces(cases: Vec<Case<'_>>) {
        for (what, input, options, want) in cases {
            let mut m = resmap(vec![input]);
            apply(&mut m, "newns", &options).unwrap();
            assert_eq!(m.resources[0].obj, want, "{what}");
        }
    }

    #[test]
    fn sets_object_namespaces_as_kustomize_does() {
        assert_sets_namespaces(vec![
            (
                "a namespaced object moves, whatever namespace it had",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "foo"}}),
                Options::default(),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "newns"}}),
            ),
            (
                "a known cluster-scoped type is left alone",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"}}),
                Options::default(),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"}}),
            ),
            (
                "an API version kustomize does not know is namespaced to it",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1alpha1", "kind": "ClusterRole", "metadata": {"name": "cr"}}),
                Options::default(),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1alpha1", "kind": "ClusterRole", "metadata": {"name": "cr", "namespace": "newns"}}),
            ),
            (
                "so is a ValidatingAdmissionPolicy",
                json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "vap"}}),
                Options::default(),
                json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "vap", "namespace": "newns"}}),
            ),
            (
                "a v1 Namespace is renamed to the namespace",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}}),
                Options::default(),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "newns"}}),
            ),
            (
                "a Namespace of another version is an ordinary namespaced object",
                json!({"apiVersion": "v2", "kind": "Namespace", "metadata": {"name": "old2"}}),
                Options::default(),
                json!({"apiVersion": "v2", "kind": "Namespace", "metadata": {"name": "old2", "namespace": "newns"}}),
            ),
        ]);
    }

    #[test]
    fn sets_referenced_service_namespaces_as_kustomize_does() {
        assert_sets_namespaces(vec![
            (
                "an APIService's service gets the namespace, created",
                json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.foo"}, "spec": {"service": {"name": "svc"}}}),
                Options::default(),
                json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.foo"}, "spec": {"service": {"name": "svc", "namespace": "newns"}}}),
            ),
            (
                "a CRD's conversion webhook service namespace is not created",
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "foos.x.io"},
                    "spec": {"conversion": {"webhook": {"clientConfig": {"service": {"name": "s"}}}}}}),
                Options::default(),
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "foos.x.io"},
                    "spec": {"conversion": {"webhook": {"clientConfig": {"service": {"name": "s"}}}}}}),
            ),
        ]);
    }

    #[test]
    fn sets_binding_subject_namespaces_as_kustomize_does() {
        let rb_in = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "rb", "namespace": "other"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "default"},
                {"kind": "ServiceAccount", "name": "default", "namespace": "keep"},
                {"kind": "ServiceAccount", "name": "sa"},
                {"kind": "User", "name": "default"}]});
        assert_sets_namespaces(vec![
            (
                "binding subjects named default get it, whatever their kind or namespace",
                rb_in.clone(),
                Options::default(),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "rb", "namespace": "newns"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"},
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "default", "namespace": "newns"},
                        {"kind": "ServiceAccount", "name": "default", "namespace": "newns"},
                        {"kind": "ServiceAccount", "name": "sa"},
                        {"kind": "User", "name": "default", "namespace": "newns"}]}),
            ),
            (
                "allServiceAccounts: every ServiceAccount subject",
                rb_in.clone(),
                Options {
                    set_role_binding_subjects: SubjectMode::AllServiceAccounts,
                    ..Default::default()
                },
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "rb", "namespace": "newns"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"},
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "default", "namespace": "newns"},
                        {"kind": "ServiceAccount", "name": "default", "namespace": "newns"},
                        {"kind": "ServiceAccount", "name": "sa", "namespace": "newns"},
                        {"kind": "User", "name": "default"}]}),
            ),
            (
                "unsetOnly keeps namespaces already set",
                rb_in.clone(),
                Options {
                    unset_only: true,
                    ..Default::default()
                },
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "rb", "namespace": "other"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"},
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "default", "namespace": "newns"},
                        {"kind": "ServiceAccount", "name": "default", "namespace": "keep"},
                        {"kind": "ServiceAccount", "name": "sa"},
                        {"kind": "User", "name": "default", "namespace": "newns"}]}),
            ),
        ]);
    }

    #[test]
    fn records_the_previous_id_for_the_name_reference_fix_up() {
        let mut m = resmap(vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm2", "namespace": "newns"}}),
        ]);
        apply(&mut m, "newns", &Options::default()).unwrap();
        assert_eq!(m.resources[0].previous.len(), 1);
        assert_eq!(m.resources[0].previous[0].namespace, "");
        // Stored even though nothing changed, as kustomize does.
        assert_eq!(m.resources[1].previous.len(), 1);
    }

    #[test]
    fn two_objects_landing_on_one_id_are_kustomizes_error() {
        let mut m = resmap(vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "a"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "b"}}),
        ]);
        let err = apply(&mut m, "newns", &Options::default()).unwrap_err();
        assert!(matches!(err, BuildError::Invalid(m) if m.contains("ID conflict")));
    }
}
