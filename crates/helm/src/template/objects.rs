//! The Go objects Helm puts in a template's top-level value: `.Files` (Helm's `engine.files`
//! with `Get`, `GetBytes`, `Glob`, `Lines`, `AsConfig`, `AsSecrets`), the capabilities' API
//! version set (`Has`) and Kubernetes version (`String()`, `GitVersion`), and a generic struct.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;

use super::fmt::sprint_value;
use super::funcs::yaml::to_yaml;
use super::value::{ListType, Map, MapType, MethodResult, Object, Value};

/// A chart's files as `.Files` sees them (path → bytes, templates and values excluded by the
/// caller as Helm does).
#[derive(Clone, Debug, Default)]
pub struct Files {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Files {
    pub fn new(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Files {
        Files {
            files: files.into_iter().collect(),
        }
    }

    pub fn value(self) -> Value {
        Value::Object(Rc::new(self))
    }

    fn bytes_value(b: &[u8]) -> Value {
        Value::typed_list(ListType::Bytes, b.iter().map(|x| Value::Int(i64::from(*x))).collect())
    }

    fn string_map(&self, f: impl Fn(&[u8]) -> String) -> String {
        let m = Map::new(MapType::Str);
        for (k, v) in &self.files {
            m.insert(k.rsplit('/').next().unwrap_or(k).to_string(), Value::str(f(v)));
        }
        to_yaml(&Value::Map(m))
            .map(|s| s.trim_end_matches('\n').to_string())
            .unwrap_or_default()
    }

    fn glob(&self, pattern: &str) -> Files {
        let re = glob_regex(pattern)
            .unwrap_or_else(|| glob_regex("**").unwrap_or_else(|| regex::Regex::new(".*").expect("valid")));
        Files {
            files: self
                .files
                .iter()
                .filter(|(k, _)| re.is_match(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    fn lines(&self, path: &str) -> Value {
        let Some(b) = self.files.get(path).filter(|b| !b.is_empty()) else {
            return Value::str_list(Vec::new());
        };
        let s = String::from_utf8_lossy(b);
        let s = s.strip_suffix('\n').unwrap_or(&s);
        Value::str_list(s.split('\n').map(String::from).collect::<Vec<_>>())
    }
}

/// gobwas/glob with `/` as separator, as a regex (`*` stays within a path segment, `**` not).
fn glob_regex(pattern: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut depth = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let end = chars[i..].iter().position(|&x| x == ']')? + i;
                let mut class: String = chars[i + 1..end].iter().collect();
                if let Some(rest) = class.strip_prefix('!') {
                    class = format!("^{rest}");
                }
                re.push_str(&format!("[{}]", class.replace('\\', "\\\\")));
                i = end;
            }
            '{' => {
                depth += 1;
                re.push_str("(?:");
            }
            '}' if depth > 0 => {
                depth -= 1;
                re.push(')');
            }
            ',' if depth > 0 => re.push('|'),
            '\\' => {
                i += 1;
                re.push_str(&regex::escape(&chars.get(i)?.to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if depth > 0 {
        return None;
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

impl Object for Files {
    fn type_name(&self) -> String {
        "engine.files".into()
    }

    fn kind(&self) -> &'static str {
        "map"
    }

    fn field(&self, name: &str) -> Option<Value> {
        // A map: any other name is a key (a missing one is a nil []byte).
        Some(self.files.get(name).map_or_else(
            || Value::typed_list(ListType::Bytes, Vec::new()),
            |b| Files::bytes_value(b),
        ))
    }

    fn has_method(&self, name: &str) -> bool {
        matches!(name, "Get" | "GetBytes" | "Glob" | "Lines" | "AsConfig" | "AsSecrets")
    }

    fn call(&self, name: &str, args: &[Value]) -> MethodResult {
        let want = if matches!(name, "AsConfig" | "AsSecrets") { 0 } else { 1 };
        if args.len() != want {
            return Err(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            ));
        }
        let arg = || match &args[0] {
            Value::Str(s) => Ok(s.to_string()),
            other => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
        };
        Ok(match name {
            "Get" => Value::str(String::from_utf8_lossy(self.files.get(&arg()?).map_or(&[][..], |b| b)).into_owned()),
            "GetBytes" => Files::bytes_value(self.files.get(&arg()?).map_or(&[][..], |b| b)),
            "Glob" => self.glob(&arg()?).value(),
            "Lines" => self.lines(&arg()?),
            "AsConfig" => Value::str(self.string_map(|b| String::from_utf8_lossy(b).into_owned())),
            _ => Value::str(self.string_map(|b| base64::engine::general_purpose::STANDARD.encode(b))),
        })
    }

    fn display(&self) -> String {
        let inner: Vec<String> = self
            .files
            .iter()
            .map(|(k, v)| format!("{k}:{}", sprint_value(&Files::bytes_value(v))))
            .collect();
        format!("map[{}]", inner.join(" "))
    }

    fn to_data(&self) -> Value {
        let m = Map::new(MapType::Any);
        for (k, v) in &self.files {
            m.insert(k.clone(), Files::bytes_value(v));
        }
        Value::Map(m)
    }

    fn truth(&self) -> bool {
        !self.files.is_empty()
    }

    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.files
                .iter()
                .map(|(k, v)| (k.clone(), Files::bytes_value(v)))
                .collect(),
        )
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A Go struct (or pointer to one): named fields, an optional `String()` for printing.
#[derive(Clone, Debug)]
pub struct Struct {
    pub type_name: String,
    pub pointer: bool,
    pub fields: BTreeMap<String, Value>,
    /// Fields in declaration order, for `toJson` (Go marshals structs in field order).
    pub order: Vec<String>,
    /// What `String()` returns, if the type has that method.
    pub string: Option<String>,
    /// Methods without arguments (`GitVersion`), evaluated like fields.
    pub methods: BTreeMap<String, Value>,
}

impl Struct {
    pub fn value(self) -> Value {
        Value::Object(Rc::new(self))
    }
}

impl Object for Struct {
    fn type_name(&self) -> String {
        self.type_name.clone()
    }

    fn kind(&self) -> &'static str {
        if self.pointer { "ptr" } else { "struct" }
    }

    fn field(&self, name: &str) -> Option<Value> {
        self.fields.get(name).or_else(|| self.methods.get(name)).cloned()
    }

    fn has_method(&self, _: &str) -> bool {
        false
    }

    fn call(&self, name: &str, _: &[Value]) -> MethodResult {
        Err(format!("{name} has arguments but cannot be invoked as function"))
    }

    fn display(&self) -> String {
        if let Some(s) = &self.string {
            return s.clone();
        }
        let inner: Vec<String> = self
            .order
            .iter()
            .filter_map(|k| self.fields.get(k))
            .map(sprint_value)
            .collect();
        format!("{}{{{}}}", if self.pointer { "&" } else { "" }, inner.join(" "))
    }

    fn to_data(&self) -> Value {
        let m = Map::new(MapType::Any);
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.clone());
        }
        Value::Map(m)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Helm's `common.VersionSet` (`.Capabilities.APIVersions`): a `[]string` with `Has`.
#[derive(Clone, Debug, Default)]
pub struct VersionSet(pub Vec<String>);

impl Object for VersionSet {
    fn type_name(&self) -> String {
        "common.VersionSet".into()
    }

    fn kind(&self) -> &'static str {
        "slice"
    }

    fn field(&self, _: &str) -> Option<Value> {
        None
    }

    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }

    fn call(&self, _: &str, args: &[Value]) -> MethodResult {
        match args {
            [Value::Str(s)] => Ok(Value::Bool(self.0.iter().any(|v| v == &**s))),
            [other] => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
            _ => Err(format!("wrong number of args for Has: want 1 got {}", args.len())),
        }
    }

    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }

    fn to_data(&self) -> Value {
        Value::str_list(self.0.clone())
    }

    fn truth(&self) -> bool {
        !self.0.is_empty()
    }

    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
