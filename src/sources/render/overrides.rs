//! An Argo CD Application's `kustomize` overrides, applied as Argo CD applies them: by editing
//! the path's kustomization (`kustomize edit set image`, `set nameprefix`, `set namesuffix`,
//! `set namespace`, `add label`, `add annotation`, `set replicas`, appended `patches`) before it
//! is built. The edit is pure ([`edit_kustomization`]); [`Edited`] lays the edited file over the
//! repository snapshot, so the rest of the build reads the commit as it is.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::SharedFiles;
use super::files::{Files, Kind, ReadError};
use crate::config::KustomizeOverrides;

/// The file names kustomize reads a kustomization from, in its order.
const NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Why an Application's `kustomize` overrides cannot be applied to a path.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("{dir} holds no kustomization to apply the Application's kustomize overrides to")]
    NoKustomization { dir: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path} is not UTF-8")]
    NotUtf8 { path: String },
    #[error("{path}: {source}")]
    Yaml {
        path: String,
        #[source]
        source: safe_yaml::Error,
    },
    #[error("the kustomization is not a mapping")]
    NotMapping,
    #[error("{arg:?} is not an image (name[:tag][@digest])")]
    NotAnImage { arg: String },
}

/// A repository snapshot with one file replaced.
pub struct Edited {
    inner: SharedFiles,
    path: String,
    content: Vec<u8>,
}

impl Files for Edited {
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        if path == self.path {
            return Ok(self.content.clone());
        }
        self.inner.read(path)
    }

    fn kind(&self, path: &str) -> Option<Kind> {
        self.inner.kind(path)
    }

    fn identity(&self, path: &str) -> Option<String> {
        if path == self.path {
            use sha2::Digest as _;
            return Some(format!("edited {:x}", sha2::Sha256::digest(&self.content)));
        }
        self.inner.identity(path)
    }
}

/// `files` with the kustomization of `dir` edited as `o` says; the error says why it cannot be.
pub fn edit(files: &SharedFiles, dir: &str, o: &KustomizeOverrides) -> Result<SharedFiles, OverrideError> {
    let join = |name: &str| {
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    };
    let path = NAMES
        .iter()
        .map(|n| join(n))
        .find(|p| files.kind(p) == Some(Kind::File))
        .ok_or_else(|| OverrideError::NoKustomization { dir: dir.to_string() })?;
    let bytes = files.read(&path)?;
    let text = String::from_utf8(bytes).map_err(|_| OverrideError::NotUtf8 { path: path.clone() })?;
    let (docs, err) = safe_yaml::documents(&text);
    if let Some(source) = err {
        return Err(OverrideError::Yaml { path, source });
    }
    let doc = docs.into_iter().next().unwrap_or_else(|| json!({}));
    let edited = edit_kustomization(doc, o)?;
    Ok(Arc::new(Edited {
        inner: files.clone(),
        path,
        // JSON is YAML: the built-in renderer reads it as the file it replaces.
        content: edited.to_string().into_bytes(),
    }))
}

/// The kustomization `doc` with `o` applied, field by field as `kustomize edit` would.
pub fn edit_kustomization(doc: Value, o: &KustomizeOverrides) -> Result<Value, OverrideError> {
    let Value::Object(mut k) = doc else {
        return Err(OverrideError::NotMapping);
    };
    for (key, value) in [
        ("namePrefix", &o.name_prefix),
        ("nameSuffix", &o.name_suffix),
        ("namespace", &o.namespace),
    ] {
        if let Some(v) = value {
            k.insert(key.into(), json!(v));
        }
    }
    for image in &o.images {
        set_entry(&mut k, "images", image_entry(image)?);
    }
    for (name, count) in &o.replicas {
        set_entry(&mut k, "replicas", json!({"name": name, "count": count}));
    }
    for (key, map) in [
        ("commonLabels", &o.common_labels),
        ("commonAnnotations", &o.common_annotations),
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
    if !o.patches.is_empty() {
        let slot = k.entry("patches").or_insert_with(|| json!([]));
        if let Value::Array(list) = slot {
            list.extend(o.patches.iter().cloned());
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

/// `kustomize edit set image`'s argument (`[name=]newName[:tag][@digest]`) as an `images`
/// entry.
pub fn image_entry(arg: &str) -> Result<Value, OverrideError> {
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
        return Err(OverrideError::NotAnImage { arg: arg.to_string() });
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
    fn overrides_edit_the_kustomization_in_place() {
        let doc = json!({
            "resources": ["deploy.yaml"],
            "namePrefix": "old-",
            "images": [{"name": "web", "newTag": "1"}, {"name": "db", "newTag": "2"}],
            "commonLabels": {"team": "shop"},
        });
        let o = KustomizeOverrides {
            images: vec!["web:9".into(), "cache:3".into()],
            name_prefix: Some("prod-".into()),
            name_suffix: Some("-eu".into()),
            namespace: Some("shop".into()),
            common_labels: [("env".to_string(), "prod".to_string())].into(),
            common_annotations: [("owner".to_string(), "sre".to_string())].into(),
            patches: vec![
                json!({"patch": "- op: replace\n  path: /spec/replicas\n  value: 2", "target": {"kind": "Deployment"}}),
            ],
            replicas: vec![("web".into(), 4)],
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
    }
}
