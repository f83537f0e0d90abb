//! Rows of `signing_keys` (see `oidc::keys` for their life cycle).

use super::schema::signing_keys::dsl as k;
use super::{Db, StoreResult};
use diesel::prelude::*;

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
        self.db
            .run(|c| {
                Ok(k::signing_keys
                    .order((k::alg, k::activates_at))
                    .select(KeyRow::as_select())
                    .load(c)?)
            })
            .await
    }

    pub async fn insert(&self, row: KeyRow) -> StoreResult<()> {
        self.db
            .run(move |c| {
                Ok(diesel::insert_into(k::signing_keys)
                    .values(&row)
                    .execute(c)
                    .map(|_| ())?)
            })
            .await
    }

    pub async fn retire(&self, kid: &str, at: i64, expires_at: i64) -> StoreResult<()> {
        let kid = kid.to_string();
        self.db
            .run(move |c| {
                diesel::update(
                    k::signing_keys
                        .filter(k::kid.eq(kid))
                        .filter(k::retired_at.is_null()),
                )
                .set((k::retired_at.eq(at), k::expires_at.eq(expires_at)))
                .execute(c)?;
                Ok(())
            })
            .await
    }

    pub async fn delete_expired(&self, now: i64) -> StoreResult<usize> {
        self.db
            .run(move |c| {
                Ok(diesel::delete(k::signing_keys.filter(k::expires_at.le(now))).execute(c)?)
            })
            .await
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
