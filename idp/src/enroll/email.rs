//! `enroll-email`: turning on one-time passwords by email. A code is mailed to the member's
//! verified address on arrival (unless one is already out); typing it back proves the mailbox
//! receives our mail before sign-ins depend on it.

use super::{Enrolling, FlowQuery, Mode, finish, frame, prepare, way_out};
use crate::error::PageError;
use crate::mfa::Factor;
use crate::mfa::email_otp::{self, Check, Purpose as OtpPurpose};
use crate::pages::Ctx;
use crate::pages::forms::{self, Field, PageForm};
use crate::pages::i18n::Text;
use crate::security::request::Requester;
use crate::signin::mfa::{
    CODE_LABEL, EMAIL_NOT_ARRIVED, RESEND, SendNote, VERIFY, attempt, code_failure,
};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

const TITLE: Text = Text(
    "メールでのワンタイムパスワードの設定",
    "Set up one-time passwords by email",
);
const INTRO: Text = Text(
    "ログインのたびに、登録したメールアドレスへ6桁のワンタイムパスワードをお送りします。設定のため、次のアドレスにワンタイムパスワードを送信しました：",
    "Each time you sign in, we mail a 6-digit one-time password to your address. To set this up, we sent one to:",
);
const NO_ADDRESS: Text = Text(
    "確認済みのメールアドレスがありません。先にアカウント設定でメールアドレスを登録してください。",
    "You have no confirmed email address yet. Add one on your account page first.",
);

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/signin/enroll-email", get(first_get).post(first_post))
        .route("/account/enroll-email", get(account_get).post(account_post))
}

fn page(
    state: &AppState,
    ctx: &Ctx,
    en: &Enrolling,
    note: &SendNote,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let action = en.mode.path(Factor::Email);
    let address = en.member.email.as_deref().unwrap_or("");
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        (note.render(ctx))
        p { (ctx.t(INTRO)) " " strong { (address) } }
        form method="post" action=(action) novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(en.flow()))
            (Field { autocomplete: "one-time-code", inputmode: Some("numeric"), class: Some("code"), autofocus: true, maxlength: Some(20), error, ..Field::new("otp", ctx.t(CODE_LABEL)) }.render())
            button.primary type="submit" { (ctx.t(VERIFY)) }
        }
        p.small { (ctx.t(EMAIL_NOT_ARRIVED)) }
        form method="post" action=(action) {
            (forms::csrf(&ctx.csrf))
            (forms::flow(en.flow()))
            button.secondary type="submit" name="resend" value="yes" { (ctx.t(RESEND)) }
        }
        (way_out(ctx, en))
    };
    ctx.render_status(
        state,
        status,
        frame(ctx, en, Factor::Email, TITLE, "enroll-email", Vec::new()),
        body,
    )
}

/// The enrolment context, if the member has an address to use.
async fn load(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    mode: Mode,
    flow: Option<&str>,
    now: i64,
) -> Result<Enrolling, Response> {
    let en = prepare(state, headers, mode, Factor::Email, flow, now).await?;
    if mode == Mode::Account && en.factors.email {
        return Err(Redirect::to("/account").into_response());
    }
    if !en.member.email_verified || en.member.email.is_none() {
        return Err(PageError::BadRequest(ctx.lang, NO_ADDRESS).into_response());
    }
    Ok(en)
}

async fn send(
    state: &AppState,
    ctx: &Ctx,
    en: &Enrolling,
    force: bool,
    now: i64,
) -> Result<SendNote, PageError> {
    let address = en.member.email.as_deref().unwrap_or_default();
    if !force
        && email_otp::live(state, &en.member.id, OtpPurpose::Enrol, now)
            .await
            .map_err(|e| PageError::internal(ctx.lang, e))?
            .is_some()
    {
        return Ok(SendNote::None);
    }
    let issued = email_otp::issue(
        state,
        &en.member.id,
        OtpPurpose::Enrol,
        address,
        ctx.lang,
        now,
    )
    .await
    .map_err(|e| PageError::internal(ctx.lang, e))?;
    Ok(SendNote::from_issue(&issued, force))
}

async fn show(
    state: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    mode: Mode,
    flow: Option<String>,
) -> Response {
    let now = state.now();
    let en = match load(&state, &ctx, &headers, mode, flow.as_deref(), now).await {
        Ok(en) => en,
        Err(r) => return r,
    };
    match send(&state, &ctx, &en, false, now).await {
        Ok(note) => {
            let status = match note {
                SendNote::Failed => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            page(&state, &ctx, &en, &note, None, status)
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    otp: String,
    #[serde(default)]
    resend: Option<String>,
}

async fn confirm(
    state: AppState,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    mode: Mode,
    form: CodeForm,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let en = match load(&state, &ctx, &headers, mode, form.flow.as_deref(), now).await {
        Ok(en) => en,
        Err(r) => return r,
    };
    if form.resend.is_some() {
        return match send(&state, &ctx, &en, true, now).await {
            Ok(note) => {
                let status = match note {
                    SendNote::Wait(_) => StatusCode::TOO_MANY_REQUESTS,
                    SendNote::Failed => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::OK,
                };
                page(&state, &ctx, &en, &note, None, status)
            }
            Err(e) => e.into_response(),
        };
    }
    match attempt(&state, &ctx, &en.member).await {
        Ok(None) => {}
        Ok(Some(msg)) => {
            return page(
                &state,
                &ctx,
                &en,
                &SendNote::None,
                Some(&msg),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return e.into_response(),
    }
    match email_otp::verify(&state, &en.member.id, OtpPurpose::Enrol, &form.otp, now).await {
        Ok(Check::Accepted { .. }) => {
            if let Err(e) = state
                .members()
                .set_email_otp(&en.member.id, true, now)
                .await
            {
                return PageError::internal(ctx.lang, e).into_response();
            }
            finish(&state, &ctx, &requester, en, Factor::Email, None, now).await
        }
        Ok(check) => {
            let msg = code_failure(&ctx, &check);
            page(
                &state,
                &ctx,
                &en,
                &SendNote::None,
                Some(&msg),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => PageError::internal(ctx.lang, e).into_response(),
    }
}

async fn first_get(
    State(s): State<AppState>,
    ctx: Ctx,
    h: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    show(s, ctx, h, Mode::FirstLogin, q.flow).await
}
async fn account_get(State(s): State<AppState>, ctx: Ctx, h: HeaderMap) -> Response {
    show(s, ctx, h, Mode::Account, None).await
}
async fn first_post(
    State(s): State<AppState>,
    ctx: Ctx,
    r: Requester,
    h: HeaderMap,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    confirm(s, ctx, r, h, Mode::FirstLogin, f).await
}
async fn account_post(
    State(s): State<AppState>,
    ctx: Ctx,
    r: Requester,
    h: HeaderMap,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    confirm(s, ctx, r, h, Mode::Account, CodeForm { flow: None, ..f }).await
}
