//! What Flux's source-controller leaves out of a source's artifact: its default exclusions
//! (version control files, images and archives, CI files), every `.sourceignore` file in the
//! repository (gitignore syntax, each scoped to its directory), and the source's `spec.ignore`,
//! in that order, the last pattern that matches deciding (fluxcd/pkg `sourceignore`). A file
//! in an excluded directory is excluded. Flux builds from the artifact, so what it leaves out
//! is not in the kustomization it generates for a directory without one.

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::sources::render::files::Files;

/// The file whose patterns exclude files of its directory and below.
pub const IGNORE_FILE: &str = ".sourceignore";

/// source-controller's defaults: `ExcludeVCS`, `ExcludeExt`, `ExcludeCI`, `ExcludeExtra`.
const DEFAULTS: &[&str] = &[
    ".git/",
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// The patterns of one source, in the order they apply.
pub struct SourceIgnore {
    /// (directory the patterns are scoped to, `""` for the root; the patterns).
    scopes: Vec<(String, Gitignore)>,
}

impl SourceIgnore {
    /// The patterns that can decide for the files of `dir` (`below`: every file below it, as
    /// `files` lists them): the defaults, the `.sourceignore` files of the root and of each
    /// directory down to `dir`, those below `dir` in path order (as source-controller walks
    /// them; one in another directory is scoped to it, so it decides nothing here), then
    /// `spec_ignore` (a source's `spec.ignore`). A line that is not a valid pattern is left out,
    /// as go-git leaves it.
    pub fn load(files: &dyn Files, dir: &str, below: &[String], spec_ignore: Option<&str>) -> Self {
        let mut scopes = vec![(String::new(), matcher("", DEFAULTS.iter().copied()))];
        let mut found: Vec<String> = Vec::new();
        let mut at = String::new();
        for part in std::iter::once("").chain(dir.split('/').filter(|p| !p.is_empty())) {
            if !part.is_empty() {
                if !at.is_empty() {
                    at.push('/');
                }
                at.push_str(part);
            }
            let file = if at.is_empty() {
                IGNORE_FILE.to_string()
            } else {
                format!("{at}/{IGNORE_FILE}")
            };
            // `dir`'s own is among `below`.
            if at != dir && files.kind(&file) == Some(crate::sources::render::files::Kind::File) {
                found.push(file);
            }
        }
        let mut inside: Vec<&String> = below
            .iter()
            .filter(|f| *f == IGNORE_FILE || f.ends_with(&format!("/{IGNORE_FILE}")))
            .collect();
        // Directories before what is below them, siblings by name.
        inside.sort_by(|a, b| a.split('/').collect::<Vec<_>>().cmp(&b.split('/').collect::<Vec<_>>()));
        found.extend(inside.into_iter().cloned());
        for file in found {
            let scope = file
                .strip_suffix(IGNORE_FILE)
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string();
            let text = files
                .read(&file)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            scopes.push((scope.clone(), matcher(&scope, lines(&text))));
        }
        if let Some(text) = spec_ignore {
            scopes.push((String::new(), matcher("", lines(text))));
        }
        Self { scopes }
    }

    /// Whether `path` (a file, relative to the repository root) is left out of the artifact:
    /// it, or a directory it is in, is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let mut at = String::new();
        for part in path.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            let is_dir = at.len() < path.len();
            if self.decides(&at, is_dir) {
                return true;
            }
        }
        false
    }

    /// The last pattern matching `path` excludes it.
    fn decides(&self, path: &str, is_dir: bool) -> bool {
        let mut excluded = false;
        for (dir, m) in &self.scopes {
            let rel = if dir.is_empty() {
                Some(path)
            } else {
                path.strip_prefix(dir.as_str()).and_then(|r| r.strip_prefix('/'))
            };
            let Some(rel) = rel else { continue };
            match m.matched(rel, is_dir) {
                Match::Ignore(_) => excluded = true,
                Match::Whitelist(_) => excluded = false,
                Match::None => {}
            }
        }
        excluded
    }
}

/// The lines of an ignore file that are patterns (not blank, not comments).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

fn matcher<'a>(dir: &str, patterns: impl Iterator<Item = &'a str>) -> Gitignore {
    // Paths are matched relative to `dir`, so the builder's root is only a label.
    let mut b = GitignoreBuilder::new(if dir.is_empty() { "." } else { dir });
    for p in patterns {
        let _ = b.add_line(None, p);
    }
    b.build().unwrap_or_else(|_| Gitignore::empty())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sources::render::files::DirFiles;

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Arc<DirFiles>) {
        let d = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let at = d.path().join(p);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(at, text).unwrap();
        }
        let files = Arc::new(DirFiles::new(d.path()));
        (d, files)
    }

    #[test]
    fn flux_examples_exclude_all_but_the_manifest_directories() {
        // fluxcd/flux2-kustomize-helm-example's .sourceignore.
        let (_d, files) = tree(&[
            (
                ".sourceignore",
                "# Exclude all\n/*\n\n# Include manifest directories\n!/apps/\n!/clusters/\n",
            ),
            ("apps/web.yaml", "x"),
            ("apps/nested/api.yaml", "x"),
            ("docs/example.yaml", "x"),
            ("top.yaml", "x"),
        ]);
        let all = files.files_below("").unwrap();
        let s = SourceIgnore::load(files.as_ref(), "", &all, None);
        assert!(!s.excludes("apps/web.yaml"));
        assert!(!s.excludes("apps/nested/api.yaml"));
        assert!(s.excludes("docs/example.yaml"), "a directory the root excludes");
        assert!(s.excludes("top.yaml"));
    }

    #[test]
    fn for_one_directory_the_files_above_and_below_it_decide() {
        let (_d, files) = tree(&[
            (".sourceignore", "*.md.yaml\n"),
            ("apps/.sourceignore", "*-test.yaml\n"),
            ("apps/prod/web.yaml", "x"),
            ("apps/prod/web-test.yaml", "x"),
            ("apps/prod/notes.md.yaml", "x"),
            ("apps/prod/sub/.sourceignore", "!web-test.yaml\n"),
            ("apps/prod/sub/web-test.yaml", "x"),
        ]);
        let below = files.files_below("apps/prod").unwrap();
        let s = SourceIgnore::load(files.as_ref(), "apps/prod", &below, None);
        assert!(s.excludes("apps/prod/web-test.yaml"), "the parent directory's file");
        assert!(s.excludes("apps/prod/notes.md.yaml"), "the root's file");
        assert!(!s.excludes("apps/prod/web.yaml"));
        assert!(
            !s.excludes("apps/prod/sub/web-test.yaml"),
            "a file below, applied after"
        );
    }

    #[test]
    fn a_directorys_file_scopes_its_patterns_and_spec_ignore_comes_last() {
        let (_d, files) = tree(&[
            ("apps/.sourceignore", "*-test.yaml\n"),
            ("apps/web.yaml", "x"),
            ("apps/web-test.yaml", "x"),
            ("other/web-test.yaml", "x"),
            ("apps/logo.png", "x"),
        ]);
        let all = files.files_below("").unwrap();
        let s = SourceIgnore::load(files.as_ref(), "", &all, None);
        assert!(s.excludes("apps/web-test.yaml"));
        assert!(!s.excludes("other/web-test.yaml"), "scoped to apps/");
        assert!(!s.excludes("apps/web.yaml"));
        assert!(s.excludes("apps/logo.png"), "a default exclusion");
        assert!(s.excludes(".github/workflows/ci.yaml"), "a default excluded directory");

        let s = SourceIgnore::load(
            files.as_ref(),
            "",
            &all,
            Some("# ours\napps/web.yaml\n!apps/web-test.yaml\n"),
        );
        assert!(s.excludes("apps/web.yaml"));
        assert!(!s.excludes("apps/web-test.yaml"), "spec.ignore is the last word");
    }
}
