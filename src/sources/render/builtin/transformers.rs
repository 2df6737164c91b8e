//! `transformers:` entries that configure built-in transformers (ImageTagTransformer,
//! PrefixSuffixTransformer, NamespaceTransformer, PatchTransformer,
//! PatchStrategicMergeTransformer). Anything else is a plugin: left to kustomize.

use super::resource::ResMap;
use super::{BuildError, Ctx};

pub fn apply(_ctx: &Ctx<'_>, _dir: &str, _entry: &str, _res: &mut ResMap) -> Result<(), BuildError> {
    Err(BuildError::Unsupported("transformers (not built yet)".into()))
}
