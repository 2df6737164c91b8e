//! `helm::release::template` end to end against `helm template` (the stand-in
//! `tests/oracle/helm`: real Helm v4 rendering and `helm template`'s printing): every chart of
//! `tests/template-corpus/`, `tests/values-corpus/` (with its values files, inline values, packed
//! subcharts and the `.Values`/`.Chart` probes the values corpus adds) and
//! `tests/release-corpus/` (subcharts, hooks, CRDs, NOTES.txt, `fromYaml`), with the flag sets
//! the cases name. Output must be byte-identical; where Helm fails, the error message must be
//! Helm's. A missing oracle fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use helm::chart::archive::load_path;
use helm::release::{Error, Show, template};
use helm::values::render::TemplateOptions;
use helm::values::{Values, user_values};
use serde_json::Value;
use support::{add_probes, copy_dir, pack_tgz};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One `helm template` run.
struct Run {
    label: String,
    chart: PathBuf,
    files: Vec<PathBuf>,
    inline: Vec<Values>,
    flags: Vec<String>,
}

fn sorted_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root).unwrap().flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs
}

fn strings(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// A case directory with `case.json` (values corpus and release corpus): its runs, the chart
/// copied under `tmp`.
fn case_runs(case_dir: &Path, tmp: &Path) -> Vec<Run> {
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
    let name = case_dir.file_name().unwrap().to_string_lossy().into_owned();
    let chart = tmp.join(&name).join("chart");
    copy_dir(&case_dir.join("chart"), &chart);
    if spec.get("probes").and_then(Value::as_bool).unwrap_or(true) && spec.get("no_probes").is_none() {
        add_probes(&chart);
    }
    for sub in strings(spec.get("tgz")) {
        pack_tgz(&chart.join(sub.as_str().unwrap()));
    }
    let files: Vec<PathBuf> = strings(spec.get("values_files"))
        .iter()
        .map(|f| case_dir.join(f.as_str().unwrap()))
        .collect();
    let inline: Vec<Values> = strings(spec.get("inline"))
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    let mut flag_sets: Vec<Vec<String>> = vec![Vec::new()];
    for f in strings(spec.get("assemble")) {
        let f: Vec<String> = serde_json::from_value(f).unwrap();
        if !f.is_empty() {
            flag_sets.push(f);
        }
    }
    flag_sets
        .into_iter()
        .map(|flags| Run {
            label: format!("{name} {flags:?}"),
            chart: chart.clone(),
            files: files.clone(),
            inline: inline.clone(),
            flags,
        })
        .collect()
}

fn all_runs(tmp: &Path) -> Vec<Run> {
    let mut runs = Vec::new();
    for dir in sorted_dirs(&manifest_dir().join("tests/template-corpus")) {
        if dir.join("Chart.yaml").exists() {
            runs.push(Run {
                label: dir.file_name().unwrap().to_string_lossy().into_owned(),
                chart: dir,
                files: Vec::new(),
                inline: Vec::new(),
                flags: Vec::new(),
            });
        }
    }
    for corpus in ["tests/values-corpus", "tests/release-corpus"] {
        for dir in sorted_dirs(&manifest_dir().join(corpus)) {
            if dir.join("case.json").exists() {
                runs.extend(case_runs(&dir, tmp));
            }
        }
    }
    if let Ok(only) = std::env::var("DRIFTWATCH_CASE") {
        runs.retain(|r| r.label.contains(&only));
    }
    runs
}

/// The stand-in's answer: stdout, or the message after `Error: `.
fn helm_template(run: &Run) -> Result<String, support::ErrorText> {
    let mut cmd = Command::new(support::stand_in());
    cmd.args(["template", "rel"]).arg(&run.chart).args(["-n", "ns"]);
    for f in &run.files {
        cmd.arg("-f").arg(f);
    }
    for j in &run.inline {
        cmd.arg("--set-json").arg(Value::Object(j.clone()).to_string());
    }
    let out = cmd.args(&run.flags).output().expect("the helm stand-in runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() || stderr.starts_with("Error: "),
        "the helm stand-in failed without Helm's error: {stderr}"
    );
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(support::ErrorText(
            stderr
                .trim_end_matches('\n')
                .strip_prefix("Error: ")
                .unwrap_or(&stderr)
                .to_string(),
        ))
    }
}

fn ours(run: &Run) -> Result<String, Error> {
    let chart = load_path(&run.chart)?;
    let files: Vec<(String, Vec<u8>)> = run
        .files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .collect();
    let user = user_values(&files, &run.inline).map_err(|e| Error::Render(e.to_string()))?;
    let opts = support::options();
    let show = Show {
        include_crds: run.flags.iter().any(|f| f == "--include-crds"),
        no_hooks: run.flags.iter().any(|f| f == "--no-hooks"),
        skip_tests: run.flags.iter().any(|f| f == "--skip-tests"),
    };
    template(chart, &user, &opts, show).map(|r| r.output)
}

/// Runs the stand-in over all runs, three at a time.
fn helm_answers(runs: &[Run]) -> Vec<Result<String, support::ErrorText>> {
    let mut answers = Vec::new();
    for chunk in runs.chunks(3) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|r| s.spawn(move || helm_template(r))).collect();
            answers.extend(handles.into_iter().map(|h| h.join().expect("a stand-in thread")));
        });
    }
    answers
}

/// The first differing line of two outputs, with its line number.
fn first_difference(ours: &str, helm: &str) -> String {
    let (o, h): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), helm.lines().collect());
    let i = o
        .iter()
        .zip(&h)
        .position(|(a, b)| a != b)
        .unwrap_or(o.len().min(h.len()));
    format!(
        "line {}:\n--- ours\n{}\n--- helm\n{}",
        i + 1,
        o.get(i).unwrap_or(&"<end>"),
        h.get(i).unwrap_or(&"<end>")
    )
}

/// How our error compares with Helm's.
enum ErrorMatch {
    /// The same text.
    Exact,
    /// Equal up to the order of lines (schema errors: Helm's order follows Go map iteration).
    LineOrder,
    /// A rendered document's head Helm cannot read: the same template path, the reason worded
    /// differently (the stand-in words it with its own YAML reader, not Helm's).
    ManifestHead,
    Differs,
}

fn compare_errors(ours: &str, helm: &str) -> ErrorMatch {
    let sorted = |s: &str| {
        let mut l: Vec<String> = s.lines().map(String::from).collect();
        l.sort();
        l
    };
    let head = |s: &str| {
        s.strip_prefix("YAML parse error on ")
            .and_then(|r| r.split_once(": "))
            .map(|(path, _)| path.to_string())
    };
    if ours == helm {
        ErrorMatch::Exact
    } else if ours.starts_with("values don't meet") && sorted(ours) == sorted(helm) {
        ErrorMatch::LineOrder
    } else if head(ours).is_some() && head(ours) == head(helm) {
        ErrorMatch::ManifestHead
    } else {
        ErrorMatch::Differs
    }
}

/// Runs the stand-in cannot answer: it does not check `kubeVersion` (it always renders with
/// Helm's default capabilities), so Helm's refusal is not in its output.
const STAND_IN_GAPS: [&str; 1] = ["error-kube-version"];

#[test]
fn template_prints_exactly_what_helm_template_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = all_runs(tmp.path());
    runs.retain(|r| !STAND_IN_GAPS.iter().any(|g| r.label.starts_with(g)));
    let answers = helm_answers(&runs);
    let mut counts = [0usize; 4];
    let mut failures = Vec::new();
    let mut identical_charts = std::collections::BTreeSet::new();
    for (run, helm) in runs.iter().zip(&answers) {
        let verdict = match (ours(run), helm) {
            (Ok(o), Ok(h)) if &o == h => 0,
            (Err(Error::Unsupported(f)), _) => {
                failures.push(format!("== {}: unsupported {f}", run.label));
                continue;
            }
            (Err(e), Err(h)) => match compare_errors(&e.to_string(), h) {
                ErrorMatch::Exact => 1,
                ErrorMatch::LineOrder => 2,
                ErrorMatch::ManifestHead => 3,
                ErrorMatch::Differs => {
                    failures.push(format!("== {}\n--- ours\nError: {e}\n--- helm\nError: {h}", run.label));
                    continue;
                }
            },
            (o, h) => {
                let o = o.unwrap_or_else(|e| format!("Error: {e}"));
                let h = h.clone().unwrap_or_else(|e| format!("Error: {e}"));
                failures.push(format!("== {}\n{}", run.label, first_difference(&o, &h)));
                continue;
            }
        };
        counts[verdict] += 1;
        if verdict == 0 {
            identical_charts.insert(run.chart.clone());
        }
    }
    eprintln!(
        "{} runs: {} byte-identical outputs ({} charts), {} identical errors, {} schema errors equal up to line order, {} manifest-head errors on the same template (reason worded differently), {} differ",
        runs.len(),
        counts[0],
        identical_charts.len(),
        counts[1],
        counts[2],
        counts[3],
        failures.len()
    );
    assert!(
        runs.len() >= 190 || std::env::var("DRIFTWATCH_CASE").is_ok(),
        "only {} runs",
        runs.len()
    );
    assert!(
        failures.is_empty(),
        "{} runs differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn an_unsupported_function_names_the_function() {
    let files = vec![
        helm::chart::File::new("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
        helm::chart::File::new("values.yaml", "a: 1\n"),
        helm::chart::File::new("templates/cm.yaml", "data: {{ toToml .Values | quote }}\n"),
    ];
    let chart = helm::chart::load_files(files).unwrap();
    let r = template(chart, &Values::new(), &TemplateOptions::default(), Show::default());
    assert_eq!(r, Err(Error::Unsupported("toToml".into())));
}

/// Every reason the renderer gives for leaving a release to Helm, with the template that
/// triggers it: each function Helm has and this engine lacks (called with any arguments: it
/// fails before they matter), and the implemented functions' unsupported corners.
pub fn unsupported_reasons() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = helm::template::funcs::HELM_ONLY
        .iter()
        .map(|name| (format!("{{{{ {name} }}}}"), (*name).to_string()))
        .collect();
    out.extend(
        [
            ("{{ dateInZone \"2006\" now \"Europe/Paris\" }}", "dateInZone"),
            ("{{ date_in_zone \"2006\" now \"Asia/Tokyo\" }}", "dateInZone"),
            ("{{ htmlDateInZone now \"America/New_York\" }}", "htmlDateInZone"),
            ("{{ genPrivateKey \"dsa\" }}", "genPrivateKey \"dsa\""),
            ("{{ genPrivateKey \"ed25519\" }}", "genPrivateKey \"ed25519\""),
            ("{{ tpl .Values.loop . }}", "tpl nested beyond 10000 levels"),
        ]
        .map(|(t, r)| (t.to_string(), r.to_string())),
    );
    out
}

#[test]
fn every_unsupported_reason_names_what_is_missing() {
    let mut wrong = Vec::new();
    for (text, reason) in unsupported_reasons() {
        let files = vec![
            helm::chart::File::new("Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
            helm::chart::File::new("values.yaml", "loop: \"{{ tpl .Values.loop . }}\"\n"),
            helm::chart::File::new("templates/cm.yaml", format!("data: {text}\n")),
        ];
        let chart = helm::chart::load_files(files).unwrap();
        let values = helm::values::load_values(b"loop: \"{{ tpl .Values.loop . }}\"\n").unwrap();
        let r = template(chart, &values, &TemplateOptions::default(), Show::default());
        if r != Err(Error::Unsupported(reason.clone())) {
            wrong.push(format!(
                "{text}: want Unsupported({reason:?}), got {:?}",
                r.map(|r| r.output)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
