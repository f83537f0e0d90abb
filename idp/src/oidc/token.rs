//! The token endpoint (RFC 6749 §3.2): `authorization_code` (with PKCE) and `refresh_token`
//! (rotation; reuse revokes the family). Every answer carries `Cache-Control: no-store`.

use crate::error::OAuthError;
use crate::oidc::access::{self, AccessRecord};
use crate::oidc::claims::{self, IdTokenInput};
use crate::oidc::client_auth;
use crate::oidc::code::{self, Redeemed};
use crate::oidc::keys::Alg;
use crate::oidc::request::single_params;
use crate::security::tokens::{b64url, new_token, same, token_hash};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::clients::Client;
use crate::store::grants::{Grant, RefreshToken, Rotation};
use crate::store::members::Member;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match token(&state, &headers, &body).await {
        Ok(v) => {
            let mut res = axum::Json(v).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => e.into_response(),
    }
}

/// Parses an `application/x-www-form-urlencoded` body with each parameter at most once.
pub fn form_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map_err(|_| OAuthError::invalid_request("malformed form body"))?;
    single_params(pairs).map_err(|name| {
        OAuthError::invalid_request(format!("parameter `{name}` given more than once"))
    })
}

async fn token(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let now = state.now();
    let params = form_params(headers, body)?;
    let audiences = [state.url("/token"), state.issuer.clone()];
    let client = client_auth::authenticate(state, headers, &params, &audiences, now).await?;
    match params.get("grant_type").map(String::as_str) {
        None | Some("") => Err(OAuthError::invalid_request("missing grant_type")),
        Some("authorization_code") => authorization_code(state, &client, &params, now).await,
        Some("refresh_token") => refresh(state, &client, &params, now).await,
        Some(_) => Err(OAuthError::unsupported_grant_type(
            "only authorization_code and refresh_token are supported",
        )),
    }
}

/// RFC 7636 §4.1: 43–128 characters of the unreserved set.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &HashMap<String, String>,
    now: i64,
) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing code"))?;
    let tombstone_ttl = state.config.tokens.refresh_family_ttl_secs.min(86_400);
    let record = match code::redeem(&state.eph, code, tombstone_ttl).await? {
        Redeemed::Fresh(r) => r,
        Redeemed::Replayed { grant_id } => {
            // A code used twice was copied: whatever the first use produced is revoked.
            let revoked = state
                .grants()
                .revoke(&grant_id, "authorization code reuse", now)
                .await?;
            tracing::warn!(grant_id, revoked, client_id = %client.client_id, "authorization code replayed");
            return Err(OAuthError::invalid_grant("the code has already been used"));
        }
        Redeemed::Unknown => return Err(OAuthError::invalid_grant("unknown or expired code")),
    };
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if params.get("redirect_uri") != Some(&record.redirect_uri) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&record.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !valid_verifier(verifier)
                || !same(
                    b64url(&Sha256::digest(verifier.as_bytes())).as_bytes(),
                    challenge.as_bytes(),
                )
            {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "no code_challenge was sent for this code",
            ));
        }
        (None, None) => {}
    }
    let grant = Grant {
        id: record.grant_id.clone(),
        client_id: client.client_id.clone(),
        member_id: record.member_id.clone(),
        sid: record.sid.clone(),
        scope: record.scopes.join(" "),
        claims: record.claims.as_ref().map(|c| c.to_string()),
        auth_time: record.auth_time,
        amr: serde_json::to_string(&record.amr).unwrap_or_else(|_| "[]".into()),
        acr: record.acr.clone(),
        created_at: now,
        expires_at: now + state.config.tokens.refresh_family_ttl_secs,
        revoked_at: None,
        revoked_reason: None,
    };
    let refresh = new_token();
    let refresh_row = RefreshToken {
        token_hash: token_hash(&refresh),
        grant_id: grant.id.clone(),
        created_at: now,
        expires_at: now
            + state
                .config
                .tokens
                .refresh_token_ttl_secs
                .min(state.config.tokens.refresh_family_ttl_secs),
        rotated_at: None,
    };
    let member = state
        .grants()
        .create(grant.clone(), Some(refresh_row))
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the member no longer exists"))?;
    respond(
        state,
        client,
        &member,
        &grant,
        &record.scopes,
        record.nonce.as_deref(),
        Some(code),
        refresh,
        now,
    )
    .await
}

async fn refresh(
    state: &AppState,
    client: &Client,
    params: &HashMap<String, String>,
    now: i64,
) -> Result<Value, OAuthError> {
    let old = params
        .get("refresh_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing refresh_token"))?;
    let old_hash = token_hash(old);
    // Checked before rotating: another client's token must not be spent by this one.
    match state.grants().refresh_token(&old_hash).await? {
        Some((_, g)) if g.client_id == client.client_id => {}
        _ => return Err(OAuthError::invalid_grant("unknown refresh token")),
    }
    let new = new_token();
    let grant = match state
        .grants()
        .rotate(
            &old_hash,
            token_hash(&new),
            state.config.tokens.refresh_token_ttl_secs,
            now,
        )
        .await
    {
        Ok(Rotation::Rotated(g)) => *g,
        Ok(Rotation::Reused {
            grant_id,
            client_id,
        }) => {
            tracing::warn!(grant_id, client_id, "refresh token reused: family revoked");
            state
                .audit()
                .record_or_log(
                    None,
                    Actor::System,
                    "refresh.reuse",
                    json!({"grant": grant_id, "client": client_id}),
                    None,
                    now,
                )
                .await;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the sign-in has been revoked",
            ));
        }
        Ok(Rotation::Invalid) => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is expired or revoked",
            ));
        }
        Err(crate::oidc::grants::GrantError::Store(crate::store::StoreError::Corrupt(_))) => {
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let granted: Vec<String> = grant
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let scopes = match params.get("scope") {
        None => granted.clone(),
        Some(s) => {
            let asked: Vec<String> = s
                .split(' ')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect();
            if asked.iter().any(|a| !granted.contains(a)) {
                return Err(OAuthError::invalid_scope(
                    "a refresh cannot widen the granted scope",
                ));
            }
            asked
        }
    };
    let member = state
        .members()
        .by_id(&grant.member_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the member no longer exists"))?;
    respond(
        state, client, &member, &grant, &scopes, None, None, new, now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn respond(
    state: &AppState,
    client: &Client,
    member: &Member,
    grant: &Grant,
    scopes: &[String],
    nonce: Option<&str>,
    code: Option<&str>,
    refresh: String,
    now: i64,
) -> Result<Value, OAuthError> {
    let tokens = &state.config.tokens;
    let claims_request: Option<Value> = grant
        .claims
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let record = AccessRecord {
        grant_id: grant.id.clone(),
        client_id: client.client_id.clone(),
        member_id: member.id.clone(),
        scopes: scopes.to_vec(),
        claims: claims::member_claims(
            member,
            &claims::released(scopes, claims_request.as_ref().map(|c| &c["userinfo"])),
        ),
        issued_at: now,
        expires_at: now + tokens.access_token_ttl_secs,
    };
    let access_token = access::issue(&state.eph, &record).await?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": tokens.access_token_ttl_secs,
        "refresh_token": refresh,
        "scope": scopes.join(" "),
    });
    if scopes.iter().any(|s| s == "openid") {
        let alg = client
            .id_token_alg
            .or_else(|| Alg::parse(&tokens.default_signing_alg))
            .unwrap_or(Alg::Es256);
        let key = state.keys.signer(alg).map_err(OAuthError::server_error)?;
        let input = IdTokenInput {
            issuer: state.issuer.clone(),
            client_id: client.client_id.clone(),
            member: member.clone(),
            names: claims::released(scopes, claims_request.as_ref().map(|c| &c["id_token"])),
            nonce: nonce.map(String::from),
            auth_time: grant.auth_time,
            amr: grant.amr_list(),
            acr: grant.acr.clone(),
            sid: grant.sid.clone(),
            now,
            ttl: tokens.id_token_ttl_secs,
            access_token: Some(access_token.clone()),
            code: code.map(String::from),
        };
        let id_token = if alg == Alg::Rs256 {
            // An RSA signature takes about a millisecond: keep it off the async workers.
            tokio::task::spawn_blocking(move || claims::id_token(&key, &input))
                .await
                .map_err(OAuthError::server_error)?
        } else {
            claims::id_token(&key, &input)
        }
        .map_err(OAuthError::server_error)?;
        body["id_token"] = json!(id_token);
    }
    Ok(body)
}
