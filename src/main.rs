use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = driftwatch::cli::Cli::parse();
    ExitCode::from(driftwatch::cli::run(cli).await)
}
