//! Keeping a portal session honest: at most every `session.revalidate_secs` a request uses the
//! session's refresh token at the IdP. A refused refresh (the member signed out of the IdP, or
//! the grant was revoked) ends the portal session even if the back-channel logout never
//! arrived. An IdP that does not answer does not sign members out: the session continues and
//! the check is retried a minute later.

use super::SignedIn;
use super::session::{Claim, PortalSession};
use super::tokens::{IdTokenError, verify_id_token};
use crate::state::AppState;
use kenpo_shared::ephemeral::EphemeralError;
use openidconnect::{OAuth2TokenResponse, RefreshToken, TokenResponse};

/// Retry delay after an IdP that did not answer.
const RETRY_SECS: i64 = 60;

/// The signed-in member of a session cookie, revalidated when due; `None` when there is no
/// valid session.
pub async fn current(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<SignedIn>, EphemeralError> {
    let sessions = state.sessions();
    let Some((id, mut s)) = sessions.load(token, now).await? else {
        return Ok(None);
    };
    match sessions.claim_revalidation(&id, &s, now).await? {
        Claim::NotDue => {}
        Claim::Newer(newer) => s = *newer,
        Claim::Gone => return Ok(None),
        Claim::Claimed(fresh) => {
            s = *fresh;
            let presented = s.refresh_token.clone();
            let outcome = refresh(state, &s, now).await;
            // The record is written before the lock goes, so the next holder reads it.
            let result = match outcome {
                Outcome::Renewed(renewed) => {
                    let stored = sessions
                        .renew(&id, presented.as_deref(), &renewed, now)
                        .await;
                    s = *renewed;
                    stored.map(|_| true)
                }
                Outcome::Ended(reason) => {
                    tracing::info!(sub = %s.sub, reason, "portal session ended: the IdP refused to renew it");
                    sessions.end(&id).await.map(|_| false)
                }
                Outcome::Unreachable(error) => {
                    tracing::warn!(%error, "session revalidation postponed: IdP unreachable");
                    s.checked_at = now - state.config.session.revalidate_secs + RETRY_SECS;
                    sessions
                        .renew(&id, presented.as_deref(), &s, now)
                        .await
                        .map(|_| true)
                }
            };
            sessions.release_revalidation(&id).await?;
            if !result? {
                return Ok(None);
            }
        }
    }
    sessions.touch(&id, &mut s, now).await?;
    let Some(key) = s.key() else {
        sessions.end(&id).await?;
        return Ok(None);
    };
    Ok(Some(SignedIn {
        key,
        session: s,
        id,
    }))
}

enum Outcome {
    Renewed(Box<PortalSession>),
    Ended(&'static str),
    Unreachable(String),
}

async fn refresh(state: &AppState, s: &PortalSession, now: i64) -> Outcome {
    let Some(rt) = s.refresh_token.clone() else {
        return Outcome::Unreachable("no refresh token".into());
    };
    let d = match state.provider.get().await {
        Ok(d) => d,
        Err(e) => return Outcome::Unreachable(e.to_string()),
    };
    let rt = RefreshToken::new(rt);
    let request = match d.client.exchange_refresh_token(&rt) {
        Ok(r) => r,
        Err(e) => return Outcome::Unreachable(e.to_string()),
    };
    let http = super::dpop::client(
        state.provider.http.clone(),
        d.metadata
            .additional_metadata()
            .dpop()
            .then(|| state.provider.dpop.clone()),
        now,
    );
    let tokens = match request.request_async(&http).await {
        Ok(t) => t,
        Err(openidconnect::RequestTokenError::ServerResponse(r)) => {
            tracing::debug!(error = ?r.error(), "refresh refused");
            return Outcome::Ended("refresh refused");
        }
        Err(e) => return Outcome::Unreachable(super::provider::error_chain(&e)),
    };
    let mut renewed = s.clone();
    renewed.checked_at = now;
    renewed.refresh_token = tokens
        .refresh_token()
        .map(|t| t.secret().clone())
        .or(renewed.refresh_token);
    if let Some(raw) = tokens.id_token().map(std::string::ToString::to_string) {
        let mut verified =
            verify_id_token(&d, state.provider.settings(), &raw, None, state.clock.now());
        if matches!(verified, Err(IdTokenError::UnknownKey))
            && let Some(d2) = state.provider.refresh_for_unknown_key().await
        {
            verified = verify_id_token(
                &d2,
                state.provider.settings(),
                &raw,
                None,
                state.clock.now(),
            );
        }
        match verified {
            // OpenID Connect Core 12.2: a refreshed ID token is about the same person.
            Ok(id) if id.sub == s.sub => {
                renewed.symbol = id.key.symbol.as_str().to_string();
                renewed.number = id.key.number.as_str().to_string();
                renewed.id_token = raw;
            }
            Ok(_) => return Outcome::Ended("refreshed ID token names another subject"),
            Err(e) => {
                tracing::warn!(error = %e, "refreshed ID token rejected");
                return Outcome::Ended("refreshed ID token rejected");
            }
        }
    }
    Outcome::Renewed(Box::new(renewed))
}
