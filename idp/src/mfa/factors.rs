//! The three kinds of second factor and which of them a member has enrolled (a plain value
//! the store counts and the step decision reads).

use crate::pages::i18n::Text;
use crate::store::members::Member;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    Passkey,
    Totp,
    Email,
}

impl Factor {
    pub const ALL: [Factor; 3] = [Factor::Passkey, Factor::Totp, Factor::Email];

    /// Whether NIST 800-63B accepts the factor as the second one at AAL2: an authenticator
    /// app or a passkey, not a code mailed to the address a password reset also goes to.
    pub fn is_aal2(self) -> bool {
        matches!(self, Factor::Passkey | Factor::Totp)
    }

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

    /// Whether at least one working factor would remain after removing one passkey (`Passkey`)
    /// or the whole factor (`Totp`, `Email`): removing the last one is refused.
    pub fn may_remove(&self, f: Factor) -> bool {
        let mut after = *self;
        match f {
            Factor::Passkey => after.passkeys = after.passkeys.saturating_sub(1),
            Factor::Totp => after.totp = false,
            Factor::Email => after.email = false,
        }
        after.any()
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

    /// The factor to ask when the relying party needs `urn:kenpo:loa:2`: the member's
    /// preferred one if NIST 800-63B accepts it at AAL2, else a passkey, else the app. None
    /// when the member has only emailed codes.
    pub fn strong(&self, member: &Member) -> Option<Factor> {
        let preferred = self.preferred(member);
        if preferred.is_aal2() {
            return Some(preferred);
        }
        [Factor::Passkey, Factor::Totp]
            .into_iter()
            .find(|f| self.has(*f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_factor_cannot_be_removed() {
        let one_passkey = Factors {
            passkeys: 1,
            totp: false,
            email: false,
        };
        assert!(!one_passkey.may_remove(Factor::Passkey));
        let two = Factors {
            passkeys: 2,
            ..one_passkey
        };
        assert!(two.may_remove(Factor::Passkey));
        let mixed = Factors {
            passkeys: 1,
            totp: true,
            email: false,
        };
        assert!(mixed.may_remove(Factor::Passkey));
        assert!(mixed.may_remove(Factor::Totp));
        let totp_only = Factors {
            passkeys: 0,
            totp: true,
            email: false,
        };
        assert!(!totp_only.may_remove(Factor::Totp));
        assert!(
            totp_only.may_remove(Factor::Email),
            "not enrolled: nothing is lost"
        );
    }
}
