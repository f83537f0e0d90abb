//! The portal's staff pages (issue 11): notice imports with preview-then-confirm and the
//! import history, for union staff signed in through the IdP like members are (OpenID Connect,
//! code + PKCE), but with the `staff` scope. The portal trusts the `kenpo_staff_role` claim of
//! the verified ID token, which the IdP gives staff accounts only (members never have it); a
//! member's ID token here is refused, and a staff session never shows notices (it is a session
//! of its own, under its own cookie).

pub mod import;

use crate::auth::flow::{self, Callback, Purpose};
use crate::auth::session::{digest, random_token};
use crate::error::{PageError, PageResultExt, no_store};
use crate::state::AppState;
pub use crate::texts::staff::*;
use axum::extract::{FromRequestParts, OriginalUri, RawQuery, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::ephemeral::secs;
use kenpo_shared::web::negotiate_lang;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, IdToken, IdTokenClaims};
use serde::{Deserialize, Serialize};

pub const COOKIE: &str = "kenpo_portal_staff";
/// Staff sessions here are short: they are not revalidated with the IdP.
pub const SESSION_SECS: i64 = 3600;
pub const IDLE_SECS: i64 = 30 * 60;

/// What a staff sign-in's ID token says besides the standard claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffClaims {
    pub sid: Option<String>,
    pub kenpo_staff_role: Option<String>,
}
impl AdditionalClaims for StaffClaims {}

type StaffIdToken = IdToken<
    StaffClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Administrator,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffSession {
    pub sub: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
}

fn session_key(id: &str) -> String {
    format!("staffsession:{id}")
}

/// A signed-in staff member (any role); pages check the role they need.
#[derive(Debug, Clone)]
pub struct Staff {
    pub session: StaffSession,
    pub id: String,
}

impl Staff {
    pub fn may_import(&self) -> bool {
        self.session.role >= Role::Operator
    }
}

/// Only staff paths are return targets.
pub fn safe_return_to(p: &str) -> String {
    if p.starts_with("/staff")
        && !p.starts_with("/staff/auth")
        && !p.contains("//")
        && !p.contains('\\')
        && p.len() <= 512
    {
        p.to_string()
    } else {
        "/staff".into()
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let lang = negotiate_lang(parts);
        let back = parts
            .extensions
            .get::<OriginalUri>()
            .map(|u| u.0.path().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string());
        let login = || {
            let q = serde_urlencoded::to_string([("return_to", safe_return_to(&back))])
                .unwrap_or_default();
            PageError::Redirect(format!("/staff/auth/login?{q}"))
        };
        let Some(token) = state.cookies.get(parts, COOKIE) else {
            return Err(login());
        };
        let id = digest(&token);
        let now = state.now();
        let Some(mut s) = state
            .eph
            .get_json::<StaffSession>(&session_key(&id))
            .await
            .page(lang)?
        else {
            return Err(login());
        };
        if now - s.created_at > SESSION_SECS || now - s.last_seen > IDLE_SECS {
            state.eph.delete(&session_key(&id)).await.page(lang)?;
            return Err(login());
        }
        if now - s.last_seen >= 60 {
            s.last_seen = now;
            let left = SESSION_SECS - (now - s.created_at);
            state
                .eph
                .put_json(&session_key(&id), &s, secs(left.min(IDLE_SECS)))
                .await
                .page(lang)?;
        }
        Ok(Staff { session: s, id })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

const LOGIN_COOKIE: &str = "kenpo_portal_staff_login";

/// To the IdP's staff sign-in (passkey), asking for the `staff` scope.
pub async fn login(
    State(state): State<AppState>,
    ctx: crate::pages::Ctx,
    parts: Parts,
) -> Result<Response, PageError> {
    let q: LoginQuery = crate::pages::query(parts.uri.query(), ctx.lang)?;
    let browser = state
        .cookies
        .get(&parts, LOGIN_COOKIE)
        .unwrap_or_else(random_token);
    let url = flow::begin_for(
        &state,
        Purpose::Staff,
        q.return_to.as_deref().unwrap_or("/staff"),
        ctx.lang,
        &browser,
    )
    .await
    .map_err(|e| match e {
        flow::BeginError::Provider(_) => PageError::Unavailable(ctx.lang),
        other => PageError::internal(ctx.lang, other),
    })?;
    let mut res = Redirect::to(&url).into_response();
    res.headers_mut().append(
        SET_COOKIE,
        state.cookies.set(LOGIN_COOKIE, &browser, Some(600)),
    );
    no_store(&mut res);
    Ok(res)
}

/// Verifies a staff sign-in's ID token: signature (the registered algorithm), issuer,
/// audience, expiry, nonce, and a known role claim.
fn verify(
    d: &crate::auth::provider::Discovered,
    state: &AppState,
    raw: &str,
    nonce: &openidconnect::Nonce,
) -> Result<(String, String, String, Role), String> {
    let token: StaffIdToken = raw.parse().map_err(|e: serde_json::Error| e.to_string())?;
    let now = state.clock.now();
    let at = chrono::DateTime::from_timestamp(now.unix_timestamp(), 0).unwrap_or_default();
    let verifier = d
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![state.provider.settings().alg.clone()])
        .set_time_fn(move || at);
    let claims: &IdTokenClaims<StaffClaims, CoreGenderClaim> =
        token.claims(&verifier, nonce).map_err(|e| e.to_string())?;
    let role = match claims.additional_claims().kenpo_staff_role.as_deref() {
        Some("viewer") => Role::Viewer,
        Some("operator") => Role::Operator,
        Some("administrator") => Role::Administrator,
        _ => return Err("no staff role".into()),
    };
    let email = claims
        .email()
        .map(|e| e.as_str().to_string())
        .unwrap_or_default();
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    Ok((claims.subject().as_str().to_string(), email, name, role))
}

pub async fn callback(
    State(state): State<AppState>,
    ctx: crate::pages::Ctx,
    parts: Parts,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let cb: Callback = crate::pages::query(raw.as_deref(), ctx.lang)?;
    let browser = state.cookies.get(&parts, LOGIN_COOKIE);
    let ex = flow::exchange(&state, &cb, browser.as_deref(), Purpose::Staff)
        .await
        .map_err(|e| {
            tracing::info!(error = %e, "staff sign-in at the portal failed");
            PageError::BadRequest(ctx.lang, crate::pages::i18n::STALE_FORM)
        })?;
    let (sub, email, name, role) = verify(&ex.discovered, &state, &ex.id_token, &ex.nonce)
        .map_err(|e| {
            tracing::warn!(error = %e, "staff ID token refused");
            PageError::BadRequest(ctx.lang, NOT_STAFF)
        })?;
    let now = state.now();
    let s = StaffSession {
        sub,
        email,
        name,
        role,
        csrf: random_token(),
        created_at: now,
        last_seen: now,
    };
    let token = random_token();
    state
        .eph
        .put_json(&session_key(&digest(&token)), &s, secs(IDLE_SECS))
        .await
        .page(ctx.lang)?;
    tracing::info!(staff = %s.email, "staff signed in to the portal");
    let mut res = Redirect::to(&safe_return_to(&ex.return_to)).into_response();
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.set(COOKIE, &token, None));
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.clear(LOGIN_COOKIE));
    no_store(&mut res);
    Ok(res)
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    ctx: crate::pages::Ctx,
    staff: Staff,
    axum::Form(f): axum::Form<LogoutForm>,
) -> Result<Response, PageError> {
    check_csrf(&staff, &f.csrf, ctx.lang)?;
    state
        .eph
        .delete(&session_key(&staff.id))
        .await
        .page(ctx.lang)?;
    let mut res = Redirect::to("/").into_response();
    res.headers_mut()
        .append(SET_COOKIE, state.cookies.clear(COOKIE));
    Ok(res)
}

/// The CSRF check of a staff form: the session's own token.
pub fn check_csrf(
    staff: &Staff,
    submitted: &str,
    lang: kenpo_shared::Lang,
) -> Result<(), PageError> {
    use subtle::ConstantTimeEq;
    let a = staff.session.csrf.as_bytes();
    if a.len() == submitted.len() && bool::from(a.ct_eq(submitted.as_bytes())) {
        Ok(())
    } else {
        Err(PageError::Forbidden(lang))
    }
}
