//! Authorization codes: 256 random bits, kept only as a hash in the ephemeral store, valid for
//! `tokens.code_ttl_secs`, read and checked against the calling client first ([`peek`]), then
//! redeemed once by an atomic take ([`take`]). A redeemed code leaves a tombstone naming the
//! grant it produced and its client, so a second redemption by that client (a stolen code)
//! revokes that grant (RFC 6749 §4.1.2, §10.5).

use crate::oidc::request::AuthRequest;
use crate::security::tokens::{new_token, token_hash};
use crate::signin::session::IdpSession;
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    /// Only this client may redeem the code (`check_code`).
    pub client_id: String,
    /// The redirect URI of the authorization request, which the token request must repeat
    /// (RFC 6749 §4.1.3).
    pub redirect_uri: String,
    pub member_id: String,
    /// The IdP session the code was issued in: the grant's, for logout.
    pub sid: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    /// The PKCE S256 challenge the verifier must answer (RFC 7636).
    pub code_challenge: Option<String>,
    /// The authentication the ID token reports (`auth_time`, `amr`, `acr`).
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    /// The `claims` request parameter, as validated at the authorization request.
    pub claims: Option<Value>,
    pub expires_at: i64,
    /// The grant this code becomes, fixed now so a replay can find and revoke it.
    pub grant_id: String,
    /// The DPoP key the authorization request was bound to (`dpop_jkt`, RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

fn key(hash: &str) -> String {
    format!("code:{hash}")
}
fn tombstone(hash: &str) -> String {
    format!("codeused:{hash}")
}

/// Creates a code for a finished sign-in; returns the code value.
pub async fn issue(
    eph: &Ephemeral,
    flow: &AuthRequest,
    session: &IdpSession,
    acr: &str,
    ttl: i64,
    now: i64,
) -> EphResult<String> {
    let code = new_token();
    let record = CodeRecord {
        client_id: flow.client_id.clone(),
        redirect_uri: flow.redirect_uri.clone(),
        member_id: session.member_id.clone(),
        sid: session.sid.clone(),
        scopes: flow.scopes.clone(),
        nonce: flow.nonce.clone(),
        code_challenge: flow.code_challenge.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: acr.to_string(),
        claims: flow.claims.clone(),
        expires_at: now + ttl,
        grant_id: uuid::Uuid::new_v4().to_string(),
        dpop_jkt: flow.dpop_jkt.clone(),
    };
    eph.put_json(&key(&token_hash(&code)), &record, secs(ttl))
        .await?;
    Ok(code)
}

/// What presenting a code found.
pub enum Redeemed {
    Fresh(Box<CodeRecord>),
    /// Already redeemed: the grant it produced must be revoked (by the client it was for).
    Replayed {
        grant_id: String,
        /// `None` for tombstones written before the client was recorded in them.
        client_id: Option<String>,
    },
    Unknown,
}

/// What a tombstone remembers of a redeemed code.
#[derive(Serialize, Deserialize)]
struct Tombstone {
    grant_id: String,
    client_id: String,
}

/// Reads a code without spending it, so it can be checked against the caller first.
pub async fn peek(eph: &Ephemeral, code: &str) -> EphResult<Redeemed> {
    if code.len() > 128 {
        return Ok(Redeemed::Unknown);
    }
    let hash = token_hash(code);
    if let Some(record) = eph.get_json::<CodeRecord>(&key(&hash)).await? {
        return Ok(Redeemed::Fresh(Box::new(record)));
    }
    Ok(match eph.get(&tombstone(&hash)).await? {
        Some(raw) => match serde_json::from_str::<Tombstone>(&raw) {
            Ok(t) => Redeemed::Replayed {
                grant_id: t.grant_id,
                client_id: Some(t.client_id),
            },
            Err(_) => Redeemed::Replayed {
                grant_id: raw,
                client_id: None,
            },
        },
        None => Redeemed::Unknown,
    })
}

/// Spends a code (once, atomically) after its record passed the checks, leaving a tombstone
/// for replays; false when another request took it first.
pub async fn take(
    eph: &Ephemeral,
    code: &str,
    record: &CodeRecord,
    tombstone_ttl: i64,
) -> EphResult<bool> {
    let hash = token_hash(code);
    if eph.take(&key(&hash)).await?.is_none() {
        return Ok(false);
    }
    let t = Tombstone {
        grant_id: record.grant_id.clone(),
        client_id: record.client_id.clone(),
    };
    eph.put_json(&tombstone(&hash), &t, secs(tombstone_ttl))
        .await?;
    Ok(true)
}
