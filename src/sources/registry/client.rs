//! The registry client: `GET`/`HEAD /v2/<repository>/manifests/<reference>` with retries,
//! auth and a bound on concurrent lookups per registry; what the checks ask of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;
use tracing::warn;

use super::RegistryError;
use super::auth::Tokens;
use super::memo::{ManifestCache, Memo};
use crate::config::RegistryConfig;
use crate::core::image::{ImageRef, RunningImage};
use crate::core::model::{DeclaredState, LiveState, Lookup, Manifest, RegistryFacts};
use crate::error_chain;
use crate::retry::{Attempt, http_client, with_retries};

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Lookups at once per registry, so an audit of many images does not flood one registry.
const PER_REGISTRY: usize = 4;

/// What lasts across audits: the HTTP client, the configured registries with their limits,
/// and the manifest cache.
pub struct RegistryClient {
    http: reqwest::Client,
    hosts: HashMap<String, RegistryConfig>,
    limits: HashMap<String, Arc<Semaphore>>,
    manifests: Arc<ManifestCache>,
}

impl RegistryClient {
    pub fn new(registries: &[RegistryConfig], manifests: Arc<ManifestCache>) -> Result<Self, RegistryError> {
        // One client for every registry; each request carries its registry's own timeout.
        let longest = registries
            .iter()
            .map(|r| r.retry.timeout)
            .max()
            .unwrap_or(Duration::from_secs(10));
        let http = http_client(longest)?;
        Ok(Self {
            http,
            hosts: registries.iter().map(|r| (r.host.clone(), r.clone())).collect(),
            limits: registries
                .iter()
                .map(|r| (r.host.clone(), Arc::new(Semaphore::new(PER_REGISTRY))))
                .collect(),
            manifests,
        })
    }

    /// The client for one audit: tags are asked once per audit even when several
    /// environments declare them, and asked again by the next audit (tags move).
    pub fn audit(&self) -> Registry<'_> {
        Registry {
            client: self,
            tokens: Tokens::default(),
            tags: Memo::new(),
            manifests: Memo::new(),
            down: Mutex::new(HashMap::new()),
        }
    }
}

/// The registry as one audit sees it.
pub struct Registry<'a> {
    client: &'a RegistryClient,
    tokens: Tokens,
    tags: Memo<Lookup<String>>,
    /// Manifest answers of this audit, including "not found" and "unavailable".
    manifests: Memo<Lookup<Manifest>>,
    /// Registries that refused connections or timed out in this audit, with the reason: every
    /// later lookup against them is unavailable at once instead of retrying on its own (100
    /// images against a dead registry would otherwise outlast the audit timeout).
    down: Mutex<HashMap<String, String>>,
}

impl Registry<'_> {
    /// Whether images of `host` are checked against their registry.
    pub fn knows(&self, host: &str) -> bool {
        self.client.hosts.contains_key(host)
    }

    /// Everything the comparison needs to know about the declared images of one environment
    /// and the digests their Pods run: declared digests (do they exist, are they indexes),
    /// declared tags (where do they point now), and running digests (are they indexes).
    pub async fn facts(
        &self,
        declared: &DeclaredState,
        live: Option<&LiveState>,
        ignore_containers: &[String],
    ) -> RegistryFacts {
        let mut digests: BTreeMap<(String, String), ImageRef> = BTreeMap::new();
        let mut tags: BTreeMap<(String, String), ImageRef> = BTreeMap::new();
        for w in &declared.workloads {
            let lw = live.and_then(|l| l.workloads.get(&w.key()));
            for c in w.containers.iter().filter(|c| !ignore_containers.contains(&c.name)) {
                let Ok(image) = ImageRef::parse(&c.image) else { continue };
                if !self.knows(image.registry()) {
                    continue;
                }
                match (image.digest(), image.effective_tag()) {
                    (Some(d), _) => {
                        digests.insert((image.name(), d.to_string()), image.clone());
                    }
                    (None, Some(t)) => {
                        tags.insert((image.name(), t.to_string()), image.clone());
                    }
                    _ => {}
                }
                let running = lw
                    .into_iter()
                    .flat_map(|lw| &lw.pods)
                    .flat_map(|p| &p.statuses)
                    .filter(|s| s.name == c.name);
                for s in running {
                    if let RunningImage::Digest { digest, .. } = &s.image {
                        digests.insert((image.name(), digest.clone()), image.clone());
                    }
                }
            }
        }
        let mut facts = RegistryFacts::default();
        let tag_lookups = tags.into_iter().map(|(key, image)| async move {
            let found = self.resolve_tag(&image, &key.1).await;
            (key, image, found)
        });
        for (key, image, found) in futures::future::join_all(tag_lookups).await {
            // The tag's current digest may be an index: its platforms are needed too.
            if let Lookup::Found(d) = &found {
                digests.insert((key.0.clone(), d.clone()), image);
            }
            facts.tags.insert(key, found);
        }
        let manifest_lookups = digests.into_iter().map(|(key, image)| async move {
            let found = self.manifest(&image, &key.1).await;
            (key, found)
        });
        facts.manifests = futures::future::join_all(manifest_lookups).await.into_iter().collect();
        facts
    }

    /// The manifest `digest` of `image`'s repository.
    pub async fn manifest(&self, image: &ImageRef, digest: &str) -> Lookup<Manifest> {
        let key = (image.name(), digest.to_string());
        if let Some(m) = self.client.manifests.get(&key) {
            return Lookup::Found(m.clone());
        }
        self.manifests
            .get_or(key.clone(), self.fetch_manifest(image, digest, key))
            .await
    }

    async fn fetch_manifest(&self, image: &ImageRef, digest: &str, key: (String, String)) -> Lookup<Manifest> {
        match self.get(image, digest, reqwest::Method::GET).await {
            Lookup::Found((body, _)) => {
                let actual = format!("sha256:{:x}", Sha256::digest(&body));
                if digest.starts_with("sha256:") && actual != digest {
                    return Lookup::Unavailable(format!(
                        "{}@{digest}: the registry served content with digest {actual}",
                        image.name()
                    ));
                }
                let manifest = parse_manifest(&body);
                self.client.manifests.put(key, manifest.clone());
                Lookup::Found(manifest)
            }
            Lookup::NotFound => Lookup::NotFound,
            Lookup::Unavailable(e) => Lookup::Unavailable(e),
        }
    }

    /// The digest `tag` of `image`'s repository points to now.
    pub async fn resolve_tag(&self, image: &ImageRef, tag: &str) -> Lookup<String> {
        self.tags
            .get_or((image.name(), tag.to_string()), self.ask_tag(image, tag))
            .await
    }

    async fn ask_tag(&self, image: &ImageRef, tag: &str) -> Lookup<String> {
        match self.get(image, tag, reqwest::Method::HEAD).await {
            Lookup::Found((_, Some(digest))) => Lookup::Found(digest),
            // Some registries omit the header on HEAD: fetch the manifest and hash it.
            Lookup::Found((_, None)) => match self.get(image, tag, reqwest::Method::GET).await {
                Lookup::Found((body, header)) => {
                    Lookup::Found(header.unwrap_or_else(|| format!("sha256:{:x}", Sha256::digest(&body))))
                }
                Lookup::NotFound => Lookup::NotFound,
                Lookup::Unavailable(e) => Lookup::Unavailable(e),
            },
            Lookup::NotFound => Lookup::NotFound,
            Lookup::Unavailable(e) => Lookup::Unavailable(e),
        }
    }

    /// `GET`/`HEAD /v2/<repository>/manifests/<reference>`: the body and `Docker-Content-Digest`.
    async fn get(
        &self,
        image: &ImageRef,
        reference: &str,
        method: reqwest::Method,
    ) -> Lookup<(Vec<u8>, Option<String>)> {
        let what = format!("{}:{reference}", image.name());
        self.request(image, &format!("manifests/{reference}"), &what, method)
            .await
    }

    /// `GET`/`HEAD /v2/<repository>/<path>` with retries, auth and the registry's bound: the
    /// body and `Docker-Content-Digest`; `what` names it in errors.
    pub(super) async fn request(
        &self,
        image: &ImageRef,
        path: &str,
        what: &str,
        method: reqwest::Method,
    ) -> Lookup<(Vec<u8>, Option<String>)> {
        let host = image.registry();
        let Some(cfg) = self.client.hosts.get(host) else {
            return Lookup::Unavailable(format!("registry {host} is not configured in [[registries]]"));
        };
        if let Some(reason) = self.down_reason(host) {
            return Lookup::Unavailable(reason);
        }
        let _permit = self.client.limits[host].acquire().await.expect("semaphore open");
        // Lookups that waited for a permit while another found the registry down stop here.
        if let Some(reason) = self.down_reason(host) {
            return Lookup::Unavailable(reason);
        }
        let scheme = if cfg.insecure { "http" } else { "https" };
        // Docker Hub's API is not served at the name used in image references.
        let endpoint = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let url = format!("{scheme}://{endpoint}/v2/{}/{path}", image.repository());
        let scope = format!("repository:{}:pull", image.repository());
        let unreachable = AtomicBool::new(false);
        let request = Request {
            cfg,
            host,
            url: &url,
            scope: &scope,
        };
        let result = with_retries(cfg.retry, || self.attempt(&request, method.clone(), &unreachable)).await;
        match result {
            Ok(Some(found)) => Lookup::Found(found),
            Ok(None) => Lookup::NotFound,
            Err(e) if unreachable.load(Ordering::Relaxed) => Lookup::Unavailable(self.mark_down(host, &e.to_string())),
            Err(e) => Lookup::Unavailable(
                self.down_reason(host)
                    .unwrap_or_else(|| format!("registry {host}: {what}: {e}")),
            ),
        }
    }

    /// The tags of `image`'s repository (`GET /v2/<repository>/tags/list`).
    pub async fn tags(&self, image: &ImageRef) -> Lookup<Vec<String>> {
        let what = format!("{} tags", image.name());
        match self.request(image, "tags/list", &what, reqwest::Method::GET).await {
            Lookup::Found((body, _)) => {
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                match json["tags"].as_array() {
                    Some(tags) => Lookup::Found(tags.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()),
                    None if json["tags"].is_null() && json.is_object() => Lookup::Found(Vec::new()),
                    None => Lookup::Unavailable(format!("{what}: the answer is not a tag list")),
                }
            }
            Lookup::NotFound => Lookup::NotFound,
            Lookup::Unavailable(e) => Lookup::Unavailable(e),
        }
    }

    /// The manifest `reference` (a tag or digest) of `image`'s repository as served, with its
    /// digest (the header, else the body's SHA-256; a digest reference must match the body).
    pub async fn manifest_body(&self, image: &ImageRef, reference: &str) -> Lookup<(Vec<u8>, String)> {
        match self.get(image, reference, reqwest::Method::GET).await {
            Lookup::Found((body, header)) => {
                let actual = format!("sha256:{:x}", Sha256::digest(&body));
                if reference.starts_with("sha256:") && actual != reference {
                    return Lookup::Unavailable(format!(
                        "{}@{reference}: the registry served content with digest {actual}",
                        image.name()
                    ));
                }
                Lookup::Found((body, header.unwrap_or(actual)))
            }
            Lookup::NotFound => Lookup::NotFound,
            Lookup::Unavailable(e) => Lookup::Unavailable(e),
        }
    }

    /// The blob `digest` of `image`'s repository, checked against its SHA-256.
    pub async fn blob(&self, image: &ImageRef, digest: &str) -> Lookup<Vec<u8>> {
        let what = format!("{}@{digest}", image.name());
        match self
            .request(image, &format!("blobs/{digest}"), &what, reqwest::Method::GET)
            .await
        {
            Lookup::Found((body, _)) => {
                let actual = format!("sha256:{:x}", Sha256::digest(&body));
                if actual == digest {
                    Lookup::Found(body)
                } else {
                    Lookup::Unavailable(format!("{what}: the registry served content with digest {actual}"))
                }
            }
            Lookup::NotFound => Lookup::NotFound,
            Lookup::Unavailable(e) => Lookup::Unavailable(e),
        }
    }

    /// One try at a manifest request, answering a 401 with a token. `unreachable` records
    /// whether the last try failed to reach the registry at all (refused, timed out), which is
    /// what marks it down for the audit.
    async fn attempt(
        &self,
        r: &Request<'_>,
        method: reqwest::Method,
        unreachable: &AtomicBool,
    ) -> Attempt<Option<(Vec<u8>, Option<String>)>> {
        if let Some(reason) = self.down_reason(r.host) {
            return Attempt::Fail(reason);
        }
        let retry = |e: RegistryError| Attempt::Retry {
            after: None,
            reason: e.to_string(),
        };
        let token = self.tokens.get(r.host, r.scope);
        let sent = self
            .send(method.clone(), r.url, token.as_deref(), r.cfg.retry.timeout)
            .await;
        unreachable.store(sent.is_err(), Ordering::Relaxed);
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return retry(e),
        };
        if resp.status() != StatusCode::UNAUTHORIZED {
            return classify(resp).await;
        }
        let fresh = self
            .tokens
            .token_for(&self.client.http, &resp, r.cfg, r.host, r.scope, token.as_deref())
            .await;
        match fresh {
            Ok(token) => match self.send(method, r.url, Some(&token), r.cfg.retry.timeout).await {
                Ok(resp) => classify(resp).await,
                Err(e) => retry(e),
            },
            Err(e) => Attempt::Fail(e.to_string()),
        }
    }

    fn down_reason(&self, host: &str) -> Option<String> {
        self.down.lock().expect("down lock").get(host).cloned()
    }

    /// Marks `host` down for the rest of this audit; the first to find it down names the
    /// reason (in the log once, and in every finding that could not be checked).
    fn mark_down(&self, host: &str, error: &str) -> String {
        let mut down = self.down.lock().expect("down lock");
        down.entry(host.to_string())
            .or_insert_with(|| {
                warn!(
                    registry = host,
                    error, "registry unreachable: not asked again in this audit"
                );
                format!("registry {host} unreachable in this audit ({error})")
            })
            .clone()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        authorization: Option<&str>,
        timeout: Duration,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut req = self
            .client
            .http
            .request(method, url)
            .header("accept", ACCEPT)
            .timeout(timeout);
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        req.send()
            .await
            .map_err(|e| RegistryError::Transport(error_chain(&e.without_url())))
    }
}

/// What one manifest request is for.
struct Request<'a> {
    cfg: &'a RegistryConfig,
    host: &'a str,
    url: &'a str,
    scope: &'a str,
}

/// `Some((body, digest header))`, `None` for 404, or a retry decision.
async fn classify(resp: reqwest::Response) -> Attempt<Option<(Vec<u8>, Option<String>)>> {
    let status = resp.status();
    let digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs);
    match status {
        s if s.is_success() => match resp.bytes().await {
            Ok(body) => Attempt::Done(Some((body.to_vec(), digest))),
            Err(e) => Attempt::Retry {
                after: None,
                reason: error_chain(&e.without_url()),
            },
        },
        StatusCode::NOT_FOUND => Attempt::Done(None),
        StatusCode::TOO_MANY_REQUESTS => Attempt::Retry {
            after: retry_after,
            reason: "HTTP 429".into(),
        },
        s if s.is_server_error() => Attempt::Retry {
            after: None,
            reason: format!("HTTP {s}"),
        },
        s => Attempt::Fail(format!("HTTP {s}")),
    }
}

fn parse_manifest(body: &[u8]) -> Manifest {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match json["manifests"].as_array() {
        Some(list) => Manifest::Index(
            list.iter()
                .filter_map(|m| {
                    let digest = m["digest"].as_str()?.to_string();
                    let p = &m["platform"];
                    let mut platform = format!(
                        "{}/{}",
                        p["os"].as_str().unwrap_or("?"),
                        p["architecture"].as_str().unwrap_or("?")
                    );
                    if let Some(v) = p["variant"].as_str() {
                        platform.push('/');
                        platform.push_str(v);
                    }
                    Some((digest, platform))
                })
                .collect(),
        ),
        None => Manifest::Image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_image_manifests() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"digest":"sha256:aa","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:bb","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        assert_eq!(
            parse_manifest(index),
            Manifest::Index(vec![
                ("sha256:aa".into(), "linux/amd64".into()),
                ("sha256:bb".into(), "linux/arm64/v8".into())
            ])
        );
        assert_eq!(
            parse_manifest(br#"{"schemaVersion":2,"config":{},"layers":[]}"#),
            Manifest::Image
        );
    }
}
