//! Known browsers: OWASP's device-cookie scheme against lockout by strangers (design note:
//! docs/designs/softlock.md).
//!
//! When a member completes a sign-in, the browser gets a device token: a random id and an
//! HMAC binding it to the member's user ID, under a key derived from the secret box (the
//! database does not hold it). The store keeps the SHA-256 of the id with the member and an
//! expiry, so staff can revoke a member's browsers and a stolen database gives no cookie away.
//! A later attempt from that browser is counted against the browser's own failure budget
//! (`security::throttle::Budget`), so a stranger failing on purpose from elsewhere can exhaust
//! only the budget every unknown browser shares.
//!
//! One cookie holds the tokens of up to three members (a family computer); each entry is
//! `<id>.<tag>` and entries are joined by `~`.

use crate::security::request::Requester;
use crate::security::tokens::{b64url, new_token, same, token_hash};
use crate::state::AppState;
use crate::store::StoreResult;
use crate::store::audit::{Actor, OrLog};
use crate::store::known_browsers::KnownBrowsers;
use crate::store::members::Member;
use axum::http::HeaderValue;
use ring::hmac;
use serde_json::json;

pub use crate::security::cookies::DEVICE as COOKIE;
const MAX_ENTRIES: usize = 3;
/// An entry is two base64url parts and a dot; anything longer is not ours.
const MAX_ENTRY_LEN: usize = 80;

fn key(state: &AppState) -> hmac::Key {
    hmac::Key::new(
        hmac::HMAC_SHA256,
        &state.sbox.derive("kenpo device token v1"),
    )
}

fn tag(key: &hmac::Key, account: &str, id: &str) -> String {
    let t = hmac::sign(key, format!("{account}:{id}").as_bytes());
    b64url(&t.as_ref()[..16])
}

/// The entries of a device cookie, at most `MAX_ENTRIES`, each split into id and tag.
fn entries(cookie: Option<&str>) -> Vec<(&str, &str)> {
    cookie
        .unwrap_or("")
        .split('~')
        .filter(|e| e.len() <= MAX_ENTRY_LEN)
        .filter_map(|e| e.split_once('.'))
        .filter(|(id, t)| !id.is_empty() && !t.is_empty())
        .take(MAX_ENTRIES)
        .collect()
}

/// The entry of this browser's cookie that is genuine for `account`, if any (no store read).
fn entry_for<'a>(state: &AppState, cookie: Option<&'a str>, account: &str) -> Option<&'a str> {
    let key = key(state);
    entries(cookie)
        .into_iter()
        .find(|(id, t)| same(tag(&key, account, id).as_bytes(), t.as_bytes()))
        .map(|(id, _)| id)
}

/// The known-browser id (as stored) under which this browser's attempts for `member` count,
/// or None for "an unknown browser".
pub async fn recognise(
    state: &AppState,
    requester: &Requester,
    member: &Member,
    now: i64,
) -> StoreResult<Option<String>> {
    let Some(id) = entry_for(state, requester.device.as_deref(), &member.user_id_key) else {
        return Ok(None);
    };
    let stored = token_hash(id);
    let known = KnownBrowsers::new(state.db.clone())
        .check(&stored, &member.id, now)
        .await?;
    Ok(known.then_some(stored))
}

/// The user ID to show on the login page of a browser whose last member ticked "remember
/// me" there (the first entry is the last one signed in). The id itself is the secret: 256
/// random bits, looked up by its hash.
pub async fn remembered_user(
    state: &AppState,
    requester: &Requester,
    now: i64,
) -> StoreResult<Option<String>> {
    let Some((id, _)) = entries(requester.device.as_deref()).into_iter().next() else {
        return Ok(None);
    };
    let store = KnownBrowsers::new(state.db.clone());
    let Some(member_id) = store.remembered_member(&token_hash(id), now).await? else {
        return Ok(None);
    };
    let member = state.members().by_id(&member_id).await?;
    // Only a genuine entry of that member's: a copied id with another tag shows nothing.
    Ok(member
        .filter(|m| entry_for(state, requester.device.as_deref(), &m.user_id_key) == Some(id))
        .map(|m| m.user_id))
}

/// After a completed sign-in: makes this browser known for the member (or keeps it known for
/// another `known_browser_days`); `remembered`: they ticked "remember me". Returns the cookie
/// to set.
pub async fn remember(
    state: &AppState,
    requester: &Requester,
    member: &Member,
    remembered: bool,
    now: i64,
) -> StoreResult<HeaderValue> {
    let days = state.config.throttle.known_browser_days;
    let store = KnownBrowsers::new(state.db.clone());
    let cookie = requester.device.as_deref();
    let mine = entry_for(state, cookie, &member.user_id_key);
    let id = match mine {
        Some(id)
            if store
                .extend(&token_hash(id), &member.id, now + days * 86_400, remembered)
                .await? =>
        {
            id.to_string()
        }
        _ => {
            let id = new_token();
            store
                .add(
                    &token_hash(&id),
                    &member.id,
                    now,
                    now + days * 86_400,
                    remembered,
                )
                .await?;
            state
                .audit()
                .record(
                    Some(&member.id),
                    Actor::Member,
                    "device.remembered",
                    json!({"browser": crate::security::request::device_label(&requester.user_agent)}),
                    Some(&requester.ip.to_string()),
                    now,
                )
                .await
                .or_log("device.remembered");
            id
        }
    };
    let own = format!("{id}.{}", tag(&key(state), &member.user_id_key, &id));
    // This member's entry first, then the other members' of this browser (entries not
    // checked here: they are checked against their own accounts when used).
    let mut value = vec![own];
    value.extend(
        entries(cookie)
            .into_iter()
            .filter(|(e, _)| Some(*e) != mine)
            .take(MAX_ENTRIES - 1)
            .map(|(i, t)| format!("{i}.{t}")),
    );
    Ok(state
        .cookies
        .set(COOKIE, &value.join("~"), Some(days * 86_400)))
}

/// Forgets every browser of a member (staff reset the factors; the member was disabled).
pub async fn revoke_all(
    state: &AppState,
    member: &Member,
    ip: Option<&str>,
    now: i64,
) -> StoreResult<usize> {
    let n = KnownBrowsers::new(state.db.clone())
        .revoke_all(&member.id)
        .await?;
    if n > 0 {
        state
            .audit()
            .record(
                Some(&member.id),
                Actor::System,
                "device.revoked",
                json!({"browsers": n}),
                ip,
                now,
            )
            .await
            .or_log("device.revoked");
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_bounded_and_well_formed() {
        assert!(entries(None).is_empty());
        assert!(entries(Some("")).is_empty());
        assert_eq!(entries(Some("a.b~c.d")), vec![("a", "b"), ("c", "d")]);
        assert_eq!(entries(Some("nodot~.x~y.~a.b")), vec![("a", "b")]);
        assert_eq!(entries(Some("a.b~c.d~e.f~g.h")).len(), MAX_ENTRIES);
        let long = format!("{}.x", "a".repeat(MAX_ENTRY_LEN));
        assert!(entries(Some(&long)).is_empty());
    }

    #[test]
    fn a_tag_binds_the_id_to_the_account() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]);
        let t = tag(&key, "taro", "id1");
        assert_eq!(t, tag(&key, "taro", "id1"));
        assert_ne!(t, tag(&key, "hanako", "id1"));
        assert_ne!(t, tag(&key, "taro", "id2"));
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8u8; 32]);
        assert_ne!(t, tag(&other, "taro", "id1"));
    }
}
