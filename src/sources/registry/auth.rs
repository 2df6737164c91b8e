//! Registry authentication after a 401: the `WWW-Authenticate: Bearer` token flow (`realm`,
//! `service`, `scope`) or Basic, with credentials from config or a Docker `config.json`. Tokens
//! are kept per (host, scope) for one audit.

use std::collections::HashMap;
use std::sync::Mutex;

use super::RegistryError;
use super::memo::{Flight, Key};
use crate::config::RegistryConfig;
use crate::error_chain;

/// The `Authorization` values of one audit by (host, scope).
#[derive(Default)]
pub struct Tokens {
    tokens: Mutex<HashMap<Key, String>>,
    flights: Mutex<HashMap<Key, Flight>>,
}

impl Tokens {
    /// The value cached for (host, scope), if any.
    pub fn get(&self, host: &str, scope: &str) -> Option<String> {
        self.tokens
            .lock()
            .expect("token lock")
            .get(&(host.to_string(), scope.to_string()))
            .cloned()
    }

    /// The `Authorization` value for (host, scope) after a 401. Concurrent lookups of one
    /// repository wait for one token request instead of each making their own.
    pub async fn token_for(
        &self,
        http: &reqwest::Client,
        resp: &reqwest::Response,
        cfg: &RegistryConfig,
        host: &str,
        scope: &str,
        rejected: Option<&str>,
    ) -> Result<String, RegistryError> {
        let key = (host.to_string(), scope.to_string());
        let lock = self
            .flights
            .lock()
            .expect("token lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let _one_at_a_time = lock.lock().await;
        let cached = self.tokens.lock().expect("token lock").get(&key).cloned();
        if let Some(token) = cached.filter(|t| Some(t.as_str()) != rejected) {
            return Ok(token);
        }
        let token = authorize(http, resp, cfg, scope).await?;
        self.tokens.lock().expect("token lock").insert(key, token.clone());
        Ok(token)
    }
}

/// Answers a 401 with the `Authorization` value to retry with (cached per host and scope):
/// the Bearer token flow (`realm`, `service`, `scope`), or Basic.
async fn authorize(
    http: &reqwest::Client,
    resp: &reqwest::Response,
    cfg: &RegistryConfig,
    scope: &str,
) -> Result<String, RegistryError> {
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge.as_str(), ""));
    let params = parse_challenge(params);
    if scheme.eq_ignore_ascii_case("basic") {
        let Some((user, pass)) = &cfg.credentials else {
            return Err(RegistryError::CredentialsMissing);
        };
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.expose(), pass.expose()));
        return Ok(format!("Basic {encoded}"));
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(RegistryError::UnsupportedScheme(scheme.to_string()));
    }
    let realm = params.get("realm").ok_or(RegistryError::NoRealm)?;
    let mut req = http
        .get(realm)
        .query(&[("scope", params.get("scope").map_or(scope, String::as_str))]);
    if let Some(service) = params.get("service") {
        req = req.query(&[("service", service)]);
    }
    if let Some((user, pass)) = &cfg.credentials {
        req = req.basic_auth(user.expose(), Some(pass.expose()));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| RegistryError::TokenEndpoint(error_chain(&e.without_url())))?;
    if !resp.status().is_success() {
        return Err(RegistryError::TokenRefused(resp.status()));
    }
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| RegistryError::TokenEndpoint(e.to_string()))?;
    let token = body["token"]
        .as_str()
        .or(body["access_token"].as_str())
        .ok_or(RegistryError::NoToken)?;
    Ok(format!("Bearer {token}"))
}

/// `realm="…",service="…",scope="…"` → map.
fn parse_challenge(params: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, n)) => (v.to_string(), n),
                None => (quoted.to_string(), ""),
            },
            None => match after.split_once(',') {
                Some((v, n)) => (v.trim().to_string(), n),
                None => (after.trim().to_string(), ""),
            },
        };
        out.insert(key, value);
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges() {
        let p = parse_challenge(
            r#"realm="https://auth.example.com/token",service="registry.example.com",scope="repository:shop/api:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.example.com/token");
        assert_eq!(p["service"], "registry.example.com");
        assert_eq!(p["scope"], "repository:shop/api:pull");
        let p = parse_challenge(r#"realm="https://auth.docker.io/token", service="registry.docker.io""#);
        assert_eq!(p["service"], "registry.docker.io");
    }
}
