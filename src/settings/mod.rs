//! The building blocks every config section uses: [`ConfigError`] (errors naming the file and
//! the key), the `Validator`, [`Secret`] values read from `*_env`/`*_file`, and the
//! [`DeliveryConfig`] retry settings. Kept apart from [`crate::config`], which assembles the
//! sections, so that sections owned by other modules (each alert channel's) use these without
//! depending on `config`: config → channels → settings, no circle.

mod secret;
mod validator;

use std::time::Duration;

pub use secret::{Secret, redact_url};
pub(crate) use validator::Validator;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: {reason}")]
    Load { origin: String, reason: String },
    #[error("{origin}: {key}: {reason}")]
    Invalid {
        origin: String,
        key: String,
        reason: String,
    },
    /// Every problem one load found, each a line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// The single problems, for printing one per line.
    pub fn problems(&self) -> Vec<&ConfigError> {
        match self {
            Self::Several(all) => all.iter().flat_map(ConfigError::problems).collect(),
            one => vec![one],
        }
    }
}

/// Timeouts and retries of an outgoing service: every alert channel's (`[alerts.delivery]`)
/// and each registry's (`[[registries]] retry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts per message within one run (the next run tries again).
    pub max_attempts: u32,
    /// First backoff after a 5xx or connection error; doubles per attempt up to `backoff_max`.
    pub backoff: Duration,
    pub backoff_max: Duration,
}
