//! The guard of every sign-in and account page: a member with an IdP session, and what the
//! step decision needs — flow, session, member, factors — loaded once per request. The
//! handler, `next_step` and `advance` then all work on these same values (no second read of
//! the member row within a request).
//!
//! Extractors:
//! - [`Visiting<T>`]: a sign-in in progress. The flow and the page's input `T` come from the
//!   query of a GET or from the form of a POST (whose CSRF token is checked first). Without a
//!   session the member is sent to the login page (keeping the flow).
//! - [`VisitingScript<T>`]: the same for the JSON endpoints of passkey ceremonies.
//! - [`SignedIn`]: a member with nothing owed (account pages); a pending step is where they go.
//!
//! The step check itself is [`Visit::owing`]: a page states which steps it serves, and a
//! member who owes another one is sent there (back buttons, reloads, stale tabs).

use crate::error::{PageError, PageResultExt};
use crate::mfa::Factors;
use crate::oidc::request::AuthRequest;
use crate::pages::forms::{checked_form, field};
use crate::pages::script::{ScriptError, ScriptJson};
use crate::pages::{Ctx, Frame};
use crate::security::request::{Requester, cookie};
use crate::signin::session::{Current, Sessions};
use crate::signin::steps::{Facts, Step, next_step};
use crate::signin::{email_pending_key, flow_key, step_url};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::credentials::CredentialStore;
use crate::store::members::Member;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use kenpo_shared::Lang;
use maud::Markup;
use serde::de::DeserializeOwned;

/// A member on a sign-in or account page, with everything the step decision needs.
pub struct Visit {
    /// The request context, its language settled (see [`settle_lang`]).
    pub ctx: Ctx,
    pub requester: Requester,
    pub flow: Option<AuthRequest>,
    pub current: Current,
    pub member: Member,
    pub factors: Factors,
    /// A verification mail for the member's address is out and not yet opened.
    pub email_pending: bool,
    /// The time of this request, read once.
    pub now: i64,
}

impl Visit {
    pub fn flow_id(&self) -> Option<&str> {
        self.flow.as_ref().map(|f| f.id.as_str())
    }

    pub fn lang(&self) -> Lang {
        self.ctx.lang
    }

    /// The step the member owes now, from the loaded facts (pure; call again after a change).
    pub fn owed(&self, state: &AppState) -> Step {
        next_step(&Facts {
            member: &self.member,
            session: &self.current.session,
            factors: &self.factors,
            flow: self.flow.as_ref(),
            terms_version: &state.config.union.terms_version,
            email_pending: self.email_pending,
            now: self.now,
        })
    }

    /// The relying party's origin: a page whose form can end the sign-in must allow it in
    /// CSP `form-action`, or the browser stops the final redirect.
    pub fn form_action(&self) -> Option<String> {
        self.flow
            .as_ref()
            .and_then(|f| Client::redirect_origin(&f.redirect_uri))
    }

    /// The URL of a step page, carrying this visit's flow.
    pub fn step_url(&self, step: Step) -> String {
        step_url(step, self.flow_id())
    }

    /// Requires a complete sign-in (nothing owed), as the account pages do.
    pub fn signed_in(self, state: &AppState) -> Result<Visit, PageError> {
        match self.owed(state) {
            Step::Done => Ok(self),
            owed => Err(PageError::Redirect(step_url(owed, None))),
        }
    }

    /// Records an event of this member in the audit trail. A failed write is logged: the
    /// member's action has happened and is not undone for it.
    pub async fn audit(&self, state: &AppState, kind: &str, detail: serde_json::Value) {
        let ip = self.requester.ip.to_string();
        let trail = state.audit().member(&self.member.id, Some(&ip), self.now);
        trail.log(kind, detail).await;
    }

    /// Renders the page of `step`: its `data-step`, the first-login progress ("ステップ n / 7",
    /// only until onboarding is complete) and the relying party's origin for CSP
    /// `form-action` (the page's last POST may be answered with a redirect there).
    pub fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        step: Step,
        title: &str,
        scripts: Vec<&str>,
        body: Markup,
    ) -> Response {
        let progress = if self.member.onboarded_at.is_none() {
            step.onboarding_progress()
        } else {
            None
        };
        // The language switch must keep the flow, also on pages answering a POST.
        let ctx = Ctx {
            path_and_query: self.step_url(step),
            ..self.ctx.clone()
        };
        let frame = Frame {
            title,
            step: Some(step.name()),
            progress,
            scripts,
            form_action: self.form_action(),
            nav: Vec::new(),
        };
        ctx.render_status(state, status, frame, body)
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

/// The language of a sign-in page: an explicit choice (`?lang=`, the switch's cookie) first,
/// then the relying party's `ui_locales`, then the browser's language (already in `ctx`).
pub fn settle_lang(ctx: Ctx, headers: &HeaderMap, flow: Option<&AuthRequest>) -> Ctx {
    let query = ctx.path_and_query.split_once('?').map(|(_, q)| q);
    let explicit = query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "lang" || k == "ui_locales")
    }) || cookie(headers, kenpo_shared::web::LANG_COOKIE).is_some();
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

/// The browser a request comes from: the page context, its address and its headers (the
/// session cookie).
pub struct Browser {
    pub ctx: Ctx,
    pub requester: Requester,
    pub headers: HeaderMap,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        let Ok(requester) = Requester::from_request_parts(parts, state).await;
        Ok(Browser {
            ctx,
            requester,
            headers: parts.headers.clone(),
        })
    }
}

/// Loads a visit: `None` without a live session (or when its member is gone).
pub async fn load(
    state: &AppState,
    browser: Browser,
    flow_id: Option<&str>,
) -> Result<Option<Visit>, PageError> {
    let flow = load_flow(state, flow_id).await?;
    load_with(
        state,
        browser.ctx,
        browser.requester,
        &browser.headers,
        flow,
    )
    .await
}

/// [`load`] with the flow already at hand (the authorization endpoint has just stored it).
/// One trip to the short-lived store for the session, one to the database for the member and
/// factors, and — only while the address is unverified — one for the pending-mail marker.
pub async fn load_with(
    state: &AppState,
    ctx: Ctx,
    requester: Requester,
    headers: &HeaderMap,
    flow: Option<AuthRequest>,
) -> Result<Option<Visit>, PageError> {
    let now = state.now();
    let ctx = settle_lang(ctx, headers, flow.as_ref());
    let lang = ctx.lang;
    let Some(current) = current_session(state, headers, now).await? else {
        return Ok(None);
    };
    let Some((member, factors)) = CredentialStore::new(state.db.clone())
        .member_and_factors(&current.session.member_id)
        .await
        .page(lang)?
    else {
        return Ok(None);
    };
    assemble(state, requester, ctx, flow, current, member, factors, now)
        .await
        .map(Some)
}

/// A visit from values the caller already holds (a sign-in that just checked the member):
/// only the pending-mail marker is looked up, and only while the address is unverified.
#[allow(clippy::too_many_arguments)]
pub async fn assemble(
    state: &AppState,
    requester: Requester,
    ctx: Ctx,
    flow: Option<AuthRequest>,
    current: Current,
    member: Member,
    factors: Factors,
    now: i64,
) -> Result<Visit, PageError> {
    let email_pending = if member.email_verified && member.email.is_some() {
        false
    } else {
        state
            .eph
            .get(&email_pending_key(&member.id))
            .await
            .page(ctx.lang)?
            .is_some()
    };
    Ok(Visit {
        ctx,
        requester,
        flow,
        current,
        member,
        factors,
        email_pending,
        now,
    })
}

/// [`load`], with the login page (keeping the flow) as the answer when there is no session.
pub async fn enter(
    state: &AppState,
    browser: Browser,
    flow_id: Option<&str>,
) -> Result<Visit, PageError> {
    let login = step_url(Step::Login, flow_id);
    load(state, browser, flow_id)
        .await?
        .ok_or(PageError::Redirect(login))
}

/// A sign-in page's request: the visit and the page's input `T` — the query of a GET, the
/// CSRF-checked form of a POST. Other methods are not routed here.
pub struct Visiting<T = NoInput>(pub Visit, pub T);

/// For pages whose requests carry nothing but the flow.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoInput {}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Visiting<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Ok(browser) = Browser::from_request_parts(&mut parts, state).await;
        let lang = browser.ctx.lang;
        let (pairs, input): (Vec<(String, String)>, T) = if parts.method == Method::GET {
            let q = parts.uri.query().unwrap_or("");
            let bad = || PageError::BadRequest(lang, crate::pages::i18n::BAD_REQUEST);
            (
                serde_urlencoded::from_str(q).map_err(|_| bad())?,
                serde_urlencoded::from_str(q).map_err(|_| bad())?,
            )
        } else {
            checked_form(Request::from_parts(parts, body), state).await?
        };
        let visit = enter(state, browser, field(&pairs, "flow")).await?;
        Ok(Visiting(visit, input))
    }
}

/// A passkey ceremony's JSON request within a sign-in (or an account page): the visit and the
/// body, CSRF checked, errors answered in JSON.
pub struct VisitingScript<T>(pub Visit, pub ScriptJson<T>);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for VisitingScript<T> {
    type Rejection = ScriptError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Ok(browser) = Browser::from_request_parts(&mut parts, state).await;
        let json = ScriptJson::<T>::from_request(Request::from_parts(parts, body), state).await?;
        let visit = enter(state, browser, json.field("flow")).await?;
        Ok(VisitingScript(visit, json))
    }
}

/// A member signed in with nothing owed: the account pages. Without a session the login page
/// is the answer; with a pending step, that step.
pub struct SignedIn(pub Visit);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Ok(browser) = Browser::from_request_parts(parts, state).await;
        Ok(SignedIn(
            enter(state, browser, None).await?.signed_in(state)?,
        ))
    }
}

/// A form posted on the account pages: the app state, the signed-in member ([`SignedIn`]) and
/// the form once its CSRF token checked out ([`crate::pages::forms::CsrfForm`]), in that order.
pub struct AccountForm<T> {
    pub state: AppState,
    pub v: Visit,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AccountForm<T> {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let SignedIn(v) = SignedIn::from_request_parts(&mut parts, state).await?;
        let (_, form) = checked_form(Request::from_parts(parts, body), state).await?;
        Ok(AccountForm {
            state: state.clone(),
            v,
            form,
        })
    }
}
