//! A generic Go struct (or pointer to one) as a template value: named fields (in declaration
//! order, as `%v` prints and `toJson` writes them; lower-case ones unexported), `json` tags,
//! methods without arguments, and an optional `String()`. Helm's `.Capabilities`, its
//! Kubernetes version and its build info are built from it.
//!
//! Its own module (not in `objects`) so the functions (`toJson` looks for it) depend on it
//! without depending on `objects`, which uses the functions' `toYaml`.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::fmt::sprint_value;
use super::value::{Map, MapType, MethodResult, Object, Value};

/// A Go struct (or pointer to one): named fields, an optional `String()` for printing.
#[derive(Clone, Debug, Default)]
pub struct Struct {
    pub type_name: String,
    pub pointer: bool,
    pub fields: BTreeMap<String, Value>,
    /// Fields in declaration order, for `%v` and `toJson` (Go prints and marshals structs in
    /// field order). A name starting in lower case is unexported: `%v` prints it, templates
    /// cannot read it and `encoding/json` leaves it out.
    pub order: Vec<String>,
    /// `json:"…"` tags by field (`version,omitempty`); an untagged field marshals by its name.
    pub json: BTreeMap<String, String>,
    /// What `String()` returns, if the type has that method.
    pub string: Option<String>,
    /// `String()` has a pointer receiver (`func (kv *KubeVersion) String()`): `{{ . }}` of the
    /// (addressable) field prints it, but a function's argument is a copy, which `fmt` prints
    /// field by field (`printf "%v"` gives `{v1.30 v1.30.0 1 30}`).
    pub pointer_string: bool,
    /// Methods without arguments (`GitVersion`), evaluated like fields.
    pub methods: BTreeMap<String, Value>,
}

impl Struct {
    pub fn value(self) -> Value {
        Value::Object(Rc::new(self))
    }

    fn exported(name: &str) -> bool {
        name.starts_with(|c: char| c.is_ascii_uppercase())
    }

    /// The fields `encoding/json` writes, in order, under their JSON names: exported ones,
    /// less `omitempty` ones holding their zero value.
    pub fn json_fields(&self) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for k in self.order.iter().filter(|k| Self::exported(k)) {
            let Some(v) = self.fields.get(k) else { continue };
            let tag = self.json.get(k).map_or("", String::as_str);
            let (name, opts) = tag.split_once(',').unwrap_or((tag, ""));
            if name == "-" || (opts.split(',').any(|o| o == "omitempty") && is_empty(v)) {
                continue;
            }
            out.push((if name.is_empty() { k.clone() } else { name.to_string() }, v));
        }
        out
    }

    /// `%v`: the fields in order, unexported ones included.
    fn fields_text(&self) -> String {
        let inner: Vec<String> = self
            .order
            .iter()
            .filter_map(|k| self.fields.get(k))
            .map(sprint_value)
            .collect();
        format!("{}{{{}}}", if self.pointer { "&" } else { "" }, inner.join(" "))
    }
}

/// Go's `isEmptyValue` (what `omitempty` leaves out).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) | Value::Int64(i) => *i == 0,
        Value::Uint8(u) => *u == 0,
        Value::Float(f) => *f == 0.0,
        Value::Str(s) => s.is_empty(),
        Value::List(l) => l.items.is_empty(),
        Value::Map(m) => m.entries().is_empty(),
        Value::Object(_) => false,
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
        if !Self::exported(name) {
            return None;
        }
        self.fields.get(name).or_else(|| self.methods.get(name)).cloned()
    }

    fn has_method(&self, _: &str) -> bool {
        false
    }

    fn call(&self, name: &str, _: &[Value]) -> MethodResult {
        Err(format!("{name} has arguments but cannot be invoked as function").into())
    }

    fn display(&self) -> String {
        match &self.string {
            Some(s) if !self.pointer_string => s.clone(),
            _ => self.fields_text(),
        }
    }

    fn print(&self) -> String {
        match &self.string {
            Some(s) => s.clone(),
            None => self.fields_text(),
        }
    }

    /// What sigs.k8s.io/yaml marshals: the struct through `encoding/json`.
    fn to_data(&self) -> Value {
        let m = Map::new(MapType::Any);
        for (k, v) in self.json_fields() {
            m.insert(k, v.clone());
        }
        Value::Map(m)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
