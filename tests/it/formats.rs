//! The outputs pipelines read, from the real binary: SARIF validated against the published
//! SARIF 2.1.0 schema, JUnit XML parsed, GitHub workflow-command annotations, and the one-line
//! JSON the systemd audit unit writes to the journal.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::config::ConfigBuilder;
use support::fixtures::{deployment_yaml, one_drift};
use support::run::{Output, driftwatch};
use support::write;

use crate::repo_root;

fn demo(format: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--once", "--config", "config/demo.toml", "--format", format];
    args.extend_from_slice(extra);
    driftwatch(repo_root(), &args, &[])
}

/// The SARIF 2.1.0 schema as the `serde-sarif` package ships it (a dev-dependency, so cargo
/// has it in its registry); found through `cargo metadata` rather than a guessed path.
fn sarif_schema() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif is a dev-dependency: its package carries the SARIF schema");
    let path = PathBuf::from(manifest).parent().unwrap().join("src/schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the SARIF 2.1.0 schema is not at {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    assert!(
        schema["title"].as_str().unwrap_or("").contains("2.1.0"),
        "not the SARIF 2.1.0 schema: {}",
        schema["title"]
    );
    schema
}

/// Every way `sarif` breaks the schema, empty when it is valid.
fn schema_errors(validator: &jsonschema::Validator, sarif: &Value) -> Vec<String> {
    validator
        .iter_errors(sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The schema as a validator that also checks formats (`uri`, `date-time`).
fn validator() -> jsonschema::Validator {
    let mut schema = sarif_schema();
    // The published schema's `language` patterns (of `run` and `toolComponent`) have a stray
    // `]` that ECMA-262 reads as a literal and Rust's regex engine rejects, so the schema itself
    // fails the `regex` format check. driftwatch never writes `language`; the two patterns are
    // dropped from this in-memory copy only.
    for owner in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][owner]["properties"]["language"];
        assert!(
            language.as_object_mut().and_then(|l| l.remove("pattern")).is_some(),
            "the schema's {owner}.language pattern moved: {language}"
        );
    }
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

#[test]
fn sarif_of_the_demo_is_valid_sarif_2_1_0_with_a_rule_per_type() {
    let out = demo("sarif", &[]);
    assert_eq!(out.code, 1, "exit codes do not depend on the format\n{}", out.stderr);
    let sarif = out.json();
    let validator = validator();
    assert_eq!(schema_errors(&validator, &sarif), Vec::<String>::new());

    // The validator really checks: a severity name where SARIF wants a level is rejected.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = "critical".into();
    assert!(
        !schema_errors(&validator, &broken).is_empty(),
        "the schema check rejects a bad level"
    );

    let run = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(run["tool"]["driver"]["name"], "driftwatch");
    assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: BTreeSet<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rules.len(), "rule ids are unique");
    assert!(ids.contains("driftwatch/spec-drift") && ids.contains("driftwatch/undeclared"));
    for r in rules {
        assert!(!r["shortDescription"]["text"].as_str().unwrap().is_empty(), "{r}");
        assert!(r["help"]["text"].as_str().unwrap().contains("What to do:"), "{r}");
    }

    // The same findings, fingerprints and files as the JSON report.
    let report = demo("json", &[]).json();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), report["findings"].as_array().unwrap().len());
    for (r, f) in results.iter().zip(report["findings"].as_array().unwrap()) {
        assert_eq!(r["ruleId"], format!("driftwatch/{}", f["type"].as_str().unwrap()));
        assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"], r["ruleId"]);
        let level = match f["severity"].as_str().unwrap() {
            "critical" => "error",
            "warning" => "warning",
            _ => "note",
        };
        assert_eq!(r["level"], level, "{r}");
        assert_eq!(r["partialFingerprints"]["driftwatchFingerprint/v1"], f["fingerprint"]);
        let uri = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        match f["source"].as_str() {
            Some(source) => assert_eq!(uri, source),
            // An undeclared workload has no file in git: it is placed at the live object.
            None => assert_eq!(uri, "cluster/production/shop/Deployment/debug-shell"),
        }
    }
}

/// A GitOps tree with a path whose name holds a comma, a colon and a newline, a broken image in
/// it, an ignore rule, and a second environment whose snapshot does not exist (an audit error).
fn awkward(dir: &Path) -> PathBuf {
    one_drift(dir);
    write(
        &dir.join("gitops/apps/we,ird: x\ny/production/deploy.yaml"),
        &deployment_yaml("odd", "shop", "\"<APP_IMAGE>\""),
    );
    write(
        &dir.join("gitops/.driftwatch-ignore.yaml"),
        "ignore:\n  - type: missing\n    workload: odd\n    reason: \"being set up, see TICKET-1\"\n",
    );
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        })
        .environment("staging", |e| e.paths(&["apps/*/production"]).snapshot("absent.json"))
        .write()
}

#[test]
fn sarif_with_ignored_findings_audit_errors_and_odd_paths_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = awkward(dir.path());
    let out = driftwatch(
        dir.path(),
        &[
            "--once",
            "--env",
            "production",
            "--env",
            "staging",
            "--format",
            "sarif",
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let sarif = out.json();
    assert_eq!(schema_errors(&validator(), &sarif), Vec::<String>::new());
    let run = &sarif["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let notes = run["invocations"][0]["toolExecutionNotifications"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["message"]["text"].as_str().unwrap().contains("absent.json")),
        "{notes:?}"
    );
    let results = run["results"].as_array().unwrap();
    let suppressed: Vec<&Value> = results.iter().filter(|r| r.get("suppressions").is_some()).collect();
    assert_eq!(suppressed.len(), 1, "{results:?}");
    assert_eq!(
        suppressed[0]["suppressions"][0]["justification"],
        "being set up, see TICKET-1"
    );
    let invalid = results
        .iter()
        .find(|r| r["ruleId"] == "driftwatch/invalid-manifest")
        .expect("the broken image is reported");
    assert_eq!(
        invalid["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "apps/we,ird:%20x%0Ay/production/deploy.yaml"
    );
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()))
}

fn count(node: roxmltree::Node, name: &str) -> usize {
    attr(node, name).parse().unwrap()
}

/// (test case name, failure types) of every test case in `suite`.
fn cases(suite: roxmltree::Node) -> Vec<(String, Vec<String>)> {
    suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|c| {
            let failures = c
                .children()
                .filter(|n| n.has_tag_name("failure"))
                .map(|f| attr(f, "type").to_string())
                .collect();
            (attr(c, "name").to_string(), failures)
        })
        .collect()
}

/// The counts an element claims agree with the test cases under it.
fn check_counts(node: roxmltree::Node) {
    let cases: Vec<roxmltree::Node> = node.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let with = |tag: &str| {
        cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name(tag)))
            .count()
    };
    assert_eq!(count(node, "tests"), cases.len());
    assert_eq!(count(node, "failures"), with("failure"));
    assert_eq!(count(node, "errors"), with("error"));
    assert_eq!(count(node, "skipped"), with("skipped"));
}

fn owned(cases: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    cases
        .iter()
        .map(|(n, f)| (n.to_string(), f.iter().map(|s| s.to_string()).collect()))
        .collect()
}

#[test]
fn junit_of_the_demo_has_a_suite_per_environment_and_a_case_per_workload() {
    let out = demo("junit", &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = roxmltree::Document::parse(&out.stdout).expect("well-formed XML");
    let root = doc.root_element();
    assert!(root.has_tag_name("testsuites"));
    check_counts(root);
    let suites: Vec<roxmltree::Node> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    let names: Vec<&str> = suites.iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(names, vec!["production", "staging"]);
    for s in &suites {
        check_counts(*s);
        for c in s.children().filter(|n| n.has_tag_name("testcase")) {
            assert_eq!(attr(c, "classname"), attr(*s, "name"));
        }
    }
    // fail_on warning (the default): the info finding on web does not fail it.
    assert_eq!(
        cases(suites[0]),
        owned(&[
            ("CronJob payments/settlement", &["unpinned"]),
            ("Deployment payments/ledger", &["mixed-rollout"]),
            ("Deployment shop/api", &["spec-drift"]),
            ("Deployment shop/debug-shell", &["undeclared"]),
            ("Deployment shop/recommendations", &["missing"]),
            ("Deployment shop/web", &[]),
        ])
    );
    assert_eq!(
        cases(suites[1]),
        owned(&[("Deployment shop/api", &[]), ("Deployment shop/web", &[])])
    );
    let failure = suites[0]
        .descendants()
        .find(|n| n.has_tag_name("failure") && attr(*n, "type") == "spec-drift")
        .unwrap();
    assert!(attr(failure, "message").contains("registry.example.com/shop/api:hotfix-1"));
    assert!(
        failure.text().unwrap().contains("\nfingerprint: "),
        "{:?}",
        failure.text()
    );

    // --fail-on critical: only the critical findings fail a test case.
    let out = demo("junit", &["--fail-on", "critical"]);
    let doc = roxmltree::Document::parse(&out.stdout).expect("well-formed XML");
    let root = doc.root_element();
    check_counts(root);
    assert_eq!(count(root, "failures"), 2);
    assert_eq!(count(root, "tests"), 8);
}

#[test]
fn junit_reports_audit_errors_and_escapes_what_it_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = awkward(dir.path());
    let out = driftwatch(
        dir.path(),
        &["--once", "--format", "junit", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let doc = roxmltree::Document::parse(&out.stdout).expect("well-formed XML");
    check_counts(doc.root_element());
    let staging = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite") && attr(*n, "name") == "staging")
        .unwrap();
    check_counts(staging);
    assert_eq!(count(staging, "errors"), 1);
    let error = staging.descendants().find(|n| n.has_tag_name("error")).unwrap();
    assert!(
        attr(error, "message").contains("absent.json"),
        "{}",
        attr(error, "message")
    );
    let invalid = doc
        .descendants()
        .find(|n| n.has_tag_name("failure") && attr(*n, "type") == "invalid-manifest")
        .unwrap();
    // The attribute keeps the newline, the comma, the colon and the angle brackets.
    assert!(
        attr(invalid, "message")
            .contains("apps/we,ird: x\ny/production/deploy.yaml: invalid image reference \"<APP_IMAGE>\""),
        "{}",
        attr(invalid, "message")
    );
}

#[test]
fn github_annotations_of_the_demo_one_per_finding() {
    let out = demo("github", &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", out.stdout);
    assert!(lines[0].starts_with(
        "::error file=apps/ledger/overlays/production,title=unpinned CronJob payments/settlement::production: registry.example.com/payments/settlement:v3 is declared by tag"
    ), "{}", lines[0]);
    assert_eq!(
        lines[1],
        "::error file=apps/api/overlays/production,title=spec-drift Deployment shop/api::production: live spec runs registry.example.com/shop/api:hotfix-1 but git declares registry.example.com/shop/api@sha256:10856c3ed444d4a3c3a9bfa773d85de0cf95db36bc91ea938e6da69c18a9d483"
    );
    assert!(lines[2].starts_with(
        "::warning file=apps/ledger/overlays/production,title=mixed-rollout Deployment payments/ledger::"
    ));
    // No file in git for an undeclared workload: the annotation has no file property.
    assert!(lines[3].starts_with("::warning title=undeclared Deployment shop/debug-shell::production: "));
    assert!(
        lines[5].starts_with("::notice file=apps/web/overlays/production,title=unverifiable Deployment shop/web::")
    );
}

#[test]
fn github_annotations_escape_newlines_commas_and_colons() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = awkward(dir.path());
    let out = driftwatch(
        dir.path(),
        &["--once", "--format", "github", "--config", cfg.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("title=invalid-manifest"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(
        line,
        "::warning file=apps/we%2Cird%3A x%0Ay/production/deploy.yaml,title=invalid-manifest Deployment shop/odd::production: apps/we,ird: x%0Ay/production/deploy.yaml: invalid image reference \"<APP_IMAGE>\": invalid reference format"
    );
    assert!(
        out.stdout.lines().any(
            |l| l.starts_with("::error title=audit error staging::staging (cluster ") && l.contains("absent.json")
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn json_compact_is_the_json_report_on_exactly_one_line() {
    let out = demo("json-compact", &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.ends_with('\n'));
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let mut compact = out.json();
    let mut pretty = demo("json", &[]).json();
    for v in [&mut compact, &mut pretty] {
        v["started_at"] = Value::Null;
        v["finished_at"] = Value::Null;
    }
    assert_eq!(compact, pretty, "the same report, only on one line");
}

#[test]
fn the_systemd_audit_unit_writes_one_line_json() {
    let unit = std::fs::read_to_string(repo_root().join("systemd/driftwatch-audit.service")).unwrap();
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("the unit has an ExecStart");
    let args: Vec<&str> = exec.split_whitespace().collect();
    let format = args.iter().position(|a| *a == "--format").map(|i| args[i + 1]);
    assert_eq!(format, Some("json-compact"), "{exec}");
}
