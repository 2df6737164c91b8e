//! Argo CD ApplicationSets (`argoproj.io/v1alpha1`) → the Applications they generate. Pure: the
//! ApplicationSet's JSON and the repository trees its git generators read in, Applications and
//! what is not expanded (with the reason and the fix) out. Semantics are Argo CD's
//! (`applicationset/generators/list.go`, `git.go`, `applicationset/utils/utils.go`): the `list`
//! generator's `elements` (and `elementsYaml`), the `git` generator's `directories` (Go's
//! `path.Match` globs, `exclude: true`) and `files` (JSON/YAML objects, or lists of them, whose
//! keys become parameters: flattened with dots for fasttemplate, nested for `goTemplate`), each
//! generator's `template` merged over `spec.template` (the generator's fields win), and every
//! string of the template, and every map key, rendered with fasttemplate's `{{param}}` or Go's
//! `text/template` (`goTemplate: true`, with `goTemplateOptions`). Generators whose parameters come
//! from a control plane or a service (`clusters`, `matrix`, `merge`, `scmProvider`, …) and
//! `templatePatch` are not expanded.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::argocd::Unmapped;
use crate::config::{GitRef, RepoRef};
use crate::core::paths::PathPattern;

mod template;

pub use template::{Renderer, TemplateError};

/// A repository at a revision as a git generator sees it: its directories (hidden ones left
/// out, as Argo CD's repo server does) and the files a `files` generator asked for, with their
/// text.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub dirs: Vec<String>,
    pub files: BTreeMap<String, String>,
}

/// What one ApplicationSet expands to.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Application objects, as Argo CD would create them.
    pub applications: Vec<Value>,
    /// What is not expanded (a generator, a parameter set, the whole ApplicationSet), and why.
    pub not_expanded: Vec<Unmapped>,
}

/// A git generator's reads: the repository and the `files` globs (empty for `directories`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitRead {
    pub repo: RepoRef,
    pub files: Vec<String>,
}

/// The generators Argo CD has that are not expanded here, and where their parameters come from.
const NOT_EXPANDED: &[(&str, &str)] = &[
    ("clusters", "the clusters registered in Argo CD"),
    ("clusterDecisionResource", "a resource on the control plane"),
    ("matrix", "combined generators"),
    ("merge", "combined generators"),
    ("scmProvider", "an SCM provider's API"),
    ("pullRequest", "an SCM provider's open pull requests"),
    ("plugin", "a plugin service"),
];

const FIX: &str = "write the Applications it generates into git, or list them from the control plane \
                   (discovery.argocd.cluster)";

/// Whether `doc` is an Argo CD ApplicationSet.
pub fn is_application_set(doc: &Value) -> bool {
    doc["kind"] == "ApplicationSet"
        && doc["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("argoproj.io/"))
}

/// `ApplicationSet argocd/web`.
pub fn object(appset: &Value) -> String {
    let name = appset["metadata"]["name"].as_str().unwrap_or_default();
    let ns = appset["metadata"]["namespace"].as_str().unwrap_or("argocd");
    format!("ApplicationSet {ns}/{name}")
}

/// The repositories the `git` generators read, so the caller can bring them in.
pub fn git_reads(appset: &Value) -> Vec<GitRead> {
    generators(appset).filter_map(|g| git_read(&g["git"])).collect()
}

fn generators(appset: &Value) -> impl Iterator<Item = &Value> {
    appset["spec"]["generators"].as_array().into_iter().flatten()
}

fn git_read(git: &Value) -> Option<GitRead> {
    let url = git["repoURL"].as_str().filter(|u| !u.is_empty())?;
    let reference = match git["revision"].as_str().map(str::trim) {
        None | Some("" | "HEAD") => GitRef::DefaultBranch,
        Some(r) => GitRef::Revision(r.to_string()),
    };
    let files = git["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect();
    Some(GitRead {
        repo: RepoRef {
            url: url.to_string(),
            reference,
        },
        files,
    })
}

/// Whether `path` is matched by a git generator glob (Go's `path.Match`: `*` within one
/// component).
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    PathPattern::new(pattern).is_ok_and(|p| p.matches(path))
}

/// Expands one ApplicationSet; `trees` are the repositories of its [`git_reads`] (one missing
/// is a repository that could not be read: its generator is not expanded).
pub fn expand(appset: &Value, trees: &BTreeMap<RepoRef, Tree>) -> Expanded {
    let object = object(appset);
    let mut out = Expanded::default();
    let spec = &appset["spec"];
    let whole = |reason: &str, fix: &str| Unmapped {
        object: object.clone(),
        reason: reason.to_string(),
        fix: fix.to_string(),
    };
    if spec["templatePatch"].as_str().is_some_and(|p| !p.trim().is_empty()) {
        out.not_expanded.push(whole("templatePatch is not applied", FIX));
        return out;
    }
    let renderer = match Renderer::new(spec) {
        Ok(r) => r,
        Err(reason) => {
            out.not_expanded
                .push(whole(&reason.to_string(), "fix spec.goTemplateOptions"));
            return out;
        }
    };
    let namespace = appset["metadata"]["namespace"].as_str().unwrap_or("argocd");
    for (i, generator) in generators(appset).enumerate() {
        let at = format!("generators[{i}]");
        let params = match params(generator, &renderer, trees) {
            Ok(p) => p,
            Err(Why { reason, fix }) => {
                out.not_expanded.push(whole(&format!("{at}: {reason}"), &fix));
                continue;
            }
        };
        let kind = kind(generator).unwrap_or_default();
        let template = merged_template(&spec["template"], &generator[kind]["template"]);
        for p in params {
            match renderer.render(&template, &p) {
                Ok(t) => out.applications.push(application(t, namespace)),
                Err(reason) => out.not_expanded.push(whole(
                    &format!("{at}: {reason}"),
                    "fix the template or the generator's parameters",
                )),
            }
        }
    }
    out
}

/// The generator's kind: its one key besides `selector`.
fn kind(generator: &Value) -> Option<&str> {
    generator
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|k| *k != "selector")
}

use super::Why;

/// The parameter sets of one generator.
fn params(
    generator: &Value,
    renderer: &Renderer,
    trees: &BTreeMap<RepoRef, Tree>,
) -> Result<Vec<Map<String, Value>>, Why> {
    let go = renderer.go_template();
    let kind = kind(generator).ok_or_else(|| ("is empty".to_string(), "name a generator".to_string()))?;
    if generator.get("selector").is_some_and(|s| !s.is_null()) {
        return Err((
            format!("generator {kind} has a selector, which is not applied"),
            FIX.to_string(),
        )
            .into());
    }
    match kind {
        "list" => list(&generator["list"], go),
        "git" => {
            let read = git_read(&generator["git"])
                .ok_or_else(|| ("git has no repoURL".to_string(), "set repoURL".to_string()))?;
            let tree = trees.get(&read.repo).ok_or_else(|| {
                (
                    format!("git: repository {} could not be read", read.repo),
                    "see the error about that repository".to_string(),
                )
            })?;
            git(&generator["git"], tree, go, renderer)
        }
        other => {
            let from = NOT_EXPANDED
                .iter()
                .find(|(k, _)| *k == other)
                .map_or("not a generator driftwatch knows".to_string(), |(_, from)| {
                    format!("its parameters come from {from}")
                });
            Err((format!("generator {other}: {from}"), FIX.to_string()).into())
        }
    }
}

/// `list`: each element is a parameter set. For fasttemplate, values must be strings, and
/// `values` is flattened to `values.<key>`.
fn list(list: &Value, go: bool) -> Result<Vec<Map<String, Value>>, Why> {
    let mut out = Vec::new();
    for element in list["elements"].as_array().into_iter().flatten() {
        let Some(element) = element.as_object() else {
            return Err(("list: an element is not an object".into(), "fix the element".into()).into());
        };
        if go {
            out.push(element.clone());
            continue;
        }
        let mut params = Map::new();
        for (key, value) in element {
            match (key.as_str(), value) {
                ("values", Value::Object(values)) => {
                    for (k, v) in values {
                        let v = v.as_str().ok_or_else(|| not_string(&format!("values.{k}")))?;
                        params.insert(format!("values.{k}"), v.into());
                    }
                }
                (_, Value::String(s)) => {
                    params.insert(key.clone(), s.as_str().into());
                }
                _ => return Err(not_string(key)),
            }
        }
        out.push(params);
    }
    if let Some(text) = list["elementsYaml"].as_str().filter(|t| !t.trim().is_empty()) {
        match safe_yaml::documents(text) {
            (docs, None) => {
                for e in docs.into_iter().flat_map(|d| d.as_array().cloned().unwrap_or_default()) {
                    if let Value::Object(m) = e {
                        out.push(m);
                    }
                }
            }
            (_, Some(e)) => return Err((format!("list.elementsYaml is not YAML: {e}"), "fix it".into()).into()),
        }
    }
    Ok(out)
}

fn not_string(key: &str) -> Why {
    Why::from((
        format!("list: element key {key} is not a string, which fasttemplate cannot substitute"),
        "quote the value, or set goTemplate: true".into(),
    ))
}

/// `git`: `directories` or `files`, then the generator's templated `values`.
fn git(git: &Value, tree: &Tree, go: bool, renderer: &Renderer) -> Result<Vec<Map<String, Value>>, Why> {
    let prefix = git["pathParamPrefix"].as_str().unwrap_or_default();
    let mut sets = if let Some(dirs) = git["directories"].as_array().filter(|d| !d.is_empty()) {
        directories(dirs, tree)
            .into_iter()
            .map(|d| path_params(&d, None, prefix, go))
            .collect()
    } else if let Some(files) = git["files"].as_array().filter(|f| !f.is_empty()) {
        git_files(files, tree, prefix, go)?
    } else {
        return Err((
            "git has neither directories nor files".into(),
            "give the git generator directories or files".into(),
        )
            .into());
    };
    if let Some(values) = git["values"].as_object() {
        for params in &mut sets {
            append_values(values, params, go, renderer)?;
        }
    }
    Ok(sets)
}

/// Directories matched by an include glob and by no `exclude: true` one, in the tree's order.
fn directories(requested: &[Value], tree: &Tree) -> Vec<String> {
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for r in requested {
        let Some(p) = r["path"].as_str() else { continue };
        match r["exclude"].as_bool().unwrap_or(false) {
            true => exclude.push(p),
            false => include.push(p),
        }
    }
    tree.dirs
        .iter()
        .filter(|d| include.iter().any(|p| glob_matches(p, d)) && !exclude.iter().any(|p| glob_matches(p, d)))
        .cloned()
        .collect()
}

/// Files matched by an include glob and by no exclude one, sorted; each object in each file
/// is a parameter set.
fn git_files(requested: &[Value], tree: &Tree, prefix: &str, go: bool) -> Result<Vec<Map<String, Value>>, Why> {
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for r in requested {
        let Some(p) = r["path"].as_str() else { continue };
        match r["exclude"].as_bool().unwrap_or(false) {
            true => exclude.push(p),
            false => include.push(p),
        }
    }
    let mut out = Vec::new();
    for (file, text) in &tree.files {
        if !include.iter().any(|p| glob_matches(p, file)) || exclude.iter().any(|p| glob_matches(p, file)) {
            continue;
        }
        let objects = file_objects(text).ok_or_else(|| {
            (
                format!("git: file {file} is neither a JSON/YAML object nor a list of objects"),
                "fix the file, or exclude it".to_string(),
            )
        })?;
        for object in objects {
            let mut params = match go {
                true => object,
                false => {
                    let mut flat = Map::new();
                    flatten("", &Value::Object(object), &mut flat);
                    flat
                }
            };
            params.extend(path_params(&parent(file), Some(file), prefix, go));
            out.push(params);
        }
    }
    Ok(out)
}

/// A file's objects: one object, or a list of them.
fn file_objects(text: &str) -> Option<Vec<Map<String, Value>>> {
    let (docs, err) = safe_yaml::documents(text);
    if err.is_some() {
        return None;
    }
    match docs.into_iter().next()? {
        Value::Object(m) => Some(vec![m]),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// `github.com/jeremywohl/flatten` with `DotStyle`, each leaf as Go's `%v` prints it.
fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(m) if !m.is_empty() => m.iter().for_each(|(k, v)| flatten(&key(k), v, out)),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&key(&i.to_string()), v, out)),
        Value::String(s) => {
            out.insert(prefix.to_string(), s.as_str().into());
        }
        Value::Null => {
            out.insert(prefix.to_string(), "<nil>".into());
        }
        Value::Object(_) => {
            out.insert(prefix.to_string(), "map[]".into());
        }
        Value::Array(_) => {
            out.insert(prefix.to_string(), "[]".into());
        }
        // Numbers are float64 in Go's JSON: `%v` prints 1000000 as 1e+06.
        Value::Number(n) => {
            let text = n
                .as_f64()
                .map_or_else(|| n.to_string(), helm::template::fmt::format_float_v);
            out.insert(prefix.to_string(), text.into());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string().into());
        }
    }
}

/// `path.Dir`.
fn parent(file: &str) -> String {
    match file.rsplit_once('/') {
        Some((dir, _)) if !dir.is_empty() => dir.to_string(),
        _ => ".".to_string(),
    }
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Argo CD's `normalize` (`SanitizeName`): lowercase, `[^-a-z0-9.]` → `-`, at most 253
/// characters, no leading or trailing `-` or `.`.
pub fn normalize(name: &str) -> String {
    let mapped: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            _ => '-',
        })
        .collect();
    let cut: String = mapped.chars().take(253).collect();
    cut.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// The `path` parameters of a directory (and of a file in it): `path`, `path.basename`,
/// `path.basenameNormalized`, `path[n]` (fasttemplate) or `path.segments` (goTemplate),
/// `path.filename`, `path.filenameNormalized`; under `pathParamPrefix` when set.
fn path_params(dir: &str, file: Option<&str>, prefix: &str, go: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let mut named = vec![
        ("basename", base(dir).to_string()),
        ("basenameNormalized", normalize(base(dir))),
    ];
    if let Some(f) = file {
        named.push(("filename", base(f).to_string()));
        named.push(("filenameNormalized", normalize(base(f))));
    }
    if go {
        let mut p = Map::new();
        p.insert("path".into(), dir.into());
        for (k, v) in named {
            p.insert(k.into(), v.into());
        }
        p.insert("segments".into(), dir.split('/').collect::<Vec<_>>().into());
        let p = Value::Object(p);
        match prefix {
            "" => out.insert("path".into(), p),
            _ => out.insert(prefix.into(), serde_json::json!({ "path": p })),
        };
        return out;
    }
    let name = if prefix.is_empty() {
        "path".to_string()
    } else {
        format!("{prefix}.path")
    };
    out.insert(name.clone(), dir.into());
    for (k, v) in named {
        out.insert(format!("{name}.{k}"), v.into());
    }
    for (i, segment) in dir.split('/').enumerate().filter(|(_, s)| !s.is_empty()) {
        out.insert(format!("{name}[{i}]"), segment.into());
    }
    out
}

/// The generator's `values`, rendered with its parameters: `values.<key>` (fasttemplate) or
/// `.values.<key>` (goTemplate).
fn append_values(
    values: &Map<String, Value>,
    params: &mut Map<String, Value>,
    go: bool,
    renderer: &Renderer,
) -> Result<(), Why> {
    let mut rendered = Map::new();
    for (k, v) in values {
        let text = v.as_str().unwrap_or_default();
        let r = renderer
            .string(text, params)
            .map_err(|e| (format!("git.values.{k}: {e}"), "fix the value's template".to_string()))?;
        rendered.insert(k.clone(), r.into());
    }
    match go {
        true => {
            params.insert("values".into(), Value::Object(rendered));
        }
        false => {
            for (k, v) in rendered {
                params.insert(format!("values.{k}"), v);
            }
        }
    }
    Ok(())
}

/// `spec.template` with the generator's `template` over it: the generator's fields win, the
/// ApplicationSet's fill what it leaves out (mergo's merge).
fn merged_template(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(existing) => merged_template(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (b, Value::Null) => b.clone(),
        (b, Value::String(s)) if s.is_empty() => b.clone(),
        (_, o) => o.clone(),
    }
}

/// The Application a rendered template makes, in the ApplicationSet's namespace.
fn application(template: Value, namespace: &str) -> Value {
    let mut metadata = template["metadata"].as_object().cloned().unwrap_or_default();
    metadata.insert("namespace".into(), namespace.into());
    serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": template["spec"],
    })
}

#[cfg(test)]
#[path = "appset_tests.rs"]
mod tests;
