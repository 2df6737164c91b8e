//! Helm's render loop (`pkg/engine/engine.go` `render`): every template parsed into one set in
//! Helm's order (deepest paths first, then names descending, so the shallowest, first-named
//! file's `define` wins), each non-partial template executed with `.Template` set, `<no value>`
//! removed, and errors rewritten as Helm rewrites them (`execution error at (…): msg` for
//! `fail`/`required`, the traceable multi-line form for others).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use super::error::GoError;
use super::exec::{Ctx, YamlLoader};
use super::funcs::FuncTable;
use super::funcs::helm::{WARN_END, WARN_START, add_tree};
use super::parse::{ParseError, parse};
use super::value::{Map, MapType, Value};

/// Why a render failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A function (or feature) Helm has that this engine does not: render with real Helm.
    #[error("{0:?} is not supported by the native template engine")]
    Unsupported(String),
    /// The template failed as it fails in Helm; the text is Helm's error message.
    #[error("{0}")]
    Render(String),
}

/// One template to render: its path (`chart/templates/x.yaml`), text, and top-level value
/// (`.Values`, `.Release`, `.Chart`, `.Capabilities`, `.Files`… of its chart).
#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    pub text: String,
    pub top: Value,
}

/// The template engine: a function table and the `fromYaml` loader.
#[derive(Clone)]
pub struct Engine {
    pub funcs: Rc<FuncTable>,
    pub yaml_loader: YamlLoader,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            funcs: Rc::new(FuncTable::helm()),
            yaml_loader: Rc::new(super::funcs::yaml::from_yaml_default),
        }
    }
}

/// Helm's `byPathLen` order, reversed: parse and render order.
fn helm_order(names: &mut [String]) {
    names.sort_by(|a, b| {
        let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
        cb.cmp(&ca).then_with(|| b.cmp(a))
    });
}

impl Engine {
    /// Renders templates that share one top-level value (a chart without subcharts).
    pub fn render(&self, templates: &[(String, String)], top: Value) -> Result<BTreeMap<String, String>, Error> {
        let ts: Vec<Template> = templates
            .iter()
            .map(|(n, t)| Template {
                name: n.clone(),
                text: t.clone(),
                top: top.clone(),
            })
            .collect();
        self.render_templates(&ts)
    }

    /// Renders templates, each with its chart's top-level value; returns the non-partial
    /// templates' output by name.
    pub fn render_templates(&self, templates: &[Template]) -> Result<BTreeMap<String, String>, Error> {
        let by_name: HashMap<&str, &Template> = templates.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut names: Vec<String> = by_name.keys().map(|s| s.to_string()).collect();
        helm_order(&mut names);
        let mut set = HashMap::new();
        let funcs = self.funcs.clone();
        for name in &names {
            let trees = parse(name, &by_name[name.as_str()].text, &|n| funcs.status(n)).map_err(|e| match e {
                ParseError::Unsupported(f) => Error::Unsupported(f),
                ParseError::Go(msg) => Error::Render(cleanup_parse_error(name, &msg)),
            })?;
            for t in trees {
                add_tree(&mut set, t);
            }
        }
        let ctx = Ctx {
            set,
            funcs,
            included: Rc::new(RefCell::new(HashMap::new())),
            root_name: "gotpl".into(),
            yaml_loader: self.yaml_loader.clone(),
            tpl_depth: 0,
            missing_key_error: false,
        };
        let mut out = BTreeMap::new();
        for name in &names {
            if name.rsplit('/').next().unwrap_or(name).starts_with('_') {
                continue;
            }
            let top = with_template(&by_name[name.as_str()].top, name);
            match ctx.execute(name, top) {
                Ok(text) => {
                    out.insert(name.clone(), text.replace("<no value>", ""));
                }
                Err(e) => return Err(exec_error(name, &e)),
            }
        }
        Ok(out)
    }
}

impl Engine {
    /// Go's `template.New(name).Funcs(…).Option(…).Parse(text).Execute(data)`: one template on
    /// its own, outside Helm's render loop (no `.Template`, `<no value>` kept as Go prints it,
    /// Go's error text unchanged). `missing_key_error` is `Option("missingkey=error")`; without
    /// it a missing map key is nil, as with `missingkey=default`.
    pub fn execute(&self, name: &str, text: &str, data: Value, missing_key_error: bool) -> Result<String, Error> {
        let funcs = self.funcs.clone();
        let trees = parse(name, text, &|n| funcs.status(n)).map_err(|e| match e {
            ParseError::Unsupported(f) => Error::Unsupported(f),
            ParseError::Go(msg) => Error::Render(msg),
        })?;
        let own = trees.iter().find(|t| t.name == name).cloned();
        let mut set = HashMap::new();
        for t in trees {
            add_tree(&mut set, t);
        }
        let ctx = Ctx {
            set,
            funcs,
            included: Rc::new(RefCell::new(HashMap::new())),
            root_name: name.into(),
            yaml_loader: self.yaml_loader.clone(),
            tpl_depth: 0,
            missing_key_error,
        };
        let result = match own {
            Some(tree) => ctx.execute_tree(&tree, data),
            None => Ok(String::new()),
        };
        result.map_err(|e| match e.unsupported {
            Some(f) => Error::Unsupported(f),
            None => Error::Render(e.msg),
        })
    }
}

/// The top-level value with `.Template` set (Helm sets it on the chart's shared map).
fn with_template(top: &Value, name: &str) -> Value {
    let base = match name.rfind("/templates/") {
        Some(i) => &name[..i + "/templates".len()],
        None => name.rsplit_once('/').map_or("", |(d, _)| d),
    };
    let tmpl = Map::new(MapType::Values);
    tmpl.insert("Name".into(), Value::str(name));
    tmpl.insert("BasePath".into(), Value::str(base));
    let m = match top {
        Value::Map(m) => m.clone(),
        _ => Map::new(MapType::Values),
    };
    m.insert("Template".into(), Value::Map(tmpl));
    Value::Map(m)
}

fn exec_error(name: &str, e: &GoError) -> Error {
    if let Some(f) = &e.unsupported {
        return Error::Unsupported(f.clone());
    }
    Error::Render(reformat_exec_error(name, e))
}

/// Helm's `cleanupParseError`.
fn cleanup_parse_error(name: &str, msg: &str) -> String {
    let tokens: Vec<&str> = msg.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({name}): {msg}");
    }
    format!("parse error at ({}): {}", tokens[1], tokens[tokens.len() - 1])
}

/// Helm's `reformatExecErrorMsg`.
fn reformat_exec_error(name: &str, e: &GoError) -> String {
    if !e.exec {
        return e.msg.clone();
    }
    let tokens: Vec<&str> = e.msg.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({name}): {}", e.msg);
    }
    if let (Some(s), Some(end)) = (tokens[2].find(WARN_START), tokens[2].rfind(WARN_END))
        && s + WARN_START.len() <= end
    {
        return format!(
            "execution error at ({}): {}",
            tokens[1],
            &tokens[2][s + WARN_START.len()..end]
        );
    }
    let mut traces: Vec<Trace> = Vec::new();
    for msg in e.chain() {
        match parse_trace(msg) {
            Some(t) => {
                if traces.last() != Some(&t) {
                    traces.push(t);
                }
            }
            None => return e.msg.clone(),
        }
    }
    traces.iter().map(Trace::render).collect::<String>().trim().to_string()
}

/// Helm's `TraceableError`.
#[derive(PartialEq, Eq, Default)]
struct Trace {
    location: String,
    message: String,
    executed: String,
}

impl Trace {
    fn render(&self) -> String {
        let mut s = String::new();
        if !self.location.is_empty() {
            s += &format!("{}\n  ", self.location);
        }
        if !self.executed.is_empty() {
            s += &format!("{}\n    ", self.executed);
        }
        if !self.message.is_empty() {
            s += &format!("{}\n", self.message);
        }
        s
    }
}

fn cut_template(msg: &str) -> String {
    match msg.find(" template:") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Helm's `parseTemplateExecErrorString`.
fn parse_trace(s: &str) -> Option<Trace> {
    let rest = s.strip_prefix("template: ")?;
    if rest.starts_with("no template ") {
        return Some(Trace {
            message: s.to_string(),
            ..Trace::default()
        });
    }
    if let Some((location, after)) = rest.split_once(": executing ") {
        let parsed = (|| {
            let after = after.strip_prefix('"')?;
            let end = after.find('"')?;
            let (func, after_func) = (&after[..end], &after[end + 1..]);
            let after_at = after_func.strip_prefix(" at <")?;
            let (loc_name, msg) = after_at.split_once(">: ")?;
            Some(Trace {
                location: location.to_string(),
                message: cut_template(msg),
                executed: format!("executing \"{func}\" at <{loc_name}>:"),
            })
        })();
        if parsed.is_some() {
            return parsed;
        }
    }
    let sep = rest.rfind(": ")?;
    Some(Trace {
        location: rest[..sep].to_string(),
        message: cut_template(&rest[sep + 2..]),
        executed: String::new(),
    })
}
