//! One-time links mailed to members (email verification, password reset): 256 random bits in
//! the URL, only its hash in the ephemeral store, a short lifetime, consumed by an atomic take
//! so a link works once, even if two tabs open it at the same moment.

use crate::security::tokens::{new_token, token_hash};
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a link is for; part of the key, so a link of one kind never opens another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    VerifyEmail,
    ResetPassword,
}

impl LinkKind {
    fn prefix(self) -> &'static str {
        match self {
            LinkKind::VerifyEmail => "link:verify",
            LinkKind::ResetPassword => "link:reset",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    expires_at: i64,
    payload: T,
}

/// Stores `payload` behind a new token valid for `ttl` seconds; returns the token.
pub async fn create<T: Serialize>(
    eph: &Ephemeral,
    kind: LinkKind,
    payload: &T,
    ttl: i64,
    now: i64,
) -> EphResult<String> {
    let token = new_token();
    let key = format!("{}:{}", kind.prefix(), token_hash(&token));
    eph.put_json(
        &key,
        &Stored {
            expires_at: now + ttl,
            payload,
        },
        secs(ttl),
    )
    .await?;
    Ok(token)
}

/// Where a link's payload is kept: under the hash of its token (None for what cannot be a
/// token of ours).
fn key(kind: LinkKind, token: &str) -> Option<String> {
    (token.len() == 43).then(|| format!("{}:{}", kind.prefix(), token_hash(token)))
}

/// The payload of a live link without consuming it (to show the page a link leads to).
pub async fn peek<T: DeserializeOwned>(
    eph: &Ephemeral,
    kind: LinkKind,
    token: &str,
    now: i64,
) -> EphResult<Option<T>> {
    let Some(key) = key(kind, token) else {
        return Ok(None);
    };
    Ok(eph
        .get_json::<Stored<T>>(&key)
        .await?
        .filter(|s| s.expires_at > now)
        .map(|s| s.payload))
}

/// Consumes a link: its payload the first time, None afterwards or once expired.
pub async fn take<T: DeserializeOwned>(
    eph: &Ephemeral,
    kind: LinkKind,
    token: &str,
    now: i64,
) -> EphResult<Option<T>> {
    let Some(key) = key(kind, token) else {
        return Ok(None);
    };
    Ok(eph
        .take_json::<Stored<T>>(&key)
        .await?
        .filter(|s| s.expires_at > now)
        .map(|s| s.payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ephemeral::MemoryStore;

    #[tokio::test]
    async fn a_link_works_once_and_only_for_its_kind() {
        let eph = Ephemeral::Memory(MemoryStore::new());
        let t = create(&eph, LinkKind::VerifyEmail, &"m1".to_string(), 600, 1000)
            .await
            .unwrap();
        assert_eq!(
            take::<String>(&eph, LinkKind::ResetPassword, &t, 1001)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            peek::<String>(&eph, LinkKind::VerifyEmail, &t, 1001)
                .await
                .unwrap()
                .as_deref(),
            Some("m1")
        );
        assert_eq!(
            take::<String>(&eph, LinkKind::VerifyEmail, &t, 1001)
                .await
                .unwrap()
                .as_deref(),
            Some("m1")
        );
        assert_eq!(
            take::<String>(&eph, LinkKind::VerifyEmail, &t, 1002)
                .await
                .unwrap(),
            None
        );
        let t = create(&eph, LinkKind::ResetPassword, &"m2".to_string(), 600, 1000)
            .await
            .unwrap();
        assert_eq!(
            take::<String>(&eph, LinkKind::ResetPassword, &t, 1600)
                .await
                .unwrap(),
            None,
            "expired by the clock"
        );
    }
}
