//! The daemon's HTTP endpoint: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (config
//! loaded and an audit done or under way, none stuck), `/report` (the latest JSON report),
//! `POST /-/reload` (reload the config file), `POST /hooks/git` (push webhooks, checked by
//! [`crate::core::git_hooks`]) and `GET /api/dora` (DORA metrics from the store, the JSON of
//! `driftwatch dora --format json`), and the status pages of [`crate::app::web`] (`/`,
//! `/api/status`, `/workloads/…`, `/pipeline`). Every route is behind `[server.auth]` when it
//! is configured ([`crate::app::auth`]), but for the exemptions listed there.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::{info, warn};

use crate::app::auth;
use crate::app::status::ServiceState;
use crate::core::git_hooks::{self as hooks, HookAction};

pub fn router(status: Arc<ServiceState>) -> Router {
    auth::protect(routes(status.clone()), status)
}

/// Every route; [`router`] puts them all behind `[server.auth]`.
fn routes(status: Arc<ServiceState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/report", get(report))
        .route("/-/reload", post(reload))
        .route("/hooks/git", post(git_hook))
        .route("/api/dora", get(dora))
        .with_state(status.clone())
        .merge(probe_routes(status.clone()))
        .merge(crate::app::web::router(status))
}

/// `/healthz` and `/readyz`, behind `[server.auth]` as [`router`] puts them (open unless
/// `protect_healthz`): served on `server.listen` with everything else, and alone on
/// `server.probe_listen` ([`crate::app::probes`]).
pub fn probes_router(status: Arc<ServiceState>) -> Router {
    auth::protect(probe_routes(status.clone()), status)
}

fn probe_routes(status: Arc<ServiceState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(status)
}

async fn metrics(State(status): State<Arc<ServiceState>>) -> Response {
    let body = status.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn readyz(State(status): State<Arc<ServiceState>>) -> Response {
    match status.readiness() {
        Ok(why) => (StatusCode::OK, format!("ready: {why}\n")).into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

async fn report(State(status): State<Arc<ServiceState>>) -> Response {
    match status.latest() {
        Some(latest) => ([(header::CONTENT_TYPE, "application/json")], latest.json.to_string()).into_response(),
        None => (StatusCode::NOT_FOUND, "no audit has completed yet\n").into_response(),
    }
}

async fn reload(State(status): State<Arc<ServiceState>>) -> Response {
    match status.reload().await {
        Ok(()) => (StatusCode::OK, "config reloaded\n").into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("config not reloaded, the running one is kept: {e}\n"),
        )
            .into_response(),
    }
}

/// `GET /api/dora[?env=NAME…][&since=30d]`: DORA metrics over the store's history, as
/// `driftwatch dora --format json` prints them (schema `driftwatch.dora/v1`).
async fn dora(State(status): State<Arc<ServiceState>>, RawQuery(query): RawQuery) -> Response {
    let Some((cfg, store)) = status.running().dora.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the store is not configured yet\n").into_response();
    };
    let mut envs = Vec::new();
    let mut since = cfg.dora.window;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "env" => envs.push(value.into_owned()),
            "since" => match humantime::parse_duration(&value) {
                Ok(d) => since = d,
                Err(e) => return (StatusCode::BAD_REQUEST, format!("since={value}: {e}\n")).into_response(),
            },
            other => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {other:?} (env, since)\n"),
                )
                    .into_response();
            }
        }
    }
    if let Some(unknown) = envs.iter().find(|e| !cfg.environments.iter().any(|c| &c.name == *e)) {
        return (StatusCode::BAD_REQUEST, format!("unknown environment {unknown:?}\n")).into_response();
    }
    let store = match store.get().await {
        Ok((store, _)) => store,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    match crate::app::dora::from_store(&cfg, &store, &envs, since, chrono::Utc::now()).await {
        Ok(report) => (
            [(header::CONTENT_TYPE, "application/json")],
            crate::core::dora::render_json(&report),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// A push webhook. Off until a secret is configured: then it answers 404 as an unknown path
/// would, so a scanner cannot tell it exists. A request without the secret gets 401 and is
/// counted, for an alert on someone probing it.
async fn git_hook(State(status): State<Arc<ServiceState>>, request: Request) -> Response {
    let Some(settings) = status.running().git_hooks.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (parts, body) = request.into_parts();
    // Bounded before anything is computed over it.
    let Ok(body) = axum::body::to_bytes(body, hooks::MAX_BODY).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 1 MiB or could not be read\n",
        )
            .into_response();
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let provider = match hooks::verify(settings.secret.expose().as_bytes(), header, &body) {
        Ok(provider) => provider,
        Err(why) => {
            status.metrics.git_webhook("unauthorized");
            warn!(reason = %why, "git webhook refused");
            return (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
        }
    };
    let provider_name = provider.as_str();
    match hooks::action(provider, header, &body, settings.branch.as_deref()) {
        HookAction::Ping => {
            status.metrics.git_webhook("ignored");
            info!(provider = provider_name, "git webhook ping");
            (StatusCode::OK, "pong\n").into_response()
        }
        HookAction::Ignore(why) => {
            status.metrics.git_webhook("ignored");
            info!(provider = provider_name, reason = %why, "git webhook ignored");
            (StatusCode::ACCEPTED, format!("ignored: {why}\n")).into_response()
        }
        // A follower neither fetches nor audits; 503 makes the git host show the delivery as
        // failed (to redeliver) instead of the push silently waiting for the next poll.
        HookAction::Fetch if !status.is_leader() => {
            status.metrics.git_webhook("ignored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not the leader: the leader replica fetches\n",
            )
                .into_response()
        }
        HookAction::Fetch => {
            status.metrics.git_webhook("accepted");
            info!(provider = provider_name, "git push webhook: fetching");
            status.request_git_fetch();
            (StatusCode::ACCEPTED, "fetching\n").into_response()
        }
    }
}
