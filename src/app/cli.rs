//! The command line: `--once` or `audit` (audit and report), `check-config`, `declared`. Each
//! command returns its exit code; `main` only parses and starts tracing.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use tokio_util::sync::CancellationToken;

use crate::app::commands::{self, DeclaredFormat};
use crate::app::deliver;
use crate::app::dora::DoraFormat;
use crate::app::{audit, daemon, describe, status};
use crate::config::{Config, LogFormat, Overrides};
use crate::core::model::Severity;
use crate::core::report::{EXIT_CLEAN, EXIT_ERROR, Report};
use crate::store::StoreHandle;

/// Where the config is read when no `--config` is given and `DRIFTWATCH_CONFIG` is not set.
pub const DEFAULT_CONFIG: &str = "/etc/driftwatch/config.toml";

/// The command line. Without a subcommand: the audit (`--once`) or the daemon. Each
/// subcommand has only the flags it uses; `--config` may come before the subcommand
/// (`driftwatch -c X check-config`) or after it.
#[derive(Debug, Parser)]
#[command(
    name = "driftwatch",
    version,
    about = "Catches deployment drift between a GitOps repository and live Kubernetes clusters"
)]
pub struct Cli {
    /// Configuration file (.toml, .yaml or .yml).
    #[arg(
        short = 'c',
        long,
        value_name = "FILE",
        env = "DRIFTWATCH_CONFIG",
        default_value = DEFAULT_CONFIG
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

    #[command(flatten)]
    pub audit: AuditArgs,

    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the audit (`--once`, `audit`) reads and how it reports. Report flags (a new `--format`,
/// a column or layout switch) go here, with their rendering in [`render`]. Given both before
/// `audit` and after it, the ones after it win (`--env` adds up).
#[derive(Clone, Debug, Args)]
pub struct AuditArgs {
    /// Audit only this environment (repeatable; default all).
    #[arg(short = 'e', long = "env", value_name = "NAME")]
    pub envs: Vec<String>,

    /// Report format: text, json (pretty), json-compact (the same JSON on one line, for the
    /// journal and log shippers), markdown, or for pipelines sarif (GitHub code scanning),
    /// junit (test reports) and github (workflow-command annotations) [default: text].
    #[arg(short = 'o', long, value_enum)]
    pub format: Option<Format>,

    /// With --format text: keep every column in full (whole image references and digests,
    /// the live spec's image) instead of fitting 120 columns.
    #[arg(long)]
    pub wide: bool,

    #[command(flatten)]
    pub fail_on: FailOnArg,
}

/// `--fail-on`: the audit's exit code threshold (also accepted by `check-config`, which shows
/// the threshold an audit would use).
#[derive(Clone, Copy, Debug, Args)]
pub struct FailOnArg {
    /// Lowest severity that makes the exit code 1 (overrides audit.fail_on).
    #[arg(long, value_enum)]
    pub fail_on: Option<SeverityArg>,
}

/// `--config` after a subcommand; it wins over one given before the subcommand.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (.toml, .yaml or .yml) [env: DRIFTWATCH_CONFIG] [default:
    /// /etc/driftwatch/config.toml].
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--log-format`, for every command that logs.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log line format on stderr (overrides log_format; filter with RUST_LOG, e.g.
    /// RUST_LOG=driftwatch=debug).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one audit, print the report and exit, as --once does: 0 clean, 1 drift at or above
    /// --fail-on, 2 an environment could not be audited.
    Audit {
        #[command(flatten)]
        audit: AuditArgs,
        /// Also alert through the alert state, as the daemon does (as --once --notify).
        #[arg(long)]
        notify: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Run the daemon: audit on the schedule, alert, serve /metrics, /healthz, /readyz,
    /// /report (the default without --once).
    Run {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Load and validate the configuration and check what can be checked without side effects
    /// (files exist, path globs match, the schedule fires); print what it resolves to (secrets
    /// never shown), or every problem, one per line, and exit 2.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        fail_on: FailOnArg,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Send a clearly marked test message to every alert channel (or one), for setting up.
    NotifyTest {
        /// Only this channel (its `name`, or `slack-1`, `email-1`, …).
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArgs,
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
    /// DORA metrics per environment and workload (deployment frequency, lead time, change
    /// failure rate, time to restore), from the store's history, or estimated from git
    /// history alone with --from-git.
    Dora {
        /// Only this environment (repeatable; default all).
        #[arg(short = 'e', long = "env", value_name = "NAME")]
        envs: Vec<String>,
        /// How far back to look, e.g. 30d, 12w, or `all` (from the first audit recorded, or
        /// the oldest commit walked with --from-git) [default: dora.window, 30d].
        #[arg(long, value_name = "DURATION|all", value_parser = crate::app::dora::parse_since)]
        since: Option<crate::app::dora::Since>,
        /// Estimate from git history alone (promotion commits per environment, promotion lead
        /// time between environments), for fleets the daemon has not watched yet.
        #[arg(long)]
        from_git: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = DoraFormat::Text)]
        format: DoraFormat,
        /// After the figures, list every deployment counted (time, environment, workload, kind,
        /// version, commit), to check them against `git log`. JSON always has them (`events`).
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print the environments derived from Argo CD Applications ([discovery.argocd]) and Flux
    /// Kustomizations and HelmReleases ([discovery.flux]), with where each came from, as config
    /// to paste (toml) or as JSON; exit 2 when an object could not be read or mapped.
    Discover {
        #[arg(long, value_enum, default_value_t = crate::app::discover::DiscoverFormat::Toml)]
        format: crate::app::discover::DiscoverFormat,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Check one image reference (`registry/repository@sha256:…` or `:tag`) against the
    /// signature policies ([[policies.signatures]]) and print the evidence: which signature,
    /// which key fingerprint or certificate, which Rekor entry. Exit 0 signed, 1 unsigned,
    /// invalid or built elsewhere (at or above --fail-on), 2 when it could not be checked.
    Verify {
        /// The image reference to check.
        image: String,
        /// Only this policy (its `name`; default: every policy whose images cover it).
        #[arg(long, value_name = "NAME")]
        policy: Option<String>,
        #[arg(short = 'o', long, value_enum, default_value_t = crate::app::verify::VerifyFormat::Text)]
        format: crate::app::verify::VerifyFormat,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArgs,
    },
    /// List the workloads and images git declares for one environment.
    Declared {
        /// The environment to list (its `name` in the config).
        #[arg(short = 'e', long = "env", value_name = "NAME")]
        env: String,
        /// Output format: a table, or JSON with every workload, container and image.
        #[arg(short = 'o', long, value_enum, default_value_t = DeclaredFormat::Text)]
        format: DeclaredFormat,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        log: LogArgs,
    },
}

impl Cli {
    /// The config file: `--config` after the subcommand, else before it (or
    /// `DRIFTWATCH_CONFIG`, or the default).
    pub fn config_path(&self) -> &std::path::Path {
        let after = match &self.command {
            Some(
                Command::Run { config, .. }
                | Command::Audit { config, .. }
                | Command::CheckConfig { config, .. }
                | Command::NotifyTest { config, .. }
                | Command::Dora { config, .. }
                | Command::Declared { config, .. }
                | Command::Verify { config, .. }
                | Command::Discover { config, .. },
            ) => config.config.as_deref(),
            Some(Command::Ignore { .. }) | None => None,
        };
        after.unwrap_or(&self.config)
    }

    /// `--log-format` after the subcommand, else before it.
    fn log_format(&self) -> Option<LogFormat> {
        let after = match &self.command {
            Some(
                Command::Run { log, .. }
                | Command::Audit { log, .. }
                | Command::CheckConfig { log, .. }
                | Command::NotifyTest { log, .. }
                | Command::Dora { log, .. }
                | Command::Declared { log, .. }
                | Command::Verify { log, .. }
                | Command::Discover { log, .. },
            ) => log.log_format,
            Some(Command::Ignore { .. }) | None => None,
        };
        after.or(self.log.log_format)
    }

    /// `--fail-on` after `check-config` or `audit`, else before it.
    fn fail_on(&self) -> Option<SeverityArg> {
        match &self.command {
            Some(Command::CheckConfig { fail_on, .. }) => fail_on.fail_on.or(self.audit.fail_on.fail_on),
            Some(Command::Audit { audit, .. }) => audit.fail_on.fail_on.or(self.audit.fail_on.fail_on),
            _ => self.audit.fail_on.fail_on,
        }
    }

    /// The audit's flags: those after `audit` win over those before it; `--env` adds up.
    fn audit_args(&self) -> AuditArgs {
        let Some(Command::Audit { audit, .. }) = &self.command else {
            return self.audit.clone();
        };
        AuditArgs {
            envs: self.audit.envs.iter().chain(&audit.envs).cloned().collect(),
            format: audit.format.or(self.audit.format),
            wide: self.audit.wide || audit.wide,
            fail_on: FailOnArg {
                fail_on: self.fail_on(),
            },
        }
    }

    /// `--notify`, after `audit` or with `--once`.
    fn notify(&self) -> bool {
        self.notify || matches!(self.command, Some(Command::Audit { notify: true, .. }))
    }
}

/// The audit's report in `format`, environments in `order` where the format shows an order of
/// its own (HTML: promotion order). A new format is a variant of [`Format`] and an arm here.
pub fn render(report: &Report, format: Format, fail_on: Severity, wide: bool, order: &[String]) -> String {
    match format {
        Format::Text if wide => report.to_text_wide(),
        Format::Text => report.to_text(),
        Format::Json => report.to_json() + "\n",
        Format::JsonCompact => report.to_json_compact() + "\n",
        Format::Markdown => report.to_markdown(),
        Format::Sarif => report.to_sarif() + "\n",
        Format::Junit => report.to_junit(fail_on),
        Format::Github => report.to_github(),
        Format::Html => report.to_html(order),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// The `driftwatch.report/v1` JSON on a single line.
    JsonCompact,
    Markdown,
    /// SARIF 2.1.0, for GitHub code scanning (upload-sarif).
    Sarif,
    /// JUnit XML: a test suite per environment, a test case per declared workload.
    Junit,
    /// GitHub Actions workflow commands (`::error file=…::…`), one per finding.
    Github,
    /// The status page as one self-contained HTML file (no network needed to view it).
    Html,
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
        return commands::ignore_baseline(from_report, reason, expires);
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let overrides = Overrides {
        fail_on: cli.fail_on().map(Into::into),
    };
    let path = cli.config_path().to_path_buf();
    if let Some(Command::CheckConfig { .. }) = &cli.command {
        return check_config(&path, &env, &overrides).await;
    }
    let cfg = match Config::load(&path, &env, &overrides) {
        Ok(c) => c,
        Err(e) => {
            for p in e.problems() {
                eprintln!("error: {p}");
            }
            return EXIT_ERROR;
        }
    };
    let daemon_mode = matches!(cli.command, Some(Command::Run { .. })) || (cli.command.is_none() && !cli.once);
    let format = cli.log_format().unwrap_or(cfg.log_format);
    // tokio-cron-scheduler logs every job it adds at info, i.e. every fire of the schedule.
    init_tracing(
        format,
        if daemon_mode {
            "info,tokio_cron_scheduler=warn"
        } else {
            "warn"
        },
    );
    if let Some(code) = as_written(&cli, &cfg).await {
        return code;
    }
    if daemon_mode {
        // The daemon discovers at its start and on reload.
        let source = daemon::ConfigSource { path, env, overrides };
        return run_daemon(cfg, source).await;
    }
    // Discovered environments join the hand-written ones.
    let (cfg, discovery_failed) = crate::app::discover::said(cfg).await;
    let code = match &cli.command {
        Some(Command::Declared { env, format, .. }) => commands::declared(&cfg, env, *format).await,
        Some(Command::NotifyTest { channel, .. }) => commands::notify_test(&cfg, channel.as_deref()).await,
        Some(Command::Dora {
            envs,
            since,
            from_git,
            format,
            explain,
            ..
        }) => {
            let since = since.unwrap_or(crate::app::dora::Since::Back(cfg.dora.window));
            let output = crate::app::dora::Output {
                format: *format,
                explain: *explain,
            };
            crate::app::dora::command(&cfg, envs, since, *from_git, output).await
        }
        Some(
            Command::Run { .. }
            | Command::Audit { .. }
            | Command::Ignore { .. }
            | Command::CheckConfig { .. }
            | Command::Verify { .. }
            | Command::Discover { .. },
        )
        | None => once(&cfg, &cli.audit_args(), cli.notify()).await,
    };
    // An Application that could not be read or mapped is an audit that is not complete.
    if discovery_failed { code.max(EXIT_ERROR) } else { code }
}

/// The commands that read the config as written (no discovered environments): `discover`
/// and `verify`; `None` for the others.
async fn as_written(cli: &Cli, cfg: &Config) -> Option<u8> {
    match &cli.command {
        Some(Command::Discover { format, .. }) => Some(crate::app::discover::command(cfg, *format).await),
        Some(Command::Verify {
            image, policy, format, ..
        }) => Some(crate::app::verify::command(cfg, image, policy.as_deref(), *format).await),
        _ => None,
    }
}

/// `check-config`: every load problem and every check problem, one per line on stderr (exit
/// 2). When the config loads, what it resolves to is printed on stdout either way.
async fn check_config(path: &std::path::Path, env: &HashMap<String, String>, overrides: &Overrides) -> u8 {
    let (cfg, load_problems) = Config::check(path, env, overrides);
    let Some(cfg) = cfg else {
        for p in &load_problems {
            eprintln!("error: {p}");
        }
        eprintln!("note: files, path globs and the schedule are checked once the errors above are fixed");
        return EXIT_ERROR;
    };
    let (mut found, mut paths_line) = crate::app::checks::check(&cfg, env, chrono::Utc::now());
    match crate::store::probe(&cfg.store).await {
        Ok(line) => paths_line.push_str(&format!("store: {line}\n")),
        Err(e) => found.push(crate::config::ConfigError::Invalid {
            origin: cfg.origin.clone(),
            key: "store.url".into(),
            reason: e.to_string(),
        }),
    }
    let problems: Vec<_> = load_problems.iter().chain(&found).collect();
    for p in &problems {
        eprintln!("error: {p}");
    }
    if !load_problems.is_empty() {
        // Stand-ins took the place of wrong values: the description would not be the truth.
        return EXIT_ERROR;
    }
    if cfg.discovery.is_configured() {
        // Discovery reads the git cache and lists Applications: what it finds is shown here.
        let d = crate::sources::discovery::discover(&cfg).await;
        paths_line.push_str(&crate::app::discover::describe(&d));
        for line in crate::app::discover::problems(&d) {
            eprintln!("error: {line}");
            found.push(crate::config::ConfigError::Invalid {
                origin: cfg.origin.clone(),
                key: if line.contains("Kustomization ") || line.contains("HelmRelease ") || line.contains(": flux ") {
                    "discovery.flux".into()
                } else {
                    "discovery.argocd".into()
                },
                reason: line,
            });
        }
    }
    let problems: Vec<_> = load_problems.iter().chain(&found).collect();
    let text = describe::describe(&cfg);
    if problems.is_empty() {
        print!("{text}{paths_line}");
        return EXIT_CLEAN;
    }
    let rest = text.split_once('\n').map_or("", |(_, rest)| rest);
    print!(
        "config {}: {} problems (on stderr)\n{rest}{paths_line}",
        cfg.origin,
        problems.len()
    );
    EXIT_ERROR
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
                crate::sources::render::kustomize_exec::kill_running();
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

/// `--once` answers SIGINT and SIGTERM as by default, exiting at once with 130 or 143, but
/// first kills the kustomize runs under way: they have process groups of their own, so a
/// terminal's Ctrl-C no longer reaches them.
fn exit_on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return;
    };
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = term.recv() => 128 + 15,
            _ = int.recv() => 128 + 2,
        };
        crate::sources::render::kustomize_exec::kill_running();
        std::process::exit(code);
    });
}

async fn once(cfg: &Config, args: &AuditArgs, notify: bool) -> u8 {
    if let Some(msg) = commands::unknown_envs(cfg, &args.envs) {
        eprintln!("error: {msg}");
        return EXIT_ERROR;
    }
    exit_on_signal();
    let sources = crate::sources::Sources::for_one_audit(cfg).await;
    let plan = audit::Plan {
        only: args.envs.clone(),
        ..audit::Plan::default()
    };
    let audited = audit::run_planned(cfg, &sources, &plan).await;
    let report = audited.report;
    let order = cfg.environment_order();
    let format = args.format.unwrap_or(Format::Text);
    let text = render(&report, format, cfg.audit.fail_on, args.wide, &order);
    // A closed pipe (`driftwatch --once | head`) is not an audit error.
    let _ = std::io::stdout().write_all(text.as_bytes());
    let code = report.exit_code(cfg.audit.fail_on);
    if !notify {
        return code;
    }
    if cfg.alerts.channels.is_empty() {
        eprintln!("warning: --notify: no alert channels are configured ([[alerts.slack]], [[alerts.email]], …)");
    }
    let store = StoreHandle::new(cfg);
    let now = chrono::Utc::now();
    let notified = deliver::notify(cfg, &store, &report, now, &deliver::StoreHealth::default()).await;
    // History is kept by the runs that keep alert state; a store that could not be used was
    // reported by the notification step already.
    if let Ok((opened, _)) = store.get().await {
        let dir = audited.snapshot.as_ref().map(|s| s.checkout.dir.as_path());
        if let Err(e) = crate::app::record::after_audit(cfg, &opened, sources.lineage(), &report, dir, now).await {
            eprintln!("warning: history not recorded: {e}");
        }
        opened.close().await;
    }
    match notified {
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
