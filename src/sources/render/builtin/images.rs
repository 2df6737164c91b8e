//! The `images` transformer (kustomize's ImageTagTransformer).

use super::BuildError;
use super::kustomization::Image;
use super::resource::ResMap;

pub fn apply(_res: &mut ResMap, _images: &[Image]) -> Result<(), BuildError> {
    Err(BuildError::Unsupported("images (not built yet)".into()))
}
