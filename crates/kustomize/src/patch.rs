//! Patches, as kustomize's builtin transformers apply them: `patches` (PatchTransformer: a
//! strategic merge or JSON 6902 patch, inline or from a file, with an optional target
//! selector), the legacy `patchesStrategicMerge` (PatchStrategicMergeTransformer) and
//! `patchesJson6902` (PatchJson6902Transformer). The same entry points serve `transformers:`
//! entries that configure these builtins.
//!
//! What is matched (each checked with `kubectl kustomize` v5.5.0):
//! - A patch's text is JSON 6902 when its first document is a list (or the text starts with
//!   `[`), otherwise strategic merge; a strategic merge patch may hold several documents, each
//!   needing `kind` and `metadata.name`.
//! - Without a target, a strategic merge patch applies to the one resource that has (or had,
//!   before a base's prefix, suffix or namespace) the patch's group, version, kind, name and
//!   namespace; none or several is kustomize's error. With a target it applies to every
//!   selected resource (none is not an error) and takes the target's apiVersion.
//! - The patched resource keeps its namespace always, and its name and kind unless the entry's
//!   `options.allowNameChange` / `allowKindChange` say otherwise (then the old id is remembered
//!   so references follow). `$patch: delete` at a patch's top removes the resource.
//! - JSON 6902 applies as kustomize's json-patch library (evanphx/json-patch v4) does, quirks
//!   included: `replace` of a missing object key adds it; `add` needs the parent to exist;
//!   negative array indices count from the end; `remove` of a missing key is an error. The
//!   parent of `/metadata/annotations/…` exists whenever kustomize keeps build annotations on
//!   the resource, which `patches` always does ([`Resource::has_build_annotations`]).

use serde_json::Value;

use super::kustomization::{Patch, Selector};
use super::resource::{ResId, ResMap, Resource};
use super::{BuildError, Ctx, smp, target};

/// `patchesStrategicMerge`: each entry a file path, or (kustomize's legacy reading, tried first)
/// the patch itself.
pub fn strategic_merge_legacy(
    ctx: &Ctx<'_>,
    dir: &str,
    entries: &[String],
    res: &mut ResMap,
) -> Result<(), BuildError> {
    strategic_merge_transformer(ctx, dir, entries, None, res)
}

/// `patches`: one PatchTransformer per entry, in order.
pub fn patches(ctx: &Ctx<'_>, dir: &str, entries: &[Patch], res: &mut ResMap) -> Result<(), BuildError> {
    // kustomize configures (loads and parses) every entry before applying any.
    let loaded = entries
        .iter()
        .map(|p| load_patch_transformer(ctx, dir, p))
        .collect::<Result<Vec<_>, _>>()?;
    for (entry, parsed) in entries.iter().zip(loaded) {
        apply_patch_transformer(entry, parsed, res)?;
    }
    Ok(())
}

/// `patchesJson6902`: one PatchJson6902Transformer per entry (`path` or inline `patch`).
pub fn json6902_legacy(ctx: &Ctx<'_>, dir: &str, entries: &[Patch], res: &mut ResMap) -> Result<(), BuildError> {
    // kustomize passes only target, path and patch to this transformer: `options` are ignored.
    let loaded = entries
        .iter()
        .map(|p| load_json6902(ctx, dir, p.target.as_ref(), p.path.as_deref(), p.patch.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    for (entry, ops) in entries.iter().zip(loaded) {
        apply_json6902_legacy(entry.target.as_ref(), &ops, res)?;
    }
    Ok(())
}

/// A `PatchTransformer` configured through `transformers:` (its `path`, `patch`, `target` and
/// `options` are a `patches` entry's).
pub fn patch_transformer(ctx: &Ctx<'_>, dir: &str, patch: &Patch, res: &mut ResMap) -> Result<(), BuildError> {
    let parsed = load_patch_transformer(ctx, dir, patch)?;
    apply_patch_transformer(patch, parsed, res)
}

/// A `PatchStrategicMergeTransformer` configured through `transformers:`: `paths` (each a file
/// path, or the patch itself as for `patchesStrategicMerge`) and `patches` (inline YAML, possibly
/// several documents). Every patch applies to the one resource with its id.
pub fn strategic_merge_transformer(
    ctx: &Ctx<'_>,
    dir: &str,
    paths: &[String],
    inline_patches: Option<&str>,
    res: &mut ResMap,
) -> Result<(), BuildError> {
    if paths.is_empty() && inline_patches.is_none_or(str::is_empty) {
        return Err(BuildError::Invalid("empty file path and empty patch content".into()));
    }
    let mut loaded = Vec::new();
    for path in paths {
        // As kustomize: the entry read as a patch first; failing that, as a file path.
        let docs = match sm_documents(path) {
            Ok(docs) => docs,
            Err(_) => {
                let text = ctx.read_in(dir, path)?;
                sm_documents(&text).map_err(|e| match e {
                    BuildError::Invalid(m) => BuildError::Invalid(format!("{path}: {m}")),
                    other => other,
                })?
            }
        };
        loaded.extend(docs);
    }
    if let Some(text) = inline_patches.filter(|t| !t.is_empty()) {
        loaded.extend(sm_documents(text)?);
    }
    if loaded.is_empty() {
        return Err(BuildError::Invalid(format!(
            "patch appears to be empty; files={paths:?}, Patch={}",
            inline_patches.unwrap_or("")
        )));
    }
    for patch in &loaded {
        let i = unique_target(res, patch)?;
        apply_sm(res, &[i], patch, &Allow::default())?;
    }
    Ok(())
}

/// A `PatchJson6902Transformer` configured through `transformers:` (`target`, `path`, `jsonOp`).
pub fn json6902_transformer(
    ctx: &Ctx<'_>,
    dir: &str,
    target: Option<&Selector>,
    path: Option<&str>,
    json_op: Option<&str>,
    res: &mut ResMap,
) -> Result<(), BuildError> {
    let ops = load_json6902(ctx, dir, target, path, json_op)?;
    apply_json6902_legacy(target, &ops, res)
}

/// What a PatchTransformer's text turned out to be.
enum Parsed {
    /// Strategic merge patches, one per document (possibly none: then it does nothing).
    Strategic(Vec<Value>),
    /// JSON 6902 operations.
    Json(Vec<Value>),
}

#[derive(Default)]
struct Allow {
    name: bool,
    kind: bool,
}

/// The patch's text, from `patch` (trimmed, as kustomize does) or the file at `path`.
fn patch_text(ctx: &Ctx<'_>, dir: &str, p: &Patch) -> Result<(String, String), BuildError> {
    let inline = p.patch.as_deref().unwrap_or("").trim();
    let path = p.path.as_deref().unwrap_or("");
    match (inline.is_empty(), path.is_empty()) {
        (true, true) => Err(BuildError::Invalid("must specify one of patch and path".into())),
        (false, false) => Err(BuildError::Invalid(
            "patch and path can't be set at the same time".into(),
        )),
        (false, true) => Ok((inline.to_string(), format!("[patch: {inline:?}]"))),
        (true, false) => {
            let text = ctx.read_in(dir, path).map_err(|e| match e {
                BuildError::Invalid(m) => {
                    BuildError::Invalid(format!("failed to get the patch file from path({path}): {m}"))
                }
                other => other,
            })?;
            Ok((text, format!("[path: {path:?}]")))
        }
    }
}

fn load_patch_transformer(ctx: &Ctx<'_>, dir: &str, p: &Patch) -> Result<Parsed, BuildError> {
    let (text, source) = patch_text(ctx, dir, p)?;
    if let Some(ops) = json_ops(&text)? {
        return Ok(Parsed::Json(ops));
    }
    match sm_documents(&text) {
        Ok(docs) => Ok(Parsed::Strategic(docs)),
        Err(BuildError::Invalid(_)) => Err(BuildError::Invalid(format!(
            "unable to parse SM or JSON patch from {source}"
        ))),
        Err(e) => Err(e),
    }
}

fn apply_patch_transformer(entry: &Patch, parsed: Parsed, res: &mut ResMap) -> Result<(), BuildError> {
    let opts = entry.options.clone().unwrap_or_default();
    let allow = Allow {
        name: opts.allow_name_change,
        kind: opts.allow_kind_change,
    };
    match parsed {
        Parsed::Strategic(docs) => match &entry.target {
            Some(sel) => {
                if docs.len() > 1 {
                    return Err(BuildError::Invalid(
                        "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field"
                            .into(),
                    ));
                }
                let Some(patch) = docs.first() else { return Ok(()) };
                let selected = target::select(sel, res)?;
                apply_sm(res, &selected, patch, &allow)
            }
            None => {
                for patch in &docs {
                    let i = unique_target(res, patch)?;
                    apply_sm(res, &[i], patch, &allow)?;
                }
                Ok(())
            }
        },
        Parsed::Json(ops) => {
            let Some(sel) = &entry.target else {
                return Err(BuildError::Invalid("must specify a target for JSON patch".into()));
            };
            for i in target::select(sel, res)? {
                let r = &mut res.resources[i];
                let before = r.id();
                // kustomize stores the id (as build annotations) before the patch.
                r.bookkept = true;
                apply_ops_as_kustomize(r, &ops)?;
                // kustomize's PatchTransformer stores the previous id before a JSON patch, so
                // a renamed resource's references follow it.
                if !same_id(&r.id(), &before) {
                    r.previous.push(before);
                }
            }
            check_unique(res)
        }
    }
}

fn same_id(a: &ResId, b: &ResId) -> bool {
    a.kind == b.kind && a.name == b.name && a.namespace == b.namespace && a.group == b.group && a.version == b.version
}

fn check_unique(res: &ResMap) -> Result<(), BuildError> {
    for (i, r) in res.resources.iter().enumerate() {
        let id = r.id();
        if res.resources[..i].iter().any(|x| x.id().same_as(&id)) {
            return Err(BuildError::Invalid(format!(
                "may not add resource with an already registered id: {}",
                id.display()
            )));
        }
    }
    Ok(())
}

/// The text's JSON 6902 operations, when it is one (kustomize's jsonPatchFromBytes: JSON when it
/// starts with `[`, else the first YAML document). `None`: not a JSON patch.
fn json_ops(text: &str) -> Result<Option<Vec<Value>>, BuildError> {
    let first = if text.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => v,
            Err(e) => return Err(BuildError::Invalid(format!("unable to parse JSON patch: {e}"))),
        }
    } else {
        let (docs, err) = safe_yaml::documents(text);
        if docs.len() > 1 && docs[0].is_array() {
            // kustomize reads only the first document of a YAML JSON patch.
            return Err(BuildError::Unsupported(
                "uses a JSON patch with several YAML documents".into(),
            ));
        }
        match docs.into_iter().next() {
            Some(v) if err.is_none() => v,
            _ => return Ok(None),
        }
    };
    match first {
        Value::Array(ops) => {
            if ops.iter().any(|o| !o.is_object()) {
                return Err(BuildError::Invalid("a JSON patch operation is not an object".into()));
            }
            Ok(Some(ops))
        }
        _ => Ok(None),
    }
}

/// The documents of a strategic merge patch text, each an object with `kind` and
/// `metadata.name` (kustomize's resource factory); `Invalid` when it is not one.
fn sm_documents(text: &str) -> Result<Vec<Value>, BuildError> {
    let (docs, err) = safe_yaml::documents(text);
    if let Some(e) = err {
        return Err(BuildError::invalid(e));
    }
    for d in &docs {
        let Some(m) = d.as_object() else {
            return Err(BuildError::Invalid("a strategic merge patch is not a mapping".into()));
        };
        let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return Err(BuildError::Invalid("missing kind in a strategic merge patch".into()));
        }
        if kind.ends_with("List") {
            return Err(BuildError::Unsupported(format!("uses a {kind} as a patch")));
        }
        let name = d.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str);
        if name.is_none_or(str::is_empty) {
            return Err(BuildError::Invalid(
                "missing metadata.name in a strategic merge patch".into(),
            ));
        }
    }
    Ok(docs)
}

/// The ids kustomize's GetById compares: the resource's previous ids (with its current group
/// and version, as kustomize stores them) and its current one.
fn any_id_is(r: &Resource, id: &ResId) -> bool {
    let cur = r.id();
    cur.same_as(id)
        || r.previous.iter().any(|p| {
            ResId {
                group: cur.group.clone(),
                version: cur.version.clone(),
                ..p.clone()
            }
            .same_as(id)
        })
}

/// The position of the one resource with the patch's id (kustomize's GetById).
fn unique_target(res: &ResMap, patch: &Value) -> Result<usize, BuildError> {
    let id = super::resource::id_of(patch);
    let hits: Vec<usize> = res
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| any_id_is(r, &id))
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(BuildError::Invalid(format!(
            "no resource matches strategic merge patch \"{0}\": no matches for Id {0}; failed to find unique target for patch {0}",
            id.display()
        ))),
        _ => Err(BuildError::Invalid(format!(
            "no resource matches strategic merge patch \"{0}\": multiple matches for Id {0}; failed to find unique target for patch {0}",
            id.display()
        ))),
    }
}

fn set_str(obj: &mut Value, path: &[&str], value: Option<&str>) {
    let mut cur = obj;
    for p in &path[..path.len() - 1] {
        let m = cur.as_object_mut().expect("an object");
        let next = m.entry(*p).or_insert_with(|| Value::Object(Default::default()));
        if !next.is_object() {
            *next = Value::Object(Default::default());
        }
        cur = next;
    }
    let m = cur.as_object_mut().expect("an object");
    let last = path[path.len() - 1];
    match value {
        Some(v) => {
            m.insert(last.into(), Value::String(v.into()));
        }
        None => {
            m.remove(last);
        }
    }
}

/// kustomize's resmap ApplySmPatch: `patch` (given the target's apiVersion) merged into each
/// selected resource; the resource keeps its namespace, and its name and kind unless allowed;
/// a resource the patch deletes leaves the map.
fn apply_sm(res: &mut ResMap, selected: &[usize], patch: &Value, allow: &Allow) -> Result<(), BuildError> {
    let mut deleted = Vec::new();
    for &i in selected {
        let r = &mut res.resources[i];
        let before = r.id();
        if allow.name || allow.kind {
            // kustomize's ApplySmPatch stores the id first.
            r.bookkept = true;
        }
        let (name, namespace, kind) = (r.name().to_string(), r.namespace().to_string(), r.kind().to_string());
        let mut p = patch.clone();
        p.as_object_mut()
            .expect("patches are objects")
            .insert("apiVersion".into(), Value::String(r.api_version().into()));
        let Some(mut merged) = smp::merge(&r.obj, &p)? else {
            deleted.push(i);
            continue;
        };
        if !allow.kind {
            set_str(&mut merged, &["kind"], Some(&kind));
        }
        if !allow.name {
            set_str(&mut merged, &["metadata", "name"], Some(&name));
        }
        set_str(
            &mut merged,
            &["metadata", "namespace"],
            Some(namespace.as_str()).filter(|n| !n.is_empty()),
        );
        r.obj = merged;
        if !same_id(&r.id(), &before) {
            r.previous.push(before);
        }
    }
    let mut i = 0;
    res.resources.retain(|_| {
        i += 1;
        !deleted.contains(&(i - 1))
    });
    check_unique(res)
}

fn load_json6902(
    ctx: &Ctx<'_>,
    dir: &str,
    target: Option<&Selector>,
    path: Option<&str>,
    json_op: Option<&str>,
) -> Result<Vec<Value>, BuildError> {
    if target.and_then(|t| t.name.as_deref()).is_none_or(str::is_empty) {
        return Err(BuildError::Invalid("must specify the target name".into()));
    }
    let path = path.filter(|p| !p.is_empty());
    let json_op = json_op.filter(|p| !p.is_empty());
    let text = match (path, json_op) {
        (None, None) => return Err(BuildError::Invalid("empty file path and empty jsonOp".into())),
        (Some(_), Some(_)) => {
            return Err(BuildError::Invalid(
                "must specify a file path or jsonOp, not both".into(),
            ));
        }
        (None, Some(op)) => op.to_string(),
        (Some(p), None) => {
            let text = ctx.read_in(dir, p)?;
            if text.is_empty() {
                return Err(BuildError::Invalid(format!("patch file '{p}' empty seems to be empty")));
            }
            text
        }
    };
    match json_ops(&text)? {
        Some(ops) if !ops.is_empty() => Ok(ops),
        Some(_) => Err(BuildError::Invalid("patch appears to be empty".into())),
        None => Err(BuildError::Invalid(format!(
            "decoding {text}: not a list of JSON patch operations"
        ))),
    }
}

fn apply_json6902_legacy(target: Option<&Selector>, ops: &[Value], res: &mut ResMap) -> Result<(), BuildError> {
    let Some(sel) = target else {
        return Err(BuildError::Invalid("must specify a target for patch".into()));
    };
    for i in target::select(sel, res)? {
        let r = &mut res.resources[i];
        let before = r.id();
        apply_ops_as_kustomize(r, ops)?;
        if !same_id(&r.id(), &before) {
            // kustomize's PatchJson6902Transformer does not record the old id, so references to
            // it are not updated: a different model from this renderer's, left to kustomize.
            return Err(BuildError::Unsupported(
                "uses patchesJson6902 to change a name, namespace or kind".into(),
            ));
        }
    }
    Ok(())
}

/// JSON 6902 operations on a resource as kustomize applies them: to the resource as kustomize
/// holds it, whose `metadata.annotations` also carries kustomize's build annotations once it has
/// any ([`Resource::has_build_annotations`]). So `add /metadata/annotations/x` works on such a
/// resource even where its file has no annotations, and fails on one without (kustomize v5.5.0,
/// json-patch v4.12.0 `Apply` without options: an `add` needs its parent; checked). kustomize
/// puts its build annotations back after the patch and drops them at the end, with the map if
/// nothing else is left ([`finish_annotations`]).
fn apply_ops_as_kustomize(r: &mut Resource, ops: &[Value]) -> Result<(), BuildError> {
    if r.has_build_annotations() {
        for op in ops {
            let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
            let read = match kind {
                "test" => op.get("path"),
                "copy" | "move" => op.get("from"),
                _ => None,
            };
            // Reading the whole map (or what holds it) would see kustomize's own entries.
            if matches!(
                read.and_then(Value::as_str),
                Some("" | "/metadata" | "/metadata/annotations")
            ) {
                return Err(json_unsupported(&format!(
                    "{kind} of metadata annotations holding kustomize's build annotations"
                )));
            }
        }
        let meta = r.metadata_mut();
        let annotations = meta.entry("annotations").or_insert(Value::Null);
        if annotations.is_null() {
            *annotations = Value::Object(serde_json::Map::new());
        }
    }
    apply_ops(&mut r.obj, ops)
}

/// What kustomize does to every resource's `metadata.annotations` at the end of a build
/// (`RemoveOriginAnnotations`: read as a string map, written back): an empty or null map is
/// dropped, and every value becomes its YAML text (`1` → `"1"`, `true` → `"true"`, a list or
/// map → `""`). A JSON value no longer has the text of a null or a float (`~`, `1.50`): those
/// are left to kustomize; integers and booleans are taken as written in their plain form.
pub fn finish_annotations(res: &mut ResMap) -> Result<(), BuildError> {
    for r in &mut res.resources {
        let Some(meta) = r.obj.get_mut("metadata").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(annotations) = meta.get_mut("annotations") else {
            continue;
        };
        let map = match annotations {
            Value::Null => {
                meta.remove("annotations");
                continue;
            }
            Value::Object(map) => map,
            _ => {
                return Err(BuildError::Unsupported(
                    "uses metadata.annotations that is not a map".into(),
                ));
            }
        };
        for v in map.values_mut() {
            let text = match &*v {
                Value::String(_) => continue,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                Value::Array(_) | Value::Object(_) => String::new(),
                Value::Null | Value::Number(_) => {
                    return Err(BuildError::Unsupported(
                        "uses an annotation whose value is null or a float".into(),
                    ));
                }
            };
            *v = Value::String(text);
        }
        if map.is_empty() {
            meta.remove("annotations");
        }
    }
    Ok(())
}

// ---- JSON 6902, as evanphx/json-patch v4 (kustomize's) applies it ----

fn invalid(msg: String) -> BuildError {
    BuildError::Invalid(msg)
}

fn json_unsupported(what: &str) -> BuildError {
    BuildError::Unsupported(format!("uses a JSON patch {what}"))
}

/// RFC 6901 unescaping, left to right as Go's strings.Replacer does (`~1` is `/`, `~0` is `~`).
fn decode_key(k: &str) -> String {
    let mut out = String::new();
    let mut chars = k.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    out.push('/');
                    chars.next();
                    continue;
                }
                Some('0') => {
                    out.push('~');
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// Go's strconv.Atoi.
fn atoi(key: &str) -> Option<i64> {
    if key.is_empty() || key.starts_with(['+', '-']) && key.len() == 1 {
        return None;
    }
    key.parse::<i64>().ok()
}

/// An array index as json-patch v4 reads it for get, set and remove: negative counts from the
/// end; out of range is an error.
fn index(key: &str, len: usize, path: &str) -> Result<usize, BuildError> {
    let idx = atoi(key).ok_or_else(|| invalid(format!("value was not a proper array index: '{key}' in {path}")))?;
    let len = len as i64;
    let idx = if idx < 0 { idx + len } else { idx };
    if idx < 0 || idx >= len {
        return Err(invalid(format!("Unable to access invalid index: {key}: in {path}")));
    }
    Ok(idx as usize)
}

/// json-patch's findObject: the container holding the path's last segment, and that segment.
fn find<'a>(doc: &'a mut Value, path: &str) -> Result<Option<(&'a mut Value, String)>, BuildError> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return Ok(None);
    }
    if !split[0].is_empty() {
        // json-patch ignores whatever precedes the first `/`.
        return Err(json_unsupported(&format!("path without a leading /: {path}")));
    }
    let mut cur = doc;
    for part in &split[1..split.len() - 1] {
        let key = decode_key(part);
        let next = match cur {
            Value::Object(m) => m.get_mut(&key),
            Value::Array(a) => match index(&key, a.len(), path) {
                Ok(i) => a.get_mut(i),
                Err(_) => None,
            },
            _ => None,
        };
        match next {
            Some(Value::Null) => return Err(json_unsupported(&format!("path through a null: {path}"))),
            Some(v @ (Value::Object(_) | Value::Array(_))) => cur = v,
            _ => return Ok(None),
        }
    }
    Ok(Some((cur, decode_key(split[split.len() - 1]))))
}

fn get(con: &Value, key: &str, path: &str) -> Result<Option<Value>, BuildError> {
    match con {
        // A missing object key is no error here, only a missing value.
        Value::Object(m) => Ok(m.get(key).cloned()),
        Value::Array(a) => Ok(Some(a[index(key, a.len(), path)?].clone())),
        _ => Ok(None),
    }
}

fn add(con: &mut Value, key: &str, val: Value, path: &str) -> Result<(), BuildError> {
    match con {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(val);
                return Ok(());
            }
            let idx = atoi(key).ok_or_else(|| invalid(format!("value was not a proper array index: '{key}'")))?;
            let size = a.len() as i64 + 1;
            let idx = if idx < 0 { idx + size } else { idx };
            if idx < 0 || idx >= size {
                return Err(invalid(format!(
                    "error in add for path: '{path}': Unable to access invalid index: {key}"
                )));
            }
            a.insert(idx as usize, val);
            Ok(())
        }
        _ => Err(invalid(format!(
            "add operation does not apply: doc is missing path: \"{path}\""
        ))),
    }
}

fn remove(con: &mut Value, key: &str, path: &str) -> Result<(), BuildError> {
    match con {
        Value::Object(m) => match m.remove(key) {
            Some(_) => Ok(()),
            None => Err(invalid(format!(
                "error in remove for path: '{path}': Unable to remove nonexistent key: {key}: missing value"
            ))),
        },
        Value::Array(a) => {
            let i = index(key, a.len(), path)?;
            a.remove(i);
            Ok(())
        }
        _ => Err(invalid(format!(
            "remove operation does not apply: doc is missing path: \"{path}\""
        ))),
    }
}

fn str_field<'a>(op: &'a Value, field: &str, kind: &str) -> Result<&'a str, BuildError> {
    match op.get(field) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(invalid(format!("{kind} operation missing {field} field"))),
    }
}

/// Applies JSON 6902 operations to `doc`, stopping at the first that fails (kustomize's error).
pub fn apply_ops(doc: &mut Value, ops: &[Value]) -> Result<(), BuildError> {
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("unknown");
        let value = || match op.get("value") {
            None | Some(Value::Null) => Err(json_unsupported(&format!("{kind} without a value"))),
            Some(v) => Ok(v.clone()),
        };
        let missing = |path: &str| {
            invalid(format!(
                "{kind} operation does not apply: doc is missing path: \"{path}\""
            ))
        };
        match kind {
            "add" | "replace" | "remove" | "test" | "move" | "copy" => {}
            other => return Err(invalid(format!("Unexpected kind: {other}"))),
        }
        let path = str_field(op, "path", kind)?;
        if path.is_empty() {
            return Err(json_unsupported(&format!("{kind} of the whole document")));
        }
        match kind {
            "add" => {
                let v = value()?;
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                add(con, &key, v, path)?;
            }
            "remove" => {
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                remove(con, &key, path)?;
            }
            "replace" => {
                let v = value()?;
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                // json-patch v4 checks only that an array index exists: a missing object key
                // is added (checked with kubectl).
                get(con, &key, path)?;
                match con {
                    Value::Object(m) => {
                        m.insert(key, v);
                    }
                    Value::Array(a) => {
                        let i = index(&key, a.len(), path)?;
                        a[i] = v;
                    }
                    _ => return Err(missing(path)),
                }
            }
            "test" => {
                let want = value()?;
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                if get(con, &key, path)?.as_ref() != Some(&want) {
                    return Err(invalid(format!("testing value {path} failed: test failed")));
                }
            }
            "move" | "copy" => {
                let from = str_field(op, "from", kind)?;
                if from.is_empty() {
                    return Err(json_unsupported(&format!("{kind} from the whole document")));
                }
                let (con, key) = find(doc, from)?.ok_or_else(|| missing(from))?;
                let Some(v) = get(con, &key, from)? else {
                    return Err(json_unsupported(&format!("{kind} from a missing key")));
                };
                if kind == "move" {
                    remove(con, &key, from)?;
                }
                let (con, key) = find(doc, path)?.ok_or_else(|| missing(path))?;
                add(con, &key, v, path)?;
            }
            _ => unreachable!("checked above"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::files::{Files, Kind, ReadError};
    use crate::kustomization::Kustomization;

    /// A kustomization directory in memory.
    struct Mem(BTreeMap<String, String>);

    impl Files for Mem {
        fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
            self.0
                .get(path)
                .map(|s| s.clone().into_bytes())
                .ok_or_else(|| ReadError::new(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")))
        }
        fn kind(&self, path: &str) -> Option<Kind> {
            self.0.contains_key(path).then_some(Kind::File)
        }
        fn identity(&self, path: &str) -> Option<String> {
            self.0.get(path).map(|s| s.len().to_string())
        }
    }

    /// The resources every case patches.
    const RESOURCES: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: fe}
  annotations: {team: a}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a:1}
      - {name: b, image: b:1}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: data
  labels: {app: db}
spec:
  template:
    spec:
      containers:
      - {name: db, image: pg:1}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data: {k: v}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
"#;

    /// (case, kustomization, other files, what kustomize renders or `None` for its error).
    /// Expected values are `kubectl kustomize` (v5.5.0) output for the kustomization with
    /// `RESOURCES` as `res.yaml`, converted to JSON and sorted by kind, namespace and name.
    /// `orig_name` builds `RESOURCES` in a base with `namePrefix: b-`.
    #[allow(clippy::type_complexity)]
    const CASES: &[(&str, &str, &[(&str, &str)], Option<&str>)] = &[
        (
            "json_missing_parent",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment}
  patch: |
    - {op: add, path: /spec/nope/x, value: 1}
"#,
            &[],
            None,
        ),
        (
            "json_negative_index",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment}
  patch: |-
    [{"op": "add", "path": "/spec/template/spec/containers/-1", "value": {"name": "n", "image": "n:1"}},
     {"op": "remove", "path": "/spec/template/spec/containers/-1"}]
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "json_no_target",
            r#"resources: [res.yaml]
patches:
- patch: |
    - {op: add, path: /spec/replicas, value: 3}
"#,
            &[],
            None,
        ),
        (
            "json_ops",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment}
  patch: |
    - {op: add, path: /spec/replicas, value: 3}
    - {op: replace, path: /spec/template/spec/containers/0/image, value: a:2}
    - {op: add, path: /spec/template/spec/containers/-, value: {name: c, image: c:1}}
    - {op: add, path: /spec/template/spec/containers/0, value: {name: first, image: f:1}}
    - {op: add, path: /metadata/annotations/example.com~1owner, value: me}
    - {op: test, path: /metadata/labels/app, value: web}
    - {op: remove, path: /metadata/labels/tier}
    - {op: copy, from: /metadata/labels/app, path: /metadata/labels/copied}
    - {op: move, from: /metadata/annotations/team, path: /metadata/annotations/moved}
    - {op: replace, path: /spec/paused, value: true}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"example.com/owner":"me","moved":"a"},"labels":{"app":"web","copied":"web"},"name":"web"},"spec":{"paused":true,"replicas":3,"template":{"spec":{"containers":[{"image":"f:1","name":"first"},{"image":"a:2","name":"a"},{"image":"b:1","name":"b"},{"image":"c:1","name":"c"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "json_remove_missing",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment}
  patch: |
    - {op: remove, path: /spec/nope}
"#,
            &[],
            None,
        ),
        (
            "json_test_fails",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment}
  patch: |
    - {op: test, path: /metadata/name, value: other}
"#,
            &[],
            None,
        ),
        (
            "legacy",
            r#"resources: [res.yaml]
patchesStrategicMerge:
- psm.yaml
- |
  apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db, namespace: data}
  spec: {replicas: 7}
patchesJson6902:
- target: {version: v1, kind: ConfigMap, name: web-.*}
  path: ops.yaml
- target: {group: apps, version: v1, kind: Deployment, name: web}
  patch: '[{"op": "add", "path": "/spec/replicas", "value": 2}]'
"#,
            &[
                (
                    "ops.yaml",
                    r#"- op: replace
  path: /data/k
  value: from-file
"#,
                ),
                (
                    "psm.yaml",
                    r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - {name: b, image: b:9}
"#,
                ),
            ],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"from-file"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"template":{"spec":{"containers":[{"image":"b:9","name":"b"},{"image":"a:1","name":"a"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"replicas":7,"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "orig_name",
            r#"resources: [base]
patches:
- target: {name: web}
  patch: |
    - {op: add, path: /spec/replicas, value: 5}
- patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config}
    data: {k: patched}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"b-reader"}},{"apiVersion":"v1","data":{"k":"patched"},"kind":"ConfigMap","metadata":{"name":"b-web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"b-web"},"spec":{"replicas":5,"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"b-db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_annotations",
            r#"resources: [res.yaml]
patches:
- target: {annotationSelector: 'team==a'}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_group",
            r#"resources: [res.yaml]
patches:
- target: {group: apps, version: v1}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_kind_regex",
            r#"resources: [res.yaml]
patches:
- target: {kind: 'Deploy.*|Stateful.*'}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_labels",
            r#"resources: [res.yaml]
patches:
- target: {labelSelector: 'app in (web,db),tier!=be'}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_labels_exists",
            r#"resources: [res.yaml]
patches:
- target: {labelSelector: 'tier'}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_labels_notin",
            r#"resources: [res.yaml]
patches:
- target: {labelSelector: 'app notin (web), !tier'}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"annotations":{"hit":"yes"},"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"annotations":{"hit":"yes"},"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_name_anchored",
            r#"resources: [res.yaml]
patches:
- target: {name: web}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_name_regex",
            r#"resources: [res.yaml]
patches:
- target: {name: 'web.*'}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"annotations":{"hit":"yes"},"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_none",
            r#"resources: [res.yaml]
patches:
- target: {name: nothing}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_ns_cluster",
            r#"resources: [res.yaml]
patches:
- target: {namespace: 'd.*'}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"annotations":{"hit":"yes"},"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sel_ns_default",
            r#"resources: [res.yaml]
patches:
- target: {namespace: default}
  patch: |
    - {op: add, path: /metadata/annotations, value: {hit: "yes"}}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"annotations":{"hit":"yes"},"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"hit":"yes"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sm_delete",
            r#"resources: [res.yaml]
patches:
- patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config}
    $patch: delete
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sm_no_name",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment}
  patch: |
    apiVersion: apps/v1
    kind: Deployment
    spec: {replicas: 2}
"#,
            &[],
            None,
        ),
        (
            "sm_no_target_missing",
            r#"resources: [res.yaml]
patches:
- patch: |
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db}
    spec: {replicas: 2}
"#,
            &[],
            None,
        ),
        (
            "sm_no_target_ns",
            r#"resources: [res.yaml]
patches:
- patch: |
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db, namespace: data}
    spec: {replicas: 2}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"replicas":2,"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sm_rename",
            r#"resources: [res.yaml]
patches:
- target: {kind: ConfigMap}
  options: {allowNameChange: true}
  patch: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: renamed}
    data: {k2: v2}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v","k2":"v2"},"kind":"ConfigMap","metadata":{"name":"renamed"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sm_target_many",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment|StatefulSet}
  patch: |
    apiVersion: apps/v1
    kind: Whatever
    metadata: {name: any, namespace: elsewhere}
    spec: {replicas: 4}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":4,"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"replicas":4,"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sm_two_docs",
            r#"resources: [res.yaml]
patches:
- patch: |
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec: {replicas: 2}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config}
    data: {k: v2}
"#,
            &[],
            Some(
                r#"[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader"}},{"apiVersion":"v1","data":{"k":"v2"},"kind":"ConfigMap","metadata":{"name":"web-config"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"team":"a"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"template":{"spec":{"containers":[{"image":"a:1","name":"a"},{"image":"b:1","name":"b"}]}}}},{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"app":"db"},"name":"db","namespace":"data"},"spec":{"template":{"spec":{"containers":[{"image":"pg:1","name":"db"}]}}}}]"#,
            ),
        ),
        (
            "sm_two_docs_target",
            r#"resources: [res.yaml]
patches:
- target: {kind: Deployment}
  patch: |
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec: {replicas: 2}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config}
"#,
            &[],
            None,
        ),
    ];

    fn sort_key(v: &Value) -> (String, String, String) {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        (s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
    }

    fn run(case: &str, kustomization: &str, files: &[(&str, &str)]) -> Result<Vec<Value>, BuildError> {
        let mem = Mem(files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect());
        let ctx = Ctx::new(&mem);
        let k = Kustomization::parse("kustomization.yaml", kustomization)?;
        let mut res = ResMap::default();
        for doc in safe_yaml::documents(RESOURCES).0 {
            let mut r = Resource::new(doc);
            if case == "orig_name" {
                let name = format!("b-{}", r.name());
                r.set_name(&name);
            }
            res.append(r)?;
        }
        // kusttarget's order.
        if let Some(p) = &k.patches_strategic_merge {
            strategic_merge_legacy(&ctx, "", p, &mut res)?;
        }
        if let Some(p) = &k.patches {
            patches(&ctx, "", p, &mut res)?;
        }
        if let Some(p) = &k.patches_json6902 {
            json6902_legacy(&ctx, "", p, &mut res)?;
        }
        let mut docs: Vec<Value> = res.resources.into_iter().map(|r| r.obj).collect();
        docs.sort_by_key(sort_key);
        Ok(docs)
    }

    #[test]
    fn patches_as_kustomize_does() {
        for (case, kustomization, files, expected) in CASES {
            let got = run(case, kustomization, files);
            match expected {
                Some(want) => {
                    let want: Value = serde_json::from_str(want).expect("expected JSON");
                    let got = got.unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert_eq!(Value::Array(got), want, "{case}");
                }
                None => assert!(matches!(got, Err(BuildError::Invalid(_))), "{case}: {got:?}"),
            }
        }
    }

    #[test]
    fn a_name_change_is_remembered_so_references_follow() {
        let mem = Mem(BTreeMap::new());
        let ctx = Ctx::new(&mem);
        let mut res = ResMap::default();
        for doc in safe_yaml::documents(RESOURCES).0 {
            res.append(Resource::new(doc)).expect("distinct ids");
        }
        let k = Kustomization::parse(
            "kustomization.yaml",
            "patches:\n- target: {kind: ConfigMap}\n  options: {allowNameChange: true}\n  patch: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: renamed}\n",
        )
        .expect("parses");
        patches(&ctx, "", k.patches.as_deref().expect("patches"), &mut res).expect("applies");
        let cm = res.resources.iter().find(|r| r.kind() == "ConfigMap").expect("kept");
        assert_eq!(cm.name(), "renamed");
        assert_eq!(cm.previous.first().map(|p| p.name.as_str()), Some("web-config"));
    }

    #[test]
    fn json_patch_quirks_left_to_kustomize() {
        let cases = [
            (
                "path without a leading slash",
                r#"[{"op": "add", "path": "spec/x", "value": 1}]"#,
            ),
            ("add without a value", r#"[{"op": "add", "path": "/spec/x"}]"#),
            (
                "copy from a missing key",
                r#"[{"op": "copy", "from": "/spec/nope", "path": "/spec/x"}]"#,
            ),
        ];
        for (case, ops) in cases {
            let ops: Vec<Value> = serde_json::from_str(ops).expect("JSON");
            let mut doc = serde_json::json!({"spec": {}});
            assert!(
                matches!(apply_ops(&mut doc, &ops), Err(BuildError::Unsupported(_))),
                "{case}"
            );
        }
    }

    #[test]
    fn a_patch_file_outside_the_kustomization_is_refused() {
        let mem = Mem(BTreeMap::from([("other/p.yaml".to_string(), "[]".to_string())]));
        let ctx = Ctx::new(&mem);
        let p = Patch {
            path: Some("../other/p.yaml".into()),
            ..Patch::default()
        };
        let got = patches(&ctx, "app", &[p], &mut ResMap::default());
        assert!(matches!(got, Err(BuildError::Invalid(m)) if m.contains("security")));
    }
}
