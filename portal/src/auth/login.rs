//! `GET /auth/login` sends the member to the IdP; `GET /auth/callback` is where the IdP sends
//! them back. Both are thin: `flow` decides, `session` and `store::visits` persist.

use super::cookies::{LOGIN, SESSION};
use super::flow::{self, Callback, CallbackError};
use super::session::random_token;
use super::tokens::IdTokenError;
use crate::error::{PageError, PageResultExt, no_store};
use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame};
use crate::state::AppState;
pub use crate::texts::auth::login::*;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub return_to: Option<String>,
}

/// `GET /auth/login`: to the IdP (or straight back when already signed in).
pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    parts: Parts,
) -> Result<Response, PageError> {
    let q: LoginQuery = crate::pages::query(parts.uri.query(), ctx.lang)?;
    let return_to = flow::safe_return_to(q.return_to.as_deref());
    if super::signed_in(&parts, &state).await?.is_some() {
        return Ok(Redirect::to(&return_to).into_response());
    }
    // One sign-in cookie per browser, reused, so sign-ins started in two tabs both finish.
    let (browser, new_cookie) = match state.cookies.get(&parts, LOGIN) {
        Some(b) => (b, false),
        None => (random_token(), true),
    };
    let url = match flow::begin(&state, &return_to, ctx.lang, &browser).await {
        Ok(u) => u,
        Err(flow::BeginError::Provider(e)) => {
            tracing::warn!(error = %e, "sign-in cannot start: IdP unavailable");
            return Err(PageError::Unavailable(ctx.lang));
        }
        Err(e) => return Err(PageError::internal(ctx.lang, e)),
    };
    let mut res = Redirect::to(&url).into_response();
    if new_cookie {
        res.headers_mut().append(
            SET_COOKIE,
            state
                .cookies
                .set(LOGIN, &browser, Some(state.config.session.absolute_secs)),
        );
    }
    no_store(&mut res);
    Ok(res)
}

/// `GET /auth/callback`: finish the sign-in and start the portal session.
pub async fn callback(
    State(state): State<AppState>,
    ctx: Ctx,
    parts: Parts,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let cb: Callback = crate::pages::query(raw.as_deref(), ctx.lang)?;
    let browser = state.cookies.get(&parts, LOGIN);
    let done = match flow::complete(&state, &cb, browser.as_deref()).await {
        Ok(t) => t,
        Err(e) => return Ok(callback_failure(&state, &ctx, e)),
    };
    let now = state.now();
    let key = done.identity.key.clone();
    let previous = state
        .db
        .run(move |c| crate::store::visits::swap(c, &key, now))
        .await
        .page(ctx.lang)?;
    let session = flow::new_session(&done, previous, now);
    let sessions = state.sessions();
    // A session this browser already had is replaced, not kept beside the new one.
    if let Some(old) = state.cookies.get(&parts, SESSION) {
        sessions
            .end(&super::session::digest(&old))
            .await
            .page(ctx.lang)?;
    }
    let Some(token) = sessions.create(&session).await.page(ctx.lang)? else {
        return Ok(message(
            &state,
            &ctx,
            StatusCode::OK,
            EXPIRED_TITLE,
            SIGNED_OUT_ELSEWHERE,
        ));
    };
    tracing::info!(sub = %done.identity.sub, "portal sign-in");
    let mut res = Redirect::to(&done.return_to).into_response();
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.set(SESSION, &token, None));
    no_store(&mut res);
    Ok(res)
}

fn callback_failure(state: &AppState, ctx: &Ctx, e: CallbackError) -> Response {
    let l = ctx.lang;
    match e {
        CallbackError::Refused(code) => {
            tracing::info!(%code, "the IdP did not sign the member in");
            message(state, ctx, StatusCode::OK, CANCELLED_TITLE, CANCELLED_BODY)
        }
        CallbackError::Stale | CallbackError::NoCode => message(
            state,
            ctx,
            StatusCode::BAD_REQUEST,
            EXPIRED_TITLE,
            EXPIRED_BODY,
        ),
        CallbackError::IdToken(IdTokenError::NotAMember) => message(
            state,
            ctx,
            StatusCode::FORBIDDEN,
            NOT_MEMBER_TITLE,
            NOT_MEMBER_BODY,
        ),
        CallbackError::WrongIssuer => {
            tracing::warn!("authorization response from another issuer refused (mix-up?)");
            message(
                state,
                ctx,
                StatusCode::BAD_REQUEST,
                EXPIRED_TITLE,
                EXPIRED_BODY,
            )
        }
        CallbackError::Unavailable(e) => {
            tracing::warn!(error = %e, "callback: IdP unavailable");
            PageError::Unavailable(l).into_response()
        }
        other => PageError::internal(l, other).into_response(),
    }
}

/// A page with a title, an explanation and a button to sign in again.
fn message(state: &AppState, ctx: &Ctx, status: StatusCode, title: Text, body: Text) -> Response {
    let page = html! {
        h1 { (ctx.t(title)) }
        (kenpo_shared::web::alert(ctx.t(body)))
        p { a.button href="/auth/login" { (ctx.t(SIGN_IN_AGAIN)) } }
        (crate::pages::parts::contact(ctx, state))
    };
    let mut res = ctx.render(
        state,
        Frame {
            title: ctx.t(title),
            step: "portal-signin-problem",
            ..Frame::default()
        },
        page,
    );
    *res.status_mut() = status;
    res
}
