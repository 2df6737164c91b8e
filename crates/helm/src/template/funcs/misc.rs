//! sprig's regex functions (Go's RE2 syntax, which the `regex` crate shares), random strings and
//! `uuidv4` (nondeterministic, as in Helm), and `semverCompare`/`semver` with
//! Masterminds/semver v3's constraint rules.

use super::{FuncTable, P, R, arg_int, arg_str};
use crate::template::error::GoError;
use crate::template::exec::State;
use crate::template::value::Value;

fn compile(re: &str) -> Result<regex::Regex, GoError> {
    regex::Regex::new(re).map_err(|e| GoError::new(format!("error parsing regexp: {e}")))
}

pub fn register(t: &mut FuncTable) {
    use P::{Int, Str};
    for name in ["regexMatch", "mustRegexMatch"] {
        t.add(name, &[Str, Str], |_, a| {
            Ok(Value::Bool(compile(arg_str(a, 0))?.is_match(arg_str(a, 1))))
        });
    }
    for name in ["regexFind", "mustRegexFind"] {
        t.add(name, &[Str, Str], |_, a| {
            Ok(Value::str(
                compile(arg_str(a, 0))?.find(arg_str(a, 1)).map_or("", |m| m.as_str()),
            ))
        });
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        t.add(name, &[Str, Str, Int], |_, a| {
            let re = compile(arg_str(a, 0))?;
            let n = arg_int(a, 2);
            let all = re.find_iter(arg_str(a, 1)).map(|m| m.as_str().to_string());
            Ok(Value::str_list(if n < 0 {
                all.collect::<Vec<_>>()
            } else {
                all.take(n as usize).collect()
            }))
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        t.add(name, &[Str, Str, Str], |_, a| {
            Ok(Value::str(
                compile(arg_str(a, 0))?
                    .replace_all(arg_str(a, 1), arg_str(a, 2))
                    .into_owned(),
            ))
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        t.add(name, &[Str, Str, Str], |_, a| {
            let re = compile(arg_str(a, 0))?;
            Ok(Value::str(
                re.replace_all(arg_str(a, 1), regex::NoExpand(arg_str(a, 2)))
                    .into_owned(),
            ))
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        t.add(name, &[Str, Str, Int], regex_split);
    }
    t.add("regexQuoteMeta", &[Str], |_, a| {
        Ok(Value::str(regex::escape(arg_str(a, 0))))
    });
    t.add("randAlphaNum", &[Int], |_, a| {
        rand_from(
            arg_int(a, 0),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        )
    });
    t.add("randAlpha", &[Int], |_, a| {
        rand_from(arg_int(a, 0), b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    });
    t.add("randNumeric", &[Int], |_, a| rand_from(arg_int(a, 0), b"0123456789"));
    t.add("randAscii", &[Int], |_, a| {
        let printable: Vec<u8> = (32u8..=126).collect();
        rand_from(arg_int(a, 0), &printable)
    });
    t.add("uuidv4", &[], |_, _| uuidv4());
    t.add("shuffle", &[Str], |_, a| shuffle(arg_str(a, 0)));
    t.add("getHostByName", &[Str], |_, _| Ok(Value::str("")));
    t.add("semverCompare", &[Str, Str], |_, a| {
        let c = crate::semver::Constraints::parse(arg_str(a, 0)).map_err(go_error)?;
        let v = crate::semver::Version::parse(arg_str(a, 1)).map_err(go_error)?;
        Ok(Value::Bool(c.check(&v)))
    });
    t.add("semver", &[Str], |_, a| {
        let v = crate::semver::Version::parse(arg_str(a, 0)).map_err(go_error)?;
        Ok(Value::Object(std::rc::Rc::new(v)))
    });
}

/// A semver error as the function's error (Masterminds' text).
fn go_error(e: crate::semver::SemverError) -> GoError {
    e.to_string().into()
}

/// Go's `Regexp.Split(s, n)`.
fn regex_split(_: &mut State<'_>, a: &[Value]) -> R {
    let re = compile(arg_str(a, 0))?;
    let (s, n) = (arg_str(a, 1), arg_int(a, 2));
    if n == 0 {
        return Ok(Value::str_list(Vec::new()));
    }
    if arg_str(a, 0).is_empty() && !s.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        return Ok(Value::str_list(chars));
    }
    if s.is_empty() {
        return Ok(Value::str_list(vec![String::new()]));
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(s) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = m.end();
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    Ok(Value::str_list(out))
}

fn random_bytes(n: usize) -> Result<Vec<u8>, GoError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| GoError::new(e.to_string()))?;
    Ok(b)
}

fn rand_from(count: i64, alphabet: &[u8]) -> R {
    if count < 0 {
        return Ok(Value::str(""));
    }
    let bytes = random_bytes(count as usize)?;
    Ok(Value::str(
        bytes
            .iter()
            .map(|b| alphabet[*b as usize % alphabet.len()] as char)
            .collect::<String>(),
    ))
}

/// xstrings' `Shuffle`: the runes in a random order.
fn shuffle(s: &str) -> R {
    let mut chars: Vec<char> = s.chars().collect();
    let r = random_bytes(chars.len() * 4)?;
    for i in (1..chars.len()).rev() {
        let x = u32::from_le_bytes([r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]]);
        chars.swap(i, x as usize % (i + 1));
    }
    Ok(Value::str(chars.into_iter().collect::<String>()))
}

fn uuidv4() -> R {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(Value::str(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )))
}
