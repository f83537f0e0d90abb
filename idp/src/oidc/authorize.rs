//! The authorization endpoint (GET and POST) and the continuation of a sign-in: once the
//! member has passed every step, a code goes back to the relying party.

use crate::error::PageError;
use crate::oidc::code;
use crate::oidc::request::{self, ACR_MFA, ACR_PASSWORD, AuthRequest, Prompt, RequestError};
use crate::pages::{self, i18n};
use crate::signin::session::Current;
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::ephemeral::secs;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Lang;
use kenpo_shared::web::PageLang;

pub fn flow_key(id: &str) -> String {
    format!("flow:{id}")
}

pub async fn get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""))
        .unwrap_or_default();
    start(&state, lang, &headers, pairs).await
}

pub async fn post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).unwrap_or_default();
    start(&state, lang, &headers, pairs).await
}

async fn start(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Response {
    let now = state.now();
    let (params, duplicate) = match request::single_params(pairs.clone()) {
        Ok(p) => (p, None),
        Err(name) => {
            // Keep the first value of each so the client and redirect URI can still be checked.
            let mut p = std::collections::HashMap::new();
            for (k, v) in pairs {
                p.entry(k).or_insert(v);
            }
            (p, Some(name))
        }
    };
    let lang = params
        .get("ui_locales")
        .and_then(|u| Lang::from_ui_locales(u))
        .unwrap_or(lang);
    let client = match params.get("client_id") {
        Some(id) if id.len() <= 64 => match state.clients().get(id).await {
            Ok(c) => c,
            Err(e) => return PageError::internal(lang, e).into_response(),
        },
        _ => None,
    };
    let keys = state.keys.clone();
    let issuer = state.issuer.clone();
    let verify_hint = move |token: &str| {
        keys.verify_own_jwt(token)
            .filter(|claims| claims["iss"].as_str() == Some(issuer.as_str()))
            .and_then(|claims| claims["sub"].as_str().map(String::from))
    };
    let flow = match request::validate(
        &params,
        client.as_deref(),
        duplicate.as_deref(),
        verify_hint,
        now,
    ) {
        Ok(flow) => flow,
        Err(RequestError::NoRedirect(detail)) => {
            tracing::info!(
                detail,
                client_id = params.get("client_id").map(String::as_str),
                "authorization request refused without redirect"
            );
            return pages::error_page(
                axum::http::StatusCode::BAD_REQUEST,
                lang,
                i18n::ERROR_TITLE.get(lang),
                &format!("{} ({detail})", i18n::BAD_CLIENT.get(lang)),
            );
        }
        Err(RequestError::Redirect {
            redirect_uri,
            state: st,
            code,
            description,
        }) => {
            let url = request::response_url(
                &redirect_uri,
                &state.issuer,
                &[("error", code), ("error_description", &description)],
                st.as_deref(),
            );
            return Redirect::to(&url).into_response();
        }
    };
    if let Err(e) = state
        .eph
        .put_json(
            &flow_key(&flow.id),
            &flow,
            secs(state.config.session.flow_ttl_secs),
        )
        .await
    {
        return PageError::internal(lang, e).into_response();
    }
    let session = signin::current_session(state, headers, now).await;
    let mut res = match session {
        Ok(session) => resume(state, &flow, session, lang, now).await,
        Err(e) => e.into_response(),
    };
    // ui_locales carries over to every page of the sign-in through the language cookie.
    if flow
        .ui_locales
        .as_deref()
        .and_then(Lang::from_ui_locales)
        .is_some()
    {
        let cookie = format!(
            "{}={}; Path=/; Max-Age=31536000; SameSite=Lax",
            kenpo_shared::web::LANG_COOKIE,
            lang.code()
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
            res.headers_mut().append(axum::http::header::SET_COOKIE, v);
        }
    }
    res
}

/// An error sent back to the relying party of a flow.
pub fn error_redirect(
    state: &AppState,
    flow: &AuthRequest,
    code: &str,
    description: &str,
) -> Response {
    let url = request::response_url(
        &flow.redirect_uri,
        &state.issuer,
        &[("error", code), ("error_description", description)],
        flow.state.as_deref(),
    );
    Redirect::to(&url).into_response()
}

/// Decides what happens next in a flow: a step page, the consent page, or the code.
pub async fn resume(
    state: &AppState,
    flow: &AuthRequest,
    session: Option<Current>,
    lang: Lang,
    now: i64,
) -> Response {
    let none = flow.has_prompt(Prompt::None);
    let Some(current) = session else {
        if none {
            return error_redirect(state, flow, "login_required", "the member is not signed in");
        }
        return Redirect::to(&signin::step_url(Step::Login, Some(&flow.id))).into_response();
    };
    let step = match signin::next_step_for(state, &current.session, Some(flow), now).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if step != Step::Done {
        if none {
            let code = if step == Step::Login {
                "login_required"
            } else {
                "interaction_required"
            };
            return error_redirect(
                state,
                flow,
                code,
                "the member must interact with the sign-in pages",
            );
        }
        return Redirect::to(&signin::step_url(step, Some(&flow.id))).into_response();
    }
    let client = match state.clients().get(&flow.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return pages::error_page(
                axum::http::StatusCode::BAD_REQUEST,
                lang,
                i18n::ERROR_TITLE.get(lang),
                i18n::BAD_CLIENT.get(lang),
            );
        }
        Err(e) => return PageError::internal(lang, e).into_response(),
    };
    if client.third_party {
        let remembered = match state
            .consents()
            .get(&current.session.member_id, &client.client_id)
            .await
        {
            Ok(r) => r,
            Err(e) => return PageError::internal(lang, e).into_response(),
        };
        let covered =
            remembered.is_some_and(|granted| flow.scopes.iter().all(|s| granted.contains(s)));
        if !covered || flow.has_prompt(Prompt::Consent) {
            if none {
                return error_redirect(
                    state,
                    flow,
                    "consent_required",
                    "the member has not consented",
                );
            }
            return Redirect::to(&format!("/signin/consent?flow={}", flow.id)).into_response();
        }
    }
    finish(state, flow, current, now)
        .await
        .unwrap_or_else(|e| e.into_response())
}

/// Issues the code and returns the redirect to the relying party. The flow is consumed, so a
/// double submission cannot mint a second code.
pub async fn finish(
    state: &AppState,
    flow: &AuthRequest,
    mut current: Current,
    now: i64,
) -> Result<Response, PageError> {
    let lang = Lang::Ja;
    if state
        .eph
        .take(&flow_key(&flow.id))
        .await
        .map_err(|e| PageError::internal(lang, e))?
        .is_none()
    {
        return Err(PageError::BadRequest(lang, i18n::SIGNIN_EXPIRED));
    }
    let acr = if current.session.has_mfa() {
        ACR_MFA
    } else {
        ACR_PASSWORD
    };
    // The client joins the session's back-channel list before its code exists; a session that
    // ended meanwhile (sign-out in another tab) issues no code.
    if !signin::session::Sessions::new(state)
        .add_client(&mut current, &flow.client_id, now)
        .await
        .map_err(|e| PageError::internal(lang, e))?
    {
        return Err(PageError::BadRequest(lang, i18n::SIGNIN_EXPIRED));
    }
    let code = code::issue(
        &state.eph,
        flow,
        &current.session,
        acr,
        state.config.tokens.code_ttl_secs,
        now,
    )
    .await
    .map_err(|e| PageError::internal(lang, e))?;
    let url = request::response_url(
        &flow.redirect_uri,
        &state.issuer,
        &[("code", &code)],
        flow.state.as_deref(),
    );
    Ok(Redirect::to(&url).into_response())
}
