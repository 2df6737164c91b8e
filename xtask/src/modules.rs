//! `check-modules`: at every level of the module tree, the modules that sit side by side
//! (`app::cli`, `app::dora`, …; `config`, `alerts`, … at the top) must not import each other in
//! a circle. A reference from anywhere inside `a` to anywhere inside its sibling `b` is an edge
//! `a → b`; a module naming its own children or ancestors is not an edge between siblings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::lex::{strip_tests, tokenize};
use crate::refs::{ModPath, Reference, references};

/// One source file of a crate: where it is (as shown to the user) and what it says.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub shown: String,
    pub module: ModPath,
    pub text: String,
}

/// The module a file under a crate's `src/` defines (`lib.rs` → root, `a/mod.rs` and `a.rs` →
/// `a`, `a/b.rs` → `a::b`), or `None` for a separate binary root (`main.rs` beside `lib.rs`,
/// `bin/`), which cannot be imported by the library.
pub fn module_of(relative: &Path, has_lib: bool) -> Option<ModPath> {
    let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let (file, dirs) = parts.split_last()?;
    if dirs.first().is_some_and(|d| d == "bin") {
        return None;
    }
    let mut module = dirs.to_vec();
    match file.strip_suffix(".rs")? {
        "lib" if dirs.is_empty() => {}
        "main" if dirs.is_empty() => return (!has_lib).then_some(module),
        "mod" => {}
        name => module.push(name.to_string()),
    }
    Some(module)
}

/// The example shown for an edge: the first reference that makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub file: String,
    pub line: usize,
    pub written: String,
}

/// Sibling edges found at each level: level → (from, to) → example.
pub type Edges = BTreeMap<ModPath, BTreeMap<(String, String), Example>>;

/// A circle among the children of `level`: `nodes[0] → nodes[1] → … → nodes[0]`, with the
/// example of each edge in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub crate_name: String,
    pub level: ModPath,
    pub nodes: Vec<String>,
    pub examples: Vec<Example>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = std::iter::once(self.crate_name.as_str()).chain(self.level.iter().map(String::as_str));
        writeln!(
            f,
            "cycle in {}: {} → {}",
            level.collect::<Vec<_>>().join("::"),
            self.nodes.join(" → "),
            self.nodes[0]
        )?;
        for (i, example) in self.examples.iter().enumerate() {
            let to = &self.nodes[(i + 1) % self.nodes.len()];
            writeln!(
                f,
                "    {} → {to}: {}:{} ({})",
                self.nodes[i], example.file, example.line, example.written
            )?;
        }
        Ok(())
    }
}

/// The sibling edges of one crate's files.
pub fn edges(files: &[SourceFile]) -> Edges {
    let mut stripped = Vec::new();
    let mut known: BTreeSet<ModPath> = BTreeSet::new();
    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    for file in files {
        let non_test = strip_tests(&tokenize(&file.text));
        for name in &non_test.test_modules {
            test_only.insert([file.module.clone(), vec![name.clone()]].concat());
        }
        known.extend(crate::refs::scopes(&non_test.tokens, &file.module).modules);
        stripped.push((file, non_test.tokens));
    }
    let is_test = |m: &ModPath| test_only.iter().any(|t| m.starts_with(t)) || m.iter().any(|s| s == "tests");
    known.retain(|m| !is_test(m));
    known.insert(Vec::new());
    let mut edges = Edges::new();
    for (file, tokens) in stripped.into_iter().filter(|(f, _)| !is_test(&f.module)) {
        for reference in references(&tokens, &file.module, &known) {
            add_edge(&mut edges, &reference, &known, &file.shown);
        }
    }
    edges
}

fn add_edge(edges: &mut Edges, reference: &Reference, known: &BTreeSet<ModPath>, file: &str) {
    let to = (0..=reference.to.len())
        .rev()
        .map(|n| &reference.to[..n])
        .find(|p| known.contains(*p))
        .unwrap_or(&[]);
    let from = &reference.from;
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return;
    }
    let example = Example {
        file: file.to_string(),
        line: reference.line,
        written: reference.written.clone(),
    };
    edges
        .entry(from[..common].to_vec())
        .or_default()
        .entry((from[common].clone(), to[common].clone()))
        .or_insert(example);
}

/// How many circles are listed at most per level; a tangle beyond that is shown truncated.
const MAX_CYCLES_PER_LEVEL: usize = 50;

/// Every elementary circle at every level, each listed once, starting from its smallest node.
pub fn cycles(crate_name: &str, edges: &Edges) -> Vec<Cycle> {
    let mut found = Vec::new();
    for (level, level_edges) in edges {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, b) in level_edges.keys() {
            next.entry(a).or_default().push(b);
        }
        let mut circles = Vec::new();
        for start in next.keys() {
            walk(&next, &mut vec![start], &mut circles);
        }
        for nodes in circles.into_iter().take(MAX_CYCLES_PER_LEVEL) {
            let examples = (0..nodes.len())
                .map(|i| level_edges[&(nodes[i].to_string(), nodes[(i + 1) % nodes.len()].to_string())].clone())
                .collect();
            let nodes = nodes.into_iter().map(String::from).collect();
            found.push(Cycle {
                crate_name: crate_name.to_string(),
                level: level.clone(),
                nodes,
                examples,
            });
        }
    }
    found
}

/// Extends `path` (which starts at its smallest node) through larger nodes only, so each
/// circle is found once.
fn walk<'a>(next: &BTreeMap<&'a str, Vec<&'a str>>, path: &mut Vec<&'a str>, circles: &mut Vec<Vec<&'a str>>) {
    if circles.len() > MAX_CYCLES_PER_LEVEL {
        return;
    }
    let (start, last) = (path[0], path[path.len() - 1]);
    for &to in next.get(last).into_iter().flatten() {
        if to == start {
            circles.push(path.clone());
        } else if to > start && !path.contains(&to) {
            path.push(to);
            walk(next, path, circles);
            path.pop();
        }
    }
}

/// The crates to check under the workspace `root`: `src/`, and `crates/*/src/`.
pub fn crate_roots(root: &Path) -> Vec<(String, PathBuf)> {
    let mut roots = vec![("crate".to_string(), root.join("src"))];
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("src"))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let name = dir
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().replace('-', "_"));
            roots.push((name.unwrap_or_default(), dir));
        }
    }
    roots
}

/// Every `.rs` file under `dir`, sorted, with its module.
pub fn read_crate(root: &Path, src: &Path) -> std::io::Result<Vec<SourceFile>> {
    let mut paths = Vec::new();
    crate::rust_files(src, &mut paths)?;
    let has_lib = src.join("lib.rs").is_file();
    let mut files = Vec::new();
    for path in paths {
        let relative = path.strip_prefix(src).unwrap_or(&path);
        let Some(module) = module_of(relative, has_lib) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        files.push(SourceFile {
            shown: crate::shown(root, &path),
            module,
            text,
        });
    }
    Ok(files)
}

/// Runs the check over the workspace at `root`; prints the circles and returns whether none
/// was found.
pub fn check(root: &Path) -> std::io::Result<bool> {
    let mut all = Vec::new();
    let mut modules = 0;
    for (name, src) in crate_roots(root) {
        let files = read_crate(root, &src)?;
        modules += files.len();
        all.extend(cycles(&name, &edges(&files)));
    }
    if all.is_empty() {
        println!("check-modules: {modules} files, no import cycle among sibling modules");
        return Ok(true);
    }
    for cycle in &all {
        eprint!("{cycle}");
    }
    eprintln!(
        "check-modules: {} import cycle(s) among sibling modules; move the item one side needs",
        all.len()
    );
    Ok(false)
}

/// Prints every sibling edge of every crate under `root`, level by level, each with its first
/// example: the import graph the maps in the docs describe.
pub fn print_graph(root: &Path) -> std::io::Result<()> {
    for (name, src) in crate_roots(root) {
        for (level, level_edges) in edges(&read_crate(root, &src)?) {
            println!(
                "{}",
                std::iter::once(name.clone())
                    .chain(level)
                    .collect::<Vec<_>>()
                    .join("::")
            );
            for ((from, to), example) in level_edges {
                println!(
                    "    {from} → {to}: {}:{} ({})",
                    example.file, example.line, example.written
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        let module = module_of(Path::new(path), true).unwrap_or_default();
        SourceFile {
            shown: format!("src/{path}"),
            module,
            text: text.to_string(),
        }
    }

    fn shown_cycles(files: &[SourceFile]) -> Vec<String> {
        cycles("crate", &edges(files)).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn files_map_to_modules() {
        let module = |p: &str| module_of(Path::new(p), true).map(|m| m.join("::"));
        assert_eq!(module("lib.rs").as_deref(), Some(""));
        assert_eq!(module("app/mod.rs").as_deref(), Some("app"));
        assert_eq!(module("app/cli.rs").as_deref(), Some("app::cli"));
        assert_eq!(module("app.rs").as_deref(), Some("app"));
        assert_eq!(module("main.rs"), None);
        assert_eq!(module("bin/tool.rs"), None);
        assert_eq!(module_of(Path::new("main.rs"), false), Some(vec![]));
    }

    #[test]
    fn a_cycle_among_siblings_fails_with_one_example_per_edge() {
        let files = [
            file("lib.rs", "pub mod app;"),
            file("app/mod.rs", "pub mod cli; pub mod dora; pub mod web;"),
            file("app/cli.rs", "use super::web;\npub fn run() { web::serve(); }"),
            file("app/web.rs", "\n\nuse crate::app::dora::Table;"),
            file("app/dora.rs", "pub fn f() -> crate::app::cli::DoraFormat { todo!() }"),
        ];
        assert_eq!(
            shown_cycles(&files),
            ["cycle in crate::app: cli → web → dora → cli\n    \
              cli → web: src/app/cli.rs:1 (super::web)\n    \
              web → dora: src/app/web.rs:3 (crate::app::dora::Table)\n    \
              dora → cli: src/app/dora.rs:1 (crate::app::cli::DoraFormat)\n"]
        );
    }

    #[test]
    fn an_acyclic_tree_passes() {
        let files = [
            file("lib.rs", "pub mod app; pub mod core; pub mod settings;"),
            file("app/mod.rs", "pub mod cli; pub mod web; pub use cli::run;"),
            file(
                "app/cli.rs",
                "use super::web; use crate::core::model::Severity; fn f() { web::serve() }",
            ),
            file("app/web.rs", "use crate::core::{model, report::html};"),
            file("core/mod.rs", "pub mod model; pub mod report;"),
            file(
                "core/model.rs",
                "use crate::settings::Secret; use super::super::settings;",
            ),
            file("core/report/mod.rs", "pub mod html; use super::model::Severity;"),
            file("core/report/html.rs", "use super::super::model::X; use super::*;"),
            file("settings/mod.rs", "pub struct Secret;"),
        ];
        let edges = edges(&files);
        assert!(cycles("crate", &edges).is_empty());
        let top: Vec<_> = edges[&Vec::new()].keys().cloned().collect();
        assert_eq!(top, [("app".into(), "core".into()), ("core".into(), "settings".into())]);
    }

    #[test]
    fn a_cycle_through_nested_modules_counts_at_the_level_where_they_meet() {
        let files = [
            file("config/mod.rs", "pub use crate::alerts::channels::ChannelKind;"),
            file("alerts/channels/mod.rs", "use crate::config::Config;"),
        ];
        assert_eq!(
            shown_cycles(&files),
            ["cycle in crate: alerts → config → alerts\n    \
              alerts → config: src/alerts/channels/mod.rs:1 (crate::config::Config)\n    \
              config → alerts: src/config/mod.rs:1 (crate::alerts::channels::ChannelKind)\n"]
        );
    }

    #[test]
    fn grouped_use_and_super_make_edges() {
        let files = [
            file(
                "store/mod.rs",
                "use crate::{core::model, alerts::{lifecycle::Alert, settle}};",
            ),
            file("alerts/lifecycle.rs", "use super::super::store::Store;"),
        ];
        assert_eq!(shown_cycles(&files).len(), 1);
    }

    #[test]
    fn test_code_does_not_count() {
        let files = [
            file("a.rs", "use crate::b::X;"),
            file(
                "b.rs",
                "#[cfg(test)]\nmod fixtures;\n#[cfg(test)]\nuse crate::a::Y;\nmod tests { use crate::a::Z; }",
            ),
            file("b/fixtures.rs", "use crate::a::W;"),
            file("c.rs", "use crate::a::X;"),
            file("c/tests.rs", "use crate::c::X; use crate::b::Y;"),
            file("b/inner.rs", "#[test]\nfn t() { crate::a::f(); }"),
        ];
        assert!(shown_cycles(&files).is_empty());
    }

    #[test]
    fn a_parent_naming_its_children_is_not_a_cycle() {
        let files = [
            file("app/mod.rs", "pub mod cli; pub use self::cli::Cli;"),
            file("app/cli.rs", "use super::Status;"),
        ];
        assert!(edges(&files).is_empty());
    }

    /// A workspace on disk: `files` are (path, text) under a fresh directory, removed on drop.
    struct Workspace(PathBuf);

    impl Workspace {
        fn new(name: &str, files: &[(&str, &str)]) -> Self {
            let root = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            for (path, text) in files {
                let path = root.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Self(root)
        }
    }

    impl Drop for Workspace {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_check_reads_src_and_each_crate_and_fails_on_a_cycle_in_either() {
        let clean = Workspace::new(
            "clean",
            &[
                ("src/lib.rs", "pub mod a; pub mod b;"),
                ("src/a.rs", "use crate::b::X;"),
                ("src/b.rs", "pub struct X;"),
                ("src/main.rs", "use driftwatch::a;"),
                ("crates/render/src/lib.rs", "mod p; mod q;"),
                ("crates/render/src/p.rs", "use crate::q::Y;"),
            ],
        );
        assert!(check(&clean.0).unwrap());
        let roots: Vec<String> = crate_roots(&clean.0).into_iter().map(|(name, _)| name).collect();
        assert_eq!(roots, ["crate", "render"]);

        let cyclic_crate = Workspace::new(
            "cyclic-crate",
            &[
                ("src/lib.rs", "pub mod a;"),
                ("crates/render/src/lib.rs", "mod p; mod q;"),
                ("crates/render/src/p.rs", "use crate::q::Y;"),
                ("crates/render/src/q.rs", "pub fn f() { crate::p::g() }"),
            ],
        );
        assert!(!check(&cyclic_crate.0).unwrap());
        let files = read_crate(&cyclic_crate.0, &cyclic_crate.0.join("crates/render/src")).unwrap();
        let found: Vec<String> = cycles("render", &edges(&files))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            ["cycle in render: p → q → p\n    \
              p → q: crates/render/src/p.rs:1 (crate::q::Y)\n    \
              q → p: crates/render/src/q.rs:1 (crate::p::g)\n"]
        );
    }

    #[test]
    fn every_circle_of_a_tangle_is_listed_once() {
        let files = [
            file("a.rs", "use crate::b::X; use crate::c::X;"),
            file("b.rs", "use crate::a::X; use crate::c::X;"),
            file("c.rs", "use crate::a::X;"),
        ];
        let nodes: Vec<Vec<String>> = cycles("crate", &edges(&files)).into_iter().map(|c| c.nodes).collect();
        assert_eq!(nodes, [vec!["a", "b"], vec!["a", "b", "c"], vec!["a", "c"]]);
    }
}
