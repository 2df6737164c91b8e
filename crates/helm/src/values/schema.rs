//! `values.schema.json` validation as Helm's `ValidateAgainstSchema`: the chart's schema against
//! its coalesced values, then each subchart's against its key (a subchart whose key is absent or
//! null is skipped; a non-table key is an error of its own). The validator is the `jsonschema`
//! crate (draft from `$schema`, 2020-12 when absent, as Helm's santhosh-tekuri/jsonschema v6);
//! messages are laid out in that library's words (`- at '/replicas': got string, want integer`),
//! one line per failing keyword, `required` failures at one place grouped into one line.
//! Remote `$ref`s are not fetched.

use serde_json::Value;

use super::Values;
use crate::chart::Chart;
use crate::gofmt::format_float;

/// The failures of every chart, in Helm's text (`<chart>:\n- at '...': ...\n`...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(pub String);

/// One chart's schema failure, in Helm's text (each variant's text ends in a newline).
#[derive(Debug, thiserror::Error)]
pub enum ChartSchemaError {
    /// The schema is not JSON.
    #[error("{0}\n")]
    Json(#[source] serde_json::Error),
    /// The schema does not compile.
    #[error("{0}\n")]
    Schema(String),
    /// The values violate the schema: one `- at '...': ...` line each.
    #[error("{}\n", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Helm's `ValidateAgainstSchema` over the chart and its subcharts.
///
/// # Errors
/// [`SchemaError`] with every failure.
pub fn validate_against_schema(chart: &Chart, values: &Values) -> Result<(), SchemaError> {
    let mut out = String::new();
    collect(chart, values, &mut out);
    if out.is_empty() { Ok(()) } else { Err(SchemaError(out)) }
}

fn collect(chart: &Chart, values: &Values, out: &mut String) {
    if let Some(Err(msg)) = chart.schema.as_ref().map(|schema| validate_single(values, schema)) {
        out.push_str(&format!("{}:\n{msg}", chart.name()));
    }
    for sub in &chart.dependencies {
        match values.get(sub.name()) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => collect(sub, m, out),
            Some(other) => out.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.name(),
                go_type(other)
            )),
        }
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// One schema against one values tree: `Err` with the lines Helm prints (ending in a newline).
///
/// # Errors
/// [`ChartSchemaError`], in Helm's text.
pub fn validate_single(values: &Values, schema_json: &[u8]) -> Result<(), ChartSchemaError> {
    let schema: Value = serde_json::from_slice(schema_json).map_err(ChartSchemaError::Json)?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| ChartSchemaError::Schema(e.to_string()))?;
    let instance = Value::Object(values.clone());
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut required: Vec<(String, Vec<String>)> = Vec::new();
    for err in validator.iter_errors(&instance) {
        let at = err.instance_path().as_str().to_string();
        if let jsonschema::error::ValidationErrorKind::Required { property } = err.kind() {
            let name = property.as_str().unwrap_or_default().to_string();
            match required.iter_mut().find(|(p, _)| *p == at) {
                Some((_, names)) => names.push(name),
                None => required.push((at, vec![name])),
            }
            continue;
        }
        lines.push((at, message(err.kind(), err.instance())));
    }
    for (at, names) in required {
        let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
        let msg = if quoted.len() == 1 {
            format!("missing property {}", quoted[0])
        } else {
            format!("missing properties {}", quoted.join(", "))
        };
        lines.push((at, msg));
    }
    if lines.is_empty() {
        return Ok(());
    }
    // `required` first, as santhosh-tekuri evaluates it before `properties`.
    lines.sort_by_key(|(_, msg)| !msg.starts_with("missing propert"));
    Err(ChartSchemaError::Invalid(
        lines
            .iter()
            .map(|(at, msg)| format!("- at {}: {msg}", quote(at)))
            .collect(),
    ))
}

/// santhosh-tekuri's `quote`: Go's `%q` inside single quotes.
fn quote(s: &str) -> String {
    let inner = serde_json::to_string(s).unwrap_or_default();
    let inner = &inner[1..inner.len() - 1];
    format!("'{}'", inner.replace("\\\"", "\"").replace('\'', "\\'"))
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Array(_) | Value::Object(_) => "value".into(),
        Value::Number(n) => format_float(n.as_f64().unwrap_or(0.0)),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".into(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn num(v: &Value) -> String {
    format_float(v.as_f64().unwrap_or(0.0))
}

fn message(kind: &jsonschema::error::ValidationErrorKind, instance: &Value) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let len = |v: &Value| match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    };
    match kind {
        K::Type { kind } => {
            let want: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            format!("got {}, want {}", json_type(instance), want.join(" or "))
        }
        K::Enum { options } => match options.as_array() {
            Some(opts) if opts.iter().all(|o| !o.is_array() && !o.is_object()) => {
                let shown: Vec<String> = opts.iter().map(display).collect();
                if shown.len() == 1 {
                    format!("value must be {}", shown[0])
                } else {
                    format!("value must be one of {}", shown.join(", "))
                }
            }
            _ => "enum failed".into(),
        },
        K::Constant { expected_value } if !expected_value.is_array() && !expected_value.is_object() => {
            format!("value must be {}", display(expected_value))
        }
        K::Constant { .. } => "const failed".into(),
        K::Minimum { limit } => format!("minimum: got {}, want {}", num(instance), num(limit)),
        K::Maximum { limit } => format!("maximum: got {}, want {}", num(instance), num(limit)),
        K::ExclusiveMinimum { limit } => format!("exclusiveMinimum: got {}, want {}", num(instance), num(limit)),
        K::ExclusiveMaximum { limit } => format!("exclusiveMaximum: got {}, want {}", num(instance), num(limit)),
        K::MinLength { limit } => format!("minLength: got {}, want {limit}", len(instance)),
        K::MaxLength { limit } => format!("maxLength: got {}, want {limit}", len(instance)),
        K::MinItems { limit } => format!("minItems: got {}, want {limit}", len(instance)),
        K::MaxItems { limit } => format!("maxItems: got {}, want {limit}", len(instance)),
        K::MinProperties { limit } => format!("minProperties: got {}, want {limit}", len(instance)),
        K::MaxProperties { limit } => format!("maxProperties: got {}, want {limit}", len(instance)),
        K::Pattern { pattern } => format!(
            "{} does not match pattern {}",
            quote(instance.as_str().unwrap_or_default()),
            quote(pattern)
        ),
        K::AdditionalProperties { unexpected } => {
            let names: Vec<String> = unexpected.iter().map(|n| quote(n)).collect();
            format!("additional properties {} not allowed", names.join(", "))
        }
        K::FalseSchema => "false schema".into(),
        K::AnyOf { .. } => "anyOf failed".into(),
        K::OneOfNotValid { .. } => "oneOf failed, none matched".into(),
        K::Not { .. } => "not failed".into(),
        K::Format { format } => format!("{} is not valid {format}", display(instance)),
        other => format!("{other:?}"),
    }
}
