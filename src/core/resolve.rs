//! The slice of Kubernetes objects the audit reads, and how they become [`LiveState`]: Pods are
//! resolved to their top-level owner (Pod → ReplicaSet → Deployment, Pod → Job → CronJob) and
//! rollout progress is read from workload status. Pure: [`crate::sources::cluster`] fetches the objects
//! (API or snapshot file) and hands them here.
//!
//! The structs deserialize only the fields the audit needs, so a LIST of thousands of Pods does
//! not build thousands of full `k8s-openapi` objects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::core::image::RunningImage;
use crate::core::model::{
    ConfigListing, ConfigObject, ConfigRef, ContainerSpec, ContainerStatus, Hold, HoldState, LivePod, LiveState,
    LiveWorkload, Pace, Rollout, WorkloadKey, WorkloadKind, value_hash,
};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    pub generation: Option<i64>,
    pub creation_timestamp: Option<DateTime<Utc>>,
    pub deletion_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub owner_references: Vec<OwnerReference>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub uid: String,
    pub controller: Option<bool>,
}

/// A container of a Pod spec as the API serves it: what the resolution reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodContainer {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub env_from: Vec<EnvFrom>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub containers: Vec<PodContainer>,
    #[serde(default)]
    pub init_containers: Vec<PodContainer>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
}

/// A reference to a ConfigMap or Secret by name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedRef {
    #[serde(default, alias = "secretName")]
    pub name: String,
    #[serde(default)]
    pub optional: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub config_map: Option<NamedRef>,
    pub secret: Option<NamedRef>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFrom {
    pub config_map_ref: Option<NamedRef>,
    pub secret_ref: Option<NamedRef>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvValueFrom {
    pub config_map_key_ref: Option<NamedRef>,
    pub secret_key_ref: Option<NamedRef>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub value_from: Option<EnvValueFrom>,
}

impl PodSpec {
    /// The ConfigMaps (false) and Secrets (true) the Pod cannot start without.
    pub fn required_configs(&self) -> Vec<(bool, String)> {
        let mut out = Vec::new();
        let mut add = |secret: bool, r: &Option<NamedRef>| {
            if let Some(r) = r
                && r.optional != Some(true)
                && !r.name.is_empty()
            {
                out.push((secret, r.name.clone()));
            }
        };
        for v in &self.volumes {
            add(false, &v.config_map);
            add(true, &v.secret);
        }
        for c in self.containers.iter().chain(&self.init_containers) {
            for e in &c.env_from {
                add(false, &e.config_map_ref);
                add(true, &e.secret_ref);
            }
            for e in c.env.iter().filter_map(|e| e.value_from.as_ref()) {
                add(false, &e.config_map_key_ref);
                add(true, &e.secret_key_ref);
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn hashed_plain<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, String> = Deserialize::deserialize(d)?;
    Ok(raw.into_iter().map(|(k, v)| (k, value_hash(v.as_bytes()))).collect())
}

fn hashed_base64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    use base64::Engine as _;
    let raw: BTreeMap<String, String> = Deserialize::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&v)
                .map_err(|e| serde::de::Error::custom(format!("{k}: {e}")))?;
            Ok((k, value_hash(&bytes)))
        })
        .collect()
}

/// A live ConfigMap; values are hashed while deserializing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapRaw {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "hashed_plain")]
    pub data: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "hashed_base64")]
    pub binary_data: BTreeMap<String, String>,
}

/// A live Secret; values are hashed while deserializing and never kept.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SecretRaw {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "hashed_base64")]
    pub data: BTreeMap<String, String>,
}

impl From<ConfigMapRaw> for ConfigObject {
    fn from(c: ConfigMapRaw) -> Self {
        let mut values = c.data;
        values.extend(c.binary_data);
        ConfigObject {
            secret: false,
            namespace: c.metadata.namespace,
            name: c.metadata.name,
            values,
            source: String::new(),
            file: String::new(),
        }
    }
}

impl From<SecretRaw> for ConfigObject {
    fn from(s: SecretRaw) -> Self {
        ConfigObject {
            secret: true,
            namespace: s.metadata.namespace,
            name: s.metadata.name,
            values: s.data,
            source: String::new(),
            file: String::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PodTemplate {
    #[serde(default)]
    pub spec: PodSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobTemplate {
    #[serde(default)]
    pub spec: JobTemplateSpec,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobTemplateSpec {
    #[serde(default)]
    pub template: PodTemplate,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    pub replicas: Option<i64>,
    #[serde(default)]
    pub template: PodTemplate,
    #[serde(default)]
    pub job_template: JobTemplate,
    /// An Argo Rollout's: the workload whose Pod template it runs instead of its own.
    pub workload_ref: Option<TargetRef>,
    /// An Argo Rollout's: paused by hand (`kubectl argo rollouts pause`).
    #[serde(default)]
    pub paused: bool,
    /// An Argo Rollout's: what the audit reads of its canary steps (their timed pauses).
    #[serde(default)]
    pub strategy: Strategy,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Strategy {
    pub canary: Option<Canary>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Canary {
    #[serde(default)]
    pub steps: Vec<CanaryStep>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CanaryStep {
    pub pause: Option<PauseStep>,
}

/// A canary `pause` step: `{}` waits for a promotion, `{duration: 10m}` (or seconds) resumes on
/// its own.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PauseStep {
    pub duration: Option<serde_json::Value>,
}

impl PauseStep {
    /// The planned pause, as Argo Rollouts reads it: seconds (a number, or a string of digits),
    /// or a Go duration (`10m`, `1h30m`).
    pub fn planned(&self) -> Option<std::time::Duration> {
        match self.duration.as_ref()? {
            serde_json::Value::Number(n) => n.as_u64().map(std::time::Duration::from_secs),
            serde_json::Value::String(s) => match s.parse::<u64>() {
                Ok(secs) => Some(std::time::Duration::from_secs(secs)),
                Err(_) => humantime::parse_duration(s).ok(),
            },
            _ => None,
        }
    }
}

/// A reference by kind and name, in the object's namespace.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TargetRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// Status fields of Deployments, StatefulSets, DaemonSets, ReplicaSets and Argo Rollouts (each
/// kind fills the ones it has).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// A number, except in an Argo Rollout, which writes it as a string.
    #[serde(default, deserialize_with = "number_or_string")]
    pub observed_generation: Option<i64>,
    pub replicas: Option<i64>,
    pub updated_replicas: Option<i64>,
    pub current_revision: Option<String>,
    pub update_revision: Option<String>,
    pub desired_number_scheduled: Option<i64>,
    pub updated_number_scheduled: Option<i64>,
    /// Argo Rollouts: the Pod template hash of the spec's ReplicaSet, and of the stable one.
    pub current_pod_hash: Option<String>,
    #[serde(rename = "stableRS")]
    pub stable_rs: Option<String>,
    #[serde(default)]
    pub abort: bool,
    pub aborted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub pause_conditions: Vec<PauseCondition>,
    /// `Healthy`, `Progressing`, `Paused`, `Degraded`.
    pub phase: Option<String>,
    pub message: Option<String>,
    pub current_step_index: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// An Argo Rollout's reason to stand still, and since when.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    #[serde(default)]
    pub reason: String,
    pub start_time: Option<DateTime<Utc>>,
}

/// A status condition (what the audit reads of it).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: String,
    pub last_transition_time: Option<DateTime<Utc>>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(i64),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        Some(Either::Number(n)) => Some(n),
        Some(Either::Text(t)) => t.parse().ok(),
        None => None,
    })
}

/// Any of the workload kinds; which one is carried next to it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Workload {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: WorkloadSpec,
    #[serde(default)]
    pub status: WorkloadStatus,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatusRaw {
    pub name: String,
    #[serde(default, rename = "imageID")]
    pub image_id: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    #[serde(default)]
    pub container_statuses: Vec<ContainerStatusRaw>,
    #[serde(default)]
    pub init_container_statuses: Vec<ContainerStatusRaw>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

/// One page of a LIST answer.
#[derive(Debug, Deserialize)]
pub struct ObjectList<T> {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListMeta {
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

/// Everything listed from one cluster, before owner resolution.
#[derive(Clone, Debug, Default)]
pub struct RawObjects {
    pub workloads: Vec<(WorkloadKind, Workload)>,
    pub pods: Vec<Pod>,
    /// ConfigMaps and (when listed) Secrets, values hashed.
    pub configs: Vec<ConfigObject>,
    pub config_listing: ConfigListing,
    /// Why the cluster refused to list Argo Rollouts, when it did.
    pub rollouts_refused: Option<String>,
}

/// A snapshot item: the `kind` decides how the rest is read.
#[derive(Deserialize)]
#[serde(tag = "kind")]
enum SnapshotItem {
    Deployment(Workload),
    StatefulSet(Workload),
    DaemonSet(Workload),
    ReplicaSet(Workload),
    Job(Workload),
    CronJob(Workload),
    Rollout(Workload),
    Pod(Pod),
    ConfigMap(ConfigMapRaw),
    Secret(SecretRaw),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct SnapshotList {
    kind: Option<String>,
    #[serde(default)]
    items: Vec<SnapshotItem>,
}

/// Why a cluster snapshot file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("expected a v1 List, found kind {0:?}")]
    NotAList(String),
}

impl RawObjects {
    /// Reads the output of `kubectl get deployments,statefulsets,daemonsets,cronjobs,jobs,
    /// replicasets,pods -A -o json` (a v1 `List`; with `rollouts.argoproj.io` too where Argo
    /// Rollouts runs).
    pub fn from_snapshot_json(text: &str) -> Result<Self, SnapshotError> {
        let list: SnapshotList = serde_json::from_str(text)?;
        if list.kind.as_deref() != Some("List") && !list.kind.as_deref().unwrap_or("").ends_with("List") {
            return Err(SnapshotError::NotAList(list.kind.unwrap_or_default()));
        }
        let mut raw = Self::default();
        for item in list.items {
            let (kind, w) = match item {
                SnapshotItem::Deployment(w) => (WorkloadKind::Deployment, w),
                SnapshotItem::StatefulSet(w) => (WorkloadKind::StatefulSet, w),
                SnapshotItem::DaemonSet(w) => (WorkloadKind::DaemonSet, w),
                SnapshotItem::ReplicaSet(w) => (WorkloadKind::ReplicaSet, w),
                SnapshotItem::Job(w) => (WorkloadKind::Job, w),
                SnapshotItem::CronJob(w) => (WorkloadKind::CronJob, w),
                SnapshotItem::Rollout(w) => (WorkloadKind::Rollout, w),
                SnapshotItem::Pod(p) => {
                    raw.pods.push(p);
                    continue;
                }
                SnapshotItem::ConfigMap(c) => {
                    raw.configs.push(c.into());
                    continue;
                }
                SnapshotItem::Secret(c) => {
                    raw.configs.push(c.into());
                    continue;
                }
                SnapshotItem::Other => continue,
            };
            raw.workloads.push((kind, w));
        }
        Ok(raw)
    }
}

fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| meta.owner_references.first())
}

fn containers(spec: &PodSpec) -> Vec<ContainerSpec> {
    let init = spec.init_containers.iter().map(|c| (c, true));
    let main = spec.containers.iter().map(|c| (c, false));
    init.chain(main)
        .map(|(c, init)| ContainerSpec {
            name: c.name.clone(),
            image: c.image.clone(),
            init,
            invalid: None,
        })
        .collect()
}

/// Builds the live state: top-level workloads with the running Pods they own. Objects outside
/// `namespaces` (when given) are dropped. Pods that are terminating or finished, and
/// containers without an imageID yet, do not count as running.
pub fn build(raw: &RawObjects, namespaces: Option<&[String]>) -> LiveState {
    let in_scope = |ns: &str| namespaces.is_none_or(|list| list.iter().any(|n| n == ns));
    let owners = Owners::index(raw);
    let mut state = LiveState::default();
    let newest_child = add_top_level_workloads(&owners, &in_scope, &mut state);
    let newest_pod = add_pods(&owners, &in_scope, &mut state);
    for c in raw.configs.iter().filter(|c| in_scope(&c.namespace)) {
        state
            .configs
            .insert((c.secret, c.namespace.clone(), c.name.clone()), c.clone());
    }
    state.config_listing = raw.config_listing.clone();
    state.rollouts_refused = raw.rollouts_refused.clone();
    set_rollouts(&owners, &newest_child, &newest_pod, &mut state);
    state
}

/// The owner graph of the listed workloads, by index into `raw.workloads`.
struct Owners<'a> {
    raw: &'a RawObjects,
    /// By uid (a hand-written snapshot may have none, hence `by_name` too).
    by_uid: HashMap<(&'a str, &'a str), usize>,
    by_name: HashMap<(WorkloadKind, &'a str, &'a str), usize>,
}

impl<'a> Owners<'a> {
    fn index(raw: &'a RawObjects) -> Self {
        let mut by_uid = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, (kind, w)) in raw.workloads.iter().enumerate() {
            if !w.metadata.uid.is_empty() {
                by_uid.insert((kind.as_str(), w.metadata.uid.as_str()), i);
            }
            by_name.insert((*kind, w.metadata.namespace.as_str(), w.metadata.name.as_str()), i);
        }
        Self { raw, by_uid, by_name }
    }

    /// The listed workload `owner` points at, from an object in `namespace`.
    fn find(&self, namespace: &str, owner: &OwnerReference) -> Option<usize> {
        let kind = WorkloadKind::from_kind(&owner.kind)?;
        self.by_uid
            .get(&(kind.as_str(), owner.uid.as_str()))
            .or_else(|| self.by_name.get(&(kind, namespace, owner.name.as_str())))
            .copied()
    }

    /// Walks up the controller chain to the top-level workload; None for objects owned by
    /// something driftwatch does not audit or did not list (a Node for static Pods, an Argo
    /// Rollout where the cluster does not serve Rollouts, …).
    fn top_of(&self, mut idx: usize) -> Option<usize> {
        for _ in 0..4 {
            let (_, w) = &self.raw.workloads[idx];
            match controller_of(&w.metadata) {
                None => return Some(idx),
                Some(owner) => idx = self.find(&w.metadata.namespace, owner)?,
            }
        }
        None
    }

    fn key(&self, idx: usize) -> WorkloadKey {
        let (kind, w) = &self.raw.workloads[idx];
        WorkloadKey {
            kind: *kind,
            namespace: w.metadata.namespace.clone(),
            name: w.metadata.name.clone(),
        }
    }

    /// The Pod template spec of a listed workload: a CronJob's job template's, an Argo Rollout's
    /// own or (with `spec.workloadRef`) the listed workload's it names.
    fn template(&self, kind: WorkloadKind, w: &'a Workload) -> &'a PodSpec {
        let own = &w.spec.template.spec;
        match kind {
            WorkloadKind::CronJob => &w.spec.job_template.spec.template.spec,
            WorkloadKind::Rollout if own.containers.is_empty() => {
                let target = w.spec.workload_ref.as_ref().and_then(|r| {
                    let kind = WorkloadKind::from_kind(&r.kind)?;
                    self.by_name
                        .get(&(kind, w.metadata.namespace.as_str(), r.name.as_str()))
                });
                target.map_or(own, |&t| &self.raw.workloads[t].1.spec.template.spec)
            }
            _ => own,
        }
    }

    /// The Pod template of the listed workload that made `pod` (its ReplicaSet, its Job, its
    /// StatefulSet): what its containers were deployed as. None for an ownerless Pod, or one
    /// whose controller was not listed.
    fn made_from(&self, pod: &Pod) -> Option<&'a PodSpec> {
        let meta = &pod.metadata;
        let i = self.find(&meta.namespace, controller_of(meta)?)?;
        let (kind, w) = &self.raw.workloads[i];
        Some(self.template(*kind, w))
    }

    /// The workload a Pod counts for: its top-level owner, or the Pod itself when it has no
    /// owner. None when its owner is not audited.
    fn of_pod(&self, pod: &Pod) -> Option<WorkloadKey> {
        let meta = &pod.metadata;
        match controller_of(meta) {
            None => Some(WorkloadKey {
                kind: WorkloadKind::Pod,
                namespace: meta.namespace.clone(),
                name: meta.name.clone(),
            }),
            Some(owner) => self
                .find(&meta.namespace, owner)
                .and_then(|i| self.top_of(i))
                .map(|top| self.key(top)),
        }
    }
}

/// Adds every top-level workload in scope (without Pods yet) and returns, per top-level
/// workload, when its newest owned object (a Deployment's ReplicaSet) was created.
fn add_top_level_workloads(
    owners: &Owners<'_>,
    in_scope: &impl Fn(&str) -> bool,
    state: &mut LiveState,
) -> HashMap<usize, DateTime<Utc>> {
    let mut newest_child: HashMap<usize, DateTime<Utc>> = HashMap::new();
    for (i, (kind, w)) in owners.raw.workloads.iter().enumerate() {
        if !in_scope(&w.metadata.namespace) {
            continue;
        }
        match owners.top_of(i) {
            Some(top) if top == i => {
                let workload = LiveWorkload {
                    kind: *kind,
                    namespace: w.metadata.namespace.clone(),
                    name: w.metadata.name.clone(),
                    containers: containers(owners.template(*kind, w)),
                    rollout: Rollout::default(),
                    pods: Vec::new(),
                };
                state.workloads.insert(workload.key(), workload);
            }
            Some(top) => {
                if let Some(created) = w.metadata.creation_timestamp {
                    let e = newest_child.entry(top).or_insert(created);
                    *e = (*e).max(created);
                }
            }
            None => {}
        }
    }
    newest_child
}

/// Attaches each running Pod in scope to its workload (an ownerless Pod is its own), with
/// the ConfigMaps and Secrets it needs, and returns when each workload's newest Pod was created.
fn add_pods(
    owners: &Owners<'_>,
    in_scope: &impl Fn(&str) -> bool,
    state: &mut LiveState,
) -> HashMap<WorkloadKey, DateTime<Utc>> {
    let mut newest_pod: HashMap<WorkloadKey, DateTime<Utc>> = HashMap::new();
    // The Pods of one workload report the same few imageIDs; parsing each once keeps resolution
    // linear in Pods without a reference parse per container.
    let mut parsed: HashMap<&str, RunningImage> = HashMap::new();
    let mut config_refs: BTreeSet<ConfigRef> = BTreeSet::new();
    for pod in &owners.raw.pods {
        let meta = &pod.metadata;
        if !in_scope(&meta.namespace) || meta.deletion_timestamp.is_some() {
            continue;
        }
        if matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            continue;
        }
        let Some(key) = owners.of_pod(pod) else {
            continue;
        };
        if key.kind == WorkloadKind::Pod {
            state.workloads.entry(key.clone()).or_insert_with(|| LiveWorkload {
                kind: WorkloadKind::Pod,
                namespace: meta.namespace.clone(),
                name: meta.name.clone(),
                containers: containers(&pod.spec),
                rollout: Rollout::default(),
                pods: Vec::new(),
            });
        }
        let Some(workload) = state.workloads.get_mut(&key) else {
            continue;
        };
        workload.pods.push(LivePod {
            name: meta.name.clone(),
            statuses: statuses(pod, owners.made_from(pod), &mut parsed),
        });
        for (secret, name) in pod.spec.required_configs() {
            config_refs.insert(ConfigRef {
                workload: key.clone(),
                secret,
                name,
            });
        }
        if let Some(created) = meta.creation_timestamp {
            let e = newest_pod.entry(key).or_insert(created);
            *e = (*e).max(created);
        }
    }
    state.config_refs = config_refs.into_iter().collect();
    newest_pod
}

/// The Pod's container statuses (init first) that report an imageID, with the image the
/// `template` it was made from names for each.
fn statuses<'p>(
    pod: &'p Pod,
    template: Option<&PodSpec>,
    parsed: &mut HashMap<&'p str, RunningImage>,
) -> Vec<ContainerStatus> {
    let init = pod.status.init_container_statuses.iter().map(|s| (s, true));
    let main = pod.status.container_statuses.iter().map(|s| (s, false));
    let made_as = |name: &str, init: bool| {
        let listed = if init {
            &template?.init_containers
        } else {
            &template?.containers
        };
        listed.iter().find(|c| c.name == name).map(|c| c.image.clone())
    };
    init.chain(main)
        .filter(|(s, _)| !s.image_id.is_empty())
        .map(|(s, init)| ContainerStatus {
            name: s.name.clone(),
            init,
            image: parsed
                .entry(s.image_id.as_str())
                .or_insert_with(|| RunningImage::from_image_id(&s.image_id))
                .clone(),
            made_as: made_as(&s.name, init),
        })
        .collect()
}

/// Rollout progress, from the top-level object's status; it started when the newest
/// ReplicaSet (for a Deployment) or the newest Pod (otherwise) was created.
fn set_rollouts(
    owners: &Owners<'_>,
    newest_child: &HashMap<usize, DateTime<Utc>>,
    newest_pod: &HashMap<WorkloadKey, DateTime<Utc>>,
    state: &mut LiveState,
) {
    let by_key: BTreeMap<WorkloadKey, usize> = (0..owners.raw.workloads.len()).map(|i| (owners.key(i), i)).collect();
    for (key, live) in state.workloads.iter_mut() {
        let Some(&i) = by_key.get(key) else { continue };
        let (kind, w) = &owners.raw.workloads[i];
        let started_at = match kind {
            WorkloadKind::Deployment | WorkloadKind::Rollout => newest_child.get(&i).copied(),
            _ => newest_pod.get(key).copied(),
        };
        live.rollout = match kind {
            WorkloadKind::Rollout => argo_rollout(w, started_at),
            _ => Rollout {
                in_progress: rollout_in_progress(*kind, w),
                started_at,
                pace: Pace::Continuous,
            },
        };
    }
}

/// A paused Argo Rollout's hold: since the earliest pause began, except that a timed pause
/// step (`pause: {duration: 1h}`) holds only from when it should have resumed.
fn paused(w: &Workload) -> Hold {
    let s = &w.status;
    let timed = s
        .current_step_index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| w.spec.strategy.canary.as_ref()?.steps.get(i)?.pause.as_ref()?.planned());
    let mut reasons = Vec::new();
    let mut since: Option<DateTime<Utc>> = None;
    for p in &s.pause_conditions {
        let (reason, from) = match (p.reason.as_str(), timed) {
            ("CanaryPauseStep", Some(d)) => (
                format!("CanaryPauseStep: its {} pause ended", humantime::format_duration(d)),
                p.start_time
                    .and_then(|t| chrono::Duration::from_std(d).ok().map(|d| t + d)),
            ),
            (reason, _) => (reason.to_string(), p.start_time),
        };
        reasons.push(reason);
        since = match (since, from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let since = since.or_else(|| {
        s.conditions
            .iter()
            .find(|c| c.kind == "Paused" && c.status == "True")
            .and_then(|c| c.last_transition_time)
    });
    if reasons.is_empty() {
        reasons.push("spec.paused".to_string());
    }
    Hold {
        state: HoldState::Paused,
        reason: reasons.join(", "),
        since,
    }
}

/// An Argo Rollout's progress: a canary or blue-green is under way while the spec's Pod
/// template hash is not the stable one (or Pods of other ReplicaSets are left, or it was
/// aborted); it is held while paused, aborted or past its progress deadline, since the pause's
/// start, the abort, or the deadline's condition.
fn argo_rollout(w: &Workload, started_at: Option<DateTime<Utc>>) -> Rollout {
    let s = &w.status;
    let behind = w
        .metadata
        .generation
        .zip(s.observed_generation)
        .is_some_and(|(g, o)| o < g);
    let switching = matches!((&s.current_pod_hash, &s.stable_rs), (Some(c), Some(st)) if c != st);
    let updated = s.updated_replicas.unwrap_or(0);
    let others_left = s.replicas.unwrap_or(0) > updated;
    let in_progress = behind || switching || others_left || s.abort;
    let hold = in_progress.then(|| hold(w)).flatten();
    Rollout {
        in_progress,
        started_at,
        pace: Pace::Stepped(hold),
    }
}

/// Why and since when an Argo Rollout under way stands still, if it does.
fn hold(w: &Workload) -> Option<Hold> {
    let s = &w.status;
    let condition = |kind: &str| s.conditions.iter().find(|c| c.kind == kind);
    if s.abort {
        let since = s
            .aborted_at
            .or_else(|| condition("Progressing").and_then(|c| c.last_transition_time));
        let reason = s.message.clone().unwrap_or_else(|| "RolloutAborted".into());
        return Some(Hold {
            state: HoldState::Aborted,
            reason,
            since,
        });
    }
    if !s.pause_conditions.is_empty() || w.spec.paused {
        return Some(paused(w));
    }
    if s.phase.as_deref() != Some("Degraded") {
        return None;
    }
    let progressing = condition("Progressing");
    Some(Hold {
        state: HoldState::Stalled,
        reason: progressing.map_or_else(|| "Degraded".into(), |c| c.reason.clone()),
        since: progressing.and_then(|c| c.last_transition_time),
    })
}

/// Whether the controller has not yet observed the newest spec or not all replicas run it.
fn rollout_in_progress(kind: WorkloadKind, w: &Workload) -> bool {
    let behind = w
        .metadata
        .generation
        .zip(w.status.observed_generation)
        .is_some_and(|(g, o)| o < g);
    let s = &w.status;
    behind
        || match kind {
            WorkloadKind::Deployment => {
                let want = w.spec.replicas.unwrap_or(1);
                let updated = s.updated_replicas.unwrap_or(0);
                updated < want || s.replicas.unwrap_or(0) > updated
            }
            WorkloadKind::StatefulSet => {
                let revisions_differ =
                    matches!((&s.current_revision, &s.update_revision), (Some(c), Some(u)) if c != u);
                revisions_differ || s.updated_replicas.unwrap_or(0) < w.spec.replicas.unwrap_or(1)
            }
            WorkloadKind::DaemonSet => {
                s.updated_number_scheduled.unwrap_or(0) < s.desired_number_scheduled.unwrap_or(0)
            }
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn snapshot(items: serde_json::Value) -> RawObjects {
        RawObjects::from_snapshot_json(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string())
            .unwrap()
    }

    fn tmpl(image: &str) -> serde_json::Value {
        json!({"spec": {"containers": [{"name": "app", "image": image}]}})
    }

    fn pod(name: &str, owner: Option<(&str, &str, &str)>, image_id: &str) -> serde_json::Value {
        let owners: Vec<_> = owner
            .into_iter()
            .map(|(k, n, u)| json!({"kind": k, "name": n, "uid": u, "controller": true}))
            .collect();
        json!({"kind": "Pod", "metadata": {"name": name, "namespace": "shop", "uid": format!("pod-{name}"),
               "creationTimestamp": "2026-11-25T10:00:00Z", "ownerReferences": owners},
               "spec": {"containers": [{"name": "app", "image": "api"}]},
               "status": {"phase": "Running", "containerStatuses": [{"name": "app", "imageID": image_id}]}})
    }

    #[test]
    fn pods_resolve_through_replicasets_and_jobs() {
        let raw = snapshot(json!([
            {"kind": "Deployment", "metadata": {"name": "api", "namespace": "shop", "uid": "d1", "generation": 2},
             "spec": {"replicas": 1, "template": tmpl("api:1")}, "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1}},
            {"kind": "ReplicaSet", "metadata": {"name": "api-abc", "namespace": "shop", "uid": "rs1", "creationTimestamp": "2026-11-25T09:00:00Z",
             "ownerReferences": [{"kind": "Deployment", "name": "api", "uid": "d1", "controller": true}]}, "spec": {"template": tmpl("api:1")}},
            {"kind": "CronJob", "metadata": {"name": "report", "namespace": "shop", "uid": "cj1"},
             "spec": {"jobTemplate": {"spec": {"template": tmpl("report:1")}}}},
            {"kind": "Job", "metadata": {"name": "report-1", "namespace": "shop", "uid": "j1",
             "ownerReferences": [{"kind": "CronJob", "name": "report", "uid": "cj1", "controller": true}]}, "spec": {"template": tmpl("report:1")}},
            {"kind": "Service", "metadata": {"name": "svc", "namespace": "shop"}},
            pod("api-abc-1", Some(("ReplicaSet", "api-abc", "rs1")), &format!("docker.io/library/api@{D1}")),
            pod("report-1-x", Some(("Job", "report-1", "j1")), &format!("docker.io/library/report@{D1}")),
            pod("bare", None, &format!("docker.io/library/api@{D1}")),
            pod("static", Some(("Node", "node-1", "n1")), D1),
        ]));
        let state = build(&raw, None);
        let keys: Vec<String> = state.workloads.keys().map(|k| k.to_string()).collect();
        assert_eq!(
            keys,
            vec!["shop/Deployment/api", "shop/CronJob/report", "shop/Pod/bare"]
        );
        let api = state.workloads.values().next().unwrap();
        assert_eq!(api.pods.len(), 1);
        assert_eq!(api.containers[0].image, "api:1");
        assert!(!api.rollout.in_progress);
        assert_eq!(
            api.rollout.started_at.unwrap().to_rfc3339(),
            "2026-11-25T09:00:00+00:00"
        );
        let cron = &state.workloads[&WorkloadKey {
            kind: WorkloadKind::CronJob,
            namespace: "shop".into(),
            name: "report".into(),
        }];
        assert_eq!(cron.containers[0].image, "report:1");
        assert_eq!(cron.pods.len(), 1);
    }

    /// A Pod says which image the template that made it names: its ReplicaSet's, not the
    /// Deployment's spec as read (which a hand change may not have reached yet); an ownerless
    /// Pod has no such template.
    #[test]
    fn pods_say_what_their_replicaset_made_them_as() {
        let raw = snapshot(json!([
            {"kind": "Deployment", "metadata": {"name": "api", "namespace": "shop", "uid": "d1"},
             "spec": {"replicas": 1, "template": tmpl("api:1")}},
            {"kind": "ReplicaSet", "metadata": {"name": "api-hotfix", "namespace": "shop", "uid": "rs2",
             "ownerReferences": [{"kind": "Deployment", "name": "api", "uid": "d1", "controller": true}]}, "spec": {"template": tmpl("api:hotfix")}},
            pod("api-hotfix-1", Some(("ReplicaSet", "api-hotfix", "rs2")), &format!("docker.io/library/api@{D1}")),
            pod("bare", None, &format!("docker.io/library/api@{D1}")),
        ]));
        let state = build(&raw, None);
        let made_as = |w: &str| {
            let w = state.workloads.values().find(|x| x.name == w).unwrap();
            w.pods[0].statuses[0].made_as.clone()
        };
        assert_eq!(made_as("api"), Some("api:hotfix".into()));
        assert_eq!(made_as("bare"), None);
    }

    #[test]
    fn terminating_finished_and_unstarted_pods_do_not_count() {
        let mut terminating = pod("t", None, D1);
        terminating["metadata"]["deletionTimestamp"] = json!("2026-11-25T10:00:00Z");
        let mut done = pod("done", None, D1);
        done["status"]["phase"] = json!("Succeeded");
        let pulling = pod("pulling", None, "");
        let state = build(&snapshot(json!([terminating, done, pulling])), None);
        assert_eq!(state.workloads.len(), 1);
        assert!(state.workloads.values().next().unwrap().pods[0].statuses.is_empty());
    }

    #[test]
    fn rollout_progress_per_kind() {
        let raw = snapshot(json!([
            {"kind": "Deployment", "metadata": {"name": "behind", "namespace": "shop", "generation": 3},
             "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2}},
            {"kind": "Deployment", "metadata": {"name": "old-pods-left", "namespace": "shop", "generation": 1},
             "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2}},
            {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop", "generation": 1},
             "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "b"}},
            {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "shop", "generation": 1},
             "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3}},
        ]));
        let state = build(&raw, None);
        let progress: Vec<(&str, bool)> = state
            .workloads
            .values()
            .map(|w| (w.name.as_str(), w.rollout.in_progress))
            .collect();
        assert_eq!(
            progress,
            vec![
                ("behind", true),
                ("old-pods-left", true),
                ("db", true),
                ("agent", false)
            ]
        );
    }

    #[test]
    fn namespace_filter_and_not_a_list() {
        let mut other = pod("x", None, D1);
        other["metadata"]["namespace"] = json!("kube-system");
        let raw = snapshot(json!([pod("a", None, D1), other]));
        assert_eq!(build(&raw, Some(&["shop".to_string()])).workloads.len(), 1);
        let err = RawObjects::from_snapshot_json(r#"{"kind": "Pod", "metadata": {"name": "x"}}"#).unwrap_err();
        assert!(err.to_string().contains("expected a v1 List"), "{err}");
    }

    /// An Argo Rollout owns its ReplicaSets (labelled `rollouts-pod-template-hash`) as a
    /// Deployment does; with `spec.workloadRef` its containers are the named Deployment's; its
    /// status (observedGeneration as a string) says whether it is switching and held.
    #[test]
    fn argo_rollouts_own_their_replicasets_and_read_their_status() {
        let rs = |name: &str, owner: &str, uid: &str, hash: &str| {
            json!({"kind": "ReplicaSet", "metadata": {"name": name, "namespace": "shop", "uid": format!("rs-{name}"),
                "creationTimestamp": "2026-11-25T09:00:00Z", "labels": {"rollouts-pod-template-hash": hash},
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": owner, "uid": uid, "controller": true}]},
                "spec": {"template": tmpl("web:1")}})
        };
        let raw = snapshot(json!([
            {"kind": "Deployment", "metadata": {"name": "web-template", "namespace": "shop", "uid": "d1"},
             "spec": {"replicas": 0, "template": tmpl("registry.example.com/shop/web:2")}},
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web", "namespace": "shop", "uid": "ro1", "generation": 4},
             "spec": {"replicas": 5, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-template", "scaleDown": "never"},
                      "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
             "status": {"observedGeneration": "4", "currentPodHash": "7d9f", "stableRS": "5c6b", "phase": "Paused",
                        "replicas": 5, "updatedReplicas": 1, "currentStepIndex": 1,
                        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-25T10:30:00Z"}],
                        "canary": {}, "conditions": [{"type": "Paused", "status": "True", "reason": "RolloutPaused",
                        "lastUpdateTime": "2026-11-25T10:30:00Z", "lastTransitionTime": "2026-11-25T10:30:00Z", "message": ""}]}},
            rs("web-5c6b", "web", "ro1", "5c6b"),
            rs("web-7d9f", "web", "ro1", "7d9f"),
            pod("web-5c6b-a", Some(("ReplicaSet", "web-5c6b", "rs-web-5c6b")), &format!("docker.io/library/web@{D1}")),
            pod("web-7d9f-a", Some(("ReplicaSet", "web-7d9f", "rs-web-7d9f")), &format!("docker.io/library/web@{D1}")),
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "api", "namespace": "shop", "uid": "ro2", "generation": 2},
             "spec": {"replicas": 2, "template": tmpl("api:3"), "strategy": {"blueGreen": {"activeService": "api", "previewService": "api-preview"}}},
             "status": {"observedGeneration": "2", "currentPodHash": "aa", "stableRS": "aa", "phase": "Healthy", "replicas": 2, "updatedReplicas": 2,
                        "blueGreen": {"activeSelector": "aa", "previewSelector": "aa"}}},
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "cart", "namespace": "shop", "uid": "ro3", "generation": 7},
             "spec": {"replicas": 2, "template": tmpl("cart:2")},
             "status": {"observedGeneration": "7", "currentPodHash": "bb", "stableRS": "cc", "phase": "Degraded", "abort": true,
                        "abortedAt": "2026-11-25T11:00:00Z", "message": "RolloutAborted: Rollout aborted update to revision 7",
                        "replicas": 2, "updatedReplicas": 0}},
        ]));
        let state = build(&raw, None);
        let key = |name: &str| WorkloadKey {
            kind: WorkloadKind::Rollout,
            namespace: "shop".into(),
            name: name.into(),
        };
        let web = &state.workloads[&key("web")];
        assert_eq!(
            web.containers[0].image, "registry.example.com/shop/web:2",
            "the workloadRef's template"
        );
        assert_eq!(web.pods.len(), 2, "Pods of both ReplicaSets count for the Rollout");
        assert!(web.rollout.in_progress);
        assert_eq!(
            web.rollout.pace,
            Pace::Stepped(Some(Hold {
                state: HoldState::Paused,
                reason: "CanaryPauseStep".into(),
                since: Some("2026-11-25T10:30:00Z".parse().unwrap()),
            }))
        );
        assert_eq!(
            web.rollout.started_at.unwrap().to_rfc3339(),
            "2026-11-25T09:00:00+00:00",
            "the newest ReplicaSet, for the deployment history"
        );
        assert!(
            !state.workloads.keys().any(|k| k.kind == WorkloadKind::ReplicaSet),
            "ReplicaSets of a Rollout are not workloads of their own"
        );
        let api = &state.workloads[&key("api")];

        assert_eq!(
            (api.containers[0].image.as_str(), api.rollout.in_progress),
            ("api:3", false)
        );
        let cart = &state.workloads[&key("cart")].rollout;
        assert!(cart.in_progress);
        assert!(
            matches!(&cart.pace, Pace::Stepped(Some(h)) if h.state == HoldState::Aborted
                && h.since == Some("2026-11-25T11:00:00Z".parse().unwrap())
                && h.reason.starts_with("RolloutAborted")),
            "{cart:?}"
        );
    }

    /// A canary pause step's duration, in the forms Argo Rollouts reads.
    #[test]
    fn pause_step_durations() {
        let cases = [
            (json!(30), Some(30)),
            (json!("45"), Some(45)),
            (json!("10m"), Some(600)),
            (json!("1h30m"), Some(5400)),
            (json!("soon"), None),
        ];
        for (duration, want) in cases {
            let step = PauseStep {
                duration: Some(duration.clone()),
            };
            assert_eq!(step.planned().map(|d| d.as_secs()), want, "{duration}");
        }
        assert_eq!(PauseStep::default().planned(), None, "{{}}: until promoted");
    }

    /// A timed canary pause step (`pause: {duration: 1h}`) is a planned bake: the Rollout is
    /// held only from when it should have resumed.
    #[test]
    fn a_timed_pause_step_holds_from_when_it_should_have_resumed() {
        let raw = snapshot(json!([
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "timed", "namespace": "shop", "uid": "ro4", "generation": 1},
             "spec": {"template": tmpl("timed:2"), "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "1h"}}]}}},
             "status": {"observedGeneration": "1", "currentPodHash": "dd", "stableRS": "ee", "currentStepIndex": 1,
                        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-25T10:30:00Z"}]}}
        ]));
        let state = build(&raw, None);
        let key = |name: &str| WorkloadKey {
            kind: WorkloadKind::Rollout,
            namespace: "shop".into(),
            name: name.into(),
        };
        let timed = &state.workloads[&key("timed")].rollout;
        assert_eq!(
            timed.pace,
            Pace::Stepped(Some(Hold {
                state: HoldState::Paused,
                reason: "CanaryPauseStep: its 1h pause ended".into(),
                since: Some("2026-11-25T11:30:00Z".parse().unwrap()),
            })),
            "a timed pause step holds from when it should have resumed"
        );
    }
}
