//! Redis implementation of the ephemeral store, shared by all replicas. Every command is
//! atomic on the server: `SET NX EX` for put-if-absent, `GETDEL` for one-time values, and
//! `INCRBY` with `EXPIRE NX` in one MULTI block for counters.

use super::EphResult;
use redis::aio::ConnectionManager;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> EphResult<RedisStore> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    pub async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        let mut c = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut c)
            .await?;
        Ok(set.is_some())
    }

    pub async fn get(&self, key: &str) -> EphResult<Option<String>> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?)
    }

    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?)
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> EphResult<i64> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (value, _): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("INCRBY")
            .arg(&k)
            .arg(by)
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl.as_millis().max(1) as u64)
            .arg("NX")
            .query_async(&mut c)
            .await?;
        Ok(value)
    }

    pub async fn ttl(&self, key: &str) -> EphResult<Option<Duration>> {
        let mut c = self.conn.clone();
        let ms: i64 = redis::cmd("PTTL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?;
        Ok(match ms {
            -2 => None,
            -1 => Some(Duration::MAX),
            ms => Some(Duration::from_millis(ms.max(0) as u64)),
        })
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        // GT only ever extends the set's life, so one short-lived member cannot cut it short.
        redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&k)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl.as_millis().max(1) as u64)
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(ttl.as_millis().max(1) as u64)
            .arg("GT")
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("SREM")
            .arg(self.key(key))
            .arg(member)
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("SMEMBERS")
            .arg(self.key(key))
            .query_async(&mut c)
            .await?)
    }

    pub async fn ping(&self) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut c).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Ephemeral, contract};
    use super::RedisStore;

    /// Runs the shared contract against a real Redis when `KENPO_TEST_REDIS_URL` is set
    /// (`.ci/run` sets it, and `KENPO_TEST_REQUIRE_BACKENDS` so a missing URL fails there);
    /// the README's plain `cargo test` has no Redis and says so.
    #[tokio::test]
    async fn redis_store_keeps_the_contract() {
        let Ok(url) = std::env::var("KENPO_TEST_REDIS_URL") else {
            assert!(
                std::env::var("KENPO_TEST_REQUIRE_BACKENDS").is_err(),
                "KENPO_TEST_REDIS_URL is required in this run"
            );
            eprintln!("KENPO_TEST_REDIS_URL not set: Redis contract not checked in this run");
            return;
        };
        let prefix = format!("kenpo:test:{}:", uuid::Uuid::new_v4());
        let store = Ephemeral::Redis(RedisStore::connect(&url, &prefix).await.expect("redis"));
        contract::check(&store, "").await;
    }
}
