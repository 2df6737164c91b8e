//! The built-in renderer's resources: an object (a JSON value) with the ids kustomize tracks for
//! it (the id it was loaded or generated with, every id it had since) and what its generator
//! asked for. [`ResMap`] keeps them in load order and refuses duplicate ids, as kustomize's
//! resmap does.

use serde_json::{Map, Value};

use super::BuildError;

/// Group, version, kind, name and namespace: how kustomize identifies a resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResId {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    /// As written; `""` when the object names none.
    pub namespace: String,
}

impl ResId {
    /// The namespace kustomize compares ids by: `""` counts as `default` for namespaced kinds,
    /// and cluster-scoped kinds have none.
    pub fn effective_namespace(&self) -> &str {
        if is_cluster_scoped(self) {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Same group, version, kind, name and effective namespace.
    pub fn same_as(&self, other: &ResId) -> bool {
        self.group == other.group
            && self.version == other.version
            && self.kind == other.kind
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }

    /// `kind/name` and `.namespace` when set, as kustomize's errors show ids.
    pub fn display(&self) -> String {
        let gvk = if self.group.is_empty() {
            format!("{}.{}", self.kind, self.version)
        } else {
            format!("{}.{}.{}", self.kind, self.version, self.group)
        };
        if self.namespace.is_empty() {
            format!("{gvk}/{}.[noNs]", self.name)
        } else {
            format!("{gvk}/{}.{}", self.name, self.namespace)
        }
    }
}

/// Whether the id's type has no namespace, by kustomize's own table (group, version and kind).
pub fn is_cluster_scoped(id: &ResId) -> bool {
    super::fieldspec::is_cluster_scoped_gv(&id.group, &id.version, &id.kind)
}

/// How a generated ConfigMap or Secret combines with one of the same name from a base.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

/// What a generator asked for its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Append kustomize's content hash to the name at the end of the build.
    pub hash_suffix: bool,
    pub behavior: Behavior,
}

/// One resource being built.
#[derive(Clone, Debug)]
pub struct Resource {
    /// The object; always a JSON object.
    pub obj: Value,
    /// The id it was loaded or generated with.
    pub origin: ResId,
    /// Every id it had before its current one, oldest first (names and namespaces that
    /// transformers changed), so references written against any of them can be fixed.
    pub previous: Vec<ResId>,
    /// Set for generator output.
    pub generated: Option<Generated>,
    /// kustomize has written its own build annotations into it (beyond those `previous` and
    /// `generated` imply: a JSON patch from `patches` or a strategic merge patch allowed to
    /// rename stores its id). See [`Resource::has_build_annotations`].
    pub bookkept: bool,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

impl Resource {
    /// A loaded object; its id is read from it.
    pub fn new(obj: Value) -> Self {
        let origin = id_of(&obj);
        Self {
            obj,
            origin,
            previous: Vec::new(),
            generated: None,
            bookkept: false,
        }
    }

    pub fn id(&self) -> ResId {
        id_of(&self.obj)
    }

    pub fn kind(&self) -> &str {
        str_at(&self.obj, &["kind"])
    }

    pub fn api_version(&self) -> &str {
        str_at(&self.obj, &["apiVersion"])
    }

    pub fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }

    pub fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }

    /// `metadata`, created when missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = self.obj.as_object_mut().expect("a resource is an object");
        let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut().expect("just made an object")
    }

    /// Renames it, remembering the old id.
    pub fn set_name(&mut self, name: &str) {
        if self.name() == name {
            return;
        }
        self.previous.push(self.id());
        self.metadata_mut().insert("name".into(), Value::String(name.into()));
    }

    /// Moves it to `namespace`, remembering the old id.
    pub fn set_namespace(&mut self, namespace: &str) {
        if self.namespace() == namespace {
            return;
        }
        self.previous.push(self.id());
        self.metadata_mut()
            .insert("namespace".into(), Value::String(namespace.into()));
    }

    /// `metadata.labels` (or annotations) as string pairs; missing is empty.
    pub fn string_map(&self, field: &str) -> Vec<(&str, &str)> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect())
            .unwrap_or_default()
    }

    /// Whether kustomize holds build annotations (`internal.config.kubernetes.io/…`) in its
    /// `metadata.annotations` at this point of the build: once a transformer renamed it or moved
    /// it to a namespace, a generator made it, or a JSON patch from `patches` stored its id. A
    /// JSON patch then finds an annotations map even where the file had none (so `add
    /// /metadata/annotations/x` works there, and only there).
    pub fn has_build_annotations(&self) -> bool {
        self.bookkept
            || self.generated.is_some()
            || !self.previous.is_empty()
            || self
                .obj
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .is_some_and(|a| a.keys().any(|k| k.starts_with("internal.config.kubernetes.io/")))
    }

    /// Whether it has been known by `id` (now or before), compared as kustomize compares ids.
    pub fn was(&self, id: &ResId) -> bool {
        self.origin.same_as(id) || self.previous.iter().any(|p| p.same_as(id)) || self.id().same_as(id)
    }
}

/// The id of an object as it is now.
pub fn id_of(obj: &Value) -> ResId {
    let api_version = str_at(obj, &["apiVersion"]);
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    };
    ResId {
        group,
        version,
        kind: str_at(obj, &["kind"]).to_string(),
        name: str_at(obj, &["metadata", "name"]).to_string(),
        namespace: str_at(obj, &["metadata", "namespace"]).to_string(),
    }
}

/// Resources in load order, without two of the same id.
#[derive(Clone, Debug, Default)]
pub struct ResMap {
    pub resources: Vec<Resource>,
}

impl ResMap {
    /// Adds `r`; another resource with its id already present is kustomize's duplicate-id error.
    pub fn append(&mut self, r: Resource) -> Result<(), BuildError> {
        let id = r.id();
        if self.resources.iter().any(|x| x.id().same_as(&id)) {
            return Err(BuildError::Invalid(format!(
                "may not add resource with an already registered id: {}",
                id.display()
            )));
        }
        self.resources.push(r);
        Ok(())
    }

    /// Adds every resource of `other`, in order.
    pub fn absorb(&mut self, other: ResMap) -> Result<(), BuildError> {
        for r in other.resources {
            self.append(r)?;
        }
        Ok(())
    }
}
