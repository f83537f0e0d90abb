//! First-login onboarding (SPEC steps 2–6): `birthdate`, `terms`, `email` / `email-sent`
//! (with the mailed verification link), `method` and `new-password`, plus the public terms of
//! use and privacy policy pages.
//!
//! Every step page is entered through [`visit`]: the member must have an IdP session and owe
//! exactly this step (the decision is `signin::steps::next_step`, recomputed from durable
//! state on every request), otherwise they are sent to the step they owe. That is what makes
//! back buttons, reloads, stale tabs and double submissions harmless, and lets a member who
//! stopped resume at the same step from any device. After a step succeeds, the handler calls
//! `signin::advance`, which goes to the next step or back to the relying party.

pub mod birthdate;
pub mod email;
pub mod method;
pub mod new_password;
pub mod terms;
pub mod texts;

use crate::error::{PageError, PageResultExt};
use crate::oidc::request::AuthRequest;
use crate::pages::{Ctx, Frame};
use crate::signin::session::Current;
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::clients::Client;
use crate::store::members::Member;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use kenpo_shared::Lang;
use maud::Markup;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/signin/birthdate",
            get(birthdate::get).post(birthdate::post),
        )
        .route("/signin/terms", get(terms::get).post(terms::post))
        .route("/signin/email", get(email::get).post(email::post))
        .route(
            "/signin/email-sent",
            get(email::sent_get).post(email::sent_post),
        )
        .route("/signin/email-sent/status", get(email::sent_status))
        .route("/signin/verify-email", get(email::verify))
        .route("/signin/method", get(method::get).post(method::post))
        .route(
            "/signin/new-password",
            get(new_password::get).post(new_password::post),
        )
        .route("/terms", get(texts::terms_page))
        .route("/privacy", get(texts::privacy_page))
}

#[derive(Debug, Deserialize)]
pub struct FlowQuery {
    pub flow: Option<String>,
}

/// A member on one of the onboarding pages.
pub struct Visit {
    /// The request context, its language settled (see [`settle_lang`]).
    pub ctx: Ctx,
    pub current: Current,
    pub member: Member,
    pub flow: Option<AuthRequest>,
    /// The step the member owes (the page may also show an earlier one, see `method`).
    pub owed: Step,
}

impl Visit {
    pub fn flow_id(&self) -> Option<&str> {
        self.flow.as_ref().map(|f| f.id.as_str())
    }

    pub fn lang(&self) -> Lang {
        self.ctx.lang
    }

    /// Renders a step page: `data-step`, progress ("ステップ n / 7", only while the member
    /// has not finished onboarding), the relying party's origin for CSP `form-action` (the
    /// last step's POST is answered with a redirect there).
    pub fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        page: Step,
        title: &str,
        scripts: Vec<&str>,
        body: Markup,
    ) -> Response {
        let progress = if self.member.onboarded_at.is_none() {
            page.onboarding_progress()
        } else {
            None
        };
        // The language switch must keep the flow, also on pages answering a POST.
        let ctx = Ctx {
            path_and_query: signin::step_url(page, self.flow_id()),
            ..self.ctx.clone()
        };
        ctx.render_status(
            state,
            status,
            Frame {
                title,
                step: Some(step_name(page)),
                progress,
                scripts,
                form_action: self
                    .flow
                    .as_ref()
                    .and_then(|f| Client::redirect_origin(&f.redirect_uri)),
                nav: Vec::new(),
            },
            body,
        )
    }

    /// Records an onboarding event in the member's audit trail (best effort).
    pub async fn audit(&self, state: &AppState, kind: &str, detail: serde_json::Value, now: i64) {
        let _ = state
            .audit()
            .record(
                Some(&self.member.id),
                Actor::Member,
                kind,
                detail,
                Some(&self.current.session.ip),
                now,
            )
            .await;
    }

    /// On to the next step (or back to the relying party).
    pub async fn advance(self, state: &AppState, now: i64) -> Response {
        let flow = self.flow.as_ref().map(|f| f.id.clone());
        signin::advance(state, self.current, flow.as_deref(), self.ctx.lang, now).await
    }
}

/// The language of a step page: an explicit choice (`?lang=`, the switch's cookie) first,
/// then the relying party's `ui_locales`, then the browser's language (already in `ctx`).
pub fn settle_lang(ctx: Ctx, headers: &HeaderMap, flow: Option<&AuthRequest>) -> Ctx {
    let query = ctx.path_and_query.split_once('?').map(|(_, q)| q);
    let explicit = query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "lang" || k == "ui_locales")
    }) || crate::security::request::cookie(headers, kenpo_shared::web::LANG_COOKIE)
        .is_some();
    if explicit {
        return ctx;
    }
    match flow
        .and_then(|f| f.ui_locales.as_deref())
        .and_then(Lang::from_ui_locales)
    {
        Some(lang) => Ctx { lang, ..ctx },
        None => ctx,
    }
}

/// Enters a step page: a session, the flow, and a step the member owes for which `want` is
/// true. Otherwise the answer is a redirect: to the login page without a session, to the
/// owed step, or — when nothing is owed any more — on to the relying party.
pub async fn visit(
    state: &AppState,
    ctx: Ctx,
    headers: &HeaderMap,
    flow_id: Option<&str>,
    want: impl Fn(Step) -> bool,
    now: i64,
) -> Result<Visit, Response> {
    let flow = signin::load_flow(state, flow_id)
        .await
        .map_err(IntoResponse::into_response)?;
    let ctx = settle_lang(ctx, headers, flow.as_ref());
    let lang = ctx.lang;
    let live_flow = flow.as_ref().map(|f| f.id.as_str());
    let current = signin::require_session(state, headers, live_flow, now).await?;
    let member = state
        .members()
        .by_id(&current.session.member_id)
        .await
        .page(lang)
        .map_err(IntoResponse::into_response)?;
    let Some(member) = member else {
        return Err(Redirect::to(&signin::step_url(Step::Login, live_flow)).into_response());
    };
    let owed = signin::next_step_for(state, &current.session, flow.as_ref(), now)
        .await
        .map_err(IntoResponse::into_response)?;
    if want(owed) {
        return Ok(Visit {
            ctx,
            current,
            member,
            flow,
            owed,
        });
    }
    if owed == Step::Done {
        return Err(signin::advance(state, current, live_flow, lang, now).await);
    }
    Err(Redirect::to(&signin::step_url(owed, live_flow)).into_response())
}

/// The refusal of a step form whose CSRF token does not check out, if it does not.
pub fn csrf_refused(ctx: &Ctx, submitted: &str) -> Option<Response> {
    (!ctx.csrf.verify(submitted)).then(|| PageError::Forbidden(ctx.lang).into_response())
}

/// The `data-step` name of a step page (SPEC contract).
pub fn step_name(step: Step) -> &'static str {
    match step {
        Step::Birthdate => "birthdate",
        Step::Terms => "terms",
        Step::Email => "email",
        Step::EmailSent => "email-sent",
        Step::Method => "method",
        Step::NewPassword => "new-password",
        _ => "signin",
    }
}
