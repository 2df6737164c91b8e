//! What one manifest file declares, read without rendering: the versions (digests, and tag
//! references in containers' `image:`) with the workload container or image that runs them,
//! and what an environment's files declare together once kustomize `images:` entries rewrite
//! their references ([`resolve`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::Declared;
use crate::core::image::{ImageRef, is_digest};
use crate::sources::git_history;
use safe_yaml as yaml;

/// A workload's container, as a manifest names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Container {
    /// `namespace/Kind/name`, or `Kind/name` when the manifest sets no namespace.
    pub(super) workload: String,
    pub(super) name: String,
}

/// One version found in a file: a digest, or the reference as declared when it has none
/// (`repo:tag`, from a container's `image:` or a kustomize `newTag`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// `repo[:tag]@sha256:…` anywhere, or `repo[:tag]` as a container's `image:`; `container`
    /// when it is a container's `image:` in a workload document.
    Reference {
        repo: String,
        digest: String,
        container: Option<Container>,
    },
    /// A kustomize `images:` entry: it sets the digest (or tag) of `name`, renamed to
    /// `new_name`.
    Override {
        name: Option<String>,
        new_name: Option<String>,
        digest: String,
    },
    /// A digest whose image the text does not say (a file that does not parse).
    Bare(String),
}

/// An environment's images from its files' findings. A kustomize `images:` entry rewrites the
/// references to its image in its own directory and below, as rendering would: their
/// workloads run the entry's version. An entry no workload read here uses is named by its
/// image.
pub(super) fn resolve(files: &[(&str, Arc<[Found]>)]) -> Declared {
    // Directory → its kustomize entries.
    let mut overrides: HashMap<&str, Vec<Entry>> = HashMap::new();
    for (path, found) in files {
        for f in found.iter() {
            if let Found::Override { name, new_name, digest } = f {
                let names = [name, new_name].into_iter().flatten().map(String::as_str).collect();
                overrides.entry(parent(path)).or_default().push(Entry {
                    names,
                    version: digest,
                    used: false,
                });
            }
        }
    }
    let mut out = Declared::default();
    for (path, found) in files {
        for f in found.iter() {
            let Found::Reference {
                repo,
                digest,
                container,
            } = f
            else {
                if let Found::Bare(digest) = f {
                    out.digests.insert(digest.clone());
                }
                continue;
            };
            let dirs = std::iter::successors(Some(parent(path)), |dir| (!dir.is_empty()).then(|| parent(dir)));
            let mut version = Some(digest.as_str());
            for dir in dirs {
                if let Some(entry) = overrides
                    .get_mut(dir)
                    .and_then(|es| es.iter_mut().find(|e| e.names.contains(repo.as_str())))
                {
                    // Rewritten: the entry's version, for this workload when it is one.
                    entry.used |= container.is_some();
                    version = container.is_some().then_some(entry.version);
                    break;
                }
            }
            let Some(version) = version else { continue };
            out.repos.entry(repo.clone()).or_default().insert(version.to_string());
            let key = container.as_ref().map_or_else(
                || (repo.clone(), String::new()),
                |c| (c.workload.clone(), c.name.clone()),
            );
            out.images.entry(key).or_default().insert(version.to_string());
            out.digests.insert(version.to_string());
        }
    }
    for (path, found) in files {
        for f in found.iter() {
            if let Found::Override { name, new_name, digest } = f {
                let used = overrides
                    .get(parent(path))
                    .is_some_and(|es| es.iter().any(|e| e.used && e.version == digest.as_str()));
                for repo in [name, new_name].into_iter().flatten() {
                    out.repos.entry(repo.clone()).or_default().insert(digest.clone());
                }
                if let (false, Some(repo)) = (used, new_name.as_ref().or(name.as_ref())) {
                    out.images
                        .entry((repo.clone(), String::new()))
                        .or_default()
                        .insert(digest.clone());
                }
                out.digests.insert(digest.clone());
            }
        }
    }
    out
}

/// A kustomize `images:` entry of a directory: the image names it matches, the version it sets,
/// and whether a workload read here runs it.
struct Entry<'a> {
    names: BTreeSet<&'a str>,
    version: &'a str,
    used: bool,
}

/// The directory holding `path`; `""` at the repository's root.
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The digests a manifest file declares, with their images. Documents are parsed one by one so
/// that one that does not parse loses only its images' names: its digests come from the text.
pub(super) fn extract(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    for chunk in split_documents(text) {
        match yaml::documents(chunk) {
            (docs, None) => docs.iter().for_each(|doc| values(doc, &mut out)),
            (_, Some(_)) => scan(chunk, &mut out),
        }
    }
    out
}

/// The text of each YAML document (split at `---` lines), so one bad document does not hide
/// the next. A `---` inside a block scalar splits wrongly; both halves then fall back to the
/// text scan, which still finds their digests.
fn split_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let marker = line.trim_end_matches(['\n', '\r']);
        if at > start && (marker == "---" || marker.starts_with("--- ") || marker.starts_with("---\t")) {
            out.push(&text[start..at]);
            start = at;
        }
        at += line.len();
    }
    out.push(&text[start..]);
    out
}

/// The versions in one parsed document: digest references in string values, containers'
/// `image:` (with the workload when the document is one; a tag reference counts there), and
/// mappings with a `digest` or `newTag` and a `newName` or `name` (kustomize `images:`
/// entries). The walk is bounded by the parser's own nesting limit, without recursion.
fn values(doc: &Value, out: &mut Vec<Found>) {
    let workload = workload_of(doc);
    let mut stack = vec![(doc, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        if depth > yaml::MAX_DEPTH {
            continue;
        }
        match value {
            Value::String(s) => {
                if let Some(found) = reference(s, None) {
                    out.push(found);
                }
            }
            Value::Array(items) => stack.extend(items.iter().rev().map(|v| (v, depth + 1))),
            Value::Object(map) => {
                let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
                if let Some(found) = text("image").and_then(|image| {
                    let container = workload
                        .clone()
                        .zip(text("name"))
                        .map(|(workload, name)| Container { workload, name });
                    reference(&image, Some(container))
                }) {
                    out.push(found);
                    stack.extend(
                        map.iter()
                            .filter(|(k, _)| *k != "image")
                            .map(|(_, v)| (v, depth + 1))
                            .rev(),
                    );
                    continue;
                }
                let version = text("digest").filter(|d| is_sha256(d)).or_else(|| {
                    text("newTag").map(|tag| format!("{}:{tag}", text("newName").or(text("name")).unwrap_or_default()))
                });
                if let Some(digest) = version {
                    let (name, new_name) = (text("name"), text("newName"));
                    if name.is_some() || new_name.is_some() {
                        out.push(Found::Override { name, new_name, digest });
                    }
                }
                stack.extend(map.values().rev().map(|v| (v, depth + 1)));
            }
            _ => {}
        }
    }
}

/// `namespace/Kind/name` of a document that is an object (`Kind/name` without a namespace;
/// `generateName` stands for the name).
fn workload_of(doc: &Value) -> Option<String> {
    let kind = doc.get("kind")?.as_str()?;
    let meta = doc.get("metadata")?;
    let name = ["name", "generateName"]
        .iter()
        .find_map(|k| meta.get(*k).and_then(Value::as_str))?;
    Some(match meta.get("namespace").and_then(Value::as_str) {
        Some(ns) => format!("{ns}/{kind}/{name}"),
        None => format!("{kind}/{name}"),
    })
}

/// An image reference as a version: `repo[:tag]@sha256:<64 hex>` (the digest; the repository
/// as written, tag dropped) anywhere; as a container's `image:` (`container` is `Some`), also
/// `repo[:tag]` without a digest (the reference as declared).
fn reference(s: &str, container: Option<Option<Container>>) -> Option<Found> {
    ImageRef::parse(s).ok()?;
    let (repo, digest) = match s.rsplit_once('@') {
        Some((name, digest)) if is_sha256(digest) => (without_tag(name), digest.to_string()),
        Some(_) => return None,
        None if container.is_some() => (without_tag(s), s.to_string()),
        None => return None,
    };
    Some(Found::Reference {
        repo: repo.to_string(),
        digest,
        container: container.flatten(),
    })
}

pub(super) fn without_tag(name: &str) -> &str {
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

pub(super) fn is_sha256(digest: &str) -> bool {
    digest.starts_with("sha256:") && is_digest(digest)
}

/// The text scan for a document that does not parse: every digest, with its repository when a
/// reference is written out (`repo@sha256:…`).
fn scan(text: &str, out: &mut Vec<Found>) {
    let is_ref_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':');
    for (at, digest) in git_history::digest_positions(text) {
        let before = text[..at].strip_suffix('@').map(|head| {
            let start = head.rfind(|c: char| !is_ref_char(c)).map_or(0, |i| i + 1);
            without_tag(&head[start..])
        });
        out.push(match before {
            Some(repo) if !repo.is_empty() => Found::Reference {
                repo: repo.to_string(),
                digest,
                container: None,
            },
            _ => Found::Bare(digest),
        });
    }
}
