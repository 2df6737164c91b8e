//! The `replicas` transformer (kustomize's ReplicaCountTransformer).

use super::BuildError;
use super::kustomization::Replica;
use super::resource::ResMap;

pub fn apply(_res: &mut ResMap, _replicas: &[Replica]) -> Result<(), BuildError> {
    Err(BuildError::Unsupported("replicas (not built yet)".into()))
}
