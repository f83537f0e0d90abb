//! `mfa-totp`: the code from the member's authenticator app, as a sign-in step or a step-up.
//! The check is `mfa::totp::verify` (one conditional UPDATE: a code is accepted once, across
//! replicas); the attempt is claimed from the account's budget first.

use crate::error::{PageResult, PageResultExt};
use crate::mfa::{self, Factor};
use crate::signin::second_factor::{Asked, NextQuery, VERIFY, WRONG_CODE, code_field};
use crate::signin::visit::Visiting;
use crate::state::AppState;
pub use crate::texts::signin::mfa_totp::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    otp: String,
}

fn page(state: &AppState, asked: &Asked, error: Option<&str>, status: StatusCode) -> Response {
    let ctx = asked.ctx();
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        (asked.intro())
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        p { (ctx.t(HELP)) }
        form method="post" action="/signin/mfa-totp" novalidate {
            (asked.hidden())
            (code_field(ctx, error, true))
            button.primary type="submit" { (ctx.t(VERIFY)) }
        }
        (asked.other_methods(Factor::Totp))
    };
    ctx.render_status(
        state,
        status,
        asked.frame(TITLE, "mfa-totp", Vec::new()),
        body,
    )
}

pub async fn get(State(state): State<AppState>, Visiting(v, q): Visiting<NextQuery>) -> PageResult {
    let asked = Asked::enter(&state, v, q.next.as_deref(), Factor::Totp).await?;
    Ok(page(&state, &asked, None, StatusCode::OK))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<CodeForm>,
) -> PageResult {
    let asked = Asked::enter(&state, v, form.next.as_deref(), Factor::Totp).await?;
    if let Some(msg) = asked.attempt(&state).await? {
        return Ok(page(
            &state,
            &asked,
            Some(&msg),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let v = &asked.visit;
    let check = mfa::totp::verify(&state.db, &state.sbox, &v.member.id, &form.otp, v.now)
        .await
        .page(v.lang())?;
    let error = match check {
        mfa::totp::Check::Accepted => {
            return Ok(asked.complete(&state, &["otp"]).await?.into_response());
        }
        mfa::totp::Check::Replayed => REPLAYED,
        _ => WRONG_CODE,
    };
    crate::signin::second_factor::failed(&state, v, "totp").await;
    let msg = asked.ctx().t(error);
    Ok(page(&state, &asked, Some(msg), StatusCode::UNAUTHORIZED))
}
