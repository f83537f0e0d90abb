//! Staff signing in to the union's own consoles (the notice portal's `/staff` pages) through
//! OpenID Connect: a small path of its own beside the members' one.
//!
//! A relying party registered with the `staff` scope (`store::clients::STAFF_SCOPE`; never
//! granted by default) asks for it in an ordinary authorization request. `oidc::authorize`
//! hands such a flow here: the staff session (never a member's) must exist, else the staff
//! sign-in page runs first (passkey). The code is kept under a key of its own (`scode:`), so
//! it can never be redeemed as a member's code, and the token endpoint asks `exchange` first.
//!
//! The ID token names the staff account (`sub` = the account's own subject, unrelated to any
//! member), carries `kenpo_staff_role` — the claim only staff accounts ever get — plus `email`,
//! `name`, `amr` (`hwk`, `user`) and `acr` `urn:kenpo:loa:2`. No refresh token is issued and
//! the access token opens nothing (staff consoles need only the ID token): a console session
//! is short and signs in again.

use super::StaffUser;
use super::session;
use crate::error::{OAuthError, PageError, PageResult};
use crate::oidc::keys::Alg;
use crate::oidc::request::{self, ACR_MFA, AuthRequest, Prompt};
use crate::security::tokens::{b64url, new_token, same, token_hash};
use crate::signin::advance::rp_error;
use crate::signin::flow_key;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::ephemeral::secs;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use kenpo_shared::Lang;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, Audience, AuthenticationContextClass, AuthenticationMethodReference,
    ClientId, EndUserEmail, EndUserName, IdToken, IdTokenClaims, IssuerUrl, LocalizedClaim, Nonce,
    StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The role claim; only ID tokens of staff sign-ins carry it.
pub const ROLE_CLAIM: &str = "kenpo_staff_role";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StaffCode {
    client_id: String,
    redirect_uri: String,
    staff_id: String,
    sid: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    scopes: Vec<String>,
    auth_time: i64,
    expires_at: i64,
}

fn code_key(hash: &str) -> String {
    format!("scode:{hash}")
}

/// Whether a flow is a staff sign-in.
pub fn is_staff_flow(flow: &AuthRequest) -> bool {
    flow.scopes
        .iter()
        .any(|s| s == crate::store::clients::STAFF_SCOPE)
}

/// Hook of `oidc::authorize`: a staff flow, already validated and stored.
pub async fn authorize(
    state: &AppState,
    flow: &AuthRequest,
    headers: &HeaderMap,
    now: i64,
) -> Response {
    let user = match session::signed_in(state, headers, now).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let fresh_enough = |u: &StaffUser| {
        !flow.has_prompt(Prompt::Login)
            && flow
                .max_age
                .is_none_or(|m| now - u.session.session.created_at <= m)
    };
    match user {
        Some(u) if fresh_enough(&u) => finish(
            state,
            flow,
            &u.account.id,
            &u.session.session.sid,
            u.session.session.created_at,
            now,
        )
        .await
        .unwrap_or_else(IntoResponse::into_response),
        _ if flow.has_prompt(Prompt::None) => rp_error(
            state,
            flow,
            "login_required",
            "the staff member is not signed in",
        )
        .into_response(),
        _ => Redirect::to(&format!("/staff/login?flow={}", flow.id)).into_response(),
    }
}

/// After a staff sign-in started by a relying party: back to it with a code.
pub async fn resume_after_login(
    state: &AppState,
    flow_id: &str,
    staff_id: &str,
    sid: &str,
    auth_time: i64,
    lang: Lang,
    now: i64,
) -> PageResult {
    let flow = crate::signin::visit::load_flow(state, Some(flow_id))
        .await?
        .filter(is_staff_flow)
        .ok_or(PageError::BadRequest(
            lang,
            crate::pages::i18n::SIGNIN_EXPIRED,
        ))?;
    finish(state, &flow, staff_id, sid, auth_time, now).await
}

async fn finish(
    state: &AppState,
    flow: &AuthRequest,
    staff_id: &str,
    sid: &str,
    auth_time: i64,
    now: i64,
) -> PageResult {
    let lang = Lang::Ja;
    // The flow is consumed, so a double submission cannot mint a second code.
    if state
        .eph
        .take(&flow_key(&flow.id))
        .await
        .map_err(|e| PageError::internal(lang, e))?
        .is_none()
    {
        return Err(PageError::BadRequest(
            lang,
            crate::pages::i18n::SIGNIN_EXPIRED,
        ));
    }
    let code = new_token();
    let ttl = state.config.tokens.code_ttl_secs;
    let record = StaffCode {
        client_id: flow.client_id.clone(),
        redirect_uri: flow.redirect_uri.clone(),
        staff_id: staff_id.to_string(),
        sid: sid.to_string(),
        nonce: flow.nonce.clone(),
        code_challenge: flow.code_challenge.clone(),
        scopes: flow.scopes.clone(),
        auth_time,
        expires_at: now + ttl,
    };
    state
        .eph
        .put_json(&code_key(&token_hash(&code)), &record, secs(ttl))
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

/// Hook of the token endpoint: redeems a staff code, or answers None for any other code.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    params: &HashMap<String, String>,
    now: i64,
) -> Result<Option<Value>, OAuthError> {
    let Some(code) = params.get("code").filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let Some(record) = state
        .eph
        .take_json::<StaffCode>(&code_key(&token_hash(code)))
        .await?
    else {
        return Ok(None);
    };
    if record.client_id != client.client_id || record.expires_at <= now {
        return Err(OAuthError::invalid_grant("unknown or expired code"));
    }
    if params.get("redirect_uri") != Some(&record.redirect_uri) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let verifier = params
        .get("code_verifier")
        .map(String::as_str)
        .unwrap_or("");
    let pkce_ok = match &record.code_challenge {
        Some(challenge) => {
            (43..=128).contains(&verifier.len())
                && verifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
                && same(
                    b64url(&Sha256::digest(verifier.as_bytes())).as_bytes(),
                    challenge.as_bytes(),
                )
        }
        None => verifier.is_empty(),
    };
    if !pkce_ok {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let staff = crate::store::staff::StaffStore::new(state.db.clone())
        .by_id(&record.staff_id)
        .await?
        .filter(|s| s.disabled_at.is_none())
        .ok_or_else(|| OAuthError::invalid_grant("the staff account is disabled"))?;
    let alg = client
        .id_token_alg
        .or_else(|| Alg::parse(&state.config.tokens.default_signing_alg))
        .unwrap_or(Alg::Es256);
    let key = state.keys.signer(alg).map_err(OAuthError::server_error)?;
    let ttl = state.config.tokens.id_token_ttl_secs;
    let time = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    let standard =
        StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new(staff.subject.clone()))
            .set_email(Some(EndUserEmail::new(staff.email.clone())))
            .set_name(Some(LocalizedClaim::from(EndUserName::new(
                staff.name.clone(),
            ))));
    let claims = IdTokenClaims::new(
        IssuerUrl::new(state.issuer.clone()).map_err(OAuthError::server_error)?,
        vec![Audience::new(client.client_id.clone())],
        time(now + ttl),
        time(now),
        standard,
        StaffClaims {
            sid: Some(record.sid.clone()),
            kenpo_staff_role: Some(staff.role.clone()),
        },
    )
    .set_auth_time(Some(time(record.auth_time)))
    .set_nonce(record.nonce.clone().map(Nonce::new))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(ACR_MFA.into())))
    .set_auth_method_refs(Some(vec![
        AuthenticationMethodReference::new("hwk".into()),
        AuthenticationMethodReference::new("user".into()),
    ]))
    .set_authorized_party(Some(ClientId::new(client.client_id.clone())));
    let id_token = tokio::task::spawn_blocking(move || {
        StaffIdToken::new(claims, key.as_ref(), alg.core(), None, None).map(|t| t.to_string())
    })
    .await
    .map_err(OAuthError::server_error)?
    .map_err(OAuthError::server_error)?;
    tracing::info!(staff = %crate::mail::masked(&staff.email), client = %client.client_id, "staff signed in to a relying party");
    Ok(Some(json!({
        // Required by the response format; it opens nothing (see the module doc).
        "access_token": new_token(),
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": record.scopes.join(" "),
        "id_token": id_token,
    })))
}
