//! The one matcher for an environment's `paths` globs, relative to the repository root: used on
//! disk by [`crate::sources::render`] and over git trees by [`crate::sources::git_history`], so
//! both select the same files. Pure: it matches `/`-separated relative paths, it reads nothing.
//!
//! The rules, as the on-disk renderer has always applied them:
//! - a pattern selects the directories and files it matches; `*`, `?` and `[…]` stay within one
//!   path component, `**` spans any number of components;
//! - a trailing `/` is ignored;
//! - below a selected directory, hidden entries (names starting with `.`) are skipped, so
//!   `apps/*` does not read `apps/api/.github/…`; a pattern may still name a hidden folder
//!   itself (`.deploy/*`).

use glob::{MatchOptions, Pattern};

/// `*` stays within a component, as on disk where each component is matched against one
/// directory's entries; hidden names are matched unless the pattern rules them out.
const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Why a `paths` entry is not a usable pattern; its message names the pattern and reads as a
/// config error (`"apps/[" is not a valid glob: …`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("{pattern:?} is not a valid glob: {reason}")]
    Invalid { pattern: String, reason: String },
    #[error("{pattern:?} must be relative to the repository root and stay inside it")]
    Outside { pattern: String },
    #[error("the path pattern is empty")]
    Empty,
}

/// One `paths` entry.
#[derive(Clone, Debug)]
pub struct PathPattern {
    text: String,
    whole: Pattern,
    /// Per component, for [`PathPattern::may_contain`]; `None` marks `**`.
    components: Vec<Option<Pattern>>,
}

impl PathPattern {
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        let text = pattern.trim_end_matches('/');
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.starts_with('/') || text.split('/').any(|c| c == "..") {
            return Err(PatternError::Outside {
                pattern: pattern.to_string(),
            });
        }
        let invalid = |e: glob::PatternError| PatternError::Invalid {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        };
        let whole = Pattern::new(text).map_err(invalid)?;
        let components = text
            .split('/')
            .map(|c| match c {
                "**" => Ok(None),
                c => Pattern::new(c).map(Some),
            })
            .collect::<Result<_, _>>()
            .map_err(invalid)?;
        Ok(Self {
            text: text.to_string(),
            whole,
            components,
        })
    }

    /// The pattern as configured, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` (relative, `/`-separated) is itself one of the matched paths.
    pub fn matches(&self, path: &str) -> bool {
        self.whole.matches_with(path, OPTIONS)
    }

    /// Whether `dir` itself or a path below it could match: lets a walk skip whole subtrees.
    pub fn may_contain(&self, dir: &str) -> bool {
        if dir.is_empty() {
            return true;
        }
        for (i, component) in dir.split('/').enumerate() {
            match self.components.get(i) {
                // Deeper than the pattern (and no `**` before): no match lies here.
                None => return false,
                Some(None) => return true,
                Some(Some(p)) if !p.matches_with(component, OPTIONS) => return false,
                Some(Some(_)) => {}
            }
        }
        true
    }

    /// Whether the file `path` is read for this pattern: it, or a directory above it, matches,
    /// and nothing between that match and the file is hidden.
    pub fn selects(&self, path: &str) -> bool {
        let components: Vec<&str> = path.split('/').collect();
        (1..=components.len())
            .any(|n| self.matches(&components[..n].join("/")) && !components[n..].iter().any(|c| is_hidden(c)))
    }
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Hidden entries (`.git`, `.github`, editor folders) are not manifests of the environment.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// A file glob as Argo CD's `directory.include` / `exclude` take it, matched against paths
/// relative to the directory: `*` (across `/` too), `?`, `[…]`, and `{a,b}` alternatives.
#[derive(Clone, Debug)]
pub struct FileGlob(Vec<Pattern>);

impl FileGlob {
    pub fn matches(&self, rel: &str) -> bool {
        self.0.iter().any(|p| p.matches(rel))
    }
}

/// Why a `directory.include`/`exclude` glob is not one.
#[derive(Debug, thiserror::Error)]
#[error("{glob:?} is not a valid glob: {source}")]
pub struct FileGlobError {
    glob: String,
    #[source]
    source: glob::PatternError,
}

/// Parses a [`FileGlob`]; the error says why it is not one.
pub fn file_glob(text: &str) -> Result<FileGlob, FileGlobError> {
    braces(text)
        .iter()
        .map(|alt| {
            Pattern::new(alt).map_err(|source| FileGlobError {
                glob: text.to_string(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(FileGlob)
}

/// `{a,b}` alternatives expanded (the first group, then the rest of each alternative).
fn braces(text: &str) -> Vec<String> {
    let Some(open) = text.find('{') else {
        return vec![text.to_string()];
    };
    let Some(len) = text[open..].find('}') else {
        return vec![text.to_string()];
    };
    let (head, inner, tail) = (&text[..open], &text[open + 1..open + len], &text[open + len + 1..]);
    inner
        .split(',')
        .flat_map(|alt| braces(&format!("{head}{alt}{tail}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> PathPattern {
        PathPattern::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn matches_table() {
        // (case, pattern, path, matches)
        let cases = [
            ("literal", "deploy", "deploy", true),
            ("literal other", "deploy", "deployment", false),
            ("star one component", "apps/*/production", "apps/api/production", true),
            (
                "star not across slash",
                "apps/*/production",
                "apps/a/b/production",
                false,
            ),
            ("star not the parent", "apps/*/production", "apps/production", false),
            (
                "trailing slash ignored",
                "apps/*/production/",
                "apps/api/production",
                true,
            ),
            ("star matches hidden name", "apps/*", "apps/.hidden", true),
            ("question mark", "apps/ap?", "apps/api", true),
            ("class", "apps/[aw]*", "apps/web", true),
            ("class excludes", "apps/[!aw]*", "apps/web", false),
            (
                "double star any depth",
                "apps/**/production",
                "apps/a/b/production",
                true,
            ),
            ("double star zero depth", "apps/**/production", "apps/production", true),
            ("case sensitive", "Apps/*", "apps/api", false),
            ("prefix is not a match", "apps/*/overlays/production", "apps/api", false),
            (
                "file pattern",
                "apps/*/production/*.yaml",
                "apps/api/production/d.yaml",
                true,
            ),
        ];
        for (case, p, path, want) in cases {
            assert_eq!(pattern(p).matches(path), want, "{case}: {p} vs {path}");
        }
    }

    #[test]
    fn selects_table() {
        // (case, pattern, file, selected)
        let cases = [
            (
                "file below a match",
                "apps/*/production",
                "apps/api/production/d.yaml",
                true,
            ),
            (
                "deep below a match",
                "apps/*/production",
                "apps/api/production/x/y/d.yaml",
                true,
            ),
            ("matched file itself", "deploy/app.yaml", "deploy/app.yaml", true),
            ("sibling", "apps/*/production", "apps/api/staging/d.yaml", false),
            (
                "hidden below a match",
                "apps/*/production",
                "apps/api/production/.git/d.yaml",
                false,
            ),
            (
                "hidden file below",
                "apps/*/production",
                "apps/api/production/.d.yaml",
                false,
            ),
            ("hidden deeper below", "apps", "apps/api/.github/ci.yaml", false),
            ("hidden named by the pattern", ".deploy/*", ".deploy/prod/d.yaml", true),
            ("hidden above, matched by star", "apps/*", "apps/.hidden/d.yaml", true),
            ("root pattern star", "*", "api/d.yaml", true),
            ("root pattern star hidden", "*", ".github/ci.yaml", true),
        ];
        for (case, p, path, want) in cases {
            assert_eq!(pattern(p).selects(path), want, "{case}: {p} vs {path}");
        }
    }

    #[test]
    fn may_contain_table() {
        // (case, pattern, directory, may hold a match)
        let cases = [
            ("root", "apps/*/production", "", true),
            ("first component", "apps/*/production", "apps", true),
            ("other first component", "apps/*/production", "docs", false),
            ("star component", "apps/*/production", "apps/api", true),
            ("the match", "apps/*/production", "apps/api/production", true),
            ("below the match", "apps/*/production", "apps/api/production/sub", false),
            ("wrong leaf", "apps/*/production", "apps/api/staging", false),
            ("below a wrong leaf", "apps/*/production", "apps/api/staging/sub", false),
            ("double star", "apps/**/production", "apps/a/b/c", true),
            ("below a double star match", "apps/**", "apps/a/b/c", true),
            ("before double star", "apps/**/production", "docs/a", false),
        ];
        for (case, p, dir, want) in cases {
            assert_eq!(pattern(p).may_contain(dir), want, "{case}: {p} vs {dir}");
        }
    }

    #[test]
    fn invalid_patterns_are_errors_that_name_them() {
        // (case, pattern, message)
        let cases = [
            ("unclosed class", "apps/[", "\"apps/[\" is not a valid glob: "),
            ("triple star", "apps/***/x", "\"apps/***/x\" is not a valid glob: "),
            (
                "absolute",
                "/etc/apps",
                "\"/etc/apps\" must be relative to the repository root",
            ),
            (
                "parent",
                "apps/../../x",
                "\"apps/../../x\" must be relative to the repository root",
            ),
            ("empty", "", "the path pattern is empty"),
            ("only a slash", "/", "the path pattern is empty"),
        ];
        for (case, p, want) in cases {
            let err = PathPattern::new(p).expect_err(case).to_string();
            assert!(err.starts_with(want), "{case}: {err}");
        }
    }

    #[test]
    fn file_globs_take_alternatives_and_cross_directories() {
        // (glob, path, matches)
        let cases = [
            ("*.yaml", "a.yaml", true),
            ("*.yaml", "sub/a.yaml", true),
            ("{config.yaml,env-use2/*}", "env-use2/x.yaml", true),
            ("{config.yaml,env-use2/*}", "config.yaml", true),
            ("{config.yaml,env-use2/*}", "other.yaml", false),
            ("prod-*.yaml", "dev-a.yaml", false),
        ];
        for (glob, path, want) in cases {
            assert_eq!(file_glob(glob).unwrap().matches(path), want, "{glob} {path}");
        }
        assert!(file_glob("[").is_err());
    }
}
