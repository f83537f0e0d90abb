//! Signing in: the login page, the step sequence after the password, consent, and the glue
//! that sends a member to whatever step they owe.

pub mod consent;
pub mod login;
pub mod mfa;
pub mod passkey_login;
pub mod session;
pub mod steps;

use crate::error::{PageError, PageResultExt};
use crate::oidc::authorize::{self, flow_key};
use crate::oidc::request::AuthRequest;
use crate::security::request::cookie;
use crate::state::AppState;
use crate::store::credentials::CredentialStore;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Lang;
use session::{Current, IdpSession, Sessions};
use steps::{Facts, Step, next_step};

/// Key marking a verification mail as sent and not yet opened (see onboarding).
pub fn email_pending_key(member_id: &str) -> String {
    format!("emailverify:pending:{member_id}")
}

/// The URL of a step, carrying the flow.
pub fn step_url(step: Step, flow: Option<&str>) -> String {
    match flow {
        Some(f) => format!("{}?flow={f}", step.path()),
        None => step.path().to_string(),
    }
}

/// The IdP session of this browser, if any.
pub async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
    now: i64,
) -> Result<Option<Current>, PageError> {
    let Some(value) = cookie(headers, &state.cookies.session()) else {
        return Ok(None);
    };
    Sessions::new(state).load(&value, now).await.page(Lang::Ja)
}

/// A flow by id (None when unknown or expired).
pub async fn load_flow(
    state: &AppState,
    id: Option<&str>,
) -> Result<Option<AuthRequest>, PageError> {
    let Some(id) = id.filter(|i| i.len() <= 64) else {
        return Ok(None);
    };
    state
        .eph
        .get_json::<AuthRequest>(&flow_key(id))
        .await
        .page(Lang::Ja)
}

/// The step a session owes now.
pub async fn next_step_for(
    state: &AppState,
    session: &IdpSession,
    flow: Option<&AuthRequest>,
    now: i64,
) -> Result<Step, PageError> {
    let lang = Lang::Ja;
    let Some((member, factors)) = CredentialStore::new(state.db.clone())
        .member_and_factors(&session.member_id)
        .await
        .page(lang)?
    else {
        return Ok(Step::Login);
    };
    let email_pending = state
        .eph
        .get(&email_pending_key(&member.id))
        .await
        .page(lang)?
        .is_some();
    Ok(next_step(&Facts {
        member: &member,
        session,
        factors: &factors,
        flow,
        terms_version: &state.config.union.terms_version,
        email_pending,
        now,
    }))
}

/// After a step: on to the next one, or, when all are done, back to the relying party (or
/// the done page when the member came without one).
pub async fn advance(
    state: &AppState,
    current: Current,
    flow_id: Option<&str>,
    lang: Lang,
    now: i64,
) -> Response {
    let flow = match load_flow(state, flow_id).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let step = match next_step_for(state, &current.session, flow.as_ref(), now).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if step != Step::Done {
        return Redirect::to(&step_url(step, flow.as_ref().map(|f| f.id.as_str()))).into_response();
    }
    // Every step is passed: the member's failure count starts afresh, and a first login
    // (onboarding, SPEC steps 1–8) is complete.
    if let Ok(Some(member)) = state.members().by_id(&current.session.member_id).await {
        let _ = crate::security::throttle::Throttle::new(&state.eph, &state.config.throttle)
            .account_cleared(&member.user_id_key)
            .await;
        if member.onboarded_at.is_none() {
            let _ = state.members().mark_onboarded(&member.id, now).await;
            let _ = state
                .audit()
                .record(
                    Some(&member.id),
                    crate::store::audit::Actor::Member,
                    "onboarding.completed",
                    serde_json::json!({}),
                    Some(&current.session.ip),
                    now,
                )
                .await;
        }
    }
    match flow {
        Some(flow) => authorize::resume(state, &flow, Some(current), lang, now).await,
        None => Redirect::to(Step::Done.path()).into_response(),
    }
}

/// The session a step page needs; without one, the member starts again at the login page.
pub async fn require_session(
    state: &AppState,
    headers: &HeaderMap,
    flow: Option<&str>,
    now: i64,
) -> Result<Current, Response> {
    match current_session(state, headers, now).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Redirect::to(&step_url(Step::Login, flow)).into_response()),
        Err(e) => Err(e.into_response()),
    }
}

/// Guard for a step page: the member must owe exactly this step; otherwise they are sent to
/// the one they owe (back buttons, reloads, stale tabs).
pub async fn guard_step(
    state: &AppState,
    current: &Current,
    flow: Option<&AuthRequest>,
    want: impl Fn(Step) -> bool,
    now: i64,
) -> Result<Step, Response> {
    let step = next_step_for(state, &current.session, flow, now)
        .await
        .map_err(IntoResponse::into_response)?;
    if want(step) {
        Ok(step)
    } else {
        Err(Redirect::to(&step_url(step, flow.map(|f| f.id.as_str()))).into_response())
    }
}
