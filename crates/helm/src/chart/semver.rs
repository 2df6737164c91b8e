//! Masterminds/semver v3 as Helm uses it: `NewVersion` (lenient: `v1`, `1.2` are versions)
//! and constraints (`^1.2`, `~1.2.3`, `>=1 <2`, `1.x`, `*`, `a - b`, `||`), for chart versions,
//! dependency version ranges and `kubeVersion`.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

static LOOSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$")
        .expect("static regex")
});
static CONSTRAINT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^\s*({OPS})\s*({CV})\s*$")).expect("static regex"));
static RANGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"\s*({CV})\s+-\s+({CV})\s*")).expect("static regex"));
static FIND: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"({OPS})\s*({CV})")).expect("static regex"));
static VALID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
    ))
    .expect("static regex")
});

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

impl Version {
    /// `semver.NewVersion`: `None` where Masterminds refuses the text.
    #[must_use]
    pub fn parse(v: &str) -> Option<Version> {
        let m = LOOSE.captures(v)?;
        let num = |i: usize| {
            m.get(i)
                .map_or(Some(0), |g| g.as_str().trim_start_matches('.').parse().ok())
        };
        let pre = m.get(5).map_or("", |g| g.as_str()).to_string();
        if !pre.is_empty() && !valid_prerelease(&pre) {
            return None;
        }
        Some(Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre,
        })
    }

    fn cmp_version(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(&self.pre, &other.pre))
    }
}

/// Masterminds' `Compare`: by major, minor, patch, then prerelease precedence (a release
/// after its prereleases); build metadata is not compared. Helm sorts a repository's index and
/// an OCI repository's tags with it, highest first, to pick a chart version.
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_version(other)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn valid_prerelease(pre: &str) -> bool {
    pre.split('.').all(|part| {
        let numeric = part.bytes().all(|b| b.is_ascii_digit());
        !(part.is_empty() || (numeric && part.len() > 1 && part.starts_with('0')))
    })
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..pa.len().max(pb.len()) {
        let ord = match (pa.get(i), pb.get(i)) {
            (Some(x), Some(y)) => compare_identifier(x, y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn compare_identifier(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        _ => a.cmp(b),
    }
}

#[derive(Debug, Clone)]
struct Constraint {
    op: String,
    con: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(c: &str) -> Option<Constraint> {
    let m = CONSTRAINT.captures(c)?;
    let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
    let (ver, dirty, minor_dirty, patch_dirty) = if is_x(major) {
        (format!("0.0.0{pre}"), true, false, false)
    } else if minor.is_empty() || is_x(minor.trim_start_matches('.')) {
        (format!("{major}.0.0{pre}"), true, true, false)
    } else if patch.is_empty() || is_x(patch.trim_start_matches('.')) {
        (format!("{major}{minor}.0{pre}"), true, false, true)
    } else {
        (g(2).to_string(), false, false, false)
    };
    Some(Constraint {
        op: g(1).to_string(),
        con: Version::parse(&ver)?,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

/// A parsed constraint: ORs of ANDs.
#[derive(Debug, Clone)]
pub struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

impl Constraints {
    /// `semver.NewConstraint`: `None` for text Masterminds refuses.
    #[must_use]
    pub fn parse(text: &str) -> Option<Constraints> {
        let rewritten = rewrite_range(text);
        let mut groups = Vec::new();
        for or in rewritten.split("||") {
            if !VALID.is_match(or) {
                return None;
            }
            let found: Vec<&str> = FIND.find_iter(or).map(|m| m.as_str()).collect();
            let parts = if found.is_empty() { vec![or] } else { found };
            let cs: Vec<Constraint> = parts.into_iter().map(parse_constraint).collect::<Option<_>>()?;
            let has_pre = cs.iter().any(|c| !c.con.pre.is_empty());
            groups.push((cs, has_pre));
        }
        Some(Constraints { groups })
    }

    /// `Constraints.Check`.
    #[must_use]
    pub fn check(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|(cs, pre)| cs.iter().all(|c| check_one(c, v, *pre)))
    }
}

fn rewrite_range(text: &str) -> String {
    let mut out = text.to_string();
    for caps in RANGE.captures_iter(text) {
        let (whole, a, b) = (&caps[0], &caps[1], caps.get(11).map_or("", |m| m.as_str()));
        out = out.replacen(whole, &format!(">= {a}, <= {b} "), 1);
    }
    out
}

fn check_one(c: &Constraint, v: &Version, include_pre: bool) -> bool {
    if !v.pre.is_empty() && !include_pre {
        return false;
    }
    let cmp = v.cmp_version(&c.con);
    match c.op.as_str() {
        "" | "=" => {
            if c.dirty {
                tilde(c, v)
            } else {
                cmp == Ordering::Equal
            }
        }
        "!=" => not_equal(c, v),
        ">" => greater(c, v),
        "<" => cmp == Ordering::Less,
        ">=" | "=>" => cmp != Ordering::Less,
        "<=" | "=<" => less_equal(c, v, cmp),
        "~" | "~>" => tilde(c, v),
        "^" => caret(c, v),
        _ => false,
    }
}

fn not_equal(c: &Constraint, v: &Version) -> bool {
    if c.dirty {
        if c.con.major != v.major {
            return true;
        }
        if c.minor_dirty {
            return false;
        }
        if c.con.minor != v.minor {
            return true;
        }
        if c.patch_dirty {
            return (!v.pre.is_empty() || !c.con.pre.is_empty())
                && compare_prerelease(&v.pre, &c.con.pre) != Ordering::Equal;
        }
    }
    v.cmp_version(&c.con) != Ordering::Equal
}

fn greater(c: &Constraint, v: &Version) -> bool {
    if !c.dirty {
        return v.cmp_version(&c.con) == Ordering::Greater;
    }
    if v.major != c.con.major {
        return v.major > c.con.major;
    }
    if c.minor_dirty {
        return false;
    }
    if c.patch_dirty {
        return v.minor > c.con.minor;
    }
    v.cmp_version(&c.con) == Ordering::Greater
}

fn less_equal(c: &Constraint, v: &Version, cmp: Ordering) -> bool {
    if !c.dirty {
        return cmp != Ordering::Greater;
    }
    !(v.major > c.con.major || (v.major == c.con.major && v.minor > c.con.minor && !c.minor_dirty))
}

fn tilde(c: &Constraint, v: &Version) -> bool {
    if v.cmp_version(&c.con) == Ordering::Less {
        return false;
    }
    if c.con.major == 0 && c.con.minor == 0 && c.con.patch == 0 && !c.minor_dirty && !c.patch_dirty {
        return true;
    }
    v.major == c.con.major && (c.minor_dirty || v.minor == c.con.minor)
}

fn caret(c: &Constraint, v: &Version) -> bool {
    if v.cmp_version(&c.con) == Ordering::Less {
        return false;
    }
    if c.con.major > 0 || c.minor_dirty {
        return v.major == c.con.major;
    }
    if v.major > 0 {
        return false;
    }
    if c.con.minor > 0 || c.patch_dirty {
        return v.minor == c.con.minor;
    }
    if v.minor > 0 {
        return false;
    }
    c.con.patch == v.patch
}

/// Helm's `IsCompatibleRange`: `version` parses and meets `constraint`.
#[must_use]
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    match (Version::parse(version), Constraints::parse(constraint)) {
        (Some(v), Some(c)) => c.check(&v),
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
        assert!(Version::parse("v1.2").is_some());
        assert!(Version::parse("1.2.3-01").is_none());
        assert!(Version::parse("banana").is_none());
    }

    #[test]
    fn versions_sort_as_masterminds() {
        let mut versions: Vec<Version> = ["1.10.0", "1.2.0", "1.10.0-rc.1", "1.10.0-beta", "0.9", "v2"]
            .iter()
            .map(|v| Version::parse(v).expect("valid"))
            .collect();
        versions.sort();
        let want: Vec<Version> = ["0.9", "1.2.0", "1.10.0-beta", "1.10.0-rc.1", "1.10.0", "2.0.0"]
            .iter()
            .map(|v| Version::parse(v).expect("valid"))
            .collect();
        assert_eq!(versions, want);
    }
}
