//! Known browsers (see `security::device`): which member's device token a browser holds. Only
//! the SHA-256 of the token's random part is stored, so a copy of the database gives no
//! cookie away.

use super::schema::known_browsers::dsl as kb;
use super::{Db, StoreResult};
use diesel::prelude::*;

#[derive(Clone)]
pub struct KnownBrowsers {
    db: Db,
}

impl KnownBrowsers {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Whether `id` is a live known browser of `member_id`; a hit records its use.
    pub async fn check(&self, id: &str, member_id: &str, now: i64) -> StoreResult<bool> {
        let (id, member) = (id.to_string(), member_id.to_string());
        self.db
            .run(move |c| {
                let n = diesel::update(
                    kb::known_browsers
                        .find(id)
                        .filter(kb::member_id.eq(member))
                        .filter(kb::expires_at.gt(now)),
                )
                .set(kb::last_used_at.eq(now))
                .execute(c)?;
                Ok(n == 1)
            })
            .await
    }

    /// Keeps a browser known until `expires_at` (a new sign-in there); false when it is not
    /// (or no longer) the member's.
    pub async fn extend(
        &self,
        id: &str,
        member_id: &str,
        expires_at: i64,
        remembered: bool,
    ) -> StoreResult<bool> {
        let (id, member) = (id.to_string(), member_id.to_string());
        self.db
            .run(move |c| {
                let n =
                    diesel::update(kb::known_browsers.find(id).filter(kb::member_id.eq(member)))
                        .set((kb::expires_at.eq(expires_at), kb::remembered.eq(remembered)))
                        .execute(c)?;
                Ok(n == 1)
            })
            .await
    }

    /// The member a live browser was remembered for ("remember me" at its last sign-in).
    pub async fn remembered_member(&self, id: &str, now: i64) -> StoreResult<Option<String>> {
        let id = id.to_string();
        self.db
            .query(move |c| {
                kb::known_browsers
                    .find(id)
                    .filter(kb::expires_at.gt(now))
                    .filter(kb::remembered.eq(true))
                    .select(kb::member_id)
                    .first::<String>(c)
                    .optional()
            })
            .await
    }

    pub async fn add(
        &self,
        id: &str,
        member_id: &str,
        now: i64,
        expires_at: i64,
        remembered: bool,
    ) -> StoreResult<()> {
        let (id, member) = (id.to_string(), member_id.to_string());
        let q = diesel::insert_into(kb::known_browsers).values((
            kb::id.eq(id),
            kb::member_id.eq(member),
            kb::created_at.eq(now),
            kb::last_used_at.eq(now),
            kb::expires_at.eq(expires_at),
            kb::remembered.eq(remembered),
        ));
        self.db.execute(q).await.map(drop)
    }

    /// Forgets every browser of a member (staff reset of the factors, a disabled member);
    /// returns how many there were.
    pub async fn revoke_all(&self, member_id: &str) -> StoreResult<usize> {
        let member = member_id.to_string();
        self.db
            .run(move |c| {
                Ok(
                    diesel::delete(kb::known_browsers.filter(kb::member_id.eq(member)))
                        .execute(c)?,
                )
            })
            .await
    }
}
