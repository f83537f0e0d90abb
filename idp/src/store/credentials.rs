//! Second-factor credentials: passkeys and TOTP secrets (email OTP is a flag on the member).

use super::schema::passkeys::dsl as pk;
use super::schema::totp_credentials::dsl as tc;
use super::{Db, StoreResult};
use crate::mfa::Factors;
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

pub struct CredentialStore {
    db: Db,
}

impl CredentialStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Which factors a member has enrolled.
    pub async fn factors(&self, member: &Member) -> StoreResult<Factors> {
        let id = member.id.clone();
        let email = member.email_otp_enabled && member.email_verified && member.email.is_some();
        self.db
            .run(move |c| {
                let passkeys: i64 = pk::passkeys
                    .filter(pk::member_id.eq(&id))
                    .count()
                    .get_result(c)?;
                let totp: i64 = tc::totp_credentials
                    .filter(tc::member_id.eq(&id))
                    .count()
                    .get_result(c)?;
                Ok(Factors {
                    passkeys: passkeys as usize,
                    totp: totp > 0,
                    email,
                })
            })
            .await
    }

    pub async fn totp(&self, member_id: &str) -> StoreResult<Option<TotpRow>> {
        let id = member_id.to_string();
        self.db
            .run(move |c| {
                Ok(tc::totp_credentials
                    .find(id)
                    .select(TotpRow::as_select())
                    .first(c)
                    .optional()?)
            })
            .await
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
        let id = member_id.to_string();
        self.db
            .run(move |c| Ok(diesel::delete(tc::totp_credentials.find(id)).execute(c)? > 0))
            .await
    }

    pub async fn passkeys(&self, member_id: &str) -> StoreResult<Vec<PasskeyRow>> {
        let id = member_id.to_string();
        self.db
            .run(move |c| {
                Ok(pk::passkeys
                    .filter(pk::member_id.eq(id))
                    .order(pk::created_at)
                    .select(PasskeyRow::as_select())
                    .load(c)?)
            })
            .await
    }

    pub async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRow>> {
        let id = credential_id.to_string();
        self.db
            .run(move |c| {
                Ok(pk::passkeys
                    .filter(pk::credential_id.eq(id))
                    .select(PasskeyRow::as_select())
                    .first(c)
                    .optional()?)
            })
            .await
    }

    pub async fn add_passkey(&self, row: PasskeyRow) -> StoreResult<()> {
        self.db
            .run(move |c| {
                Ok(diesel::insert_into(pk::passkeys)
                    .values(&row)
                    .execute(c)
                    .map(|_| ())?)
            })
            .await
    }

    /// Stores a passkey's state after an assertion (counter, backup flags).
    pub async fn update_passkey(
        &self,
        id: &str,
        passkey_json: String,
        sign_count: i64,
        backup_state: bool,
        now: i64,
    ) -> StoreResult<()> {
        let id = id.to_string();
        self.db
            .run(move |c| {
                diesel::update(pk::passkeys.find(id))
                    .set((
                        pk::passkey.eq(passkey_json),
                        pk::sign_count.eq(sign_count),
                        pk::backup_state.eq(backup_state),
                        pk::last_used_at.eq(Some(now)),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await
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
