//! A kustomize renderer: native Rust for the kustomize subset that decides
//! workloads, images and config (resources, bases, components, namespace, name prefixes and
//! suffixes, images, patches, replicas, labels, replacements, ConfigMap/Secret generators with
//! kustomize's hash suffix, transformer configs). Pure: files come in through [`Files`], manifests go out as JSON values.
//!
//! It follows kustomize's own order (`api/internal/target/kusttarget.go`): per kustomization,
//! resources (each base built on its own first), then generators, then components, then the
//! built-in transformers in kustomize's fixed order, then the `transformers:` entries; at the top
//! only, hash suffixes, the name-reference fix-up, and kustomize's rewrite of every resource's
//! annotations.
//!
//! Anything outside the subset is [`BuildError::Unsupported`] with a reason, never a guess: the
//! caller sends that overlay to the external kustomize.

pub mod fieldnames;
pub mod fieldspec;
pub mod files;
pub mod generators;
pub mod hasher;
pub mod helm;
pub mod images;
pub mod kustomization;
pub mod labels;
pub mod load;
pub mod nameref;
pub mod namespace;
pub mod patch;
pub mod prefix_suffix;
pub mod replacements;
pub mod replicas;
pub mod resource;
pub mod smp;
pub mod target;
pub mod transformers;

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::Value;

use files::Files;
use kustomization::Kustomization;
use resource::ResMap;

/// The renderer's version: part of every render-cache key, so a release that renders
/// differently never reads an older release's entries. Bump it with any change to output.
pub const VERSION: &str = concat!("builtin-", env!("CARGO_PKG_VERSION"), "-3");

/// Why the built-in renderer did not render an overlay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The overlay uses something this renderer leaves to kustomize (the reason, such as
    /// `uses helmCharts`).
    #[error("{0}")]
    Unsupported(String),
    /// The overlay is wrong in a way kustomize rejects too (a missing file, a file outside the
    /// kustomization root, a duplicate id).
    #[error("{0}")]
    Invalid(String),
}

impl BuildError {
    /// An overlay error from a file that could not be read or a path that leaves the repository:
    /// kustomize rejects those too, with the same text.
    pub fn invalid(e: impl std::fmt::Display) -> Self {
        Self::Invalid(e.to_string())
    }
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
    /// Renders `helmCharts:` entries; `None`: they are left to kustomize.
    pub helm: Option<&'a dyn helm::HelmTemplate>,
    deps: RefCell<BTreeMap<String, Option<String>>>,
    /// The kustomization directories being built, outermost first (kustomize's cycle check).
    stack: RefCell<Vec<String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(files: &'a dyn Files) -> Self {
        Self {
            files,
            helm: None,
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
        let path = files::join(dir, rel).map_err(BuildError::invalid)?;
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
        let bytes = self.files.read(path).map_err(BuildError::invalid)?;
        String::from_utf8(bytes).map_err(|_| BuildError::Invalid(format!("{path}: not UTF-8")))
    }

    fn into_deps(self) -> BTreeMap<String, Option<String>> {
        self.deps.into_inner()
    }
}

/// Renders the kustomization in directory `dir` (repository-relative). `helmCharts:` entries
/// are `Unsupported` (see [`build_with`]).
pub fn build(files: &dyn Files, dir: &str) -> Result<Build, BuildError> {
    build_with(files, dir, None)
}

/// [`build`], with `helm` rendering `helmCharts:` entries as `helm template` would (the caller's
/// Helm renderer: this crate has none of its own).
pub fn build_with(files: &dyn Files, dir: &str, helm: Option<&dyn helm::HelmTemplate>) -> Result<Build, BuildError> {
    let mut ctx = Ctx::new(files);
    ctx.helm = helm;
    let mut res = load::accumulate_directory(&ctx, dir, load::Role::Top, ResMap::default())?;
    // Done last and once, as kustomize's makeCustomizedResMap does: the hash covers the final
    // content, and references are fixed for the final names.
    hasher::add_hash_suffixes(&mut res)?;
    nameref::fix_references(&mut res)?;
    patch::finish_annotations(&mut res)?;
    Ok(Build {
        docs: res.resources.into_iter().map(|r| r.obj).collect(),
        deps: ctx.into_deps(),
    })
}

/// Applies one kustomization's directives to `res` (its resources already loaded by
/// [`load`]): generators, components, then transformers in kustomize's order.
pub(crate) fn transform(ctx: &Ctx<'_>, dir: &str, k: &Kustomization, mut res: ResMap) -> Result<ResMap, BuildError> {
    generators::run(ctx, dir, k, &mut res)?;
    helm::run(ctx, dir, k, &mut res)?;
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
    if let Some(r) = &k.replacements {
        replacements::apply(ctx, dir, &replacements::from_kustomization(r), &mut res)?;
    }
    if let Some(entries) = &k.transformers {
        transformers::apply_all(ctx, dir, entries, &mut res)?;
    }
    Ok(res)
}

/// A repository written to a temp directory, for the renderer's unit tests.
#[cfg(test)]
pub(crate) fn test_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::DirFiles;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        test_repo(files)
    }

    /// Each step sees what the one before it did, in kustomize's order; the expected values are
    /// `kubectl kustomize prod` (v5.5.0) on the same tree:
    /// - a component's generator merges into the base's ConfigMap, and its patch runs before the
    ///   including kustomization's `namespace` (it targets namespace `default`);
    /// - `patchesJson6902` runs after `namePrefix` (it targets `p-api`), `images` after it (the
    ///   image it wrote is renamed) and `replicas` after it (3, not the patch's 5);
    /// - the hash suffix covers the merged data and is added last; the reference follows it.
    #[test]
    fn transformers_run_in_kustomizes_order() {
        let dir = repo(&[
            (
                "base/kustomization.yaml",
                "resources: [d.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [A=1]\n",
            ),
            (
                "base/d.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: api\n        image: app:1\n        envFrom: [{configMapRef: {name: cfg}}]\n",
            ),
            (
                "comp/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n- name: cfg\n  behavior: merge\n  literals: [B=2]\npatches:\n- target: {kind: Deployment, namespace: default}\n  patch: |\n    - op: add\n      path: /metadata/labels\n      value: {patched-before-namespace: \"yes\"}\n",
            ),
            (
                "prod/kustomization.yaml",
                "namespace: prod\nnamePrefix: p-\nresources: [../base]\ncomponents: [../comp]\npatchesJson6902:\n- target: {group: apps, version: v1, kind: Deployment, name: p-api}\n  patch: |\n    - op: replace\n      path: /spec/template/spec/containers/0/image\n      value: other:7\n    - op: replace\n      path: /spec/replicas\n      value: 5\nimages:\n- name: other\n  newName: app\n  newTag: \"2\"\nreplicas:\n- name: api\n  count: 3\ncommonLabels: {team: shop}\n",
            ),
        ]);
        let build = build(&DirFiles::new(dir.path()), "prod").expect("renders");
        let find = |kind: &str| {
            build
                .docs
                .iter()
                .find(|d| d["kind"] == kind)
                .unwrap_or_else(|| panic!("{kind} rendered"))
        };
        let cm = find("ConfigMap");
        assert_eq!(cm["metadata"]["name"], "p-cfg-66h9cbh964");
        assert_eq!(cm["metadata"]["namespace"], "prod");
        assert_eq!(cm["data"], serde_json::json!({"A": "1", "B": "2"}));
        let d = find("Deployment");
        assert_eq!(d["metadata"]["name"], "p-api");
        assert_eq!(d["metadata"]["namespace"], "prod");
        assert_eq!(d["metadata"]["labels"]["patched-before-namespace"], "yes");
        assert_eq!(d["metadata"]["labels"]["team"], "shop");
        assert_eq!(d["spec"]["replicas"], 3);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "app:2");
        assert_eq!(c["envFrom"][0]["configMapRef"]["name"], "p-cfg-66h9cbh964");
        assert!(
            d["metadata"].get("annotations").is_none(),
            "no bookkeeping annotations in the output"
        );
        // Everything the build read is a dependency, for the render cache.
        for path in [
            "prod/kustomization.yaml",
            "base/kustomization.yaml",
            "base/d.yaml",
            "comp/kustomization.yaml",
        ] {
            assert!(
                build.deps.get(path).is_some_and(Option::is_some),
                "{path} in {:?}",
                build.deps
            );
        }
        assert_eq!(
            build.deps.get("prod/kustomization.yml"),
            Some(&None),
            "absence is a dependency too"
        );
    }
}
