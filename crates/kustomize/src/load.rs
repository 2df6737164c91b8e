//! Loading: kustomization files, resource files (several documents, JSON, `kind: List`),
//! directories holding a kustomization, components, with kustomize's load restrictions (a file
//! must sit in or below its kustomization's directory; a directory may be anywhere in the
//! repository but not an ancestor of one being built: kustomize's cycle check).

use serde_json::Value;

use super::kustomization::{FILE_NAMES, Kustomization};
use super::resource::{ResMap, Resource};
use super::{BuildError, Ctx};
use crate::files::{self, Kind};

/// How a kustomization directory is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The directory asked to build: a Kustomization or a Component (kustomize builds either).
    Top,
    /// An entry of `resources` (or `bases`): must not be a Component.
    Resource,
    /// An entry of `components`: must be one.
    Component,
}

/// Builds the kustomization in `dir` and adds its resources to `res`. A component works on
/// `res` itself, as kustomize's components extend the including kustomization's accumulator;
/// any other kustomization is built on its own first.
pub fn accumulate_directory(ctx: &Ctx<'_>, dir: &str, role: Role, res: ResMap) -> Result<ResMap, BuildError> {
    let (file, k) = kustomization(ctx, dir)?;
    if role == Role::Component && !k.is_component() {
        return Err(BuildError::Invalid(format!(
            "expected kind 'Component' for path '{}' but got '{}'",
            files::display(dir),
            k.kind.as_deref().unwrap_or("Kustomization")
        )));
    }
    if role == Role::Resource && k.is_component() {
        return Err(BuildError::Invalid(format!(
            "expected kind != 'Component' for path '{}'",
            files::display(dir)
        )));
    }
    ctx.enter(dir, &file)?;
    let built = if role == Role::Component {
        accumulate_target(ctx, dir, &k, res)
    } else {
        accumulate_target(ctx, dir, &k, ResMap::default()).and_then(|sub| {
            let mut res = res;
            res.absorb(sub)?;
            Ok(res)
        })
    };
    ctx.leave();
    built
}

/// Applies the component at `rel` (from the kustomization in `dir`) to `res`.
pub fn accumulate_component(ctx: &Ctx<'_>, dir: &str, rel: &str, res: ResMap) -> Result<ResMap, BuildError> {
    if is_remote(rel) {
        return Err(BuildError::Unsupported("uses remote components".into()));
    }
    let path = files::join(dir, rel).map_err(BuildError::invalid)?;
    match ctx.kind(&path) {
        Some(Kind::Dir) => accumulate_directory(ctx, &path, Role::Component, res),
        _ => Err(BuildError::Invalid(format!(
            "component '{rel}' of '{}' is not a directory",
            files::display(dir)
        ))),
    }
}

/// The kustomization file in `dir`, parsed.
fn kustomization(ctx: &Ctx<'_>, dir: &str) -> Result<(String, Kustomization), BuildError> {
    let mut found = Vec::new();
    for name in FILE_NAMES {
        let path = files::join(dir, name).map_err(BuildError::invalid)?;
        if ctx.kind(&path) == Some(Kind::File) {
            found.push(path);
        }
    }
    match found.len() {
        0 => Err(BuildError::Invalid(format!(
            "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
            files::display(dir)
        ))),
        1 => {
            let path = found.pop().expect("one");
            let text = ctx.read(&path)?;
            let k = Kustomization::parse(&path, &text)?;
            Ok((path, k))
        }
        _ => Err(BuildError::Invalid(format!(
            "Found multiple kustomization files under: {}",
            files::display(dir)
        ))),
    }
}

/// Resources (then legacy bases, as kustomize appends them), then the rest of the directives.
fn accumulate_target(ctx: &Ctx<'_>, dir: &str, k: &Kustomization, mut res: ResMap) -> Result<ResMap, BuildError> {
    for entry in k.resources.iter().flatten().chain(k.bases.iter().flatten()) {
        res = accumulate_resource(ctx, dir, entry, res)?;
    }
    super::transform(ctx, dir, k, res)
}

/// Whether an entry of `resources`, `components`, `transformers` (…) points outside the
/// repository (kustomize's remote targets: URLs, `github.com/…` shorthands, git SSH addresses).
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("git::")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
        || entry.contains("?ref=")
}

fn accumulate_resource(ctx: &Ctx<'_>, dir: &str, entry: &str, mut res: ResMap) -> Result<ResMap, BuildError> {
    if is_remote(entry) {
        return Err(BuildError::Unsupported("uses remote resources".into()));
    }
    let path = files::join(dir, entry).map_err(BuildError::invalid)?;
    match ctx.kind(&path) {
        Some(Kind::File) => {
            let text = ctx.read_in(dir, entry)?;
            for obj in resources_in(&path, &text)? {
                res.append(Resource::new(obj))?;
            }
            Ok(res)
        }
        Some(Kind::Dir) => accumulate_directory(ctx, &path, Role::Resource, res),
        None => Err(BuildError::Invalid(format!(
            "accumulating resources: '{path}': no such file or directory"
        ))),
    }
}

/// The resources in a file's text: every non-empty document, with `…List` documents holding
/// `items` replaced by their items, as kustomize's resource factory does.
pub fn resources_in(path: &str, text: &str) -> Result<Vec<Value>, BuildError> {
    let (docs, err) = safe_yaml::documents(text);
    if let Some(e) = err {
        return Err(BuildError::Invalid(format!("{path}: {e}")));
    }
    let mut out = Vec::new();
    let mut queue: std::collections::VecDeque<Value> = docs.into();
    while let Some(doc) = queue.pop_front() {
        if doc.as_object().is_some_and(serde_json::Map::is_empty) {
            continue;
        }
        let Some(obj) = doc.as_object() else {
            return Err(BuildError::Invalid(format!("{path}: a document is not a mapping")));
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("List") {
            match obj.get("items") {
                None => {}
                Some(Value::Null) => continue,
                Some(Value::Array(items)) => {
                    queue.extend(items.iter().cloned());
                    continue;
                }
                Some(_) => {
                    return Err(BuildError::Invalid(format!("{path}: expected array in {kind}/items")));
                }
            }
        }
        validate(path, &doc)?;
        out.push(doc);
    }
    Ok(out)
}

/// kustomize's `GetValidatedMetadata`: a resource needs a kind and a name. A list holding an
/// empty item is left to kustomize.
fn validate(path: &str, doc: &Value) -> Result<(), BuildError> {
    if doc.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(BuildError::Invalid(format!("{path}: missing kind in a resource")));
    }
    let name = doc.get("metadata").and_then(|m| m.get("name"));
    if name.is_some_and(|n| n.is_number() || n.is_boolean()) {
        // kustomize reads `name: 123` as the text it was written as; a JSON value has lost it.
        return Err(BuildError::Unsupported("uses names that are not strings".into()));
    }
    if name.and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(BuildError::Invalid(format!(
            "{path}: missing metadata.name in a resource"
        )));
    }
    fn has_nil_in_list(v: &Value) -> bool {
        match v {
            Value::Array(items) => items.iter().any(|i| i.is_null() || has_nil_in_list(i)),
            Value::Object(m) => m.values().any(has_nil_in_list),
            _ => false,
        }
    }
    // Annotations kustomize uses for its own bookkeeping change what it does with the resource
    // (a hash suffix, a previous name): left to kustomize.
    let internal = doc
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
        .is_some_and(|a| a.keys().any(|k| k.starts_with("internal.config.kubernetes.io/")));
    if internal {
        return Err(BuildError::Unsupported("uses kustomize-internal annotations".into()));
    }
    if has_nil_in_list(doc) {
        // kustomize v5.5.0's nil-entry check inspects a type its nodes never have: it accepts
        // `- null` items (checked), which the transformers here do not expect.
        return Err(BuildError::Unsupported("uses empty items in lists".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::DirFiles;

    fn build(files: &[(&str, &str)], dir: &str) -> Result<Vec<String>, BuildError> {
        let repo = crate::test_repo(files);
        let files = DirFiles::new(repo.path());
        let ctx = Ctx::new(&files);
        let res = accumulate_directory(&ctx, dir, Role::Top, ResMap::default())?;
        Ok(res
            .resources
            .iter()
            .map(|r| format!("{}/{}", r.kind(), r.name()))
            .collect())
    }

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n";

    #[test]
    fn resources_come_from_files_lists_and_directories_in_order() {
        let got = build(
            &[
                ("base/kustomization.yaml", "resources: [deploy.yaml, list.json]\n"),
                (
                    "base/deploy.yaml",
                    &format!("{DEPLOY}---\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: api\n"),
                ),
                (
                    "base/list.json",
                    r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}"#,
                ),
                ("prod/kustomization.yaml", "resources: [../base]\nbases: [../extra]\n"),
                ("extra/kustomization.yml", "resources: [cm.yaml]\n"),
                (
                    "extra/cm.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
                ),
            ],
            "prod",
        );
        assert_eq!(
            got.expect("builds"),
            ["Deployment/api", "Service/api", "ConfigMap/a", "ConfigMap/b"]
        );
    }

    #[test]
    fn kustomize_errors_are_errors() {
        for (name, files, dir, want) in [
            (
                "file outside the root",
                vec![
                    ("prod/kustomization.yaml", "resources: [../base/deploy.yaml]\n"),
                    ("base/deploy.yaml", DEPLOY),
                ],
                "prod",
                "is not in or below",
            ),
            (
                "duplicate id",
                vec![
                    ("prod/kustomization.yaml", "resources: [a.yaml, b.yaml]\n"),
                    ("prod/a.yaml", DEPLOY),
                    ("prod/b.yaml", DEPLOY),
                ],
                "prod",
                "already registered id",
            ),
            (
                "missing resource",
                vec![("prod/kustomization.yaml", "resources: [nope.yaml]\n")],
                "prod",
                "no such file",
            ),
            (
                "no kustomization",
                vec![("prod/deploy.yaml", DEPLOY)],
                "prod",
                "unable to find",
            ),
            (
                "two kustomization files",
                vec![("prod/kustomization.yaml", ""), ("prod/kustomization.yml", "")],
                "prod",
                "multiple kustomization files",
            ),
            (
                "cycle",
                vec![
                    ("a/kustomization.yaml", "resources: [b]\n"),
                    ("a/b/kustomization.yaml", "resources: [..]\n"),
                ],
                "a",
                "cycle",
            ),
            (
                "component as a resource",
                vec![
                    ("prod/kustomization.yaml", "resources: [../c]\n"),
                    ("c/kustomization.yaml", "kind: Component\n"),
                ],
                "prod",
                "expected kind != 'Component'",
            ),
        ] {
            match build(&files, dir) {
                Err(BuildError::Invalid(msg)) => assert!(msg.contains(want), "{name}: {msg}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn remote_resources_and_unsupported_fields_fall_back() {
        for (files, want) in [
            (
                vec![(
                    "p/kustomization.yaml",
                    "resources: [https://github.com/x/y//base?ref=v1]\n",
                )],
                "uses remote resources",
            ),
            (
                vec![("p/kustomization.yaml", "resources: [github.com/x/y/base]\n")],
                "uses remote resources",
            ),
            (vec![("p/kustomization.yaml", "vars: []\n")], "uses vars"),
            (
                vec![("p/kustomization.yaml", "helmCharts: [{name: x}]\n")],
                "uses helmCharts",
            ),
            (
                vec![("p/kustomization.yaml", "frobnicate: 1\n")],
                "unknown field frobnicate",
            ),
        ] {
            assert_eq!(build(&files, "p"), Err(BuildError::Unsupported(want.into())), "{want}");
        }
    }
}
