//! Back-channel logout 1.0: when a session ends, every client that received tokens in it and
//! registered a `backchannel_logout_uri` is told, with a logout token (`sub`, `sid`, the
//! back-channel event) signed with that client's algorithm.
//!
//! Deliveries go through a durable outbox, worked by every replica in the background, so the
//! member's sign-out never waits for a relying party; failures are retried with growing pauses
//! (5 s, 30 s, 2 min, 10 min, 1 h, then every 6 h up to 10 attempts). The token is signed at
//! each attempt, so a late retry still carries a fresh, short-lived token.

use crate::oidc::keys::Alg;
use crate::security::tokens::new_id;
use crate::signin::session::IdpSession;
use crate::state::AppState;
use crate::store::StoreResult;
use crate::store::outbox::Delivery;
use serde_json::{Value, json};
use std::time::Duration;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const MAX_ATTEMPTS: i32 = 10;
const TOKEN_TTL: i64 = 120;

/// Queues deliveries for the clients of an ended session.
pub async fn enqueue(
    state: &AppState,
    session: &IdpSession,
    subject: &str,
    now: i64,
) -> StoreResult<usize> {
    let mut deliveries = Vec::new();
    for client_id in &session.clients {
        let Some(client) = state.clients().get(client_id).await? else {
            continue;
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            continue;
        };
        let alg = client
            .id_token_alg
            .or_else(|| Alg::parse(&state.config.tokens.default_signing_alg))
            .unwrap_or(Alg::Es256);
        deliveries.push(Delivery {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: client.client_id.clone(),
            uri,
            logout_token: json!({"sub": subject, "sid": session.sid, "alg": alg.as_str()})
                .to_string(),
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            delivered_at: None,
            last_error: None,
        });
    }
    let n = deliveries.len();
    state.outbox().enqueue(deliveries).await?;
    if n > 0 {
        state.outbox_wake.notify_one();
    }
    Ok(n)
}

/// The logout token for one delivery, signed now.
pub fn logout_token(state: &AppState, d: &Delivery, now: i64) -> Result<String, String> {
    let stored: Value = serde_json::from_str(&d.logout_token).map_err(|e| e.to_string())?;
    let alg = stored["alg"]
        .as_str()
        .and_then(Alg::parse)
        .unwrap_or(Alg::Es256);
    let key = state.keys.signer(alg).map_err(|e| e.to_string())?;
    let claims = json!({
        "iss": state.issuer,
        "aud": d.client_id,
        "iat": now,
        "exp": now + TOKEN_TTL,
        "jti": new_id(),
        "sub": stored["sub"],
        "sid": stored["sid"],
        "events": { EVENT: {} },
    });
    key.sign_jwt(Some("logout+jwt"), &claims)
        .map_err(|e| e.to_string())
}

fn backoff(attempts: i32) -> i64 {
    match attempts {
        1 => 5,
        2 => 30,
        3 => 120,
        4 => 600,
        5 => 3600,
        _ => 6 * 3600,
    }
}

/// Sends one delivery; records the outcome.
async fn deliver(state: &AppState, d: Delivery, now: i64) {
    let result = match logout_token(state, &d, now) {
        Ok(token) => state
            .http
            .post(&d.uri)
            .form(&[("logout_token", token)])
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| {
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("HTTP {}", r.status()))
                }
            }),
        Err(e) => Err(e),
    };
    let outbox = state.outbox();
    match result {
        Ok(()) => {
            tracing::info!(client_id = %d.client_id, "back-channel logout delivered");
            state.metrics.backchannel("delivered");
            let _ = outbox.delivered(&d.id, now).await;
        }
        Err(e) => {
            let attempts = d.attempts + 1;
            let next = (attempts < MAX_ATTEMPTS).then(|| now + backoff(attempts));
            state.metrics.backchannel(if next.is_some() {
                "failed"
            } else {
                "abandoned"
            });
            tracing::warn!(client_id = %d.client_id, attempts, error = %e, gave_up = next.is_none(), "back-channel logout failed");
            let _ = outbox.failed(&d.id, attempts, next, &e).await;
        }
    }
}

/// Works off due deliveries once; returns how many were attempted.
pub async fn run_once(state: &AppState) -> usize {
    let now = state.now();
    match state.outbox().claim_due(now, 60, 20).await {
        Ok(batch) => {
            let n = batch.len();
            futures::future::join_all(batch.into_iter().map(|d| deliver(state, d, now))).await;
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "back-channel outbox unavailable");
            0
        }
    }
}

/// The background worker: runs when woken and every few seconds, until the replica stops.
/// A batch it has claimed is always attempted to the end (each delivery is bounded by its 5 s
/// HTTP timeout) before it returns, so a graceful stop leaves nothing claimed and unsent;
/// after `kill -9`, the claim's lease (60 s) runs out and another replica sends it.
pub async fn worker(state: AppState) {
    let stopping = state.lifecycle.stopping();
    tokio::pin!(stopping);
    loop {
        while !state.lifecycle.is_stopping() && run_once(&state).await > 0 {}
        tokio::select! {
            _ = &mut stopping => return,
            _ = state.outbox_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
    }
}
