//! Ending portal sessions.
//!
//! - `GET /auth/logout` asks "sign out?" (a link elsewhere must not sign a member out);
//!   `POST /auth/logout` (with the session's CSRF token) ends the portal session and sends the
//!   browser to the IdP's end-session endpoint (RP-Initiated Logout 1.0) with the ID token as
//!   hint, so the member leaves the IdP — and every other union service — too. The IdP sends
//!   them back to `/`, where the `state` we passed shows "you are signed out".
//! - `POST /auth/backchannel-logout` is called by the IdP when a member's IdP session ends
//!   anywhere: a valid logout token ends every portal session of that IdP session on every
//!   replica (the sessions live in the shared store).

use super::SignedIn;
use super::cookies::SESSION;
use super::session::random_token;
use super::tokens::{LogoutTokenError, verify_logout_token};
use crate::error::{PageError, PageResultExt, no_store};
use crate::pages::i18n::{self};
use crate::pages::{Ctx, Frame};
use crate::state::AppState;
pub use crate::texts::auth::logout::*;
use axum::Form;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::ephemeral::secs;
use maud::html;
use openidconnect::{ClientId, CsrfToken, LogoutRequest, PostLogoutRedirectUrl};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The store key that lets `/` say "you are signed out" after the IdP sends the member back.
pub fn signed_out_key(state: &str) -> String {
    format!("signed-out:{}", super::session::digest(state))
}

/// `GET /auth/logout`: a confirmation with the sign-out button.
pub async fn get(State(state): State<AppState>, ctx: Ctx, me: Option<SignedIn>) -> Response {
    let Some(me) = me else {
        return Redirect::to("/").into_response();
    };
    let body = html! {
        h1 { (ctx.t(CONFIRM_TITLE)) }
        p { (ctx.t(CONFIRM_BODY)) }
        form method="post" action="/auth/logout" {
            input type="hidden" name="csrf" value=(me.session.csrf);
            div.actions {
                button.primary type="submit" { (ctx.t(i18n::SIGN_OUT)) }
                a.button.secondary href="/" { (ctx.t(i18n::BACK_HOME)) }
            }
        }
    };
    ctx.render(
        &state,
        Frame {
            title: ctx.t(CONFIRM_TITLE),
            step: "portal-logout",
            ..Frame::default()
        },
        body,
    )
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /auth/logout`: end the portal session, then the IdP's.
pub async fn post(
    State(state): State<AppState>,
    ctx: Ctx,
    me: Option<SignedIn>,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    let Some(me) = me else {
        return Ok(Redirect::to("/").into_response());
    };
    if !bool::from(form.csrf.as_bytes().ct_eq(me.session.csrf.as_bytes())) {
        return Err(PageError::Forbidden(ctx.lang));
    }
    state.sessions().end(&me.id).await.page(ctx.lang)?;
    let back = random_token();
    state
        .eph
        .put(&signed_out_key(&back), "1", secs(600))
        .await
        .page(ctx.lang)?;
    let target = match end_session_url(&state, &me.session.id_token, &back, ctx.lang).await {
        Some(url) => url,
        None => format!("/?state={back}"),
    };
    tracing::info!(sub = %me.session.sub, "portal sign-out");
    let mut res = Redirect::to(&target).into_response();
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.clear(SESSION));
    no_store(&mut res);
    Ok(res)
}

/// The IdP's end-session URL with hint, client, return address, state and language; `None`
/// when the IdP cannot be reached or has no end-session endpoint (the portal session is over
/// either way).
async fn end_session_url(
    state: &AppState,
    id_token: &str,
    back: &str,
    lang: kenpo_shared::Lang,
) -> Option<String> {
    let d = match state.provider.get().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "sign-out: IdP unavailable; only the portal session ended");
            return None;
        }
    };
    let endpoint = d
        .metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()?;
    let hint: super::provider::MemberIdToken = id_token.parse().ok()?;
    let redirect = PostLogoutRedirectUrl::new(state.config.post_logout_redirect_uri()).ok()?;
    let mut url = LogoutRequest::from(endpoint)
        .set_id_token_hint(&hint)
        .set_client_id(ClientId::new(state.config.oidc.client_id.clone()))
        .set_post_logout_redirect_uri(redirect)
        .set_state(CsrfToken::new(back.to_string()))
        .http_get_url();
    url.query_pairs_mut().append_pair("ui_locales", lang.code());
    Some(url.to_string())
}

#[derive(Debug, Deserialize)]
pub struct BackchannelForm {
    #[serde(default)]
    logout_token: String,
}

fn backchannel_answer(status: StatusCode, error: Option<&str>) -> Response {
    let mut res = match error {
        None => status.into_response(),
        Some(description) => (
            status,
            axum::Json(
                serde_json::json!({"error": "invalid_request", "error_description": description}),
            ),
        )
            .into_response(),
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /auth/backchannel-logout` (called by the IdP, not by browsers).
pub async fn backchannel(
    State(state): State<AppState>,
    Form(form): Form<BackchannelForm>,
) -> Response {
    let now = state.now();
    let settings = state.provider.settings();
    let d = match state.provider.get().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout: IdP keys unavailable");
            return backchannel_answer(StatusCode::SERVICE_UNAVAILABLE, Some("keys unavailable"));
        }
    };
    let mut checked = verify_logout_token(&d, settings, &form.logout_token, now);
    if matches!(checked, Err(LogoutTokenError::UnknownKey))
        && let Some(d2) = state.provider.refresh_for_unknown_key().await
    {
        checked = verify_logout_token(&d2, settings, &form.logout_token, now);
    }
    let request = match checked {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout token refused");
            return backchannel_answer(StatusCode::BAD_REQUEST, Some("invalid logout token"));
        }
    };
    let sessions = state.sessions();
    let ttl = request.exp - now + super::tokens::LEEWAY_SECS;
    match sessions.first_use_of_logout_token(&request.jti, ttl).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("back-channel logout token replayed");
            return backchannel_answer(StatusCode::BAD_REQUEST, Some("logout token already used"));
        }
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: store unavailable");
            return backchannel_answer(StatusCode::SERVICE_UNAVAILABLE, Some("try again"));
        }
    }
    let ended = match (&request.sid, &request.sub) {
        (Some(sid), _) => sessions.end_sid(sid).await,
        (None, Some(sub)) => sessions.end_sub(sub).await,
        (None, None) => Ok(0),
    };
    match ended {
        Ok(n) => {
            tracing::info!(sessions = n, sid = ?request.sid, "back-channel logout");
            backchannel_answer(StatusCode::OK, None)
        }
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: store unavailable");
            backchannel_answer(StatusCode::SERVICE_UNAVAILABLE, Some("try again"))
        }
    }
}
