//! Charts from an OCI registry (`oci://host/path/name`), through the registry client and its
//! auth: the tag Helm would pick for a version range (tags carry `_` for semver's `+`), the
//! manifest (config `application/vnd.cncf.helm.config.v1+json`), and its chart layer,
//! verified against the layer's digest.

use helm::semver::{Constraints, Version};

use super::store::sha256;
use super::{ChartError, Fetched, Session};
use crate::core::image::ImageRef;
use crate::core::model::Lookup;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// What charts pushed by Helm before 3.7 carry.
const LEGACY_CHART_MEDIA_TYPE: &str = "application/tar+gzip";

/// The chart at `reference` (`host/path/name`) in the version `wanted` picks, on disk and
/// verified.
pub async fn fetch(session: &Session<'_>, reference: &str, wanted: Option<&str>) -> Result<Fetched, ChartError> {
    let chart = format!("oci://{reference}");
    let invalid = |reason: String| ChartError::Invalid {
        chart: chart.clone(),
        reason,
    };
    let image = ImageRef::parse(reference).map_err(|e| invalid(e.to_string()))?;
    let registry = match (&session.registry, &session.charts.registry) {
        (Some(r), _) => r,
        (None, Err(source)) => {
            return Err(ChartError::Setup {
                chart: chart.clone(),
                source: source.clone(),
            });
        }
        (None, Ok(_)) => unreachable!("a session has the registry client's audit view"),
    };
    let unavailable = |reason: String| ChartError::Unreachable {
        chart: chart.clone(),
        url: format!("oci://{}", image.registry()),
        reason,
    };
    let tags = match registry.tags(&image).await {
        Lookup::Found(tags) => tags,
        Lookup::NotFound => return Err(invalid(format!("no such repository in {}", image.registry()))),
        Lookup::Unavailable(reason) => return Err(unavailable(reason)),
    };
    let tag = pick(&tags, wanted).ok_or_else(|| ChartError::NoVersion {
        chart: chart.clone(),
        url: format!("oci://{}", image.registry()),
        wanted: wanted.unwrap_or("any release").to_string(),
        available: if tags.is_empty() {
            "no tags".into()
        } else {
            tags.join(", ")
        },
    })?;
    let version = tag.replace('_', "+");
    let (manifest, _) = match registry.manifest_body(&image, &tag).await {
        Lookup::Found(m) => m,
        Lookup::NotFound => return Err(invalid(format!("tag {tag} has no manifest"))),
        Lookup::Unavailable(reason) => return Err(unavailable(reason)),
    };
    let layer = chart_layer(&manifest).map_err(|e| invalid(format!("{tag}: {}", crate::error_chain(&e))))?;
    let name = image.repository().rsplit('/').next().unwrap_or_default().to_string();
    let store = &session.charts.store;
    if let Some(archive) = store.get(&name, &version, &layer) {
        return Ok(fetched(name, version, layer, archive));
    }
    let bytes = match registry.blob(&image, &layer).await {
        Lookup::Found(b) => b,
        Lookup::NotFound => return Err(invalid(format!("{tag}: the chart layer {layer} is missing"))),
        Lookup::Unavailable(reason) => return Err(unavailable(reason)),
    };
    // The client checked it already; a store never holds what it was not verified as.
    debug_assert_eq!(sha256(&bytes), layer);
    let archive = store.put(&name, &version, &layer, &bytes)?;
    Ok(fetched(name, version, layer, archive))
}

fn fetched(name: String, version: String, digest: String, archive: std::path::PathBuf) -> Fetched {
    Fetched {
        name,
        version,
        digest,
        archive,
    }
}

/// Helm's `GetTagMatchingVersionOrConstraint`: the tag equal to `wanted`, else the highest
/// tag whose version (`_` read as `+`) meets it as a range (`*` when `None`).
fn pick(tags: &[String], wanted: Option<&str>) -> Option<String> {
    if let Some(w) = wanted
        && let Some(exact) = tags.iter().find(|t| *t == w || t.replace('_', "+") == w)
    {
        return Some(exact.clone());
    }
    let range = Constraints::parse(wanted.unwrap_or("*")).ok()?;
    let mut versions: Vec<(Version, &String)> = tags
        .iter()
        .filter_map(|t| Version::parse(&t.replace('_', "+")).ok().map(|v| (v, t)))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions
        .into_iter()
        .find(|(v, _)| range.check(v))
        .map(|(_, t)| t.clone())
}

/// Why a manifest is not a Helm chart's.
#[derive(Debug, thiserror::Error)]
enum NotAChart {
    #[error("the manifest is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("not a Helm chart (its config is {0:?}, not {CONFIG_MEDIA_TYPE})")]
    Config(String),
    #[error("no {CHART_MEDIA_TYPE} layer with a sha256 digest")]
    NoLayer,
}

/// The digest of a Helm chart manifest's chart layer.
fn chart_layer(manifest: &[u8]) -> Result<String, NotAChart> {
    let json: serde_json::Value = serde_json::from_slice(manifest).map_err(NotAChart::Json)?;
    let config = json["config"]["mediaType"].as_str().unwrap_or_default();
    if config != CONFIG_MEDIA_TYPE {
        return Err(NotAChart::Config(config.to_string()));
    }
    json["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| {
            matches!(
                l["mediaType"].as_str(),
                Some(CHART_MEDIA_TYPE | LEGACY_CHART_MEDIA_TYPE)
            )
        })
        .and_then(|l| l["digest"].as_str())
        .filter(|d| d.starts_with("sha256:"))
        .map(str::to_string)
        .ok_or(NotAChart::NoLayer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_helm_would_pick() {
        let tags: Vec<String> = ["6.5.0", "6.5.4", "6.10.0", "7.0.0-rc.1", "6.5.4_build.2", "latest"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        for (wanted, want) in [
            (None, Some("6.10.0")),
            (Some("6.5.x"), Some("6.5.4")),
            (Some("6.5.0"), Some("6.5.0")),
            (Some("6.5.4+build.2"), Some("6.5.4_build.2")),
            (Some("latest"), Some("latest")),
            (Some("^8"), None),
        ] {
            assert_eq!(pick(&tags, wanted).as_deref(), want, "{wanted:?}");
        }
    }

    #[test]
    fn only_a_helm_chart_manifest_has_a_chart_layer() {
        let chart = format!(
            r#"{{"config": {{"mediaType": "{CONFIG_MEDIA_TYPE}"}}, "layers": [{{"mediaType": "{CHART_MEDIA_TYPE}", "digest": "sha256:ab"}}]}}"#
        );
        assert_eq!(chart_layer(chart.as_bytes()).unwrap(), "sha256:ab");
        let image = r#"{"config": {"mediaType": "application/vnd.oci.image.config.v1+json"}, "layers": []}"#;
        assert!(
            chart_layer(image.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("not a Helm chart")
        );
    }
}
