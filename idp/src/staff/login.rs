//! Signing staff in and out: `staff-login` (a passkey, nothing else) and sign-out; the
//! invitation link and the demo's sign-in link are in `enroll`. After signing in, staff go back where they were (`next`, a console path) or,
//! when a relying party sent them (`flow`), back to it through `staff::oidc`.

use super::layout;
use super::passkey;
use super::session;
use crate::error::{PageError, PageResult};
use crate::pages::forms;
use crate::pages::i18n;
use crate::pages::script::{ScriptError, ScriptJson, ScriptResult, follow, json_ok};
use crate::pages::{Ctx, Hosted, no_store};
use crate::security::request::Requester;
use crate::signin::mfa_passkey::{NEEDS_SCRIPT, passkey_failure, phone_help};
use crate::state::AppState;
use crate::store::audit::StaffRef;
use crate::store::staff::{StaffRow, StaffStore};
pub use crate::texts::staff::login::*;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    pub next: Option<String>,
    pub flow: Option<String>,
}

/// Only console paths are return targets.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with("/staff")
                && !p.starts_with("/staff/login")
                && !p.contains("//")
                && !p.contains('\\')
                && p.len() <= 512
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/staff".into(),
    }
}

fn flow_id(flow: Option<&str>) -> Option<&str> {
    flow.filter(|f| {
        !f.is_empty()
            && f.len() <= 64
            && f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

pub async fn get(
    Hosted { state, ctx, now }: Hosted,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> PageResult {
    if let Some(me) = session::signed_in(&state, &headers, now).await? {
        let s = &me.session.session;
        return after_sign_in(
            &state,
            q.flow.as_deref(),
            q.next.as_deref(),
            (&s.staff_id, &s.sid, s.created_at),
            ctx.lang,
            now,
        )
        .await;
    }
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        p { (ctx.t(INTRO)) }
        form.passkey method="post" action="/staff/login/finish"
            data-options="/staff/login/options" data-finish="/staff/login/finish" {
            (forms::csrf(&ctx.csrf))
            input type="hidden" name="next" value=(safe_next(q.next.as_deref()));
            @if let Some(f) = flow_id(q.flow.as_deref()) { input type="hidden" name="flow" value=(f); }
            div.passkey-status role="alert" aria-live="assertive" {}
            button.primary type="button" data-action="passkey-authenticate" { (ctx.t(BUTTON)) }
        }
        noscript { (kenpo_shared::web::alert(ctx.t(NEEDS_SCRIPT))) }
        (phone_help(&ctx))
        p.small { (ctx.t(NO_PASSKEY)) }
    };
    Ok(layout::render_public(
        &state,
        &ctx,
        StatusCode::OK,
        "staff-login",
        ctx.t(TITLE),
        body,
        vec!["/static/passkey.js"],
    ))
}

/// Where a freshly signed-in staff member goes.
async fn after_sign_in(
    state: &AppState,
    flow: Option<&str>,
    next: Option<&str>,
    (staff_id, sid, auth_time): (&str, &str, i64),
    lang: kenpo_shared::Lang,
    now: i64,
) -> PageResult {
    match flow_id(flow) {
        Some(f) => {
            super::oidc::resume_after_login(state, f, staff_id, sid, auth_time, lang, now).await
        }
        None => Ok(Redirect::to(&safe_next(next)).into_response()),
    }
}

/// The options request of a ceremony (the invitation's token, when there is one).
#[derive(Deserialize)]
pub struct OptionsRequest {
    #[serde(default)]
    pub(super) token: String,
}

pub async fn options(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    _: ScriptJson<OptionsRequest>,
) -> ScriptResult {
    limit(&state, &ctx, &requester, now).await?;
    let (ceremony, options) = passkey::start_login(&state, now)
        .await
        .map_err(|e| passkey_failure(ctx.lang, e))?;
    Ok(json_ok(json!({"ceremony": ceremony, "options": options})))
}

/// Ceremonies per address per minute (each stores a state).
pub(super) async fn limit(
    state: &AppState,
    ctx: &Ctx,
    requester: &Requester,
    now: i64,
) -> Result<(), ScriptError> {
    use crate::security::throttle::{Gate, Throttle};
    match Throttle::new(&state.eph, &state.config.throttle)
        .limit(&format!("staff:wa:{}", requester.bucket()), 30, 60, now)
        .await
    {
        Ok(Gate::Open) => Ok(()),
        Ok(Gate::Wait(_)) => Err(ScriptError::Refused(
            StatusCode::TOO_MANY_REQUESTS,
            ctx.t(i18n::TOO_MANY).into(),
        )),
        Err(e) => Err(passkey_failure(ctx.lang, e.into())),
    }
}

#[derive(Deserialize)]
pub struct LoginFinish {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    ceremony: String,
    credential: PublicKeyCredential,
}

pub async fn finish(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    ScriptJson { body: req, .. }: ScriptJson<LoginFinish>,
) -> ScriptResult {
    let staff = passkey::finish_login(&state, &req.ceremony, &req.credential, now)
        .await
        .map_err(|e| passkey_failure(ctx.lang, e))?;
    let res = start(
        &state,
        &ctx,
        &requester,
        &staff,
        "passkey",
        req.flow.as_deref(),
        req.next.as_deref(),
        now,
    )
    .await?;
    Ok(follow(res))
}

/// Starts the session and answers with where to go next.
#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
    state: &AppState,
    ctx: &Ctx,
    requester: &Requester,
    staff: &StaffRow,
    method: &str,
    flow: Option<&str>,
    next: Option<&str>,
    now: i64,
) -> PageResult {
    if staff.disabled_at.is_some() {
        return Err(PageError::BadRequest(ctx.lang, DISABLED));
    }
    let ip = requester.ip.to_string();
    let (cookie, s) = session::create(state, staff, method, &ip, &requester.user_agent, now)
        .await
        .map_err(|e| PageError::internal(ctx.lang, e))?;
    let store = StaffStore::new(state.db.clone());
    store
        .touch_login(&staff.id, now)
        .await
        .map_err(|e| PageError::internal(ctx.lang, e))?;
    state
        .audit()
        .record_staff(
            None,
            &StaffRef::own(&staff.id),
            "staff.signin",
            json!({"staff": staff.email, "method": method}),
            Some(&ip),
            now,
        )
        .await
        .map_err(|e| PageError::internal(ctx.lang, e))?;
    let mut res = after_sign_in(
        state,
        flow,
        next,
        (&s.staff_id, &s.sid, s.created_at),
        ctx.lang,
        now,
    )
    .await?;
    res.headers_mut().append(SET_COOKIE, cookie);
    no_store(&mut res);
    Ok(res)
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::CsrfForm(_): super::CsrfForm<Nothing>,
) -> PageResult {
    let now = state.now();
    if let Some(current) = session::current(&state, &headers, now)
        .await
        .map_err(|e| PageError::internal(kenpo_shared::Lang::Ja, e))?
    {
        session::end(&state, &current.hash)
            .await
            .map_err(|e| PageError::internal(kenpo_shared::Lang::Ja, e))?;
    }
    let mut res = Redirect::to("/staff/login").into_response();
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.clear(session::COOKIE));
    Ok(res)
}
