//! Where signatures live in a registry, read as the clients write them: the cosign tag scheme
//! (`sha256-<hex>.sig`: simple-signing payload layers; `sha256-<hex>.att`: DSSE envelope
//! layers; each layer's annotations carry the signature, certificate, chain and bundle), and
//! Sigstore bundles among the OCI 1.1 referrers (the API, or its tag-schema fallback).
//! Everything goes through the audit's [`Registry`] (auth, single flight, down registries).

use std::collections::BTreeMap;

use signatures::Evidence;

use crate::core::image::ImageRef;
use crate::core::model::Lookup;
use crate::sources::registry::Registry;
use crate::sources::registry::referrers::fallback_tag;

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// One piece of evidence and where it was found (`…/shop/api:sha256-ab12….sig layer 0`).
#[derive(Clone, Debug)]
pub struct Found {
    pub evidence: Evidence,
    pub origin: String,
}

/// What the registry holds for a set of subject digests; `unavailable` says why some of it
/// could not be read (a verdict without a verified signature is then not `unsigned`).
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub found: Vec<Found>,
    pub unavailable: Option<String>,
}

impl Gathered {
    fn add(&mut self, other: Gathered) {
        self.found.extend(other.found);
        if self.unavailable.is_none() {
            self.unavailable = other.unavailable;
        }
    }

    fn failed(reason: String) -> Self {
        Self {
            found: Vec::new(),
            unavailable: Some(reason),
        }
    }
}

/// Every signature, attestation and bundle of `image`'s repository naming one of `subjects`
/// (the running digest and the indexes that list it).
pub async fn gather(registry: &Registry<'_>, image: &ImageRef, subjects: &[String]) -> Gathered {
    let lookups = subjects.iter().map(|digest| async move {
        let (sig, att, refs) = tokio::join!(
            cosign_tag(registry, image, digest, ".sig", SIMPLE_SIGNING),
            cosign_tag(registry, image, digest, ".att", DSSE_ENVELOPE),
            bundles(registry, image, digest),
        );
        let mut all = sig;
        all.add(att);
        all.add(refs);
        all
    });
    let mut gathered = Gathered::default();
    for part in futures::future::join_all(lookups).await {
        gathered.add(part);
    }
    gathered
}

/// The layers of `media_type` in the cosign tag `<alg>-<hex><suffix>`, each with its blob.
async fn cosign_tag(
    registry: &Registry<'_>,
    image: &ImageRef,
    digest: &str,
    suffix: &str,
    media_type: &str,
) -> Gathered {
    let tag = format!("{}{suffix}", fallback_tag(digest));
    let body = match registry.manifest_body(image, &tag).await {
        Lookup::Found((body, _)) => body,
        Lookup::NotFound => return Gathered::default(),
        Lookup::Unavailable(e) => return Gathered::failed(e),
    };
    let mut gathered = Gathered::default();
    for (n, layer) in layers(&body).into_iter().enumerate() {
        if layer.media_type != media_type {
            continue;
        }
        let origin = format!("{}:{tag} layer {n}", image.name());
        match registry.blob(image, &layer.digest).await {
            Lookup::Found(bytes) => gathered.found.push(Found {
                evidence: match suffix {
                    ".sig" => Evidence::SimpleSigning {
                        payload: bytes,
                        annotations: layer.annotations,
                    },
                    _ => Evidence::Attestation {
                        envelope: bytes,
                        annotations: layer.annotations,
                    },
                },
                origin,
            }),
            Lookup::NotFound => {
                gathered.unavailable = Some(format!("{origin}: blob {} is missing", layer.digest));
            }
            Lookup::Unavailable(e) => gathered.unavailable = Some(e),
        }
    }
    gathered
}

/// The Sigstore bundles among `digest`'s referrers: each referring manifest's bundle layers.
async fn bundles(registry: &Registry<'_>, image: &ImageRef, digest: &str) -> Gathered {
    let referrers = match registry.referrers(image, digest, Some(BUNDLE_V03)).await {
        Lookup::Found(r) => r,
        Lookup::NotFound => return Gathered::default(),
        Lookup::Unavailable(e) => return Gathered::failed(e),
    };
    let mut gathered = Gathered::default();
    for r in &referrers.manifests {
        let body = match registry.manifest_body(image, &r.digest).await {
            Lookup::Found((body, _)) => body,
            Lookup::NotFound => continue,
            Lookup::Unavailable(e) => {
                gathered.unavailable = Some(e);
                continue;
            }
        };
        for layer in layers(&body).into_iter().filter(|l| l.media_type == BUNDLE_V03) {
            let origin = format!("{}@{} ({})", image.name(), r.digest, referrers.via.as_str());
            match registry.blob(image, &layer.digest).await {
                Lookup::Found(json) => gathered.found.push(Found {
                    evidence: Evidence::Bundle { json },
                    origin,
                }),
                Lookup::NotFound => gathered.unavailable = Some(format!("{origin}: blob {} is missing", layer.digest)),
                Lookup::Unavailable(e) => gathered.unavailable = Some(e),
            }
        }
    }
    gathered
}

/// A layer descriptor of a manifest.
#[derive(Debug, PartialEq, Eq)]
struct Layer {
    media_type: String,
    digest: String,
    annotations: BTreeMap<String, String>,
}

/// The layers of an image manifest (none when `body` is not one).
fn layers(body: &[u8]) -> Vec<Layer> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    json["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some(Layer {
                media_type: l["mediaType"].as_str()?.to_string(),
                digest: l["digest"].as_str()?.to_string(),
                annotations: l["annotations"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_with_annotations() {
        let body =
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[
            {"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:aa","size":3,
             "annotations":{"dev.cosignproject.cosign/signature":"MEUC"}}]}"#;
        let l = layers(body);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].media_type, SIMPLE_SIGNING);
        assert_eq!(l[0].annotations["dev.cosignproject.cosign/signature"], "MEUC");
        assert!(layers(b"not json").is_empty());
    }
}
