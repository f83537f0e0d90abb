//! Account actions on sessions: end one (another device, or this one), or sign out
//! everywhere. Ending a session revokes its grants and queues back-channel logout to every
//! service that received tokens in it (`oidc::logout::end_session`). Ending sessions protects
//! the member, so it needs no re-confirmation.

use crate::error::{PageError, PageResult, PageResultExt};
use crate::oidc::logout::end_session;
use crate::signin::session::Sessions;
use crate::signin::visit::AccountForm;
use crate::state::AppState;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct EndForm {
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

pub async fn end_one(AccountForm { state, v, form }: AccountForm<EndForm>) -> PageResult {
    let lang = v.lang();
    // Only the member's own sessions can be named.
    let own = Sessions::new(&state)
        .for_member(&v.member.id, v.now)
        .await
        .page(lang)?
        .into_iter()
        .any(|s| s.sid == form.sid);
    if !own {
        return Err(PageError::NotFound(lang));
    }
    end_session(&state, &form.sid, v.now).await.page(lang)?;
    if form.sid == v.current.session.sid {
        return Ok(signed_out(&state));
    }
    Ok(Redirect::to("/account?done=session-ended#sessions").into_response())
}

pub async fn end_all(AccountForm { state, v, .. }: AccountForm<EndForm>) -> PageResult {
    let lang = v.lang();
    let list = Sessions::new(&state)
        .for_member(&v.member.id, v.now)
        .await
        .page(lang)?;
    let mut ended = 0;
    for s in &list {
        if end_session(&state, &s.sid, v.now).await.page(lang)? {
            ended += 1;
        }
    }
    // This browser's session too, even if the list missed it.
    end_session(&state, &v.current.session.sid, v.now)
        .await
        .page(lang)?;
    v.audit(&state, "session.end_all", json!({"ended": ended}))
        .await;
    Ok(signed_out(&state))
}
