//! The ApplicationSet template's rendering, as Argo CD's `Render.Replace` does it for each
//! string (and map key) of the template: fasttemplate's `{{param}}` (a tag whose parameter is
//! not a string is left as written), or Go's `text/template` with sprig (the engine of the
//! `helm` crate, with Argo CD's function set: sprig without `env`, `expandenv` and
//! `getHostByName`, plus `normalize`, `slugify`, `toYaml`, `fromYaml`, `fromYamlArray`) and
//! `goTemplateOptions`.

use std::rc::Rc;

use helm::template::funcs::{P, arg_str};
use helm::template::{Engine, FuncTable, Value as GoValue};
use serde_json::{Map, Value};

/// Why a string of the template did not render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("goTemplateOptions: {0:?} is not an option of Go's text/template")]
    Option(String),
    #[error("invalid template {template:?}: no closing }}}}")]
    Unclosed { template: String },
    #[error("failed to execute go template {template}: {message}")]
    Go { template: String, message: String },
    #[error("go template {template}: function {function} is not available")]
    Unsupported { template: String, function: String },
}

/// Functions of the Helm engine's table that Argo CD's ApplicationSet controller does not have.
const HELM_ONLY: &[&str] = &[
    "include",
    "tpl",
    "required",
    "lookup",
    "getHostByName",
    "toToml",
    "fromJsonArray",
];

/// How one ApplicationSet's template is rendered.
pub struct Renderer {
    /// `goTemplate: true`: the engine, and whether `missingkey=error` is set.
    go: Option<(Engine, bool)>,
}

impl Renderer {
    /// From the ApplicationSet's `spec` (`goTemplate`, `goTemplateOptions`).
    pub fn new(spec: &Value) -> Result<Renderer, TemplateError> {
        if !spec["goTemplate"].as_bool().unwrap_or(false) {
            return Ok(Renderer { go: None });
        }
        let mut missing_key_error = false;
        for option in spec["goTemplateOptions"].as_array().into_iter().flatten() {
            match option.as_str().unwrap_or_default() {
                "missingkey=error" => missing_key_error = true,
                "missingkey=zero" | "missingkey=default" | "missingkey=invalid" => missing_key_error = false,
                other => return Err(TemplateError::Option(other.to_string())),
            }
        }
        let mut funcs = FuncTable::helm();
        // Argo CD installs sprig without env, expandenv and getHostByName, and none of Helm's own
        // functions: a template calling one fails as it does there.
        for name in HELM_ONLY {
            funcs.remove(name);
        }
        funcs.add("normalize", &[P::Str], |_, args| {
            Ok(GoValue::str(super::normalize(arg_str(args, 0))))
        });
        funcs.add_variadic("slugify", &[], P::Any, |_, args| Ok(GoValue::str(slugify(args))));
        let engine = Engine {
            funcs: Rc::new(funcs),
            ..Engine::default()
        };
        Ok(Renderer {
            go: Some((engine, missing_key_error)),
        })
    }

    pub fn go_template(&self) -> bool {
        self.go.is_some()
    }

    /// Every string and map key of `template`, rendered with `params`.
    pub fn render(&self, template: &Value, params: &Map<String, Value>) -> Result<Value, TemplateError> {
        Ok(match template {
            Value::String(s) => Value::String(self.string(s, params)?),
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.render(i, params)).collect::<Result<_, _>>()?)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(self.string(k, params)?, self.render(v, params)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// One string.
    pub fn string(&self, text: &str, params: &Map<String, Value>) -> Result<String, TemplateError> {
        match &self.go {
            Some((engine, missing_key_error)) => go(engine, *missing_key_error, text, params),
            None => fast(text, params),
        }
    }
}

fn go(
    engine: &Engine,
    missing_key_error: bool,
    text: &str,
    params: &Map<String, Value>,
) -> Result<String, TemplateError> {
    if !text.contains("{{") {
        // No action: Go's output is the text.
        return Ok(text.to_string());
    }
    let data = GoValue::from(Value::Object(params.clone()));
    engine
        .execute("base", text, data, missing_key_error)
        .map_err(|e| match e {
            helm::template::Error::Unsupported(function) => TemplateError::Unsupported {
                template: text.to_string(),
                function,
            },
            helm::template::Error::Render(message) => TemplateError::Go {
                template: text.to_string(),
                message,
            },
        })
}

/// fasttemplate with `{{`/`}}`: a tag naming a string parameter (spaces trimmed) is replaced,
/// any other is left as written. Text without `{{…}}` on one line is not parsed (Argo CD's
/// `isTemplatedRegex`).
fn fast(text: &str, params: &Map<String, Value>) -> Result<String, TemplateError> {
    let templated = text
        .split('\n')
        .any(|l| l.find("{{").is_some_and(|i| l[i + 2..].contains("}}")));
    if !templated {
        return Ok(text.to_string());
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err(TemplateError::Unclosed {
                template: text.to_string(),
            });
        };
        let tag = &after[..j];
        match params.get(tag.trim()).and_then(Value::as_str) {
            Some(v) if !tag.trim().is_empty() => out.push_str(v),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Argo CD's `slugify [maxSize [smartTruncate]] name` (`SlugifyName`, defaults 50 and true):
/// the name normalized, then gosimple/slug's `Make`: what is not `[a-zA-Z0-9_-]` becomes `-`,
/// dashes collapse, `-` and `_` are trimmed, and a slug longer than `maxSize` is cut at the
/// last `-` within it (smart) or at `maxSize`.
pub fn slugify(args: &[GoValue]) -> String {
    let name = args.last().and_then(GoValue::as_str).unwrap_or_default();
    let max = match args.first() {
        Some(GoValue::Int(n)) if args.len() > 1 => usize::try_from(*n).unwrap_or(0),
        _ => 50,
    };
    let smart = match args.get(1) {
        Some(GoValue::Bool(b)) if args.len() > 2 => *b,
        _ => true,
    };
    let mut slug = String::new();
    for c in super::normalize(name).chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let mut slug = slug.trim_matches(|c| c == '-' || c == '_').to_string();
    if max > 0 && slug.len() > max {
        let cut = match smart {
            true => slug.as_bytes()[..=max].iter().rposition(|b| *b == b'-').unwrap_or(max),
            false => max,
        };
        slug.truncate(cut);
        slug = slug.trim_matches(|c| c == '-' || c == '_').to_string();
    }
    slug
}
