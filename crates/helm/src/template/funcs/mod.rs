//! The function table: Go's builtins, sprig's functions and Helm's, each with its Go signature
//! (parameter types are checked as Go's executor checks them) and its implementation.
//!
//! A function gets the evaluated arguments and the executing [`State`](crate::template::State) (so `include` and `tpl`
//! can run templates). Names Helm has and this engine lacks are listed in [`HELM_ONLY`]: a
//! template using one fails to parse with `Unsupported`, so the caller can hand the release to
//! real Helm.

mod builtins;
mod conv;
mod crypto;
mod dates;
mod dicts;
mod encoding;
pub(crate) mod helm;
mod lists;
mod math;
mod misc;
mod semver;
mod strings;
mod url;
pub mod yaml;

use super::error::GoError;
pub use super::exec::{FuncDef, FuncImpl, FuncResult as R, FuncTable, P};
use super::fmt::sprint_value;
use super::parse::FuncStatus;
use super::value::{ListType, Value};

/// The table Helm installs, and what a name in function position is. (The table's type and
/// its primitive methods are in `exec`, next to the [`State`](crate::template::State) its functions take.)
impl FuncTable {
    /// Go's builtins, sprig's functions and Helm's, as Helm v4 installs them.
    pub fn helm() -> FuncTable {
        let mut t = FuncTable::default();
        builtins::register(&mut t);
        strings::register(&mut t);
        conv::register(&mut t);
        math::register(&mut t);
        lists::register(&mut t);
        dicts::register(&mut t);
        encoding::register(&mut t);
        misc::register(&mut t);
        dates::register(&mut t);
        crypto::register(&mut t);
        url::register(&mut t);
        helm::register(&mut t);
        t
    }

    /// Lets templates that only mention an unimplemented Helm function parse: calling it still
    /// fails with [`GoError::unsupported`] (at execution instead of at parse time, so a chart
    /// whose `genCA` sits in a branch it does not take renders natively).
    pub fn with_lazy_unsupported(mut self) -> FuncTable {
        for name in HELM_ONLY {
            if self.get(name).is_none() {
                self.add_variadic(name, &[], P::Any, |_, _| Err(GoError::unsupported("")));
            }
        }
        self
    }

    /// Whether a name in function position parses.
    pub fn status(&self, name: &str) -> FuncStatus {
        if self.get(name).is_some() {
            FuncStatus::Known
        } else if HELM_ONLY.contains(&name) {
            FuncStatus::Unsupported
        } else {
            FuncStatus::Unknown
        }
    }
}

/// Functions Helm v4 (with sprig v3) has that this engine does not implement.
pub const HELM_ONLY: &[&str] = &[
    "derivePassword",
    "genCAWithKey",
    "genSelfSignedCertWithKey",
    "genSignedCertWithKey",
    "encryptAES",
    "decryptAES",
    "toToml",
    "mustToToml",
    "fromToml",
    "call",
    "date_modify",
    "dateModify",
    "must_date_modify",
    "mustDateModify",
    "durationRound",
    "ago",
    "duration",
    "mustToDuration",
    "durationSeconds",
    "durationMilliseconds",
    "durationMicroseconds",
    "durationNanoseconds",
    "durationMinutes",
    "durationHours",
    "durationDays",
    "durationWeeks",
    "durationRoundTo",
    "durationTruncateTo",
    "toYamlPretty",
    "toDate",
    "mustToDate",
    "snakecase",
    "camelcase",
    "kebabcase",
    "wrap",
    "wrapWith",
    "abbrevboth",
    "randBytes",
    "hello",
];

/// sprig's `strval`: strings as they are, `[]byte` as text, anything else as `%v`.
pub fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::List(l) if l.ty == ListType::Bytes => String::from_utf8_lossy(&bytes_of(&l.items)).into_owned(),
        other => sprint_value(other),
    }
}

/// The bytes of a `[]uint8` list.
pub fn bytes_of(items: &[Value]) -> Vec<u8> {
    items
        .iter()
        .map(|b| if let Value::Int(i) = b { *i as u8 } else { 0 })
        .collect()
}

/// The string argument `i` (the executor has checked its type).
pub fn arg_str(args: &[Value], i: usize) -> &str {
    args.get(i).and_then(Value::as_str).unwrap_or("")
}

/// The `int`/`int64` argument `i` (the executor has checked its type).
pub fn arg_int(args: &[Value], i: usize) -> i64 {
    match args.get(i) {
        Some(Value::Int(n) | Value::Int64(n)) => *n,
        _ => 0,
    }
}

/// sprig's `empty` (reflect-based emptiness: a struct is never empty).
pub fn empty(v: &Value) -> bool {
    match v {
        Value::Object(o) => !o.truth(),
        other => !other.truth(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function Helm v4 installs (Go's builtins, sprig v3 without `env`/`expandenv`,
    /// Helm's own), listed from their sources.
    const ALL_HELM: &str = include_str!("helm-function-names.txt");

    #[test]
    fn every_helm_function_is_implemented_or_unsupported() {
        let t = FuncTable::helm();
        let missing: Vec<&str> = ALL_HELM
            .lines()
            .filter(|n| !n.is_empty() && t.get(n).is_none() && !HELM_ONLY.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "neither implemented nor listed as unsupported: {missing:?}"
        );
        let extra: Vec<&&str> = HELM_ONLY
            .iter()
            .filter(|n| !ALL_HELM.lines().any(|l| l == **n))
            .collect();
        assert!(
            extra.is_empty(),
            "listed as unsupported but not Helm functions: {extra:?}"
        );
        let not_helm: Vec<&str> = t
            .names()
            .into_iter()
            .filter(|n| !ALL_HELM.lines().any(|l| l == *n))
            .collect();
        assert!(not_helm.is_empty(), "implemented but not Helm functions: {not_helm:?}");
    }
}
