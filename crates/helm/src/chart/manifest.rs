//! What `helm template` prints, from the rendered text of each template (Helm's
//! `renderResources`, `releaseutil.SortManifests` and the template command's printing):
//!
//! 1. `NOTES.txt` outputs are taken out (the chart's own becomes the notes; `helm template`
//!    prints none);
//! 2. files are taken in path order; partials (`_*`) and blank files skipped; each file split on
//!    `---` lines (Helm's regex `(?:^|\s*\n)---\s*`), blank documents dropped;
//! 3. each document's head (`apiVersion`, `kind`, `metadata.name`, `metadata.annotations`) read;
//!    one with a `helm.sh/hook` annotation is a hook (unless a hook event is unknown: then it is
//!    dropped), others are manifests;
//! 4. manifests and hooks each sorted stably by kind in Helm's install order (unknown kinds last,
//!    alphabetically);
//! 5. printed as `---\n# Source: <path>\n<doc>\n`: CRDs from `crds/` first with
//!    `--include-crds`, then manifests; the whole trimmed and ended with a newline; then hooks the
//!    same way unless `--no-hooks` (`--skip-tests` drops `test` hooks).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::Chart;
use crate::yaml::{self, Typed};

/// Kinds in the order Helm installs them (`releaseutil.InstallOrder`).
pub const INSTALL_ORDER: [&str; 38] = [
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

const HOOK_EVENTS: [&str; 10] = [
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|\s*\n)---\s*").expect("static regex"));

/// A document that is not a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The template path (`chart/templates/x.yaml`).
    pub name: String,
    /// The document's text.
    pub content: String,
    /// Its `kind`.
    pub kind: String,
}

/// A document with a `helm.sh/hook` annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// `metadata.name`.
    pub name: String,
    /// `kind`.
    pub kind: String,
    /// The template path.
    pub path: String,
    /// The document's text.
    pub manifest: String,
    /// Events, lower-cased (`test-success` kept as written).
    pub events: Vec<String>,
    /// `helm.sh/hook-weight` (0 when absent or not an integer).
    pub weight: i64,
}

/// `helm template` switches that change the printing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssembleOptions {
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--no-hooks`.
    pub no_hooks: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
}

/// The sorted release content and its printed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// Manifests in install order.
    pub manifests: Vec<Manifest>,
    /// Hooks in install order (by kind).
    pub hooks: Vec<Hook>,
    /// The root chart's rendered NOTES.txt (empty when none).
    pub notes: String,
    /// Exactly what `helm template` prints on stdout.
    pub output: String,
}

/// A rendered document whose head Helm cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("YAML parse error on {path}: {message}")]
pub struct ManifestError {
    /// The template path.
    pub path: String,
    /// sigs.k8s.io/yaml's error.
    pub message: String,
}

/// Helm's `SplitManifests`: the documents of a rendered file, in order.
#[must_use]
pub fn split_manifests(text: &str) -> Vec<String> {
    let trimmed = text.trim_start();
    SEPARATOR
        .split(trimmed)
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim_start().to_string())
        .collect()
}

/// Why a document's head (`SimpleHead`) does not decode, in sigs.k8s.io/yaml's words.
#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error("error converting YAML to JSON: {0}")]
    Yaml(#[source] yaml::YamlError),
    #[error(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal non-object into Go value of type util.SimpleHead"
    )]
    NotObject,
    #[error(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {json_kind} into Go struct field SimpleHead.{path}{key} of type string"
    )]
    NotString {
        json_kind: &'static str,
        path: String,
        key: String,
    },
}

struct Head {
    kind: String,
    name: String,
    annotations: Option<BTreeMap<String, String>>,
}

fn field<'a>(pairs: &'a [(String, Typed)], key: &str) -> Option<&'a Typed> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn head_string(v: Option<&Typed>, path: &str, key: &str) -> Result<String, HeadError> {
    match v {
        None | Some(Typed::Null) => Ok(String::new()),
        Some(t @ (Typed::Seq(_) | Typed::Map(_))) => Err(HeadError::NotString {
            json_kind: if matches!(t, Typed::Seq(_)) { "array" } else { "object" },
            path: path.into(),
            key: key.into(),
        }),
        Some(t) => Ok(t.coerced_string().unwrap_or_default()),
    }
}

fn read_head(doc: &str) -> Result<Head, HeadError> {
    let typed = yaml::typed_from_str(doc).map_err(HeadError::Yaml)?;
    let pairs = match typed {
        Typed::Map(p) => p,
        Typed::Null => Vec::new(),
        _ => return Err(HeadError::NotObject),
    };
    head_string(field(&pairs, "apiVersion"), "", "apiVersion")?;
    let kind = head_string(field(&pairs, "kind"), "", "kind")?;
    let (mut name, mut annotations) = (String::new(), None);
    if let Some(Typed::Map(meta)) = field(&pairs, "metadata") {
        name = head_string(field(meta, "name"), "metadata.", "name")?;
        if let Some(Typed::Map(ann)) = field(meta, "annotations") {
            let mut out = BTreeMap::new();
            for (k, v) in ann {
                out.insert(k.clone(), head_string(Some(v), "metadata.annotations.", k)?);
            }
            annotations = Some(out);
        }
    }
    Ok(Head {
        kind,
        name,
        annotations,
    })
}

fn kind_rank(kind: &str) -> Option<usize> {
    INSTALL_ORDER.iter().position(|k| *k == kind)
}

/// Helm's `lessByKind` as a total order for a stable sort.
fn by_kind(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (kind_rank(a), kind_rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Helm's `SortManifests` over rendered files (NOTES.txt already removed).
///
/// # Errors
/// [`ManifestError`] for a document whose head is not YAML Helm reads.
pub fn sort_manifests(files: &BTreeMap<String, String>) -> Result<(Vec<Hook>, Vec<Manifest>), ManifestError> {
    let (mut hooks, mut manifests) = (Vec::new(), Vec::new());
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(content) {
            let head = read_head(&doc).map_err(|e| ManifestError {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let hook_types = head.annotations.as_ref().and_then(|a| a.get("helm.sh/hook"));
            let Some(hook_types) = hook_types else {
                manifests.push(Manifest {
                    name: path.clone(),
                    content: doc,
                    kind: head.kind,
                });
                continue;
            };
            let events: Vec<String> = hook_types.split(',').map(|e| e.trim().to_lowercase()).collect();
            if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
                continue;
            }
            let weight = head.annotations.as_ref().and_then(|a| a.get("helm.sh/hook-weight"));
            let weight = weight.and_then(|w| w.parse().ok()).unwrap_or(0);
            hooks.push(Hook {
                name: head.name,
                kind: head.kind,
                path: path.clone(),
                manifest: doc,
                events,
                weight,
            });
        }
    }
    manifests.sort_by(|a, b| by_kind(&a.kind, &b.kind));
    hooks.sort_by(|a, b| by_kind(&a.kind, &b.kind));
    Ok((hooks, manifests))
}

/// From the engine's output (template path → rendered text, NOTES.txt and partials included or
/// not) to what `helm template` prints for `chart`.
///
/// # Errors
/// [`ManifestError`] as Helm reports it.
pub fn assemble(
    chart: &Chart,
    rendered: &BTreeMap<String, String>,
    opts: AssembleOptions,
) -> Result<Assembled, ManifestError> {
    let root_notes = format!("{}/templates/NOTES.txt", chart.name());
    let mut files = rendered.clone();
    let notes = files.remove(&root_notes).unwrap_or_default();
    files.retain(|k, _| !k.ends_with("NOTES.txt"));
    let (hooks, manifests) = sort_manifests(&files)?;
    let mut body = String::new();
    if opts.include_crds {
        for (filename, file) in chart.crd_objects() {
            body.push_str(&format!(
                "---\n# Source: {filename}\n{}\n",
                String::from_utf8_lossy(&file.data)
            ));
        }
    }
    for m in &manifests {
        body.push_str(&format!("---\n# Source: {}\n{}\n", m.name, m.content));
    }
    let mut output = format!("{}\n", body.trim());
    if !opts.no_hooks {
        for h in &hooks {
            if opts.skip_tests && h.events.iter().any(|e| e == "test" || e == "test-success") {
                continue;
            }
            output.push_str(&format!("---\n# Source: {}\n{}\n", h.path, h.manifest));
        }
    }
    Ok(Assembled {
        manifests,
        hooks,
        notes,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_helm() {
        assert_eq!(
            split_manifests("\n---\na: 1\n---\n\n---\nb: 2\n"),
            vec!["a: 1", "---\nb: 2\n"]
        );
        assert_eq!(split_manifests("a: 1\n---b: 2"), vec!["a: 1", "b: 2"]);
    }

    #[test]
    fn kinds_sort_in_install_order() {
        let mut files = BTreeMap::new();
        files.insert(
            "c/templates/a.yaml".to_string(),
            "kind: Deployment\n---\nkind: Zed\n---\nkind: Alpha\n".to_string(),
        );
        files.insert("c/templates/b.yaml".to_string(), "kind: Namespace\n".to_string());
        let (_, manifests) = sort_manifests(&files).unwrap();
        let kinds: Vec<&str> = manifests.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["Namespace", "Deployment", "Alpha", "Zed"]);
    }
}
