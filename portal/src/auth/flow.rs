//! The authorization code flow as this relying party runs it.
//!
//! `begin` makes a fresh `state`, `nonce` and PKCE verifier, keeps them in the shared store
//! under the state (any replica may receive the callback) together with a hash of the browser's
//! sign-in cookie, and returns the IdP's authorization URL. `complete` takes that record (once:
//! a replayed callback finds nothing), checks it came back to the same browser and from our
//! issuer (RFC 9207 `iss`, against mix-up attacks), exchanges the code with the verifier and
//! verifies the ID token with the nonce.
//!
//! When the IdP advertises them, the request is pushed (RFC 9126: the browser carries only
//! `client_id` and a `request_uri`, so nothing of it can be read or changed on the way) and bound
//! to a DPoP key made for this sign-in (RFC 9449 `dpop_jkt`) and kept with the pending record;
//! the token request carries a proof of it, so the access token is DPoP-bound.

use super::dpop::DpopKey;
use super::provider::ProviderError;
use super::session::{PortalSession, digest, random_token};
use super::tokens::{IdTokenError, Identity, verify_id_token};
use crate::state::AppState;
use kenpo_shared::Lang;
use kenpo_shared::ephemeral::{EphemeralError, secs};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// What the portal remembers between sending a member to the IdP and their return.
#[derive(Clone, Serialize, Deserialize)]
struct Pending {
    nonce: String,
    verifier: String,
    return_to: String,
    /// SHA-256 of the browser's sign-in cookie.
    browser: String,
    /// A staff sign-in (issue 11) rather than a member's.
    #[serde(default)]
    staff: bool,
    /// This sign-in's DPoP key ([`DpopKey::export`]), when the IdP takes DPoP.
    #[serde(default)]
    dpop_key: Option<String>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("return_to", &self.return_to)
            .field("staff", &self.staff)
            .finish_non_exhaustive()
    }
}

/// Who a sign-in is for: a member (scopes `profile member`, `/auth/callback`) or union staff
/// (scope `staff`, `/staff/auth/callback`; see `crate::staff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Member,
    Staff,
}

fn pending_key(state: &str) -> String {
    format!("login:{}", digest(state))
}

/// Only paths of this site are return targets (never `//host` or `/\host`).
pub fn safe_return_to(input: Option<&str>) -> String {
    match input {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.starts_with("/auth/")
                && p.len() <= 1024
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BeginError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] EphemeralError),
    /// The pushed authorization request was refused or could not be sent.
    #[error("pushed authorization request: {0}")]
    Push(String),
}

/// Pushes the parameters of `url` (the authorization request openidconnect built) to the
/// IdP's PAR endpoint; the URL the browser is sent to instead.
async fn push(
    state: &AppState,
    endpoint: &str,
    url: &url::Url,
    dpop: Option<&DpopKey>,
) -> Result<String, BeginError> {
    let settings = state.provider.settings();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let body = serde_urlencoded::to_string(&pairs).map_err(|e| BeginError::Push(e.to_string()))?;
    let basic = {
        use base64::Engine;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(&settings.client_id),
            enc(&settings.client_secret)
        ))
    };
    let req = openidconnect::http::Request::builder()
        .method("POST")
        .uri(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("authorization", format!("Basic {basic}"))
        .body(body.into_bytes())
        .map_err(|e| BeginError::Push(e.to_string()))?;
    let now = state.clock.now().unix_timestamp();
    let resp = super::dpop::send(&state.provider.http, dpop, req, now)
        .await
        .map_err(|e| BeginError::Push(e.to_string()))?;
    let answer: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
    let request_uri = answer["request_uri"]
        .as_str()
        .filter(|_| resp.status().as_u16() == 201)
        .ok_or_else(|| BeginError::Push(format!("{}: {answer}", resp.status())))?;
    let mut to = url.clone();
    to.query_pairs_mut()
        .clear()
        .append_pair("client_id", &settings.client_id)
        .append_pair("request_uri", request_uri);
    Ok(to.to_string())
}

/// Starts a sign-in: the authorization URL to send the browser to. `browser` is the value of
/// the browser's sign-in cookie.
pub async fn begin(
    state: &AppState,
    return_to: &str,
    lang: Lang,
    browser: &str,
) -> Result<String, BeginError> {
    begin_for(state, Purpose::Member, return_to, lang, browser).await
}

/// [`begin`] for either purpose.
pub async fn begin_for(
    state: &AppState,
    purpose: Purpose,
    return_to: &str,
    lang: Lang,
    browser: &str,
) -> Result<String, BeginError> {
    let d = state.provider.get().await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let csrf = random_token();
    let nonce = random_token();
    let (state_value, nonce_value) = (csrf.clone(), nonce.clone());
    let extra = d.metadata.additional_metadata();
    let dpop = if extra.dpop() {
        Some(DpopKey::generate().map_err(|e| BeginError::Push(format!("DPoP key: {e}")))?)
    } else {
        None
    };
    let request = d.client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        move || CsrfToken::new(state_value),
        move || Nonce::new(nonce_value),
    );
    let oidc = &state.config.oidc;
    let request = match purpose {
        Purpose::Member => {
            let r = request
                .add_scope(Scope::new("profile".into()))
                .add_scope(Scope::new("member".into()))
                .add_auth_context_value(AuthenticationContextClass::new(oidc.acr.clone()));
            if oidc.max_age_secs > 0 {
                r.set_max_age(std::time::Duration::from_secs(oidc.max_age_secs))
            } else {
                r
            }
        }
        Purpose::Staff => request
            .add_scope(Scope::new("staff".into()))
            .set_redirect_uri(std::borrow::Cow::Owned(staff_redirect(state)?)),
    };
    let mut request = request
        .set_pkce_challenge(challenge)
        .add_extra_param("ui_locales", lang.code());
    if let Some(key) = &dpop {
        request = request.add_extra_param("dpop_jkt", key.jkt());
    }
    let (url, _, _) = request.url();
    let url = match &extra.pushed_authorization_request_endpoint {
        Some(endpoint) => push(state, endpoint, &url, dpop.as_ref()).await?,
        None => url.to_string(),
    };
    let pending = Pending {
        nonce,
        verifier: verifier.secret().clone(),
        return_to: match purpose {
            Purpose::Member => safe_return_to(Some(return_to)),
            Purpose::Staff => crate::staff::safe_return_to(return_to),
        },
        browser: digest(browser),
        staff: purpose == Purpose::Staff,
        dpop_key: dpop.map(|k| k.export().expose().clone()),
    };
    state
        .eph
        .put_json(
            &pending_key(&csrf),
            &pending,
            secs(state.config.session.login_ttl_secs),
        )
        .await?;
    Ok(url)
}

/// The IdP's answer at the callback.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The member cancelled at the IdP, or the IdP refused (`error=`).
    #[error("the IdP answered {0}")]
    Refused(String),
    /// Unknown, used or expired `state`, or another browser's.
    #[error("no pending sign-in matches this callback")]
    Stale,
    #[error("the authorization response names another issuer")]
    WrongIssuer,
    #[error("the callback has no code")]
    NoCode,
    #[error("IdP unavailable: {0}")]
    Unavailable(String),
    #[error("token exchange failed: {0}")]
    Exchange(String),
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    #[error(transparent)]
    Store(#[from] EphemeralError),
}

/// A finished sign-in: the verified identity, tokens and where to go.
#[derive(Debug)]
pub struct SignedInTokens {
    pub identity: Identity,
    pub id_token: String,
    pub refresh_token: Option<String>,
    pub return_to: String,
}

/// The staff callback URI (registered at the IdP beside `/auth/callback`).
pub fn staff_redirect(state: &AppState) -> Result<openidconnect::RedirectUrl, ProviderError> {
    openidconnect::RedirectUrl::new(format!("{}/staff/auth/callback", state.config.base_url()))
        .map_err(|e| ProviderError::Config(e.to_string()))
}

/// A code exchanged at the IdP: the raw ID token (not yet verified) and what checks it.
pub struct Exchanged {
    pub discovered: std::sync::Arc<super::provider::Discovered>,
    pub id_token: String,
    pub nonce: Nonce,
    pub refresh_token: Option<String>,
    pub return_to: String,
}

pub async fn complete(
    state: &AppState,
    cb: &Callback,
    browser: Option<&str>,
) -> Result<SignedInTokens, CallbackError> {
    let ex = exchange(state, cb, browser, Purpose::Member).await?;
    let (d, raw, nonce) = (&ex.discovered, &ex.id_token, &ex.nonce);
    let settings = state.provider.settings();
    let identity = match verify_id_token(d, settings, raw, Some(nonce), state.clock.now()) {
        Err(IdTokenError::UnknownKey) => match state.provider.refresh_for_unknown_key().await {
            Some(d2) => verify_id_token(&d2, settings, raw, Some(nonce), state.clock.now())?,
            None => return Err(IdTokenError::UnknownKey.into()),
        },
        other => other?,
    };
    Ok(SignedInTokens {
        identity,
        id_token: ex.id_token,
        refresh_token: ex.refresh_token,
        return_to: ex.return_to,
    })
}

/// The callback's checks and the code exchange, for a sign-in of `purpose`.
pub async fn exchange(
    state: &AppState,
    cb: &Callback,
    browser: Option<&str>,
    purpose: Purpose,
) -> Result<Exchanged, CallbackError> {
    let Some(st) = cb.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err(CallbackError::Stale);
    };
    // Taken whatever happens next: a state is good for one answer.
    let Some(pending) = state.eph.take_json::<Pending>(&pending_key(st)).await? else {
        return Err(CallbackError::Stale);
    };
    if browser.map(digest).as_deref() != Some(pending.browser.as_str())
        || pending.staff != (purpose == Purpose::Staff)
    {
        return Err(CallbackError::Stale);
    }
    let d = state
        .provider
        .get()
        .await
        .map_err(|e| CallbackError::Unavailable(e.to_string()))?;
    let issuer = state.provider.settings().issuer.as_str();
    let iss_required = d
        .metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported
        .unwrap_or(false);
    match cb.iss.as_deref() {
        Some(i) if i != issuer => return Err(CallbackError::WrongIssuer),
        None if iss_required => return Err(CallbackError::WrongIssuer),
        _ => {}
    }
    if let Some(error) = &cb.error {
        return Err(CallbackError::Refused(error.clone()));
    }
    let Some(code) = cb.code.clone() else {
        return Err(CallbackError::NoCode);
    };
    let mut request = d
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| CallbackError::Exchange(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
    if purpose == Purpose::Staff {
        let uri = staff_redirect(state).map_err(|e| CallbackError::Exchange(e.to_string()))?;
        request = request.set_redirect_uri(std::borrow::Cow::Owned(uri));
    }
    // The sign-in's own key (the request was bound to it); a record from before the portal kept
    // one falls back to this replica's key.
    let key = match pending.dpop_key.as_deref() {
        Some(text) => {
            Some(std::sync::Arc::new(DpopKey::import(text).map_err(|e| {
                CallbackError::Exchange(format!("DPoP key: {e}"))
            })?))
        }
        None => d
            .metadata
            .additional_metadata()
            .dpop()
            .then(|| state.provider.dpop.clone()),
    };
    let http = super::dpop::client(
        state.provider.http.clone(),
        key,
        state.clock.now().unix_timestamp(),
    );
    let tokens = request
        .request_async(&http)
        .await
        .map_err(|e| CallbackError::Exchange(super::provider::error_chain(&e)))?;
    let raw = tokens
        .id_token()
        .map(std::string::ToString::to_string)
        .ok_or(IdTokenError::Missing)?;
    Ok(Exchanged {
        discovered: d,
        id_token: raw,
        nonce: Nonce::new(pending.nonce.clone()),
        refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
        return_to: pending.return_to,
    })
}

/// The portal session of a finished sign-in (the household's previous visit is recorded by
/// the caller).
pub fn new_session(t: &SignedInTokens, previous_visit: Option<i64>, now: i64) -> PortalSession {
    PortalSession {
        sub: t.identity.sub.clone(),
        sid: t.identity.sid.clone(),
        symbol: t.identity.key.symbol.as_str().to_string(),
        number: t.identity.key.number.as_str().to_string(),
        name: t.identity.name.clone(),
        id_token: t.id_token.clone(),
        refresh_token: t.refresh_token.clone(),
        created_at: now,
        last_seen_at: now,
        checked_at: now,
        previous_visit,
        csrf: random_token(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_targets_stay_on_this_site() {
        assert_eq!(
            safe_return_to(Some("/medical?year=2025")),
            "/medical?year=2025"
        );
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "medical",
            "/auth/callback",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
