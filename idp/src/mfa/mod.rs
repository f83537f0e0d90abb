//! Second factors: passkeys (WebAuthn), authenticator apps (TOTP) and email one-time
//! passwords. Ceremonies and checks only; no HTTP types (the pages are in `signin` and
//! `account`).

pub mod totp;

use crate::pages::i18n::Text;
use crate::store::credentials::CredentialStore;
use crate::store::members::{Member, MemberStore};
use crate::store::{Db, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    Passkey,
    Totp,
    Email,
}

impl Factor {
    pub const ALL: [Factor; 3] = [Factor::Passkey, Factor::Totp, Factor::Email];

    pub fn parse(s: &str) -> Option<Factor> {
        match s {
            "passkey" => Some(Factor::Passkey),
            "totp" => Some(Factor::Totp),
            "email" => Some(Factor::Email),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Passkey => "passkey",
            Factor::Totp => "totp",
            Factor::Email => "email",
        }
    }
}

/// How a factor is named to members.
pub fn factor_name(f: Factor) -> Text {
    match f {
        Factor::Passkey => Text("パスキー（生体認証）", "Passkey (face or fingerprint)"),
        Factor::Totp => Text(
            "ワンタイムパスワード（認証アプリ）",
            "One-time password (authenticator app)",
        ),
        Factor::Email => Text(
            "ワンタイムパスワード（メール）",
            "One-time password (email)",
        ),
    }
}

/// The factors a member has enrolled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    pub passkeys: usize,
    pub totp: bool,
    pub email: bool,
}

impl Factors {
    pub fn any(&self) -> bool {
        self.passkeys > 0 || self.totp || self.email
    }

    pub fn has(&self, f: Factor) -> bool {
        match f {
            Factor::Passkey => self.passkeys > 0,
            Factor::Totp => self.totp,
            Factor::Email => self.email,
        }
    }

    pub fn list(&self) -> Vec<Factor> {
        Factor::ALL.into_iter().filter(|f| self.has(*f)).collect()
    }

    /// The factor to ask for: the member's preference if still enrolled, else the strongest.
    pub fn preferred(&self, member: &Member) -> Factor {
        member
            .preferred_factor
            .as_deref()
            .and_then(Factor::parse)
            .filter(|f| self.has(*f))
            .or_else(|| self.list().first().copied())
            .unwrap_or(Factor::Email)
    }
}

/// Staff reset of a member's factors: all removed, the member chooses and enrols again at the
/// next sign-in (the step sequence sees no factor and no choice).
pub async fn reset(db: &Db, member: &Member, now: i64) -> StoreResult<()> {
    CredentialStore::new(db.clone())
        .delete_all(&member.id)
        .await?;
    MemberStore::new(db.clone())
        .clear_factors(&member.id, now)
        .await
}
