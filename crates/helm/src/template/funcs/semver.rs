//! sprig's `semver` value (`*semver.Version`) as templates see it: the fields and methods
//! charts call on it. The version itself is [`crate::semver`], the one Masterminds/semver Helm
//! and sprig share.

use std::cmp::Ordering;

use crate::semver::Version;
use crate::template::value::{MethodResult, Object, Value};

impl Object for Version {
    fn type_name(&self) -> String {
        "*semver.Version".into()
    }

    fn kind(&self) -> &'static str {
        "ptr"
    }

    fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "Major" => Value::Int64(self.major as i64),
            "Minor" => Value::Int64(self.minor as i64),
            "Patch" => Value::Int64(self.patch as i64),
            "Prerelease" => Value::str(self.pre.as_str()),
            "Metadata" => Value::str(self.meta.as_str()),
            "Original" => Value::str(self.original.as_str()),
            "String" => Value::str(self.canonical()),
            _ => return None,
        })
    }

    fn has_method(&self, name: &str) -> bool {
        matches!(name, "Compare" | "LessThan" | "GreaterThan" | "Equal")
    }

    fn call(&self, name: &str, args: &[Value]) -> MethodResult {
        let Some(Value::Object(o)) = args.first() else {
            return Err(format!("wrong number of args for {name}: want 1 got {}", args.len()).into());
        };
        let Some(other) = o.as_any().downcast_ref::<Version>() else {
            return Err("wrong type for value; expected *semver.Version".into());
        };
        let ord = self.cmp(other);
        Ok(match name {
            "Compare" => Value::Int(ord as i64),
            "LessThan" => Value::Bool(ord == Ordering::Less),
            "GreaterThan" => Value::Bool(ord == Ordering::Greater),
            _ => Value::Bool(ord == Ordering::Equal),
        })
    }

    fn display(&self) -> String {
        self.canonical()
    }

    fn to_data(&self) -> Value {
        Value::str(self.canonical())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
