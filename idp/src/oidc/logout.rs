//! Ending sessions: RP-initiated logout 1.0 at `/logout` (GET or POST from the relying
//! party), the member's own sign-out, and the common path that revokes the session's grants and
//! queues back-channel logout.
//!
//! A `post_logout_redirect_uri` is honoured only if it is registered, exactly, for the client
//! named by `client_id` or the `id_token_hint`; otherwise the member sees our signed-out page.
//! Without a hint that names the current session the member is asked to confirm (a link on
//! another site must not sign them out silently).

use crate::error::{PageError, PageResult, PageResultExt};
use crate::oidc::backchannel;
use crate::oidc::params::Params;
use crate::oidc::request::single_params;
use crate::pages::forms::{self, CsrfForm};
use crate::pages::i18n::{self};
use crate::pages::{Ctx, Frame, Hosted};
use crate::signin::session::Sessions;
use crate::signin::visit::current_session;
use crate::state::AppState;
pub use crate::texts::oidc::logout::*;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

/// Ends a session everywhere: the session itself, its grants, and back-channel logout.
pub async fn end_session(state: &AppState, sid: &str, now: i64) -> Result<bool, String> {
    let Some(session) = Sessions::new(state)
        .end(sid, now)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(false);
    };
    state
        .grants()
        .revoke_session(sid, now)
        .await
        .map_err(|e| e.to_string())?;
    let subject = state
        .members()
        .by_id(&session.member_id)
        .await
        .map_err(|e| e.to_string())?
        .map(|m| m.subject)
        .unwrap_or_default();
    backchannel::enqueue(state, &session, &subject, now)
        .await
        .map_err(|e| e.to_string())?;
    let trail = state.audit().member(&session.member_id, None, now);
    trail.log("session.end", json!({"sid": sid})).await;
    Ok(true)
}

/// A checked logout request.
#[derive(Debug, Default)]
struct LogoutRequest {
    redirect: Option<String>,
    state: Option<String>,
    hint_sid: Option<String>,
    hint_sub: Option<String>,
}

async fn check(
    state: &AppState,
    p: &HashMap<String, String>,
) -> Result<LogoutRequest, &'static str> {
    let mut req = LogoutRequest::default();
    let mut hint_aud: Vec<String> = Vec::new();
    if let Some(h) = p.get("id_token_hint") {
        let claims = state
            .keys
            .verify_own_jwt(h)
            .filter(|c| c["iss"].as_str() == Some(state.issuer.as_str()))
            .ok_or("id_token_hint is not ours")?;
        hint_aud = match &claims["aud"] {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        req.hint_sid = claims["sid"].as_str().map(String::from);
        req.hint_sub = claims["sub"].as_str().map(String::from);
    }
    let client_id = match (p.get("client_id"), hint_aud.first()) {
        (Some(c), _) if !hint_aud.is_empty() && !hint_aud.contains(c) => {
            return Err("client_id does not match id_token_hint");
        }
        (Some(c), _) => Some(c.clone()),
        (None, Some(a)) => Some(a.clone()),
        (None, None) => None,
    };
    if let Some(uri) = p.get("post_logout_redirect_uri") {
        let id = client_id.ok_or("post_logout_redirect_uri needs client_id or id_token_hint")?;
        let client = state
            .clients()
            .get(&id)
            .await
            .ok()
            .flatten()
            .ok_or("unknown client")?;
        if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
            return Err("post_logout_redirect_uri is not registered");
        }
        req.redirect = Some(uri.clone());
        req.state = p.get("state").cloned().filter(|s| s.len() <= 2048);
    }
    Ok(req)
}

fn after_logout(state: &AppState, ctx: &Ctx, req: &LogoutRequest) -> Response {
    let mut res = match &req.redirect {
        Some(uri) => {
            let mut url = url::Url::parse(uri)
                .unwrap_or_else(|_| url::Url::parse("about:blank").expect("static URL"));
            if let Some(s) = &req.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            Redirect::to(url.as_str()).into_response()
        }
        None => {
            let body = html! {
                h1 { (ctx.t(DONE_TITLE)) }
                (kenpo_shared::web::notice(ctx.t(DONE_BODY)))
                p { a href="/login" { (ctx.lang.pick("もう一度ログインする", "Sign in again")) } }
            };
            ctx.render(
                state,
                Frame {
                    title: ctx.t(DONE_TITLE),
                    step: Some("logged-out"),
                    ..Frame::default()
                },
                body,
            )
        }
    };
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.clear("kenpo_session"));
    res
}

/// `GET` or `POST /logout` (OIDC RP-Initiated Logout).
pub async fn handle(
    Hosted { state, ctx, .. }: Hosted,
    headers: HeaderMap,
    Params(pairs): Params,
) -> PageResult {
    rp_logout(&state, ctx, &headers, pairs).await
}

async fn rp_logout(
    state: &AppState,
    ctx: Ctx,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> PageResult {
    let now = state.now();
    let params =
        single_params(pairs).map_err(|_| PageError::BadRequest(ctx.lang, i18n::BAD_REQUEST))?;
    let lang = params
        .get("ui_locales")
        .and_then(|u| kenpo_shared::Lang::from_ui_locales(u))
        .unwrap_or(ctx.lang);
    let ctx = Ctx { lang, ..ctx };
    let req = match check(state, &params).await {
        Ok(r) => r,
        Err(detail) => {
            tracing::info!(detail, "logout request refused");
            return Ok(crate::pages::error_page(
                StatusCode::BAD_REQUEST,
                lang,
                i18n::ERROR_TITLE.get(lang),
                &format!("{} ({detail})", i18n::BAD_CLIENT.get(lang)),
            ));
        }
    };
    let Some(current) = current_session(state, headers, now).await? else {
        return Ok(after_logout(state, &ctx, &req));
    };
    let member_sub = state
        .members()
        .by_id(&current.session.member_id)
        .await
        .page(lang)?
        .map(|m| m.subject);
    let confirmed = req.hint_sid.as_deref() == Some(current.session.sid.as_str())
        || (req.hint_sid.is_none() && req.hint_sub.is_some() && req.hint_sub == member_sub);
    if confirmed {
        end_session(state, &current.session.sid, now)
            .await
            .page(lang)?;
        return Ok(after_logout(state, &ctx, &req));
    }
    Ok(confirm_page(state, &ctx, &params))
}

fn confirm_page(state: &AppState, ctx: &Ctx, params: &HashMap<String, String>) -> Response {
    let keep = [
        "post_logout_redirect_uri",
        "state",
        "client_id",
        "id_token_hint",
        "ui_locales",
    ];
    let body = html! {
        h1 { (ctx.t(CONFIRM_TITLE)) }
        p { (ctx.t(CONFIRM_BODY)) }
        form method="post" action="/logout/confirm" {
            (forms::csrf(&ctx.csrf))
            @for k in keep {
                @if let Some(v) = params.get(k) { input type="hidden" name=(k) value=(v); }
            }
            div.actions {
                button.primary type="submit" name="confirm" value="yes" { (ctx.t(YES)) }
                a.button.secondary href="/account" { (ctx.t(i18n::CANCEL)) }
            }
        }
    };
    ctx.render(
        state,
        Frame {
            title: ctx.t(CONFIRM_TITLE),
            step: Some("logout"),
            ..Frame::default()
        },
        body,
    )
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

/// The member confirmed (or pressed "sign out" on our own pages).
pub async fn confirm(
    Hosted { state, ctx, now }: Hosted,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> PageResult {
    let req = check(&state, &form.rest).await.unwrap_or_default();
    if let Some(current) = current_session(&state, &headers, now).await? {
        end_session(&state, &current.session.sid, now)
            .await
            .page(ctx.lang)?;
    }
    Ok(after_logout(&state, &ctx, &req))
}
