//! Field names as kustomize reads a kustomization file: YAML turned into JSON (every mapping's
//! keys then in byte order, as Go's `json.Marshal` writes a map), decoded by Go's
//! `encoding/json` into kustomize's `types.Kustomization`. That decoder matches a key to a
//! struct field exactly or, failing that, case-insensitively (`nameSpace`, `NamePrefix`,
//! `IMAGES: [{NAME: …}]`), at every level of the struct. Two keys naming one field both apply,
//! in that key order: a later string, list or number replaces the earlier one, a later map is
//! merged into the earlier one key by key (Go reuses the map), a later struct is decoded into
//! the earlier one field by field, and a later `null` clears a list, map or struct but leaves a
//! string as it was.
//!
//! [`canonical`] rewrites a kustomization's JSON to the field names kustomize's struct declares,
//! merged as above, so the rest of the renderer reads one spelling. Keys that name no field are
//! left as they are (kustomize rejects them; the renderer leaves them to it).

use serde_json::{Map, Value};

/// What a field holds, as far as the decoder's merging cares.
#[derive(Clone, Copy)]
enum Shape {
    /// A string, number, bool or a list of those: a later value replaces it.
    Leaf,
    /// `map[string]…`: keys are data (case kept), a later map merges into it.
    Map,
    /// A (pointer to a) struct: its own field names are matched, a later one merges into it.
    Struct(&'static [(&'static str, Shape)]),
    /// A list of structs: a later list replaces it; each item's field names are matched.
    List(&'static [(&'static str, Shape)]),
}

use Shape::{Leaf, List, Map as M, Struct};

const FIELD_SPEC: &[(&str, Shape)] = &[
    ("group", Leaf),
    ("version", Leaf),
    ("kind", Leaf),
    ("path", Leaf),
    ("create", Leaf),
];

const HELM_GLOBALS: &[(&str, Shape)] = &[("chartHome", Leaf), ("configHome", Leaf)];

const HELM_CHART: &[(&str, Shape)] = &[
    ("name", Leaf),
    ("version", Leaf),
    ("repo", Leaf),
    ("releaseName", Leaf),
    ("namespace", Leaf),
    ("additionalValuesFiles", Leaf),
    ("valuesFile", Leaf),
    ("valuesInline", M),
    ("valuesMerge", Leaf),
    ("includeCRDs", Leaf),
    ("skipHooks", Leaf),
    ("apiVersions", Leaf),
    ("kubeVersion", Leaf),
    ("nameTemplate", Leaf),
    ("skipTests", Leaf),
    ("debug", Leaf),
];

const OBJECT_META: &[(&str, Shape)] = &[("name", Leaf), ("namespace", Leaf), ("labels", M), ("annotations", M)];

const LABEL: &[(&str, Shape)] = &[
    ("pairs", M),
    ("includeSelectors", Leaf),
    ("includeTemplates", Leaf),
    ("fields", List(FIELD_SPEC)),
];

const SELECTOR: &[(&str, Shape)] = &[
    ("group", Leaf),
    ("version", Leaf),
    ("kind", Leaf),
    ("name", Leaf),
    ("namespace", Leaf),
    ("annotationSelector", Leaf),
    ("labelSelector", Leaf),
];

const PATCH: &[(&str, Shape)] = &[
    ("path", Leaf),
    ("patch", Leaf),
    ("target", Struct(SELECTOR)),
    ("options", M),
];

const IMAGE: &[(&str, Shape)] = &[
    ("name", Leaf),
    ("newName", Leaf),
    ("tagSuffix", Leaf),
    ("newTag", Leaf),
    ("digest", Leaf),
];

const REPLICA: &[(&str, Shape)] = &[("name", Leaf), ("count", Leaf)];

const GENERATOR_OPTIONS: &[(&str, Shape)] = &[
    ("labels", M),
    ("annotations", M),
    ("disableNameSuffixHash", Leaf),
    ("immutable", Leaf),
];

const CONFIG_MAP_ARGS: &[(&str, Shape)] = &[
    ("namespace", Leaf),
    ("name", Leaf),
    ("behavior", Leaf),
    ("literals", Leaf),
    ("files", Leaf),
    ("envs", Leaf),
    ("env", Leaf),
    ("options", Struct(GENERATOR_OPTIONS)),
];

const SECRET_ARGS: &[(&str, Shape)] = &[
    ("namespace", Leaf),
    ("name", Leaf),
    ("behavior", Leaf),
    ("literals", Leaf),
    ("files", Leaf),
    ("envs", Leaf),
    ("env", Leaf),
    ("options", Struct(GENERATOR_OPTIONS)),
    ("type", Leaf),
];

const LEGACY_SORT_OPTIONS: &[(&str, Shape)] = &[("orderFirst", Leaf), ("orderLast", Leaf)];

const SORT_OPTIONS: &[(&str, Shape)] = &[("order", Leaf), ("legacySortOptions", Struct(LEGACY_SORT_OPTIONS))];

const SOURCE_SELECTOR: &[(&str, Shape)] = &[
    ("group", Leaf),
    ("version", Leaf),
    ("kind", Leaf),
    ("name", Leaf),
    ("namespace", Leaf),
    ("fieldPath", Leaf),
    ("options", Struct(FIELD_OPTIONS)),
];

const FIELD_OPTIONS: &[(&str, Shape)] = &[
    ("delimiter", Leaf),
    ("index", Leaf),
    ("encoding", Leaf),
    ("create", Leaf),
];

const TARGET_SELECTOR: &[(&str, Shape)] = &[
    ("select", Struct(SELECTOR)),
    ("reject", List(SELECTOR)),
    ("fieldPaths", Leaf),
    ("options", Struct(FIELD_OPTIONS)),
];

const REPLACEMENT: &[(&str, Shape)] = &[("source", Struct(SOURCE_SELECTOR)), ("targets", List(TARGET_SELECTOR))];

const REPLACEMENT_FIELD: &[(&str, Shape)] = &[
    ("source", Struct(SOURCE_SELECTOR)),
    ("targets", List(TARGET_SELECTOR)),
    ("path", Leaf),
];

/// `types.Kustomization` (v5.5.0), its embedded `TypeMeta` flattened as Go flattens it. Fields
/// the renderer leaves to kustomize are here too, so that `Replacements:` is recognized as
/// `replacements` and not taken for an unknown field.
const KUSTOMIZATION: &[(&str, Shape)] = &[
    ("kind", Leaf),
    ("apiVersion", Leaf),
    ("metadata", Struct(OBJECT_META)),
    ("openapi", M),
    ("namePrefix", Leaf),
    ("nameSuffix", Leaf),
    ("namespace", Leaf),
    ("commonLabels", M),
    ("labels", List(LABEL)),
    ("commonAnnotations", M),
    ("patchesStrategicMerge", Leaf),
    ("patchesJson6902", List(PATCH)),
    ("patches", List(PATCH)),
    ("images", List(IMAGE)),
    ("imageTags", List(IMAGE)),
    ("replacements", List(REPLACEMENT_FIELD)),
    ("replicas", List(REPLICA)),
    ("vars", Leaf),
    ("sortOptions", Struct(SORT_OPTIONS)),
    ("resources", Leaf),
    ("components", Leaf),
    ("crds", Leaf),
    ("bases", Leaf),
    ("configMapGenerator", List(CONFIG_MAP_ARGS)),
    ("secretGenerator", List(SECRET_ARGS)),
    ("helmGlobals", Struct(HELM_GLOBALS)),
    ("helmCharts", List(HELM_CHART)),
    ("helmChartInflationGenerator", Leaf),
    ("generatorOptions", Struct(GENERATOR_OPTIONS)),
    ("configurations", Leaf),
    ("generators", Leaf),
    ("transformers", Leaf),
    ("validators", Leaf),
    ("buildMetadata", Leaf),
];

/// A kustomization document (a JSON object) with every field name as kustomize's struct
/// spells it, duplicates merged as Go's decoder merges them.
pub fn canonical(doc: &Value) -> Value {
    fold(doc, Struct(KUSTOMIZATION))
}

/// One replacement of a `replacements` file, field names as kustomize's `types.Replacement`
/// spells them (it decodes the file with the same case-insensitive decoder).
pub fn canonical_replacement(doc: &Value) -> Value {
    fold(doc, Struct(REPLACEMENT))
}

/// Go's `bytes.EqualFold` for a key against an ASCII field name: ASCII case, plus the two
/// non-ASCII letters whose simple case folding reaches ASCII (KELVIN SIGN, LONG S).
fn folds_to(key: &str, field: &str) -> bool {
    let mut k = key.chars().map(|c| match c {
        '\u{212A}' => 'k',
        '\u{017F}' => 's',
        c => c.to_ascii_lowercase(),
    });
    let mut f = field.chars().map(|c| c.to_ascii_lowercase());
    loop {
        match (k.next(), f.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The declared field a key decodes into: the exact name if there is one, else a
/// case-insensitive match.
fn field_for(fields: &'static [(&'static str, Shape)], key: &str) -> Option<(&'static str, Shape)> {
    fields
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| fields.iter().find(|(name, _)| folds_to(key, name)))
        .copied()
}

fn fold(v: &Value, shape: Shape) -> Value {
    match (shape, v) {
        (Struct(fields), Value::Object(m)) => Value::Object(fold_struct(fields, m)),
        (List(fields), Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|i| match i {
                    Value::Object(m) => Value::Object(fold_struct(fields, m)),
                    other => other.clone(),
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// The struct's keys (in byte order, as the decoder sees them) renamed and merged.
fn fold_struct(fields: &'static [(&'static str, Shape)], m: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in m {
        let Some((name, shape)) = field_for(fields, key) else {
            out.insert(key.clone(), value.clone());
            continue;
        };
        let value = fold(value, shape);
        match out.remove(name) {
            None => {
                out.insert(name.to_string(), value);
            }
            Some(earlier) => {
                if let Some(merged) = merge(earlier, value, shape) {
                    out.insert(name.to_string(), merged);
                }
            }
        }
    }
    out
}

/// A second key for one field decoded over the first: `None` when it clears the field.
fn merge(earlier: Value, later: Value, shape: Shape) -> Option<Value> {
    match (shape, earlier, later) {
        // null leaves a string, number or bool as it was, and clears the rest.
        (Leaf, earlier, Value::Null) if !earlier.is_array() => Some(earlier),
        (_, _, Value::Null) => None,
        (M, Value::Object(mut a), Value::Object(b)) => {
            a.extend(b);
            Some(Value::Object(a))
        }
        (Struct(fields), Value::Object(a), Value::Object(b)) => {
            let mut a = a;
            for (name, value) in b {
                let shape = fields.iter().find(|(n, _)| *n == name).map_or(Leaf, |(_, s)| *s);
                match a.remove(&name) {
                    None => {
                        a.insert(name, value);
                    }
                    Some(x) => {
                        if let Some(m) = merge(x, value, shape) {
                            a.insert(name, m);
                        }
                    }
                }
            }
            Some(Value::Object(a))
        }
        (_, _, later) => Some(later),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Each checked with `kubectl kustomize` (v5.5.0): the spelling does not matter, at any
    /// depth; of two spellings the later in byte order wins (`Namespace` < `namespace`), maps
    /// merge, a nested struct merges field by field.
    #[test]
    fn reads_field_names_as_go_does() {
        let cases = [
            (
                json!({"Resources": ["d.yaml"], "nameSpace": "a", "NAMEPREFIX": "p-"}),
                json!({"resources": ["d.yaml"], "namespace": "a", "namePrefix": "p-"}),
            ),
            (json!({"namespace": "a", "Namespace": "b"}), json!({"namespace": "a"})),
            (
                json!({"commonLabels": {"a": "1"}, "CommonLabels": {"b": "2", "A": "x"}}),
                json!({"commonLabels": {"a": "1", "b": "2", "A": "x"}}),
            ),
            (
                json!({"IMAGES": [{"NAME": "x", "NewTag": "2"}], "patches": [{"Target": {"KIND": "Deployment"}, "PATH": "p.yaml"}]}),
                json!({"images": [{"name": "x", "newTag": "2"}], "patches": [{"target": {"kind": "Deployment"}, "path": "p.yaml"}]}),
            ),
            (
                json!({"GeneratorOptions": {"labels": {"a": "1"}}, "generatorOptions": {"Immutable": true, "LABELS": {"b": "2"}}}),
                json!({"generatorOptions": {"labels": {"a": "1", "b": "2"}, "immutable": true}}),
            ),
            (
                json!({"Resources": ["a.yaml"], "resources": ["b.yaml"]}),
                json!({"resources": ["b.yaml"]}),
            ),
            (
                json!({"Resources": ["a.yaml"], "resources": null, "NameSuffix": "-s", "nameSuffix": null}),
                json!({"nameSuffix": "-s"}),
            ),
            (
                json!({"frobnicate": 1, "commonLabels": {"Keep": "Case"}, "\u{212A}ind": "Component"}),
                json!({"frobnicate": 1, "commonLabels": {"Keep": "Case"}, "kind": "Component"}),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(&input), want, "{input}");
        }
    }
}
