//! Push webhooks from git hosts (`POST /hooks/git`): whether a request carries the shared
//! secret (GitHub's and Gitea/Forgejo's HMAC-SHA256 of the body, GitLab's token) and what it
//! asks for (a fetch, a ping's answer, nothing). Pure: the HTTP side hands in a header lookup
//! and the body, and does what [`action`] says.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The largest body read. Push payloads list commits, so a big push is some hundred KiB;
/// anything larger is refused before its signature is computed.
pub const MAX_BODY: usize = 1 << 20;

/// Which git host sent a request, told by the header that carries its secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Gitea,
    Forgejo,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::Gitea => "gitea",
            Self::Forgejo => "forgejo",
        }
    }

    /// The header naming the event (`push`, `ping`, `Push Hook`).
    fn event_header(self) -> &'static str {
        match self {
            Self::GitHub => "x-github-event",
            Self::GitLab => "x-gitlab-event",
            Self::Gitea => "x-gitea-event",
            Self::Forgejo => "x-forgejo-event",
        }
    }
}

/// Why a request was refused (401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no X-Hub-Signature-256, X-Gitlab-Token, X-Gitea-Signature or X-Forgejo-Signature header")]
    Unsigned,
    #[error("the {} signature does not match the configured secret", .0.as_str())]
    Mismatch(Provider),
}

/// Checks that the request carries `secret`; who sent it. `header` looks a header up by its
/// lower-case name.
///
/// Gitea and Forgejo also send GitHub's `X-Hub-Signature-256` (and Forgejo Gitea's header), so
/// their own headers are looked at first: the first one present decides, and the provider it
/// names is what logs show. A request with a wrong signature is refused even if another header
/// would match: no sender puts a wrong one next to a right one.
pub fn verify<'a>(secret: &[u8], header: impl Fn(&str) -> Option<&'a str>, body: &[u8]) -> Result<Provider, Rejection> {
    let (provider, valid) = if let Some(sig) = header("x-forgejo-signature") {
        (Provider::Forgejo, hmac_matches(secret, body, sig))
    } else if let Some(sig) = header("x-gitea-signature") {
        (Provider::Gitea, hmac_matches(secret, body, sig))
    } else if let Some(token) = header("x-gitlab-token") {
        (Provider::GitLab, same_secret(secret, token.as_bytes()))
    } else if let Some(sig) = header("x-hub-signature-256") {
        let valid = sig
            .strip_prefix("sha256=")
            .is_some_and(|hex| hmac_matches(secret, body, hex));
        (Provider::GitHub, valid)
    } else {
        return Err(Rejection::Unsigned);
    };
    if valid {
        Ok(provider)
    } else {
        Err(Rejection::Mismatch(provider))
    }
}

/// Whether `hex` is the HMAC-SHA256 of `body` under `secret`. `verify_slice` compares in
/// constant time, so the time taken does not tell an attacker how many bytes were right.
fn hmac_matches(secret: &[u8], body: &[u8], hex: &str) -> bool {
    let Ok(given) = hex::decode(hex.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// GitLab sends the secret itself. Both sides are hashed first so that the comparison runs
/// over 32 bytes whatever the lengths, and every byte is compared: neither the length nor a
/// matching prefix shows in the time taken.
fn same_secret(secret: &[u8], given: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(secret), Sha256::digest(given));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a verified request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// GitHub's ping, sent when a hook is created: answered 200, nothing fetched.
    Ping,
    /// A push that may change what is audited: fetch now.
    Fetch,
    /// Valid, but nothing to fetch for (another branch, another event): why.
    Ignore(String),
}

/// What to do with a verified request from `provider`. With `branch` set, a push to another
/// ref (another branch, a tag) is ignored; without it (the remote's default branch, or a
/// `rev`, which a moved tag changes) every push fetches, as fetching costs little and a
/// re-audit only follows a new commit anyway. A payload whose `ref` cannot be read is fetched
/// for: better a needless fetch than a missed push.
pub fn action<'a>(
    provider: Provider,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    branch: Option<&str>,
) -> HookAction {
    match (provider, header(provider.event_header())) {
        (Provider::GitHub, Some("ping")) => return HookAction::Ping,
        // GitLab's push, tag push and system hooks; its test button sends a push.
        (Provider::GitLab, Some("Push Hook" | "Tag Push Hook" | "System Hook")) => {}
        (Provider::GitLab, Some(other)) => return HookAction::Ignore(format!("event {other:?} is not a push")),
        (_, Some("push")) => {}
        (_, Some(other)) => return HookAction::Ignore(format!("event {other:?} is not a push")),
        // A request from a script or a proxy that names no event: taken as a push.
        (_, None) => {}
    }
    let (Some(branch), Some(pushed)) = (branch, pushed_ref(body)) else {
        return HookAction::Fetch;
    };
    let wanted = format!("refs/heads/{branch}");
    if pushed == wanted {
        HookAction::Fetch
    } else {
        HookAction::Ignore(format!("push to {pushed}, not {wanted}"))
    }
}

/// The `ref` a push payload names: JSON, or GitHub's form encoding (`payload=<JSON>`).
fn pushed_ref(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Push {
        #[serde(rename = "ref")]
        pushed: Option<String>,
    }
    let from_json = |json: &[u8]| serde_json::from_slice::<Push>(json).ok().and_then(|p| p.pushed);
    if body.starts_with(b"payload=") {
        let payload = url::form_urlencoded::parse(body).find(|(k, _)| k == "payload")?.1;
        return from_json(payload.as_bytes());
    }
    from_json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known HMAC-SHA256 vectors, computed with
    //   printf '<body>' | openssl dgst -sha256 -hmac '<secret>'
    // and checked with Python's hmac.new(secret, body, hashlib.sha256).hexdigest().
    /// GitHub's own example ("Validating webhook deliveries").
    const DOCS_SECRET: &str = "It's a Secret to Everybody";
    const DOCS_BODY: &str = "Hello, World!";
    const DOCS_HMAC: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    const SECRET: &str = "s3cret-hook";
    const PUSH: &str = r#"{"ref":"refs/heads/main"}"#;
    const PUSH_HMAC: &str = "2772dec389b581a52f341875f7b4719f2114aecfcdf2cd6c28749272cda027eb";
    const EMPTY_HMAC: &str = "4e2b4c21c0e3d149379c7994c4724e22ab0c8f1f3ef3cd2639f22a4cd9939ea9";

    fn lookup<'a>(headers: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    /// (name, secret, body, headers, what `verify` says)
    type VerifyCase<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Result<Provider, Rejection>,
    );

    fn check_verify(cases: Vec<VerifyCase>) {
        for (name, secret, body, headers, expected) in cases {
            assert_eq!(
                verify(secret.as_bytes(), lookup(&headers), body.as_bytes()),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn github_signatures() {
        let github_docs = format!("sha256={DOCS_HMAC}");
        let github_push = format!("sha256={PUSH_HMAC}");
        let github_upper = format!("sha256={}", PUSH_HMAC.to_uppercase());
        let github_empty = format!("sha256={EMPTY_HMAC}");
        let github_cut = format!("sha256={}", &PUSH_HMAC[..62]);
        check_verify(vec![
            (
                "github docs example",
                DOCS_SECRET,
                DOCS_BODY,
                vec![("X-Hub-Signature-256", &github_docs)],
                Ok(Provider::GitHub),
            ),
            (
                "github push",
                SECRET,
                PUSH,
                vec![("X-Hub-Signature-256", &github_push)],
                Ok(Provider::GitHub),
            ),
            (
                "github upper-case hex",
                SECRET,
                PUSH,
                vec![("X-Hub-Signature-256", &github_upper)],
                Ok(Provider::GitHub),
            ),
            (
                "github empty body",
                SECRET,
                "",
                vec![("X-Hub-Signature-256", &github_empty)],
                Ok(Provider::GitHub),
            ),
            (
                "github signature of another body",
                SECRET,
                DOCS_BODY,
                vec![("X-Hub-Signature-256", &github_push)],
                Err(Rejection::Mismatch(Provider::GitHub)),
            ),
            (
                "github under another secret",
                "other-secret",
                PUSH,
                vec![("X-Hub-Signature-256", &github_push)],
                Err(Rejection::Mismatch(Provider::GitHub)),
            ),
            (
                "github without the sha256= prefix",
                SECRET,
                PUSH,
                vec![("X-Hub-Signature-256", PUSH_HMAC)],
                Err(Rejection::Mismatch(Provider::GitHub)),
            ),
            (
                "github cut short",
                SECRET,
                PUSH,
                vec![("X-Hub-Signature-256", &github_cut)],
                Err(Rejection::Mismatch(Provider::GitHub)),
            ),
            (
                "github not hex",
                SECRET,
                PUSH,
                vec![("X-Hub-Signature-256", "sha256=zz")],
                Err(Rejection::Mismatch(Provider::GitHub)),
            ),
        ]);
    }

    #[test]
    fn gitea_and_forgejo_signatures() {
        let github_push = format!("sha256={PUSH_HMAC}");
        check_verify(vec![
            (
                "gitea hex without prefix",
                SECRET,
                PUSH,
                vec![("X-Gitea-Signature", PUSH_HMAC)],
                Ok(Provider::Gitea),
            ),
            (
                "gitea also sends github's header: its own decides",
                SECRET,
                PUSH,
                vec![("X-Hub-Signature-256", &github_push), ("X-Gitea-Signature", PUSH_HMAC)],
                Ok(Provider::Gitea),
            ),
            (
                "gitea wrong",
                SECRET,
                DOCS_BODY,
                vec![("X-Gitea-Signature", PUSH_HMAC)],
                Err(Rejection::Mismatch(Provider::Gitea)),
            ),
            (
                "gitea with github's prefix",
                SECRET,
                PUSH,
                vec![("X-Gitea-Signature", &github_push)],
                Err(Rejection::Mismatch(Provider::Gitea)),
            ),
            (
                "forgejo sends both of gitea's",
                SECRET,
                PUSH,
                vec![("X-Gitea-Signature", PUSH_HMAC), ("X-Forgejo-Signature", PUSH_HMAC)],
                Ok(Provider::Forgejo),
            ),
        ]);
    }

    #[test]
    fn gitlab_tokens_and_unsigned_requests() {
        check_verify(vec![
            (
                "gitlab token",
                SECRET,
                PUSH,
                vec![("X-Gitlab-Token", SECRET)],
                Ok(Provider::GitLab),
            ),
            (
                "gitlab token of another length",
                SECRET,
                PUSH,
                vec![("X-Gitlab-Token", "s3cret")],
                Err(Rejection::Mismatch(Provider::GitLab)),
            ),
            (
                "gitlab token with a trailing byte",
                SECRET,
                PUSH,
                vec![("X-Gitlab-Token", "s3cret-hook ")],
                Err(Rejection::Mismatch(Provider::GitLab)),
            ),
            (
                "gitlab empty token",
                SECRET,
                PUSH,
                vec![("X-Gitlab-Token", "")],
                Err(Rejection::Mismatch(Provider::GitLab)),
            ),
            ("unsigned", SECRET, PUSH, vec![], Err(Rejection::Unsigned)),
            (
                "github's sha1 header alone is not accepted",
                SECRET,
                PUSH,
                vec![("X-Hub-Signature", "sha1=0000")],
                Err(Rejection::Unsigned),
            ),
        ]);
    }

    /// (name, provider, headers, body, configured branch, what `action` says)
    type ActionCase<'a> = (
        &'a str,
        Provider,
        Vec<(&'a str, &'a str)>,
        &'a str,
        Option<&'a str>,
        HookAction,
    );

    fn check_action(cases: Vec<ActionCase>) {
        for (name, provider, headers, body, branch, expected) in cases {
            assert_eq!(
                action(provider, lookup(&headers), body.as_bytes(), branch),
                expected,
                "{name}"
            );
        }
    }

    fn ignore(why: &str) -> HookAction {
        HookAction::Ignore(why.into())
    }

    #[test]
    fn what_a_github_request_asks_for() {
        let fetch = HookAction::Fetch;
        let tag = r#"{"ref":"refs/tags/v1"}"#;
        let other = r#"{"ref":"refs/heads/feature"}"#;
        // GitHub's application/x-www-form-urlencoded content type.
        let form = "payload=%7B%22ref%22%3A%22refs%2Fheads%2Ffeature%22%7D";
        check_action(vec![
            (
                "github ping",
                Provider::GitHub,
                vec![("X-GitHub-Event", "ping")],
                "{}",
                Some("main"),
                HookAction::Ping,
            ),
            (
                "github push to the branch",
                Provider::GitHub,
                vec![("X-GitHub-Event", "push")],
                PUSH,
                Some("main"),
                fetch.clone(),
            ),
            (
                "github push to another branch",
                Provider::GitHub,
                vec![("X-GitHub-Event", "push")],
                other,
                Some("main"),
                ignore("push to refs/heads/feature, not refs/heads/main"),
            ),
            (
                "github form-encoded push to another branch",
                Provider::GitHub,
                vec![("X-GitHub-Event", "push")],
                form,
                Some("main"),
                ignore("push to refs/heads/feature, not refs/heads/main"),
            ),
            (
                "a tag when a branch is audited",
                Provider::GitHub,
                vec![("X-GitHub-Event", "push")],
                tag,
                Some("main"),
                ignore("push to refs/tags/v1, not refs/heads/main"),
            ),
            (
                "no branch configured: every push",
                Provider::GitHub,
                vec![("X-GitHub-Event", "push")],
                other,
                None,
                fetch.clone(),
            ),
            (
                "github pull request",
                Provider::GitHub,
                vec![("X-GitHub-Event", "pull_request")],
                PUSH,
                Some("main"),
                ignore("event \"pull_request\" is not a push"),
            ),
        ]);
    }

    #[test]
    fn what_a_gitlab_gitea_or_forgejo_request_asks_for() {
        let fetch = HookAction::Fetch;
        let other = r#"{"ref":"refs/heads/feature"}"#;
        check_action(vec![
            (
                "gitlab push hook",
                Provider::GitLab,
                vec![("X-Gitlab-Event", "Push Hook")],
                PUSH,
                Some("main"),
                fetch.clone(),
            ),
            (
                "gitlab push to another branch",
                Provider::GitLab,
                vec![("X-Gitlab-Event", "Push Hook")],
                other,
                Some("main"),
                ignore("push to refs/heads/feature, not refs/heads/main"),
            ),
            (
                "gitlab merge request",
                Provider::GitLab,
                vec![("X-Gitlab-Event", "Merge Request Hook")],
                PUSH,
                Some("main"),
                ignore("event \"Merge Request Hook\" is not a push"),
            ),
            (
                "gitea push",
                Provider::Gitea,
                vec![("X-Gitea-Event", "push")],
                PUSH,
                Some("main"),
                fetch.clone(),
            ),
            (
                "forgejo push",
                Provider::Forgejo,
                vec![("X-Forgejo-Event", "push"), ("X-Gitea-Event", "push")],
                PUSH,
                Some("main"),
                fetch.clone(),
            ),
            (
                "gitea issue comment",
                Provider::Gitea,
                vec![("X-Gitea-Event", "issue_comment")],
                PUSH,
                Some("main"),
                ignore("event \"issue_comment\" is not a push"),
            ),
        ]);
    }

    #[test]
    fn a_request_without_event_or_readable_ref_fetches() {
        let fetch = HookAction::Fetch;
        check_action(vec![
            (
                "no event header, a push payload",
                Provider::GitHub,
                vec![],
                PUSH,
                Some("main"),
                fetch.clone(),
            ),
            (
                "an unreadable payload is fetched for",
                Provider::GitHub,
                vec![("X-GitHub-Event", "push")],
                "not json",
                Some("main"),
                fetch.clone(),
            ),
            (
                "a payload without ref is fetched for",
                Provider::Gitea,
                vec![("X-Gitea-Event", "push")],
                "{\"after\": \"abc\"}",
                Some("main"),
                fetch,
            ),
        ]);
    }
}
