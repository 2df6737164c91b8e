//! Headless Chromium for the tests of the status page: [`Browser::start`] runs Debian's
//! `chromium` in its own process group (killed with the group on drop, and by the kernel if the
//! test process dies first), and [`Page`] drives one tab over the Chrome DevTools Protocol:
//! open a URL and wait for its load, evaluate JavaScript, click, type, take screenshots, and
//! collect console errors, uncaught exceptions and Content Security Policy violations.
//!
//! The protocol is spoken directly over one websocket ([`tungstenite`], synchronous, as the
//! tests are): the few commands used here are simpler to read than a CDP crate's generated
//! bindings, and the async CDP crates would bring their own runtime and hundreds of types.
//! Every tab is a flattened session on the browser's socket, so one reader sees every message;
//! events are queued per session until their page reads them.

use std::collections::{HashMap, VecDeque};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::process::{ServerProcess, Stop};

/// How long a DevTools command may take before the test fails naming it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The name of the binding through which pages report `securitypolicyviolation` events.
const CSP_BINDING: &str = "__driftwatchCspViolation";
/// Installed in every document before its own scripts run. DevTools scripts are not subject to
/// the page's CSP, so this works on pages that forbid inline script.
const CSP_LISTENER: &str = r#"document.addEventListener("securitypolicyviolation", (e) => {
  globalThis.__driftwatchCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "?"} at ${e.sourceFile || "?"}:${e.lineNumber}${e.sample ? ` (${e.sample})` : ""}`);
}, true);"#;

/// A headless Chromium with its own profile in a temp directory.
pub struct Browser {
    cdp: Mutex<Cdp>,
    offline: bool,
    version: String,
    // Dropped in this order: the process group first, then its profile directory.
    process: ServerProcess,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium and connects to it. Panics, naming the `chromium` package and
    /// `scripts/prereqs`, when it is not installed: a test that needs it fails, never skips.
    ///
    /// Use it on the thread that started it (one browser per test, ~0.5 s): the kernel kills
    /// Chromium when that thread ends, so a browser kept in a static for several tests would
    /// die with the first test's thread.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A browser whose pages have networking disabled (DevTools' offline emulation) from
    /// before their first request: for `file://` pages that must work without a network.
    pub fn start_offline() -> Self {
        Self::launch(true)
    }

    fn launch(offline: bool) -> Self {
        let program = chromium();
        let profile = tempfile::tempdir().expect("a temp dir for the Chromium profile");
        let log = profile.path().join("chromium.log");
        let mut cmd = Command::new(&program);
        cmd.args([
            "--headless",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            // Without these Chromium phones home at start, which this machine's closed network
            // refuses noisily.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Containers give /dev/shm 64 MiB, too little for renderers.
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--mute-audio",
            "--window-size=1280,900",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
        // The sandbox needs user namespaces, or refuses to start as root.
        if is_root() {
            cmd.arg("--no-sandbox");
        }
        die_with_parent(&mut cmd);
        let started = Instant::now();
        let mut process = ServerProcess::spawn(&mut cmd, Stop::Kill, "start chromium");
        let port_file = profile.path().join("DevToolsActivePort");
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                // Written in full once DevTools listens; a partial read lacks the second line.
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.trim().to_string(), path.trim().to_string());
                }
            }
            if let Some(status) = process.try_wait() {
                panic!(
                    "chromium ({}) exited ({status}) before DevTools listened:\n{}",
                    program.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromium did not write {} within 30s:\n{}",
                port_file.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut cdp = Cdp::connect(&format!("ws://127.0.0.1:{port}{path}"));
        let version = cdp
            .call(None, "Browser.getVersion", json!({}))
            .expect("Browser.getVersion");
        let version = version["product"].as_str().unwrap_or("?").to_string();
        Self {
            cdp: Mutex::new(cdp),
            offline,
            version,
            process,
            profile,
        }
    }

    /// The browser's product and version, `Chrome/156.0.8078.108` (headless mode reports its
    /// product as Chrome).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Opens `url` in a new tab and waits for its `load` event. Panics if the navigation fails
    /// (the error names the URL and the reason, `net::ERR_CONNECTION_REFUSED`).
    pub fn open(&self, url: &str) -> Page<'_> {
        let page = self.blank();
        page.navigate(url);
        page
    }

    /// A new tab at `about:blank`, with everything the [`Page`] collects enabled.
    pub fn blank(&self) -> Page<'_> {
        let target = self
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .expect("Target.createTarget");
        let target = target["targetId"].as_str().expect("a targetId").to_string();
        let session = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .expect("Target.attachToTarget");
        let session = session["sessionId"].as_str().expect("a sessionId").to_string();
        let page = Page {
            browser: self,
            target,
            session,
            seen: Mutex::new(Seen::default()),
        };
        for (method, params) in [
            ("Page.enable", json!({})),
            ("Page.setLifecycleEventsEnabled", json!({"enabled": true})),
            ("Runtime.enable", json!({})),
            ("Log.enable", json!({})),
            ("Network.enable", json!({})),
            ("Runtime.addBinding", json!({"name": CSP_BINDING})),
            ("Page.addScriptToEvaluateOnNewDocument", json!({"source": CSP_LISTENER})),
        ] {
            page.command(method, params);
        }
        if self.offline {
            page.set_offline(true);
        }
        page
    }

    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        self.cdp.lock().expect("cdp lock").call(session, method, params)
    }

    /// The profile directory (Chromium's log is `chromium.log` in it).
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }
}

impl Drop for Browser {
    /// Asks Chromium to close, so that it reaps its renderers and zygote: killed, they would be
    /// left as zombies where PID 1 is no init (a container). The group is killed if it has not
    /// exited within 5s, and in any case the profile directory is removed after it.
    fn drop(&mut self) {
        let cdp = self.cdp.get_mut().unwrap_or_else(|e| e.into_inner());
        if cdp.send(None, "Browser.close", json!({})).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.process.try_wait().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// One tab, attached as a flattened DevTools session.
pub struct Page<'b> {
    browser: &'b Browser,
    target: String,
    session: String,
    seen: Mutex<Seen>,
}

/// What a page's events told so far.
#[derive(Default)]
struct Seen {
    console_errors: Vec<String>,
    csp_violations: Vec<String>,
    /// `(frameId, loaderId, name)` of lifecycle events (`load`, `DOMContentLoaded`, …).
    lifecycle: Vec<(String, String, String)>,
}

impl Page<'_> {
    /// Navigates to `url` and waits for the new document's `load` event.
    pub fn navigate(&self, url: &str) {
        let nav = self.command("Page.navigate", json!({"url": url}));
        if let Some(error) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
            panic!("navigating to {url} failed: {error}");
        }
        let frame = nav["frameId"].as_str().unwrap_or_default().to_string();
        let loader = nav["loaderId"].as_str().unwrap_or_default().to_string();
        self.wait_event(&format!("the load event of {url}"), Duration::from_secs(20), |seen| {
            seen.lifecycle
                .iter()
                .any(|(f, l, name)| *f == frame && (loader.is_empty() || *l == loader) && name == "load")
        });
    }

    /// The value of `js` (an expression; a promise is awaited). Panics with the message of a
    /// JavaScript exception.
    pub fn eval(&self, js: &str) -> Value {
        self.try_eval(js).unwrap_or_else(|e| panic!("{e}\nin: {js}"))
    }

    /// The value of `js`, or the message of the exception it threw.
    pub fn try_eval(&self, js: &str) -> Result<Value, String> {
        let result = self.command(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(details) = result.get("exceptionDetails") {
            return Err(exception_text(details));
        }
        Ok(result["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Waits until `js` evaluates to a truthy value, panicking after `secs` seconds with the
    /// predicate and the page's console errors.
    pub fn wait_for(&self, js: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let truthy = format!("!!({js})");
        loop {
            if self.eval(&truthy) == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {secs}s waiting for {js}; console errors: {:?}",
                self.console_errors()
            );
            // Waiting here reads the page's events, instead of sleeping.
            self.pump(Duration::from_millis(50));
        }
    }

    /// Clicks the centre of the first element matching `selector` with real mouse events (so
    /// an element covered by another, or not displayed, is not clicked: the test fails).
    pub fn click(&self, selector: &str) {
        let sel = js_string(selector);
        let rect = self.eval(&format!(
            r#"(() => {{
  const el = document.querySelector({sel});
  if (!el) throw new Error("no element matches " + {sel});
  el.scrollIntoView({{block: "center", inline: "center"}});
  const r = el.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height];
}})()"#
        ));
        let [x, y, w, h] = [0, 1, 2, 3].map(|i| rect[i].as_f64().unwrap_or(0.0));
        assert!(w > 0.0 && h > 0.0, "{selector} is not displayed (its box is {w}x{h})");
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.command(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1}),
            );
        }
    }

    /// Sets the value of the input matching `selector` to `text` and fires `input` and
    /// `change`, as typing and leaving the field would.
    pub fn type_into(&self, selector: &str, text: &str) {
        let (sel, text) = (js_string(selector), js_string(text));
        self.eval(&format!(
            r#"(() => {{
  const el = document.querySelector({sel});
  if (!el) throw new Error("no element matches " + {sel});
  el.focus();
  el.value = {text};
  el.dispatchEvent(new Event("input", {{bubbles: true}}));
  el.dispatchEvent(new Event("change", {{bubbles: true}}));
}})()"#
        ));
    }

    /// The visible text of the first element matching `selector`, `None` if none matches.
    pub fn text(&self, selector: &str) -> Option<String> {
        let sel = js_string(selector);
        self.eval(&format!("document.querySelector({sel})?.innerText ?? null"))
            .as_str()
            .map(str::to_string)
    }

    /// A PNG of the viewport written to `path` (its directories created); returns `path`.
    pub fn screenshot(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        let shot = self.command("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("the screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path.to_path_buf()
    }

    /// Console errors (`console.error`, errors the browser logs such as a blocked or failed
    /// load) and uncaught exceptions so far, as text. The browser's own favicon request is left
    /// out: the page did not ask for it.
    pub fn console_errors(&self) -> Vec<String> {
        self.pump(Duration::ZERO);
        self.seen.lock().expect("seen lock").console_errors.clone()
    }

    /// Content Security Policy violations so far (`securitypolicyviolation` events), each as
    /// `<directive> blocked <URL, or inline / eval> at <file>:<line>`, with ` (<sample>)` when
    /// the policy asks for samples (`'report-sample'`).
    pub fn csp_violations(&self) -> Vec<String> {
        self.pump(Duration::ZERO);
        self.seen.lock().expect("seen lock").csp_violations.clone()
    }

    /// Networking off (every request fails as without a network) or on again.
    pub fn set_offline(&self, offline: bool) {
        self.command(
            "Network.emulateNetworkConditions",
            json!({"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        );
    }

    /// A DevTools command in this tab's session; panics naming it if it fails.
    pub fn command(&self, method: &str, params: Value) -> Value {
        let result = self
            .browser
            .call(Some(&self.session), method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        self.take_events();
        result
    }

    /// Reads the socket for up to `wait`, then handles this page's queued events.
    fn pump(&self, wait: Duration) {
        self.browser.cdp.lock().expect("cdp lock").read_for(wait);
        self.take_events();
    }

    fn wait_event(&self, what: &str, limit: Duration, done: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.seen.lock().expect("seen lock")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}"
            );
            self.pump(Duration::from_millis(50));
        }
    }

    fn take_events(&self) {
        let events = self.browser.cdp.lock().expect("cdp lock").take(&self.session);
        let mut seen = self.seen.lock().expect("seen lock");
        for event in events {
            let params = &event["params"];
            match event["method"].as_str().unwrap_or_default() {
                "Page.lifecycleEvent" => {
                    let field = |k: &str| params[k].as_str().unwrap_or_default().to_string();
                    seen.lifecycle
                        .push((field("frameId"), field("loaderId"), field("name")));
                }
                "Runtime.consoleAPICalled" if matches!(params["type"].as_str(), Some("error" | "assert")) => {
                    let args: Vec<String> = params["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| match &a["value"] {
                            Value::String(s) => s.clone(),
                            Value::Null => a["description"].as_str().unwrap_or("?").to_string(),
                            v => v.to_string(),
                        })
                        .collect();
                    seen.console_errors.push(format!("console.error: {}", args.join(" ")));
                }
                "Runtime.exceptionThrown" => {
                    let text = exception_text(&params["exceptionDetails"]);
                    seen.console_errors.push(format!("uncaught: {text}"));
                }
                "Log.entryAdded" if params["entry"]["level"] == "error" => {
                    let entry = &params["entry"];
                    let url = entry["url"].as_str().unwrap_or_default();
                    if !url.ends_with("/favicon.ico") {
                        let text = entry["text"].as_str().unwrap_or_default();
                        let source = entry["source"].as_str().unwrap_or_default();
                        seen.console_errors
                            .push(format!("{source}: {text} {url}").trim_end().to_string());
                    }
                }
                "Runtime.bindingCalled" if params["name"] == CSP_BINDING => {
                    seen.csp_violations
                        .push(params["payload"].as_str().unwrap_or_default().to_string());
                }
                _ => {}
            }
        }
    }
}

impl Drop for Page<'_> {
    fn drop(&mut self) {
        // A failure (the browser is gone after a panic) leaves nothing to clean up.
        let _ = self
            .browser
            .call(None, "Target.closeTarget", json!({"targetId": self.target}));
        if let Ok(mut cdp) = self.browser.cdp.lock() {
            // Its queued events, and the browser-level ones (targets attached, detached) that no
            // page reads.
            cdp.take(&self.session);
            cdp.take("");
        }
    }
}

/// The DevTools connection: commands by id, events queued per session.
struct Cdp {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    events: HashMap<String, VecDeque<Value>>,
}

impl Cdp {
    fn connect(url: &str) -> Self {
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host:port")
            .to_string();
        let stream =
            TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to chromium's DevTools at {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (ws, _) = tungstenite::client(url, stream).unwrap_or_else(|e| panic!("DevTools websocket {url}: {e}"));
        Self {
            ws,
            next_id: 0,
            events: HashMap::new(),
        }
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send(session, method, params)?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if let Some(reply) = self.read_one(deadline)?
                && reply["id"] == id
            {
                return match reply.get("error") {
                    Some(error) => Err(format!("DevTools error: {error}")),
                    None => Ok(reply["result"].clone()),
                };
            }
            if Instant::now() >= deadline {
                return Err(format!("no answer from chromium within {COMMAND_TIMEOUT:?}"));
            }
        }
    }

    /// Sends a command without waiting for its reply; its id.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<u64, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .map_err(|e| format!("send to chromium: {e}"))?;
        Ok(id)
    }

    /// Reads and queues events for up to `wait`.
    fn read_for(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            match self.read_one(deadline) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) if Instant::now() >= deadline => return,
                Ok(None) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// One message, or `None` if none came before `deadline` (a short wait at least). Events
    /// are queued and returned too; replies are returned for the caller to match.
    fn read_one(&mut self, deadline: Instant) -> Result<Option<Value>, String> {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        self.ws.get_mut().set_read_timeout(Some(wait)).unwrap();
        let message = match self.ws.read() {
            Ok(message) => message,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(format!("the DevTools connection to chromium failed: {e}")),
        };
        let Message::Text(text) = message else { return Ok(None) };
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("DevTools sent bad JSON: {e}"))?;
        if value.get("method").is_some() {
            let session = value["sessionId"].as_str().unwrap_or_default().to_string();
            self.events.entry(session).or_default().push_back(value.clone());
        }
        Ok(Some(value))
    }

    fn take(&mut self, session: &str) -> Vec<Value> {
        self.events.remove(session).map(Vec::from).unwrap_or_default()
    }
}

/// `chromium` (Debian), else `chromium-browser` or `google-chrome` on PATH.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium is not installed: the browser tests need Debian's `chromium` package \
         (run scripts/prereqs, or apt-get install chromium)"
    );
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid(2) takes nothing, touches no memory and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Chromium is killed when the thread that started it ends: a test process killed by a
/// timeout leaves no browser behind (drop does not run then).
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl(2) is async-signal-safe and touches no memory of ours; it runs in the child
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `s` as a JavaScript string literal.
fn js_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The message of a JavaScript exception from its `exceptionDetails`.
fn exception_text(details: &Value) -> String {
    details["exception"]["description"]
        .as_str()
        .or(details["text"].as_str())
        .unwrap_or("a JavaScript exception")
        .to_string()
}
