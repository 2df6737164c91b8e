//! The small subcommands: `ignore --from-report` (a baseline of ignore rules), `notify-test`
//! (a test message per channel) and `declared` (what one environment declares). Each returns
//! its exit code; `cli` parses their flags and calls them.

use std::io::Write;

use clap::ValueEnum;

use crate::app::{audit, deliver};
use crate::config::Config;
use crate::core::report::{EXIT_CLEAN, EXIT_ERROR, GitopsInfo, Report};
use crate::sources;

/// `declared --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeclaredFormat {
    Text,
    Json,
}

/// `ignore --from-report`: the report's findings as ignore rules, printed as YAML.
pub fn ignore_baseline(report: &std::path::Path, reason: &str, expires: Option<chrono::NaiveDate>) -> u8 {
    #[derive(serde::Deserialize)]
    struct Findings {
        findings: Vec<crate::core::model::Finding>,
    }
    let parsed = std::fs::read_to_string(report)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            serde_json::from_str::<Findings>(&text).map_err(|e| format!("not a driftwatch.report/v1 JSON report: {e}"))
        });
    match parsed {
        Ok(r) => {
            let file = crate::core::ignore::baseline(&r.findings, reason, expires);
            print!(
                "# driftwatch ignore rules, generated from {}\n{}",
                report.display(),
                safe_yaml::to_string(&file)
            );
            EXIT_CLEAN
        }
        Err(e) => {
            eprintln!("error: {}: {e}", report.display());
            EXIT_ERROR
        }
    }
}

/// The names in `names` that no environment has, with the configured ones, as an error message.
pub fn unknown_envs(cfg: &Config, names: &[String]) -> Option<String> {
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !cfg.environments.iter().any(|e| &e.name == *n))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let known: Vec<&str> = cfg.environments.iter().map(|e| e.name.as_str()).collect();
    Some(format!(
        "unknown environment {} (configured: {})",
        unknown.join(", "),
        known.join(", ")
    ))
}

/// `notify-test`: one test message to each channel (or the one named).
pub async fn notify_test(cfg: &Config, channel: Option<&str>) -> u8 {
    let names: Vec<&str> = cfg.alerts.channels.iter().map(|c| c.name.as_str()).collect();
    if names.is_empty() {
        eprintln!("error: no alert channels are configured");
        return EXIT_ERROR;
    }
    if let Some(name) = channel.filter(|n| !names.contains(n)) {
        eprintln!("error: unknown channel {name} (configured: {})", names.join(", "));
        return EXIT_ERROR;
    }
    let now = chrono::Utc::now();
    let gitops = GitopsInfo {
        url: cfg.gitops.display_url(),
        commit: None,
    };
    let report = Report::new(now, now, gitops, Vec::new(), Vec::new());
    let mut code = EXIT_CLEAN;
    for (name, result) in deliver::test(cfg, &report, channel).await {
        match result {
            Ok(()) => println!("{name}: test message delivered"),
            Err(e) => {
                println!("{name}: failed: {e}");
                code = EXIT_ERROR;
            }
        }
    }
    code
}

/// `declared`: what `name` declares, rendered as an audit would.
pub async fn declared(cfg: &Config, name: &str, format: DeclaredFormat) -> u8 {
    let Some(env) = cfg.environments.iter().find(|e| e.name == name) else {
        eprintln!("error: {}", unknown_envs(cfg, &[name.to_string()]).unwrap_or_default());
        return EXIT_ERROR;
    };
    let renderer = sources::renderer(cfg, None);
    match audit::declared(cfg, &renderer, env).await {
        Ok((report, state)) => {
            let text = match format {
                DeclaredFormat::Text => report.to_text(),
                DeclaredFormat::Json => serde_json::to_string_pretty(&report).expect("serializes") + "\n",
            };
            let _ = std::io::stdout().write_all(text.as_bytes());
            for p in &state.problems {
                eprintln!("warning: {}: {}", p.file, p.reason);
            }
            EXIT_CLEAN
        }
        Err(e) => {
            eprintln!("error: environment {name}: {}", crate::error_chain(&e));
            EXIT_ERROR
        }
    }
}
