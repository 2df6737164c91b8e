//! The plain renderer: the YAML and JSON files of a path (a file, or every manifest file below a
//! directory, hidden folders skipped), as they are.

use std::path::{Path, PathBuf};

use super::{RenderError, Rendered, Unreadable, relative};
use crate::core::paths::is_hidden;

/// A directory below a plain path whose files are another renderer's inputs, not manifests: a
/// Helm chart's templates, a kustomization's patches and plugin configs. It is not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreign {
    Chart,
    Kustomization,
}

impl Foreign {
    /// What `dir` holds, when it is another renderer's.
    pub fn of(dir: &Path) -> Option<Self> {
        if super::kustomize_exec::is_kustomization(dir) {
            Some(Self::Kustomization)
        } else if is_chart(dir) {
            Some(Self::Chart)
        } else {
            None
        }
    }
}

/// A directory holding `Chart.yaml`: a Helm chart, whose `templates/` are not manifests.
pub fn is_chart(dir: &Path) -> bool {
    dir.join("Chart.yaml").is_file()
}

/// The manifest files of a plain path, and the directories below it left unread.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<PathBuf>,
    pub foreign: Vec<(PathBuf, Foreign)>,
}

/// What a plain path holds: its manifest files and the directories below it that belong to
/// another renderer (repository-relative).
pub type Read = (Vec<Rendered>, Vec<(String, Foreign)>);

/// The text of every manifest file of `path`, in file-name order, and the directories below it
/// that belong to another renderer. A file that cannot be read or is not UTF-8 is that file's
/// problem (an `invalid-manifest` naming it); every other file of the path is still read.
pub async fn render(root: &Path, path: &Path, rel: &str) -> Result<Read, RenderError> {
    let walk = walk(path).map_err(|e| RenderError::Io {
        path: rel.into(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for file in walk.files {
        let file_rel = relative(root, &file);
        let content = match tokio::fs::read(&file).await {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| Unreadable::NotUtf8 {
                offset: e.utf8_error().valid_up_to(),
            }),
            Err(e) => Err(Unreadable::Io(e)),
        };
        out.push(Rendered {
            file: file_rel,
            content,
        });
    }
    let foreign = walk.foreign.iter().map(|(d, f)| (relative(root, d), *f)).collect();
    Ok((out, foreign))
}

/// Every `.yaml`, `.yml` and `.json` file below `path` (or `path` itself), sorted, skipping
/// hidden directories such as `.git`.
pub fn manifest_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(walk(path)?.files)
}

/// As [`manifest_files`], also skipping (and naming) the directories below `path` that hold a
/// Helm chart or a kustomization.
pub fn walk(path: &Path) -> std::io::Result<Walk> {
    let mut out = Walk::default();
    let walker = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if is_hidden(&e.file_name().to_string_lossy()) {
                return false;
            }
            if !e.file_type().is_dir() {
                return true;
            }
            match Foreign::of(e.path()) {
                Some(kind) => {
                    out.foreign.push((e.path().to_path_buf(), kind));
                    false
                }
                None => true,
            }
        });
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(std::io::Error::other)?;
        let is_manifest = entry
            .path()
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if entry.file_type().is_file() && is_manifest {
            files.push(entry.into_path());
        }
    }
    out.files = files;
    Ok(out)
}
