//! `commonLabels`, `labels` and `commonAnnotations` (kustomize's LabelTransformer and
//! AnnotationsTransformer).

use super::BuildError;
use super::kustomization::Kustomization;
use super::resource::ResMap;

pub fn apply_kustomization(_res: &mut ResMap, k: &Kustomization) -> Result<(), BuildError> {
    if k.common_labels.is_some() || k.labels.is_some() || k.common_annotations.is_some() {
        return Err(BuildError::Unsupported("labels (not built yet)".into()));
    }
    Ok(())
}
