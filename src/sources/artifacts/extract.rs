//! A layer's tar.gz unpacked into a fresh directory, refusing what could reach outside it or is
//! not a file of manifests: absolute paths, `..`, hard links, devices and FIFOs are an error;
//! symbolic links are skipped, as source-controller skips them (so nothing read can point
//! outside); the unpacked size and the number of entries are bounded.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

/// The most an artifact's files may take unpacked.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The most entries an artifact may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// Why a layer could not be unpacked. Names the entry, never its content.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("not a readable tar.gz: {0}")]
    Corrupt(#[source] std::io::Error),
    #[error("entry {0:?} is an absolute path")]
    Absolute(String),
    #[error("entry {0:?} leaves the artifact's directory")]
    Escapes(String),
    #[error("entry {entry:?} is a {kind}, which an artifact of manifests does not hold")]
    Kind { entry: String, kind: &'static str },
    #[error("holds more than {MAX_BYTES} bytes unpacked")]
    TooLarge,
    #[error("holds more than {MAX_ENTRIES} entries")]
    TooMany,
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Unpacks the tar.gz `bytes` into `dir` (which exists and is empty), within `max_bytes`.
pub fn unpack(bytes: &[u8], dir: &Path, max_bytes: u64) -> Result<(), ExtractError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut total: u64 = 0;
    let entries = archive.entries().map_err(ExtractError::Corrupt)?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(ExtractError::TooMany);
        }
        let mut entry = entry.map_err(ExtractError::Corrupt)?;
        let raw = entry.path().map_err(ExtractError::Corrupt)?.into_owned();
        let name = raw.display().to_string();
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {}
            T::Directory => {
                let to = dir.join(inside(&raw, &name)?);
                std::fs::create_dir_all(&to).map_err(|source| write_error(&name, source))?;
                continue;
            }
            // source-controller skips them: a link can then point nowhere outside.
            T::Symlink => continue,
            // Metadata of the entries that follow, read by the tar crate itself.
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
            T::Link => return Err(kind_error(name, "hard link")),
            T::Char | T::Block => return Err(kind_error(name, "device file")),
            T::Fifo => return Err(kind_error(name, "FIFO")),
            _ => return Err(kind_error(name, "special entry")),
        }
        let to = dir.join(inside(&raw, &name)?);
        total = total.saturating_add(entry.header().size().map_err(ExtractError::Corrupt)?);
        if total > max_bytes {
            return Err(ExtractError::TooLarge);
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|source| write_error(&name, source))?;
        }
        let mut content = Vec::new();
        // The header's size may lie: never read past the bound.
        (&mut entry)
            .take(max_bytes + 1)
            .read_to_end(&mut content)
            .map_err(ExtractError::Corrupt)?;
        if content.len() as u64 > max_bytes {
            return Err(ExtractError::TooLarge);
        }
        std::fs::write(&to, &content).map_err(|source| write_error(&name, source))?;
    }
    Ok(())
}

/// `raw` as a path below the directory: `.` dropped; absolute paths and `..` refused.
fn inside(raw: &Path, name: &str) -> Result<PathBuf, ExtractError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(ExtractError::Escapes(name.to_string())),
            Component::RootDir | Component::Prefix(_) => return Err(ExtractError::Absolute(name.to_string())),
        }
    }
    Ok(out)
}

fn kind_error(entry: String, kind: &'static str) -> ExtractError {
    ExtractError::Kind { entry, kind }
}

fn write_error(name: &str, source: std::io::Error) -> ExtractError {
    ExtractError::Write {
        path: name.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar.gz of `entries` (name, type, content or link target), headers written raw so
    /// hostile names reach the archive as they are.
    fn archive(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, kind, content) in entries {
            let mut h = tar::Header::new_gnu();
            {
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name = [0; 100];
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            }
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink || *kind == tar::EntryType::Link {
                h.set_link_name(content).unwrap();
                h.set_size(0);
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            } else {
                h.set_size(content.len() as u64);
                h.set_cksum();
                b.append(&h, content.as_bytes()).unwrap();
            }
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    use tar::EntryType as T;

    #[test]
    fn files_and_directories_are_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = archive(&[
            ("./", T::Directory, ""),
            ("./apps/", T::Directory, ""),
            ("./apps/web.yaml", T::Regular, "kind: Deployment\n"),
            ("top.yaml", T::Regular, "kind: Service\n"),
        ]);
        unpack(&bytes, dir.path(), MAX_BYTES).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("apps/web.yaml")).unwrap(),
            "kind: Deployment\n"
        );
        assert!(dir.path().join("top.yaml").is_file());
    }

    #[test]
    fn hostile_entries_are_refused_and_name_the_entry() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("owned");
        let cases: Vec<(&str, Vec<u8>, String)> = vec![
            (
                "absolute",
                archive(&[(target.to_str().unwrap(), T::Regular, "x")]),
                format!("entry {:?} is an absolute path", target.display().to_string()),
            ),
            (
                "parent",
                archive(&[("apps/../../owned", T::Regular, "x")]),
                "entry \"apps/../../owned\" leaves the artifact's directory".into(),
            ),
            (
                "hard link",
                archive(&[("passwd", T::Link, "/etc/passwd")]),
                "entry \"passwd\" is a hard link".into(),
            ),
            (
                "device",
                archive(&[("null", T::Char, "")]),
                "entry \"null\" is a device file".into(),
            ),
            (
                "fifo",
                archive(&[("pipe", T::Fifo, "")]),
                "entry \"pipe\" is a FIFO".into(),
            ),
            (
                "not gzip",
                b"apiVersion: v1\nkind: List\n".to_vec(),
                "not a readable tar.gz".into(),
            ),
        ];
        for (what, bytes, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let err = unpack(&bytes, dir.path(), MAX_BYTES).unwrap_err().to_string();
            assert!(err.starts_with(&want), "{what}: {err}");
            assert!(!target.exists(), "{what}: nothing written outside");
        }
    }

    #[test]
    fn symbolic_links_are_skipped_so_nothing_points_outside() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = archive(&[
            ("etc", T::Symlink, "/etc"),
            ("up", T::Symlink, "../.."),
            ("web.yaml", T::Regular, "kind: Deployment\n"),
        ]);
        unpack(&bytes, dir.path(), MAX_BYTES).unwrap();
        assert!(std::fs::symlink_metadata(dir.path().join("etc")).is_err());
        assert!(std::fs::symlink_metadata(dir.path().join("up")).is_err());
        assert!(dir.path().join("web.yaml").is_file());
    }

    #[test]
    fn a_truncated_or_oversized_archive_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let whole = archive(&[("web.yaml", T::Regular, &"x".repeat(4096))]);
        let err = unpack(&whole[..whole.len() / 2], dir.path(), MAX_BYTES).unwrap_err();
        assert!(matches!(err, ExtractError::Corrupt(_)), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(&whole, dir.path(), 1000).unwrap_err();
        assert!(matches!(err, ExtractError::TooLarge), "{err}");
    }
}
