//! A real OCI registry (Debian's docker-registry, the CNCF distribution registry) filled over
//! its HTTP API, and a front for it that speaks the Bearer token flow of hosted registries.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::net::{free_port, listen, serve, wait_until};
use crate::process::{ServerProcess, Stop};
use crate::write;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The config and layer media types of what `flux push artifact` writes.
pub const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
pub const FLUX_CONTENT: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// A tar.gz of `files` (path, content) as `flux push artifact` packs a directory.
pub fn flux_tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// docker-registry on 127.0.0.1 with htpasswd auth and deletes enabled.
pub struct OciRegistry {
    process: ServerProcess,
    pub port: u16,
    user: String,
    password: String,
    http: reqwest::blocking::Client,
}

impl OciRegistry {
    pub fn start(dir: &Path, user: &str, password: &str) -> Self {
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd must be installed (apache2-utils; scripts/prereqs installs it)");
        assert!(htpasswd.status.success());
        write(
            &dir.join("registry/htpasswd"),
            &String::from_utf8_lossy(&htpasswd.stdout),
        );
        // free_port() releases the port before the registry binds it, and a parallel test can
        // take it in between: the registry is ready when it answers /v2/ itself (401 with its
        // API version header); a start that lost its port is retried on another.
        let http = reqwest::blocking::Client::new();
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: driftwatch-test\n    path: {htpasswd}\n",
                root = dir.join("registry/data").display(),
                htpasswd = dir.join("registry/htpasswd").display()
            );
            write(&dir.join("registry/config.yml"), &config);
            let mut process = ServerProcess::spawn(
                Command::new("docker-registry")
                    .arg("serve")
                    .arg(dir.join("registry/config.yml"))
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(dir.join("registry/registry.log")).unwrap()),
                Stop::Terminate,
                "docker-registry must be installed (Debian package docker-registry; scripts/prereqs installs it)",
            );
            let ours = wait_until(10, "docker-registry", || {
                if process.try_wait().is_some() {
                    return Some(false);
                }
                let answer = http.get(format!("http://127.0.0.1:{port}/v2/")).send().ok()?;
                (answer.status() == 401 && answer.headers().contains_key("docker-distribution-api-version"))
                    .then_some(true)
            });
            if ours {
                return Self {
                    process,
                    port,
                    user: user.into(),
                    password: password.into(),
                    http,
                };
            }
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(dir.join("registry/registry.log")).unwrap_or_default()
        );
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn digest(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        format!("sha256:{:x}", sha2::Sha256::digest(bytes))
    }

    /// Uploads a blob (monolithic upload); returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = Self::digest(bytes);
        let start = self
            .http
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .unwrap();
        assert_eq!(start.status(), 202, "start upload: {:?}", start.text());
        let location = start.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            self.url(&location)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self
            .http
            .put(format!("{location}{sep}digest={digest}"))
            .basic_auth(&self.user, Some(&self.password))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(put.status(), 201, "finish upload: {:?}", put.text());
        digest
    }

    /// Puts a manifest under `reference` (a tag or its digest); returns its digest.
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &Value) -> String {
        let bytes = serde_json::to_vec(body).unwrap();
        let digest = Self::digest(&bytes);
        let reference = if reference.is_empty() {
            digest.as_str()
        } else {
            reference
        };
        let resp = self
            .http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .basic_auth(&self.user, Some(&self.password))
            .header("content-type", media_type)
            .body(bytes)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201, "put manifest: {:?}", resp.text());
        digest
    }

    /// Pushes a one-layer image for `arch` (distinct content per `seed`); returns (digest, size).
    pub fn push_image(&self, repo: &str, tag: &str, arch: &str, seed: &str) -> (String, usize) {
        let config = serde_json::to_vec(&json!({"architecture": arch, "os": "linux", "config": {"Labels": {"seed": seed}}, "rootfs": {"type": "layers", "diff_ids": []}})).unwrap();
        let layer = format!("layer {seed} {arch}").into_bytes();
        let config_digest = self.push_blob(repo, &config);
        let layer_digest = self.push_blob(repo, &layer);
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}]});
        let size = serde_json::to_vec(&manifest).unwrap().len();
        (self.push_manifest(repo, tag, OCI_MANIFEST, &manifest), size)
    }

    /// Pushes an image index over `platforms` (digest, size, arch); returns its digest.
    pub fn push_index(&self, repo: &str, tag: &str, platforms: &[(String, usize, &str)]) -> String {
        let manifests: Vec<Value> = platforms
            .iter()
            .map(|(d, size, arch)| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size, "platform": {"os": "linux", "architecture": arch}}))
            .collect();
        self.push_manifest(
            repo,
            tag,
            OCI_INDEX,
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
    }

    /// Pushes a Helm chart archive as Helm does (`helm push`): a config of media type
    /// `application/vnd.cncf.helm.config.v1+json` (Chart.yaml as JSON) and the archive as the
    /// chart layer; returns the layer's digest.
    pub fn push_chart(&self, repo: &str, tag: &str, chart: &Value, archive: &[u8]) -> String {
        let config = serde_json::to_vec(chart).unwrap();
        let config_digest = self.push_blob(repo, &config);
        let layer_digest = self.push_blob(repo, archive);
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer_digest, "size": archive.len()}]});
        self.push_manifest(repo, tag, OCI_MANIFEST, &manifest);
        layer_digest
    }

    /// Pushes `files` (path, content) as `flux push artifact` does: one tar.gz layer of media
    /// type [`FLUX_CONTENT`] over the config [`FLUX_CONFIG`], with the manifest's annotations;
    /// returns (manifest digest, layer digest).
    pub fn push_flux_artifact(&self, repo: &str, tag: &str, files: &[(&str, &str)]) -> (String, String) {
        self.push_flux_layer(repo, tag, &flux_tarball(files))
    }

    /// Pushes `layer` (any bytes) as a Flux artifact's content layer under `tag`; returns
    /// (manifest digest, layer digest).
    pub fn push_flux_layer(&self, repo: &str, tag: &str, layer: &[u8]) -> (String, String) {
        let config = b"{}";
        let config_digest = self.push_blob(repo, config);
        let layer_digest = self.push_blob(repo, layer);
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": FLUX_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": FLUX_CONTENT, "digest": layer_digest, "size": layer.len()}],
            "annotations": {"org.opencontainers.image.source": "https://git.example.com/fleet.git",
                            "org.opencontainers.image.revision": "main@sha1:4f2a91c0d3b5e6f708192a3b4c5d6e7f80912a3b"}});
        (self.push_manifest(repo, tag, OCI_MANIFEST, &manifest), layer_digest)
    }

    /// A signature or attestation as cosign writes it to the tag scheme: the manifest tagged
    /// `sha256-<hex>.sig` (or `.att`) in `repo`, one layer per `(blob, annotations)` of
    /// `layer_type` (`application/vnd.dev.cosign.simplesigning.v1+json` payloads with their
    /// `dev.cosignproject.cosign/signature` annotation, or `application/vnd.dsse.envelope.v1+json`
    /// envelopes), over cosign's small config blob. Returns the manifest's digest.
    pub fn push_cosign(
        &self,
        repo: &str,
        subject: &str,
        suffix: &str,
        layer_type: &str,
        layers: &[(Vec<u8>, Value)],
    ) -> String {
        let config = serde_json::to_vec(
            &json!({"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}),
        )
        .unwrap();
        let config_digest = self.push_blob(repo, &config);
        let layers: Vec<Value> = layers
            .iter()
            .map(|(blob, annotations)| {
                let digest = self.push_blob(repo, blob);
                json!({"mediaType": layer_type, "digest": digest, "size": blob.len(), "annotations": annotations})
            })
            .collect();
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers});
        let tag = format!("{}{suffix}", subject.replacen(':', "-", 1));
        self.push_manifest(repo, &tag, OCI_MANIFEST, &manifest)
    }

    /// A Sigstore bundle as an OCI 1.1 referrer of `subject` (what `cosign sign
    /// --new-bundle-format` pushes): an artifact manifest of `artifactType`
    /// `application/vnd.dev.sigstore.bundle.v0.3+json` with the empty config, the bundle as
    /// its one layer and `subject` naming the image; pushed by digest, and listed in the
    /// referrers tag schema's index `sha256-<hex>` (docker-registry 2.8 serves no referrers
    /// API, so clients keep that index themselves). Returns the referrer's digest.
    pub fn push_bundle_referrer(&self, repo: &str, subject: &str, subject_type: &str, bundle: &[u8]) -> String {
        const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
        let empty = b"{}";
        let empty_digest = self.push_blob(repo, empty);
        let layer = self.push_blob(repo, bundle);
        let subject_size = self.manifest_size(repo, subject);
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty_digest, "size": 2},
            "layers": [{"mediaType": BUNDLE, "digest": layer, "size": bundle.len()}],
            "subject": {"mediaType": subject_type, "digest": subject, "size": subject_size},
            "annotations": {"dev.sigstore.bundle.content": "message-signature", "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"}});
        let size = serde_json::to_vec(&manifest).unwrap().len();
        let digest = self.push_manifest(repo, "", OCI_MANIFEST, &manifest);
        let tag = subject.replacen(':', "-", 1);
        let mut listed: Vec<Value> = self
            .get_manifest(repo, &tag)
            .and_then(|index| index["manifests"].as_array().cloned())
            .unwrap_or_default();
        listed.push(json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "artifactType": BUNDLE}));
        self.push_manifest(
            repo,
            &tag,
            OCI_INDEX,
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}),
        );
        digest
    }

    /// The manifest `reference` of `repo`, when there is one.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Option<Value> {
        let resp = self
            .http
            .get(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .basic_auth(&self.user, Some(&self.password))
            .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
            .send()
            .unwrap();
        (resp.status() == 200).then(|| resp.json().unwrap())
    }

    fn manifest_size(&self, repo: &str, digest: &str) -> usize {
        let resp = self
            .http
            .get(self.url(&format!("/v2/{repo}/manifests/{digest}")))
            .basic_auth(&self.user, Some(&self.password))
            .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "the subject manifest {digest} exists");
        resp.bytes().unwrap().len()
    }

    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let resp = self
            .http
            .delete(self.url(&format!("/v2/{repo}/manifests/{digest}")))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 202, "delete manifest: {:?}", resp.text());
    }

    /// Stops the registry (a registry that is down); also done on drop.
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// A registry front that speaks the Bearer token flow, as hosted registries (Docker Hub, ECR,
/// GHCR) do: 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` until the client
/// brings a token from `/token` (which wants the Basic credentials); then forwards to the real
/// registry behind it. Records the token requests it saw.
pub struct TokenFront {
    pub addr: SocketAddr,
    pub token_requests: Arc<Mutex<Vec<String>>>,
    /// Authorized requests forwarded to the registry, as `METHOD path`.
    pub forwarded: Arc<Mutex<Vec<String>>>,
    _runtime: std::thread::JoinHandle<()>,
}

/// What the front's handler shares across requests.
#[derive(Clone)]
struct Front {
    me: SocketAddr,
    backend: String,
    basic: String,
    token_requests: Arc<Mutex<Vec<String>>>,
    forwarded: Arc<Mutex<Vec<String>>>,
}

const FRONT_TOKEN: &str = "front-token-1";

impl TokenFront {
    pub fn start(registry: &OciRegistry) -> Self {
        use base64::Engine as _;
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let front = Front {
            me: addr,
            backend: format!("http://127.0.0.1:{}", registry.port),
            basic: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", registry.user, registry.password))
            ),
            token_requests: Arc::default(),
            forwarded: Arc::default(),
        };
        let (token_requests, forwarded) = (front.token_requests.clone(), front.forwarded.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let front = front.clone();
            async move { front.handle(req).await }
        });
        Self {
            addr,
            token_requests,
            forwarded,
            _runtime: serve(listener, app),
        }
    }
}

impl Front {
    async fn handle(&self, req: axum::extract::Request) -> axum::response::Response {
        use axum::response::IntoResponse;
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let uri = req.uri().clone();
        if uri.path() == "/token" {
            self.token_requests
                .lock()
                .unwrap()
                .push(uri.query().unwrap_or("").to_string());
            if auth != self.basic {
                return (axum::http::StatusCode::UNAUTHORIZED, "bad credentials").into_response();
            }
            return axum::Json(json!({"token": FRONT_TOKEN, "expires_in": 300})).into_response();
        }
        if auth != format!("Bearer {FRONT_TOKEN}") {
            let repo = uri
                .path()
                .trim_start_matches("/v2/")
                .split("/manifests/")
                .next()
                .unwrap_or("");
            let challenge = format!(
                "Bearer realm=\"http://{}/token\",service=\"driftwatch-test\",scope=\"repository:{repo}:pull\"",
                self.me
            );
            return (
                axum::http::StatusCode::UNAUTHORIZED,
                [("www-authenticate", challenge)],
                "",
            )
                .into_response();
        }
        self.forwarded
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method(), uri.path()));
        let accept = req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("*/*")
            .to_string();
        self.forward(req.method().clone(), &uri, &accept).await
    }

    /// Passes an authorized request to the registry with the Basic credentials.
    async fn forward(
        &self,
        method: axum::http::Method,
        uri: &axum::http::Uri,
        accept: &str,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let upstream = reqwest::Client::new()
            .request(method, format!("{}{uri}", self.backend))
            .header("accept", accept)
            .header("authorization", &self.basic)
            .send()
            .await
            .unwrap();
        let status = upstream.status().as_u16();
        let mut headers = Vec::new();
        for name in ["content-type", "docker-content-digest"] {
            if let Some(v) = upstream.headers().get(name) {
                headers.push((name, v.to_str().unwrap().to_string()));
            }
        }
        let body = upstream.bytes().await.unwrap();
        let mut resp = (axum::http::StatusCode::from_u16(status).unwrap(), body.to_vec()).into_response();
        for (k, v) in headers {
            resp.headers_mut().insert(k, v.parse().unwrap());
        }
        resp
    }
}

/// A pass-through front for the registry that records every request (`METHOD path`), to count
/// what an audit asks; with `referrers_api`, it also serves the OCI 1.1 referrers API that
/// docker-registry 2.8 lacks (`GET /v2/<name>/referrers/<digest>`: the index the tag schema
/// keeps, or an empty one), so that both ways a client finds referrers are tested.
pub struct RegistryFront {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
    _runtime: std::thread::JoinHandle<()>,
}

#[derive(Clone)]
struct Pass {
    backend: String,
    basic: String,
    referrers_api: bool,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RegistryFront {
    pub fn start(registry: &OciRegistry, referrers_api: bool) -> Self {
        use base64::Engine as _;
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let pass = Pass {
            backend: format!("http://127.0.0.1:{}", registry.port),
            basic: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", registry.user, registry.password))
            ),
            referrers_api,
            requests: Arc::default(),
        };
        let requests = pass.requests.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let pass = pass.clone();
            async move { pass.handle(req).await }
        });
        Self {
            addr,
            requests,
            _runtime: serve(listener, app),
        }
    }

    /// The requests seen so far, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Pass {
    async fn handle(&self, req: axum::extract::Request) -> axum::response::Response {
        use axum::response::IntoResponse;
        let (parts, _) = req.into_parts();
        let (uri, method) = (parts.uri.clone(), parts.method.clone());
        self.requests.lock().unwrap().push(format!("{method} {}", uri.path()));
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (auth, accept) = (header("authorization"), header("accept"));
        drop(parts);
        if self.referrers_api
            && let Some((name, digest)) = uri.path().trim_start_matches("/v2/").split_once("/referrers/")
        {
            if auth.is_none() {
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    [("www-authenticate", "Basic realm=\"driftwatch-test\"")],
                    "",
                )
                    .into_response();
            }
            return self.referrers(name, digest).await;
        }
        let mut upstream = reqwest::Client::new().request(method, format!("{}{uri}", self.backend));
        if let Some(a) = auth {
            upstream = upstream.header("authorization", a);
        }
        if let Some(a) = accept {
            upstream = upstream.header("accept", a);
        }
        let upstream = upstream.send().await.unwrap();
        let status = axum::http::StatusCode::from_u16(upstream.status().as_u16()).unwrap();
        let headers: Vec<(String, String)> = [
            "content-type",
            "docker-content-digest",
            "www-authenticate",
            "docker-distribution-api-version",
        ]
        .iter()
        .filter_map(|n| Some((n.to_string(), upstream.headers().get(*n)?.to_str().ok()?.to_string())))
        .collect();
        let mut resp = (status, upstream.bytes().await.unwrap().to_vec()).into_response();
        for (k, v) in headers {
            resp.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        resp
    }

    /// The referrers API answer: what the tag schema's index lists, as an index.
    async fn referrers(&self, name: &str, digest: &str) -> axum::response::Response {
        use axum::response::IntoResponse;
        let tag = digest.replacen(':', "-", 1);
        let answer = reqwest::Client::new()
            .get(format!("{}/v2/{name}/manifests/{tag}", self.backend))
            .header("authorization", &self.basic)
            .header("accept", OCI_INDEX)
            .send()
            .await
            .unwrap();
        let manifests = match answer.status().as_u16() {
            200 => answer.json::<Value>().await.unwrap()["manifests"].clone(),
            _ => json!([]),
        };
        let body = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        ([("content-type", OCI_INDEX)], serde_json::to_vec(&body).unwrap()).into_response()
    }
}
