//! `portal`: run the notice portal, or import notices (see `portal --help`).

use clap::Parser;
use kenpo_portal::cli::{self, Cli, Command};
use kenpo_portal::config::Config;
use kenpo_portal::startup;
use kenpo_shared::Clock;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portal: {e}");
            return ExitCode::from(2);
        }
    };
    kenpo_shared::telemetry::init(&config.log);
    let result = match cli.command {
        Command::Serve { demo } => serve(config, demo).await,
        other => cli::run(config, other).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let bind = config.server.bind.clone();
    let demo = demo || config.demo.enabled;
    let state = startup::build_state(config, Clock::System).await?;
    if demo {
        kenpo_portal::demo::seed(&state).await?;
    }
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| anyhow::anyhow!("server.bind {bind}: {e}"))?;
    tracing::info!(base_url = %state.config.base_url(), %bind, "kenpo portal listening");
    startup::serve(state, listener).await
}
