//! Portal sessions, kept in the shared short-lived store so that every replica sees them and a
//! back-channel logout received by one replica ends them on all.
//!
//! States: created at the callback → active while used within `session.idle_secs` and
//! `session.absolute_secs` of sign-in → ended by sign-out, back-channel logout (by `sid`, or
//! `sub` when the token has no `sid`), expiry, or a failed revalidation with the IdP.
//!
//! Threats: a stolen store dump gives no usable cookie (records are keyed by the SHA-256 of the
//! cookie value); a back-channel logout that arrives before the sign-in it ends has finished is
//! remembered (`ended:sid`) so the late session is refused; two replicas revalidating one
//! session at once would present the same refresh token twice and make the IdP revoke the
//! family, so one takes a short lock and the other carries on with the current state.
//!
//! Writes: the session record is written at sign-in and, after that, only by the holder of the
//! revalidation lock, and only if it still holds the refresh token that holder presented (a
//! compare before the set, under the lock; the lock is kept until the record is written). The
//! idle timer is a key of its own (`seen:<id>`), so a request that merely renews it can never
//! write back an older refresh token.

use kenpo_shared::ephemeral::{EphResult, Ephemeral, secs};
use kenpo_shared::ids::{MemberKey, MemberNumber, MemberSymbol};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortalSession {
    pub sub: String,
    pub sid: Option<String>,
    pub symbol: String,
    pub number: String,
    pub name: String,
    /// The latest ID token: the `id_token_hint` of RP-initiated logout.
    pub id_token: String,
    pub refresh_token: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// When the IdP last confirmed the session (sign-in or refresh).
    pub checked_at: i64,
    /// The household's previous sign-in, for "new since your last visit".
    pub previous_visit: Option<i64>,
    /// The token of this session's forms (sign-out).
    pub csrf: String,
}

impl PortalSession {
    /// The household, as the verified ID token named it.
    pub fn key(&self) -> Option<MemberKey> {
        Some(MemberKey {
            symbol: MemberSymbol::parse(&self.symbol).ok()?,
            number: MemberNumber::parse(&self.number).ok()?,
        })
    }
}

/// Lifetimes of sessions (from configuration).
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle_secs: i64,
    pub absolute_secs: i64,
    pub revalidate_secs: i64,
}

/// A fresh random value for cookies, `state`, `nonce`, CSRF tokens.
pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
}

/// The store key of a cookie value.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Keeps writes down: the idle timer is renewed at most this often.
const TOUCH_EVERY: i64 = 60;
/// A revalidation lock outlives one refresh request.
const REVALIDATE_LOCK: Duration = Duration::from_secs(30);

/// The outcome of asking to revalidate a session.
#[derive(Debug)]
pub enum Claim {
    /// Not due, or another request holds the lock: carry on with the session as loaded.
    NotDue,
    /// The lock is ours; the record as it is now.
    Claimed(Box<PortalSession>),
    /// Another request revalidated meanwhile: the newer record.
    Newer(Box<PortalSession>),
    /// The session ended meanwhile.
    Gone,
}

#[derive(Clone, Debug)]
pub struct Sessions {
    eph: Ephemeral,
    life: Lifetimes,
}

fn session_key(id: &str) -> String {
    format!("session:{id}")
}
fn sid_key(sid: &str) -> String {
    format!("sid:{sid}")
}
fn sub_key(sub: &str) -> String {
    format!("sub:{sub}")
}
fn ended_key(sid: &str) -> String {
    format!("ended:{sid}")
}
fn seen_key(id: &str) -> String {
    format!("seen:{id}")
}
fn lock_key(id: &str) -> String {
    format!("revalidating:{id}")
}

impl Sessions {
    pub fn new(eph: Ephemeral, life: Lifetimes) -> Self {
        Self { eph, life }
    }

    pub fn lifetimes(&self) -> Lifetimes {
        self.life
    }

    /// Stores a new session; returns the cookie value, or `None` when the IdP already ended
    /// the session it belongs to.
    pub async fn create(&self, s: &PortalSession) -> EphResult<Option<String>> {
        if let Some(sid) = &s.sid
            && self.eph.get(&ended_key(sid)).await?.is_some()
        {
            return Ok(None);
        }
        let token = random_token();
        let id = digest(&token);
        // Housekeeping lifetime is the absolute one: idleness is checked on load (`seen:`).
        let ttl = secs(self.life.absolute_secs);
        self.eph.put_json(&session_key(&id), s, ttl).await?;
        let index_ttl = secs(self.life.absolute_secs);
        if let Some(sid) = &s.sid {
            self.eph.set_add(&sid_key(sid), &id, index_ttl).await?;
        }
        self.eph.set_add(&sub_key(&s.sub), &id, index_ttl).await?;
        Ok(Some(token))
    }

    /// The session of a cookie value if it is still valid at `now`.
    pub async fn load(&self, token: &str, now: i64) -> EphResult<Option<(String, PortalSession)>> {
        let id = digest(token);
        let Some(s) = self.read(&id).await? else {
            return Ok(None);
        };
        if now - s.last_seen_at > self.life.idle_secs
            || now - s.created_at > self.life.absolute_secs
        {
            self.end(&id).await?;
            return Ok(None);
        }
        Ok(Some((id, s)))
    }

    /// The stored record with its idle timer.
    async fn read(&self, id: &str) -> EphResult<Option<PortalSession>> {
        let Some(mut s) = self.eph.get_json::<PortalSession>(&session_key(id)).await? else {
            return Ok(None);
        };
        if let Some(seen) = self
            .eph
            .get(&seen_key(id))
            .await?
            .and_then(|v| v.parse::<i64>().ok())
        {
            s.last_seen_at = s.last_seen_at.max(seen);
        }
        Ok(Some(s))
    }

    /// Renews the idle timer (when due). Only the timer's own key is written: the record, and
    /// the refresh token in it, are left as they are.
    pub async fn touch(&self, id: &str, s: &mut PortalSession, now: i64) -> EphResult<()> {
        if now - s.last_seen_at >= TOUCH_EVERY {
            s.last_seen_at = now;
            let remaining = self.life.absolute_secs - (now - s.created_at);
            self.eph
                .put(&seen_key(id), &now.to_string(), secs(remaining))
                .await?;
        }
        Ok(())
    }

    /// Stores what a revalidation learnt, if the record still holds `presented` (the refresh
    /// token the revalidation used): a compare-and-set under the revalidation lock, so an older
    /// refresh token is never written over a newer one. False when the record changed (or is
    /// gone) and nothing was written.
    pub async fn renew(
        &self,
        id: &str,
        presented: Option<&str>,
        renewed: &PortalSession,
        now: i64,
    ) -> EphResult<bool> {
        match self.read(id).await? {
            Some(current) if current.refresh_token.as_deref() == presented => {
                let remaining = self.life.absolute_secs - (now - renewed.created_at);
                self.eph
                    .put_json(&session_key(id), renewed, secs(remaining))
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether this request should revalidate with the IdP. If so, takes the lock and returns
    /// the record as it is now (another request may have revalidated since `s` was read: then
    /// no revalidation is due any more, and `Some` carries the newer record with `false`).
    pub async fn claim_revalidation(
        &self,
        id: &str,
        s: &PortalSession,
        now: i64,
    ) -> EphResult<Claim> {
        let due = |s: &PortalSession| {
            now - s.checked_at >= self.life.revalidate_secs && s.refresh_token.is_some()
        };
        if !due(s)
            || !self
                .eph
                .put_new(&lock_key(id), "1", REVALIDATE_LOCK)
                .await?
        {
            return Ok(Claim::NotDue);
        }
        match self.read(id).await? {
            Some(fresh) if due(&fresh) => Ok(Claim::Claimed(Box::new(fresh))),
            Some(fresh) => {
                self.release_revalidation(id).await?;
                Ok(Claim::Newer(Box::new(fresh)))
            }
            None => {
                self.release_revalidation(id).await?;
                Ok(Claim::Gone)
            }
        }
    }

    pub async fn release_revalidation(&self, id: &str) -> EphResult<()> {
        self.eph.delete(&lock_key(id)).await
    }

    /// Ends one session (by its stored id).
    pub async fn end(&self, id: &str) -> EphResult<()> {
        self.eph.delete(&seen_key(id)).await?;
        if let Some(s) = self
            .eph
            .take_json::<PortalSession>(&session_key(id))
            .await?
        {
            if let Some(sid) = &s.sid {
                self.eph.set_remove(&sid_key(sid), id).await?;
            }
            self.eph.set_remove(&sub_key(&s.sub), id).await?;
        }
        Ok(())
    }

    /// Ends every session of an IdP session (`sid`), and remembers that it ended so a sign-in
    /// still in flight cannot create one afterwards. Returns how many were ended.
    pub async fn end_sid(&self, sid: &str) -> EphResult<usize> {
        self.eph
            .put(&ended_key(sid), "1", secs(self.life.absolute_secs))
            .await?;
        self.end_all(&sid_key(sid)).await
    }

    /// Ends every session of a member (`sub`), for logout tokens without `sid`.
    pub async fn end_sub(&self, sub: &str) -> EphResult<usize> {
        self.end_all(&sub_key(sub)).await
    }

    async fn end_all(&self, index: &str) -> EphResult<usize> {
        let ids = self.eph.set_members(index).await?;
        let n = ids.len();
        for id in ids {
            self.end(&id).await?;
        }
        self.eph.delete(index).await?;
        Ok(n)
    }

    /// Remembers a logout token's `jti` until it expires; false when it was seen before.
    pub async fn first_use_of_logout_token(&self, jti: &str, ttl_secs: i64) -> EphResult<bool> {
        self.eph
            .put_new(&format!("logout-jti:{}", digest(jti)), "1", secs(ttl_secs))
            .await
    }
}
