use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = driftwatch::app::cli::Cli::parse();
    ExitCode::from(driftwatch::app::cli::run(cli).await)
}
