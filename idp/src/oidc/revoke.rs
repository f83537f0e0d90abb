//! Token revocation (RFC 7009). Revoking a refresh token ends its whole grant (and with it the
//! grant's access tokens); revoking an access token ends that token. Unknown tokens and tokens
//! of other clients get the same empty 200, as the RFC asks.

use crate::error::OAuthError;
use crate::oidc::access;
use crate::oidc::protocol::{ProtocolPost, answer};
use crate::security::tokens::token_hash;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

pub async fn post(State(state): State<AppState>, post: ProtocolPost) -> Response {
    answer(revoke(&state, &post).await.map(|()| StatusCode::OK))
}

async fn revoke(state: &AppState, post: &ProtocolPost) -> Result<(), OAuthError> {
    let now = state.now();
    let audiences = [state.url("/revoke"), state.issuer.clone()];
    let (params, client) = post.authenticate(state, &audiences, now).await?;
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
