//! The values templates see, modelled on what Go's `interface{}` holds in Helm: the distinctions
//! a chart can observe (through `%T`, `typeOf`, `kindOf`, comparisons and printing) are kept:
//! `int` vs `int64` vs `float64`, `[]interface {}` vs `[]string`, `map[string]interface {}` vs
//! `map[string]string` vs Helm's `common.Values`.
//!
//! Maps are shared and mutable, as Go maps are (`set`, `unset`, `merge` change the map every
//! reference sees); lists are immutable (every sprig list function returns a new slice).

use super::error::GoError;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Runs `f` on a stack with room to recurse: templates and values can nest as deep as Go's
/// growable stacks allow, so every recursive walk goes through here.
pub fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, f)
}

/// One template value.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's nil interface (a missing map key under `missingkey=zero`, `nil`).
    #[default]
    Nil,
    Bool(bool),
    /// Go `int` (template number constants, `len`, `int`, `atoi`).
    Int(i64),
    /// Go `int64` (sprig's arithmetic, `int64`).
    Int64(i64),
    /// Go `uint8` (a byte: `index` of a string).
    Uint8(u8),
    /// Go `float64` (every number from YAML or JSON values, `float64`, `addf`).
    Float(f64),
    Str(Rc<str>),
    List(Rc<List>),
    Map(Map),
    /// A Go value with fields and methods: `.Files`, `.Capabilities`, a semver version, a time.
    Object(Rc<dyn Object>),
}

/// The element type of a slice, which `%T`/`typeOf` show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListType {
    /// `[]interface {}`
    Any,
    /// `[]string`
    Str,
    /// `[]int`
    Int,
    /// `[]uint8` (`.Files.GetBytes`)
    Bytes,
}

/// A Go slice.
#[derive(Clone, Debug)]
pub struct List {
    pub ty: ListType,
    pub items: Vec<Value>,
}

/// The Go type of a map (all template maps have string keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    /// `map[string]interface {}`
    Any,
    /// `map[string]string` (`split`)
    Str,
    /// Helm's `common.Values` (`.Values`, `.Template`, the top-level object)
    Values,
}

/// A shared, mutable Go map with string keys; iteration (`range`, printing, `keys`) is in key
/// order as Go's template and fmt packages sort map keys. The Go type belongs to the handle:
/// one map can be seen under two types (Helm's chart maps are a `common.Values` as a
/// template's dot and a `map[string]interface {}` in `.Subcharts`).
#[derive(Clone)]
pub struct Map {
    ty: MapType,
    /// A nil Go map (`.Chart.Annotations` of a chart without annotations): empty, printed
    /// `map[]`, marshalled `null`.
    nil: bool,
    entries: Rc<RefCell<BTreeMap<String, Value>>>,
}

impl Map {
    pub fn new(ty: MapType) -> Self {
        Self::from_entries(ty, BTreeMap::new())
    }

    pub fn from_entries(ty: MapType, entries: BTreeMap<String, Value>) -> Self {
        Map {
            ty,
            nil: false,
            entries: Rc::new(RefCell::new(entries)),
        }
    }

    /// A nil map of type `ty`.
    pub fn nil(ty: MapType) -> Self {
        Map {
            nil: true,
            ..Self::new(ty)
        }
    }

    pub fn is_nil(&self) -> bool {
        self.nil
    }

    /// The same map (its entries shared, changes seen by both) under the Go type `ty`.
    #[must_use]
    pub fn as_type(&self, ty: MapType) -> Map {
        Map {
            ty,
            nil: self.nil,
            entries: Rc::clone(&self.entries),
        }
    }

    pub fn ty(&self) -> MapType {
        self.ty
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.entries.borrow().get(key).cloned()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.borrow().contains_key(key)
    }

    pub fn insert(&self, key: String, value: Value) {
        self.entries.borrow_mut().insert(key, value);
    }

    pub fn remove(&self, key: &str) {
        self.entries.borrow_mut().remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    /// A snapshot of the entries, sorted by key.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.entries
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A new map (same type) with the same entries: a shallow copy.
    pub fn shallow_copy(&self) -> Map {
        Map::from_entries(self.ty, self.entries.borrow().clone())
    }

    pub fn ptr_eq(&self, other: &Map) -> bool {
        Rc::ptr_eq(&self.entries, &other.entries)
    }
}

/// The outcome of calling a method on an [`Object`].
pub type MethodResult = Result<Value, GoError>;

/// A Go struct or named type exposed to templates: `.Files`, `.Capabilities.APIVersions`,
/// `.Capabilities.KubeVersion`, a `semver` version, a `time.Time`.
pub trait Object {
    /// The Go type, as `%T` prints it (`engine.files`, `*common.Capabilities`).
    fn type_name(&self) -> String;
    /// The Go kind, as sprig's `kindOf` prints it (`struct`, `ptr`, `map`, `slice`).
    fn kind(&self) -> &'static str;
    /// A field (or a method without arguments, which Go evaluates the same way) by name.
    fn field(&self, name: &str) -> Option<Value>;
    /// Whether `name` is a method taking arguments; [`Object::call`] runs it.
    fn has_method(&self, name: &str) -> bool;
    /// Calls method `name` with evaluated arguments.
    fn call(&self, name: &str, args: &[Value]) -> MethodResult;
    /// `%v` (a `String()` method when the Go type has one).
    fn display(&self) -> String;
    /// What `{{ . }}` prints: Go's `printValue` takes the address of an addressable value whose
    /// pointer type has `String()`, which `fmt` (a function's copy) does not see.
    fn print(&self) -> String {
        self.display()
    }
    /// The value `toJson`/`toYaml` encode (Go marshals the struct's exported fields).
    fn to_data(&self) -> Value;
    /// Go truthiness: a struct is always true; a nil-able type says.
    fn truth(&self) -> bool {
        true
    }
    /// The entries of a map-like object (`range`, `len`, `index` use them).
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// Lets `eq` and the functions that take a specific Go type see the concrete type.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl Value {
    pub fn str(s: impl Into<Rc<str>>) -> Value {
        Value::Str(s.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(List {
            ty: ListType::Any,
            items,
        }))
    }

    pub fn typed_list(ty: ListType, items: Vec<Value>) -> Value {
        Value::List(Rc::new(List { ty, items }))
    }

    pub fn str_list(items: impl IntoIterator<Item = String>) -> Value {
        Value::typed_list(ListType::Str, items.into_iter().map(Value::str).collect())
    }

    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Map::from_entries(MapType::Any, entries))
    }

    pub fn empty_map() -> Value {
        Value::Map(Map::new(MapType::Any))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Go's template truth: false for nil, false, zero numbers, empty strings, lists and maps.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Uint8(b) => *b != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(o) => o.truth(),
        }
    }

    /// `%T`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Uint8(_) => "uint8".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::List(l) => match l.ty {
                ListType::Any => "[]interface {}",
                ListType::Str => "[]string",
                ListType::Int => "[]int",
                ListType::Bytes => "[]uint8",
            }
            .into(),
            Value::Map(m) => match m.ty() {
                MapType::Any => "map[string]interface {}",
                MapType::Str => "map[string]string",
                MapType::Values => "common.Values",
            }
            .into(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// reflect's `Kind().String()` (sprig's `kindOf`).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Uint8(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(o) => o.kind(),
        }
    }

    /// Go's zero value of this value's type (`default`/`empty` use Go's emptiness instead).
    pub fn is_empty(&self) -> bool {
        !self.truth()
    }
}

impl PartialEq for Value {
    /// Deep equality of data (used by `has`, `uniq`, `without`: Go's `reflect.DeepEqual`).
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) | (Value::Int64(a), Value::Int64(b)) => a == b,
            (Value::Uint8(a), Value::Uint8(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => a.ty == b.ty && a.items == b.items,
            (Value::Map(a), Value::Map(b)) => a.ty() == b.ty() && (a.ptr_eq(b) || a.entries() == b.entries()),
            (Value::Object(a), Value::Object(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::str(s)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<serde_json::Value> for Value {
    /// JSON as Helm sees it: numbers become float64, objects `map[string]interface {}`.
    fn from(json: serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::list(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::map(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}
