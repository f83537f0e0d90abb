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

/// How a link is opened: to show the page it leads to, or to act on it (single use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// The payload of a live link, left in place.
    Peek,
    /// The payload the first time, None afterwards.
    Take,
}

/// The payload of a live link (None once expired, consumed or never ours).
pub async fn open<T: DeserializeOwned>(
    eph: &Ephemeral,
    kind: LinkKind,
    token: &str,
    now: i64,
    how: Open,
) -> EphResult<Option<T>> {
    let Some(key) = key(kind, token) else {
        return Ok(None);
    };
    let stored = match how {
        Open::Peek => eph.get_json::<Stored<T>>(&key).await?,
        Open::Take => eph.take_json::<Stored<T>>(&key).await?,
    };
    Ok(stored.filter(|s| s.expires_at > now).map(|s| s.payload))
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
        let (verify, reset) = (LinkKind::VerifyEmail, LinkKind::ResetPassword);
        // In order: (kind, time, how, payload expected).
        let steps = [
            (reset, 1001, Open::Take, None),
            (verify, 1001, Open::Peek, Some("m1")),
            (verify, 1001, Open::Take, Some("m1")),
            (verify, 1002, Open::Take, None),
        ];
        for (kind, now, how, want) in steps {
            let got = open::<String>(&eph, kind, &t, now, how).await.unwrap();
            assert_eq!(got.as_deref(), want, "{kind:?} at {now}, {how:?}");
        }
        let t = create(&eph, reset, &"m2".to_string(), 600, 1000)
            .await
            .unwrap();
        let late = open::<String>(&eph, reset, &t, 1600, Open::Take).await;
        assert_eq!(late.unwrap(), None, "expired by the clock");
    }
}
