//! Grants (what a member allowed a client, from one sign-in) and the refresh tokens that carry
//! them forward. A grant is a refresh-token *family*: rotation inserts a new token and marks the
//! old one rotated in one transaction; presenting a rotated token again means it was copied,
//! so the whole family is revoked.

use super::schema::grants::dsl as g;
use super::schema::refresh_tokens::dsl as rt;
use super::{Db, StoreResult};
use crate::store::members::Member;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::grants)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub member_id: String,
    pub sid: String,
    pub scope: String,
    pub claims: Option<String>,
    pub auth_time: i64,
    pub amr: String,
    pub acr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

impl Grant {
    pub fn amr_list(&self) -> Vec<String> {
        serde_json::from_str(&self.amr).unwrap_or_default()
    }

    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::refresh_tokens)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    /// RFC 7638 thumbprint of the DPoP key this token is bound to (public clients, RFC 9449
    /// §5): a refresh must prove possession of that key.
    pub dpop_jkt: Option<String>,
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// The old token is spent; the new one is stored.
    Rotated(Box<Grant>),
    /// The token had been rotated already: the family is now revoked.
    Reused { grant_id: String, client_id: String },
    /// Another request rotated the same token while this one was checking it (two parallel
    /// uses of one refresh token): a reuse like any other, the family is now revoked.
    Concurrent { grant_id: String, client_id: String },
    /// Unknown, expired, or its grant is revoked.
    Invalid,
}

/// The refresh token that replaces a spent one: the hash of its value, and its lifetime.
pub struct Successor {
    pub hash: String,
    pub ttl: i64,
}

pub struct GrantStore {
    db: Db,
}

impl GrantStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Stores a grant and, optionally, its first refresh token, returning the member it is for
    /// as the transaction sees them (one trip to the database per code exchange). Nothing is
    /// stored, and `None` returned, when the member no longer exists.
    pub async fn create(
        &self,
        grant: Grant,
        refresh: Option<RefreshToken>,
    ) -> StoreResult<Option<Member>> {
        self.db
            .tx(move |c| {
                let Some(member) = crate::store::members::find(c, &grant.member_id)? else {
                    return Ok(None);
                };
                diesel::insert_into(g::grants).values(&grant).execute(c)?;
                if let Some(r) = refresh {
                    diesel::insert_into(rt::refresh_tokens)
                        .values(&r)
                        .execute(c)?;
                }
                Ok(Some(member))
            })
            .await
    }

    pub async fn get(&self, id: &str) -> StoreResult<Option<Grant>> {
        let q = g::grants.find(id.to_string()).select(Grant::as_select());
        self.db.first(q).await
    }

    /// Revokes a grant (and so its refresh tokens and access tokens); true if it was active.
    pub async fn revoke(&self, id: &str, reason: &str, now: i64) -> StoreResult<bool> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.db
            .run(move |c| {
                let n = diesel::update(g::grants.find(id).filter(g::revoked_at.is_null()))
                    .set((
                        g::revoked_at.eq(Some(now)),
                        g::revoked_reason.eq(Some(reason)),
                    ))
                    .execute(c)?;
                Ok(n > 0)
            })
            .await
    }

    /// Revokes every grant of an IdP session that is tied to it (all but `offline_access`);
    /// returns their ids.
    pub async fn revoke_session(&self, sid: &str, now: i64) -> StoreResult<Vec<String>> {
        let sid = sid.to_string();
        self.db
            .tx(move |c| {
                let ids: Vec<(String, String)> = g::grants
                    .filter(g::sid.eq(&sid))
                    .filter(g::revoked_at.is_null())
                    .select((g::id, g::scope))
                    .load(c)?;
                let mut revoked = Vec::new();
                for (id, scope) in ids {
                    if scope.split(' ').any(|s| s == "offline_access") {
                        continue;
                    }
                    diesel::update(g::grants.find(&id))
                        .set((
                            g::revoked_at.eq(Some(now)),
                            g::revoked_reason.eq(Some("logout")),
                        ))
                        .execute(c)?;
                    revoked.push(id);
                }
                Ok(revoked)
            })
            .await
    }

    /// Revokes every grant of a member (password reset, "sign out everywhere"); returns their
    /// ids.
    pub async fn revoke_member(
        &self,
        member_id: &str,
        reason: &str,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        let (member_id, reason) = (member_id.to_string(), reason.to_string());
        self.db
            .tx(move |c| {
                let ids: Vec<String> = g::grants
                    .filter(g::member_id.eq(&member_id))
                    .filter(g::revoked_at.is_null())
                    .select(g::id)
                    .load(c)?;
                diesel::update(g::grants.filter(g::id.eq_any(&ids)))
                    .set((
                        g::revoked_at.eq(Some(now)),
                        g::revoked_reason.eq(Some(reason)),
                    ))
                    .execute(c)?;
                Ok(ids)
            })
            .await
    }

    /// Spends `old_hash` and stores its successor `new` in its family, in one transaction.
    ///
    /// The spend is a compare-and-set (`UPDATE … WHERE rotated_at IS NULL`): on PostgreSQL a
    /// second transaction presenting the same token waits for the first one's row lock and then
    /// changes nothing, on SQLite the write transactions queue and the second one reads the
    /// token as rotated. Either way the loser revokes the family in its own transaction.
    pub async fn rotate(&self, old_hash: &str, new: Successor, now: i64) -> StoreResult<Rotation> {
        let old_hash = old_hash.to_string();
        let Successor {
            hash: new_hash,
            ttl: new_ttl,
        } = new;
        self.db
            .tx(move |c| {
                let Some(tok) = rt::refresh_tokens
                    .find(&old_hash)
                    .select(RefreshToken::as_select())
                    .first(c)
                    .optional()?
                else {
                    return Ok(Rotation::Invalid);
                };
                let grant: Grant = g::grants
                    .find(&tok.grant_id)
                    .select(Grant::as_select())
                    .first(c)?;
                let revoke_family = |c: &mut super::DbConn| {
                    diesel::update(g::grants.find(&grant.id).filter(g::revoked_at.is_null()))
                        .set((
                            g::revoked_at.eq(Some(now)),
                            g::revoked_reason.eq(Some("refresh token reuse")),
                        ))
                        .execute(c)
                };
                if tok.rotated_at.is_some() {
                    revoke_family(c)?;
                    return Ok(Rotation::Reused {
                        grant_id: grant.id.clone(),
                        client_id: grant.client_id.clone(),
                    });
                }
                if tok.expires_at <= now || !grant.is_active(now) {
                    return Ok(Rotation::Invalid);
                }
                let n = diesel::update(
                    rt::refresh_tokens
                        .find(&old_hash)
                        .filter(rt::rotated_at.is_null()),
                )
                .set(rt::rotated_at.eq(Some(now)))
                .execute(c)?;
                if n == 0 {
                    revoke_family(c)?;
                    return Ok(Rotation::Concurrent {
                        grant_id: grant.id.clone(),
                        client_id: grant.client_id.clone(),
                    });
                }
                let expires_at = (now + new_ttl).min(grant.expires_at);
                diesel::insert_into(rt::refresh_tokens)
                    .values(&RefreshToken {
                        token_hash: new_hash,
                        grant_id: grant.id.clone(),
                        created_at: now,
                        expires_at,
                        rotated_at: None,
                        // The binding carries over to the next token of the family.
                        dpop_jkt: tok.dpop_jkt.clone(),
                    })
                    .execute(c)?;
                Ok(Rotation::Rotated(Box::new(grant)))
            })
            .await
    }

    /// A refresh token and its grant (introspection, revocation).
    pub async fn refresh_token(&self, hash: &str) -> StoreResult<Option<(RefreshToken, Grant)>> {
        let q = rt::refresh_tokens
            .find(hash.to_string())
            .inner_join(g::grants)
            .select((RefreshToken::as_select(), Grant::as_select()));
        self.db.first(q).await
    }

    /// A grant with its member (userinfo, introspection).
    pub async fn with_member(&self, id: &str) -> StoreResult<Option<(Grant, Member)>> {
        use super::schema::members::dsl as m;
        let q = g::grants
            .find(id.to_string())
            .inner_join(m::members)
            .select((Grant::as_select(), Member::as_select()));
        self.db.first(q).await
    }

    /// Active grants of a member with their clients' names (account page).
    pub async fn active_for_member(&self, member_id: &str, now: i64) -> StoreResult<Vec<Grant>> {
        let member_id = member_id.to_string();
        let q = g::grants
            .filter(g::member_id.eq(member_id))
            .filter(g::revoked_at.is_null())
            .filter(g::expires_at.gt(now))
            .select(Grant::as_select());
        self.db.load(q).await
    }

    /// Deletes grants that ended more than `keep_secs` ago (housekeeping).
    pub async fn purge(&self, now: i64, keep_secs: i64) -> StoreResult<usize> {
        self.db
            .run(move |c| {
                let cutoff = now - keep_secs;
                let n = diesel::delete(
                    g::grants.filter(g::expires_at.lt(cutoff).or(g::revoked_at.lt(cutoff))),
                )
                .execute(c)?;
                diesel::delete(rt::refresh_tokens.filter(rt::expires_at.lt(cutoff))).execute(c)?;
                Ok(n)
            })
            .await
    }
}
