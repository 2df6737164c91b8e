//! `configMapGenerator` and `secretGenerator`: literals, files and env files into ConfigMaps and
//! Secrets, with `behavior` and generator options as kustomize applies them.

use super::kustomization::Kustomization;
use super::resource::ResMap;
use super::{BuildError, Ctx};

/// Runs the kustomization's ConfigMap generators, then its Secret generators, into `res`.
pub fn run(_ctx: &Ctx<'_>, _dir: &str, k: &Kustomization, _res: &mut ResMap) -> Result<(), BuildError> {
    if k.config_map_generator.is_some() || k.secret_generator.is_some() {
        return Err(BuildError::Unsupported("generators (not built yet)".into()));
    }
    Ok(())
}
