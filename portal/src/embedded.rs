//! `portal demo`: the IdP and the portal in one process, each with its demo data, so that one
//! command shows a living portal. The portal still talks to the IdP over HTTP exactly as it
//! would to a remote one; the only shortcut is that both configurations are written here: the
//! portal is registered as a client of the IdP with a secret made for this run.

use crate::config::Config;
use crate::random_secret;
use anyhow::Context;
use kenpo_idp::config::{ClientConfig, Config as IdpConfig};
use kenpo_shared::{Clock, Secret};
use std::path::Path;

/// Adjusts both configurations so they fit each other.
pub fn pair(portal: &mut Config, idp: &mut IdpConfig) {
    if portal.oidc.client_secret.expose().is_empty() {
        portal.oidc.client_secret = Secret::new(random_secret());
    }
    portal.oidc.issuer = idp.server.issuer.trim_end_matches('/').to_string();
    portal.demo.enabled = true;
    idp.demo.enabled = true;
    idp.clients.retain(|c| c.client_id != portal.oidc.client_id);
    idp.clients.push(ClientConfig {
        client_id: portal.oidc.client_id.clone(),
        name: "医療費・給付金のお知らせ".into(),
        secret: Some(Secret::new(portal.oidc.client_secret.expose().clone())),
        redirect_uris: vec![portal.redirect_uri()],
        post_logout_redirect_uris: vec![portal.post_logout_redirect_uri()],
        backchannel_logout_uri: Some(format!("{}/auth/backchannel-logout", portal.base_url())),
        id_token_signed_response_alg: Some(portal.oidc.signing_alg.clone()),
        ..ClientConfig::default()
    });
}

/// Runs both services until ctrl-c.
pub async fn run(mut portal: Config, idp_config: Option<&Path>) -> anyhow::Result<()> {
    let mut idp = IdpConfig::load(idp_config).context("IdP configuration")?;
    pair(&mut portal, &mut idp);
    idp.validate().context("IdP configuration")?;
    portal.validate().context("portal configuration")?;

    let idp_bind = idp.server.bind.clone();
    let idp_state = kenpo_idp::startup::build_state(idp, Clock::System).await?;
    kenpo_idp::admin::demo::seed(&idp_state).await?;
    let idp_listener = tokio::net::TcpListener::bind(&idp_bind)
        .await
        .with_context(|| format!("IdP server.bind {idp_bind}"))?;
    let issuer = idp_state.issuer.clone();
    let idp_task = tokio::spawn(kenpo_idp::startup::serve(idp_state, idp_listener));

    let bind = portal.server.bind.clone();
    let base = portal.base_url();
    let state = crate::startup::build_state(portal, Clock::System).await?;
    crate::demo::seed(&state).await?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("server.bind {bind}"))?;
    println!();
    println!("  Portal:  {base}/");
    println!("  IdP:     {issuer}/");
    println!(
        "  Sign in as `{}` / `{}`: the one-time code is mailed to the IdP's outbox folder (data/outbox), and its path is logged.",
        kenpo_idp::admin::demo::DEMO_USER,
        kenpo_idp::admin::demo::DEMO_PASSWORD
    );
    println!(
        "  Or as `{}` / `{}` to walk the first login.",
        kenpo_idp::admin::demo::FIRST_USER,
        kenpo_idp::admin::demo::FIRST_PASSWORD
    );
    println!();
    tokio::select! {
        r = crate::startup::serve(state, listener) => r,
        r = idp_task => r.context("IdP task")?,
    }
}
