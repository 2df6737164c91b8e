//! Go's error values as templates produce them: a message and the error it wraps (`%w`), so
//! that Helm's rewriting of execution errors (`reformatExecErrorMsg`), which walks the
//! `errors.Unwrap` chain, can be reproduced exactly.

/// A Go `error`: its full `Error()` text and the error it wraps, if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct GoError {
    pub msg: String,
    pub cause: Option<Box<GoError>>,
    /// A `template.ExecError` (Helm only reformats those).
    pub exec: bool,
    /// Set when the failure is this engine's gap, not the template's: the named function (or
    /// feature) is one Helm supports and this engine does not.
    pub unsupported: Option<String>,
}

impl GoError {
    /// `errors.New(msg)`.
    pub fn new(msg: impl Into<String>) -> GoError {
        GoError {
            msg: msg.into(),
            cause: None,
            exec: false,
            unsupported: None,
        }
    }

    /// `fmt.Errorf(prefix + "%w", cause)`.
    pub fn wrap(prefix: impl Into<String>, cause: GoError) -> GoError {
        let unsupported = cause.unsupported.clone();
        GoError {
            msg: prefix.into() + &cause.msg,
            cause: Some(Box::new(cause)),
            exec: false,
            unsupported,
        }
    }

    /// An error for a feature this engine lacks (the caller falls back to real Helm).
    pub fn unsupported(what: impl Into<String>) -> GoError {
        let what = what.into();
        GoError {
            msg: format!("not supported by the native renderer: {what}"),
            unsupported: Some(what),
            ..GoError::new("")
        }
    }

    /// The texts of this error and of every error it wraps, outermost first.
    pub fn chain(&self) -> Vec<&str> {
        let mut out = vec![self.msg.as_str()];
        let mut cur = self.cause.as_deref();
        while let Some(e) = cur {
            out.push(e.msg.as_str());
            cur = e.cause.as_deref();
        }
        out
    }
}

impl From<String> for GoError {
    fn from(msg: String) -> Self {
        GoError::new(msg)
    }
}

impl From<&str> for GoError {
    fn from(msg: &str) -> Self {
        GoError::new(msg)
    }
}
