//! Access tokens: opaque 256-bit values, kept as a hash in the ephemeral store with what they
//! grant and the userinfo claims released when they were issued (so userinfo needs no database
//! read). A revoked grant (logout, refresh-token reuse, code replay, password reset) leaves a
//! marker that userinfo checks (`oidc::grants`), so its access tokens die at once. A token
//! issued with a DPoP proof is bound to the proof's key (`jkt`, `oidc::dpop`).

use crate::security::tokens::{new_token, token_hash};
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessRecord {
    pub grant_id: String,
    pub client_id: String,
    pub member_id: String,
    pub scopes: Vec<String>,
    /// The userinfo response: the claims released for the scopes and the `claims` parameter,
    /// as they were when the token was issued.
    pub claims: Map<String, Value>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Thumbprint of the DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6): usable only
    /// with a proof made with that key.
    #[serde(default)]
    pub jkt: Option<String>,
}

fn key(hash: &str) -> String {
    format!("at:{hash}")
}

pub async fn issue(eph: &Ephemeral, record: &AccessRecord) -> EphResult<String> {
    let token = new_token();
    eph.put_json(
        &key(&token_hash(&token)),
        record,
        secs(record.expires_at - record.issued_at),
    )
    .await?;
    Ok(token)
}

/// The record of a live token (expiry checked against `now`).
pub async fn lookup(eph: &Ephemeral, token: &str, now: i64) -> EphResult<Option<AccessRecord>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(eph
        .get_json::<AccessRecord>(&key(&token_hash(token)))
        .await?
        .filter(|r| r.expires_at > now))
}

pub async fn revoke(eph: &Ephemeral, token: &str) -> EphResult<()> {
    eph.delete(&key(&token_hash(token))).await
}
