//! Shared by the template tests: the Helm oracle (real Helm v4 through
//! `tests/oracle/render.py`, one process streaming JSON lines), the native rendering of a chart
//! directory through the library (`helm::release`, which builds each template's top-level value
//! from the chart and its values), and a readable difference.
#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The oracle process.
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// What Helm answered for one chart.
pub type Answer = Result<BTreeMap<String, String>, String>;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Oracle {
    /// Starts the oracle; a missing oracle fails the test (it is never skipped).
    pub fn start() -> Oracle {
        let python = repo_root().join(".venv/helm/bin/python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/render.py");
        assert!(
            python.exists(),
            "the Helm oracle is missing: {} (install it with scripts/prereqs)",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("the Helm oracle did not start: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Oracle { child, stdin, stdout }
    }

    /// Sends every request first, then reads the answers (one line each, in order).
    pub fn render_all(&mut self, charts: &[PathBuf]) -> Vec<Answer> {
        for c in charts {
            let req = serde_json::json!({"chart": c, "values": null, "name": "rel", "namespace": "ns"});
            writeln!(self.stdin, "{req}").expect("write to the oracle");
        }
        self.stdin.flush().expect("flush the oracle");
        charts.iter().map(|_| self.read_answer()).collect()
    }

    fn read_answer(&mut self) -> Answer {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the oracle");
        assert!(!line.is_empty(), "the Helm oracle stopped answering");
        let v: serde_json::Value = serde_json::from_str(&line).expect("the oracle answers JSON");
        if let Some(e) = v.get("error") {
            return Err(e.as_str().unwrap_or_default().to_string());
        }
        let ok = v.get("ok").and_then(|o| o.as_object()).expect("an ok object");
        Ok(ok
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect())
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Renders a chart directory natively, in the oracle's answer shape: the library's own path
/// (`helm::release`: chart loading, `prepare`, each chart's top-level value, the engine with
/// Helm's YAML reader), release `rel` in namespace `ns`, no user values.
pub fn render_native(dir: &Path) -> Answer {
    use helm::values::render::{ReleaseOptions, TemplateOptions, prepare};
    let chart = helm::chart::archive::load_path(dir).map_err(|e| e.to_string())?;
    let opts = TemplateOptions {
        release: ReleaseOptions {
            name: "rel".into(),
            namespace: "ns".into(),
            ..ReleaseOptions::default()
        },
        ..TemplateOptions::default()
    };
    let prepared = prepare(chart, &helm::values::Values::new(), &opts).map_err(|e| e.to_string())?;
    helm::release::engine()
        .render_templates(&helm::release::templates(&prepared))
        .map_err(|e| e.to_string())
}

/// A readable difference between two answers, None when equal: for outputs, each differing
/// template's first differing line with its neighbours.
pub fn difference(ours: &Answer, helm: &Answer) -> Option<String> {
    if ours == helm {
        return None;
    }
    let (Ok(o), Ok(h)) = (ours, helm) else {
        return Some(format!("--- ours\n{ours:#?}\n--- helm\n{helm:#?}"));
    };
    let mut out = String::new();
    for name in o.keys().chain(h.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (a, b) = (
            o.get(name).map_or("<absent>", String::as_str),
            h.get(name).map_or("<absent>", String::as_str),
        );
        if a == b {
            continue;
        }
        let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        let i = al
            .iter()
            .zip(&bl)
            .position(|(x, y)| x != y)
            .unwrap_or(al.len().min(bl.len()));
        let lo = i.saturating_sub(3);
        out += &format!(
            "template {name}, line {}:\n--- ours\n{}\n--- helm\n{}\n",
            i + 1,
            al[lo..(i + 3).min(al.len())].join("\n"),
            bl[lo..(i + 3).min(bl.len())].join("\n")
        );
    }
    Some(out)
}
