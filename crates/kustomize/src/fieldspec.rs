//! kustomize's field specs: where its built-in transformers write (a group/version/kind filter
//! and a `/`-separated path whose arrays are walked implicitly), the default specs it ships
//! (`api/internal/konfig/builtinpluginconsts`, v5.5.0, embedded verbatim below), the walk itself
//! (`api/filters/fieldspec`), and kustomize's own list of cluster-scoped types, which decides
//! namespaces more precisely than a kind-only list.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::BuildError;

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

/// Types kustomize (kyaml's built-in OpenAPI data, `precomputedIsNamespaceScoped`) knows to be
/// cluster-scoped, by exact `apiVersion` and kind. Anything else, including CRDs' kinds and
/// newer API versions, is namespaced to kustomize: `namespace:` is set on it.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("certificates.k8s.io/v1", "CertificateSigningRequest"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1beta1", "IngressClass"),
    ("node.k8s.io/v1", "RuntimeClass"),
    ("node.k8s.io/v1beta1", "RuntimeClass"),
    ("policy/v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("storage.k8s.io/v1", "CSINode"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("storage.k8s.io/v1", "VolumeAttachment"),
    ("storage.k8s.io/v1beta1", "CSIDriver"),
    ("storage.k8s.io/v1beta1", "CSINode"),
    ("storage.k8s.io/v1beta1", "StorageClass"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment"),
    ("v1", "ComponentStatus"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "NodeProxyOptions"),
    ("v1", "PersistentVolume"),
];

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

// The default field specs of kustomize v5.5.0 (`api/internal/konfig/builtinpluginconsts`),
// copied verbatim apart from the top-level key each list sits under there.

const NAME_PREFIX: &str = "
- path: metadata/name
";

const NAME_SUFFIX: &str = "
- path: metadata/name
";

const NAMESPACE: &str = "
- path: metadata/name
  kind: Namespace
  create: true
- path: spec/service/namespace
  group: apiregistration.k8s.io
  kind: APIService
  create: true
- path: spec/conversion/webhook/clientConfig/service/namespace
  group: apiextensions.k8s.io
  kind: CustomResourceDefinition
";

const COMMON_ANNOTATIONS: &str = "
- path: metadata/annotations
  create: true

- path: spec/template/metadata/annotations
  create: true
  version: v1
  kind: ReplicationController

- path: spec/template/metadata/annotations
  create: true
  kind: Deployment

- path: spec/template/metadata/annotations
  create: true
  kind: ReplicaSet

- path: spec/template/metadata/annotations
  create: true
  kind: DaemonSet

- path: spec/template/metadata/annotations
  create: true
  kind: StatefulSet

- path: spec/template/metadata/annotations
  create: true
  group: batch
  kind: Job

- path: spec/jobTemplate/metadata/annotations
  create: true
  group: batch
  kind: CronJob

- path: spec/jobTemplate/spec/template/metadata/annotations
  create: true
  group: batch
  kind: CronJob
";

/// `commonLabels` without the metadata-labels part they share with `templateLabels`.
const COMMON_LABELS: &str = "
- path: spec/selector
  create: true
  version: v1
  kind: Service

- path: spec/selector
  create: true
  version: v1
  kind: ReplicationController
- path: spec/selector/matchLabels
  create: true
  kind: Deployment

- path: spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  create: false
  group: apps
  kind: Deployment

- path: spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  create: false
  group: apps
  kind: Deployment

- path: spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  create: false
  group: apps
  kind: Deployment

- path: spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  create: false
  group: apps
  kind: Deployment

- path: spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels
  create: false
  group: apps
  kind: Deployment

- path: spec/selector/matchLabels
  create: true
  kind: ReplicaSet

- path: spec/selector/matchLabels
  create: true
  kind: DaemonSet

- path: spec/selector/matchLabels
  create: true
  group: apps
  kind: StatefulSet

- path: spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  create: false
  group: apps
  kind: StatefulSet

- path: spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  create: false
  group: apps
  kind: StatefulSet

- path: spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels
  create: false
  group: apps
  kind: StatefulSet

- path: spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels
  create: false
  group: apps
  kind: StatefulSet

- path: spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels
  create: false
  group: apps
  kind: StatefulSet

- path: spec/selector/matchLabels
  create: false
  group: batch
  kind: Job

- path: spec/jobTemplate/spec/selector/matchLabels
  create: false
  group: batch
  kind: CronJob

- path: spec/selector/matchLabels
  create: false
  group: policy
  kind: PodDisruptionBudget

- path: spec/podSelector/matchLabels
  create: false
  group: networking.k8s.io
  kind: NetworkPolicy

- path: spec/ingress/from/podSelector/matchLabels
  create: false
  group: networking.k8s.io
  kind: NetworkPolicy

- path: spec/egress/to/podSelector/matchLabels
  create: false
  group: networking.k8s.io
  kind: NetworkPolicy
";

/// v5.5.0's `metadataLabelsFieldSpecs` (then still holding the StatefulSet volume claim
/// templates, which later kustomize moved to a list of its own).
const METADATA_LABELS: &str = "
- path: metadata/labels
  create: true

- path: spec/template/metadata/labels
  create: true
  version: v1
  kind: ReplicationController

- path: spec/template/metadata/labels
  create: true
  kind: Deployment

- path: spec/template/metadata/labels
  create: true
  kind: ReplicaSet

- path: spec/template/metadata/labels
  create: true
  kind: DaemonSet

- path: spec/template/metadata/labels
  create: true
  group: apps
  kind: StatefulSet

- path: spec/volumeClaimTemplates[]/metadata/labels
  create: true
  group: apps
  kind: StatefulSet

- path: spec/template/metadata/labels
  create: true
  group: batch
  kind: Job

- path: spec/jobTemplate/metadata/labels
  create: true
  group: batch
  kind: CronJob

- path: spec/jobTemplate/spec/template/metadata/labels
  create: true
  group: batch
  kind: CronJob
";

const NAME_REFERENCE: &str = r"
- kind: Deployment
  fieldSpecs:
  - path: spec/scaleTargetRef/name
    kind: HorizontalPodAutoscaler

- kind: ReplicationController
  fieldSpecs:
  - path: spec/scaleTargetRef/name
    kind: HorizontalPodAutoscaler

- kind: ReplicaSet
  fieldSpecs:
  - path: spec/scaleTargetRef/name
    kind: HorizontalPodAutoscaler

- kind: StatefulSet
  fieldSpecs:
  - path: spec/scaleTargetRef/name
    kind: HorizontalPodAutoscaler

- kind: ConfigMap
  version: v1
  fieldSpecs:
  - path: spec/volumes/configMap/name
    version: v1
    kind: Pod
  - path: spec/containers/env/valueFrom/configMapKeyRef/name
    version: v1
    kind: Pod
  - path: spec/initContainers/env/valueFrom/configMapKeyRef/name
    version: v1
    kind: Pod
  - path: spec/containers/envFrom/configMapRef/name
    version: v1
    kind: Pod
  - path: spec/initContainers/envFrom/configMapRef/name
    version: v1
    kind: Pod
  - path: spec/volumes/projected/sources/configMap/name
    version: v1
    kind: Pod
  - path: template/spec/volumes/configMap/name
    kind: PodTemplate
  - path: template/spec/containers/env/valueFrom/configMapKeyRef/name
    kind: PodTemplate
  - path: template/spec/initContainers/env/valueFrom/configMapKeyRef/name
    kind: PodTemplate
  - path: template/spec/containers/envFrom/configMapRef/name
    kind: PodTemplate
  - path: template/spec/initContainers/envFrom/configMapRef/name
    kind: PodTemplate
  - path: template/spec/volumes/projected/sources/configMap/name
    kind: PodTemplate
  - path: spec/template/spec/volumes/configMap/name
    kind: Deployment
  - path: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
    kind: Deployment
  - path: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
    kind: Deployment
  - path: spec/template/spec/containers/envFrom/configMapRef/name
    kind: Deployment
  - path: spec/template/spec/initContainers/envFrom/configMapRef/name
    kind: Deployment
  - path: spec/template/spec/volumes/projected/sources/configMap/name
    kind: Deployment
  - path: spec/template/spec/volumes/configMap/name
    kind: ReplicaSet
  - path: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
    kind: ReplicaSet
  - path: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
    kind: ReplicaSet
  - path: spec/template/spec/containers/envFrom/configMapRef/name
    kind: ReplicaSet
  - path: spec/template/spec/initContainers/envFrom/configMapRef/name
    kind: ReplicaSet
  - path: spec/template/spec/volumes/projected/sources/configMap/name
    kind: ReplicaSet
  - path: spec/template/spec/volumes/configMap/name
    kind: DaemonSet
  - path: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
    kind: DaemonSet
  - path: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
    kind: DaemonSet
  - path: spec/template/spec/containers/envFrom/configMapRef/name
    kind: DaemonSet
  - path: spec/template/spec/initContainers/envFrom/configMapRef/name
    kind: DaemonSet
  - path: spec/template/spec/volumes/projected/sources/configMap/name
    kind: DaemonSet
  - path: spec/template/spec/volumes/configMap/name
    kind: StatefulSet
  - path: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
    kind: StatefulSet
  - path: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
    kind: StatefulSet
  - path: spec/template/spec/containers/envFrom/configMapRef/name
    kind: StatefulSet
  - path: spec/template/spec/initContainers/envFrom/configMapRef/name
    kind: StatefulSet
  - path: spec/template/spec/volumes/projected/sources/configMap/name
    kind: StatefulSet
  - path: spec/template/spec/volumes/configMap/name
    kind: Job
  - path: spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
    kind: Job
  - path: spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
    kind: Job
  - path: spec/template/spec/containers/envFrom/configMapRef/name
    kind: Job
  - path: spec/template/spec/initContainers/envFrom/configMapRef/name
    kind: Job
  - path: spec/template/spec/volumes/projected/sources/configMap/name
    kind: Job
  - path: spec/jobTemplate/spec/template/spec/volumes/configMap/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/volumes/projected/sources/configMap/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/containers/env/valueFrom/configMapKeyRef/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/configMapKeyRef/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/containers/envFrom/configMapRef/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/initContainers/envFrom/configMapRef/name
    kind: CronJob
  - path: spec/configSource/configMap
    kind: Node
  - path: rules/resourceNames
    kind: Role
  - path: rules/resourceNames
    kind: ClusterRole
  - path: metadata/annotations/nginx.ingress.kubernetes.io\/fastcgi-params-configmap
    kind: Ingress

- kind: Secret
  version: v1
  fieldSpecs:
  - path: spec/volumes/secret/secretName
    version: v1
    kind: Pod
  - path: spec/containers/env/valueFrom/secretKeyRef/name
    version: v1
    kind: Pod
  - path: spec/initContainers/env/valueFrom/secretKeyRef/name
    version: v1
    kind: Pod
  - path: spec/containers/envFrom/secretRef/name
    version: v1
    kind: Pod
  - path: spec/initContainers/envFrom/secretRef/name
    version: v1
    kind: Pod
  - path: spec/imagePullSecrets/name
    version: v1
    kind: Pod
  - path: spec/volumes/projected/sources/secret/name
    version: v1
    kind: Pod
  - path: template/spec/volumes/secret/secretName
    kind: PodTemplate
  - path: template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: PodTemplate
  - path: template/spec/initContainers/env/valueFrom/secretKeyRef/name
    kind: PodTemplate
  - path: template/spec/containers/envFrom/secretRef/name
    kind: PodTemplate
  - path: template/spec/initContainers/envFrom/secretRef/name
    kind: PodTemplate
  - path: template/spec/imagePullSecrets/name
    kind: PodTemplate
  - path: template/spec/volumes/projected/sources/secret/name
    kind: PodTemplate
  - path: spec/template/spec/volumes/secret/secretName
    kind: Deployment
  - path: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: Deployment
  - path: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
    kind: Deployment
  - path: spec/template/spec/containers/envFrom/secretRef/name
    kind: Deployment
  - path: spec/template/spec/initContainers/envFrom/secretRef/name
    kind: Deployment
  - path: spec/template/spec/imagePullSecrets/name
    kind: Deployment
  - path: spec/template/spec/volumes/projected/sources/secret/name
    kind: Deployment
  - path: spec/template/spec/volumes/secret/secretName
    kind: ReplicaSet
  - path: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: ReplicaSet
  - path: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
    kind: ReplicaSet
  - path: spec/template/spec/containers/envFrom/secretRef/name
    kind: ReplicaSet
  - path: spec/template/spec/initContainers/envFrom/secretRef/name
    kind: ReplicaSet
  - path: spec/template/spec/imagePullSecrets/name
    kind: ReplicaSet
  - path: spec/template/spec/volumes/projected/sources/secret/name
    kind: ReplicaSet
  - path: spec/template/spec/volumes/secret/secretName
    kind: DaemonSet
  - path: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: DaemonSet
  - path: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
    kind: DaemonSet
  - path: spec/template/spec/containers/envFrom/secretRef/name
    kind: DaemonSet
  - path: spec/template/spec/initContainers/envFrom/secretRef/name
    kind: DaemonSet
  - path: spec/template/spec/imagePullSecrets/name
    kind: DaemonSet
  - path: spec/template/spec/volumes/projected/sources/secret/name
    kind: DaemonSet
  - path: spec/template/spec/volumes/secret/secretName
    kind: StatefulSet
  - path: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: StatefulSet
  - path: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
    kind: StatefulSet
  - path: spec/template/spec/containers/envFrom/secretRef/name
    kind: StatefulSet
  - path: spec/template/spec/initContainers/envFrom/secretRef/name
    kind: StatefulSet
  - path: spec/template/spec/imagePullSecrets/name
    kind: StatefulSet
  - path: spec/template/spec/volumes/projected/sources/secret/name
    kind: StatefulSet
  - path: spec/template/spec/volumes/secret/secretName
    kind: Job
  - path: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: Job
  - path: spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
    kind: Job
  - path: spec/template/spec/containers/envFrom/secretRef/name
    kind: Job
  - path: spec/template/spec/initContainers/envFrom/secretRef/name
    kind: Job
  - path: spec/template/spec/imagePullSecrets/name
    kind: Job
  - path: spec/template/spec/volumes/projected/sources/secret/name
    kind: Job
  - path: spec/jobTemplate/spec/template/spec/volumes/secret/secretName
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/volumes/projected/sources/secret/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/initContainers/env/valueFrom/secretKeyRef/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/containers/envFrom/secretRef/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/initContainers/envFrom/secretRef/name
    kind: CronJob
  - path: spec/jobTemplate/spec/template/spec/imagePullSecrets/name
    kind: CronJob
  - path: spec/tls/secretName
    kind: Ingress
  - path: metadata/annotations/ingress.kubernetes.io\/auth-secret
    kind: Ingress
  - path: metadata/annotations/nginx.ingress.kubernetes.io\/auth-secret
    kind: Ingress
  - path: metadata/annotations/nginx.ingress.kubernetes.io\/auth-tls-secret
    kind: Ingress
  - path: spec/tls/secretName
    kind: Ingress
  - path: imagePullSecrets/name
    kind: ServiceAccount
  - path: parameters/secretName
    kind: StorageClass
  - path: parameters/adminSecretName
    kind: StorageClass
  - path: parameters/userSecretName
    kind: StorageClass
  - path: parameters/secretRef
    kind: StorageClass
  - path: rules/resourceNames
    kind: Role
  - path: rules/resourceNames
    kind: ClusterRole
  - path: spec/template/spec/containers/env/valueFrom/secretKeyRef/name
    kind: Service
    group: serving.knative.dev
    version: v1
  - path: spec/azureFile/secretName
    kind: PersistentVolume

- kind: Service
  version: v1
  fieldSpecs:
  - path: spec/serviceName
    kind: StatefulSet
    group: apps
  - path: spec/rules/http/paths/backend/serviceName
    kind: Ingress
  - path: spec/backend/serviceName
    kind: Ingress
  - path: spec/rules/http/paths/backend/service/name
    kind: Ingress
  - path: spec/defaultBackend/service/name
    kind: Ingress
  - path: spec/service/name
    kind: APIService
    group: apiregistration.k8s.io
  - path: webhooks/clientConfig/service
    kind: ValidatingWebhookConfiguration
    group: admissionregistration.k8s.io
  - path: webhooks/clientConfig/service
    kind: MutatingWebhookConfiguration
    group: admissionregistration.k8s.io

- kind: Role
  group: rbac.authorization.k8s.io
  fieldSpecs:
  - path: roleRef/name
    kind: RoleBinding
    group: rbac.authorization.k8s.io

- kind: ClusterRole
  group: rbac.authorization.k8s.io
  fieldSpecs:
  - path: roleRef/name
    kind: RoleBinding
    group: rbac.authorization.k8s.io
  - path: roleRef/name
    kind: ClusterRoleBinding
    group: rbac.authorization.k8s.io

- kind: ServiceAccount
  version: v1
  fieldSpecs:
  - path: subjects
    kind: RoleBinding
    group: rbac.authorization.k8s.io
  - path: subjects
    kind: ClusterRoleBinding
    group: rbac.authorization.k8s.io
  - path: spec/serviceAccountName
    kind: Pod
  - path: spec/template/spec/serviceAccountName
    kind: StatefulSet
  - path: spec/template/spec/serviceAccountName
    kind: Deployment
  - path: spec/template/spec/serviceAccountName
    kind: ReplicationController
  - path: spec/jobTemplate/spec/template/spec/serviceAccountName
    kind: CronJob
  - path: spec/template/spec/serviceAccountName
    kind: Job
  - path: spec/template/spec/serviceAccountName
    kind: DaemonSet

- kind: PersistentVolumeClaim
  version: v1
  fieldSpecs:
  - path: spec/volumes/persistentVolumeClaim/claimName
    kind: Pod
  - path: spec/template/spec/volumes/persistentVolumeClaim/claimName
    kind: StatefulSet
  - path: spec/template/spec/volumes/persistentVolumeClaim/claimName
    kind: Deployment
  - path: spec/template/spec/volumes/persistentVolumeClaim/claimName
    kind: ReplicationController
  - path: spec/jobTemplate/spec/template/spec/volumes/persistentVolumeClaim/claimName
    kind: CronJob
  - path: spec/template/spec/volumes/persistentVolumeClaim/claimName
    kind: Job
  - path: spec/template/spec/volumes/persistentVolumeClaim/claimName
    kind: DaemonSet

- kind: PersistentVolume
  version: v1
  fieldSpecs:
  - path: spec/volumeName
    kind: PersistentVolumeClaim
  - path: rules/resourceNames
    kind: ClusterRole

- kind: StorageClass
  version: v1
  group: storage.k8s.io
  fieldSpecs:
  - path: spec/storageClassName
    kind: PersistentVolume
  - path: spec/storageClassName
    kind: PersistentVolumeClaim
  - path: spec/volumeClaimTemplates/spec/storageClassName
    kind: StatefulSet

- kind: PriorityClass
  version: v1
  group: scheduling.k8s.io
  fieldSpecs:
  - path: spec/priorityClassName
    kind: Pod
  - path: spec/template/spec/priorityClassName
    kind: StatefulSet
  - path: spec/template/spec/priorityClassName
    kind: Deployment
  - path: spec/template/spec/priorityClassName
    kind: ReplicationController
  - path: spec/jobTemplate/spec/template/spec/priorityClassName
    kind: CronJob
  - path: spec/template/spec/priorityClassName
    kind: Job
  - path: spec/template/spec/priorityClassName
    kind: DaemonSet

- kind: IngressClass
  version: v1
  group: networking.k8s.io/v1
  fieldSpecs:
  - path: spec/ingressClassName
    kind: Ingress

- kind: ValidatingAdmissionPolicy
  group: admissionregistration.k8s.io
  fieldSpecs:
  - path: spec/policyName
    kind: ValidatingAdmissionPolicyBinding
    group: admissionregistration.k8s.io
";

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
