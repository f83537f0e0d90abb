//! Access tokens: opaque 256-bit values, kept as a hash in the ephemeral store with what they
//! grant; checked at userinfo and introspection together with their grant, so revoking a grant
//! (logout, refresh-token reuse, code replay) revokes its access tokens at once.

use crate::security::tokens::{new_token, token_hash};
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessRecord {
    pub grant_id: String,
    pub client_id: String,
    pub member_id: String,
    pub scopes: Vec<String>,
    /// The `userinfo` section of the `claims` request parameter.
    pub userinfo_claims: Option<Value>,
    pub issued_at: i64,
    pub expires_at: i64,
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
