//! `namePrefix` and `nameSuffix` (kustomize's PrefixTransformer and SuffixTransformer).

use super::BuildError;
use super::resource::ResMap;

pub fn apply(_res: &mut ResMap, prefix: &str, suffix: &str) -> Result<(), BuildError> {
    if !prefix.is_empty() || !suffix.is_empty() {
        return Err(BuildError::Unsupported("namePrefix (not built yet)".into()));
    }
    Ok(())
}
