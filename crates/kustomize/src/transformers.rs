//! `transformers:` entries, as kustomize's `configureExternalTransformers` reads them: every
//! entry that parses as YAML resources is an inline config (taken first, in order), the others
//! are paths (then, in order): a file of configs, or a directory holding a kustomization that is
//! built like any base and whose output resources are the configs (so that kustomization's own
//! namespace, prefixes, patches and transformers apply to them). All configs go into one map
//! (each needs a kind and a name; two with one id are an error), every one is configured, then
//! each transforms the resources in turn.
//!
//! Configs of the built-in kinds ImageTagTransformer, PrefixSuffixTransformer,
//! NamespaceTransformer, LabelTransformer, AnnotationsTransformer, PatchTransformer,
//! PatchStrategicMergeTransformer, PatchJson6902Transformer and ReplacementTransformer are
//! implemented. Anything else is
//! a plugin (a KRM function, an exec or Go plugin, another built-in) and is left to kustomize.
//! File paths inside a config (a patch's `path`) are relative to the kustomization listing the
//! entry, as kustomize's plugin loader reads them, whichever directory the config came from.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::fieldspec::FieldSpec;
use super::kustomization::{Image, Patch, PatchOptions, Selector};
use super::load::{self, Role};
use super::replacements::{self, ReplacementField};
use super::resource::{ResMap, Resource};
use super::{BuildError, Ctx, images, labels, namespace, patch, prefix_suffix};
use crate::files::{self, Kind};

/// Runs the `transformers:` entries of the kustomization in `dir` on `res`.
pub fn apply_all(ctx: &Ctx<'_>, dir: &str, entries: &[String], res: &mut ResMap) -> Result<(), BuildError> {
    if entries.is_empty() {
        return Ok(());
    }
    let configs = accumulate(ctx, dir, entries)?;
    // kustomize configures every plugin before any transforms.
    let configured = configs
        .resources
        .iter()
        .map(|c| Config::parse(&c.obj))
        .collect::<Result<Vec<_>, _>>()?;
    for config in configured {
        config.apply(ctx, dir, res)?;
    }
    Ok(())
}

/// The configs the entries hold, in kustomize's order: inline ones, then paths.
fn accumulate(ctx: &Ctx<'_>, dir: &str, entries: &[String]) -> Result<ResMap, BuildError> {
    let mut configs = ResMap::default();
    let mut paths = Vec::new();
    for entry in entries {
        match inline_configs(entry) {
            Some(docs) => {
                for obj in docs {
                    configs.append(Resource::new(obj))?;
                }
            }
            None => paths.push(entry),
        }
    }
    for entry in paths {
        configs = accumulate_path(ctx, dir, entry, configs)?;
    }
    Ok(configs)
}

/// The configs of an inline entry: text that parses as YAML resources (kustomize's
/// `NewResMapFromBytes`); `None` for anything else, which kustomize then reads as a path.
fn inline_configs(entry: &str) -> Option<Vec<Value>> {
    let (docs, err) = safe_yaml::documents(entry);
    if err.is_some() || docs.is_empty() || !docs.iter().all(Value::is_object) {
        return None;
    }
    load::resources_in("inline transformer", entry).ok()
}

/// Adds the configs at the path `entry`: a file's documents, or the output of the
/// kustomization in a directory.
fn accumulate_path(ctx: &Ctx<'_>, dir: &str, entry: &str, mut configs: ResMap) -> Result<ResMap, BuildError> {
    if load::is_remote(entry) {
        return Err(BuildError::Unsupported("uses remote transformers".into()));
    }
    let path = files::join(dir, entry).map_err(BuildError::invalid)?;
    match ctx.kind(&path) {
        Some(Kind::File) => {
            let text = ctx.read_in(dir, entry)?;
            for obj in load::resources_in(&path, &text)? {
                configs.append(Resource::new(obj))?;
            }
            Ok(configs)
        }
        Some(Kind::Dir) => load::accumulate_directory(ctx, &path, Role::Resource, configs),
        None => Err(BuildError::Invalid(format!(
            "transformer '{entry}' of '{}': no such file or directory",
            files::display(dir)
        ))),
    }
}

/// The kinds implemented, and what they take (kustomize's builtin plugin configs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImageTagConfig {
    image_tag: Image,
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrefixSuffixConfig {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NamespaceConfig {
    #[serde(default)]
    unset_only: bool,
    #[serde(default)]
    set_role_binding_subjects: String,
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PatchConfig {
    path: Option<String>,
    patch: Option<String>,
    target: Option<Selector>,
    options: Option<PatchOptions>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StrategicMergeConfig {
    #[serde(default)]
    paths: Vec<String>,
    patches: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Json6902Config {
    target: Option<Selector>,
    path: Option<String>,
    json_op: Option<String>,
}

/// A config's own fields (without apiVersion, kind and metadata), as `T`; fields this renderer
/// does not know send the overlay to kustomize.
fn fields<T: for<'de> Deserialize<'de>>(doc: &Value, kind: &str) -> Result<T, BuildError> {
    let mut own = doc.as_object().cloned().unwrap_or_default();
    for k in ["apiVersion", "kind", "metadata"] {
        own.remove(k);
    }
    serde_json::from_value(Value::Object(own))
        .map_err(|e| BuildError::Unsupported(format!("uses {kind} fields it does not understand ({e})")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReplacementConfig {
    #[serde(default)]
    replacements: Vec<ReplacementField>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LabelConfig {
    labels: Option<BTreeMap<String, String>>,
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnnotationsConfig {
    annotations: Option<BTreeMap<String, String>>,
    field_specs: Option<Vec<FieldSpec>>,
}

/// One configured built-in transformer.
enum Config {
    ImageTag(Image),
    PrefixSuffix(PrefixSuffixConfig),
    Namespace(String, namespace::Options),
    /// LabelTransformer and AnnotationsTransformer: pairs set at the field specs (kustomize's
    /// labels and annotations filters; no specs, no change).
    Pairs(BTreeMap<String, String>, Vec<FieldSpec>),
    Patch(Patch),
    Replacements(Vec<ReplacementField>),
    StrategicMerge(StrategicMergeConfig),
    Json6902(Json6902Config),
}

impl Config {
    /// kustomize's plugin `Config` step: which transformer, with what.
    fn parse(doc: &Value) -> Result<Self, BuildError> {
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if api_version != "builtin" {
            return Err(BuildError::Unsupported("uses transformer plugins".into()));
        }
        Ok(match kind {
            "ImageTagTransformer" => {
                let c: ImageTagConfig = fields(doc, kind)?;
                // The legacy pass (every `containers`/`initContainers` list) always runs; specs
                // elsewhere would need the general walk.
                let covered = c
                    .field_specs
                    .iter()
                    .flatten()
                    .all(|s| s.path.ends_with("containers[]/image") || s.path.ends_with("initContainers[]/image"));
                if !covered {
                    return Err(BuildError::Unsupported("uses ImageTagTransformer fieldSpecs".into()));
                }
                Self::ImageTag(c.image_tag)
            }
            "PrefixSuffixTransformer" => {
                let c: PrefixSuffixConfig = fields(doc, kind)?;
                if c.field_specs.is_none() {
                    return Err(BuildError::Invalid(
                        "plugin PrefixSuffixTransformer fails configuration: fieldSpecs is not expected to be nil"
                            .into(),
                    ));
                }
                Self::PrefixSuffix(c)
            }
            "NamespaceTransformer" => namespace_config(doc, kind)?,
            "LabelTransformer" => {
                let c: LabelConfig = fields(doc, kind)?;
                Self::Pairs(c.labels.unwrap_or_default(), c.field_specs.unwrap_or_default())
            }
            "AnnotationsTransformer" => {
                let c: AnnotationsConfig = fields(doc, kind)?;
                Self::Pairs(c.annotations.unwrap_or_default(), c.field_specs.unwrap_or_default())
            }
            "PatchTransformer" => {
                let c: PatchConfig = fields(doc, kind)?;
                Self::Patch(Patch {
                    path: c.path,
                    patch: c.patch,
                    target: c.target,
                    options: c.options,
                })
            }
            "ReplacementTransformer" => {
                let c: ReplacementConfig = fields(doc, kind)?;
                Self::Replacements(c.replacements)
            }
            "PatchStrategicMergeTransformer" => Self::StrategicMerge(fields(doc, kind)?),
            "PatchJson6902Transformer" => Self::Json6902(fields(doc, kind)?),
            other => return Err(BuildError::Unsupported(format!("uses transformer {other}"))),
        })
    }

    /// kustomize's plugin `Transform` step on `res`; `dir` is the kustomization listing it.
    fn apply(self, ctx: &Ctx<'_>, dir: &str, res: &mut ResMap) -> Result<(), BuildError> {
        match self {
            Self::ImageTag(image) => images::apply_one(res, &image),
            Self::PrefixSuffix(c) => {
                let specs = c.field_specs.unwrap_or_default();
                if !c.prefix.is_empty() {
                    prefix_suffix::apply_prefix(res, &c.prefix, &specs)?;
                }
                if !c.suffix.is_empty() {
                    prefix_suffix::apply_suffix(res, &c.suffix, &specs)?;
                }
                Ok(())
            }
            Self::Namespace(ns, options) => namespace::apply(res, &ns, &options),
            Self::Pairs(pairs, specs) => labels::set_all(res, &pairs, &specs),
            Self::Patch(p) => patch::patch_transformer(ctx, dir, &p, res),
            Self::Replacements(r) => replacements::apply(ctx, dir, &r, res),
            Self::StrategicMerge(c) => {
                patch::strategic_merge_transformer(ctx, dir, &c.paths, c.patches.as_deref(), res)
            }
            Self::Json6902(c) => patch::json6902_transformer(
                ctx,
                dir,
                c.target.as_ref(),
                c.path.as_deref(),
                c.json_op.as_deref(),
                res,
            ),
        }
    }
}

/// A NamespaceTransformer: the namespace is the config's own `metadata.namespace`.
fn namespace_config(doc: &Value, kind: &str) -> Result<Config, BuildError> {
    let c: NamespaceConfig = fields(doc, kind)?;
    let ns = doc
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let options = namespace::Options {
        unset_only: c.unset_only,
        set_role_binding_subjects: namespace::SubjectMode::parse(&c.set_role_binding_subjects)?,
        field_specs: Some(c.field_specs.unwrap_or_default()),
    };
    Ok(Config::Namespace(ns.to_string(), options))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// kustomize reads an entry as inline configs when it parses as YAML resources, else as a
    /// path (a one-line flow mapping is inline too).
    #[test]
    fn tells_inline_configs_from_paths() {
        let config = "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: l\n";
        assert_eq!(inline_configs(config).map(|d| d.len()), Some(1));
        assert_eq!(
            inline_configs("{apiVersion: builtin, kind: X, metadata: {name: a}}").map(|d| d.len()),
            Some(1)
        );
        for path in ["labels.yaml", "../transformers", "dir/with: colon/x"] {
            assert!(inline_configs(path).is_none(), "{path}");
        }
    }

    /// LabelTransformer and AnnotationsTransformer take their pairs and fieldSpecs as given;
    /// fields kustomize's plugins do not have are left to kustomize.
    #[test]
    fn configures_label_and_annotation_transformers() {
        let doc = json!({"apiVersion": "builtin", "kind": "LabelTransformer", "metadata": {"name": "l"},
            "labels": {"a": "b"}, "fieldSpecs": [{"path": "metadata/labels", "create": true}]});
        let Ok(Config::Pairs(pairs, specs)) = Config::parse(&doc) else {
            panic!("a LabelTransformer")
        };
        assert_eq!(pairs.get("a").map(String::as_str), Some("b"));
        assert_eq!(specs.len(), 1);
        assert!(specs[0].create);
        let doc = json!({"apiVersion": "builtin", "kind": "AnnotationsTransformer", "metadata": {"name": "a"}});
        assert!(matches!(Config::parse(&doc), Ok(Config::Pairs(p, s)) if p.is_empty() && s.is_empty()));
        let doc =
            json!({"apiVersion": "builtin", "kind": "LabelTransformer", "metadata": {"name": "l"}, "selector": {}});
        assert!(matches!(Config::parse(&doc), Err(BuildError::Unsupported(_))));
        let doc = json!({"apiVersion": "example.com/v1", "kind": "LabelTransformer", "metadata": {"name": "l"}});
        assert_eq!(
            Config::parse(&doc).err(),
            Some(BuildError::Unsupported("uses transformer plugins".into()))
        );
    }
}
