//! The registry client: `GET`/`HEAD /v2/<repository>/manifests/<reference>` with retries,
//! auth and a bound on concurrent lookups per registry; what the checks ask of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use super::RegistryError;
use super::auth::Tokens;
use super::memo::{ManifestCache, Memo};
use crate::config::{DeliveryConfig, RegistryConfig};
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
    delivery: DeliveryConfig,
    manifests: Arc<ManifestCache>,
}

impl RegistryClient {
    pub fn new(
        registries: &[RegistryConfig],
        delivery: DeliveryConfig,
        manifests: Arc<ManifestCache>,
    ) -> Result<Self, RegistryError> {
        let http = http_client(delivery.timeout).map_err(RegistryError::HttpClient)?;
        Ok(Self {
            http,
            hosts: registries.iter().map(|r| (r.host.clone(), r.clone())).collect(),
            limits: registries
                .iter()
                .map(|r| (r.host.clone(), Arc::new(Semaphore::new(PER_REGISTRY))))
                .collect(),
            delivery,
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
        let host = image.registry();
        let Some(cfg) = self.client.hosts.get(host) else {
            return Lookup::Unavailable(format!("registry {host} is not configured in [[registries]]"));
        };
        let _permit = self.client.limits[host].acquire().await.expect("semaphore open");
        let scheme = if cfg.insecure { "http" } else { "https" };
        // Docker Hub's API is not served at the name used in image references.
        let endpoint = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let url = format!("{scheme}://{endpoint}/v2/{}/manifests/{reference}", image.repository());
        let scope = format!("repository:{}:pull", image.repository());
        let what = format!("{}:{reference}", image.name());
        let result = with_retries(self.client.delivery, || {
            let (url, scope, method) = (&url, &scope, method.clone());
            async move {
                let token = self.tokens.get(host, scope);
                let resp = match self.send(method.clone(), url, token.as_deref()).await {
                    Ok(r) => r,
                    Err(e) => {
                        return Attempt::Retry {
                            after: None,
                            reason: e.to_string(),
                        };
                    }
                };
                let resp = if resp.status() == StatusCode::UNAUTHORIZED {
                    match self
                        .tokens
                        .token_for(&self.client.http, &resp, cfg, host, scope, token.as_deref())
                        .await
                    {
                        Ok(token) => match self.send(method, url, Some(&token)).await {
                            Ok(r) => r,
                            Err(e) => {
                                return Attempt::Retry {
                                    after: None,
                                    reason: e.to_string(),
                                };
                            }
                        },
                        Err(e) => return Attempt::Fail(e.to_string()),
                    }
                } else {
                    resp
                };
                classify(resp).await
            }
        })
        .await;
        match result {
            Ok(Some(found)) => Lookup::Found(found),
            Ok(None) => Lookup::NotFound,
            Err(e) => Lookup::Unavailable(format!("registry {host}: {what}: {e}")),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut req = self.client.http.request(method, url).header("accept", ACCEPT);
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        req.send()
            .await
            .map_err(|e| RegistryError::Transport(error_chain(&e.without_url())))
    }
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
