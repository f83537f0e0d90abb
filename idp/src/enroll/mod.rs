//! Enrolment of a second factor — passkey, authenticator app, email OTP — on pages that serve
//! two journeys with one implementation:
//!
//! - first login (`/signin/enroll-<factor>`, the step `Enroll(factor)` of the sign-in
//!   sequence): on success the factor becomes the preferred one, the session records it as a
//!   completed second factor (enrolment proves possession), onboarding is complete, and the
//!   member goes on to wherever the sequence leads;
//! - the account page (`/account/enroll-<factor>`): adding a passkey, re-enrolling the app,
//!   turning email OTP on. Needs a complete sign-in with a recent second factor.
//!
//! The journey is the path's section ([`Mode::of`]); every handler serves both routes.
//! Every enrolment is written to the audit trail and mailed to the member.

pub mod email;
pub mod passkey;
pub mod qr;
pub mod totp;

use crate::account::{self, notify};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::mfa::Factor;
use crate::pages::forms;
use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame};
use crate::signin::advance::Next;
use crate::signin::second_factor::elevate;
use crate::signin::steps::Step;
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
pub use crate::texts::enroll::*;
use axum::extract::State;
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde_json::json;

/// Which journey an enrolment page serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    FirstLogin,
    Account,
}

impl Mode {
    /// The journey of a request path: the account section, or the sign-in.
    pub fn of(path: &str) -> Mode {
        if path.starts_with("/account/") {
            Mode::Account
        } else {
            Mode::FirstLogin
        }
    }

    /// The page of `factor` in this journey.
    pub fn path(self, factor: Factor) -> &'static str {
        match (self, factor) {
            (Mode::FirstLogin, f) => Step::Enroll(f).path(),
            (Mode::Account, Factor::Passkey) => "/account/enroll-passkey",
            (Mode::Account, Factor::Totp) => "/account/enroll-totp",
            (Mode::Account, Factor::Email) => "/account/enroll-email",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::FirstLogin => "first-login",
            Mode::Account => "account",
        }
    }
}

/// A member on an enrolment page.
pub struct Enrolling {
    pub visit: Visit,
    pub mode: Mode,
    pub factor: Factor,
}

impl Enrolling {
    /// Enters an enrolment page: the member must owe exactly this enrolment (first login), or
    /// be fully signed in with a recent second factor (account; otherwise they confirm first
    /// and come back).
    pub async fn enter(
        state: &AppState,
        mut visit: Visit,
        factor: Factor,
    ) -> Result<Enrolling, PageError> {
        let mode = Mode::of(&visit.ctx.path_and_query);
        let visit = match mode {
            Mode::FirstLogin => visit.owing(state, |s| s == Step::Enroll(factor)).await?,
            Mode::Account => {
                // An account page never ends at a relying party.
                visit.flow = None;
                let visit = visit.signed_in(state)?;
                account::require_fresh(&visit, mode.path(factor))?;
                visit
            }
        };
        Ok(Enrolling {
            visit,
            mode,
            factor,
        })
    }

    pub fn ctx(&self) -> &Ctx {
        &self.visit.ctx
    }

    /// This page's path (forms post back to it).
    pub fn action(&self) -> &'static str {
        self.mode.path(self.factor)
    }

    /// The hidden fields of this page's forms.
    pub fn hidden(&self) -> Markup {
        forms::hidden(&self.ctx().csrf, self.visit.flow_id())
    }

    /// The frame of an enrolment page: the first-login progress, the relying party's origin.
    pub fn frame<'a>(&self, title: Text, scripts: Vec<&'a str>) -> Frame<'a> {
        let step = Step::Enroll(self.factor);
        Frame {
            title: self.ctx().t(title),
            step: Some(step.name()),
            progress: match self.mode {
                Mode::FirstLogin => step.onboarding_progress(),
                Mode::Account => None,
            },
            scripts,
            form_action: self.visit.form_action(),
            ..Frame::default()
        }
    }

    /// The way out of an enrolment page: another method (first login) or back (account).
    pub fn way_out(&self) -> Markup {
        let ctx = self.ctx();
        match self.mode {
            Mode::FirstLogin => html! {
                form.links method="post" action="/signin/enroll-other" {
                    (self.hidden())
                    button.link type="submit" { (ctx.t(OTHER_METHOD)) }
                }
            },
            Mode::Account => html! {
                p.links { a href="/account" { (ctx.t(BACK_TO_ACCOUNT)) } }
            },
        }
    }

    /// The end of every enrolment, once the factor is stored: preference, session, audit,
    /// mail, and on to what comes next.
    pub async fn finish(
        mut self,
        state: &AppState,
        label: Option<&str>,
    ) -> Result<Next, PageError> {
        let (v, factor, mode) = (&mut self.visit, self.factor, self.mode);
        let lang = v.lang();
        let had_preferred = v
            .member
            .preferred_factor
            .as_deref()
            .and_then(Factor::parse)
            .is_some_and(|f| v.factors.has(f));
        if mode == Mode::FirstLogin || !had_preferred {
            state
                .members()
                .set_preferred_factor(&v.member.id, factor.as_str(), v.now)
                .await
                .page(lang)?;
            v.member.preferred_factor = Some(factor.as_str().to_string());
        }
        match factor {
            Factor::Passkey => v.factors.passkeys += 1,
            Factor::Totp => v.factors.totp = true,
            Factor::Email => v.factors.email = true,
        }
        elevate(state, v, factor_amr(factor)).await?;
        let detail = json!({"factor": factor.as_str(), "label": label, "via": mode.name()});
        v.audit(state, "mfa.enrolled", detail).await;
        let (what_ja, what_en) = added_text(factor, label);
        notify(state, &v.member, lang, what_ja, what_en).await;
        match mode {
            // The first working factor completes a first login (SPEC step 7).
            Mode::FirstLogin => v.advance(state).await,
            Mode::Account => Ok(Next::Account(format!(
                "/account?done={}-added",
                factor.as_str()
            ))),
        }
    }
}

/// The methods (RFC 8176) a factor amounts to.
pub fn factor_amr(factor: Factor) -> &'static [&'static str] {
    match factor {
        Factor::Passkey => &["hwk", "user"],
        Factor::Totp => &["otp"],
        Factor::Email => &["otp", "mca"],
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

/// First login: the member gives up on the chosen factor (no phone at hand, a PC without
/// biometrics…) and chooses again.
pub async fn choose_another_method(
    State(state): State<AppState>,
    Visiting(v, _): Visiting,
) -> PageResult {
    let mut v = v.owing(&state, |s| matches!(s, Step::Enroll(_))).await?;
    state
        .members()
        .choose_factor(&v.member.id, None, v.now)
        .await
        .page(v.lang())?;
    v.member.chosen_factor = None;
    Ok(v.advance(&state).await?.into_response())
}
