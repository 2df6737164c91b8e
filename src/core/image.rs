//! Image references and runtime image IDs: parse what manifests declare and normalise what
//! container runtimes report, so the two can be compared. Pure.
//!
//! Reference parsing follows the OCI/docker grammar through `oci-spec` (the same regular
//! expression and normalisation as `distribution/reference`); this module adds what the audit
//! needs on top: whether a tag was written at all, and runtime `imageID` forms.

use std::fmt;

use oci_spec::distribution::Reference;

/// A parsed, normalised image reference: `nginx` becomes `docker.io/library/nginx`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    /// The tag as written; `None` when the reference named none (`latest` is implied only
    /// when there is no digest either, see [`ImageRef::effective_tag`]).
    tag: Option<String>,
    digest: Option<String>,
}

/// Why an image reference is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ImageRefError {
    pub reference: String,
    pub reason: String,
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<Self, ImageRefError> {
        let err = |reason: String| ImageRefError {
            reference: input.to_string(),
            reason,
        };
        if input.trim() != input {
            return Err(err("leading or trailing white space".into()));
        }
        // The distribution grammar is ASCII throughout; oci-spec's regex uses `\w`, which also
        // matches Unicode letters, so `repo:vÄ` would otherwise pass.
        if let Some(c) = input.chars().find(|c| !c.is_ascii()) {
            return Err(err(format!("non-ASCII character {c:?}")));
        }
        let parsed: Reference = input
            .parse()
            .map_err(|e: oci_spec::distribution::ParseError| err(e.to_string()))?;
        let digest = parsed.digest().map(str::to_string);
        if let Some(d) = &digest
            && !is_digest(d)
        {
            return Err(err(format!("digest {d:?} is not lowercase hex")));
        }
        Ok(Self {
            registry: parsed.registry().to_string(),
            repository: parsed.repository().to_string(),
            tag: written_tag(input).map(str::to_string),
            digest,
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`, fully qualified.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag a runtime pulls: the written one, or `latest` when neither tag nor digest is given.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether two references pull the same content: with digests on both sides the digest
    /// decides (a tag next to a digest is ignored by runtimes); otherwise name and tag must match.
    pub fn same_image(&self, other: &ImageRef) -> bool {
        if self.name() != other.name() {
            return false;
        }
        match (&self.digest, &other.digest) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.effective_tag() == other.effective_tag(),
            _ => false,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The tag as written in `input`, if any: the part after the last `:` of the last path
/// component, before any `@digest`.
fn written_tag(input: &str) -> Option<&str> {
    let name_and_tag = input.split_once('@').map_or(input, |(n, _)| n);
    let last = name_and_tag.rsplit('/').next().unwrap_or(name_and_tag);
    last.split_once(':').map(|(_, t)| t)
}

/// `sha256:<64 hex>` or `sha512:<128 hex>` (lowercase), the digest forms registries serve.
pub fn is_digest(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a Pod's `status.containerStatuses[].imageID` tells about the running image.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RunningImage {
    /// A manifest digest the runtime resolved: comparable with a declared digest.
    /// `repository` is the normalised `registry/repository` the runtime reports with it.
    Digest { repository: Option<String>, digest: String },
    /// An image config ID (`sha256:…`, `docker://sha256:…`): identifies the image's config
    /// blob, not its manifest, so it can never equal a declared digest and is not compared.
    ConfigId(String),
    /// No imageID yet (the container is still being created or pulled).
    Pending,
    /// A form this version does not know; reported as unverifiable rather than guessed at.
    Unknown(String),
}

impl RunningImage {
    /// Normalises the runtime forms:
    /// - Docker (dockershim, cri-dockerd): `docker-pullable://repo@sha256:…`, or
    ///   `docker://sha256:…` for an image that was never pulled by digest;
    /// - containerd and CRI-O: `repo@sha256:…`, or a bare `sha256:…` config ID.
    pub fn from_image_id(image_id: &str) -> Self {
        let id = image_id.trim();
        if id.is_empty() {
            return Self::Pending;
        }
        let (scheme, rest) = match id.split_once("://") {
            Some((s, r)) => (Some(s), r),
            None => (None, id),
        };
        match scheme {
            None | Some("docker-pullable") => {}
            Some("docker") if is_digest(rest) => return Self::ConfigId(rest.to_string()),
            Some(_) => return Self::Unknown(id.to_string()),
        }
        if is_digest(rest) {
            return Self::ConfigId(rest.to_string());
        }
        // Some CRI-O versions report the config ID as bare hex, without algorithm.
        if rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Self::ConfigId(format!("sha256:{rest}"));
        }
        match ImageRef::parse(rest) {
            Ok(r) => match r.digest() {
                Some(d) => Self::Digest {
                    repository: Some(r.name()),
                    digest: d.to_string(),
                },
                None => Self::Unknown(id.to_string()),
            },
            Err(_) => Self::Unknown(id.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const D512: &str = "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// (case name, input, Some((registry, repository, tag, digest)) or None for invalid)
    type Case = (
        &'static str,
        String,
        Option<(&'static str, &'static str, Option<&'static str>, Option<String>)>,
    );

    fn cases() -> Vec<Case> {
        [
            docker_hub_cases(),
            registry_cases(),
            tag_and_digest_cases(),
            invalid_cases(),
        ]
        .concat()
    }

    /// References to Docker Hub, short and long.
    fn docker_hub_cases() -> Vec<Case> {
        let d = || Some(D.to_string());
        vec![
            (
                "official short",
                "nginx".into(),
                Some(("docker.io", "library/nginx", None, None)),
            ),
            (
                "official with tag",
                "nginx:1.25".into(),
                Some(("docker.io", "library/nginx", Some("1.25"), None)),
            ),
            (
                "official with digest",
                format!("nginx@{D}"),
                Some(("docker.io", "library/nginx", None, d())),
            ),
            (
                "official tag and digest",
                format!("nginx:1.25@{D}"),
                Some(("docker.io", "library/nginx", Some("1.25"), d())),
            ),
            (
                "docker hub user repo",
                "bitnami/redis:7".into(),
                Some(("docker.io", "bitnami/redis", Some("7"), None)),
            ),
            (
                "explicit docker.io",
                "docker.io/nginx".into(),
                Some(("docker.io", "library/nginx", None, None)),
            ),
            (
                "explicit docker.io library",
                "docker.io/library/nginx:1".into(),
                Some(("docker.io", "library/nginx", Some("1"), None)),
            ),
            (
                "legacy index.docker.io",
                "index.docker.io/library/nginx".into(),
                Some(("docker.io", "library/nginx", None, None)),
            ),
        ]
    }

    /// References naming a registry: hosts, ports, paths.
    fn registry_cases() -> Vec<Case> {
        let d = || Some(D.to_string());
        vec![
            (
                "private registry",
                "registry.example.com/shop/api:v1".into(),
                Some(("registry.example.com", "shop/api", Some("v1"), None)),
            ),
            (
                "registry with port",
                "registry.example.com:5000/shop/api:v1".into(),
                Some(("registry.example.com:5000", "shop/api", Some("v1"), None)),
            ),
            (
                "registry port no tag",
                "registry.example.com:5000/api".into(),
                Some(("registry.example.com:5000", "api", None, None)),
            ),
            (
                "localhost",
                "localhost/api".into(),
                Some(("localhost", "api", None, None)),
            ),
            (
                "localhost with port",
                "localhost:5000/api:dev".into(),
                Some(("localhost:5000", "api", Some("dev"), None)),
            ),
            (
                "localhost port digest",
                format!("localhost:7439/team/api@{D}"),
                Some(("localhost:7439", "team/api", None, d())),
            ),
            (
                "ip registry",
                "10.0.0.1:5000/api".into(),
                Some(("10.0.0.1:5000", "api", None, None)),
            ),
            (
                "nested path",
                "ghcr.io/org/team/sub/api:1.0.0".into(),
                Some(("ghcr.io", "org/team/sub/api", Some("1.0.0"), None)),
            ),
            (
                "ecr",
                format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/myapp-release@{D}"),
                Some((
                    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                    "myapp-release",
                    None,
                    d(),
                )),
            ),
            (
                "gcr tag and digest",
                format!("gcr.io/proj/app:v2@{D}"),
                Some(("gcr.io", "proj/app", Some("v2"), d())),
            ),
        ]
    }

    /// The forms tags and digests take.
    fn tag_and_digest_cases() -> Vec<Case> {
        vec![
            (
                "sha512 digest",
                format!("quay.io/org/app@{D512}"),
                Some(("quay.io", "org/app", None, Some(D512.to_string()))),
            ),
            (
                "tag with dots and dashes",
                "quay.io/org/app:v1.2.3-rc.1_build".into(),
                Some(("quay.io", "org/app", Some("v1.2.3-rc.1_build"), None)),
            ),
            (
                "name with separators",
                "registry.example.com/a_b/c__d/e-f.g:1".into(),
                Some(("registry.example.com", "a_b/c__d/e-f.g", Some("1"), None)),
            ),
            (
                "port-like tag on hub",
                "test.com:5000".into(),
                Some(("docker.io", "library/test.com", Some("5000"), None)),
            ),
            (
                "hostname no dot is path",
                "myregistry/app".into(),
                Some(("docker.io", "myregistry/app", None, None)),
            ),
            (
                "tag looks like sha",
                "nginx:sha256".into(),
                Some(("docker.io", "library/nginx", Some("sha256"), None)),
            ),
            (
                "uppercase tag allowed",
                "nginx:Latest".into(),
                Some(("docker.io", "library/nginx", Some("Latest"), None)),
            ),
            (
                "max length tag",
                format!("nginx:{}", "a".repeat(128)),
                Some((
                    "docker.io",
                    "library/nginx",
                    Some(Box::leak("a".repeat(128).into_boxed_str())),
                    None,
                )),
            ),
        ]
    }

    /// Strings that are no image reference.
    fn invalid_cases() -> Vec<Case> {
        vec![
            ("empty", "".into(), None),
            ("only tag", ":latest".into(), None),
            ("uppercase repo", "Nginx".into(), None),
            ("uppercase path", "registry.example.com/Shop/api".into(), None),
            ("trailing colon", "nginx:".into(), None),
            ("trailing at", "nginx@".into(), None),
            ("short digest", "nginx@sha256:abc".into(), None),
            ("unknown algorithm", format!("nginx@md5:{}", "0".repeat(32)), None),
            ("digest wrong length", format!("nginx@sha256:{}", "0".repeat(63)), None),
            ("uppercase digest hex", format!("nginx@sha256:{}", "A".repeat(64)), None),
            ("tag too long", format!("nginx:{}", "a".repeat(129)), None),
            ("tag starts with dot", "nginx:.bad".into(), None),
            ("double slash", "registry.example.com//api".into(), None),
            ("leading slash", "/api".into(), None),
            ("trailing slash", "api/".into(), None),
            ("whitespace inside", "ngi nx".into(), None),
            ("leading whitespace", " nginx".into(), None),
            ("scheme prefix", "https://registry.example.com/api".into(), None),
            ("two tags", "nginx:1:2".into(), None),
            ("template placeholder", "${IMAGE}".into(), None),
            ("separator at start", "-nginx".into(), None),
            ("non-ASCII letter in tag", "repo:vÄ".into(), None),
            ("non-ASCII digit in tag", "nginx:1\u{0663}".into(), None),
            (
                "non-ASCII letter in name",
                "registry.example.com/caf\u{e9}/api:1".into(),
                None,
            ),
            ("placeholder in angle brackets", "<APP_IMAGE>".into(), None),
        ]
    }

    #[test]
    fn image_references() {
        let cases = cases();
        assert!(cases.len() >= 40);
        for (name, input, want) in cases {
            let got = ImageRef::parse(&input);
            match (want, got) {
                (Some((registry, repository, tag, digest)), Ok(r)) => {
                    assert_eq!(r.registry(), registry, "{name}: registry");
                    assert_eq!(r.repository(), repository, "{name}: repository");
                    assert_eq!(r.tag(), tag, "{name}: tag");
                    assert_eq!(r.digest().map(str::to_string), digest, "{name}: digest");
                }
                (None, Err(e)) => {
                    assert_eq!(e.reference, input, "{name}: error names the reference")
                }
                (want, got) => panic!("{name}: input {input:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn effective_tag_defaults_to_latest_only_without_digest() {
        assert_eq!(ImageRef::parse("nginx").unwrap().effective_tag(), Some("latest"));
        assert_eq!(ImageRef::parse(&format!("nginx@{D}")).unwrap().effective_tag(), None);
        assert_eq!(ImageRef::parse("nginx:1").unwrap().effective_tag(), Some("1"));
    }

    #[test]
    fn same_image() {
        let p = |s: &str| ImageRef::parse(s).unwrap();
        let cases = [
            (
                "short and long name",
                p("nginx:1"),
                p("docker.io/library/nginx:1"),
                true,
            ),
            ("implicit latest", p("nginx"), p("nginx:latest"), true),
            ("tag differs", p("nginx:1"), p("nginx:2"), false),
            (
                "digest decides over tag",
                p(&format!("nginx:1@{D}")),
                p(&format!("nginx@{D}")),
                true,
            ),
            ("digest vs tag only", p(&format!("nginx@{D}")), p("nginx:1"), false),
            (
                "other registry",
                p(&format!("a.io/x@{D}")),
                p(&format!("b.io/x@{D}")),
                false,
            ),
        ];
        for (name, a, b, want) in cases {
            assert_eq!(a.same_image(&b), want, "{name}");
        }
    }

    #[test]
    fn display_is_normalised() {
        assert_eq!(
            ImageRef::parse("nginx:1").unwrap().to_string(),
            "docker.io/library/nginx:1"
        );
        assert_eq!(
            ImageRef::parse(&format!("api@{D}")).unwrap().to_string(),
            format!("docker.io/library/api@{D}")
        );
    }

    #[test]
    fn runtime_image_ids() {
        let hex = &D["sha256:".len()..];
        let digest = |repo: &str| RunningImage::Digest {
            repository: Some(repo.into()),
            digest: D.into(),
        };
        let cases = [
            (
                "docker pullable",
                format!("docker-pullable://registry.example.com/shop/api@{D}"),
                digest("registry.example.com/shop/api"),
            ),
            (
                "docker pullable hub short",
                format!("docker-pullable://nginx@{D}"),
                digest("docker.io/library/nginx"),
            ),
            (
                "containerd",
                format!("registry.example.com/shop/api@{D}"),
                digest("registry.example.com/shop/api"),
            ),
            (
                "containerd hub",
                format!("docker.io/library/nginx@{D}"),
                digest("docker.io/library/nginx"),
            ),
            (
                "cri-o with port",
                format!("localhost:5000/api@{D}"),
                digest("localhost:5000/api"),
            ),
            (
                "docker config id",
                format!("docker://{D}"),
                RunningImage::ConfigId(D.into()),
            ),
            ("bare config id", D.to_string(), RunningImage::ConfigId(D.into())),
            ("bare hex config id", hex.to_string(), RunningImage::ConfigId(D.into())),
            ("empty while pulling", String::new(), RunningImage::Pending),
            (
                "tag only is not a digest",
                "docker.io/library/nginx:1".to_string(),
                RunningImage::Unknown("docker.io/library/nginx:1".into()),
            ),
            (
                "unknown scheme",
                format!("cri://{D}"),
                RunningImage::Unknown(format!("cri://{D}")),
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(RunningImage::from_image_id(&input), want, "{name}");
        }
    }
}
