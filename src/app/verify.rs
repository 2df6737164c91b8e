//! `driftwatch verify IMAGE`: one reference checked by hand against the signature policies,
//! with the evidence printed (which signature, which key or certificate, which Rekor entry).
//! Reads the registry every time: the verdict cache is for audits.

use std::collections::BTreeSet;
use std::sync::Arc;

use clap::ValueEnum;
use serde::Serialize;
use serde_json::json;

use crate::config::{Config, SignaturePolicyConfig};
use crate::core::image::ImageRef;
use crate::core::model::{Lookup, Manifest, Severity};
use crate::core::report::{EXIT_CLEAN, EXIT_DRIFT, EXIT_ERROR};
use crate::core::signatures::{Target, Verdict};
use crate::sources::registry::{Registry, RegistryClient};
use crate::sources::signatures::{evidence, verdict};

/// `verify --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    Text,
    Json,
}

/// Why `verify` could not check the reference at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0:?} is not an image reference: {1}")]
    Reference(String, #[source] crate::core::image::ImageRefError),
    #[error("no signature policy is named {0:?} (policies: {1})")]
    UnknownPolicy(String, String),
    #[error("no [[policies.signatures]] covers {0}")]
    NoPolicy(String),
    #[error("no [[registries]] entry for {0}: its signatures cannot be read")]
    NoRegistry(String),
    #[error(transparent)]
    Registry(#[from] crate::sources::registry::RegistryError),
    #[error("{0}: {1}")]
    Resolve(String, String),
}

/// One policy's verdict on the reference, as printed.
#[derive(Serialize)]
struct Checked {
    policy: String,
    severity: Severity,
    #[serde(flatten)]
    verdict: Verdict,
}

/// The command: 0 signed under every policy that applies, 1 a finding at or above `fail_on`
/// (unsigned, invalid, built elsewhere), 2 when it could not be checked.
pub async fn command(cfg: &Config, image: &str, policy: Option<&str>, format: VerifyFormat) -> u8 {
    match run(cfg, image, policy).await {
        Ok((name, digest, target, checked)) => {
            print(format, &name, &digest, &target, &checked);
            exit_code(&checked, cfg.audit.fail_on)
        }
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            EXIT_ERROR
        }
    }
}

fn exit_code(checked: &[Checked], fail_on: Severity) -> u8 {
    if checked
        .iter()
        .any(|c| matches!(c.verdict, Verdict::Unverifiable { .. }))
    {
        EXIT_ERROR
    } else if checked.iter().any(|c| !c.verdict.is_signed() && c.severity >= fail_on) {
        EXIT_DRIFT
    } else {
        EXIT_CLEAN
    }
}

async fn run(
    cfg: &Config,
    image: &str,
    policy: Option<&str>,
) -> Result<(String, String, Target, Vec<Checked>), VerifyError> {
    let reference = ImageRef::parse(image).map_err(|e| VerifyError::Reference(image.to_string(), e))?;
    let name = reference.name();
    let policies = policies(cfg, &name, policy)?;
    if !cfg.registries.iter().any(|r| r.host == reference.registry()) {
        return Err(VerifyError::NoRegistry(reference.registry().to_string()));
    }
    let client = RegistryClient::new(&cfg.registries, Arc::default())?;
    let registry = client.audit();
    let (digest, indexes) = resolve(&registry, &reference).await?;
    let target = Target {
        image: reference,
        indexes,
    };
    let gathered = evidence::gather(&registry, &target.image, &target.subjects(&digest)).await;
    let key = (name.clone(), digest.clone());
    let now = std::time::SystemTime::now();
    let checked = policies
        .into_iter()
        .map(|p| Checked {
            policy: p.name.clone(),
            severity: p.severity,
            verdict: verdict(p, &key, &target, Some(&gathered), now),
        })
        .collect();
    Ok((name, digest, target, checked))
}

/// The named policy, else every policy covering `name` in some environment.
fn policies<'a>(
    cfg: &'a Config,
    name: &str,
    wanted: Option<&str>,
) -> Result<Vec<&'a SignaturePolicyConfig>, VerifyError> {
    let all = &cfg.policies.signatures;
    match wanted {
        Some(w) => all.iter().find(|p| p.name == w).map(|p| vec![p]).ok_or_else(|| {
            VerifyError::UnknownPolicy(
                w.to_string(),
                all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
            )
        }),
        None => {
            let covering: Vec<_> = all
                .iter()
                .filter(|p| p.images.is_empty() || covers_image(p, name))
                .collect();
            if covering.is_empty() {
                Err(VerifyError::NoPolicy(name.to_string()))
            } else {
                Ok(covering)
            }
        }
    }
}

fn covers_image(p: &SignaturePolicyConfig, name: &str) -> bool {
    match p.environments.first() {
        Some(e) => p.covers(e, name),
        None => p.covers("", name),
    }
}

/// The digest to check (the reference's, else its tag's) and, when the reference names both a
/// tag and a digest, the tag's index if it lists the digest.
async fn resolve(registry: &Registry<'_>, r: &ImageRef) -> Result<(String, BTreeSet<String>), VerifyError> {
    let unavailable = |what: String, e: Lookup<()>| match e {
        Lookup::Unavailable(e) => VerifyError::Resolve(what, e),
        _ => VerifyError::Resolve(what, "not found in the registry".into()),
    };
    let tagged = match r.effective_tag() {
        Some(tag) => match registry.resolve_tag(r, tag).await {
            Lookup::Found(d) => Some(d),
            Lookup::NotFound if r.digest().is_some() => None,
            other => return Err(unavailable(format!("{}:{tag}", r.name()), other.map(|_| ()))),
        },
        None => None,
    };
    let Some(digest) = r.digest().map(str::to_string).or(tagged.clone()) else {
        return Err(VerifyError::Resolve(r.name(), "neither a tag nor a digest".into()));
    };
    let mut indexes = BTreeSet::new();
    if let Some(index) = tagged.filter(|t| *t != digest)
        && let Lookup::Found(Manifest::Index(platforms)) = registry.manifest(r, &index).await
        && platforms.iter().any(|(d, _)| *d == digest)
    {
        indexes.insert(index);
    }
    Ok((digest, indexes))
}

fn print(format: VerifyFormat, name: &str, digest: &str, target: &Target, checked: &[Checked]) {
    match format {
        VerifyFormat::Json => {
            let out = json!({"image": name, "digest": digest, "indexes": target.indexes, "policies": checked});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        VerifyFormat::Text => {
            println!("{name}@{digest}");
            for i in &target.indexes {
                println!("  listed by index {i}");
            }
            for c in checked {
                let (word, lines) = match &c.verdict {
                    Verdict::Signed { evidence } => ("signed", evidence.clone()),
                    Verdict::Unsigned { found } => ("unsigned", vec![found.clone()]),
                    Verdict::Invalid { why } => ("signature-invalid", vec![why.clone()]),
                    Verdict::ProvenanceMismatch { found } => ("provenance-mismatch", vec![found.clone()]),
                    Verdict::Unverifiable { reason } => ("unverifiable", vec![reason.clone()]),
                };
                println!("policy {}: {word}", c.policy);
                for l in lines {
                    println!("  {l}");
                }
            }
        }
    }
}
