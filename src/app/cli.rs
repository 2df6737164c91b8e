//! The command line: `--once` (audit and report), `check-config`, `declared`. Each command
//! returns its exit code; `main` only parses and starts tracing.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use tokio_util::sync::CancellationToken;

use crate::alerts::deliver;
use crate::app::{audit, daemon, describe, status};
use crate::config::{Config, Overrides};
use crate::core::model::Severity;
use crate::core::report::{EXIT_CLEAN, EXIT_ERROR, GitopsInfo, Report};

#[derive(Debug, Parser)]
#[command(
    name = "driftwatch",
    version,
    about = "Catches deployment drift between a GitOps repository and live Kubernetes clusters"
)]
pub struct Cli {
    /// Configuration file (.toml, .yaml or .yml).
    #[arg(
        long,
        global = true,
        env = "DRIFTWATCH_CONFIG",
        default_value = "/etc/driftwatch/config.toml"
    )]
    pub config: PathBuf,

    /// Run one audit, print the report and exit: 0 clean, 1 drift at or above --fail-on,
    /// 2 an environment could not be audited (bad config, repo or cluster unreachable).
    #[arg(long)]
    pub once: bool,

    /// With --once: also alert (Slack, email, webhook, Alertmanager) through the alert state,
    /// as the daemon does. Without it, --once only prints and touches no alert state.
    #[arg(long, requires = "once")]
    pub notify: bool,

    /// Audit only this environment (repeatable; default all).
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// With --format text: keep every column in full (whole image references and digests,
    /// the live spec's image) instead of fitting 120 columns.
    #[arg(long)]
    pub wide: bool,

    /// Lowest severity that makes the exit code 1 (overrides audit.fail_on).
    #[arg(long, global = true, value_enum)]
    pub fail_on: Option<SeverityArg>,

    /// Log line format on stderr (overrides log_format; filter with RUST_LOG, e.g.
    /// RUST_LOG=driftwatch=debug).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: audit on the schedule, alert, serve /metrics, /healthz, /readyz,
    /// /report (the default without --once).
    Run,
    /// Load and validate the configuration, print what it resolves to (secrets never shown).
    CheckConfig,
    /// Send a clearly marked test message to every alert channel (or one), for setting up.
    NotifyTest {
        /// Only this channel (its `name`, or `slack-1`, `email-1`, …).
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
    },
    /// Print ignore rules (YAML) that accept every finding of a JSON report, as a starting
    /// baseline for `.driftwatch-ignore.yaml`. Needs no config.
    Ignore {
        /// A report written by `driftwatch --once --format json`.
        #[arg(long, value_name = "REPORT")]
        from_report: PathBuf,
        /// The reason written into every rule (edit them afterwards).
        #[arg(
            long,
            default_value = "baseline: accepted when driftwatch was introduced; replace with the real reason"
        )]
        reason: String,
        /// Expiry date (YYYY-MM-DD) written into every rule [default: 90 days from today].
        #[arg(long, value_name = "DATE", conflicts_with = "no_expiry")]
        expires: Option<chrono::NaiveDate>,
        /// Write rules that never expire (an accepted drift is then never looked at again).
        #[arg(long)]
        no_expiry: bool,
    },
    /// List the workloads and images git declares for one environment.
    Declared {
        #[arg(long = "env", value_name = "NAME")]
        env: String,
        #[arg(long, value_enum, default_value_t = DeclaredFormat::Text)]
        format: DeclaredFormat,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeclaredFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Info,
    Warning,
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr so that stdout carries only the report. `default` is the filter when
/// RUST_LOG is not set.
pub fn init_tracing(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(format == LogFormat::Text && colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR")))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Colour only for a person at a terminal: never into the journal, a file or a pipe, and never
/// when `NO_COLOR` is set to anything non-empty (no-color.org).
fn colour(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// How long a generated baseline accepts what it lists unless `--expires`/`--no-expiry` say
/// otherwise: long enough to work through, short enough that nothing is accepted forever.
const BASELINE_EXPIRY_DAYS: u64 = 90;

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    if let Some(Command::Ignore {
        from_report,
        reason,
        expires,
        no_expiry,
    }) = &cli.command
    {
        let expires = match (expires, no_expiry) {
            (_, true) => None,
            (Some(d), false) => Some(*d),
            (None, false) => Some(chrono::Utc::now().date_naive() + chrono::Days::new(BASELINE_EXPIRY_DAYS)),
        };
        return ignore_baseline(from_report, reason, expires);
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let overrides = Overrides {
        fail_on: cli.fail_on.map(Into::into),
    };
    let cfg = match Config::load(&cli.config, &env, &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let daemon_mode = matches!(cli.command, Some(Command::Run)) || (cli.command.is_none() && !cli.once);
    let format = cli.log_format.unwrap_or(match cfg.log_format {
        crate::config::LogFormat::Text => LogFormat::Text,
        crate::config::LogFormat::Json => LogFormat::Json,
    });
    // tokio-cron-scheduler logs every job it adds at info, i.e. every fire of the schedule.
    init_tracing(
        format,
        if daemon_mode {
            "info,tokio_cron_scheduler=warn"
        } else {
            "warn"
        },
    );
    if daemon_mode {
        let source = daemon::ConfigSource {
            path: cli.config.clone(),
            env,
            overrides,
        };
        return run_daemon(cfg, source).await;
    }
    match &cli.command {
        Some(Command::CheckConfig) => {
            print!("{}", describe::describe(&cfg));
            EXIT_CLEAN
        }
        Some(Command::Declared { env, format }) => declared(&cfg, env, *format).await,
        Some(Command::NotifyTest { channel }) => notify_test(&cfg, channel.as_deref()).await,
        Some(Command::Run | Command::Ignore { .. }) | None => once(&cfg, &cli).await,
    }
}

/// The daemon, with SIGTERM/SIGINT as shutdown (a second one exits at once) and SIGHUP as
/// reload.
async fn run_daemon(cfg: Config, source: daemon::ConfigSource) -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    let shutdown = CancellationToken::new();
    let (reload, reloads) = status::reload_channel();
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    );
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = signals else {
        eprintln!("error: cannot install signal handlers");
        return EXIT_ERROR;
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading the config");
                    reload.request();
                    continue;
                }
            }
            if stop.is_cancelled() {
                tracing::warn!("second signal: exiting now");
                std::process::exit(i32::from(EXIT_ERROR));
            }
            tracing::info!("signal received: shutting down (send it again to exit at once)");
            stop.cancel();
        }
    });
    // Bound here, not in the daemon, so that tests can hand the daemon a listener on port 0.
    let listener = match tokio::net::TcpListener::bind(cfg.server.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("server.listen {}: cannot listen: {e}", cfg.server.listen);
            return EXIT_ERROR;
        }
    };
    match daemon::run(cfg, source, reloads, listener, shutdown).await {
        Ok(()) => EXIT_CLEAN,
        Err(e) => {
            tracing::error!("{e:#}");
            EXIT_ERROR
        }
    }
}

fn ignore_baseline(report: &std::path::Path, reason: &str, expires: Option<chrono::NaiveDate>) -> u8 {
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
                crate::core::yaml::to_string(&file)
            );
            EXIT_CLEAN
        }
        Err(e) => {
            eprintln!("error: {}: {e}", report.display());
            EXIT_ERROR
        }
    }
}

fn unknown_envs(cfg: &Config, names: &[String]) -> Option<String> {
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

async fn once(cfg: &Config, cli: &Cli) -> u8 {
    if let Some(msg) = unknown_envs(cfg, &cli.envs) {
        eprintln!("error: {msg}");
        return EXIT_ERROR;
    }
    let sources = crate::sources::Sources::new(cfg).await;
    let report = audit::run(cfg, &sources, &cli.envs).await;
    let text = match cli.format {
        Format::Text if cli.wide => report.to_text_wide(),
        Format::Text => report.to_text(),
        Format::Json => report.to_json() + "\n",
        Format::Markdown => report.to_markdown(),
    };
    // A closed pipe (`driftwatch --once | head`) is not an audit error.
    let _ = std::io::stdout().write_all(text.as_bytes());
    let code = report.exit_code(cfg.audit.fail_on);
    if !cli.notify {
        return code;
    }
    if cfg.alerts.channels.is_empty() {
        eprintln!("warning: --notify: no alert channels are configured ([[alerts.slack]], [[alerts.email]], …)");
    }
    match deliver::notify(cfg, &report, chrono::Utc::now()).await {
        Ok(outcome) => {
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
            for e in &outcome.failed {
                eprintln!("error: {e} (owed again on the next run)");
            }
            if outcome.failed.is_empty() { code } else { EXIT_ERROR }
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}

async fn notify_test(cfg: &Config, channel: Option<&str>) -> u8 {
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

async fn declared(cfg: &Config, name: &str, format: DeclaredFormat) -> u8 {
    let Some(env) = cfg.environments.iter().find(|e| e.name == name) else {
        eprintln!("error: {}", unknown_envs(cfg, &[name.to_string()]).unwrap_or_default());
        return EXIT_ERROR;
    };
    match audit::declared(cfg, env).await {
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
            eprintln!("error: environment {name}: {e}");
            EXIT_ERROR
        }
    }
}
