//! `mfa-passkey`: a passkey as the second factor (or step-up), and what every passkey page
//! shares: the phone (hybrid) explanation of the union's guide, and the member-facing
//! message of a failed ceremony. The ceremony itself is `mfa::passkey`.

use crate::error::{PageError, PageResult};
use crate::mfa::Factor;
use crate::mfa::passkey::{self, Owner, PasskeyError};
use crate::pages::Ctx;
use crate::pages::script::{ScriptError, ScriptResult, follow, json_ok};
use crate::signin::second_factor::{Asked, NextQuery};
use crate::signin::session::Current;
use crate::signin::visit::{Visiting, VisitingScript};
use crate::state::AppState;
pub use crate::texts::signin::mfa_passkey::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

/// The member-facing message of a failed ceremony (logged when it is not the member's doing).
pub fn passkey_failure(lang: Lang, e: PasskeyError) -> ScriptError {
    let (status, text) = match &e {
        PasskeyError::Expired => (StatusCode::BAD_REQUEST, CEREMONY_EXPIRED),
        PasskeyError::UnknownCredential => (StatusCode::UNAUTHORIZED, PASSKEY_UNKNOWN),
        PasskeyError::CounterRegression => (StatusCode::UNAUTHORIZED, PASSKEY_CLONED),
        PasskeyError::Refused(why) => {
            tracing::info!(reason = %why, "passkey response refused");
            (StatusCode::UNAUTHORIZED, PASSKEY_REFUSED)
        }
        PasskeyError::NoPasskey | PasskeyError::Duplicate => {
            (StatusCode::BAD_REQUEST, PASSKEY_REFUSED)
        }
        PasskeyError::Store(_) | PasskeyError::Ephemeral(_) | PasskeyError::Encode(_) => {
            return ScriptError::Page(PageError::internal(lang, e));
        }
    };
    ScriptError::Refused(status, text.get(lang).to_string())
}

/// The phone / tablet (hybrid) explanation, as the union's guide gives it.
pub fn phone_help(ctx: &Ctx) -> Markup {
    html! {
        details.phone-help {
            summary { (ctx.t(PHONE_HELP_TITLE)) }
            ol { @for t in PHONE_HELP { li { (ctx.t(t)) } } }
        }
    }
}

/// Who a ceremony belongs to: the member, in this very session.
pub fn owner(current: &Current) -> Owner {
    Owner {
        member_id: current.session.member_id.clone(),
        sid: current.session.sid.clone(),
    }
}

fn page(state: &AppState, asked: &Asked) -> Response {
    let ctx = asked.ctx();
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        (asked.intro())
        p { (ctx.t(HELP)) }
        form.passkey method="post" action="/signin/mfa-passkey/finish"
            data-options="/signin/mfa-passkey/options" data-finish="/signin/mfa-passkey/finish" {
            (asked.hidden())
            div.passkey-status role="alert" aria-live="assertive" {}
            button.primary type="button" data-action="passkey-authenticate" { (ctx.t(BUTTON)) }
        }
        noscript { (kenpo_shared::web::alert(ctx.t(NEEDS_SCRIPT))) }
        (phone_help(ctx))
        (asked.other_methods(Factor::Passkey))
    };
    ctx.render(
        state,
        asked.frame(TITLE, "mfa-passkey", vec!["/static/passkey.js"]),
        body,
    )
}

pub async fn get(State(state): State<AppState>, Visiting(v, q): Visiting<NextQuery>) -> PageResult {
    let asked = Asked::enter(&state, v, q.next.as_deref(), Factor::Passkey).await?;
    Ok(page(&state, &asked))
}

#[derive(Deserialize)]
pub struct AssertionRequest {
    #[serde(default)]
    ceremony: String,
    credential: PublicKeyCredential,
}

pub async fn options(
    State(state): State<AppState>,
    VisitingScript(v, req): VisitingScript<serde_json::Value>,
) -> ScriptResult {
    let asked = Asked::enter(&state, v, req.field("next"), Factor::Passkey).await?;
    let v = &asked.visit;
    let (ceremony, options) =
        passkey::start_second_factor(&state, &v.member, owner(&v.current), v.now)
            .await
            .map_err(|e| passkey_failure(v.lang(), e))?;
    Ok(json_ok(json!({"ceremony": ceremony, "options": options})))
}

pub async fn finish(
    State(state): State<AppState>,
    VisitingScript(v, req): VisitingScript<AssertionRequest>,
) -> ScriptResult {
    let asked = Asked::enter(&state, v, req.field("next"), Factor::Passkey).await?;
    let v = &asked.visit;
    let ip = v.requester.ip.to_string();
    passkey::finish_second_factor(
        &state,
        owner(&v.current),
        &req.body.ceremony,
        &req.body.credential,
        &ip,
        v.now,
    )
    .await
    .map_err(|e| passkey_failure(v.lang(), e))?;
    let next = asked.complete(&state, &["hwk", "user"]).await?;
    Ok(follow(next.into_response()))
}
