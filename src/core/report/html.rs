//! The status pages as HTML, with askama's compile-time checked templates (`templates/`):
//! the daemon's pages ([`render_page`], [`render_workload`], [`render_pipeline`],
//! [`render_message`]) and `--format html` ([`render_standalone`]: one file, CSS and script
//! inline and allowed by hash in its own CSP, no link anywhere). Every value is escaped by
//! askama; `|safe` is used only on the stylesheet and script shipped in the binary. The SVG
//! charts are geometry computed here and drawn by the template. Pure.

use askama::Template;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::Digest as _;

use super::status::{DeploymentRow, EpisodeRow, FindingView, MatrixRow, StatusView, Week};
use super::timestamp;
use crate::core::dora::bands::Band;
use crate::core::dora::compute::Stat;
use crate::core::dora::render::{TREND, days, frequency, human};
use crate::core::dora::{DoraReport, Figures};
use crate::core::model::Severity;

/// The stylesheet, served as `/assets/driftwatch.css` and inlined in the standalone file.
pub const CSS: &str = include_str!("../../../templates/assets/driftwatch.css");
/// The filters and the poll for a newer audit, served as `/assets/driftwatch.js` and inlined
/// in the standalone file.
pub const JS: &str = include_str!("../../../templates/assets/driftwatch.js");

/// The daemon's `Content-Security-Policy`: only its own stylesheet and script, no inline
/// code, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What every page shares: the title, and whether it is the standalone file.
struct Chrome {
    title: String,
    standalone: bool,
    /// The audit the page shows, which the script compares with the daemon's.
    generation: u64,
    /// The navigation entry of this page.
    current: &'static str,
    /// Only in the standalone file.
    csp: String,
    css: &'static str,
    js: &'static str,
}

impl Chrome {
    fn daemon(title: impl Into<String>, generation: u64, current: &'static str) -> Self {
        Chrome {
            title: title.into(),
            standalone: false,
            generation,
            current,
            csp: String::new(),
            css: "",
            js: "",
        }
    }

    /// The standalone file allows exactly its own inline stylesheet and script, by hash.
    fn standalone(title: impl Into<String>) -> Self {
        let hash = |s: &str| base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()));
        Chrome {
            title: title.into(),
            standalone: true,
            generation: 0,
            current: "status",
            csp: format!(
                "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; img-src data:; base-uri 'none'; form-action 'none'",
                hash(CSS),
                hash(JS)
            ),
            css: CSS,
            js: JS,
        }
    }
}

/// A value however deeply the template's loops and `if let`s borrowed it.
trait Val<T> {
    fn val(&self) -> T;
}

impl<T: Copy> Val<T> for T {
    fn val(&self) -> T {
        *self
    }
}

impl<T: Copy> Val<T> for &T {
    fn val(&self) -> T {
        **self
    }
}

impl<T: Copy> Val<T> for &&T {
    fn val(&self) -> T {
        ***self
    }
}

/// Formatting the templates call as `self.…`.
trait Helpers {
    fn ts(&self, t: impl Val<DateTime<Utc>>) -> String {
        timestamp(t.val())
    }

    fn day(&self, t: impl Val<DateTime<Utc>>) -> String {
        t.val().format("%Y-%m-%d").to_string()
    }

    fn secs(&self, s: impl Val<f64>) -> String {
        let s = s.val();
        if s < 60.0 {
            format!("{s:.1}s")
        } else {
            human(s.round() as i64)
        }
    }

    fn human(&self, s: impl Val<i64>) -> String {
        human(s.val())
    }

    fn severity_icon(&self, s: impl Val<Severity>) -> &'static str {
        match s.val() {
            Severity::Critical => "‼",
            Severity::Warning => "⚠",
            Severity::Info => "ℹ",
        }
    }

    /// `/workloads/{namespace}/{kind}/{name}`, each part percent-encoded.
    fn workload_href(&self, workload: impl AsRef<str>) -> String {
        let mut out = String::from("/workloads");
        for part in workload.as_ref().splitn(3, '/') {
            out.push('/');
            out.extend(url::form_urlencoded::byte_serialize(part.as_bytes()));
        }
        out
    }

    fn deployment_kind(&self, kind: impl AsRef<str>) -> &'static str {
        match kind.as_ref() {
            "rollback" => "↶ rollback",
            "hand" => "✋ by hand",
            _ => "→ promotion",
        }
    }

    /// Why history is missing, with its sources (`a: b: c`).
    fn chain(&self, e: &dyn std::error::Error) -> String {
        crate::error_chain(e)
    }

    fn band_icon(&self, band: impl AsRef<str>) -> &'static str {
        match band.as_ref() {
            "elite" => "★",
            "high" => "▲",
            "medium" => "●",
            _ => "▼",
        }
    }
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    chrome: Chrome,
    view: &'a StatusView,
    page: usize,
    pages: usize,
    /// Only the rows needing attention, filtered before paging (`?attention=true`).
    attention: bool,
    /// Rows on every page together (after the filter).
    total: usize,
    /// The page's matrix rows by namespaces.
    groups: Vec<Group<'a>>,
    /// The finding types present, for the type filter.
    types: Vec<&'static str>,
}

impl Helpers for StatusPage<'_> {}

impl StatusPage<'_> {
    /// The query of matrix page `page`, keeping the filter.
    fn page_query(&self, page: usize) -> String {
        if self.attention {
            format!("?attention=true&page={page}")
        } else {
            format!("?page={page}")
        }
    }
}

/// Rows that have the same namespaces, under one heading.
struct Group<'a> {
    /// The namespaces, space-separated (`data-namespace`).
    key: String,
    /// `namespace shop`, or `namespaces dev-ns · prod-ns` where environments are namespaces.
    heading: String,
    rows: Vec<&'a MatrixRow>,
}

/// Rows sorted by namespaces, cut where they change.
fn groups<'a>(rows: &[&'a MatrixRow]) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    for &row in rows {
        match out.last_mut() {
            Some(g) if g.rows[0].namespaces == row.namespaces => g.rows.push(row),
            _ => out.push(Group {
                key: row.namespaces.join(" "),
                heading: match row.namespaces.as_slice() {
                    [one] => format!("namespace {one}"),
                    many => format!("namespaces {}", many.join(" · ")),
                },
                rows: vec![row],
            }),
        }
    }
    out
}

fn status_page(view: &StatusView, chrome: Chrome, page: usize, attention: bool) -> String {
    // The standalone file has every row, and filters them in the browser.
    let p = if chrome.standalone {
        let rows: Vec<&MatrixRow> = view.matrix.rows.iter().collect();
        super::status::Page {
            total: rows.len(),
            rows,
            page: 1,
            pages: 1,
        }
    } else {
        view.page(page, attention)
    };
    let mut types: Vec<&'static str> = view.findings.iter().map(|f| f.kind.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    StatusPage {
        chrome,
        view,
        page: p.page,
        pages: p.pages,
        attention,
        total: p.total,
        groups: groups(&p.rows),
        types,
    }
    .render()
    .expect("the status page renders")
}

/// The daemon's status page, matrix page `page` (from 1; out of range: the nearest), of every
/// row or only of those needing attention.
pub fn render_page(view: &StatusView, page: usize, attention: bool) -> String {
    status_page(
        view,
        Chrome::daemon("Status", view.generation, "status"),
        page,
        attention,
    )
}

/// `--format html`: one self-contained file, every matrix row, no link to the daemon and
/// nothing loaded from the network.
pub fn render_standalone(view: &StatusView) -> String {
    status_page(view, Chrome::standalone("Status"), 1, false)
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    text: String,
}

impl Helpers for MessagePage {}

/// A page that only says something: no audit yet, an unknown workload, a store error.
pub fn render_message(title: &str, text: &str, generation: u64) -> String {
    MessagePage {
        chrome: Chrome::daemon(title, generation, ""),
        text: text.to_string(),
    }
    .render()
    .expect("the message page renders")
}

/// A workload's history, or why the store could not give it (the page writes the error with
/// its sources, as [`crate::error_chain`] does).
pub type History<'a> = Result<(Vec<DeploymentRow>, Vec<EpisodeRow>), &'a dyn std::error::Error>;

#[derive(Template)]
#[template(path = "workload.html")]
struct WorkloadPage<'a> {
    chrome: Chrome,
    view: &'a StatusView,
    workload: &'a str,
    rows: Vec<&'a MatrixRow>,
    findings: Vec<&'a FindingView>,
    history: History<'a>,
    /// The history's window, in words.
    window: String,
}

impl Helpers for WorkloadPage<'_> {}

/// The page of `workload` (`namespace/Kind/name`); `None` when the audit does not know it.
/// `window` says which history is shown (`the last 30 days`).
pub fn render_workload(view: &StatusView, workload: &str, history: History<'_>, window: &str) -> Option<String> {
    let rows = view.rows_of(workload);
    let findings = view.findings_of(workload);
    if rows.is_empty() && findings.is_empty() {
        return None;
    }
    Some(
        WorkloadPage {
            chrome: Chrome::daemon(workload, view.generation, ""),
            view,
            workload,
            rows,
            findings,
            history,
            window: window.to_string(),
        }
        .render()
        .expect("the workload page renders"),
    )
}

/// One DORA figure of an environment.
struct Metric {
    key: &'static str,
    name: &'static str,
    value: String,
    band: Option<&'static str>,
}

struct Bar {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    title: String,
}

struct Point {
    x: f64,
    y: f64,
    title: String,
}

/// An SVG chart's geometry: bars (deployments per week) or a line (lead time per week).
struct Chart {
    key: &'static str,
    id: String,
    title: String,
    width: f64,
    height: f64,
    left: f64,
    bottom: f64,
    max_label: String,
    first_label: String,
    last_label: String,
    bars: Vec<Bar>,
    points: Vec<Point>,
    /// `x,y x,y …` for the polyline; empty for a bar chart.
    line: String,
}

const CHART_W: f64 = 420.0;
const CHART_H: f64 = 140.0;
const LEFT: f64 = 36.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = CHART_H - 16.0;

fn chart_frame(key: &'static str, id: String, title: String, weeks: &[Week], max_label: String) -> Chart {
    let day = |w: Option<&Week>| w.map(|w| w.start.format("%Y-%m-%d").to_string()).unwrap_or_default();
    Chart {
        key,
        id,
        title,
        width: CHART_W,
        height: CHART_H,
        left: LEFT,
        bottom: BOTTOM,
        max_label,
        first_label: day(weeks.first()),
        last_label: format!("week of {}", day(weeks.last())),
        bars: Vec::new(),
        points: Vec::new(),
        line: String::new(),
    }
}

/// Deployments per week as bars, tallest at the top.
fn deployments_chart(weeks: &[Week], id: String) -> Chart {
    let max = weeks.iter().map(|w| w.deployments).max().unwrap_or(0).max(1);
    let slot = (CHART_W - LEFT) / weeks.len().max(1) as f64;
    let mut c = chart_frame(
        "deployments",
        id,
        format!("Deployments per week, last {} weeks", weeks.len()),
        weeks,
        max.to_string(),
    );
    c.bars = weeks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let h = (BOTTOM - TOP) * w.deployments as f64 / max as f64;
            Bar {
                x: round(LEFT + slot * i as f64 + slot * 0.15),
                y: round(BOTTOM - h),
                w: round(slot * 0.7),
                h: round(h),
                title: format!("week of {}: {} deployments", w.start.format("%Y-%m-%d"), w.deployments),
            }
        })
        .collect();
    c
}

/// The weekly median lead time as a line over the weeks that had promotions.
fn lead_time_chart(weeks: &[Week], id: String) -> Chart {
    let max = weeks
        .iter()
        .filter_map(|w| w.lead_time_median_seconds)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (CHART_W - LEFT) / weeks.len().max(1) as f64;
    let mut c = chart_frame(
        "lead-time",
        id,
        format!("Median lead time per week, last {} weeks", weeks.len()),
        weeks,
        human(max),
    );
    c.points = weeks
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let s = w.lead_time_median_seconds?;
            Some(Point {
                x: round(LEFT + slot * i as f64 + slot / 2.0),
                y: round(BOTTOM - (BOTTOM - TOP) * s as f64 / max as f64),
                title: format!("week of {}: median lead time {}", w.start.format("%Y-%m-%d"), human(s)),
            })
        })
        .collect();
    c.line = c
        .points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    c
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

struct PipelineEnv {
    name: String,
    metrics: Vec<Metric>,
    charts: Vec<Chart>,
    weeks: Vec<Week>,
}

#[derive(Template)]
#[template(path = "pipeline.html")]
struct PipelinePage<'a> {
    chrome: Chrome,
    dora: Result<Vec<PipelineEnv>, &'a dyn std::error::Error>,
    window: String,
    trend: usize,
}

impl Helpers for PipelinePage<'_> {}

fn stat(s: &Stat) -> String {
    match (s.median, s.p90) {
        (Some(m), Some(p)) => format!("median {}, p90 {} (n={})", human(m), human(p), s.samples),
        _ => "no data".into(),
    }
}

fn metrics(f: &Figures, days: i64) -> Vec<Metric> {
    let band = |b: Option<Band>| b.map(Band::as_str);
    vec![
        Metric {
            key: "deployment-frequency",
            name: "Deployment frequency",
            value: frequency(f, days),
            band: band(f.bands.deployment_frequency),
        },
        Metric {
            key: "lead-time",
            name: "Lead time for changes",
            value: stat(&f.lead_time_seconds),
            band: band(f.bands.lead_time),
        },
        Metric {
            key: "change-failure-rate",
            name: "Change failure rate",
            value: match f.change_failure_rate {
                Some(r) => format!("{:.1}% ({} of {})", r * 100.0, f.failed_deployments, f.deployments),
                None => "no data".into(),
            },
            band: band(f.bands.change_failure_rate),
        },
        Metric {
            key: "time-to-restore",
            name: "Time to restore",
            value: format!(
                "{}{}",
                stat(&f.time_to_restore_seconds),
                if f.unrestored_failures > 0 {
                    format!("; {} not restored", f.unrestored_failures)
                } else {
                    String::new()
                }
            ),
            band: band(f.bands.time_to_restore),
        },
    ]
}

/// Each environment's weeks, by name.
pub type Weekly = Vec<(String, Vec<Week>)>;

/// The pipeline page: DORA figures and bands per environment, and per environment the weekly
/// deployments and lead time (`weeks`, from [`super::status::weekly`]) as charts. `Err`: why
/// the store could not give them (written with its sources). `window` says which window is
/// shown.
pub fn render_pipeline(
    dora: Result<(&DoraReport, Weekly), &dyn std::error::Error>,
    window: &str,
    generation: u64,
) -> String {
    let dora = dora.map(|(report, mut weekly)| {
        report
            .environments
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let weeks = weekly
                    .iter_mut()
                    .find(|(n, _)| *n == e.name)
                    .map(|(_, w)| std::mem::take(w))
                    .unwrap_or_default();
                PipelineEnv {
                    name: e.name.clone(),
                    metrics: metrics(&e.figures, days(report)),
                    charts: vec![
                        deployments_chart(&weeks, format!("chart-{i}-deployments")),
                        lead_time_chart(&weeks, format!("chart-{i}-lead-time")),
                    ],
                    weeks,
                }
            })
            .collect()
    });
    PipelinePage {
        chrome: Chrome::daemon("Pipeline", generation, "pipeline"),
        dora,
        window: window.to_string(),
        trend: TREND,
    }
    .render()
    .expect("the pipeline page renders")
}

impl super::Report {
    /// `--format html`: the standalone status page, environments in `order` (see
    /// [`super::status::promotion_order`]).
    pub fn to_html(&self, order: &[String]) -> String {
        render_standalone(&StatusView::build(self, order))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::FindingType;
    use crate::core::report::status::fixtures::{D1, D2, D3, as_namespaces, finding, fleet, image, order, run};
    use crate::core::report::status::{DeploymentRow, EpisodeRow, PAGE_ROWS};

    const NAME: &str = "<script>alert(1)</script>";
    const IMAGE: &str = "\"><img src=x onerror=alert(1)>";
    const MESSAGE: &str = "fix: </details><script>alert('commit')</script>";

    /// A report whose workload name, image and messages are attacks on the page.
    fn hostile() -> StatusView {
        let mut r = fleet();
        let mut evil = run("evil", IMAGE, &[(D2, 1)], false);
        evil.workload = format!("shop/Deployment/{NAME}");
        evil.container = NAME.into();
        r.environments[0].runs.push(evil);
        let mut f = finding("production", NAME, FindingType::DigestDrift, Some(NAME), &[D2]);
        f.declared = Some(IMAGE.into());
        f.live_image = Some(IMAGE.into());
        f.message = MESSAGE.into();
        f.source = Some(MESSAGE.into());
        r.findings.push(f);
        r.gitops.url = MESSAGE.into();
        r.summarise();
        StatusView::build(&r, &order())
    }

    /// No markup from the data survives: the only script element is the page's own, and the
    /// attacks appear escaped.
    fn assert_escaped(html: &str) {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("</details><script"), "{html}");
        assert_eq!(html.matches("<script").count(), 1, "only the page's own script");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(
            html.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"),
            "{html}"
        );
    }

    #[test]
    fn data_is_escaped_in_the_daemon_page_and_the_standalone_file() {
        let v = hostile();
        assert_escaped(&render_page(&v, 1, false));
        assert_escaped(&render_standalone(&v));
    }

    #[test]
    fn data_is_escaped_in_the_workload_page_and_its_history() {
        let v = hostile();
        let workload = format!("shop/Deployment/{NAME}");
        let history = Ok((
            vec![DeploymentRow {
                environment: "production".into(),
                container: NAME.into(),
                digest: IMAGE.into(),
                short: IMAGE.into(),
                previous: None,
                kind: "promotion",
                started_at: v.started_at,
                completed_at: None,
                lead_time_seconds: None,
                commit: Some(MESSAGE.into()),
            }],
            vec![EpisodeRow {
                environment: "production".into(),
                container: Some(NAME.into()),
                finding_type: IMAGE.into(),
                fingerprint: MESSAGE.into(),
                first_seen: v.started_at,
                resolved_at: None,
                duration_seconds: None,
            }],
        ));
        let html = render_workload(&v, &workload, history, "the last 30 days").expect("a known workload");
        assert_escaped(&html);
        let why = std::io::Error::other(format!("store x: cannot read: {NAME}"));
        let error = render_workload(&v, &workload, Err(&why), "").expect("a known workload");
        assert_escaped(&error);
        assert!(error.contains("The history could not be read"));
        assert_eq!(
            render_workload(&v, "shop/Deployment/unknown", Ok((vec![], vec![])), ""),
            None
        );
    }

    #[test]
    fn links_to_a_workload_are_percent_encoded() {
        let v = hostile();
        let html = render_page(&v, 1, false);
        assert!(
            html.contains("href=\"/workloads/shop/Deployment/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""),
            "{html}"
        );
    }

    #[test]
    fn the_standalone_file_needs_no_network_and_allows_only_its_own_inline_code() {
        let html = render_standalone(&StatusView::build(&fleet(), &order()));
        // The markup, without the script (which names the daemon's poll, unused here) and the
        // audited repository's own URL.
        let markup = html.replace(JS, "").replace("https://git.example.com/infra.git", "");
        for forbidden in ["href=\"/", "src=\"", "http://", "https://", "/assets/", "data-poll"] {
            assert!(!markup.contains(forbidden), "{forbidden} in the standalone file");
        }
        let hash = |s: &str| base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()));
        assert!(html.contains(&format!("style-src &#39;sha256-{}&#39;", hash(CSS))));
        assert!(html.contains(&format!("script-src &#39;sha256-{}&#39;", hash(JS))));
        assert!(
            html.contains(&format!("<style>{CSS}</style>")),
            "the hashed text exactly"
        );
        assert!(html.contains(&format!("<script>{JS}</script>")));
        assert!(html.contains("id=\"filter-env\""), "filters work in the file too");
    }

    #[test]
    fn the_daemon_page_loads_its_assets_from_itself_and_has_no_inline_code() {
        let html = render_page(&StatusView::build(&fleet(), &order()), 1, false);
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/assets/driftwatch.css\">"));
        assert!(html.contains("<script src=\"/assets/driftwatch.js\" defer></script>"));
        assert!(!html.contains("<style"), "style-src 'self' forbids inline styles");
        assert!(!html.contains(" style=\""));
        assert!(
            !html.contains("Content-Security-Policy"),
            "the daemon sends it as a header"
        );
    }

    #[test]
    fn the_planted_drift_is_findable_by_data_attributes() {
        let html = render_page(&StatusView::build(&fleet(), &order()), 1, false);
        let row = html
            .split("<tr data-workload=\"shop/Deployment/api\" data-container=\"api\"")
            .nth(1)
            .expect("the api row");
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains("data-env=\"production\" data-state=\"drifting\" data-severity=\"warning\""),
            "{row}"
        );
        assert!(
            row.contains("✗</span> drifting"),
            "a word and a symbol, not colour alone"
        );
        assert!(html.contains(
            "id=\"finding-production-api-digest-drift\" data-env=\"production\" data-severity=\"warning\" data-type=\"digest-drift\""
        ));
        assert!(html.contains("data-ignored=\"true\""), "the accepted finding is marked");
        assert!(html.contains("canary under test, TICKET-7"));
    }

    #[test]
    fn the_matrix_shows_one_page_of_rows_with_links_to_the_others() {
        let mut r = fleet();
        r.environments[0].runs = (0..450)
            .map(|i| run(&format!("w{i:03}"), &image("w", D1), &[(D1, 1)], false))
            .collect();
        r.environments[0].declared.clear();
        let v = StatusView::build(&r, &order());
        let html = render_page(&v, 2, false);
        assert_eq!(html.matches("<tr data-workload=").count(), PAGE_ROWS);
        assert!(html.contains("href=\"?page=1#matrix\""));
        assert!(html.contains("href=\"?page=3#matrix\""));
        let all = render_standalone(&v);
        assert_eq!(
            all.matches("<tr data-workload=").count(),
            v.matrix.rows.len(),
            "the file holds every row"
        );
    }

    #[test]
    fn the_attention_filter_pages_the_rows_needing_attention_and_keeps_itself_in_the_links() {
        let mut r = fleet();
        r.environments[0].runs = (0..450)
            .map(|i| run(&format!("w{i:03}"), &image("w", D1), &[(D2, 1)], true))
            .collect();
        let v = StatusView::build(&r, &order());
        let cases = [
            // (attention, page, link it has, link it has not)
            (
                true,
                1,
                "href=\"?attention=true&#38;page=2#matrix\"",
                "href=\"?page=2#matrix\"",
            ),
            (false, 1, "href=\"?page=2#matrix\"", "attention=true&#38;page"),
        ];
        for (attention, page, has, has_not) in cases {
            let html = render_page(&v, page, attention);
            assert!(html.contains(has), "{attention}: {has}");
            assert!(!html.contains(has_not), "{attention}: {has_not}");
            assert_eq!(html.matches("<tr data-workload=").count(), PAGE_ROWS);
            assert_eq!(
                html.contains("name=\"attention\" value=\"true\" data-server=\"true\" checked"),
                attention
            );
        }
        let html = render_page(&v, 1, true);
        assert_eq!(html.matches("data-problem=\"false\"").count(), 0, "{html}");
    }

    #[test]
    fn cells_name_their_namespace_where_environments_are_namespaces_and_the_spec_image() {
        let mut r = as_namespaces(false);
        r.environments[0].runs[0].live_image = Some(image("api", D3));
        let html = render_page(&StatusView::build(&r, &order()), 1, false);
        assert!(html.contains("namespaces staging-ns · production-ns"), "{html}");
        let row = html
            .split("<tr data-workload=\"staging-ns/Deployment/api\" data-container=\"api\"")
            .nth(1)
            .expect("one api row");
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("in <code>staging-ns</code>"), "{row}");
        assert!(row.contains("in <code>production-ns</code>"), "{row}");
        assert!(
            row.contains("spec <span class=\"digest tone-2\">C</span> <code>sha256:333333333333</code>"),
            "{row}"
        );
        let shared = render_page(&StatusView::build(&fleet(), &order()), 1, false);
        assert!(
            !shared.contains("class=\"line namespace\""),
            "one namespace: not repeated in cells"
        );
    }

    #[test]
    fn the_pipeline_page_draws_weekly_charts_and_names_bands_in_words() {
        use crate::core::dora::{Options, Source, Window};
        let weeks: Vec<Week> = (0..4)
            .map(|i| Week {
                start: chrono::DateTime::from_timestamp(1_700_000_000 + i * 604_800, 0).unwrap(),
                deployments: i as usize * 2,
                lead_time_median_seconds: (i > 0).then_some(i * 3600),
            })
            .collect();
        let opts = Options {
            window: Window {
                since: weeks[0].start,
                until: weeks[3].start,
            },
            source: Source::Observed,
            failure_window: std::time::Duration::from_secs(86_400),
            environments: vec!["production".into()],
            chains: Default::default(),
        };
        let mut report = crate::core::dora::compute(&[], &[], &opts);
        let html = render_pipeline(Ok((&report, vec![("production".into(), weeks)])), "the last 4 weeks", 3);
        assert_eq!(html.matches("<rect class=\"bar\"").count(), 4);
        assert_eq!(
            html.matches("<circle class=\"point\"").count(),
            3,
            "weeks without promotions have no point"
        );
        assert!(html.contains("week of 2023-12-05: 6 deployments"), "{html}");
        assert!(
            !html.contains("data-band="),
            "no deployment is no data, not a band: {html}"
        );
        assert!(html.contains("<td>no data (no deployments in 21 days)</td>"), "{html}");
        report.environments[0].figures.bands.deployment_frequency = Some(Band::Low);
        let html = render_pipeline(Ok((&report, Vec::new())), "the last 4 weeks", 3);
        assert!(
            html.contains("data-band=\"low\"") && html.contains("▼ low"),
            "bands in words"
        );
        let why = std::io::Error::other("store s: cannot open: unreachable");
        let error = render_pipeline(Err(&why), "", 0);
        assert!(error.contains("The history could not be read: store s: cannot open: unreachable"));

        #[derive(Debug, thiserror::Error)]
        #[error("store s: cannot open")]
        struct Outer(#[source] std::io::Error);
        let why = Outer(std::io::Error::other("connection refused"));
        let error = render_pipeline(Err(&why), "", 0);
        assert!(
            error.contains("The history could not be read: store s: cannot open: connection refused"),
            "the error's sources are shown"
        );
    }
}
