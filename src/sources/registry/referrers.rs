//! The OCI 1.1 referrers of a manifest: `GET /v2/<name>/referrers/<digest>`, and, where the
//! registry does not serve that API (it answers 404), the tag schema the distribution spec
//! defines for it: an image index tagged `sha256-<hex>` listing the referring manifests.

use super::Registry;
use crate::core::image::ImageRef;
use crate::core::model::Lookup;

/// One manifest that names another as its `subject`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    pub digest: String,
    pub media_type: String,
    /// The descriptor's `artifactType` (empty when the descriptor has none).
    pub artifact_type: String,
}

/// How the referrers were found: evidence names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferrersVia {
    Api,
    TagSchema,
}

impl ReferrersVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "referrers API",
            Self::TagSchema => "referrers tag schema",
        }
    }
}

/// The referrers of one manifest, as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrers {
    pub via: ReferrersVia,
    pub manifests: Vec<Referrer>,
}

impl Registry<'_> {
    /// The manifests of `image`'s repository whose subject is `digest`, of `artifact_type`
    /// (all when `None`). The API is asked first (with the `artifactType` filter, which a
    /// registry may ignore: the list is filtered here too); on 404 the tag `sha256-<hex>`. No
    /// fallback tag either: no referrers (`Found` with none).
    pub async fn referrers(&self, image: &ImageRef, digest: &str, artifact_type: Option<&str>) -> Lookup<Referrers> {
        let what = format!("{}@{digest} referrers", image.name());
        let filter = artifact_type.map_or(String::new(), |t| format!("?artifactType={}", escape(t)));
        let path = format!("referrers/{digest}{filter}");
        let (body, via) = match self.request(image, &path, &what, reqwest::Method::GET).await {
            Lookup::Found((body, _)) => (body, ReferrersVia::Api),
            Lookup::NotFound => match self.manifest_body(image, &fallback_tag(digest)).await {
                Lookup::Found((body, _)) => (body, ReferrersVia::TagSchema),
                Lookup::NotFound => {
                    return Lookup::Found(Referrers {
                        via: ReferrersVia::TagSchema,
                        manifests: Vec::new(),
                    });
                }
                Lookup::Unavailable(e) => return Lookup::Unavailable(e),
            },
            Lookup::Unavailable(e) => return Lookup::Unavailable(e),
        };
        match parse_index(&body, artifact_type) {
            Some(manifests) => Lookup::Found(Referrers { via, manifests }),
            None => Lookup::Unavailable(format!("{what}: the answer is not an image index ({})", via.as_str())),
        }
    }
}

/// The tag the referrers tag schema keeps `digest`'s referrers under: `<alg>-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// Media types hold `+` and `/`, which a query string must escape.
fn escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The descriptors of an image index, of `artifact_type` when given; `None` when `body` is not
/// an index.
fn parse_index(body: &[u8], artifact_type: Option<&str>) -> Option<Vec<Referrer>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let list = json["manifests"].as_array()?;
    Some(
        list.iter()
            .filter_map(|m| {
                Some(Referrer {
                    digest: m["digest"].as_str()?.to_string(),
                    media_type: m["mediaType"].as_str().unwrap_or_default().to_string(),
                    artifact_type: m["artifactType"].as_str().unwrap_or_default().to_string(),
                })
            })
            .filter(|r| artifact_type.is_none_or(|t| r.artifact_type == t))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_tag_replaces_the_first_colon() {
        assert_eq!(fallback_tag("sha256:abc"), "sha256-abc");
    }

    #[test]
    fn index_descriptors_filtered_by_artifact_type() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"artifactType":"application/spdx+json"}]}"#;
        let bundles = parse_index(body, Some("application/vnd.dev.sigstore.bundle.v0.3+json")).unwrap();
        assert_eq!(bundles.len(), 1);
        assert_eq!(bundles[0].digest, "sha256:aa");
        assert_eq!(parse_index(body, None).unwrap().len(), 2);
        assert_eq!(parse_index(b"{\"schemaVersion\":2}", None), None);
    }

    #[test]
    fn artifact_type_is_escaped_in_the_query() {
        assert_eq!(
            escape("application/vnd.dev.sigstore.bundle.v0.3+json"),
            "application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"
        );
    }
}
