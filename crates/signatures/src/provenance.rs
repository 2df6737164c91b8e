//! SLSA provenance predicates (v1: `runDetails.builder.id`, source from
//! `buildDefinition.externalParameters.workflow.repository` or `resolvedDependencies`; v0.2:
//! `builder.id`, `invocation.configSource.uri`) and the comparison with the policy.

use serde_json::Value;

use crate::error::Rejected;
use crate::evidence::Provenance;
use crate::policy::ProvenancePolicy;

pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";

/// What a SLSA provenance predicate says, or `None` for another predicate type.
pub(crate) fn read(predicate_type: &str, predicate: &Value) -> Option<Provenance> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    let (builder_id, source_repo) = match predicate_type {
        SLSA_V1 => {
            let def = &predicate["buildDefinition"];
            let workflow = &def["externalParameters"]["workflow"]["repository"];
            let source = s(workflow).or_else(|| {
                def["resolvedDependencies"]
                    .as_array()
                    .and_then(|deps| deps.iter().find_map(|d| s(&d["uri"])))
            });
            (s(&predicate["runDetails"]["builder"]["id"]), source)
        }
        SLSA_V02 => (
            s(&predicate["builder"]["id"]),
            s(&predicate["invocation"]["configSource"]["uri"]),
        ),
        _ => return None,
    };
    Some(Provenance {
        predicate_type: predicate_type.to_string(),
        builder_id,
        source_repo,
    })
}

/// Compares what the provenance says with the policy: builder ids equal (or the found id is the
/// policy's followed by `@ref`), source repositories equal once normalized.
pub(crate) fn check(found: &Provenance, policy: &ProvenancePolicy) -> Result<(), Rejected> {
    let builder_ok = match &policy.builder_id {
        None => true,
        Some(want) => found.builder_id.as_deref().is_some_and(|got| {
            got == want
                || got
                    .strip_prefix(want.as_str())
                    .is_some_and(|rest| rest.starts_with('@'))
        }),
    };
    let source_ok = match &policy.source_repo {
        None => true,
        Some(want) => found
            .source_repo
            .as_deref()
            .is_some_and(|got| normalize_repo(got) == normalize_repo(want)),
    };
    if builder_ok && source_ok {
        return Ok(());
    }
    let mut expected = Vec::new();
    if let Some(b) = &policy.builder_id {
        expected.push(format!("builder {b}"));
    }
    if let Some(r) = &policy.source_repo {
        expected.push(format!("source {r}"));
    }
    Err(Rejected::ProvenanceMismatch {
        builder_id: found.builder_id.clone().unwrap_or_else(|| "-".into()),
        source_repo: found.source_repo.clone().unwrap_or_else(|| "-".into()),
        expected: expected.join(", "),
    })
}

/// `git+https://github.com/Example/shop.git@refs/tags/v1` → `github.com/example/shop`.
pub fn normalize_repo(repo: &str) -> String {
    let mut r = repo.trim();
    r = r.strip_prefix("git+").unwrap_or(r);
    if let Some((_, rest)) = r.split_once("://") {
        r = rest;
    }
    if let Some((path, _)) = r.split_once('@') {
        r = path;
    }
    r = r.trim_end_matches('/');
    r = r.strip_suffix(".git").unwrap_or(r);
    r.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_compare_without_scheme_prefix_suffix_and_ref() {
        for (input, want) in [
            ("github.com/example/shop", "github.com/example/shop"),
            ("https://github.com/example/shop", "github.com/example/shop"),
            (
                "git+https://github.com/Example/Shop.git@refs/tags/v1",
                "github.com/example/shop",
            ),
            ("https://github.com/example/shop/", "github.com/example/shop"),
            ("github.com/example/shop@refs/heads/main", "github.com/example/shop"),
        ] {
            assert_eq!(normalize_repo(input), want, "{input}");
        }
    }

    fn found(builder: Option<&str>, source: Option<&str>) -> Provenance {
        Provenance {
            predicate_type: SLSA_V1.into(),
            builder_id: builder.map(Into::into),
            source_repo: source.map(Into::into),
        }
    }

    #[test]
    fn builder_ids_match_exactly_or_with_a_ref() {
        let policy = ProvenancePolicy {
            builder_id: Some("https://github.com/slsa-framework/generator.yml".into()),
            source_repo: None,
        };
        let ok = |b: &str| check(&found(Some(b), None), &policy).is_ok();
        assert!(ok("https://github.com/slsa-framework/generator.yml"));
        assert!(ok("https://github.com/slsa-framework/generator.yml@refs/tags/v1.9.0"));
        assert!(!ok("https://github.com/slsa-framework/generator.yml.evil"));
        assert!(!ok("https://github.com/slsa-framework/generator"));
        let r = check(&found(None, Some("x")), &policy).unwrap_err();
        assert!(r.to_string().contains("built by - from x"), "{r}");
    }

    #[test]
    fn the_source_comes_from_the_workflow_or_the_first_resolved_dependency() {
        let with_workflow = serde_json::json!({"buildDefinition": {
            "externalParameters": {"workflow": {"repository": "https://github.com/a/b"}},
            "resolvedDependencies": [{"uri": "git+https://github.com/c/d@refs/heads/main"}]}});
        let deps_only = serde_json::json!({"buildDefinition": {
            "resolvedDependencies": [{"digest": {}}, {"uri": "git+https://github.com/c/d@refs/heads/main"}]}});
        let src = |p: &Value| read(SLSA_V1, p).unwrap().source_repo;
        assert_eq!(src(&with_workflow).as_deref(), Some("https://github.com/a/b"));
        assert_eq!(
            src(&deps_only).as_deref(),
            Some("git+https://github.com/c/d@refs/heads/main")
        );
        assert!(read("https://spdx.dev/Document", &with_workflow).is_none());
    }
}
