//! `idp`: run the identity provider, or manage it (see `idp --help`).

use clap::Parser;
use kenpo_idp::admin::{self, Cli, Command};
use kenpo_idp::config::Config;
use kenpo_idp::startup;
use kenpo_shared::Clock;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("idp: {e}");
            return ExitCode::from(2);
        }
    };
    kenpo_shared::telemetry::init(&config.log);
    let result = match cli.command {
        Command::Serve { demo } => serve(config, demo).await,
        other => admin::run(config, other).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let bind = config.server.bind.clone();
    let demo = demo || config.demo.enabled;
    // The demo-only staff sign-in link checks this flag.
    let mut config = config;
    config.demo.enabled = demo;
    let state = startup::build_state(config, Clock::System).await?;
    if demo {
        admin::demo::seed(&state).await?;
        let staff = admin::demo::seed_staff(&state).await?;
        println!(
            "staff console: {}/staff (demo administrator {})",
            state.issuer, staff.email
        );
        if let Some(link) = &staff.invitation {
            println!("  register a passkey: {}", link.expose());
        }
        println!(
            "  demo only, sign in once without a passkey: {}",
            staff.signin.expose()
        );
    }
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| anyhow::anyhow!("server.bind {bind}: {e}"))?;
    tracing::info!(issuer = %state.issuer, %bind, "kenpo IdP listening");
    startup::serve(state, listener).await
}
