//! Staff accounts, their passkeys and their one-time links (invitation, demo sign-in). Kept in
//! tables of their own: nothing here is a member, and no member query reads these tables.

use super::schema::staff_accounts::dsl as s;
use super::schema::staff_links::dsl as l;
use super::schema::staff_passkeys::dsl as p;
use super::{Db, StoreResult};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::staff_accounts)]
pub struct StaffRow {
    pub id: String,
    /// Lower-case.
    pub email: String,
    pub name: String,
    /// `viewer`, `operator` or `administrator` (see `staff::Role`).
    pub role: String,
    /// `sub` of the ID tokens staff get at the union's consoles (never a member's).
    pub subject: String,
    /// WebAuthn user handle of the account's passkeys.
    pub webauthn_handle: String,
    pub disabled_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::staff_passkeys)]
pub struct StaffPasskeyRow {
    pub id: String,
    pub staff_id: String,
    pub credential_id: String,
    pub label: String,
    /// webauthn-rs `Passkey` as JSON.
    pub passkey: String,
    pub sign_count: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// The invitation mail: register a passkey (and sign in).
    Enroll,
    /// Demo only: sign in once without a passkey.
    SignIn,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkKind::Enroll => "enroll",
            LinkKind::SignIn => "signin",
        }
    }
}

#[derive(Clone)]
pub struct StaffStore {
    db: Db,
}

impl StaffStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(&self, row: StaffRow) -> StoreResult<()> {
        let q = diesel::insert_into(s::staff_accounts).values(row);
        self.db.execute(q).await.map(drop)
    }

    pub async fn by_id(&self, id: &str) -> StoreResult<Option<StaffRow>> {
        let q = s::staff_accounts
            .find(id.to_string())
            .select(StaffRow::as_select());
        self.db.first(q).await
    }

    pub async fn by_email(&self, email: &str) -> StoreResult<Option<StaffRow>> {
        let e = email.trim().to_ascii_lowercase();
        let q = s::staff_accounts
            .filter(s::email.eq(e))
            .select(StaffRow::as_select());
        self.db.first(q).await
    }

    pub async fn by_handle(&self, handle: &str) -> StoreResult<Option<StaffRow>> {
        let q = s::staff_accounts
            .filter(s::webauthn_handle.eq(handle.to_string()))
            .select(StaffRow::as_select());
        self.db.first(q).await
    }

    pub async fn list(&self) -> StoreResult<Vec<StaffRow>> {
        let q = s::staff_accounts
            .order(s::email.asc())
            .select(StaffRow::as_select());
        self.db.load(q).await
    }

    /// How many enabled administrators there are (the last one cannot be demoted).
    pub async fn active_administrators(&self) -> StoreResult<i64> {
        self.db
            .run(|c| {
                Ok(s::staff_accounts
                    .filter(s::role.eq("administrator"))
                    .filter(s::disabled_at.is_null())
                    .count()
                    .get_result(c)?)
            })
            .await
    }

    pub async fn set_role(&self, id: &str, role: &str) -> StoreResult<bool> {
        let (id, role) = (id.to_string(), role.to_string());
        let q = diesel::update(s::staff_accounts.find(id)).set(s::role.eq(role));
        Ok(self.db.execute(q).await? == 1)
    }

    pub async fn set_disabled(&self, id: &str, at: Option<i64>) -> StoreResult<bool> {
        let q = diesel::update(s::staff_accounts.find(id.to_string())).set(s::disabled_at.eq(at));
        Ok(self.db.execute(q).await? == 1)
    }

    pub async fn touch_login(&self, id: &str, now: i64) -> StoreResult<()> {
        let q = diesel::update(s::staff_accounts.find(id.to_string()))
            .set(s::last_login_at.eq(Some(now)));
        self.db.execute(q).await.map(drop)
    }

    // ---- passkeys ----

    pub async fn passkeys(&self, staff_id: &str) -> StoreResult<Vec<StaffPasskeyRow>> {
        let q = p::staff_passkeys
            .filter(p::staff_id.eq(staff_id.to_string()))
            .order(p::created_at.asc())
            .select(StaffPasskeyRow::as_select());
        self.db.load(q).await
    }

    pub async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<StaffPasskeyRow>> {
        let q = p::staff_passkeys
            .filter(p::credential_id.eq(credential_id.to_string()))
            .select(StaffPasskeyRow::as_select());
        self.db.first(q).await
    }

    pub async fn add_passkey(&self, row: StaffPasskeyRow) -> StoreResult<()> {
        let q = diesel::insert_into(p::staff_passkeys).values(row);
        self.db.execute(q).await.map(drop)
    }

    /// Stores an assertion's new state if its counter moved forward (or the authenticator
    /// keeps none); false means a counter that went back: a cloned authenticator is possible.
    pub async fn record_assertion(
        &self,
        id: &str,
        passkey_json: String,
        counter: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let id = id.to_string();
        self.db
            .run(move |c| {
                let n = diesel::update(
                    p::staff_passkeys
                        .find(id)
                        .filter(p::sign_count.lt(counter).or(p::sign_count.eq(0))),
                )
                .set((
                    p::passkey.eq(passkey_json),
                    p::sign_count.eq(counter),
                    p::last_used_at.eq(Some(now)),
                ))
                .execute(c)?;
                Ok(n == 1)
            })
            .await
    }

    pub async fn delete_passkeys(&self, staff_id: &str) -> StoreResult<usize> {
        let id = staff_id.to_string();
        self.db
            .query(move |c| diesel::delete(p::staff_passkeys.filter(p::staff_id.eq(id))).execute(c))
            .await
    }

    // ---- one-time links ----

    /// Stores a new link (by its token's hash); earlier unused links of the same kind for the
    /// same account stop working.
    pub async fn add_link(
        &self,
        staff_id: &str,
        kind: LinkKind,
        token_hash: String,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        let id = staff_id.to_string();
        self.db
            .tx(move |c| {
                diesel::update(
                    l::staff_links
                        .filter(l::staff_id.eq(&id))
                        .filter(l::kind.eq(kind.as_str()))
                        .filter(l::used_at.is_null()),
                )
                .set(l::used_at.eq(Some(now)))
                .execute(c)?;
                diesel::insert_into(l::staff_links)
                    .values((
                        l::token_hash.eq(token_hash),
                        l::staff_id.eq(&id),
                        l::kind.eq(kind.as_str()),
                        l::created_at.eq(now),
                        l::expires_at.eq(expires_at),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await
    }

    /// The account of an unused, unexpired link (the link is not spent).
    pub async fn link_owner(
        &self,
        token_hash: &str,
        kind: LinkKind,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let q = l::staff_links
            .filter(l::token_hash.eq(token_hash.to_string()))
            .filter(l::kind.eq(kind.as_str()))
            .filter(l::used_at.is_null())
            .filter(l::expires_at.gt(now))
            .select(l::staff_id);
        self.db.first(q).await
    }

    /// Spends a link: one conditional UPDATE, so two requests cannot both use it. Returns
    /// the account it belonged to.
    pub async fn spend_link(
        &self,
        token_hash: &str,
        kind: LinkKind,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let h = token_hash.to_string();
        self.db
            .tx(move |c| {
                let owner: Option<String> = l::staff_links
                    .filter(l::token_hash.eq(&h))
                    .filter(l::kind.eq(kind.as_str()))
                    .select(l::staff_id)
                    .first(c)
                    .optional()?;
                let n = diesel::update(
                    l::staff_links
                        .filter(l::token_hash.eq(&h))
                        .filter(l::kind.eq(kind.as_str()))
                        .filter(l::used_at.is_null())
                        .filter(l::expires_at.gt(now)),
                )
                .set(l::used_at.eq(Some(now)))
                .execute(c)?;
                Ok(owner.filter(|_| n == 1))
            })
            .await
    }
}
