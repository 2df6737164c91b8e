//! Shared by the crate's differential tests: the Helm oracle (real Helm v4 through
//! `tests/oracle/render.py`, one process streaming JSON lines), the `helm template` stand-in
//! (`tests/oracle/helm`), the native rendering of a chart directory through the library
//! (`helm::release`), a readable difference, and the chart-copying helpers the corpora use
//! (probes, packed subcharts). A missing oracle fails the test; it is never skipped.
#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

/// The oracle process.
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// What Helm answered for one chart: each template's rendered text, or Helm's error.
pub type Answer = Result<BTreeMap<String, String>, ErrorText>;

/// A renderer's error as its message: Helm's (the oracle, `helm template`) and the built-in
/// engine's are compared as text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ErrorText(pub String);

/// The message, for the tests' text comparisons (`contains`, `==` with a `&str`).
impl std::ops::Deref for ErrorText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `helm template`'s stand-in over real Helm (`tests/oracle/helm`), checked to be there.
pub fn stand_in() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/helm");
    assert!(path.exists(), "the helm stand-in is missing: {}", path.display());
    path
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

    /// One request (`render.py`'s shape), its `ok` value or Helm's error text.
    pub fn ask(&mut self, request: &Value) -> Result<Value, ErrorText> {
        self.send(request);
        self.stdin.flush().expect("flush the oracle");
        self.read()
    }

    /// Renders every chart directory as release `rel` in namespace `ns` without user values:
    /// every request first, then the answers (one line each, in order).
    pub fn render_all(&mut self, charts: &[PathBuf]) -> Vec<Answer> {
        for c in charts {
            self.send(&serde_json::json!({"chart": c, "values": null, "name": "rel", "namespace": "ns"}));
        }
        self.stdin.flush().expect("flush the oracle");
        charts.iter().map(|_| self.read().map(templates)).collect()
    }

    fn send(&mut self, request: &Value) {
        writeln!(self.stdin, "{request}").expect("write to the oracle");
    }

    fn read(&mut self) -> Result<Value, ErrorText> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from the oracle");
        assert!(!line.is_empty(), "the Helm oracle stopped answering");
        let v: Value = serde_json::from_str(&line).expect("the oracle answers JSON");
        match v.get("error") {
            Some(e) => Err(ErrorText(e.as_str().unwrap_or_default().to_string())),
            None => Ok(v.get("ok").cloned().expect("an ok value")),
        }
    }
}

/// A render answer's templates and their text.
fn templates(ok: Value) -> BTreeMap<String, String> {
    ok.as_object()
        .expect("an ok object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The options every differential run uses, as the oracle is asked: release `rel` in
/// namespace `ns`, Helm's default capabilities.
pub fn options() -> helm::values::render::TemplateOptions {
    use helm::values::render::{ReleaseOptions, TemplateOptions};
    TemplateOptions {
        release: ReleaseOptions {
            name: "rel".into(),
            namespace: "ns".into(),
            ..ReleaseOptions::default()
        },
        ..TemplateOptions::default()
    }
}

/// Renders a chart directory natively, in the oracle's answer shape: the library's own path
/// (`helm::release`: chart loading, `prepare`, each chart's top-level value, the engine with
/// Helm's YAML reader), release `rel` in namespace `ns`, no user values.
pub fn render_native(dir: &Path) -> Answer {
    let text = |e: &dyn std::error::Error| ErrorText(e.to_string());
    let chart = helm::chart::archive::load_path(dir).map_err(|e| text(&e))?;
    let prepared =
        helm::values::render::prepare(chart, &helm::values::Values::new(), &options()).map_err(|e| text(&e))?;
    helm::release::engine()
        .render_templates(&helm::release::templates(&prepared))
        .map_err(|e| text(&e))
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

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The values corpus's probes: a `{{ toJson .Values }}` and a `{{ toJson .Chart }}` template in
/// every non-library chart under `dir`.
pub fn add_probes(dir: &Path) {
    let chart_yaml = std::fs::read_to_string(dir.join("Chart.yaml")).unwrap_or_default();
    if !chart_yaml.contains("type: library") {
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(dir.join("templates/zz-values.yaml"), "{{ toJson .Values }}\n").unwrap();
        std::fs::write(dir.join("templates/zz-chart.yaml"), "{{ toJson .Chart }}\n").unwrap();
    }
    for entry in std::fs::read_dir(dir.join("charts")).into_iter().flatten().flatten() {
        if entry.file_type().unwrap().is_dir() {
            add_probes(&entry.path());
        }
    }
}

/// Packs the chart directory `dir` into `<dir>.tgz` beside it (as `helm package` lays it out)
/// and removes the directory.
pub fn pack_tgz(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let file = std::fs::File::create(dir.with_file_name(format!("{name}.tgz"))).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    tar.append_dir_all(&name, dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
