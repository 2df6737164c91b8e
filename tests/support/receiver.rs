//! HTTP receivers standing in for Slack, webhooks and Alertmanager: they record every request
//! and answer 200, or what a test scripts (429 with Retry-After, 500, an outage).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::net::{listen, serve};

/// A request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Per path: answers to give before answering 200, as (status, Retry-After).
    script: HashMap<String, VecDeque<(u16, Option<u64>)>>,
    /// Per path: answer this status to every request.
    down: HashMap<String, u16>,
}

/// An HTTP server that records every request and answers 200, or what a test scripts.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    _runtime: std::thread::JoinHandle<()>,
}

impl Receiver {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = state.clone();
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let shared = shared.clone();
            async move { receive(req, shared).await }
        });
        Self {
            addr,
            state,
            _runtime: serve(listener, app),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next answers for `path`, before it answers 200 again.
    pub fn script(&self, path: &str, answers: &[(u16, Option<u64>)]) {
        self.state
            .lock()
            .unwrap()
            .script
            .insert(path.to_string(), answers.iter().copied().collect());
    }

    /// Answer `status` to every request on `path` (None: healthy again).
    pub fn down(&self, path: &str, status: Option<u16>) {
        let mut s = self.state.lock().unwrap();
        match status {
            Some(code) => s.down.insert(path.to_string(), code),
            None => s.down.remove(path),
        };
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.state
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(req: axum::extract::Request, state: Arc<Mutex<ReceiverState>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = axum::body::to_bytes(req.into_body(), 16 << 20).await.unwrap().to_vec();
    let answer = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            path: path.clone(),
            headers,
            body,
        });
        match s.down.get(&path) {
            Some(code) => Some((*code, None)),
            None => s.script.get_mut(&path).and_then(|q| q.pop_front()),
        }
    };
    match answer {
        None => (axum::http::StatusCode::OK, "ok").into_response(),
        Some((code, retry_after)) => {
            let mut resp = (
                axum::http::StatusCode::from_u16(code).unwrap(),
                format!("scripted {code}"),
            )
                .into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
            }
            resp
        }
    }
}
