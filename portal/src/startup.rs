//! From configuration to a running portal: connect the stores, prepare the IdP client, serve
//! (the public listener and the metrics listener), and stop gracefully (see
//! `kenpo_shared::lifecycle`).

use crate::auth::cookies::Cookies;
use crate::auth::provider::{Provider, ProviderSettings, parse_alg};
use crate::config::{Config, LOA2};
use crate::state::{AppState, Inner};
use crate::store::Db;
use anyhow::Context;
use kenpo_shared::Clock;
use kenpo_shared::ephemeral::{Ephemeral, Timeouts};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Opens the durable store and applies pending migrations.
pub fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect_with(
        &config.database.url,
        config.database.pool_size,
        Duration::from_secs(config.database.checkout_timeout_secs),
    )
    .context("database.url")?;
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
        required_acr: (config.oidc.acr == LOA2).then(|| LOA2.to_string()),
    })
    .context("oidc")
}

/// Builds the application state. `clock` is the system clock except in tests. The IdP is not
/// contacted here: discovery happens at the first sign-in, so the portal may start first.
/// `testing.clock_offset_secs` shifts the system clock (the cluster test only).
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    config.validate().context("configuration")?;
    let clock = match clock {
        Clock::System if config.testing.clock_offset_secs != 0 => {
            tracing::warn!(
                offset_secs = config.testing.clock_offset_secs,
                "testing.clock_offset_secs is set: this replica's clock is shifted (tests only)"
            );
            Clock::system_with_offset(config.testing.clock_offset_secs)
        }
        other => other,
    };
    let db = open_db(&config)?;
    let timeouts = Timeouts {
        connect: Duration::from_millis(config.ephemeral.connect_timeout_ms),
        response: Duration::from_millis(config.ephemeral.response_timeout_ms),
    };
    let eph = Ephemeral::connect_with(&config.ephemeral.url, &config.ephemeral.prefix, timeouts)
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
        metrics: Arc::new(crate::metrics::PortalMetrics::new()),
        lifecycle: Default::default(),
    }))
}

/// Serves until SIGTERM / ctrl-c, then shuts down gracefully: `/readyz` answers 503 for
/// `server.shutdown_drain_secs` while requests are still served, then the listener closes and
/// requests in flight get `server.shutdown_timeout_secs` to finish.
pub async fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<()> {
    if let Some(bind) = &state.config.server.metrics_bind {
        let l = TcpListener::bind(bind)
            .await
            .with_context(|| format!("server.metrics_bind {bind}"))?;
        tracing::info!(%bind, "metrics listening");
        let scrape = crate::metrics::Scrape(state.clone());
        let stop = state.lifecycle.stopping();
        tokio::spawn(async move {
            if let Err(e) = kenpo_shared::metrics::serve(l, scrape, stop).await {
                tracing::warn!(error = %e, "metrics listener failed");
            }
        });
    }
    let drain = Duration::from_secs(state.config.server.shutdown_drain_secs);
    let timeout = Duration::from_secs(state.config.server.shutdown_timeout_secs);
    let server = axum::serve(listener, crate::app(state.clone()))
        .with_graceful_shutdown(state.lifecycle.stopping())
        .into_future();
    kenpo_shared::lifecycle::run_until_signal(&state.lifecycle, server, drain, timeout)
        .await
        .context("server")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves at SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    kenpo_shared::lifecycle::signal().await;
    tracing::info!("shutting down");
}
