//! `driftwatch discover`: the environments discovery derives (from Argo CD Applications and Flux
//! Kustomizations and HelmReleases), with where each came from, as
//! TOML a user can paste into the config (`--format toml`) or as JSON; and the lines
//! `check-config` prints about discovery (what was found, what could not be mapped, with the
//! fix).

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::config::{
    ArtifactAt, ChartSource, ClusterSource, Config, EnvironmentConfig, GitRef, PathConfig, ReleaseConfig, RepoRef,
};
use crate::sources::discovery::{Discovered, Discovery};

/// `--format` of `discover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiscoverFormat {
    Toml,
    Json,
}

/// Discovers and prints; exit 2 when a place could not be read or an Application not mapped.
pub async fn command(cfg: &Config, format: DiscoverFormat) -> u8 {
    let d = crate::sources::discovery::discover(cfg).await;
    let text = match format {
        DiscoverFormat::Toml => toml(&d),
        DiscoverFormat::Json => serde_json::to_string_pretty(&json(&d)).unwrap_or_default() + "\n",
    };
    print!("{text}");
    for line in problems(&d) {
        eprintln!("error: {line}");
    }
    if problems(&d).is_empty() { 0 } else { 2 }
}

/// `cfg` with the environments discovery derives (unchanged without `[discovery]`), and what
/// could not be read or mapped, one line each for the caller to say.
pub async fn with_discovered(cfg: Config) -> (Config, Vec<String>) {
    if !cfg.discovery.is_configured() {
        return (cfg, Vec::new());
    }
    let d = crate::sources::discovery::discover(&cfg).await;
    let mut merged = crate::sources::discovery::merged(&cfg, &d);
    let problems = problems(&d);
    merged.discovery_problems.clone_from(&problems);
    (merged, problems)
}

/// [`with_discovered`] for the daemon: what could not be read or mapped is logged.
pub async fn logged(cfg: Config) -> Config {
    let (cfg, problems) = with_discovered(cfg).await;
    for p in problems {
        tracing::warn!(problem = %p, "discovery");
    }
    cfg
}

/// [`with_discovered`] for a command: what could not be read or mapped is said on stderr, and
/// makes the run incomplete (`true`).
pub async fn said(cfg: Config) -> (Config, bool) {
    let (cfg, problems) = with_discovered(cfg).await;
    for p in &problems {
        eprintln!("error: {p}");
    }
    (cfg, !problems.is_empty())
}

/// What could not be read or mapped, with the fix, one line each.
pub fn problems(d: &Discovery) -> Vec<String> {
    let mut out: Vec<String> = d
        .errors
        .iter()
        .map(|e| format!("discovery: {}", crate::error_chain(e)))
        .collect();
    out.extend(
        d.unmapped
            .iter()
            .map(|u| format!("discovery: {} {}: {} (fix: {})", u.object, not_done(u), u.reason, u.fix)),
    );
    out
}

/// `check-config`'s lines about discovery.
pub fn describe(d: &Discovery) -> String {
    let mut out = String::new();
    for e in &d.environments {
        let _ = writeln!(
            out,
            "discovered environment {}: {}",
            e.config.name,
            e.origins.join(", ")
        );
    }
    for name in &d.shadowed {
        let _ = writeln!(
            out,
            "discovered environment {name}: the hand-written [[environments]] of that name wins"
        );
    }
    for u in &d.unmapped {
        let _ = writeln!(out, "{}: {}: {} (fix: {})", not_done(u), u.object, u.reason, u.fix);
    }
    out
}

/// An Application is not mapped; an ApplicationSet (or part of it) is not expanded.
fn not_done(u: &crate::sources::discovery::argocd::Unmapped) -> &'static str {
    if u.object.starts_with("ApplicationSet ") {
        "not expanded"
    } else {
        "not mapped"
    }
}

/// The environments as config.
pub fn toml(d: &Discovery) -> String {
    let mut out =
        String::from("# Environments derived by driftwatch discover: paste them into the config as they are.\n");
    for e in &d.environments {
        environment(e, &mut out);
    }
    out
}

fn environment(e: &Discovered, out: &mut String) {
    let env = &e.config;
    // One origin per line: an environment of 30 Applications is 30 short lines, not one long one.
    match e.origins.as_slice() {
        [one] => {
            let _ = writeln!(out, "\n# from {one}");
        }
        many => {
            let _ = writeln!(out, "\n# from:");
            for o in many {
                let _ = writeln!(out, "#   {o}");
            }
        }
    }
    for o in &env.overrides {
        let _ = writeln!(
            out,
            "# override: {} sets {} = {} outside git",
            o.object, o.field, o.value
        );
    }
    // What config cannot say: Flux's variables and values from the cluster, named but never
    // shown (a Secret's are secrets).
    for p in &env.paths {
        if let Some(s) = &p.substitute {
            let _ = writeln!(
                out,
                "# {}: {}",
                p.pattern,
                from_objects("postBuild substitutes", s.data.len(), &s.sources, s.refused.as_deref())
            );
        }
        if p.kustomize.as_ref().is_some_and(|k| k.generate) {
            let _ = writeln!(
                out,
                "# {}: built as Flux builds it (a kustomization is generated where there is none)",
                p.pattern
            );
        }
    }
    for r in &env.releases {
        if let Some(v) = &r.values_from {
            let _ = writeln!(
                out,
                "# release {}: {}",
                r.name,
                from_objects("valuesFrom sets", v.data.len(), &v.sources, v.refused.as_deref())
            );
        }
    }
    let _ = writeln!(out, "[[environments]]\nname = {}", quote(&env.name));
    if !env.releases.is_empty() {
        let _ = writeln!(out, "renderer = \"helm\"");
    }
    if !env.paths.is_empty() {
        let _ = writeln!(out, "paths = [");
        for p in &env.paths {
            let _ = writeln!(out, "  {},", path(p));
        }
        let _ = writeln!(out, "]");
    }
    cluster(env, out);
    for r in &env.releases {
        release(r, out);
    }
}

fn cluster(env: &EnvironmentConfig, out: &mut String) {
    let c = &env.cluster;
    let _ = writeln!(out, "[environments.cluster]\nname = {}", quote(&c.name));
    match &c.source {
        ClusterSource::Kubeconfig { path, context } => {
            if let Some(p) = path {
                let _ = writeln!(out, "kubeconfig = {}", quote(&p.display().to_string()));
            }
            if let Some(ctx) = context {
                let _ = writeln!(out, "context = {}", quote(ctx));
            }
        }
        ClusterSource::InCluster => {
            let _ = writeln!(out, "in_cluster = true");
        }
        ClusterSource::Snapshot(p) => {
            let _ = writeln!(out, "snapshot = {}", quote(&p.display().to_string()));
        }
    }
    if !c.namespaces.is_empty() {
        let _ = writeln!(out, "namespaces = {}", inline(&json!(c.namespaces)));
    }
}

/// A table in the order a person writes its keys.
type Table = Vec<(String, Value)>;

fn put(t: &mut Table, key: &str, value: Value) {
    t.push((key.to_string(), value));
}

fn repo_keys(repo: Option<&RepoRef>, [url_key, revision_key]: [&str; 2], t: &mut Table) {
    if let Some(r) = repo {
        if !r.url.is_empty() {
            put(t, url_key, json!(r.url));
        }
        if let GitRef::Revision(rev) | GitRef::Rev(rev) | GitRef::Branch(rev) = &r.reference {
            put(t, revision_key, json!(rev));
        }
    }
}

fn inline_table(t: &Table) -> String {
    let keys: Vec<String> = t.iter().map(|(k, v)| format!("{} = {}", key(k), inline(v))).collect();
    format!("{{ {} }}", keys.join(", "))
}

/// A `paths` entry: the bare pattern when that says everything.
fn path(p: &PathConfig) -> String {
    let mut t = Table::new();
    put(&mut t, "path", json!(p.pattern));
    if let Some(ns) = &p.namespace {
        put(&mut t, "namespace", json!(ns));
    }
    repo_keys(p.repo.as_ref(), ["repo", "revision"], &mut t);
    if let Some(a) = &p.artifact {
        put(&mut t, "oci_artifact", json!(format!("oci://{}", a.repository)));
        match &a.at {
            ArtifactAt::Tag(tag) => put(&mut t, "oci_tag", json!(tag)),
            ArtifactAt::Digest(d) => put(&mut t, "oci_digest", json!(d)),
        }
        if let Some(m) = &a.media_type {
            put(&mut t, "oci_media_type", json!(m));
        }
    }
    if let Some(r) = p.renderer {
        put(&mut t, "renderer", json!(r.to_string()));
    }
    if !p.directory.recurse {
        put(&mut t, "recurse", json!(false));
    }
    for (k, v) in [("include", &p.directory.include), ("exclude", &p.directory.exclude)] {
        if let Some(v) = v {
            put(&mut t, k, json!(v));
        }
    }
    if let Some(k) = &p.kustomize {
        let mut o = serde_json::Map::new();
        let text = |o: &mut serde_json::Map<String, Value>, key: &str, v: &Option<String>| {
            if let Some(v) = v {
                o.insert(key.into(), json!(v));
            }
        };
        if !k.images.is_empty() {
            o.insert("images".into(), json!(k.images));
        }
        text(&mut o, "name_prefix", &k.name_prefix);
        text(&mut o, "name_suffix", &k.name_suffix);
        text(&mut o, "namespace", &k.namespace);
        if !k.common_labels.is_empty() {
            o.insert("common_labels".into(), json!(k.common_labels));
        }
        if !k.common_annotations.is_empty() {
            o.insert("common_annotations".into(), json!(k.common_annotations));
        }
        if !k.patches.is_empty() {
            o.insert("patches".into(), json!(k.patches));
        }
        if !k.replicas.is_empty() {
            let r: Vec<Value> = k.replicas.iter().map(|(n, c)| json!({"name": n, "count": c})).collect();
            o.insert("replicas".into(), json!(r));
        }
        if !k.components.is_empty() {
            o.insert("components".into(), json!(k.components));
        }
        put(&mut t, "kustomize", Value::Object(o));
    }
    if t.len() == 1 {
        return quote(&p.pattern);
    }
    inline_table(&t)
}

fn release(r: &ReleaseConfig, out: &mut String) {
    let _ = writeln!(out, "[[environments.releases]]");
    let mut t = Table::new();
    put(&mut t, "name", json!(r.name));
    put(&mut t, "namespace", json!(r.namespace));
    let version = match &r.chart {
        ChartSource::Path(p) => {
            put(&mut t, "chart", json!(p));
            None
        }
        ChartSource::Repository { repo, name, version } => {
            put(&mut t, "chart", json!(name));
            put(&mut t, "repo", json!(repo));
            version.as_ref()
        }
        ChartSource::Oci { reference, version } => {
            put(&mut t, "chart", json!(format!("oci://{reference}")));
            version.as_ref()
        }
    };
    if let Some(v) = version {
        put(&mut t, "version", json!(v));
    }
    repo_keys(r.git.as_ref(), ["git_repo", "revision"], &mut t);
    if !r.values_files.is_empty() {
        put(&mut t, "values_files", json!(r.values_files));
    }
    if let Some(v) = &r.values_repo {
        repo_keys(v.repo.as_ref(), ["values_git_repo", "values_revision"], &mut t);
    }
    if !r.values.is_empty() {
        put(&mut t, "values", Value::Object(r.values.clone()));
    }
    if r.ignore_missing_values_files {
        put(&mut t, "ignore_missing_values_files", json!(true));
    }
    if !r.set_file.is_empty() {
        let files: Vec<Value> = r.set_file.iter().map(|(n, p)| json!({"name": n, "path": p})).collect();
        put(&mut t, "set_file", json!(files));
    }
    for (k, v) in t {
        let _ = writeln!(out, "{} = {}", key(&k), inline(&v));
    }
}

/// `postBuild substitutes 3 variables from ConfigMap flux-system/vars, Secret flux-system/creds`
/// (the names only).
fn from_objects(what: &str, count: usize, sources: &[String], refused: Option<&str>) -> String {
    let from = if sources.is_empty() {
        String::new()
    } else {
        format!(" from {}", sources.join(", "))
    };
    let refused = refused.map(|r| format!("; not read: {r}")).unwrap_or_default();
    format!("{what} {count} entries{from}{refused}")
}

/// A TOML string: JSON's escapes are TOML's for the text config holds.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A JSON value as a TOML inline value (nulls left out: TOML has none).
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "\"\"".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .filter(|v| !v.is_null())
                .map(inline)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The JSON form: each environment with its origins, the sources as TOML would give them.
fn json(d: &Discovery) -> Value {
    json!({
        "environments": d.environments.iter().map(|e| json!({
            "name": e.config.name,
            "cluster": e.config.cluster.name,
            "origins": e.origins,
            "paths": e.config.paths.iter().map(path).collect::<Vec<_>>(),
            "releases": e.config.releases.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            "overrides": e.config.overrides.iter().map(|o| json!({"object": o.object, "field": o.field, "value": o.value})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "shadowed": d.shadowed,
        "unmapped": d.unmapped.iter().map(|u| json!({"object": u.object, "reason": u.reason, "fix": u.fix})).collect::<Vec<_>>(),
        "errors": d.errors.iter().map(|e| crate::error_chain(e)).collect::<Vec<_>>(),
    })
}
