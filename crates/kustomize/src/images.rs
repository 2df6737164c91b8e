//! The `images` transformer (kustomize's ImageTagTransformer): rewrites the name, tag and
//! digest of matching container images. Like kustomize it runs two passes per entry: the legacy
//! one over every `containers`/`initContainers` list anywhere in an object (so CronJob
//! `jobTemplate`s and custom resources are covered), then the default field specs.

use regex::Regex;
use serde_json::Value;

use super::BuildError;
use super::kustomization::Image;
use super::resource::ResMap;

/// kustomize's default image field specs (`builtinpluginconsts/images.go`).
const FIELD_SPECS: [&[&str]; 4] = [
    &["spec", "containers"],
    &["spec", "initContainers"],
    &["spec", "template", "spec", "containers"],
    &["spec", "template", "spec", "initContainers"],
];

/// Applies every entry, in order.
pub fn apply(res: &mut ResMap, images: &[Image]) -> Result<(), BuildError> {
    for image in images {
        apply_one(res, image)?;
    }
    Ok(())
}

/// Applies one entry to every resource but CustomResourceDefinitions.
pub fn apply_one(res: &mut ResMap, image: &Image) -> Result<(), BuildError> {
    // kustomize interpolates the name into a regular expression unescaped, so a name with
    // regex syntax matches as a pattern there; an invalid one makes kustomize fail.
    let pattern = format!("^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$", image.name);
    let matcher = Regex::new(&pattern)
        .map_err(|e| BuildError::Invalid(format!("images: name {:?} is not a valid pattern: {e}", image.name)))?;
    for r in &mut res.resources {
        if r.kind() == "CustomResourceDefinition" {
            continue;
        }
        legacy(&mut r.obj, image, &matcher);
        for spec in FIELD_SPECS {
            let mut node = Some(&mut r.obj);
            for key in spec {
                node = node.and_then(|n| n.get_mut(*key));
            }
            if let Some(Value::Array(containers)) = node {
                for c in containers {
                    update(c, image, &matcher);
                }
            }
        }
    }
    Ok(())
}

/// The legacy pass: every list under a key `containers` or `initContainers`, at any depth.
fn legacy(node: &mut Value, image: &Image, matcher: &Regex) {
    match node {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                legacy(value, image, matcher);
                if (key == "containers" || key == "initContainers")
                    && let Value::Array(items) = value
                {
                    for c in items {
                        update(c, image, matcher);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                legacy(item, image, matcher);
            }
        }
        _ => {}
    }
}

/// Rewrites `container.image` when it matches.
fn update(container: &mut Value, image: &Image, matcher: &Regex) {
    let Some(slot) = container.get_mut("image") else {
        return;
    };
    let Some(value) = slot.as_str() else {
        return;
    };
    if !matcher.is_match(value) {
        return;
    }
    *slot = Value::String(rewrite(value, image));
}

/// The new reference, as kustomize's `imageTagUpdater` builds it: a new tag or digest replaces
/// both the old tag and digest.
pub fn rewrite(value: &str, image: &Image) -> String {
    let (mut name, mut tag, mut digest) = split(value);
    if let Some(n) = image.new_name.as_deref().filter(|n| !n.is_empty()) {
        name = n;
    }
    let new_tag = image.new_tag.as_deref().unwrap_or("");
    let new_digest = image.digest.as_deref().unwrap_or("");
    match (new_tag.is_empty(), new_digest.is_empty()) {
        (false, false) => (tag, digest) = (new_tag, new_digest),
        (false, true) => (tag, digest) = (new_tag, ""),
        (true, false) => (tag, digest) = ("", new_digest),
        (true, true) => {}
    }
    let mut out = name.to_string();
    if !tag.is_empty() {
        out.push(':');
        out.push_str(tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(digest);
    }
    out
}

/// kustomize's `image.Split`: name, tag and digest, looking for `:` and `@` only after the first
/// `/` (a registry port is not a tag).
pub fn split(image: &str) -> (&str, &str, &str) {
    let offset = match image.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let search = &image[offset..];
    let at = search.find('@').map(|i| i + offset);
    let colon = search.find(':').map(|i| i + offset);
    match (colon, at) {
        (None, None) => (image, "", ""),
        (c, Some(a)) if c.is_none_or(|c| a < c) => (&image[..a], "", &image[a + 1..]),
        (Some(c), Some(a)) => (&image[..c], &image[c + 1..a], &image[a + 1..]),
        (Some(c), None) => (&image[..c], &image[c + 1..], ""),
        (None, Some(_)) => unreachable!("covered above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Resource;
    use serde_json::json;

    fn image(name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    /// Expected values from `kubectl kustomize` (v5.5.0) on the same `images` entries.
    #[test]
    fn rewrites_as_kustomize_does() {
        let d = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";
        for (before, entry, after) in [
            (
                "nginx",
                image("nginx", None, Some("1.25"), None),
                "nginx:1.25".to_string(),
            ),
            ("nginx:1.0", image("nginx", None, None, Some(d)), format!("nginx@{d}")),
            (
                "nginx:1.0@sha256:aa",
                image("nginx", None, Some("2"), None),
                "nginx:2".into(),
            ),
            (
                "nginx:1.0",
                image("nginx", Some("reg:5000/x/nginx"), None, None),
                "reg:5000/x/nginx:1.0".into(),
            ),
            (
                "nginx:1.0",
                image("nginx", None, Some("1.2"), Some(d)),
                format!("nginx:1.2@{d}"),
            ),
            (
                "nginx:1.0",
                image("nginx", None, Some(&format!("1.2@{d}")), None),
                format!("nginx:1.2@{d}"),
            ),
            (
                "reg:5000/team/api:1",
                image("reg:5000/team/api", None, Some("2"), None),
                "reg:5000/team/api:2".into(),
            ),
            // Not the same repository: untouched.
            (
                "nginx-exporter:1",
                image("nginx", None, Some("2"), None),
                "nginx-exporter:1".into(),
            ),
            (
                "docker.io/nginx:1",
                image("nginx", None, Some("2"), None),
                "docker.io/nginx:1".into(),
            ),
        ] {
            let matcher = Regex::new(&format!(
                "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
                entry.name
            ))
            .expect("valid");
            let mut c = json!({"name": "c", "image": before});
            update(&mut c, &entry, &matcher);
            assert_eq!(c["image"], after, "{before} with {entry:?}");
        }
    }

    #[test]
    fn every_container_path_is_covered_and_crds_are_not() {
        let mut res = ResMap::default();
        for obj in [
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                   "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "app:1"}],
                            "initContainers": [{"name": "i", "image": "app:1"}]}}}}}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "app"}]}}),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"},
                   "spec": {"containers": [{"name": "a", "image": "app:1"}]}}),
        ] {
            res.append(Resource::new(obj)).expect("distinct");
        }
        apply(&mut res, &[image("app", None, Some("2"), None)]).expect("applies");
        let cron = &res.resources[0].obj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(cron["containers"][0]["image"], "app:2");
        assert_eq!(cron["initContainers"][0]["image"], "app:2");
        assert_eq!(res.resources[1].obj["spec"]["containers"][0]["image"], "app:2");
        assert_eq!(res.resources[2].obj["spec"]["containers"][0]["image"], "app:1");
    }
}
