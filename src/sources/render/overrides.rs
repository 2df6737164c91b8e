//! An Argo CD Application's `kustomize` overrides (and a Flux Kustomization's `targetNamespace`,
//! `namePrefix`, `images`, `patches`, `components`), applied as the controllers apply them: by
//! editing the path's kustomization before it is built. The edit is pure
//! ([`crate::core::kustomize_edit`]); [`Edited`] lays the edited file over the repository
//! snapshot, so the rest of the build reads the commit as it is. A directory without a
//! kustomization gets one listing its manifests when the overrides say so, as Flux generates it.

use std::sync::Arc;

use serde_json::json;

use super::SharedFiles;
use super::files::{Files, Kind, ReadError};
use super::sourceignore::SourceIgnore;
use crate::config::{KustomizeOverrides, SourceIgnoreConfig};
use crate::core::kustomize_edit::{EditError, Edits, edit_kustomization};

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
    #[error(transparent)]
    Edit(#[from] EditError),
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
        if path == self.path {
            return Some(Kind::File);
        }
        self.inner.kind(path)
    }

    fn files_below(&self, dir: &str) -> Option<Vec<String>> {
        let mut files = self.inner.files_below(dir)?;
        if !files.contains(&self.path) && (dir.is_empty() || self.path.starts_with(&format!("{dir}/"))) {
            files.push(self.path.clone());
            files.sort();
        }
        Some(files)
    }

    fn identity(&self, path: &str) -> Option<String> {
        if path == self.path {
            use sha2::Digest as _;
            return Some(format!("edited {:x}", sha2::Sha256::digest(&self.content)));
        }
        self.inner.identity(path)
    }
}

/// Whether `o` would leave the kustomization of `dir` as it is: only Flux's `generate`, and
/// `dir` has a kustomization.
pub fn adds_nothing(files: &dyn Files, dir: &str, o: &KustomizeOverrides) -> bool {
    let bare = KustomizeOverrides {
        generate: false,
        merge_images: false,
        ignore_missing_components: false,
        source_ignore: None,
        ..o.clone()
    };
    bare == KustomizeOverrides::default()
        && NAMES.iter().any(|n| {
            let p = if dir.is_empty() {
                (*n).to_string()
            } else {
                format!("{dir}/{n}")
            };
            files.kind(&p) == Some(Kind::File)
        })
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
    let found = NAMES
        .iter()
        .map(|n| join(n))
        .find(|p| files.kind(p) == Some(Kind::File));
    let (path, doc) = match found {
        Some(path) => {
            let bytes = files.read(&path)?;
            let text = String::from_utf8(bytes).map_err(|_| OverrideError::NotUtf8 { path: path.clone() })?;
            let (docs, err) = safe_yaml::documents(&text);
            if let Some(source) = err {
                return Err(OverrideError::Yaml { path, source });
            }
            (path, docs.into_iter().next().unwrap_or_else(|| json!({})))
        }
        None if o.generate => (join(NAMES[0]), generated(files.as_ref(), dir, o.source_ignore.as_ref())),
        None => return Err(OverrideError::NoKustomization { dir: dir.to_string() }),
    };
    // Flux's `ignoreMissingComponents`: only the components that are there.
    let components: Vec<String> = o
        .components
        .iter()
        .filter(|c| {
            !o.ignore_missing_components
                || kustomize::files::join(dir, c).is_ok_and(|p| files.kind(&p) == Some(Kind::Dir))
        })
        .cloned()
        .collect();
    let edits = Edits {
        images: &o.images,
        name_prefix: o.name_prefix.as_deref(),
        name_suffix: o.name_suffix.as_deref(),
        namespace: o.namespace.as_deref(),
        common_labels: &o.common_labels,
        common_annotations: &o.common_annotations,
        patches: &o.patches,
        replicas: &o.replicas,
        components: &components,
        merge_images: o.merge_images,
        patches_strategic_merge: &o.patches_strategic_merge,
        patches_json6902: &o.patches_json6902,
    };
    let edited = edit_kustomization(doc, &edits)?;
    Ok(Arc::new(Edited {
        inner: files.clone(),
        path,
        // JSON is YAML: the built-in renderer reads it as the file it replaces.
        content: edited.to_string().into_bytes(),
    }))
}

/// The kustomization Flux writes for a directory that has none: every directory below it that
/// holds a kustomization (not looked into further), and every other `.yaml`/`.yml` file that is
/// a Kubernetes object (has `apiVersion` and `kind`), in path order; of the files the source's
/// artifact holds (not those source-controller leaves out, when `ignore` says what it does).
fn generated(files: &dyn Files, dir: &str, ignore: Option<&SourceIgnoreConfig>) -> serde_json::Value {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut below = files.files_below(dir).unwrap_or_default();
    if let Some(config) = ignore {
        let ignore = SourceIgnore::load(files, dir, &below, config.spec_ignore.as_deref());
        below.retain(|f| !ignore.excludes(f));
    }
    let rel: Vec<&str> = below.iter().filter_map(|f| f.strip_prefix(&prefix)).collect();
    // Directories below `dir` that hold a kustomization, the topmost of each branch.
    let mut bases: Vec<String> = Vec::new();
    for f in &rel {
        let Some((parent, name)) = f.rsplit_once('/') else {
            continue;
        };
        if NAMES.contains(&name)
            && !bases
                .iter()
                .any(|b| parent.starts_with(&format!("{b}/")) || parent == b)
        {
            bases.retain(|b| !b.starts_with(&format!("{parent}/")));
            bases.push(parent.to_string());
        }
    }
    let mut resources: Vec<String> = Vec::new();
    for f in &rel {
        if bases.iter().any(|b| f.starts_with(&format!("{b}/"))) || !(f.ends_with(".yaml") || f.ends_with(".yml")) {
            continue;
        }
        let text = files
            .read(&format!("{prefix}{f}"))
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (docs, _) = safe_yaml::documents(&text);
        if docs
            .iter()
            .any(|d| d["apiVersion"].is_string() && d["kind"].is_string())
        {
            resources.push((*f).to_string());
        }
    }
    resources.extend(bases);
    resources.sort();
    json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::render::files::DirFiles;

    fn write(root: &std::path::Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    /// Flux's generated kustomization: the manifests below the directory, and the directories
    /// holding a kustomization as bases (not their files); what is not a Kubernetes object is
    /// left out. The overrides are then applied to it.
    #[test]
    fn a_directory_without_a_kustomization_gets_the_one_flux_generates() {
        let dir = tempfile::tempdir().unwrap();
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";
        write(
            dir.path(),
            &[
                ("apps/web.yaml", deploy),
                ("apps/nested/api.yml", deploy),
                ("apps/values.yaml", "replicas: 2\n"),
                ("apps/README.md", "# not yaml\n"),
                ("apps/base/kustomization.yaml", "resources: [deploy.yaml]\n"),
                ("apps/base/deploy.yaml", deploy),
            ],
        );
        let files: SharedFiles = Arc::new(DirFiles::new(dir.path()));
        let o = KustomizeOverrides {
            namespace: Some("shop".into()),
            components: vec!["../components/tls".into()],
            generate: true,
            ..KustomizeOverrides::default()
        };
        let edited = edit(&files, "apps", &o).unwrap();
        assert_eq!(edited.kind("apps/kustomization.yaml"), Some(Kind::File));
        let text = String::from_utf8(edited.read("apps/kustomization.yaml").unwrap()).unwrap();
        let k: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(k["resources"], json!(["base", "nested/api.yml", "web.yaml"]));
        assert_eq!(k["namespace"], "shop");
        assert_eq!(k["components"], json!(["../components/tls"]));
        assert!(
            edited
                .files_below("apps")
                .unwrap()
                .contains(&"apps/kustomization.yaml".to_string()),
            "the generated file is listed with the others"
        );

        let flux_bare = KustomizeOverrides {
            generate: true,
            ..KustomizeOverrides::default()
        };
        assert!(
            adds_nothing(files.as_ref(), "apps/base", &flux_bare),
            "a kustomization and nothing to add: built as it is, by any engine"
        );
        assert!(
            !adds_nothing(files.as_ref(), "apps", &flux_bare),
            "no kustomization: one is generated"
        );
        assert!(!adds_nothing(files.as_ref(), "apps/base", &o), "a namespace to set");
        let argo = KustomizeOverrides { generate: false, ..o };
        assert!(
            matches!(edit(&files, "apps", &argo), Err(OverrideError::NoKustomization { .. })),
            "Argo CD's overrides need a kustomization"
        );
    }
}
