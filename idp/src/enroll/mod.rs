//! Enrolment of a second factor — passkey, authenticator app, email OTP — on pages that serve
//! two journeys:
//!
//! - first login (`/signin/enroll-<factor>`, the step `Enroll(factor)` of the sign-in
//!   sequence): on success the factor becomes the preferred one, the session records it as a
//!   completed second factor (enrolment proves possession), onboarding is marked complete, and
//!   the member goes on to wherever the sequence leads;
//! - the account page (`/account/enroll-<factor>`): adding a passkey, re-enrolling the app,
//!   turning email OTP on. Needs a complete sign-in with a recent second factor.
//!
//! Every enrolment is written to the audit trail and mailed to the member.

mod email;
mod passkey;
pub mod qr;
mod totp;

use crate::account;
use crate::error::{PageError, PageResultExt};
use crate::mail::{Mail, MailKind};
use crate::mfa::{Factor, Factors};
use crate::pages::forms::{self, PageForm};
use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame};
use crate::security::request::Requester;
use crate::signin::session::{Current, Sessions};
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::credentials::CredentialStore;
use crate::store::members::Member;
use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Lang;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

/// Which journey an enrolment page serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    FirstLogin,
    Account,
}

impl Mode {
    /// The page of `factor` in this journey.
    pub fn path(self, factor: Factor) -> &'static str {
        match (self, factor) {
            (Mode::FirstLogin, f) => Step::Enroll(f).path(),
            (Mode::Account, Factor::Passkey) => "/account/enroll-passkey",
            (Mode::Account, Factor::Totp) => "/account/enroll-totp",
            (Mode::Account, Factor::Email) => "/account/enroll-email",
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(totp::routes())
        .merge(passkey::routes())
        .merge(email::routes())
        .route(
            "/signin/enroll-other",
            axum::routing::post(choose_another_method),
        )
}

#[derive(Debug, Deserialize)]
pub struct FlowQuery {
    pub flow: Option<String>,
}

/// What an enrolment page works with.
pub struct Enrolling {
    pub current: Current,
    pub member: Member,
    pub factors: Factors,
    pub mode: Mode,
    pub flow: Option<String>,
}

impl Enrolling {
    pub fn flow(&self) -> Option<&str> {
        self.flow.as_deref()
    }

    /// The progress indicator of the first-login journey.
    pub fn progress(&self, factor: Factor) -> Option<(u8, u8)> {
        match self.mode {
            Mode::FirstLogin => Step::Enroll(factor).onboarding_progress(),
            Mode::Account => None,
        }
    }
}

/// Loads an enrolment page's context: the member must owe exactly this enrolment (first
/// login), or be fully signed in with a recent second factor (account).
pub async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    mode: Mode,
    factor: Factor,
    flow_id: Option<&str>,
    now: i64,
) -> Result<Enrolling, Response> {
    let lang = Lang::Ja;
    match mode {
        Mode::FirstLogin => {
            let flow = signin::load_flow(state, flow_id)
                .await
                .map_err(IntoResponse::into_response)?;
            let flow_id = flow.as_ref().map(|f| f.id.clone());
            let current = signin::require_session(state, headers, flow_id.as_deref(), now).await?;
            signin::guard_step(
                state,
                &current,
                flow.as_ref(),
                |s| s == Step::Enroll(factor),
                now,
            )
            .await?;
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
            Ok(Enrolling {
                current,
                member,
                factors,
                mode,
                flow: flow_id,
            })
        }
        Mode::Account => {
            let acc = account::require_fresh(state, headers, mode.path(factor), now).await?;
            Ok(Enrolling {
                current: acc.current,
                member: acc.member,
                factors: acc.factors,
                mode,
                flow: None,
            })
        }
    }
}

/// The notice mailed and shown after an enrolment.
fn added_text(factor: Factor, label: Option<&str>) -> (String, String) {
    match factor {
        Factor::Passkey => {
            let l = label.unwrap_or("");
            (
                format!("パスキー「{l}」が登録されました。"),
                format!("A passkey “{l}” was added."),
            )
        }
        Factor::Totp => (
            "認証アプリ（ワンタイムパスワード）が設定されました。".into(),
            "An authenticator app was set up for one-time passwords.".into(),
        ),
        Factor::Email => (
            "メールでのワンタイムパスワードが有効になりました。".into(),
            "One-time passwords by email were turned on.".into(),
        ),
    }
}

/// The end of every enrolment: preference, session, audit, mail, and on to what comes next.
pub async fn finish(
    state: &AppState,
    ctx: &Ctx,
    requester: &Requester,
    en: Enrolling,
    factor: Factor,
    label: Option<&str>,
    now: i64,
) -> Response {
    let Enrolling {
        mut current,
        member,
        factors,
        mode,
        flow,
    } = en;
    let members = state.members();
    let had_preferred = member
        .preferred_factor
        .as_deref()
        .and_then(Factor::parse)
        .is_some_and(|f| factors.has(f));
    if (mode == Mode::FirstLogin || !had_preferred)
        && let Err(e) = members
            .set_preferred_factor(&member.id, factor.as_str(), now)
            .await
    {
        return PageError::internal(ctx.lang, e).into_response();
    }
    let amr: &[&str] = match factor {
        Factor::Passkey => &["hwk", "user"],
        Factor::Totp => &["otp"],
        Factor::Email => &["otp", "mca"],
    };
    for a in amr.iter().chain(std::iter::once(&"mfa")) {
        if !current.session.amr.iter().any(|x| x == a) {
            current.session.amr.push((*a).to_string());
        }
    }
    current.session.mfa_time = Some(now);
    if let Err(e) = Sessions::new(state).save(&current, now).await {
        return PageError::internal(ctx.lang, e).into_response();
    }
    // The first working factor completes a first login (SPEC step 7).
    if mode == Mode::FirstLogin && member.onboarded_at.is_none() {
        if let Err(e) = members.mark_onboarded(&member.id, now).await {
            return PageError::internal(ctx.lang, e).into_response();
        }
        let _ = state
            .audit()
            .record(
                Some(&member.id),
                Actor::Member,
                "onboarding.completed",
                json!({}),
                Some(&requester.ip.to_string()),
                now,
            )
            .await;
    }
    let _ = state
        .audit()
        .record(
            Some(&member.id),
            Actor::Member,
            "mfa.enrolled",
            json!({"factor": factor.as_str(), "label": label, "via": match mode { Mode::FirstLogin => "first-login", Mode::Account => "account" }}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await;
    let (what_ja, what_en) = added_text(factor, label);
    notify(state, &member, ctx.lang, what_ja, what_en).await;
    match mode {
        Mode::FirstLogin => signin::advance(state, current, flow.as_deref(), ctx.lang, now).await,
        Mode::Account => {
            Redirect::to(&format!("/account?done={}-added", factor.as_str())).into_response()
        }
    }
}

/// Mails a security notice to the member's verified address (failures are logged by the
/// mailer; the change itself stands).
pub async fn notify(
    state: &AppState,
    member: &Member,
    lang: Lang,
    what_ja: String,
    what_en: String,
) {
    if let (Some(to), true) = (member.email.clone(), member.email_verified) {
        let _ = state
            .send_mail(Mail {
                to,
                lang,
                kind: MailKind::SecurityNotice { what_ja, what_en },
            })
            .await;
    }
}

const OTHER_METHOD: Text = Text("別の認証方法を選ぶ", "Choose another method");
const BACK_TO_ACCOUNT: Text = Text("アカウント設定に戻る", "Back to your account");

/// The way out of an enrolment page: another method (first login) or back (account).
pub fn way_out(ctx: &Ctx, en: &Enrolling) -> Markup {
    match en.mode {
        Mode::FirstLogin => html! {
            form.links method="post" action="/signin/enroll-other" {
                (forms::csrf(&ctx.csrf))
                (forms::flow(en.flow()))
                button.link type="submit" { (ctx.t(OTHER_METHOD)) }
            }
        },
        Mode::Account => html! {
            p.links { a href="/account" { (ctx.t(BACK_TO_ACCOUNT)) } }
        },
    }
}

/// The frame of an enrolment page.
pub fn frame<'a>(
    ctx: &Ctx,
    en: &Enrolling,
    factor: Factor,
    title: Text,
    step: &'a str,
    scripts: Vec<&'a str>,
) -> Frame<'a> {
    Frame {
        title: ctx.t(title),
        step: Some(step),
        progress: en.progress(factor),
        scripts,
        ..Frame::default()
    }
}

#[derive(Deserialize)]
pub struct OtherForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
}

/// First login: the member gives up on the chosen factor (no phone at hand, a PC without
/// biometrics…) and chooses again.
async fn choose_another_method(
    axum::extract::State(state): axum::extract::State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<OtherForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let flow = match signin::load_flow(&state, form.flow.as_deref()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let flow_id = flow.as_ref().map(|f| f.id.as_str());
    let current = match signin::require_session(&state, &headers, flow_id, now).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = signin::guard_step(
        &state,
        &current,
        flow.as_ref(),
        |s| matches!(s, Step::Enroll(_)),
        now,
    )
    .await
    {
        return r;
    }
    if let Err(e) = state
        .members()
        .choose_factor(&current.session.member_id, None, now)
        .await
    {
        return PageError::internal(ctx.lang, e).into_response();
    }
    signin::advance(&state, current, flow_id, ctx.lang, now).await
}
