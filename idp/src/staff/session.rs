//! Staff console sessions: a random 256-bit value in a cookie of their own (`kenpo_staff`,
//! never the members' `kenpo_session`), kept in the short-lived store under its SHA-256, ending
//! after `staff.idle_secs` without use and at the latest `staff.absolute_secs` after sign-in,
//! at sign-out, or when an administrator disables the account (all its sessions end).
//!
//! A member's cookie is never read here and this cookie is never read by member pages, so
//! neither kind of session can stand in for the other.

use super::{Role, StaffUser};
use crate::error::{PageError, PageResultExt};
use crate::security::tokens::{new_id, new_token, token_hash};
use crate::state::AppState;
use crate::store::ephemeral::{EphResult, secs};
use crate::store::staff::{StaffRow, StaffStore};
use axum::http::{HeaderMap, HeaderValue};
use kenpo_shared::Lang;
use serde::{Deserialize, Serialize};

pub const COOKIE: &str = "kenpo_staff";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffSession {
    pub sid: String,
    pub staff_id: String,
    pub created_at: i64,
    pub last_seen: i64,
    /// `passkey`, or `link` for the demo's one-time sign-in link.
    pub method: String,
    pub ip: String,
    pub user_agent: String,
}

#[derive(Debug, Clone)]
pub struct Current {
    pub hash: String,
    pub session: StaffSession,
}

fn key(hash: &str) -> String {
    format!("staffsess:{hash}")
}
fn account_key(staff_id: &str) -> String {
    format!("staffsess:acct:{staff_id}")
}

/// Starts a session after a passkey (or demo link) sign-in; returns the `Set-Cookie` value.
pub async fn create(
    state: &AppState,
    staff: &StaffRow,
    method: &str,
    ip: &str,
    user_agent: &str,
    now: i64,
) -> EphResult<(HeaderValue, StaffSession)> {
    let token = new_token();
    let hash = token_hash(&token);
    let s = StaffSession {
        sid: new_id(),
        staff_id: staff.id.clone(),
        created_at: now,
        last_seen: now,
        method: method.to_string(),
        ip: ip.to_string(),
        user_agent: user_agent.chars().take(300).collect(),
    };
    let cfg = &state.config.staff;
    state
        .eph
        .put_json(&key(&hash), &s, secs(cfg.idle_secs.min(cfg.absolute_secs)))
        .await?;
    state
        .eph
        .set_add(&account_key(&staff.id), &hash, secs(cfg.absolute_secs))
        .await?;
    Ok((state.cookies.set(COOKIE, &token, None), s))
}

/// The session of this request's staff cookie, if alive (its idle timer renewed).
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
    now: i64,
) -> EphResult<Option<Current>> {
    let Some(token) = crate::security::request::cookie(headers, &state.cookies.name(COOKIE))
        .filter(|t| t.len() == 43)
    else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let Some(mut s) = state.eph.get_json::<StaffSession>(&key(&hash)).await? else {
        return Ok(None);
    };
    let cfg = &state.config.staff;
    if now - s.created_at >= cfg.absolute_secs || now - s.last_seen >= cfg.idle_secs {
        end(state, &hash).await?;
        return Ok(None);
    }
    if now - s.last_seen >= 30 {
        s.last_seen = now;
        let left = cfg.absolute_secs - (now - s.created_at);
        state
            .eph
            .put_json(&key(&hash), &s, secs(cfg.idle_secs.min(left)))
            .await?;
    }
    Ok(Some(Current { hash, session: s }))
}

/// The signed-in staff member: a live session of an enabled account with a known role.
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    now: i64,
) -> Result<Option<StaffUser>, PageError> {
    let lang = Lang::Ja;
    let Some(current) = current(state, headers, now).await.page(lang)? else {
        return Ok(None);
    };
    let account = StaffStore::new(state.db.clone())
        .by_id(&current.session.staff_id)
        .await
        .page(lang)?;
    match account {
        Some(account) if account.disabled_at.is_none() => {
            let Some(role) = Role::parse(&account.role) else {
                return Ok(None);
            };
            Ok(Some(StaffUser {
                account,
                role,
                session: current,
            }))
        }
        _ => {
            end(state, &current.hash).await.page(lang)?;
            Ok(None)
        }
    }
}

pub async fn end(state: &AppState, hash: &str) -> EphResult<()> {
    if let Some(s) = state.eph.take_json::<StaffSession>(&key(hash)).await? {
        state
            .eph
            .set_remove(&account_key(&s.staff_id), hash)
            .await?;
    }
    Ok(())
}

/// Ends every session of an account (disabled, passkeys reset); returns how many.
pub async fn end_all(state: &AppState, staff_id: &str) -> EphResult<usize> {
    let hashes = state.eph.set_members(&account_key(staff_id)).await?;
    for h in &hashes {
        end(state, h).await?;
    }
    state.eph.delete(&account_key(staff_id)).await?;
    Ok(hashes.len())
}
