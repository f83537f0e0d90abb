//! Token introspection (RFC 7662), for authenticated confidential clients, about tokens issued
//! to themselves: anything else is simply `{"active": false}`.

use crate::error::OAuthError;
use crate::oidc::access;
use crate::oidc::protocol::{ProtocolPost, answer};
use crate::security::tokens::token_hash;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

pub async fn post(State(state): State<AppState>, post: ProtocolPost) -> Response {
    answer(introspect(&state, &post).await.map(axum::Json))
}

async fn introspect(state: &AppState, post: &ProtocolPost) -> Result<Value, OAuthError> {
    let now = state.now();
    let audiences = [state.url("/introspect"), state.issuer.clone()];
    let (params, client) = post.authenticate(state, &audiences, now).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client(
            "public clients may not introspect tokens",
        ));
    }
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing token"))?;
    let inactive = json!({"active": false});
    if let Some(rec) = access::lookup(&state.eph, token, now).await? {
        if rec.client_id != client.client_id {
            return Ok(inactive);
        }
        let Some((grant, member)) = state
            .grants()
            .with_member(&rec.grant_id)
            .await?
            .filter(|(g, _)| g.is_active(now))
        else {
            return Ok(inactive);
        };
        let mut body = json!({
            "active": true,
            "token_type": "access_token",
            "scope": rec.scopes.join(" "),
            "client_id": rec.client_id,
            "sub": member.subject,
            "aud": rec.client_id,
            "iss": state.issuer,
            "iat": rec.issued_at,
            "exp": rec.expires_at,
            "sid": grant.sid,
        });
        // RFC 9449 §6.2: a bound token names its key; a resource server then demands a proof
        // made with it (docs/designs/sender-constrained-tokens.md).
        if let Some(jkt) = &rec.jkt {
            body["token_type"] = json!("DPoP");
            body["cnf"] = json!({"jkt": jkt});
        }
        return Ok(body);
    }
    if token.len() <= 128
        && let Some((rt, grant)) = state.grants().refresh_token(&token_hash(token)).await?
        && grant.client_id == client.client_id
        && rt.rotated_at.is_none()
        && rt.expires_at > now
        && grant.is_active(now)
    {
        let sub = state
            .members()
            .by_id(&grant.member_id)
            .await?
            .map(|m| m.subject);
        let mut body = json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": grant.scope,
            "client_id": grant.client_id,
            "sub": sub,
            "aud": grant.client_id,
            "iss": state.issuer,
            "iat": rt.created_at,
            "exp": rt.expires_at,
            "sid": grant.sid,
        });
        if let Some(jkt) = &rt.dpop_jkt {
            body["cnf"] = json!({"jkt": jkt});
        }
        return Ok(body);
    }
    Ok(inactive)
}
