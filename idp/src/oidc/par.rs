//! Pushed authorization requests (RFC 9126). A client posts its authorization request to
//! `/par`, authenticated as at the token endpoint; the request is checked as fully as at
//! `/authorize` (`oidc::request::validate`) and refusals are JSON errors. A valid one is kept
//! in the short-lived store under a fresh `request_uri` (`urn:ietf:params:oauth:request_uri:…`,
//! 256 random bits, stored as a hash), for `par.request_uri_ttl_secs`.
//!
//! At `/authorize`, `client_id` + `request_uri` stand for the pushed request and nothing else:
//! other parameters on the URL neither add nor override ([`redeem`]). The record is read and
//! checked first (the client that pushed it, its expiry against the application clock), then
//! taken atomically, so it serves one authorization request and another client presenting it
//! cannot spend it.
//!
//! A DPoP proof sent with the push binds the request to its key (`dpop_jkt`, RFC 9449 §10.1).

use crate::error::OAuthError;
use crate::oidc::protocol::{ProtocolPost, answer};
use crate::oidc::request::{self, AuthRequest, RequestError};
use crate::security::tokens::{new_id, new_token, token_hash};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A pushed request as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pushed {
    pub client_id: String,
    pub request: AuthRequest,
    pub expires_at: i64,
}

fn key(reference: &str) -> String {
    format!("par:{}", token_hash(reference))
}

/// Checks an `id_token_hint` against this issuer's keys; its subject.
pub fn hint_verifier(state: &AppState) -> impl Fn(&str) -> Option<String> + use<> {
    let keys = state.keys.clone();
    let issuer = state.issuer.clone();
    move |token: &str| {
        keys.verify_own_jwt(token)
            .filter(|claims| claims["iss"].as_str() == Some(issuer.as_str()))
            .and_then(|claims| claims["sub"].as_str().map(String::from))
    }
}

/// `POST /par`.
pub async fn post(State(state): State<AppState>, post: ProtocolPost) -> Response {
    answer(
        push(&state, &post)
            .await
            .map(|v| (StatusCode::CREATED, axum::Json(v))),
    )
}

async fn push(state: &AppState, post: &ProtocolPost) -> Result<Value, OAuthError> {
    let now = state.now();
    let audiences = [state.url("/par"), state.issuer.clone(), state.url("/token")];
    let (mut params, client) = post.authenticate(state, &audiences, now).await?;
    if params.contains_key("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1)",
        ));
    }
    let jkt = state
        .verify_dpop(&post.headers, "POST", "/par", None, now)
        .await?;
    match (jkt, params.get("dpop_jkt")) {
        (Some(proven), Some(named)) if &proven != named => {
            return Err(OAuthError::invalid_dpop_proof(
                "dpop_jkt does not match the key of the DPoP proof",
            ));
        }
        (Some(proven), None) => {
            params.insert("dpop_jkt".into(), proven);
        }
        _ => {}
    }
    let flow = request::validate(&params, Some(&client), None, hint_verifier(state), now).map_err(
        |e| match e {
            RequestError::NoRedirect(detail) => OAuthError::invalid_request(detail),
            RequestError::Redirect {
                code, description, ..
            } => OAuthError::new(StatusCode::BAD_REQUEST, code, description),
        },
    )?;
    let ttl = state.config.par.request_uri_ttl_secs;
    let reference = new_token();
    let pushed = Pushed {
        client_id: client.client_id.clone(),
        request: flow,
        expires_at: now + ttl,
    };
    state
        .eph
        .put_json(&key(&reference), &pushed, secs(ttl))
        .await?;
    Ok(json!({"request_uri": format!("{URN_PREFIX}{reference}"), "expires_in": ttl}))
}

/// Whether this client's authorization requests must come pushed.
pub fn required(state: &AppState, client: &Client) -> bool {
    state.config.par.require || client.require_par
}

/// The pushed request a `request_uri` stands for, taken for one use; or why not (shown on a
/// page: without the record there is no redirect URI to trust).
pub async fn redeem(
    eph: &Ephemeral,
    client: Option<&Client>,
    request_uri: &str,
    now: i64,
) -> EphResult<Result<AuthRequest, &'static str>> {
    let Some(client) = client else {
        return Ok(Err("unknown client_id"));
    };
    let Some(reference) = request_uri
        .strip_prefix(URN_PREFIX)
        .filter(|r| r.len() <= 128)
    else {
        return Ok(Err("request_uri is not one this server issued"));
    };
    let k = key(reference);
    let Some(pushed) = eph.get_json::<Pushed>(&k).await? else {
        return Ok(Err("request_uri is unknown, used or expired"));
    };
    if pushed.client_id != client.client_id {
        return Ok(Err("request_uri was pushed by another client"));
    }
    if kenpo_shared::clock::lapsed(pushed.expires_at, now) {
        return Ok(Err("request_uri has expired"));
    }
    if eph.take(&k).await?.is_none() {
        return Ok(Err("request_uri is unknown, used or expired"));
    }
    Ok(Ok(AuthRequest {
        id: new_id(),
        created_at: now,
        ..pushed.request
    }))
}
