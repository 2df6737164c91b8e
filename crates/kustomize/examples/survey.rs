//! What `scripts/kustomize-features` measures in one repository: for each kustomization
//! directory (one per line on stdin, relative to the repository root given as the argument),
//! one JSON object per line on stdout with the kustomization file as JSON, what its
//! `transformers:`/`generators:` entries configure, the shape of each patch, the built-in
//! renderer's result and, with `--kustomize`, whether `kubectl kustomize` renders the same
//! documents.
//!
//! ```sh
//! cargo build -p kustomize --example survey
//! printf 'apps/api/overlays/prod\n' | target/debug/examples/survey /srv/gitops --kustomize
//! ```
//!
//! It reads YAML so that the script does not need a YAML library; it is a measuring tool, not
//! part of the renderer.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Command;

use kustomize::files::{DirFiles, Files, Kind, join};
use kustomize::kustomization::FILE_NAMES;
use kustomize::{BuildError, build};
use serde_json::{Value, json};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: survey <repository-root> [--kustomize] < directories");
        std::process::exit(2);
    };
    let with_kustomize = args.iter().any(|a| a == "--kustomize");
    let files = DirFiles::new(root);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let dir = line.expect("stdin");
        let dir = dir.trim().trim_matches('/');
        let dir = if dir == "." { "" } else { dir };
        let report = survey(&files, Path::new(root), dir, with_kustomize);
        writeln!(out, "{report}").expect("stdout");
    }
}

/// Everything measured about the kustomization in `dir`.
fn survey(files: &DirFiles, root: &Path, dir: &str, with_kustomize: bool) -> Value {
    let mut report = json!({ "dir": if dir.is_empty() { "." } else { dir } });
    let Some((file, doc)) = kustomization(files, dir, &mut report) else {
        return report;
    };
    report["file"] = json!(file);
    report["transformers"] = entries(files, dir, doc.get("transformers"));
    report["generators"] = entries(files, dir, doc.get("generators"));
    report["patches"] = patch_shapes(files, dir, &doc);
    report["kustomization"] = doc;
    let ours = build(files, dir);
    report["builtin"] = match &ours {
        Ok(b) => json!({ "result": "ok", "documents": b.docs.len() }),
        Err(BuildError::Unsupported(r)) => json!({ "result": "unsupported", "reason": r }),
        Err(BuildError::Invalid(r)) => json!({ "result": "invalid", "reason": r }),
    };
    if with_kustomize {
        let theirs = kubectl_kustomize(&root.join(dir));
        report["kustomize"] = match &theirs {
            Ok(docs) => json!({ "result": "ok", "documents": docs.len() }),
            Err(e) => json!({ "result": "error", "error": e.to_string() }),
        };
        if let (Ok(ours), Ok(theirs)) = (&ours, &theirs) {
            report["compare"] = compare(theirs, &ours.docs);
        }
    }
    report
}

/// The kustomization file in `dir` parsed to JSON, or `None` with the problem in `report`.
fn kustomization(files: &DirFiles, dir: &str, report: &mut Value) -> Option<(String, Value)> {
    let found: Vec<&str> = FILE_NAMES
        .iter()
        .copied()
        .filter(|f| join(dir, f).is_ok_and(|p| files.kind(&p) == Some(Kind::File)))
        .collect();
    let Some(file) = found.first() else {
        report["error"] = json!("no kustomization file");
        return None;
    };
    let path = join(dir, file).expect("joined above");
    let text = files.read(&path).map(|b| String::from_utf8_lossy(&b).into_owned());
    let (docs, err) = match &text {
        Ok(t) => safe_yaml::documents(t),
        Err(e) => {
            report["error"] = json!(e.to_string());
            return None;
        }
    };
    match (docs.into_iter().next(), err) {
        (Some(doc), None) if doc.is_object() => Some((file.to_string(), doc)),
        (_, Some(e)) => {
            report["error"] = json!(format!("{path}: {e}"));
            None
        }
        _ => {
            report["error"] = json!(format!("{path}: not a mapping"));
            None
        }
    }
}

/// What each `transformers:` or `generators:` entry is (a file, inline YAML, a directory, a
/// remote URL) and the `apiVersion/kind` of every config it holds.
fn entries(files: &DirFiles, dir: &str, list: Option<&Value>) -> Value {
    let mut out = Vec::new();
    for entry in list.and_then(Value::as_array).into_iter().flatten() {
        let entry = entry.as_str().unwrap_or_default();
        let (source, docs) = entry_docs(files, dir, entry);
        let kinds: Vec<String> = docs
            .iter()
            .map(|d| format!("{}/{}", text(d, "apiVersion"), text(d, "kind")))
            .collect();
        out.push(json!({ "source": source, "kinds": kinds }));
    }
    Value::Array(out)
}

fn entry_docs(files: &DirFiles, dir: &str, entry: &str) -> (&'static str, Vec<Value>) {
    if entry.contains('\n') {
        return ("inline", safe_yaml::documents(entry).0);
    }
    if entry.contains("://") || entry.starts_with("github.com/") {
        return ("remote", Vec::new());
    }
    let Ok(path) = join(dir, entry) else {
        return ("outside", Vec::new());
    };
    match files.kind(&path) {
        Some(Kind::File) => {
            let text = files.read(&path).map(|b| String::from_utf8_lossy(&b).into_owned());
            ("file", text.map(|t| safe_yaml::documents(&t).0).unwrap_or_default())
        }
        // A kustomization whose output is the configs.
        Some(Kind::Dir) => ("directory", build(files, &path).map(|b| b.docs).unwrap_or_default()),
        None => ("missing", Vec::new()),
    }
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The shape of every patch: which field, a file or inline, strategic merge or JSON 6902, the
/// target's fields and the options set.
fn patch_shapes(files: &DirFiles, dir: &str, doc: &Value) -> Value {
    let mut out = Vec::new();
    for field in ["patches", "patchesJson6902", "patchesStrategicMerge"] {
        for p in doc.get(field).and_then(Value::as_array).into_iter().flatten() {
            let (source, body) = match p {
                Value::String(s) if s.contains('\n') => ("inline", Some(s.clone())),
                Value::String(s) => ("path", read(files, dir, s)),
                _ => match (
                    p.get("patch").and_then(Value::as_str),
                    p.get("path").and_then(Value::as_str),
                ) {
                    (Some(t), _) => ("inline", Some(t.to_string())),
                    (None, Some(path)) => ("path", read(files, dir, path)),
                    _ => ("none", None),
                },
            };
            let kind = body.as_deref().map_or("unreadable", patch_type);
            let keys = |v: Option<&Value>| -> Vec<String> {
                v.and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            out.push(json!({
                "field": field,
                "source": source,
                "type": kind,
                "target": keys(p.get("target")),
                "options": keys(p.get("options")),
            }));
        }
    }
    Value::Array(out)
}

fn read(files: &DirFiles, dir: &str, rel: &str) -> Option<String> {
    let path = join(dir, rel).ok()?;
    files.read(&path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// `json6902` when the patch is a list of operations, else `strategic-merge` (with `+delete` or
/// `+several` when it deletes a resource or holds several documents).
fn patch_type(body: &str) -> &'static str {
    let body = body.trim();
    let (docs, _) = safe_yaml::documents(body);
    match docs.first() {
        Some(Value::Array(_)) => "json6902",
        Some(_) if docs.len() > 1 => "strategic-merge+several",
        Some(d) if d.get("$patch").and_then(Value::as_str) == Some("delete") => "strategic-merge+delete",
        Some(_) => "strategic-merge",
        None => "empty",
    }
}

/// Why `kubectl kustomize` gave no documents.
#[derive(Debug, thiserror::Error)]
enum KubectlError {
    #[error("running kubectl: {0}")]
    Run(#[source] std::io::Error),
    /// kustomize's own message (kubectl's log wrapping removed, at most 400 characters).
    #[error("{0}")]
    Failed(String),
    #[error("kustomize output does not parse: {0}")]
    Output(#[source] safe_yaml::Error),
}

/// `kubectl kustomize` on `dir` (60 s at most: remote resources cannot be fetched here).
fn kubectl_kustomize(dir: &Path) -> Result<Vec<Value>, KubectlError> {
    let out = Command::new("timeout")
        .args(["60", "kubectl", "kustomize"])
        .arg(dir)
        .output()
        .map_err(KubectlError::Run)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.split_once(" err=").map_or(&*err, |(_, e)| e);
        return Err(KubectlError::Failed(err.trim().chars().take(400).collect()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (docs, err) = safe_yaml::documents(&text);
    match err {
        Some(e) => Err(KubectlError::Output(e)),
        None => Ok(docs),
    }
}

/// `same` when both renderings hold the same documents (in any order), else `differs` with
/// the ids that differ, the first differing document of each side, and `octal_only` when every
/// difference is a YAML 1.1 octal literal (`0755`: kustomize writes 493, the built-in's YAML
/// 1.2 reader keeps the text "0755").
fn compare(theirs: &[Value], ours: &[Value]) -> Value {
    let id = |d: &Value| {
        format!(
            "{}/{}/{}",
            text(d, "kind"),
            d.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
            d.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
        )
    };
    let mut differing: Vec<String> = Vec::new();
    let mut octal_only = theirs.len() == ours.len();
    for t in theirs {
        if !ours.contains(t) {
            differing.push(id(t));
            let twin = ours.iter().find(|o| id(o) == id(t));
            octal_only &= twin.is_some_and(|o| same_but_octal(t, o));
        }
    }
    for o in ours {
        if !theirs.contains(o) && !differing.contains(&id(o)) {
            differing.push(id(o));
            octal_only = false;
        }
    }
    if differing.is_empty() && theirs.len() == ours.len() {
        json!({ "result": "same" })
    } else {
        differing.truncate(10);
        // The first difference in full, to see what it is.
        let first = &differing[0];
        let pick = |docs: &[Value]| docs.iter().find(|d| id(d) == *first).cloned();
        json!({ "result": "differs", "octal_only": octal_only, "ids": differing,
                "first": { "kustomize": pick(theirs), "builtin": pick(ours) } })
    }
}

/// Whether `a` and `b` are equal but for integers `a` has where `b` has their YAML 1.1 octal
/// text (`493` and `"0755"`).
fn same_but_octal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_but_octal(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_but_octal(v, w)),
        (Value::Number(n), Value::String(s)) => {
            s.len() > 1 && s.starts_with('0') && i64::from_str_radix(&s[1..], 8).ok() == n.as_i64()
        }
        _ => a == b,
    }
}
