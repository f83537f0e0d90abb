//! The one route table of the IdP, grouped by capability.

use crate::account::{factors, page as account_page, profile, sessions};
use crate::enroll::{self, email as enroll_email, passkey as enroll_passkey, totp as enroll_totp};
use crate::oidc::{self, authorize, introspect, logout, par, revoke, token, userinfo};
use crate::onboarding::{
    birthdate, email, email_sent, method, new_password, terms, texts, verify_email,
};
use crate::recovery::{password as recovery_password, user_id as recovery_user_id};
use crate::security::{csrf, request::TrustedProxies};
use crate::signin::{consent, done, login, mfa_email, mfa_passkey, mfa_totp, passkey_login, visit};
use crate::staff;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Request, State};
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

/// The hosted POSTs anyone can send without an account, each drawing on the per-address
/// budget of `security::strangers` (as does `/authorize`, whatever the method).
const STRANGER_POSTS: &[&str] = &[
    "/login",
    "/login/passkey/options",
    "/login/passkey/finish",
    "/recovery/password",
    "/recovery/reset",
    "/recovery/user-id",
    "/signin/birthdate",
    "/signin/terms",
    "/signin/email",
    "/signin/email-sent",
    "/signin/method",
    "/signin/new-password",
];

pub fn app(state: AppState) -> Router {
    // Protocol endpoints: called by relying parties (and browsers of single-page apps).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("dpop"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("dpop-nonce"),
        ]);
    let protocol = Router::new()
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/jwks", get(oidc::jwks))
        .route("/par", post(par::post))
        .route("/token", post(token::post))
        .route("/userinfo", get(userinfo::handle).post(userinfo::handle))
        .route("/introspect", post(introspect::post))
        .route("/revoke", post(revoke::post))
        .layer(cors);

    // Hosted pages: CSRF cookie on every one of them; pages inside a relying party's sign-in
    // may send their last form's answer back to it (CSP form-action).
    let hosted = Router::new()
        .route("/", get(home))
        .route("/authorize", get(authorize::handle).post(authorize::handle))
        // Sign-in: password or passkey, then the steps a member owes (signin::steps).
        .route("/login", get(login::get).post(login::post))
        .route("/login/passkey/options", post(passkey_login::options))
        .route("/login/passkey/finish", post(passkey_login::finish))
        .route("/signin/mfa-totp", get(mfa_totp::get).post(mfa_totp::post))
        .route(
            "/signin/mfa-email",
            get(mfa_email::get).post(mfa_email::post),
        )
        .route("/signin/mfa-passkey", get(mfa_passkey::get))
        .route("/signin/mfa-passkey/options", post(mfa_passkey::options))
        .route("/signin/mfa-passkey/finish", post(mfa_passkey::finish))
        .route("/signin/consent", get(consent::get).post(consent::post))
        .route("/signin/done", get(done::get))
        // First login (onboarding), in the SPEC's order.
        .route(
            "/signin/birthdate",
            get(birthdate::get).post(birthdate::post),
        )
        .route("/signin/terms", get(terms::get).post(terms::post))
        .route("/signin/email", get(email::get).post(email::post))
        .route(
            "/signin/email-sent",
            get(email_sent::get).post(email_sent::post),
        )
        .route("/signin/email-sent/status", get(email_sent::status))
        .route("/signin/verify-email", get(verify_email::get))
        .route("/signin/method", get(method::get).post(method::post))
        .route(
            "/signin/new-password",
            get(new_password::get).post(new_password::post),
        )
        // Enrolment: the same handlers serve first login (/signin) and the account (/account).
        .route(
            "/signin/enroll-totp",
            get(enroll_totp::get).post(enroll_totp::post),
        )
        .route("/signin/enroll-totp/qr.png", get(enroll_totp::qr_png))
        .route(
            "/signin/enroll-email",
            get(enroll_email::get).post(enroll_email::post),
        )
        .route("/signin/enroll-passkey", get(enroll_passkey::get))
        .route(
            "/signin/enroll-passkey/options",
            post(enroll_passkey::options),
        )
        .route(
            "/signin/enroll-passkey/finish",
            post(enroll_passkey::finish),
        )
        .route("/signin/enroll-other", post(enroll::choose_another_method))
        .route(
            "/account/enroll-totp",
            get(enroll_totp::get).post(enroll_totp::post),
        )
        .route("/account/enroll-totp/qr.png", get(enroll_totp::qr_png))
        .route(
            "/account/enroll-email",
            get(enroll_email::get).post(enroll_email::post),
        )
        .route("/account/enroll-passkey", get(enroll_passkey::get))
        .route(
            "/account/enroll-passkey/options",
            post(enroll_passkey::options),
        )
        .route(
            "/account/enroll-passkey/finish",
            post(enroll_passkey::finish),
        )
        // The account page and its actions.
        .route("/account", get(account_page::get))
        .route("/account/passkeys/rename", post(factors::rename_passkey))
        .route("/account/passkeys/delete", post(factors::delete_passkey))
        .route("/account/totp/delete", post(factors::delete_totp))
        .route("/account/email-otp/off", post(factors::email_otp_off))
        .route("/account/preferred", post(factors::set_preferred))
        .route("/account/email", post(profile::email_start))
        .route("/account/email/confirm", post(profile::email_confirm))
        .route("/account/password", post(profile::change_password))
        .route("/account/sessions/end", post(sessions::end_one))
        .route("/account/sessions/end-all", post(sessions::end_all))
        // Recovery.
        .route(
            "/recovery/password",
            get(recovery_password::forgot_get).post(recovery_password::forgot_post),
        )
        .route(
            "/recovery/reset",
            get(recovery_password::reset_get).post(recovery_password::reset_post),
        )
        .route(
            "/recovery/user-id",
            get(recovery_user_id::get).post(recovery_user_id::post),
        )
        // Sign-out (RP-initiated logout) and the public texts.
        .route("/logout", get(logout::handle).post(logout::handle))
        .route("/logout/confirm", post(logout::confirm))
        .route("/terms", get(texts::terms_page))
        .route("/privacy", get(texts::privacy_page))
        .layer(from_fn_with_state(state.clone(), csrf::ensure_cookie))
        .layer(from_fn_with_state(
            state.clone(),
            crate::security::form_action::allow_flow_origin,
        ))
        .route_layer(from_fn_with_state(
            (state.clone(), STRANGER_POSTS),
            crate::security::strangers::limit,
        ));

    // The staff console: staff sessions only (never a member's), passkeys, roles checked by
    // each handler's extractor. Its own block for its body limit: the CSV upload may be larger
    // than a form.
    let forms = state.config.server.body_limit_bytes;
    let upload = state.config.staff.upload_limit_bytes.max(forms);
    let staff_uploads = Router::new()
        .route("/staff/import/upload", post(staff::import::upload))
        .layer(DefaultBodyLimit::max(upload))
        .layer(RequestBodyLimitLayer::new(upload));
    let staff = Router::new()
        .route("/staff", get(staff::members::home))
        .route("/staff/login", get(staff::login::get))
        .route("/staff/login/options", post(staff::login::options))
        .route("/staff/login/finish", post(staff::login::finish))
        .route("/staff/enroll", get(staff::enroll::enroll_get))
        .route("/staff/enroll/options", post(staff::enroll::enroll_options))
        .route("/staff/enroll/finish", post(staff::enroll::enroll_finish))
        .route(
            "/staff/link",
            get(staff::enroll::link_get).post(staff::enroll::link_post),
        )
        .route("/staff/logout", post(staff::login::logout))
        .route("/staff/members", get(staff::members::get))
        .route(
            "/staff/members/{user_id}",
            get(staff::member::get).post(staff::member::post),
        )
        .route("/staff/import", get(staff::import::get))
        .route("/staff/import/confirm", post(staff::import::confirm))
        .route(
            "/staff/letters/import/{id}",
            post(staff::letters::for_import),
        )
        .route("/staff/audit", get(staff::audit::get))
        .route(
            "/staff/clients",
            get(staff::clients::get).post(staff::clients::post),
        )
        .route("/staff/keys", get(staff::keys::get).post(staff::keys::post))
        .route(
            "/staff/staff",
            get(staff::staff_page::get).post(staff::staff_page::post),
        )
        .layer(RequestBodyLimitLayer::new(forms))
        .merge(staff_uploads)
        .layer(from_fn_with_state(state.clone(), csrf::ensure_cookie));

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
        .layer(RequestBodyLimitLayer::new(forms))
        .merge(staff)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), crate::metrics::signin_outcomes))
        .layer(from_fn_with_state(
            state.metrics.base.clone(),
            kenpo_shared::metrics::track,
        ))
        .layer(from_fn_with_state(headers, web::security_headers))
        .layer(from_fn(web::remember_lang))
        .layer(from_fn(crate::pages::set_pending_cookies))
        .layer(CatchPanicLayer::new())
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
    match visit::current_session(&state, &headers, state.now()).await {
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
