//! Chart.yaml as Helm's `chart.Metadata` reads it: sigs.k8s.io/yaml into a Go struct, so keys
//! match field names case-insensitively, a number or boolean given for a string field becomes
//! its Go text (`version: 1.10` is `"1.1"`), unknown keys are ignored, and a wrong JSON type is
//! Go's `json: cannot unmarshal ...` error.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::yaml::Typed;

/// A maintainer entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintainer {
    /// `name`.
    pub name: String,
    /// `email`.
    pub email: String,
    /// `url`.
    pub url: String,
}

/// One `dependencies:` entry of Chart.yaml (or requirements.yaml).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependency {
    /// The subchart's name (after dependency processing: its alias, when it has one).
    pub name: String,
    /// A semver constraint the subchart's version must meet.
    pub version: String,
    /// Where `helm dependency` fetches it (unused when rendering).
    pub repository: String,
    /// Comma-separated value paths; the first that resolves to a boolean decides.
    pub condition: String,
    /// Tags under `.Values.tags` that enable or disable it.
    pub tags: Vec<String>,
    /// Set by dependency processing.
    pub enabled: bool,
    /// `import-values`: strings (`exports.X`) or `{child, parent}` maps.
    pub import_values: Vec<Value>,
    /// The name the subchart goes by in this chart.
    pub alias: String,
}

/// Chart.yaml.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// `name` (required).
    pub name: String,
    /// `home`.
    pub home: String,
    /// `sources`.
    pub sources: Vec<String>,
    /// `version` (required, semver).
    pub version: String,
    /// `description`.
    pub description: String,
    /// `keywords`.
    pub keywords: Vec<String>,
    /// `maintainers` (`None` entries are nulls, which validation refuses).
    pub maintainers: Vec<Option<Maintainer>>,
    /// `icon`.
    pub icon: String,
    /// `apiVersion` (`v1` when absent).
    pub api_version: String,
    /// `condition`.
    pub condition: String,
    /// `tags` (a string here).
    pub tags: String,
    /// `appVersion`.
    pub app_version: String,
    /// `deprecated`.
    pub deprecated: bool,
    /// `annotations` (`None` when absent: templates see `null`).
    pub annotations: Option<BTreeMap<String, String>>,
    /// `kubeVersion`: a semver constraint on the cluster version.
    pub kube_version: String,
    /// `dependencies`: `None` when absent (Helm then skips dependency processing entirely), and
    /// `None` entries for nulls.
    pub dependencies: Option<Vec<Option<Dependency>>>,
    /// `type`: `application` (or empty) or `library`.
    pub chart_type: String,
}

/// Go's `json: cannot unmarshal X into Go struct field S.path of type T`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("json: cannot unmarshal {found} into Go struct field {strukt}.{path} of type {want}")]
pub struct FieldTypeError {
    found: &'static str,
    strukt: &'static str,
    path: String,
    want: &'static str,
}

fn kind(t: &Typed) -> &'static str {
    match t {
        Typed::Null => "null",
        Typed::Bool(_) => "bool",
        Typed::Int(_) | Typed::Float(_) => "number",
        Typed::Str(_) => "string",
        Typed::Seq(_) => "array",
        Typed::Map(_) => "object",
    }
}

/// Decodes fields of one Go struct, remembering the first type error as Go's decoder does.
struct Fields<'a> {
    strukt: &'static str,
    prefix: String,
    first_error: &'a mut Option<FieldTypeError>,
}

impl Fields<'_> {
    fn fail(&mut self, key: &str, found: &Typed, want: &'static str) {
        if self.first_error.is_none() {
            *self.first_error = Some(FieldTypeError {
                found: kind(found),
                strukt: self.strukt,
                path: format!("{}{key}", self.prefix),
                want,
            });
        }
    }

    fn string(&mut self, key: &str, v: &Typed, out: &mut String) {
        match v {
            Typed::Null => {}
            Typed::Seq(_) | Typed::Map(_) => self.fail(key, v, "string"),
            scalar => *out = scalar.coerced_string().unwrap_or_default(),
        }
    }

    fn boolean(&mut self, key: &str, v: &Typed, out: &mut bool) {
        match v {
            Typed::Null => {}
            Typed::Bool(b) => *out = *b,
            other => self.fail(key, other, "bool"),
        }
    }

    fn strings(&mut self, key: &str, v: &Typed, out: &mut Vec<String>) {
        match v {
            Typed::Null => out.clear(),
            Typed::Seq(items) => {
                *out = items
                    .iter()
                    .map(|item| {
                        let mut s = String::new();
                        self.string(key, item, &mut s);
                        s
                    })
                    .collect();
            }
            other => self.fail(key, other, "[]string"),
        }
    }
}

/// The struct's fields in the order Go's decoder sees them: JSON object keys sorted, each
/// matched to a field name exactly or case-insensitively (the last match wins).
fn sorted_pairs(pairs: &[(String, Typed)]) -> Vec<(String, &Typed)> {
    let mut sorted: Vec<(String, &Typed)> = pairs.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|a, b| pairs[*a].0.cmp(&pairs[*b].0));
    sorted = order.into_iter().map(|i| sorted[i].clone()).collect();
    sorted
}

impl Metadata {
    /// Decodes Chart.yaml's first document.
    ///
    /// # Errors
    /// A [`FieldTypeError`] where Go's JSON decoder would refuse a type; the caller wraps it.
    pub fn from_typed(doc: &Typed) -> Result<Metadata, MetadataDecodeError> {
        let mut md = Metadata::default();
        md.merge_typed(doc)?;
        Ok(md)
    }

    /// Decodes a document into this metadata, keeping fields it does not name (requirements.yaml
    /// is read into the metadata Chart.yaml filled).
    ///
    /// # Errors
    /// As [`Metadata::from_typed`].
    pub fn merge_typed(&mut self, doc: &Typed) -> Result<(), MetadataDecodeError> {
        let pairs = match doc {
            Typed::Null => return Ok(()),
            Typed::Map(pairs) => pairs,
            other => return Err(MetadataDecodeError::NotAnObject(kind(other))),
        };
        let mut first_error = None;
        let mut f = Fields {
            strukt: "Metadata",
            prefix: String::new(),
            first_error: &mut first_error,
        };
        for (key, v) in sorted_pairs(pairs) {
            self.field(&mut f, &key, v);
        }
        match first_error {
            Some(e) => Err(MetadataDecodeError::Field(e)),
            None => Ok(()),
        }
    }

    fn field(&mut self, f: &mut Fields<'_>, key: &str, v: &Typed) {
        match key {
            "name" => f.string("name", v, &mut self.name),
            "home" => f.string("home", v, &mut self.home),
            "sources" => f.strings("sources", v, &mut self.sources),
            "version" => f.string("version", v, &mut self.version),
            "description" => f.string("description", v, &mut self.description),
            "keywords" => f.strings("keywords", v, &mut self.keywords),
            "maintainers" => self.maintainers = decode_list(f, "maintainers", v, decode_maintainer),
            "icon" => f.string("icon", v, &mut self.icon),
            "apiversion" => f.string("apiVersion", v, &mut self.api_version),
            "condition" => f.string("condition", v, &mut self.condition),
            "tags" => f.string("tags", v, &mut self.tags),
            "appversion" => f.string("appVersion", v, &mut self.app_version),
            "deprecated" => f.boolean("deprecated", v, &mut self.deprecated),
            "annotations" => self.annotations = decode_annotations(f, v),
            "kubeversion" => f.string("kubeVersion", v, &mut self.kube_version),
            "dependencies" => {
                self.dependencies = match v {
                    Typed::Null => None,
                    _ => Some(decode_list(f, "dependencies", v, decode_dependency)),
                };
            }
            "type" => f.string("type", v, &mut self.chart_type),
            _ => {}
        }
    }
}

/// Chart.yaml could not be decoded into Helm's struct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataDecodeError {
    /// A field of the wrong JSON type.
    #[error(transparent)]
    Field(FieldTypeError),
    /// The document is not a map.
    #[error("json: cannot unmarshal {0} into Go value of type v2.Metadata")]
    NotAnObject(&'static str),
}

fn decode_list<T>(
    f: &mut Fields<'_>,
    key: &'static str,
    v: &Typed,
    item: fn(&mut Fields<'_>, &Typed) -> Option<T>,
) -> Vec<Option<T>> {
    match v {
        Typed::Null => Vec::new(),
        Typed::Seq(items) => {
            let mut inner = Fields {
                strukt: f.strukt,
                prefix: format!("{}{key}.", f.prefix),
                first_error: &mut *f.first_error,
            };
            items.iter().map(|i| item(&mut inner, i)).collect()
        }
        other => {
            f.fail(
                key,
                other,
                if key == "maintainers" {
                    "[]*v2.Maintainer"
                } else {
                    "[]*v2.Dependency"
                },
            );
            Vec::new()
        }
    }
}

fn object_fields<'a>(f: &mut Fields<'_>, v: &'a Typed, want: &'static str) -> Option<Vec<(String, &'a Typed)>> {
    match v {
        Typed::Null => None,
        Typed::Map(pairs) => Some(sorted_pairs(pairs)),
        other => {
            let key = f
                .prefix
                .trim_end_matches('.')
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_string();
            let saved = std::mem::take(&mut f.prefix);
            let parent = saved
                .trim_end_matches('.')
                .rsplit_once('.')
                .map(|(p, _)| format!("{p}."))
                .unwrap_or_default();
            f.prefix = parent;
            f.fail(&key, other, want);
            f.prefix = saved;
            None
        }
    }
}

fn decode_maintainer(f: &mut Fields<'_>, v: &Typed) -> Option<Maintainer> {
    let pairs = object_fields(f, v, "v2.Maintainer")?;
    let mut m = Maintainer::default();
    let mut inner = Fields {
        strukt: "Maintainer",
        prefix: f.prefix.clone(),
        first_error: &mut *f.first_error,
    };
    for (key, v) in pairs {
        match key.as_str() {
            "name" => inner.string("name", v, &mut m.name),
            "email" => inner.string("email", v, &mut m.email),
            "url" => inner.string("url", v, &mut m.url),
            _ => {}
        }
    }
    Some(m)
}

fn decode_dependency(f: &mut Fields<'_>, v: &Typed) -> Option<Dependency> {
    let pairs = object_fields(f, v, "v2.Dependency")?;
    let mut d = Dependency::default();
    let mut inner = Fields {
        strukt: "Dependency",
        prefix: f.prefix.clone(),
        first_error: &mut *f.first_error,
    };
    for (key, v) in pairs {
        match key.as_str() {
            "name" => inner.string("name", v, &mut d.name),
            "version" => inner.string("version", v, &mut d.version),
            "repository" => inner.string("repository", v, &mut d.repository),
            "condition" => inner.string("condition", v, &mut d.condition),
            "tags" => inner.strings("tags", v, &mut d.tags),
            "enabled" => inner.boolean("enabled", v, &mut d.enabled),
            "import-values" => match v {
                Typed::Null => d.import_values.clear(),
                Typed::Seq(items) => d.import_values = items.iter().filter_map(|i| i.to_json().ok()).collect(),
                other => inner.fail("import-values", other, "[]interface {}"),
            },
            "alias" => inner.string("alias", v, &mut d.alias),
            _ => {}
        }
    }
    Some(d)
}

fn decode_annotations(f: &mut Fields<'_>, v: &Typed) -> Option<BTreeMap<String, String>> {
    match v {
        Typed::Null => None,
        Typed::Map(pairs) => {
            let mut out = BTreeMap::new();
            for (k, v) in pairs {
                let mut s = String::new();
                f.string(&format!("annotations.{k}"), v, &mut s);
                out.insert(k.clone(), s);
            }
            Some(out)
        }
        other => {
            f.fail("annotations", other, "map[string]string");
            None
        }
    }
}

fn strings_json(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

impl Dependency {
    /// The dependency as templates see it in `.Chart.Dependencies` (Go field names).
    #[must_use]
    pub fn template_map(&self) -> Value {
        let mut m = Map::new();
        m.insert("Alias".into(), Value::String(self.alias.clone()));
        m.insert("Condition".into(), Value::String(self.condition.clone()));
        m.insert("Enabled".into(), Value::Bool(self.enabled));
        m.insert("ImportValues".into(), Value::Array(self.import_values.clone()));
        m.insert("Name".into(), Value::String(self.name.clone()));
        m.insert("Repository".into(), Value::String(self.repository.clone()));
        m.insert("Tags".into(), strings_json(&self.tags));
        m.insert("Version".into(), Value::String(self.version.clone()));
        Value::Object(m)
    }

    /// The dependency as Go's JSON encoder writes it (`omitempty` fields dropped).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        put_str(&mut m, "version", &self.version);
        m.insert("repository".into(), Value::String(self.repository.clone()));
        put_str(&mut m, "condition", &self.condition);
        if !self.tags.is_empty() {
            m.insert("tags".into(), strings_json(&self.tags));
        }
        if self.enabled {
            m.insert("enabled".into(), Value::Bool(true));
        }
        if !self.import_values.is_empty() {
            m.insert("import-values".into(), Value::Array(self.import_values.clone()));
        }
        put_str(&mut m, "alias", &self.alias);
        Value::Object(m)
    }
}

fn put_str(m: &mut Map<String, Value>, key: &str, v: &str) {
    if !v.is_empty() {
        m.insert(key.into(), Value::String(v.to_string()));
    }
}

fn maintainer_map(m: Option<&Maintainer>) -> Value {
    m.map_or(Value::Null, |m| {
        let mut out = Map::new();
        out.insert("Email".into(), Value::String(m.email.clone()));
        out.insert("Name".into(), Value::String(m.name.clone()));
        out.insert("URL".into(), Value::String(m.url.clone()));
        Value::Object(out)
    })
}

impl Metadata {
    /// `.Chart` as templates see it: Helm's `structToMap` of the struct, Go field names
    /// (`Name`, `Version`, `AppVersion`, `APIVersion`, ...). The engine adds `IsRoot`.
    #[must_use]
    pub fn template_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let s = |v: &str| Value::String(v.to_string());
        m.insert("APIVersion".into(), s(&self.api_version));
        m.insert(
            "Annotations".into(),
            self.annotations.as_ref().map_or(Value::Null, |a| {
                Value::Object(a.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
            }),
        );
        m.insert("AppVersion".into(), s(&self.app_version));
        m.insert("Condition".into(), s(&self.condition));
        let deps = self
            .dependencies
            .iter()
            .flatten()
            .map(|d| d.as_ref().map_or(Value::Null, Dependency::template_map));
        m.insert("Dependencies".into(), Value::Array(deps.collect()));
        m.insert("Deprecated".into(), Value::Bool(self.deprecated));
        m.insert("Description".into(), s(&self.description));
        m.insert("Home".into(), s(&self.home));
        m.insert("Icon".into(), s(&self.icon));
        m.insert("Keywords".into(), strings_json(&self.keywords));
        m.insert("KubeVersion".into(), s(&self.kube_version));
        m.insert(
            "Maintainers".into(),
            Value::Array(self.maintainers.iter().map(|x| maintainer_map(x.as_ref())).collect()),
        );
        m.insert("Name".into(), s(&self.name));
        m.insert("Sources".into(), strings_json(&self.sources));
        m.insert("Tags".into(), s(&self.tags));
        m.insert("Type".into(), s(&self.chart_type));
        m.insert("Version".into(), s(&self.version));
        m
    }

    /// The metadata as Go's JSON encoder writes `chart.Metadata` (`omitempty` fields dropped).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        put_str(&mut m, "name", &self.name);
        put_str(&mut m, "home", &self.home);
        if !self.sources.is_empty() {
            m.insert("sources".into(), strings_json(&self.sources));
        }
        put_str(&mut m, "version", &self.version);
        put_str(&mut m, "description", &self.description);
        if !self.keywords.is_empty() {
            m.insert("keywords".into(), strings_json(&self.keywords));
        }
        if !self.maintainers.is_empty() {
            let list = self.maintainers.iter().map(|x| maintainer_json(x.as_ref())).collect();
            m.insert("maintainers".into(), Value::Array(list));
        }
        put_str(&mut m, "icon", &self.icon);
        put_str(&mut m, "apiVersion", &self.api_version);
        put_str(&mut m, "condition", &self.condition);
        put_str(&mut m, "tags", &self.tags);
        put_str(&mut m, "appVersion", &self.app_version);
        if self.deprecated {
            m.insert("deprecated".into(), Value::Bool(true));
        }
        if let Some(a) = self.annotations.as_ref().filter(|a| !a.is_empty()) {
            m.insert(
                "annotations".into(),
                Value::Object(a.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
            );
        }
        put_str(&mut m, "kubeVersion", &self.kube_version);
        if let Some(deps) = self.dependencies.as_ref().filter(|d| !d.is_empty()) {
            let list = deps
                .iter()
                .map(|d| d.as_ref().map_or(Value::Null, Dependency::to_json))
                .collect();
            m.insert("dependencies".into(), Value::Array(list));
        }
        put_str(&mut m, "type", &self.chart_type);
        Value::Object(m)
    }
}

fn maintainer_json(m: Option<&Maintainer>) -> Value {
    m.map_or(Value::Null, |m| {
        let mut out = Map::new();
        put_str(&mut out, "name", &m.name);
        put_str(&mut out, "email", &m.email);
        put_str(&mut out, "url", &m.url);
        Value::Object(out)
    })
}
