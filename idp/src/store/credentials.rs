//! Second-factor credentials: passkeys and TOTP secrets (email OTP is a flag on the member).

use super::schema::passkeys::dsl as pk;
use super::schema::totp_credentials::dsl as tc;
use super::{Db, StoreResult};
use crate::mfa::factors::Factors;
use crate::store::members::Member;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::passkeys)]
pub struct PasskeyRow {
    pub id: String,
    pub member_id: String,
    pub credential_id: String,
    pub label: String,
    pub passkey: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub sign_count: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::totp_credentials)]
pub struct TotpRow {
    pub member_id: String,
    pub secret_enc: Vec<u8>,
    pub last_step: Option<i64>,
    pub created_at: i64,
}

/// A factor to remove (account page).
#[derive(Debug, Clone, Copy)]
pub enum FactorRemoval<'a> {
    /// One passkey, by its row id.
    Passkey(&'a str),
    Totp,
    /// Email one-time passwords turned off.
    EmailOtp,
}

/// What a removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Done,
    /// Refused: it is the member's last working factor.
    Last,
    /// The member has no such factor (any more).
    NotFound,
}

/// A passkey's state after an assertion.
#[derive(Debug, Clone)]
pub struct PasskeyUse {
    pub passkey_json: String,
    pub sign_count: i64,
    pub backup_state: bool,
    pub backup_eligible: bool,
    pub now: i64,
}

pub struct CredentialStore {
    db: Db,
}

fn count_factors(c: &mut super::DbConn, member: &Member) -> QueryResult<Factors> {
    let passkeys: i64 = pk::passkeys
        .filter(pk::member_id.eq(&member.id))
        .count()
        .get_result(c)?;
    let totp: i64 = tc::totp_credentials
        .filter(tc::member_id.eq(&member.id))
        .count()
        .get_result(c)?;
    Ok(Factors {
        passkeys: passkeys as usize,
        totp: totp > 0,
        email: member.email_otp_enabled && member.email_verified && member.email.is_some(),
    })
}

impl CredentialStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Which factors a member has enrolled.
    pub async fn factors(&self, member: &Member) -> StoreResult<Factors> {
        let member = member.clone();
        self.db.query(move |c| count_factors(c, &member)).await
    }

    /// A member and their factors in one trip to the database (every authorization request
    /// needs both to decide whether a sign-in step is pending).
    pub async fn member_and_factors(
        &self,
        member_id: &str,
    ) -> StoreResult<Option<(Member, Factors)>> {
        let id = member_id.to_string();
        self.db
            .run(move |c| {
                let Some(member) = crate::store::members::find(c, &id)? else {
                    return Ok(None);
                };
                let factors = count_factors(c, &member)?;
                Ok(Some((member, factors)))
            })
            .await
    }

    pub async fn totp(&self, member_id: &str) -> StoreResult<Option<TotpRow>> {
        let q = tc::totp_credentials
            .find(member_id.to_string())
            .select(TotpRow::as_select());
        self.db.first(q).await
    }

    /// Replaces the member's TOTP secret.
    pub async fn set_totp(&self, row: TotpRow) -> StoreResult<()> {
        self.db
            .tx(move |c| {
                diesel::delete(tc::totp_credentials.find(&row.member_id)).execute(c)?;
                diesel::insert_into(tc::totp_credentials)
                    .values(&row)
                    .execute(c)?;
                Ok(())
            })
            .await
    }

    /// Records that a TOTP time step was used, only if it is later than the last one used:
    /// one conditional UPDATE, so two replicas cannot both accept the same code.
    pub async fn advance_totp_step(&self, member_id: &str, step: i64) -> StoreResult<bool> {
        let id = member_id.to_string();
        self.db
            .run(move |c| {
                let n = diesel::update(
                    tc::totp_credentials
                        .find(id)
                        .filter(tc::last_step.is_null().or(tc::last_step.lt(step))),
                )
                .set(tc::last_step.eq(Some(step)))
                .execute(c)?;
                Ok(n == 1)
            })
            .await
    }

    pub async fn delete_totp(&self, member_id: &str) -> StoreResult<bool> {
        let q = diesel::delete(tc::totp_credentials.find(member_id.to_string()));
        Ok(self.db.execute(q).await? > 0)
    }

    pub async fn passkeys(&self, member_id: &str) -> StoreResult<Vec<PasskeyRow>> {
        let q = pk::passkeys
            .filter(pk::member_id.eq(member_id.to_string()))
            .order(pk::created_at)
            .select(PasskeyRow::as_select());
        self.db.load(q).await
    }

    pub async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRow>> {
        let q = pk::passkeys
            .filter(pk::credential_id.eq(credential_id.to_string()))
            .select(PasskeyRow::as_select());
        self.db.first(q).await
    }

    pub async fn add_passkey(&self, row: PasskeyRow) -> StoreResult<()> {
        let q = diesel::insert_into(pk::passkeys).values(row);
        self.db.execute(q).await.map(drop)
    }

    /// Stores a passkey's state after an assertion (its JSON, counter, backup flags), only if
    /// the counter moved forward — or both the stored and the new counter are zero, as with
    /// synchronised passkeys, which do not count. One conditional UPDATE, so two replicas
    /// finishing assertions of a cloned authenticator at once cannot both succeed with the same
    /// counter. False when the stored counter is not below the new one (a regression).
    pub async fn record_assertion(&self, id: &str, update: PasskeyUse) -> StoreResult<bool> {
        let id = id.to_string();
        self.db
            .run(move |c| {
                let target = pk::passkeys.find(id);
                let set = (
                    pk::passkey.eq(update.passkey_json),
                    pk::sign_count.eq(update.sign_count),
                    pk::backup_state.eq(update.backup_state),
                    pk::backup_eligible.eq(update.backup_eligible),
                    pk::last_used_at.eq(Some(update.now)),
                );
                let n = if update.sign_count == 0 {
                    diesel::update(target.filter(pk::sign_count.eq(0)))
                        .set(set)
                        .execute(c)?
                } else {
                    diesel::update(target.filter(pk::sign_count.lt(update.sign_count)))
                        .set(set)
                        .execute(c)?
                };
                Ok(n == 1)
            })
            .await
    }

    /// The member's WebAuthn user handle, created on first use (see the migration
    /// `webauthn_user_handles`).
    pub async fn user_handle(&self, member_id: &str, now: i64) -> StoreResult<uuid::Uuid> {
        use super::schema::webauthn_user_handles::dsl as wh;
        let id = member_id.to_string();
        self.db
            .run(move |c| {
                let read = |c: &mut super::DbConn| -> diesel::QueryResult<Option<String>> {
                    wh::webauthn_user_handles
                        .find(&id)
                        .select(wh::handle)
                        .first(c)
                        .optional()
                };
                let handle = match read(c)? {
                    Some(h) => h,
                    None => {
                        // A concurrent first registration may insert first; either way the
                        // row read back afterwards is the one handle.
                        let _ = diesel::insert_into(wh::webauthn_user_handles)
                            .values((
                                wh::member_id.eq(&id),
                                wh::handle.eq(uuid::Uuid::new_v4().to_string()),
                                wh::created_at.eq(now),
                            ))
                            .execute(c);
                        read(c)?
                            .ok_or_else(|| super::StoreError::corrupt("user handle not stored"))?
                    }
                };
                uuid::Uuid::parse_str(&handle).map_err(super::StoreError::corrupt)
            })
            .await
    }

    /// The member a user handle belongs to.
    pub async fn member_of_handle(&self, handle: &uuid::Uuid) -> StoreResult<Option<String>> {
        use super::schema::webauthn_user_handles::dsl as wh;
        let q = wh::webauthn_user_handles
            .filter(wh::handle.eq(handle.to_string()))
            .select(wh::member_id);
        self.db.first(q).await
    }

    pub async fn rename_passkey(
        &self,
        member_id: &str,
        id: &str,
        label: &str,
    ) -> StoreResult<bool> {
        let (m, id, label) = (member_id.to_string(), id.to_string(), label.to_string());
        self.db
            .run(move |c| {
                Ok(
                    diesel::update(pk::passkeys.find(id).filter(pk::member_id.eq(m)))
                        .set(pk::label.eq(label))
                        .execute(c)?
                        == 1,
                )
            })
            .await
    }

    pub async fn delete_passkey(&self, member_id: &str, id: &str) -> StoreResult<bool> {
        let (m, id) = (member_id.to_string(), id.to_string());
        self.db
            .run(move |c| {
                Ok(
                    diesel::delete(pk::passkeys.find(id).filter(pk::member_id.eq(m))).execute(c)?
                        == 1,
                )
            })
            .await
    }

    /// Removes one factor unless it is the member's last one: the check and the removal in one
    /// transaction that first locks the member row (an UPDATE of it), so two removals at once
    /// (two tabs, two devices) run one after the other and the second sees what the first left.
    /// On SQLite the write transaction itself serialises them.
    pub async fn remove_factor(
        &self,
        member_id: &str,
        what: FactorRemoval<'_>,
        now: i64,
    ) -> StoreResult<Removed> {
        use super::schema::members::dsl as m;
        use crate::mfa::factors::Factor;
        let id = member_id.to_string();
        let passkey = match what {
            FactorRemoval::Passkey(p) => Some(p.to_string()),
            _ => None,
        };
        let factor = match what {
            FactorRemoval::Passkey(_) => Factor::Passkey,
            FactorRemoval::Totp => Factor::Totp,
            FactorRemoval::EmailOtp => Factor::Email,
        };
        self.db
            .tx(move |c| {
                let locked = diesel::update(m::members.find(&id))
                    .set(m::updated_at.eq(now))
                    .execute(c)?;
                let Some(member) = crate::store::members::find(c, &id)?.filter(|_| locked == 1)
                else {
                    return Ok(Removed::NotFound);
                };
                let factors = count_factors(c, &member)?;
                let present = match &passkey {
                    Some(p) => {
                        pk::passkeys
                            .find(p)
                            .filter(pk::member_id.eq(&id))
                            .count()
                            .get_result::<i64>(c)?
                            == 1
                    }
                    None => factors.has(factor),
                };
                if !present {
                    return Ok(Removed::NotFound);
                }
                if !factors.may_remove(factor) {
                    return Ok(Removed::Last);
                }
                match &passkey {
                    Some(p) => {
                        diesel::delete(pk::passkeys.find(p).filter(pk::member_id.eq(&id)))
                            .execute(c)?;
                    }
                    None if factor == Factor::Totp => {
                        diesel::delete(tc::totp_credentials.find(&id)).execute(c)?;
                    }
                    None => {
                        diesel::update(m::members.find(&id))
                            .set(m::email_otp_enabled.eq(false))
                            .execute(c)?;
                    }
                }
                Ok(Removed::Done)
            })
            .await
    }

    /// Removes every factor of a member (staff `reset-mfa`).
    pub async fn delete_all(&self, member_id: &str) -> StoreResult<()> {
        let id = member_id.to_string();
        self.db
            .tx(move |c| {
                diesel::delete(pk::passkeys.filter(pk::member_id.eq(&id))).execute(c)?;
                diesel::delete(tc::totp_credentials.filter(tc::member_id.eq(&id))).execute(c)?;
                Ok(())
            })
            .await
    }
}
