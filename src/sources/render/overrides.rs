//! An Argo CD Application's `kustomize` overrides, applied as Argo CD applies them: by editing
//! the path's kustomization before it is built. The edit is pure
//! ([`crate::core::kustomize_edit`]); [`Edited`] lays the edited file over the repository
//! snapshot, so the rest of the build reads the commit as it is.

use std::sync::Arc;

use serde_json::json;

use super::SharedFiles;
use super::files::{Files, Kind, ReadError};
use crate::config::KustomizeOverrides;
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
    let edits = Edits {
        images: &o.images,
        name_prefix: o.name_prefix.as_deref(),
        name_suffix: o.name_suffix.as_deref(),
        namespace: o.namespace.as_deref(),
        common_labels: &o.common_labels,
        common_annotations: &o.common_annotations,
        patches: &o.patches,
        replicas: &o.replicas,
    };
    let edited = edit_kustomization(doc, &edits)?;
    Ok(Arc::new(Edited {
        inner: files.clone(),
        path,
        // JSON is YAML: the built-in renderer reads it as the file it replaces.
        content: edited.to_string().into_bytes(),
    }))
}
