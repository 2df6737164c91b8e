//! The plain renderer: the YAML and JSON files of a path (a file, or every manifest file below a
//! directory, hidden folders skipped), as they are.

use std::path::{Path, PathBuf};

use super::{RenderError, Rendered, Unreadable, relative};
use crate::core::paths::is_hidden;

/// The text of every manifest file of `path`, in file-name order. A file that cannot be read
/// or is not UTF-8 is that file's problem (an `invalid-manifest` naming it); every other file
/// of the path is still read.
pub async fn render(root: &Path, path: &Path, rel: &str) -> Result<Vec<Rendered>, RenderError> {
    let files = manifest_files(path).map_err(|e| RenderError::Io {
        path: rel.into(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    for file in files {
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
