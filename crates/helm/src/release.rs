//! `helm template` end to end: a loaded chart and the user's values in, the printed manifests out.
//!
//! [`template`] glues the two halves of the crate: [`crate::values::render::prepare`] (everything
//! Helm does before its engine runs) gives each template its chart's [`ChartScope`]; here each
//! scope becomes the engine's top-level value with Go's types where Helm has them (`.Values` a
//! `common.Values`, `.Release` a map with an `int` revision, `.Chart` Helm v4's `MetadataAsMap`
//! with `IsRoot`, `.Capabilities` a `*common.Capabilities` struct with `KubeVersion` and
//! `APIVersions.Has`, `.Files` with its methods, `.Subcharts` the subcharts' own top-level maps);
//! the engine renders them ([`crate::template::Engine`], with `fromYaml` reading YAML as Helm's
//! values loader does, YAML 1.1); [`crate::chart::manifest::assemble`] prints the result.
//!
//! Functions Helm has and the engine lacks fail only when a template calls them
//! ([`FuncTable::with_lazy_unsupported`]), as [`Error::Unsupported`] naming the function: the
//! caller can then render the release with real Helm.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::chart::manifest::{AssembleOptions, ManifestError, assemble};
use crate::chart::{Chart, ChartError, File};
use crate::template::go_struct::Struct;
use crate::template::objects::{Files, VersionSet};
use crate::template::{Engine, FuncTable, Map, MapType, Template, Value, YamlLoader};
use crate::values::Values;
use crate::values::render::{Capabilities, ChartScope, PrepareError, Prepared, TemplateOptions, prepare};

/// `helm template`'s switches for what is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Show {
    /// `--include-crds`: the charts' `crds/` files first.
    pub include_crds: bool,
    /// `--no-hooks`: hooks left out.
    pub no_hooks: bool,
    /// `--skip-tests`: `test` hooks left out.
    pub skip_tests: bool,
}

impl From<Show> for AssembleOptions {
    fn from(s: Show) -> Self {
        AssembleOptions {
            include_crds: s.include_crds,
            no_hooks: s.no_hooks,
            skip_tests: s.skip_tests,
        }
    }
}

/// One printed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The `# Source:` path (`chart/templates/x.yaml`, `chart/crds/y.yaml`).
    pub source: String,
    /// The document's text, as printed after the `# Source:` line.
    pub content: String,
}

/// What `helm template` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Exactly what `helm template` prints on stdout.
    pub output: String,
    /// The printed documents in order (CRDs, manifests, hooks, as [`Show`] selects them).
    pub documents: Vec<Document>,
    /// The root chart's rendered NOTES.txt (`helm template` does not print it).
    pub notes: String,
    /// Warnings Helm would log while preparing the values.
    pub warnings: Vec<String>,
}

/// Why a release does not render natively.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A function or feature Helm has that this renderer lacks (named): render with real Helm.
    #[error("{0:?} is not supported by the native Helm renderer")]
    Unsupported(String),
    /// The chart cannot be loaded (Helm's message).
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// Helm refuses the chart or its values before rendering (Helm's message).
    #[error(transparent)]
    Values(#[from] PrepareError),
    /// Rendering failed as it fails in Helm; the text is Helm's message.
    #[error("{0}")]
    Render(String),
}

impl From<crate::template::Error> for Error {
    fn from(e: crate::template::Error) -> Self {
        match e {
            crate::template::Error::Unsupported(name) => Error::Unsupported(name),
            crate::template::Error::Render(msg) => Error::Render(msg),
        }
    }
}

impl From<ManifestError> for Error {
    fn from(e: ManifestError) -> Self {
        Error::Render(e.to_string())
    }
}

/// `helm template NAME CHART -f ... --set-json ...`: `user_values` are the user's values as
/// [`crate::values::user_values`] merges them (files in order, then inline values).
///
/// # Errors
/// [`Error`] with Helm's message, or [`Error::Unsupported`] naming what is missing here.
pub fn template(chart: Chart, user_values: &Values, opts: &TemplateOptions, show: Show) -> Result<Rendered, Error> {
    let prepared = prepare(chart, user_values, opts)?;
    let rendered = engine().render_templates(&templates(&prepared))?;
    let assembled = assemble(&prepared.chart, &rendered, show.into())?;
    Ok(Rendered {
        documents: documents(&assembled.output),
        output: assembled.output,
        notes: assembled.notes,
        warnings: prepared.warnings,
    })
}

/// The printed documents, from the printed text (each starts `---\n# Source: <path>\n`).
fn documents(output: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    for part in format!("\n{output}").split("\n---\n# Source: ").skip(1) {
        let (source, content) = part.split_once('\n').unwrap_or((part, ""));
        docs.push(Document {
            source: source.to_string(),
            content: content.strip_suffix('\n').unwrap_or(content).to_string(),
        });
    }
    docs
}

/// The engine as `helm template` uses it here: Helm's functions, unsupported ones failing only
/// when called, `fromYaml` reading YAML as Helm does.
#[must_use]
pub fn engine() -> Engine {
    Engine {
        funcs: Rc::new(FuncTable::helm().with_lazy_unsupported()),
        yaml_loader: yaml_loader(),
    }
}

/// `fromYaml`'s reader: sigs.k8s.io/yaml over go-yaml v2 (YAML 1.1), numbers float64.
#[must_use]
pub fn yaml_loader() -> YamlLoader {
    Rc::new(|text: &str| {
        crate::yaml::from_str(text)
            .map(Value::from)
            .map_err(|e| crate::template::GoError::new(format!("error converting YAML to JSON: {e}")))
    })
}

/// Every template of a prepared release with its chart's top-level value, in Helm's order.
/// Charts' top-level maps are shared (a subchart's is also its parent's `.Subcharts.<name>`),
/// as in Helm.
#[must_use]
pub fn templates(prepared: &Prepared) -> Vec<Template> {
    let mut tops = BTreeMap::new();
    scope_tops(&prepared.scope, &mut Vec::new(), &mut tops);
    prepared
        .templates
        .iter()
        .map(|job| Template {
            name: job.name.clone(),
            text: job.source.clone(),
            top: tops.get(&job.scope).cloned().unwrap_or_else(Value::empty_map),
        })
        .collect()
}

/// Builds the top-level value of `scope` and of every subchart under it, keyed by scope path.
fn scope_tops(scope: &ChartScope, path: &mut Vec<String>, out: &mut BTreeMap<Vec<String>, Value>) -> Value {
    let subcharts = Map::new(MapType::Any);
    for (name, sub) in &scope.subcharts {
        path.push(name.clone());
        // The subchart's own top-level map, seen here as the `map[string]interface {}` Helm
        // builds it as (its templates get it as a `common.Values`).
        let top = match scope_tops(sub, path, out) {
            Value::Map(m) => Value::Map(m.as_type(MapType::Any)),
            other => other,
        };
        subcharts.insert(name.clone(), top);
        path.pop();
    }
    // Helm executes each template with its chart's map as a `common.Values`.
    let top = Map::new(MapType::Values);
    top.insert("Chart".into(), chart_value(&scope.chart));
    top.insert("Files".into(), files_value(&scope.files));
    top.insert("Release".into(), release_value(&scope.release));
    top.insert("Capabilities".into(), capabilities_value(&scope.capabilities));
    top.insert("Values".into(), values_value(&scope.values));
    top.insert("Subcharts".into(), Value::Map(subcharts));
    let top = Value::Map(top);
    out.insert(path.clone(), top.clone());
    top
}

/// `.Values`: a `common.Values` whose tables are `map[string]interface {}`.
#[must_use]
pub fn values_value(values: &Values) -> Value {
    let entries = values.iter().map(|(k, v)| (k.clone(), Value::from(v.clone())));
    Value::Map(Map::from_entries(MapType::Values, entries.collect()))
}

/// `.Chart`: Helm v4's `MetadataAsMap` (Go field names, nested structs as maps, `IsRoot`);
/// `Annotations` is a `map[string]string`.
fn chart_value(meta: &serde_json::Map<String, serde_json::Value>) -> Value {
    let m = Map::new(MapType::Any);
    for (k, v) in meta {
        let value = match (k.as_str(), v) {
            ("Annotations", serde_json::Value::Object(a)) => {
                let entries = a.iter().map(|(k, v)| (k.clone(), Value::from(v.clone())));
                Value::Map(Map::from_entries(MapType::Str, entries.collect()))
            }
            // Chart.yaml without annotations: Helm's field is a nil map[string]string.
            ("Annotations", serde_json::Value::Null) => Value::Map(Map::nil(MapType::Str)),
            _ => Value::from(v.clone()),
        };
        m.insert(k.clone(), value);
    }
    Value::Map(m)
}

/// `.Files`.
fn files_value(files: &[File]) -> Value {
    Files::new(files.iter().map(|f| (f.name.clone(), f.data.clone()))).value()
}

/// `.Release`: a `map[string]interface {}`; `Revision` is a Go `int`.
fn release_value(release: &serde_json::Value) -> Value {
    let m = Map::new(MapType::Any);
    for (k, v) in release.as_object().into_iter().flatten() {
        let value = match v.as_i64() {
            Some(i) if v.is_i64() => Value::Int(i),
            _ => Value::from(v.clone()),
        };
        m.insert(k.clone(), value);
    }
    Value::Map(m)
}

fn go_struct(type_name: &str, fields: Vec<(&str, Value)>) -> Struct {
    Struct {
        type_name: type_name.into(),
        order: fields.iter().map(|(k, _)| (*k).to_string()).collect(),
        fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ..Struct::default()
    }
}

/// `.Capabilities`: a `*common.Capabilities` (`KubeVersion` with its unexported normalized
/// version, a pointer `String()` and `GitVersion`; `APIVersions` with `Has`; `HelmVersion`, a
/// `version.BuildInfo` with its `json` tags).
fn capabilities_value(caps: &Capabilities) -> Value {
    let kv = &caps.kube_version;
    let s = |v: &str| Value::str(v);
    let mut kube = go_struct(
        "common.KubeVersion",
        vec![
            ("Version", s(&kv.version)),
            ("normalizedVersion", s(&kv.normalized)),
            ("Major", s(&kv.major)),
            ("Minor", s(&kv.minor)),
        ],
    );
    kube.string = Some(kv.normalized.clone());
    kube.pointer_string = true;
    kube.methods.insert("GitVersion".into(), s(&kv.version));
    let h = &caps.helm_version;
    let mut helm = go_struct(
        "version.BuildInfo",
        vec![
            ("Version", s(&h.version)),
            ("GitCommit", s(&h.git_commit)),
            ("GitTreeState", s(&h.git_tree_state)),
            ("GoVersion", s(&h.go_version)),
            ("KubeClientVersion", s(&h.kube_client_version)),
        ],
    );
    for (field, tag) in [
        ("Version", "version"),
        ("GitCommit", "git_commit"),
        ("GitTreeState", "git_tree_state"),
        ("GoVersion", "go_version"),
        ("KubeClientVersion", "kube_client_version"),
    ] {
        helm.json.insert(field.into(), format!("{tag},omitempty"));
    }
    let api = VersionSet(caps.api_versions.clone());
    let mut caps = go_struct(
        "*common.Capabilities",
        vec![
            ("KubeVersion", kube.value()),
            ("APIVersions", Value::Object(Rc::new(api))),
            ("HelmVersion", helm.value()),
        ],
    );
    caps.pointer = true;
    caps.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_source_lines() {
        let out = "---\n# Source: c/templates/a.yaml\na: 1\n---\n# Source: c/templates/b.yaml\nb: 2\n";
        let docs = documents(out);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].source, "c/templates/a.yaml");
        assert_eq!(docs[0].content, "a: 1");
        assert_eq!(docs[1].content, "b: 2");
    }
}
