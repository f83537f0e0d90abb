//! Configuration: one TOML file plus environment overrides. `KENPO_DATABASE__URL` overrides
//! `database.url` (double underscore between sections). A value that does not fit stops start-up
//! with a message naming the key.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: String, message: String },
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: &str, message: impl std::fmt::Display) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            message: message.to_string(),
        }
    }
}

/// Loads `T` from its defaults, then `file` (if given), then environment variables starting
/// with `env_prefix` (e.g. `KENPO_`).
pub fn load<T: DeserializeOwned>(file: Option<&Path>, env_prefix: &str) -> Result<T, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::File {
                path: path.display().to_string(),
                message: "not found".into(),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(Env::prefixed(env_prefix).split("__").lowercase(true));
    figment.extract::<T>().map_err(|errors| {
        let first = errors.into_iter().next();
        match first {
            Some(e) => {
                let key = if e.path.is_empty() {
                    "(top level)".to_string()
                } else {
                    e.path.join(".")
                };
                let source = e
                    .metadata
                    .as_ref()
                    .map(|m| format!(" (from {})", m.name))
                    .unwrap_or_default();
                ConfigError::Invalid {
                    key,
                    message: format!("{}{source}", e.kind),
                }
            }
            None => ConfigError::invalid("(unknown)", "could not be read"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Conf {
        server: Server,
    }
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Server {
        port: u16,
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let dir = std::env::temp_dir().join(format!("kenpo-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[server]\nport = \"eighty\"\n").unwrap();
        let err = load::<Conf>(Some(&path), "KENPO_TEST_UNUSED_")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`server.port`"), "{err}");
        std::fs::write(&path, "[server]\nprot = 80\n").unwrap();
        let err = load::<Conf>(Some(&path), "KENPO_TEST_UNUSED_")
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
        std::fs::write(&path, "[server]\nport = 8080\n").unwrap();
        assert_eq!(
            load::<Conf>(Some(&path), "KENPO_TEST_UNUSED_")
                .unwrap()
                .server
                .port,
            8080
        );
    }
}
