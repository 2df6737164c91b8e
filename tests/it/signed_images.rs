//! Signatures and provenance of running digests against the suite's real docker-registry: the
//! harness pushes images and their signatures, attestations and Sigstore bundles in the layouts
//! cosign and the bundle spec define (cosign tag scheme `sha256-<hex>.sig`/`.att`, referrers by
//! the tag schema and through the referrers API), made with the `signatures` crate's
//! test-support keys, Fulcio-style CA and Rekor-style log. Audits run `driftwatch --once`
//! against the suite's Kubernetes API (Pods' imageIDs are the running digests); the by-hand
//! check runs `driftwatch verify`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use signatures::Evidence;
use signatures::testing::{self, BundleSigner, BundleVersion, Ca, KeyPair, RekorLog};
use support::config::ConfigBuilder;
use support::fixtures::{deployment, deployment_yaml, pod};
use support::kube::FakeKube;
use support::postgres::Postgres;
use support::registry::{OCI_INDEX, OCI_MANIFEST, OciRegistry, RegistryFront};
use support::run::{Output, driftwatch};
use support::write;

const USER: &str = "puller";
const PASSWORD: &str = "registry-pa55-do-not-print";
const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const RELEASE: &str = "https://github.com/example/shop/.github/workflows/release.yml@refs/tags/v1";
const BUILDER: &str = "https://github.com/actions/runner/github-hosted";
const STORE_PASSWORD_ENV: &str = "DRIFTWATCH_STORE_PASSWORD";

/// One test's registry, cluster and config directory.
struct World {
    dir: tempfile::TempDir,
    registry: OciRegistry,
    /// The host images are named by (the registry, or a front for it).
    host: String,
    kube: Option<FakeKube>,
    /// A PostgreSQL database as the store (the verdict cache), else the SQLite file.
    store: Option<String>,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let registry = OciRegistry::start(dir.path(), USER, PASSWORD);
        let host = registry.host();
        Self {
            dir,
            registry,
            host,
            kube: None,
            store: None,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `shop/api` as one image; its digest.
    fn image(&self, seed: &str) -> String {
        self.registry.push_image("shop/api", seed, "amd64", seed).0
    }

    fn reference(&self) -> String {
        format!("{}/shop/api", self.host)
    }

    /// Pushes `e` where cosign or the bundle spec put it, for the manifest `subject`.
    fn push(&self, subject: &str, e: Evidence) {
        match e {
            Evidence::SimpleSigning { payload, annotations } => {
                self.registry.push_cosign(
                    "shop/api",
                    subject,
                    ".sig",
                    SIMPLE_SIGNING,
                    &[(payload, json!(annotations))],
                );
            }
            Evidence::Attestation { envelope, annotations } => {
                self.registry
                    .push_cosign("shop/api", subject, ".att", DSSE, &[(envelope, json!(annotations))]);
            }
            Evidence::Bundle { json } => {
                let media_type = match self.registry.get_manifest("shop/api", subject) {
                    Some(m) if m["mediaType"] == OCI_INDEX => OCI_INDEX,
                    _ => OCI_MANIFEST,
                };
                self.registry
                    .push_bundle_referrer("shop/api", subject, media_type, &json);
            }
        }
    }

    /// A PEM file of `key`'s public half.
    fn key_file(&self, name: &str, key: &KeyPair) -> PathBuf {
        let path = self.path().join(format!("keys/{name}.pub"));
        write(&path, &key.public_pem());
        path
    }

    /// Git declares shop/api at `declared`; the cluster's Pod runs `running`; the config
    /// audits production with `policy` (TOML of one `[[policies.signatures]]`).
    fn setup(&mut self, declared: &str, running: &str, policy: &str) -> PathBuf {
        let image = self.reference();
        write(
            &self.path().join("gitops/apps/api/production/deploy.yaml"),
            &deployment_yaml("api", "shop", &format!("{image}@{declared}")),
        );
        let (d, rs) = deployment("shop", "api", &[("api", &format!("{image}@{declared}"))], 1);
        let p = pod(&rs, "a", &[("api", &format!("{image}@{running}"))]);
        let kube = FakeKube::start(vec![d, rs, p]);
        let kubeconfig = kube.kubeconfig(self.path(), "prod");
        self.kube = Some(kube);
        self.config(&kubeconfig, policy)
    }

    fn config(&self, kubeconfig: &Path, policy: &str) -> PathBuf {
        let mut cfg = ConfigBuilder::new(self.path())
            .gitops(|g| g.path("gitops"))
            .registry(|r| {
                r.host(&self.host)
                    .insecure(true)
                    .backoff("10ms")
                    .max_attempts(2)
                    .timeout("3s")
                    .username_env("REG_USER")
                    .password_env("REG_PASSWORD")
            })
            .environment("production", |e| {
                e.paths(&["apps/*/production"])
                    .require_digest(false)
                    .kubeconfig(kubeconfig)
            });
        if let Some(url) = &self.store {
            cfg = cfg.store(|s| s.url(url).password_env(STORE_PASSWORD_ENV));
        }
        let path = self.path().join("driftwatch.toml");
        write(&path, &format!("{}\n{policy}", cfg.toml()));
        path
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut env = vec![("REG_USER", USER), ("REG_PASSWORD", PASSWORD)];
        if self.store.is_some() {
            env.push((STORE_PASSWORD_ENV, Postgres::shared().password()));
        }
        let out = driftwatch(self.path(), args, &env);
        assert!(
            !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
            "the registry password is never printed"
        );
        out
    }

    fn audit(&self, cfg: &Path) -> Output {
        self.run(&["--once", "--format", "json", "--config", cfg.to_str().unwrap()])
    }

    /// The audit's status page (`--format html`) marks the api cell `mark`.
    fn assert_marked(&self, cfg: &Path, mark: &str) {
        let html = self.run(&["--once", "--format", "html", "--config", cfg.to_str().unwrap()]);
        assert!(
            html.stdout.contains(&format!("data-signature=\"{mark}\"")),
            "the status page marks the cell {mark}"
        );
    }

    fn verify(&self, cfg: &Path, image: &str) -> Output {
        self.run(&["verify", image, "--format", "json", "--config", cfg.to_str().unwrap()])
    }
}

/// A key-based policy over every image in production.
fn key_policy(key: &Path) -> String {
    format!(
        "[[policies.signatures]]\nname = \"release\"\nenvironments = [\"production\"]\nimages = [\"**\"]\nkeys = [\"{}\"]\nseverity = \"critical\"\n",
        key.display()
    )
}

/// A keyless policy: `subject_regex` of the release workflow, the trusted root file.
fn keyless_policy(root: &Path, subject_regex: &str) -> String {
    format!(
        "[[policies.signatures]]\nname = \"keyless\"\nidentities = [{{ issuer = \"{ISSUER}\", subject_regex = '{subject_regex}' }}]\ntrusted_root = \"{}\"\n",
        root.display()
    )
}

/// The signature findings of a report: (type, severity, message).
fn signature_findings(report: &Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            matches!(
                f["type"].as_str().unwrap(),
                "unsigned" | "signature-invalid" | "provenance-mismatch"
            ) || (f["type"] == "unverifiable" && f["message"].as_str().unwrap().contains("signature check"))
        })
        .map(|f| {
            (
                f["type"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The verdict `verify --format json` printed for the first policy.
/// The one signature finding an audit of `cfg` reports (type, severity, message), which makes
/// it exit 1 (all but `unverifiable` are warnings or worse).
fn one_finding(w: &World, cfg: &Path) -> (String, String, String) {
    let out = w.audit(cfg);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let mut found = signature_findings(&out.json());
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn verdict(out: &Output) -> Value {
    let v = out.json();
    v["policies"][0].clone()
}

fn an_hour_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

#[test]
fn a_signature_of_the_policy_key_verifies_and_verify_names_the_key() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let key = KeyPair::p256();
    w.push(&digest, testing::sign_simple_signing(&key, &w.reference(), &digest));
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &key)));

    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(signature_findings(&out.json()), vec![]);

    w.assert_marked(&cfg, "signed");

    let out = w.verify(&cfg, &format!("{}@{digest}", w.reference()));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let v = verdict(&out);
    assert_eq!(v["verdict"], "signed");
    let evidence = v["evidence"][0].as_str().unwrap();
    assert!(
        evidence.contains(&key.public_key().fingerprint()) && evidence.contains(".sig"),
        "names the key's fingerprint and the cosign tag: {evidence}"
    );
    let text = w.run(&[
        "verify",
        &format!("{}:api-1", w.reference()),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .starts_with(&format!("{}@{digest}\npolicy release: signed\n  ", w.reference())),
        "a tag is checked at the digest it points to: {}",
        text.stdout
    );
}

#[test]
fn a_signature_by_another_key_is_unsigned_and_says_what_was_found() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let (ours, theirs) = (KeyPair::p256(), KeyPair::p256());
    w.push(&digest, testing::sign_simple_signing(&theirs, &w.reference(), &digest));
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &ours)));

    let found = one_finding(&w, &cfg);
    let (kind, severity, message) = &found;
    assert_eq!((kind.as_str(), severity.as_str()), ("unsigned", "critical"));
    assert!(
        message.contains("policy release") && message.contains(".sig") && message.contains("1 piece(s) of evidence"),
        "{message}"
    );
    w.assert_marked(&cfg, "unsigned");
    let out = w.verify(&cfg, &format!("{}@{digest}", w.reference()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(verdict(&out)["verdict"], "unsigned");
}

#[test]
fn a_payload_naming_another_digest_is_signature_invalid() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let other = w.image("api-2");
    let key = KeyPair::p256();
    // The other image's signature, copied to this digest's tag: the payload names `other`.
    w.push(&digest, testing::sign_simple_signing(&key, &w.reference(), &other));
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &key)));

    let found = one_finding(&w, &cfg);
    assert_eq!(found.0, "signature-invalid");
    assert!(found.2.contains(&other), "names the digest signed: {}", found.2);
}

#[test]
fn no_signature_at_all_is_unsigned() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let key = KeyPair::p256();
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &key)));

    let found = one_finding(&w, &cfg);
    assert_eq!(found.0, "unsigned");
    assert!(
        found.2.contains("no signature, attestation or Sigstore bundle found"),
        "{}",
        found.2
    );
}

/// A keyless signature by the release workflow, logged in Rekor: `identity` decides.
fn keyless(subject_regex: &str, lifetime: Duration, logged: bool) -> (World, PathBuf, String) {
    let mut w = World::new();
    let digest = w.image("api-1");
    let ca = Ca::new();
    let mut log = RekorLog::new();
    let signed_at = an_hour_ago();
    let cert = ca.issue_for(ISSUER, RELEASE, signed_at, lifetime);
    let tlog = logged.then_some((&mut log, signed_at));
    let e = testing::sign_simple_signing_keyless(&cert, &ca, tlog, &w.reference(), &digest);
    w.push(&digest, e);
    let root = w.path().join("trusted_root.json");
    std::fs::write(&root, testing::trusted_root(&ca, &log)).unwrap();
    let cfg = w.setup(&digest, &digest, &keyless_policy(&root, subject_regex));
    (w, cfg, digest)
}

#[test]
fn keyless_with_the_right_identity_verifies_and_verify_names_certificate_and_rekor_entry() {
    let (w, cfg, digest) = keyless(
        r"^https://github\.com/example/.+/\.github/workflows/release\.yml@refs/tags/v.*$",
        Duration::from_secs(600),
        true,
    );
    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(signature_findings(&out.json()), vec![]);
    let out = w.verify(&cfg, &format!("{}@{digest}", w.reference()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let evidence = verdict(&out)["evidence"][0].as_str().unwrap().to_string();
    assert!(
        evidence.contains(RELEASE) && evidence.contains(ISSUER) && evidence.contains("Rekor entry"),
        "{evidence}"
    );
}

#[test]
fn keyless_with_another_identity_is_unsigned() {
    let (w, cfg, _) = keyless(
        r"^https://github\.com/example/.+/\.github/workflows/deploy\.yml@refs/heads/main$",
        Duration::from_secs(600),
        true,
    );
    let found = one_finding(&w, &cfg);
    assert_eq!(found.0, "unsigned");
    assert!(found.2.contains(RELEASE), "says who signed: {}", found.2);
}

#[test]
fn an_expired_certificate_without_a_rekor_time_is_invalid() {
    // Valid ten minutes, an hour ago; nothing proves it signed then.
    let (w, cfg, _) = keyless(".*", Duration::from_secs(600), false);
    let found = one_finding(&w, &cfg);
    assert_eq!(found.0, "signature-invalid");
    assert!(found.2.contains("certificate"), "{}", found.2);
}

#[test]
fn an_expired_certificate_with_a_valid_rekor_time_verifies() {
    let (w, cfg, _) = keyless(".*", Duration::from_secs(600), true);
    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(signature_findings(&out.json()), vec![]);
    w.assert_marked(&cfg, "signed");
}

#[test]
fn a_signature_of_the_index_covers_the_platform_digest_the_pods_run() {
    let mut w = World::new();
    let (amd64, amd64_size) = w.registry.push_image("shop/api", "v1-amd64", "amd64", "api-1");
    let (arm64, arm64_size) = w.registry.push_image("shop/api", "v1-arm64", "arm64", "api-1");
    let index = w.registry.push_index(
        "shop/api",
        "v1",
        &[(amd64.clone(), amd64_size, "amd64"), (arm64, arm64_size, "arm64")],
    );
    let key = KeyPair::p256();
    w.push(&index, testing::sign_simple_signing(&key, &w.reference(), &index));
    // Git declares the index; the Pod runs the amd64 manifest.
    let cfg = w.setup(&index, &amd64, &key_policy(&w.key_file("release", &key)));

    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(signature_findings(&out.json()), vec![]);
    w.assert_marked(&cfg, "signed");
    // By hand: the tag names the index, the digest the platform manifest.
    let out = w.verify(&cfg, &format!("{}:v1@{amd64}", w.reference()));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["indexes"][0], index.as_str());
    assert!(
        verdict(&out)["evidence"][0]
            .as_str()
            .unwrap()
            .contains(&format!("signature of {index}"))
    );

    // An index that does not list the running digest does not cover it.
    let (other, _) = w.registry.push_image("shop/api", "v2", "amd64", "api-2");
    let cfg = w.setup(&index, &other, &key_policy(&w.key_file("release", &key)));
    let out = w.audit(&cfg);
    assert_eq!(signature_findings(&out.json())[0].0, "unsigned", "{}", out.stdout);
}

#[test]
fn a_sigstore_bundle_found_by_the_referrers_tag_schema_verifies() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let key = KeyPair::p256();
    let bundle = testing::make_bundle(BundleSigner::Key(&key), BundleVersion::V03, &digest, None);
    w.push(&digest, Evidence::Bundle { json: bundle });
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &key)));

    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(signature_findings(&out.json()), vec![]);
    w.assert_marked(&cfg, "signed");
    let out = w.verify(&cfg, &format!("{}@{digest}", w.reference()));
    let evidence = verdict(&out)["evidence"][0].as_str().unwrap().to_string();
    assert!(
        evidence.contains("referrers tag schema"),
        "docker-registry 2.8 serves no referrers API: {evidence}"
    );
}

#[test]
fn a_sigstore_bundle_served_by_the_referrers_api_verifies() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let key = KeyPair::p256();
    let bundle = testing::make_bundle(BundleSigner::Key(&key), BundleVersion::V03, &digest, None);
    w.push(&digest, Evidence::Bundle { json: bundle });
    let front = RegistryFront::start(&w.registry, true);
    w.host = front.addr.to_string();
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &key)));

    let out = w.verify(&cfg, &format!("{}@{digest}", w.reference()));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let evidence = verdict(&out)["evidence"][0].as_str().unwrap().to_string();
    assert!(evidence.contains("referrers API"), "{evidence}");
    let asked = front.take();
    assert!(
        asked.iter().any(|r| r.contains(&format!("/referrers/{digest}"))),
        "{asked:?}"
    );
}

#[test]
fn an_attestation_from_another_builder_is_provenance_mismatch() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let key = KeyPair::p256();
    w.push(&digest, testing::sign_simple_signing(&key, &w.reference(), &digest));
    let statement = testing::in_toto_statement(
        &digest,
        "https://slsa.dev/provenance/v1",
        testing::slsa_v1_predicate(
            "https://ci.example.net/self-hosted",
            "git+https://github.com/example/shop@refs/tags/v1",
        ),
    );
    w.push(&digest, testing::attest(&key, &statement));
    let policy = format!(
        "{}provenance = {{ builder_id = \"{BUILDER}\", source_repo = \"github.com/example/shop\" }}\n",
        key_policy(&w.key_file("release", &key))
    );
    let cfg = w.setup(&digest, &digest, &policy);

    let found = one_finding(&w, &cfg);
    assert_eq!(found.0, "provenance-mismatch");
    assert!(
        found.2.contains("https://ci.example.net/self-hosted"),
        "names the builder found: {}",
        found.2
    );
}

#[test]
fn a_registry_that_is_down_makes_the_check_unverifiable_never_unsigned() {
    let mut w = World::new();
    let digest = w.image("api-1");
    let key = KeyPair::p256();
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &key)));
    w.registry.stop();

    let out = w.audit(&cfg);
    let found = signature_findings(&out.json());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].1.as_str()), ("unverifiable", "info"));
    assert!(found[0].2.contains("unreachable"), "{}", found[0].2);
}

#[test]
fn a_verified_digest_is_not_asked_again_until_the_policy_changes() {
    // The verdict cache on both store backends: the SQLite file, then PostgreSQL.
    cached_verdicts(None);
    let database = Postgres::shared().database("verdicts");
    cached_verdicts(Some(&database));
    assert_eq!(
        Postgres::shared()
            .sql(&database, "SELECT count(*) FROM signature_verdicts")
            .trim(),
        "1",
        "one verdict: the policy's older hash was dropped"
    );
}

fn cached_verdicts(store: Option<&str>) {
    let mut w = World::new();
    w.store = store.map(str::to_string);
    let digest = w.image("api-1");
    let key = KeyPair::p256();
    w.push(&digest, testing::sign_simple_signing(&key, &w.reference(), &digest));
    let front = RegistryFront::start(&w.registry, false);
    w.host = front.addr.to_string();
    let cfg = w.setup(&digest, &digest, &key_policy(&w.key_file("release", &key)));

    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let first = front.take();
    assert!(
        first.iter().any(|r| r.ends_with(".sig")),
        "the first audit reads the signature: {first:?}"
    );

    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let second = front.take();
    assert!(
        !second
            .iter()
            .any(|r| r.contains("sha256-") || r.contains("/blobs/") || r.contains("/referrers/")),
        "the second audit asks nothing about signatures: {second:?}"
    );

    // A second key in the policy: its hash changes, the digest is checked again.
    let policy = key_policy(&w.key_file("release", &key)).replace(
        "keys = [",
        &format!("keys = [\"{}\", ", w.key_file("next", &KeyPair::p256()).display()),
    );
    let cfg = w.setup(&digest, &digest, &policy);
    let out = w.audit(&cfg);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let third = front.take();
    assert!(third.iter().any(|r| r.ends_with(".sig")), "re-checked: {third:?}");
}

#[test]
fn check_config_names_the_key_file_that_does_not_parse_and_the_bad_regex() {
    let w = World::new();
    let bad = w.path().join("keys/bad.pub");
    write(
        &bad,
        "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
    );
    let root = w.path().join("root.json");
    write(&root, "{}");
    let policy = format!(
        "{}[[policies.signatures]]\nname = \"keyless\"\nidentities = [{{ issuer = \"{ISSUER}\", subject_regex = '(unclosed' }}]\ntrusted_root = \"{}\"\n",
        key_policy(&bad),
        root.display()
    );
    let cfg = w.config(Path::new("/nonexistent-kubeconfig"), &policy);
    let out = w.run(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("policies.signatures[0].keys[0]") && out.stderr.contains(&bad.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("policies.signatures[1]")
            && (out.stderr.contains("subject_regex") || out.stderr.contains("trusted_root")),
        "{}",
        out.stderr
    );
}
