//! What the second-factor pages (`mfa-totp`, `mfa-email`, `mfa-passkey`) share. Two uses:
//!
//! - a step of a sign-in (the member owes a second factor after the password), and
//! - a re-confirmation before a change on the account page ("step-up"): a fully signed-in
//!   member whose last second factor is older than `account::FRESH_SECS` arrives with
//!   `?next=/account…` and returns there afterwards.
//!
//! Each page offers the member's other enrolled factors ("use another method"). Wrong codes
//! draw on the account's brute-force budget shared with the password (`security::throttle`).

use crate::error::{PageError, PageResultExt};
use crate::mfa::{self, Factor};
use crate::pages::forms;
use crate::pages::i18n::{self, Text};
use crate::pages::script::ScriptError;
use crate::pages::{Ctx, Frame};
use crate::security::throttle::{Budget, Kind, Throttle, Verdict};
use crate::signin::advance::Next;
use crate::signin::session::Sessions;
use crate::signin::steps::Step;
use crate::signin::visit::Visit;
use crate::state::AppState;
pub use crate::texts::signin::second_factor::*;
use axum::http::StatusCode;
use kenpo_shared::Lang;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

/// The input of a second-factor page's GET: where a step-up returns to.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    pub next: Option<String>,
}

/// Why a second factor is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A step of a sign-in, possibly for a relying party's flow.
    SignIn,
    /// A re-confirmation before an account change; back to `next` afterwards.
    StepUp { next: String },
}

/// A member on a second-factor page.
pub struct Asked {
    pub visit: Visit,
    pub purpose: Purpose,
}

impl Asked {
    /// Enters a second-factor page: the member must owe a second factor (sign-in), or be fully
    /// signed in and come with a valid `next` (step-up); and have `factor` enrolled (else they
    /// are sent to the factor they have).
    pub async fn enter(
        state: &AppState,
        mut visit: Visit,
        next: Option<&str>,
        factor: Factor,
    ) -> Result<Asked, PageError> {
        let owed = visit.owed(state);
        let purpose = match (owed, safe_next(next)) {
            (Step::Mfa(_), _) => Purpose::SignIn,
            (Step::Done, Some(next)) if visit.flow.is_none() => Purpose::StepUp { next },
            _ => return Err(visit.elsewhere(state).await),
        };
        if purpose != Purpose::SignIn {
            // A step-up never ends at a relying party.
            visit.flow = None;
        }
        let asked = Asked { visit, purpose };
        let factors = &asked.visit.factors;
        if !factors.has(factor) {
            let preferred = factors.preferred(&asked.visit.member);
            if preferred == factor || !factors.has(preferred) {
                return Err(PageError::Redirect(asked.visit.step_url(owed)));
            }
            return Err(PageError::Redirect(asked.url(preferred)));
        }
        Ok(asked)
    }

    pub fn ctx(&self) -> &Ctx {
        &self.visit.ctx
    }

    pub fn next(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::StepUp { next } => Some(next),
            Purpose::SignIn => None,
        }
    }

    /// The page of factor `f` for the same purpose.
    pub fn url(&self, f: Factor) -> String {
        match &self.purpose {
            Purpose::SignIn => self.visit.step_url(Step::Mfa(f)),
            Purpose::StepUp { next } => step_up_url(f, next),
        }
    }

    /// Hidden fields carrying the purpose in forms.
    pub fn hidden(&self) -> Markup {
        html! {
            (forms::csrf(&self.ctx().csrf))
            (forms::flow(self.visit.flow_id()))
            @if let Some(n) = self.next() { input type="hidden" name="next" value=(n); }
        }
    }

    /// The frame of a second-factor page.
    pub fn frame<'a>(&self, title: Text, step: &'a str, scripts: Vec<&'a str>) -> Frame<'a> {
        Frame {
            title: self.ctx().t(title),
            step: Some(step),
            scripts,
            form_action: self.visit.form_action(),
            ..Frame::default()
        }
    }

    /// The note on a step-up page, and the member's other factors.
    pub fn intro(&self) -> Markup {
        html! { @if self.next().is_some() { p { (self.ctx().t(STEP_UP_NOTE)) } } }
    }

    /// Links to the member's other factors (and a way back from a step-up).
    pub fn other_methods(&self, current: Factor) -> Markup {
        let ctx = self.ctx();
        let others: Vec<Factor> = self
            .visit
            .factors
            .list()
            .into_iter()
            .filter(|f| *f != current)
            .collect();
        html! {
            @if !others.is_empty() {
                details.other-methods {
                    summary { (ctx.t(OTHER_METHODS)) }
                    ul {
                        @for f in others {
                            li { a href=(self.url(f)) { (ctx.t(mfa::factor_name(f))) } }
                        }
                    }
                }
            }
            @if self.next().is_some() {
                p.links { a href="/account" { (ctx.t(i18n::CANCEL)) } }
            }
        }
    }

    /// Claims an attempt from the member's budget: `Some(message)` when refused for now.
    pub async fn attempt(&self, state: &AppState) -> Result<Option<String>, PageError> {
        attempt(state, &self.visit, Kind::Code).await
    }

    /// Records a completed second factor in the session and moves on (to the next sign-in
    /// step, or back to the account page after a step-up).
    pub async fn complete(mut self, state: &AppState, amr: &[&str]) -> Result<Next, PageError> {
        elevate(state, &mut self.visit, amr).await?;
        let kind = match self.purpose {
            Purpose::SignIn => "signin.second_factor",
            Purpose::StepUp { .. } => "signin.step_up",
        };
        self.visit.audit(state, kind, json!({"amr": amr})).await;
        match self.purpose {
            Purpose::SignIn => self.visit.advance(state).await,
            Purpose::StepUp { next } => Ok(Next::Account(next)),
        }
    }
}

/// The field for a one-time code (full-width digits, spaces and hyphens are accepted).
pub fn code_field(ctx: &Ctx, error: Option<&str>, autofocus: bool) -> Markup {
    forms::Field {
        autocomplete: "one-time-code",
        inputmode: Some("numeric"),
        class: Some("code"),
        autofocus,
        maxlength: Some(20),
        error,
        ..forms::Field::new("otp", ctx.t(CODE_LABEL))
    }
    .render()
}

/// Records a second factor just completed (or enrolled: enrolment proves possession) in the
/// session: its methods, and the time, which step-up and `max_age` look at.
///
/// `mfa` (RFC 8176) and the AAL2 time go only with a factor NIST 800-63B accepts at AAL2: an
/// emailed code (`mca`) is a second step, not an authenticator. The session cookie is renewed
/// (ASVS 7.2.4): a value seen before the elevation does not carry it.
pub async fn elevate(state: &AppState, v: &mut Visit, amr: &[&str]) -> Result<(), PageError> {
    let strong = !amr.contains(&"mca");
    let session = &mut v.current.session;
    let extra: &[&str] = if strong { &["mfa"] } else { &[] };
    for a in amr.iter().chain(extra) {
        if !session.amr.iter().any(|x| x == a) {
            session.amr.push((*a).to_string());
        }
    }
    session.mfa_time = Some(v.now);
    if strong {
        session.aal2_time = Some(v.now);
    }
    let sessions = Sessions::new(state);
    sessions.save(&v.current, v.now).await.page(v.lang())?;
    let (token, renewed) = sessions.renew(&v.current, v.now).await.page(v.lang())?;
    v.current = renewed;
    let s = &v.current.session;
    let max_age = s.remember.then_some(s.expires_at - v.now);
    v.ctx
        .cookies
        .push(state.cookies.set("kenpo_session", &token, max_age));
    Ok(())
}

/// Claims an attempt from the member's budget of `kind`, the one of the browser the sign-in
/// came from: `Some(message)` when refused.
pub async fn attempt(state: &AppState, v: &Visit, kind: Kind) -> Result<Option<String>, PageError> {
    let budget = Budget::new(&v.member.user_id_key, v.current.session.browser.as_deref());
    let verdict = Throttle::new(&state.eph, &state.config.throttle)
        .account_attempt(kind, &budget)
        .await
        .page(v.lang())?;
    let why = match verdict {
        Verdict::Open => return Ok(None),
        Verdict::Wait(_) => "wait",
        Verdict::Locked => "locked",
    };
    crate::signin::start::refusal_audit(state, &v.requester, Some(&v.member), &budget, why, v.now)
        .await
        .page(v.lang())?;
    Ok(Some(match verdict {
        Verdict::Wait(w) => too_many_text(v.lang(), w),
        _ => crate::texts::signin::login::LOCKED
            .get(v.lang())
            .to_string(),
    }))
}

/// Audits a wrong answer (a code, the birthdate): the trail shows guessing, not only sign-ins.
pub async fn failed(state: &AppState, v: &Visit, factor: &str) {
    let known = v.current.session.browser.is_some();
    v.audit(
        state,
        "signin.failed",
        json!({"factor": factor, "known_browser": known}),
    )
    .await;
}

/// "Too many attempts (wait …)".
pub fn too_many_text(lang: Lang, w: u64) -> String {
    let wait = i18n::wait_text(lang, w);
    format!(
        "{} ({})",
        i18n::TOO_MANY.get(lang),
        lang.pick(&format!("あと{wait}"), &format!("wait {wait}"))
    )
}

/// The same, for a page script.
pub fn throttled(lang: Lang, w: u64) -> ScriptError {
    ScriptError::Refused(StatusCode::TOO_MANY_REQUESTS, too_many_text(lang, w))
}

/// A `next` target for step-up: only pages of the account section.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    let ok = n.len() <= 200
        && (n == "/account"
            || n.starts_with("/account/")
            || n.starts_with("/account?")
            || n.starts_with("/account#"))
        && !n.contains("//")
        && !n.contains('\\')
        && n.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| n.to_string())
}

/// The step-up page of factor `f`, returning to `next`.
pub fn step_up_url(f: Factor, next: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("{}?next={q}", Step::Mfa(f).path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_returns_only_to_the_account_pages() {
        assert_eq!(safe_next(Some("/account")).as_deref(), Some("/account"));
        assert_eq!(
            safe_next(Some("/account/enroll-totp")).as_deref(),
            Some("/account/enroll-totp")
        );
        assert_eq!(safe_next(Some("https://evil.example/account")), None);
        assert_eq!(safe_next(Some("//evil.example/account")), None);
        assert_eq!(safe_next(Some("/account//evil")), None);
        assert_eq!(safe_next(Some("/accounting")), None);
        assert_eq!(
            safe_next(Some("/account#password")).as_deref(),
            Some("/account#password")
        );
        assert_eq!(safe_next(Some("/account/\\evil")), None);
        assert_eq!(safe_next(None), None);
        assert_eq!(
            step_up_url(Factor::Totp, "/account?x=1"),
            "/signin/mfa-totp?next=%2Faccount%3Fx%3D1"
        );
    }
}
