//! `kenpo`: the whole service on one machine, in one process — the IdP and the notice portal,
//! each with its demo data, with embedded defaults (SQLite files and mail under `./data`,
//! in-process short-lived state). The portal still talks to the IdP over HTTP exactly as it
//! would to a remote one; the only shortcut is that both configurations are written here: the
//! portal is registered as a client of the IdP with a secret made for this run.
//!
//! Each service reads its usual configuration first (`--idp-config`, `--portal-config`, and the
//! `KENPO_IDP_…` / `KENPO_PORTAL_…` environment variables), so ports and storage can be changed.

use anyhow::Context;
use clap::Parser;
use kenpo_idp::admin::demo as idp_demo;
use kenpo_idp::config::{ClientConfig, Config as IdpConfig};
use kenpo_portal::config::Config as PortalConfig;
use kenpo_shared::{Clock, Secret};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "kenpo",
    about = "kenpo IdP + notice portal with demo data, on one machine",
    version
)]
struct Cli {
    /// The IdP's configuration file (embedded defaults otherwise).
    #[arg(long, env = "KENPO_IDP_CONFIG")]
    idp_config: Option<PathBuf>,
    /// The portal's configuration file (embedded defaults otherwise).
    #[arg(long, env = "KENPO_PORTAL_CONFIG")]
    portal_config: Option<PathBuf>,
}

/// Makes the two configurations fit each other: the portal becomes a client of the IdP.
fn pair(portal: &mut PortalConfig, idp: &mut IdpConfig) {
    if portal.oidc.client_secret.expose().is_empty() {
        portal.oidc.client_secret = Secret::new(kenpo_idp::security::tokens::new_token());
    }
    portal.oidc.issuer = idp.server.issuer.trim_end_matches('/').to_string();
    portal.demo.enabled = true;
    idp.demo.enabled = true;
    idp.clients.retain(|c| c.client_id != portal.oidc.client_id);
    idp.clients.push(ClientConfig {
        client_id: portal.oidc.client_id.clone(),
        name: "医療費・給付金のお知らせ".into(),
        secret: Some(Secret::new(portal.oidc.client_secret.expose().clone())),
        redirect_uris: vec![
            portal.redirect_uri(),
            format!("{}/staff/auth/callback", portal.base_url()),
        ],
        // Listed because `staff` (the portal's staff pages) is never granted by default.
        scopes: [
            "openid",
            "profile",
            "email",
            "member",
            "offline_access",
            "staff",
        ]
        .map(String::from)
        .to_vec(),
        post_logout_redirect_uris: vec![portal.post_logout_redirect_uri()],
        backchannel_logout_uri: Some(format!("{}/auth/backchannel-logout", portal.base_url())),
        id_token_signed_response_alg: Some(portal.oidc.signing_alg.clone()),
        ..ClientConfig::default()
    });
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut idp = IdpConfig::load(cli.idp_config.as_deref()).context("IdP configuration")?;
    // The portal's client secret is made up below, so its configuration is checked after.
    let mut portal = PortalConfig::load_unchecked(cli.portal_config.as_deref())
        .context("portal configuration")?;
    pair(&mut portal, &mut idp);
    idp.validate().context("IdP configuration")?;
    portal.validate().context("portal configuration")?;
    kenpo_shared::telemetry::init(&idp.log);

    let idp_bind = idp.server.bind.clone();
    let outbox = idp.mail.outbox_dir.clone();
    let smtp = idp.mail.smtp_url.is_some();
    let idp_state = kenpo_idp::startup::build_state(idp, Clock::System).await?;
    idp_demo::seed(&idp_state).await?;
    let staff = idp_demo::seed_staff(&idp_state).await?;
    let idp_listener = tokio::net::TcpListener::bind(&idp_bind)
        .await
        .with_context(|| format!("IdP server.bind {idp_bind}"))?;
    let issuer = idp_state.issuer.clone();
    let idp_task = tokio::spawn(kenpo_idp::startup::serve(idp_state, idp_listener));

    let bind = portal.server.bind.clone();
    let base = portal.base_url();
    let portal_state = kenpo_portal::startup::build_state(portal, Clock::System).await?;
    kenpo_portal::demo::seed(&portal_state).await?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("portal server.bind {bind}"))?;

    let mail = if smtp {
        "sent by SMTP".to_string()
    } else {
        format!("written to {} and shown in this log", outbox.display())
    };
    println!();
    println!("  kenpo is running.");
    println!("    Portal (start here):  {base}/");
    println!("    Identity provider:    {issuer}/   (account page: {issuer}/account)");
    println!();
    println!("  Demo members:");
    println!(
        "    {:<6} / {:<18} finished first login; the one-time code of the second step is {mail}",
        idp_demo::DEMO_USER,
        idp_demo::DEMO_PASSWORD
    );
    println!(
        "    {:<6} / {:<18} first login (記号 12, 番号 3456789, 生年月日 1980-12-01)",
        idp_demo::FIRST_USER,
        idp_demo::FIRST_PASSWORD
    );
    println!();
    println!(
        "  Staff console:  {issuer}/staff   (demo administrator {})",
        staff.email
    );
    if let Some(link) = &staff.invitation {
        println!(
            "    register a passkey (invitation, also in the outbox): {}",
            link.expose()
        );
    }
    println!(
        "    or, in this demo only, sign in once without a passkey: {}",
        staff.signin.expose()
    );
    println!();
    tokio::select! {
        r = kenpo_portal::startup::serve(portal_state, listener) => r,
        r = idp_task => r.context("IdP task")?,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kenpo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
