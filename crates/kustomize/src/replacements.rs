//! `replacements` (kustomize's ReplacementTransformer and `api/filters/replacement`, v5.5.0):
//! each replacement reads one value from the one resource its source selects and writes it to
//! fields of every resource its targets select, in order, each seeing the ones before.
//!
//! What is matched (each checked with `kubectl kustomize` v5.5.0):
//! - Entries are inline (`source`, `targets`) or a `path` to a file holding one replacement or a
//!   list of them, relative to the kustomization; both at once is an error.
//! - Sources and targets select by id: group, version, kind, name and namespace compared exactly
//!   (not as regular expressions, unlike patch targets), against the resource's current id or any
//!   id it had before; a namespace compares as `default` when empty. Targets also filter by
//!   `labelSelector`/`annotationSelector` and drop what a `reject` entry selects. The source must
//!   be exactly one resource; its field (`metadata.name` by default) must exist and not be null
//!   or empty.
//! - Paths are `.`-separated (`\.` escapes a dot, `[a.b/c]` brackets a key with dots, a leading
//!   `.` is ignored). The source path reads fields, list indices, `-` (the last item) and
//!   `[key=value]` (the first item whose `key` is exactly `value`). A target path also reads `*`
//!   (every item) and takes `[key=regex]` as an unanchored regular expression matched against
//!   every item; a target field that is missing is an error unless `options.create`, which creates
//!   it (and the maps, lists and `[key=value]` items on the way).
//! - `options.delimiter`/`index` split the source value and pick a part, or splice the value into
//!   the target's value at that part (a negative index prepends, one past the end appends).
//! - A scalar target keeps its type and takes the value's text (`3` into a string field is
//!   `"3"`, `"4"` into an integer field is `4`); a map or list target, or a field created for a
//!   scalar, takes the value as it is (a created field reads the text as YAML would: `3` is a
//!   number there).
//!
//! kustomize works on YAML nodes that keep each scalar's text; a JSON value has lost it. Where
//! the outcome would depend on that text (a float, a null, list items matched by a regular
//! expression against text that YAML would quote, a number or boolean field given text that is
//! not one), the overlay is left to kustomize.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::kustomization::Selector;
use super::resource::{ResId, ResMap, Resource};
use super::{BuildError, Ctx, target};

/// An entry of `replacements`: inline, or a file of replacements.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementField {
    pub source: Option<SourceSelector>,
    pub targets: Option<Vec<TargetSelector>>,
    pub path: Option<String>,
}

/// One replacement.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    pub source: Option<SourceSelector>,
    pub targets: Option<Vec<TargetSelector>>,
}

/// Where the value comes from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSelector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

/// Where it goes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSelector {
    pub select: Option<Selector>,
    pub reject: Option<Vec<Selector>>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

/// `options` of a source or target.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    /// Declared by kustomize v5.5.0 and not used by its filter.
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub create: bool,
}

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// kustomize's `replacements` step for the kustomization in `dir`.
pub fn apply(ctx: &Ctx<'_>, dir: &str, fields: &[ReplacementField], res: &mut ResMap) -> Result<(), BuildError> {
    if fields.is_empty() {
        return Ok(());
    }
    let list = load(ctx, dir, fields)?;
    for r in &list {
        let (Some(source), Some(targets)) = (&r.source, &r.targets) else {
            return Err(BuildError::Invalid(
                "replacements must specify a source and at least one target".into(),
            ));
        };
        let value = source_value(res, source)?;
        for t in targets {
            apply_target(res, &value, t)?;
        }
    }
    Ok(())
}

/// A kustomization's `replacements` as kustomize hands them to its transformer: re-encoded
/// first, which drops an empty `targets` list (so an inline replacement with `targets: []` is
/// one without targets, an error; in a file or a ReplacementTransformer config it is not).
pub fn from_kustomization(fields: &[ReplacementField]) -> Vec<ReplacementField> {
    fields
        .iter()
        .map(|f| ReplacementField {
            targets: f.targets.clone().filter(|t| !t.is_empty()),
            ..f.clone()
        })
        .collect()
}

/// The replacements of the entries, files read (kustomize's plugin `Config`).
fn load(ctx: &Ctx<'_>, dir: &str, fields: &[ReplacementField]) -> Result<Vec<Replacement>, BuildError> {
    let mut out = Vec::new();
    for f in fields {
        let Some(path) = f.path.as_deref().filter(|p| !p.is_empty()) else {
            out.push(Replacement {
                source: f.source.clone(),
                targets: f.targets.clone(),
            });
            continue;
        };
        if f.source.is_some() || f.targets.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(BuildError::Invalid(
                "cannot specify both path and inline replacement".into(),
            ));
        }
        let text = ctx.read_in(dir, path)?;
        let (docs, err) = safe_yaml::documents(&text);
        if let Some(e) = err {
            return Err(BuildError::Invalid(format!("{path}: {e}")));
        }
        if docs.len() > 1 {
            return Err(BuildError::Unsupported(
                "uses a replacements file of several documents".into(),
            ));
        }
        let parse = |v: &Value| -> Result<Replacement, BuildError> {
            serde_json::from_value(super::fieldnames::canonical_replacement(v))
                .map_err(|e| BuildError::Unsupported(format!("uses replacement fields it does not understand ({e})")))
        };
        match docs.first() {
            Some(Value::Array(items)) => {
                for item in items {
                    out.push(parse(item)?);
                }
            }
            Some(m @ Value::Object(_)) => out.push(parse(m)?),
            _ => {
                return Err(BuildError::Invalid(format!(
                    "unsupported replacement type encountered within replacement path: {path}"
                )));
            }
        }
    }
    Ok(out)
}

// ---- ids ----

/// kustomize's `MakeResIds`: the current id, then every stored previous one (with the current
/// group and version).
fn ids(r: &Resource) -> Vec<ResId> {
    let cur = r.id();
    let mut out = vec![cur.clone()];
    out.extend(r.previous.iter().map(|p| ResId {
        group: cur.group.clone(),
        version: cur.version.clone(),
        ..p.clone()
    }));
    out
}

/// The namespace ids compare by (kustomize builds these ids without knowing cluster scope).
fn effective(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

/// kyaml's `ResId.IsSelectedBy`: every field the selector sets is equal.
fn selected_by(id: &ResId, group: &str, version: &str, kind: &str, name: &str, namespace: &str) -> bool {
    (name.is_empty() || name == id.name)
        && (namespace.is_empty() || effective(namespace) == effective(&id.namespace))
        && (group.is_empty() || group == id.group)
        && (version.is_empty() || version == id.version)
        && (kind.is_empty() || kind == id.kind)
}

fn selector_picks(sel: &Selector, id: &ResId) -> bool {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    selected_by(
        id,
        &s(&sel.group),
        &s(&sel.version),
        &s(&sel.kind),
        &s(&sel.name),
        &s(&sel.namespace),
    )
}

fn selector_id_is_empty(sel: &Selector) -> bool {
    [&sel.group, &sel.version, &sel.kind, &sel.name, &sel.namespace]
        .iter()
        .all(|f| f.as_deref().unwrap_or("").is_empty())
}

fn display(s: &SourceSelector) -> String {
    format!("{}.{}.{}/{}.{}", s.kind, s.version, s.group, s.name, s.namespace)
}

// ---- the source ----

/// A value read from a source, as kustomize's node keeps it: a scalar's text and type, or a
/// map or list.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Scalar(String, Tag),
    Node(Value),
}

/// A scalar's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Str,
    Int,
    Bool,
}

fn source_value(res: &ResMap, s: &SourceSelector) -> Result<Val, BuildError> {
    let mut found = None;
    for r in &res.resources {
        if ids(r)
            .iter()
            .any(|id| selected_by(id, &s.group, &s.version, &s.kind, &s.name, &s.namespace))
        {
            if found.is_some() {
                return Err(BuildError::Invalid(format!(
                    "multiple matches for selector {}",
                    display(s)
                )));
            }
            found = Some(r);
        }
    }
    let Some(r) = found else {
        return Err(BuildError::Invalid(format!("nothing selected by {}", display(s))));
    };
    let field_path = if s.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &s.field_path
    };
    let parts: Vec<String> = split_path(field_path)
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let missing = || {
        BuildError::Invalid(format!(
            "fieldPath `{field_path}` is missing for replacement source {}",
            display(s)
        ))
    };
    let node = lookup(&r.obj, &parts)?.ok_or_else(missing)?;
    let value = match node {
        Value::Null => return Err(missing()),
        Value::Object(m) if m.is_empty() => return Err(missing()),
        Value::Array(a) if a.is_empty() => return Err(missing()),
        Value::Object(_) | Value::Array(_) => Val::Node(node.clone()),
        scalar => {
            let (text, tag) = scalar_text(scalar)?;
            Val::Scalar(text, tag)
        }
    };
    refine(s.options.as_ref(), value)
}

/// A scalar's text as kustomize reads it, for the types whose text a JSON value keeps.
fn scalar_text(v: &Value) -> Result<(String, Tag), BuildError> {
    match v {
        Value::String(s) => Ok((s.clone(), Tag::Str)),
        Value::Bool(b) => Ok((b.to_string(), Tag::Bool)),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok((n.to_string(), Tag::Int)),
        _ => Err(BuildError::Unsupported(
            "uses a replacement value that is a float or null".into(),
        )),
    }
}

/// The source's `options`: a delimiter splits the value, `index` picks the part.
fn refine(options: Option<&FieldOptions>, value: Val) -> Result<Val, BuildError> {
    let Some(o) = options.filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value);
    };
    let Val::Scalar(text, tag) = value else {
        return Err(BuildError::Invalid(
            "delimiter option can only be used with scalar nodes".into(),
        ));
    };
    let parts: Vec<&str> = text.split(o.delimiter.as_str()).collect();
    match usize::try_from(o.index).ok().and_then(|i| parts.get(i)) {
        Some(part) => Ok(Val::Scalar((*part).to_string(), tag)),
        None => Err(BuildError::Invalid(format!(
            "options.index {} is out of bounds for value {text}",
            o.index
        ))),
    }
}

/// kyaml's `PathGetter` (no creation): the value at `parts`, `None` when a step finds nothing.
fn lookup<'a>(node: &'a Value, parts: &[String]) -> Result<Option<&'a Value>, BuildError> {
    let Some((part, rest)) = parts.split_first() else {
        return Ok(Some(node));
    };
    let next = if let Ok(i) = part.parse::<i64>() {
        if i < 0 {
            return Err(BuildError::Invalid(format!("array index {i} cannot be negative")));
        }
        match node {
            Value::Null => None,
            Value::Array(a) => usize::try_from(i).ok().and_then(|i| a.get(i)),
            _ => return Err(wrong_kind("SequenceNode")),
        }
    } else if part == "-" {
        match node {
            Value::Array(a) if !a.is_empty() => a.last(),
            // kustomize indexes an empty list here and crashes.
            Value::Null | Value::Array(_) => {
                return Err(BuildError::Unsupported(
                    "uses `-` on an empty list in a replacement source".into(),
                ));
            }
            _ => return Err(wrong_kind("SequenceNode")),
        }
    } else if part == "*" {
        return Err(BuildError::Invalid("wildcard is not supported in PathGetter".into()));
    } else if is_list_index(part) {
        let (key, value) = split_index(part)?;
        first_element(node, &key, &value)?
    } else {
        match node {
            Value::Null => None,
            Value::Object(m) => m.get(part.as_str()),
            _ => return Err(wrong_kind("MappingNode")),
        }
    };
    match next {
        Some(n) => lookup(n, rest),
        None => Ok(None),
    }
}

fn wrong_kind(expected: &str) -> BuildError {
    BuildError::Invalid(format!("wrong node kind: expected {expected}"))
}

/// kyaml's `ElementMatcher`: the first item whose `key` field (or, with no key, the item
/// itself) has exactly the text `value`.
fn first_element<'a>(node: &'a Value, key: &str, value: &str) -> Result<Option<&'a Value>, BuildError> {
    let items = match node {
        Value::Null => return Ok(None),
        Value::Array(a) => a,
        _ => return Err(wrong_kind("SequenceNode")),
    };
    for item in items {
        let field = if key.is_empty() {
            Some(item)
        } else {
            match item {
                Value::Object(m) => m.get(key),
                _ => None,
            }
        };
        let text = match field {
            None => continue,
            // A map's or list's text is empty to kyaml.
            Some(Value::Object(_) | Value::Array(_)) => String::new(),
            Some(v) => scalar_text(v)?.0,
        };
        if text == value {
            return Ok(Some(item));
        }
    }
    Ok(None)
}

// ---- paths ----

/// kyaml's `SmarterPathSplitter` on `.`: `\.` escapes a dot, a leading `.` is dropped, and a
/// `[…]` part spanning dots is one part (its brackets removed unless it holds `=`).
pub fn split_path(path: &str) -> Vec<String> {
    let mut raw: Vec<&str> = path.split('.').collect();
    if raw.len() > 1 && raw[0].is_empty() {
        raw.remove(0);
    }
    let mut split: Vec<String> = Vec::new();
    for p in raw {
        match split.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(p);
            }
            _ => split.push(p.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < split.len() {
        let elem = &split[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut bracketed = vec![elem.clone()];
            while i < split.len() - 1 {
                i += 1;
                bracketed.push(split[i].clone());
                if split[i].ends_with(']') {
                    break;
                }
            }
            let joined = bracketed.join(".");
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(joined.trim_matches(['[', ']']).to_string());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    out
}

fn is_list_index(part: &str) -> bool {
    part.starts_with('[') && part.ends_with(']')
}

/// `[key=value]` as its key and value.
fn split_index(part: &str) -> Result<(String, String), BuildError> {
    let inner = part.strip_suffix(']').unwrap_or(part);
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    match inner.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(BuildError::Invalid(
            "list path element must contain fieldName=fieldValue for element to match".into(),
        )),
    }
}

fn is_index_number(part: &str) -> bool {
    part.parse::<i64>().is_ok_and(|i| i >= 0)
}

// ---- the targets ----

fn apply_target(res: &mut ResMap, value: &Val, t: &TargetSelector) -> Result<(), BuildError> {
    let Some(select) = &t.select else {
        return Err(BuildError::Invalid("target must specify resources to select".into()));
    };
    let rejects = t.reject.as_deref().unwrap_or_default();
    let default_paths = [DEFAULT_FIELD_PATH.to_string()];
    let paths: &[String] = if t.field_paths.is_empty() {
        &default_paths
    } else {
        &t.field_paths
    };
    for r in &mut res.resources {
        if !selected(select, rejects, r)? {
            continue;
        }
        for fp in paths {
            copy_value(r, value, fp, t.options.as_ref())?;
        }
    }
    Ok(())
}

/// Whether a target picks `r`: its label and annotation selectors and those of no `reject`, then
/// its id, and no `reject` id.
fn selected(select: &Selector, rejects: &[Selector], r: &Resource) -> Result<bool, BuildError> {
    let filters = |s: &Selector| {
        target::labels_and_annotations_match(
            s.label_selector.as_deref().unwrap_or(""),
            s.annotation_selector.as_deref().unwrap_or(""),
            r,
        )
    };
    if !filters(select)? {
        return Ok(false);
    }
    for reject in rejects {
        let has_filters = reject.label_selector.as_deref().is_some_and(|s| !s.is_empty())
            || reject.annotation_selector.as_deref().is_some_and(|s| !s.is_empty());
        if has_filters && filters(reject)? {
            return Ok(false);
        }
    }
    let ids = ids(r);
    let rejected = rejects
        .iter()
        .filter(|s| !selector_id_is_empty(s))
        .any(|s| ids.iter().any(|id| selector_picks(s, id)));
    Ok(!rejected && ids.iter().any(|id| selector_picks(select, id)))
}

/// What a created field is until the value lands in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Create {
    Scalar,
    Mapping,
    Sequence,
}

fn copy_value(r: &mut Resource, value: &Val, fp: &str, options: Option<&FieldOptions>) -> Result<(), BuildError> {
    let create = options.is_some_and(|o| o.create).then_some(match value {
        Val::Scalar(..) => Create::Scalar,
        Val::Node(Value::Array(_)) => Create::Sequence,
        Val::Node(_) => Create::Mapping,
    });
    let parts = split_path(fp);
    let mut set = |node: &mut Value, created: bool| set_field(options, node, created, value);
    let found = match_mut(&mut r.obj, &parts, create, false, &mut set)?;
    if found == 0 {
        let what = if create.is_some() { "find or create" } else { "find" };
        return Err(BuildError::Invalid(format!(
            "unable to {what} field \"{fp}\" in replacement target"
        )));
    }
    Ok(())
}

type Setter<'a> = dyn FnMut(&mut Value, bool) -> Result<(), BuildError> + 'a;

/// kyaml's `PathMatcher`: runs `set` on every node `path` matches below `node` (creating what
/// is missing when `create` says what the last node is); the number of nodes matched.
fn match_mut(
    node: &mut Value,
    path: &[String],
    create: Option<Create>,
    created: bool,
    set: &mut Setter<'_>,
) -> Result<usize, BuildError> {
    let Some((part, rest)) = path.split_first() else {
        set(node, created)?;
        return Ok(1);
    };
    if is_index_number(part) {
        return match_index(node, part, rest, create, set);
    }
    if is_list_index(part) {
        return match_items(node, part, rest, create, set);
    }
    if part == "*" {
        return match node {
            Value::Null => Ok(0),
            Value::Array(items) => {
                let mut n = 0;
                for item in items.iter_mut() {
                    n += match_mut(item, rest, create, false, set)?;
                }
                Ok(n)
            }
            _ => Err(wrong_kind("SequenceNode")),
        };
    }
    let map = match node {
        Value::Object(m) => m,
        Value::Null if create.is_none() => return Ok(0),
        Value::Null => return Err(create_in_null()),
        _ => return Err(wrong_kind("MappingNode")),
    };
    if !map.contains_key(part.as_str()) {
        let Some(kind) = create else { return Ok(0) };
        map.insert(part.clone(), new_node(rest.first(), kind));
        let field = map.get_mut(part.as_str()).expect("just inserted");
        return match_mut(field, rest, create, rest.is_empty(), set);
    }
    let field = map.get_mut(part.as_str()).expect("present");
    match_mut(field, rest, create, false, set)
}

fn create_in_null() -> BuildError {
    BuildError::Unsupported("uses a replacement that creates fields inside a null".into())
}

/// A created node: a list when the next part indexes one, a map for another field, and what
/// `create` says at the end (a scalar's placeholder is null until the value lands).
fn new_node(next: Option<&String>, create: Create) -> Value {
    let kind = match next {
        Some(p) if is_list_index(p) || is_index_number(p) => Create::Sequence,
        Some(_) => Create::Mapping,
        None => create,
    };
    match kind {
        Create::Scalar => Value::Null,
        Create::Mapping => Value::Object(serde_json::Map::new()),
        Create::Sequence => Value::Array(Vec::new()),
    }
}

/// A `0`, `1`… part: that item (appended when it is one past the end and `create` is set).
fn match_index(
    node: &mut Value,
    part: &str,
    rest: &[String],
    create: Option<Create>,
    set: &mut Setter<'_>,
) -> Result<usize, BuildError> {
    let idx: usize = part.parse().map_err(|_| wrong_kind("SequenceNode"))?;
    let items = match node {
        Value::Array(a) => a,
        Value::Null if create.is_some() && idx == 0 => return Err(create_in_null()),
        Value::Null => {
            return Err(BuildError::Invalid(format!(
                "index {idx} specified but only 0 elements found"
            )));
        }
        _ => return Err(wrong_kind("SequenceNode")),
    };
    let mut created = false;
    if let Some(kind) = create.filter(|_| items.len() == idx) {
        items.push(new_node(rest.first(), kind));
        created = rest.is_empty();
    }
    let len = items.len();
    let Some(item) = items.get_mut(idx) else {
        return Err(BuildError::Invalid(format!(
            "index {idx} specified but only {len} elements found"
        )));
    };
    match_mut(item, rest, create, created, set)
}

/// A `[key=regex]` part: every item whose `key` (or, with no key, the item itself) matches the
/// unanchored regular expression; with `create` and no match, a new item `{key: regex}`.
fn match_items(
    node: &mut Value,
    part: &str,
    rest: &[String],
    create: Option<Create>,
    set: &mut Setter<'_>,
) -> Result<usize, BuildError> {
    let (key, pattern) = split_index(part)?;
    let re = Regex::new(&pattern)
        .map_err(|_| BuildError::Unsupported(format!("uses a replacement path regex it cannot read: {pattern}")))?;
    let items = match node {
        Value::Array(a) => a,
        Value::Null if create.is_some() => return Err(create_in_null()),
        Value::Null => return Ok(0),
        _ => return Err(wrong_kind("SequenceNode")),
    };
    let n = match_in_items(items, &key, &re, rest, create, set)?;
    if n > 0 || create.is_none() {
        return Ok(n);
    }
    // kustomize appends `{key: value}` (or the value) and searches again; a value its own
    // pattern does not match would loop forever there.
    if !re.is_match(&pattern) || plain_text(&Value::String(pattern.clone())).is_none() {
        return Err(BuildError::Unsupported(format!(
            "uses a replacement that creates a list item its own pattern does not match: {part}"
        )));
    }
    let item = if key.is_empty() {
        Value::String(pattern.clone())
    } else {
        serde_json::json!({ key.clone(): pattern })
    };
    items.push(item);
    match_in_items(items, &key, &re, rest, create, set)
}

fn match_in_items(
    items: &mut [Value],
    key: &str,
    re: &Regex,
    rest: &[String],
    create: Option<Create>,
    set: &mut Setter<'_>,
) -> Result<usize, BuildError> {
    let mut n = 0;
    for item in items {
        let field = if key.is_empty() {
            Some(&*item)
        } else {
            item.as_object().and_then(|m| m.get(key))
        };
        let Some(field) = field else { continue };
        let Some(text) = plain_text(field) else {
            return Err(BuildError::Unsupported(
                "uses a replacement path matching list items whose YAML text it cannot tell".into(),
            ));
        };
        if !re.is_match(&text) {
            continue;
        }
        // kyaml matches a list of scalars by the item itself and stops there.
        n += if key.is_empty() {
            set(item, false).map(|()| 1)?
        } else {
            match_mut(item, rest, create, false, set)?
        };
    }
    Ok(n)
}

/// The text kyaml matches a list item's field against (its YAML, trimmed), where a JSON value
/// can tell it: integers, booleans, and strings YAML writes unquoted.
fn plain_text(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::String(s) => {
            let simple = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./@+-".contains(c));
            let reads_back = safe_yaml::documents(s).0.first() == Some(&Value::String(s.clone()));
            (simple && reads_back).then(|| s.clone())
        }
        _ => None,
    }
}

/// kustomize's `setFieldValue`: the value (spliced into the field's text with a delimiter) lands
/// in the field.
fn set_field(options: Option<&FieldOptions>, node: &mut Value, created: bool, value: &Val) -> Result<(), BuildError> {
    let (mut text, tag) = match value {
        Val::Scalar(t, tag) => (t.clone(), Some(*tag)),
        // A map's or list's text is empty to kyaml.
        Val::Node(_) => (String::new(), None),
    };
    // A field created for a scalar value is a scalar without a type yet.
    let created_scalar = created && matches!(value, Val::Scalar(..));
    let scalar_target = created_scalar || (!created && !matches!(node, Value::Object(_) | Value::Array(_)));
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        if !scalar_target {
            return Err(BuildError::Invalid(
                "delimiter option can only be used with scalar nodes".into(),
            ));
        }
        let current = if created_scalar {
            String::new()
        } else {
            scalar_text(node)?.0
        };
        let mut parts: Vec<String> = current.split(o.delimiter.as_str()).map(str::to_string).collect();
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, text),
            Ok(i) if i >= parts.len() => parts.push(text),
            Ok(i) => parts[i] = text,
        }
        text = parts.join(&o.delimiter);
    }
    *node = if created_scalar {
        read_plain(&text)
    } else if scalar_target {
        typed(node, &text)?
    } else {
        match (value, tag) {
            (Val::Node(v), _) => v.clone(),
            (_, Some(tag)) => tagged(tag, &text)?,
            (_, None) => Value::String(text),
        }
    };
    Ok(())
}

/// A scalar field given `text`: it keeps its type.
fn typed(node: &Value, text: &str) -> Result<Value, BuildError> {
    match node {
        Value::String(_) => Ok(Value::String(text.to_string())),
        Value::Number(n) if n.is_i64() || n.is_u64() => tagged(Tag::Int, text),
        Value::Bool(_) => tagged(Tag::Bool, text),
        _ => Err(BuildError::Unsupported(
            "uses a replacement into a float or null field".into(),
        )),
    }
}

/// `text` as a scalar of type `tag` (kustomize writes it with that tag; text that is not one is
/// written with an explicit tag the renderer does not model).
fn tagged(tag: Tag, text: &str) -> Result<Value, BuildError> {
    let unsupported = || {
        BuildError::Unsupported(format!(
            "uses a replacement whose text {text:?} does not fit the field's type"
        ))
    };
    match tag {
        Tag::Str => Ok(Value::String(text.to_string())),
        Tag::Int => {
            if !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                return Err(unsupported());
            }
            text.parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<u64>().map(Value::from))
                .map_err(|_| unsupported())
        }
        Tag::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(unsupported()),
        },
    }
}

/// How YAML reads `text` written without quotes (as kustomize writes a created field's value
/// when it can): a number, boolean or null where the text is one, else the string. Text that
/// cannot be written without quotes stays a string.
fn read_plain(text: &str) -> Value {
    let needs_quotes = text.is_empty()
        || text.trim() != text
        || text.contains(['\n', '#', '"', '\'', '\t'])
        || text.contains(": ")
        || text.ends_with(':')
        || text.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '%', '@', '`',
        ]);
    if needs_quotes {
        return Value::String(text.to_string());
    }
    match safe_yaml::documents(text).0.as_slice() {
        [v @ (Value::Number(_) | Value::Bool(_) | Value::Null)] => v.clone(),
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths_as_kyaml_does() {
        let cases: &[(&str, &[&str])] = &[
            ("metadata.name", &["metadata", "name"]),
            (".metadata.name", &["metadata", "name"]),
            (
                "metadata.annotations.[cert-manager.io/inject-ca-from]",
                &["metadata", "annotations", "cert-manager.io/inject-ca-from"],
            ),
            ("metadata.annotations.[plain]", &["metadata", "annotations", "[plain]"]),
            (
                "spec.containers.[name=app.v1].image",
                &["spec", "containers", "[name=app.v1]", "image"],
            ),
            ("metadata.labels.a\\.b/c", &["metadata", "labels", "a.b/c"]),
            ("spec.dnsNames.0", &["spec", "dnsNames", "0"]),
        ];
        for (path, want) in cases {
            assert_eq!(split_path(path), want.to_vec(), "{path}");
        }
    }

    #[test]
    fn a_created_field_reads_its_text_as_yaml() {
        assert_eq!(read_plain("3"), Value::from(3));
        assert_eq!(read_plain("true"), Value::Bool(true));
        assert_eq!(read_plain("abc"), Value::from("abc"));
        assert_eq!(read_plain("a: b"), Value::from("a: b"));
        assert_eq!(read_plain(""), Value::from(""));
        assert_eq!(read_plain("svc.ns.svc"), Value::from("svc.ns.svc"));
    }

    #[test]
    fn a_scalar_field_keeps_its_type() {
        assert_eq!(typed(&Value::from("x"), "3"), Ok(Value::from("3")));
        assert_eq!(typed(&Value::from(1), "4"), Ok(Value::from(4)));
        assert_eq!(typed(&Value::Bool(false), "true"), Ok(Value::Bool(true)));
        assert!(matches!(typed(&Value::from(1), "abc"), Err(BuildError::Unsupported(_))));
        assert!(matches!(typed(&Value::Null, "abc"), Err(BuildError::Unsupported(_))));
    }
}
