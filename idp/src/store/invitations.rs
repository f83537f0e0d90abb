//! Letter mode: each member's invitation code (as an HMAC only; see `security::invitation`)
//! and the console's member imports, whose new members get their letters together.

use super::schema::invitation_codes::dsl as i;
use super::schema::member_import_rows::dsl as r;
use super::schema::member_imports::dsl as mi;
use super::schema::members::dsl as m;
use super::{Db, StoreResult};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::invitation_codes)]
pub struct CodeRow {
    pub member_id: String,
    pub code_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::member_imports)]
pub struct ImportRow {
    pub id: String,
    pub staff_id: Option<String>,
    pub file_name: String,
    pub created: i32,
    pub updated: i32,
    pub at: i64,
}

#[derive(Clone)]
pub struct InvitationStore {
    db: Db,
}

impl InvitationStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Stores a member's new code; the previous one (if any) stops working at once.
    pub async fn replace(
        &self,
        member_id: &str,
        code_hash: String,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        let id = member_id.to_string();
        self.db
            .tx(move |c| {
                diesel::delete(i::invitation_codes.find(&id)).execute(c)?;
                diesel::insert_into(i::invitation_codes)
                    .values((
                        i::member_id.eq(&id),
                        i::code_hash.eq(code_hash),
                        i::created_at.eq(now),
                        i::expires_at.eq(expires_at),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await
    }

    pub async fn get(&self, member_id: &str) -> StoreResult<Option<CodeRow>> {
        let q = i::invitation_codes
            .find(member_id.to_string())
            .select(CodeRow::as_select());
        self.db.first(q).await
    }

    /// Spends the code whose hash is `code_hash`: one conditional UPDATE, so a code works once
    /// even when two sign-ins race on two replicas.
    pub async fn spend(&self, member_id: &str, code_hash: &str, now: i64) -> StoreResult<bool> {
        let (id, h) = (member_id.to_string(), code_hash.to_string());
        self.db
            .run(move |c| {
                let n = diesel::update(
                    i::invitation_codes
                        .find(id)
                        .filter(i::code_hash.eq(h))
                        .filter(i::used_at.is_null())
                        .filter(i::expires_at.gt(now)),
                )
                .set(i::used_at.eq(Some(now)))
                .execute(c)?;
                Ok(n == 1)
            })
            .await
    }

    /// Records a console import and which members it created or updated.
    pub async fn record_import(
        &self,
        row: ImportRow,
        members: Vec<(String, bool)>,
    ) -> StoreResult<()> {
        self.db
            .tx(move |c| {
                diesel::insert_into(mi::member_imports)
                    .values((
                        mi::id.eq(&row.id),
                        mi::staff_id.eq(&row.staff_id),
                        mi::file_name.eq(&row.file_name),
                        mi::created.eq(row.created),
                        mi::updated.eq(row.updated),
                        mi::at.eq(row.at),
                    ))
                    .execute(c)?;
                for (member_id, created) in members {
                    diesel::insert_into(r::member_import_rows)
                        .values((
                            r::import_id.eq(&row.id),
                            r::member_id.eq(member_id),
                            r::created.eq(created),
                        ))
                        .execute(c)?;
                }
                Ok(())
            })
            .await
    }

    pub async fn imports(&self, limit: i64) -> StoreResult<Vec<ImportRow>> {
        let q = mi::member_imports
            .order(mi::at.desc())
            .limit(limit)
            .select(ImportRow::as_select());
        self.db.load(q).await
    }

    pub async fn import(&self, id: &str) -> StoreResult<Option<ImportRow>> {
        let q = mi::member_imports
            .find(id.to_string())
            .select(ImportRow::as_select());
        self.db.first(q).await
    }

    /// The members an import created who have not finished their first login (those who
    /// need a letter), by user ID.
    pub async fn letter_members(&self, import_id: &str) -> StoreResult<Vec<String>> {
        let id = import_id.to_string();
        let q = r::member_import_rows
            .inner_join(m::members)
            .filter(r::import_id.eq(id))
            .filter(r::created.eq(true))
            .filter(m::onboarded_at.is_null())
            .order(m::user_id_key.asc())
            .select(m::id);
        self.db.load(q).await
    }
}
