//! `enroll-passkey`: registering a passkey. The page names the device (`label`, prefilled
//! with a guess from the browser) and its script runs the ceremony through two JSON
//! endpoints (options, finish; see `mfa::passkey`). A failed or cancelled ceremony is simply
//! tried again: every press of the button starts a new one.

use super::Enrolling;
use crate::error::PageResult;
use crate::mfa::Factor;
use crate::mfa::passkey::{self, LABEL_MAX, PasskeyError, clean_label};
use crate::pages::forms::Field;
use crate::pages::script::{ScriptError, ScriptResult, follow, json_ok};
use crate::security::request::device_label;
use crate::signin::mfa_passkey::{NEEDS_SCRIPT, owner, passkey_failure, phone_help};
use crate::signin::visit::{Visiting, VisitingScript};
use crate::state::AppState;
pub use crate::texts::enroll::passkey::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

fn page(state: &AppState, en: &Enrolling) -> Response {
    let ctx = en.ctx();
    let base = en.action();
    let guess = device_label(&en.visit.requester.user_agent);
    let guess = if guess == "?" { String::new() } else { guess };
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        p { (ctx.t(INTRO)) }
        p.small { (ctx.t(BEFORE)) }
        form.passkey method="post" action=(format!("{base}/finish"))
            data-options=(format!("{base}/options")) data-finish=(format!("{base}/finish")) novalidate {
            (en.hidden())
            (Field { value: &guess, hint: Some(ctx.t(LABEL_HINT)), maxlength: Some(LABEL_MAX), autofocus: true, ..Field::new("label", ctx.t(LABEL)) }.render())
            div.passkey-status role="alert" aria-live="assertive" {}
            button.primary type="button" data-action="passkey-register" { (ctx.t(BUTTON)) }
        }
        noscript { (kenpo_shared::web::alert(ctx.t(NEEDS_SCRIPT))) }
        (phone_help(ctx))
        (en.way_out())
    };
    ctx.render(state, en.frame(TITLE, vec!["/static/passkey.js"]), body)
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let en = Enrolling::enter(&state, v, Factor::Passkey).await?;
    Ok(page(&state, &en))
}

#[derive(Deserialize)]
pub struct FinishRequest {
    #[serde(default)]
    label: String,
    #[serde(default)]
    ceremony: String,
    credential: RegisterPublicKeyCredential,
}

pub async fn options(
    State(state): State<AppState>,
    VisitingScript(v, _): VisitingScript<serde_json::Value>,
) -> ScriptResult {
    let en = Enrolling::enter(&state, v, Factor::Passkey).await?;
    let v = &en.visit;
    let (ceremony, options) =
        passkey::start_registration(&state, &v.member, owner(&v.current), v.now)
            .await
            .map_err(|e| passkey_failure(v.lang(), e))?;
    Ok(json_ok(json!({"ceremony": ceremony, "options": options})))
}

pub async fn finish(
    State(state): State<AppState>,
    VisitingScript(v, req): VisitingScript<FinishRequest>,
) -> ScriptResult {
    let en = Enrolling::enter(&state, v, Factor::Passkey).await?;
    let (lang, now) = (en.visit.lang(), en.visit.now);
    let Some(label) = clean_label(&req.body.label) else {
        return Err(ScriptError::Refused(
            StatusCode::BAD_REQUEST,
            LABEL_EMPTY.get(lang).into(),
        ));
    };
    let body = &req.body;
    let result = passkey::finish_registration(
        &state,
        owner(&en.visit.current),
        &body.ceremony,
        &body.credential,
        &label,
        now,
    )
    .await;
    match result {
        Ok(_) => Ok(follow(
            en.finish(&state, Some(&label)).await?.into_response(),
        )),
        Err(PasskeyError::Duplicate) => Err(ScriptError::Refused(
            StatusCode::CONFLICT,
            DUPLICATE.get(lang).into(),
        )),
        Err(e) => Err(passkey_failure(lang, e)),
    }
}
