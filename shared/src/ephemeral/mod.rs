//! Short-lived shared state of either service: sessions, authorization codes, access tokens,
//! WebAuthn and TOTP ceremony state, one-time tokens, throttle counters.
//!
//! One interface, two implementations: in-process (one replica, the embedded default) and
//! Redis (any number of replicas). One-time values are consumed with [`Ephemeral::take`], which
//! reads and deletes in one atomic step (Redis `GETDEL`), so a replayed code, ceremony response
//! or link finds nothing, even when two replicas race.
//!
//! Expiry here is housekeeping only: records that matter carry their own expiry time, checked
//! against the application clock.

//!
//! Every Redis operation is bounded (connection and response timeouts, and an overall deadline
//! that also covers waiting for a reconnection): while Redis is unreachable an operation fails
//! within about a second with an error for which [`EphemeralError::is_unavailable`] holds, and
//! notes the outage in the request's scope, so the edge answers 503 instead of hanging or 500.

mod memory;
mod redis;

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

pub use memory::MemoryStore;
pub use redis::{RedisStats, RedisStore};

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("stored value is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// No answer within the operation's deadline.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

impl EphemeralError {
    /// Whether the store could not be reached (down, unreachable, too slow), as opposed to a
    /// wrong command or a corrupt value: the request may succeed when retried later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            EphemeralError::Timeout(_) => true,
            EphemeralError::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_unrecoverable_error()
                    || matches!(
                        e.kind(),
                        ::redis::ErrorKind::Server(
                            ::redis::ServerErrorKind::BusyLoading
                                | ::redis::ServerErrorKind::TryAgain
                                | ::redis::ServerErrorKind::MasterDown
                        )
                    )
            }
            EphemeralError::Corrupt(_) => false,
        }
    }
}

/// Bounds on every Redis operation.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Opening a connection (each attempt).
    pub connect: Duration,
    /// Waiting for the answer to a command on an open connection.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_millis(1000),
            response: Duration::from_millis(1000),
        }
    }
}

impl Timeouts {
    /// The most one operation may take in all, reconnection included.
    pub fn deadline(&self) -> Duration {
        self.connect + self.response
    }
}

pub type EphResult<T> = Result<T, EphemeralError>;

#[derive(Clone)]
pub enum Ephemeral {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl std::fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ephemeral::Memory(_) => f.write_str("Ephemeral::Memory"),
            Ephemeral::Redis(_) => f.write_str("Ephemeral::Redis"),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Ephemeral::Memory($s) => $e,
            Ephemeral::Redis($s) => $e,
        }
    };
}

impl Ephemeral {
    /// `memory` or a `redis://` URL; `prefix` namespaces every key. Default timeouts.
    pub async fn connect(url: &str, prefix: &str) -> EphResult<Ephemeral> {
        Self::connect_with(url, prefix, Timeouts::default()).await
    }

    /// Like [`Ephemeral::connect`] with explicit timeouts. A Redis that is down does not stop
    /// the start: the connection is made at first use (and `/readyz` says not ready until
    /// then), so a replica restarted during an outage comes up and recovers by itself.
    pub async fn connect_with(url: &str, prefix: &str, timeouts: Timeouts) -> EphResult<Ephemeral> {
        if url == "memory" {
            Ok(Ephemeral::Memory(MemoryStore::new()))
        } else {
            let store = RedisStore::connect(url, prefix, timeouts)?;
            if let Err(e) = store.ping().await {
                tracing::warn!(error = %e, "redis is not reachable yet; starting anyway");
            }
            Ok(Ephemeral::Redis(store))
        }
    }

    /// Counters of the Redis connection (none for the in-process store).
    pub fn redis_stats(&self) -> Option<&RedisStats> {
        match self {
            Ephemeral::Memory(_) => None,
            Ephemeral::Redis(s) => Some(s.stats()),
        }
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphResult<()> {
        dispatch!(self, s => s.put(key, value, ttl).await)
    }

    /// Stores only if the key is absent; true when stored.
    pub async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        dispatch!(self, s => s.put_new(key, value, ttl).await)
    }

    pub async fn get(&self, key: &str) -> EphResult<Option<String>> {
        dispatch!(self, s => s.get(key).await)
    }

    /// Reads and deletes in one atomic step.
    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        dispatch!(self, s => s.take(key).await)
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        dispatch!(self, s => s.delete(key).await)
    }

    /// Adds `by` to a counter, creating it with `ttl` if absent; returns the new value.
    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> EphResult<i64> {
        dispatch!(self, s => s.incr(key, by, ttl).await)
    }

    /// Adds `by` to a counter and restarts its lifetime at `ttl` (a window that slides with
    /// each change, where `incr` keeps the first one's).
    pub async fn bump(&self, key: &str, by: i64, ttl: Duration) -> EphResult<i64> {
        dispatch!(self, s => s.bump(key, by, ttl).await)
    }

    /// Remaining lifetime of a key, if it exists.
    pub async fn ttl(&self, key: &str) -> EphResult<Option<Duration>> {
        dispatch!(self, s => s.ttl(key).await)
    }

    /// Gives an existing key a new lifetime in one atomic step (a key already gone, such as
    /// a flow taken meanwhile, stays gone); true when the key existed.
    pub async fn expire(&self, key: &str, ttl: Duration) -> EphResult<bool> {
        dispatch!(self, s => s.expire(key, ttl).await)
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        dispatch!(self, s => s.set_add(key, member, ttl).await)
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        dispatch!(self, s => s.set_remove(key, member).await)
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        dispatch!(self, s => s.set_members(key).await)
    }

    pub async fn ping(&self) -> EphResult<()> {
        dispatch!(self, s => s.ping().await)
    }

    pub async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> EphResult<()> {
        self.put(key, &serde_json::to_string(value)?, ttl).await
    }

    pub async fn put_new_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> EphResult<bool> {
        self.put_new(key, &serde_json::to_string(value)?, ttl).await
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> EphResult<Option<T>> {
        Ok(match self.get(key).await? {
            Some(s) => Some(serde_json::from_str(&s)?),
            None => None,
        })
    }

    pub async fn take_json<T: DeserializeOwned>(&self, key: &str) -> EphResult<Option<T>> {
        Ok(match self.take(key).await? {
            Some(s) => Some(serde_json::from_str(&s)?),
            None => None,
        })
    }
}

/// Converts a lifetime in seconds (from configuration or a record) to a store TTL of at least
/// one second.
pub fn secs(n: i64) -> Duration {
    Duration::from_secs(n.max(1) as u64)
}

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour both implementations must share; run against memory here and against
    //! Redis by the cross-service suite when `KENPO_TEST_REDIS_URL` is set.
    use super::*;

    pub async fn check(store: &Ephemeral, ns: &str) {
        let k = |s: &str| format!("{ns}{s}");
        let ttl = Duration::from_secs(30);
        store.put(&k("a"), "1", ttl).await.unwrap();
        assert_eq!(store.get(&k("a")).await.unwrap().as_deref(), Some("1"));
        assert!(!store.put_new(&k("a"), "2", ttl).await.unwrap());
        assert!(store.put_new(&k("b"), "2", ttl).await.unwrap());
        assert_eq!(store.take(&k("a")).await.unwrap().as_deref(), Some("1"));
        assert_eq!(
            store.take(&k("a")).await.unwrap(),
            None,
            "take is once only"
        );
        assert_eq!(store.incr(&k("c"), 1, ttl).await.unwrap(), 1);
        assert_eq!(store.incr(&k("c"), 2, ttl).await.unwrap(), 3);
        assert_eq!(store.incr(&k("c"), -1, ttl).await.unwrap(), 2);
        assert!(store.ttl(&k("c")).await.unwrap().is_some());
        assert!(store.ttl(&k("none")).await.unwrap().is_none());
        // `incr` keeps the first lifetime, `bump` restarts it.
        let short = Duration::from_secs(5);
        store.incr(&k("w"), 1, short).await.unwrap();
        store.incr(&k("w"), 1, ttl).await.unwrap();
        assert!(store.ttl(&k("w")).await.unwrap().unwrap() <= short);
        assert_eq!(store.bump(&k("w"), 1, ttl).await.unwrap(), 3);
        assert!(store.ttl(&k("w")).await.unwrap().unwrap() > short);
        store.set_add(&k("s"), "x", ttl).await.unwrap();
        store.set_add(&k("s"), "y", ttl).await.unwrap();
        store.set_remove(&k("s"), "x").await.unwrap();
        assert_eq!(
            store.set_members(&k("s")).await.unwrap(),
            vec!["y".to_string()]
        );
        store.delete(&k("b")).await.unwrap();
        assert_eq!(store.get(&k("b")).await.unwrap(), None);
        store
            .put(&k("short"), "v", Duration::from_secs(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            store.get(&k("short")).await.unwrap(),
            None,
            "expired values are gone"
        );

        // Concurrent takes of one value: exactly one wins.
        store.put(&k("once"), "v", ttl).await.unwrap();
        let mut handles = Vec::new();
        for _ in 0..16 {
            let s = store.clone();
            let key = k("once");
            handles.push(tokio::spawn(async move {
                s.take(&key).await.unwrap().is_some()
            }));
        }
        let mut wins = 0;
        for h in handles {
            if h.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
    }

    #[tokio::test]
    async fn memory_store_keeps_the_contract() {
        check(&Ephemeral::Memory(MemoryStore::new()), "t:").await;
    }
}
