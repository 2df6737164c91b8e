//! Helm's `toYaml`: sigs.k8s.io/yaml's `Marshal`, which is `json.Marshal` then go-yaml v2's
//! `Marshal` of the JSON read back. So numbers pass through JSON (an integral float becomes an
//! int), keys come out in go-yaml's natural order (`k9` before `k10`), and strings are styled
//! by libyaml's emitter rules: plain when that reads back as the same string, else single or
//! double quoted, `|` blocks for multi-line text, and long lines folded past column 80.
//!
//! [`json_data`], the JSON model `json.Marshal` would write, is here since `toYaml` is its only
//! user (`encoding` writes JSON text itself and imports [`to_yaml`] from here, not the reverse).

use std::collections::BTreeMap;

use base64::Engine as _;

use super::bytes_of;
use crate::template::error::GoError;
use crate::template::fmt::format_float_v;
use crate::template::value::{ListType, Value};

/// A value as go-yaml v2 holds JSON it decoded.
#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool(bool),
    Int(String),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// `toYaml`'s text, before Helm trims the final newline; None where `json.Marshal` fails.
pub fn to_yaml(v: &Value) -> Option<String> {
    let node = to_node(&json_data(v)?);
    let mut e = Emitter {
        out: String::new(),
        column: 0,
    };
    match &node {
        Node::Map(m) if !m.is_empty() => e.block_map(m, 0),
        Node::Seq(s) if !s.is_empty() => e.block_seq(s, 0, false),
        other => {
            e.scalar_or_flow(other, 2, false);
            e.newline();
        }
    }
    Some(e.out)
}

/// The JSON model (what `json.Marshal` wrote) as go-yaml reads it back.
fn to_node(j: &serde_json::Value) -> Node {
    crate::template::value::deep(|| to_node_inner(j))
}

fn to_node_inner(j: &serde_json::Value) -> Node {
    match j {
        serde_json::Value::Null => Node::Null,
        serde_json::Value::Bool(b) => Node::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Node::Int(i.to_string()),
            (_, Some(u)) => Node::Int(u.to_string()),
            _ => Node::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Node::Str(s.clone()),
        serde_json::Value::Array(a) => Node::Seq(a.iter().map(to_node).collect()),
        serde_json::Value::Object(o) => {
            let mut entries: Vec<(String, Node)> = o.iter().map(|(k, v)| (k.clone(), to_node(v))).collect();
            entries.sort_by(|a, b| key_order(&a.0, &b.0));
            Node::Map(entries)
        }
    }
}

/// go-yaml v2's `keyList.Less` for string keys: letters before other runes, digit runs by value.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What libyaml's `analyze_scalar` finds in a string.
struct Analysis {
    multiline: bool,
    block_plain: bool,
    single_ok: bool,
    block_ok: bool,
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || u == 0x85
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&u)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || is_break(c) || c == '\0',
    }
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain: true,
            single_ok: true,
            block_ok: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_ind = value.starts_with("---") || value.starts_with("...");
    let (mut special, mut line_breaks) = (false, false);
    let (mut lead_space, mut lead_break, mut trail_space, mut trail_break) = (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) = (false, false, false, false);
    let mut preceded_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_ws = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_ind = true;
                }
                '?' | ':' | '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else if (c == ':' && followed_ws) || (c == '#' && preceded_ws) {
            block_ind = true;
        }
        if !is_printable(c) {
            special = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            lead_space |= i == 0;
            trail_space |= last;
            break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            lead_break |= i == 0;
            trail_break |= last;
            space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_ws = is_blankz(Some(c));
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain: true,
        single_ok: true,
        block_ok: true,
    };
    if lead_space || lead_break || trail_space || trail_break {
        a.block_plain = false;
    }
    if trail_space {
        a.block_ok = false;
    }
    if break_space {
        a.block_plain = false;
        a.single_ok = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single_ok = false;
        a.block_ok = false;
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

/// go-yaml v2's `resolve`: whether a plain scalar would read back as something else.
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO", "false",
        "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf",
        ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    match s.as_bytes().first() {
        Some(b'.') => super::conv::parse_go_float(s).is_some() && !s.contains('_'),
        Some(b'0'..=b'9' | b'+' | b'-') => {
            if is_timestamp(s) {
                return true;
            }
            let plain = s.replace('_', "");
            go_parse_int_base0(&plain) || is_yaml_float(&plain) || plain.starts_with("0b") || plain.starts_with("-0b")
        }
        _ => false,
    }
}

fn go_parse_int_base0(s: &str) -> bool {
    crate::template::parse::parse_number(s).is_ok_and(|n| {
        n.int.is_some() && !s.contains(['.', 'e', 'E', 'p', 'P'])
            || s.to_ascii_lowercase().contains("0x") && n.float.is_some()
    }) && !s.ends_with('i')
}

fn is_yaml_float(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let mant_ok = match mant.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit()),
        Some((int, frac)) => {
            !int.is_empty() && int.bytes().all(|c| c.is_ascii_digit()) && frac.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok
}

/// go-yaml's `parseTimestamp` formats: `YYYY-M-D`, optionally `T`/`t`/space and a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some((&rest[i..i + 1], &rest[i + 1..]))),
        None => (rest, None),
    };
    let Some((m, d)) = date.split_once('-') else {
        return false;
    };
    let num =
        |x: &str, max: u32| x.len() <= 2 && !x.is_empty() && x.parse::<u32>().is_ok_and(|v| (1..=max).contains(&v));
    if !num(m, 12) || !num(d, 31) {
        return false;
    }
    match time {
        None => true,
        Some((sep, t)) => is_time(t, sep != " "),
    }
}

fn is_time(t: &str, zone: bool) -> bool {
    let (clock, tz) = if zone {
        match t.find(['Z', '+', '-']) {
            Some(i) => (&t[..i], &t[i..]),
            None => return false,
        }
    } else {
        (t, "")
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() != 3 {
        return false;
    }
    let (sec, frac) = parts[2].split_once('.').unwrap_or((parts[2], "0"));
    let ok = |x: &str, max: u32| (1..=2).contains(&x.len()) && x.parse::<u32>().is_ok_and(|v| v < max);
    let tz_ok = tz.is_empty() && !zone || tz == "Z" || tz.len() == 6 && tz.as_bytes()[3] == b':';
    ok(parts[0], 24) && ok(parts[1], 60) && ok(sec, 60) && frac.bytes().all(|c| c.is_ascii_digit()) && tz_ok
}

struct Emitter {
    out: String,
    column: usize,
}

const BEST_WIDTH: usize = 80;

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            if c == '\n' {
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
        self.out.push_str(s);
    }

    fn newline(&mut self) {
        self.put("\n");
    }

    fn indent_to(&mut self, indent: usize) {
        self.newline();
        self.put(&" ".repeat(indent));
    }

    fn block_map(&mut self, m: &[(String, Node)], indent: usize) {
        crate::template::value::deep(|| self.block_map_inner(m, indent))
    }

    fn block_map_inner(&mut self, m: &[(String, Node)], indent: usize) {
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                self.put(&" ".repeat(indent));
            }
            self.string(k, indent + 2, true);
            self.put(":");
            match v {
                Node::Map(c) if !c.is_empty() => {
                    self.newline();
                    self.put(&" ".repeat(indent + 2));
                    self.block_map(c, indent + 2);
                }
                Node::Seq(s) if !s.is_empty() => {
                    self.newline();
                    self.block_seq(s, indent, true);
                }
                other => {
                    self.put(" ");
                    self.scalar_or_flow(other, indent + 2, false);
                    self.newline();
                }
            }
        }
    }

    /// A block sequence at `indent` (in a mapping it is not indented, as go-yaml writes it).
    fn block_seq(&mut self, s: &[Node], indent: usize, start_of_line: bool) {
        crate::template::value::deep(|| self.block_seq_inner(s, indent, start_of_line))
    }

    fn block_seq_inner(&mut self, s: &[Node], indent: usize, start_of_line: bool) {
        for (i, v) in s.iter().enumerate() {
            if i > 0 || start_of_line {
                self.put(&" ".repeat(indent));
            }
            self.put("- ");
            match v {
                Node::Map(c) if !c.is_empty() => self.block_map(c, indent + 2),
                Node::Seq(c) if !c.is_empty() => self.block_seq(c, indent + 2, false),
                other => {
                    self.scalar_or_flow(other, indent + 2, false);
                    self.newline();
                }
            }
        }
    }

    fn scalar_or_flow(&mut self, v: &Node, indent: usize, key: bool) {
        match v {
            Node::Null => self.put("null"),
            Node::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Node::Int(i) => self.put(i),
            Node::Float(f) => self.put(&yaml_float(*f)),
            Node::Str(s) => self.string(s, indent, key),
            Node::Map(_) => self.put("{}"),
            Node::Seq(_) => self.put("[]"),
        }
    }

    fn string(&mut self, s: &str, indent: usize, key: bool) {
        let a = analyze(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_non_string(s) || is_base60_float(s) {
            Style::Double
        } else {
            Style::Plain
        };
        if key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain || s.is_empty() && key) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_ok {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_ok || key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.plain(s, indent, !key),
            Style::Single => self.single(s, indent, !key),
            Style::Double => self.double(s, indent, !key),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if breaks && !spaces && self.column > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                    self.indent_to(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
    }

    fn single(&mut self, s: &str, indent: usize, breaks: bool) {
        self.put("'");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let inner = i > 0 && i + 1 < chars.len() && chars.get(i + 1) != Some(&' ');
                if breaks && !spaces && self.column > BEST_WIDTH && inner {
                    self.indent_to(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put("'");
                }
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
        self.put("'");
    }

    fn double(&mut self, s: &str, indent: usize, breaks: bool) {
        self.put("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put(&double_escape(c));
                spaces = false;
            } else if c == ' ' {
                if breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i + 1 != chars.len() {
                    self.indent_to(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
        self.put("\"");
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put("|");
        if s.starts_with([' ', '\n']) {
            self.put("2");
        }
        let chars: Vec<char> = s.chars().collect();
        match chars.last() {
            Some(&c) if !is_break(c) => self.put("-"),
            Some(_) if chars.len() == 1 || is_break(chars[chars.len() - 2]) => self.put("+"),
            _ => {}
        }
        self.newline();
        let mut at_line_start = true;
        for c in chars {
            if is_break(c) {
                self.newline();
                at_line_start = true;
            } else {
                if at_line_start {
                    self.put(&" ".repeat(indent));
                    at_line_start = false;
                }
                self.put(c.encode_utf8(&mut [0; 4]));
            }
        }
        // The caller's newline ends the last line; a text ending in a break already did.
        if s.ends_with('\n') {
            self.out.pop();
            self.column = 0;
        }
    }
}

fn double_escape(c: char) -> String {
    match c {
        '\0' => "\\0".into(),
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\t' => "\\t".into(),
        '\n' => "\\n".into(),
        '\u{b}' => "\\v".into(),
        '\u{c}' => "\\f".into(),
        '\r' => "\\r".into(),
        '\u{1b}' => "\\e".into(),
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\u{85}' => "\\N".into(),
        '\u{a0}' => "\\_".into(),
        '\u{2028}' => "\\L".into(),
        '\u{2029}' => "\\P".into(),
        c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
        c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
        c => format!("\\U{:08X}", c as u32),
    }
}

fn is_base60_float(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let b = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = b.split_once('.').unwrap_or((b, ""));
    if !frac.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
        return false;
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    let head_ok = head.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && head.bytes().all(|c| c.is_ascii_digit() || c == b'_');
    let rest: Vec<&str> = parts.collect();
    head_ok
        && !rest.is_empty()
        && rest.iter().all(|p| match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        })
}

/// go-yaml's float: `strconv.FormatFloat(f, 'g', -1, 64)` with `.inf`/`.nan`.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    format_float_v(f)
}

/// sigs.k8s.io/yaml's `Unmarshal` into Go values: YAML to JSON (numbers become float64, keys
/// strings), the default for `fromYaml` when the caller installs no loader of its own.
pub fn from_yaml_default(text: &str) -> Result<Value, GoError> {
    use serde::Deserialize as _;
    // go-yaml reads the first document of a stream.
    let Some(doc) = serde_yaml::Deserializer::from_str(text).next() else {
        return Ok(Value::Nil);
    };
    let y = serde_yaml::Value::deserialize(doc).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    Ok(from_serde_yaml(y))
}

fn from_serde_yaml(y: serde_yaml::Value) -> Value {
    match y {
        serde_yaml::Value::Null => Value::Nil,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_yaml::Value::String(s) => Value::str(s),
        serde_yaml::Value::Sequence(s) => Value::list(s.into_iter().map(from_serde_yaml).collect()),
        serde_yaml::Value::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Null => "null".into(),
                    other => format!("{other:?}"),
                };
                out.insert(key, from_serde_yaml(v));
            }
            Value::map(out)
        }
        serde_yaml::Value::Tagged(t) => from_serde_yaml(t.value),
    }
}

/// The JSON model `json.Marshal` would write (for `toYaml`), None on Go's marshal errors.
pub fn json_data(v: &Value) -> Option<serde_json::Value> {
    crate::template::value::deep(|| json_data_inner(v))
}

fn json_data_inner(v: &Value) -> Option<serde_json::Value> {
    Some(match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) | Value::Int64(i) => serde_json::Value::from(*i),
        Value::Uint8(b) => serde_json::Value::from(*b),
        Value::Float(f) => json_number(*f)?,
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::List(l) if l.ty == ListType::Bytes => {
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes_of(&l.items)))
        }
        Value::List(l) => serde_json::Value::Array(l.items.iter().map(json_data).collect::<Option<_>>()?),
        Value::Map(m) if m.is_nil() => serde_json::Value::Null,
        Value::Map(m) => {
            let mut o = serde_json::Map::new();
            for (k, x) in m.entries() {
                o.insert(k, json_data(&x)?);
            }
            serde_json::Value::Object(o)
        }
        Value::Object(o) => json_data(&o.to_data())?,
    })
}

/// A float as the number its JSON text reads back as (integral text is an integer).
fn json_number(f: f64) -> Option<serde_json::Value> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if f.fract() == 0.0 && abs < 1e21 {
        if f >= i64::MIN as f64 && f < i64::MAX as f64 {
            return Some(serde_json::Value::from(f as i64));
        }
        if f >= 0.0 && f < u64::MAX as f64 {
            return Some(serde_json::Value::from(f as u64));
        }
    }
    serde_json::Number::from_f64(f).map(serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_naturally() {
        let mut k = vec!["k10", "k9", "a_b", "A", "b1", "b01"];
        k.sort_by(|a, b| key_order(a, b));
        assert_eq!(k, vec!["A", "a_b", "b1", "b01", "k9", "k10"]);
    }

    #[test]
    fn strings_resolve_as_go_yaml() {
        for s in ["yes", "123", "1.5", "2023-01-02", "0x1F", "1_000", "010", "~", ".5", ""] {
            assert!(resolves_to_non_string(s), "{s}");
        }
        for s in ["abc", "1.2.3", "v1", "-", "2023-13-02"] {
            assert!(!resolves_to_non_string(s), "{s}");
        }
    }
}
