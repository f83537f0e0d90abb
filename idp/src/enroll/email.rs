//! `enroll-email`: turning on one-time passwords by email. A code is mailed to the member's
//! verified address on arrival (unless one is already out); typing it back proves the mailbox
//! receives our mail before sign-ins depend on it.

use super::{Enrolling, Mode};
use crate::error::PageResultExt;
use crate::error::{PageError, PageResult};
use crate::mfa::Factor;
use crate::mfa::email_otp::Purpose as OtpPurpose;
use crate::signin::mfa_email::{CodeForm, SendNote, check_code, code_forms, send_code};
use crate::signin::visit::Visiting;
use crate::state::AppState;
pub use crate::texts::enroll::email::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

fn page(
    state: &AppState,
    en: &Enrolling,
    note: &SendNote,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = en.ctx();
    let address = en.visit.member.email.as_deref().unwrap_or("");
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        (note.render(ctx))
        p { (ctx.t(INTRO)) " " strong { (address) } }
        (code_forms(ctx, en.action(), &en.hidden(), error))
        (en.way_out())
    };
    ctx.render_status(state, status, en.frame(TITLE, Vec::new()), body)
}

/// The enrolment, if the member has a verified address to use (and, on the account page,
/// has not turned the factor on already).
async fn enter(state: &AppState, v: crate::signin::visit::Visit) -> Result<Enrolling, PageError> {
    let en = Enrolling::enter(state, v, Factor::Email).await?;
    if en.mode == Mode::Account && en.visit.factors.email {
        return Err(PageError::Redirect("/account".into()));
    }
    let member = &en.visit.member;
    if !member.email_verified || member.email.is_none() {
        return Err(PageError::BadRequest(en.visit.lang(), NO_ADDRESS));
    }
    Ok(en)
}

async fn send(state: &AppState, en: &Enrolling, force: bool) -> Result<SendNote, PageError> {
    let address = en.visit.member.email.as_deref().unwrap_or_default();
    send_code(state, &en.visit, OtpPurpose::Enrol, address, force).await
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let en = enter(&state, v).await?;
    let note = send(&state, &en, false).await?;
    let status = match note {
        SendNote::Failed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    Ok(page(&state, &en, &note, None, status))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<CodeForm>,
) -> PageResult {
    let mut en = enter(&state, v).await?;
    if form.resend.is_some() {
        let note = send(&state, &en, true).await?;
        return Ok(page(&state, &en, &note, None, note.status()));
    }
    if let Err((msg, status)) = check_code(&state, &en.visit, OtpPurpose::Enrol, &form.otp).await? {
        return Ok(page(&state, &en, &SendNote::None, Some(&msg), status));
    }
    let v = &mut en.visit;
    state
        .members()
        .set_email_otp(&v.member.id, true, v.now)
        .await
        .page(v.lang())?;
    v.member.email_otp_enabled = true;
    Ok(en.finish(&state, None).await?.into_response())
}
