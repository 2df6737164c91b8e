//! Files in: a `.tgz` chart archive (pure, from bytes) or a chart directory (the crate's only IO),
//! as Helm's loaders read them.
//!
//! - Archive: gzip then tar; the first path component (the chart's directory) is dropped;
//!   directories and pax headers skipped; absolute paths, `..`, drive letters and a `Chart.yaml`
//!   outside the top directory refused; a UTF-8 BOM dropped; `.helmignore` *not* applied
//!   (as Helm).
//! - Directory: walked in lexical order (symlinks followed), `.helmignore` applied (ignored
//!   directories skip their contents), a UTF-8 BOM dropped.

use std::io::Read as _;
use std::path::Path;

use super::ignore::Rules;
use super::{Chart, ChartError, File, load_files};

const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];
const MAX_CHART: u64 = 100 * 1024 * 1024;
const MAX_FILE: u64 = 5 * 1024 * 1024;

fn strip_bom(mut data: Vec<u8>) -> Vec<u8> {
    if data.starts_with(BOM) {
        data.drain(..3);
    }
    data
}

/// The files of a `.tgz` chart archive (Helm's `LoadArchiveFiles`).
///
/// # Errors
/// [`ChartError::Archive`] with Helm's wording.
pub fn archive_files(bytes: &[u8]) -> Result<Vec<File>, ChartError> {
    let err = |m: &str| ChartError::Archive(m.to_string());
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(err("gzip: invalid header"));
    }
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = Vec::new();
    let mut remaining = MAX_CHART;
    for entry in tar.entries().map_err(|e| ChartError::Archive(e.to_string()))? {
        let mut entry = entry.map_err(|e| ChartError::Archive(e.to_string()))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = archive_name(&raw)? else { continue };
        let size = entry.header().size().unwrap_or(0);
        if size > remaining {
            return Err(ChartError::Archive(format!(
                "decompressed chart is larger than the maximum size {MAX_CHART}"
            )));
        }
        if size > MAX_FILE {
            return Err(ChartError::Archive(format!(
                "decompressed chart file {raw:?} is larger than the maximum file size {MAX_FILE}"
            )));
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| ChartError::Archive(e.to_string()))?;
        remaining = remaining.saturating_sub(data.len() as u64);
        files.push(File {
            name,
            data: strip_bom(data),
        });
    }
    if files.is_empty() {
        return Err(err("no files in chart archive"));
    }
    Ok(files)
}

/// An archive entry's chart-relative name; `Err` for names Helm refuses.
fn archive_name(raw: &str) -> Result<Option<String>, ChartError> {
    let err = |m: String| Err(ChartError::Archive(m));
    let delimiter = if raw.contains('\\') { '\\' } else { '/' };
    let parts: Vec<&str> = raw.split(delimiter).collect();
    if parts[0] == "Chart.yaml" {
        return err("chart yaml not in base directory".into());
    }
    let joined = parts[1..].join("/");
    if joined.starts_with('/') {
        return err("chart illegally contains absolute paths".into());
    }
    let cleaned = clean_path(&joined);
    if cleaned == "." {
        return err(format!(
            "chart illegally contains content outside the base directory: {raw:?}"
        ));
    }
    if cleaned.starts_with("..") {
        return err("chart illegally references parent directory".into());
    }
    let b = cleaned.as_bytes();
    if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
        return err("chart contains illegally named files".into());
    }
    Ok(Some(cleaned))
}

/// Go's `path.Clean` for relative paths.
fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.is_empty() { ".".into() } else { out.join("/") }
}

/// Helm's `LoadArchive`: a chart from `.tgz` bytes.
///
/// # Errors
/// As [`archive_files`] and [`load_files`].
pub fn load_archive(bytes: &[u8]) -> Result<Chart, ChartError> {
    load_files(archive_files(bytes)?)
}

/// The files of a chart directory as Helm's `LoadDir` keeps them (`.helmignore` applied).
///
/// # Errors
/// [`ChartError::Io`] when reading fails, [`ChartError::Ignore`] for a bad `.helmignore`.
pub fn read_dir(dir: &Path) -> Result<Vec<File>, ChartError> {
    let io = |e: std::io::Error| ChartError::Io(e.to_string());
    let rules = match std::fs::read(dir.join(".helmignore")) {
        Ok(text) => Rules::parse(&String::from_utf8_lossy(&text))?,
        Err(_) => Rules::defaults(),
    };
    let mut files = Vec::new();
    walk(dir, "", &rules, &mut files).map_err(io)?;
    Ok(files)
}

/// A chart directory's files as [`read_dir`] reads them from disk, from another listing of them
/// (a git tree, say): `(path relative to the chart directory, bytes)`. `.helmignore` applies,
/// byte order marks are stripped, and the order is the directory walk's.
///
/// # Errors
/// [`ChartError`] for a `.helmignore` Helm refuses.
pub fn dir_files(all: Vec<(String, Vec<u8>)>) -> Result<Vec<File>, ChartError> {
    let rules = match all.iter().find(|(name, _)| name == ".helmignore") {
        Some((_, text)) => Rules::parse(&String::from_utf8_lossy(text))?,
        None => Rules::defaults(),
    };
    let mut files: Vec<File> = all
        .into_iter()
        .filter(|(name, _)| !rules.ignore_file(name))
        .map(|(name, data)| File {
            name,
            data: strip_bom(data),
        })
        .collect();
    // The walk's order: each directory's entries by name, a directory's files where it sorts.
    files.sort_by(|a, b| a.name.split('/').cmp(b.name.split('/')));
    Ok(files)
}

fn walk(dir: &Path, rel: &str, rules: &Rules, out: &mut Vec<File>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let meta = std::fs::metadata(entry.path())?;
        if meta.is_dir() {
            if !rules.ignore(&path, true) {
                walk(&entry.path(), &path, rules, out)?;
            }
            continue;
        }
        if rules.ignore(&path, false) {
            continue;
        }
        out.push(File {
            name: path,
            data: strip_bom(std::fs::read(entry.path())?),
        });
    }
    Ok(())
}

/// Loads a chart from a directory or a `.tgz` file on disk, as `helm template NAME PATH` does.
///
/// # Errors
/// [`ChartError`] for IO or what Helm refuses.
pub fn load_path(path: &Path) -> Result<Chart, ChartError> {
    if path.is_dir() {
        return load_files(read_dir(path)?);
    }
    let bytes = std::fs::read(path).map_err(|e| ChartError::Io(e.to_string()))?;
    load_archive(&bytes)
}
