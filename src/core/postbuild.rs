//! A Flux Kustomization's `postBuild` variable substitution, as kustomize-controller runs it on
//! each rendered object (fluxcd/pkg `kustomize_varsub.go` and its `envsubst` fork): the object
//! as YAML text, `${var}` replaced, read back (so `replicas: ${n}` becomes a number). Pure.
//!
//! The rules are Flux's, not the shell's: only `${…}` is an expression (`$var` is text); `$$`
//! is a `$` (so `$${var}` stays `${var}`); a variable nobody defines is the empty string (Flux
//! without its strict feature gate); `${var:=default}`, `${var:-default}` and `${var=default}`
//! give the default when the value is empty; `${var-default}` is a syntax error there, as it is
//! in Flux. Variable names must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`; newlines in
//! values are dropped. No substitution happens without variables, and an object labelled or
//! annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` is left as it is.

use std::collections::BTreeMap;

use serde_json::Value;

/// The label or annotation that turns substitution off for one object.
pub const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Why substitution failed: Flux fails the Kustomization for the same reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidName(String),
    #[error("{object}: variable substitution failed: {reason}")]
    Syntax { object: String, reason: String },
    #[error("{object}: after substitution it is not YAML: {reason}")]
    NotYaml { object: String, reason: String },
}

/// `docs` with `vars` substituted into each (but those that disable it).
pub fn substitute(docs: &[Value], vars: &BTreeMap<String, String>) -> Result<Vec<Value>, SubstituteError> {
    if vars.is_empty() {
        return Ok(docs.to_vec());
    }
    if let Some(bad) = vars.keys().find(|k| !valid_name(k)) {
        return Err(SubstituteError::InvalidName(bad.clone()));
    }
    let vars: BTreeMap<&str, String> = vars.iter().map(|(k, v)| (k.as_str(), v.replace('\n', ""))).collect();
    docs.iter().map(|d| one(d, &vars)).collect()
}

fn one(doc: &Value, vars: &BTreeMap<&str, String>) -> Result<Value, SubstituteError> {
    let meta = &doc["metadata"];
    if meta["labels"][DISABLE_KEY] == "disabled" || meta["annotations"][DISABLE_KEY] == "disabled" {
        return Ok(doc.clone());
    }
    // Without a `$` there is nothing to substitute: the YAML round trip Flux makes of it gives
    // the object back (most objects, and it is most of the cost at fleet size).
    if !has_dollar(doc) {
        return Ok(doc.clone());
    }
    let object = format!(
        "{} {}",
        doc["kind"].as_str().unwrap_or("object"),
        meta["name"].as_str().unwrap_or_default()
    );
    let text = serde_yaml::to_string(doc).map_err(|e| SubstituteError::NotYaml {
        object: object.clone(),
        reason: e.to_string(),
    })?;
    let out =
        eval(&text, &|name| vars.get(name).cloned().unwrap_or_default()).map_err(|reason| SubstituteError::Syntax {
            object: object.clone(),
            reason: reason.to_string(),
        })?;
    let (docs, err) = safe_yaml::documents(&out);
    if let Some(e) = err {
        return Err(SubstituteError::NotYaml {
            object,
            reason: e.to_string(),
        });
    }
    Ok(docs.into_iter().next().unwrap_or(Value::Null))
}

/// Whether a key or string of `v` holds a `$` (YAML writes it as it is, never escaped).
fn has_dollar(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('$'),
        Value::Array(items) => items.iter().any(has_dollar),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('$') || has_dollar(v)),
        _ => false,
    }
}

/// `^[_[:alpha:]][_[:alpha:][:digit:]]*$`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// What `envsubst` says of a bad expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Syntax {
    #[error("bad substitution")]
    Bad,
    #[error("missing closing brace")]
    MissingClosingBrace,
    #[error("unable to parse variable name")]
    VariableName,
    #[error("unsupported expression (pattern removal and replacement are not evaluated by driftwatch)")]
    Unsupported,
}

/// `text` with every `${…}` evaluated, `lookup` giving each variable's value.
pub fn eval(text: &str, lookup: &dyn Fn(&str) -> String) -> Result<String, Syntax> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser { chars, at: 0, lookup };
    let mut out = String::new();
    while p.at < p.chars.len() {
        match (p.chars[p.at], p.peek(1)) {
            ('$', Some('{')) => {
                p.at += 2;
                out.push_str(&p.expression()?);
            }
            // `$$` is a `$`, and what follows is text: `$${var}` is `${var}`.
            ('$', Some('$')) => {
                out.push('$');
                p.at += 2;
                while p.at < p.chars.len() && !(p.chars[p.at] == '$' && matches!(p.peek(1), Some('{' | '$'))) {
                    out.push(p.chars[p.at]);
                    p.at += 1;
                }
            }
            (c, _) => {
                out.push(c);
                p.at += 1;
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    chars: Vec<char>,
    at: usize,
    lookup: &'a dyn Fn(&str) -> String,
}

impl Parser<'_> {
    fn peek(&self, n: usize) -> Option<char> {
        self.chars.get(self.at + n).copied()
    }

    /// After `${`: the expression up to its `}`, evaluated.
    fn expression(&mut self) -> Result<String, Syntax> {
        if self.peek(0) == Some('#') {
            self.at += 1;
            let name = self.name().ok_or(Syntax::Bad)?;
            self.close()?;
            return Ok((self.lookup)(&name).len().to_string());
        }
        let name = self.name().ok_or(Syntax::VariableName)?;
        let value = (self.lookup)(&name);
        match self.peek(0) {
            Some('}') => {
                self.at += 1;
                Ok(value)
            }
            Some(':') if matches!(self.peek(1), Some('=' | '-' | '?' | '+')) => {
                self.at += 2;
                self.default(value)
            }
            Some('=') => {
                self.at += 1;
                self.default(value)
            }
            Some(':') => {
                self.at += 1;
                self.substring(&value)
            }
            Some('^' | ',') => self.casing(&value),
            Some('/' | '#' | '%') => Err(Syntax::Unsupported),
            _ => Err(Syntax::MissingClosingBrace),
        }
    }

    /// A variable name: letters, digits and `_`.
    fn name(&mut self) -> Option<String> {
        let start = self.at;
        while self.peek(0).is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    fn close(&mut self) -> Result<(), Syntax> {
        if self.peek(0) == Some('}') {
            self.at += 1;
            Ok(())
        } else {
            Err(Syntax::MissingClosingBrace)
        }
    }

    /// The default's words up to `}` (text and nested `${…}`): used when `value` is empty.
    fn default(&mut self, value: String) -> Result<String, Syntax> {
        let mut default = String::new();
        loop {
            match (self.peek(0), self.peek(1)) {
                (None, _) => return Err(Syntax::MissingClosingBrace),
                (Some('}'), _) => {
                    self.at += 1;
                    break;
                }
                (Some('$'), Some('{')) => {
                    self.at += 2;
                    default.push_str(&self.expression()?);
                }
                (Some('$'), Some('$')) | (Some('\\'), Some('\\' | '/')) => {
                    default.push(self.chars[self.at + 1]);
                    self.at += 2;
                }
                (Some(c), _) => {
                    default.push(c);
                    self.at += 1;
                }
            }
        }
        Ok(if value.is_empty() { default } else { value })
    }

    /// `${var:offset}`, `${var:offset:length}`, on bytes as Go slices them.
    fn substring(&mut self, value: &str) -> Result<String, Syntax> {
        let word = |p: &mut Self, stop: &[char]| {
            let start = p.at;
            while p.peek(0).is_some_and(|c| !stop.contains(&c)) {
                p.at += 1;
            }
            p.chars[start..p.at].iter().collect::<String>()
        };
        let offset = word(self, &[':', '}']);
        let length = match self.peek(0) {
            Some(':') => {
                self.at += 1;
                Some(word(self, &['}']))
            }
            _ => None,
        };
        self.close()?;
        let Ok(pos) = offset.trim().parse::<i64>() else {
            return Ok(value.to_string());
        };
        let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
        let start = if pos < 0 { (len + pos).max(0) } else { pos.min(len) };
        let end = match length.map(|l| l.trim().parse::<i64>()) {
            None => len,
            Some(Ok(l)) if l >= 0 => (start + l).min(len),
            Some(_) => return Ok(value.to_string()),
        };
        let (start, end) = (usize::try_from(start).unwrap_or(0), usize::try_from(end).unwrap_or(0));
        Ok(value.get(start..end).unwrap_or_default().to_string())
    }

    /// `${var^}`, `${var^^}`, `${var,}`, `${var,,}`.
    fn casing(&mut self, value: &str) -> Result<String, Syntax> {
        let op = self.chars[self.at];
        let all = self.peek(1) == Some(op);
        self.at += if all { 2 } else { 1 };
        self.close()?;
        let change = |s: &str| if op == '^' { s.to_uppercase() } else { s.to_lowercase() };
        Ok(match (all, value.chars().next()) {
            (true, _) => change(value),
            (false, Some(first)) => format!("{}{}", change(&first.to_string()), &value[first.len_utf8()..]),
            (false, None) => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn text(t: &str, pairs: &[(&str, &str)]) -> Result<String, Syntax> {
        let v = vars(pairs);
        eval(t, &|n| v.get(n).cloned().unwrap_or_default())
    }

    #[test]
    fn each_expression_as_flux_evaluates_it() {
        let set = [
            ("tag", "1.4.2"),
            ("empty", ""),
            ("name", "web"),
            ("region", "eu-west-1"),
        ];
        // (what, text, result)
        let cases = [
            ("a variable", "image: shop/web:${tag}", Ok("image: shop/web:1.4.2")),
            (
                "an undefined variable is empty (not strict)",
                "tag: x${nope}x",
                Ok("tag: xx"),
            ),
            ("$var without braces is text", "a: $tag", Ok("a: $tag")),
            ("a lone dollar is text", "cost: 5$", Ok("cost: 5$")),
            ("$$ escapes: $${var} stays", "a: $${tag}", Ok("a: ${tag}")),
            ("$$ alone is a dollar", "a: $$HOME", Ok("a: $HOME")),
            (
                ":= gives the default when undefined",
                "t: ${nope:=1.0.0}",
                Ok("t: 1.0.0"),
            ),
            (":= gives the default when empty", "t: ${empty:=1.0.0}", Ok("t: 1.0.0")),
            (":= keeps a value", "t: ${tag:=1.0.0}", Ok("t: 1.4.2")),
            (":- as :=", "t: ${nope:-latest}", Ok("t: latest")),
            (
                "= as := (not strict: every variable is set)",
                "t: ${nope=x}",
                Ok("t: x"),
            ),
            (
                "-default is a syntax error in Flux",
                "t: ${nope-x}",
                Err(Syntax::MissingClosingBrace),
            ),
            ("a nested default", "t: ${nope:=${name}-1}", Ok("t: web-1")),
            (
                "a default with a colon",
                "u: ${nope:=http://x:80}",
                Ok("u: http://x:80"),
            ),
            ("length", "n: ${#name}", Ok("n: 3")),
            ("upper", "n: ${name^^}", Ok("n: WEB")),
            ("upper first", "n: ${name^}", Ok("n: Web")),
            ("substring", "r: ${region:3}", Ok("r: west-1")),
            ("substring with length", "r: ${region:0:2}", Ok("r: eu")),
            ("negative offset", "r: ${region: -1}", Ok("r: 1")),
            ("unclosed", "a: ${tag", Err(Syntax::MissingClosingBrace)),
            ("no name", "a: ${}", Err(Syntax::VariableName)),
            (
                "pattern removal is not evaluated",
                "a: ${tag#1.}",
                Err(Syntax::Unsupported),
            ),
        ];
        for (what, input, want) in cases {
            assert_eq!(text(input, &set), want.map(str::to_string), "{what}");
        }
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web-${cluster_env:=dev}"},
            "spec": {"replicas": "${replicas}", "template": {"spec": {"containers": [
                {"name": "web", "image": "registry.example.com/shop/web:${tag}"}]}}}
        })
    }

    #[test]
    fn objects_are_substituted_as_yaml_text_then_read_back() {
        let out = substitute(&[deployment()], &vars(&[("tag", "1.4.2"), ("replicas", "3")])).unwrap();
        assert_eq!(
            out[0]["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example.com/shop/web:1.4.2"
        );
        assert_eq!(
            out[0]["spec"]["replicas"],
            json!(3),
            "a substituted number is a number, as in Flux"
        );
        assert_eq!(
            out[0]["metadata"]["name"], "web-dev",
            "the default of an undefined variable"
        );
    }

    #[test]
    fn without_variables_nothing_is_substituted() {
        let out = substitute(&[deployment()], &BTreeMap::new()).unwrap();
        assert_eq!(out[0], deployment(), "Flux substitutes only when there are variables");
    }

    #[test]
    fn an_object_that_disables_substitution_is_left_alone() {
        for place in ["labels", "annotations"] {
            let mut d = deployment();
            d["metadata"][place] = json!({DISABLE_KEY: "disabled"});
            let out = substitute(std::slice::from_ref(&d), &vars(&[("tag", "1")])).unwrap();
            assert_eq!(out[0], d, "{place}");
        }
    }

    #[test]
    fn names_and_values_follow_flux() {
        for bad in ["1tag", "my-tag", "tag.x", ""] {
            assert_eq!(
                substitute(&[deployment()], &vars(&[(bad, "1")])),
                Err(SubstituteError::InvalidName(bad.into())),
                "{bad:?}"
            );
        }
        for good in ["_tag", "TAG_2", "t"] {
            let r = substitute(&[deployment()], &vars(&[(good, "1"), ("tag", "1")]));
            assert!(r.is_ok(), "{good}: {r:?}");
        }
        let out = substitute(&[deployment()], &vars(&[("tag", "1.4\n.2\n")])).unwrap();
        assert_eq!(
            out[0]["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example.com/shop/web:1.4.2",
            "newlines in values are dropped"
        );
    }

    #[test]
    fn a_syntax_error_names_the_object() {
        let mut d = deployment();
        d["metadata"]["annotations"] = json!({"x": "${oops"});
        let err = substitute(&[d], &vars(&[("tag", "1")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Deployment web-${cluster_env:=dev}: variable substitution failed"),
            "{err}"
        );
    }
}
