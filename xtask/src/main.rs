//! driftwatch's repository checks, run as `cargo xtask <command>`:
//!
//! - `check-modules`: no import cycle among sibling modules, at every level of `src/` and of
//!   each `crates/*/src/` (see `modules`).
//! - `check-errors`: no `Result<_, String>` in non-test code (see `errors`).
//! - `module-graph`: prints the edges among sibling modules that `check-modules` checks.
//!
//! Both read the source with a small tokenizer (`lex`), so comments, strings and test code do
//! not count. Exit code 0 when the check passes, 1 when it finds something, 2 on usage or IO
//! errors.

mod errors;
mod lex;
mod modules;
mod refs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <check-modules | check-errors | module-graph> [--root <workspace dir>]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = match args.get(1..) {
        Some([flag, dir]) if flag == "--root" => PathBuf::from(dir),
        Some([]) | None => workspace_root(),
        Some(_) => return usage(),
    };
    let result = match args.first().map(String::as_str) {
        Some("check-modules") => modules::check(&root),
        Some("check-errors") => errors::check(&root),
        Some("module-graph") => modules::print_graph(&root).map(|()| true),
        _ => return usage(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("xtask: reading {}: {e}", root.display());
            ExitCode::from(2)
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// The workspace this xtask belongs to (its parent directory), wherever cargo is run from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every `.rs` file under `dir` (none if it does not exist), sorted so output is stable.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `path` as shown to the user: relative to the workspace, with `/`.
fn shown(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .iter()
        .map(|p| p.to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
