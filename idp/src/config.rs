//! The IdP's configuration: `idp.toml` plus `KENPO_IDP_…` environment overrides
//! (`KENPO_IDP_DATABASE__URL` sets `database.url`). Every key is documented in
//! docs/configuration.md; `validate` turns a value that cannot work into an error naming its key.

use kenpo_shared::Secret;
use kenpo_shared::config::ConfigError;
use kenpo_shared::telemetry::LogConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use url::Url;

pub const ENV_PREFIX: &str = "KENPO_IDP_";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub ephemeral: EphemeralConfig,
    pub secrets: SecretsConfig,
    pub tokens: TokenConfig,
    pub par: ParConfig,
    pub dpop: DpopConfig,
    pub keys: KeysConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub throttle: ThrottleConfig,
    pub mail: MailConfig,
    pub union: UnionConfig,
    pub mfa: MfaConfig,
    pub log: LogConfig,
    pub demo: DemoConfig,
    pub testing: TestingConfig,
    pub onboarding: OnboardingConfig,
    pub staff: StaffConfig,
    pub clients: Vec<ClientConfig>,
}

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
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// The public base URL; the OpenID Connect issuer. Must be https unless on a loopback host.
    pub issuer: String,
    /// Peers whose `X-Forwarded-For` is believed (the load balancers).
    pub trusted_proxies: Vec<String>,
    pub request_timeout_secs: u64,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Address of the Prometheus `/metrics` listener (never the public port); none: off.
    pub metrics_bind: Option<String>,
    /// On SIGTERM, `/readyz` answers 503 this long before the listener closes, so the load
    /// balancer stops sending new requests first.
    pub shutdown_drain_secs: u64,
    /// Then requests in flight and background work get this long to finish.
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            issuer: "http://localhost:8080".into(),
            trusted_proxies: Vec::new(),
            request_timeout_secs: 30,
            body_limit_bytes: 64 * 1024,
            metrics_bind: None,
            shutdown_drain_secs: 5,
            shutdown_timeout_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded default) or `postgres://…`.
    pub url: String,
    pub pool_size: u32,
    /// How long a request waits for a database connection before it is answered 503.
    pub checkout_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://./data/idp.sqlite3".into(),
            pool_size: 8,
            checkout_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EphemeralConfig {
    /// `memory` (one process) or `redis://host:port/db` (shared by replicas).
    pub url: String,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub prefix: String,
    /// Bound on opening a Redis connection.
    pub connect_timeout_ms: u64,
    /// Bound on each Redis answer. While Redis is unreachable a request fails within about
    /// the sum of both and is answered 503.
    pub response_timeout_ms: u64,
}

impl Default for EphemeralConfig {
    fn default() -> Self {
        Self {
            url: "memory".into(),
            prefix: "kenpo:idp:".into(),
            connect_timeout_ms: 1000,
            response_timeout_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Keys that encrypt signing keys and TOTP secrets at rest, each `ID:BASE64` of 32 random
    /// bytes. The first encrypts; all decrypt (rotation: put the new key first).
    pub keys: Vec<Secret<String>>,
    /// Used when `keys` is empty: a key file created on first start (embedded mode).
    pub key_file: PathBuf,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            key_file: "./data/secret.key".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    pub code_ttl_secs: i64,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    /// Lifetime of a refresh token (each rotation starts a new one, within the family limit).
    pub refresh_token_ttl_secs: i64,
    /// A refresh family ends this long after the sign-in that started it.
    pub refresh_family_ttl_secs: i64,
    /// Algorithm for clients that do not choose one: `ES256`, `EdDSA` or `RS256`.
    pub default_signing_alg: String,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            code_ttl_secs: 60,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 14 * 86_400,
            refresh_family_ttl_secs: 30 * 86_400,
            default_signing_alg: "ES256".into(),
        }
    }
}

/// Pushed authorization requests (RFC 9126).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParConfig {
    /// Lifetime of a `request_uri` (single use).
    pub request_uri_ttl_secs: i64,
    /// Every client must push its authorization requests (advertised in discovery as
    /// `require_pushed_authorization_requests`); per client with `require_par`.
    pub require: bool,
}

impl Default for ParConfig {
    fn default() -> Self {
        Self {
            request_uri_ttl_secs: 60,
            require: false,
        }
    }
}

/// DPoP proofs (RFC 9449).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// A proof's `iat` may be at most this old …
    pub proof_max_age_secs: i64,
    /// … or this far in the future (clock skew of the client).
    pub proof_max_skew_secs: i64,
    /// Demand a server-provided nonce in every proof (`use_dpop_nonce`, RFC 9449 §8, §9).
    pub nonce: bool,
    /// How long an issued nonce is accepted; a new one is handed out every half of it.
    pub nonce_ttl_secs: i64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            proof_max_age_secs: 60,
            proof_max_skew_secs: 5,
            nonce: false,
            nonce_ttl_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Signing keys are replaced after this many days (0 turns scheduled rotation off).
    pub rotate_after_days: i64,
    /// A new key is published this long before it signs, so relying parties' caches have it.
    pub prepublish_hours: i64,
    /// How often each replica re-reads the key set from the database.
    pub reload_secs: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            rotate_after_days: 90,
            prepublish_hours: 24,
            reload_secs: 60,
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
pub struct MailConfig {
    /// `smtps://user:pass@host:465` (implicit TLS), `smtp://…?tls=starttls` or
    /// `smtp://host:25` (plain, local relay). Empty: write `.eml` files to `outbox_dir`.
    pub smtp_url: Option<Secret<String>>,
    pub outbox_dir: PathBuf,
    pub from_name: String,
    pub from_address: String,
    /// A page waits at most this long for the SMTP server to take a mail; a slower server
    /// gets the mail in the background (a refusal within this time is shown on the page).
    pub page_wait_ms: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            outbox_dir: "./data/outbox".into(),
            from_name: "けんぽWeb".into(),
            from_address: "no-reply@kenpo.example.jp".into(),
            page_wait_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnionConfig {
    /// Shown in page headers and mail subjects (【…】).
    pub service_name: String,
    pub service_name_en: String,
    /// Where members write when they cannot help themselves (no ID questions by phone).
    pub contact_email: String,
    /// Folder with the editable texts: terms-ja.md, terms-en.md, privacy-ja.md, privacy-en.md.
    pub texts_dir: Option<PathBuf>,
    /// Version of the terms of use; a new value asks every member again.
    pub terms_version: String,
}

impl Default for UnionConfig {
    fn default() -> Self {
        Self {
            service_name: "けんぽWeb".into(),
            service_name_en: "Kenpo Web".into(),
            contact_email: "web-support@kenpo.example.jp".into(),
            texts_dir: None,
            terms_version: "2025-11".into(),
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

/// Knobs for the test suites only: never set them in production.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Seconds added to the system clock (the cluster test runs replicas whose clocks are
    /// ±30 s apart).
    pub clock_offset_secs: i64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Seed a demo member and a demo relying party at start (embedded mode).
    pub enabled: bool,
}

/// A relying party declared in the configuration file (staff may also add them with the CLI).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    pub client_id: String,
    pub name: String,
    /// Absent for public clients (PKCE, `token_endpoint_auth_method = "none"`).
    pub secret: Option<Secret<String>>,
    /// `client_secret_basic` (default with a secret), `client_secret_post`, `private_key_jwt`
    /// or `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// Public keys for `private_key_jwt`, as a JWK Set JSON string.
    pub jwks: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// A service run by someone other than the union: members are asked to consent.
    pub third_party: bool,
    /// `ES256`, `EdDSA` or `RS256` for this client's ID tokens.
    pub id_token_signed_response_alg: Option<String>,
    /// Scopes the client may ask for; all supported ones when empty.
    pub scopes: Vec<String>,
    /// Lets a confidential legacy relying party that cannot send PKCE go without it (default
    /// `false`: PKCE with S256 is required of every client). Refused for public clients.
    pub pkce_optional: bool,
    /// Authorization requests of this client only by pushed request (RFC 9126); also on for
    /// every client with `par.require`.
    pub require_par: bool,
    /// Token requests of this client only with a DPoP proof (RFC 9449).
    pub require_dpop: bool,
}

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let config: Config = kenpo_shared::config::load(file, ENV_PREFIX)?;
        config.validate()?;
        Ok(config)
    }

    pub fn issuer_url(&self) -> Url {
        // validate() guarantees this parses.
        Url::parse(&self.server.issuer)
            .unwrap_or_else(|_| Url::parse("http://localhost/").expect("static URL"))
    }

    /// Whether cookies can carry `Secure` and the `__Host-` prefix.
    pub fn https(&self) -> bool {
        self.server.issuer.starts_with("https://")
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let issuer = Url::parse(&self.server.issuer)
            .map_err(|e| ConfigError::invalid("server.issuer", e))?;
        match issuer.scheme() {
            "https" => {}
            "http" if is_loopback(&issuer) => {}
            _ => {
                return Err(ConfigError::invalid(
                    "server.issuer",
                    "must be https (http only on localhost)",
                ));
            }
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::invalid(
                "server.issuer",
                "must not have a query or fragment",
            ));
        }
        self.server
            .bind
            .parse::<std::net::SocketAddr>()
            .map_err(|e| ConfigError::invalid("server.bind", e))?;
        if let Some(m) = &self.server.metrics_bind {
            let m: std::net::SocketAddr = m
                .parse()
                .map_err(|e| ConfigError::invalid("server.metrics_bind", e))?;
            if Some(m) == self.server.bind.parse().ok() {
                return Err(ConfigError::invalid(
                    "server.metrics_bind",
                    "must not be the public listener (server.bind)",
                ));
            }
        }
        for (key, v) in [
            (
                "database.checkout_timeout_secs",
                self.database.checkout_timeout_secs,
            ),
            (
                "ephemeral.connect_timeout_ms",
                self.ephemeral.connect_timeout_ms,
            ),
            (
                "ephemeral.response_timeout_ms",
                self.ephemeral.response_timeout_ms,
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        for (i, p) in self.server.trusted_proxies.iter().enumerate() {
            p.parse::<std::net::IpAddr>()
                .map_err(|e| ConfigError::invalid(&format!("server.trusted_proxies[{i}]"), e))?;
        }
        if !(self.database.url.starts_with("sqlite://")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return Err(ConfigError::invalid(
                "database.url",
                "must start with sqlite:// or postgres://",
            ));
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::invalid(
                "database.pool_size",
                "must be at least 1",
            ));
        }
        if !(self.ephemeral.url == "memory"
            || self.ephemeral.url.starts_with("redis://")
            || self.ephemeral.url.starts_with("rediss://"))
        {
            return Err(ConfigError::invalid(
                "ephemeral.url",
                "must be `memory` or a redis:// URL",
            ));
        }
        for (i, k) in self.secrets.keys.iter().enumerate() {
            crate::security::secretbox::parse_key(k.expose())
                .map_err(|e| ConfigError::invalid(&format!("secrets.keys[{i}]"), e))?;
        }
        crate::oidc::keys::Alg::parse(&self.tokens.default_signing_alg).ok_or_else(|| {
            ConfigError::invalid(
                "tokens.default_signing_alg",
                "must be ES256, EdDSA or RS256",
            )
        })?;
        for (key, v) in [
            ("tokens.code_ttl_secs", self.tokens.code_ttl_secs),
            (
                "tokens.access_token_ttl_secs",
                self.tokens.access_token_ttl_secs,
            ),
            ("tokens.id_token_ttl_secs", self.tokens.id_token_ttl_secs),
            ("par.request_uri_ttl_secs", self.par.request_uri_ttl_secs),
            ("dpop.proof_max_age_secs", self.dpop.proof_max_age_secs),
            ("dpop.nonce_ttl_secs", self.dpop.nonce_ttl_secs),
            (
                "tokens.refresh_token_ttl_secs",
                self.tokens.refresh_token_ttl_secs,
            ),
            (
                "tokens.refresh_family_ttl_secs",
                self.tokens.refresh_family_ttl_secs,
            ),
            ("session.idle_secs", self.session.idle_secs),
            ("session.absolute_secs", self.session.absolute_secs),
            ("session.remember_secs", self.session.remember_secs),
            ("session.flow_ttl_secs", self.session.flow_ttl_secs),
            ("session.mfa_max_age_secs", self.session.mfa_max_age_secs),
            ("session.mfa_idle_secs", self.session.mfa_idle_secs),
            (
                "session.unposted_flow_ttl_secs",
                self.session.unposted_flow_ttl_secs,
            ),
            (
                "password.initial_password_days",
                self.password.initial_password_days,
            ),
            (
                "throttle.account_base_delay_secs",
                self.throttle.account_base_delay_secs,
            ),
            (
                "throttle.account_max_delay_secs",
                self.throttle.account_max_delay_secs,
            ),
            (
                "throttle.account_window_secs",
                self.throttle.account_window_secs,
            ),
            ("throttle.account_hard_cap", self.throttle.account_hard_cap),
            (
                "throttle.account_lock_secs",
                self.throttle.account_lock_secs,
            ),
            (
                "throttle.known_browser_days",
                self.throttle.known_browser_days,
            ),
            (
                "throttle.address_per_minute",
                self.throttle.address_per_minute,
            ),
            (
                "throttle.recovery_per_address_per_hour",
                self.throttle.recovery_per_address_per_hour,
            ),
            (
                "throttle.authorize_per_minute",
                self.throttle.authorize_per_minute,
            ),
            (
                "throttle.stranger_posts_per_minute",
                self.throttle.stranger_posts_per_minute,
            ),
            ("mfa.email_otp_ttl_secs", self.mfa.email_otp_ttl_secs),
            (
                "mfa.email_otp_max_attempts",
                self.mfa.email_otp_max_attempts,
            ),
            ("mfa.email_otp_per_hour", self.mfa.email_otp_per_hour),
            ("mfa.ceremony_ttl_secs", self.mfa.ceremony_ttl_secs),
            (
                "onboarding.invitation_days",
                self.onboarding.invitation_days,
            ),
            ("staff.invitation_hours", self.staff.invitation_hours),
            ("staff.idle_secs", self.staff.idle_secs),
            ("staff.absolute_secs", self.staff.absolute_secs),
        ] {
            if v <= 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        if self.password.argon2_m_kib < 19_456 {
            return Err(ConfigError::invalid(
                "password.argon2_m_kib",
                "below OWASP's minimum of 19456 KiB",
            ));
        }
        if self.password.argon2_t < 2 {
            return Err(ConfigError::invalid(
                "password.argon2_t",
                "below OWASP's minimum of 2",
            ));
        }
        if self.password.argon2_p == 0 {
            return Err(ConfigError::invalid(
                "password.argon2_p",
                "must be at least 1",
            ));
        }
        if self.keys.rotate_after_days < 0 || self.keys.prepublish_hours < 0 {
            return Err(ConfigError::invalid(
                "keys.rotate_after_days",
                "must not be negative",
            ));
        }
        if self.mail.from_address.parse::<lettre::Address>().is_err() {
            return Err(ConfigError::invalid(
                "mail.from_address",
                "not an email address",
            ));
        }
        if self.union.contact_email.parse::<lettre::Address>().is_err() {
            return Err(ConfigError::invalid(
                "union.contact_email",
                "not an email address",
            ));
        }
        mail_mode_allowed(&issuer, self.mail.smtp_url.is_some())?;
        if let Some(url) = &self.mail.smtp_url {
            crate::mail::transport::parse_smtp_url(url.expose())
                .map_err(|e| ConfigError::invalid("mail.smtp_url", e))?;
        }
        for (i, c) in self.clients.iter().enumerate() {
            crate::store::clients::NewClient::from_config(c)
                .map_err(|e| ConfigError::invalid(&format!("clients[{i}] ({})", c.client_id), e))?;
        }
        Ok(())
    }
}

/// Without `mail.smtp_url` mails go to the outbox folder and their text (one-time codes, reset
/// links) to the log: fine for the demo and the tests on a loopback http issuer, a hole on a
/// real one, so an https issuer requires SMTP.
fn mail_mode_allowed(issuer: &Url, smtp: bool) -> Result<(), ConfigError> {
    if issuer.scheme() == "https" && !smtp {
        return Err(ConfigError::invalid(
            "mail.smtp_url",
            "required when server.issuer is https: without it mails (with one-time codes and reset links) are written to files and the log (the outbox mode is for the demo and tests on http://localhost only)",
        ));
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_mode_is_refused_on_an_https_issuer() {
        let mut config = Config::default();
        config.secrets.keys = vec![Secret::new(crate::security::secretbox::generate_key("k1"))];
        config.server.issuer = "https://id.kenpo.example.jp".into();
        config.mail.smtp_url = None;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("mail.smtp_url"), "{err}");
        config.mail.smtp_url = Some(Secret::new("smtps://u:p@smtp.example.jp:465".into()));
        config.validate().unwrap_or_else(|e| panic!("{e}"));
        config.server.issuer = "http://localhost:8080".into();
        config.mail.smtp_url = None;
        config
            .validate()
            .unwrap_or_else(|e| panic!("the demo keeps its outbox: {e}"));
    }

    /// The example in `deploy/` must stay a file operators can start from: every key known, every
    /// value valid once the placeholder secret key is replaced.
    #[test]
    fn deploy_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/idp.example.toml");
        let mut config: Config = kenpo_shared::config::load(Some(&path), "KENPO_IDP_EXAMPLE_")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("secrets.keys"),
            "the placeholder is refused: {err}"
        );
        config.secrets.keys = vec![Secret::new(crate::security::secretbox::generate_key("k1"))];
        config.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.clients.len(), 1);
    }
}
