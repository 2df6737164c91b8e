//! Proof that the built-in kustomize renderer renders what the real kustomize (`kubectl
//! kustomize`, v5.5.0 on the CI machine) renders: a corpus of small repositories
//! (`tests/corpus/<case>/`, each with a `case.yaml` saying what to expect) and
//! a seeded generator of random ones. Both are rendered by both renderers and compared on the
//! facts driftwatch reads: workloads, their containers and images, ConfigMaps and Secrets, and
//! the names a pod spec refers to; then, where those agree, every other field of every document
//! (labels, annotations, anything a transformer writes). Every divergence is collected and
//! reported at once, naming the case and the fact or field.
//!
//! A missing kustomize fails these tests: they are the renderer's only proof of exactness.
//!
//! Run: `cargo test -p kustomize --test differential` (the generator: `… generated`, with
//! `DRIFTWATCH_SEED=<n>` to replay a seed and `DRIFTWATCH_CASES=<n>` for more or fewer repos;
//! the corpus: `DRIFTWATCH_CORPUS=images … corpus` for the cases whose name holds `images`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use kustomize::files::DirFiles;
use kustomize::{self as builtin, BuildError};
use serde::Deserialize;
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// Every reason the built-in renderer gives for leaving an overlay to kustomize: the corpus must
/// hold a case for each, so a feature cannot silently move from "falls back" to "renders".
const FALLBACK_REASONS: &[&str] = &[
    "uses helmChartInflationGenerator",
    "uses helmCharts with a chart to pull from its repo",
    "uses helmCharts without releaseName",
    "uses helmCharts nameTemplate",
    "uses helmCharts valuesInline merged with null values or patch directives",
    "uses vars",
    "uses crds",
    "uses openapi",
    "uses configurations",
    "uses generator plugins",
    "uses transformer plugins",
    "uses validator plugins",
    "uses buildMetadata",
    "uses imageTags",
    "uses labels with fields",
    "uses remote resources",
    "unknown field frobnicate",
];

/// Kustomize runs at once: a call is mostly waiting (about 0.2 s wall for 0.06 s of CPU here).
const PARALLEL: usize = 4;

// ---------------------------------------------------------------------------------------------
// The two renderers.

/// Why the real kustomize gave no documents.
#[derive(Debug, thiserror::Error)]
enum KustomizeError {
    /// kustomize refused the kustomization: its message.
    #[error("{0}")]
    Failed(String),
    #[error("kustomize output is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    #[error("kustomize output does not parse")]
    Unparsable(#[source] serde_yaml::Error),
}

/// The real kustomize's output for `dir`: the documents, or why none.
fn kustomize(dir: &Path) -> Result<Vec<Value>, KustomizeError> {
    // The suite's convention (tests/kustomize.rs, scripts/prereqs): `kubectl kustomize`, or a
    // `kustomize` binary. Neither is a failure, not a skip.
    // `helmCharts:` render with the `helm` stand-in: real Helm v4 behind helm's command line.
    let helm = ["--enable-helm", "--helm-command", HELM];
    let out = match Command::new("kubectl").arg("kustomize").arg(dir).args(helm).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Command::new("kustomize")
            .arg("build")
            .arg(dir)
            .args(helm)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "neither `kubectl` nor `kustomize` can be run ({e}): these tests compare the built-in \
                     renderer with the real kustomize and cannot pass without it (see scripts/prereqs)"
                )
            }),
        Err(e) => panic!("running kubectl kustomize: {e}"),
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // kubectl wraps the message in a log line (`E1126 … run.go:72] "command failed" err="…"`).
        let err = err.split_once(" err=").map_or(&*err, |(_, e)| e);
        return Err(KustomizeError::Failed(err.trim().to_string()));
    }
    let text = String::from_utf8(out.stdout).map_err(KustomizeError::NotUtf8)?;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(doc).map_err(KustomizeError::Unparsable)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The `helm` stand-in (`crates/helm/tests/oracle/helm`: real Helm v4 through the oracle
/// library in the repository's `.venv`).
const HELM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../helm/tests/oracle/helm");

/// The built-in renderer's output for `render` (relative to `root`, `.` for the root itself),
/// `helmCharts:` rendered by the workspace's Helm renderer.
fn builtin(root: &Path, render: &str) -> Result<Vec<Value>, BuildError> {
    let dir = match render.trim_end_matches('/') {
        "." | "" => "",
        d => d.trim_start_matches("./"),
    };
    builtin::build_with(&DirFiles::new(root), dir, Some(&HelmCrate)).map(|b| b.docs)
}

/// `helm template` by the `helm` crate, as driftwatch wires it (`src/sources/render/kustomize_helm.rs`).
struct HelmCrate;

impl builtin::helm::HelmTemplate for HelmCrate {
    fn template(&self, c: &builtin::helm::Inflation) -> Result<String, BuildError> {
        let render = || -> Result<String, helm::release::Error> {
            let chart = helm::chart::load_files(helm::chart::archive::dir_files(c.chart_files.clone())?)?;
            let user = helm::values::user_values(&c.values_files, &[])
                .map_err(|e| helm::release::Error::Render(e.to_string()))?;
            let opts = helm::values::render::TemplateOptions {
                release: helm::values::render::ReleaseOptions {
                    name: c.release_name.clone(),
                    namespace: c.namespace.clone().unwrap_or_else(|| "default".into()),
                    ..Default::default()
                },
                kube_version: c.kube_version.clone(),
                api_versions: c.api_versions.clone(),
                skip_schema_validation: false,
            };
            let show = helm::Show {
                include_crds: c.include_crds,
                no_hooks: c.skip_hooks,
                skip_tests: c.skip_tests,
            };
            Ok(helm::template(chart, &user, &opts, show)?.output)
        };
        render().map_err(|e| match e {
            helm::release::Error::Unsupported(what) => BuildError::Unsupported(format!("uses {what}")),
            e => BuildError::Invalid(e.to_string()),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Facts.

/// What driftwatch reads from a rendering, flattened to `fact → value` so that a difference
/// names exactly what differs ("Deployment/prod/api container 0 image").
type Facts = BTreeMap<String, String>;

const WORKLOAD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<null>".into(),
        // Not a string where kustomize writes one (a ConfigMap value as a number, say) must show.
        other => format!("<{other}>"),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The pod spec of a workload, where its kind keeps it.
fn pod_spec<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    match kind {
        "Pod" => obj.get("spec"),
        "CronJob" => obj.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => obj.pointer("/spec/template/spec"),
    }
}

/// Adds `key → value`; a key seen twice (two resources with one id in the output) gets `#2`.
fn put(facts: &mut Facts, key: String, value: String) {
    let mut k = key.clone();
    let mut n = 1;
    while facts.contains_key(&k) {
        n += 1;
        k = format!("{key} #{n}");
    }
    facts.insert(k, value);
}

fn facts(docs: &[Value]) -> Facts {
    let mut f = Facts::new();
    for obj in docs {
        let kind = str_at(obj, &["kind"]);
        let id = format!(
            "{kind}/{}/{}",
            str_at(obj, &["metadata", "namespace"]),
            str_at(obj, &["metadata", "name"])
        );
        put(&mut f, id.clone(), "present".into());
        if WORKLOAD_KINDS.contains(&kind) {
            workload_facts(&mut f, &id, obj, kind);
        }
        match kind {
            "ConfigMap" | "Secret" => {
                if kind == "Secret" {
                    f.insert(format!("{id} type"), text(obj.get("type").unwrap_or(&Value::Null)));
                }
                for field in ["data", "binaryData", "stringData"] {
                    for (k, v) in obj.get(field).and_then(Value::as_object).into_iter().flatten() {
                        f.insert(format!("{id} {field} {k}"), text(v));
                    }
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                for (i, s) in list(obj.get("subjects")).iter().enumerate() {
                    f.insert(
                        format!("{id} subject {i}"),
                        format!(
                            "{}/{}/{}",
                            str_at(s, &["kind"]),
                            str_at(s, &["namespace"]),
                            str_at(s, &["name"])
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    f
}

fn workload_facts(f: &mut Facts, id: &str, obj: &Value, kind: &str) {
    if let Some(r) = obj.pointer("/spec/replicas") {
        f.insert(format!("{id} replicas"), r.to_string());
    }
    let Some(spec) = pod_spec(obj, kind) else {
        f.insert(format!("{id} pod spec"), "missing".into());
        return;
    };
    for field in ["containers", "initContainers"] {
        let label = field.trim_end_matches('s');
        for (i, c) in list(spec.get(field)).iter().enumerate() {
            let cname = str_at(c, &["name"]);
            f.insert(format!("{id} {label} {i} name"), cname.into());
            f.insert(format!("{id} {label} {i} image"), str_at(c, &["image"]).into());
            // References are keyed by container name, so a reordering shows once (above), not as
            // a cascade of reference differences.
            let at = format!("{id} {label} {cname}");
            for (j, e) in list(c.get("envFrom")).iter().enumerate() {
                for r in ["configMapRef", "secretRef"] {
                    if let Some(n) = e.get(r) {
                        f.insert(format!("{at} envFrom {j} {r}"), str_at(n, &["name"]).into());
                    }
                }
            }
            for e in list(c.get("env")) {
                for r in ["configMapKeyRef", "secretKeyRef"] {
                    if let Some(n) = e.get("valueFrom").and_then(|v| v.get(r)) {
                        f.insert(
                            format!("{at} env {} {r}", str_at(e, &["name"])),
                            str_at(n, &["name"]).into(),
                        );
                    }
                }
            }
        }
    }
    for v in list(spec.get("volumes")) {
        let at = format!("{id} volume {}", str_at(v, &["name"]));
        if let Some(c) = v.get("configMap") {
            f.insert(format!("{at} configMap"), str_at(c, &["name"]).into());
        }
        if let Some(s) = v.get("secret") {
            f.insert(format!("{at} secret"), str_at(s, &["secretName"]).into());
        }
        for (i, src) in list(v.pointer("/projected/sources")).iter().enumerate() {
            for r in ["configMap", "secret"] {
                if let Some(n) = src.get(r) {
                    f.insert(format!("{at} projected {i} {r}"), str_at(n, &["name"]).into());
                }
            }
        }
    }
    for (i, s) in list(spec.get("imagePullSecrets")).iter().enumerate() {
        f.insert(format!("{id} imagePullSecrets {i}"), str_at(s, &["name"]).into());
    }
    if let Some(sa) = spec.get("serviceAccountName") {
        f.insert(format!("{id} serviceAccountName"), text(sa));
    }
}

/// Every difference between the two sets of facts, one line each.
fn diff(want: &Facts, got: &Facts) -> Vec<String> {
    let mut out = Vec::new();
    for (k, w) in want {
        match got.get(k) {
            Some(g) if g == w => {}
            Some(g) => out.push(format!("{k}: kustomize {w} builtin {g}")),
            None => out.push(format!("{k}: kustomize {w} builtin has none")),
        }
    }
    for (k, g) in got {
        if !want.contains_key(k) {
            out.push(format!("{k}: kustomize has none, builtin {g}"));
        }
    }
    out
}

/// Beyond the facts: every field of every document, matched by id, so that labels,
/// annotations and any other field a transformer writes are compared too (kustomize's output
/// order is its sort order, not the load order, so documents are matched by id).
fn document_diff(theirs: &[Value], ours: &[Value]) -> Vec<String> {
    let by_id = |docs: &[Value]| -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        for d in docs {
            let id = format!(
                "{} {}/{}/{}",
                str_at(d, &["apiVersion"]),
                str_at(d, &["kind"]),
                str_at(d, &["metadata", "namespace"]),
                str_at(d, &["metadata", "name"])
            );
            m.insert(id, d.clone());
        }
        m
    };
    let (theirs, ours) = (by_id(theirs), by_id(ours));
    let mut out = Vec::new();
    for (id, t) in &theirs {
        let Some(o) = ours.get(id) else { continue };
        let (mut want, mut got) = (Facts::new(), Facts::new());
        leaves(t, String::new(), &mut want);
        leaves(o, String::new(), &mut got);
        out.extend(diff(&want, &got).into_iter().map(|l| format!("{id} {l}")));
    }
    out
}

/// Every scalar (and empty collection) of `v` by its JSON pointer.
fn leaves(v: &Value, at: String, out: &mut Facts) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                leaves(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, format!("{at}/{i}"), out);
            }
        }
        other => {
            out.insert(at, other.to_string());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing one repository.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    /// Both render it, to the same facts.
    Same,
    /// kustomize rejects it; the built-in returns `Invalid`.
    Error,
    /// The built-in returns `Unsupported(reason)`.
    Fallback,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    render: String,
    expect: Expect,
    reason: Option<String>,
    /// `skip`: do not run kustomize (it would need the network, helm or a plugin runtime).
    kustomize: Option<String>,
}

/// What happened with one repository.
enum Outcome {
    Pass,
    /// The built-in fell back (counted by the generator).
    FellBack(String),
    Mismatch(Vec<String>),
}

/// Renders `render` in `root` with the built-in renderer and checks `expect` against
/// kustomize's result `theirs` (`None`: kustomize was not run).
fn check(
    root: &Path,
    render: &str,
    expect: Expect,
    reason: Option<&str>,
    theirs: Option<Result<Vec<Value>, KustomizeError>>,
) -> Outcome {
    let ours = builtin(root, render);
    let mismatch = |m: String| Outcome::Mismatch(vec![m]);
    match expect {
        Expect::Same => {
            let theirs = match theirs.expect("kustomize runs for `same`") {
                Ok(docs) => docs,
                Err(e) => return mismatch(format!("the corpus is wrong: kustomize fails: {e}")),
            };
            match ours {
                Ok(docs) => {
                    let mut d = diff(&facts(&theirs), &facts(&docs));
                    if d.is_empty() {
                        d = document_diff(&theirs, &docs);
                    }
                    if d.is_empty() {
                        Outcome::Pass
                    } else {
                        Outcome::Mismatch(d)
                    }
                }
                Err(BuildError::Unsupported(r)) => Outcome::FellBack(r),
                Err(BuildError::Invalid(e)) => mismatch(format!("kustomize renders it, builtin says invalid: {e}")),
            }
        }
        Expect::Error => {
            if let Some(Ok(_)) = theirs {
                return mismatch("the corpus is wrong: kustomize renders it".into());
            }
            let err = theirs.and_then(Result::err).map(|e| e.to_string()).unwrap_or_default();
            match ours {
                Err(BuildError::Invalid(_)) => Outcome::Pass,
                Err(BuildError::Unsupported(r)) => mismatch(format!(
                    "kustomize fails ({err}); builtin falls back ({r}) instead of Invalid"
                )),
                Ok(_) => mismatch(format!("kustomize fails ({err}); builtin renders it")),
            }
        }
        Expect::Fallback => {
            let want = reason.unwrap_or("<no reason in case.yaml>");
            let mut problems = Vec::new();
            if let Some(Err(e)) = theirs {
                problems.push(format!("the corpus is wrong: kustomize fails: {e}"));
            }
            match ours {
                Err(BuildError::Unsupported(r)) if r == want => {}
                Err(BuildError::Unsupported(r)) => {
                    problems.push(format!("falls back with reason {r:?}, want {want:?}"))
                }
                Err(BuildError::Invalid(e)) => {
                    problems.push(format!("builtin says invalid ({e}), want fallback {want:?}"))
                }
                Ok(_) => problems.push(format!("builtin renders it, want fallback {want:?}")),
            }
            if problems.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Mismatch(problems)
            }
        }
    }
}

/// Runs `f` on every item, `PARALLEL` at a time, keeping the items' order in the results.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The corpus.

struct Case {
    name: String,
    dir: PathBuf,
    file: CaseFile,
}

/// The corpus's cases, in name order; `DRIFTWATCH_CORPUS=<text>` keeps only those whose name
/// holds it (to work on one feature).
fn corpus() -> Vec<Case> {
    let only = std::env::var("DRIFTWATCH_CORPUS").unwrap_or_default();
    let mut cases: Vec<Case> = std::fs::read_dir(CORPUS)
        .unwrap_or_else(|e| panic!("{CORPUS}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().contains(&only))
        .map(|dir| {
            let path = dir.join("case.yaml");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let file: CaseFile = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            Case { name, dir, file }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

#[test]
fn the_corpus_renders_as_kustomize_renders_it() {
    let cases = corpus();
    let whole = std::env::var_os("DRIFTWATCH_CORPUS").is_none();
    assert!(
        cases.len() >= 80 || !whole,
        "the corpus has {} cases, want at least 80",
        cases.len()
    );
    for reason in FALLBACK_REASONS.iter().filter(|_| whole) {
        assert!(
            cases.iter().any(|c| c.file.reason.as_deref() == Some(*reason)),
            "no corpus case falls back with {reason:?}"
        );
    }
    for c in &cases {
        assert_eq!(
            c.file.reason.is_some(),
            c.file.expect == Expect::Fallback,
            "{}: a reason goes with expect: fallback, and only there",
            c.name
        );
    }

    let outcomes = parallel(&cases, |c| {
        let run = c.file.kustomize.as_deref() != Some("skip");
        assert!(
            run || c.file.expect == Expect::Fallback,
            "{}: only a fallback case may skip kustomize",
            c.name
        );
        let theirs = run.then(|| kustomize(&c.dir.join(&c.file.render)));
        check(&c.dir, &c.file.render, c.file.expect, c.file.reason.as_deref(), theirs)
    });
    let mut report = Vec::new();
    for (c, outcome) in cases.iter().zip(outcomes) {
        match outcome {
            Outcome::Pass => {}
            Outcome::FellBack(r) => report.push(format!("{}: kustomize renders it, builtin falls back: {r}", c.name)),
            Outcome::Mismatch(lines) => {
                report.push(format!("{}:", c.name));
                report.extend(lines.into_iter().map(|l| format!("    {l}")));
            }
        }
    }
    let failed = report.iter().filter(|l| !l.starts_with("    ")).count();
    assert!(
        report.is_empty(),
        "{failed} of {} corpus cases differ from kustomize (tests/corpus/<case>):\n{}",
        cases.len(),
        report.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The generator.

/// xorshift64*: small, seedable, the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // A zero state stays zero; mix the seed so that nearby seeds differ at once.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `pct`%.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const IMAGES: &[&str] = &[
    "nginx",
    "registry.example.com/shop/api",
    "registry.local:5000/team/worker",
    "ghcr.io/acme/proxy",
    "busybox",
];
const DIGESTS: &[&str] = &[
    "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "sha256:2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b",
    "sha256:3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
];
const KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("v1", "Pod"),
];

fn image(rng: &mut Rng) -> String {
    let name = rng.pick(IMAGES);
    match rng.below(4) {
        0 => name.to_string(),
        1 => format!("{name}@{}", rng.pick(DIGESTS)),
        _ => format!("{name}:{}.{}", rng.below(3), rng.below(10)),
    }
}

/// A workload as the generator tracks it, so that its patches stay valid.
struct Workload {
    api: &'static str,
    kind: &'static str,
    name: String,
    containers: Vec<String>,
}

/// Where a kind keeps its pod spec, as an SMP patch body or a JSON pointer prefix.
fn wrap_pod(kind: &str, pod: Value) -> Value {
    match kind {
        "Pod" => json!({ "spec": pod }),
        "CronJob" => json!({ "spec": { "jobTemplate": { "spec": { "template": { "spec": pod } } } } }),
        _ => json!({ "spec": { "template": { "spec": pod } } }),
    }
}

fn pod_pointer(kind: &str) -> &'static str {
    match kind {
        "Pod" => "/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap()
}

/// Writes one random repository under `root`; returns the directory to render.
fn generate(rng: &mut Rng, root: &Path) -> String {
    let generated = rng.chance(60);
    let mut workloads = write_base(rng, root, generated);
    // An optional component adding a sidecar that reads its own generated ConfigMap.
    let component = rng.chance(25);
    if component {
        write_component(rng, root, &workloads[0]);
    }
    let levels = rng.below(3);
    let mut render = "base".to_string();
    for level in 0..levels {
        let with_component = component && level + 1 == levels;
        render = write_overlay(rng, root, &render, level, with_component, generated, &mut workloads);
    }
    render
}

/// Writes `base/`: one to three random workloads and, when `generated`, the ConfigMap some of
/// them read. Returns the workloads.
fn write_base(rng: &mut Rng, root: &Path, generated: bool) -> Vec<Workload> {
    let mut workloads: Vec<Workload> = Vec::new();
    let mut docs = Vec::new();
    let names = ["api", "web", "worker", "db"];
    for name in names.iter().take(1 + rng.below(3)) {
        let (doc, workload) = random_workload(rng, name, generated);
        docs.push(yaml(&doc));
        workloads.push(workload);
    }
    write(&root.join("base/workloads.yaml"), &docs.join("---\n"));
    let mut k = json!({ "resources": ["workloads.yaml"] });
    if generated {
        k["configMapGenerator"] = json!([{ "name": "settings", "literals": [format!("LEVEL={}", rng.below(5))] }]);
    }
    decorate(rng, &mut k, &workloads, "");
    write(&root.join("base/kustomization.yaml"), &yaml(&k));
    workloads
}

/// A workload of a random kind named `name`, with one to three containers: its manifest and how
/// the generator tracks it.
fn random_workload(rng: &mut Rng, name: &str, generated: bool) -> (Value, Workload) {
    let &(api, kind) = rng.pick(KINDS);
    let cnames = ["app", "sidecar", "proxy"];
    let containers: Vec<String> = cnames.iter().take(1 + rng.below(3)).map(|s| s.to_string()).collect();
    let pod = random_pod(rng, kind, &containers, generated);
    let labels = json!({ "app": name });
    let spec = match kind {
        "Pod" => pod,
        "CronJob" => {
            json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"metadata": {"labels": labels}, "spec": pod}}}})
        }
        "Job" => json!({"template": {"metadata": {"labels": labels}, "spec": pod}}),
        _ => {
            json!({"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}})
        }
    };
    let doc = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec});
    let workload = Workload {
        api,
        kind,
        name: name.to_string(),
        containers,
    };
    (doc, workload)
}

/// A pod spec running `containers` with random images, up to two init containers and, when
/// `generated`, most often reading the `settings` ConfigMap.
fn random_pod(rng: &mut Rng, kind: &str, containers: &[String], generated: bool) -> Value {
    let mut pod = json!({
        "containers": containers.iter().map(|c| json!({"name": c, "image": image(rng)})).collect::<Vec<_>>(),
    });
    let inits = rng.below(3);
    if inits > 0 {
        pod["initContainers"] = (0..inits)
            .map(|i| json!({"name": format!("init{i}"), "image": image(rng)}))
            .collect();
    }
    if generated && rng.chance(70) {
        pod["containers"][0]["envFrom"] = json!([{ "configMapRef": { "name": "settings" } }]);
        pod["volumes"] = json!([{ "name": "s", "configMap": { "name": "settings" } }]);
    }
    if kind == "CronJob" || kind == "Job" || kind == "Pod" {
        pod["restartPolicy"] = json!("Never");
    }
    pod
}

/// Writes `components/mesh/`: a sidecar patched into `w` that reads its own generated ConfigMap.
fn write_component(rng: &mut Rng, root: &Path, w: &Workload) {
    let pod =
        json!({"containers": [{"name": "mesh", "image": image(rng), "envFrom": [{"configMapRef": {"name": "mesh"}}]}]});
    let mut patch = wrap_pod(w.kind, pod);
    patch["apiVersion"] = json!(w.api);
    patch["kind"] = json!(w.kind);
    patch["metadata"] = json!({ "name": w.name });
    write(&root.join("components/mesh/sidecar.yaml"), &yaml(&patch));
    write(
        &root.join("components/mesh/kustomization.yaml"),
        &yaml(&json!({
            "apiVersion": "kustomize.config.k8s.io/v1alpha1",
            "kind": "Component",
            "patches": [{ "path": "sidecar.yaml" }],
            "configMapGenerator": [{ "name": "mesh", "literals": ["PORT=15001"] }],
        })),
    );
}

/// Writes `overlay<level>/` over the directory `below`: the mesh component when
/// `with_component`, maybe a merge into the generated ConfigMap, random patches of `workloads`
/// (which it keeps up to date). Returns the overlay's directory.
fn write_overlay(
    rng: &mut Rng,
    root: &Path,
    below: &str,
    level: usize,
    with_component: bool,
    generated: bool,
    workloads: &mut [Workload],
) -> String {
    let dir = format!("overlay{level}");
    let mut k = json!({ "resources": [format!("../{below}")] });
    if with_component {
        k["components"] = json!(["../components/mesh"]);
    }
    if generated && rng.chance(40) {
        k["configMapGenerator"] =
            json!([{ "name": "settings", "behavior": "merge", "literals": [format!("L{level}=x")] }]);
    }
    let mut patches = Vec::new();
    for w in workloads.iter_mut() {
        if !rng.chance(35) {
            continue;
        }
        let patch = match rng.below(4) {
            0..=2 => strategic_merge_patch(rng, &root.join(&dir), level, w),
            _ => json6902_patch(rng, w),
        };
        patches.extend(patch);
    }
    if !patches.is_empty() {
        k["patches"] = Value::Array(patches);
    }
    decorate(rng, &mut k, workloads, &level.to_string());
    write(&root.join(&dir).join("kustomization.yaml"), &yaml(&k));
    dir
}

/// A strategic-merge patch of `w` changing, adding or deleting containers by name, as a
/// `patches` entry: a file in `dir` or inline. `None` when it would change nothing.
fn strategic_merge_patch(rng: &mut Rng, dir: &Path, level: usize, w: &mut Workload) -> Option<Value> {
    let list = container_changes(rng, level, w);
    if list.is_empty() {
        return None;
    }
    let mut patch = wrap_pod(w.kind, json!({ "containers": list }));
    patch["apiVersion"] = json!(w.api);
    patch["kind"] = json!(w.kind);
    patch["metadata"] = json!({ "name": w.name });
    if rng.chance(50) {
        let file = format!("patch-{}.yaml", w.name);
        write(&dir.join(&file), &yaml(&patch));
        Some(json!({ "path": file }))
    } else {
        Some(json!({ "patch": yaml(&patch) }))
    }
}

/// Random container entries for a strategic-merge patch of `w`: maybe a new image for one, an
/// added `extra<level>`, a `$patch: delete`. `w.containers` follows.
fn container_changes(rng: &mut Rng, level: usize, w: &mut Workload) -> Vec<Value> {
    let mut list = Vec::new();
    if !w.containers.is_empty() && rng.chance(70) {
        let c = rng.pick(&w.containers).clone();
        list.push(json!({"name": c, "image": image(rng)}));
    }
    if rng.chance(40) {
        let c = format!("extra{level}");
        if !w.containers.contains(&c) {
            list.push(json!({"name": c, "image": image(rng)}));
            w.containers.insert(0, c);
        }
    }
    if w.containers.len() > 1 && rng.chance(30) {
        let i = rng.below(w.containers.len());
        if !list.iter().any(|c| c["name"] == json!(w.containers[i])) {
            list.push(json!({"name": w.containers[i], "$patch": "delete"}));
            w.containers.remove(i);
        }
    }
    list
}

/// A JSON 6902 replace of one of `w`'s container images, as a `patches` entry; `None` when `w`
/// has no containers left.
fn json6902_patch(rng: &mut Rng, w: &Workload) -> Option<Value> {
    if w.containers.is_empty() {
        return None;
    }
    let i = rng.below(w.containers.len());
    let ops = json!([{
        "op": "replace",
        "path": format!("{}/containers/{i}/image", pod_pointer(w.kind)),
        "value": image(rng),
    }]);
    Some(json!({ "target": { "kind": w.kind, "name": w.name }, "patch": yaml(&ops) }))
}

/// The fields every level may set: prefix, suffix, namespace, images, replicas, commonLabels.
fn decorate(rng: &mut Rng, k: &mut Value, workloads: &[Workload], level: &str) {
    if rng.chance(40) {
        k["namePrefix"] = json!(format!("p{level}-"));
    }
    if rng.chance(25) {
        k["nameSuffix"] = json!(format!("-s{level}"));
    }
    if rng.chance(35) {
        k["namespace"] = json!(format!("ns{level}"));
    }
    if rng.chance(60) {
        let mut images = Vec::new();
        for _ in 0..1 + rng.below(2) {
            let mut e = json!({ "name": rng.pick(IMAGES) });
            if rng.chance(40) {
                e["newName"] = json!(format!("mirror.example.com/{}", rng.below(3)));
            }
            match rng.below(3) {
                0 => e["newTag"] = json!(format!("v{}", rng.below(9))),
                1 => e["digest"] = json!(rng.pick(DIGESTS)),
                _ if e.get("newName").is_none() => e["newTag"] = json!(format!("t{}", rng.below(9))),
                _ => {}
            }
            images.push(e);
        }
        k["images"] = Value::Array(images);
    }
    let scalable: Vec<&Workload> = workloads
        .iter()
        .filter(|w| matches!(w.kind, "Deployment" | "StatefulSet" | "ReplicaSet"))
        .collect();
    if !scalable.is_empty() && rng.chance(30) {
        k["replicas"] = json!([{ "name": rng.pick(&scalable).name, "count": rng.below(5) }]);
    }
    if rng.chance(30) {
        k["commonLabels"] = json!({ format!("l{level}"): format!("v{}", rng.below(3)) });
    }
}

#[test]
fn generated_repositories_render_as_kustomize_renders_them() {
    let seed = std::env::var("DRIFTWATCH_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("DRIFTWATCH_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let count: usize = std::env::var("DRIFTWATCH_CASES")
        .ok()
        .map(|s| s.parse().expect("DRIFTWATCH_CASES is a number"))
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    // Each repository from its own seed, so one can be regenerated alone.
    let repos: Vec<(u64, PathBuf, String)> = (0..count as u64)
        .map(|i| {
            let case_seed = seed.wrapping_add(i);
            let root = tmp.path().join(format!("case{i}"));
            let render = generate(&mut Rng::new(case_seed), &root);
            (i, root, render)
        })
        .collect();
    let outcomes = parallel(&repos, |(_, root, render)| {
        // Whether kustomize accepts it decides what the built-in must do.
        let theirs = kustomize(&root.join(render));
        let expect = if theirs.is_ok() { Expect::Same } else { Expect::Error };
        (expect, check(root, render, expect, None, Some(theirs)))
    });
    let rejected = outcomes.iter().filter(|(e, _)| *e == Expect::Error).count();
    // Shown with --nocapture: how many repositories kustomize itself rejected (the generator
    // aims for valid ones; a rejected one still checks that the built-in rejects it too).
    eprintln!("seed {seed}: {count} repositories, {rejected} rejected by kustomize");
    let outcomes = outcomes.into_iter().map(|(_, o)| o);
    let mut fallbacks = BTreeMap::<String, usize>::new();
    let mut report = Vec::new();
    let mut kept = Vec::new();
    for ((i, root, render), outcome) in repos.iter().zip(outcomes) {
        match outcome {
            Outcome::Pass => {}
            Outcome::FellBack(r) => *fallbacks.entry(r).or_default() += 1,
            Outcome::Mismatch(lines) => {
                // The first few failing repositories are kept for a look.
                let at = if kept.len() < 5 {
                    let dest = std::env::temp_dir().join(format!("driftwatch-kustomize-seed{seed}-case{i}"));
                    let _ = std::fs::remove_dir_all(&dest);
                    copy_tree(root, &dest);
                    kept.push(dest.clone());
                    format!(" (kept in {}, render {render})", dest.display())
                } else {
                    String::new()
                };
                report.push(format!("case {i}{at}:"));
                report.extend(lines.into_iter().map(|l| format!("    {l}")));
            }
        }
    }
    let fell_back: usize = fallbacks.values().sum();
    let rerun = format!("re-run with DRIFTWATCH_SEED={seed} cargo test -p kustomize --test differential generated");
    assert!(
        report.is_empty(),
        "seed {seed}: {} of {count} generated repositories differ from kustomize ({rerun}):\n{}",
        report.iter().filter(|l| !l.starts_with("    ")).count(),
        report.join("\n")
    );
    assert!(
        fell_back * 4 <= count,
        "seed {seed}: the built-in fell back on {fell_back} of {count} generated repositories, which use only \
         supported features ({rerun}): {fallbacks:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The harness itself.

/// The fact extractor reads every place a workload keeps an image or a ConfigMap/Secret name,
/// and a difference reads as the case list shows it.
#[test]
fn facts_cover_what_driftwatch_reads_and_differences_name_the_fact() {
    let pod = json!({
        "containers": [{"name": "app", "image": "nginx:1.2",
                        "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}}],
                        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm2", "key": "a"}}},
                                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec2", "key": "b"}}}]}],
        "initContainers": [{"name": "init", "image": "busybox"}],
        "volumes": [{"name": "v", "configMap": {"name": "cm3"}}, {"name": "s", "secret": {"secretName": "sec3"}},
                    {"name": "p", "projected": {"sources": [{"configMap": {"name": "cm4"}}, {"secret": {"name": "sec4"}}]}}],
        "imagePullSecrets": [{"name": "pull"}],
        "serviceAccountName": "sa",
    });
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "api", "namespace": "prod"},
                      "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}});
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}, "binaryData": {"b": "AA=="}});
    let f = facts(&[cron.clone(), cm]);
    for (key, value) in [
        ("CronJob/prod/api", "present"),
        ("CronJob/prod/api container 0 name", "app"),
        ("CronJob/prod/api container 0 image", "nginx:1.2"),
        ("CronJob/prod/api initContainer 0 image", "busybox"),
        ("CronJob/prod/api container app envFrom 0 configMapRef", "cm"),
        ("CronJob/prod/api container app envFrom 1 secretRef", "sec"),
        ("CronJob/prod/api container app env A configMapKeyRef", "cm2"),
        ("CronJob/prod/api container app env B secretKeyRef", "sec2"),
        ("CronJob/prod/api volume v configMap", "cm3"),
        ("CronJob/prod/api volume s secret", "sec3"),
        ("CronJob/prod/api volume p projected 0 configMap", "cm4"),
        ("CronJob/prod/api volume p projected 1 secret", "sec4"),
        ("CronJob/prod/api imagePullSecrets 0", "pull"),
        ("CronJob/prod/api serviceAccountName", "sa"),
        ("ConfigMap//cm data k", "v"),
        ("ConfigMap//cm binaryData b", "AA=="),
    ] {
        assert_eq!(f.get(key).map(String::as_str), Some(value), "{key} in {f:#?}");
    }

    let mut other = cron;
    other["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx@sha256:1");
    assert_eq!(
        diff(&facts(&[other]), &f),
        vec![
            "CronJob/prod/api container 0 image: kustomize nginx@sha256:1 builtin nginx:1.2".to_string(),
            "ConfigMap//cm: kustomize has none, builtin present".into(),
            "ConfigMap//cm binaryData b: kustomize has none, builtin AA==".into(),
            "ConfigMap//cm data k: kustomize has none, builtin v".into(),
        ]
    );
}

/// Documents whose facts agree still differ when any other field does (a label, an annotation),
/// matched by id whatever their order.
#[test]
fn documents_are_compared_field_by_field() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "1"}}});
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}});
    let mut other = cm.clone();
    other["metadata"]["labels"]["a"] = json!("2");
    other["metadata"]["annotations"] = json!({});
    assert!(document_diff(&[cm.clone(), sa.clone()], &[sa.clone(), cm.clone()]).is_empty());
    assert_eq!(
        document_diff(&[cm, sa.clone()], &[sa, other]),
        vec![
            "v1 ConfigMap//cm /metadata/labels/a: kustomize \"1\" builtin \"2\"".to_string(),
            "v1 ConfigMap//cm /metadata/annotations: kustomize has none, builtin {}".into(),
        ]
    );
}

/// A copy of the repository at `from` in `to`, kept for a look at a failing case.
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let dest = to.join(entry.path().strip_prefix(from).expect("below the root"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}
