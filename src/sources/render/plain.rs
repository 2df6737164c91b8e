//! The plain renderer: the YAML and JSON files of a path (a file, or every manifest file below a
//! directory, hidden folders skipped), as they are.

use std::path::{Path, PathBuf};

use super::{RenderError, Rendered, relative};
use crate::core::paths::is_hidden;

/// The text of every manifest file of `path`, in file-name order.
pub async fn render(root: &Path, path: &Path, rel: &str) -> Result<Vec<Rendered>, RenderError> {
    let io_err = |path: &str, e: &dyn std::fmt::Display| RenderError::Io {
        path: path.into(),
        reason: e.to_string(),
    };
    let mut out = Vec::new();
    for file in manifest_files(path).map_err(|e| io_err(rel, &e))? {
        let file_rel = relative(root, &file);
        let text = tokio::fs::read_to_string(&file)
            .await
            .map_err(|e| io_err(&file_rel, &e))?;
        out.push(Rendered { file: file_rel, text });
    }
    Ok(out)
}

/// Every `.yaml`, `.yml` and `.json` file below `path` (or `path` itself), sorted, skipping
/// hidden directories such as `.git`.
pub fn manifest_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(&e.file_name().to_string_lossy()));
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
    Ok(files)
}
