use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = driftwatch::cli::Cli::parse();
    driftwatch::cli::init_tracing(cli.log_format);
    ExitCode::from(driftwatch::cli::run(cli).await)
}
