//! Shared by the template tests: the Helm oracle (real Helm v4 through
//! `tests/oracle/render.py`, one process streaming JSON lines) and a minimal chart loader that
//! builds the top-level value Helm gives templates (`.Values` from values.yaml with float64
//! numbers, `.Chart` from Chart.yaml, `.Release`, `.Capabilities`, `.Files`). The real chart and
//! values loading lands with the chart/values modules; this is only what the tests need.
#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use helm::template::objects::{Files, Struct, VersionSet};
use helm::template::{Map, MapType, Value};

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

/// YAML to values as sigs.k8s.io/yaml gives them to Helm: numbers are float64.
pub fn yaml_value(text: &str) -> Value {
    let y: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null);
    let json = serde_json::to_value(y).unwrap_or(serde_json::Value::Null);
    Value::from(json)
}

/// Helm's coalescing drops keys whose value is null.
fn drop_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, drop_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A chart's values.yaml as Helm hands it to templates.
pub fn values_value(text: &str) -> Value {
    let y: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null);
    let json = serde_json::to_value(y).unwrap_or(serde_json::Value::Null);
    Value::from(drop_nulls(json))
}

fn to_values_type(v: Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(Map::from_entries(MapType::Values, m.entries().into_iter().collect())),
        Value::Nil => Value::Map(Map::new(MapType::Values)),
        other => other,
    }
}

fn s(v: &str) -> Value {
    Value::str(v)
}

/// `.Chart` as Helm v4 builds it from Chart.yaml (`MetadataAsMap`, `IsRoot`).
pub fn chart_value(chart_yaml: &str) -> Value {
    let meta = yaml_value(chart_yaml);
    let get = |k: &str| meta.as_map().and_then(|m| m.get(k)).unwrap_or(Value::Nil);
    let str_or_empty = |k: &str| match get(k) {
        Value::Str(x) => Value::Str(x),
        _ => s(""),
    };
    let list_or_empty = |k: &str| match get(k) {
        l @ Value::List(_) => l,
        _ => Value::list(Vec::new()),
    };
    let m = Map::new(MapType::Any);
    for (key, yaml_key) in [
        ("APIVersion", "apiVersion"),
        ("AppVersion", "appVersion"),
        ("Condition", "condition"),
        ("Description", "description"),
        ("Home", "home"),
        ("Icon", "icon"),
        ("KubeVersion", "kubeVersion"),
        ("Name", "name"),
        ("Tags", "tags"),
        ("Type", "type"),
        ("Version", "version"),
    ] {
        m.insert(key.into(), str_or_empty(yaml_key));
    }
    for (key, yaml_key) in [
        ("Dependencies", "dependencies"),
        ("Keywords", "keywords"),
        ("Maintainers", "maintainers"),
        ("Sources", "sources"),
    ] {
        m.insert(key.into(), list_or_empty(yaml_key));
    }
    m.insert("Annotations".into(), get("annotations"));
    m.insert("Deprecated".into(), Value::Bool(get("deprecated").truth()));
    m.insert("IsRoot".into(), Value::Bool(true));
    Value::Map(m)
}

/// Helm v4's default API versions (`helm template` without a cluster).
const API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// `.Capabilities` as `helm template` has them (Kubernetes v1.36.0, the default API versions).
pub fn capabilities_value() -> Value {
    let kube = Struct {
        type_name: "common.KubeVersion".into(),
        pointer: false,
        fields: [("Version", s("v1.36.0")), ("Major", s("1")), ("Minor", s("36"))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        order: vec!["Version".into(), "Major".into(), "Minor".into()],
        string: Some("v1.36.0".into()),
        methods: [("GitVersion".to_string(), s("v1.36.0"))].into_iter().collect(),
    };
    let api = VersionSet(API_VERSIONS.iter().map(|v| v.to_string()).collect());
    Struct {
        type_name: "*common.Capabilities".into(),
        pointer: true,
        fields: [
            ("KubeVersion".to_string(), kube.value()),
            ("APIVersions".to_string(), Value::Object(std::rc::Rc::new(api))),
        ]
        .into_iter()
        .collect(),
        order: vec!["KubeVersion".into(), "APIVersions".into()],
        string: None,
        methods: BTreeMap::new(),
    }
    .value()
}

fn release_value() -> Value {
    let m = Map::new(MapType::Any);
    m.insert("Name".into(), s("rel"));
    m.insert("Namespace".into(), s("ns"));
    m.insert("IsInstall".into(), Value::Bool(true));
    m.insert("IsUpgrade".into(), Value::Bool(false));
    m.insert("Revision".into(), Value::Int(1));
    m.insert("Service".into(), s("Helm"));
    Value::Map(m)
}

/// A chart directory read for the engine: its templates (named `chart/templates/…`) and the
/// top-level value.
pub struct LoadedChart {
    pub name: String,
    pub templates: Vec<(String, String)>,
    pub top: Value,
    /// Every template (subcharts' too) with its chart's top-level value.
    pub per_template: Vec<helm::template::Template>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

pub fn load_chart(dir: &Path) -> LoadedChart {
    let mut templates = Vec::new();
    let (name, top) = load_into(dir, "", None, true, &mut templates);
    let pairs = templates.iter().map(|t| (t.name.clone(), t.text.clone())).collect();
    LoadedChart {
        name,
        templates: pairs,
        top,
        per_template: Vec::new(),
    }
    .with_tops(templates)
}

impl LoadedChart {
    fn with_tops(mut self, ts: Vec<helm::template::Template>) -> LoadedChart {
        self.per_template = ts;
        self
    }
}

/// A deep merge for the test loader: `over` wins, maps merge (Helm's coalescing, simplified).
fn merged(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Map(b), Value::Map(o)) => {
            let out = Map::new(MapType::Values);
            for (k, v) in b.entries() {
                out.insert(k, v);
            }
            for (k, v) in o.entries() {
                let v = match out.get(&k) {
                    Some(old) => merged(&old, &v),
                    None => v,
                };
                out.insert(k, v);
            }
            Value::Map(out)
        }
        (b, Value::Nil) => b.clone(),
        (_, o) => o.clone(),
    }
}

/// Loads a chart (and, under `charts/`, its unpacked subcharts) into `out`, each template with
/// its chart's top-level value; returns the chart's name and top-level value.
fn load_into(
    dir: &Path,
    prefix: &str,
    parent_values: Option<&Value>,
    root: bool,
    out: &mut Vec<helm::template::Template>,
) -> (String, Value) {
    let chart_yaml = std::fs::read_to_string(dir.join("Chart.yaml")).expect("Chart.yaml");
    let chart = chart_value(&chart_yaml);
    let name = chart
        .as_map()
        .and_then(|m| m.get("Name"))
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    if let Value::Map(m) = &chart {
        m.insert("IsRoot".into(), Value::Bool(root));
    }
    let library = yaml_value(&chart_yaml)
        .as_map()
        .and_then(|m| m.get("type"))
        .and_then(|t| t.as_str().map(String::from))
        == Some("library".into());
    let defaults = values_value(&std::fs::read_to_string(dir.join("values.yaml")).unwrap_or_default());
    let values = match parent_values {
        None => to_values_type(defaults),
        Some(pv) => {
            let mine = pv.as_map().and_then(|m| m.get(&name)).unwrap_or(Value::Nil);
            let v = merged(&to_values_type(defaults), &mine);
            if let (Value::Map(m), Some(g)) = (&v, pv.as_map().and_then(|m| m.get("global"))) {
                m.insert("global".into(), g);
            }
            v
        }
    };
    let full = format!("{prefix}{name}");
    let mut files = Vec::new();
    walk(dir, &mut files);
    let top = Map::new(MapType::Values);
    let subcharts = Map::new(MapType::Any);
    let mut other = Vec::new();
    let mut mine = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(dir)
            .expect("under the chart")
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with("templates/") {
            let base = rel.rsplit('/').next().unwrap_or(&rel);
            if !library || base.starts_with('_') {
                mine.push((
                    format!("{full}/{rel}"),
                    std::fs::read_to_string(&f).expect("template text"),
                ));
            }
        } else if let Some(sub) = rel.strip_prefix("charts/") {
            if let Some((sub_name, "Chart.yaml")) = sub.split_once('/') {
                let (n, sub_top) = load_into(
                    &dir.join("charts").join(sub_name),
                    &format!("{full}/charts/"),
                    Some(&values),
                    false,
                    out,
                );
                subcharts.insert(n, sub_top);
            }
        } else if !matches!(rel.as_str(), "Chart.yaml" | "values.yaml") {
            other.push((rel, std::fs::read(&f).expect("file bytes")));
        }
    }
    top.insert("Values".into(), values);
    top.insert("Chart".into(), chart);
    top.insert("Release".into(), release_value());
    top.insert("Capabilities".into(), capabilities_value());
    top.insert("Files".into(), Files::new(other).value());
    top.insert("Subcharts".into(), Value::Map(subcharts));
    let top = Value::Map(top);
    out.extend(mine.into_iter().map(|(name, text)| helm::template::Template {
        name,
        text,
        top: top.clone(),
    }));
    (name, top)
}

/// Renders a chart directory with the native engine, in the oracle's answer shape.
pub fn render_native(dir: &Path) -> Answer {
    let c = load_chart(dir);
    helm::template::Engine::default()
        .render(&c.templates, c.top)
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
