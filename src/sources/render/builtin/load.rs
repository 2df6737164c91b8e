//! Loading: kustomization files, resource files (several documents, JSON, `kind: List`),
//! directories holding a kustomization, components, with kustomize's load restrictions.

use super::resource::ResMap;
use super::{BuildError, Ctx};

/// Builds the kustomization in `dir` into `res`.
pub fn accumulate_directory(_ctx: &Ctx<'_>, _dir: &str, _component: bool, _res: ResMap) -> Result<ResMap, BuildError> {
    Err(BuildError::Unsupported("not built yet".into()))
}

/// Applies the component at `rel` (from `dir`) to `res`.
pub fn accumulate_component(_ctx: &Ctx<'_>, _dir: &str, _rel: &str, _res: ResMap) -> Result<ResMap, BuildError> {
    Err(BuildError::Unsupported("components (not built yet)".into()))
}
