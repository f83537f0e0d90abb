//! From configuration to a running portal: connect the stores, prepare the IdP client, serve.

use crate::auth::cookies::Cookies;
use crate::auth::provider::{Provider, ProviderSettings, parse_alg};
use crate::config::Config;
use crate::state::{AppState, Inner};
use crate::store::Db;
use anyhow::Context;
use kenpo_shared::Clock;
use kenpo_shared::ephemeral::Ephemeral;
use std::time::Duration;
use tokio::net::TcpListener;

/// Opens the durable store and applies pending migrations.
pub fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db =
        Db::connect(&config.database.url, config.database.pool_size).context("database.url")?;
    let applied = db
        .migrate(&crate::store::MIGRATIONS)
        .context("applying migrations")?;
    for m in applied {
        tracing::info!(migration = %m, "migration applied");
    }
    Ok(db)
}

pub fn provider(config: &Config) -> anyhow::Result<Provider> {
    let alg = parse_alg(&config.oidc.signing_alg).context("oidc.signing_alg")?;
    Provider::new(ProviderSettings {
        issuer: config.issuer(),
        client_id: config.oidc.client_id.clone(),
        client_secret: config.oidc.client_secret.expose().clone(),
        redirect_uri: config.redirect_uri(),
        alg,
        refresh_after: Duration::from_secs(config.oidc.metadata_refresh_secs),
        http_timeout: Duration::from_secs(config.oidc.http_timeout_secs),
    })
    .context("oidc")
}

/// Builds the application state. `clock` is the system clock except in tests. The IdP is not
/// contacted here: discovery happens at the first sign-in, so the portal may start first.
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    config.validate().context("configuration")?;
    let db = open_db(&config)?;
    let eph = Ephemeral::connect(&config.ephemeral.url, &config.ephemeral.prefix)
        .await
        .context("ephemeral.url")?;
    let provider = provider(&config)?;
    let cookies = Cookies::new(config.https());
    Ok(AppState::new(Inner {
        config,
        db,
        eph,
        clock,
        provider,
        cookies,
    }))
}

/// Serves until ctrl-c / SIGTERM.
pub async fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<()> {
    let app = crate::app(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server")
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
