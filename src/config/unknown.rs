//! Unknown keys beside every other problem: serde stops at the first unknown key
//! (`deny_unknown_fields`), which would hide every wrong value behind a typo. Each unknown key
//! is reported, taken out of the merged file and variables, and the rest is read again, so
//! that one run (`check-config`, the daemon's start) names them all.

use std::collections::HashMap;

use config::{Source, Value, ValueKind};
use serde::Deserialize;

use super::ConfigError;
use super::raw::RawConfig;

/// Where config's `Environment` source says a value came from.
const FROM_THE_ENVIRONMENT: &str = "the environment";

/// The raw config without its unknown keys, or the first error that is not an unknown key (a
/// wrong type, a missing required key); and the unknown keys found, in the order serde met them.
pub(super) struct Lenient {
    pub(super) raw: Result<RawConfig, config::ConfigError>,
    pub(super) unknown: Vec<Unknown>,
}

/// One unknown key, with serde's message (which lists the keys expected there).
pub(super) struct Unknown {
    /// The whole key, lowercase as config reads it: `audit.fial_on`.
    key: String,
    /// The section as config's message writes it (`environments[0]cluster`, without the dot
    /// after an index) and as the config says it (`environments[0].cluster`).
    section: Option<(String, String)>,
    /// Set by a `DRIFTWATCH__…` variable rather than the file.
    from_env: bool,
    error: config::ConfigError,
}

impl Unknown {
    /// The problem, naming the variable that set the key (when one did) instead of the file.
    pub(super) fn problem(self, origin: &str, vars: &HashMap<String, String>) -> ConfigError {
        let var = self
            .from_env
            .then(|| vars.keys().find(|var| variable_key(var) == self.key))
            .flatten();
        let mut reason = super::serde_message(self.error);
        if let Some((written, section)) = &self.section {
            reason = reason.replace(&format!("for key `{written}`"), &format!("for key `{section}`"));
        }
        ConfigError::Load {
            origin: var.map_or(origin, String::as_str).to_string(),
            reason,
        }
    }
}

/// `DRIFTWATCH__AUDIT__FAIL_ONN` → `audit.fail_onn`.
fn variable_key(var: &str) -> String {
    let rest = var.strip_prefix("DRIFTWATCH__").unwrap_or(var);
    rest.split("__").collect::<Vec<_>>().join(".").to_lowercase()
}

/// Reads `merged` into [`RawConfig`], taking out each unknown key serde stops at.
pub(super) fn read(merged: &config::Config) -> Lenient {
    let mut value = match merged.collect() {
        Ok(table) => Value::new(None, ValueKind::Table(table)),
        Err(e) => {
            return Lenient {
                raw: Err(e),
                unknown: Vec::new(),
            };
        }
    };
    let mut unknown = Vec::new();
    let raw = loop {
        let error = match RawConfig::deserialize(value.clone()) {
            Ok(raw) => break Ok(raw),
            Err(e) => e,
        };
        let removed = unknown_field(&error).and_then(|(written, name)| {
            let section = written.map(dotted);
            let removed = remove(&mut value, section.as_deref(), name)?;
            let key = section
                .as_ref()
                .map_or_else(|| name.to_string(), |s| format!("{s}.{name}"));
            Some((key, written.map(str::to_string).zip(section), removed))
        });
        // Anything else (or a key that cannot be found again) ends the reading here.
        let Some((key, section, removed)) = removed else {
            break Err(error);
        };
        unknown.push(Unknown {
            key,
            section,
            from_env: removed.origin() == Some(FROM_THE_ENVIRONMENT),
            error,
        });
    };
    // Tables are read in no fixed order: the report should not change from run to run.
    unknown.sort_by(|a, b| a.key.cmp(&b.key));
    Lenient { raw, unknown }
}

/// `environments[0]cluster` (config's key after an index) as `environments[0].cluster`.
fn dotted(section: &str) -> String {
    let mut out = String::with_capacity(section.len() + 4);
    let mut after_index = false;
    for c in section.chars() {
        if after_index && c != '.' && c != '[' {
            out.push('.');
        }
        after_index = c == ']';
        out.push(c);
    }
    out
}

/// The section (`audit`, `environments[0].cluster`; `None` at the top) and the name of the
/// unknown key `e` is about, if it is about one.
fn unknown_field(e: &config::ConfigError) -> Option<(Option<&str>, &str)> {
    let (section, message) = match e {
        config::ConfigError::At { error, key, .. } => match error.as_ref() {
            config::ConfigError::Message(m) => (key.as_deref(), m),
            _ => return None,
        },
        config::ConfigError::Message(m) => (None, m),
        _ => return None,
    };
    let name = message.strip_prefix("unknown field `")?.split('`').next()?;
    Some((section, name))
}

/// Takes `name` out of the table at `section` (`environments[0].cluster`), returning its value.
fn remove(value: &mut Value, section: Option<&str>, name: &str) -> Option<Value> {
    let mut here = value;
    for segment in section.into_iter().flat_map(|s| s.split('.')) {
        let mut parts = segment.split('[');
        let key = parts.next()?;
        if !key.is_empty() {
            here = match &mut here.kind {
                ValueKind::Table(t) => t.get_mut(key)?,
                _ => return None,
            };
        }
        for index in parts {
            let index: usize = index.strip_suffix(']')?.parse().ok()?;
            here = match &mut here.kind {
                ValueKind::Array(a) => a.get_mut(index)?,
                _ => return None,
            };
        }
    }
    match &mut here.kind {
        ValueKind::Table(t) => t.remove(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_toml(text: &str) -> Lenient {
        let merged = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .unwrap();
        read(&merged)
    }

    #[test]
    fn every_unknown_key_is_found_and_the_rest_is_read() {
        let text = "typo = 1\n[gitops]\npath = \"g\"\nulr = \"x\"\n[audit]\nfial_on = \"info\"\n\
                    [[environments]]\nname = \"a\"\n[environments.cluster]\ncontxt = \"c\"\n\
                    [[environments]]\nname = \"b\"\nrenderer = \"helm\"\n";
        let lenient = read_toml(text);
        let keys: Vec<&str> = lenient.unknown.iter().map(|u| u.key.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            ["audit.fial_on", "environments[0].cluster.contxt", "gitops.ulr", "typo"]
        );
        let raw = lenient.raw.expect("read without the unknown keys");
        assert_eq!(
            raw.environments[1].renderer.as_deref(),
            Some("helm"),
            "kept for validation"
        );
        let cluster = lenient.unknown.into_iter().find(|u| u.key.ends_with("contxt")).unwrap();
        let line = cluster.problem("c.toml", &HashMap::new()).to_string();
        assert!(
            line.starts_with("c.toml: unknown key `contxt`") && line.ends_with("for key `environments[0].cluster`"),
            "{line}"
        );
    }

    #[test]
    fn a_key_after_an_index_gets_its_dot() {
        for (written, dotted_key) in [
            ("audit", "audit"),
            ("environments[0]cluster", "environments[0].cluster"),
            ("environments[0].cluster", "environments[0].cluster"),
            ("a[1][2]b", "a[1][2].b"),
        ] {
            assert_eq!(dotted(written), dotted_key, "{written}");
        }
    }

    #[test]
    fn a_wrong_type_still_ends_the_reading() {
        // Tables are read in no fixed order, so an unknown key beside it may or may not be
        // found before it: the wrong type alone.
        let lenient = read_toml("[gitops]\npath = \"g\"\n[audit]\npage_size = \"many\"\n");
        assert!(lenient.unknown.is_empty());
        let e = lenient.raw.expect_err("page_size is not a number").to_string();
        assert!(e.contains("page_size"), "{e}");
    }
}
