//! Where one module refers to another: `use` trees (grouped, renamed, globbed) and paths in
//! code (`crate::a::f()`, `super::b::T`, `self::c`, and names a `use` bound to a module),
//! resolved to absolute module paths. Test-only code has already been removed by `lex`.

use std::collections::{BTreeMap, BTreeSet};

use crate::lex::{Token, skip_group};

/// An absolute module path (`["app", "cli"]`); the crate root is empty.
pub type ModPath = Vec<String>;

/// One reference found in a file: from which module (the file's, or an inline `mod` in it), to
/// which absolute path (module, maybe followed by an item), on which line, as written.
#[derive(Debug, Clone)]
pub struct Reference {
    pub from: ModPath,
    pub to: Vec<String>,
    pub line: usize,
    pub written: String,
}

/// The inline modules (`mod x { … }`) of a file: for each token, the module it sits in.
pub struct Scopes {
    pub modules: Vec<ModPath>,
    of_token: Vec<usize>,
}

/// Assigns each token of a file whose module is `file_module` to its (inline) module.
pub fn scopes(tokens: &[Token], file_module: &[String]) -> Scopes {
    let mut modules = vec![file_module.to_vec()];
    let mut of_token = Vec::with_capacity(tokens.len());
    // (scope index, brace depth at which that inline module's body closes)
    let mut stack: Vec<(usize, usize)> = vec![(0, usize::MAX)];
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        let current = stack.last().map_or(0, |s| s.0);
        if token.is("{") {
            depth += 1;
            if i >= 2 && tokens[i - 2].is("mod") && tokens[i - 1].is_ident() {
                let mut path = modules[current].clone();
                path.push(tokens[i - 1].text.clone());
                modules.push(path);
                stack.push((modules.len() - 1, depth));
            }
        } else if token.is("}") {
            if stack.last().is_some_and(|s| s.1 == depth) {
                stack.pop();
            }
            depth = depth.saturating_sub(1);
        }
        of_token.push(stack.last().map_or(0, |s| s.0));
    }
    Scopes { modules, of_token }
}

impl Scopes {
    fn module_at(&self, token: usize) -> &ModPath {
        &self.modules[self.of_token[token]]
    }
}

/// One path a `use` tree names, with the name it binds (`None` for a glob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsePath {
    pub segments: Vec<String>,
    pub binds: Option<String>,
    pub line: usize,
}

/// Expands the `use` tree that starts after the `use` keyword at `at`; returns the paths and
/// the index past the closing `;`.
pub fn parse_use(tokens: &[Token], at: usize) -> (Vec<UsePath>, usize) {
    let mut pos = at + 1;
    let mut out = Vec::new();
    parse_tree(tokens, &mut pos, &[], &mut out);
    while pos < tokens.len() && !tokens[pos].is(";") {
        pos += 1;
    }
    (out, pos + 1)
}

fn parse_tree(tokens: &[Token], pos: &mut usize, prefix: &[String], out: &mut Vec<UsePath>) {
    let mut segments = prefix.to_vec();
    while let Some(token) = tokens.get(*pos) {
        if token.is("::") {
            *pos += 1;
        } else if token.is("{") {
            *pos += 1;
            parse_group(tokens, pos, &segments, out);
            return;
        } else if token.is("*") {
            *pos += 1;
            out.push(UsePath {
                segments,
                binds: None,
                line: token.line,
            });
            return;
        } else if token.is_ident() {
            segments.push(token.text.clone());
            *pos += 1;
            if !tokens.get(*pos).is_some_and(|t| t.is("::")) {
                finish_simple(tokens, pos, segments, token.line, out);
                return;
            }
        } else {
            return;
        }
    }
}

fn parse_group(tokens: &[Token], pos: &mut usize, prefix: &[String], out: &mut Vec<UsePath>) {
    while let Some(token) = tokens.get(*pos) {
        if token.is("}") {
            *pos += 1;
            return;
        }
        if token.is(",") {
            *pos += 1;
            continue;
        }
        let before = *pos;
        parse_tree(tokens, pos, prefix, out);
        if *pos == before {
            *pos += 1;
        }
    }
}

/// `a::b`, `a::b as c`, `a::{self}`: the path and the name it binds.
fn finish_simple(tokens: &[Token], pos: &mut usize, mut segments: Vec<String>, line: usize, out: &mut Vec<UsePath>) {
    if segments.len() > 1 && segments.last().is_some_and(|s| s == "self") {
        segments.pop();
    }
    let mut binds = segments.last().cloned();
    if tokens.get(*pos).is_some_and(|t| t.is("as")) {
        binds = tokens.get(*pos + 1).map(|t| t.text.clone()).filter(|name| name != "_");
        *pos += 2;
    }
    out.push(UsePath { segments, binds, line });
}

/// What a module's `use`s put in scope: names bound to modules, and modules glob-imported.
#[derive(Debug, Default)]
struct Imports {
    modules: BTreeMap<String, ModPath>,
    globs: Vec<ModPath>,
}

/// Resolves `segments` written in module `from` to an absolute path, or `None` when it leaves
/// the crate (`std::…`, another crate) or climbs above the root.
fn resolve(
    from: &[String],
    segments: &[String],
    imports: Option<&Imports>,
    known: &BTreeSet<ModPath>,
) -> Option<Vec<String>> {
    let first = segments.first()?.as_str();
    let (base, rest): (Vec<String>, &[String]) = match first {
        "crate" => (Vec::new(), &segments[1..]),
        "self" | "super" => {
            let rest = segments.strip_prefix(&["self".to_string()][..]).unwrap_or(segments);
            let ups = rest.iter().take_while(|s| *s == "super").count();
            (from[..from.len().checked_sub(ups)?].to_vec(), &rest[ups..])
        }
        name => {
            let child = [from, &[name.to_string()][..]].concat();
            if known.contains(&child) {
                (from.to_vec(), segments)
            } else if let Some(module) = imports.and_then(|i| i.modules.get(name)) {
                (module.clone(), &segments[1..])
            } else {
                let glob = imports?
                    .globs
                    .iter()
                    .find(|g| known.contains(&[g.as_slice(), &segments[..1]].concat()))?;
                (glob.clone(), segments)
            }
        }
    };
    Some([base, rest.to_vec()].concat())
}

/// Every reference from the non-test `tokens` of a file whose module is `file_module`.
pub fn references(tokens: &[Token], file_module: &[String], known: &BTreeSet<ModPath>) -> Vec<Reference> {
    let scopes = scopes(tokens, file_module);
    let mut imports: BTreeMap<ModPath, Imports> = BTreeMap::new();
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !tokens[i].is("use") {
            i += 1;
            continue;
        }
        let from = scopes.module_at(i).clone();
        let (paths, next) = parse_use(tokens, i);
        for path in paths {
            let Some(to) = resolve(&from, &path.segments, None, known) else {
                continue;
            };
            let entry = imports.entry(from.clone()).or_default();
            match &path.binds {
                None => entry.globs.push(to.clone()),
                Some(name) if known.contains(&to) => {
                    entry.modules.insert(name.clone(), to.clone());
                }
                Some(_) => {}
            }
            found.push(Reference {
                from: from.clone(),
                to,
                line: path.line,
                written: path.segments.join("::"),
            });
        }
        i = next;
    }
    found.extend(code_references(tokens, &scopes, &imports, known));
    found
}

/// Paths in code (everything but `use` items and `pub(in …)` visibilities).
fn code_references(
    tokens: &[Token],
    scopes: &Scopes,
    imports: &BTreeMap<ModPath, Imports>,
    known: &BTreeSet<ModPath>,
) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if token.is("use") {
            i = parse_use(tokens, i).1;
            continue;
        }
        if token.is("pub") && tokens.get(i + 1).is_some_and(|t| t.is("(")) {
            i = skip_group(tokens, i + 1);
            continue;
        }
        let starts_path = token.is_ident()
            && tokens.get(i + 1).is_some_and(|t| t.is("::"))
            && !(i > 0 && (tokens[i - 1].is("::") || tokens[i - 1].is(".")));
        if !starts_path {
            i += 1;
            continue;
        }
        let mut segments = vec![token.text.clone()];
        let mut j = i + 1;
        while tokens.get(j).is_some_and(|t| t.is("::")) && tokens.get(j + 1).is_some_and(|t| t.is_ident()) {
            segments.push(tokens[j + 1].text.clone());
            j += 2;
        }
        let from = scopes.module_at(i);
        if let Some(to) = resolve(from, &segments, imports.get(from), known) {
            found.push(Reference {
                from: from.clone(),
                to,
                line: token.line,
                written: segments.join("::"),
            });
        }
        i = j;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::tokenize;

    fn known(paths: &[&str]) -> BTreeSet<ModPath> {
        let mut set: BTreeSet<ModPath> = paths
            .iter()
            .map(|p| p.split("::").map(String::from).collect())
            .collect();
        set.insert(Vec::new());
        set
    }

    fn targets(source: &str, module: &str, modules: &[&str]) -> Vec<String> {
        let module: ModPath = module.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
        references(&tokenize(source), &module, &known(modules))
            .into_iter()
            .map(|r| r.to.join("::"))
            .collect()
    }

    #[test]
    fn grouped_use_expands_each_path() {
        let source = "use crate::{a::b, c::{self, d as e}, f::*};";
        let uses = parse_use(&tokenize(source), 0).0;
        let shown: Vec<(String, Option<String>)> = uses.into_iter().map(|u| (u.segments.join("::"), u.binds)).collect();
        assert_eq!(
            shown,
            [
                ("crate::a::b".to_string(), Some("b".to_string())),
                ("crate::c".to_string(), Some("c".to_string())),
                ("crate::c::d".to_string(), Some("e".to_string())),
                ("crate::f".to_string(), None),
            ]
        );
    }

    #[test]
    fn super_and_self_are_relative_to_the_module() {
        let source =
            "use super::dora::Format; use super::super::core::x; fn f() { self::inner::g(); super::web::h(); }";
        assert_eq!(
            targets(
                source,
                "app::cli",
                &["app", "app::cli", "app::dora", "app::web", "app::cli::inner", "core"]
            ),
            ["app::dora::Format", "core::x", "app::cli::inner::g", "app::web::h"]
        );
    }

    #[test]
    fn paths_in_code_and_module_aliases_count() {
        let source = "use crate::core::model; fn f() -> model::Severity { crate::store::open(); model::X }";
        assert_eq!(
            targets(source, "alerts", &["alerts", "core", "core::model", "store"]),
            ["core::model", "core::model::Severity", "store::open", "core::model::X"]
        );
    }

    #[test]
    fn a_glob_brings_sibling_modules_into_scope() {
        let source = "use super::*; fn f() { dora::g(); std::mem::drop(1); }";
        assert_eq!(
            targets(source, "app::cli", &["app", "app::cli", "app::dora"]),
            ["app", "app::dora::g"]
        );
    }

    #[test]
    fn method_calls_fields_and_visibility_are_not_paths() {
        let source = "pub(in crate::app) fn f(x: X) { x.self_check(); Self::new(); std::fs::read(\"\"); }";
        assert!(targets(source, "app::cli", &["app", "app::cli"]).is_empty());
    }

    #[test]
    fn inline_modules_are_their_own_scope() {
        let source = "mod inner { fn f() { super::sibling_of_inner(); } } fn g() { super::web::h(); }";
        let refs = references(
            &tokenize(source),
            &["app".into(), "cli".into()],
            &known(&["app", "app::cli"]),
        );
        let shown: Vec<(String, String)> = refs.iter().map(|r| (r.from.join("::"), r.to.join("::"))).collect();
        assert_eq!(
            shown,
            [
                ("app::cli::inner".to_string(), "app::cli::sibling_of_inner".to_string()),
                ("app::cli".to_string(), "app::web::h".to_string())
            ]
        );
    }
}
