//! The one route table of the portal, grouped by capability.

use crate::auth::{login, logout};
use crate::pages::{benefits, deduction, eligibility, home, medical};
use crate::staff;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kenpo_shared::web::{self, PageLang, SecurityHeaders};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn app(state: AppState) -> Router {
    // Signing in and out through the IdP.
    let auth = Router::new()
        .route("/auth/login", get(login::get))
        .route("/auth/callback", get(login::callback))
        .route("/auth/logout", get(logout::get).post(logout::post))
        .route("/auth/backchannel-logout", post(logout::backchannel));

    // Notices: every handler takes the household from the session, never from the request.
    let notices = Router::new()
        .route("/", get(home::get))
        .route("/medical", get(medical::get))
        .route("/medical/deduction", get(deduction::page))
        .route("/medical/deduction.csv", get(deduction::csv))
        .route("/medical/deduction/print", get(deduction::print))
        .route("/benefits", get(benefits::get))
        .route("/eligibility", get(eligibility::get))
        .route("/eligibility/print", get(eligibility::print));

    // Staff pages: notice imports by staff signed in through the IdP with the `staff` scope.
    // Their own block for the body limit of the CSV upload.
    let forms = state.config.server.body_limit_bytes;
    let upload = state.config.server.upload_limit_bytes.max(forms);
    let staff_uploads = Router::new()
        .route("/staff/import/upload", post(staff::import::upload))
        .layer(DefaultBodyLimit::max(upload))
        .layer(RequestBodyLimitLayer::new(upload));
    let staff = Router::new()
        .route("/staff", get(staff::import::get))
        .route("/staff/import/confirm", post(staff::import::confirm))
        .route("/staff/auth/login", get(staff::login))
        .route("/staff/auth/callback", get(staff::callback))
        .route("/staff/logout", post(staff::logout))
        .layer(RequestBodyLimitLayer::new(forms))
        .merge(staff_uploads);

    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(web::stylesheet_path(), get(web::stylesheet))
        .route("/static/print.js", get(print_js));

    let headers = SecurityHeaders {
        hsts: state.config.https(),
    };
    Router::new()
        .merge(auth)
        .merge(notices)
        .merge(ops)
        .layer(RequestBodyLimitLayer::new(forms))
        .merge(staff)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), crate::metrics::notice_views))
        .layer(from_fn_with_state(
            state.metrics.base.clone(),
            kenpo_shared::metrics::track,
        ))
        .layer(from_fn_with_state(headers, web::security_headers))
        .layer(from_fn(web::remember_lang))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.server.request_timeout_secs),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn not_found(PageLang(lang): PageLang) -> Response {
    crate::error::PageError::NotFound(lang).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database and the short-lived store answer. The IdP is not required: the
/// portal serves signed-in members from its own session while the IdP restarts.
/// Each store gets a second; a shutting-down replica is not ready.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.lifecycle.draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let probe = Duration::from_secs(1);
    let (db, eph) = tokio::join!(
        tokio::time::timeout(probe, state.db.ping()),
        tokio::time::timeout(probe, state.eph.ping())
    );
    match (db, eph) {
        (Ok(Ok(())), Ok(Ok(()))) => "ready".into_response(),
        (db, eph) => {
            tracing::warn!(db = ?db.map_err(|_| "timeout"), ephemeral = ?eph.map_err(|_| "timeout"), "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

async fn print_js() -> Response {
    let mut res = include_str!("../static/print.js").into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
