//! `kustomize edit` as Argo CD runs it for an Application's `kustomize` section (`set image`,
//! `set nameprefix`, `set namesuffix`, `set namespace`, `add label`, `add annotation`, `set
//! replicas`, appended `patches`), and as Flux's kustomize-controller edits it for a
//! Kustomization (`images` merged field by field, `components`, the `v1beta2` legacy patches):
//! a kustomization's JSON in, the edited JSON out. Pure; the
//! renderer lays the result over the repository snapshot
//! (`sources/render/overrides.rs`), and discovery reads image arguments with [`image_entry`].

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// What an Application's `kustomize` section edits (the typed config of a `paths` entry's
/// `kustomize` table carries the same).
#[derive(Clone, Copy, Debug)]
pub struct Edits<'a> {
    pub images: &'a [String],
    pub name_prefix: Option<&'a str>,
    pub name_suffix: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub common_labels: &'a BTreeMap<String, String>,
    pub common_annotations: &'a BTreeMap<String, String>,
    pub patches: &'a [Value],
    pub replicas: &'a [(String, i64)],
    /// Appended to `components` (a Flux Kustomization's `components`).
    pub components: &'a [String],
    /// Flux's rule for `images`: merged into an entry of the same name, not replacing it.
    pub merge_images: bool,
    /// Appended to `patchesStrategicMerge` (objects) and `patchesJson6902` (`target` and a
    /// list of operations), as Flux's `v1beta2` fields are.
    pub patches_strategic_merge: &'a [Value],
    pub patches_json6902: &'a [Value],
}

/// Why a kustomization cannot be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the kustomization is not a mapping")]
    NotMapping,
    #[error("{arg:?} is not an image (name[:tag][@digest])")]
    NotAnImage { arg: String },
}

/// The kustomization `doc` with `o` applied, field by field as `kustomize edit` would.
pub fn edit_kustomization(doc: Value, o: &Edits<'_>) -> Result<Value, EditError> {
    let Value::Object(mut k) = doc else {
        return Err(EditError::NotMapping);
    };
    for (key, value) in [
        ("namePrefix", o.name_prefix),
        ("nameSuffix", o.name_suffix),
        ("namespace", o.namespace),
    ] {
        if let Some(v) = value {
            k.insert(key.into(), json!(v));
        }
    }
    for image in o.images {
        let entry = image_entry(image)?;
        if o.merge_images {
            merge_image(&mut k, entry);
        } else {
            set_entry(&mut k, "images", entry);
        }
    }
    for (name, count) in o.replicas {
        set_entry(&mut k, "replicas", json!({"name": name, "count": count}));
    }
    for (key, map) in [
        ("commonLabels", o.common_labels),
        ("commonAnnotations", o.common_annotations),
    ] {
        if map.is_empty() {
            continue;
        }
        let slot = k.entry(key).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        for (name, value) in map {
            slot[name] = json!(value);
        }
    }
    // Flux writes a strategic-merge patch as its JSON text, and a JSON 6902 patch's
    // operations as a JSON string.
    let strategic = o
        .patches_strategic_merge
        .iter()
        .map(|p| json!(serde_json::to_string_pretty(p).unwrap_or_default()))
        .collect();
    let json6902 = o
        .patches_json6902
        .iter()
        .map(|p| json!({"target": p["target"], "patch": p["patch"].to_string()}))
        .collect();
    for (key, items) in [
        ("patches", o.patches.to_vec()),
        ("components", o.components.iter().map(|c| json!(c)).collect()),
        ("patchesStrategicMerge", strategic),
        ("patchesJson6902", json6902),
    ] {
        if items.is_empty() {
            continue;
        }
        let slot = k.entry(key).or_insert_with(|| json!([]));
        if !slot.is_array() {
            *slot = json!([]);
        }
        if let Value::Array(list) = slot {
            list.extend(items);
        }
    }
    Ok(Value::Object(k))
}

/// Replaces the entry of `list` with the same `name`, or appends it.
fn set_entry(k: &mut Map<String, Value>, list: &str, entry: Value) {
    let slot = k.entry(list).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    let Value::Array(items) = slot else {
        unreachable!("just made an array")
    };
    match items.iter_mut().find(|i| i["name"] == entry["name"]) {
        Some(existing) => *existing = entry,
        None => items.push(entry),
    }
}

/// Flux's merge of an `images` entry into the kustomization's: into the entry of the same
/// name, `newName` if given, and `newTag` with `digest` as one (setting one clears the other,
/// as kustomize's image transformer replaces both); else appended.
fn merge_image(k: &mut Map<String, Value>, entry: Value) {
    let slot = k.entry("images").or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    let Value::Array(items) = slot else {
        unreachable!("just made an array")
    };
    let Some(Value::Object(existing)) = items.iter_mut().find(|i| i["name"] == entry["name"]) else {
        items.push(entry);
        return;
    };
    if let Some(new) = entry.get("newName") {
        existing.insert("newName".into(), new.clone());
    }
    if entry.get("newTag").is_some() || entry.get("digest").is_some() {
        for key in ["newTag", "digest"] {
            match entry.get(key) {
                Some(v) => existing.insert(key.into(), v.clone()),
                None => existing.remove(key),
            };
        }
    }
}

/// `kustomize edit set image`'s argument (`[name=]newName[:tag][@digest]`) as an `images`
/// entry.
pub fn image_entry(arg: &str) -> Result<Value, EditError> {
    let (name, new) = match arg.split_once('=') {
        Some((name, new)) => (Some(name), new),
        None => (None, arg),
    };
    let (rest, digest) = match new.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (new, None),
    };
    // A tag is after the last `:` that follows the last `/` (a registry port is not a tag).
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (new_name, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if new_name.is_empty() {
        return Err(EditError::NotAnImage { arg: arg.to_string() });
    }
    let mut entry = Map::new();
    entry.insert("name".into(), json!(name.unwrap_or(new_name)));
    if name.is_some_and(|n| n != new_name) {
        entry.insert("newName".into(), json!(new_name));
    }
    if let Some(t) = tag {
        entry.insert("newTag".into(), json!(t));
    }
    if let Some(d) = digest {
        entry.insert("digest".into(), json!(d));
    }
    Ok(Value::Object(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_arguments_read_as_kustomize_edit_set_image_reads_them() {
        // (argument, entry)
        let cases = [
            ("nginx:1.25", json!({"name": "nginx", "newTag": "1.25"})),
            (
                "nginx=registry.example.com:5000/web/nginx:1.25",
                json!({"name": "nginx", "newName": "registry.example.com:5000/web/nginx", "newTag": "1.25"}),
            ),
            (
                "registry.example.com:5000/web",
                json!({"name": "registry.example.com:5000/web"}),
            ),
            ("web@sha256:abc", json!({"name": "web", "digest": "sha256:abc"})),
            (
                "web=web:1@sha256:abc",
                json!({"name": "web", "newTag": "1", "digest": "sha256:abc"}),
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(image_entry(arg).unwrap(), want, "{arg}");
        }
        assert!(image_entry("=:1").is_err());
    }

    #[test]
    fn flux_merges_an_images_entry_and_appends_its_legacy_patches() {
        let doc = json!({"images": [
            {"name": "web", "newName": "mirror/web", "newTag": "1"},
            {"name": "api", "digest": "sha256:aaa"},
            {"name": "db", "newTag": "2"},
        ]});
        let images = [
            "web@sha256:bbb".to_string(),
            "api:7".to_string(),
            "db=mirror/db".to_string(),
            "cache:3".to_string(),
        ];
        let strategic = [json!({"kind": "Deployment", "metadata": {"name": "api"}})];
        let json6902 =
            [json!({"target": {"kind": "Deployment", "name": "web"}, "patch": [{"op": "remove", "path": "/x"}]})];
        let none = BTreeMap::new();
        let o = Edits {
            images: &images,
            name_prefix: None,
            name_suffix: None,
            namespace: None,
            common_labels: &none,
            common_annotations: &none,
            patches: &[],
            replicas: &[],
            components: &[],
            merge_images: true,
            patches_strategic_merge: &strategic,
            patches_json6902: &json6902,
        };
        let out = edit_kustomization(doc, &o).unwrap();
        assert_eq!(
            out["images"],
            json!([
                {"name": "web", "newName": "mirror/web", "digest": "sha256:bbb"},
                {"name": "api", "newTag": "7"},
                {"name": "db", "newTag": "2", "newName": "mirror/db"},
                {"name": "cache", "newTag": "3"},
            ]),
            "newName kept unless given; newTag and digest set as one"
        );
        let patch: Value = serde_json::from_str(out["patchesStrategicMerge"][0].as_str().unwrap()).unwrap();
        assert_eq!(patch, strategic[0], "the object as its JSON text");
        assert_eq!(
            out["patchesJson6902"],
            json!([{"target": {"kind": "Deployment", "name": "web"}, "patch": "[{\"op\":\"remove\",\"path\":\"/x\"}]"}])
        );
    }

    #[test]
    fn overrides_edit_the_kustomization_in_place() {
        let doc = json!({
            "resources": ["deploy.yaml"],
            "namePrefix": "old-",
            "images": [{"name": "web", "newTag": "1"}, {"name": "db", "newTag": "2"}],
            "commonLabels": {"team": "shop"},
        });
        let labels: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into();
        let annotations: BTreeMap<String, String> = [("owner".to_string(), "sre".to_string())].into();
        let patches =
            [json!({"patch": "- op: replace\n  path: /spec/replicas\n  value: 2", "target": {"kind": "Deployment"}})];
        let images = ["web:9".to_string(), "cache:3".to_string()];
        let replicas = [("web".to_string(), 4)];
        let components = ["../components/tls".to_string()];
        let o = Edits {
            images: &images,
            name_prefix: Some("prod-"),
            name_suffix: Some("-eu"),
            namespace: Some("shop"),
            common_labels: &labels,
            common_annotations: &annotations,
            patches: &patches,
            replicas: &replicas,
            components: &components,
            merge_images: false,
            patches_strategic_merge: &[],
            patches_json6902: &[],
        };
        let out = edit_kustomization(doc, &o).unwrap();
        assert_eq!(out["namePrefix"], "prod-", "set nameprefix replaces");
        assert_eq!(out["nameSuffix"], "-eu");
        assert_eq!(out["namespace"], "shop");
        assert_eq!(
            out["images"],
            json!([{"name": "web", "newTag": "9"}, {"name": "db", "newTag": "2"}, {"name": "cache", "newTag": "3"}]),
            "an image of the same name is replaced, a new one appended"
        );
        assert_eq!(out["commonLabels"], json!({"team": "shop", "env": "prod"}));
        assert_eq!(out["commonAnnotations"], json!({"owner": "sre"}));
        assert_eq!(out["replicas"], json!([{"name": "web", "count": 4}]));
        assert_eq!(out["patches"].as_array().unwrap().len(), 1);
        assert_eq!(out["resources"], json!(["deploy.yaml"]));
        assert_eq!(
            out["components"],
            json!(["../components/tls"]),
            "components are appended"
        );
    }
}
