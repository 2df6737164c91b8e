//! `[server.auth]` on the HTTP endpoint: which paths need a credential, and whether a request's
//! `Authorization` header carries it ([`check`], pure), with the axum middleware around it
//! ([`protect`]) that answers 401 with a `WWW-Authenticate` challenge.
//!
//! Credentials are compared as SHA-256 digests in constant time, so neither the content nor the
//! length of the expected secret shows in response times. Neither the presented nor the
//! expected secret is ever logged or echoed.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use tracing::info;

use crate::app::status::ServiceState;
use crate::config::{ServerAuth, ServerCredential};

/// The realm browsers show in their Basic-auth prompt.
const REALM: &str = "driftwatch";

/// Why a request was refused; the reason is logged and counted, never the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header, or one with another scheme.
    Missing,
    /// The header does not parse (bad base64, no colon, not UTF-8).
    Malformed,
    /// A credential of the right kind, but not the configured one.
    Wrong,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::Wrong => "wrong",
        }
    }
}

/// Whether `path` needs the credential. Every path does unless exempt: `/hooks/git` (checked
/// by its own HMAC signature: git hosts cannot send a bearer token), `/metrics` unless
/// `protect_metrics`, `/healthz` and `/readyz` unless `protect_healthz`. Exemptions are exact
/// paths, so a route added later is protected without anyone remembering to.
pub fn is_protected(auth: &ServerAuth, path: &str) -> bool {
    match path {
        "/hooks/git" => false,
        "/metrics" => auth.protect_metrics,
        "/healthz" | "/readyz" => auth.protect_healthz,
        _ => true,
    }
}

/// Whether a request for `path` with this `Authorization` header may pass.
pub fn check(auth: Option<&ServerAuth>, path: &str, authorization: Option<&[u8]>) -> Result<(), Refusal> {
    let Some(auth) = auth else { return Ok(()) };
    if !is_protected(auth, path) {
        return Ok(());
    }
    let header = authorization.ok_or(Refusal::Missing)?;
    let header = std::str::from_utf8(header).map_err(|_| Refusal::Malformed)?;
    // RFC 7235: the scheme is case-insensitive, separated from its value by spaces.
    let (scheme, value) = header.trim().split_once(' ').ok_or(Refusal::Missing)?;
    let value = value.trim_start();
    match &auth.credential {
        ServerCredential::Bearer(token) => {
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(Refusal::Missing);
            }
            if value.is_empty() {
                return Err(Refusal::Malformed);
            }
            same(value, token.expose()).then_some(()).ok_or(Refusal::Wrong)
        }
        ServerCredential::Basic { username, password } => {
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(Refusal::Missing);
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| Refusal::Malformed)?;
            let decoded = String::from_utf8(decoded).map_err(|_| Refusal::Malformed)?;
            let (user, pass) = decoded.split_once(':').ok_or(Refusal::Malformed)?;
            // Both compared, always, so a right username takes as long as a wrong one.
            let user_ok = same(user, username);
            let pass_ok = same(pass, password.expose());
            (user_ok & pass_ok).then_some(()).ok_or(Refusal::Wrong)
        }
    }
}

/// Constant-time equality of two strings of any lengths: their digests are compared.
fn same(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    bool::from(a.ct_eq(&b))
}

/// The challenge a refused request gets, naming the scheme the client should use.
pub fn challenge(auth: &ServerAuth) -> String {
    match auth.credential {
        ServerCredential::Bearer(_) => format!("Bearer realm=\"{REALM}\""),
        ServerCredential::Basic { .. } => format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
    }
}

/// Puts every route of `router` behind [`check`], with the settings the daemon last loaded
/// (a reload takes effect on the next request). Applied to the whole router, after every
/// route, so the 404 of an unknown path is protected alike and tells a stranger nothing.
pub fn protect(router: Router, status: Arc<ServiceState>) -> Router {
    router.layer(middleware::from_fn_with_state(status, authorize))
}

async fn authorize(State(status): State<Arc<ServiceState>>, request: Request, next: Next) -> Response {
    let auth = status.running().auth.clone();
    let verdict = check(
        auth.as_deref(),
        request.uri().path(),
        request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes),
    );
    match (verdict, auth) {
        (Ok(()), _) | (Err(_), None) => next.run(request).await,
        (Err(why), Some(auth)) => {
            status.metrics.http_unauthorized(why.as_str());
            info!(
                path = request.uri().path(),
                reason = why.as_str(),
                "HTTP request refused: no valid credential"
            );
            let mut response = (StatusCode::UNAUTHORIZED, "a credential is needed ([server.auth])\n").into_response();
            if let Ok(value) = HeaderValue::from_str(&challenge(&auth)) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn bearer(token: &str, protect_metrics: bool, protect_healthz: bool) -> ServerAuth {
        ServerAuth {
            credential: ServerCredential::Bearer(Secret::new(token)),
            protect_metrics,
            protect_healthz,
        }
    }

    fn basic(user: &str, password: &str) -> ServerAuth {
        ServerAuth {
            credential: ServerCredential::Basic {
                username: user.into(),
                password: Secret::new(password),
            },
            protect_metrics: false,
            protect_healthz: false,
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "a flat table of cases: credential, path, header, verdict"
    )]
    fn requests_pass_only_with_the_configured_credential() {
        let token = bearer("t0ken-xyz", false, false);
        let sre = basic("sre", "pa:ss");
        let basic_right = format!("Basic {}", b64("sre:pa:ss"));
        let basic_wrong_pass = format!("Basic {}", b64("sre:nope"));
        let basic_wrong_user = format!("Basic {}", b64("ops:pa:ss"));
        let basic_no_colon = format!("Basic {}", b64("srepass"));
        // (case, auth, path, Authorization header, verdict)
        type Case<'a> = (
            &'a str,
            Option<&'a ServerAuth>,
            &'a str,
            Option<&'a str>,
            Result<(), Refusal>,
        );
        let cases: &[Case] = &[
            ("auth off: anything passes", None, "/report", None, Ok(())),
            ("no header", Some(&token), "/report", None, Err(Refusal::Missing)),
            (
                "wrong token",
                Some(&token),
                "/report",
                Some("Bearer t0ken-xy"),
                Err(Refusal::Wrong),
            ),
            (
                "longer token",
                Some(&token),
                "/report",
                Some("Bearer t0ken-xyzz"),
                Err(Refusal::Wrong),
            ),
            ("right token", Some(&token), "/report", Some("Bearer t0ken-xyz"), Ok(())),
            (
                "scheme any case",
                Some(&token),
                "/api/dora",
                Some("bearer  t0ken-xyz"),
                Ok(()),
            ),
            (
                "empty token",
                Some(&token),
                "/report",
                Some("Bearer "),
                Err(Refusal::Missing),
            ),
            (
                "basic sent to bearer",
                Some(&token),
                "/report",
                Some(&basic_right),
                Err(Refusal::Missing),
            ),
            (
                "token without scheme",
                Some(&token),
                "/report",
                Some("t0ken-xyz"),
                Err(Refusal::Missing),
            ),
            (
                "basic right, colon in password",
                Some(&sre),
                "/",
                Some(&basic_right),
                Ok(()),
            ),
            (
                "basic wrong password",
                Some(&sre),
                "/",
                Some(&basic_wrong_pass),
                Err(Refusal::Wrong),
            ),
            (
                "basic wrong user",
                Some(&sre),
                "/",
                Some(&basic_wrong_user),
                Err(Refusal::Wrong),
            ),
            (
                "basic malformed base64",
                Some(&sre),
                "/",
                Some("Basic %%%not-base64"),
                Err(Refusal::Malformed),
            ),
            (
                "basic without colon",
                Some(&sre),
                "/",
                Some(&basic_no_colon),
                Err(Refusal::Malformed),
            ),
            (
                "bearer sent to basic",
                Some(&sre),
                "/",
                Some("Bearer pa:ss"),
                Err(Refusal::Missing),
            ),
            (
                "unknown path is protected",
                Some(&token),
                "/nope",
                None,
                Err(Refusal::Missing),
            ),
        ];
        for (name, auth, path, header, expected) in cases {
            assert_eq!(check(*auth, path, header.map(str::as_bytes)), *expected, "{name}");
        }
    }

    #[test]
    fn probes_scrapes_and_git_hooks_are_exempt_unless_protected() {
        let open = bearer("t", false, false);
        let closed = bearer("t", true, true);
        let cases = [
            ("/metrics", &open, Ok(())),
            ("/metrics", &closed, Err(Refusal::Missing)),
            ("/healthz", &open, Ok(())),
            ("/readyz", &open, Ok(())),
            ("/healthz", &closed, Err(Refusal::Missing)),
            ("/readyz", &closed, Err(Refusal::Missing)),
            ("/hooks/git", &closed, Ok(())),
            ("/report", &open, Err(Refusal::Missing)),
            ("/metrics/", &open, Err(Refusal::Missing)),
            ("/-/reload", &open, Err(Refusal::Missing)),
        ];
        for (path, auth, expected) in cases {
            assert_eq!(
                check(Some(auth), path, None),
                expected,
                "{path} (protect {})",
                auth.protect_metrics
            );
        }
    }

    #[test]
    fn the_challenge_names_the_scheme_to_use_and_never_the_secret() {
        assert_eq!(challenge(&bearer("t0ken", false, false)), "Bearer realm=\"driftwatch\"");
        let basic = challenge(&basic("sre", "pw"));
        assert!(basic.starts_with("Basic realm=\"driftwatch\""), "{basic}");
        assert!(!basic.contains("pw"));
    }
}
