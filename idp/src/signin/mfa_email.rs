//! `mfa-email`: a one-time password mailed to the member's verified address, as a sign-in
//! step or a step-up. Also what every emailed-code page shares (enrolment, email change): the
//! send with its cooldown note, the code and resend forms, and the check against the
//! account's budget.

use crate::error::{PageError, PageResult, PageResultExt};
use crate::mail::masked;
use crate::mfa::Factor;
use crate::mfa::email_otp::{self, Check, Issue, Purpose as OtpPurpose};
use crate::pages::Ctx;
use crate::pages::i18n::{self};
use crate::security::throttle::Kind;
use crate::signin::second_factor::{Asked, NextQuery, VERIFY, attempt, code_field, failed};
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
pub use crate::texts::signin::mfa_email::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use maud::{Markup, html};
use serde::Deserialize;

/// The form of every emailed-code page: the code, or `resend`.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub otp: String,
    #[serde(default)]
    pub resend: Option<String>,
}

/// What to say about the last send on an email-code page.
pub enum SendNote {
    None,
    Sent,
    Resent,
    Wait(u64),
    Failed,
}

impl SendNote {
    pub fn from_issue(i: &Issue, resend: bool) -> SendNote {
        match i {
            Issue::Sent { .. } if resend => SendNote::Resent,
            Issue::Sent { .. } => SendNote::Sent,
            Issue::Wait(w) => SendNote::Wait(*w),
            Issue::MailFailed => SendNote::Failed,
        }
    }

    /// The notice or alert about the send.
    pub fn render(&self, ctx: &Ctx) -> Markup {
        html! {
            @match self {
                SendNote::Resent => (kenpo_shared::web::notice(ctx.t(RESENT))),
                SendNote::Failed => (kenpo_shared::web::alert(ctx.t(MAIL_FAILED))),
                SendNote::Wait(w) => (kenpo_shared::web::alert(&resend_wait(ctx.lang, *w))),
                _ => {}
            }
        }
    }

    /// The status of a page answering a send.
    pub fn status(&self) -> StatusCode {
        match self {
            SendNote::Wait(_) => StatusCode::TOO_MANY_REQUESTS,
            SendNote::Failed => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        }
    }
}

pub fn resend_wait(lang: Lang, w: u64) -> String {
    let wait = i18n::wait_text(lang, w);
    match lang {
        Lang::Ja => {
            format!("続けて送信できません。{wait}ほど待ってから「再送信」を押してください。")
        }
        Lang::En => format!("Mail was sent a moment ago. Wait {wait}, then press Resend."),
    }
}

/// Mails a code for `purpose` to `address` unless a live one is out (first visit), or always
/// (`force`: the member pressed Resend).
pub async fn send_code(
    state: &AppState,
    v: &Visit,
    purpose: OtpPurpose,
    address: &str,
    force: bool,
) -> Result<SendNote, PageError> {
    let lang = v.lang();
    if !force
        && email_otp::live(state, &v.member.id, purpose, v.now)
            .await
            .page(lang)?
            .is_some()
    {
        return Ok(SendNote::None);
    }
    let issued = email_otp::issue(state, &v.member.id, purpose, address, lang, v.now)
        .await
        .page(lang)?;
    Ok(SendNote::from_issue(&issued, force))
}

/// The message for a code check that did not succeed.
pub fn code_failure(lang: Lang, check: &Check) -> String {
    match check {
        Check::Wrong { remaining } => match lang {
            Lang::Ja => format!(
                "ワンタイムパスワードが正しくありません。メールに記載の6桁を入力してください（あと{remaining}回）。"
            ),
            Lang::En => format!(
                "That code is not correct. Enter the 6 digits from the mail ({remaining} tries left)."
            ),
        },
        Check::Exhausted => CODE_EXHAUSTED.get(lang).into(),
        Check::Malformed => CODE_FORMAT.get(lang).into(),
        _ => CODE_EXPIRED.get(lang).into(),
    }
}

/// A typed code checked after claiming an attempt from the account's budget: the accepted
/// address, or the message and status of the refusal.
pub async fn check_code(
    state: &AppState,
    v: &Visit,
    purpose: OtpPurpose,
    otp: &str,
) -> Result<Result<String, (String, StatusCode)>, PageError> {
    if let Some(msg) = attempt(state, v, Kind::Code).await? {
        return Ok(Err((msg, StatusCode::TOO_MANY_REQUESTS)));
    }
    let check = email_otp::verify(state, &v.member.id, purpose, otp, v.now)
        .await
        .page(v.lang())?;
    Ok(match check {
        Check::Accepted { address } => Ok(address),
        other => {
            failed(state, v, "email").await;
            Err((code_failure(v.lang(), &other), StatusCode::UNAUTHORIZED))
        }
    })
}

/// The code form and the resend form of an emailed-code page, posting to `action` with the
/// page's `hidden` fields.
pub fn code_forms(ctx: &Ctx, action: &str, hidden: &Markup, error: Option<&str>) -> Markup {
    html! {
        form method="post" action=(action) novalidate {
            (hidden)
            (code_field(ctx, error, true))
            button.primary type="submit" { (ctx.t(VERIFY)) }
        }
        p.small { (ctx.t(NOT_ARRIVED)) }
        form method="post" action=(action) {
            (hidden)
            button.secondary type="submit" name="resend" value="yes" { (ctx.t(RESEND)) }
        }
    }
}

fn page(
    state: &AppState,
    asked: &Asked,
    note: &SendNote,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = asked.ctx();
    let address = asked
        .visit
        .member
        .email
        .as_deref()
        .map(masked)
        .unwrap_or_default();
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        (asked.intro())
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        (note.render(ctx))
        p { (ctx.t(SENT_TO)) " " strong { (address) } }
        (code_forms(ctx, "/signin/mfa-email", &asked.hidden(), error))
        (asked.other_methods(Factor::Email))
    };
    ctx.render_status(
        state,
        status,
        asked.frame(TITLE, "mfa-email", Vec::new()),
        body,
    )
}

/// Mails a sign-in code (the member's address is verified: the factor needs it).
async fn send(state: &AppState, asked: &Asked, force: bool) -> Result<SendNote, PageError> {
    let Some(address) = asked.visit.member.email.as_deref() else {
        return Ok(SendNote::Failed);
    };
    send_code(state, &asked.visit, OtpPurpose::SignIn, address, force).await
}

pub async fn get(State(state): State<AppState>, Visiting(v, q): Visiting<NextQuery>) -> PageResult {
    let asked = Asked::enter(&state, v, q.next.as_deref(), Factor::Email).await?;
    let note = send(&state, &asked, false).await?;
    Ok(page(&state, &asked, &note, None, StatusCode::OK))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<CodeForm>,
) -> PageResult {
    let asked = Asked::enter(&state, v, form.next.as_deref(), Factor::Email).await?;
    if form.resend.is_some() {
        let note = send(&state, &asked, true).await?;
        return Ok(page(&state, &asked, &note, None, note.status()));
    }
    match check_code(&state, &asked.visit, OtpPurpose::SignIn, &form.otp).await? {
        Ok(_) => Ok(asked
            .complete(&state, &["otp", "mca"])
            .await?
            .into_response()),
        Err((msg, status)) => Ok(page(&state, &asked, &SendNote::None, Some(&msg), status)),
    }
}
