//! `driftwatch ignore --from-report` writes a baseline that accepts exactly what the report
//! showed: new drift on an accepted container is reported again, and the baseline expires.

use std::path::Path;

use support::copy_tree;

use crate::ROOT;

/// Runs the real binary; `(exit code, stdout, stderr)`.
fn driftwatch(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = support::run::driftwatch(dir, args, &[]);
    (out.code, out.stdout, out.stderr)
}

/// The demo (config and examples) in a temp dir, so the snapshot can be changed.
fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(ROOT).join("config"), &dir.path().join("config"));
    copy_tree(&Path::new(ROOT).join("examples"), &dir.path().join("examples"));
    dir
}

const AUDIT: [&str; 6] = ["--once", "--config", "config/demo.toml", "--format", "json", "--env"];

fn audit(dir: &Path, ignore_file: Option<&str>) -> (i32, serde_json::Value) {
    let mut args: Vec<&str> = AUDIT.to_vec();
    args.push("production");
    // The demo config with `[audit] ignore_file` set through its environment variable.
    let env: Vec<(&str, String)> = ignore_file
        .map(|f| {
            (
                "DRIFTWATCH__AUDIT__IGNORE_FILE",
                dir.join("config").join(f).display().to_string(),
            )
        })
        .into_iter()
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = support::run::driftwatch(dir, &args, &env);
    let (code, stdout, stderr) = (out.code, out.stdout, out.stderr);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    (
        code,
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
    )
}

#[test]
fn a_baseline_pins_the_accepted_digests_and_expires_in_90_days() {
    let dir = demo();
    let (code, report) = audit(dir.path(), None);
    assert_eq!(code, 1, "the demo has drift");
    std::fs::write(dir.path().join("report.json"), report.to_string()).unwrap();

    let (code, baseline, stderr) = driftwatch(dir.path(), &["ignore", "--from-report", "report.json"]);
    assert_eq!(code, 0, "{stderr}");
    let in_90_days = (chrono::Utc::now().date_naive() + chrono::Days::new(90)).to_string();
    assert!(baseline.contains(&format!("expires: {in_90_days}")), "{baseline}");
    assert!(baseline.contains("kind: Deployment"), "{baseline}");
    assert!(baseline.contains("running:"), "{baseline}");
    std::fs::write(dir.path().join("config/ignore.yaml"), &baseline).unwrap();

    let (code, accepted) = audit(dir.path(), Some("ignore.yaml"));
    assert_eq!(code, 0, "everything accepted: {accepted}");
    assert_eq!(accepted["findings"], serde_json::json!([]));

    // The same container now runs yet another build: that is new drift, not the accepted one.
    let drifted = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "digest-drift" || f["type"] == "spec-drift")
        .expect("the demo has a drifting container");
    let old = drifted["running"][0]["digest"].as_str().unwrap().to_string();
    let new = format!("sha256:{}", "e".repeat(64));
    let snapshot = dir.path().join("examples/clusters/production.json");
    let text = std::fs::read_to_string(&snapshot).unwrap();
    assert!(text.contains(&old));
    std::fs::write(&snapshot, text.replace(&old, &new)).unwrap();

    let (code, after) = audit(dir.path(), Some("ignore.yaml"));
    assert_eq!(code, 1, "new drift on an accepted container fails the gate: {after}");
    let back: Vec<_> = after["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == drifted["name"] && f["container"] == drifted["container"])
        .collect();
    assert_eq!(back.len(), 1, "{after}");
    assert_eq!(back[0]["running"][0]["digest"], new.as_str());
}

#[test]
fn expiry_can_be_set_or_switched_off() {
    let dir = demo();
    let (_, report) = audit(dir.path(), None);
    std::fs::write(dir.path().join("report.json"), report.to_string()).unwrap();
    let (code, dated, _) = driftwatch(
        dir.path(),
        &["ignore", "--from-report", "report.json", "--expires", "2027-03-31"],
    );
    assert_eq!(code, 0);
    assert!(dated.contains("expires: 2027-03-31"), "{dated}");
    let (code, forever, _) = driftwatch(dir.path(), &["ignore", "--from-report", "report.json", "--no-expiry"]);
    assert_eq!(code, 0);
    assert!(!forever.contains("expires:"), "{forever}");
    let (code, _, stderr) = driftwatch(
        dir.path(),
        &[
            "ignore",
            "--from-report",
            "report.json",
            "--no-expiry",
            "--expires",
            "2027-03-31",
        ],
    );
    assert_eq!(code, 2, "contradictory flags are refused: {stderr}");
}
