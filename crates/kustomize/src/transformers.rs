//! `transformers:` entries that configure built-in transformers (ImageTagTransformer,
//! PrefixSuffixTransformer, NamespaceTransformer, PatchTransformer,
//! PatchStrategicMergeTransformer, PatchJson6902Transformer). Anything else is a plugin (a KRM
//! function, an exec or Go plugin, another built-in) and is left to kustomize.

use serde::Deserialize;
use serde_json::Value;

use super::fieldspec::FieldSpec;
use super::kustomization::{Image, Patch, PatchOptions, Selector};
use super::resource::ResMap;
use super::{BuildError, Ctx, images, namespace, patch, prefix_suffix};
use crate::files::{self, Kind};

/// Applies the transformer configs of one `transformers:` entry: a file (several documents
/// allowed) in the kustomization's directory, or the configs inline.
pub fn apply(ctx: &Ctx<'_>, dir: &str, entry: &str, res: &mut ResMap) -> Result<(), BuildError> {
    let (origin, text) = if entry.contains('\n') {
        ("inline transformer".to_string(), entry.to_string())
    } else {
        if super::load::is_remote(entry) {
            return Err(BuildError::Unsupported("uses remote transformers".into()));
        }
        let path = files::join(dir, entry).map_err(BuildError::invalid)?;
        match ctx.kind(&path) {
            // A kustomization whose output is transformer configs.
            Some(Kind::Dir) => return Err(BuildError::Unsupported("uses transformer directories".into())),
            Some(Kind::File) => (path, ctx.read_in(dir, entry)?),
            None => {
                return Err(BuildError::Invalid(format!(
                    "transformer '{entry}' of '{}': no such file",
                    files::display(dir)
                )));
            }
        }
    };
    let (docs, err) = safe_yaml::documents(&text);
    if let Some(e) = err {
        return Err(BuildError::Invalid(format!("{origin}: {e}")));
    }
    for doc in docs {
        configured(ctx, dir, &doc, res)?;
    }
    Ok(())
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

fn configured(ctx: &Ctx<'_>, dir: &str, doc: &Value, res: &mut ResMap) -> Result<(), BuildError> {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "builtin" {
        return Err(BuildError::Unsupported("uses transformer plugins".into()));
    }
    match kind {
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
            images::apply_one(res, &c.image_tag)
        }
        "PrefixSuffixTransformer" => {
            let c: PrefixSuffixConfig = fields(doc, kind)?;
            let Some(specs) = c.field_specs else {
                return Err(BuildError::Invalid(
                    "plugin PrefixSuffixTransformer fails configuration: fieldSpecs is not expected to be nil".into(),
                ));
            };
            if !c.prefix.is_empty() {
                prefix_suffix::apply_prefix(res, &c.prefix, &specs)?;
            }
            if !c.suffix.is_empty() {
                prefix_suffix::apply_suffix(res, &c.suffix, &specs)?;
            }
            Ok(())
        }
        "NamespaceTransformer" => {
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
            namespace::apply(res, ns, &options)
        }
        "PatchTransformer" => {
            let c: PatchConfig = fields(doc, kind)?;
            let p = Patch {
                path: c.path,
                patch: c.patch,
                target: c.target,
                options: c.options,
            };
            patch::patch_transformer(ctx, dir, &p, res)
        }
        "PatchStrategicMergeTransformer" => {
            let c: StrategicMergeConfig = fields(doc, kind)?;
            patch::strategic_merge_transformer(ctx, dir, &c.paths, c.patches.as_deref(), res)
        }
        "PatchJson6902Transformer" => {
            let c: Json6902Config = fields(doc, kind)?;
            patch::json6902_transformer(
                ctx,
                dir,
                c.target.as_ref(),
                c.path.as_deref(),
                c.json_op.as_deref(),
                res,
            )
        }
        other => Err(BuildError::Unsupported(format!("uses transformer {other}"))),
    }
}
