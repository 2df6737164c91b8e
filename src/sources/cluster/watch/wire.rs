//! The watched resources, and the slim types their watch events decode into: only what the
//! audit reads is kept (see the module docs of `watch`).

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Utc};
use kube::core::{ApiResource, DynamicResourceScope};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::core::model::{ConfigObject, WorkloadKind};
use crate::core::resolve::{
    ConfigMapRaw, ObjectMeta, OwnerReference, Pod, PodSpec, PodStatus, Workload, WorkloadSpec, WorkloadStatus,
};

/// A watched resource: its API coordinates and the slim type it is stored as.
#[derive(Clone, Copy, Debug)]
pub(super) struct Def {
    group: &'static str,
    version: &'static str,
    pub(super) kind: &'static str,
    pub(super) plural: &'static str,
}

const fn def(group: &'static str, kind: &'static str, plural: &'static str) -> Def {
    Def {
        group,
        version: "v1",
        kind,
        plural,
    }
}

pub(super) const WORKLOADS: [(WorkloadKind, Def); 6] = [
    (WorkloadKind::Deployment, def("apps", "Deployment", "deployments")),
    (WorkloadKind::StatefulSet, def("apps", "StatefulSet", "statefulsets")),
    (WorkloadKind::DaemonSet, def("apps", "DaemonSet", "daemonsets")),
    (WorkloadKind::ReplicaSet, def("apps", "ReplicaSet", "replicasets")),
    (WorkloadKind::Job, def("batch", "Job", "jobs")),
    (WorkloadKind::CronJob, def("batch", "CronJob", "cronjobs")),
];
/// Argo Rollouts' CRD: watched as an optional resource (a cluster may not serve it).
pub(super) const ROLLOUTS: Def = Def {
    group: "argoproj.io",
    version: "v1alpha1",
    kind: "Rollout",
    plural: "rollouts",
};
pub(super) const PODS: Def = def("", "Pod", "pods");
pub(super) const CONFIGMAPS: Def = def("", "ConfigMap", "configmaps");

impl Def {
    pub(super) fn api_resource(self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version,
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }
}

/// An object as a watch event carries it, decoded into the slim type `T`: the `ObjectMeta`
/// kube-runtime reads holds only the resourceVersion it resumes from.
#[derive(Clone, Debug)]
pub(super) struct Wire<T> {
    meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    pub(super) obj: T,
}

impl<T> kube::Resource for Wire<T> {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.api_version)
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }
    fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &mut self.meta
    }
}

impl<'de, T: Slim> Deserialize<'de> for Wire<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (resource_version, obj) = T::from_wire(T::Raw::deserialize(d)?);
        let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            resource_version: Some(resource_version),
            ..Default::default()
        };
        Ok(Wire { meta, obj })
    }
}

/// A slim type the stores keep, decoded from its wire shape.
pub(super) trait Slim: Clone + std::fmt::Debug + Send + Sync + Sized + 'static {
    type Raw: DeserializeOwned;
    /// The resourceVersion and the slim object.
    fn from_wire(raw: Self::Raw) -> (String, Self);
    fn namespace(&self) -> &str;
    fn name(&self) -> &str;
}

/// `metadata` as [`resolve::ObjectMeta`] reads it, plus the resourceVersion. Built field by
/// field (no `..Default`), so a field added there fails to compile here instead of being lost.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    #[serde(default)]
    resource_version: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    generation: Option<i64>,
    creation_timestamp: Option<DateTime<Utc>>,
    deletion_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    owner_references: Vec<OwnerReference>,
}

impl WireMeta {
    fn split(self) -> (String, ObjectMeta) {
        let meta = ObjectMeta {
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            generation: self.generation,
            creation_timestamp: self.creation_timestamp,
            deletion_timestamp: self.deletion_timestamp,
            owner_references: self.owner_references,
        };
        (self.resource_version, meta)
    }
}

#[derive(Deserialize)]
pub(super) struct WorkloadWire {
    #[serde(default)]
    metadata: WireMeta,
    #[serde(default)]
    spec: WorkloadSpec,
    #[serde(default)]
    status: WorkloadStatus,
}

impl Slim for Workload {
    type Raw = WorkloadWire;
    fn from_wire(raw: WorkloadWire) -> (String, Self) {
        let (rv, metadata) = raw.metadata.split();
        let mut spec = raw.spec;
        prune(&mut spec.template.spec);
        prune(&mut spec.job_template.spec.template.spec);
        let w = Workload {
            metadata,
            spec,
            status: raw.status,
        };
        (rv, w)
    }
    fn namespace(&self) -> &str {
        &self.metadata.namespace
    }
    fn name(&self) -> &str {
        &self.metadata.name
    }
}

#[derive(Deserialize)]
pub(super) struct PodWire {
    #[serde(default)]
    metadata: WireMeta,
    #[serde(default)]
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

impl Slim for Pod {
    type Raw = PodWire;
    fn from_wire(raw: PodWire) -> (String, Self) {
        let (rv, metadata) = raw.metadata.split();
        let mut spec = raw.spec;
        prune(&mut spec);
        let pod = Pod {
            metadata,
            spec,
            status: raw.status,
        };
        (rv, pod)
    }
    fn namespace(&self) -> &str {
        &self.metadata.namespace
    }
    fn name(&self) -> &str {
        &self.metadata.name
    }
}

#[derive(Deserialize)]
pub(super) struct ConfigMapWire {
    #[serde(default)]
    metadata: WireMeta,
    /// `data` and `binaryData`, hashed while decoding as the LIST path does.
    #[serde(flatten)]
    body: ConfigMapRaw,
}

impl Slim for ConfigObject {
    type Raw = ConfigMapWire;
    fn from_wire(raw: ConfigMapWire) -> (String, Self) {
        let (rv, metadata) = raw.metadata.split();
        let mut body = raw.body;
        body.metadata = metadata;
        (rv, body.into())
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Drops what a Pod spec holds that the audit never reads: env vars and volumes that reference
/// no ConfigMap or Secret (a Pod often has dozens of plain env vars).
fn prune(spec: &mut PodSpec) {
    spec.volumes.retain(|v| v.config_map.is_some() || v.secret.is_some());
    spec.volumes.shrink_to_fit();
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut()) {
        c.env.retain(|e| {
            e.value_from
                .as_ref()
                .is_some_and(|v| v.config_map_key_ref.is_some() || v.secret_key_ref.is_some())
        });
        c.env.shrink_to_fit();
        c.env_from
            .retain(|e| e.config_map_ref.is_some() || e.secret_ref.is_some());
        c.env_from.shrink_to_fit();
    }
}

fn version_hash(rv: &str) -> u64 {
    let mut h = DefaultHasher::new();
    rv.hash(&mut h);
    h.finish()
}

impl<T> Wire<T> {
    pub(super) fn obj_with_version(self) -> (u64, T) {
        (
            version_hash(self.meta.resource_version.as_deref().unwrap_or("")),
            self.obj,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_json() -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "api-1", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                         "creationTimestamp": "2026-11-01T00:00:00Z", "labels": {"app": "api"},
                         "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {"f:phase": {}}}}],
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "api-5f", "uid": "rs1", "controller": true}]},
            "spec": {"containers": [{"name": "api", "image": "api:1",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                        "envFrom": [{"prefix": "X_"}, {"configMapRef": {"name": "c"}}]}],
                     "volumes": [{"name": "t", "projected": {}}, {"name": "s", "secret": {"secretName": "s"}}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "api", "imageID": "api@sha256:1"}]}})
    }

    #[test]
    fn a_pod_decodes_to_the_list_paths_pod_less_what_the_audit_never_reads() {
        let wire: Wire<Pod> = serde_json::from_value(pod_json()).unwrap();
        assert_eq!(wire.meta.resource_version.as_deref(), Some("42"));
        let listed: Pod = serde_json::from_value(pod_json()).unwrap();
        assert_eq!(format!("{:?}", wire.obj.metadata), format!("{:?}", listed.metadata));
        assert_eq!(format!("{:?}", wire.obj.status), format!("{:?}", listed.status));
        assert_eq!(wire.obj.spec.required_configs(), listed.spec.required_configs());
        let c = &wire.obj.spec.containers[0];
        assert_eq!((c.env.len(), c.env_from.len(), wire.obj.spec.volumes.len()), (1, 1, 1));
    }

    #[test]
    fn a_configmap_decodes_hashed_as_the_list_path_does() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "shop", "resourceVersion": "7"},
            "data": {"mode": "fast"}, "binaryData": {"blob": "AAE="}});
        let wire: Wire<ConfigObject> = serde_json::from_value(cm.clone()).unwrap();
        let listed: ConfigObject = serde_json::from_value::<ConfigMapRaw>(cm).unwrap().into();
        assert_eq!(wire.obj, listed);
        assert_eq!(wire.obj.values.len(), 2);
    }

    #[test]
    fn a_workload_keeps_its_template_and_status() {
        let d = json!({"kind": "CronJob", "metadata": {"name": "r", "namespace": "shop", "resourceVersion": "9", "generation": 3},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "r", "image": "r:1", "env": [{"name": "A", "value": "x"}]}]}}}}},
            "status": {"observedGeneration": 2}});
        let wire: Wire<Workload> = serde_json::from_value(d).unwrap();
        let spec = &wire.obj.spec.job_template.spec.template.spec;
        assert_eq!(spec.containers[0].image, "r:1");
        assert!(spec.containers[0].env.is_empty());
        assert_eq!(
            (wire.obj.metadata.generation, wire.obj.status.observed_generation),
            (Some(3), Some(2))
        );
    }

    /// An Argo Rollout decodes into the same slim workload: its status writes
    /// observedGeneration as a string, and what says it is paused is kept.
    #[test]
    fn a_rollout_decodes_with_its_string_generation_and_pause() {
        let r = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "11", "generation": 4},
            "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
            "status": {"observedGeneration": "4", "currentPodHash": "7d9f", "stableRS": "5c6b",
                       "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-25T10:30:00Z"}]}});
        let wire: Wire<Workload> = serde_json::from_value(r).unwrap();
        let s = &wire.obj.status;
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(
            (s.current_pod_hash.as_deref(), s.stable_rs.as_deref()),
            (Some("7d9f"), Some("5c6b"))
        );
        assert_eq!(s.pause_conditions[0].reason, "CanaryPauseStep");
        assert_eq!(
            wire.obj.spec.workload_ref.as_ref().map(|r| r.name.as_str()),
            Some("web")
        );
    }
}
