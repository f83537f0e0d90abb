//! Authenticator apps (RFC 6238): SHA-1, 6 digits, 30-second steps, as Google Authenticator,
//! Microsoft Authenticator and the Chrome / Edge extensions expect.
//!
//! Threats: guessing (shared brute-force budget, see `security::throttle`), replay of an
//! observed code (the accepted time step is recorded with a conditional UPDATE, so a code —
//! or an older one — is accepted at most once, even by two replicas at the same instant), and
//! theft of the database (secrets are sealed with AES-GCM under the configured key, bound to
//! the member's row). A code is accepted within ±1 step of the server's clock.

use crate::security::secretbox::SecretBox;
use crate::store::credentials::{CredentialStore, TotpRow};
use crate::store::{Db, StoreResult};
use kenpo_shared::ids::normalize;
use rand::RngCore;
use std::sync::Arc;
use totp_rs::{Algorithm, Builder, Totp};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: u8 = 6;

/// 160 random bits, the size RFC 4226 recommends for SHA-1.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rng().fill_bytes(&mut s);
    s
}

pub fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp, String> {
    // A colon separates issuer and account in the otpauth label; it may appear in neither.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECS)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| e.to_string())
}

/// The secret as base32 in groups of four, for typing into an app ("can't scan?").
pub fn grouped_base32(secret: &[u8]) -> String {
    let b32 = totp_rs::Secret::from(secret.to_vec()).to_base32();
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A typed code made comparable: NFKC (全角 digits), spaces and hyphens removed; six digits.
pub fn normalize_code(input: &str) -> Option<String> {
    let s: String = normalize(input)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != 'ー' && *c != '−')
        .collect();
    (s.len() == DIGITS as usize && s.chars().all(|c| c.is_ascii_digit())).then_some(s)
}

/// The time step a code belongs to, if it is valid at `now` (±1 step).
pub fn matching_step(totp: &Totp, code: &str, now: i64) -> Option<i64> {
    let code = normalize_code(code)?;
    totp.check(&code, now.max(0) as u64)
        .map(|counter| counter as i64)
}

pub fn seal(sbox: &SecretBox, member_id: &str, secret: &[u8]) -> Vec<u8> {
    sbox.seal(&format!("totp:{member_id}"), secret)
}

pub fn open(sbox: &SecretBox, member_id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    sbox.open(&format!("totp:{member_id}"), sealed).ok()
}

/// Outcome of checking a sign-in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted,
    Wrong,
    /// Valid, but its step (or a later one) was already used.
    Replayed,
    NotEnrolled,
}

/// Checks a code against the member's stored secret and spends its step.
pub async fn verify(
    db: &Db,
    sbox: &SecretBox,
    member_id: &str,
    code: &str,
    now: i64,
) -> StoreResult<Check> {
    let store = CredentialStore::new(db.clone());
    let Some(row) = store.totp(member_id).await? else {
        return Ok(Check::NotEnrolled);
    };
    let Some(secret) = open(sbox, member_id, &row.secret_enc) else {
        tracing::error!(
            member_id,
            "TOTP secret does not open with the configured keys"
        );
        return Ok(Check::Wrong);
    };
    let Ok(t) = totp(&secret, "kenpo", "member") else {
        return Ok(Check::Wrong);
    };
    let Some(step) = matching_step(&t, code, now) else {
        return Ok(Check::Wrong);
    };
    if store.advance_totp_step(member_id, step).await? {
        Ok(Check::Accepted)
    } else {
        Ok(Check::Replayed)
    }
}

/// Stores a confirmed secret, recording the step that confirmed it as used.
pub async fn enrol(
    db: &Db,
    sbox: &SecretBox,
    member_id: &str,
    secret: &[u8],
    confirmed_step: i64,
    now: i64,
) -> StoreResult<()> {
    CredentialStore::new(db.clone())
        .set_totp(TotpRow {
            member_id: member_id.to_string(),
            secret_enc: seal(sbox, member_id, secret),
            last_step: Some(confirmed_step),
            created_at: now,
        })
        .await
}

/// Re-encrypts every TOTP secret sealed with an older key (`idp secrets reseal`).
pub async fn reseal_all(db: &Db, sbox: &Arc<SecretBox>) -> StoreResult<usize> {
    use crate::store::schema::totp_credentials::dsl as tc;
    use diesel::prelude::*;
    let sbox = sbox.clone();
    db.tx(move |c| {
        let rows: Vec<TotpRow> = tc::totp_credentials.select(TotpRow::as_select()).load(c)?;
        let mut n = 0;
        for row in rows {
            if !sbox.is_stale(&row.secret_enc) {
                continue;
            }
            if let Some(plain) = open(&sbox, &row.member_id, &row.secret_enc) {
                diesel::update(tc::totp_credentials.find(&row.member_id))
                    .set(tc::secret_enc.eq(seal(&sbox, &row.member_id, &plain)))
                    .execute(c)?;
                n += 1;
            }
        }
        Ok(n)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8-digit values; the last six digits are what a
    /// 6-digit generator shows).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        let t = totp(secret, "kenpo", "test").unwrap();
        for (time, full) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(t.generate(time).to_string(), full[2..], "t={time}");
        }
    }

    #[test]
    fn window_and_normalisation() {
        let secret = new_secret();
        let t = totp(&secret, "kenpo", "taro").unwrap();
        let now = 1_700_000_015i64;
        let code = t.generate(now as u64).to_string();
        let step = now / 30;
        assert_eq!(matching_step(&t, &code, now), Some(step));
        assert_eq!(
            matching_step(&t, &code, now + 30),
            Some(step),
            "one step late is fine"
        );
        assert_eq!(
            matching_step(&t, &code, now - 30),
            Some(step),
            "one step early is fine"
        );
        assert_eq!(
            matching_step(&t, &code, now + 61),
            None,
            "two steps late is not"
        );
        let wide: String = code
            .chars()
            .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
            .collect();
        assert_eq!(matching_step(&t, &wide, now), Some(step), "全角 digits");
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&t, &spaced, now), Some(step));
        let hyphen = format!("{}-{}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&t, &hyphen, now), Some(step));
        assert_eq!(normalize_code("12345"), None);
        assert_eq!(normalize_code("12345a"), None);
        assert_eq!(
            grouped_base32(b"12345678901234567890"),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
    }
}

#[cfg(test)]
mod properties {
    //! Typed one-time codes: no panic on any input; a six-digit code reads back however it is
    //! typed (full-width digits, spaces, hyphens), and nothing else reads as a code.
    use super::normalize_code;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_input_is_answered_without_panic(s in "\\PC{0,30}") {
            if let Some(code) = normalize_code(&s) {
                prop_assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn a_code_reads_back_however_it_is_typed(
            code in "[0-9]{6}",
            wide in prop::collection::vec(any::<bool>(), 6),
            gap in prop::sample::select(vec!["", " ", "-", "　", "ー", "−"]),
        ) {
            let typed: String = code
                .chars()
                .zip(&wide)
                .enumerate()
                .map(|(i, (c, w))| {
                    let c = if *w { char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap() } else { c };
                    if i == 3 { format!("{gap}{c}") } else { c.to_string() }
                })
                .collect();
            prop_assert_eq!(normalize_code(&typed), Some(code.clone()));
            prop_assert_eq!(normalize_code(&format!("{typed}7")), None, "seven digits are no code");
        }
    }
}
