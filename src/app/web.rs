//! The status pages on the daemon's HTTP endpoint: `GET /` (environments, promotion matrix,
//! findings; `?page=N` pages the matrix, `?attention=true` keeps the rows needing attention),
//! `GET /api/status` (their `driftwatch.status/v1` JSON, serialised once per audit and
//! filtered or paged on request: [`crate::app::status_api`]), `GET /api/status/generation` (what the page polls to notice a newer audit),
//! `GET /workloads/{namespace}/{kind}/{name}` (a workload across environments, with its
//! deployments and drift episodes from the store), `GET /pipeline` (DORA per environment with
//! weekly charts) and `/assets/…` (the stylesheet and script built into the binary). Wiring:
//! the view model and the HTML are [`crate::core::report::status`] and
//! [`crate::core::report::html`]. Every HTML answer carries a strict CSP. The pages and the
//! filtered `/api/status` are bounded in how many run at once; beyond that they answer `503`
//! with `Retry-After`, so the probes and the shared `/api/status` keep answering.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{SubsecRound as _, Utc};

use crate::app::status::{Latest, ServiceState};
use crate::app::status_api::{self as api, Limiter, Published, Senders};
use crate::config::Config;
use crate::core::dora::Window;
use crate::core::report::html;
use crate::core::report::status::{StatusView, UnknownEnvironment, history_of, weekly};
use crate::store::StoreError;

/// Why a page shows no history; the page writes it with its sources.
#[derive(Debug, thiserror::Error)]
enum Unavailable {
    #[error("the store is not configured yet")]
    NoStore,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pages' state: the daemon's status, and the view of its latest report with its JSON,
/// built once per audit (a fleet's matrix takes tens of milliseconds to build and its JSON is
/// megabytes; a page of it, far less).
pub struct Web {
    status: Arc<ServiceState>,
    /// The latest generation's view; the lock is held while one is built, so that concurrent
    /// requests after an audit wait for that one build instead of each building its own.
    published: tokio::sync::Mutex<Option<Arc<Published>>>,
    /// Bounds the requests that cost work per request (pages, filtered `/api/status`).
    limiter: Limiter,
    /// Bounds how many large answers (the whole `/api/status`) are written at once.
    senders: Senders,
    /// This process's start, in the status JSON's entity tags.
    boot: String,
    /// For a follower, which shows the leader's pages (with `[ha]`, only the leader audits).
    client: reqwest::Client,
}

/// The status pages' routes, to merge into the daemon's router.
pub fn router(status: Arc<ServiceState>) -> Router {
    let web = Arc::new(Web {
        status,
        published: tokio::sync::Mutex::new(None),
        limiter: Limiter::from_env(),
        senders: Senders::per_core(),
        boot: format!("{:x}", Utc::now().timestamp_millis()),
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
    });
    Router::new()
        .route("/", get(index))
        .route("/api/status", get(api_status))
        .route("/api/status/generation", get(generation))
        .route("/workloads/{namespace}/{kind}/{name}", get(workload))
        .route("/pipeline", get(pipeline))
        .route("/assets/driftwatch.css", get(css))
        .route("/assets/driftwatch.js", get(js))
        .layer(axum::middleware::from_fn_with_state(web.clone(), from_leader))
        .with_state(web)
}

/// Marks a request one replica forwarded to another.
const FORWARDED: &str = "x-driftwatch-forwarded";

/// A follower answers with the leader's page: with `[ha]` only the leader audits, and a
/// Service in front of both replicas would otherwise show "no audit" half the time. The leader
/// says where it serves in its Lease (`[ha] advertise_address`, else the Pod IP and the listen
/// port); the request's credentials go along, the leader checks them too.
async fn from_leader(
    State(web): State<Arc<Web>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // One hop only: a request a replica already forwarded is answered where it lands, so two
    // replicas that both believe the other leads (for a renew interval) cannot loop.
    let forwarded = request.headers().contains_key(FORWARDED);
    let Some(leader) = web.status.leader_address().filter(|_| !forwarded) else {
        return next.run(request).await;
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut forward = web.client.get(format!("http://{leader}{path}")).header(FORWARDED, "1");
    if let Some(auth) = request.headers().get(header::AUTHORIZATION) {
        forward = forward.header(header::AUTHORIZATION, auth);
    }
    let answer = match forward.send().await {
        Ok(a) => a,
        Err(e) => {
            return page(
                StatusCode::BAD_GATEWAY,
                html::render_message(
                    "Leader unreachable",
                    &format!(
                        "This replica is a follower; the leader, at {leader}, did not answer: {}",
                        crate::error_chain(&e)
                    ),
                    0,
                ),
            );
        }
    };
    let code = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = axum::http::HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::WWW_AUTHENTICATE] {
        if let Some(v) = answer
            .headers()
            .get(name.as_str())
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            headers.insert(name, v);
        }
    }
    let body = answer.bytes().await.unwrap_or_default();
    secured((code, headers, body).into_response())
}

/// The headers every answer of these routes carries.
fn secured(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(html::CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn page(status: StatusCode, body: String) -> Response {
    secured((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

fn json(status: StatusCode, body: String) -> Response {
    secured((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

impl Web {
    /// The view of the latest report, built on first use after each audit.
    async fn view(&self) -> Option<Arc<StatusView>> {
        Some(self.published().await?.view.clone())
    }

    /// The latest report's view and its JSON, built on first use after each audit, once.
    async fn published(&self) -> Option<Arc<Published>> {
        let latest = self.status.latest()?;
        let mut cached = self.published.lock().await;
        if let Some(p) = cached.as_ref()
            && p.generation >= latest.generation
        {
            return Some(p.clone());
        }
        // When each finding was first seen is the alert state's, in the store; without it the
        // page shows the findings without their age.
        let first_seen = match self.status.running().dora.clone() {
            Some((_, store)) => match store.get().await {
                Ok((store, _)) => store.first_seen().await.unwrap_or_default(),
                Err(_) => Default::default(),
            },
            None => Default::default(),
        };
        let boot = self.boot.clone();
        let published = Arc::new(
            tokio::task::spawn_blocking(move || {
                let mut view = build(&latest);
                view.with_first_seen(&first_seen);
                Published::new(Arc::new(view), &boot)
            })
            .await
            .expect("building the status view does not panic"),
        );
        *cached = Some(published.clone());
        Some(published)
    }

    fn no_audit(&self) -> Response {
        let why = if self.status.is_leader() {
            "No audit has completed yet. This page shows the first one as soon as it completes."
        } else {
            "No audit has completed on this replica: it is a follower, and the leader audits."
        };
        page(
            StatusCode::SERVICE_UNAVAILABLE,
            html::render_message("No audit yet", why, 0),
        )
    }
}

fn build(latest: &Latest) -> StatusView {
    let mut view = StatusView::build(&latest.report, &latest.cfg.environment_order());
    view.generation = latest.generation;
    view
}

/// A query parameter's value.
fn param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `?page=N`, 1 when absent or not a number.
fn page_param(query: Option<&str>) -> usize {
    param(query, "page").and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// `?attention=true`: only the rows needing attention.
fn attention_param(query: Option<&str>) -> bool {
    param(query, "attention").is_some_and(|v| v == "true" || v == "1")
}

async fn index(State(web): State<Arc<Web>>, RawQuery(query): RawQuery) -> Response {
    let Some(view) = web.view().await else {
        return web.no_audit();
    };
    let Some(_slot) = web.limiter.enter().await else {
        return busy_page();
    };
    let q = query.as_deref();
    page(
        StatusCode::OK,
        html::render_page(&view, page_param(q), attention_param(q)),
    )
}

/// `GET /api/status`: the whole view from the bytes shared by every request of its
/// generation, or the part a query asks for (see [`crate::app::status_api`]).
async fn api_status(State(web): State<Arc<Web>>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let filter = match api::query(query.as_deref()) {
        Ok(f) => f,
        Err(e) => return json(StatusCode::BAD_REQUEST, error_body(&e)),
    };
    let Some(published) = web.published().await else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("no audit has completed yet"),
        );
    };
    let gzip = api::accepts_gzip(&headers);
    let tag = api::etag(&published.etag, filter.as_ref().and(query.as_deref()), gzip);
    if api::not_modified(&headers, &tag) {
        return with_tag(StatusCode::NOT_MODIFIED, Body::empty(), &tag, false);
    }
    let Some(filter) = filter else {
        let body = if gzip { &published.gzip } else { &published.json };
        return with_tag(StatusCode::OK, web.senders.body(body.clone()).await, &tag, gzip);
    };
    let Some(_slot) = web.limiter.enter().await else {
        return busy(json(StatusCode::SERVICE_UNAVAILABLE, error_body(BUSY)));
    };
    let view = published.view.clone();
    let body = tokio::task::spawn_blocking(move || {
        let json = serde_json::to_vec(&view.slice(&filter)?).expect("the status view serialises");
        Ok::<_, UnknownEnvironment>(if gzip { api::gzip(&json) } else { json })
    })
    .await
    .expect("slicing the status view does not panic");
    match body {
        Ok(body) => with_tag(StatusCode::OK, web.senders.body(Bytes::from(body)).await, &tag, gzip),
        Err(e) => json(StatusCode::BAD_REQUEST, error_body(&e)),
    }
}

const BUSY: &str = "too many requests at once; retry in a second";

fn error_body(e: impl std::fmt::Display) -> String {
    serde_json::json!({"error": e.to_string()}).to_string()
}

/// A JSON answer with its entity tag, compressed when `gzip`.
fn with_tag(status: StatusCode, body: Body, etag: &str, gzip: bool) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::VARY, "Accept-Encoding"),
            // Caches may keep it, but ask again (cheaply: 304) before using it.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    let h = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, tag);
    }
    if gzip && status == StatusCode::OK {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    secured(response)
}

/// A 503 for a request beyond the bound, saying when to try again.
fn busy(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The HTML answer to a request beyond the bound.
fn busy_page() -> Response {
    busy(page(
        StatusCode::SERVICE_UNAVAILABLE,
        html::render_message("Busy", "Too many requests at once: retry in a second.", 0),
    ))
}

async fn generation(State(web): State<Arc<Web>>) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({"generation": web.status.generation()}).to_string(),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    secured(
        (
            [
                (header::CONTENT_TYPE, content_type),
                // The binary's own files: a new release must show at once.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
    )
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", html::CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", html::JS)
}

/// The window the pages read history over: the config's DORA window back from now.
fn window(cfg: &Config) -> (Window, String) {
    let now = Utc::now().trunc_subsecs(0);
    let since = now - chrono::Duration::from_std(cfg.dora.window).unwrap_or(chrono::Duration::MAX);
    (
        Window { since, until: now },
        format!("the last {}", span(cfg.dora.window)),
    )
}

/// `30 days`, or as humantime writes a window that is not whole days (`12h`).
fn span(d: std::time::Duration) -> String {
    match d.as_secs() {
        86_400 => "day".into(),
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        _ => humantime::format_duration(d).to_string(),
    }
}

async fn workload(
    State(web): State<Arc<Web>>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> Response {
    let Some(view) = web.view().await else {
        return web.no_audit();
    };
    let Some(_slot) = web.limiter.enter().await else {
        return busy_page();
    };
    let key = format!("{namespace}/{kind}/{name}");
    if view.rows_of(&key).is_empty() && view.findings_of(&key).is_empty() {
        return page(
            StatusCode::NOT_FOUND,
            html::render_message(
                "Unknown workload",
                &format!("The latest audit knows no workload {key}."),
                view.generation,
            ),
        );
    }
    let (history, window_text) = match web.status.running().dora.clone() {
        None => (Err(Unavailable::NoStore), String::new()),
        Some((cfg, store)) => {
            let (window, text) = window(&cfg);
            let history = async {
                let (store, _) = store.get().await?;
                let deployments = store.deployments(window, cfg.dora.failure_window).await?;
                let episodes = store.episodes(window, cfg.dora.failure_window).await?;
                Ok::<_, Unavailable>(history_of(&key, &deployments, &episodes))
            }
            .await;
            (history, text)
        }
    };
    let body = match history {
        Ok(history) => html::render_workload(&view, &key, Ok(history), &window_text),
        Err(e) => html::render_workload(&view, &key, Err(&e), &window_text),
    };
    match body {
        Some(body) => page(StatusCode::OK, body),
        None => page(
            StatusCode::NOT_FOUND,
            html::render_message("Unknown workload", &format!("No workload {key}."), view.generation),
        ),
    }
}

async fn pipeline(State(web): State<Arc<Web>>) -> Response {
    let generation = web.status.generation();
    let Some((cfg, store)) = web.status.running().dora.clone() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            html::render_pipeline(Err(&Unavailable::NoStore), "", generation),
        );
    };
    let (window, text) = window(&cfg);
    let order = cfg.environment_order();
    // As many weeks as the window holds, between 4 and 26 bars.
    let weeks = (cfg.dora.window.as_secs() / (7 * 86_400)).clamp(4, 26) as usize;
    let figures = async {
        let (store, _) = store.get().await?;
        let mut report = crate::app::dora::from_store(&cfg, &store, &[], cfg.dora.window, window.until).await?;
        report
            .environments
            .sort_by_key(|e| order.iter().position(|n| *n == e.name).unwrap_or(usize::MAX));
        let deployments = store.deployments(window, std::time::Duration::ZERO).await?;
        let weekly: Vec<(String, Vec<_>)> = report
            .environments
            .iter()
            .map(|e| (e.name.clone(), weekly(&deployments, &e.name, weeks, window.until)))
            .collect();
        Ok::<_, Unavailable>((report, weekly))
    }
    .await;
    match figures {
        Ok((report, weekly)) => page(
            StatusCode::OK,
            html::render_pipeline(Ok((&report, weekly)), &text, generation),
        ),
        Err(e) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            html::render_pipeline(Err(&e), &text, generation),
        ),
    }
}
