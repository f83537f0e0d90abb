//! Passwordless sign-in with a passkey from the login page: the button
//! (`data-action="passkey-login"`) and the browser's autofill (conditional mediation). Both use
//! the same two JSON endpoints: options (a discoverable-credential challenge, no user ID
//! typed) and finish (the assertion; the credential's user handle names the member). A passkey
//! verifies the user, so the session starts with both factors done.
//!
//! Also the small JSON plumbing the page scripts of every passkey ceremony share: a body
//! extractor whose errors are JSON in the member's language, and the conversion of a page
//! redirect into `{"redirect": …}` for the script to follow.

use crate::mfa::passkey;
use crate::pages::Ctx;
use crate::pages::i18n;
use crate::security::request::Requester;
use crate::security::throttle::{Gate, Throttle};
use crate::signin::{login, mfa};
use crate::state::AppState;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kenpo_shared::web::negotiate_lang;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use webauthn_rs::prelude::PublicKeyCredential;

/// Ceremonies one address may start per minute (options requests; each stores a state).
const OPTIONS_PER_MINUTE: i64 = 60;

pub fn routes() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/login/passkey/options", post(options))
        .route("/login/passkey/finish", post(finish))
}

/// A JSON request body; a body that does not parse is answered in JSON, in the member's
/// language.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let lang = negotiate_lang(&parts);
        let json_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bad = || json_error(StatusCode::BAD_REQUEST, i18n::BAD_REQUEST.get(lang));
        if !json_type {
            return Err(bad());
        }
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| bad())?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|_| bad())
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub fn json_ok(value: Value) -> Response {
    no_store(axum::Json(value).into_response())
}

/// `{"error": message}`; the page script shows the message as it is.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    no_store((status, axum::Json(json!({"error": message}))).into_response())
}

/// Turns a page answer into one for a script: a redirect becomes `{"redirect": url}` (its
/// cookies kept), anything else a plain error.
pub fn json_redirect(res: Response) -> Response {
    if res.status().is_redirection()
        && let Some(location) = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    {
        let mut out = json_ok(json!({"redirect": location}));
        for c in res.headers().get_all(header::SET_COOKIE) {
            out.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        return out;
    }
    let status = if res.status().is_success() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        res.status()
    };
    json_error(status, i18n::INTERNAL_ERROR.get(kenpo_shared::Lang::Ja))
}

#[derive(Deserialize)]
pub struct OptionsRequest {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub struct FinishRequest {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    remember: Option<String>,
    #[serde(default)]
    ceremony: String,
    credential: PublicKeyCredential,
}

fn too_many(ctx: &Ctx, w: u64) -> Response {
    let wait = i18n::wait_text(ctx.lang, w);
    json_error(
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "{} ({})",
            ctx.t(i18n::TOO_MANY),
            ctx.lang
                .pick(&format!("あと{wait}"), &format!("wait {wait}"))
        ),
    )
}

pub async fn options(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    JsonBody(req): JsonBody<OptionsRequest>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&req.csrf) {
        return json_error(StatusCode::FORBIDDEN, ctx.t(i18n::STALE_FORM));
    }
    let gate = Throttle::new(&state.eph, &state.config.throttle)
        .limit(
            &format!("wa:opt:{}", requester.ip),
            OPTIONS_PER_MINUTE,
            60,
            now,
        )
        .await;
    match gate {
        Ok(Gate::Open) => {}
        Ok(Gate::Wait(w)) => return too_many(&ctx, w),
        Err(e) => return mfa::passkey_failure(ctx.lang, e.into()),
    }
    match passkey::start_passwordless(&state, now).await {
        Ok((ceremony, options)) => json_ok(json!({"ceremony": ceremony, "options": options})),
        Err(e) => mfa::passkey_failure(ctx.lang, e),
    }
}

pub async fn finish(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    JsonBody(req): JsonBody<FinishRequest>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&req.csrf) {
        return json_error(StatusCode::FORBIDDEN, ctx.t(i18n::STALE_FORM));
    }
    match Throttle::new(&state.eph, &state.config.throttle)
        .address_attempt(requester.ip, now)
        .await
    {
        Ok(Gate::Open) => {}
        Ok(Gate::Wait(w)) => return too_many(&ctx, w),
        Err(e) => return mfa::passkey_failure(ctx.lang, e.into()),
    }
    let flow = match crate::signin::load_flow(&state, req.flow.as_deref()).await {
        Ok(f) => f,
        Err(e) => return json_redirect(e.into_response()),
    };
    let ip = requester.ip.to_string();
    let row = match passkey::finish_passwordless(&state, &req.ceremony, &req.credential, &ip, now)
        .await
    {
        Ok(row) => row,
        Err(e) => return mfa::passkey_failure(ctx.lang, e),
    };
    let member = match state.members().by_id(&row.member_id).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return mfa::passkey_failure(ctx.lang, passkey::PasskeyError::UnknownCredential);
        }
        Err(e) => return mfa::passkey_failure(ctx.lang, e.into()),
    };
    let res = login::start_session(
        &state,
        &ctx,
        &requester,
        &headers,
        &member,
        vec!["hwk".into(), "user".into(), "mfa".into()],
        true,
        req.remember.as_deref() == Some("yes"),
        flow.as_ref().map(|f| f.id.as_str()),
        now,
    )
    .await;
    json_redirect(res)
}
