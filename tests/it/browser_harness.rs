//! The headless Chromium harness ([`support::browser`]) against a small page served by the test
//! under a strict Content Security Policy: loading, clicking, typing, screenshots, a blocked
//! inline script reported as a violation, and a `file://` page with networking off. What the
//! status page tests rely on, checked on a page whose behaviour is known.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use support::browser::Browser;
use support::net::listen;

/// What the status page will send: no inline script or style, everything from the page's own
/// origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'";

const INDEX: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>harness</title>
<link rel="stylesheet" href="/app.css"><script src="/app.js" defer></script></head>
<body>
<button id="go">Go</button> <span id="out">idle</span>
<input id="filter" placeholder="filter">
<ul id="items"><li>api</li><li>web</li><li>worker</li><li>api-gateway</li></ul>
</body></html>"#;

const APP_JS: &str = r##"
document.getElementById("go").addEventListener("click", () => {
  document.getElementById("out").textContent = "clicked";
});
document.getElementById("filter").addEventListener("input", (e) => {
  for (const li of document.querySelectorAll("#items li")) {
    li.hidden = !li.textContent.includes(e.target.value);
  }
});
"##;

const INLINE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>untouched</title></head>
<body><p>inline script below</p><script>document.title = "inline ran";</script></body></html>"#;

/// Serves the pages above on 127.0.0.1, one thread per connection, until the test ends.
fn serve() -> SocketAddr {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || answer(stream));
        }
    });
    addr
}

fn answer(mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The rest of the head; GET requests have no body.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, kind, body) = match path {
        "/" => ("200 OK", "text/html; charset=utf-8", INDEX),
        "/inline" => ("200 OK", "text/html; charset=utf-8", INLINE),
        "/app.js" => ("200 OK", "text/javascript", APP_JS),
        "/app.css" => ("200 OK", "text/css", "#out { font-weight: bold; }"),
        _ => ("404 Not Found", "text/plain", "not found"),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Security-Policy: {CSP}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn a_page_under_a_strict_csp_loads_clicks_filters_and_screenshots_cleanly() {
    let addr = serve();
    let started = Instant::now();
    let browser = Browser::start();
    println!("{} started in {:?}", browser.version(), started.elapsed());
    let page = browser.open(&format!("http://{addr}/"));
    // The deferred script ran: its handlers are attached before `load`.
    assert_eq!(page.eval("document.title"), "harness");

    assert_eq!(page.text("#out").as_deref(), Some("idle"));
    page.click("#go");
    page.wait_for("document.getElementById('out').textContent === 'clicked'", 5);

    page.type_into("#filter", "api");
    let visible =
        page.eval("[...document.querySelectorAll('#items li')].filter(li => !li.hidden).map(li => li.textContent)");
    assert_eq!(visible, serde_json::json!(["api", "api-gateway"]));

    let dir = tempfile::tempdir().unwrap();
    let shot = page.screenshot(dir.path().join("shots/harness.png"));
    println!("screenshot: {}", shot.display());
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 2_000,
        "a {}-byte PNG is too small for a rendered page",
        png.len()
    );

    assert_eq!(page.csp_violations(), Vec::<String>::new());
    assert_eq!(page.console_errors(), Vec::<String>::new());

    // Exceptions reach the test with their message.
    let err = page.try_eval("null.boom").unwrap_err();
    assert!(err.contains("TypeError"), "{err}");
    page.eval("setTimeout(() => { throw new Error('late failure') }, 0)");
    support::net::wait_until(5, "the uncaught exception", || {
        page.console_errors().into_iter().find(|e| e.contains("late failure"))
    });
}

#[test]
fn an_inline_script_blocked_by_the_csp_is_reported_as_a_violation() {
    let addr = serve();
    let browser = Browser::start();
    let page = browser.open(&format!("http://{addr}/inline"));
    assert_eq!(
        page.eval("document.title"),
        "untouched",
        "the inline script did not run"
    );
    let violations = support::net::wait_until(5, "a CSP violation", || {
        Some(page.csp_violations()).filter(|v| !v.is_empty())
    });
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].starts_with("script-src-elem blocked inline at http://"),
        "{violations:?}"
    );
    assert!(
        page.console_errors()
            .iter()
            .any(|e| e.contains("Content Security Policy")),
        "the browser logs it as an error too: {:?}",
        page.console_errors()
    );
}

#[test]
fn a_file_page_works_with_networking_off() {
    let addr = serve();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(
        &file,
        r#"<!doctype html><html><head><meta charset="utf-8"><title>offline report</title></head>
<body><h1 id="h">3 findings</h1><script>document.body.dataset.ready = "yes";</script></body></html>"#,
    )
    .unwrap();
    let browser = Browser::start_offline();
    let page = browser.open(&format!("file://{}", file.display()));
    assert_eq!(page.text("#h").as_deref(), Some("3 findings"));
    assert_eq!(page.eval("document.body.dataset.ready"), "yes");
    // The server is up, yet unreachable: the page could not depend on it.
    let fetched = page.eval(&format!(
        "fetch('http://{addr}/app.js', {{mode: 'no-cors'}}).then(() => 'online', () => 'offline')"
    ));
    assert_eq!(fetched, "offline");
    page.set_offline(false);
    let fetched = page.eval(&format!(
        "fetch('http://{addr}/app.js', {{mode: 'no-cors'}}).then(() => 'online', () => 'offline')"
    ));
    assert_eq!(fetched, "online", "and reachable once networking is back on");

    // Dropped, the browser leaves no process behind.
    let profile = browser.profile_dir().to_str().unwrap().to_string();
    assert!(
        running(&profile).len() > 1,
        "the browser and its helpers run with the profile"
    );
    drop(page);
    drop(browser);
    assert_eq!(
        running(&profile),
        Vec::<String>::new(),
        "Chromium processes left running"
    );
}

/// The command lines of live processes mentioning `text` (zombies have none).
fn running(text: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(text))
        .collect()
}
