//! A generic Go struct (or pointer to one) as a template value: named fields (in declaration
//! order, as `toJson` writes them), methods without arguments, and an optional `String()`.
//! Helm's `.Chart`, `.Release`, `.Capabilities` and the Kubernetes version are built from it.
//!
//! Its own module (not in `objects`) so the functions (`toJson` looks for it) depend on it
//! without depending on `objects`, which uses the functions' `toYaml`.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::fmt::sprint_value;
use super::value::{Map, MapType, MethodResult, Object, Value};

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
        Err(format!("{name} has arguments but cannot be invoked as function").into())
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
