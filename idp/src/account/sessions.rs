//! Account actions on sessions: end one (another device, or this one), or sign out
//! everywhere. Ending a session revokes its grants and queues back-channel logout to every
//! service that received tokens in it (`oidc::logout::end_session`). Ending sessions protects
//! the member, so it needs no re-confirmation.

use super::require_account;
use crate::error::PageError;
use crate::oidc::logout::end_session;
use crate::pages::Ctx;
use crate::pages::forms::PageForm;
use crate::security::request::Requester;
use crate::signin::session::Sessions;
use crate::state::AppState;
use crate::store::audit::Actor;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sid: String,
}

/// After this browser's own session ended: the login page, cookie cleared.
fn signed_out(state: &AppState) -> Response {
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.clear("kenpo_session"));
    res
}

pub async fn end_one(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<EndForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let acc = match require_account(&state, &headers, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    // Only the member's own sessions can be named.
    let own = match Sessions::new(&state).for_member(&acc.member.id, now).await {
        Ok(list) => list.into_iter().any(|s| s.sid == form.sid),
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    if !own {
        return PageError::NotFound(ctx.lang).into_response();
    }
    if let Err(e) = end_session(&state, &form.sid, now).await {
        return PageError::internal(ctx.lang, e).into_response();
    }
    if form.sid == acc.current.session.sid {
        return signed_out(&state);
    }
    Redirect::to("/account?done=session-ended#sessions").into_response()
}

pub async fn end_all(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<EndForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let acc = match require_account(&state, &headers, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let list = match Sessions::new(&state).for_member(&acc.member.id, now).await {
        Ok(l) => l,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let mut ended = 0;
    for s in &list {
        match end_session(&state, &s.sid, now).await {
            Ok(true) => ended += 1,
            Ok(false) => {}
            Err(e) => return PageError::internal(ctx.lang, e).into_response(),
        }
    }
    // This browser's session too, even if the list missed it.
    let _ = end_session(&state, &acc.current.session.sid, now).await;
    let _ = state
        .audit()
        .record(
            Some(&acc.member.id),
            Actor::Member,
            "session.end_all",
            json!({"ended": ended}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await;
    signed_out(&state)
}
