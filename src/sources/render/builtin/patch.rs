//! Patches: `patches` (strategic merge or JSON 6902, with target selectors), and the legacy
//! `patchesStrategicMerge` and `patchesJson6902`.

use super::kustomization::Patch;
use super::resource::ResMap;
use super::{BuildError, Ctx};

pub fn strategic_merge_legacy(
    _ctx: &Ctx<'_>,
    _dir: &str,
    _entries: &[String],
    _res: &mut ResMap,
) -> Result<(), BuildError> {
    Err(BuildError::Unsupported("patchesStrategicMerge (not built yet)".into()))
}

pub fn patches(_ctx: &Ctx<'_>, _dir: &str, _entries: &[Patch], _res: &mut ResMap) -> Result<(), BuildError> {
    Err(BuildError::Unsupported("patches (not built yet)".into()))
}

pub fn json6902_legacy(_ctx: &Ctx<'_>, _dir: &str, _entries: &[Patch], _res: &mut ResMap) -> Result<(), BuildError> {
    Err(BuildError::Unsupported("patchesJson6902 (not built yet)".into()))
}
