//! The login page (`data-step="login"`): user ID and password, the first step of every
//! sign-in. The check itself and the session it starts are in `signin::start`.

use crate::config::FirstLogin;
use crate::error::{PageError, PageResult, PageResultExt};
use crate::pages::forms::{self, CsrfForm, Field};
use crate::pages::i18n::{self};
use crate::pages::{Ctx, Frame, Hosted};
use crate::security::request::Requester;
use crate::signin::start::{Authenticated, LoginFailure, Primary, authenticate, start_session};
use crate::signin::steps::login_needed;
use crate::signin::visit::{Browser, load, load_flow};
use crate::state::AppState;
use crate::store::clients::Client;
pub use crate::texts::signin::login::*;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kenpo_shared::Lang;
use kenpo_shared::ids::UserId;
use maud::html;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub flow: Option<String>,
    /// The user ID printed in a letter's QR code fills the field.
    pub login_hint: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<LoginQuery>,
) -> PageResult {
    let ctx = browser.ctx.clone();
    let requester = browser.requester.clone();
    // Already signed in and nothing forces a new password entry: skip this page.
    if let Some(v) = load(&state, browser, q.flow.as_deref()).await?
        && !login_needed(&v.current.session, &v.member, v.flow.as_ref(), v.now)
    {
        return Ok(v.advance(&state).await?.into_response());
    }
    let flow = load_flow(&state, q.flow.as_deref()).await?;
    let lang = flow
        .as_ref()
        .and_then(|f| f.ui_locales.as_deref())
        .and_then(Lang::from_ui_locales)
        .unwrap_or(ctx.lang);
    let ctx = Ctx { lang, ..ctx };
    let hint = flow
        .as_ref()
        .and_then(|f| f.login_hint.clone())
        .or_else(|| {
            q.login_hint
                .as_deref()
                .and_then(|h| UserId::parse(h).ok())
                .map(|u| u.as_str().to_string())
        });
    // A browser remembered for its member shows their user ID (they stay known).
    let hint = match hint {
        Some(h) => h,
        None => crate::security::device::remembered_user(&state, &requester, state.now())
            .await
            .page(lang)?
            .unwrap_or_default(),
    };
    Ok(page(
        &state,
        &ctx,
        flow.as_ref().map(|f| f.id.as_str()),
        flow.as_ref().map(|f| f.redirect_uri.as_str()),
        &hint,
        None,
        StatusCode::OK,
    ))
}

fn page(
    state: &AppState,
    ctx: &Ctx,
    flow: Option<&str>,
    redirect_uri: Option<&str>,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = &error { (kenpo_shared::web::alert(e)) }
        form method="post" action="/login" novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(flow))
            (Field { autocomplete: "username webauthn", value: username, autofocus: username.is_empty(), maxlength: Some(64), ..Field::new("username", ctx.t(USER_ID)) }.render())
            (Field { kind: "password", autocomplete: "current-password", autofocus: !username.is_empty(), maxlength: Some(1024), ..Field::new("password", ctx.t(PASSWORD)) }.render())
            div.field {
                label.check for="f-remember" {
                    input id="f-remember" type="checkbox" name="remember" value="yes";
                    (ctx.t(REMEMBER))
                }
            }
            button.primary type="submit" { (ctx.t(SUBMIT)) }
        }
        p.divider { (ctx.t(OR)) }
        div.actions {
            button.secondary type="button" data-action="passkey-login" data-flow=[flow] { (ctx.t(PASSKEY)) }
        }
        p.passkey-status role="status" aria-live="polite" {}
        div.links {
            a href=(with_flow("/recovery/password", flow)) { (ctx.t(FORGOT_PASSWORD)) }
            a href=(with_flow("/recovery/user-id", flow)) { (ctx.t(FORGOT_USER_ID)) }
        }
        details {
            summary { (ctx.lang.pick("はじめてログインする方へ", "First time here?")) }
            // Letter mode names the letter's code instead of the card.
            p.small { (ctx.t(if state.config.onboarding.first_login == FirstLogin::Letter { LETTER_FIRST_TIME } else { FIRST_TIME })) }
        }
    };
    ctx.render_status(
        state,
        status,
        Frame {
            title: ctx.t(TITLE),
            step: Some("login"),
            progress: None,
            scripts: vec!["/static/passkey.js"],
            form_action: redirect_uri.and_then(Client::redirect_origin),
            nav: Vec::new(),
        },
        body,
    )
}

fn with_flow(path: &str, flow: Option<&str>) -> String {
    match flow {
        Some(f) => format!("{path}?flow={f}"),
        None => path.to_string(),
    }
}

/// The member-facing answer to a failed password sign-in.
fn failure_text(
    state: &AppState,
    lang: Lang,
    failure: LoginFailure,
) -> Result<(StatusCode, String), PageError> {
    Ok(match failure {
        LoginFailure::Missing => (StatusCode::BAD_REQUEST, MISSING.get(lang).to_string()),
        LoginFailure::Wrong => (StatusCode::UNAUTHORIZED, WRONG.get(lang).to_string()),
        LoginFailure::Throttled { wait, known } => {
            let wait = i18n::wait_text(lang, wait);
            let again = match lang {
                Lang::Ja => format!("{wait}後にもう一度お試しください。"),
                Lang::En => format!("Please try again in {wait}."),
            };
            let mut text = format!("{} {again}", WAIT.get(lang));
            if !known {
                // Someone else may be failing on purpose: the ways in that their attempts
                // cannot block.
                text = format!("{text} {}", WAYS_OUT.get(lang));
            }
            (StatusCode::TOO_MANY_REQUESTS, text)
        }
        LoginFailure::Locked { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("{} {}", LOCKED.get(lang), WAYS_OUT.get(lang)),
        ),
        LoginFailure::InitialExpired => (
            StatusCode::UNAUTHORIZED,
            format!(
                "{} {}",
                INITIAL_EXPIRED.get(lang),
                state.config.union.contact_email
            ),
        ),
        LoginFailure::Disabled => (
            StatusCode::FORBIDDEN,
            format!(
                "{} {}",
                DISABLED.get(lang),
                state.config.union.contact_email
            ),
        ),
        LoginFailure::Busy => return Err(PageError::Unavailable(lang)),
        LoginFailure::Internal(e) => return Err(PageError::internal(lang, e)),
    })
}

pub async fn post(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> PageResult {
    let flow = load_flow(&state, form.flow.as_deref()).await?;
    let flow_id = flow.as_ref().map(|f| f.id.as_str());
    match authenticate(&state, &requester, &form.username, &form.password, now).await {
        Ok(Authenticated { member, budget }) => {
            let primary = Primary {
                member,
                amr: vec!["pwd".into()],
                mfa: false,
                remember: form.remember.as_deref() == Some("yes"),
                flow_id,
                browser: budget.browser,
            };
            start_session(&state, ctx, requester, &headers, primary).await
        }
        Err(failure) => {
            let (status, message) = failure_text(&state, ctx.lang, failure)?;
            let redirect_uri = flow.as_ref().map(|f| f.redirect_uri.as_str());
            Ok(page(
                &state,
                &ctx,
                flow_id,
                redirect_uri,
                &form.username,
                Some(message),
                status,
            ))
        }
    }
}
