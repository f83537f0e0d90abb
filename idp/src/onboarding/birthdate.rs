//! `birthdate` (SPEC step 2): the member types their own birthdate, in any form the union's
//! members write it (`19801201`, `1980/12/01`, 全角, 和暦 `S55.12.1`, `昭和55年12月1日`). Every
//! answer that is a readable date is a guess at personal data, so it is counted against the
//! account's brute-force budget (`security::throttle`) before it is compared; an unreadable
//! answer is not compared and not counted.

use super::{FlowQuery, Visit, csrf_refused, visit};
use crate::pages::Ctx;
use crate::pages::forms::{self, Field, PageForm};
use crate::pages::i18n::{self, Text};
use crate::security::throttle::{Gate, Throttle};
use crate::signin::steps::Step;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kenpo_shared::birthdate::{BirthdateError, parse_birthdate};
use maud::html;
use serde::Deserialize;
use serde_json::json;

const TITLE: Text = Text("生年月日の確認", "Confirm your date of birth");
const LEAD: Text = Text(
    "ご本人であることを確かめるため、あなたの生年月日を入力してください。",
    "To make sure it is you, enter your date of birth.",
);
const LABEL: Text = Text("生年月日", "Date of birth");
const HINT: Text = Text(
    "例：19801201（西暦8桁）、1980/12/01、昭和55年12月1日",
    "For example 19801201, 1980-12-01 or 1980/12/01",
);
const SUBMIT: Text = Text("次へ", "Next");
const EMPTY: Text = Text("生年月日を入力してください。", "Enter your date of birth.");
const UNREADABLE: Text = Text(
    "生年月日として読み取れませんでした。「19801201」のように西暦の8桁の数字で入力してください。",
    "We could not read that as a date. Type it as 8 digits, for example 19801201.",
);
const NO_SUCH_DAY: Text = Text(
    "その日付はカレンダーにありません。月と日をご確認ください。",
    "That day does not exist. Please check the month and day.",
);
const OUTSIDE_ERA: Text = Text(
    "その年号（和暦）にその日付はありません。西暦の8桁（例：19801201）でも入力できます。",
    "That date is outside the Japanese era given. You can also type 8 digits, e.g. 19801201.",
);
const WRONG: Text = Text(
    "入力された生年月日が、組合に登録されている生年月日と一致しません。もう一度ご確認ください。",
    "That date of birth does not match the union's records. Please check and try again.",
);

#[derive(Deserialize)]
pub struct BirthdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    birthdate: String,
}

fn wanted(s: Step) -> bool {
    s == Step::Birthdate
}

fn page(
    state: &AppState,
    v: &Visit,
    value: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = &v.ctx;
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        p { (ctx.t(LEAD)) }
        form method="post" action="/signin/birthdate" novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(v.flow_id()))
            (Field { autocomplete: "bday", value, hint: Some(ctx.t(HINT)), error, autofocus: true, maxlength: Some(40), ..Field::new("birthdate", ctx.t(LABEL)) }.render())
            button.primary type="submit" { (ctx.t(SUBMIT)) }
        }
    };
    v.render(state, status, Step::Birthdate, ctx.t(TITLE), vec![], body)
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    match visit(&state, ctx, &headers, q.flow.as_deref(), wanted, now).await {
        Ok(v) => page(&state, &v, "", None, StatusCode::OK),
        Err(r) => r,
    }
}

pub async fn post(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<BirthdateForm>,
) -> Response {
    let now = state.now();
    if let Some(r) = csrf_refused(&ctx, &form.csrf) {
        return r;
    }
    let v = match visit(&state, ctx, &headers, form.flow.as_deref(), wanted, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
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
            return page(
                &state,
                &v,
                &typed,
                Some(msg.get(lang)),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    // A readable date is a guess: it claims from the account's budget before it is compared.
    match Throttle::new(&state.eph, &state.config.throttle)
        .account_attempt(&v.member.user_id_key)
        .await
    {
        Ok(Gate::Open) => {}
        Ok(Gate::Wait(w)) => {
            let wait = i18n::wait_text(lang, w);
            let msg = format!(
                "{} {}",
                i18n::TOO_MANY.get(lang),
                lang.pick(&format!("（あと{wait}）"), &format!("(wait {wait})"))
            );
            return page(
                &state,
                &v,
                &typed,
                Some(&msg),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return crate::error::PageError::internal(lang, e).into_response(),
    }
    if v.member.birthdate() != Some(date) {
        v.audit(&state, "onboarding.birthdate_wrong", json!({}), now)
            .await;
        return page(
            &state,
            &v,
            &typed,
            Some(WRONG.get(lang)),
            StatusCode::UNAUTHORIZED,
        );
    }
    if let Err(e) = state.members().confirm_birthdate(&v.member.id, now).await {
        return crate::error::PageError::internal(lang, e).into_response();
    }
    v.audit(&state, "onboarding.birthdate", json!({}), now)
        .await;
    v.advance(&state, now).await
}
