//! The portal's configuration: `portal.toml` plus `KENPO_PORTAL_…` environment overrides
//! (`KENPO_PORTAL_OIDC__CLIENT_SECRET` sets `oidc.client_secret`). Every key is documented in
//! docs/configuration-portal.md; `validate` turns a value that cannot work into an error naming
//! its key.

use kenpo_shared::Secret;
use kenpo_shared::config::ConfigError;
use kenpo_shared::telemetry::LogConfig;
use serde::Deserialize;
use std::path::Path;
use url::Url;

pub const ENV_PREFIX: &str = "KENPO_PORTAL_";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub ephemeral: EphemeralConfig,
    pub oidc: OidcConfig,
    pub session: SessionConfig,
    pub union: UnionConfig,
    pub log: LogConfig,
    pub demo: DemoConfig,
    pub testing: TestingConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    /// The portal's public base URL (no trailing slash needed). Must be https unless on a
    /// loopback host.
    pub base_url: String,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    /// Address of the Prometheus `/metrics` listener (never the public port); none: off.
    pub metrics_bind: Option<String>,
    /// On SIGTERM, `/readyz` answers 503 this long before the listener closes.
    pub shutdown_drain_secs: u64,
    /// Then requests in flight get this long to finish.
    pub shutdown_timeout_secs: u64,
    /// Largest notice CSV staff may upload on the staff pages.
    pub upload_limit_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8081".into(),
            base_url: "http://localhost:8081".into(),
            request_timeout_secs: 30,
            body_limit_bytes: 64 * 1024,
            metrics_bind: None,
            shutdown_drain_secs: 5,
            shutdown_timeout_secs: 20,
            upload_limit_bytes: 50 * 1024 * 1024,
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
            url: "sqlite://./data/portal.sqlite3".into(),
            pool_size: 8,
            checkout_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EphemeralConfig {
    /// `memory` (one replica) or `redis://…` (shared by replicas: sessions and sign-ins).
    pub url: String,
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
            prefix: "kenpo:portal:".into(),
            connect_timeout_ms: 1000,
            response_timeout_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The IdP's issuer URL, exactly as in its discovery document.
    pub issuer: String,
    pub client_id: String,
    /// The client secret registered at the IdP (`client_secret_basic`).
    pub client_secret: Secret<String>,
    /// Where the IdP sends members back; `{base_url}/auth/callback` when empty.
    pub redirect_uri: Option<String>,
    /// Where the IdP sends members after sign-out; `{base_url}/` when empty.
    pub post_logout_redirect_uri: Option<String>,
    /// The algorithm the IdP signs this client's ID and logout tokens with (as registered:
    /// `id_token_signed_response_alg`): `ES256`, `EdDSA` or `RS256`.
    pub signing_alg: String,
    /// The member's account page at the IdP; `{issuer}/account` when empty.
    pub account_url: Option<String>,
    /// Discovery and keys are fetched again after this long (and at once for an unknown key).
    pub metadata_refresh_secs: u64,
    /// Timeout of each call to the IdP.
    pub http_timeout_secs: u64,
    /// The assurance level asked for (`acr_values`): `urn:kenpo:loa:1` (password and any
    /// second factor, emailed codes included, as the union's guide offers them) or
    /// `urn:kenpo:loa:2` (an authenticator app or a passkey; ID tokens claiming less are
    /// refused).
    pub acr: String,
    /// `max_age` sent with each sign-in: the IdP asks the password again when the member's
    /// last one is older (0: not sent).
    pub max_age_secs: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".into(),
            client_id: "kenpo-portal".into(),
            client_secret: Secret::new(String::new()),
            redirect_uri: None,
            post_logout_redirect_uri: None,
            signing_alg: "ES256".into(),
            account_url: None,
            metadata_refresh_secs: 3600,
            http_timeout_secs: 10,
            acr: "urn:kenpo:loa:1".into(),
            max_age_secs: 12 * 3600,
        }
    }
}

/// The IdP's assurance levels (its `acr_values_supported`).
pub const LOA1: &str = "urn:kenpo:loa:1";
pub const LOA2: &str = "urn:kenpo:loa:2";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A portal session ends after this much inactivity.
    pub idle_secs: i64,
    /// …and at the latest this long after sign-in.
    pub absolute_secs: i64,
    /// How often a session is checked with the IdP (a refresh-token grant): a member who signed
    /// out of the IdP loses their portal session within this time even if a back-channel
    /// logout was lost.
    pub revalidate_secs: i64,
    /// An unfinished sign-in (state, nonce, PKCE verifier) is kept this long.
    pub login_ttl_secs: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_secs: 30 * 60,
            absolute_secs: 8 * 3600,
            revalidate_secs: 5 * 60,
            login_ttl_secs: 10 * 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnionConfig {
    /// Shown in page headers.
    pub service_name: String,
    pub service_name_en: String,
    /// 保険者等の名称 on the medical-expense deduction statement and its CSV.
    pub insurer_name: String,
    pub insurer_name_en: String,
    /// Where members write with questions about their notices.
    pub contact_email: String,
}

impl Default for UnionConfig {
    fn default() -> Self {
        Self {
            service_name: "けんぽWeb お知らせ".into(),
            service_name_en: "Kenpo Web notices".into(),
            insurer_name: "けんぽ健康保険組合".into(),
            insurer_name_en: "Kenpo Health Insurance Union".into(),
            contact_email: "web-support@kenpo.example.jp".into(),
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
    /// Seed demo notices for the IdP's demo members at start (embedded mode).
    pub enabled: bool,
}

/// The algorithms an IdP may sign this client's tokens with.
pub const SIGNING_ALGS: [&str; 3] = ["ES256", "EdDSA", "RS256"];

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let config = Config::load_unchecked(file)?;
        config.validate()?;
        Ok(config)
    }

    /// Loads without [`Config::validate`] (for the all-in-one `kenpo`, which completes the values
    /// first).
    pub fn load_unchecked(file: Option<&Path>) -> Result<Config, ConfigError> {
        kenpo_shared::config::load(file, ENV_PREFIX)
    }

    pub fn base_url(&self) -> String {
        self.server.base_url.trim_end_matches('/').to_string()
    }

    pub fn issuer(&self) -> String {
        self.oidc.issuer.trim_end_matches('/').to_string()
    }

    /// `scheme://host:port` of the issuer (for CSP `form-action`).
    pub fn issuer_origin(&self) -> String {
        Url::parse(&self.oidc.issuer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    pub fn redirect_uri(&self) -> String {
        self.oidc
            .redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}/auth/callback", self.base_url()))
    }

    pub fn post_logout_redirect_uri(&self) -> String {
        self.oidc
            .post_logout_redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}/", self.base_url()))
    }

    pub fn account_url(&self) -> String {
        self.oidc
            .account_url
            .clone()
            .unwrap_or_else(|| format!("{}/account", self.issuer()))
    }

    /// Whether cookies can carry `Secure` and the `__Host-` prefix.
    pub fn https(&self) -> bool {
        self.server.base_url.starts_with("https://")
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        web_url("server.base_url", &self.server.base_url)?;
        web_url("oidc.issuer", &self.oidc.issuer)?;
        web_url("oidc.redirect_uri", &self.redirect_uri())?;
        web_url(
            "oidc.post_logout_redirect_uri",
            &self.post_logout_redirect_uri(),
        )?;
        web_url("oidc.account_url", &self.account_url())?;
        if ![LOA1, LOA2].contains(&self.oidc.acr.as_str()) {
            return Err(ConfigError::invalid(
                "oidc.acr",
                format!("must be {LOA1} or {LOA2}"),
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
        if self.oidc.client_id.trim().is_empty() {
            return Err(ConfigError::invalid("oidc.client_id", "must not be empty"));
        }
        if self.oidc.client_secret.expose().chars().count() < 32 {
            return Err(ConfigError::invalid(
                "oidc.client_secret",
                "must be the secret registered at the IdP (32 characters or more)",
            ));
        }
        if !SIGNING_ALGS.contains(&self.oidc.signing_alg.as_str()) {
            return Err(ConfigError::invalid(
                "oidc.signing_alg",
                "must be ES256, EdDSA or RS256",
            ));
        }
        for (key, v) in [
            ("session.idle_secs", self.session.idle_secs),
            ("session.absolute_secs", self.session.absolute_secs),
            ("session.revalidate_secs", self.session.revalidate_secs),
            ("session.login_ttl_secs", self.session.login_ttl_secs),
            (
                "oidc.metadata_refresh_secs",
                self.oidc.metadata_refresh_secs as i64,
            ),
            ("oidc.http_timeout_secs", self.oidc.http_timeout_secs as i64),
            (
                "server.request_timeout_secs",
                self.server.request_timeout_secs as i64,
            ),
        ] {
            if v <= 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        if self.union.insurer_name.trim().is_empty() {
            return Err(ConfigError::invalid(
                "union.insurer_name",
                "must not be empty (it is printed on the deduction statement)",
            ));
        }
        Ok(())
    }
}

/// An absolute http(s) URL without fragment; http only on a loopback host.
fn web_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::invalid(key, e))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => {
            return Err(ConfigError::invalid(
                key,
                "must be https (http only on localhost)",
            ));
        }
    }
    if url.fragment().is_some() {
        return Err(ConfigError::invalid(key, "must not have a fragment"));
    }
    Ok(url)
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

    fn valid() -> Config {
        let mut c = Config::default();
        c.oidc.client_secret = Secret::new("x".repeat(32));
        c
    }

    #[test]
    fn defaults_need_only_the_secret() {
        assert!(valid().validate().is_ok());
        let err = Config::default().validate().unwrap_err().to_string();
        assert!(err.contains("oidc.client_secret"), "{err}");
        assert_eq!(
            valid().redirect_uri(),
            "http://localhost:8081/auth/callback"
        );
        assert_eq!(valid().account_url(), "http://localhost:8080/account");
    }

    /// The example in `deploy/` must stay a file operators can start from.
    #[test]
    fn deploy_example_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/portal.example.toml");
        let config: Config = kenpo_shared::config::load(Some(&path), "KENPO_PORTAL_EXAMPLE_")
            .unwrap_or_else(|e| panic!("{e}"));
        config.validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.redirect_uri(),
            "https://portal.kenpo.example.jp/auth/callback"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        type Spoil = fn(&mut Config);
        let cases: [(Spoil, &str); 3] = [
            (
                |c| c.oidc.issuer = "http://idp.example".into(),
                "oidc.issuer",
            ),
            (|c| c.oidc.signing_alg = "HS256".into(), "oidc.signing_alg"),
            (|c| c.session.revalidate_secs = 0, "session.revalidate_secs"),
        ];
        for (spoil, key) in cases {
            let mut c = valid();
            spoil(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }
}
