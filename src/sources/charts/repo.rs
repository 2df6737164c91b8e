//! Charts from a Helm repository: `index.yaml`, the version Helm would pick for a range, the
//! `.tgz` it lists, verified against the index's digest. Basic auth and a CA from
//! `[[helm_repositories]]`; credentials are only sent to URLs under the configured prefix.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use helm::semver::{Constraints, Version};
use serde::Deserialize;

use super::store::sha256;
use super::{ChartError, Fetched, Session, SetupError};
use crate::config::{DeliveryConfig, HelmRepositoryConfig};
use crate::error_chain;
use crate::retry::{Attempt, RetryError, with_retries};

/// A Helm repository's `index.yaml`, as far as choosing and fetching a chart needs it.
#[derive(Debug, Default, Deserialize)]
pub struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IndexEntry {
    #[serde(default)]
    version: String,
    /// The SHA-256 of the archive, hex (Helm writes it without a prefix).
    #[serde(default)]
    digest: String,
    #[serde(default)]
    urls: Vec<String>,
}

/// One `[[helm_repositories]]` entry with its HTTP client (which trusts its CA).
pub struct Client {
    cfg: HelmRepositoryConfig,
    http: Result<reqwest::Client, SetupError>,
}

impl Client {
    pub fn new(cfg: &HelmRepositoryConfig) -> Self {
        Self {
            http: http_client(cfg),
            cfg: cfg.clone(),
        }
    }

    /// Whether `url` is under this entry's prefix, on a path boundary
    /// (`https://charts.example.com` covers `…/stable/index.yaml`, not
    /// `https://charts.example.com.evil/`).
    pub fn covers(&self, url: &str) -> bool {
        let prefix = self.cfg.url.trim_end_matches('/');
        url.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    pub fn prefix_len(&self) -> usize {
        self.cfg.url.len()
    }

    /// The client, or why it could not be built (a CA file that does not read).
    pub fn http(&self) -> Result<&reqwest::Client, SetupError> {
        self.http.as_ref().map_err(Clone::clone)
    }
}

/// The HTTP client for a repository: its timeout, and its CA beside the system's.
fn http_client(cfg: &HelmRepositoryConfig) -> Result<reqwest::Client, SetupError> {
    let mut builder = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &cfg.ca_file {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| SetupError::CaFile {
            path: shown.clone(),
            source: Arc::new(e),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| SetupError::Certificate {
            path: shown.clone(),
            source: Arc::new(e),
        })?;
        if certs.is_empty() {
            return Err(SetupError::NoCertificate { path: shown });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| SetupError::Http(Arc::new(e)))
}

/// Why the index entry of a chart gives no archive URL.
#[derive(Debug, thiserror::Error)]
enum ArchiveUrl {
    #[error("the index lists no URL for it")]
    None,
    #[error("{url:?}: {source}")]
    Bad {
        url: String,
        #[source]
        source: url::ParseError,
    },
}

/// `name` at the version `wanted` picks from the repository at `repo`, on disk and verified.
pub async fn fetch(session: &Session<'_>, repo: &str, name: &str, wanted: Option<&str>) -> Result<Fetched, ChartError> {
    let chart = format!("{name} from {}", crate::config::redact_url(repo));
    let index = index(session, repo, &chart).await?;
    let entry = pick(&index, name, wanted).ok_or_else(|| ChartError::NoVersion {
        chart: chart.clone(),
        url: index_url(repo),
        wanted: wanted.unwrap_or("any release").to_string(),
        available: available(index.entries.get(name).map(Vec::as_slice).unwrap_or_default()),
    })?;
    let invalid = |reason: String| ChartError::Invalid {
        chart: format!("{chart} {}", entry.version),
        reason,
    };
    let hex = entry.digest.trim().trim_start_matches("sha256:");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "the index gives no SHA-256 digest for it ({:?}), so it cannot be verified",
            entry.digest
        )));
    }
    let digest = format!("sha256:{}", hex.to_ascii_lowercase());
    let store = &session.charts.store;
    if let Some(archive) = store.get(name, &entry.version, &digest) {
        return Ok(fetched(name, &entry.version, digest, archive));
    }
    let url = archive_url(repo, &entry).map_err(|e| invalid(error_chain(&e)))?;
    let bytes = get(session, &url, &chart).await?;
    let actual = sha256(&bytes);
    if actual != digest {
        return Err(ChartError::Digest {
            chart: name.to_string(),
            version: entry.version.clone(),
            url,
            expected: digest,
            actual,
        });
    }
    let archive = store.put(name, &entry.version, &digest, &bytes)?;
    Ok(fetched(name, &entry.version, digest, archive))
}

fn fetched(name: &str, version: &str, digest: String, archive: std::path::PathBuf) -> Fetched {
    Fetched {
        name: name.to_string(),
        version: version.to_string(),
        digest,
        archive,
    }
}

/// The repository's index, fetched once per session.
async fn index(session: &Session<'_>, repo: &str, chart: &str) -> Result<Arc<Index>, ChartError> {
    let url = index_url(repo);
    session
        .indexes
        .get_or((url.clone(), String::new()), async {
            let bytes = get(session, &url, chart).await?;
            let text = String::from_utf8_lossy(&bytes);
            serde_yaml::from_str::<Index>(&text)
                .map(Arc::new)
                .map_err(|e| ChartError::Refused {
                    chart: chart.to_string(),
                    url: url.clone(),
                    reason: format!("not a Helm repository index: {e}"),
                })
        })
        .await
}

/// `<repo>/index.yaml`, as Helm makes it.
pub fn index_url(repo: &str) -> String {
    format!("{}/index.yaml", repo.trim_end_matches('/'))
}

/// Where the archive of `entry` is: its first URL, relative ones against the repository.
fn archive_url(repo: &str, entry: &IndexEntry) -> Result<String, ArchiveUrl> {
    let first = entry.urls.first().ok_or(ArchiveUrl::None)?;
    if url::Url::parse(first).is_ok() {
        return Ok(first.clone());
    }
    let bad = |source| ArchiveUrl::Bad {
        url: first.clone(),
        source,
    };
    let base = url::Url::parse(&format!("{}/", repo.trim_end_matches('/'))).map_err(bad)?;
    base.join(first).map(String::from).map_err(bad)
}

/// Helm's `IndexFile.Get`: an entry whose version is exactly `wanted`, else the highest
/// whose version meets it as a range (`*`, no prereleases, when `None`).
fn pick(index: &Index, name: &str, wanted: Option<&str>) -> Option<IndexEntry> {
    let entries = index.entries.get(name).map(Vec::as_slice).unwrap_or_default();
    if let Some(w) = wanted
        && let Some(exact) = entries.iter().find(|e| e.version == w)
    {
        return Some(exact.clone());
    }
    let range = Constraints::parse(wanted.unwrap_or("*")).ok()?;
    let mut candidates: Vec<(Version, &IndexEntry)> = entries
        .iter()
        .filter_map(|e| Version::parse(&e.version).ok().map(|v| (v, e)))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    candidates
        .into_iter()
        .find(|(v, _)| range.check(v))
        .map(|(_, e)| e.clone())
}

/// The versions listed, newest first, shortened.
fn available(entries: &[IndexEntry]) -> String {
    if entries.is_empty() {
        return "no such chart".into();
    }
    let mut versions: Vec<&str> = entries.iter().map(|e| e.version.as_str()).collect();
    versions.truncate(10);
    let more = entries.len().saturating_sub(versions.len());
    let tail = if more > 0 {
        format!(", and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", versions.join(", "))
}

/// `GET url` with the repository's credentials (when `url` is under a configured prefix),
/// retried on connection errors, 5xx and 429.
async fn get(session: &Session<'_>, url: &str, chart: &str) -> Result<Vec<u8>, ChartError> {
    let (http, entry) = session.charts.client_for(url).map_err(|source| ChartError::Setup {
        chart: chart.to_string(),
        source,
    })?;
    let policy = DeliveryConfig {
        timeout: entry.map_or(super::DEFAULT_TIMEOUT, |e| e.cfg.timeout),
        max_attempts: 3,
        backoff: Duration::from_millis(500),
        backoff_max: Duration::from_secs(5),
    };
    let unreachable = std::sync::atomic::AtomicBool::new(false);
    let result = with_retries(policy, || attempt(http, entry, url, &unreachable)).await;
    result.map_err(|e| {
        let reason = match e {
            RetryError::GaveUp { reason, .. } | RetryError::Failed(reason) => reason,
            other => other.to_string(),
        };
        if unreachable.load(std::sync::atomic::Ordering::Relaxed) {
            ChartError::Unreachable {
                chart: chart.to_string(),
                url: url.to_string(),
                reason,
            }
        } else {
            ChartError::Refused {
                chart: chart.to_string(),
                url: url.to_string(),
                reason,
            }
        }
    })
}

/// The most an index or a chart archive may be: Helm refuses charts over 100 MiB
/// decompressed, and the largest public indexes are a few tens of MiB.
const MAX_BODY: usize = 100 * 1024 * 1024;

/// The body, refused past [`MAX_BODY`] without reading the rest.
async fn read_bounded(mut resp: reqwest::Response) -> Attempt<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > MAX_BODY => {
                return Attempt::Fail(format!("larger than {} MiB: not read", MAX_BODY / (1024 * 1024)));
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Attempt::Done(body),
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    reason: error_chain(&e.without_url()),
                };
            }
        }
    }
}

async fn attempt(
    http: &reqwest::Client,
    entry: Option<&Client>,
    url: &str,
    unreachable: &std::sync::atomic::AtomicBool,
) -> Attempt<Vec<u8>> {
    let mut req = http.get(url);
    if let Some((user, password)) = entry.and_then(|e| e.cfg.credentials.as_ref()) {
        req = req.basic_auth(user, Some(password.expose()));
    }
    let sent = req.send().await;
    unreachable.store(sent.is_err(), std::sync::atomic::Ordering::Relaxed);
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            return Attempt::Retry {
                after: None,
                reason: error_chain(&e.without_url()),
            };
        }
    };
    let status = resp.status();
    if status.is_success() {
        return read_bounded(resp).await;
    }
    let reason = match status.as_u16() {
        401 | 403 if entry.is_some_and(|e| e.cfg.credentials.is_some()) => {
            format!("HTTP {status}: credentials refused")
        }
        401 | 403 => format!("HTTP {status}: the repository wants credentials ([[helm_repositories]])"),
        _ => format!("HTTP {status}"),
    };
    if status.is_server_error() || status.as_u16() == 429 {
        Attempt::Retry { after: None, reason }
    } else {
        Attempt::Fail(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(versions: &[&str]) -> Index {
        let entries = versions
            .iter()
            .map(|v| IndexEntry {
                version: v.to_string(),
                digest: String::new(),
                urls: vec![format!("shop-{v}.tgz")],
            })
            .collect();
        Index {
            entries: BTreeMap::from([("shop".to_string(), entries)]),
        }
    }

    #[test]
    fn the_version_helm_would_pick() {
        let idx = index(&["1.2.0", "1.10.0", "2.0.0-rc.1", "1.9.3", "not-semver"]);
        let cases: [(Option<&str>, Result<&str, ()>); 7] = [
            (None, Ok("1.10.0")),
            (Some("1.x"), Ok("1.10.0")),
            (Some("~1.9"), Ok("1.9.3")),
            (Some("1.2.0"), Ok("1.2.0")),
            (Some(">=2.0.0-0"), Ok("2.0.0-rc.1")),
            (Some("not-semver"), Ok("not-semver")),
            (Some("^3"), Err(())),
        ];
        for (wanted, want) in cases {
            let got = pick(&idx, "shop", wanted).map(|e| e.version).ok_or(());
            assert_eq!(got.as_deref(), want.as_deref().map_err(|_| &()), "{wanted:?}");
        }
        assert!(pick(&idx, "other", None).is_none());
        assert_eq!(available(&[]), "no such chart");
    }

    #[test]
    fn credentials_only_go_under_their_prefix() {
        let client = Client::new(&HelmRepositoryConfig {
            url: "https://charts.example.com/private/".into(),
            credentials: None,
            ca_file: None,
            timeout: Duration::from_secs(1),
        });
        for (url, covered) in [
            ("https://charts.example.com/private/index.yaml", true),
            ("https://charts.example.com/private", true),
            ("https://charts.example.com/privateer/index.yaml", false),
            ("https://charts.example.com/public/index.yaml", false),
            ("https://charts.example.com.evil/private/index.yaml", false),
        ] {
            assert_eq!(client.covers(url), covered, "{url}");
        }
    }

    #[test]
    fn archive_urls_resolve_against_the_repository() {
        let entry = |u: &str| IndexEntry {
            version: "1".into(),
            digest: String::new(),
            urls: vec![u.into()],
        };
        assert_eq!(
            archive_url("https://charts.example.com/stable", &entry("shop-1.tgz")).unwrap(),
            "https://charts.example.com/stable/shop-1.tgz"
        );
        assert_eq!(
            archive_url(
                "https://charts.example.com/stable/",
                &entry("https://cdn.example.com/shop-1.tgz")
            )
            .unwrap(),
            "https://cdn.example.com/shop-1.tgz"
        );
        assert_eq!(
            index_url("https://charts.example.com/stable/"),
            "https://charts.example.com/stable/index.yaml"
        );
    }
}
