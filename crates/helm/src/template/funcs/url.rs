//! sprig's `urlParse` and `urlJoin` over Go's `net/url` rules (scheme, opaque, authority with
//! userinfo, percent-decoded path and fragment, raw query).

use super::{FuncTable, P, arg_str};
use crate::template::error::GoError;
use crate::template::value::{Map, MapType, Value};

pub fn register(t: &mut FuncTable) {
    t.add("urlParse", &[P::Str], |_, a| {
        let u = parse(arg_str(a, 0)).map_err(|e| GoError::new(format!("unable to parse url: {e}")))?;
        let m = Map::new(MapType::Any);
        let hostname = hostname(&u.host);
        for (k, v) in [
            ("scheme", u.scheme),
            ("host", u.host),
            ("hostname", hostname),
            ("path", u.path),
            ("query", u.query),
            ("opaque", u.opaque),
            ("fragment", u.fragment),
            ("userinfo", u.userinfo),
        ] {
            m.insert(k.into(), Value::str(v));
        }
        Ok(Value::Map(m))
    });
    t.add("urlJoin", &[P::Map], |_, a| {
        let get = |k: &str| -> Result<String, GoError> {
            match a[0].as_map().and_then(|m| m.get(k)) {
                None => Ok(String::new()),
                Some(Value::Str(s)) => Ok(s.to_string()),
                Some(other) => Err(GoError::new(format!(
                    "unable to parse {k} key, must be of type string, but {} found",
                    other.kind()
                ))),
            }
        };
        let u = Url {
            scheme: get("scheme")?,
            host: get("host")?,
            path: get("path")?,
            query: get("query")?,
            opaque: get("opaque")?,
            fragment: get("fragment")?,
            userinfo: get("userinfo")?,
        };
        Ok(Value::str(join(&u)))
    });
}

#[derive(Default)]
struct Url {
    scheme: String,
    host: String,
    path: String,
    query: String,
    opaque: String,
    fragment: String,
    userinfo: String,
}

fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("invalid URL escape {:?}", &s[i..]))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("invalid URL escape {:?}", &s[i..i + 3]))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `url.Parse` (the parts sprig reports).
fn parse(raw: &str) -> Result<Url, String> {
    let (rest, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let mut u = Url {
        fragment: unescape(frag)?,
        ..Url::default()
    };
    let mut rest = rest.to_string();
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        let valid = cand
            .chars()
            .enumerate()
            .all(|(j, c)| c.is_ascii_alphabetic() || j > 0 && (c.is_ascii_digit() || "+-.".contains(c)));
        if i == 0 {
            return Err(format!("parse {raw:?}: missing protocol scheme"));
        }
        if valid {
            u.scheme = cand.to_ascii_lowercase();
            rest = rest[i + 1..].to_string();
        }
    }
    if let Some((r, q)) = rest.clone().split_once('?') {
        u.query = q.to_string();
        rest = r.to_string();
    }
    if !rest.starts_with('/') && !u.scheme.is_empty() {
        u.opaque = rest;
        return Ok(u);
    }
    if rest.starts_with("//") && !rest.starts_with("///") || (!u.scheme.is_empty() && rest.starts_with("//")) {
        let after = &rest[2..];
        let (auth, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        match auth.rfind('@') {
            Some(i) => {
                u.userinfo = unescape(&auth[..i])?;
                u.host = auth[i + 1..].to_string();
            }
            None => u.host = auth.to_string(),
        }
        rest = path.to_string();
    }
    u.path = unescape(&rest)?;
    Ok(u)
}

fn hostname(host: &str) -> String {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.split(']').next().unwrap_or("").to_string();
    }
    host.rsplit_once(':')
        .map_or(
            host,
            |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host },
        )
        .to_string()
}

fn escape_path(p: &str) -> String {
    p.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'@' | b'!' | b'$' => {
                (b as char).to_string()
            }
            b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Go's `URL.String()` for the parts sprig sets.
fn join(u: &Url) -> String {
    let mut out = String::new();
    if !u.scheme.is_empty() {
        out += &u.scheme;
        out.push(':');
    }
    if !u.opaque.is_empty() {
        out += &u.opaque;
    } else {
        if !u.scheme.is_empty() || !u.host.is_empty() || !u.userinfo.is_empty() {
            if !u.host.is_empty() || !u.path.is_empty() || !u.userinfo.is_empty() {
                out += "//";
            }
            if !u.userinfo.is_empty() {
                out += &u.userinfo;
                out.push('@');
            }
            out += &u.host;
        }
        if !u.path.is_empty() && !u.path.starts_with('/') && !u.host.is_empty() {
            out.push('/');
        }
        out += &escape_path(&u.path);
    }
    if !u.query.is_empty() {
        out.push('?');
        out += &u.query;
    }
    if !u.fragment.is_empty() {
        out.push('#');
        out += &escape_path(&u.fragment);
    }
    out
}
