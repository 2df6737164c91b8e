//! The daemon's HTTP endpoint: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (config
//! loaded and an audit done or under way, none stuck), `/report` (the latest JSON report), and
//! `POST /-/reload` (reload the config file).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::status::Status;

pub fn router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/report", get(report))
        .route("/-/reload", post(reload))
        .with_state(status)
}

async fn metrics(State(status): State<Arc<Status>>) -> Response {
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

async fn readyz(State(status): State<Arc<Status>>) -> Response {
    match status.readiness() {
        Ok(why) => (StatusCode::OK, format!("ready: {why}\n")).into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

async fn report(State(status): State<Arc<Status>>) -> Response {
    match status.latest_report() {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response(),
        None => (StatusCode::NOT_FOUND, "no audit has completed yet\n").into_response(),
    }
}

async fn reload(State(status): State<Arc<Status>>) -> Response {
    match status.reload().await {
        Ok(()) => (StatusCode::OK, "config reloaded\n").into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("config not reloaded, the running one is kept: {e}\n"),
        )
            .into_response(),
    }
}
