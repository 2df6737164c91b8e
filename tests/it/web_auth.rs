//! `[server.auth]` with the real daemon: the report and the APIs need the credential, the
//! Prometheus scrape and the kubelet probes stay open unless protected, a reload switches the
//! credential, and neither secret reaches the log.

use std::path::Path;

use reqwest::blocking::{Client, RequestBuilder};
use support::config::{ConfigBuilder, ServerAuth};
use support::daemon::Daemon;
use support::fixtures::one_drift;
use support::net::wait_until;

use crate::NEVER;

const TOKEN: &str = "ui-t0ken-5ecret-abc";
const PASSWORD: &str = "ui-pa55word-xyz";

fn config(dir: &Path, auth: impl FnOnce(ServerAuth) -> ServerAuth) -> ConfigBuilder {
    one_drift(dir);
    ConfigBuilder::new(dir)
        .schedule(|s| s.run_on_start(true).cron(NEVER))
        .gitops(|g| g.path("gitops"))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod")
                .snapshot("cluster.json")
        })
        .server_auth(auth)
}

/// Status, `WWW-Authenticate` and body of `request`.
fn send(request: RequestBuilder) -> (u16, String, String) {
    let response = request.send().expect("the daemon answers");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), challenge, response.text().unwrap())
}

#[test]
fn a_bearer_token_then_basic_auth_after_a_reload_guard_everything_but_probes_and_scrapes() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("DRIFTWATCH_UI_TOKEN", TOKEN), ("DRIFTWATCH_UI_PASSWORD", PASSWORD)];
    let bearer = config(dir.path(), |a| a.bearer_token_env("DRIFTWATCH_UI_TOKEN"));
    let d = Daemon::start(dir.path(), &bearer, &env);
    let client = Client::new();
    let url = |path: &str| format!("http://{}{path}", d.addr);
    let get = |path: &str| client.get(url(path));

    // Polled with the token: the report of the audit at start.
    let report = wait_until(10, "the report", || {
        let (code, _, body) = send(get("/report").bearer_auth(TOKEN));
        (code == 200).then_some(body)
    });
    assert!(report.contains("digest-drift"), "{report}");

    let (code, challenge, body) = send(get("/report"));
    assert_eq!(
        (code, challenge.as_str()),
        (401, "Bearer realm=\"driftwatch\""),
        "no header"
    );
    assert!(!body.contains(TOKEN));
    assert_eq!(
        send(get("/report").bearer_auth("ui-t0ken-5ecret-abd")).0,
        401,
        "wrong token"
    );
    assert_eq!(send(get("/api/dora")).0, 401, "the DORA API needs the token");
    assert_ne!(send(get("/api/dora").bearer_auth(TOKEN)).0, 401, "and takes it");
    assert_eq!(send(client.post(url("/-/reload"))).0, 401, "a reload needs the token");
    assert_eq!(
        send(get("/no-such-page")).0,
        401,
        "an unknown path says nothing without it"
    );

    // Scrapes and probes stay open by default.
    let (code, _, metrics) = send(get("/metrics"));
    assert_eq!(code, 200, "/metrics is open by default");
    assert!(
        metrics.contains("driftwatch_http_unauthorized_requests_total{reason=\"missing\"}"),
        "refusals are counted:\n{metrics}"
    );
    assert_eq!(send(get("/healthz")).0, 200);
    assert_eq!(send(get("/readyz")).0, 200);
    assert_eq!(
        send(client.post(url("/hooks/git"))).0,
        404,
        "/hooks/git keeps its own check"
    );

    // A reload to Basic auth with /metrics protected takes effect at once.
    let basic = config(dir.path(), |a| {
        a.username("sre")
            .password_env("DRIFTWATCH_UI_PASSWORD")
            .protect_metrics(true)
    });
    d.rewrite_config(&basic);
    let (code, _, body) = send(client.post(url("/-/reload")).bearer_auth(TOKEN));
    assert_eq!(code, 200, "{body}");
    let (code, challenge, _) = send(get("/metrics"));
    assert_eq!(code, 401, "/metrics protected after the reload");
    assert!(challenge.starts_with("Basic realm=\"driftwatch\""), "{challenge}");
    assert_eq!(
        send(get("/report").bearer_auth(TOKEN)).0,
        401,
        "the old token no longer works"
    );
    assert_eq!(send(get("/report").basic_auth("sre", Some("wrong"))).0, 401);
    assert_eq!(send(get("/report").basic_auth("sre", Some(PASSWORD))).0, 200);
    assert_eq!(send(get("/metrics").basic_auth("sre", Some(PASSWORD))).0, 200);
    assert_eq!(send(get("/healthz")).0, 200, "probes still open");

    let logs = d.logs();
    assert!(logs.contains("HTTP request refused"), "refusals are logged:\n{logs}");
    for secret in [TOKEN, PASSWORD, "ui-t0ken-5ecret-abd"] {
        assert!(!logs.contains(secret), "{secret} in the log:\n{logs}");
    }
}
