//! Grants as the protocol sees them: the durable grant store plus a revocation marker in the
//! short-lived store for every grant that ends. Access tokens are checked at userinfo without
//! the database (their record carries the claims released at issuance), so the marker is what
//! makes an access token die with its grant — at once, on every replica. Markers live as long
//! as an access token can.
//!
//! Every revocation goes through here (`AppState::grants()`), never the store directly.

use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use crate::store::grants::{Grant, GrantStore, RefreshToken, Rotation, Successor};
use crate::store::members::Member;
use crate::store::{Db, StoreError, StoreResult};

pub struct Grants {
    store: GrantStore,
    eph: Ephemeral,
    marker_ttl: i64,
}

fn marker(grant_id: &str) -> String {
    format!("grant-revoked:{grant_id}")
}

/// A failure of either store.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] crate::store::ephemeral::EphemeralError),
}

pub type GrantResult<T> = Result<T, GrantError>;

impl Grants {
    pub fn new(db: Db, eph: Ephemeral, access_token_ttl: i64) -> Self {
        Self {
            store: GrantStore::new(db),
            eph,
            marker_ttl: access_token_ttl + 60,
        }
    }

    async fn mark(&self, ids: &[String]) -> EphResult<()> {
        for id in ids {
            self.eph
                .put(&marker(id), "1", secs(self.marker_ttl))
                .await?;
        }
        Ok(())
    }

    /// Whether a grant has been revoked (within an access token's lifetime).
    pub async fn is_revoked(&self, grant_id: &str) -> EphResult<bool> {
        Ok(self.eph.get(&marker(grant_id)).await?.is_some())
    }

    pub async fn create(
        &self,
        grant: Grant,
        refresh: Option<RefreshToken>,
    ) -> StoreResult<Option<Member>> {
        self.store.create(grant, refresh).await
    }

    pub async fn get(&self, id: &str) -> StoreResult<Option<Grant>> {
        self.store.get(id).await
    }

    pub async fn with_member(&self, id: &str) -> StoreResult<Option<(Grant, Member)>> {
        self.store.with_member(id).await
    }

    pub async fn refresh_token(&self, hash: &str) -> StoreResult<Option<(RefreshToken, Grant)>> {
        self.store.refresh_token(hash).await
    }

    pub async fn active_for_member(&self, member_id: &str, now: i64) -> StoreResult<Vec<Grant>> {
        self.store.active_for_member(member_id, now).await
    }

    pub async fn purge(&self, now: i64, keep_secs: i64) -> StoreResult<usize> {
        self.store.purge(now, keep_secs).await
    }

    /// Revokes one grant; true if it was active. The marker goes first: a grant being created
    /// at the same moment (a code redeemed twice at once) checks it after its insert, so one of
    /// the two always sees the other.
    pub async fn revoke(&self, id: &str, reason: &str, now: i64) -> GrantResult<bool> {
        self.mark(&[id.to_string()]).await?;
        Ok(self.store.revoke(id, reason, now).await?)
    }

    /// Revokes the grants tied to an IdP session (sign-out).
    pub async fn revoke_session(&self, sid: &str, now: i64) -> GrantResult<usize> {
        let ids = self.store.revoke_session(sid, now).await?;
        self.mark(&ids).await?;
        Ok(ids.len())
    }

    /// Revokes every grant of a member (password reset, "sign out everywhere").
    pub async fn revoke_member(
        &self,
        member_id: &str,
        reason: &str,
        now: i64,
    ) -> GrantResult<usize> {
        let ids = self.store.revoke_member(member_id, reason, now).await?;
        self.mark(&ids).await?;
        Ok(ids.len())
    }

    /// Rotates a refresh token; a reuse revokes (and marks) the family.
    pub async fn rotate(&self, old_hash: &str, new: Successor, now: i64) -> GrantResult<Rotation> {
        let r = self.store.rotate(old_hash, new, now).await?;
        if let Rotation::Reused { grant_id, .. } | Rotation::Concurrent { grant_id, .. } = &r {
            self.mark(std::slice::from_ref(grant_id)).await?;
        }
        Ok(r)
    }
}
