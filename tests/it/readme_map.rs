//! The README's map of the source tree and its table of contents cannot go stale.
//!
//! The map is the first fenced block of the README's `## Development` section. The rule for it:
//!
//! - A line whose first word ends in `/` names a directory and opens it: from `src/`, or from
//!   the repository root when it starts with `src/` or `crates/` (`sources/render/` and
//!   `src/sources/render/` are the same directory; a crate is `crates/<name>/src/`).
//! - Every other word that ends in `.rs` or `/` on that line, and on the lines after it until the
//!   next directory line, is a file or directory relative to the open directory.
//! - Every module must be named: each directory under `src/` (and under `crates/*/src/`) that holds
//!   Rust code, and each `*.rs` file in it except `mod.rs`, which its directory stands for.
//! - Everything named must exist, in the map and in the section's prose alike (prose paths are
//!   checked when they are written from the repository root: `src/…`, `tests/…`, `crates/…`).
//!
//! The table of contents: every `(#anchor)` link in the README leads to a heading (GitHub's
//! anchors), and every `##` and `###` heading is listed under `## Contents`.
//!
//! Standard library only, so it can move into any test binary as it is.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    fs::read_to_string(repo_root().join("README.md")).expect("README.md is readable")
}

#[test]
fn the_development_section_names_every_module_and_nothing_that_is_gone() {
    let mismatch = check_map(repo_root(), &readme());
    assert!(mismatch.is_empty(), "{mismatch}");
}

#[test]
fn the_map_check_reports_every_missing_and_every_stale_name_at_once() {
    let dir = TempDir::new("map");
    for file in [
        "src/lib.rs",
        "src/main.rs",
        "src/app/mod.rs",
        "src/app/cli.rs",
        "src/app/daemon/mod.rs",
        "src/app/daemon/run.rs",
        "src/core/model.rs",
        "crates/kustomize/src/lib.rs",
        "crates/kustomize/src/smp.rs",
        "tests/cli.rs",
    ] {
        dir.write(file);
    }
    let complete = [
        "# x",
        "",
        "## Development",
        "",
        "```text",
        "src/   main.rs lib.rs",
        "  app/  cli.rs, daemon/ (the loop: daemon/run.rs)",
        "  core/ model.rs",
        "crates/kustomize/src/ lib.rs",
        "    smp.rs",
        "```",
        "",
        "Tests: `tests/cli.rs`.",
        "",
        "## Next",
    ]
    .join("\n");
    let complete = complete.as_str();
    let mismatch = check_map(dir.path(), complete);
    assert!(mismatch.is_empty(), "a complete map passes: {mismatch}");

    // The daemon's loop and the renderer's patch moved; a removed store is still listed, and the
    // prose names a test file that is gone.
    dir.write("src/app/daemon/select.rs");
    let stale = complete
        .replace("(the loop: daemon/run.rs)", "(the loop)")
        .replace("\n    smp.rs", "")
        .replace(" model.rs\n", " model.rs\n  store.rs\n")
        .replace("`tests/cli.rs`", "`tests/cli.rs`, `tests/gone.rs`");
    let mismatch = check_map(dir.path(), &stale);
    assert_eq!(
        mismatch.missing,
        [
            "crates/kustomize/src/smp.rs",
            "src/app/daemon/run.rs",
            "src/app/daemon/select.rs"
        ]
    );
    assert_eq!(mismatch.extra, ["src/core/store.rs", "tests/gone.rs"]);
    let message = mismatch.to_string();
    assert!(
        message.contains("src/app/daemon/select.rs") && message.contains("tests/gone.rs"),
        "{message}"
    );

    let mismatch = check_map(dir.path(), "# x\n\n## Development\n\nNo map.\n");
    assert!(!mismatch.is_empty(), "a section without a map fails");
}

#[test]
fn every_contents_link_leads_to_a_heading_and_every_heading_is_listed() {
    let problems = check_contents(&readme());
    assert!(
        problems.is_empty(),
        "README.md's table of contents:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn anchors_are_built_as_github_builds_them() {
    let cases = [
        ("Two commands", "two-commands"),
        (
            "Rendering: the built-in kustomize renderer and the render cache",
            "rendering-the-built-in-kustomize-renderer-and-the-render-cache",
        ),
        ("JSON report: `driftwatch.report/v1`", "json-report-driftwatchreportv1"),
        (
            "Registry checks, promotion policy, config and exceptions",
            "registry-checks-promotion-policy-config-and-exceptions",
        ),
        ("History and DORA", "history-and-dora"),
        ("start → ready", "start--ready"),
    ];
    for (heading, anchor) in cases {
        assert_eq!(github_anchor(heading), anchor, "{heading}");
    }
    let readme = "## Contents\n\n- [A](#a)\n- [B](#b-2)\n\n## A\n\n```sh\n## not a heading\n```\n\n### B\n\n## B\n";
    assert_eq!(
        check_contents(readme),
        [
            "link #b-2 leads to no heading",
            "heading `### B` (#b) is not listed under ## Contents",
            "heading `## B` (#b-1) is not listed under ## Contents",
        ]
        .map(String::from)
    );
}

/// What the map lacks (`missing`: modules it does not name) and what it names that does not
/// exist (`extra`), as paths from the repository root.
#[derive(Debug, Default)]
struct Mismatch {
    problem: Option<String>,
    missing: Vec<String>,
    extra: Vec<String>,
}

impl Mismatch {
    fn is_empty(&self) -> bool {
        self.problem.is_none() && self.missing.is_empty() && self.extra.is_empty()
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "README.md's Development section is not the source tree's map.")?;
        if let Some(problem) = &self.problem {
            writeln!(f, "{problem}")?;
        }
        if !self.missing.is_empty() {
            writeln!(
                f,
                "Modules it does not name ({}):\n  {}",
                self.missing.len(),
                self.missing.join("\n  ")
            )?;
        }
        if !self.extra.is_empty() {
            writeln!(
                f,
                "Paths it names that do not exist ({}):\n  {}",
                self.extra.len(),
                self.extra.join("\n  ")
            )?;
        }
        write!(
            f,
            "The rule (tests/it/readme_map.rs): in the section's first fenced block, a line whose first word ends in `/` \
             opens that directory (from src/, or from the repository root when it starts with src/ or crates/); \
             the other words ending in `.rs` or `/` on it and on the lines after it are relative to it. Every \
             directory with Rust code and every .rs file but mod.rs is named; every path named exists."
        )
    }
}

fn check_map(root: &Path, readme: &str) -> Mismatch {
    let mut mismatch = Mismatch::default();
    let Some(section) = section(readme, "## Development") else {
        mismatch.problem = Some("There is no `## Development` section.".into());
        return mismatch;
    };
    let (map, prose) = split_first_block(&section);
    let Some(map) = map else {
        mismatch.problem = Some("The section has no fenced block holding the map.".into());
        return mismatch;
    };

    let named = names_in_map(&map);
    let mut extra: BTreeSet<String> = named.iter().filter(|p| !exists(root, p)).cloned().collect();
    extra.extend(
        paths_in_prose(&prose)
            .into_iter()
            .filter(|p| !root.join(p.trim_end_matches('/')).exists()),
    );
    mismatch.extra = extra.into_iter().collect();
    mismatch.missing = modules(root).into_iter().filter(|m| !named.contains(m)).collect();
    mismatch
}

/// The lines under `heading` up to the next heading of the same level, outside fenced blocks.
fn section(readme: &str, heading: &str) -> Option<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    let mut fenced = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with("## ") {
            if inside {
                break;
            }
            inside = line.trim_end() == heading;
            continue;
        }
        if inside {
            lines.push(line);
        }
    }
    inside.then(|| lines.join("\n"))
}

/// The first fenced block's lines, and the text around it.
fn split_first_block(section: &str) -> (Option<Vec<String>>, String) {
    let mut block: Option<Vec<String>> = None;
    let mut prose = String::new();
    let mut state = 0; // 0 before the block, 1 in it, 2 after it
    for line in section.lines() {
        let fence = line.starts_with("```");
        match (state, fence) {
            (0, true) => {
                state = 1;
                block = Some(Vec::new());
            }
            (1, true) => state = 2,
            (1, false) => block.as_mut().expect("opened").push(line.to_owned()),
            _ => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    (block, prose)
}

/// Words that may be paths: runs of letters, digits, `_`, `-`, `.` and `/`.
fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c)))
        .filter(|w| !w.is_empty())
}

fn is_path(word: &str) -> bool {
    let stem = word.strip_suffix('/').or_else(|| word.strip_suffix(".rs"));
    stem.is_some_and(|stem| {
        !stem.is_empty()
            && stem
                .split('/')
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)))
    })
}

/// Every path the map names, from the repository root; directories end in `/`.
fn names_in_map(map: &[String]) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut open = String::from("src/");
    for line in map {
        let mut paths = words(line).filter(|w| is_path(w)).peekable();
        let first_word = words(line).next();
        if let Some(dir) = paths.peek().filter(|p| p.ends_with('/') && Some(**p) == first_word) {
            open = if dir.starts_with("src/") || dir.starts_with("crates/") {
                (*dir).to_owned()
            } else {
                format!("src/{dir}")
            };
            named.insert(open.clone());
            paths.next();
        }
        for path in paths {
            named.insert(format!("{open}{path}"));
        }
    }
    named
}

/// Backquoted paths in the prose written from the repository root (no placeholders).
fn paths_in_prose(prose: &str) -> BTreeSet<String> {
    const ROOTS: [&str; 8] = [
        "src/",
        "crates/",
        "tests/",
        "benches/",
        "scripts/",
        "docs/",
        "examples/",
        "templates/",
    ];
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| !code.contains(['<', '*', '…']))
        .flat_map(|code| code.split_whitespace())
        .map(|w| w.trim_end_matches([',', ')', ':', ';']))
        .filter(|w| {
            ROOTS.iter().any(|r| w.starts_with(r)) && w.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        })
        .map(str::to_owned)
        .collect()
}

fn exists(root: &Path, path: &str) -> bool {
    let on_disk = root.join(path.trim_end_matches('/'));
    if path.ends_with('/') {
        on_disk.is_dir()
    } else {
        on_disk.is_file()
    }
}

/// The modules the map must name: `src/` and each `crates/*/src/`, every directory below them
/// that holds Rust code, every `.rs` file but `mod.rs`.
fn modules(root: &Path) -> BTreeSet<String> {
    let mut trees = vec![PathBuf::from("src")];
    if let Ok(crates) = fs::read_dir(root.join("crates")) {
        let mut names: Vec<_> = crates.map(|e| e.expect("crates/ is readable").file_name()).collect();
        names.sort();
        trees.extend(names.into_iter().map(|n| Path::new("crates").join(n).join("src")));
    }
    let mut out = BTreeSet::new();
    for tree in trees {
        if root.join(&tree).is_dir() {
            collect(root, &tree, &mut out);
        }
    }
    out
}

/// Adds `dir` (relative to `root`) and its modules; returns whether it holds Rust code.
fn collect(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> bool {
    let mut entries: Vec<_> = fs::read_dir(root.join(dir))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable directory entry").path())
        .collect();
    entries.sort();
    let mut has_rust = false;
    for entry in entries {
        let name = entry.file_name().expect("a named entry").to_string_lossy().into_owned();
        let relative = dir.join(&name);
        if entry.is_dir() {
            has_rust |= collect(root, &relative, out);
        } else if name.ends_with(".rs") {
            has_rust = true;
            if name != "mod.rs" {
                out.insert(slashed(&relative, false));
            }
        }
    }
    if has_rust {
        out.insert(slashed(dir, true));
    }
    has_rust
}

fn slashed(path: &Path, dir: bool) -> String {
    let joined = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    if dir { format!("{joined}/") } else { joined }
}

/// Problems with the table of contents: links that lead nowhere, headings not listed.
fn check_contents(readme: &str) -> Vec<String> {
    let mut headings = Vec::new(); // (level marks, text, anchor)
    let mut seen: Vec<String> = Vec::new();
    let mut fenced = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some((marks, text)) = line
            .split_once(' ')
            .filter(|(m, _)| !fenced && !m.is_empty() && m.chars().all(|c| c == '#'))
        else {
            continue;
        };
        let base = github_anchor(text);
        let count = seen.iter().filter(|s| **s == base).count();
        seen.push(base.clone());
        let anchor = if count == 0 { base } else { format!("{base}-{count}") };
        headings.push((marks.to_owned(), text.trim().to_owned(), anchor));
    }

    let mut problems = Vec::new();
    let links = |text: &str| -> Vec<String> {
        text.split("](#")
            .skip(1)
            .filter_map(|rest| rest.split_once(')'))
            .map(|(a, _)| a.to_owned())
            .collect()
    };
    for link in links(readme) {
        if !headings.iter().any(|(_, _, anchor)| *anchor == link) {
            problems.push(format!("link #{link} leads to no heading"));
        }
    }
    let Some(contents) = section(readme, "## Contents") else {
        problems.push("there is no `## Contents` section".into());
        return problems;
    };
    let listed = links(&contents);
    for (marks, text, anchor) in &headings {
        let level = marks.len();
        if (level == 2 || level == 3) && text != "Contents" && !listed.contains(anchor) {
            problems.push(format!(
                "heading `{marks} {text}` (#{anchor}) is not listed under ## Contents"
            ));
        }
    }
    problems
}

/// The anchor GitHub gives a heading: lower case, code marks and punctuation dropped, spaces
/// turned into hyphens (a repeated heading gets `-1`, `-2`, … in [`check_contents`]).
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_nanos();
        let path = std::env::temp_dir().join(format!("readme-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).expect("a temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, relative: &str) {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().expect("a parent")).expect("the parent directory");
        fs::write(path, "").expect("the file");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
