//! The `replicas` transformer (kustomize's ReplicaCountTransformer): sets `spec.replicas` of
//! the Deployments, ReplicationControllers, ReplicaSets and StatefulSets known by the name
//! (now or before a prefix changed it); naming nothing is kustomize's error.

use serde_json::Value;

use super::BuildError;
use super::kustomization::Replica;
use super::resource::ResMap;

const KINDS: [&str; 4] = ["Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"];

pub fn apply(res: &mut ResMap, replicas: &[Replica]) -> Result<(), BuildError> {
    for replica in replicas {
        let mut found = false;
        for r in &mut res.resources {
            let known = std::iter::once(r.id())
                .chain(std::iter::once(r.origin.clone()))
                .chain(r.previous.iter().cloned())
                .any(|id| id.name == replica.name && KINDS.contains(&id.kind.as_str()));
            if !known || !KINDS.contains(&r.kind()) {
                continue;
            }
            found = true;
            let obj = r.obj.as_object_mut().expect("a resource is an object");
            let spec = obj.entry("spec").or_insert_with(|| Value::Object(Default::default()));
            if let Some(spec) = spec.as_object_mut() {
                spec.insert("replicas".into(), Value::from(replica.count));
            }
        }
        if !found {
            return Err(BuildError::Invalid(format!(
                "resource with name {} does not match a config with the following GVK [Deployment ReplicationController ReplicaSet StatefulSet]",
                replica.name
            )));
        }
    }
    Ok(())
}
