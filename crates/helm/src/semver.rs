//! Masterminds/semver v3, the one semver Helm and sprig both use: `NewVersion` (lenient: `v1`,
//! `1.2` are versions; a prerelease is validated) and constraints (`^1.2`, `~1.2.3`, `>=1 <2`,
//! `1.x`, `*`, `a - b`, `a, b || c`) with Masterminds' rule that a prerelease version only
//! matches a constraint group that names a prerelease. Chart versions, dependency ranges,
//! `kubeVersion`, repository and OCI version picks, and the `semver`/`semverCompare` template
//! functions all read versions here. (The Rust `semver` crate follows Cargo's rules, which
//! differ: `1.2` is not a version there, `^0.0` and `*` with prereleases match otherwise, and
//! there is no `a - b`, `||` or `x` wildcard.)

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?(?:\+([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?$")
        .expect("a valid regex")
});
static CONSTRAINT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^\s*({OPS})\s*({CV})\s*$")).expect("a valid regex"));
static RANGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"\s*({CV})\s+-\s+({CV})\s*")).expect("a valid regex"));
static FIND: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"({OPS})\s*({CV})")).expect("a valid regex"));
static VALID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
    ))
    .expect("a valid regex")
});

/// Why Masterminds refuses a version or a constraint, in its words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    #[error("invalid semantic version")]
    Invalid,
    #[error("error parsing version segment: {0}")]
    Segment(#[source] std::num::ParseIntError),
    #[error("version segment starts with 0")]
    SegmentStartsZero,
    #[error("improper constraint: {0:?}")]
    Constraint(String),
    #[error("constraint parser error")]
    ConstraintVersion,
}

/// A semantic version. Equality and order are Masterminds' `Compare` (build metadata and the
/// original text are not compared).
#[derive(Clone, Debug)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub meta: String,
    pub original: String,
}

impl Version {
    /// `semver.NewVersion`.
    ///
    /// # Errors
    /// [`SemverError`] with Masterminds' message.
    pub fn parse(s: &str) -> Result<Version, SemverError> {
        let c = VERSION.captures(s).ok_or(SemverError::Invalid)?;
        let num = |i: usize| {
            c.get(i)
                .map_or(Ok(0), |m| m.as_str().parse::<u64>())
                .map_err(SemverError::Segment)
        };
        let pre = c.get(4).map_or("", |m| m.as_str()).to_string();
        if pre
            .split('.')
            .any(|p| p.len() > 1 && p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(SemverError::SegmentStartsZero);
        }
        Ok(Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre,
            meta: c.get(5).map_or("", |m| m.as_str()).to_string(),
            original: s.to_string(),
        })
    }

    /// `Version.String`: `major.minor.patch[-pre][+meta]`, without a leading `v`.
    #[must_use]
    pub fn canonical(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s += &format!("-{}", self.pre);
        }
        if !self.meta.is_empty() {
            s += &format!("+{}", self.meta);
        }
        s
    }
}

/// Masterminds' `Compare`: by major, minor, patch, then prerelease precedence (a release after
/// its prereleases). Helm sorts a repository's index and an OCI repository's tags with it,
/// highest first, to pick a chart version.
impl Ord for Version {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &o.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let (ap, bp): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..ap.len().max(bp.len()) {
        let (s, o) = (ap.get(i).copied().unwrap_or(""), bp.get(i).copied().unwrap_or(""));
        let d = compare_part(s, o);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Err(_), Err(_)) => s.cmp(o),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
    }
}

/// One comparison of a constraint.
#[derive(Clone, Debug)]
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "*" | "X")
}

impl Constraint {
    fn parse(c: &str) -> Result<Constraint, SemverError> {
        let m = CONSTRAINT
            .captures(c)
            .ok_or_else(|| SemverError::Constraint(c.to_string()))?;
        let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
        let (maj, min, pat, pre) = (g(3), g(4).trim_start_matches('.'), g(5).trim_start_matches('.'), g(6));
        let (ver, dirty, minor_dirty, patch_dirty) = if is_x(maj) || maj.is_empty() {
            (format!("0.0.0{pre}"), true, false, false)
        } else if is_x(min) || min.is_empty() {
            (format!("{maj}.0.0{pre}"), true, true, false)
        } else if is_x(pat) || pat.is_empty() {
            (format!("{maj}.{min}.0{pre}"), true, false, true)
        } else {
            (g(2).to_string(), false, false, false)
        };
        let con = Version::parse(&ver).map_err(|_| SemverError::ConstraintVersion)?;
        Ok(Constraint {
            op: g(1).to_string(),
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op.as_str() {
            "" | "=" if self.dirty => self.tilde(v),
            "" | "=" => v.cmp(c) == Ordering::Equal,
            "!=" => self.not_equal(v),
            ">" if !self.dirty => v.cmp(c) == Ordering::Greater,
            ">" => v.major > c.major || v.major == c.major && !self.minor_dirty && self.gt_dirty(v),
            "<" => v.cmp(c) == Ordering::Less,
            ">=" | "=>" => v.cmp(c) != Ordering::Less,
            "<=" | "=<" if !self.dirty => v.cmp(c) != Ordering::Greater,
            "<=" | "=<" => !(v.major > c.major || v.major == c.major && v.minor > c.minor && !self.minor_dirty),
            "~" | "~>" => self.tilde(v),
            "^" => self.caret(v),
            _ => false,
        }
    }

    fn gt_dirty(&self, v: &Version) -> bool {
        if self.patch_dirty {
            v.minor > self.con.minor
        } else {
            v.cmp(&self.con) == Ordering::Greater
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.patch != v.patch && !self.patch_dirty {
                return true;
            }
            if self.patch_dirty {
                return (!v.pre.is_empty() || !c.pre.is_empty()) && compare_pre(&v.pre, &c.pre) != Ordering::Equal;
            }
        }
        v.cmp(c) != Ordering::Equal
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.cmp(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.cmp(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

/// A constraint set: groups separated by `||`, each a conjunction.
#[derive(Clone, Debug)]
pub struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

impl Constraints {
    /// `semver.NewConstraint`.
    ///
    /// # Errors
    /// [`SemverError`] with Masterminds' message.
    pub fn parse(c: &str) -> Result<Constraints, SemverError> {
        let mut text = c.to_string();
        for m in RANGE.captures_iter(c) {
            let (whole, lo, hi) = (&m[0], &m[1], m.get(11).map_or("", |x| x.as_str()));
            text = text.replacen(whole, &format!(">= {lo}, <= {hi} "), 1);
        }
        let mut groups = Vec::new();
        for part in text.split("||") {
            if !VALID.is_match(part) {
                return Err(SemverError::Constraint(part.to_string()));
            }
            let mut found: Vec<&str> = FIND.find_iter(part).map(|m| m.as_str()).collect();
            if found.is_empty() {
                found.push(part);
            }
            let cs = found
                .into_iter()
                .map(Constraint::parse)
                .collect::<Result<Vec<_>, _>>()?;
            let has_pre = cs.iter().any(|c| !c.con.pre.is_empty());
            groups.push((cs, has_pre));
        }
        Ok(Constraints { groups })
    }

    /// `Constraints.Check`.
    #[must_use]
    pub fn check(&self, v: &Version) -> bool {
        self.groups.iter().any(|(cs, pre)| cs.iter().all(|c| c.check(v, *pre)))
    }
}

/// Helm's `IsCompatibleRange`: `version` parses and meets `constraint`.
#[must_use]
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    match (Version::parse(version), Constraints::parse(constraint)) {
        (Ok(v), Ok(c)) => c.check(&v),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_match_as_masterminds() {
        assert!(is_compatible_range("0.1.0", "0.1.0"));
        assert!(is_compatible_range("^1.2.0", "1.9.0"));
        assert!(!is_compatible_range("^1.2.0", "2.0.0"));
        assert!(is_compatible_range("~1.2", "1.2.9"));
        assert!(is_compatible_range(">=1.0.0 <2.0.0", "1.5.0"));
        assert!(is_compatible_range("1.x", "1.7.3"));
        assert!(is_compatible_range("*", "3.0.0"));
        assert!(is_compatible_range("1.0.0 - 2.0.0", "1.5.0"));
        assert!(is_compatible_range("<1.0 || >=3", "3.1.0"));
        assert!(!is_compatible_range("", "1.0.0"));
        assert!(!is_compatible_range("^1.0.0", "1.1.0-beta"));
        assert!(is_compatible_range(">= 1.20.0-0", "1.36.0"));
        assert!(Version::parse("v1.2").is_ok());
        assert_eq!(Version::parse("1.2.3-01"), Err(SemverError::SegmentStartsZero));
        assert_eq!(Version::parse("banana"), Err(SemverError::Invalid));
        assert_eq!(
            Constraints::parse("~> banana").unwrap_err().to_string(),
            "improper constraint: \"~> banana\""
        );
    }

    #[test]
    fn versions_sort_as_masterminds() {
        let mut versions: Vec<Version> = ["1.10.0", "1.2.0", "1.10.0-rc.1", "1.10.0-beta", "0.9", "v2"]
            .iter()
            .map(|v| Version::parse(v).expect("valid"))
            .collect();
        versions.sort();
        let sorted: Vec<String> = versions.iter().map(Version::canonical).collect();
        assert_eq!(
            sorted,
            ["0.9.0", "1.2.0", "1.10.0-beta", "1.10.0-rc.1", "1.10.0", "2.0.0"]
        );
        assert_eq!(
            Version::parse("1.0.0+a"),
            Version::parse("1.0.0+b"),
            "metadata is not compared"
        );
    }
}
