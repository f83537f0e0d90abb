//! Remembered consent of a member for a third-party client.

use super::schema::consents::dsl as co;
use super::{Db, StoreResult};
use diesel::prelude::*;

pub struct ConsentStore {
    db: Db,
}

impl ConsentStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The scopes the member has already allowed the client, if any.
    pub async fn get(&self, member_id: &str, client_id: &str) -> StoreResult<Option<Vec<String>>> {
        let (m, cid) = (member_id.to_string(), client_id.to_string());
        self.db
            .run(move |c| {
                let s: Option<String> = co::consents
                    .find((m, cid))
                    .select(co::scope)
                    .first(c)
                    .optional()?;
                Ok(s.map(|s| {
                    s.split(' ')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                }))
            })
            .await
    }

    pub async fn put(
        &self,
        member_id: &str,
        client_id: &str,
        scopes: &[String],
        now: i64,
    ) -> StoreResult<()> {
        let (m, cid, scope) = (
            member_id.to_string(),
            client_id.to_string(),
            scopes.join(" "),
        );
        self.db
            .tx(move |c| {
                diesel::delete(co::consents.find((&m, &cid))).execute(c)?;
                diesel::insert_into(co::consents)
                    .values((
                        co::member_id.eq(&m),
                        co::client_id.eq(&cid),
                        co::scope.eq(&scope),
                        co::granted_at.eq(now),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await
    }

    pub async fn remove(&self, member_id: &str, client_id: &str) -> StoreResult<()> {
        let (m, cid) = (member_id.to_string(), client_id.to_string());
        let q = diesel::delete(co::consents.find((m, cid)));
        self.db.execute(q).await.map(drop)
    }
}
