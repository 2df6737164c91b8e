//! OCI artifacts of files (a Flux `OCIRepository`'s, what `flux push artifact` writes): the
//! manifest at a tag or digest, the layer its media type selects (else the first, as
//! source-controller picks), downloaded through the registry client and its auth, verified
//! against its digest and unpacked ([`extract`]) into a directory named by that digest, which
//! the renderers read as they read a checkout. An unpacked layer is never unpacked again; the
//! least recently used beyond [`MAX_KEPT`] are removed.

pub mod extract;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{ArtifactAt, ArtifactRef, Config};
use crate::core::image::ImageRef;
use crate::core::model::Lookup;
use crate::sources::registry::{Registry, RegistryClient, RegistryError};

/// The most a layer may weigh compressed.
pub const MAX_LAYER_BYTES: u64 = 64 * 1024 * 1024;
/// Unpacked artifacts kept on disk.
pub const MAX_KEPT: usize = 32;

/// Why an artifact could not be read. Every variant names the artifact; none carries a
/// credential (the registry client's reasons never do).
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("OCI artifact {artifact}: {reason}")]
    Unavailable { artifact: String, reason: String },
    #[error("OCI artifact {artifact}: no such tag or digest in {registry}")]
    NotFound { artifact: String, registry: String },
    #[error("OCI artifact {artifact}: {reason}")]
    Invalid { artifact: String, reason: String },
    #[error("OCI artifact {artifact}: {source}")]
    Layer {
        artifact: String,
        #[source]
        source: NoLayer,
    },
    #[error("OCI artifact {artifact}: layer {layer}: {source}")]
    Extract {
        artifact: String,
        layer: String,
        #[source]
        source: extract::ExtractError,
    },
    #[error("OCI artifact {artifact}: cannot keep it in {dir}: {source}")]
    Store {
        artifact: String,
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("OCI artifact {artifact}: registry client: {source}")]
    Client {
        artifact: String,
        #[source]
        source: Arc<RegistryError>,
    },
}

/// An artifact on disk: the manifest's digest, the layer's, and the directory it is unpacked
/// in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pulled {
    pub manifest: String,
    pub layer: String,
    pub dir: PathBuf,
}

/// What lasts across audits: the registry client for artifacts and where they are unpacked.
pub struct Artifacts {
    registry: Result<RegistryClient, Arc<RegistryError>>,
    dir: Result<PathBuf, Arc<std::io::Error>>,
    /// Keeps the process's own directory alive when none is configured.
    _temp: Option<tempfile::TempDir>,
}

impl Artifacts {
    /// A client for `cfg`'s registries (and, anonymously over https, the hosts of artifacts
    /// none covers), unpacking under `dir` (a directory of the process's own when `None`).
    pub fn new(cfg: &Config, dir: Option<PathBuf>) -> Self {
        let hosts = cfg
            .environments
            .iter()
            .flat_map(|e| &e.paths)
            .filter_map(|p| p.artifact.as_ref())
            .filter_map(|a| a.repository.split('/').next());
        let registries = crate::sources::registry::with_anonymous(&cfg.registries, hosts);
        let registry = RegistryClient::new(&registries, Arc::default()).map_err(Arc::new);
        let (dir, temp) = match dir {
            Some(d) => (Ok(d), None),
            None => match tempfile::Builder::new().prefix("driftwatch-artifacts-").tempdir() {
                Ok(t) => (Ok(t.path().to_path_buf()), Some(t)),
                Err(e) => (Err(Arc::new(e)), None),
            },
        };
        Self {
            registry,
            dir,
            _temp: temp,
        }
    }

    /// The registry as one audit asks it (tokens shared by its pulls), or why there is none.
    pub fn session(&self) -> Result<Registry<'_>, Arc<RegistryError>> {
        self.registry.as_ref().map(RegistryClient::audit).map_err(Arc::clone)
    }

    /// `a` pulled through `registry` and unpacked (or found unpacked).
    pub async fn pull(&self, registry: &Registry<'_>, a: &ArtifactRef) -> Result<Pulled, ArtifactError> {
        let artifact = a.to_string();
        let invalid = |reason: String| ArtifactError::Invalid {
            artifact: artifact.clone(),
            reason,
        };
        let image = ImageRef::parse(&a.repository).map_err(|e| invalid(e.to_string()))?;
        let unavailable = |reason: String| ArtifactError::Unavailable {
            artifact: artifact.clone(),
            reason,
        };
        let reference = match &a.at {
            ArtifactAt::Tag(t) => t.as_str(),
            ArtifactAt::Digest(d) => d.as_str(),
        };
        let (body, manifest) = match registry.manifest_body(&image, reference).await {
            Lookup::Found(found) => found,
            Lookup::NotFound => {
                return Err(ArtifactError::NotFound {
                    artifact: artifact.clone(),
                    registry: image.registry().to_string(),
                });
            }
            Lookup::Unavailable(reason) => return Err(unavailable(reason)),
        };
        let (layer, size) = select_layer(&body, a.media_type.as_deref()).map_err(|source| ArtifactError::Layer {
            artifact: artifact.clone(),
            source,
        })?;
        if size > MAX_LAYER_BYTES {
            return Err(invalid(format!(
                "layer {layer} weighs {size} bytes, more than the {MAX_LAYER_BYTES} read"
            )));
        }
        let store = self.dir.as_ref().map_err(|e| ArtifactError::Store {
            artifact: artifact.clone(),
            dir: "(none)".into(),
            source: std::io::Error::new(e.kind(), e.to_string()),
        })?;
        let dir = store.join(layer.trim_start_matches("sha256:"));
        if dir.is_dir() {
            touch(&dir);
            return Ok(Pulled { manifest, layer, dir });
        }
        let bytes = match registry.blob(&image, &layer).await {
            Lookup::Found(b) => b,
            Lookup::NotFound => return Err(invalid(format!("layer {layer} is missing from the registry"))),
            Lookup::Unavailable(reason) => return Err(unavailable(reason)),
        };
        if bytes.len() as u64 > MAX_LAYER_BYTES {
            return Err(invalid(format!(
                "layer {layer} is larger than the {MAX_LAYER_BYTES} bytes read"
            )));
        }
        unpack_into(store, &dir, &bytes).map_err(|e| match e {
            Unpack::Extract(source) => ArtifactError::Extract {
                artifact: artifact.clone(),
                layer: layer.clone(),
                source,
            },
            Unpack::Store(source) => ArtifactError::Store {
                artifact: artifact.clone(),
                dir: store.display().to_string(),
                source,
            },
        })?;
        Ok(Pulled { manifest, layer, dir })
    }

    /// Removes the least recently used unpacked artifacts beyond [`MAX_KEPT`], and what a
    /// crashed unpack left; after an audit. Another process only sees one vanish, and pulls it
    /// again.
    pub fn prune(&self) {
        let Ok(dir) = &self.dir else { return };
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let now = std::time::SystemTime::now();
        let mut kept = Vec::new();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            let stale = now
                .duration_since(modified)
                .is_ok_and(|age| age > std::time::Duration::from_secs(3600));
            if entry.file_name().to_string_lossy().starts_with(".unpack-") {
                if stale {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            } else if meta.is_dir() {
                kept.push((modified, entry.path()));
            }
        }
        kept.sort();
        let excess = kept.len().saturating_sub(MAX_KEPT);
        for (_, path) in kept.into_iter().take(excess) {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Why a layer could not be put on disk.
enum Unpack {
    Extract(extract::ExtractError),
    Store(std::io::Error),
}

/// Unpacks `bytes` into a temp directory of `store`, then renames it to `dir`, so a reader
/// only ever sees a whole artifact; a concurrent unpack of the same layer that won is as good.
fn unpack_into(store: &Path, dir: &Path, bytes: &[u8]) -> Result<(), Unpack> {
    std::fs::create_dir_all(store).map_err(Unpack::Store)?;
    let temp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(store)
        .map_err(Unpack::Store)?;
    extract::unpack(bytes, temp.path(), extract::MAX_BYTES).map_err(Unpack::Extract)?;
    let temp = temp.keep();
    if let Err(e) = std::fs::rename(&temp, dir) {
        let _ = std::fs::remove_dir_all(&temp);
        if !dir.is_dir() {
            return Err(Unpack::Store(e));
        }
    }
    Ok(())
}

/// Marks `dir` used now: [`Artifacts::prune`] keeps the most recently used.
fn touch(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|f| f.set_modified(std::time::SystemTime::now()));
}

/// Why a manifest has no layer to read.
#[derive(Debug, thiserror::Error)]
pub enum NoLayer {
    #[error("the manifest is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("is an image index, not an artifact's manifest")]
    Index,
    #[error("no layer of media type {media_type} (it has {})", if .has.is_empty() { "no layers".to_string() } else { .has.join(", ") })]
    NoneOfType { media_type: String, has: Vec<String> },
    #[error("the manifest has no layers")]
    Empty,
    #[error("the layer's digest is not sha256:<hex>")]
    Digest,
}

/// The layer of the manifest `body` source-controller would take: the first of `media_type`,
/// else the first; its digest (`sha256:<hex>`) and size.
fn select_layer(body: &[u8], media_type: Option<&str>) -> Result<(String, u64), NoLayer> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(NoLayer::NotJson)?;
    if json["manifests"].is_array() {
        return Err(NoLayer::Index);
    }
    let layers = json["layers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let layer = match media_type {
        Some(m) => layers
            .iter()
            .find(|l| l["mediaType"] == m)
            .ok_or_else(|| NoLayer::NoneOfType {
                media_type: m.to_string(),
                has: layers
                    .iter()
                    .filter_map(|l| l["mediaType"].as_str().map(str::to_string))
                    .collect(),
            })?,
        None => layers.first().ok_or(NoLayer::Empty)?,
    };
    let digest = layer["digest"]
        .as_str()
        .filter(|d| crate::config::is_sha256(d))
        .ok_or(NoLayer::Digest)?;
    Ok((digest.to_string(), layer["size"].as_u64().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLUX: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

    #[test]
    fn the_layer_source_controller_would_take() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let manifest = serde_json::json!({"schemaVersion": 2,
            "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json"},
            "layers": [{"mediaType": "text/plain", "digest": a, "size": 3},
                       {"mediaType": FLUX, "digest": b, "size": 7}]})
        .to_string();
        let body = manifest.as_bytes();
        let chosen = |media_type: Option<&str>| select_layer(body, media_type).map_err(|e| e.to_string());
        assert_eq!(chosen(None), Ok((a.clone(), 3)), "the first without a selector");
        assert_eq!(chosen(Some(FLUX)), Ok((b, 7)));
        assert_eq!(
            chosen(Some("application/x-other")),
            Err(format!(
                "no layer of media type application/x-other (it has text/plain, {FLUX})"
            ))
        );
        let said = |body: &[u8]| select_layer(body, None).map_err(|e| e.to_string());
        assert_eq!(said(br#"{"layers": []}"#), Err("the manifest has no layers".into()));
        assert_eq!(
            said(br#"{"manifests": []}"#),
            Err("is an image index, not an artifact's manifest".into())
        );
    }
}
