//! Token revocation (RFC 7009). Revoking a refresh token ends its whole grant (and with it the
//! grant's access tokens); revoking an access token ends that token. Unknown tokens and tokens
//! of other clients get the same empty 200, as the RFC asks.

use crate::error::OAuthError;
use crate::oidc::{access, client_auth, params::form_params};
use crate::security::tokens::token_hash;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn post(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = crate::oidc::client_auth::query_free(uri.query()) {
        return e.into_response();
    }
    match revoke(&state, &headers, &body).await {
        Ok(()) => {
            let mut res = StatusCode::OK.into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => e.into_response(),
    }
}

async fn revoke(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let now = state.now();
    let params = form_params(headers, body)?;
    let client = client_auth::authenticate(
        state,
        headers,
        &params,
        &[state.url("/revoke"), state.issuer.clone()],
        now,
    )
    .await?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing token"))?;
    if let Some(rec) = access::lookup(&state.eph, token, now).await? {
        if rec.client_id == client.client_id {
            access::revoke(&state.eph, token).await?;
        }
        return Ok(());
    }
    if token.len() <= 128
        && let Some((_, grant)) = state.grants().refresh_token(&token_hash(token)).await?
        && grant.client_id == client.client_id
    {
        state
            .grants()
            .revoke(&grant.id, "revoked by client", now)
            .await?;
    }
    Ok(())
}
