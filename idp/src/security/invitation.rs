//! Invitation codes of letter mode (`onboarding.first_login = "letter"`): the first login's
//! secret is a random code printed on a letter the union posts, instead of 記号 + 番号 +
//! birthdate, which is printed on the insurance card and known to whoever holds it.
//!
//! States: a member has no code (cannot sign in for the first time) → a code is made when staff
//! print a letter (the only moment it exists in plain text) → it is spent by the first sign-in
//! that presents it, or replaced by a reissue, or expires after `onboarding.invitation_days`.
//!
//! Threats and answers:
//! - guessing: 10 characters from a 31-letter alphabet (≈ 49.5 bits), and every attempt goes
//!   through the account and address throttles of the login page;
//! - a stolen database: only an HMAC-SHA256 of (member id, code) is stored, under a key derived
//!   from the secret-box key, which the database does not hold; rotating that key voids the
//!   codes out (reissue the letters after `secrets reseal`);
//! - an old letter found later: a reissue replaces the stored code, so only the newest works;
//! - two sign-ins racing with one code: spending is one conditional UPDATE (`used_at IS NULL`).

use crate::security::tokens::same;
use crate::state::AppState;
use crate::store::StoreResult;
use crate::store::invitations::InvitationStore;
use crate::store::members::Member;
use rand::Rng;
use ring::hmac;

/// Letters and digits that cannot be mistaken for each other in print or handwriting (no 0/O,
/// 1/I/L).
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const CODE_LEN: usize = 10;

/// A new random code, as stored and typed (without the separator).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// How a code is printed: two groups of five.
pub fn display(code: &str) -> String {
    if code.len() == CODE_LEN {
        format!("{}-{}", &code[..5], &code[5..])
    } else {
        code.to_string()
    }
}

/// A typed code in its canonical form: NFKC (full-width letters), upper case, spaces and
/// hyphens removed. None when it cannot be a code.
pub fn normalize(input: &str) -> Option<String> {
    let s: String = kenpo_shared::ids::normalize(input)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != 'ー' && *c != '−')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == CODE_LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

fn key(state: &AppState) -> hmac::Key {
    hmac::Key::new(
        hmac::HMAC_SHA256,
        &state.sbox.derive("kenpo invitation code v1"),
    )
}

/// The stored form of a member's code.
pub fn code_hash(state: &AppState, member_id: &str, code: &str) -> String {
    let tag = hmac::sign(&key(state), format!("{member_id}:{code}").as_bytes());
    hex::encode(tag.as_ref())
}

/// Makes (or remakes) a member's code; the previous one stops working. Returns the code for
/// the letter, which is its only copy.
pub async fn issue(state: &AppState, member: &Member, now: i64) -> StoreResult<String> {
    let code = new_code();
    let expires = now + state.config.onboarding.invitation_days * 86_400;
    InvitationStore::new(state.db.clone())
        .replace(
            &member.id,
            code_hash(state, &member.id, &code),
            now,
            expires,
        )
        .await?;
    // The first login's window starts with the letter, not with the import: otherwise a letter
    // printed weeks after the import would meet `password.initial_password_days` early.
    let user_id = kenpo_shared::ids::UserId::parse(&member.user_id)
        .map_err(|e| crate::store::StoreError::corrupt(format!("user ID: {e}")))?;
    state.members().reset_password(Some(&user_id), now).await?;
    Ok(code)
}

/// Letter mode's check of the first login's secret (typed into the password field): whether
/// it is the member's current, unspent code, spending it if so. The caller has already burnt
/// a password hash's time, so answers take as long as a password check.
pub async fn check_and_spend(
    state: &AppState,
    member: &Member,
    typed: &str,
    now: i64,
) -> StoreResult<bool> {
    let Some(code) = normalize(typed) else {
        return Ok(false);
    };
    let store = InvitationStore::new(state.db.clone());
    let Some(row) = store.get(&member.id).await? else {
        return Ok(false);
    };
    let hash = code_hash(state, &member.id, &code);
    if !same(hash.as_bytes(), row.code_hash.as_bytes()) {
        return Ok(false);
    }
    store.spend(&member.id, &hash, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']));
        }
        assert_ne!(new_code(), new_code());
    }

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalize("abcde-fghjk").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(
            normalize(" ＡＢＣＤＥ　ＦＧＨＪＫ ").as_deref(),
            Some("ABCDEFGHJK")
        );
        assert_eq!(normalize("ABCDE"), None, "too short");
        assert_eq!(normalize("ABCDEFGHJ0"), None, "0 is not in the alphabet");
        assert_eq!(
            normalize("12345678919801201"),
            None,
            "a card password is no code"
        );
        assert_eq!(display("ABCDEFGHJK"), "ABCDE-FGHJK");
    }
}
