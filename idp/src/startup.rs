//! From configuration to a running service: connect the stores, load keys, register the
//! configured clients, start the background tasks, serve.

use crate::config::Config;
use crate::mail::Mailer;
use crate::oidc::{backchannel, discovery, keys::KeyRing};
use crate::security::cookies::Cookies;
use crate::security::password::PasswordHasher;
use crate::security::secretbox::SecretBox;
use crate::state::{AppState, Inner, rotation_policy};
use crate::store::Db;
use crate::store::clients::NewClient;
use crate::store::ephemeral::Ephemeral;
use anyhow::Context;
use kenpo_shared::Clock;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

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

pub fn open_secretbox(config: &Config) -> anyhow::Result<Arc<SecretBox>> {
    let sbox = if config.secrets.keys.is_empty() {
        SecretBox::from_key_file(&config.secrets.key_file).context("secrets.key_file")?
    } else {
        let keys: Vec<String> = config
            .secrets
            .keys
            .iter()
            .map(|k| k.expose().clone())
            .collect();
        SecretBox::new(&keys).context("secrets.keys")?
    };
    Ok(Arc::new(sbox))
}

fn webauthn(config: &Config) -> anyhow::Result<webauthn_rs::Webauthn> {
    let origin = config.issuer_url();
    let origin =
        url::Url::parse(&origin.origin().ascii_serialization()).context("server.issuer")?;
    let rp_id = config
        .mfa
        .rp_id
        .clone()
        .or_else(|| origin.host_str().map(String::from))
        .context("mfa.rp_id")?;
    webauthn_rs::WebauthnBuilder::new(&rp_id, &origin)
        .context("mfa.rp_id must be a domain name: the issuer's host (not an IP address) or a parent domain of it")?
        .rp_name(&config.union.service_name)
        .timeout(Duration::from_secs(config.mfa.ceremony_ttl_secs as u64))
        .build()
        .context("WebAuthn set-up")
}

/// Builds the application state. `clock` is the system clock except in tests.
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    let db = open_db(&config)?;
    let eph = Ephemeral::connect(&config.ephemeral.url, &config.ephemeral.prefix)
        .await
        .context("ephemeral.url")?;
    let sbox = open_secretbox(&config)?;
    let hasher = PasswordHasher::new(
        config.password.argon2_m_kib,
        config.password.argon2_t,
        config.password.argon2_p,
        config.password.hash_concurrency,
    )
    .context("password.argon2_*")?;
    let mailer = match &config.mail.smtp_url {
        Some(url) => Mailer::smtp(url.expose()).context("mail.smtp_url")?,
        None => Mailer::outbox(config.mail.outbox_dir.clone()).context("mail.outbox_dir")?,
    };
    let issuer = config.server.issuer.trim_end_matches('/').to_string();
    let keys = KeyRing::empty();
    keys.maintain(
        &db,
        &sbox,
        rotation_policy(&config),
        clock.now().unix_timestamp(),
    )
    .await
    .context("signing keys")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("HTTP client")?;
    let cookies = Cookies::new(config.https(), sbox.derive("kenpo csrf v1"));
    let webauthn = Arc::new(webauthn(&config)?);
    let discovery = discovery::document(&issuer)
        .map_err(anyhow::Error::msg)
        .context("discovery document")?;
    let state = AppState::new(Inner {
        issuer,
        db,
        eph,
        keys,
        sbox,
        hasher,
        clock,
        mailer,
        cookies,
        http,
        outbox_wake: Arc::new(Notify::new()),
        webauthn,
        discovery,
        client_cache: Default::default(),
        config,
    });
    register_config_clients(&state).await?;
    Ok(state)
}

/// Clients declared in the configuration file are (re)written at every start.
async fn register_config_clients(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    for c in &state.config.clients {
        let client = NewClient::from_config(c)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("clients ({})", c.client_id))?;
        state.clients().upsert(client, "config", now).await?;
    }
    Ok(())
}

/// Background work of every replica: key maintenance and reloads, back-channel deliveries,
/// housekeeping of ended grants.
pub fn spawn_background(state: &AppState) {
    let s = state.clone();
    tokio::spawn(async move {
        let every = Duration::from_secs(s.config.keys.reload_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = s
                .keys
                .maintain(&s.db, &s.sbox, s.rotation_policy(), s.now())
                .await
            {
                tracing::warn!(error = %e, "signing key maintenance failed");
            }
        }
    });
    tokio::spawn(backchannel::worker(state.clone()));
    let s = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            match s.grants().purge(s.now(), 30 * 86_400).await {
                Ok(n) if n > 0 => tracing::info!(grants = n, "ended grants purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "grant purge failed"),
            }
        }
    });
}

/// Serves until ctrl-c / SIGTERM.
pub async fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<()> {
    spawn_background(&state);
    let app = crate::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
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
