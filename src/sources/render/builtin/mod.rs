//! The built-in kustomize renderer: native Rust for the kustomize subset that decides
//! workloads, images and config (resources, bases, components, namespace, name prefixes and
//! suffixes, images, patches, replicas, labels, ConfigMap/Secret generators with kustomize's
//! hash suffix). Pure: files come in through [`Files`], manifests go out as JSON values.
//!
//! It follows kustomize's own order (`api/internal/target/kusttarget.go`): per kustomization,
//! resources (each base built on its own first), then generators, then components, then the
//! built-in transformers in kustomize's fixed order, then the `transformers:` entries; at the top
//! only, hash suffixes and then the name-reference fix-up.
//!
//! Anything outside the subset is [`BuildError::Unsupported`] with a reason, never a guess: the
//! caller sends that overlay to the external kustomize.

pub mod fieldspec;
pub mod generators;
pub mod hasher;
pub mod images;
pub mod kustomization;
pub mod labels;
pub mod load;
pub mod nameref;
pub mod namespace;
pub mod patch;
pub mod prefix_suffix;
pub mod replicas;
pub mod resource;
pub mod smp;
pub mod target;
pub mod transformers;

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::Value;

use super::files::{self, Files};
use kustomization::Kustomization;
use resource::ResMap;

/// The renderer's version: part of every render-cache key, so a release that renders
/// differently never reads an older release's entries. Bump it with any change to output.
pub const VERSION: &str = concat!("builtin-", env!("CARGO_PKG_VERSION"), "-1");

/// Why the built-in renderer did not render an overlay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The overlay uses something this renderer leaves to kustomize (the reason, such as
    /// `uses replacements`).
    #[error("{0}")]
    Unsupported(String),
    /// The overlay is wrong in a way kustomize rejects too (a missing file, a file outside the
    /// kustomization root, a duplicate id).
    #[error("{0}")]
    Invalid(String),
}

/// One overlay, rendered.
#[derive(Clone, Debug)]
pub struct Build {
    /// The resources, in kustomize's load order.
    pub docs: Vec<Value>,
    /// Every path the build looked at, with its identity then (`None`: it was looked for and
    /// absent). The render cache re-checks these to reuse the output.
    pub deps: BTreeMap<String, Option<String>>,
}

/// What one build reads through, and records what it read.
pub struct Ctx<'a> {
    pub files: &'a dyn Files,
    deps: RefCell<BTreeMap<String, Option<String>>>,
    /// The kustomization directories being built, outermost first (kustomize's cycle check).
    stack: RefCell<Vec<String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(files: &'a dyn Files) -> Self {
        Self {
            files,
            deps: RefCell::new(BTreeMap::new()),
            stack: RefCell::new(Vec::new()),
        }
    }

    /// Starts building the kustomization in `dir` (its file `file`). As kustomize's loader
    /// does, a directory that is, or contains, one already being built is a cycle.
    pub(crate) fn enter(&self, dir: &str, file: &str) -> Result<(), BuildError> {
        let mut stack = self.stack.borrow_mut();
        if let Some(visited) = stack.iter().find(|v| files::is_within(v, dir)) {
            return Err(BuildError::Invalid(format!(
                "cycle detected: candidate root '{}' contains visited root '{}' ({file})",
                files::display(dir),
                files::display(visited)
            )));
        }
        stack.push(dir.to_string());
        Ok(())
    }

    /// Done building the innermost kustomization.
    pub(crate) fn leave(&self) {
        self.stack.borrow_mut().pop();
    }

    /// Records that `path` was looked at.
    pub fn note(&self, path: &str) {
        let mut deps = self.deps.borrow_mut();
        if !deps.contains_key(path) {
            deps.insert(path.to_string(), self.files.identity(path));
        }
    }

    /// What is at `path`, recorded as a dependency.
    pub fn kind(&self, path: &str) -> Option<files::Kind> {
        self.note(path);
        self.files.kind(path)
    }

    /// The text of the file `rel`, relative to the kustomization directory `dir`. As kustomize's
    /// default load restrictor does, a file outside `dir` is an error.
    pub fn read_in(&self, dir: &str, rel: &str) -> Result<String, BuildError> {
        let path = files::join(dir, rel).map_err(BuildError::Invalid)?;
        if !files::is_within(&path, dir) {
            return Err(BuildError::Invalid(format!(
                "security; file '{path}' is not in or below '{}'",
                files::display(dir)
            )));
        }
        self.read(&path)
    }

    /// The text of the file at `path` (repository-relative).
    pub fn read(&self, path: &str) -> Result<String, BuildError> {
        self.note(path);
        let bytes = self.files.read(path).map_err(BuildError::Invalid)?;
        String::from_utf8(bytes).map_err(|_| BuildError::Invalid(format!("{path}: not UTF-8")))
    }

    fn into_deps(self) -> BTreeMap<String, Option<String>> {
        self.deps.into_inner()
    }
}

/// Renders the kustomization in directory `dir` (repository-relative).
pub fn build(files: &dyn Files, dir: &str) -> Result<Build, BuildError> {
    let ctx = Ctx::new(files);
    let mut res = load::accumulate_directory(&ctx, dir, false, ResMap::default())?;
    // Done last and once, as kustomize's makeCustomizedResMap does: the hash covers the final
    // content, and references are fixed for the final names.
    hasher::add_hash_suffixes(&mut res)?;
    nameref::fix_references(&mut res)?;
    Ok(Build {
        docs: res.resources.into_iter().map(|r| r.obj).collect(),
        deps: ctx.into_deps(),
    })
}

/// Applies one kustomization's directives to `res` (its resources already loaded by
/// [`load`]): generators, components, then transformers in kustomize's order.
pub(crate) fn transform(ctx: &Ctx<'_>, dir: &str, k: &Kustomization, mut res: ResMap) -> Result<ResMap, BuildError> {
    generators::run(ctx, dir, k, &mut res)?;
    for component in k.components.iter().flatten() {
        res = load::accumulate_component(ctx, dir, component, res)?;
    }
    // configureBuiltinTransformers' order.
    if let Some(p) = &k.patches_strategic_merge {
        patch::strategic_merge_legacy(ctx, dir, p, &mut res)?;
    }
    if let Some(p) = &k.patches {
        patch::patches(ctx, dir, p, &mut res)?;
    }
    if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
        namespace::apply(&mut res, ns, &namespace::Options::default())?;
    }
    prefix_suffix::apply(
        &mut res,
        k.name_prefix.as_deref().unwrap_or(""),
        k.name_suffix.as_deref().unwrap_or(""),
    )?;
    labels::apply_kustomization(&mut res, k)?;
    if let Some(p) = &k.patches_json6902 {
        patch::json6902_legacy(ctx, dir, p, &mut res)?;
    }
    if let Some(r) = &k.replicas {
        replicas::apply(&mut res, r)?;
    }
    if let Some(i) = &k.images {
        images::apply(&mut res, i)?;
    }
    for entry in k.transformers.iter().flatten() {
        transformers::apply(ctx, dir, entry, &mut res)?;
    }
    Ok(res)
}
