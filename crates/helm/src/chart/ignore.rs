//! `.helmignore` as Helm v4 applies it (pkg/ignore): one rule a line, `#` comments, `!`
//! negation, a trailing `/` for directories only, a leading `/` anchors at the chart root, a rule
//! without `/` matches base names; globs are Go's `path/filepath.Match` (`*`, `?`, `[...]`,
//! `\` escapes; `*` does not cross `/`); `**` is an error. Rules are tried in order and the first
//! that decides wins; a negated rule decides "ignored" for every path it does *not* match (that
//! is Helm's behaviour, not gitignore's). Helm always adds `templates/.?*`.

/// A `.helmignore` Helm refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A `**` rule.
    #[error("double-star (**) syntax is not supported")]
    DoubleStar,
    /// A glob `filepath.Match` refuses.
    #[error("syntax error in pattern")]
    BadPattern,
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: String,
    negate: bool,
    must_dir: bool,
    mode: Mode,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Rooted,
    Structural,
    Basename,
}

/// Parsed rules.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    patterns: Vec<Pattern>,
}

impl Rules {
    /// Parses a `.helmignore` (a UTF-8 BOM on the first line is dropped) and adds Helm's default
    /// rule.
    ///
    /// # Errors
    /// [`IgnoreError`] for a rule Helm refuses.
    pub fn parse(text: &str) -> Result<Rules, IgnoreError> {
        let mut rules = Rules::default();
        for line in text.trim_start_matches('\u{feff}').lines() {
            rules.add(line)?;
        }
        rules.add_defaults();
        Ok(rules)
    }

    /// Only Helm's default rule (`templates/.?*`).
    #[must_use]
    pub fn defaults() -> Rules {
        let mut rules = Rules::default();
        rules.add_defaults();
        rules
    }

    fn add_defaults(&mut self) {
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, rule: &str) -> Result<(), IgnoreError> {
        let rule = rule.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(IgnoreError::DoubleStar);
        }
        if go_match(rule, "abc").is_none() {
            return Err(IgnoreError::BadPattern);
        }
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (must_dir, rule) = match rule.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let (mode, glob) = if let Some(r) = rule.strip_prefix('/') {
            (Mode::Rooted, r)
        } else if rule.contains('/') {
            (Mode::Structural, rule)
        } else {
            (Mode::Basename, rule)
        };
        self.patterns.push(Pattern {
            glob: glob.to_string(),
            negate,
            must_dir,
            mode,
        });
        Ok(())
    }

    /// Whether Helm skips `path` (relative, `/`-separated; `is_dir` for directories, whose
    /// contents are then all skipped).
    #[must_use]
    pub fn ignore(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for p in &self.patterns {
            let subject = match p.mode {
                Mode::Basename => path.rsplit('/').next().unwrap_or(path),
                _ => path,
            };
            let matched = go_match(&p.glob, subject).unwrap_or(false);
            if p.negate {
                if (p.must_dir && !is_dir) || !matched {
                    return true;
                }
                continue;
            }
            if p.must_dir && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }

    /// Whether a file is skipped: any of its directories is ignored, or the file itself.
    #[must_use]
    pub fn ignore_file(&self, path: &str) -> bool {
        let mut dir = String::new();
        for part in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, dirs)| dirs)
        {
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(part);
            if self.ignore(&dir, true) {
                return true;
            }
        }
        self.ignore(path, false)
    }
}

/// Go's `path/filepath.Match` on `/`-separated names: `Some(matched)`, or `None` for a malformed
/// pattern (Go's `ErrBadPattern`).
#[must_use]
pub fn go_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    if p.is_empty() {
        return Some(n.is_empty());
    }
    match p[0] {
        '*' => {
            let rest = &p[1..];
            for i in 0..=n.len() {
                if i > 0 && n[i - 1] == '/' {
                    break;
                }
                if match_from(rest, &n[i..])? {
                    return Some(true);
                }
            }
            // Go still validates the rest of the pattern.
            validate(rest)?;
            Some(false)
        }
        '?' => {
            if n.is_empty() || n[0] == '/' {
                return validate(&p[1..]).map(|()| false);
            }
            match_from(&p[1..], &n[1..])
        }
        '[' => {
            let (matched, len) = class(&p[1..], n.first().copied())?;
            if n.is_empty() || !matched {
                return validate(&p[1 + len..]).map(|()| false);
            }
            match_from(&p[1 + len..], &n[1..])
        }
        '\\' => {
            let c = *p.get(1)?;
            if n.first() != Some(&c) {
                return validate(&p[2..]).map(|()| false);
            }
            match_from(&p[2..], &n[1..])
        }
        c => {
            if n.first() != Some(&c) {
                return validate(&p[1..]).map(|()| false);
            }
            match_from(&p[1..], &n[1..])
        }
    }
}

fn validate(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                p.get(i + 1)?;
                i += 2;
            }
            '[' => {
                let (_, len) = class(&p[i + 1..], None)?;
                i += 1 + len;
            }
            _ => i += 1,
        }
    }
    Some(())
}

/// A `[...]` class after its `[`: whether `c` is in it, and how many pattern chars it used.
/// As Go: a range end may not be an unescaped `-` or `]`, and the class must close.
fn class(p: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut ranges = 0;
    loop {
        if p.get(i) == Some(&']') && ranges > 0 {
            i += 1;
            break;
        }
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            matched = true;
        }
        ranges += 1;
    }
    Some((matched != negated, i))
}

/// Go's `getEsc`.
fn class_char(p: &[char], i: usize) -> Option<(char, usize)> {
    let (ch, next) = match *p.get(i)? {
        '-' | ']' => return None,
        '\\' => (*p.get(i + 1)?, i + 2),
        c => (c, i + 1),
    };
    p.get(next)?;
    Some((ch, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_globs() {
        assert_eq!(go_match("*.txt", "a.txt"), Some(true));
        assert_eq!(go_match("*.txt", "d/a.txt"), Some(false));
        assert_eq!(go_match("a[b-d].txt", "ac.txt"), Some(true));
        assert_eq!(go_match("a[^b].txt", "ab.txt"), Some(false));
        assert_eq!(go_match("[", "a"), None);
    }

    #[test]
    fn helm_rules() {
        let rules = Rules::parse("# c\n*.txt\nsecret/\n/top.md\n").unwrap();
        assert!(rules.ignore_file("docs/a.txt"));
        assert!(rules.ignore_file("secret/x.yaml"));
        assert!(rules.ignore_file("top.md"));
        assert!(!rules.ignore_file("sub/top.md"));
        assert!(rules.ignore_file("templates/.hidden"));
        assert!(!rules.ignore_file("templates/x.yaml"));
        assert!(Rules::parse("a/**/b").is_err());
    }
}
