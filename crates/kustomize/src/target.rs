//! Patch targets: which resources a `target` selector picks, as kustomize's `resmap.Select`
//! does. Group, version, kind, name and namespace are anchored regular expressions
//! (`^(?:re)$`, kustomize's `types.SelectorRegex`; an empty one matches anything); name and
//! namespace match the resource's original id (before any prefix, suffix or namespace change)
//! or its current one; the namespace compared is the effective one (`default` for a namespaced
//! resource without one, `_non_namespaceable_` for a cluster-scoped one). `labelSelector` and
//! `annotationSelector` use Kubernetes label-selector syntax.

use regex::Regex;

use super::BuildError;
use super::kustomization::Selector;
use super::resource::{ResId, ResMap, Resource, is_cluster_scoped};

/// What kustomize's `resid.TotallyNotANamespace` calls a cluster-scoped resource's namespace.
const NOT_A_NAMESPACE: &str = "_non_namespaceable_";

fn anchored(pattern: &str) -> Result<Option<Regex>, BuildError> {
    if pattern.is_empty() {
        return Ok(None);
    }
    // Go's RE2 and the regex crate agree on ordinary syntax; a pattern either rejects is left to
    // kustomize, whose error message this does not reproduce.
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|_| BuildError::Unsupported(format!("uses a patch target regex the renderer cannot read: {pattern}")))
}

fn effective_namespace(id: &ResId) -> &str {
    if is_cluster_scoped(id) {
        NOT_A_NAMESPACE
    } else {
        id.effective_namespace()
    }
}

/// A selector compiled once for many resources.
pub struct Compiled {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

impl Compiled {
    pub fn new(sel: &Selector) -> Result<Self, BuildError> {
        let re = |s: &Option<String>| anchored(s.as_deref().unwrap_or(""));
        Ok(Self {
            group: re(&sel.group)?,
            version: re(&sel.version)?,
            kind: re(&sel.kind)?,
            name: re(&sel.name)?,
            namespace: re(&sel.namespace)?,
            labels: parse_selector(sel.label_selector.as_deref().unwrap_or(""))?,
            annotations: parse_selector(sel.annotation_selector.as_deref().unwrap_or(""))?,
        })
    }

    pub fn matches(&self, r: &Resource) -> bool {
        let cur = r.id();
        // kustomize's OrgId: the first id it had, else the current one.
        let org = r.previous.first().cloned().unwrap_or_else(|| cur.clone());
        let hit = |re: &Option<Regex>, a: &str, b: &str| re.as_ref().is_none_or(|re| re.is_match(a) || re.is_match(b));
        let one = |re: &Option<Regex>, a: &str| re.as_ref().is_none_or(|re| re.is_match(a));
        hit(&self.namespace, effective_namespace(&org), effective_namespace(&cur))
            && hit(&self.name, &org.name, &cur.name)
            && one(&self.group, &cur.group)
            && one(&self.version, &cur.version)
            && one(&self.kind, &cur.kind)
            && self.labels.iter().all(|q| q.matches(&r.string_map("labels")))
            && self.annotations.iter().all(|q| q.matches(&r.string_map("annotations")))
    }
}

/// Whether `r`'s labels and annotations satisfy the two label-selector strings (empty ones
/// match anything), as kustomize's `MatchesLabelSelector` and `MatchesAnnotationSelector` read
/// them.
pub fn labels_and_annotations_match(
    label_selector: &str,
    annotation_selector: &str,
    r: &Resource,
) -> Result<bool, BuildError> {
    let labels = parse_selector(label_selector)?;
    let annotations = parse_selector(annotation_selector)?;
    Ok(labels.iter().all(|q| q.matches(&r.string_map("labels")))
        && annotations.iter().all(|q| q.matches(&r.string_map("annotations"))))
}

/// Whether `sel` picks `r`.
pub fn matches(sel: &Selector, r: &Resource) -> Result<bool, BuildError> {
    Ok(Compiled::new(sel)?.matches(r))
}

/// The positions in `res` of the resources `sel` picks, in order.
pub fn select(sel: &Selector, res: &ResMap) -> Result<Vec<usize>, BuildError> {
    let c = Compiled::new(sel)?;
    Ok(res
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| c.matches(r))
        .map(|(i, _)| i)
        .collect())
}

/// One clause of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, set: &[(&str, &str)]) -> bool {
        let get = |k: &str| set.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        match self {
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            // As in apimachinery: a missing key satisfies `!=` and `notin`.
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Comma,
    Open,
    Close,
    Not,
    Eq,
    DoubleEq,
    NotEq,
}

fn unsupported_selector(s: &str) -> BuildError {
    BuildError::Unsupported(format!("uses a label selector the renderer cannot read: {s}"))
}

fn tokens(s: &str) -> Result<Vec<Token>, BuildError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::NotEq);
                i += 2;
            }
            '!' => {
                out.push(Token::Not);
                i += 1;
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::DoubleEq);
                i += 2;
            }
            '=' => {
                out.push(Token::Eq);
                i += 1;
            }
            // `<`/`>` (gt, lt) are left to kustomize.
            '<' | '>' => return Err(unsupported_selector(s)),
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !",()!=<>".contains(chars[i]) {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

/// A label value as apimachinery accepts it: at most 63 characters, alphanumerics with `-`, `_`,
/// `.` inside.
fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name like a value (not empty).
fn valid_key(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_value(name)
}

/// Parses a label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`) into requirements, all of
/// which must hold. Anything apimachinery would reject, or that this does not read, is
/// `Unsupported` so kustomize reports it in its own words.
fn parse_selector(s: &str) -> Result<Vec<Requirement>, BuildError> {
    let toks = tokens(s)?;
    let bad = || unsupported_selector(s);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let req = requirement(&toks, &mut i).ok_or_else(bad)?;
        if !valid_requirement(&req) {
            return Err(bad());
        }
        out.push(req);
        match toks.get(i) {
            None => {}
            Some(Token::Comma) if i + 1 < toks.len() => i += 1,
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// The requirement starting at `toks[*i]` (`!k`, `k`, `k=v`, `k==v`, `k!=v`, `k in (…)`,
/// `k notin (…)`), leaving `*i` just after it; `None` when the tokens there are not one.
fn requirement(toks: &[Token], i: &mut usize) -> Option<Requirement> {
    if toks[*i] == Token::Not {
        let k = word(toks.get(*i + 1))?;
        *i += 2;
        return Some(Requirement::DoesNotExist(k));
    }
    let k = word(toks.get(*i))?;
    *i += 1;
    match toks.get(*i) {
        None | Some(Token::Comma) => Some(Requirement::Exists(k)),
        Some(Token::Eq | Token::DoubleEq | Token::NotEq) => {
            let negate = toks[*i] == Token::NotEq;
            let v = equality_value(toks, i)?;
            Some(if negate {
                Requirement::NotIn(k, vec![v])
            } else {
                Requirement::In(k, vec![v])
            })
        }
        Some(Token::Word(op)) if op == "in" || op == "notin" => {
            let negate = op == "notin";
            let vs = value_set(toks, i)?;
            Some(if negate {
                Requirement::NotIn(k, vs)
            } else {
                Requirement::In(k, vs)
            })
        }
        _ => None,
    }
}

/// The word a token is, if it is one.
fn word(t: Option<&Token>) -> Option<String> {
    match t {
        Some(Token::Word(w)) => Some(w.clone()),
        _ => None,
    }
}

/// The value after the `=`, `==` or `!=` at `toks[*i]`, leaving `*i` after it. `a=` (an empty
/// value) is valid in apimachinery.
fn equality_value(toks: &[Token], i: &mut usize) -> Option<String> {
    match toks.get(*i + 1) {
        Some(Token::Word(w)) => {
            *i += 2;
            Some(w.clone())
        }
        None | Some(Token::Comma) => {
            *i += 1;
            Some(String::new())
        }
        _ => None,
    }
}

/// The `(v1, v2, …)` after the `in` or `notin` at `toks[*i]`, leaving `*i` after the `)`. An empty
/// set is not one.
fn value_set(toks: &[Token], i: &mut usize) -> Option<Vec<String>> {
    if toks.get(*i + 1) != Some(&Token::Open) {
        return None;
    }
    *i += 2;
    let mut vs = Vec::new();
    loop {
        vs.push(word(toks.get(*i))?);
        *i += 1;
        match toks.get(*i) {
            Some(Token::Comma) => *i += 1,
            Some(Token::Close) => {
                *i += 1;
                return Some(vs);
            }
            _ => return None,
        }
    }
}

/// Whether apimachinery accepts the requirement's key and values.
fn valid_requirement(req: &Requirement) -> bool {
    let (key, values): (&str, &[String]) = match req {
        Requirement::In(k, v) | Requirement::NotIn(k, v) => (k, v),
        Requirement::Exists(k) | Requirement::DoesNotExist(k) => (k, &[]),
    };
    valid_key(key) && values.iter().all(|v| valid_value(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(yaml: &str) -> Resource {
        Resource::new(safe_yaml::documents(yaml).0.remove(0))
    }

    fn sel(yaml: &str) -> Selector {
        serde_json::from_value(safe_yaml::documents(yaml).0.remove(0)).expect("a selector")
    }

    /// Which of a Deployment `web` (no namespace, labels app=web, tier=fe) and a ClusterRole
    /// `reader` each selector picks. kubectl kustomize v5.5.0 agrees on the cases the patch
    /// tests share (kind regex, anchored names, `default` and cluster-scoped namespaces, `in`,
    /// `notin`, `!=`, `!key`, annotations).
    #[test]
    fn selects_as_kustomize_does() {
        let web =
            resource("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web, tier: fe}}\n");
        let reader =
            resource("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n");
        let cases = [
            ("{}", true, true),
            ("{kind: Deploy.*}", true, false),
            ("{kind: Deploy}", false, false),
            ("{name: we}", false, false),
            ("{name: 'w.b|reader'}", true, true),
            ("{namespace: default}", true, false),
            ("{namespace: '.*'}", true, true),
            ("{group: apps, version: v1}", true, false),
            ("{labelSelector: 'app=web'}", true, false),
            ("{labelSelector: 'app==web,tier in (fe, be)'}", true, false),
            ("{labelSelector: 'tier!=fe'}", false, true),
            ("{labelSelector: 'app notin (web)'}", false, true),
            ("{labelSelector: 'tier'}", true, false),
            ("{labelSelector: '!tier'}", false, true),
        ];
        for (s, want_web, want_reader) in cases {
            let s = sel(s);
            assert_eq!(matches(&s, &web), Ok(want_web), "{s:?} on web");
            assert_eq!(matches(&s, &reader), Ok(want_reader), "{s:?} on reader");
        }
    }

    #[test]
    fn the_original_name_still_matches_after_a_rename() {
        let mut web = resource("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n");
        web.set_name("b-web");
        assert_eq!(matches(&sel("{name: web}"), &web), Ok(true));
        assert_eq!(matches(&sel("{name: b-web}"), &web), Ok(true));
    }

    #[test]
    fn selectors_it_cannot_read_are_unsupported() {
        for s in [
            "{labelSelector: 'a > 1'}",
            "{labelSelector: 'a in ()'}",
            "{labelSelector: 'a b'}",
            "{name: '(('}",
        ] {
            let r = resource("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
            assert!(matches!(matches(&sel(s), &r), Err(BuildError::Unsupported(_))), "{s}");
        }
    }
}
