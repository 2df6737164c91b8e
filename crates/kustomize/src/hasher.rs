//! kustomize's content hash for generated ConfigMaps and Secrets (`api/hasher`), and the
//! HashTransformer that appends it to their names at the end of the top-level build.

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::BuildError;
use super::resource::ResMap;

/// Appends the content hash to the name of every generated resource that asked for one, as
/// kustomize's HashTransformer does once, after every kustomization's transformers ran: the hash
/// covers the final name (with prefixes and suffixes) and data, and the old name is kept as a
/// previous id so references written against it are fixed afterwards.
pub fn add_hash_suffixes(res: &mut ResMap) -> Result<(), BuildError> {
    for r in &mut res.resources {
        if !r.generated.is_some_and(|g| g.hash_suffix) {
            continue;
        }
        let h = hash(&r.obj)?;
        let name = format!("{}-{h}", r.name());
        r.set_name(&name);
    }
    Ok(())
}

/// kustomize's hash of a ConfigMap or Secret: SHA-256 over a JSON encoding of the fields that
/// matter, the first ten hex digits with some letters substituted (so it never spells words).
///
/// The name is not among them: kustomize looks it up as one field literally called
/// `metadata/name`, finds nothing and hashes `""`, so a prefix or suffix never changes the hash
/// (checked with `kubectl kustomize`: `other` and `pre-cfg-suf` with the same data get the same
/// suffix).
pub fn hash(obj: &Value) -> Result<String, BuildError> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    // The fields in Go's encoding order (sorted keys); an optional map is left out unless it
    // is a map.
    let optional = |field: &str| obj.get(field).filter(|v| v.is_object());
    let mut fields: Vec<(&str, Option<&Value>)> = Vec::new();
    match kind {
        "ConfigMap" => {
            if let Some(b) = optional("binaryData") {
                fields.push(("binaryData", Some(b)));
            }
            fields.push(("data", obj.get("data")));
            fields.push(("kind", None));
            fields.push(("name", None));
        }
        "Secret" => {
            fields.push(("data", obj.get("data")));
            fields.push(("kind", None));
            fields.push(("name", None));
            if let Some(s) = optional("stringData") {
                fields.push(("stringData", Some(s)));
            }
            fields.push(("type", obj.get("type")));
        }
        // Other kinds are hashed as their whole YAML node, whose encoding is not reproduced.
        _ => return Err(BuildError::Unsupported(format!("uses a name hash on a {kind}"))),
    }
    let mut out = String::from("{");
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_string(&mut out, key);
        out.push(':');
        match value {
            _ if key == "kind" => go_string(&mut out, kind),
            // Missing fields count as the empty string (`getNodeValues`).
            None => go_string(&mut out, ""),
            Some(Value::String(s)) if key == "type" => go_string(&mut out, s),
            Some(Value::Object(m)) if key != "type" => {
                out.push('{');
                for (j, (k, v)) in m.iter().enumerate() {
                    // A non-string value goes through YAML and float64 in kustomize; only string
                    // data (all a generator makes) is reproduced.
                    let Value::String(v) = v else {
                        return Err(BuildError::Unsupported(format!(
                            "uses a hashed {kind} whose {key} has a value that is not a string"
                        )));
                    };
                    if j > 0 {
                        out.push(',');
                    }
                    go_string(&mut out, k);
                    out.push(':');
                    go_string(&mut out, v);
                }
                out.push('}');
            }
            _ => {
                return Err(BuildError::Unsupported(format!(
                    "uses a hashed {kind} whose {key} is not of the usual shape"
                )));
            }
        }
    }
    out.push('}');
    Ok(encode(&hex::encode(Sha256::digest(out.as_bytes()))))
}

/// kubectl's hash encoding: the first ten hex digits, with `0 1 3 a e` swapped for letters.
fn encode(hex: &str) -> String {
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Appends `s` as Go's `encoding/json` writes a string (Go 1.22 and later, as kustomize v5.5.0
/// is built): HTML-safe (`<`, `>`, `&` as `\u003c` …), U+2028 and U+2029 escaped, `\b` and `\f`
/// short forms, other control characters as `\u00XX`.
fn go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::{Behavior, Generated, Resource};

    /// Every expected hash is the suffix `kubectl kustomize` (kustomize v5.5.0) gave the same
    /// generator output, from a one-generator kustomization written for it.
    #[test]
    fn hashes_match_kustomize() {
        let cases = [
            // configMapGenerator `name: empty`, no sources: no data field at all.
            (
                "empty data",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "empty"}}),
                "6ct58987ht",
            ),
            // literals b=2, a=1, `c=hello world`.
            (
                "several keys",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "several"},
                       "data": {"b": "2", "a": "1", "c": "hello world"}}),
                "556dcdd5bb",
            ),
            (
                "unicode",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "uni"},
                       "data": {"greeting": "héllo ☃ 日本 😀"}}),
                "4m286hbb66",
            ),
            (
                "html characters and line separators",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "html"},
                       "data": {"x": "<a href=\"q\">&amp;</a>", "y": "line\u{2028}sep\u{2029}end"}}),
                "tb5m85th68",
            ),
            // A file with these bytes: kubectl fails to print the output but names the hash.
            (
                "control characters",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ctrl"},
                       "data": {"c.txt": "a\u{8}b\u{c}c\u{1}d\u{7f}e\tf\ng\rh\\i/j\"k"}}),
                "5h2kf6772h",
            ),
            (
                "binaryData",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bin"},
                       "binaryData": {"blob.bin": "//4AAWJpbmFyeQ=="}, "data": {"text": "plain"}}),
                "4fkb45mgh6",
            ),
            (
                "Secret with a type",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
                       "type": "kubernetes.io/tls", "data": {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}}),
                "4b255hm948",
            ),
            (
                "Opaque Secret",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "opaque"},
                       "type": "Opaque", "data": {"password": "czNjcjN0"}}),
                "25k92892fb",
            ),
            // The base64 of a 100-byte file, broken after 70 characters as kustomize does.
            (
                "Secret with wrapped base64",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "long"}, "type": "Opaque",
                       "data": {"big.txt": "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eH\nh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eA==\n"}}),
                "2kkg492bkm",
            ),
            // namePrefix pre-, nameSuffix -suf, namespace prod: neither the name nor the
            // namespace is hashed (`name: other` with the same literal got the same suffix).
            (
                "prefixed name",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "pre-cfg-suf", "namespace": "prod"}, "data": {"a": "1"}}),
                "h29d89cmmt",
            ),
        ];
        for (what, obj, want) in cases {
            assert_eq!(hash(&obj).unwrap(), want, "{what}");
        }
    }

    #[test]
    fn shapes_it_cannot_reproduce_are_unsupported() {
        let cases = [
            json!({"kind": "Deployment", "metadata": {"name": "d"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "n"}, "data": {"a": 1}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "n"}, "data": null}),
            json!({"kind": "Secret", "metadata": {"name": "n"}, "type": 3}),
        ];
        for obj in cases {
            assert!(matches!(hash(&obj), Err(BuildError::Unsupported(_))), "{obj}");
        }
    }

    #[test]
    fn only_resources_asking_for_it_get_the_suffix_and_keep_their_old_id() {
        let mk = |name: &str, hash_suffix: Option<bool>| {
            let mut r = Resource::new(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name}, "data": {"a": "1"}}));
            r.generated = hash_suffix.map(|hash_suffix| Generated {
                hash_suffix,
                behavior: Behavior::Create,
            });
            r
        };
        let mut res = ResMap {
            resources: vec![
                mk("pre-cfg-suf", Some(true)),
                mk("plain", None),
                mk("nohash", Some(false)),
            ],
        };
        add_hash_suffixes(&mut res).unwrap();
        let names: Vec<&str> = res.resources.iter().map(|r| r.name()).collect();
        // Same data as the prefixed case above.
        assert_eq!(names, ["pre-cfg-suf-h29d89cmmt", "plain", "nohash"]);
        assert_eq!(res.resources[0].previous[0].name, "pre-cfg-suf");
        assert!(res.resources[1].previous.is_empty());
    }
}
