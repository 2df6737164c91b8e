//! YAML exactly as Helm v4 reads it.
//!
//! Helm reads every YAML file (values, Chart.yaml, rendered manifests' heads) through
//! sigs.k8s.io/yaml v1.6, which decodes with go-yaml v2 (go.yaml.in/yaml/v2 v2.4.3, a YAML 1.1
//! implementation) into `interface{}`, converts map keys to strings, marshals that to JSON and
//! decodes the JSON again. So, with go-yaml v2's resolution of *plain* (unquoted, untagged)
//! scalars:
//! - booleans: `y Y yes Yes YES on On ON true True TRUE` and `n N no No NO off Off OFF false
//!   False FALSE`; nulls: empty, `~`, `null Null NULL`;
//! - integers through Go's `ParseInt(s, 0, 64)` with `_` removed (`0777` octal, `0x1F`, `0o17`,
//!   `0b101`), then `ParseUint`, then floats matching `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
//!   (`08` is the float 8); `.inf`/`.nan` spellings are floats, which JSON then refuses;
//! - timestamps (`2001-12-14`) and sexagesimals (`1:20`) stay strings;
//! - every number ends as a JSON number decoded into `float64`: here an `f64`
//!   [`serde_json::Number`] (so `1000000` is `1e+06` when Go prints it, see
//!   [`crate::gofmt::format_float`]);
//! - map keys become strings: ints by their digits, floats by Go's 32-bit `%g`, booleans as
//!   `"true"`/`"false"` (so a key `n:` is `"false"`); a null key is an error;
//! - merge keys `<<` (a map, an alias of one, or a list of them, earlier ones winning) and
//!   anchors/aliases; a duplicate key keeps the last value (no error, as go-yaml v2 is lenient);
//! - only the first document of a stream is read ([`crate::chart::values_file::load_values`] splits
//!   streams first, as Helm's loader does);
//! - explicit tags: `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!binary` (base64,
//!   decoded), `!!timestamp` (kept as text); any other tag leaves the scalar a string.
//!
//! The parser is yaml-rust2's event parser (it reports scalar styles and tags, which serde_yaml
//! hides). Syntax errors carry yaml-rust2's wording in Go's `yaml: line N: ...` form: the line
//! numbers match go-yaml's, the wording may differ.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::gofmt::{GoInt, format_float32, parse_int};

/// A YAML text Helm would refuse, with Go's wording where it is knowable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The text is not well-formed YAML (go-yaml: `yaml: line N: ...`, no line when the
    /// problem is on the first line).
    #[error("yaml: {location}{message}")]
    Syntax {
        /// `line N: ` as go-yaml numbers it, or empty.
        location: String,
        /// The parser's description.
        message: String,
    },
    /// Well-formed YAML that go-yaml v2 refuses to decode (`yaml: ...`).
    #[error("yaml: {0}")]
    Decode(String),
    /// YAML that sigs.k8s.io/yaml cannot turn into JSON (a null key, `.inf`).
    #[error("{0}")]
    Json(String),
}

/// A document as go-yaml v2 decodes it into `interface{}`, keys already strings: what
/// sigs.k8s.io/yaml converts to JSON. Kept apart from JSON so that a caller decoding into a Go
/// struct can turn a number into the string Go would (an int by its digits, a float by its
/// 32-bit `%g`: Chart.yaml's `version: 1.10` is `"1.1"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    /// `null`, `~`, empty.
    Null,
    /// A YAML 1.1 boolean.
    Bool(bool),
    /// An integer (int64, else uint64).
    Int(GoInt),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Typed>),
    /// A mapping, keys as strings, later duplicates replacing earlier ones.
    Map(Vec<(String, Typed)>),
}

impl Typed {
    /// The JSON sigs.k8s.io/yaml makes of it, numbers as `f64`.
    ///
    /// # Errors
    /// [`YamlError::Json`] for NaN and infinities, which Go's JSON encoder refuses.
    pub fn to_json(&self) -> Result<Value, YamlError> {
        match self {
            Typed::Null => Ok(Value::Null),
            Typed::Bool(b) => Ok(Value::Bool(*b)),
            Typed::Int(i) => json_float(int_value(*i)),
            Typed::Float(f) => json_float(*f),
            Typed::Str(s) => Ok(Value::String(s.clone())),
            Typed::Seq(items) => items
                .iter()
                .map(Typed::to_json)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Typed::Map(pairs) => {
                let mut out = Map::new();
                for (k, v) in pairs {
                    out.insert(k.clone(), v.to_json()?);
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// The string sigs.k8s.io/yaml makes of a scalar bound for a Go `string`: `None` for a
    /// null, a sequence or a map.
    #[must_use]
    pub fn coerced_string(&self) -> Option<String> {
        match self {
            Typed::Str(s) => Some(s.clone()),
            Typed::Bool(b) => Some(b.to_string()),
            Typed::Int(GoInt::Signed(i)) => Some(i.to_string()),
            Typed::Int(GoInt::Unsigned(u)) => Some(u.to_string()),
            Typed::Float(f) => Some(format_float32(*f)),
            _ => None,
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn int_value(i: GoInt) -> f64 {
    match i {
        GoInt::Signed(i) => i as f64,
        GoInt::Unsigned(u) => u as f64,
    }
}

fn json_float(f: f64) -> Result<Value, YamlError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| YamlError::Json(format!("json: unsupported value: {}", crate::gofmt::format_float(f))))
}

/// Reads the first document of `text` as go-yaml v2 decodes it (see [`Typed`]).
///
/// # Errors
/// As [`from_str`].
pub fn typed_from_str(text: &str) -> Result<Typed, YamlError> {
    match first_document(text)? {
        Some(node) => to_typed(&node),
        None => Ok(Typed::Null),
    }
}

/// A parsed YAML node, before go-yaml's resolution.
#[derive(Debug, Clone)]
enum Node {
    Scalar {
        value: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// Reads the first document of `text` as sigs.k8s.io/yaml's `Unmarshal` into `interface{}`
/// does. An empty stream (or an empty first document) is `Value::Null`.
///
/// # Errors
/// [`YamlError`] for malformed YAML or what go-yaml/JSON refuse.
pub fn from_str(text: &str) -> Result<Value, YamlError> {
    typed_from_str(text)?.to_json()
}

/// [`from_str`] on bytes: invalid UTF-8 is refused as go-yaml's reader refuses it.
///
/// # Errors
/// [`YamlError`] as [`from_str`], or for bytes that are not UTF-8.
pub fn from_slice(bytes: &[u8]) -> Result<Value, YamlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| YamlError::Decode("invalid leading UTF-8 octet".into()))?;
    from_str(text)
}

/// A yaml-rust2 error in go-yaml's words: libyaml's problem without its "while parsing/scanning
/// X, " context, parser errors' "expected" as "did not find expected"; and go-yaml's line
/// number, which for a *parser* error is the 0-based line of the problem (go-yaml adds one only
/// for scanner errors).
fn syntax(mark: Marker, info: &str) -> YamlError {
    let after_context = |rest: &str| rest.split_once(", ").map_or(rest, |(_, m)| m).to_string();
    let (line, message) = if let Some(rest) = info.strip_prefix("while parsing ") {
        let msg = after_context(rest);
        let msg = if msg.starts_with("expected") {
            format!("did not find {msg}")
        } else {
            msg
        };
        (mark.line().saturating_sub(1), msg)
    } else if let Some(rest) = info.strip_prefix("while scanning ") {
        (mark.line(), after_context(rest))
    } else {
        (mark.line(), info.to_string())
    };
    // go-yaml prints no line when libyaml's 0-based problem line is 0.
    let location = if mark.line() <= 1 {
        String::new()
    } else {
        format!("line {line}: ")
    };
    YamlError::Syntax { location, message }
}

/// Builds the first document's node tree, resolving aliases to copies of their anchors.
fn first_document(text: &str) -> Result<Option<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    loop {
        let (event, mark) = parser.next_token().map_err(|e| syntax(*e.marker(), e.info()))?;
        match event {
            Event::StreamEnd | Event::DocumentEnd => return Ok(builder.root),
            Event::StreamStart | Event::DocumentStart | Event::Nothing => {}
            other => builder.push(other, mark)?,
        }
        if builder.root.is_some() && builder.stack.is_empty() {
            return Ok(builder.root);
        }
    }
}

enum Open {
    Seq(usize, Vec<Node>),
    Map(usize, Vec<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: std::collections::HashMap<usize, Node>,
    root: Option<Node>,
}

impl Builder {
    fn push(&mut self, event: Event, mark: Marker) -> Result<(), YamlError> {
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let node = Node::Scalar {
                    value,
                    plain: style == TScalarStyle::Plain,
                    tag: tag.map(tag_name),
                };
                self.finish(node, anchor);
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax(mark, "unknown anchor"))?;
                self.finish(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(anchor, Vec::new())),
            Event::MappingStart(anchor, _) => self.stack.push(Open::Map(anchor, Vec::new())),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq(anchor, items)) => self.finish(Node::Seq(items), anchor),
                Some(Open::Map(anchor, items)) => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    self.finish(Node::Map(pairs), anchor);
                }
                None => return Err(syntax(mark, "unbalanced collection end")),
            },
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(Open::Seq(_, items) | Open::Map(_, items)) => items.push(node),
            None => self.root = Some(node),
        }
    }
}

fn tag_name(tag: Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// A scalar as go-yaml v2 resolves it into `interface{}`.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Int(GoInt),
    Float(f64),
    Str(String),
}

const RESOLVABLE: [&str; 7] = ["", "!!str", "!!bool", "!!int", "!!float", "!!null", "!!timestamp"];

fn resolve_scalar(value: &str, plain: bool, tag: Option<&str>) -> Result<Scalar, YamlError> {
    let tag = tag.unwrap_or("");
    if tag.is_empty() && !plain {
        return Ok(Scalar::Str(value.to_string()));
    }
    if tag == "!!binary" {
        return decode_binary(value);
    }
    if !RESOLVABLE.contains(&tag) {
        return Ok(Scalar::Str(value.to_string()));
    }
    let (rtag, resolved) = if tag == "!!str" {
        ("!!str", Scalar::Str(value.to_string()))
    } else {
        resolve_plain(value)
    };
    match tag {
        "" | "!!str" => Ok(resolved),
        t if t == rtag => Ok(resolved),
        "!!float" if rtag == "!!int" => Ok(Scalar::Float(int_as_f64(&resolved))),
        "!!timestamp" if rtag == "!!timestamp" => Ok(resolved),
        _ => Err(YamlError::Decode(format!("cannot decode {rtag} `{value}` as a {tag}"))),
    }
}

fn int_as_f64(s: &Scalar) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    match s {
        Scalar::Int(GoInt::Signed(i)) => *i as f64,
        Scalar::Int(GoInt::Unsigned(u)) => *u as f64,
        Scalar::Float(f) => *f,
        _ => 0.0,
    }
}

fn decode_binary(value: &str) -> Result<Scalar, YamlError> {
    use base64::Engine as _;
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| YamlError::Decode("!!binary value contains invalid base64 data".into()))?;
    Ok(Scalar::Str(String::from_utf8_lossy(&bytes).into_owned()))
}

fn resolve_keyword(value: &str) -> Option<(&'static str, Scalar)> {
    Some(match value {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            ("!!bool", Scalar::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            ("!!bool", Scalar::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => ("!!null", Scalar::Null),
        ".nan" | ".NaN" | ".NAN" => ("!!float", Scalar::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => ("!!float", Scalar::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => ("!!float", Scalar::Float(f64::NEG_INFINITY)),
        _ => return None,
    })
}

/// go-yaml v2's `resolve("", value)`: the resolved tag and value of a plain scalar.
fn resolve_plain(value: &str) -> (&'static str, Scalar) {
    if let Some(found) = resolve_keyword(value) {
        return found;
    }
    let str = || ("!!str", Scalar::Str(value.to_string()));
    match value.as_bytes().first() {
        Some(b'.') => {
            if is_go_float_after_dot(value) {
                return ("!!float", Scalar::Float(value.parse().unwrap_or(0.0)));
            }
            str()
        }
        Some(b'0'..=b'9' | b'+' | b'-') => resolve_number(value).unwrap_or_else(str),
        _ => str(),
    }
}

fn is_go_float_after_dot(value: &str) -> bool {
    let rest = &value[1..];
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let digits_ok = !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    digits_ok && exp_ok
}

fn resolve_number(value: &str) -> Option<(&'static str, Scalar)> {
    if looks_like_timestamp(value) {
        return Some(("!!timestamp", Scalar::Str(value.to_string())));
    }
    let plain = value.replace('_', "");
    if let Some(i) = parse_int(&plain) {
        return Some(("!!int", Scalar::Int(i)));
    }
    if is_yaml_style_float(&plain) {
        return plain.parse::<f64>().ok().map(|f| ("!!float", Scalar::Float(f)));
    }
    // "0b…" / "-0b…" are already handled by Go's base-0 ParseInt.
    None
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()),
        Some((int, frac)) => {
            !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

/// go-yaml v2 tries `2006-1-2T15:4:5.999999999Z07:00`, its lower-case `t` twin,
/// `2006-1-2 15:4:5.999999999` and `2006-1-2` on anything starting with four digits and `-`.
/// A timestamp stays a string in `interface{}`, so only the shape matters here.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let date_ok = parts.len() == 3
        && parts[0].len() == 4
        && parts[1..]
            .iter()
            .all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
        && in_range(parts[1], 1, 12)
        && in_range(parts[2], 1, 31);
    date_ok && time.is_none_or(|t| time_ok(t, s.contains(' ')))
}

fn in_range(s: &str, lo: u32, hi: u32) -> bool {
    s.parse::<u32>().is_ok_and(|v| (lo..=hi).contains(&v))
}

fn time_ok(t: &str, spaced: bool) -> bool {
    let (clock, zone) = if spaced {
        (t, "")
    } else {
        match t.find(['Z', '+', '-']) {
            Some(i) => (&t[..i], &t[i..]),
            None => return false,
        }
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let clock_ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
        && in_range(parts[0], 0, 23)
        && in_range(parts[1], 0, 59)
        && in_range(parts[2], 0, 59)
        && frac.is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()));
    let zone_ok = spaced || zone == "Z" || zone_offset_ok(zone);
    clock_ok && zone_ok
}

fn zone_offset_ok(zone: &str) -> bool {
    let z = zone.as_bytes();
    z.len() == 6
        && (z[0] == b'+' || z[0] == b'-')
        && z[3] == b':'
        && in_range(&zone[1..3], 0, 99)
        && in_range(&zone[4..6], 0, 99)
}

fn scalar_to_typed(s: Scalar) -> Typed {
    match s {
        Scalar::Null => Typed::Null,
        Scalar::Bool(b) => Typed::Bool(b),
        Scalar::Int(i) => Typed::Int(i),
        Scalar::Float(f) => Typed::Float(f),
        Scalar::Str(s) => Typed::Str(s),
    }
}

fn key_string(node: &Node) -> Result<String, YamlError> {
    let Node::Scalar { value, plain, tag } = node else {
        return Err(YamlError::Decode(
            "invalid map key: map[interface {}]interface {}{}".into(),
        ));
    };
    match resolve_scalar(value, *plain, tag.as_deref())? {
        Scalar::Str(s) => Ok(s),
        Scalar::Bool(b) => Ok(b.to_string()),
        Scalar::Int(GoInt::Signed(i)) => Ok(i.to_string()),
        Scalar::Int(GoInt::Unsigned(u)) => Err(YamlError::Json(format!(
            "unsupported map key of type: uint64, key: 0x{u:x}, value: ..."
        ))),
        Scalar::Float(f) => Ok(match format_float32(f).as_str() {
            "+Inf" => ".inf".to_string(),
            "-Inf" => "-.inf".to_string(),
            "NaN" => ".nan".to_string(),
            other => other.to_string(),
        }),
        Scalar::Null => Err(YamlError::Json(format!(
            "unsupported map key of type: %!s(<nil>), key: <nil>, value: {value}"
        ))),
    }
}

fn is_merge_key(node: &Node) -> bool {
    matches!(node, Node::Scalar { value, plain: true, tag: None } if value == "<<")
        || matches!(node, Node::Scalar { tag: Some(t), .. } if t == "!!merge")
}

fn to_typed(node: &Node) -> Result<Typed, YamlError> {
    match node {
        Node::Scalar { value, plain, tag } => Ok(scalar_to_typed(resolve_scalar(value, *plain, tag.as_deref())?)),
        Node::Seq(items) => items
            .iter()
            .map(to_typed)
            .collect::<Result<Vec<_>, _>>()
            .map(Typed::Seq),
        Node::Map(pairs) => {
            let mut out: Vec<(String, Typed)> = Vec::new();
            fill_map(pairs, &mut out)?;
            Ok(Typed::Map(out))
        }
    }
}

fn insert(out: &mut Vec<(String, Typed)>, key: String, value: Typed) {
    match out.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => out.push((key, value)),
    }
}

fn fill_map(pairs: &[(Node, Node)], out: &mut Vec<(String, Typed)>) -> Result<(), YamlError> {
    for (key, value) in pairs {
        if is_merge_key(key) {
            merge_into(value, out)?;
            continue;
        }
        let k = key_string(key)?;
        let v = to_typed(value)?;
        insert(out, k, v);
    }
    Ok(())
}

fn merge_into(value: &Node, out: &mut Vec<(String, Typed)>) -> Result<(), YamlError> {
    let want_map = || YamlError::Decode("map merge requires map or sequence of maps as the value".into());
    match value {
        Node::Map(pairs) => fill_map(pairs, out),
        Node::Seq(items) => {
            // Earlier maps take precedence: go-yaml applies them last to first.
            for item in items.iter().rev() {
                let Node::Map(pairs) = item else { return Err(want_map()) };
                fill_map(pairs, out)?;
            }
            Ok(())
        }
        Node::Scalar { .. } => Err(want_map()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn y(text: &str) -> Value {
        from_str(text).unwrap()
    }

    #[test]
    fn yaml_1_1_booleans_and_keys() {
        assert_eq!(
            y("a: yes\nb: off\nc: 'yes'\nn: 1\ny: x\n"),
            json!({"a": true, "b": false, "c": "yes", "false": 1.0, "true": "x"})
        );
    }

    #[test]
    fn numbers_are_go_numbers() {
        let v = y("oct: 0777\nhex: 0x1F\nbad_oct: 08\nunder: 1_000\nf: 1.5e3\nd: .5\nts: 2001-12-14\nsexa: 1:20\n");
        assert_eq!(
            v,
            json!({"oct": 511.0, "hex": 31.0, "bad_oct": 8.0, "under": 1000.0, "f": 1500.0, "d": 0.5, "ts": "2001-12-14", "sexa": "1:20"})
        );
        assert!(matches!(from_str("a: .inf"), Err(YamlError::Json(_))));
    }

    #[test]
    fn merge_keys_and_anchors() {
        let v = y("base: &b {x: 1, z: 2}\nother:\n  <<: *b\n  z: 3\nlist:\n  <<: [{a: 1}, {a: 2, b: 2}]\n");
        assert_eq!(v["other"], json!({"x": 1.0, "z": 3.0}));
        assert_eq!(v["list"], json!({"a": 1.0, "b": 2.0}));
    }

    #[test]
    fn tags_and_styles() {
        let v = y("a: !!str 12\nb: !!int \"12\"\nc: !!float 1\nd: |\n  yes\ne: !custom yes\nf: ~\ng:\n");
        assert_eq!(
            v,
            json!({"a": "12", "b": 12.0, "c": 1.0, "d": "yes\n", "e": "yes", "f": null, "g": null})
        );
        assert!(matches!(from_str("a: !!int abc"), Err(YamlError::Decode(_))));
    }

    #[test]
    fn float_keys_use_32_bit_go_format() {
        assert_eq!(y("1.1: a\n1.0: b\n"), json!({"1.1": "a", "1": "b"}));
    }
}
