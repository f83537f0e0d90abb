//! One-time passwords by email: six random digits mailed to the member's verified address,
//! for signing in (and re-confirming before account changes), for turning the factor on, and
//! for confirming a new address.
//!
//! States, per member and purpose, in the short-lived store: no code → a code is out (its
//! HMAC, its expiry, the address it went to, an attempt counter) → accepted (taken, gone), or
//! expired, or dead after `mfa.email_otp_max_attempts` wrong tries. Issuing a code replaces
//! the previous one of that purpose. Per member and purpose a cooldown
//! (`mfa.email_otp_resend_secs`, lifted once a code is accepted), and per member an hourly cap
//! across purposes (`mfa.email_otp_per_hour`), bound how often mail is sent. All times come
//! from the application clock.
//!
//! Threats:
//! - guessing: 5 tries per code (counted atomically before the comparison, so parallel
//!   guesses cannot exceed it), on top of the account's brute-force budget the pages draw on;
//! - replay and double use: an accepted code is claimed with a put-if-absent marker and
//!   removed; of two simultaneous correct submissions exactly one succeeds;
//! - theft of the store: only an HMAC of the code is kept, under a key derived from the
//!   configured secret keys, so a dump of Redis does not reveal live codes;
//! - mail flooding (of the member, or of our reputation): cooldown and hourly cap;
//! - a code for one purpose used for another: the purpose is part of the key and the HMAC.

use crate::mail::{Mail, MailKind};
use crate::security::tokens::{new_id, same};
use crate::state::AppState;
use crate::store::ephemeral::{EphResult, secs};
use kenpo_shared::Lang;
use rand::Rng;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The second factor of a sign-in, or a re-confirmation before an account change.
    SignIn,
    /// Turning email OTP on (proves the mailbox works).
    Enrol,
    /// Confirming a new address before it replaces the old one.
    NewAddress,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "signin",
            Purpose::Enrol => "enrol",
            Purpose::NewAddress => "address",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    mac: String,
    expires_at: i64,
    address: String,
}

/// The outcome of asking for a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// Mailed; valid until `expires_at`.
    Sent { expires_at: i64 },
    /// Not now: the cooldown or the hourly cap; try again after this many seconds.
    Wait(u64),
    /// The mail could not be sent (logged); nothing was spent, the member may try again.
    MailFailed,
}

/// The outcome of checking a typed code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Right; the code is used up. Carries the address it was sent to.
    Accepted { address: String },
    /// Wrong; this many tries are left for this code.
    Wrong { remaining: i64 },
    /// Too many wrong tries: the code no longer works.
    Exhausted,
    /// No live code (never sent, expired, replaced, or already used).
    Expired,
    /// Not six digits.
    Malformed,
}

fn code_key(member_id: &str, p: Purpose) -> String {
    format!("eotp:{}:{member_id}", p.as_str())
}
fn tries_key(id: &str) -> String {
    format!("eotp:tries:{id}")
}
fn used_key(id: &str) -> String {
    format!("eotp:used:{id}")
}
fn cooldown_key(member_id: &str, p: Purpose) -> String {
    format!("eotp:cool:{}:{member_id}", p.as_str())
}
fn hour_key(member_id: &str, now: i64) -> String {
    format!("eotp:hour:{member_id}:{}", now / 3600)
}

fn mac(state: &AppState, member_id: &str, p: Purpose, id: &str, code: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &state.sbox.derive("kenpo email otp v1"));
    let msg = format!("{member_id}\n{}\n{id}\n{code}", p.as_str());
    hex::encode(hmac::sign(&key, msg.as_bytes()).as_ref())
}

/// Six uniformly random digits.
pub fn new_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// Claims the member's send budget: None when a mail may go now, else the wait in seconds.
async fn claim_send(
    state: &AppState,
    member_id: &str,
    purpose: Purpose,
    now: i64,
) -> EphResult<Option<u64>> {
    let cfg = &state.config.mfa;
    let cool = cooldown_key(member_id, purpose);
    let until = now + cfg.email_otp_resend_secs;
    let mut claimed = false;
    for _ in 0..2 {
        if state
            .eph
            .put_new(&cool, &until.to_string(), secs(cfg.email_otp_resend_secs))
            .await?
        {
            claimed = true;
            break;
        }
        let held: i64 = state
            .eph
            .get(&cool)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if held > now {
            return Ok(Some((held - now) as u64));
        }
        // Expired by the application clock but not yet by the store: clear and try once more
        // (of two racing requests only one then wins `put_new`).
        state.eph.delete(&cool).await?;
    }
    if !claimed {
        return Ok(Some(1));
    }
    let hour = hour_key(member_id, now);
    let n = state.eph.incr(&hour, 1, secs(3601)).await?;
    if n > cfg.email_otp_per_hour {
        state.eph.incr(&hour, -1, secs(3601)).await?;
        state.eph.delete(&cool).await?;
        return Ok(Some((3600 - now.rem_euclid(3600)).max(1) as u64));
    }
    Ok(None)
}

/// Gives back a claimed send (the mail failed).
async fn release_send(
    state: &AppState,
    member_id: &str,
    purpose: Purpose,
    now: i64,
) -> EphResult<()> {
    state.eph.delete(&cooldown_key(member_id, purpose)).await?;
    state
        .eph
        .incr(&hour_key(member_id, now), -1, secs(3601))
        .await
        .map(|_| ())
}

/// Mails a new code to `address` (replacing any earlier one of this purpose), if the member's
/// send budget allows.
pub async fn issue(
    state: &AppState,
    member_id: &str,
    purpose: Purpose,
    address: &str,
    lang: Lang,
    now: i64,
) -> EphResult<Issue> {
    if let Some(wait) = claim_send(state, member_id, purpose, now).await? {
        return Ok(Issue::Wait(wait));
    }
    let ttl = state.config.mfa.email_otp_ttl_secs;
    let code = new_code();
    let id = new_id();
    let stored = Stored {
        mac: mac(state, member_id, purpose, &id, &code),
        id,
        expires_at: now + ttl,
        address: address.to_string(),
    };
    let minutes = (ttl + 59) / 60;
    let kind = match purpose {
        Purpose::NewAddress => MailKind::AddressCode { code, minutes },
        _ => MailKind::Otp { code, minutes },
    };
    let mail = Mail {
        to: address.to_string(),
        lang,
        kind,
    };
    // Stored before sending, so a fast reader cannot type the code before it is checkable.
    state
        .eph
        .put_json(&code_key(member_id, purpose), &stored, secs(ttl))
        .await?;
    if state.send_mail(mail).await.is_err() {
        state.eph.delete(&code_key(member_id, purpose)).await?;
        release_send(state, member_id, purpose, now).await?;
        return Ok(Issue::MailFailed);
    }
    Ok(Issue::Sent {
        expires_at: stored.expires_at,
    })
}

/// Whether a code of this purpose is out and still valid (pages mail one automatically only
/// when none is).
pub async fn live(
    state: &AppState,
    member_id: &str,
    purpose: Purpose,
    now: i64,
) -> EphResult<Option<String>> {
    Ok(state
        .eph
        .get_json::<Stored>(&code_key(member_id, purpose))
        .await?
        .filter(|s| s.expires_at > now)
        .map(|s| s.address))
}

/// Forgets any code of this purpose (e.g. the member abandoned an address change).
pub async fn cancel(state: &AppState, member_id: &str, purpose: Purpose) -> EphResult<()> {
    state.eph.delete(&code_key(member_id, purpose)).await
}

/// Checks a typed code (全角 digits, spaces and hyphens accepted) and, when right, uses it up.
pub async fn verify(
    state: &AppState,
    member_id: &str,
    purpose: Purpose,
    typed: &str,
    now: i64,
) -> EphResult<Check> {
    let Some(code) = super::totp::normalize_code(typed) else {
        return Ok(Check::Malformed);
    };
    let key = code_key(member_id, purpose);
    let Some(stored) = state
        .eph
        .get_json::<Stored>(&key)
        .await?
        .filter(|s| s.expires_at > now)
    else {
        return Ok(Check::Expired);
    };
    let max = state.config.mfa.email_otp_max_attempts;
    let ttl = secs(stored.expires_at - now + 60);
    let tries = state.eph.incr(&tries_key(&stored.id), 1, ttl).await?;
    if tries > max {
        state.eph.delete(&key).await?;
        return Ok(Check::Exhausted);
    }
    let expected = mac(state, member_id, purpose, &stored.id, &code);
    if !same(expected.as_bytes(), stored.mac.as_bytes()) {
        if tries >= max {
            // That was the last try: the code is dead.
            state.eph.delete(&key).await?;
            return Ok(Check::Exhausted);
        }
        return Ok(Check::Wrong {
            remaining: max - tries,
        });
    }
    // Right: claim it, once. Of concurrent correct submissions only one creates the marker.
    if !state.eph.put_new(&used_key(&stored.id), "1", ttl).await? {
        return Ok(Check::Expired);
    }
    // The mail was read: the next code of this purpose may go at once (signing out and in
    // again straight away), within the hourly cap.
    state.eph.delete(&cooldown_key(member_id, purpose)).await?;
    // Remove the code unless a newer one has replaced it meanwhile.
    if state
        .eph
        .get_json::<Stored>(&key)
        .await?
        .is_some_and(|cur| cur.id == stored.id)
    {
        state.eph.delete(&key).await?;
    }
    Ok(Check::Accepted {
        address: stored.address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ASVS V6.5.3: six digits, each digit position evenly spread over 0–9.
    #[test]
    fn codes_are_six_fair_digits() {
        const N: usize = 4000;
        let codes: Vec<String> = (0..N).map(|_| new_code()).collect();
        for pos in 0..6 {
            let mut counts = [0f64; 10];
            for c in &codes {
                assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()), "{c}");
                counts[usize::from(c.as_bytes()[pos] - b'0')] += 1.0;
            }
            let expected = N as f64 / 10.0;
            let spread = (N as f64 * 0.1 * 0.9).sqrt();
            for (digit, n) in counts.iter().enumerate() {
                assert!(
                    (n - expected).abs() < 8.0 * spread,
                    "digit {digit} at {pos}: {n}"
                );
            }
        }
    }
}
