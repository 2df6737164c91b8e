//! The `namespace` transformer (kustomize's NamespaceTransformer).

use super::BuildError;
use super::resource::ResMap;

/// The transformer's options (as a `transformers:` entry can set them).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub unset_only: bool,
}

pub fn apply(_res: &mut ResMap, _namespace: &str, _options: &Options) -> Result<(), BuildError> {
    Err(BuildError::Unsupported("namespace (not built yet)".into()))
}
