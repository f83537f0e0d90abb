//! Where a member goes next: the step they owe, the consent page, or — all done — back to the
//! relying party with a code (or an error it asked for with `prompt=none`), or the done page
//! when they came without one. [`advance`] follows a completed step, [`resume`] an
//! authorization request; both return a [`Next`] that the handler answers with.
//!
//! Nothing here reads the member again: the decision is `next_step` over the [`Visit`] the
//! request loaded, updated in place by the step that just succeeded.

use crate::error::{PageError, PageResultExt};
use crate::oidc::code;
use crate::oidc::request::{self, ACR_MFA, ACR_PASSWORD, AuthRequest, Prompt};
use crate::pages::i18n;
use crate::security::throttle::{Budget, Throttle};
use crate::signin::session::Sessions;
use crate::signin::steps::Step;
use crate::signin::visit::Visit;
use crate::signin::{flow_key, step_url};
use crate::state::AppState;
use axum::response::{IntoResponse, Redirect, Response};

/// The decision after a step or an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A step page, carrying the flow.
    Step(Step, Option<String>),
    /// The consent page of a flow (third-party clients).
    Consent(String),
    /// Back to the relying party: its redirect URI with a code or an error.
    RelyingParty(String),
    /// An account page, after a step-up confirmation.
    Account(String),
    /// The done page: signed in, no relying party to return to.
    Done,
}

impl Next {
    pub fn url(&self) -> String {
        match self {
            Next::Step(step, flow) => step_url(*step, flow.as_deref()),
            Next::Consent(flow) => format!("/signin/consent?flow={flow}"),
            Next::RelyingParty(url) | Next::Account(url) => url.clone(),
            Next::Done => Step::Done.path().to_string(),
        }
    }
}

impl IntoResponse for Next {
    fn into_response(self) -> Response {
        Redirect::to(&self.url()).into_response()
    }
}

/// The owed steps a page serves: one step, or a test of the owed step.
pub trait Serves {
    fn serves(&self, owed: Step) -> bool;
}

impl Serves for Step {
    fn serves(&self, owed: Step) -> bool {
        *self == owed
    }
}

impl<F: Fn(Step) -> bool> Serves for F {
    fn serves(&self, owed: Step) -> bool {
        self(owed)
    }
}

/// The moves of a visit that depend on the decision.
impl Visit {
    /// Requires that the member owes a step for which `want` holds. Otherwise the answer is a
    /// redirect: to the owed step, or — nothing owed any more — on to the relying party.
    pub async fn owing(self, state: &AppState, want: impl Serves) -> Result<Visit, PageError> {
        if want.serves(self.owed(state)) {
            return Ok(self);
        }
        Err(self.elsewhere(state).await)
    }

    /// Where a member who does not belong on this page goes instead: the step they owe, or —
    /// nothing owed — on to the relying party.
    pub async fn elsewhere(&self, state: &AppState) -> PageError {
        match self.owed(state) {
            Step::Done => match advance(state, self).await {
                Ok(next) => PageError::Redirect(next.url()),
                Err(e) => e,
            },
            owed => PageError::Redirect(self.step_url(owed)),
        }
    }

    /// On to the next step, or back to the relying party.
    pub async fn advance(&self, state: &AppState) -> Result<Next, PageError> {
        advance(state, self).await
    }
}

/// After a step: on to the next one, or, when all are done, back to the relying party (or
/// the done page). Passing every step starts the member's failure count afresh and completes
/// a first login.
pub async fn advance(state: &AppState, v: &Visit) -> Result<Next, PageError> {
    let owed = v.owed(state);
    if owed != Step::Done {
        return Ok(Next::Step(owed, v.flow_id().map(String::from)));
    }
    // The budget this sign-in counted against starts afresh, and the browser becomes (or stays)
    // one the member is known by.
    let budget = Budget::new(&v.member.user_id_key, v.current.session.browser.as_deref());
    if let Err(e) = Throttle::new(&state.eph, &state.config.throttle)
        .signed_in(&budget)
        .await
    {
        tracing::warn!(error = %e, "failure count not cleared");
    }
    if v.member.strong_factor_due.is_some() && v.current.session.has_aal2() {
        state
            .members()
            .set_strong_factor_due(&v.member.id, None)
            .await
            .page(v.lang())?;
    }
    let remembered = v.current.session.remember;
    match crate::security::device::remember(state, &v.requester, &v.member, remembered, v.now).await
    {
        Ok(cookie) => v.ctx.cookies.push(cookie),
        Err(e) => tracing::warn!(error = %e, "device token not issued"),
    }
    if v.member.onboarded_at.is_none() {
        state
            .members()
            .mark_onboarded(&v.member.id, v.now)
            .await
            .page(v.lang())?;
        v.audit(state, "onboarding.completed", serde_json::json!({}))
            .await;
    }
    match &v.flow {
        Some(flow) => to_relying_party(state, flow, v).await,
        None => Ok(Next::Done),
    }
}

/// An authorization request arriving: with a complete sign-in it goes straight back with a
/// code; otherwise to the login page or the step owed — or, with `prompt=none`, back with the
/// error OIDC Core §3.1.2.6 names.
pub async fn resume(
    state: &AppState,
    flow: &AuthRequest,
    visit: Option<&Visit>,
) -> Result<Next, PageError> {
    let none = flow.has_prompt(Prompt::None);
    let Some(v) = visit else {
        if none {
            return Ok(rp_error(
                state,
                flow,
                "login_required",
                "the member is not signed in",
            ));
        }
        return Ok(Next::Step(Step::Login, Some(flow.id.clone())));
    };
    let owed = v.owed(state);
    if owed != Step::Done {
        if none {
            let code = if owed == Step::Login {
                "login_required"
            } else {
                "interaction_required"
            };
            return Ok(rp_error(
                state,
                flow,
                code,
                "the member must interact with the sign-in pages",
            ));
        }
        return Ok(Next::Step(owed, Some(flow.id.clone())));
    }
    to_relying_party(state, flow, v).await
}

/// Every step passed: consent for third-party clients (unless remembered), then the code.
async fn to_relying_party(
    state: &AppState,
    flow: &AuthRequest,
    v: &Visit,
) -> Result<Next, PageError> {
    let lang = v.lang();
    let client = state
        .clients()
        .get(&flow.client_id)
        .await
        .page(lang)?
        .ok_or(PageError::BadRequest(lang, i18n::BAD_CLIENT))?;
    if client.third_party {
        let remembered = state
            .consents()
            .get(&v.member.id, &client.client_id)
            .await
            .page(lang)?;
        let covered =
            remembered.is_some_and(|granted| flow.scopes.iter().all(|s| granted.contains(s)));
        if !covered || flow.has_prompt(Prompt::Consent) {
            if flow.has_prompt(Prompt::None) {
                return Ok(rp_error(
                    state,
                    flow,
                    "consent_required",
                    "the member has not consented",
                ));
            }
            return Ok(Next::Consent(flow.id.clone()));
        }
    }
    issue_code(state, flow, v).await
}

/// Issues the code and returns the way back to the relying party. The flow is consumed, so a
/// double submission cannot mint a second code.
pub async fn issue_code(
    state: &AppState,
    flow: &AuthRequest,
    v: &Visit,
) -> Result<Next, PageError> {
    let lang = v.lang();
    if state
        .eph
        .take(&flow_key(&flow.id))
        .await
        .page(lang)?
        .is_none()
    {
        return Err(PageError::BadRequest(lang, i18n::SIGNIN_EXPIRED));
    }
    // The client joins the session's back-channel list before its code exists; a session that
    // ended meanwhile (sign-out in another tab) issues no code.
    let mut current = v.current.clone();
    if !Sessions::new(state)
        .add_client(&mut current, &flow.client_id, v.now)
        .await
        .page(lang)?
    {
        return Err(PageError::BadRequest(lang, i18n::SIGNIN_EXPIRED));
    }
    let session = &current.session;
    let acr = if session.has_aal2() {
        ACR_MFA
    } else {
        ACR_PASSWORD
    };
    let code = code::issue(
        &state.eph,
        flow,
        session,
        acr,
        state.config.tokens.code_ttl_secs,
        v.now,
    )
    .await
    .page(lang)?;
    Ok(Next::RelyingParty(request::response_url(
        &flow.redirect_uri,
        &state.issuer,
        &[("code", &code)],
        flow.state.as_deref(),
    )))
}

/// An error sent back to the relying party of a flow.
pub fn rp_error(state: &AppState, flow: &AuthRequest, code: &str, description: &str) -> Next {
    Next::RelyingParty(request::response_url(
        &flow.redirect_uri,
        &state.issuer,
        &[("error", code), ("error_description", description)],
        flow.state.as_deref(),
    ))
}
