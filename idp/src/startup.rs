//! From configuration to a running service: connect the stores, load keys, register the
//! configured clients, start the background tasks, serve (the public listener and the
//! metrics listener), and stop gracefully (see `kenpo_shared::lifecycle`).

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
use kenpo_shared::ephemeral::Timeouts;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

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

/// The bounds of every Redis operation, from configuration.
pub fn ephemeral_timeouts(config: &Config) -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(config.ephemeral.connect_timeout_ms),
        response: Duration::from_millis(config.ephemeral.response_timeout_ms),
    }
}

/// Builds the application state. `clock` is the system clock except in tests (and shifted by
/// `testing.clock_offset_secs`, which only the cluster test sets).
pub async fn build_state(config: Config, clock: Clock) -> anyhow::Result<AppState> {
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
    let eph = Ephemeral::connect_with(
        &config.ephemeral.url,
        &config.ephemeral.prefix,
        ephemeral_timeouts(&config),
    )
    .await
    .context("ephemeral.url")?;
    let sbox = open_secretbox(&config)?;
    let hasher = PasswordHasher::new(
        config.password.argon2_m_kib,
        config.password.argon2_t,
        config.password.argon2_p,
        config.password.hash_concurrency,
        config.password.hash_queue_limit,
    )
    .context("password.argon2_*")?;
    // Decompressed now rather than on the first password change; an empty list would let
    // every common password through.
    anyhow::ensure!(
        !crate::security::common_passwords::list().is_empty(),
        "the bundled common-password list did not load"
    );
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
    let discovery = discovery::document(&issuer, config.par.require)
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
        metrics: Arc::new(crate::metrics::IdpMetrics::new()),
        lifecycle: Default::default(),
        mail_in_flight: Default::default(),
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
        // Replicas starting together upsert the same rows: the loser of the insert race finds
        // the row on its second try and updates it.
        match state.clients().upsert(client.clone(), "config", now).await {
            Err(crate::store::StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) => state.clients().upsert(client, "config", now).await?,
            other => other?,
        }
    }
    Ok(())
}

/// Background work of every replica: key maintenance and reloads, back-channel deliveries,
/// housekeeping of ended grants. Each task ends when the replica stops (see [`serve`]).
pub fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        let every = Duration::from_secs(s.config.keys.reload_secs.max(1));
        let stopping = s.lifecycle.stopping();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                _ = &mut stopping => return,
                _ = tokio::time::sleep(every) => {}
            }
            // Maintenance is one transaction under a lock: a stop in between loses nothing.
            if let Err(e) = s
                .keys
                .maintain(&s.db, &s.sbox, s.rotation_policy(), s.now())
                .await
            {
                tracing::warn!(error = %e, "signing key maintenance failed");
            }
        }
    }));
    tasks.push(tokio::spawn(backchannel::worker(state.clone())));
    let s = state.clone();
    tasks.push(tokio::spawn(async move {
        let stopping = s.lifecycle.stopping();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                _ = &mut stopping => return,
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
            match s.grants().purge(s.now(), 30 * 86_400).await {
                Ok(n) if n > 0 => tracing::info!(grants = n, "ended grants purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "grant purge failed"),
            }
        }
    }));
    tasks
}

/// Serves until SIGTERM / ctrl-c, then shuts down gracefully: `/readyz` answers 503 for
/// `server.shutdown_drain_secs` while requests are still served, then the listener closes,
/// requests in flight, the background tasks and mails being delivered get
/// `server.shutdown_timeout_secs` to finish.
pub async fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<()> {
    let tasks = spawn_background(&state);
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
    let app =
        crate::app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(state.lifecycle.stopping())
        .into_future();
    kenpo_shared::lifecycle::run_until_signal(&state.lifecycle, server, drain, timeout)
        .await
        .context("server")?;
    let handover = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(timeout, handover).await.is_err() {
        tracing::warn!("background work still running at the shutdown timeout");
    }
    if !state.mail_in_flight.wait_idle(timeout).await {
        tracing::warn!(
            mails = state.mail_in_flight.count(),
            "mails still being delivered at the shutdown timeout"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves at SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    kenpo_shared::lifecycle::signal().await;
    tracing::info!("shutting down");
}
