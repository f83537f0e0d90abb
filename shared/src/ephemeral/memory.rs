//! In-process implementation of the ephemeral store, for a single replica.

use super::EphResult;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
enum Value {
    Str(String),
    Int(i64),
    Set(HashSet<String>),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires: Instant,
}

#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        let store = MemoryStore::default();
        // Sweep expired entries now and then so memory stays bounded.
        let weak = Arc::downgrade(&store.inner);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(30));
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else { break };
                    let now = Instant::now();
                    inner
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .retain(|_, e| e.expires > now);
                }
            });
        }
        store
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live entry under `key`, dropping it if expired.
    fn live<'a>(map: &'a mut HashMap<String, Entry>, key: &str) -> Option<&'a mut Entry> {
        let now = Instant::now();
        if map.get(key).is_some_and(|e| e.expires <= now) {
            map.remove(key);
        }
        map.get_mut(key)
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphResult<()> {
        self.map().insert(
            key.into(),
            Entry {
                value: Value::Str(value.into()),
                expires: Instant::now() + ttl,
            },
        );
        Ok(())
    }

    pub async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        let mut map = self.map();
        if Self::live(&mut map, key).is_some() {
            return Ok(false);
        }
        map.insert(
            key.into(),
            Entry {
                value: Value::Str(value.into()),
                expires: Instant::now() + ttl,
            },
        );
        Ok(true)
    }

    pub async fn get(&self, key: &str) -> EphResult<Option<String>> {
        let mut map = self.map();
        Ok(Self::live(&mut map, key).and_then(|e| match &e.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Set(_) => None,
        }))
    }

    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        let mut map = self.map();
        if Self::live(&mut map, key).is_none() {
            return Ok(None);
        }
        Ok(map.remove(key).and_then(|e| match e.value {
            Value::Str(s) => Some(s),
            Value::Int(i) => Some(i.to_string()),
            Value::Set(_) => None,
        }))
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        self.map().remove(key);
        Ok(())
    }

    pub async fn incr(&self, key: &str, by: i64, ttl: Duration) -> EphResult<i64> {
        let mut map = self.map();
        if let Some(e) = Self::live(&mut map, key) {
            let current = match &e.value {
                Value::Int(i) => *i,
                Value::Str(s) => s.parse().unwrap_or(0),
                Value::Set(_) => 0,
            };
            e.value = Value::Int(current + by);
            return Ok(current + by);
        }
        map.insert(
            key.into(),
            Entry {
                value: Value::Int(by),
                expires: Instant::now() + ttl,
            },
        );
        Ok(by)
    }

    pub async fn bump(&self, key: &str, by: i64, ttl: Duration) -> EphResult<i64> {
        let value = self.incr(key, by, ttl).await?;
        if let Some(e) = Self::live(&mut self.map(), key) {
            e.expires = Instant::now() + ttl;
        }
        Ok(value)
    }

    pub async fn ttl(&self, key: &str) -> EphResult<Option<Duration>> {
        let mut map = self.map();
        Ok(Self::live(&mut map, key).map(|e| e.expires.saturating_duration_since(Instant::now())))
    }

    pub async fn expire(&self, key: &str, ttl: Duration) -> EphResult<bool> {
        let mut map = self.map();
        Ok(match Self::live(&mut map, key) {
            Some(e) => {
                e.expires = Instant::now() + ttl;
                true
            }
            None => false,
        })
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        let mut map = self.map();
        let expires = Instant::now() + ttl;
        match Self::live(&mut map, key) {
            Some(Entry {
                value: Value::Set(set),
                expires: e,
            }) => {
                set.insert(member.into());
                *e = (*e).max(expires);
            }
            _ => {
                map.insert(
                    key.into(),
                    Entry {
                        value: Value::Set(HashSet::from([member.to_string()])),
                        expires,
                    },
                );
            }
        }
        Ok(())
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        let mut map = self.map();
        if let Some(Entry {
            value: Value::Set(set),
            ..
        }) = Self::live(&mut map, key)
        {
            set.remove(member);
        }
        Ok(())
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        let mut map = self.map();
        Ok(match Self::live(&mut map, key) {
            Some(Entry {
                value: Value::Set(set),
                ..
            }) => set.iter().cloned().collect(),
            _ => Vec::new(),
        })
    }

    pub async fn ping(&self) -> EphResult<()> {
        Ok(())
    }
}
