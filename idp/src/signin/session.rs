//! IdP sessions: what makes single sign-on work across the union's services.
//!
//! The browser holds a random 256-bit value in a host-only cookie; the store holds the session
//! under its SHA-256 only. The `sid` put in ID and logout tokens is a separate random id, so a
//! token seen by a relying party can never be replayed as a cookie. A new value is issued at
//! every sign-in (no fixation). Sessions end after `session.idle_secs` without use, at the
//! latest after `session.absolute_secs` (or `remember_secs` when the member ticked "remember"),
//! at sign-out, or when the member or staff end them; ending one queues back-channel logout to
//! every client that received tokens in it.
//!
//! Concurrency: the session record (`sess:<hash>`) is written once, when the session starts,
//! and never rewritten, so no request can write back an older copy of it (a sign-out followed
//! by a late write cannot bring a session back either). What changes later lives beside it,
//! each change one atomic operation of the short-lived store: the clients that received tokens
//! in a set per `sid` (`SADD`), completed factors in a set per cookie hash (`amr:<value>`,
//! `mfa:<time>`), the idle timer in its own key. Every field only grows (sets) or moves forward
//! (times), so two sign-ins to two services at the same moment both land, and a second factor
//! completed in one tab is not lost to a page load in another.
//!
//! Freshness: a session records the authorization request (`auth_flow`) its primary sign-in
//! was made for, so `prompt=login` and `max_age=0` are satisfied by that sign-in only, never by
//! one that merely happened in the same second.

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
    /// When a second factor (or a passkey with user verification) was last completed. A loaded
    /// session shows it only while it still counts (see `Sessions::load`).
    pub mfa_time: Option<i64>,
    /// When a factor NIST 800-63B accepts at AAL2 (app, passkey) was last completed: what
    /// `acr=urn:kenpo:loa:2` rests on. Same rule.
    #[serde(default)]
    pub aal2_time: Option<i64>,
    /// The last time the second factor lapsed through idleness: factors completed before it
    /// no longer count.
    #[serde(default)]
    pub lapsed_at: Option<i64>,
    pub remember: bool,
    pub expires_at: i64,
    pub last_seen: i64,
    pub user_agent: String,
    pub ip: String,
    /// Clients that received tokens in this session (back-channel logout goes to them). Kept
    /// in a set of the short-lived store, filled in when the session is loaded.
    #[serde(default)]
    pub clients: Vec<String>,
    /// The authorization request this session's primary sign-in was made for, if any.
    #[serde(default)]
    pub auth_flow: Option<String>,
    /// The known browser the sign-in came from (`security::device`): the failure budget its
    /// second-factor attempts count against. None: the budget all unknown browsers share.
    #[serde(default)]
    pub browser: Option<String>,
}

impl IdpSession {
    pub fn has_mfa(&self) -> bool {
        self.mfa_time.is_some()
    }

    /// Whether the session supports `urn:kenpo:loa:2` now.
    pub fn has_aal2(&self) -> bool {
        self.aal2_time.is_some()
    }

    /// Hides second factors that no longer count: older than `max_age` (12 hours of use by
    /// default) or completed before the last lapse. The store keeps them (its fields only
    /// grow); a factor completed again counts afresh.
    pub fn forget_stale_factors(&mut self, now: i64, max_age: i64) {
        let lapsed = self.lapsed_at;
        let counts = |t: &i64| now - *t < max_age && lapsed.is_none_or(|l| *t >= l);
        self.mfa_time = self.mfa_time.filter(counts);
        self.aal2_time = self.aal2_time.filter(counts);
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
fn updates_key(hash: &str) -> String {
    format!("sessup:{hash}")
}
fn seen_key(hash: &str) -> String {
    format!("sessseen:{hash}")
}
fn clients_key(sid: &str) -> String {
    format!("sessclients:{sid}")
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
    /// The authorization request being signed in for (see `auth_flow`).
    pub flow: Option<&'a str>,
    pub browser: Option<String>,
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
            aal2_time: new.mfa.then_some(now),
            lapsed_at: None,
            remember: new.remember,
            expires_at: now + self.lifetime(new.remember),
            last_seen: now,
            user_agent: new.user_agent.to_string(),
            ip: new.ip.to_string(),
            clients: Vec::new(),
            auth_flow: new.flow.map(String::from),
            browser: new.browser,
        };
        self.write_record(&hash, &session, now).await?;
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

    /// Writes the session record: only for a session nobody holds a cookie of yet (`create`,
    /// `adopt`). Housekeeping lifetime is the absolute one; idleness is checked on load.
    async fn write_record(&self, hash: &str, s: &IdpSession, now: i64) -> EphResult<()> {
        let mut record = s.clone();
        record.clients = Vec::new();
        self.state
            .eph
            .put_json(&key(hash), &record, secs(s.expires_at - now))
            .await
    }

    /// The record with what changed since it was written: factors, the idle timer, clients.
    async fn assemble(&self, hash: &str, mut s: IdpSession) -> EphResult<IdpSession> {
        let eph = &self.state.eph;
        let mut extra_amr = Vec::new();
        for u in eph.set_members(&updates_key(hash)).await? {
            if let Some(a) = u.strip_prefix("amr:") {
                if !s.amr.iter().any(|x| x == a) {
                    extra_amr.push(a.to_string());
                }
            } else if let Some(t) = u.strip_prefix("mfa:").and_then(|t| t.parse::<i64>().ok()) {
                s.mfa_time = Some(s.mfa_time.map_or(t, |m| m.max(t)));
            } else if let Some(t) = u.strip_prefix("aal2:").and_then(|t| t.parse::<i64>().ok()) {
                s.aal2_time = Some(s.aal2_time.map_or(t, |m| m.max(t)));
            } else if let Some(t) = u.strip_prefix("lapse:").and_then(|t| t.parse::<i64>().ok()) {
                s.lapsed_at = Some(s.lapsed_at.map_or(t, |m| m.max(t)));
            }
        }
        extra_amr.sort();
        s.amr.extend(extra_amr);
        if let Some(seen) = eph
            .get(&seen_key(hash))
            .await?
            .and_then(|v| v.parse::<i64>().ok())
        {
            s.last_seen = s.last_seen.max(seen);
        }
        let mut clients = eph.set_members(&clients_key(&s.sid)).await?;
        clients.sort();
        for c in clients {
            if !s.clients.contains(&c) {
                s.clients.push(c);
            }
        }
        Ok(s)
    }

    /// The session behind a cookie value, if alive; refreshes its idle timer.
    pub async fn load(&self, cookie: &str, now: i64) -> EphResult<Option<Current>> {
        let hash = token_hash(cookie);
        let Some(s) = self.state.eph.get_json::<IdpSession>(&key(&hash)).await? else {
            return Ok(None);
        };
        let mut s = self.assemble(&hash, s).await?;
        let c = &self.state.config.session;
        if now >= s.expires_at || (!s.remember && now - s.last_seen >= c.idle_secs) {
            self.end(&s.sid, now).await?;
            return Ok(None);
        }
        // A remembered session keeps the member known, not their second factor: after
        // `mfa_idle_secs` without use it lapses (recorded, since the idle timer moves on now).
        if s.mfa_time
            .is_some_and(|t| s.lapsed_at.is_none_or(|l| t >= l))
            && now - s.last_seen >= c.mfa_idle_secs
        {
            self.state
                .eph
                .set_add(
                    &updates_key(&hash),
                    &format!("lapse:{now}"),
                    secs(s.expires_at - now),
                )
                .await?;
            s.lapsed_at = Some(now);
        }
        s.forget_stale_factors(now, c.mfa_max_age_secs);
        // Writing on every request would be wasteful; a minute's precision is enough.
        if now - s.last_seen >= 60 {
            s.last_seen = now;
            self.state
                .eph
                .put(&seen_key(&hash), &now.to_string(), secs(s.expires_at - now))
                .await?;
        }
        Ok(Some(Current { hash, session: s }))
    }

    /// Stores what a request added to a session: factors (`amr`, `mfa_time`), clients and the
    /// idle timer. A merge, never a rewrite: values already there stay, so two requests saving
    /// at once both keep their additions. Nothing is ever removed this way.
    pub async fn save(&self, current: &Current, now: i64) -> EphResult<()> {
        let eph = &self.state.eph;
        let s = &current.session;
        let ttl = secs(s.expires_at - now);
        for a in &s.amr {
            eph.set_add(&updates_key(&current.hash), &format!("amr:{a}"), ttl)
                .await?;
        }
        if let Some(t) = s.mfa_time {
            eph.set_add(&updates_key(&current.hash), &format!("mfa:{t}"), ttl)
                .await?;
        }
        if let Some(t) = s.aal2_time {
            eph.set_add(&updates_key(&current.hash), &format!("aal2:{t}"), ttl)
                .await?;
        }
        for c in &s.clients {
            eph.set_add(&clients_key(&s.sid), c, ttl).await?;
        }
        eph.put(&seen_key(&current.hash), &s.last_seen.to_string(), ttl)
            .await
    }

    /// Records that `client_id` receives tokens in this session (so it gets the back-channel
    /// logout); false when the session ended meanwhile (then no code may be issued in it). The
    /// client is added before the session is checked, and ending a session removes its `sid`
    /// before reading the clients, so a sign-out and a sign-in at the same moment cannot miss
    /// each other.
    pub async fn add_client(
        &self,
        current: &mut Current,
        client_id: &str,
        now: i64,
    ) -> EphResult<bool> {
        let s = &current.session;
        self.state
            .eph
            .set_add(&clients_key(&s.sid), client_id, secs(s.expires_at - now))
            .await?;
        let alive = self.state.eph.get(&sid_key(&s.sid)).await?.as_deref() == Some(&current.hash);
        if alive && !current.session.clients.iter().any(|c| c == client_id) {
            current.session.clients.push(client_id.to_string());
        }
        Ok(alive)
    }

    pub async fn by_sid(&self, sid: &str) -> EphResult<Option<Current>> {
        let Some(hash) = self.state.eph.get(&sid_key(sid)).await? else {
            return Ok(None);
        };
        let Some(s) = self.state.eph.get_json::<IdpSession>(&key(&hash)).await? else {
            return Ok(None);
        };
        let session = self.assemble(&hash, s).await?;
        Ok(Some(Current { hash, session }))
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
        current.session.created_at = previous.created_at;
        self.write_record(&current.hash, &current.session, now)
            .await?;
        let ttl = secs(current.session.expires_at - now);
        // The clients set stays under the sid; adding its members again stretches its life to
        // the renewed session's.
        let mut clients = eph.set_members(&clients_key(&previous.sid)).await?;
        for c in &previous.clients {
            if !clients.contains(c) {
                clients.push(c.clone());
            }
        }
        for c in &clients {
            eph.set_add(&clients_key(&previous.sid), c, ttl).await?;
        }
        clients.sort();
        current.session.clients = clients;
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

    /// Moves a session to a new cookie value (after a second factor, a step-up or an
    /// enrolment: ASVS 7.2.4); the old value stops working at once. The record is written
    /// under the new value with everything the session gathered so far.
    pub async fn renew(&self, current: &Current, now: i64) -> EphResult<(String, Current)> {
        let eph = &self.state.eph;
        let token = new_token();
        let hash = token_hash(&token);
        let session = current.session.clone();
        let ttl = secs(session.expires_at - now);
        self.write_record(&hash, &session, now).await?;
        eph.put(&seen_key(&hash), &session.last_seen.to_string(), ttl)
            .await?;
        eph.put(&sid_key(&session.sid), &hash, ttl).await?;
        eph.delete(&key(&current.hash)).await?;
        eph.delete(&updates_key(&current.hash)).await?;
        eph.delete(&seen_key(&current.hash)).await?;
        Ok((token, Current { hash, session }))
    }

    /// Ends a session: deletes it and returns it (for back-channel logout), if it existed.
    /// The `sid` goes first (see `add_client`); the clients set is left to expire, since a
    /// repeated sign-in in the same browser (`adopt`) carries it on.
    pub async fn end(&self, sid: &str, _now: i64) -> EphResult<Option<IdpSession>> {
        let eph = &self.state.eph;
        let Some(hash) = eph.take(&sid_key(sid)).await? else {
            return Ok(None);
        };
        let Some(record) = eph.take_json::<IdpSession>(&key(&hash)).await? else {
            return Ok(None);
        };
        let session = self.assemble(&hash, record).await?;
        eph.delete(&updates_key(&hash)).await?;
        eph.delete(&seen_key(&hash)).await?;
        eph.set_remove(&member_key(&session.member_id), sid).await?;
        Ok(Some(session))
    }
}
