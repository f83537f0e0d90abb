//! The authorization endpoint (GET and POST): the request is validated (`oidc::request`), or
//! is the pushed one its `request_uri` names (`oidc::par`), kept as a flow for the sign-in pages, and handed to `signin::advance::resume`, which sends
//! the member to the step they owe or straight back with a code.

use crate::error::{PageResult, PageResultExt};
use crate::oidc::par;
use crate::oidc::params::Params;
use crate::oidc::request::{self, RequestError};
use crate::pages::{self, Ctx, Hosted, i18n};
use crate::security::request::Requester;
use crate::signin::advance::resume;
use crate::signin::flow_key;
use crate::signin::visit::load_with;
use crate::state::AppState;
use crate::store::ephemeral::secs;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use kenpo_shared::Lang;

/// `GET` or `POST /authorize`.
pub async fn handle(
    Hosted { state, ctx, .. }: Hosted,
    requester: Requester,
    headers: HeaderMap,
    Params(pairs): Params,
) -> PageResult {
    start(&state, ctx, requester, &headers, pairs).await
}

async fn start(
    state: &AppState,
    ctx: Ctx,
    requester: Requester,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> PageResult {
    let now = state.now();
    let lang = ctx.lang;
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
        Some(id) if id.len() <= 64 => state.clients().get(id).await.page(lang)?,
        _ => None,
    };
    let refused = |detail: &str| {
        tracing::info!(
            detail,
            client_id = params.get("client_id").map(String::as_str),
            "authorization request refused without redirect"
        );
        pages::error_page(
            axum::http::StatusCode::BAD_REQUEST,
            lang,
            i18n::ERROR_TITLE.get(lang),
            &format!("{} ({detail})", i18n::BAD_CLIENT.get(lang)),
        )
    };
    let flow = if let Some(request_uri) = params.get("request_uri") {
        // A pushed request (RFC 9126 §4): it alone counts; the URL adds nothing to it.
        if duplicate.is_some() {
            return Ok(refused("a parameter was given more than once"));
        }
        match par::redeem(&state.eph, client.as_deref(), request_uri, now)
            .await
            .page(lang)?
        {
            Ok(flow) => flow,
            Err(detail) => return Ok(refused(detail)),
        }
    } else {
        let checked = request::validate(
            &params,
            client.as_deref(),
            duplicate.as_deref(),
            par::hint_verifier(state),
            now,
        )
        .and_then(|flow| match client.as_deref() {
            Some(c) if par::required(state, c) => Err(RequestError::Redirect {
                redirect_uri: flow.redirect_uri,
                state: flow.state,
                code: "invalid_request",
                description: "this client must push its authorization requests (PAR)".into(),
            }),
            _ => Ok(flow),
        });
        match checked {
            Ok(flow) => flow,
            Err(RequestError::NoRedirect(detail)) => return Ok(refused(detail)),
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
                return Ok(Redirect::to(&url).into_response());
            }
        }
    };
    // The request's own ui_locales (a pushed request's, not the URL's).
    let lang = flow
        .ui_locales
        .as_deref()
        .and_then(Lang::from_ui_locales)
        .unwrap_or(ctx.lang);
    state
        .eph
        .put_json(
            &flow_key(&flow.id),
            &flow,
            // Short until the member signs in (`signin::keep_flow` extends it).
            secs(crate::signin::unposted_flow_ttl(&state.config.session)),
        )
        .await
        .page(lang)?;
    // Hook (issue 11): a staff sign-in to a union console takes its own path.
    if crate::staff::oidc::is_staff_flow(&flow) {
        return Ok(crate::staff::oidc::authorize(state, &flow, headers, now).await);
    }
    let ctx = Ctx { lang, ..ctx };
    let visit = load_with(state, ctx, requester, headers, Some(flow.clone())).await?;
    let mut res = resume(state, &flow, visit.as_ref()).await?.into_response();
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
    Ok(res)
}
