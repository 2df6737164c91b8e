//! Strategic merge patch on JSON values, as kustomize applies it (kyaml's `merge2` walker with
//! the Kubernetes v1.21.2 OpenAPI schema kyaml embeds): maps merged field by field, `null`
//! deletes, lists the schema marks `merge` merged by their keys (containers, env and volumes by
//! name, volumeMounts by mountPath, …), every other list replaced, `$patch: delete|replace|merge`
//! on maps and list elements.
//!
//! Kinds the schema does not know (CRDs) have no merge keys, so kustomize replaces all their
//! lists; so does this. Merged lists come out as kustomize orders them: the patch's elements
//! first, in the patch's order, then the target's other elements (checked with
//! `kubectl kustomize`). The few shapes where kyaml's result hinges on its internals (list
//! elements without their merge key, duplicate keys, lists keyed by several fields whose
//! elements set different subsets of them, such as container ports with and without
//! `protocol`) are [`BuildError::Unsupported`].

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::BuildError;

/// What the schema says about one field's value.
#[derive(Debug)]
enum Node {
    /// An object type, by its definition name.
    Def(&'static str),
    /// A list with the `merge` patch strategy: its merge keys (none for a list of scalars
    /// such as `finalizers`) and its elements' schema.
    Merge(Vec<&'static str>, Option<Box<Node>>),
    /// A map whose values all have one schema.
    Map(Box<Node>),
}

/// The parsed [`SCHEMA`] table: root types by `apiVersion` and `kind`, and each definition's
/// fields. Fields absent from the table have no merge lists below them, which kyaml treats as
/// it treats fields with no schema.
struct Schema {
    roots: HashMap<(&'static str, &'static str), &'static str>,
    defs: HashMap<&'static str, HashMap<&'static str, Node>>,
}

fn parse_node(s: &'static str) -> (Option<Node>, &'static str) {
    if let Some(rest) = s.strip_prefix('.') {
        (None, rest)
    } else if let Some(rest) = s.strip_prefix('@') {
        let end = rest.find([' ', ')']).unwrap_or(rest.len());
        (Some(Node::Def(&rest[..end])), &rest[end..])
    } else if let Some(rest) = s.strip_prefix("M(") {
        let close = rest.find(')').expect("schema table: M( closes");
        let keys = rest[..close].split(',').filter(|k| !k.is_empty()).collect();
        let (items, rest) = parse_node(&rest[close + 1..]);
        (Some(Node::Merge(keys, items.map(Box::new))), rest)
    } else if let Some(rest) = s.strip_prefix('P') {
        let (values, rest) = parse_node(rest);
        (values.map(|v| Node::Map(Box::new(v))), rest)
    } else {
        panic!("schema table: bad node {s}")
    }
}

fn schema() -> &'static Schema {
    static CELL: OnceLock<Schema> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut roots = HashMap::new();
        let mut defs = HashMap::new();
        for line in SCHEMA.lines() {
            let mut parts = line.split(' ');
            match parts.next() {
                Some("K") => {
                    let (av, kind, def) = (parts.next(), parts.next(), parts.next());
                    roots.insert((av.expect("apiVersion"), kind.expect("kind")), def.expect("definition"));
                }
                Some("D") => {
                    let name = parts.next().expect("definition name");
                    let mut fields = HashMap::new();
                    for f in parts {
                        let (field, node) = f.split_once('=').expect("field=node");
                        if let (Some(n), _) = parse_node(node) {
                            fields.insert(field, n);
                        }
                    }
                    defs.insert(name, fields);
                }
                _ => {}
            }
        }
        Schema { roots, defs }
    })
}

/// kyaml's `ResourceSchema.Field`: a definition's property (or its additional properties,
/// `*`), a map's value schema; nothing for lists.
fn field<'a>(s: Option<&'a Node>, key: &str) -> Option<&'a Node> {
    match s? {
        Node::Def(name) => {
            let fields = schema().defs.get(name)?;
            fields.get(key).or_else(|| fields.get("*"))
        }
        Node::Map(values) => Some(values),
        Node::Merge(..) => None,
    }
}

fn elements(s: Option<&Node>) -> Option<&Node> {
    match s? {
        Node::Merge(_, items) => items.as_deref(),
        _ => None,
    }
}

/// kyaml's `Walker.GetSchema`: the schema handed down from the parent, else (for a node with
/// no schema, such as a CRD's root or something embedded in one) the schema of the type its
/// own `apiVersion` and `kind` name.
fn schema_of<'a>(given: Option<&'a Node>, sources: [Option<&Value>; 2]) -> Option<&'a Node> {
    static ROOTS: OnceLock<HashMap<&'static str, Node>> = OnceLock::new();
    if given.is_some() {
        return given;
    }
    let roots = ROOTS.get_or_init(|| schema().roots.values().map(|d| (*d, Node::Def(d))).collect());
    for src in sources.into_iter().flatten() {
        let (Some(av), Some(kind)) = (
            src.get("apiVersion").and_then(Value::as_str),
            src.get("kind").and_then(Value::as_str),
        ) else {
            continue;
        };
        if av.is_empty() || kind.is_empty() {
            continue;
        }
        if let Some(def) = schema().roots.get(&(av, kind)) {
            return roots.get(def);
        }
    }
    None
}

fn unsupported(what: &str) -> BuildError {
    BuildError::Unsupported(format!("uses a strategic merge patch with {what}"))
}

/// Applies the strategic merge `patch` to `target`, as kustomize's patchstrategicmerge filter
/// does. `None`: the patch deleted the whole object (`$patch: delete` at its top).
pub fn merge(target: &Value, patch: &Value) -> Result<Option<Value>, BuildError> {
    if !target.is_object() || !patch.is_object() {
        return Err(BuildError::Invalid(
            "a strategic merge patch and its target must be objects".into(),
        ));
    }
    let out = walk(Some(target.clone()), Some(patch.clone()), None)?;
    Ok(out.filter(|v| !v.is_null()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

fn directive_value(v: &Value) -> Result<Directive, BuildError> {
    match v.as_str() {
        Some("merge") => Ok(Directive::Merge),
        Some("replace") => Ok(Directive::Replace),
        Some("delete") => Ok(Directive::Delete),
        _ => Err(unsupported(&format!("$patch: {v}"))),
    }
}

/// A map's `$patch`, removed from it (kyaml's determineMappingNodePatchStrategy).
fn map_directive(m: &mut Map<String, Value>) -> Result<Directive, BuildError> {
    match m.remove("$patch") {
        None => Ok(Directive::Merge),
        Some(v) => directive_value(&v),
    }
}

/// A merge list's own `$patch` (an element that holds nothing else), removed with every element
/// carrying the same `$patch` value (kyaml's determineSequenceNodePatchStrategy).
fn list_directive(list: &mut Vec<Value>) -> Result<Directive, BuildError> {
    let Some(first) = list
        .iter()
        .filter_map(Value::as_object)
        .find(|m| m.contains_key("$patch"))
    else {
        return Ok(Directive::Merge);
    };
    if first.len() > 1 {
        return Ok(Directive::Merge);
    }
    let value = first["$patch"].clone();
    let d = directive_value(&value)?;
    list.retain(|e| e.get("$patch") != Some(&value));
    Ok(d)
}

fn missing_or_null(v: &Option<Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

#[derive(PartialEq, Eq)]
enum Shape {
    Map,
    List,
    Scalar,
}

fn shape(v: &Value) -> Shape {
    match v {
        Value::Object(_) => Shape::Map,
        Value::Array(_) => Shape::List,
        _ => Shape::Scalar,
    }
}

/// The shape kyaml walks: the first of target and patch that is not missing or null; the other
/// must be the same shape (or null).
fn walk_shape(dest: &Option<Value>, origin: &Option<Value>) -> Result<Shape, BuildError> {
    let present: Vec<&Value> = [dest, origin].into_iter().flatten().filter(|v| !v.is_null()).collect();
    let Some(first) = present.first() else {
        return Ok(Shape::Map);
    };
    let s = shape(first);
    if present.iter().any(|v| shape(v) != s) {
        return Err(BuildError::Invalid(
            "strategic merge patch: a field's patch value and target value have different types".into(),
        ));
    }
    Ok(s)
}

/// One step of kyaml's walker with the target (`dest`) and the patch (`origin`) as sources.
/// `None` clears the field.
fn walk(dest: Option<Value>, origin: Option<Value>, given: Option<&Node>) -> Result<Option<Value>, BuildError> {
    let s = schema_of(given, [dest.as_ref(), origin.as_ref()]);
    match walk_shape(&dest, &origin)? {
        Shape::Scalar => Ok(match origin {
            Some(Value::Null) => None,
            Some(o) => Some(o),
            None => dest,
        }),
        Shape::Map => {
            if missing_or_null(&dest) {
                return match origin {
                    // A null the target has and the patch leaves alone stays when its text is
                    // `null` or `~` and goes when it is empty (`field:`), kyaml's
                    // MakePersistentNullNode (checked): the text a JSON value no longer has.
                    None if dest.is_some() => Err(unsupported("a target holding null values")),
                    None => Ok(dest),
                    Some(Value::Null) => Ok(None),
                    Some(o) => walk_same(o, s),
                };
            }
            let Some(Value::Object(mut d)) = dest else {
                unreachable!("shape is map")
            };
            let mut o = match origin {
                None => Map::new(),
                Some(Value::Null) => return Ok(None),
                Some(Value::Object(o)) => o,
                Some(_) => unreachable!("shape is map"),
            };
            match map_directive(&mut o)? {
                Directive::Delete => return Ok(None),
                Directive::Replace => return walk_same(Value::Object(o), s),
                Directive::Merge => {}
            }
            let mut keys: Vec<String> = d.keys().chain(o.keys()).cloned().collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                if let Some(v) = walk(d.remove(&k), o.remove(&k), field(s, &k))? {
                    d.insert(k, v);
                }
            }
            Ok(Some(Value::Object(d)))
        }
        Shape::List => {
            let Some(Node::Merge(keys, _)) = s else {
                // Not a merge list: the patch's list replaces the target's.
                return Ok(match origin {
                    Some(Value::Null) => None,
                    Some(o) => Some(o),
                    None => dest,
                });
            };
            if missing_or_null(&dest) {
                return match origin {
                    None => Ok(dest),
                    Some(Value::Null) => Ok(None),
                    // Added as is: kyaml does not look for the list's own `$patch` here.
                    Some(Value::Array(o)) => merge_elements(None, Some(o), keys, elements(s)).map(Some),
                    Some(_) => unreachable!("shape is list"),
                };
            }
            let Some(Value::Array(d)) = dest else {
                unreachable!("shape is list")
            };
            let mut o = match origin {
                None => return merge_elements(Some(d), None, keys, elements(s)).map(Some),
                Some(Value::Null) => return Ok(None),
                Some(Value::Array(o)) => o,
                Some(_) => unreachable!("shape is list"),
            };
            match list_directive(&mut o)? {
                Directive::Delete => Ok(None),
                Directive::Replace => merge_elements(None, Some(o), keys, elements(s)).map(Some),
                Directive::Merge => merge_elements(Some(d), Some(o), keys, elements(s)).map(Some),
            }
        }
    }
}

/// kyaml's walk with the same node as target and patch: what a patch value becomes where the
/// target has nothing (nulls dropped, `$patch` directives applied).
fn walk_same(v: Value, given: Option<&Node>) -> Result<Option<Value>, BuildError> {
    let s = schema_of(given, [Some(&v), None]);
    match v {
        Value::Null => Ok(None),
        Value::Object(mut m) => {
            match map_directive(&mut m)? {
                Directive::Delete => return Ok(None),
                Directive::Replace | Directive::Merge => {}
            }
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let child = m.remove(&k).expect("listed");
                if let Some(c) = walk_same(child, field(s, &k))? {
                    m.insert(k, c);
                }
            }
            Ok(Some(Value::Object(m)))
        }
        Value::Array(mut list) => {
            let Some(Node::Merge(keys, _)) = s else {
                return Ok(Some(Value::Array(list)));
            };
            match list_directive(&mut list)? {
                Directive::Delete => Ok(None),
                Directive::Replace | Directive::Merge => merge_elements(None, Some(list), keys, elements(s)).map(Some),
            }
        }
        scalar => Ok(Some(scalar)),
    }
}

/// A merge key's value as kyaml compares it: the scalar's text; missing, null or empty is "".
fn key_text(v: Option<&Value>) -> Result<String, BuildError> {
    Ok(match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(_) => return Err(unsupported("a merge key that is not a scalar")),
    })
}

/// The merge-key values of each element of `list`.
fn key_values(list: &[Value], keys: &[&str]) -> Result<Vec<Vec<String>>, BuildError> {
    list.iter()
        .map(|e| {
            let m = e
                .as_object()
                .ok_or_else(|| unsupported("a merge list element that is not an object"))?;
            keys.iter().map(|k| key_text(m.get(*k))).collect()
        })
        .collect()
}

/// kyaml's setAssociativeSequenceElements with kustomize's "prepend" option, for the shapes it
/// handles predictably: every element carries the same merge keys, and no key repeats within
/// one list. The patch's elements come first, in its order, then the target's others; a patch
/// element merges into the target's element with the same keys. `dest` alone: the target's list
/// walked with no patch; `patch` alone: a patch list walked against itself (where the target has
/// none, or the patch replaces it).
fn merge_elements(
    dest: Option<Vec<Value>>,
    patch: Option<Vec<Value>>,
    keys: &[&'static str],
    items: Option<&Node>,
) -> Result<Value, BuildError> {
    let same = dest.is_none();
    if keys.is_empty() {
        return Ok(Value::Array(merge_scalars(
            dest.unwrap_or_default(),
            patch.unwrap_or_default(),
        )?));
    }
    let dest = dest.unwrap_or_default();
    let patch = patch.unwrap_or_default();
    let dkeys = key_values(&dest, keys)?;
    let pkeys = key_values(&patch, keys)?;
    // kyaml drops the keys no element sets; the rest must be set by every element.
    let used: Vec<usize> = (0..keys.len())
        .filter(|i| dkeys.iter().chain(&pkeys).any(|v| !v[*i].is_empty()))
        .collect();
    if used.is_empty() && !(dkeys.is_empty() && pkeys.is_empty()) {
        return Err(unsupported(&format!(
            "list elements without their merge key {}",
            keys[0]
        )));
    }
    let project = |v: &Vec<String>| -> Result<Vec<String>, BuildError> {
        if used.iter().any(|i| v[*i].is_empty()) {
            return Err(unsupported(&format!(
                "list elements without all of the merge keys {}",
                keys.join(",")
            )));
        }
        Ok(used.iter().map(|i| v[*i].clone()).collect())
    };
    let dkeys: Vec<Vec<String>> = dkeys.iter().map(project).collect::<Result<_, _>>()?;
    let pkeys: Vec<Vec<String>> = pkeys.iter().map(project).collect::<Result<_, _>>()?;
    for ks in [&dkeys, &pkeys] {
        for (i, k) in ks.iter().enumerate() {
            if ks[..i].contains(k) {
                return Err(unsupported(&format!(
                    "a repeated merge key {} in one list",
                    k.join(",")
                )));
            }
        }
    }
    let mut dest: Vec<Option<Value>> = dest.into_iter().map(Some).collect();
    let mut patch: Vec<Option<Value>> = patch.into_iter().map(Some).collect();
    let mut order: Vec<Vec<String>> = pkeys.clone();
    order.extend(dkeys.iter().filter(|k| !pkeys.contains(k)).cloned());
    let mut out = Vec::new();
    for k in order {
        let d = dkeys.iter().position(|x| *x == k).and_then(|i| dest[i].take());
        let p = pkeys.iter().position(|x| *x == k).and_then(|i| patch[i].take());
        // kyaml puts the target's element back in place of the merged one, so an element's
        // `$patch: replace` leaves the target's element as it was (checked with kubectl).
        let replace =
            d.is_some() && p.as_ref().and_then(|p| p.get("$patch")).and_then(Value::as_str) == Some("replace");
        let original = if replace { d.clone() } else { None };
        let merged = match (same, d, p) {
            (true, _, Some(p)) => walk_same(p, items)?,
            (_, d, p) => walk(d, p, items)?,
        };
        match merged {
            None | Some(Value::Null) => continue,
            Some(Value::Object(m)) if m.is_empty() => continue,
            Some(v) => out.push(original.unwrap_or(v)),
        }
    }
    Ok(Value::Array(out))
}

/// A merge list of scalars (`finalizers`): the patch's values, then the target's others, each
/// once.
fn merge_scalars(dest: Vec<Value>, patch: Vec<Value>) -> Result<Vec<Value>, BuildError> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for v in patch.into_iter().chain(dest) {
        if v.is_object() || v.is_array() {
            return Err(unsupported("objects in a list of scalars"));
        }
        let text = key_text(Some(&v))?;
        if !out.iter().any(|(t, _)| *t == text) {
            out.push((text, v));
        }
    }
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// Strategic-merge facts of kyaml's embedded Kubernetes v1.21.2 OpenAPI schema, generated from
/// kustomize's `kyaml/openapi/kubernetesapi/data/kubernetes-openapi-union-v1.21.2.bundle-v1.json.gz`
/// and pruned to what leads to a list with the `merge` patch strategy. `K apiVersion kind def`:
/// a root type. `D def field=node…`: a definition's fields, where a node is `@def`, `M(keys)node`
/// (a merge list and its elements), `Pnode` (a map's values) or `.` (nothing below to merge).
const SCHEMA: &str = "\
K admissionregistration.k8s.io/v1 MutatingWebhookConfiguration admissionregistration.v1.MutatingWebhookConfiguration\n\
K admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration admissionregistration.v1.ValidatingWebhookConfiguration\n\
K admissionregistration.k8s.io/v1beta1 MutatingWebhookConfiguration admissionregistration.v1beta1.MutatingWebhookConfiguration\n\
K admissionregistration.k8s.io/v1beta1 ValidatingWebhookConfiguration admissionregistration.v1beta1.ValidatingWebhookConfiguration\n\
K apiextensions.k8s.io/v1 CustomResourceDefinition apiextensions.v1.CustomResourceDefinition\n\
K apiextensions.k8s.io/v1beta1 CustomResourceDefinition apiextensions.v1beta1.CustomResourceDefinition\n\
K apiregistration.k8s.io/v1 APIService apiregistration.v1.APIService\n\
K apiregistration.k8s.io/v1beta1 APIService apiregistration.v1beta1.APIService\n\
K apps/v1 ControllerRevision apps.v1.ControllerRevision\n\
K apps/v1 DaemonSet apps.v1.DaemonSet\n\
K apps/v1 Deployment apps.v1.Deployment\n\
K apps/v1 ReplicaSet apps.v1.ReplicaSet\n\
K apps/v1 StatefulSet apps.v1.StatefulSet\n\
K authentication.k8s.io/v1 TokenRequest authentication.v1.TokenRequest\n\
K authentication.k8s.io/v1 TokenReview authentication.v1.TokenReview\n\
K authentication.k8s.io/v1beta1 TokenReview authentication.v1beta1.TokenReview\n\
K authorization.k8s.io/v1 LocalSubjectAccessReview authorization.v1.LocalSubjectAccessReview\n\
K authorization.k8s.io/v1 SelfSubjectAccessReview authorization.v1.SelfSubjectAccessReview\n\
K authorization.k8s.io/v1 SelfSubjectRulesReview authorization.v1.SelfSubjectRulesReview\n\
K authorization.k8s.io/v1 SubjectAccessReview authorization.v1.SubjectAccessReview\n\
K authorization.k8s.io/v1beta1 LocalSubjectAccessReview authorization.v1beta1.LocalSubjectAccessReview\n\
K authorization.k8s.io/v1beta1 SelfSubjectAccessReview authorization.v1beta1.SelfSubjectAccessReview\n\
K authorization.k8s.io/v1beta1 SelfSubjectRulesReview authorization.v1beta1.SelfSubjectRulesReview\n\
K authorization.k8s.io/v1beta1 SubjectAccessReview authorization.v1beta1.SubjectAccessReview\n\
K autoscaling/v1 HorizontalPodAutoscaler autoscaling.v1.HorizontalPodAutoscaler\n\
K autoscaling/v1 Scale autoscaling.v1.Scale\n\
K autoscaling/v2beta1 HorizontalPodAutoscaler autoscaling.v2beta1.HorizontalPodAutoscaler\n\
K autoscaling/v2beta2 HorizontalPodAutoscaler autoscaling.v2beta2.HorizontalPodAutoscaler\n\
K batch/v1 CronJob batch.v1.CronJob\n\
K batch/v1 Job batch.v1.Job\n\
K batch/v1beta1 CronJob batch.v1beta1.CronJob\n\
K certificates.k8s.io/v1 CertificateSigningRequest certificates.v1.CertificateSigningRequest\n\
K certificates.k8s.io/v1beta1 CertificateSigningRequest certificates.v1beta1.CertificateSigningRequest\n\
K coordination.k8s.io/v1 Lease coordination.v1.Lease\n\
K coordination.k8s.io/v1beta1 Lease coordination.v1beta1.Lease\n\
K discovery.k8s.io/v1 EndpointSlice discovery.v1.EndpointSlice\n\
K discovery.k8s.io/v1beta1 EndpointSlice discovery.v1beta1.EndpointSlice\n\
K events.k8s.io/v1 Event events.v1.Event\n\
K events.k8s.io/v1beta1 Event events.v1beta1.Event\n\
K extensions/v1beta1 Ingress extensions.v1beta1.Ingress\n\
K flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema flowcontrol.v1beta1.FlowSchema\n\
K flowcontrol.apiserver.k8s.io/v1beta1 PriorityLevelConfiguration flowcontrol.v1beta1.PriorityLevelConfiguration\n\
K networking.k8s.io/v1 Ingress networking.v1.Ingress\n\
K networking.k8s.io/v1 IngressClass networking.v1.IngressClass\n\
K networking.k8s.io/v1 NetworkPolicy networking.v1.NetworkPolicy\n\
K networking.k8s.io/v1beta1 Ingress networking.v1beta1.Ingress\n\
K networking.k8s.io/v1beta1 IngressClass networking.v1beta1.IngressClass\n\
K node.k8s.io/v1 RuntimeClass node.v1.RuntimeClass\n\
K node.k8s.io/v1beta1 RuntimeClass node.v1beta1.RuntimeClass\n\
K policy/v1 PodDisruptionBudget policy.v1.PodDisruptionBudget\n\
K policy/v1beta1 Eviction policy.v1beta1.Eviction\n\
K policy/v1beta1 PodDisruptionBudget policy.v1beta1.PodDisruptionBudget\n\
K policy/v1beta1 PodSecurityPolicy policy.v1beta1.PodSecurityPolicy\n\
K rbac.authorization.k8s.io/v1 ClusterRole rbac.v1.ClusterRole\n\
K rbac.authorization.k8s.io/v1 ClusterRoleBinding rbac.v1.ClusterRoleBinding\n\
K rbac.authorization.k8s.io/v1 Role rbac.v1.Role\n\
K rbac.authorization.k8s.io/v1 RoleBinding rbac.v1.RoleBinding\n\
K rbac.authorization.k8s.io/v1beta1 ClusterRole rbac.v1beta1.ClusterRole\n\
K rbac.authorization.k8s.io/v1beta1 ClusterRoleBinding rbac.v1beta1.ClusterRoleBinding\n\
K rbac.authorization.k8s.io/v1beta1 Role rbac.v1beta1.Role\n\
K rbac.authorization.k8s.io/v1beta1 RoleBinding rbac.v1beta1.RoleBinding\n\
K scheduling.k8s.io/v1 PriorityClass scheduling.v1.PriorityClass\n\
K scheduling.k8s.io/v1beta1 PriorityClass scheduling.v1beta1.PriorityClass\n\
K storage.k8s.io/v1 CSIDriver storage.v1.CSIDriver\n\
K storage.k8s.io/v1 CSINode storage.v1.CSINode\n\
K storage.k8s.io/v1 StorageClass storage.v1.StorageClass\n\
K storage.k8s.io/v1 VolumeAttachment storage.v1.VolumeAttachment\n\
K storage.k8s.io/v1beta1 CSIDriver storage.v1beta1.CSIDriver\n\
K storage.k8s.io/v1beta1 CSINode storage.v1beta1.CSINode\n\
K storage.k8s.io/v1beta1 CSIStorageCapacity storage.v1beta1.CSIStorageCapacity\n\
K storage.k8s.io/v1beta1 StorageClass storage.v1beta1.StorageClass\n\
K storage.k8s.io/v1beta1 VolumeAttachment storage.v1beta1.VolumeAttachment\n\
K v1 Binding core.v1.Binding\n\
K v1 ComponentStatus core.v1.ComponentStatus\n\
K v1 ConfigMap core.v1.ConfigMap\n\
K v1 Endpoints core.v1.Endpoints\n\
K v1 Event core.v1.Event\n\
K v1 LimitRange core.v1.LimitRange\n\
K v1 Namespace core.v1.Namespace\n\
K v1 Node core.v1.Node\n\
K v1 PersistentVolume core.v1.PersistentVolume\n\
K v1 PersistentVolumeClaim core.v1.PersistentVolumeClaim\n\
K v1 Pod core.v1.Pod\n\
K v1 PodTemplate core.v1.PodTemplate\n\
K v1 ReplicationController core.v1.ReplicationController\n\
K v1 ResourceQuota core.v1.ResourceQuota\n\
K v1 Secret core.v1.Secret\n\
K v1 Service core.v1.Service\n\
K v1 ServiceAccount core.v1.ServiceAccount\n\
D admissionregistration.v1.MutatingWebhookConfiguration metadata=@meta.v1.ObjectMeta webhooks=M(name).\n\
D admissionregistration.v1.ValidatingWebhookConfiguration metadata=@meta.v1.ObjectMeta webhooks=M(name).\n\
D admissionregistration.v1beta1.MutatingWebhookConfiguration metadata=@meta.v1.ObjectMeta webhooks=M(name).\n\
D admissionregistration.v1beta1.ValidatingWebhookConfiguration metadata=@meta.v1.ObjectMeta webhooks=M(name).\n\
D apps.v1.ControllerRevision metadata=@meta.v1.ObjectMeta\n\
D apps.v1.DaemonSet metadata=@meta.v1.ObjectMeta spec=@apps.v1.DaemonSetSpec status=@apps.v1.DaemonSetStatus\n\
D apps.v1.DaemonSetSpec template=@core.v1.PodTemplateSpec\n\
D apps.v1.DaemonSetStatus conditions=M(type).\n\
D apps.v1.Deployment metadata=@meta.v1.ObjectMeta spec=@apps.v1.DeploymentSpec status=@apps.v1.DeploymentStatus\n\
D apps.v1.DeploymentSpec template=@core.v1.PodTemplateSpec\n\
D apps.v1.DeploymentStatus conditions=M(type).\n\
D apps.v1.ReplicaSet metadata=@meta.v1.ObjectMeta spec=@apps.v1.ReplicaSetSpec status=@apps.v1.ReplicaSetStatus\n\
D apps.v1.ReplicaSetSpec template=@core.v1.PodTemplateSpec\n\
D apps.v1.ReplicaSetStatus conditions=M(type).\n\
D apps.v1.StatefulSet metadata=@meta.v1.ObjectMeta spec=@apps.v1.StatefulSetSpec status=@apps.v1.StatefulSetStatus\n\
D apps.v1.StatefulSetSpec template=@core.v1.PodTemplateSpec\n\
D apps.v1.StatefulSetStatus conditions=M(type).\n\
D authentication.v1.TokenRequest metadata=@meta.v1.ObjectMeta\n\
D authentication.v1.TokenReview metadata=@meta.v1.ObjectMeta\n\
D authentication.v1beta1.TokenReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1.LocalSubjectAccessReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1.SelfSubjectAccessReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1.SelfSubjectRulesReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1.SubjectAccessReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1beta1.LocalSubjectAccessReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1beta1.SelfSubjectAccessReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1beta1.SelfSubjectRulesReview metadata=@meta.v1.ObjectMeta\n\
D authorization.v1beta1.SubjectAccessReview metadata=@meta.v1.ObjectMeta\n\
D autoscaling.v1.HorizontalPodAutoscaler metadata=@meta.v1.ObjectMeta\n\
D autoscaling.v1.Scale metadata=@meta.v1.ObjectMeta\n\
D autoscaling.v2beta1.HorizontalPodAutoscaler metadata=@meta.v1.ObjectMeta\n\
D autoscaling.v2beta2.HorizontalPodAutoscaler metadata=@meta.v1.ObjectMeta\n\
D batch.v1.CronJob metadata=@meta.v1.ObjectMeta spec=@batch.v1.CronJobSpec\n\
D batch.v1.CronJobSpec jobTemplate=@batch.v1.JobTemplateSpec\n\
D batch.v1.Job metadata=@meta.v1.ObjectMeta spec=@batch.v1.JobSpec status=@batch.v1.JobStatus\n\
D batch.v1.JobSpec template=@core.v1.PodTemplateSpec\n\
D batch.v1.JobStatus conditions=M(type).\n\
D batch.v1.JobTemplateSpec metadata=@meta.v1.ObjectMeta spec=@batch.v1.JobSpec\n\
D batch.v1beta1.CronJob metadata=@meta.v1.ObjectMeta spec=@batch.v1beta1.CronJobSpec\n\
D batch.v1beta1.CronJobSpec jobTemplate=@batch.v1beta1.JobTemplateSpec\n\
D batch.v1beta1.JobTemplateSpec metadata=@meta.v1.ObjectMeta spec=@batch.v1.JobSpec\n\
D certificates.v1.CertificateSigningRequest metadata=@meta.v1.ObjectMeta\n\
D certificates.v1beta1.CertificateSigningRequest metadata=@meta.v1.ObjectMeta\n\
D coordination.v1.Lease metadata=@meta.v1.ObjectMeta\n\
D coordination.v1beta1.Lease metadata=@meta.v1.ObjectMeta\n\
D core.v1.Binding metadata=@meta.v1.ObjectMeta\n\
D core.v1.ComponentStatus conditions=M(type). metadata=@meta.v1.ObjectMeta\n\
D core.v1.ConfigMap metadata=@meta.v1.ObjectMeta\n\
D core.v1.Container env=M(name). ports=M(containerPort,protocol). volumeDevices=M(devicePath). volumeMounts=M(mountPath).\n\
D core.v1.Endpoints metadata=@meta.v1.ObjectMeta\n\
D core.v1.EphemeralContainer env=M(name). volumeDevices=M(devicePath). volumeMounts=M(mountPath).\n\
D core.v1.EphemeralVolumeSource volumeClaimTemplate=@core.v1.PersistentVolumeClaimTemplate\n\
D core.v1.Event metadata=@meta.v1.ObjectMeta\n\
D core.v1.LimitRange metadata=@meta.v1.ObjectMeta\n\
D core.v1.Namespace metadata=@meta.v1.ObjectMeta status=@core.v1.NamespaceStatus\n\
D core.v1.NamespaceStatus conditions=M(type).\n\
D core.v1.Node metadata=@meta.v1.ObjectMeta spec=@core.v1.NodeSpec status=@core.v1.NodeStatus\n\
D core.v1.NodeSpec podCIDRs=M().\n\
D core.v1.NodeStatus addresses=M(type). conditions=M(type).\n\
D core.v1.PersistentVolume metadata=@meta.v1.ObjectMeta\n\
D core.v1.PersistentVolumeClaim metadata=@meta.v1.ObjectMeta status=@core.v1.PersistentVolumeClaimStatus\n\
D core.v1.PersistentVolumeClaimStatus conditions=M(type).\n\
D core.v1.PersistentVolumeClaimTemplate metadata=@meta.v1.ObjectMeta\n\
D core.v1.Pod metadata=@meta.v1.ObjectMeta spec=@core.v1.PodSpec status=@core.v1.PodStatus\n\
D core.v1.PodSpec containers=M(name)@core.v1.Container ephemeralContainers=M(name)@core.v1.EphemeralContainer hostAliases=M(ip). imagePullSecrets=M(name). initContainers=M(name)@core.v1.Container topologySpreadConstraints=M(topologyKey,whenUnsatisfiable). volumes=M(name)@core.v1.Volume\n\
D core.v1.PodStatus conditions=M(type). podIPs=M(ip).\n\
D core.v1.PodTemplate metadata=@meta.v1.ObjectMeta template=@core.v1.PodTemplateSpec\n\
D core.v1.PodTemplateSpec metadata=@meta.v1.ObjectMeta spec=@core.v1.PodSpec\n\
D core.v1.ReplicationController metadata=@meta.v1.ObjectMeta spec=@core.v1.ReplicationControllerSpec status=@core.v1.ReplicationControllerStatus\n\
D core.v1.ReplicationControllerSpec template=@core.v1.PodTemplateSpec\n\
D core.v1.ReplicationControllerStatus conditions=M(type).\n\
D core.v1.ResourceQuota metadata=@meta.v1.ObjectMeta\n\
D core.v1.Secret metadata=@meta.v1.ObjectMeta\n\
D core.v1.Service metadata=@meta.v1.ObjectMeta spec=@core.v1.ServiceSpec status=@core.v1.ServiceStatus\n\
D core.v1.ServiceAccount metadata=@meta.v1.ObjectMeta secrets=M(name).\n\
D core.v1.ServiceSpec ports=M(port,protocol).\n\
D core.v1.ServiceStatus conditions=M(type).\n\
D core.v1.Volume ephemeral=@core.v1.EphemeralVolumeSource\n\
D discovery.v1.EndpointSlice metadata=@meta.v1.ObjectMeta\n\
D discovery.v1beta1.EndpointSlice metadata=@meta.v1.ObjectMeta\n\
D events.v1.Event metadata=@meta.v1.ObjectMeta\n\
D events.v1beta1.Event metadata=@meta.v1.ObjectMeta\n\
D extensions.v1beta1.Ingress metadata=@meta.v1.ObjectMeta\n\
D flowcontrol.v1beta1.FlowSchema metadata=@meta.v1.ObjectMeta\n\
D flowcontrol.v1beta1.PriorityLevelConfiguration metadata=@meta.v1.ObjectMeta\n\
D networking.v1.Ingress metadata=@meta.v1.ObjectMeta\n\
D networking.v1.IngressClass metadata=@meta.v1.ObjectMeta\n\
D networking.v1.NetworkPolicy metadata=@meta.v1.ObjectMeta\n\
D networking.v1beta1.Ingress metadata=@meta.v1.ObjectMeta\n\
D networking.v1beta1.IngressClass metadata=@meta.v1.ObjectMeta\n\
D node.v1.RuntimeClass metadata=@meta.v1.ObjectMeta\n\
D node.v1beta1.RuntimeClass metadata=@meta.v1.ObjectMeta\n\
D policy.v1.PodDisruptionBudget metadata=@meta.v1.ObjectMeta status=@policy.v1.PodDisruptionBudgetStatus\n\
D policy.v1.PodDisruptionBudgetStatus conditions=M(type).\n\
D policy.v1beta1.Eviction metadata=@meta.v1.ObjectMeta\n\
D policy.v1beta1.PodDisruptionBudget metadata=@meta.v1.ObjectMeta status=@policy.v1beta1.PodDisruptionBudgetStatus\n\
D policy.v1beta1.PodDisruptionBudgetStatus conditions=M(type).\n\
D policy.v1beta1.PodSecurityPolicy metadata=@meta.v1.ObjectMeta\n\
D rbac.v1.ClusterRole metadata=@meta.v1.ObjectMeta\n\
D rbac.v1.ClusterRoleBinding metadata=@meta.v1.ObjectMeta\n\
D rbac.v1.Role metadata=@meta.v1.ObjectMeta\n\
D rbac.v1.RoleBinding metadata=@meta.v1.ObjectMeta\n\
D rbac.v1beta1.ClusterRole metadata=@meta.v1.ObjectMeta\n\
D rbac.v1beta1.ClusterRoleBinding metadata=@meta.v1.ObjectMeta\n\
D rbac.v1beta1.Role metadata=@meta.v1.ObjectMeta\n\
D rbac.v1beta1.RoleBinding metadata=@meta.v1.ObjectMeta\n\
D scheduling.v1.PriorityClass metadata=@meta.v1.ObjectMeta\n\
D scheduling.v1beta1.PriorityClass metadata=@meta.v1.ObjectMeta\n\
D storage.v1.CSIDriver metadata=@meta.v1.ObjectMeta\n\
D storage.v1.CSINode metadata=@meta.v1.ObjectMeta spec=@storage.v1.CSINodeSpec\n\
D storage.v1.CSINodeSpec drivers=M(name).\n\
D storage.v1.StorageClass metadata=@meta.v1.ObjectMeta\n\
D storage.v1.VolumeAttachment metadata=@meta.v1.ObjectMeta\n\
D storage.v1beta1.CSIDriver metadata=@meta.v1.ObjectMeta\n\
D storage.v1beta1.CSINode metadata=@meta.v1.ObjectMeta spec=@storage.v1beta1.CSINodeSpec\n\
D storage.v1beta1.CSINodeSpec drivers=M(name).\n\
D storage.v1beta1.CSIStorageCapacity metadata=@meta.v1.ObjectMeta\n\
D storage.v1beta1.StorageClass metadata=@meta.v1.ObjectMeta\n\
D storage.v1beta1.VolumeAttachment metadata=@meta.v1.ObjectMeta\n\
D apiextensions.v1.CustomResourceDefinition metadata=@meta.v1.ObjectMeta\n\
D apiextensions.v1beta1.CustomResourceDefinition metadata=@meta.v1.ObjectMeta\n\
D meta.v1.ObjectMeta finalizers=M(). ownerReferences=M(uid).\n\
D apiregistration.v1.APIService metadata=@meta.v1.ObjectMeta status=@apiregistration.v1.APIServiceStatus\n\
D apiregistration.v1.APIServiceStatus conditions=M(type).\n\
D apiregistration.v1beta1.APIService metadata=@meta.v1.ObjectMeta status=@apiregistration.v1beta1.APIServiceStatus\n\
D apiregistration.v1beta1.APIServiceStatus conditions=M(type).\n\
";

#[cfg(test)]
mod tests {
    use super::*;

    /// The target every case without its own resource patches.
    const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: fe}
spec:
  template:
    spec:
      initContainers:
      - {name: init, image: init:1}
      containers:
      - name: a
        image: a:1
        env:
        - {name: X, value: "1"}
        - {name: Y, value: "2"}
        ports:
        - containerPort: 80
        - containerPort: 90
        volumeMounts:
        - {name: v1, mountPath: /v1}
        resources:
          limits: {cpu: "1", memory: 1Gi}
      - {name: b, image: b:1, args: [x, y]}
      - {name: c, image: c:1}
      imagePullSecrets:
      - name: pull1
      securityContext: {runAsUser: 1}
      volumes:
      - name: v1
        configMap: {name: cm1}
      - name: v2
        emptyDir: {}
"#;

    fn yaml(text: &str) -> Value {
        let (docs, err) = safe_yaml::documents(text);
        assert!(err.is_none(), "{err:?}");
        docs.into_iter().next().expect("one document")
    }

    /// (case, target, patch, what kustomize renders). Each expected value is `kubectl kustomize`
    /// (v5.5.0) output for a kustomization with `resources: [target]` and `patches: [path: patch]`,
    /// converted from YAML to JSON.
    const CASES: &[(&str, &str, &str, &str)] = &[
        (
            "add_sidecar",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - {name: sidecar, image: s:1}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"s:1","name":"sidecar"},{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "args_replaced",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - name: b
        args: [z]
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"args":["z"],"image":"b:1","name":"b"},{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "container_order",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - {name: c, image: c:2}
      - {name: new, image: n:1}
      - {name: a, image: a:2}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"c:2","name":"c"},{"image":"n:1","name":"new"},{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:2","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "crd",
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  name: web
  finalizers: [f1]
spec:
  containers:
  - {name: a, image: a:1}
  - {name: b, image: b:1}
  m: {x: 1, y: 2}
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  name: web
  finalizers: [f2]
spec:
  containers:
  - {name: b, image: b:2}
  m: {y: null, z: 3}
"#,
            r#"{"apiVersion":"example.com/v1","kind":"Foo","metadata":{"finalizers":["f2"],"name":"web"},"spec":{"containers":[{"image":"b:2","name":"b"}],"m":{"x":1,"z":3}}}"#,
        ),
        (
            "delete_container",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - {name: b, $patch: delete}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "element_replace_quirk",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - {name: b, image: b:2, $patch: replace}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"args":["x","y"],"image":"b:1","name":"b"},{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "env_merge",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - name: a
        env:
        - {name: Y, value: "20"}
        - {name: Z, value: "3"}
        - {name: X, $patch: delete}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"Y","value":"20"},{"name":"Z","value":"3"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "finalizers",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

  finalizers: [f2, f1]
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"finalizers":["f2","f1"],"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "init_and_pullsecrets",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      initContainers:
      - {name: init, image: init:2}
      - {name: migrate, image: m:1}
      imagePullSecrets:
      - name: pull2
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull2"},{"name":"pull1"}],"initContainers":[{"image":"init:2","name":"init"},{"image":"m:1","name":"migrate"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "map_delete",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      securityContext:
        $patch: delete
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "map_replace",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - name: a
        resources:
          $patch: replace
          requests: {cpu: 100m}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"requests":{"cpu":"100m"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "new_nested_list",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - name: c
        env:
        - {name: A, value: a}
        - {name: B, $patch: delete}
        volumeMounts:
        - {name: v2, mountPath: /v2, readOnly: null}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"A","value":"a"}],"image":"c:1","name":"c","volumeMounts":[{"mountPath":"/v2","name":"v2"}]},{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "null_deletion",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

  labels: {tier: null}
spec:
  template:
    spec:
      securityContext: null
      containers:
      - name: a
        resources:
          limits: {memory: null}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "ports_uniform",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - {containerPort: 90, name: metrics}
        - containerPort: 100
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":90,"name":"metrics"},{"containerPort":100},{"containerPort":80}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "replace_list",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - $patch: replace
      - {name: only, image: o:1}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"o:1","name":"only"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "set_element_order_literal",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      $setElementOrder/containers:
      - name: c
      containers:
      - {name: c, image: c:3}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"image":"c:3","name":"c"},{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v1","name":"v1"}]},{"args":["x","y"],"image":"b:1","name":"b"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm1"},"name":"v1"},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
        (
            "volume_merge",
            DEPLOYMENT,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web

spec:
  template:
    spec:
      containers:
      - name: a
        volumeMounts:
        - {name: v3, mountPath: /v3}
        - {name: v1b, mountPath: /v1}
      volumes:
      - name: v1
        configMap: {name: cm2}
      - name: v3
        secret: {secretName: s3}
"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}],"image":"a:1","name":"a","ports":[{"containerPort":80},{"containerPort":90}],"resources":{"limits":{"cpu":"1","memory":"1Gi"}},"volumeMounts":[{"mountPath":"/v3","name":"v3"},{"mountPath":"/v1","name":"v1b"}]},{"args":["x","y"],"image":"b:1","name":"b"},{"image":"c:1","name":"c"}],"imagePullSecrets":[{"name":"pull1"}],"initContainers":[{"image":"init:1","name":"init"}],"securityContext":{"runAsUser":1},"volumes":[{"configMap":{"name":"cm2"},"name":"v1"},{"name":"v3","secret":{"secretName":"s3"}},{"emptyDir":{},"name":"v2"}]}}}}"#,
        ),
    ];

    #[test]
    fn merges_as_kustomize_does() {
        for (case, target, patch, expected) in CASES {
            let got = merge(&yaml(target), &yaml(patch)).unwrap_or_else(|e| panic!("{case}: {e}"));
            let want: Value = serde_json::from_str(expected).expect("expected JSON");
            assert_eq!(got, Some(want), "{case}");
        }
    }

    #[test]
    fn a_top_level_delete_removes_the_object() {
        let patch = yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n$patch: delete\n");
        assert_eq!(merge(&yaml(DEPLOYMENT), &patch), Ok(None));
    }

    /// Shapes whose kyaml result depends on its internals go to kustomize.
    #[test]
    fn unpredictable_shapes_are_unsupported() {
        let cases = [
            // kubectl gives `[100, 80, 90/UDP]` here, dropping the patch's `name: x`.
            (
                "ports with and without protocol",
                "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        ports:\n        - {containerPort: 90, protocol: UDP}\n",
            ),
            (
                "a container without a name",
                "spec:\n  template:\n    spec:\n      containers:\n      - {image: x:1}\n",
            ),
            (
                "a repeated env name",
                "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        env: [{name: Q, value: '1'}, {name: Q, value: '2'}]\n",
            ),
            ("an unknown directive", "spec:\n  template:\n    $patch: frobnicate\n"),
        ];
        for (case, body) in cases {
            let patch = yaml(&format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\n{body}"
            ));
            let got = merge(&yaml(DEPLOYMENT), &patch);
            assert!(matches!(got, Err(BuildError::Unsupported(_))), "{case}: {got:?}");
        }
    }

    #[test]
    fn a_field_changing_type_is_invalid() {
        let patch = yaml("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: [1]}\n");
        assert!(matches!(merge(&yaml(DEPLOYMENT), &patch), Err(BuildError::Invalid(_))));
    }
}
