//! Durable queue of back-channel logout deliveries: written when a session ends, worked off in
//! the background by every replica (each row is claimed with a conditional update, so only one
//! replica sends it), retried with growing pauses.

use super::schema::backchannel_outbox::dsl as o;
use super::{Db, StoreResult};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::backchannel_outbox)]
pub struct Delivery {
    pub id: String,
    pub client_id: String,
    pub uri: String,
    pub logout_token: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Clone)]
pub struct Outbox {
    db: Db,
}

impl Outbox {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn enqueue(&self, deliveries: Vec<Delivery>) -> StoreResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.db
            .tx(move |c| {
                for d in &deliveries {
                    diesel::insert_into(o::backchannel_outbox)
                        .values(d)
                        .execute(c)?;
                }
                Ok(())
            })
            .await
    }

    /// Claims up to `limit` due deliveries for `lease` seconds.
    pub async fn claim_due(&self, now: i64, lease: i64, limit: i64) -> StoreResult<Vec<Delivery>> {
        self.db
            .run(move |c| {
                let due: Vec<Delivery> = o::backchannel_outbox
                    .filter(o::delivered_at.is_null())
                    .filter(o::next_attempt_at.le(now))
                    .order(o::next_attempt_at)
                    .limit(limit)
                    .select(Delivery::as_select())
                    .load(c)?;
                let mut mine = Vec::new();
                for d in due {
                    let n = diesel::update(
                        o::backchannel_outbox
                            .find(&d.id)
                            .filter(o::delivered_at.is_null())
                            .filter(o::next_attempt_at.eq(d.next_attempt_at)),
                    )
                    .set(o::next_attempt_at.eq(now + lease))
                    .execute(c)?;
                    if n == 1 {
                        mine.push(d);
                    }
                }
                Ok(mine)
            })
            .await
    }

    pub async fn delivered(&self, id: &str, now: i64) -> StoreResult<()> {
        let q = diesel::update(o::backchannel_outbox.find(id.to_string()))
            .set(o::delivered_at.eq(Some(now)));
        self.db.execute(q).await.map(drop)
    }

    /// Records a failed attempt; `next` None gives up.
    pub async fn failed(
        &self,
        id: &str,
        attempts: i32,
        next: Option<i64>,
        error: &str,
    ) -> StoreResult<()> {
        let (id, error) = (id.to_string(), error.chars().take(500).collect::<String>());
        let q = diesel::update(o::backchannel_outbox.find(id)).set((
            o::attempts.eq(attempts),
            o::next_attempt_at.eq(next.unwrap_or(i64::MAX)),
            o::last_error.eq(Some(error)),
        ));
        self.db.execute(q).await.map(drop)
    }

    /// How many deliveries are not yet made (the `backchannel_pending` metric).
    pub async fn pending_count(&self) -> StoreResult<i64> {
        self.db
            .run(|c| {
                Ok(o::backchannel_outbox
                    .filter(o::delivered_at.is_null())
                    .filter(o::next_attempt_at.lt(i64::MAX))
                    .count()
                    .get_result(c)?)
            })
            .await
    }

    /// Deliveries not yet made (operators, tests).
    pub async fn pending(&self) -> StoreResult<Vec<Delivery>> {
        let q = o::backchannel_outbox
            .filter(o::delivered_at.is_null())
            .select(Delivery::as_select());
        self.db.load(q).await
    }
}
