//! Redis implementation of the ephemeral store, shared by all replicas. Every command is
//! atomic on the server: `SET NX EX` for put-if-absent, `GETDEL` for one-time values, and
//! `INCRBY` with `EXPIRE NX` in one MULTI block for counters.
//!
//! Every command runs under [`Timeouts`]: the connection manager retries a lost connection once
//! per command (not six times with growing pauses, which made a request wait ~9 s while Redis
//! was down), and the whole command, reconnection included, has a deadline.

use super::{EphResult, EphemeralError, Timeouts};
use crate::scope::{self, Backend};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one replica's Redis connection (exported as metrics).
#[derive(Debug, Default)]
pub struct RedisStats {
    pub commands: AtomicU64,
    /// Commands that failed because Redis could not be reached in time.
    pub unavailable: AtomicU64,
    /// Commands that failed otherwise.
    pub errors: AtomicU64,
}

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    deadline: Duration,
    stats: Arc<RedisStats>,
}

impl RedisStore {
    /// Prepares the connection; it is opened at first use (see `Ephemeral::connect_with`).
    pub fn connect(url: &str, prefix: &str, timeouts: Timeouts) -> EphResult<RedisStore> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            .set_number_of_retries(0)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_string(),
            deadline: timeouts.deadline(),
            stats: Arc::default(),
        })
    }

    pub fn stats(&self) -> &RedisStats {
        &self.stats
    }

    /// Runs one command (or pipeline) within the deadline, counting and noting failures.
    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> EphResult<T> {
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let result = match tokio::time::timeout(self.deadline, f).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => EphemeralError::Redis(e),
            Err(_) => EphemeralError::Timeout(self.deadline),
        };
        if result.is_unavailable() {
            self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            scope::note_outage(Backend::Ephemeral);
        } else {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        Err(result)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphResult<()> {
        let mut c = self.conn.clone();
        self.bounded(
            redis::cmd("SET")
                .arg(self.key(key))
                .arg(value)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async::<()>(&mut c),
        )
        .await
    }

    pub async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        let mut c = self.conn.clone();
        let set: Option<String> = self
            .bounded(
                redis::cmd("SET")
                    .arg(self.key(key))
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64)
                    .query_async(&mut c),
            )
            .await?;
        Ok(set.is_some())
    }

    pub async fn get(&self, key: &str) -> EphResult<Option<String>> {
        let mut c = self.conn.clone();
        self.bounded(redis::cmd("GET").arg(self.key(key)).query_async(&mut c))
            .await
    }

    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        let mut c = self.conn.clone();
        self.bounded(redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut c))
            .await
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        let mut c = self.conn.clone();
        self.bounded(
            redis::cmd("DEL")
                .arg(self.key(key))
                .query_async::<()>(&mut c),
        )
        .await
    }

    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> EphResult<i64> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (value, _): (i64, i64) = self
            .bounded(
                redis::pipe()
                    .atomic()
                    .cmd("INCRBY")
                    .arg(&k)
                    .arg(by)
                    .cmd("PEXPIRE")
                    .arg(&k)
                    .arg(ttl.as_millis().max(1) as u64)
                    .arg("NX")
                    .query_async(&mut c),
            )
            .await?;
        Ok(value)
    }

    pub async fn bump(&self, key: &str, by: i64, ttl: Duration) -> EphResult<i64> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let (value, _): (i64, i64) = self
            .bounded(
                redis::pipe()
                    .atomic()
                    .cmd("INCRBY")
                    .arg(&k)
                    .arg(by)
                    .cmd("PEXPIRE")
                    .arg(&k)
                    .arg(ttl.as_millis().max(1) as u64)
                    .query_async(&mut c),
            )
            .await?;
        Ok(value)
    }

    pub async fn ttl(&self, key: &str) -> EphResult<Option<Duration>> {
        let mut c = self.conn.clone();
        let ms: i64 = self
            .bounded(redis::cmd("PTTL").arg(self.key(key)).query_async(&mut c))
            .await?;
        Ok(match ms {
            -2 => None,
            -1 => Some(Duration::MAX),
            ms => Some(Duration::from_millis(ms.max(0) as u64)),
        })
    }

    pub async fn expire(&self, key: &str, ttl: Duration) -> EphResult<bool> {
        let mut c = self.conn.clone();
        let set: i64 = self
            .bounded(
                redis::cmd("PEXPIRE")
                    .arg(self.key(key))
                    .arg(ttl.as_millis().max(1) as u64)
                    .query_async(&mut c),
            )
            .await?;
        Ok(set == 1)
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        // GT only ever extends the set's life, so one short-lived member cannot cut it short.
        self.bounded(
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
                .query_async::<()>(&mut c),
        )
        .await
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        let mut c = self.conn.clone();
        self.bounded(
            redis::cmd("SREM")
                .arg(self.key(key))
                .arg(member)
                .query_async::<()>(&mut c),
        )
        .await
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        let mut c = self.conn.clone();
        self.bounded(
            redis::cmd("SMEMBERS")
                .arg(self.key(key))
                .query_async(&mut c),
        )
        .await
    }

    pub async fn ping(&self) -> EphResult<()> {
        let mut c = self.conn.clone();
        self.bounded(redis::cmd("PING").query_async::<()>(&mut c))
            .await
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
        let store = Ephemeral::Redis(
            RedisStore::connect(&url, &prefix, Default::default()).expect("redis"),
        );
        contract::check(&store, "").await;
    }

    /// A server that accepts connections and never answers (a hung Redis, a black-holed
    /// network path): every command must still fail within the deadline, as unavailable.
    #[tokio::test]
    async fn a_silent_server_fails_within_the_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let timeouts = super::super::Timeouts {
            connect: std::time::Duration::from_millis(300),
            response: std::time::Duration::from_millis(300),
        };
        let store = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), "t:", timeouts)
            .expect("a valid URL");
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let err = store.get("k").await.expect_err("no answer");
            assert!(err.is_unavailable(), "{err}");
            assert!(
                t.elapsed() < std::time::Duration::from_millis(1500),
                "{:?}",
                t.elapsed()
            );
        }
        assert_eq!(
            store
                .stats()
                .unavailable
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
    }

    /// Nothing listening: commands fail at once, and the request's scope learns of the outage.
    #[tokio::test]
    async fn a_refused_connection_is_an_outage_of_the_request() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let store = Ephemeral::connect(&format!("redis://127.0.0.1:{port}"), "t:")
            .await
            .expect("starts although Redis is down");
        let (result, seen) = crate::scope::observe(async {
            let t = std::time::Instant::now();
            let r = store.put("k", "v", std::time::Duration::from_secs(5)).await;
            (r, t.elapsed())
        })
        .await;
        let (r, took) = result;
        assert!(r.expect_err("down").is_unavailable());
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        assert_eq!(seen.outage(), Some(crate::scope::Backend::Ephemeral));
    }
}
