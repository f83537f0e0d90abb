//! `Config::validate`: a value that cannot work is an error naming its key, found at start
//! rather than on the first request that needs it.

use super::Config;
use kenpo_shared::config::ConfigError;
use url::Url;

/// `[("section.field", self.section.field), …]`: the key an error names is always the field
/// that was checked.
macro_rules! keyed {
    ($config:expr; $($section:ident . $field:ident),+ $(,)?) => {
        [$((
            concat!(stringify!($section), ".", stringify!($field)),
            $config.$section.$field,
        )),+]
    };
}

impl Config {
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
        refuse_if(
            issuer.query().is_some() || issuer.fragment().is_some(),
            "server.issuer",
            "must not have a query or fragment",
        )?;
        self.server
            .bind
            .parse::<std::net::SocketAddr>()
            .map_err(|e| ConfigError::invalid("server.bind", e))?;
        if let Some(m) = &self.server.metrics_bind {
            let m: std::net::SocketAddr = m
                .parse()
                .map_err(|e| ConfigError::invalid("server.metrics_bind", e))?;
            refuse_if(
                Some(m) == self.server.bind.parse().ok(),
                "server.metrics_bind",
                "must not be the public listener (server.bind)",
            )?;
        }
        for (key, v) in keyed!(self;
            database.checkout_timeout_secs,
            ephemeral.connect_timeout_ms,
            ephemeral.response_timeout_ms,
        ) {
            refuse_if(v == 0, key, "must be greater than 0")?;
        }
        for (i, p) in self.server.trusted_proxies.iter().enumerate() {
            p.parse::<std::net::IpAddr>()
                .map_err(|e| ConfigError::invalid(&format!("server.trusted_proxies[{i}]"), e))?;
        }
        refuse_if(
            !(self.database.url.starts_with("sqlite://")
                || self.database.url.starts_with("postgres://")
                || self.database.url.starts_with("postgresql://")),
            "database.url",
            "must start with sqlite:// or postgres://",
        )?;
        refuse_if(
            self.database.pool_size == 0,
            "database.pool_size",
            "must be at least 1",
        )?;
        refuse_if(
            !(self.ephemeral.url == "memory"
                || self.ephemeral.url.starts_with("redis://")
                || self.ephemeral.url.starts_with("rediss://")),
            "ephemeral.url",
            "must be `memory` or a redis:// URL",
        )?;
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
        for (key, v) in keyed!(self;
            tokens.code_ttl_secs,
            tokens.access_token_ttl_secs,
            tokens.id_token_ttl_secs,
            par.request_uri_ttl_secs,
            dpop.proof_max_age_secs,
            dpop.nonce_ttl_secs,
            tokens.refresh_token_ttl_secs,
            tokens.refresh_family_ttl_secs,
            session.idle_secs,
            session.absolute_secs,
            session.remember_secs,
            session.flow_ttl_secs,
            session.mfa_max_age_secs,
            session.mfa_idle_secs,
            session.unposted_flow_ttl_secs,
            password.initial_password_days,
            throttle.account_base_delay_secs,
            throttle.account_max_delay_secs,
            throttle.account_window_secs,
            throttle.account_hard_cap,
            throttle.account_lock_secs,
            throttle.known_browser_days,
            throttle.address_per_minute,
            throttle.recovery_per_address_per_hour,
            throttle.authorize_per_minute,
            throttle.stranger_posts_per_minute,
            mfa.email_otp_ttl_secs,
            mfa.email_otp_max_attempts,
            mfa.email_otp_per_hour,
            mfa.ceremony_ttl_secs,
            onboarding.invitation_days,
            staff.invitation_hours,
            staff.idle_secs,
            staff.absolute_secs,
        ) {
            refuse_if(v <= 0, key, "must be greater than 0")?;
        }
        refuse_if(
            self.password.argon2_m_kib < 19_456,
            "password.argon2_m_kib",
            "below OWASP's minimum of 19456 KiB",
        )?;
        refuse_if(
            self.password.argon2_t < 2,
            "password.argon2_t",
            "below OWASP's minimum of 2",
        )?;
        refuse_if(
            self.password.argon2_p == 0,
            "password.argon2_p",
            "must be at least 1",
        )?;
        refuse_if(
            self.keys.rotate_after_days < 0 || self.keys.prepublish_hours < 0,
            "keys.rotate_after_days",
            "must not be negative",
        )?;
        refuse_if(
            self.mail.from_address.parse::<lettre::Address>().is_err(),
            "mail.from_address",
            "not an email address",
        )?;
        refuse_if(
            self.union.contact_email.parse::<lettre::Address>().is_err(),
            "union.contact_email",
            "not an email address",
        )?;
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

/// An error naming `key` when `bad` holds.
fn refuse_if(bad: bool, key: &str, why: &str) -> Result<(), ConfigError> {
    if bad {
        return Err(ConfigError::invalid(key, why));
    }
    Ok(())
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
