//! `configMapGenerator` and `secretGenerator`: literals, files and env files into ConfigMaps and
//! Secrets, with `behavior` and generator options as kustomize applies them.
//!
//! The sources are kustomize v5.5.0's `api/kv/kv.go` (how pairs are read),
//! `api/internal/generators` and `kyaml/yaml/datamap.go` (how the objects are built),
//! `api/types/generatoroptions.go` (options) and `api/resmap/reswrangler.go`'s
//! `appendReplaceOrMerge` (how each generated object joins what is already built).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::kustomization::{GeneratorArgs, GeneratorOptions, Kustomization};
use super::resource::{Behavior, Generated, ResId, ResMap, Resource};
use super::{BuildError, Ctx, files};

/// Runs the kustomization's ConfigMap generators, then its Secret generators, into `res`, each
/// joining `res` (created, merged or replacing) before the next one runs, as kustomize's
/// `runGenerators` absorbs each generator's output in turn.
pub fn run(ctx: &Ctx<'_>, dir: &str, k: &Kustomization, res: &mut ResMap) -> Result<(), BuildError> {
    let config_maps = k.config_map_generator.iter().flatten();
    let secrets = k.secret_generator.iter().flatten();
    // kustomize decodes the kustomization strictly: `type` exists for Secrets only.
    if k.config_map_generator.iter().flatten().any(|a| a.kind.is_some()) {
        return Err(BuildError::Invalid(
            "invalid Kustomization: json: unknown field \"type\"".into(),
        ));
    }
    let global = k.generator_options.as_ref();
    for (kind, args) in config_maps
        .map(|a| (Kind::ConfigMap, a))
        .chain(secrets.map(|a| (Kind::Secret, a)))
    {
        let options = merge_options(args.options.as_ref(), global);
        let generated = generate(ctx, dir, kind, args, &options)?;
        absorb(res, generated)?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ConfigMap,
    Secret,
}

/// A generator's options after `MergeGlobalOptionsIntoLocal`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    disable_name_suffix_hash: bool,
    immutable: bool,
}

/// The generator's own options win key by key; a `true` anywhere wins for the flags.
fn merge_options(local: Option<&GeneratorOptions>, global: Option<&GeneratorOptions>) -> Options {
    let mut out = Options::default();
    for opts in [local, global].into_iter().flatten() {
        for (k, v) in opts.labels.iter().flatten() {
            out.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in opts.annotations.iter().flatten() {
            out.annotations.entry(k.clone()).or_insert_with(|| v.clone());
        }
        out.disable_name_suffix_hash |= opts.disable_name_suffix_hash.unwrap_or(false);
        out.immutable |= opts.immutable.unwrap_or(false);
    }
    out
}

/// kustomize's `NewGenerationBehavior`: an unknown word counts as unspecified, which acts as
/// `create` (checked: `behavior: bogus` generates, `behavior: Merge` over an existing one is
/// the "exists" error).
fn behavior(word: Option<&str>) -> Behavior {
    match word {
        Some("merge") => Behavior::Merge,
        Some("replace") => Behavior::Replace,
        _ => Behavior::Create,
    }
}

/// One generator entry into its ConfigMap or Secret (`MakeConfigMap`, `MakeSecret`, `makeOne`).
fn generate(
    ctx: &Ctx<'_>,
    dir: &str,
    kind: Kind,
    args: &GeneratorArgs,
    options: &Options,
) -> Result<Resource, BuildError> {
    check_arguments_printable(args, options)?;
    if args.name.is_empty() {
        return Err(BuildError::Invalid("a configmap must have a name".into()));
    }
    let mut obj = object_skeleton(kind, args, options);
    let entries = unique_entries(&args.name, load_pairs(ctx, dir, args)?)?;
    insert_entries(&mut obj, kind, entries)?;
    if options.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(Value::Object(obj));
    r.generated = Some(Generated {
        hash_suffix: !options.disable_name_suffix_hash,
        behavior: behavior(args.behavior.as_deref()),
    });
    Ok(r)
}

/// kustomize marshals the generator's arguments to YAML to configure its plugin, which fails on
/// control characters; which ones exactly is left to it.
fn check_arguments_printable(args: &GeneratorArgs, options: &Options) -> Result<(), BuildError> {
    for s in [args.name.as_str(), args.namespace.as_deref().unwrap_or("")]
        .into_iter()
        .chain(args.literals.iter().map(String::as_str))
        .chain(args.files.iter().map(String::as_str))
        .chain(args.envs.iter().map(String::as_str))
        .chain(args.env.as_deref())
        .chain(
            options
                .labels
                .iter()
                .chain(&options.annotations)
                .flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        )
    {
        printable(s)?;
    }
    Ok(())
}

/// The generated object without its data: `apiVersion`, `kind`, `metadata` (name, namespace,
/// the options' labels and annotations) and a Secret's `type`.
fn object_skeleton(kind: Kind, args: &GeneratorArgs, options: &Options) -> Map<String, Value> {
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert(
        "kind".into(),
        json!(match kind {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }),
    );
    let mut meta = Map::new();
    meta.insert("name".into(), json!(args.name));
    if let Some(ns) = args.namespace.as_deref().filter(|n| !n.is_empty()) {
        meta.insert("namespace".into(), json!(ns));
    }
    if !options.labels.is_empty() {
        meta.insert("labels".into(), json!(options.labels));
    }
    if !options.annotations.is_empty() {
        meta.insert("annotations".into(), json!(options.annotations));
    }
    obj.insert("metadata".into(), Value::Object(meta));
    if kind == Kind::Secret {
        let t = args.kind.as_deref().filter(|t| !t.is_empty()).unwrap_or("Opaque");
        obj.insert("type".into(), json!(t));
    }
    obj
}

/// The loaded key/value pairs, sorted by key; a key given twice is an error.
fn unique_entries(name: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<BTreeMap<String, Vec<u8>>, BuildError> {
    let mut seen = BTreeMap::new();
    for (key, value) in pairs {
        if seen.contains_key(&key) {
            return Err(BuildError::Invalid(format!(
                "configmap {name} illegally repeats the key `{key}`"
            )));
        }
        seen.insert(key, value);
    }
    Ok(seen)
}

/// The entries as `data` and `binaryData`: a ConfigMap keeps UTF-8 text as text
/// (`LoadMapIntoConfigMapData`), a Secret base64-encodes everything.
fn insert_entries(
    obj: &mut Map<String, Value>,
    kind: Kind,
    entries: BTreeMap<String, Vec<u8>>,
) -> Result<(), BuildError> {
    let mut data = Map::new();
    let mut binary = Map::new();
    for (key, value) in entries {
        printable(&key)?;
        match kind {
            // `LoadMapIntoConfigMapData`: UTF-8 text is data, anything else binaryData.
            Kind::ConfigMap => match String::from_utf8(value) {
                Ok(text) => {
                    printable(&text)?;
                    data.insert(key, Value::String(text));
                }
                Err(e) => {
                    binary.insert(key, Value::String(encode_base64(e.as_bytes())));
                }
            },
            Kind::Secret => {
                data.insert(key, Value::String(encode_base64(&value)));
            }
        }
    }
    // A ConfigMap gets each map only when it has entries; a Secret always has `data`.
    if !data.is_empty() || kind == Kind::Secret {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    Ok(())
}

/// Whether kustomize can print `s`: the characters its YAML reader accepts. Anything else makes
/// kustomize fail in a way not reproduced here.
fn printable(s: &str) -> Result<(), BuildError> {
    let ok = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    if s.chars().all(ok) {
        Ok(())
    } else {
        Err(BuildError::Unsupported(
            "uses control characters in generated data".into(),
        ))
    }
}

/// kustomize's `encodeBase64`: standard base64, broken into lines of 70 characters, each line
/// ending in a newline once there is more than one (the hash covers those newlines).
fn encode_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < LINE {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE + 1);
    for chunk in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

/// kv.go's `Load`: env files (`envs`, then the legacy `env`), then literals, then files, in
/// that order (it decides which duplicate is reported).
fn load_pairs(ctx: &Ctx<'_>, dir: &str, args: &GeneratorArgs) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    let mut pairs = Vec::new();
    let envs: Vec<&str> = args
        .envs
        .iter()
        .map(String::as_str)
        .chain(args.env.as_deref())
        .collect();
    for path in &envs {
        let content = read_bytes_in(ctx, dir, path)
            .map_err(|e| prefix(e, &format!("loading KV pairs: env source files: {envs:?}")))?;
        for (k, v) in
            env_pairs(&content).map_err(|e| prefix(e, &format!("loading KV pairs: env source files: {envs:?}")))?
        {
            pairs.push((k, v.into_bytes()));
        }
    }
    for literal in &args.literals {
        let (k, v) = literal_pair(literal)
            .map_err(|e| prefix(e, &format!("loading KV pairs: literal sources {:?}", args.literals)))?;
        pairs.push((k, v.into_bytes()));
    }
    for source in &args.files {
        let context = format!("loading KV pairs: file sources: {:?}", args.files);
        let (key, path) = file_source(source).map_err(|e| prefix(e, &context))?;
        let content = read_bytes_in(ctx, dir, &path).map_err(|e| prefix(e, &context))?;
        pairs.push((key, content));
    }
    Ok(pairs)
}

fn prefix(e: BuildError, context: &str) -> BuildError {
    match e {
        BuildError::Invalid(m) => BuildError::Invalid(format!("{context}: {m}")),
        other => other,
    }
}

/// kv.go's `parseLiteralSource`: `key=value`, split at the first `=`; one pair of matching
/// surrounding quotes is dropped.
fn literal_pair(source: &str) -> Result<(String, String), BuildError> {
    let invalid = || BuildError::Invalid(format!("invalid literal source {source}, expected key=value"));
    let (key, value) = source.split_once('=').ok_or_else(invalid)?;
    if key.is_empty() {
        return Err(invalid());
    }
    let b = value.as_bytes();
    let value = if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &value[1..value.len() - 1]
    } else {
        value
    };
    Ok((key.to_string(), value.to_string()))
}

/// `ParseFileSource`: `path` (the key is its base name) or `key=path`.
fn file_source(source: &str) -> Result<(String, String), BuildError> {
    match source.matches('=').count() {
        0 => Ok((go_path_base(source), source.to_string())),
        1 if source.starts_with('=') => Err(BuildError::Invalid(format!(
            "missing key name for file path {:?} in source {source:?}",
            &source[1..]
        ))),
        1 if source.ends_with('=') => Err(BuildError::Invalid(format!(
            "missing file path for key name {:?} in source {source:?}",
            &source[..source.len() - 1]
        ))),
        1 => {
            let (k, p) = source.split_once('=').expect("one '='");
            Ok((k.to_string(), p.to_string()))
        }
        _ => Err(BuildError::Invalid(format!(
            "source {source:?} key name or file path contains '='"
        ))),
    }
}

/// Go's `path.Base`.
fn go_path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// kv.go's `keyValuesFromLines`: one `KEY=value` a line; blank lines and `#` comments skipped,
/// leading white space dropped, nothing else touched (no quotes removed, no `export`
/// understood: checked, `export X=1` is the key `export X`); a line without `=` is the key with
/// an empty value (kustomize v5.5.0 no longer reads the environment); a UTF-8 byte-order mark is
/// dropped from the first line only.
fn env_pairs(content: &[u8]) -> Result<Vec<(String, String)>, BuildError> {
    let mut pairs = Vec::new();
    // bufio.Scanner's ScanLines: split at '\n', drop one '\r' before it, no empty last line.
    let mut lines: Vec<&[u8]> = content.split(|b| *b == b'\n').collect();
    if content.is_empty() || content.ends_with(b"\n") {
        lines.pop();
    }
    for (number, line) in lines.into_iter().enumerate() {
        // The scanner stops silently at a line past its 64 KiB buffer; not reproduced.
        if line.len() >= 64 * 1024 - 1 {
            return Err(BuildError::Unsupported("uses an env file with a very long line".into()));
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(mut line) = std::str::from_utf8(line) else {
            return Err(BuildError::Invalid(format!("line {number} has invalid utf8 bytes")));
        };
        if number == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        // Go's unicode.IsSpace is the Unicode White_Space property, as char::is_whitespace.
        let line = line.trim_start_matches(char::is_whitespace);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        // `=value` has an empty key, which kustomize skips like a comment.
        if key.is_empty() {
            continue;
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

/// The file `rel` (relative to the kustomization directory `dir`) as bytes: [`Ctx::read_in`]'s
/// load restriction and dependency recording, without its UTF-8 requirement (a ConfigMap keeps
/// other content as binaryData).
fn read_bytes_in(ctx: &Ctx<'_>, dir: &str, rel: &str) -> Result<Vec<u8>, BuildError> {
    // kustomize fetches URLs, and an absolute path depends on where the checkout is.
    if rel.contains("://") || rel.starts_with('/') {
        return Err(BuildError::Unsupported(format!("uses the generator source {rel}")));
    }
    let path = files::join(dir, rel).map_err(BuildError::invalid)?;
    if !files::is_within(&path, dir) {
        return Err(BuildError::Invalid(format!(
            "security; file '{path}' is not in or below '{}'",
            files::display(dir)
        )));
    }
    ctx.note(&path);
    ctx.files.read(&path).map_err(BuildError::invalid)
}

/// Go's `%#v` of a kustomize ResId, as its generator errors print it.
fn go_id(id: &ResId) -> String {
    format!(
        "resid.ResId{{Gvk:resid.Gvk{{Group:{:?}, Version:{:?}, Kind:{:?}, isClusterScoped:false}}, Name:{:?}, Namespace:{:?}}}",
        id.group, id.version, id.kind, id.name, id.namespace
    )
}

/// `appendReplaceOrMerge`: the new object is matched against every id each resource has had
/// (a base's `cfg` is found after the base renamed it `base-cfg`); `create` needs no match,
/// `merge` and `replace` exactly one.
pub(crate) fn absorb(res: &mut ResMap, mut new: Resource) -> Result<(), BuildError> {
    let id = new.id();
    let wanted = new.generated.map(|g| g.behavior).unwrap_or_default();
    let matches: Vec<usize> = (0..res.resources.len())
        .filter(|&i| res.resources[i].was(&id))
        .collect();
    let context = "merging from generator";
    match matches[..] {
        [] => match wanted {
            Behavior::Create => res.append(new),
            Behavior::Merge | Behavior::Replace => Err(BuildError::Invalid(format!(
                "{context}: id {} does not exist; cannot merge or replace",
                go_id(&id)
            ))),
        },
        [i] => {
            let old = &res.resources[i];
            match wanted {
                Behavior::Create => {
                    return Err(BuildError::Invalid(format!(
                        "{context}: id {} exists; behavior must be merge or replace",
                        go_id(&id)
                    )));
                }
                Behavior::Replace => copy_merge_metadata(&mut new, old)?,
                Behavior::Merge => {
                    copy_merge_metadata(&mut new, old)?;
                    for field in ["data", "binaryData"] {
                        let merged = merged_map(&old.obj, &new.obj, &[field])?;
                        set_map(new.obj.as_object_mut().expect("an object"), field, merged);
                    }
                }
            }
            res.resources[i] = new;
            Ok(())
        }
        _ => Err(BuildError::Invalid(format!(
            "{context}: found multiple objects that could accept merge of {}",
            id.display()
        ))),
    }
}

/// `CopyMergeMetaDataFieldsFrom`: labels and annotations are the old ones overlaid with the new
/// ones; name, namespace and every id the old one had are taken over; the hash suffix stays
/// only if both asked for it (kustomize keeps its build annotations from the old resource and
/// drops the hash one when the new resource lacks it: checked, merging into a plain ConfigMap
/// or with `disableNameSuffixHash` on either side gives no suffix).
fn copy_merge_metadata(new: &mut Resource, old: &Resource) -> Result<(), BuildError> {
    for field in ["labels", "annotations"] {
        let merged = merged_map(&old.obj, &new.obj, &["metadata", field])?;
        set_map(new.metadata_mut(), field, merged);
    }
    let name = old.name().to_string();
    let namespace = old.namespace().to_string();
    let meta = new.metadata_mut();
    meta.insert("name".into(), Value::String(name));
    if namespace.is_empty() {
        meta.remove("namespace");
    } else {
        meta.insert("namespace".into(), Value::String(namespace));
    }
    new.origin = old.origin.clone();
    new.previous = old.previous.clone();
    // The merged annotations hold the generator's build annotations (its behavior).
    new.bookkept = true;
    let new_hash = new.generated.is_some_and(|g| g.hash_suffix);
    new.generated = old.generated.map(|g| Generated {
        hash_suffix: g.hash_suffix && new_hash,
        behavior: g.behavior,
    });
    Ok(())
}

/// The string map at `path` in `old` overlaid with the one in `new` (kustomize's
/// `mergeStringMaps`). kustomize reads other scalars as their YAML text, which a JSON value no
/// longer has: those are left to it.
fn merged_map(old: &Value, new: &Value, path: &[&str]) -> Result<Map<String, Value>, BuildError> {
    let mut out = Map::new();
    for obj in [old, new] {
        let Some(found) = path.iter().try_fold(obj, |v, p| v.get(*p)) else {
            continue;
        };
        let Some(map) = found.as_object() else {
            return Err(BuildError::Unsupported(format!(
                "uses merging into a {} that is not a map",
                path.join(".")
            )));
        };
        for (k, v) in map {
            if !v.is_string() {
                return Err(BuildError::Unsupported(format!(
                    "uses merging into a {} whose values are not all strings",
                    path.join(".")
                )));
            }
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

/// Sets `field` to `map`, or removes it when empty, as kyaml's map setters do.
fn set_map(parent: &mut Map<String, Value>, field: &str, map: Map<String, Value>) {
    if map.is_empty() {
        parent.remove(field);
    } else {
        parent.insert(field.into(), Value::Object(map));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::files::{Files, ReadError};
    use crate::hasher;

    /// Files of a test repository: (path, content).
    type Entries<'a> = Vec<(&'a str, &'a [u8])>;

    /// A repository in memory.
    struct MemFiles(HashMap<String, Vec<u8>>);

    impl MemFiles {
        fn new(entries: &[(&str, &[u8])]) -> Self {
            Self(entries.iter().map(|(p, c)| (p.to_string(), c.to_vec())).collect())
        }
    }

    impl Files for MemFiles {
        fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
            use std::io::{Error, ErrorKind};
            match self.0.get(path) {
                Some(c) => Ok(c.clone()),
                None if self.kind(path).is_some() => Err(ReadError::new(
                    path,
                    Error::new(ErrorKind::IsADirectory, "is a directory"),
                )),
                None => Err(ReadError::new(path, Error::new(ErrorKind::NotFound, "no such file"))),
            }
        }

        fn kind(&self, path: &str) -> Option<files::Kind> {
            if self.0.contains_key(path) {
                Some(files::Kind::File)
            } else if self.0.keys().any(|k| k.starts_with(&format!("{path}/"))) {
                Some(files::Kind::Dir)
            } else {
                None
            }
        }

        fn identity(&self, path: &str) -> Option<String> {
            self.0.get(path).map(|c| c.len().to_string())
        }
    }

    fn kustomization(yaml: &str) -> Kustomization {
        Kustomization::parse("kustomization.yaml", yaml).expect("a valid kustomization")
    }

    /// Runs the generators of `yaml` (the kustomization in `dir`) on `res`.
    fn generate_into(fs: &MemFiles, dir: &str, yaml: &str, res: &mut ResMap) -> Result<(), BuildError> {
        let ctx = Ctx::new(fs);
        run(&ctx, dir, &kustomization(yaml), res)
    }

    /// One kustomization's generators, hashed as at the end of a build.
    fn build(fs: &MemFiles, yaml: &str) -> Result<Vec<Value>, BuildError> {
        let mut res = ResMap::default();
        generate_into(fs, "app", yaml, &mut res)?;
        hasher::add_hash_suffixes(&mut res)?;
        Ok(res.resources.into_iter().map(|r| r.obj).collect())
    }

    /// One generation case: (what, files, kustomization in `app`, the objects kustomize printed).
    type Generation<'a> = (&'a str, Entries<'a>, &'a str, Vec<Value>);

    /// Each expected output is what `kubectl kustomize` (kustomize v5.5.0) printed for the same
    /// kustomization and files, as JSON.
    fn assert_generates(cases: Vec<Generation<'_>>) {
        for (what, entries, yaml, want) in cases {
            let fs = MemFiles::new(&entries);
            assert_eq!(build(&fs, yaml).unwrap(), want, "{what}");
        }
    }

    #[test]
    fn literals_and_env_files_generate_what_kustomize_generates() {
        let env_a: &[u8] = b"\xef\xbb\xbfFIRST=1\n# comment\n\n   # indented comment\n  LEAD=spaces  \nexport X=1\nNOVAL\nQ=\"quoted\"\nS='single'\nE=a=b\nCR=crlf\r\nEMPTY=\n=skipped\n";
        assert_generates(vec![
            (
                "literals, with kustomize's quote removal",
                vec![],
                "configMapGenerator:\n- name: q\n  options:\n    disableNameSuffixHash: true\n  literals:\n  - a=\"x\"\n  - b='y'\n  - c=\"x'\n  - d=\"\n  - e==x\n  - f=\n  - j=\"\"\n  - k=\"a\"b\"\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "q"},
                    "data": {"a": "x", "b": "y", "c": "\"x'", "d": "\"", "e": "=x", "f": "", "j": "", "k": "a\"b"}}),
                ],
            ),
            (
                "env files: comments, BOM, CRLF, quotes and export kept, no '=' is an empty value",
                vec![("app/a.env", env_a), ("app/b.env", b"B=from-b\n")],
                "configMapGenerator:\n- name: e\n  options:\n    disableNameSuffixHash: true\n  envs:\n  - a.env\n  env: b.env\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e"},
                    "data": {"B": "from-b", "CR": "crlf", "E": "a=b", "EMPTY": "", "FIRST": "1", "LEAD": "spaces  ",
                             "NOVAL": "", "Q": "\"quoted\"", "S": "'single'", "export X": "1"}}),
                ],
            ),
            (
                "env files: Unicode white space leads are dropped, a later BOM or a lone CR kept",
                vec![(
                    "app/a.env",
                    b"\xc2\xa0NBSP=1\n\xe3\x80\x80IDEO=2\n\xe2\x80\x8bZW=3\n\xef\xbb\xbfBOM2=4\n  =skip\n\r\nCR2=x\r\r\nLAST=nonl",
                )],
                "configMapGenerator:\n- name: e\n  envs:\n  - a.env\n",
                vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e-b89dmttkhk"},
                    "data": {"\u{200b}ZW": "3", "\u{feff}BOM2": "4", "CR2": "x\r", "IDEO": "2", "LAST": "nonl", "NBSP": "1"}})],
            ),
            (
                "env keys are not validated or trimmed",
                vec![("app/a.env", b" K =v\n")],
                "configMapGenerator:\n- name: e\n  envs:\n  - a.env\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e-7g78tkbtgd"}, "data": {"K ": "v"}}),
                ],
            ),
            (
                "literal keys are not validated",
                vec![],
                "configMapGenerator:\n- name: f\n  literals:\n  - a b=1\n  - \"x/y=2\"\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f-867bk7h44b"}, "data": {"a b": "1", "x/y": "2"}}),
                ],
            ),
        ]);
    }

    #[test]
    fn files_and_binary_data_generate_what_kustomize_generates() {
        let blob: &[u8] = b"\xff\xfe\x00\x01binary";
        let hundred_x = [b'x'; 100];
        // 0xff then bytes 0 to 58: not UTF-8.
        let wide: Vec<u8> = std::iter::once(0xff).chain(0..59).collect();
        assert_generates(vec![
            (
                "files: the key is the base name, or given",
                vec![("app/sub/one.txt", b"one\n"), ("app/sub/two.txt", b"two")],
                "configMapGenerator:\n- name: f\n  options:\n    disableNameSuffixHash: true\n  files:\n  - sub/one.txt\n  - renamed=sub/two.txt\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "f"},
                    "data": {"one.txt": "one\n", "renamed": "two"}}),
                ],
            ),
            (
                "a file that is not UTF-8 is binaryData",
                vec![("app/blob.bin", blob)],
                "configMapGenerator:\n- name: bin\n  files:\n  - blob.bin\n  literals:\n  - text=plain\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bin-4fkb45mgh6"},
                    "binaryData": {"blob.bin": "//4AAWJpbmFyeQ=="}, "data": {"text": "plain"}}),
                ],
            ),
            (
                "binaryData is wrapped at 70 characters too",
                vec![("app/b.bin", &wide)],
                "configMapGenerator:\n- name: wide\n  files:\n  - b.bin\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "wide-6f6mtk7f48"},
                    "binaryData": {"b.bin": "/wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMj\nM0NTY3ODk6\n"}}),
                ],
            ),
            (
                "Secret base64 is wrapped at 70 characters",
                vec![("app/big.txt", &hundred_x)],
                "secretGenerator:\n- name: long\n  files:\n  - big.txt\nconfigMapGenerator:\n- name: longbin\n  files:\n  - big=big.txt\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "longbin-7kc66mdc88"},
                        "data": {"big": "x".repeat(100)}}),
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "long-2kkg492bkm"}, "type": "Opaque",
                        "data": {"big.txt": "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH\nh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA==\n"}}),
                ],
            ),
        ]);
    }

    #[test]
    fn secrets_generate_what_kustomize_generates() {
        assert_generates(vec![
            (
                "Secret type",
                vec![],
                "secretGenerator:\n- name: tls\n  type: kubernetes.io/tls\n  literals:\n  - tls.crt=CERT\n  - tls.key=KEY\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls-4b255hm948"},
                    "type": "kubernetes.io/tls", "data": {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}}),
                ],
            ),
            (
                "an empty Secret still has data, an empty ConfigMap none",
                vec![],
                "secretGenerator:\n- name: s\nconfigMapGenerator:\n- name: empty\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "empty-6ct58987ht"}}),
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s-46f8b28mk5"}, "type": "Opaque", "data": {}}),
                ],
            ),
        ]);
    }

    #[test]
    fn options_and_behaviors_generate_what_kustomize_generates() {
        assert_generates(vec![
            (
                "options merged with generatorOptions, namespace",
                vec![],
                "generatorOptions:\n  labels:\n    g: global\n    both: global\n  annotations:\n    ga: global\n  immutable: true\nconfigMapGenerator:\n- name: o\n  options:\n    labels:\n      both: local\n      l: local\n    annotations:\n      la: local\n  literals:\n  - a=1\nsecretGenerator:\n- name: s\n  namespace: ns1\n  options:\n    disableNameSuffixHash: true\n  literals:\n  - a=1\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "immutable": true, "data": {"a": "1"},
                        "metadata": {"name": "o-h29d89cmmt", "annotations": {"ga": "global", "la": "local"},
                                     "labels": {"both": "local", "g": "global", "l": "local"}}}),
                    json!({"apiVersion": "v1", "kind": "Secret", "immutable": true, "data": {"a": "MQ=="}, "type": "Opaque",
                        "metadata": {"name": "s", "namespace": "ns1", "annotations": {"ga": "global"},
                                     "labels": {"both": "global", "g": "global"}}}),
                ],
            ),
            (
                "a global disableNameSuffixHash wins over a local false",
                vec![],
                "generatorOptions:\n  disableNameSuffixHash: true\nconfigMapGenerator:\n- name: o\n  options:\n    disableNameSuffixHash: false\n  literals:\n  - a=1\n",
                vec![json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o"}, "data": {"a": "1"}})],
            ),
            (
                "merge within one kustomization",
                vec![],
                "configMapGenerator:\n- name: cfg\n  literals:\n  - a=1\n- name: cfg\n  behavior: merge\n  literals:\n  - b=2\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg-7gdc49gk6d"}, "data": {"a": "1", "b": "2"}}),
                ],
            ),
            (
                "merging two empty Secrets drops data",
                vec![],
                "secretGenerator:\n- name: s\n- name: s\n  behavior: merge\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s-8226t8dd99"}, "type": "Opaque"}),
                ],
            ),
            (
                "an unknown behavior creates",
                vec![],
                "configMapGenerator:\n- name: cfg\n  behavior: bogus\n  literals:\n  - c=3\n",
                vec![
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg-c966fbk687"}, "data": {"c": "3"}}),
                ],
            ),
        ]);
    }

    /// One error case: (what, files, kustomization in `app`, Ok(part of the Invalid message) or
    /// Err(()) for Unsupported). The messages are kustomize's (from `kubectl kustomize`), less its
    /// paths.
    type Failure<'a> = (&'a str, Entries<'a>, &'a str, Result<&'a str, ()>);

    fn assert_fails(cases: Vec<Failure<'_>>) {
        for (what, entries, yaml, want) in cases {
            let fs = MemFiles::new(&entries);
            match (build(&fs, yaml), want) {
                (Err(BuildError::Invalid(msg)), Ok(part)) => assert!(msg.contains(part), "{what}: {msg}"),
                (Err(BuildError::Unsupported(_)), Err(())) => {}
                (got, _) => panic!("{what}: {got:?}"),
            }
        }
    }

    #[test]
    fn malformed_generators_are_invalid() {
        assert_fails(vec![
            (
                "type on a ConfigMap",
                vec![],
                "configMapGenerator:\n- name: t\n  type: foo\n",
                Ok("unknown field \"type\""),
            ),
            (
                "no name",
                vec![],
                "configMapGenerator:\n- literals:\n  - a=1\n",
                Ok("a configmap must have a name"),
            ),
            (
                "a key twice",
                vec![("app/a", b"file")],
                "configMapGenerator:\n- name: f\n  literals:\n  - a=1\n  files:\n  - a\n",
                Ok("configmap f illegally repeats the key `a`"),
            ),
            (
                "a Secret key twice",
                vec![],
                "secretGenerator:\n- name: s\n  literals:\n  - a=1\n  - a=2\n",
                Ok("configmap s illegally repeats the key `a`"),
            ),
            (
                "literal without =",
                vec![],
                "configMapGenerator:\n- name: q\n  literals:\n  - g\n",
                Ok("invalid literal source g, expected key=value"),
            ),
            (
                "literal without key",
                vec![],
                "configMapGenerator:\n- name: q\n  literals:\n  - =h\n",
                Ok("invalid literal source =h, expected key=value"),
            ),
            (
                "file without key",
                vec![],
                "configMapGenerator:\n- name: f\n  files:\n  - =x.txt\n",
                Ok("missing key name for file path \"x.txt\""),
            ),
            (
                "file without path",
                vec![],
                "configMapGenerator:\n- name: f\n  files:\n  - k=\n",
                Ok("missing file path for key name \"k\""),
            ),
            (
                "file with two =",
                vec![],
                "configMapGenerator:\n- name: f\n  files:\n  - a=b=c\n",
                Ok("key name or file path contains '='"),
            ),
        ]);
    }

    #[test]
    fn unreadable_sources_are_invalid() {
        assert_fails(vec![
            (
                "a directory as a file",
                vec![("app/sub/x.txt", b"x")],
                "configMapGenerator:\n- name: f\n  files:\n  - sub\n",
                Ok("file sources"),
            ),
            (
                "a missing file",
                vec![],
                "configMapGenerator:\n- name: f\n  files:\n  - nope.txt\n",
                Ok("nope.txt"),
            ),
            (
                "a missing env file",
                vec![],
                "secretGenerator:\n- name: f\n  envs:\n  - nope.env\n",
                Ok("nope.env"),
            ),
            (
                "a file outside the kustomization root",
                vec![("o.txt", b"secret")],
                "configMapGenerator:\n- name: f\n  files:\n  - ../o.txt\n",
                Ok("security; file 'o.txt' is not in or below 'app'"),
            ),
            (
                "an env file outside the kustomization root",
                vec![("o.env", b"A=1")],
                "configMapGenerator:\n- name: f\n  envs:\n  - ../o.env\n",
                Ok("is not in or below"),
            ),
            (
                "an env line that is not UTF-8",
                vec![("app/a.env", b"A=\xff\n")],
                "secretGenerator:\n- name: f\n  envs:\n  - a.env\n",
                Ok("invalid utf8"),
            ),
        ]);
    }

    #[test]
    fn behavior_conflicts_are_invalid() {
        assert_fails(vec![
            (
                "merge into nothing",
                vec![],
                "configMapGenerator:\n- name: cfg\n  behavior: merge\n",
                Ok("does not exist; cannot merge or replace"),
            ),
            (
                "create twice",
                vec![],
                "configMapGenerator:\n- name: cfg\n- name: cfg\n",
                Ok("exists; behavior must be merge or replace"),
            ),
        ]);
    }

    #[test]
    fn what_kustomize_cannot_print_or_read_is_unsupported() {
        assert_fails(vec![
            // kustomize fails to print these (`yaml: control characters are not allowed`).
            (
                "a control character in a file",
                vec![("app/c.txt", b"a\x01b")],
                "configMapGenerator:\n- name: c\n  files:\n  - c.txt\n",
                Err(()),
            ),
            (
                "a control character in a literal",
                vec![],
                "secretGenerator:\n- name: c\n  literals:\n  - \"x=a\\bb\"\n",
                Err(()),
            ),
            (
                "a URL",
                vec![],
                "configMapGenerator:\n- name: u\n  files:\n  - https://example.com/x.txt\n",
                Err(()),
            ),
            (
                "an absolute path",
                vec![],
                "configMapGenerator:\n- name: u\n  envs:\n  - /etc/env\n",
                Err(()),
            ),
        ]);
    }

    #[test]
    fn control_characters_in_secret_files_are_fine() {
        // Base64 has none; kustomize renders it (and the file is recorded as a dependency).
        let fs = MemFiles::new(&[("app/c.bin", b"a\x01b")]);
        let ctx = Ctx::new(&fs);
        let mut res = ResMap::default();
        run(
            &ctx,
            "app",
            &kustomization("secretGenerator:\n- name: s\n  files:\n  - c.bin\n"),
            &mut res,
        )
        .unwrap();
        assert_eq!(res.resources[0].obj["data"]["c.bin"], "YQFi");
        assert!(ctx.into_deps().contains_key("app/c.bin"));
    }

    /// The base kustomization of the overlay tests, in `base`: as `kubectl kustomize` builds it
    /// (generators after the plain resource, then `namePrefix: base-`, then
    /// `commonLabels: {team: a}`).
    const BASE: &str = "configMapGenerator:\n- name: cfg\n  options:\n    labels:\n      origin: base\n    annotations:\n      note: base\n  literals:\n  - a=1\n  - b=2\n- name: nohash\n  options:\n    disableNameSuffixHash: true\n  literals:\n  - x=1\nsecretGenerator:\n- name: sec\n  literals:\n  - p=1\n";

    fn base() -> ResMap {
        let mut res = ResMap::default();
        res.append(Resource::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "plain", "labels": {"p": "q"}}, "data": {"k": "v"}})))
            .unwrap();
        generate_into(&MemFiles::new(&[]), "base", BASE, &mut res).unwrap();
        rename_and_label(&mut res, "base-", Some(("team", "a")));
        res
    }

    /// What the prefix and label transformers do to these ConfigMaps and Secrets.
    fn rename_and_label(res: &mut ResMap, prefix: &str, label: Option<(&str, &str)>) {
        for r in &mut res.resources {
            let name = format!("{prefix}{}", r.name());
            r.set_name(&name);
            if let Some((k, v)) = label {
                let labels = r.metadata_mut().entry("labels").or_insert_with(|| json!({}));
                labels[k] = json!(v);
            }
        }
    }

    /// (name, data) of each output object.
    fn names_and_data(res: &ResMap) -> Vec<(String, Value)> {
        res.resources
            .iter()
            .map(|r| (r.name().to_string(), r.obj.get("data").cloned().unwrap_or(Value::Null)))
            .collect()
    }

    #[test]
    fn overlays_merge_and_replace_what_their_base_generated() {
        // (overlay kustomization, its namePrefix, the output `kubectl kustomize` printed).
        type Output<'a> = Vec<(&'a str, Value)>;
        let cases: Vec<(&str, &str, Output)> = vec![
            (
                // Found by its original name although the base prefixed it; keeps the base's
                // name, labels and annotations under the overlay's; the Secret is replaced
                // whole but keeps the base's labels.
                "configMapGenerator:\n- name: cfg\n  behavior: merge\n  options:\n    labels:\n      origin: overlay\n      extra: yes1\n    annotations:\n      note2: overlay\n  literals:\n  - b=20\n  - c=3\nsecretGenerator:\n- name: sec\n  behavior: replace\n  type: kubernetes.io/basic-auth\n  literals:\n  - username=u\n",
                "ov-",
                vec![
                    ("ov-base-plain", json!({"k": "v"})),
                    ("ov-base-cfg-5ccmfdht2m", json!({"a": "1", "b": "20", "c": "3"})),
                    ("ov-base-nohash", json!({"x": "1"})),
                    ("ov-base-sec-bfthd2c2g9", json!({"username": "dQ=="})),
                ],
            ),
            (
                // Found by its current name too.
                "configMapGenerator:\n- name: base-cfg\n  behavior: merge\n  literals:\n  - c=3\n",
                "",
                vec![
                    ("base-plain", json!({"k": "v"})),
                    ("base-cfg-55f7kg2cf8", json!({"a": "1", "b": "2", "c": "3"})),
                    ("base-nohash", json!({"x": "1"})),
                    ("base-sec-fcd7kg2454", json!({"p": "MQ=="})),
                ],
            ),
            (
                // No suffix unless both sides ask for one.
                "configMapGenerator:\n- name: nohash\n  behavior: merge\n  literals:\n  - y=2\n- name: cfg\n  behavior: merge\n  options:\n    disableNameSuffixHash: true\n  literals:\n  - z=2\n- name: plain\n  behavior: merge\n  literals:\n  - k2=v2\n",
                "",
                vec![
                    ("base-plain", json!({"k": "v", "k2": "v2"})),
                    ("base-cfg", json!({"a": "1", "b": "2", "z": "2"})),
                    ("base-nohash", json!({"x": "1", "y": "2"})),
                    ("base-sec-fcd7kg2454", json!({"p": "MQ=="})),
                ],
            ),
        ];
        for (overlay, prefix, want) in cases {
            let mut res = base();
            generate_into(&MemFiles::new(&[]), "overlay", overlay, &mut res).unwrap();
            rename_and_label(&mut res, prefix, None);
            hasher::add_hash_suffixes(&mut res).unwrap();
            let want: Vec<(String, Value)> = want.into_iter().map(|(n, d)| (n.to_string(), d)).collect();
            assert_eq!(names_and_data(&res), want, "{overlay}");
        }
    }

    #[test]
    fn a_merge_keeps_the_base_metadata_under_the_overlay_one() {
        let mut res = base();
        let overlay = "configMapGenerator:\n- name: cfg\n  behavior: merge\n  options:\n    labels:\n      origin: overlay\n      extra: yes1\n    annotations:\n      note2: overlay\n  literals:\n  - b=20\n";
        generate_into(&MemFiles::new(&[]), "overlay", overlay, &mut res).unwrap();
        let cfg = &res.resources[1];
        // As `kubectl kustomize` printed it (before the overlay's own prefix).
        assert_eq!(
            cfg.obj["metadata"],
            json!({"name": "base-cfg", "annotations": {"note": "base", "note2": "overlay"},
                   "labels": {"extra": "yes1", "origin": "overlay", "team": "a"}})
        );
        // Its old names stay known, for the references to it.
        assert_eq!(cfg.origin.name, "cfg");
        assert_eq!(
            cfg.previous.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["cfg"]
        );
    }

    #[test]
    fn overlay_errors_match_kustomize() {
        // Messages as `kubectl kustomize` printed them, less the generator's pointer.
        let cases = [
            (
                "configMapGenerator:\n- name: cfg\n  literals:\n  - c=3\n",
                "merging from generator: id resid.ResId{Gvk:resid.Gvk{Group:\"\", Version:\"v1\", Kind:\"ConfigMap\", isClusterScoped:false}, Name:\"cfg\", Namespace:\"\"} exists; behavior must be merge or replace",
            ),
            // `Merge` is not a behavior, so it creates, and collides.
            (
                "configMapGenerator:\n- name: cfg\n  behavior: Merge\n",
                "exists; behavior must be merge or replace",
            ),
            (
                "configMapGenerator:\n- name: other\n  behavior: merge\n",
                "merging from generator: id resid.ResId{Gvk:resid.Gvk{Group:\"\", Version:\"v1\", Kind:\"ConfigMap\", isClusterScoped:false}, Name:\"other\", Namespace:\"\"} does not exist; cannot merge or replace",
            ),
            (
                "secretGenerator:\n- name: other\n  namespace: foo\n  behavior: replace\n",
                "Kind:\"Secret\", isClusterScoped:false}, Name:\"other\", Namespace:\"foo\"} does not exist; cannot merge or replace",
            ),
            // The namespace is part of the id.
            (
                "configMapGenerator:\n- name: cfg\n  namespace: other\n  behavior: merge\n",
                "does not exist; cannot merge or replace",
            ),
        ];
        for (overlay, want) in cases {
            let mut res = base();
            match generate_into(&MemFiles::new(&[]), "overlay", overlay, &mut res) {
                Err(BuildError::Invalid(msg)) => assert!(msg.contains(want), "{overlay}: {msg}"),
                other => panic!("{overlay}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_merge_finds_a_base_resource_moved_to_a_namespace_by_either_id() {
        // Base `namespace: prod` with `cfg` a=1; an overlay merging b=2 into `cfg` with no
        // namespace or with `namespace: prod`: `kubectl kustomize` printed `cfg-7gdc49gk6d` in
        // `prod` for both.
        for namespace in ["", "  namespace: prod\n"] {
            let mut res = ResMap::default();
            generate_into(
                &MemFiles::new(&[]),
                "base",
                "configMapGenerator:\n- name: cfg\n  literals:\n  - a=1\n",
                &mut res,
            )
            .unwrap();
            res.resources[0].set_namespace("prod");
            let overlay =
                format!("configMapGenerator:\n- name: cfg\n{namespace}  behavior: merge\n  literals:\n  - b=2\n");
            generate_into(&MemFiles::new(&[]), "overlay", &overlay, &mut res).unwrap();
            hasher::add_hash_suffixes(&mut res).unwrap();
            let r = &res.resources[0];
            assert_eq!((r.name(), r.namespace()), ("cfg-7gdc49gk6d", "prod"), "{overlay}");
        }
    }

    #[test]
    fn merging_into_values_kustomize_would_restringify_is_unsupported() {
        let mut res = ResMap::default();
        res.append(Resource::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "plain"}, "data": {"n": 1}})))
            .unwrap();
        let got = generate_into(
            &MemFiles::new(&[]),
            "overlay",
            "configMapGenerator:\n- name: plain\n  behavior: merge\n  literals:\n  - a=1\n",
            &mut res,
        );
        assert!(matches!(got, Err(BuildError::Unsupported(_))), "{got:?}");
    }
}
