//! The SARIF 2.1.0 rendering, as GitHub code scanning ingests it: one rule per finding type
//! with help text, one result per finding (ignored ones as suppressed results), each anchored
//! to the manifest file and carrying the finding fingerprint, so an alert stays the same alert
//! from one run to the next.

use serde_json::{Value, json};

use super::Report;
use crate::core::model::{Finding, FindingType, Severity};

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The key under `partialFingerprints`: versioned, so that a change to how fingerprints are
/// computed can never match old alerts by accident.
const FINGERPRINT_KEY: &str = "driftwatchFingerprint/v1";

/// Every finding type, in the order of the rules array (a result's `ruleIndex`).
const TYPES: [FindingType; 18] = [
    FindingType::DigestDrift,
    FindingType::SpecDrift,
    FindingType::MixedRollout,
    FindingType::Missing,
    FindingType::Undeclared,
    FindingType::Unpinned,
    FindingType::Unverifiable,
    FindingType::InvalidManifest,
    FindingType::DisallowedSource,
    FindingType::TagMoved,
    FindingType::DigestNotFound,
    FindingType::PromotionSkipped,
    FindingType::ConfigDrift,
    FindingType::ExpiredIgnore,
    FindingType::Override,
    FindingType::Unsigned,
    FindingType::SignatureInvalid,
    FindingType::ProvenanceMismatch,
];

/// The file in the GitOps repository a finding is about, where one is known: today the
/// configured path that rendered the workload (a file, or a kustomize overlay directory).
pub(super) fn location(f: &Finding) -> Option<&str> {
    f.file.as_deref().or(f.source.as_deref()).filter(|s| !s.is_empty())
}

impl Report {
    pub fn to_sarif(&self) -> String {
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| result(f, None))
            .chain(self.ignored.iter().map(|i| result(&i.finding, Some(&i.reason))))
            .collect();
        let notifications: Vec<Value> = self
            .environments
            .iter()
            .flat_map(|e| {
                e.not_judged().iter().map(
                    move |err| json!({"level": "error", "message": {"text": format!("environment {}: {err}", e.name)}}),
                )
            })
            .collect();
        let mut driver = json!({
            "name": "driftwatch",
            "version": env!("CARGO_PKG_VERSION"),
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "rules": TYPES.iter().map(|t| rule(*t)).collect::<Vec<_>>(),
        });
        let homepage = env!("CARGO_PKG_HOMEPAGE");
        if !homepage.is_empty() {
            driver["informationUri"] = homepage.into();
        }
        let log = json!({
            "$schema": SCHEMA_URI,
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": driver},
                "invocations": [{
                    "executionSuccessful": self.summary.errors == 0,
                    "startTimeUtc": super::timestamp(self.started_at),
                    "endTimeUtc": super::timestamp(self.finished_at),
                    "toolExecutionNotifications": notifications,
                }],
                "properties": {
                    "gitops": {"url": self.gitops.url, "commit": self.gitops.commit},
                    "environments": self.environments.iter().map(|e| &e.name).collect::<Vec<_>>(),
                },
                "results": results,
            }],
        });
        serde_json::to_string_pretty(&log).expect("SARIF serializes")
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn result(f: &Finding, ignored_because: Option<&str>) -> Value {
    let index = TYPES.iter().position(|t| *t == f.kind).expect("every type has a rule");
    let workload = match (f.workload_kind, &f.name) {
        (Some(kind), Some(name)) => Some(format!("{kind} {}/{name}", f.namespace)),
        _ => None,
    };
    let object = match (f.workload_kind, &f.name) {
        (Some(kind), Some(name)) => format!("/{kind}/{name}"),
        _ => String::new(),
    };
    let mut logical = json!({
        "kind": "resource",
        "fullyQualifiedName": format!("{}/{}/{}{object}", f.environment, f.cluster, f.namespace),
    });
    if let Some(w) = &workload {
        logical["name"] = w.as_str().into();
    }
    let mut out = json!({
        "ruleId": rule_id(f.kind),
        "ruleIndex": index,
        "level": level(f.severity),
        "message": {"text": match crate::core::compare::controller_note(f) {
            Some(note) => format!("{}: {note}. {}", f.environment, f.message),
            None => format!("{}: {}", f.environment, f.message),
        }},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(&artifact(f))},
                // The file as a whole: manifests are rendered, so no line maps back to git.
                "region": {"startLine": 1},
            },
            "logicalLocations": [logical],
        }],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": {
            "severity": f.severity,
            "environment": f.environment,
            "cluster": f.cluster,
            "namespace": f.namespace,
            "workload": workload,
            "container": f.container,
            "declared": f.declared,
            "running": f.running,
            "commit": f.commit,
        },
    });
    if let Some(a) = &f.argocd {
        out["properties"]["argocd"] = json!(a);
    }
    if let Some(x) = &f.flux {
        out["properties"]["flux"] = json!(x);
    }
    if let Some(reason) = ignored_because {
        out["suppressions"] = json!([{"kind": "external", "status": "accepted", "justification": reason}]);
    }
    out
}

/// The path a result is anchored to. GitHub rejects a whole upload when one result lacks a
/// physical location, so a finding with no file in git (an `undeclared` workload) gets a
/// stable path naming the live object instead; it matches no file, and GitHub shows the alert
/// without a code snippet.
fn artifact(f: &Finding) -> String {
    match location(f) {
        Some(path) => path.trim_start_matches("./").to_string(),
        None => {
            let object = match (f.workload_kind, &f.name) {
                (Some(kind), Some(name)) => format!("/{kind}/{name}"),
                _ => String::new(),
            };
            format!("cluster/{}/{}{object}", f.environment, f.namespace)
        }
    }
}

/// A relative path as a URI reference: bytes outside RFC 3986's unreserved and sub-delims
/// (and `/`, `:`, `@`) are percent-encoded, so a space or `#` in a path stays part of it.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rule_id(t: FindingType) -> String {
    format!("driftwatch/{t}")
}

fn rule(t: FindingType) -> Value {
    let (short, full, todo) = help(t);
    let default = match t {
        FindingType::MixedRollout
        | FindingType::Missing
        | FindingType::Undeclared
        | FindingType::InvalidManifest
        | FindingType::ConfigDrift
        | FindingType::ExpiredIgnore
        | FindingType::Override => "warning",
        FindingType::Unverifiable => "note",
        _ => "error",
    };
    // PascalCase of the type: SARIF's `name` is meant to be an identifier.
    let name: String = t
        .as_str()
        .split('-')
        .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
        .collect();
    json!({
        "id": rule_id(t),
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {
            "text": format!("{full}\n\nWhat to do: {todo}"),
            "markdown": format!("**{t}**: {full}\n\n**What to do:** {todo}"),
        },
        "defaultConfiguration": {"level": default},
        "properties": {"tags": ["drift", "kubernetes", "gitops"]},
    })
}

/// (short description, what the finding means, what to do about it) for each type.
fn help(t: FindingType) -> (&'static str, &'static str, &'static str) {
    match t {
        FindingType::DigestDrift => (
            "Pods run another digest than git declares",
            "The live workload's spec matches git, but none of its Pods runs the declared image digest.",
            "Restart the rollout (kubectl rollout restart) or find out why the Pods were not replaced; check that the tag or digest was not re-pushed.",
        ),
        FindingType::SpecDrift => (
            "The live spec names another image than git",
            "The live workload's spec names a different image than git declares (for example after a hand-run `kubectl set image`), or a declared container is absent from the live spec.",
            "Let the GitOps controller sync the workload back to git, or commit the change to git if it is intended.",
        ),
        FindingType::MixedRollout => (
            "Pods run several digests",
            "Some Pods run the declared digest and some another, for longer than the rollout grace period.",
            "Check the rollout (kubectl rollout status): a stuck rollout, a failing readiness probe or a PodDisruptionBudget usually keeps old Pods up.",
        ),
        FindingType::Missing => (
            "Declared in git, absent from the cluster",
            "Git declares the workload for this environment, but the cluster does not run it.",
            "Sync the environment, or remove the workload from git if it was retired.",
        ),
        FindingType::Undeclared => (
            "Running, declared nowhere in git",
            "The cluster runs a workload that no environment path in git declares: a promotion bypass candidate.",
            "Find out who deployed it; declare it in git or delete it from the cluster.",
        ),
        FindingType::Unpinned => (
            "Declared by tag, not by digest",
            "Git declares the image by tag only, so the bytes behind it can change without a commit.",
            "Pin the image by digest (`repo:tag@sha256:…`), e.g. with `kustomize edit set image`.",
        ),
        FindingType::Unverifiable => (
            "The running digest cannot be checked",
            "Pods report only an image config ID, which is not a manifest digest, or a fact the check needs could not be obtained.",
            "Nothing is known to be wrong; pulling images by digest makes the runtime report the manifest digest.",
        ),
        FindingType::InvalidManifest => (
            "A manifest could not be understood",
            "A file did not parse, a workload has no name, or an image reference does not parse; the rest of the environment is still audited.",
            "Fix the named file; until then what it declares is not compared.",
        ),
        FindingType::DisallowedSource => (
            "Image from outside the allowed repositories",
            "A declared or running image comes from outside the environment's allowed_sources.",
            "Promote the image through the allowed repository, or extend allowed_sources if the source is trusted.",
        ),
        FindingType::TagMoved => (
            "The registry serves another digest for the tag",
            "Git declares repo:tag, and the Pods run another digest than the registry now serves for that tag.",
            "Pin the digest in git; find out who re-pointed the tag or why the Pods are stale.",
        ),
        FindingType::DigestNotFound => (
            "The declared image no longer exists",
            "The registry does not have the declared digest or tag, so the next Pod start will fail to pull.",
            "Restore the image in the registry or declare one that exists before Pods are rescheduled.",
        ),
        FindingType::PromotionSkipped => (
            "Digest not promoted through the previous environment",
            "The declared digest was never declared in the previous environment at the same or an earlier commit.",
            "Promote the digest through the previous environment first, or record why the step was skipped.",
        ),
        FindingType::ConfigDrift => (
            "ConfigMap or Secret differs from git",
            "A declared ConfigMap (or Secret) differs from the live one, is absent, or a workload needs a ConfigMap that does not exist.",
            "Sync the object from git, or commit the live change if it is intended.",
        ),
        FindingType::ExpiredIgnore => (
            "An ignore rule expired",
            "An ignore rule passed its expiry date and no longer hides anything.",
            "Fix the drift it accepted, or renew the rule with a new reason and date.",
        ),
        FindingType::Override => (
            "An image is set outside git",
            "An Argo CD Application sets this image (kustomize.images or helm.parameters, as Argo CD Image Updater's write-back does): it is declared, but git does not hold it.",
            "Commit the image to git (Image Updater's git write-back), or remove the override from the Application.",
        ),
        FindingType::Unsigned | FindingType::SignatureInvalid | FindingType::ProvenanceMismatch => signature_help(t),
    }
}

/// [`help`] for the signature findings.
fn signature_help(t: FindingType) -> (&'static str, &'static str, &'static str) {
    match t {
        FindingType::Unsigned => (
            "The running digest is not signed by the release pipeline",
            "No signature (cosign tag scheme, Sigstore bundle among the OCI referrers, or of an image index listing the digest) from a key or identity of the signature policy names the running digest.",
            "Find out where the image was built: sign it in the release pipeline, or redeploy one that is signed.",
        ),
        FindingType::SignatureInvalid => (
            "A signature of the running digest does not verify",
            "A signature from the policy's keys or identities exists but does not verify: a wrong signature, a payload naming another digest, a certificate outside its validity without a transparency-log time, a broken chain or log entry.",
            "Treat the image as untrusted until it is re-signed by the release pipeline; the message names why the signature failed.",
        ),
        FindingType::ProvenanceMismatch => (
            "The image was built elsewhere than the policy says",
            "The SLSA provenance attestation of the running digest names another builder or source repository than the signature policy.",
            "Find out who built the image; deploy the build of the release pipeline.",
        ),
        _ => unreachable!("only signature findings"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;
    use super::*;

    #[test]
    fn levels_follow_severity() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::Warning), "warning");
        assert_eq!(level(Severity::Info), "note");
    }

    #[test]
    fn a_result_names_its_rule_file_and_fingerprint() {
        let v: Value = serde_json::from_str(&report(false, Severity::Critical).to_sarif()).unwrap();
        let run = &v["runs"][0];
        let r = &run["results"][0];
        assert_eq!(r["ruleId"], "driftwatch/digest-drift");
        assert_eq!(
            run["tool"]["driver"]["rules"][r["ruleIndex"].as_u64().unwrap() as usize]["id"],
            r["ruleId"]
        );
        assert_eq!(r["level"], "error");
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "apps/api/overlays/production"
        );
        assert_eq!(r["partialFingerprints"][FINGERPRINT_KEY], "0123456789abcdef");
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    }

    #[test]
    fn without_a_file_the_result_names_the_live_object() {
        let mut f = report(false, Severity::Warning).findings.remove(0);
        f.source = None;
        assert_eq!(artifact(&f), "cluster/production/shop/Deployment/api");
    }

    #[test]
    fn paths_are_uri_references() {
        assert_eq!(uri("apps/my app/#1/ü.yaml"), "apps/my%20app/%231/%C3%BC.yaml");
        assert_eq!(uri("apps/api/overlays/production"), "apps/api/overlays/production");
    }
}
