//! Ignore rules: accepted findings, each with a required reason and an optional expiry date.
//! Matching findings move to the report's `ignored` list (never alerted, never failing the
//! exit code); an expired rule stops matching and becomes an `expired-ignore` warning of its
//! own, so an exception cannot quietly outlive its reason. Pure.
//!
//! ```yaml
//! ignore:
//!   - environment: production      # each key optional, glob patterns (`*`, `?`, `[…]`)
//!     namespace: shop
//!     workload: legacy-*
//!     container: app
//!     type: unpinned
//!     reason: "vendor image, pinned by the vendor's own tag policy"   # required
//!     expires: 2027-01-31                                              # optional
//! ```
//!
//! Rules written by `driftwatch ignore --from-report` also pin what was accepted, so they cannot
//! hide drift that appears later on the same container: the workload `kind`, the `declared`
//! image and the `running` digests (or, for findings without either, the finding
//! `fingerprint`). Pinned values match exactly; a running digest outside `running` is new drift.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::core::model::{Finding, FindingType, Severity};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The workload kind (`Deployment`, …), exactly.
    #[serde(default, rename = "kind", skip_serializing_if = "Option::is_none")]
    pub workload_kind: Option<String>,
    /// The declared image the finding had, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<String>,
    /// The running digests accepted: a finding matches only if all its digests are listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Vec<String>>,
    /// A finding fingerprint, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreFile {
    #[serde(default)]
    pub ignore: Vec<Rule>,
}

/// A finding a rule accepted, as the report lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ignored {
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
    pub expires: Option<NaiveDate>,
}

/// Why an ignore file was refused; the entry-level errors name the entry (`ignore[2]`).
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    /// Not YAML.
    #[error(transparent)]
    Yaml(#[from] safe_yaml::Error),
    /// YAML, but not an ignore file (an unknown key, a wrong type).
    #[error("{0}")]
    Shape(#[from] serde_json::Error),
    #[error("ignore[{index}]: reason is required")]
    NoReason { index: usize },
    #[error("ignore[{index}]: name at least one of environment, namespace, workload, container, type, fingerprint")]
    NoMatcher { index: usize },
    #[error("ignore[{index}]: {pattern:?} is not a valid pattern: {source}")]
    Pattern {
        index: usize,
        pattern: String,
        source: glob::PatternError,
    },
}

/// Parses an ignore file; an entry without a reason, without any matcher, with an unknown key
/// or a bad pattern is an error naming the entry.
pub fn parse(text: &str) -> Result<Vec<Rule>, IgnoreError> {
    let (docs, err) = safe_yaml::documents(text);
    if let Some(e) = err {
        return Err(IgnoreError::Yaml(e));
    }
    let Some(doc) = docs.into_iter().next() else {
        return Ok(Vec::new());
    };
    let file: IgnoreFile = serde_json::from_value(doc)?;
    for (index, r) in file.ignore.iter().enumerate() {
        if r.reason.trim().is_empty() {
            return Err(IgnoreError::NoReason { index });
        }
        let matchers = [&r.environment, &r.namespace, &r.workload, &r.container, &r.kind];
        if matchers.iter().all(|m| m.is_none()) && r.fingerprint.is_none() {
            return Err(IgnoreError::NoMatcher { index });
        }
        for m in matchers.into_iter().flatten() {
            glob::Pattern::new(m).map_err(|source| IgnoreError::Pattern {
                index,
                pattern: m.clone(),
                source,
            })?;
        }
    }
    Ok(file.ignore)
}

fn matches(pattern: &Option<String>, value: Option<&str>) -> bool {
    match pattern {
        None => true,
        Some(p) => glob::Pattern::new(p).is_ok_and(|p| p.matches(value.unwrap_or(""))),
    }
}

fn exactly(pinned: &Option<String>, value: Option<&str>) -> bool {
    pinned.as_deref().is_none_or(|p| Some(p) == value)
}

impl Rule {
    pub fn matches(&self, f: &Finding) -> bool {
        matches(&self.environment, Some(&f.environment))
            && matches(&self.namespace, Some(&f.namespace))
            && matches(&self.workload, f.name.as_deref())
            && matches(&self.container, f.container.as_deref())
            && matches(&self.kind, Some(f.kind.as_str()))
            && exactly(&self.workload_kind, f.workload_kind.map(|k| k.as_str()))
            && exactly(&self.declared, f.declared.as_deref())
            && exactly(&self.fingerprint, Some(&f.fingerprint))
            && self
                .running
                .as_ref()
                .is_none_or(|accepted| f.running.iter().all(|r| accepted.contains(&r.digest)))
    }

    fn expired(&self, today: NaiveDate) -> bool {
        self.expires.is_some_and(|d| d < today)
    }
}

/// Splits `findings` into those still reported and those ignored, and adds one
/// `expired-ignore` warning per expired rule.
pub fn apply(rules: &[Rule], findings: Vec<Finding>, today: NaiveDate) -> (Vec<Finding>, Vec<Ignored>) {
    let mut kept = Vec::new();
    let mut ignored = Vec::new();
    for f in findings {
        match rules.iter().find(|r| !r.expired(today) && r.matches(&f)) {
            Some(r) => ignored.push(Ignored {
                finding: f,
                reason: r.reason.clone(),
                expires: r.expires,
            }),
            None => kept.push(f),
        }
    }
    for r in rules.iter().filter(|r| r.expired(today)) {
        kept.push(expired_finding(r));
    }
    (kept, ignored)
}

fn expired_finding(r: &Rule) -> Finding {
    let what = [
        ("environment", &r.environment),
        ("namespace", &r.namespace),
        ("workload", &r.workload),
        ("container", &r.container),
        ("type", &r.kind),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join(" ");
    let expires = r.expires.map(|d| d.to_string()).unwrap_or_default();
    let hex = format!(
        "{:x}",
        Sha256::digest(format!("expired-ignore\0{what}\0{expires}").as_bytes())
    );
    Finding {
        fingerprint: hex[..16].to_string(),
        kind: FindingType::ExpiredIgnore,
        severity: Severity::Warning,
        environment: r
            .environment
            .clone()
            .filter(|e| !e.contains(['*', '?', '[']))
            .unwrap_or_default(),
        cluster: String::new(),
        namespace: r.namespace.clone().unwrap_or_default(),
        workload_kind: None,
        name: r.workload.clone(),
        container: r.container.clone(),
        declared: None,
        running: Vec::new(),
        source: None,
        commit: None,
        message: format!(
            "ignore rule ({what}) expired on {expires}: its findings are reported again. Reason was: {}",
            r.reason
        ),
        live_image: None,
        file: None,
        helm: None,
        argocd: None,
        flux: None,
    }
}

/// Rules that accept every finding of a report, as a starting baseline (`driftwatch ignore
/// --from-report`): one rule per distinct finding, pinned to what was accepted (workload kind,
/// declared image, running digests; the fingerprint where a finding has neither), so new drift
/// on the same container is still reported.
pub fn baseline(findings: &[Finding], reason: &str, expires: Option<NaiveDate>) -> IgnoreFile {
    let mut rules: Vec<Rule> = Vec::new();
    for f in findings.iter().filter(|f| f.kind != FindingType::ExpiredIgnore) {
        // An accepted `unpinned` is about the tag, not what it points to today: a new build
        // behind the same tag is not new drift of that kind.
        let mut running: Vec<String> = if f.kind == FindingType::Unpinned {
            Vec::new()
        } else {
            f.running.iter().map(|r| r.digest.clone()).collect()
        };
        running.sort();
        running.dedup();
        let pinned_by_content = f.declared.is_some() || !running.is_empty();
        let rule = Rule {
            environment: Some(f.environment.clone()),
            namespace: Some(f.namespace.clone()).filter(|n| !n.is_empty()),
            workload: f.name.clone(),
            container: f.container.clone(),
            kind: Some(f.kind.to_string()),
            workload_kind: f.workload_kind.map(|k| k.as_str().to_string()),
            declared: f.declared.clone(),
            running: Some(running).filter(|r| !r.is_empty()),
            fingerprint: (!pinned_by_content).then(|| f.fingerprint.clone()),
            reason: reason.to_string(),
            expires,
        };
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    IgnoreFile { ignore: rules }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(env: &str, name: &str, kind: FindingType) -> Finding {
        Finding::sample(env, name, kind, Severity::Critical)
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    #[test]
    fn rules_match_by_glob_and_expire() {
        let rules = parse(
            "ignore:\n  - workload: legacy-*\n    type: unpinned\n    reason: vendor tag policy\n  - environment: staging\n    reason: staging is a playground\n    expires: 2026-11-01\n",
        )
        .unwrap();
        let findings = vec![
            finding("production", "legacy-billing", FindingType::Unpinned),
            finding("production", "legacy-billing", FindingType::DigestDrift),
            finding("production", "api", FindingType::Unpinned),
            finding("staging", "api", FindingType::DigestDrift),
        ];
        let (kept, ignored) = apply(&rules, findings, today());
        assert_eq!(ignored.len(), 1);
        assert_eq!(
            (ignored[0].finding.name.as_deref(), ignored[0].reason.as_str()),
            (Some("legacy-billing"), "vendor tag policy")
        );
        let kept: Vec<(String, FindingType)> = kept.iter().map(|f| (f.environment.clone(), f.kind)).collect();
        assert_eq!(
            kept,
            vec![
                ("production".into(), FindingType::DigestDrift),
                ("production".into(), FindingType::Unpinned),
                ("staging".into(), FindingType::DigestDrift),
                ("staging".into(), FindingType::ExpiredIgnore),
            ],
            "the expired staging rule no longer hides anything and is reported itself"
        );
    }

    #[test]
    fn bad_files_name_the_entry() {
        let cases = [
            (
                "no reason",
                "ignore:\n  - workload: api\n    reason: \"\"\n",
                "ignore[0]: reason is required",
            ),
            (
                "no matcher",
                "ignore:\n  - reason: because\n",
                "ignore[0]: name at least one of",
            ),
            (
                "unknown key",
                "ignore:\n  - workloads: api\n    reason: x\n",
                "unknown field `workloads`",
            ),
            (
                "bad date",
                "ignore:\n  - workload: api\n    reason: x\n    expires: someday\n",
                "input contains invalid characters",
            ),
            (
                "bad pattern",
                "ignore:\n  - workload: \"[api\"\n    reason: x\n",
                "ignore[0]: \"[api\" is not a valid pattern",
            ),
        ];
        for (name, text, want) in cases {
            let err = crate::error_chain(&parse(text).expect_err(name));
            assert!(err.contains(want), "{name}: {err}");
        }
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn baseline_rules_accept_the_report_they_came_from() {
        let findings = vec![
            finding("production", "api", FindingType::DigestDrift),
            finding("production", "api", FindingType::DigestDrift),
        ];
        let file = baseline(&findings, "accepted at go-live", None);
        assert_eq!(file.ignore.len(), 1, "deduplicated");
        let (kept, ignored) = apply(&file.ignore, findings, today());
        assert_eq!((kept.len(), ignored.len()), (0, 2));
    }

    #[test]
    fn baseline_rules_do_not_hide_new_drift_on_the_same_container() {
        let accepted = finding("production", "api", FindingType::DigestDrift);
        let file = baseline(std::slice::from_ref(&accepted), "known hotfix", None);
        let rule = &file.ignore[0];
        assert_eq!(rule.workload_kind.as_deref(), Some("Deployment"));
        assert_eq!(rule.declared, accepted.declared);
        assert_eq!(rule.running, Some(vec!["sha256:2".to_string()]));

        let mut other_running = accepted.clone();
        other_running.running[0].digest = "sha256:3".into();
        let mut other_declared = accepted.clone();
        other_declared.declared = Some("r/x@sha256:9".into());
        let mut other_kind = accepted.clone();
        other_kind.workload_kind = Some(crate::core::model::WorkloadKind::StatefulSet);
        let mut scaled = accepted.clone();
        scaled.running[0].pods = 7;
        let (kept, ignored) = apply(
            &file.ignore,
            vec![other_running, other_declared, other_kind, scaled],
            today(),
        );
        let kept: Vec<_> = kept
            .iter()
            .map(|f| (f.declared.clone().unwrap(), f.running[0].digest.clone()))
            .collect();
        assert_eq!(
            kept.len(),
            3,
            "a new running digest, declared image or kind is new drift: {kept:?}"
        );
        assert_eq!(ignored.len(), 1, "the accepted drift at another scale stays accepted");
    }

    #[test]
    fn findings_without_images_are_pinned_by_fingerprint() {
        let mut f = finding("production", "api", FindingType::InvalidManifest);
        f.declared = None;
        f.running.clear();
        let file = baseline(std::slice::from_ref(&f), "known", None);
        assert_eq!(file.ignore[0].fingerprint.as_deref(), Some(f.fingerprint.as_str()));
        let mut changed = f.clone();
        changed.fingerprint = "another".into();
        let (kept, ignored) = apply(&file.ignore, vec![f, changed], today());
        assert_eq!((kept.len(), ignored.len()), (1, 1));
    }

    #[test]
    fn hand_written_broad_rules_still_match_everything_they_name() {
        let rules = parse("ignore:\n  - workload: api\n    reason: broad\n").unwrap();
        let mut other = finding("production", "api", FindingType::DigestDrift);
        other.running[0].digest = "sha256:anything".into();
        let (kept, ignored) = apply(&rules, vec![other], today());
        assert_eq!((kept.len(), ignored.len()), (0, 1));
    }
}
