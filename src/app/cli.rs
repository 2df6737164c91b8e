//! The command line: `--once` (audit and report), `check-config`, `declared`. Each command
//! returns its exit code; `main` only parses and starts tracing.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use tokio_util::sync::CancellationToken;

use crate::alerts::deliver;
use crate::app::{audit, daemon};
use crate::config::{ChannelKind, ClusterSource, Config, GitopsConfig, Overrides};
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
        /// Expiry date (YYYY-MM-DD) written into every rule.
        #[arg(long, value_name = "DATE")]
        expires: Option<chrono::NaiveDate>,
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
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    if let Some(Command::Ignore {
        from_report,
        reason,
        expires,
    }) = &cli.command
    {
        return ignore_baseline(from_report, reason, *expires);
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
    init_tracing(format, if daemon_mode { "info" } else { "warn" });
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
            print!("{}", describe(&cfg));
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
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
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
                    let _ = reload_tx.try_send(());
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
    match daemon::run(cfg, source, shutdown, reload_rx).await {
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

/// The resolved configuration, for `check-config`. Secrets show only whether they are set.
fn describe(cfg: &Config) -> String {
    let mut out = format!("config {}: ok\n", cfg.origin);
    match &cfg.gitops {
        GitopsConfig::Remote {
            url,
            reference,
            auth,
            cache_dir,
        } => {
            out.push_str(&format!(
                "gitops: {} ({reference:?}), cache {}\n",
                crate::config::redact_url(url),
                cache_dir.display()
            ));
            out.push_str(&format!(
                "  auth: token {}, ssh key {}\n",
                if auth.token.is_some() { "set" } else { "not set" },
                auth.ssh_key
                    .as_ref()
                    .map_or("not set".to_string(), |p| p.display().to_string())
            ));
        }
        GitopsConfig::Local { path } => out.push_str(&format!("gitops: local directory {}\n", path.display())),
    }
    let a = &cfg.audit;
    out.push_str(&format!(
        "audit: fail_on {}, rollout_grace {}, kube_timeout {}, page_size {}, max_concurrent_environments {}\n",
        a.fail_on,
        humantime::format_duration(a.rollout_grace),
        humantime::format_duration(a.kube_timeout),
        a.page_size,
        a.max_concurrent_environments
    ));
    for e in &cfg.environments {
        let source = match &e.cluster.source {
            ClusterSource::Kubeconfig { path, context } => format!(
                "kubeconfig {} context {}",
                path.as_ref()
                    .map_or("(default)".to_string(), |p| p.display().to_string()),
                context.as_deref().unwrap_or("(current)")
            ),
            ClusterSource::InCluster => "in-cluster".to_string(),
            ClusterSource::Snapshot(p) => format!("snapshot {}", p.display()),
        };
        let namespaces = if e.cluster.namespaces.is_empty() {
            "all".to_string()
        } else {
            e.cluster.namespaces.join(", ")
        };
        out.push_str(&format!(
            "environment {}: paths {} ({:?}), cluster {} via {source}, namespaces {namespaces}, require_digest {}\n",
            e.name,
            e.paths.join(", "),
            e.renderer,
            e.cluster.name,
            e.require_digest
        ));
    }
    for r in &cfg.registries {
        out.push_str(&format!(
            "registry {}: credentials {}{}\n",
            r.host,
            if r.credentials.is_some() {
                "set"
            } else {
                "none (anonymous)"
            },
            if r.insecure { ", plain http" } else { "" }
        ));
    }
    for e in cfg
        .environments
        .iter()
        .filter(|e| !e.allowed_sources.is_empty() || e.promoted_from.is_some() || e.compare_secrets)
    {
        let sources = if e.allowed_sources.is_empty() {
            "any".to_string()
        } else {
            e.allowed_sources.join(", ")
        };
        let promoted = e.promoted_from.as_ref().map_or("-".to_string(), |(from, depth)| {
            format!("{from} (last {depth} commits)")
        });
        out.push_str(&format!(
            "policy {}: allowed_sources {sources}, promoted_from {promoted}, compare_secrets {}\n",
            e.name, e.compare_secrets
        ));
    }
    let sc = &cfg.schedule;
    let next = crate::app::schedule::next_fire(sc, chrono::Utc::now())
        .map_or("never".to_string(), crate::core::report::timestamp);
    out.push_str(&format!(
        "schedule: cron {:?} ({}), next run {next}, run_on_start {}, audit_timeout {}, shutdown_grace {}\n",
        sc.cron,
        sc.timezone,
        sc.run_on_start,
        humantime::format_duration(sc.audit_timeout),
        humantime::format_duration(sc.shutdown_grace)
    ));
    out.push_str(&format!("server: listen {}\n", cfg.server.listen));
    match &cfg.ha {
        None => out.push_str("ha: disabled\n"),
        Some(ha) => out.push_str(&format!(
            "ha: lease {}/{} as {}, lease_duration {}, renew_interval {}\n",
            ha.lease_namespace,
            ha.lease_name,
            ha.identity,
            humantime::format_duration(ha.lease_duration),
            humantime::format_duration(ha.renew_interval)
        )),
    }
    out.push_str(&format!(
        "alerts: state {}, renotify_after {}, send_resolved {}\n",
        cfg.state.path.display(),
        humantime::format_duration(cfg.alerts.renotify_after),
        cfg.alerts.send_resolved
    ));
    for c in &cfg.alerts.channels {
        let envs = c.environments.as_ref().map_or("all".to_string(), |e| e.join(", "));
        let target = match &c.kind {
            ChannelKind::Slack { .. } => "webhook URL set".to_string(),
            ChannelKind::Email(e) => format!("{}:{} ({:?}) to {}", e.host, e.port, e.tls, e.to.join(", ")),
            ChannelKind::Webhook { url, hmac_secret, .. } => {
                format!(
                    "{} (hmac {})",
                    crate::config::redact_url(url),
                    if hmac_secret.is_some() { "set" } else { "not set" }
                )
            }
            ChannelKind::Alertmanager { url, .. } => crate::config::redact_url(url),
        };
        out.push_str(&format!(
            "channel {}: {} {target}, environments {envs}, min_severity {}\n",
            c.name,
            c.kind.as_str(),
            c.min_severity
        ));
    }
    out
}
