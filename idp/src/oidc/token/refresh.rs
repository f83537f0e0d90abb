//! The `refresh_token` grant: rotation, with reuse (including two parallel uses of one token)
//! revoking the whole family (docs/designs/refresh-rotation.md).
//!
//! Order: the token is read and checked (its client, its state, the scope asked for), the answer
//! is prepared in full — the access-token record written to the short-lived store and the ID
//! token signed — and only then is the token spent in the database. A request that fails before
//! the rotation (the short-lived store down, a bad scope) leaves the refresh token as it was,
//! so the client can retry; one that loses the rotation withdraws the access token it prepared.

use super::GrantRequest;
use crate::error::OAuthError;
use crate::oidc::access;
use crate::security::tokens::{new_token, token_hash};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::grants::{Rotation, Successor};
use serde_json::{Value, json};

/// The scope of a refreshed token: the granted one, or the narrower one asked for.
fn scopes(granted: &str, asked: Option<&String>) -> Result<Vec<String>, OAuthError> {
    let granted: Vec<String> = granted
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let Some(asked) = asked else {
        return Ok(granted);
    };
    let asked: Vec<String> = asked
        .split(' ')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    if asked.iter().any(|a| !granted.contains(a)) {
        return Err(OAuthError::invalid_scope(
            "a refresh cannot widen the granted scope",
        ));
    }
    Ok(asked)
}

pub(super) async fn exchange(req: &GrantRequest<'_>) -> Result<Value, OAuthError> {
    let (state, client, now) = (req.state, req.client, req.now);
    let old = req
        .params
        .get("refresh_token")
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| OAuthError::invalid_request("missing refresh_token"))?;
    let old_hash = token_hash(old);
    // Checked before rotating: another client's token must not be spent by this one.
    let (token, grant) = match state.grants().refresh_token(&old_hash).await? {
        Some((t, g)) if g.client_id == client.client_id => (t, g),
        _ => return Err(OAuthError::invalid_grant("unknown refresh token")),
    };
    // A bound refresh token (public clients, RFC 9449 §5) is spent only with a proof of its
    // key; refused before anything changes.
    if let Some(bound) = token.dpop_jkt.as_deref()
        && req.jkt != Some(bound)
    {
        return Err(OAuthError::invalid_dpop_proof(
            "the refresh token is bound to another DPoP key",
        ));
    }
    let scopes = scopes(&grant.scope, req.params.get("scope"))?;
    let new = new_token();
    // A rotated token goes straight to the rotation, which revokes its family: nothing is
    // prepared for it.
    let prepared = if token.rotated_at.is_none() {
        if token.expires_at <= now || !grant.is_active(now) {
            return Err(OAuthError::invalid_grant(
                "the refresh token is expired or revoked",
            ));
        }
        let member = state
            .members()
            .by_id(&grant.member_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the member no longer exists"))?;
        Some(
            super::respond(
                state,
                client,
                &member,
                &grant,
                &scopes,
                None,
                None,
                new.clone(),
                req.jkt,
                now,
            )
            .await?,
        )
    } else {
        None
    };
    let rotation = state
        .grants()
        .rotate(
            &old_hash,
            Successor {
                hash: token_hash(&new),
                ttl: state.config.tokens.refresh_token_ttl_secs,
            },
            now,
        )
        .await;
    let refusal = match rotation {
        Ok(Rotation::Rotated(_)) => {
            if let Some(body) = prepared {
                return Ok(body);
            }
            // Unreachable in practice (a rotated token never rotates again); refuse rather
            // than answer without tokens.
            OAuthError::server_error("a rotated refresh token rotated again")
        }
        Ok(Rotation::Reused {
            grant_id,
            client_id,
        }) => {
            reuse(state, &grant_id, &client_id, "refresh.reuse", now).await;
            OAuthError::invalid_grant(
                "the refresh token was already used; the sign-in has been revoked",
            )
        }
        Ok(Rotation::Concurrent {
            grant_id,
            client_id,
        }) => {
            reuse(state, &grant_id, &client_id, "refresh.concurrent", now).await;
            OAuthError::invalid_grant(
                "the refresh token was used twice at once; the sign-in has been revoked",
            )
        }
        Ok(Rotation::Invalid) => {
            OAuthError::invalid_grant("the refresh token is expired or revoked")
        }
        Err(e) => e.into(),
    };
    if let Some(at) = prepared.as_ref().and_then(|b| b["access_token"].as_str())
        && let Err(e) = access::revoke(&state.eph, at).await
    {
        // Never handed out, so nobody holds it; it expires with its record.
        tracing::warn!(error = %e, "could not withdraw a prepared access token");
    }
    Err(refusal)
}

/// A refresh token presented again (or twice at once): its family is revoked by now; logged
/// and audited.
async fn reuse(state: &AppState, grant_id: &str, client_id: &str, kind: &str, now: i64) {
    tracing::warn!(
        grant_id,
        client_id,
        kind,
        "refresh token reused: family revoked"
    );
    if let Err(e) = state
        .audit()
        .record(
            None,
            Actor::System,
            kind,
            json!({"grant": grant_id, "client": client_id}),
            None,
            now,
        )
        .await
    {
        tracing::error!(error = %e, grant_id, "audit record of a refresh-token reuse failed");
    }
}

#[cfg(test)]
mod tests {
    use super::scopes;

    #[test]
    fn a_refresh_may_narrow_but_not_widen_the_scope() {
        assert_eq!(
            scopes("openid profile", None).unwrap(),
            vec!["openid", "profile"]
        );
        assert_eq!(
            scopes("openid profile", Some(&"openid".to_string())).unwrap(),
            vec!["openid"]
        );
        assert_eq!(
            scopes("openid", Some(&"openid email".to_string()))
                .unwrap_err()
                .code,
            "invalid_scope"
        );
    }
}
