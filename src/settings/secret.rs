//! Secrets: [`Secret`], a value that never prints, read from the environment variable named
//! in a `<key>_env` key or the file named in `<key>_file`; and [`redact_url`] for passwords
//! written into URLs.

use std::fmt;
use std::path::PathBuf;

use super::ConfigError;
use super::Validator;

/// A secret value. `Debug` and `Display` print `***`, so it cannot leak through logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Validator<'_> {
    /// A secret from `<key>_env` (name of an environment variable) or `<key>_file`. One that
    /// is not set or cannot be read is recorded and an empty stand-in returned, so that one
    /// run names every missing secret.
    pub(crate) fn secret(
        &self,
        key: &str,
        env: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (env, file) {
            (Some(_), Some(_)) => Err(self.invalid(format!("{key}_env, {key}_file"), "give one of the two, not both")),
            (Some(var), None) => match self.env.get(&var) {
                Some(v) if !v.is_empty() => Ok(Some(Secret(v.clone()))),
                _ => {
                    self.record(self.invalid(format!("{key}_env"), format!("environment variable {var} is not set")));
                    Ok(Some(Secret(String::new())))
                }
            },
            (None, Some(path)) => {
                let path = self.path(path);
                match std::fs::read_to_string(&path) {
                    Ok(v) => Ok(Some(Secret(v.trim_end_matches(['\r', '\n']).to_string()))),
                    Err(e) => {
                        self.record(
                            self.invalid(format!("{key}_file"), format!("cannot read {}: {e}", path.display())),
                        );
                        Ok(Some(Secret(String::new())))
                    }
                }
            }
            (None, None) => Ok(None),
        }
    }
}

/// Replaces a password in a URL (`https://user:token@host/…`) with `***`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(
            redact_url("https://bot:tok3n@git.example.com/x.git"),
            "https://bot:***@git.example.com/x.git"
        );
        assert_eq!(redact_url("git@github.com:org/x.git"), "git@github.com:org/x.git");
    }
}
