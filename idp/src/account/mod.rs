//! The member's account page (`/account`, linked from relying parties): second factors
//! (passkeys, authenticator app, email OTP, the preferred one), email address, password, and
//! the sessions signed in with this account.
//!
//! Access: a complete sign-in is required (a member with a pending step is sent to it).
//! Changes to factors, email or password also need a recent second factor (`FRESH_SECS`);
//! otherwise the member confirms once more (`signin::mfa`, step-up) and comes back. Removing the
//! last working factor is refused. Every change is written to the audit trail and mailed.

mod factors;
mod page;
mod profile;
mod sessions;

use crate::error::{PageError, PageResultExt};
use crate::mfa::Factors;
use crate::signin::mfa::step_up_url;
use crate::signin::session::Current;
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::credentials::CredentialStore;
use crate::store::members::Member;
use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Lang;

pub use page::Flash;

/// A second factor at most this old lets the member change sign-in settings.
pub const FRESH_SECS: i64 = 600;

pub fn routes() -> Router<AppState> {
    use axum::routing::{get, post};
    Router::new()
        .route("/account", get(page::get))
        .route("/account/passkeys/rename", post(factors::rename_passkey))
        .route("/account/passkeys/delete", post(factors::delete_passkey))
        .route("/account/totp/delete", post(factors::delete_totp))
        .route("/account/email-otp/off", post(factors::email_otp_off))
        .route("/account/preferred", post(factors::set_preferred))
        .route("/account/email", post(profile::email_start))
        .route("/account/email/confirm", post(profile::email_confirm))
        .route("/account/password", post(profile::change_password))
        .route("/account/sessions/end", post(sessions::end_one))
        .route("/account/sessions/end-all", post(sessions::end_all))
}

/// A signed-in member on the account pages.
pub struct Account {
    pub current: Current,
    pub member: Member,
    pub factors: Factors,
}

/// The account pages need a complete sign-in: no session → the login page; a pending step →
/// that step.
pub async fn require_account(
    state: &AppState,
    headers: &HeaderMap,
    now: i64,
) -> Result<Account, Response> {
    let lang = Lang::Ja;
    let Some(current) = signin::current_session(state, headers, now)
        .await
        .map_err(IntoResponse::into_response)?
    else {
        return Err(Redirect::to(Step::Login.path()).into_response());
    };
    let step = signin::next_step_for(state, &current.session, None, now)
        .await
        .map_err(IntoResponse::into_response)?;
    if step != Step::Done {
        return Err(Redirect::to(&signin::step_url(step, None)).into_response());
    }
    let member = state
        .members()
        .by_id(&current.session.member_id)
        .await
        .page(lang)
        .map_err(IntoResponse::into_response)?
        .ok_or_else(|| PageError::NotFound(lang).into_response())?;
    let factors = CredentialStore::new(state.db.clone())
        .factors(&member)
        .await
        .page(lang)
        .map_err(IntoResponse::into_response)?;
    Ok(Account {
        current,
        member,
        factors,
    })
}

/// Whether the session's second factor is recent enough for a change.
pub fn is_fresh(current: &Current, now: i64) -> bool {
    current
        .session
        .mfa_time
        .is_some_and(|t| now - t <= FRESH_SECS)
}

/// `require_account`, plus a recent second factor: otherwise the member confirms with their
/// preferred factor and returns to `return_to`.
pub async fn require_fresh(
    state: &AppState,
    headers: &HeaderMap,
    return_to: &str,
    now: i64,
) -> Result<Account, Response> {
    let acc = require_account(state, headers, now).await?;
    if is_fresh(&acc.current, now) {
        return Ok(acc);
    }
    let f = acc.factors.preferred(&acc.member);
    Err(Redirect::to(&step_up_url(f, return_to)).into_response())
}
