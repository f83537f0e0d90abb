//! The one route table of the IdP, grouped by capability.

use crate::oidc::{self, authorize, introspect, logout, revoke, token, userinfo};
use crate::security::{csrf, request::TrustedProxies};
use crate::signin::{self, consent, login, mfa};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use kenpo_shared::web::{self, PageLang, SecurityHeaders};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn app(state: AppState) -> Router {
    // Protocol endpoints: called by relying parties (and browsers of single-page apps).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let protocol = Router::new()
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/jwks", get(oidc::jwks))
        .route("/token", post(token::post))
        .route("/userinfo", get(userinfo::handle).post(userinfo::handle))
        .route("/introspect", post(introspect::post))
        .route("/revoke", post(revoke::post))
        .layer(cors);

    // Hosted pages: CSRF cookie on every one of them; pages inside a relying party's sign-in
    // may send their last form's answer back to it (CSP form-action).
    let hosted = Router::new()
        .route("/", get(home))
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/login", get(login::get).post(login::post))
        .route("/signin/consent", get(consent::get).post(consent::post))
        .route("/signin/done", get(login::done))
        .merge(mfa::routes())
        .merge(signin::passkey_login::routes())
        .merge(crate::enroll::routes())
        .merge(crate::onboarding::routes())
        .merge(crate::recovery::routes())
        .merge(crate::account::routes())
        .route("/logout", get(logout::get).post(logout::post))
        .route("/logout/confirm", post(logout::confirm))
        .layer(from_fn_with_state(state.clone(), csrf::ensure_cookie))
        .layer(from_fn_with_state(
            state.clone(),
            crate::security::form_action::allow_flow_origin,
        ));

    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(web::stylesheet_path(), get(web::stylesheet))
        .route("/static/{file}", get(static_file));

    let trusted: Vec<std::net::IpAddr> = state
        .config
        .server
        .trusted_proxies
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    let headers = SecurityHeaders {
        hsts: state.config.https(),
    };
    Router::new()
        .merge(protocol)
        .merge(hosted)
        .merge(ops)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), crate::metrics::signin_outcomes))
        .layer(from_fn_with_state(
            state.metrics.base.clone(),
            kenpo_shared::metrics::track,
        ))
        .layer(from_fn_with_state(headers, web::security_headers))
        .layer(from_fn(web::remember_lang))
        .layer(CatchPanicLayer::new())
        .layer(RequestBodyLimitLayer::new(state.config.server.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(state.config.server.request_timeout_secs)))
        .layer(Extension(TrustedProxies(trusted)))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn home(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    match signin::current_session(&state, &headers, state.now()).await {
        Ok(Some(_)) => Redirect::to("/account").into_response(),
        _ => Redirect::to("/login").into_response(),
    }
}

async fn not_found(PageLang(lang): PageLang) -> Response {
    crate::error::PageError::NotFound(lang).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database and the short-lived store answer (each within a second) and
/// signing keys are loaded; not ready from the moment a shutdown begins.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.lifecycle.draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let probe = Duration::from_secs(1);
    let (db, eph) = tokio::join!(
        tokio::time::timeout(probe, state.db.ping()),
        tokio::time::timeout(probe, state.eph.ping())
    );
    let keys = state.keys.signer(crate::oidc::keys::Alg::Rs256);
    match (db, eph, keys) {
        (Ok(Ok(())), Ok(Ok(())), Ok(_)) => "ready".into_response(),
        (db, eph, keys) => {
            tracing::warn!(db = ?db.map_err(|_| "timeout"), ephemeral = ?eph.map_err(|_| "timeout"), keys = ?keys.err(), "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

/// Page scripts, embedded in the binary.
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let body = match file.as_str() {
        "passkey.js" => include_str!("../static/passkey.js"),
        "new-password.js" => include_str!("../static/new-password.js"),
        "email-sent.js" => include_str!("../static/email-sent.js"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
