//! An OCI Distribution client for the checks that need a registry: what a tag points to now,
//! whether a digest still exists, and which platform manifests an image index lists. Only
//! registries configured in `[[registries]]` are contacted. Auth: anonymous, the
//! `WWW-Authenticate: Bearer` token flow, or Basic; credentials from config or a Docker
//! `config.json`. Manifests are immutable, so they are cached for the life of the process;
//! tag answers are not cached here (the audit asks once per tag).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::config::{DeliveryConfig, RegistryConfig};
use crate::core::image::{ImageRef, RunningImage};
use crate::core::model::{DeclaredState, LiveState, Lookup, Manifest, RegistryFacts};
use crate::error_chain;
use crate::retry::{Attempt, http_client, with_retries};

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Lookups at once per registry, so an audit of many images does not flood one registry.
const PER_REGISTRY: usize = 4;

pub struct Registry {
    http: reqwest::Client,
    hosts: HashMap<String, RegistryConfig>,
    limits: HashMap<String, Arc<Semaphore>>,
    delivery: DeliveryConfig,
    tokens: Mutex<HashMap<(String, String), String>>,
    token_locks: Mutex<HashMap<(String, String), TokenLock>>,
    /// A `Registry` lives for one audit: a tag is asked once per audit even when several
    /// environments declare it, and asked again by the next audit (tags move).
    tags: Memo<Lookup<String>>,
    /// Manifest answers of this audit, including "not found" and "unavailable".
    manifests: Memo<Lookup<Manifest>>,
}

/// Held while one token request for a (host, scope) is under way.
type TokenLock = Arc<tokio::sync::Mutex<()>>;

/// Answers by (`registry/repository`, reference) for one audit, asked once each: concurrent
/// environments asking for the same key wait for the first request instead of repeating it.
struct Memo<V> {
    answers: Mutex<HashMap<(String, String), V>>,
    flights: Mutex<HashMap<(String, String), TokenLock>>,
}

impl<V: Clone> Memo<V> {
    fn new() -> Self {
        Self {
            answers: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    async fn get_or(&self, key: (String, String), ask: impl Future<Output = V>) -> V {
        let flight = self
            .flights
            .lock()
            .expect("memo lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let _one_at_a_time = flight.lock().await;
        if let Some(v) = self.answers.lock().expect("memo lock").get(&key) {
            return v.clone();
        }
        let v = ask.await;
        self.answers.lock().expect("memo lock").insert(key, v.clone());
        v
    }
}

/// Manifests by (`registry/repository`, digest): content-addressed, so valid for the life of
/// the process and across config reloads.
static MANIFESTS: LazyLock<Mutex<HashMap<(String, String), Manifest>>> = LazyLock::new(Default::default);

impl Registry {
    pub fn new(registries: &[RegistryConfig], delivery: DeliveryConfig) -> Result<Self, String> {
        let http = http_client(delivery.timeout).map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            hosts: registries.iter().map(|r| (r.host.clone(), r.clone())).collect(),
            limits: registries
                .iter()
                .map(|r| (r.host.clone(), Arc::new(Semaphore::new(PER_REGISTRY))))
                .collect(),
            delivery,
            tokens: Mutex::new(HashMap::new()),
            tags: Memo::new(),
            manifests: Memo::new(),
            token_locks: Mutex::new(HashMap::new()),
        })
    }

    /// Whether images of `host` are checked against their registry.
    pub fn knows(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
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
        if let Some(m) = MANIFESTS.lock().expect("cache lock").get(&key) {
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
                MANIFESTS.lock().expect("cache lock").insert(key, manifest.clone());
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
        let Some(cfg) = self.hosts.get(host) else {
            return Lookup::Unavailable(format!("registry {host} is not configured in [[registries]]"));
        };
        let _permit = self.limits[host].acquire().await.expect("semaphore open");
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
        let result = with_retries(self.delivery, || {
            let (url, scope, method) = (&url, &scope, method.clone());
            async move {
                let token = self
                    .tokens
                    .lock()
                    .expect("token lock")
                    .get(&(host.to_string(), scope.clone()))
                    .cloned();
                let resp = match self.send(method.clone(), url, token.as_deref()).await {
                    Ok(r) => r,
                    Err(e) => return Attempt::Retry { after: None, reason: e },
                };
                let resp = if resp.status() == StatusCode::UNAUTHORIZED {
                    match self.token_for(&resp, cfg, host, scope, token.as_deref()).await {
                        Ok(token) => match self.send(method, url, Some(&token)).await {
                            Ok(r) => r,
                            Err(e) => return Attempt::Retry { after: None, reason: e },
                        },
                        Err(e) => return Attempt::Fail(e),
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

    /// The `Authorization` value for (host, scope) after a 401. Concurrent lookups of one
    /// repository wait for one token request instead of each making their own.
    async fn token_for(
        &self,
        resp: &reqwest::Response,
        cfg: &RegistryConfig,
        host: &str,
        scope: &str,
        rejected: Option<&str>,
    ) -> Result<String, String> {
        let key = (host.to_string(), scope.to_string());
        let lock = self
            .token_locks
            .lock()
            .expect("token lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let _one_at_a_time = lock.lock().await;
        let cached = self.tokens.lock().expect("token lock").get(&key).cloned();
        if let Some(token) = cached.filter(|t| Some(t.as_str()) != rejected) {
            return Ok(token);
        }
        let token = self.authorize(resp, cfg, scope).await?;
        self.tokens.lock().expect("token lock").insert(key, token.clone());
        Ok(token)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, String> {
        let mut req = self.http.request(method, url).header("accept", ACCEPT);
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        req.send().await.map_err(|e| error_chain(&e.without_url()))
    }

    /// Answers a 401 with the `Authorization` value to retry with (cached per host and scope):
    /// the Bearer token flow (`realm`, `service`, `scope`), or Basic.
    async fn authorize(&self, resp: &reqwest::Response, cfg: &RegistryConfig, scope: &str) -> Result<String, String> {
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge.as_str(), ""));
        let params = parse_challenge(params);
        if scheme.eq_ignore_ascii_case("basic") {
            let Some((user, pass)) = &cfg.credentials else {
                return Err("401: the registry wants credentials and none are configured".into());
            };
            use base64::Engine as _;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.expose(), pass.expose()));
            return Ok(format!("Basic {encoded}"));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(format!("401 with an auth scheme driftwatch does not speak: {scheme:?}"));
        }
        let realm = params.get("realm").ok_or("401: Bearer challenge without a realm")?;
        let mut req = self
            .http
            .get(realm)
            .query(&[("scope", params.get("scope").map_or(scope, String::as_str))]);
        if let Some(service) = params.get("service") {
            req = req.query(&[("service", service)]);
        }
        if let Some((user, pass)) = &cfg.credentials {
            req = req.basic_auth(user.expose(), Some(pass.expose()));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("token endpoint: {}", error_chain(&e.without_url())))?;
        if !resp.status().is_success() {
            return Err(format!(
                "token endpoint answered {}: credentials refused",
                resp.status()
            ));
        }
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("token endpoint: {e}"))?;
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .ok_or("token endpoint: no token in the answer")?;
        Ok(format!("Bearer {token}"))
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

/// `realm="…",service="…",scope="…"` → map.
fn parse_challenge(params: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, n)) => (v.to_string(), n),
                None => (quoted.to_string(), ""),
            },
            None => match after.split_once(',') {
                Some((v, n)) => (v.trim().to_string(), n),
                None => (after.trim().to_string(), ""),
            },
        };
        out.insert(key, value);
        rest = next;
    }
    out
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
    fn bearer_challenges() {
        let p = parse_challenge(
            r#"realm="https://auth.example.com/token",service="registry.example.com",scope="repository:shop/api:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.example.com/token");
        assert_eq!(p["service"], "registry.example.com");
        assert_eq!(p["scope"], "repository:shop/api:pull");
        let p = parse_challenge(r#"realm="https://auth.docker.io/token", service="registry.docker.io""#);
        assert_eq!(p["service"], "registry.docker.io");
    }

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
