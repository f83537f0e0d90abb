//! `birthdate` (SPEC step 2): the member types their own birthdate, in any form the union's
//! members write it (`19801201`, `1980/12/01`, 全角, 和暦 `S55.12.1`, `昭和55年12月1日`). Every
//! answer that is a readable date is a guess at personal data, so it is counted against the
//! account's brute-force budget (`security::throttle`) before it is compared; an unreadable
//! answer is not compared and not counted.

use super::OneField;
use crate::error::{PageResult, PageResultExt};
use crate::pages::forms::FieldSpec;
use crate::security::throttle::Kind;
use crate::signin::second_factor::attempt;
use crate::signin::steps::Step;
use crate::signin::visit::Visiting;
use crate::state::AppState;
pub use crate::texts::onboarding::birthdate::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kenpo_shared::birthdate::{BirthdateError, parse_birthdate};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct BirthdateForm {
    #[serde(default)]
    birthdate: String,
}

const PAGE: OneField = OneField {
    step: Step::Birthdate,
    action: "/signin/birthdate",
    title: TITLE,
    lead: LEAD,
    submit: SUBMIT,
    field: FieldSpec {
        hint: Some(HINT),
        autocomplete: "bday",
        autofocus: true,
        maxlength: 40,
        ..FieldSpec::text("birthdate", LABEL)
    },
};

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let v = v.owing(&state, Step::Birthdate).await?;
    Ok(PAGE.render(&state, &v, "", None, StatusCode::OK))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<BirthdateForm>,
) -> PageResult {
    let mut v = v.owing(&state, Step::Birthdate).await?;
    let lang = v.lang();
    let typed = form.birthdate.chars().take(40).collect::<String>();
    let date = match parse_birthdate(&typed) {
        Ok(d) => d,
        Err(e) => {
            let msg = match e {
                BirthdateError::Empty => EMPTY,
                BirthdateError::Format => UNREADABLE,
                BirthdateError::NoSuchDay => NO_SUCH_DAY,
                BirthdateError::OutsideEra => OUTSIDE_ERA,
            };
            let status = StatusCode::BAD_REQUEST;
            return Ok(PAGE.render(&state, &v, &typed, Some(msg.get(lang)), status));
        }
    };
    // A readable date is a guess: it claims from the account's budget before it is compared.
    if let Some(msg) = attempt(&state, &v, Kind::Password).await? {
        let status = StatusCode::TOO_MANY_REQUESTS;
        return Ok(PAGE.render(&state, &v, &typed, Some(&msg), status));
    }
    if v.member.birthdate() != Some(date) {
        v.audit(&state, "onboarding.birthdate_wrong", json!({}))
            .await;
        let status = StatusCode::UNAUTHORIZED;
        return Ok(PAGE.render(&state, &v, &typed, Some(WRONG.get(lang)), status));
    }
    state
        .members()
        .confirm_birthdate(&v.member.id, v.now)
        .await
        .page(lang)?;
    v.audit(&state, "onboarding.birthdate", json!({})).await;
    v.member.birthdate_confirmed_at = Some(v.now);
    Ok(v.advance(&state).await?.into_response())
}
