//! `GET /api/status` at fleet size. At 4 × 1,000 workloads the document is about 5 MB; built
//! per request, 256 concurrent requests took the daemon from 104 MB to 950 MB. So the status
//! view is serialised once per audit generation ([`Published`]: the JSON and its gzip, shared
//! by every request as reference-counted bytes), answered with an `ETag` and `304 Not
//! Modified`; a filtered or paged request ([`Query`]) is computed from the shared view, and
//! work per request is bounded ([`Limiter`]: a few at a time, a small queue, then `503` with
//! `Retry-After`). Sending the shared bytes costs no memory but CPU: 256 clients each
//! receiving megabytes kept the runtime's workers copying, and `/healthz` waited behind them
//! (p99 750 ms), so large answers are written a few at a time, in chunks ([`Senders`]), the
//! others waiting their turn: `/healthz` keeps answering under any load.

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::Digest as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::core::report::status::{Filter, StatusView};

/// The view of one audit generation, with its JSON serialised once.
pub struct Published {
    pub generation: u64,
    pub view: Arc<StatusView>,
    /// The whole view as `/api/status` serves it.
    pub json: Bytes,
    /// `json`, gzip-compressed.
    pub gzip: Bytes,
    /// The entity tag of `json` (`"<boot>-g<generation>"`): the generation restarts at 1 with
    /// the process, so the process's start time is part of the tag.
    pub etag: String,
}

impl Published {
    /// Serialises `view` once: its JSON and the JSON compressed.
    pub fn new(view: Arc<StatusView>, boot: &str) -> Self {
        let json = serde_json::to_vec(&*view).expect("the status view serialises");
        let gzip = gzip(&json);
        Published {
            generation: view.generation,
            etag: format!("\"{boot}-g{}\"", view.generation),
            json: Bytes::from(json),
            gzip: Bytes::from(gzip),
            view,
        }
    }
}

/// `body` gzip-compressed.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 8), Compression::default());
    enc.write_all(body).expect("writing to memory does not fail");
    enc.finish().expect("writing to memory does not fail")
}

/// The entity tag of a representation: `tag` for the JSON, with `-gz` for its gzip, and the
/// query's hash for a filtered one.
pub fn etag(tag: &str, query: Option<&str>, gzipped: bool) -> String {
    let mut out = tag.trim_end_matches('"').to_string();
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        let hash = sha2::Sha256::digest(q.as_bytes());
        out.push_str("-q");
        out.extend(hash[..6].iter().map(|b| format!("{b:02x}")));
    }
    if gzipped {
        out.push_str("-gz");
    }
    out.push('"');
    out
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// Whether the request's `Accept-Encoding` accepts gzip (not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") || name == "*") && !refused
        })
}

/// Why a query of `/api/status` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("limit must be a number from 1 to {MAX_LIMIT}, not {0:?}")]
    Limit(String),
    #[error("cursor must be a next_cursor of an earlier answer, not {0:?}")]
    Cursor(String),
    #[error("attention must be true or false, not {0:?}")]
    Attention(String),
    #[error("unknown parameter {0:?}: env, attention, limit and cursor are known")]
    Unknown(String),
}

/// The most rows one page of `/api/status` holds.
pub const MAX_LIMIT: usize = 1000;

/// `?env=<name>` (repeatable), `?attention=true`, `?limit=N&cursor=C`; `None` without any
/// parameter (the whole view, served from the shared bytes).
pub fn query(raw: Option<&str>) -> Result<Option<Filter>, QueryError> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        return Ok(None);
    }
    let mut f = Filter::default();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        match &*k {
            "env" => f.envs.push(v.into_owned()),
            "attention" => {
                f.attention = match &*v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(QueryError::Attention(v.into_owned())),
                }
            }
            "limit" => {
                let limit = v.parse().ok().filter(|l| (1..=MAX_LIMIT).contains(l));
                f.limit = Some(limit.ok_or_else(|| QueryError::Limit(v.into_owned()))?);
            }
            "cursor" => f.cursor = v.parse().map_err(|_| QueryError::Cursor(v.into_owned()))?,
            _ => return Err(QueryError::Unknown(k.into_owned())),
        }
    }
    Ok(Some(f))
}

/// Bounds the requests that cost the daemon work and memory per request: `running` at a time,
/// `queued` more waiting; beyond that, none (the caller answers `503` with `Retry-After`).
pub struct Limiter {
    running: Semaphore,
    admitted: Semaphore,
}

/// A place among the running requests, held until the answer is built.
pub struct Slot<'a> {
    _admitted: SemaphorePermit<'a>,
    _running: SemaphorePermit<'a>,
}

/// `DRIFTWATCH_WEB_SLOTS=<running>/<queued>` replaces the default bound: a hook for tests and
/// benchmarks, not a setting.
const SLOTS_ENV: &str = "DRIFTWATCH_WEB_SLOTS";

impl Limiter {
    pub fn new(running: usize, queued: usize) -> Self {
        Limiter {
            running: Semaphore::new(running),
            admitted: Semaphore::new(running + queued),
        }
    }

    /// Two at a time per core (at most 8), 32 waiting; or as [`SLOTS_ENV`] says.
    pub fn from_env() -> Self {
        let hook = std::env::var(SLOTS_ENV).ok().and_then(|v| {
            let (r, q) = v.split_once('/')?;
            Some((r.trim().parse().ok()?, q.trim().parse().ok()?))
        });
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let (running, queued) = hook.unwrap_or(((2 * cores).min(8), 32));
        Self::new(running, queued)
    }

    /// A slot, after waiting in the queue; `None` when the queue is full.
    pub async fn enter(&self) -> Option<Slot<'_>> {
        let admitted = self.admitted.try_acquire().ok()?;
        let running = self.running.acquire().await.ok()?;
        Some(Slot {
            _admitted: admitted,
            _running: running,
        })
    }
}

/// Answers from this size up are written a few at a time ([`Senders`]).
const LARGE: usize = 256 * 1024;

/// How much of a large answer is written per turn: each chunk is one short piece of work, so a
/// probe waiting for a worker waits for a chunk, not for a whole answer.
const CHUNK: usize = 64 * 1024;

/// Bounds how many large answers are written at once; the others wait for a turn, holding
/// nothing but their request (the bytes are shared).
pub struct Senders(Arc<Semaphore>);

impl Senders {
    /// `writers` large answers at a time.
    pub fn new(writers: usize) -> Self {
        Senders(Arc::new(Semaphore::new(writers)))
    }

    /// One writer per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, usize::from))
    }

    /// `bytes` as a body: as it is when small, else after waiting for a turn, in chunks, the
    /// turn held until the last chunk is written or the client goes away.
    pub async fn body(&self, bytes: Bytes) -> Body {
        if bytes.len() < LARGE {
            return Body::from(bytes);
        }
        let turn = self
            .0
            .clone()
            .acquire_owned()
            .await
            .expect("the senders' semaphore is never closed");
        Body::from_stream(futures::stream::unfold((bytes, turn), next_chunk))
    }
}

/// The next chunk of a large answer, and what is left of it (with the turn).
async fn next_chunk(
    (mut rest, turn): (Bytes, OwnedSemaphorePermit),
) -> Option<(Result<Bytes, Infallible>, (Bytes, OwnedSemaphorePermit))> {
    if rest.is_empty() {
        return None;
    }
    let chunk = rest.split_to(CHUNK.min(rest.len()));
    Some((Ok(chunk), (rest, turn)))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use futures::FutureExt as _;

    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn gzip_is_accepted_as_clients_say_it() {
        let cases = [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("br;q=1.0, gzip;q=0.8", true),
            ("deflate, br", false),
            ("gzip;q=0", false),
            ("identity", false),
            ("*", true),
            ("GZIP", true),
        ];
        for (value, want) in cases {
            assert_eq!(accepts_gzip(&headers(header::ACCEPT_ENCODING, value)), want, "{value}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_matches_the_representation() {
        let tag = etag("\"b1-g3\"", None, false);
        assert_eq!(tag, "\"b1-g3\"");
        assert_eq!(etag("\"b1-g3\"", None, true), "\"b1-g3-gz\"");
        assert_ne!(
            etag("\"b1-g3\"", Some("env=a"), false),
            etag("\"b1-g3\"", Some("env=b"), false)
        );
        let cases = [
            ("\"b1-g3\"", true),
            ("\"b1-g2\"", false),
            ("\"b1-g2\", \"b1-g3\"", true),
            ("W/\"b1-g3\"", true),
            ("*", true),
            ("\"b1-g3-gz\"", false),
        ];
        for (value, want) in cases {
            assert_eq!(
                not_modified(&headers(header::IF_NONE_MATCH, value), &tag),
                want,
                "{value}"
            );
        }
    }

    #[test]
    fn queries_are_read_or_refused_with_the_reason() {
        let f = query(Some("env=prod&env=dev&attention=true&limit=50&cursor=100"))
            .unwrap()
            .unwrap();
        assert_eq!(f.envs, ["prod", "dev"]);
        assert_eq!((f.attention, f.limit, f.cursor), (true, Some(50), 100));
        assert_eq!(query(None).unwrap(), None);
        assert_eq!(query(Some("")).unwrap(), None);
        let cases = [
            ("limit=0", QueryError::Limit("0".into())),
            ("limit=1001", QueryError::Limit("1001".into())),
            ("cursor=x", QueryError::Cursor("x".into())),
            ("attention=yes", QueryError::Attention("yes".into())),
            ("page=2", QueryError::Unknown("page".into())),
        ];
        for (q, want) in cases {
            assert_eq!(query(Some(q)).unwrap_err(), want, "{q}");
        }
    }

    #[tokio::test]
    async fn the_limiter_queues_a_few_then_refuses() {
        let limiter = Limiter::new(1, 1);
        let first = limiter.enter().await.expect("a free slot");
        let mut queued = Box::pin(limiter.enter());
        assert!(queued.as_mut().now_or_never().is_none(), "waits in the queue");
        assert!(limiter.enter().await.is_none(), "the queue is full: refused");
        drop(first);
        assert!(queued.await.is_some(), "the queued one runs once the first is done");
        assert!(limiter.enter().await.is_some(), "and there is room again");
    }

    #[test]
    fn the_gzip_decodes_to_the_json() {
        let body = br#"{"schema":"driftwatch.status/v1"}"#.repeat(100);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip(&body)[..]), &mut out).unwrap();
        assert_eq!(out, body);
    }

    #[tokio::test]
    async fn large_answers_take_turns_in_chunks_and_small_ones_do_not_wait() {
        use futures::StreamExt as _;
        let senders = Senders::new(1);
        let large = Bytes::from(vec![7u8; LARGE + CHUNK / 2]);
        let first = senders.body(large.clone()).await;
        assert!(
            senders.body(large.clone()).now_or_never().is_none(),
            "a second large answer waits for the first"
        );
        assert!(
            senders.body(Bytes::from_static(b"{}")).now_or_never().is_some(),
            "small ones do not"
        );
        let mut frames = 0;
        let mut got = Vec::new();
        let mut stream = first.into_data_stream();
        while let Some(chunk) = stream.next().await {
            got.extend_from_slice(&chunk.unwrap());
            frames += 1;
        }
        assert_eq!(got, large, "the chunks are the bytes");
        assert_eq!(frames, LARGE / CHUNK + 1);
        drop(stream);
        assert!(
            senders.body(large.clone()).now_or_never().is_some(),
            "its turn ended with its last chunk"
        );
        let abandoned = senders.body(large.clone()).await;
        drop(abandoned);
        assert!(
            senders.body(large).now_or_never().is_some(),
            "a client going away ends its turn"
        );
    }
}
