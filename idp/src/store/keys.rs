//! Rows of `signing_keys` (see `oidc::keys` for their life cycle), and the lock under which
//! replicas decide about them one at a time.

use super::schema::signing_keys::dsl as k;
use super::{Db, DbConn, StoreResult};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// The PostgreSQL advisory lock that serialises key maintenance across replicas (any fixed
/// number; "kenpo keys" in ASCII).
const MAINTENANCE_LOCK: i64 = 0x6b_656e_706f_6b65;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_key_enc: Vec<u8>,
    pub created_at: i64,
    pub activates_at: i64,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

pub struct KeyStore {
    db: Db,
}

impl KeyStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn all(&self) -> StoreResult<Vec<KeyRow>> {
        self.db.run(Self::load).await
    }

    pub fn load(c: &mut DbConn) -> StoreResult<Vec<KeyRow>> {
        Ok(k::signing_keys
            .order((k::alg, k::activates_at))
            .select(KeyRow::as_select())
            .load(c)?)
    }

    /// Runs `f` in a write transaction that holds the key-maintenance lock, so that replicas
    /// started together (or rotating at the same moment) decide about keys one after the
    /// other: the second one reads what the first created instead of creating its own.
    /// PostgreSQL: a transaction-scoped advisory lock; SQLite: `BEGIN IMMEDIATE` already
    /// admits one writer at a time.
    pub async fn exclusively<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<diesel::result::Error> + From<super::StoreError> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        self.db
            .run(move |c| {
                Ok(kenpo_shared::db::write_tx(c, |c| {
                    if let DbConn::Pg(_) = c {
                        c.batch_execute(&format!(
                            "SELECT pg_advisory_xact_lock({MAINTENANCE_LOCK})"
                        ))?;
                    }
                    f(c)
                }))
            })
            .await?
    }

    pub fn insert_row(c: &mut DbConn, row: &KeyRow) -> StoreResult<()> {
        diesel::insert_into(k::signing_keys)
            .values(row)
            .execute(c)?;
        Ok(())
    }

    pub fn retire_row(c: &mut DbConn, kid: &str, at: i64, expires_at: i64) -> StoreResult<()> {
        diesel::update(
            k::signing_keys
                .filter(k::kid.eq(kid))
                .filter(k::retired_at.is_null()),
        )
        .set((k::retired_at.eq(at), k::expires_at.eq(expires_at)))
        .execute(c)?;
        Ok(())
    }

    pub fn delete_expired_rows(c: &mut DbConn, now: i64) -> StoreResult<usize> {
        Ok(diesel::delete(k::signing_keys.filter(k::expires_at.le(now))).execute(c)?)
    }

    /// Re-encrypts every private key with the first configured secret key.
    pub async fn reseal(
        &self,
        f: impl Fn(&KeyRow) -> Option<Vec<u8>> + Send + 'static,
    ) -> StoreResult<usize> {
        self.db
            .tx(move |c| {
                let rows: Vec<KeyRow> = k::signing_keys.select(KeyRow::as_select()).load(c)?;
                let mut n = 0;
                for row in rows {
                    if let Some(sealed) = f(&row) {
                        diesel::update(k::signing_keys.filter(k::kid.eq(&row.kid)))
                            .set(k::private_key_enc.eq(sealed))
                            .execute(c)?;
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
    }
}
