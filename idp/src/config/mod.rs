//! The IdP's configuration: `idp.toml` plus `KENPO_IDP_…` environment overrides
//! (`KENPO_IDP_DATABASE__URL` sets `database.url`). Every key is documented in
//! docs/configuration.md; `validate` turns a value that cannot work into an error naming its key.

mod members;
mod protocol;
mod server;
mod service;
mod validate;

pub use members::*;
pub use protocol::*;
pub use server::*;
pub use service::*;

use kenpo_shared::config::ConfigError;
use kenpo_shared::telemetry::LogConfig;
use serde::Deserialize;
use std::path::Path;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use kenpo_shared::Secret;

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
