//! Authorization codes: 256 random bits, kept only as a hash in the ephemeral store, valid for
//! `tokens.code_ttl_secs`, redeemed once by an atomic take. A redeemed code leaves a tombstone
//! naming the grant it produced, so a second redemption (a stolen code) revokes that grant
//! (RFC 6749 §4.1.2, §10.5).

use crate::oidc::request::AuthRequest;
use crate::security::tokens::{new_token, token_hash};
use crate::signin::session::IdpSession;
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub member_id: String,
    pub sid: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    pub claims: Option<Value>,
    pub expires_at: i64,
    /// The grant this code becomes, fixed now so a replay can find and revoke it.
    pub grant_id: String,
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
    };
    eph.put_json(&key(&token_hash(&code)), &record, secs(ttl))
        .await?;
    Ok(code)
}

/// What presenting a code found.
pub enum Redeemed {
    Fresh(Box<CodeRecord>),
    /// Already redeemed: the grant it produced must be revoked.
    Replayed {
        grant_id: String,
    },
    Unknown,
}

/// Takes a code (once); a second attempt finds the tombstone.
pub async fn redeem(eph: &Ephemeral, code: &str, tombstone_ttl: i64) -> EphResult<Redeemed> {
    let hash = token_hash(code);
    match eph.take_json::<CodeRecord>(&key(&hash)).await? {
        Some(record) => {
            eph.put(&tombstone(&hash), &record.grant_id, secs(tombstone_ttl))
                .await?;
            Ok(Redeemed::Fresh(Box::new(record)))
        }
        None => Ok(match eph.get(&tombstone(&hash)).await? {
            Some(grant_id) => Redeemed::Replayed { grant_id },
            None => Redeemed::Unknown,
        }),
    }
}
