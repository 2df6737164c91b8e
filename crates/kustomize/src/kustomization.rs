//! A kustomization file as the built-in renderer understands it. Fields it does not implement
//! (Helm charts, vars, KRM plugins, schemas, anything unknown) are not errors here
//! but [`BuildError::Unsupported`], so the overlay goes to the external kustomize instead of
//! being rendered wrong.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::BuildError;

/// The names kustomize looks for, in its order.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Top-level fields that exist in kustomize but that this renderer leaves to it, with the
/// reason recorded for the fallback.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("helmChartInflationGenerator", "helmChartInflationGenerator"),
    ("vars", "vars"),
    ("crds", "crds"),
    ("openapi", "openapi"),
    ("configurations", "configurations"),
    ("generators", "generator plugins"),
    ("validators", "validator plugins"),
    ("buildMetadata", "buildMetadata"),
    ("imageTags", "imageTags"),
];

/// Fields that are implemented.
const SUPPORTED: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "replicas",
    "replacements",
    "resources",
    "bases",
    "components",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "transformers",
    "sortOptions",
    "helmCharts",
    "helmGlobals",
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub namespace: Option<String>,
    pub common_labels: Option<BTreeMap<String, String>>,
    pub labels: Option<Vec<Label>>,
    pub common_annotations: Option<BTreeMap<String, String>>,
    /// Each a file path or an inline patch.
    pub patches_strategic_merge: Option<Vec<String>>,
    pub patches_json6902: Option<Vec<Patch>>,
    pub patches: Option<Vec<Patch>>,
    pub images: Option<Vec<Image>>,
    pub replicas: Option<Vec<Replica>>,
    pub replacements: Option<Vec<ReplacementField>>,
    pub resources: Option<Vec<String>>,
    pub bases: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub config_map_generator: Option<Vec<GeneratorArgs>>,
    pub secret_generator: Option<Vec<GeneratorArgs>>,
    pub generator_options: Option<GeneratorOptions>,
    /// Each a file path or inline YAML configuring a built-in transformer.
    pub transformers: Option<Vec<String>>,
    /// Output order only: the facts driftwatch reads do not depend on it.
    pub sort_options: Option<Value>,
    /// Charts rendered by `helm template` ([`crate::helm`]).
    pub helm_charts: Option<Vec<HelmChart>>,
    pub helm_globals: Option<HelmGlobals>,
}

/// `helmGlobals` (kustomize's `types.HelmGlobals`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmGlobals {
    /// Where each chart's directory is, relative to the kustomization (default `charts`).
    pub chart_home: Option<String>,
    /// `HELM_CONFIG_HOME` for the helm process: nothing a render reads.
    pub config_home: Option<String>,
}

/// An entry of `helmCharts` (kustomize's `types.HelmChart`, v5.5.0).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmChart {
    #[serde(default)]
    pub name: String,
    pub version: Option<String>,
    pub repo: Option<String>,
    pub release_name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub additional_values_files: Vec<String>,
    pub values_file: Option<String>,
    pub values_inline: Option<serde_json::Map<String, Value>>,
    pub values_merge: Option<String>,
    #[serde(rename = "includeCRDs", default)]
    pub include_crds: bool,
    #[serde(default)]
    pub skip_hooks: bool,
    #[serde(default)]
    pub api_versions: Vec<String>,
    pub kube_version: Option<String>,
    pub name_template: Option<String>,
    #[serde(default)]
    pub skip_tests: bool,
    /// `--debug`: changes helm's error output only.
    #[serde(default)]
    pub debug: bool,
}

/// An entry of `labels`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Label {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    /// Extra field specs: left to kustomize.
    pub fields: Option<Value>,
}

/// An entry of `patches` or `patchesJson6902`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    pub options: Option<PatchOptions>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchOptions {
    #[serde(default)]
    pub allow_name_change: bool,
    #[serde(default)]
    pub allow_kind_change: bool,
}

/// A patch target: every field optional; `name` and `namespace` are anchored regular
/// expressions, the selectors are label-selector syntax.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

/// An entry of `images`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    #[serde(default)]
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

/// An entry of `replicas`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// An entry of `configMapGenerator` or `secretGenerator`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    #[serde(default)]
    pub name: String,
    pub namespace: Option<String>,
    /// `create` (default), `merge` or `replace`.
    pub behavior: Option<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    /// The legacy single env file.
    pub env: Option<String>,
    pub options: Option<GeneratorOptions>,
    /// Secrets only (`Opaque` by default).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `generatorOptions`, or a generator's own `options` (which take precedence).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

impl Kustomization {
    /// Parses a kustomization file's text. A field this renderer leaves to kustomize is
    /// `Unsupported` naming it; malformed YAML is `Invalid`.
    pub fn parse(path: &str, text: &str) -> Result<Self, BuildError> {
        let (docs, err) = safe_yaml::documents(text);
        if let Some(e) = err {
            return Err(BuildError::Invalid(format!("{path}: {e}")));
        }
        let doc = match docs.len() {
            // kustomize refuses an empty kustomization file.
            0 => return Err(BuildError::Invalid(format!("{path} is empty"))),
            1 => docs.into_iter().next().expect("one"),
            _ => return Err(BuildError::Invalid(format!("{path}: more than one document"))),
        };
        if !doc.is_object() {
            return Err(BuildError::Invalid(format!("{path}: not a mapping")));
        }
        // kustomize matches field names case-insensitively (Go's encoding/json).
        let doc = super::fieldnames::canonical(&doc);
        let fields = doc.as_object().expect("still an object");
        for key in fields.keys() {
            if let Some((_, reason)) = UNSUPPORTED.iter().find(|(k, _)| k == key) {
                return Err(BuildError::Unsupported(format!("uses {reason}")));
            }
            if !SUPPORTED.contains(&key.as_str()) {
                return Err(BuildError::Unsupported(format!("unknown field {key}")));
            }
        }
        let k: Kustomization = serde_json::from_value(doc)
            .map_err(|e| BuildError::Unsupported(format!("kustomization field not understood ({e})")))?;
        if k.labels.iter().flatten().any(|l| l.fields.is_some()) {
            return Err(BuildError::Unsupported("uses labels with fields".into()));
        }
        Ok(k)
    }

    /// Whether this is a `kind: Component`.
    pub fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }
}

// `replacements` entries (applied by `replacements.rs`).

/// An entry of `replacements`: inline, or a file of replacements.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementField {
    pub source: Option<SourceSelector>,
    pub targets: Option<Vec<TargetSelector>>,
    pub path: Option<String>,
}

/// One replacement.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    pub source: Option<SourceSelector>,
    pub targets: Option<Vec<TargetSelector>>,
}

/// Where the value comes from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSelector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

/// Where it goes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSelector {
    pub select: Option<Selector>,
    pub reject: Option<Vec<Selector>>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

/// `options` of a source or target.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    /// Declared by kustomize v5.5.0 and not used by its filter.
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub create: bool,
}
