//! Encodings: Go's `encoding/json` output (`toJson`, `toPrettyJson`, `toRawJson`), JSON and
//! YAML input (`fromJson`, `fromYaml` and their array forms, as Helm defines them), base64 and
//! the checksum functions.

use base64::Engine as _;
use sha1::Digest as _;

use super::yaml::to_yaml;
use super::{FuncTable, P, R, arg_str, bytes_of};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::fmt::format_float_v;
use crate::template::value::{ListType, Map, MapType, Value};

pub fn register(t: &mut FuncTable) {
    use P::{Any, Str};
    t.add("b64enc", &[Str], |_, a| {
        Ok(Value::str(
            base64::engine::general_purpose::STANDARD.encode(arg_str(a, 0)),
        ))
    });
    t.add("b64dec", &[Str], |_, a| Ok(Value::str(b64dec(arg_str(a, 0)))));
    t.add("b32enc", &[Str], |_, a| {
        Ok(Value::str(b32enc(arg_str(a, 0).as_bytes())))
    });
    t.add("b32dec", &[Str], |_, a| Ok(Value::str(b32dec(arg_str(a, 0)))));
    t.add("sha1sum", &[Str], |_, a| {
        Ok(Value::str(hex(&sha1::Sha1::digest(arg_str(a, 0).as_bytes()))))
    });
    t.add("sha256sum", &[Str], |_, a| {
        Ok(Value::str(hex(&sha2::Sha256::digest(arg_str(a, 0).as_bytes()))))
    });
    t.add("sha512sum", &[Str], |_, a| {
        Ok(Value::str(hex(&sha2::Sha512::digest(arg_str(a, 0).as_bytes()))))
    });
    t.add("adler32sum", &[Str], |_, a| {
        Ok(Value::str(adler32(arg_str(a, 0).as_bytes()).to_string()))
    });
    t.add("toJson", &[Any], |_, a| {
        Ok(Value::str(to_json(&a[0], true, None).unwrap_or_default()))
    });
    t.add("mustToJson", &[Any], |_, a| must(to_json(&a[0], true, None)));
    t.add("toPrettyJson", &[Any], |_, a| {
        Ok(Value::str(to_json(&a[0], true, Some(0)).unwrap_or_default()))
    });
    t.add("mustToPrettyJson", &[Any], |_, a| must(to_json(&a[0], true, Some(0))));
    t.add("toRawJson", &[Any], |_, a| must(to_json(&a[0], false, None)));
    t.add("mustToRawJson", &[Any], |_, a| must(to_json(&a[0], false, None)));
    t.add("fromJson", &[Str], |_, a| Ok(from_json_map(arg_str(a, 0))));
    t.add("mustFromJson", &[Str], |_, a| parse_json(arg_str(a, 0)));
    t.add("fromJsonArray", &[Str], |_, a| Ok(from_json_array(arg_str(a, 0))));
    t.add("toYaml", &[Any], |_, a| {
        Ok(Value::str(to_yaml_trimmed(&a[0]).unwrap_or_default()))
    });
    t.add("mustToYaml", &[Any], |_, a| {
        to_yaml_trimmed(&a[0])
            .map(Value::str)
            .ok_or_else(|| GoError::new("json: unsupported value"))
    });
    t.add("fromYaml", &[Str], from_yaml);
    t.add("fromYamlArray", &[Str], from_yaml_array);
}

fn must(r: Result<String, GoError>) -> R {
    r.map(Value::str)
}

fn to_yaml_trimmed(v: &Value) -> Option<String> {
    to_yaml(v).map(|s| s.strip_suffix('\n').map(str::to_string).unwrap_or(s))
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `base32.StdEncoding.EncodeToString` (padded).
fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// sprig's `b32dec`: the decoded text, or Go's error text.
fn b32dec(s: &str) -> String {
    let mut bytes = Vec::new();
    let (mut acc, mut nbits) = (0u64, 0u32);
    let trimmed = s.trim_end_matches('=');
    if !s.len().is_multiple_of(8) {
        return format!("illegal base32 data at input byte {}", s.len() / 8 * 8);
    }
    for (i, c) in trimmed.bytes().enumerate() {
        let Some(v) = B32.iter().position(|x| *x == c) else {
            return format!("illegal base32 data at input byte {i}");
        };
        acc = acc << 5 | v as u64;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((acc >> nbits) as u8);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + u32::from(d)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// sprig's `b64dec`: the decoded text, or Go's error text.
fn b64dec(s: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _)) => {
            format!("illegal base64 data at input byte {i}")
        }
        Err(_) => format!("illegal base64 data at input byte {}", s.len() / 4 * 4),
    }
}

/// `json.Marshal` (HTML-escaped) or `MarshalIndent(v, "", "  ")` (`indent: Some(0)`), or the
/// encoder without HTML escaping; Err with Go's message for NaN and infinities.
pub fn to_json(v: &Value, html: bool, indent: Option<usize>) -> Result<String, GoError> {
    let mut out = String::new();
    write_json(&mut out, v, html, indent)?;
    Ok(out)
}

fn newline_indent(out: &mut String, indent: Option<usize>) {
    if let Some(n) = indent {
        out.push('\n');
        out.push_str(&"  ".repeat(n));
    }
}

fn write_json(out: &mut String, v: &Value, html: bool, indent: Option<usize>) -> Result<(), GoError> {
    crate::template::value::deep(|| write_json_inner(out, v, html, indent))
}

fn write_json_inner(out: &mut String, v: &Value, html: bool, indent: Option<usize>) -> Result<(), GoError> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Uint8(b) => out.push_str(&b.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::Str(s) => json_string(out, s, html),
        Value::List(l) if l.ty == ListType::Bytes => {
            let b = base64::engine::general_purpose::STANDARD.encode(bytes_of(&l.items));
            json_string(out, &b, html);
        }
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, indent.map(|n| n + 1));
                write_json(out, x, html, indent.map(|n| n + 1))?;
            }
            if !l.items.is_empty() {
                newline_indent(out, indent);
            }
            out.push(']');
        }
        Value::Map(m) if m.is_nil() => out.push_str("null"),
        Value::Map(m) => write_object(out, &m.entries(), html, indent)?,
        Value::Object(o) => match o.as_any().downcast_ref::<crate::template::go_struct::Struct>() {
            // A Go struct marshals its exported fields in declaration order, under their
            // `json` tags.
            Some(st) => {
                let fields: Vec<(String, Value)> = st.json_fields().into_iter().map(|(k, v)| (k, v.clone())).collect();
                write_object(out, &fields, html, indent)?;
            }
            None => write_json(out, &o.to_data(), html, indent)?,
        },
    }
    Ok(())
}

/// A JSON object of `entries`, in their order.
fn write_object(
    out: &mut String,
    entries: &[(String, Value)],
    html: bool,
    indent: Option<usize>,
) -> Result<(), GoError> {
    out.push('{');
    for (i, (k, x)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline_indent(out, indent.map(|n| n + 1));
        json_string(out, k, html);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        write_json(out, x, html, indent.map(|n| n + 1))?;
    }
    if !entries.is_empty() {
        newline_indent(out, indent);
    }
    out.push('}');
    Ok(())
}

/// encoding/json's float64: `%f`-like below 1e21, exponent form (`1e-7`, `1e+21`) outside.
fn json_float(f: f64) -> Result<String, GoError> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {}", format_float_v(f)).into());
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_float_v(f);
        // Go writes e-07 as e-7.
        if let Some(i) = s.find("e-0") {
            return Ok(format!("{}e-{}", &s[..i], &s[i + 3..]));
        }
        return Ok(s);
    }
    let s = format!("{f}");
    Ok(if s == "-0" { "-0".into() } else { s })
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u00{:02x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn parse_json(s: &str) -> Result<Value, GoError> {
    serde_json::from_str::<serde_json::Value>(s)
        .map(Value::from)
        .map_err(|e| GoError::new(e.to_string()))
}

fn from_json_map(s: &str) -> Value {
    match parse_json(s) {
        Ok(v @ Value::Map(_)) => v,
        Ok(Value::Nil) => Value::empty_map(),
        Ok(other) => error_map(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
        Err(e) => error_map(e.msg),
    }
}

fn from_json_array(s: &str) -> Value {
    match parse_json(s) {
        Ok(v @ Value::List(_)) => v,
        Ok(Value::Nil) => Value::list(Vec::new()),
        Ok(other) => Value::list(vec![Value::str(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::str(e.msg)]),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Float(_) => "number",
        Value::Str(_) => "string",
        Value::List(_) => "array",
        _ => "object",
    }
}

fn error_map(msg: String) -> Value {
    let m = Map::new(MapType::Any);
    m.insert("Error".into(), Value::str(msg));
    Value::Map(m)
}

fn from_yaml(st: &mut State<'_>, a: &[Value]) -> R {
    let loader = st.ctx.yaml_loader.clone();
    Ok(match loader(arg_str(a, 0)) {
        Ok(v @ Value::Map(_)) => v,
        Ok(Value::Nil) => Value::empty_map(),
        Ok(other) => error_map(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
        Err(e) => error_map(e.msg),
    })
}

fn from_yaml_array(st: &mut State<'_>, a: &[Value]) -> R {
    let loader = st.ctx.yaml_loader.clone();
    Ok(match loader(arg_str(a, 0)) {
        Ok(v @ Value::List(_)) => v,
        Ok(Value::Nil) => Value::list(Vec::new()),
        Ok(other) => Value::list(vec![Value::str(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::str(e.msg)]),
    })
}
