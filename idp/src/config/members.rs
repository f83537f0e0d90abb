//! How members (and staff) sign in and stay signed in: `[onboarding]`, `[session]`,
//! `[password]`, `[throttle]`, `[mfa]`, `[staff]`.

use serde::Deserialize;

/// How new members sign in for the first time.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FirstLogin {
    /// The union's guide: 記号 + 番号 + birthdate, all printed on the insurance card.
    #[default]
    Card,
    /// A one-time invitation code printed on a letter staff send (the card alone is not enough).
    Letter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnboardingConfig {
    /// `card` (default) or `letter`.
    pub first_login: FirstLogin,
    /// An invitation code stops working this many days after its letter was made.
    pub invitation_days: i64,
    /// Printed on letters (the union's name); `union.service_name` when empty.
    pub letter_sender: String,
}

impl Default for OnboardingConfig {
    fn default() -> Self {
        Self {
            first_login: FirstLogin::Card,
            invitation_days: 90,
            letter_sender: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaffConfig {
    /// The link of a staff invitation mail works this long.
    pub invitation_hours: i64,
    /// A staff console session ends after this much inactivity…
    pub idle_secs: i64,
    /// …and at the latest this long after sign-in.
    pub absolute_secs: i64,
    /// Largest CSV a staff member may upload in the console.
    pub upload_limit_bytes: usize,
}

impl Default for StaffConfig {
    fn default() -> Self {
        Self {
            invitation_hours: 72,
            idle_secs: 30 * 60,
            absolute_secs: 8 * 3600,
            upload_limit_bytes: 20 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// An IdP session ends after this much inactivity.
    pub idle_secs: i64,
    /// …and at the latest this long after sign-in.
    pub absolute_secs: i64,
    /// Lifetime when the member ticks "remember me".
    pub remember_secs: i64,
    /// An unfinished sign-in (authorization request and steps) is kept this long.
    pub flow_ttl_secs: i64,
    /// A second factor counts this long after it was completed (then it is asked again, also
    /// in a remembered session)…
    pub mfa_max_age_secs: i64,
    /// …or until the session goes unused this long.
    pub mfa_idle_secs: i64,
    /// …but only this long until the member signs in (login form or passkey): an
    /// authorization request nobody answers costs memory in the short-lived store, and
    /// anyone can make them.
    pub unposted_flow_ttl_secs: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_secs: 2 * 3600,
            absolute_secs: 12 * 3600,
            remember_secs: 30 * 86_400,
            flow_ttl_secs: 3600,
            mfa_max_age_secs: 12 * 3600,
            mfa_idle_secs: 3600,
            unposted_flow_ttl_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// argon2id memory in KiB (OWASP minimum 19456).
    pub argon2_m_kib: u32,
    /// argon2id iterations (OWASP minimum 2).
    pub argon2_t: u32,
    pub argon2_p: u32,
    /// Hashes computed at once; 0 means one per CPU core.
    pub hash_concurrency: usize,
    /// Hashes that may wait for a thread; past it sign-ins answer 503 at once instead of
    /// queueing without bound. 0 means 64 per hashing thread.
    pub hash_queue_limit: usize,
    /// Initial passwords (after import or a staff reset) stop working after this many days.
    pub initial_password_days: i64,
    /// A member whose only second factor is emailed codes gets no reset link by mail (whoever
    /// reads the mailbox would then hold both steps): the mail asks them to contact the
    /// union, whose staff reset the password from the console.
    pub reset_email_only_needs_staff: bool,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            argon2_m_kib: 19_456,
            argon2_t: 2,
            argon2_p: 1,
            hash_concurrency: 0,
            hash_queue_limit: 0,
            initial_password_days: 90,
            reset_email_only_needs_staff: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Wrong answers (password, birthdate, codes) an account may give before delays start.
    pub account_free_failures: i64,
    /// The first delay; each further failure doubles it.
    pub account_base_delay_secs: i64,
    /// Delays never exceed this (there is no permanent lockout).
    pub account_max_delay_secs: i64,
    /// Failures are forgotten this long after the last one.
    pub account_window_secs: i64,
    /// Consecutive failures of one budget after which it is locked until a recovery or staff
    /// unlock (NIST 800-63B §5.2.2: at most 100).
    pub account_hard_cap: i64,
    /// How long such a lock (and the list of an account's known browsers) is kept.
    pub account_lock_secs: i64,
    /// How long a browser stays known after the member's last sign-in there.
    pub known_browser_days: i64,
    /// Sign-in attempts from one address per minute.
    pub address_per_minute: i64,
    /// Recovery requests (reset mail, user-ID mail) per address per hour.
    pub recovery_per_address_per_hour: i64,
    /// `/authorize` requests per address (IPv6: per /64) per minute (`security::strangers`).
    pub authorize_per_minute: i64,
    /// Unauthenticated POSTs of hosted pages per address (IPv6: per /64) per minute.
    pub stranger_posts_per_minute: i64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_free_failures: 5,
            account_base_delay_secs: 2,
            account_max_delay_secs: 900,
            account_window_secs: 86_400,
            account_hard_cap: 100,
            account_lock_secs: 365 * 86_400,
            known_browser_days: 180,
            address_per_minute: 30,
            recovery_per_address_per_hour: 20,
            authorize_per_minute: 60,
            stranger_posts_per_minute: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// WebAuthn relying-party ID (the registrable domain); the issuer's host when empty.
    pub rp_id: Option<String>,
    pub email_otp_ttl_secs: i64,
    pub email_otp_max_attempts: i64,
    pub email_otp_resend_secs: i64,
    pub email_otp_per_hour: i64,
    /// A passkey or TOTP ceremony must finish within this time.
    pub ceremony_ttl_secs: i64,
    /// Label of TOTP entries in authenticator apps.
    pub totp_issuer: String,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            rp_id: None,
            email_otp_ttl_secs: 600,
            email_otp_max_attempts: 5,
            email_otp_resend_secs: 60,
            email_otp_per_hour: 10,
            ceremony_ttl_secs: 300,
            totp_issuer: "けんぽWeb".into(),
        }
    }
}
