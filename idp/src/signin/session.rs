//! IdP sessions: what makes single sign-on work across the union's services.
//!
//! The browser holds a random 256-bit value in a host-only cookie; the store holds the session
//! under its SHA-256 only. The `sid` put in ID and logout tokens is a separate random id, so a
//! token seen by a relying party can never be replayed as a cookie. A new value is issued at
//! every sign-in (no fixation). Sessions end after `session.idle_secs` without use, at the
//! latest after `session.absolute_secs` (or `remember_secs` when the member ticked "remember"),
//! at sign-out, or when the member or staff end them; ending one queues back-channel logout to
//! every client that received tokens in it.

use crate::security::tokens::{new_id, new_token, token_hash};
use crate::state::AppState;
use crate::store::ephemeral::{EphResult, secs};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpSession {
    pub sid: String,
    pub member_id: String,
    pub created_at: i64,
    /// Time of the last primary authentication (password or passkey).
    pub auth_time: i64,
    /// Methods completed (RFC 8176 values).
    pub amr: Vec<String>,
    /// When a second factor (or a passkey with user verification) was last completed.
    pub mfa_time: Option<i64>,
    pub remember: bool,
    pub expires_at: i64,
    pub last_seen: i64,
    pub user_agent: String,
    pub ip: String,
    /// Clients that received tokens in this session (back-channel logout goes to them).
    pub clients: Vec<String>,
}

impl IdpSession {
    pub fn has_mfa(&self) -> bool {
        self.mfa_time.is_some()
    }
}

fn key(hash: &str) -> String {
    format!("sess:{hash}")
}
fn sid_key(sid: &str) -> String {
    format!("sid:{sid}")
}
fn member_key(member_id: &str) -> String {
    format!("msess:{member_id}")
}

/// What a new session starts with.
pub struct NewSession<'a> {
    pub member_id: &'a str,
    /// Methods used (RFC 8176).
    pub amr: Vec<String>,
    /// Whether they already amount to two factors (a passkey with user verification).
    pub mfa: bool,
    pub remember: bool,
    pub user_agent: &'a str,
    pub ip: &'a str,
}

/// A loaded session with the hash of the cookie that found it.
#[derive(Debug, Clone)]
pub struct Current {
    pub hash: String,
    pub session: IdpSession,
}

pub struct Sessions<'a> {
    state: &'a AppState,
}

impl<'a> Sessions<'a> {
    pub fn new(state: &'a AppState) -> Self {
        Self { state }
    }

    fn lifetime(&self, remember: bool) -> i64 {
        let c = &self.state.config.session;
        if remember {
            c.remember_secs
        } else {
            c.absolute_secs
        }
    }

    /// Starts a session after a primary authentication; returns the cookie value.
    pub async fn create(&self, new: NewSession<'_>, now: i64) -> EphResult<(String, IdpSession)> {
        let token = new_token();
        let hash = token_hash(&token);
        let member_id = new.member_id;
        let session = IdpSession {
            sid: new_id(),
            member_id: member_id.to_string(),
            created_at: now,
            auth_time: now,
            amr: new.amr,
            mfa_time: new.mfa.then_some(now),
            remember: new.remember,
            expires_at: now + self.lifetime(new.remember),
            last_seen: now,
            user_agent: new.user_agent.to_string(),
            ip: new.ip.to_string(),
            clients: Vec::new(),
        };
        self.store(&hash, &session, now).await?;
        let eph = &self.state.eph;
        eph.put(
            &sid_key(&session.sid),
            &hash,
            secs(session.expires_at - now),
        )
        .await?;
        eph.set_add(
            &member_key(member_id),
            &session.sid,
            secs(session.expires_at - now),
        )
        .await?;
        Ok((token, session))
    }

    async fn store(&self, hash: &str, s: &IdpSession, now: i64) -> EphResult<()> {
        let ttl = (s.expires_at - now).min(if s.remember {
            s.expires_at - now
        } else {
            self.state.config.session.idle_secs
        });
        self.state.eph.put_json(&key(hash), s, secs(ttl)).await
    }

    /// The session behind a cookie value, if alive; refreshes its idle timer.
    pub async fn load(&self, cookie: &str, now: i64) -> EphResult<Option<Current>> {
        let hash = token_hash(cookie);
        let Some(mut s) = self.state.eph.get_json::<IdpSession>(&key(&hash)).await? else {
            return Ok(None);
        };
        let idle = self.state.config.session.idle_secs;
        if now >= s.expires_at || (!s.remember && now - s.last_seen >= idle) {
            self.end(&s.sid, now).await?;
            return Ok(None);
        }
        // Writing on every request would be wasteful; a minute's precision is enough.
        if now - s.last_seen >= 60 {
            s.last_seen = now;
            self.store(&hash, &s, now).await?;
        }
        Ok(Some(Current { hash, session: s }))
    }

    pub async fn save(&self, current: &Current, now: i64) -> EphResult<()> {
        self.store(&current.hash, &current.session, now).await
    }

    pub async fn by_sid(&self, sid: &str) -> EphResult<Option<Current>> {
        let Some(hash) = self.state.eph.get(&sid_key(sid)).await? else {
            return Ok(None);
        };
        Ok(self
            .state
            .eph
            .get_json::<IdpSession>(&key(&hash))
            .await?
            .map(|session| Current { hash, session }))
    }

    /// A member's live sessions (account page).
    pub async fn for_member(&self, member_id: &str, now: i64) -> EphResult<Vec<IdpSession>> {
        let mut out = Vec::new();
        for sid in self.state.eph.set_members(&member_key(member_id)).await? {
            match self.by_sid(&sid).await? {
                Some(c) if c.session.expires_at > now => out.push(c.session),
                _ => {
                    self.state
                        .eph
                        .set_remove(&member_key(member_id), &sid)
                        .await?;
                }
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
        Ok(out)
    }

    /// Gives a freshly created session the `sid`, clients and start time of the member's
    /// previous session in this browser (a repeated sign-in renews the cookie, not the sid).
    pub async fn adopt(
        &self,
        mut current: Current,
        previous: &IdpSession,
        now: i64,
    ) -> EphResult<Current> {
        let eph = &self.state.eph;
        eph.delete(&sid_key(&current.session.sid)).await?;
        eph.set_remove(
            &member_key(&current.session.member_id),
            &current.session.sid,
        )
        .await?;
        current.session.sid = previous.sid.clone();
        current.session.clients = previous.clients.clone();
        current.session.created_at = previous.created_at;
        self.store(&current.hash, &current.session, now).await?;
        let ttl = secs(current.session.expires_at - now);
        eph.put(&sid_key(&current.session.sid), &current.hash, ttl)
            .await?;
        eph.set_add(
            &member_key(&current.session.member_id),
            &current.session.sid,
            ttl,
        )
        .await?;
        Ok(current)
    }

    /// Ends a session: deletes it and returns it (for back-channel logout), if it existed.
    pub async fn end(&self, sid: &str, _now: i64) -> EphResult<Option<IdpSession>> {
        let Some(hash) = self.state.eph.take(&sid_key(sid)).await? else {
            return Ok(None);
        };
        let session = self.state.eph.take_json::<IdpSession>(&key(&hash)).await?;
        if let Some(s) = &session {
            self.state
                .eph
                .set_remove(&member_key(&s.member_id), sid)
                .await?;
        }
        Ok(session)
    }
}
