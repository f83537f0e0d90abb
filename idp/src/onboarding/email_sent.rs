//! `email-sent` (SPEC step 4): the verification mail is out. `continue` moves on once the
//! address is verified — whichever tab, browser or device opened the link; `resend` mails a new
//! link; `change` goes back to `email`. The page script asks `status` whether the link was
//! opened elsewhere.

use super::email::send_link;
use crate::error::{PageResult, PageResultExt};
use crate::pages::forms;
use crate::signin::email_pending_key;
use crate::signin::steps::Step;
use crate::signin::visit::{Browser, Visit, Visiting, load};
use crate::state::AppState;
pub use crate::texts::onboarding::email_sent::*;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use maud::html;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct SentForm {
    #[serde(default, rename = "continue")]
    go_on: Option<String>,
    #[serde(default)]
    resend: Option<String>,
    #[serde(default)]
    change: Option<String>,
}

fn sent_page(
    state: &AppState,
    v: &Visit,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = &v.ctx;
    let email = v.member.email.clone().unwrap_or_default();
    let from = &state.config.mail.from_address;
    let status_url = match v.flow_id() {
        Some(f) => format!("/signin/email-sent/status?flow={f}"),
        None => "/signin/email-sent/status".to_string(),
    };
    let body = html! {
        h1 { (ctx.t(SENT_TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        @if let Some(n) = notice { (kenpo_shared::web::notice(n)) }
        p {
            @match ctx.lang {
                Lang::Ja => { strong.break-all { (email) } " あてに確認メールを送りました。" },
                Lang::En => { "We sent a confirmation mail to " strong.break-all { (email) } "." },
            }
        }
        ol.steps {
            li { (ctx.t(SENT_STEP1)) }
            li { (ctx.t(SENT_STEP2)) }
        }
        form method="post" action="/signin/email-sent" {
            (forms::hidden(&ctx.csrf, v.flow_id()))
            p id="email-confirmed" role="status" data-status-url=(status_url) data-text=(ctx.t(CONFIRMED_HERE)) {}
            button.primary type="submit" name="continue" value="yes" { (ctx.t(NEXT)) }
            h2 { (ctx.lang.pick("メールが届かないときは", "No mail?")) }
            p.small {
                @match ctx.lang {
                    Lang::Ja => { "迷惑メールのフォルダもご確認ください。送信元は " span.break-all { (from) } " です。リンクの有効期限は60分です。" },
                    Lang::En => { "Please check your spam folder too. The mail comes from " span.break-all { (from) } ". The link is valid for 60 minutes." },
                }
            }
            div.actions {
                button.secondary type="submit" name="resend" value="yes" { (ctx.t(RESEND)) }
                button.link type="submit" name="change" value="yes" { (ctx.t(CHANGE)) }
            }
        }
    };
    v.render(
        state,
        status,
        Step::EmailSent,
        ctx.t(SENT_TITLE),
        vec!["/static/email-sent.js"],
        body,
    )
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let v = v.owing(&state, Step::EmailSent).await?;
    Ok(sent_page(&state, &v, None, None, StatusCode::OK))
}

/// `continue`: the visit itself moves on once the address is verified (the step owed is then
/// no longer `email-sent`); `resend`: a new link; `change`: back to the `email` step.
pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<SentForm>,
) -> PageResult {
    let mut v = v.owing(&state, Step::EmailSent).await?;
    let lang = v.lang();
    if form.change.is_some() {
        state
            .eph
            .delete(&email_pending_key(&v.member.id))
            .await
            .page(lang)?;
        v.email_pending = false;
        return Ok(v.advance(&state).await?.into_response());
    }
    if form.resend.is_some() {
        let email = v.member.email.clone().unwrap_or_default();
        return Ok(match send_link(&state, &mut v, &email).await {
            Ok(()) => sent_page(&state, &v, Some(RESENT.get(lang)), None, StatusCode::OK),
            Err(msg) => sent_page(&state, &v, None, Some(&msg), StatusCode::TOO_MANY_REQUESTS),
        });
    }
    let _continue = form.go_on;
    Ok(sent_page(
        &state,
        &v,
        None,
        Some(NOT_YET.get(lang)),
        StatusCode::CONFLICT,
    ))
}

#[derive(Deserialize)]
pub struct StatusQuery {
    flow: Option<String>,
}

/// `GET /signin/email-sent/status`: whether the address is verified yet, for the page script
/// that tells a member waiting on `email-sent` that the link was opened elsewhere (401
/// without a session: the script just stops asking).
pub async fn status(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<StatusQuery>,
) -> PageResult {
    let Some(v) = load(&state, browser, q.flow.as_deref()).await? else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    let waiting = v.owed(&state) == Step::EmailSent;
    let mut res = axum::Json(json!({ "waiting": waiting })).into_response();
    crate::pages::no_store(&mut res);
    Ok(res)
}
