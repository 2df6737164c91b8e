//! Alerts end to end with the real binary: HTTP receivers standing in for Slack, a webhook
//! receiver and Alertmanager, and a real SMTP server (STARTTLS or implicit TLS, with AUTH).
//! Every run is a new process, so "no duplicate" is also "no duplicate after a restart".

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde_json::Value;
use support::config::ConfigBuilder;
use support::fixtures::{D1, D2, D3, REPO, deployment, deployment_yaml, list, pod};
use support::net::listen;
use support::receiver::Receiver;
use support::run::{Output, driftwatch, finding, findings};
use support::smtp::SmtpServer;
use support::write;

const SLACK_SECRET: &str = "https-hooks-slack-secret-T0-B0-XYZ";
const SMTP_PASSWORD: &str = "smtp-pa55-do-not-print";
const HOOK_TOKEN: &str = "hook-bearer-do-not-print";
const HMAC_SECRET: &str = "hmac-key-do-not-print";

struct Setup {
    dir: tempfile::TempDir,
    receiver: Receiver,
    smtp: SmtpServer,
    cfg: PathBuf,
}

/// Git declares shop/api and shop/web at D1; the cluster runs web at D1 and api at `api_runs`.
fn cluster(dir: &Path, api_runs: &str) {
    let (api, api_rs) = deployment("shop", "api", &[("api", &format!("{REPO}@{D1}"))], 2);
    let (web, web_rs) = deployment("shop", "web", &[("web", &format!("{REPO}-web@{D1}"))], 1);
    let pods = vec![
        pod(&api_rs, "a", &[("api", &format!("{REPO}@{api_runs}"))]),
        pod(&api_rs, "b", &[("api", &format!("{REPO}@{api_runs}"))]),
        pod(&web_rs, "w", &[("web", &format!("{REPO}-web@{D1}"))]),
    ];
    write(
        &dir.join("cluster.json"),
        &list([vec![api, api_rs, web, web_rs], pods].concat()),
    );
}

fn setup(smtp_mode: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
    );
    write(
        &dir.path().join("gitops/apps/web/production/deploy.yaml"),
        &deployment_yaml("web", "shop", &format!("{REPO}-web@{D1}")),
    );
    cluster(dir.path(), D2);
    let receiver = Receiver::start();
    let smtp = SmtpServer::start(dir.path(), smtp_mode, "driftwatch", SMTP_PASSWORD);
    let cfg = config(dir.path(), &receiver, &smtp, smtp_mode, "SMTP_PASSWORD").write();
    Setup {
        dir,
        receiver,
        smtp,
        cfg,
    }
}

/// Every channel (Slack, email over `smtp_mode` with its password in `password_env`, a
/// webhook, Alertmanager) for production, whose cluster is the snapshot `cluster.json`.
fn config(dir: &Path, receiver: &Receiver, smtp: &SmtpServer, smtp_mode: &str, password_env: &str) -> ConfigBuilder {
    let tls = if smtp_mode == "starttls" { "starttls" } else { "tls" };
    ConfigBuilder::new(dir)
        .gitops(|g| g.path("gitops"))
        .state(|s| s.path("state/alerts.json"))
        .alerts(|a| {
            a.renotify_after("24h")
                .backoff("10ms")
                .backoff_max("40ms")
                .timeout("5s")
        })
        .slack(|s| {
            s.webhook_url_env("SLACK_WEBHOOK_URL")
                .environments(&["production"])
                .min_severity("warning")
        })
        .email(|e| {
            e.smtp_host("127.0.0.1")
                .smtp_port(smtp.port.into())
                .tls(tls)
                .ca_file(&smtp.cert)
                .username("driftwatch")
                .password_env(password_env)
                .from("driftwatch@example.com")
                .to(&["sre@example.com", "oncall@example.com"])
        })
        .webhook(|w| {
            w.url(&receiver.url("/hook"))
                .bearer_token_env("DRIFT_HOOK_TOKEN")
                .hmac_secret_env("DRIFT_HOOK_SECRET")
        })
        .alertmanager(|a| a.url(&receiver.url("/am")))
        .environment("production", |e| {
            e.paths(&["apps/*/production"])
                .cluster_name("prod-eu1")
                .snapshot("cluster.json")
        })
}
impl Setup {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "SLACK_WEBHOOK_URL",
                format!("{}?token={SLACK_SECRET}", self.receiver.url("/slack")),
            ),
            ("SMTP_PASSWORD", SMTP_PASSWORD.into()),
            ("DRIFT_HOOK_TOKEN", HOOK_TOKEN.into()),
            ("DRIFT_HOOK_SECRET", HMAC_SECRET.into()),
        ]
    }

    fn run(&self, args: &[&str]) -> Output {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut all = args.to_vec();
        all.extend(["--config", self.cfg.to_str().unwrap()]);
        let out = driftwatch(self.dir.path(), &all, &env);
        for secret in [SLACK_SECRET, SMTP_PASSWORD, HOOK_TOKEN, HMAC_SECRET] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "secret {secret} printed:\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
        out
    }

    fn notify(&self) -> Output {
        self.run(&["--once", "--notify", "--format", "json"])
    }

    /// (slack, email, webhook, alertmanager) messages received so far.
    fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.receiver.received("/slack").len(),
            self.smtp.mails().len(),
            self.receiver.received("/hook").len(),
            self.receiver.received("/am/api/v2/alerts").len(),
        )
    }
}

fn slack_text(msg: &Value) -> String {
    msg["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn one_alert_per_channel_no_repeats_across_restarts_and_one_resolved_notice() {
    let s = setup("starttls");
    let out = s.notify();
    assert_eq!(out.code, 1, "drift exits 1 with --notify too\n{}", out.stderr);
    assert_eq!(s.counts(), (1, 1, 1, 1));

    first_slack_message(&s);
    first_webhook_call(&s);
    first_alertmanager_alert(&s);
    first_email(&s);

    // Three more runs, each a new process: nothing repeated (Alertmanager is re-sent every run
    // by design: it expires alerts that are not refreshed and de-duplicates itself).
    for run in 2..=4 {
        assert_eq!(s.notify().code, 1);
        assert_eq!(s.counts(), (1, 1, 1, run), "run {run}");
    }

    // Resolved: one notice on each channel, Alertmanager's alert ends.
    cluster(s.dir.path(), D1);
    assert_eq!(s.notify().code, 0);
    assert_eq!(s.counts(), (2, 2, 2, 5));
    assert!(slack_text(&s.receiver.received("/slack")[1].json()).contains("resolved"));
    assert!(
        s.smtp.mails()[1]
            .raw
            .contains("Subject: [driftwatch] production: 1 resolved")
    );
    let am = s.receiver.received("/am/api/v2/alerts")[4].json();
    let ends = chrono::DateTime::parse_from_rfc3339(am[0]["endsAt"].as_str().unwrap()).unwrap();
    assert!(ends <= chrono::Utc::now(), "resolved alert ends now, not in the future");

    assert_eq!(s.notify().code, 0);
    assert_eq!(s.counts(), (2, 2, 2, 5), "nothing more once resolved");
}

/// A hand `kubectl set image api=…:hotfix-1` whose Pods still run the declared digest: every
/// channel shows the live `:hotfix-1` reference, the headline counts the drift by severity,
/// and the resolved notice says how long it lasted.
#[test]
fn a_hand_set_image_shows_the_live_reference_and_the_resolved_notice_how_long_it_lasted() {
    let s = setup("starttls");
    let hotfix = format!("{REPO}:hotfix-1");
    let (api, api_rs) = deployment("shop", "api", &[("api", &hotfix)], 1);
    let (web, web_rs) = deployment("shop", "web", &[("web", &format!("{REPO}-web@{D1}"))], 1);
    let pods = vec![
        pod(&api_rs, "a", &[("api", &format!("{REPO}@{D1}"))]),
        pod(&web_rs, "w", &[("web", &format!("{REPO}-web@{D1}"))]),
    ];
    write(
        &s.dir.path().join("cluster.json"),
        &list([vec![api, api_rs, web, web_rs], pods].concat()),
    );
    let out = s.notify();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["findings"][0]["type"], "spec-drift");
    assert_eq!(report["findings"][0]["live_image"], hotfix.as_str());

    let slack = s.receiver.received("/slack")[0].json();
    assert_eq!(
        slack["text"], "production: 1 critical drift",
        "the phone's notification"
    );
    assert_eq!(slack["blocks"][0]["text"]["text"], "production: 1 critical drift");
    let text = slack_text(&slack);
    assert!(text.contains(&format!("live spec `{hotfix}`")), "{text}");
    assert!(text.contains("production: cluster prod-eu1, commit "), "{text}");
    assert!(
        !text.contains(&format!("running `sha256:{}", &D1[7..19])),
        "the declared digest as 'running' reads as no drift: {text}"
    );
    let mail = &s.smtp.mails()[0];
    assert!(
        mail.raw.contains("Subject: [driftwatch] production: 1 critical drift"),
        "{}",
        mail.raw
    );
    let am = s.receiver.received("/am/api/v2/alerts")[0].json();
    assert_eq!(am[0]["annotations"]["live_image"], hotfix.as_str());
    assert!(
        am[0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("live spec {hotfix}")),
        "{am}"
    );

    // Someone rolls the hand change back: the resolved notice says what it was and how long.
    cluster(s.dir.path(), D1);
    assert_eq!(s.notify().code, 0);
    let resolved = s.receiver.received("/slack")[1].json();
    assert_eq!(resolved["text"], "production: 1 resolved");
    let text = slack_text(&resolved);
    assert!(text.contains("spec-drift"), "{text}");
    assert!(text.contains(", lasted "), "{text}");
    assert!(text.contains("(first seen "), "{text}");
    assert!(text.contains(&format!("live spec was: {hotfix}")), "{text}");
}

#[test]
fn slack_429_and_500_are_retried_400_is_not_and_a_failed_channel_is_owed_next_run() {
    let s = setup("starttls");
    s.receiver.script("/slack", &[(429, Some(1)), (500, None)]);
    assert_eq!(s.notify().code, 1);
    assert_eq!(
        s.receiver.received("/slack").len(),
        3,
        "429 (after Retry-After), 500, then delivered"
    );
    assert_eq!(s.counts().1, 1);

    // A new drift while Slack rejects with 400: not retried, the others still deliver.
    cluster(s.dir.path(), D3);
    s.receiver.down("/slack", Some(400));
    let out = s.notify();
    assert_eq!(out.code, 2, "a failed channel is an operational error");
    assert!(
        out.stderr.contains("channel slack-1: HTTP 400") && out.stderr.contains("owed again on the next run"),
        "{}",
        out.stderr
    );
    assert_eq!(s.receiver.received("/slack").len(), 4, "400 is not retried");
    assert_eq!(
        (s.counts().1, s.counts().2),
        (2, 2),
        "email and webhook: one message with the new D3 drift and D2 resolved"
    );

    // Slack is back: it gets what it is owed; the others get nothing new.
    s.receiver.down("/slack", None);
    assert_eq!(s.notify().code, 1);
    let last = s.receiver.received("/slack").last().unwrap().json();
    let text = slack_text(&last);
    assert!(
        text.contains("sha256:333333333333") && text.contains("resolved"),
        "owed: the new drift and the resolution: {text}"
    );
    assert_eq!((s.counts().1, s.counts().2), (2, 2));
}

#[test]
fn an_audit_error_is_one_alert_and_one_recovery() {
    let s = setup("starttls");
    std::fs::rename(s.dir.path().join("cluster.json"), s.dir.path().join("cluster.json.bak")).unwrap();
    assert_eq!(s.notify().code, 2);
    assert_eq!(s.receiver.received("/slack").len(), 1);
    assert!(slack_text(&s.receiver.received("/slack")[0].json()).contains("audit-error"));
    assert_eq!(s.notify().code, 2);
    assert_eq!(
        s.receiver.received("/slack").len(),
        1,
        "the outage is not re-announced every run"
    );
    std::fs::rename(s.dir.path().join("cluster.json.bak"), s.dir.path().join("cluster.json")).unwrap();
    assert_eq!(s.notify().code, 1);
    let text = slack_text(&s.receiver.received("/slack")[1].json());
    assert!(
        text.contains("audit-error") && text.contains("resolved") && text.contains("digest-drift"),
        "{text}"
    );
}

#[test]
fn corrupt_state_is_moved_aside_and_the_run_goes_on() {
    let s = setup("starttls");
    write(
        &s.dir.path().join("state/alerts.json"),
        "{\"version\": 1, \"alerts\": {\"x\": ",
    );
    let out = s.notify();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("was corrupt") && out.stderr.contains("moved it to"),
        "{}",
        out.stderr
    );
    let aside: Vec<_> = std::fs::read_dir(s.dir.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(aside.iter().any(|n| n.starts_with("alerts.json.corrupt-")), "{aside:?}");
    assert_eq!(s.counts().0, 1, "alerts still delivered");
}

#[test]
fn an_unreadable_state_file_stops_every_drift_notice() {
    let s = setup("starttls");
    std::fs::create_dir_all(s.dir.path().join("state/alerts.json")).unwrap();
    let out = s.notify();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("state file") && out.stderr.contains("state/alerts.json: cannot read"),
        "{}",
        out.stderr
    );
    // Its alerts cannot be moved into the store: nothing about drift is sent (it could have
    // been sent before), only the one alert saying why, naming the file.
    let hooks = s.receiver.received("/hook");
    assert_eq!(hooks.len(), 1);
    let text = String::from_utf8_lossy(&hooks[0].body);
    assert!(
        text.contains("state/alerts.json: cannot read") && !text.contains("digest-drift"),
        "{text}"
    );
}

#[test]
fn once_without_notify_sends_nothing_and_keeps_no_state() {
    let s = setup("starttls");
    assert_eq!(s.run(&["--once"]).code, 1);
    assert_eq!(s.counts(), (0, 0, 0, 0));
    assert!(!s.dir.path().join("state").exists());
}

#[test]
fn notify_test_reaches_every_channel_over_implicit_tls_email() {
    let s = setup("tls");
    let out = s.run(&["notify-test"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for name in ["slack-1", "email-1", "webhook-1", "alertmanager-1"] {
        assert!(
            out.stdout.contains(&format!("{name}: test message delivered")),
            "{}",
            out.stdout
        );
    }
    assert_eq!(s.counts(), (1, 1, 1, 1));
    assert!(slack_text(&s.receiver.received("/slack")[0].json()).contains("test message"));
    assert!(s.smtp.mails()[0].raw.contains("Subject: [driftwatch] test message"));
    assert_eq!(s.receiver.received("/hook")[0].json()["test"], true);
    assert!(!s.dir.path().join("state").exists(), "a test touches no alert state");

    let out = s.run(&["notify-test", "--channel", "email-1"]);
    assert_eq!((out.code, s.counts()), (0, (1, 2, 1, 1)));
    let out = s.run(&["notify-test", "--channel", "pager"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unknown channel pager (configured: slack-1, email-1, webhook-1, alertmanager-1)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_wrong_smtp_password_fails_that_channel_only() {
    let s = setup("starttls");
    config(s.dir.path(), &s.receiver, &s.smtp, "starttls", "WRONG_PASSWORD").write();
    let mut env = s.env();
    env.push(("WRONG_PASSWORD", "nope-not-it".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = driftwatch(
        s.dir.path(),
        &["--once", "--notify", "--config", s.cfg.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("channel email-1: SMTP 127.0.0.1"), "{}", out.stderr);
    assert!(!out.stderr.contains("nope-not-it"));
    assert_eq!(s.counts(), (1, 0, 1, 1));
}

#[test]
fn an_smtp_server_that_stops_answering_times_out_instead_of_hanging() {
    // Greets, answers EHLO, then never answers AUTH: the run must end within the timeout.
    let listener = listen();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            stream.write_all(b"220 silent.example ESMTP\r\n").unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.to_ascii_uppercase().starts_with("EHLO") {
                    stream
                        .write_all(b"250-silent.example\r\n250 AUTH PLAIN LOGIN\r\n")
                        .unwrap();
                }
                line.clear();
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("gitops/apps/api/production/deploy.yaml"),
        &deployment_yaml("api", "shop", &format!("{REPO}@{D1}")),
    );
    cluster(dir.path(), D2);
    let cfg = ConfigBuilder::at(&dir.path().join("c.toml"))
        .gitops(|g| g.path("gitops"))
        .state(|s| s.path("state.json"))
        .alerts(|a| a.timeout("1s").max_attempts(2).backoff("10ms"))
        .email(|e| {
            e.smtp_host("127.0.0.1")
                .smtp_port(port.into())
                .tls("none")
                .username("u")
                .password_env("PW")
                .from("a@example.com")
                .to(&["b@example.com"])
        })
        .environment("production", |e| {
            e.paths(&["apps/*/production"]).snapshot("cluster.json")
        })
        .write();
    let out = driftwatch(
        dir.path(),
        &["--once", "--notify", "--config", cfg.to_str().unwrap()],
        &[("PW", "pw")],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!(
            "channel email-1: gave up after 2 attempts: SMTP 127.0.0.1:{port}: no answer within 1s"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn five_hundred_findings_make_one_slack_message_slack_accepts() {
    let s = setup("starttls");
    let mut objects = Vec::new();
    for i in 0..500 {
        let name = format!("svc-{i:03}");
        write(
            &s.dir.path().join(format!("gitops/apps/{name}/production/deploy.yaml")),
            &deployment_yaml(&name, "shop", &format!("{REPO}-{i}@{D1}")),
        );
        let (d, rs) = deployment("shop", &name, &[(name.as_str(), &format!("{REPO}-{i}@{D1}"))], 1);
        objects.push(pod(&rs, "p", &[(name.as_str(), &format!("{REPO}-{i}@{D2}"))]));
        objects.extend([d, rs]);
    }
    write(&s.dir.path().join("cluster.json"), &list(objects));
    assert_eq!(s.notify().code, 1);
    let slack = s.receiver.received("/slack");
    assert_eq!(slack.len(), 1, "one message, not 500");
    let msg = slack[0].json();
    let blocks = msg["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    assert!(
        blocks
            .iter()
            .all(|b| b["text"]["text"].as_str().is_none_or(|t| t.chars().count() <= 3000))
    );
    let summary = blocks
        .iter()
        .filter_map(|b| b["elements"][0]["text"].as_str())
        .filter(|t| t.starts_with("and "))
        .collect::<Vec<_>>();
    // 502 alerts (the 500 drifts, and api and web now missing): header, cluster and commit
    // context, environment heading, 46 alerts and the summary line make exactly 50 blocks.
    assert_eq!(blocks.len(), 50);
    assert_eq!(summary, vec!["and 456 more alerts in production"]);
}

/// The first drift on Slack: Block Kit, the finding with what a responder needs.
fn first_slack_message(s: &Setup) {
    // Slack: Block Kit, the finding with what a responder needs.
    let slack = s.receiver.received("/slack")[0].json();
    let text = slack_text(&slack);
    assert!(slack["blocks"].as_array().unwrap().len() <= 50);
    for needle in [
        "digest-drift",
        "shop/Deployment/api container api",
        "since ",
        "sha256:111111111111",
        "sha256:222222222222 ×2",
        "apps/api/production",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
}

/// The first drift on the webhook: the report schema, bearer token, verifiable HMAC of the exact body.
fn first_webhook_call(s: &Setup) {
    // Webhook: the report schema, bearer token, verifiable HMAC of the exact body.
    let hook = &s.receiver.received("/hook")[0];
    assert_eq!(hook.headers["authorization"], format!("Bearer {HOOK_TOKEN}"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HMAC_SECRET.as_bytes()).unwrap();
    mac.update(&hook.body);
    assert_eq!(
        hook.headers["x-driftwatch-signature"],
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    let body = hook.json();
    assert_eq!(body["schema"], "driftwatch.report/v1");
    assert_eq!(findings(&body), vec![finding("digest-drift", "shop/api", "api")]);
    assert_eq!(body["alerts"][0]["event"], "firing");
}

/// The first drift in Alertmanager: one alert with the labels teams route on.
fn first_alertmanager_alert(s: &Setup) {
    // Alertmanager: one alert with the labels teams route on.
    let am = s.receiver.received("/am/api/v2/alerts")[0].json();
    let labels = &am[0]["labels"];
    assert_eq!(
        (
            labels["environment"].as_str(),
            labels["namespace"].as_str(),
            labels["workload"].as_str()
        ),
        (Some("production"), Some("shop"), Some("api"))
    );
    assert_eq!(
        (
            labels["container"].as_str(),
            labels["type"].as_str(),
            labels["severity"].as_str()
        ),
        (Some("api"), Some("digest-drift"), Some("critical"))
    );
}

/// The first drift by email: over STARTTLS with AUTH, to both recipients, subject, both parts, no secret.
fn first_email(s: &Setup) {
    // Email: over STARTTLS with AUTH, to both recipients, subject, both parts, no secret.
    let mail = &s.smtp.mails()[0];
    assert_eq!(
        mail.envelope["rcpt_tos"],
        serde_json::json!(["sre@example.com", "oncall@example.com"])
    );
    assert_eq!(
        (mail.envelope["tls"].as_bool(), mail.envelope["auth"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(
        mail.raw.contains("Subject: [driftwatch] production: 1 critical drift"),
        "{}",
        mail.raw
    );
    assert!(
        mail.raw.contains("Content-Type: multipart/alternative")
            && mail.raw.contains("text/plain")
            && mail.raw.contains("text/html")
    );
    assert!(!mail.raw.contains(SMTP_PASSWORD) && !mail.raw.contains(HMAC_SECRET));
}
