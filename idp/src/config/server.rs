//! Where the IdP listens and what it keeps its data in: `[server]`, `[database]`,
//! `[ephemeral]`, `[secrets]`.

use kenpo_shared::Secret;
use serde::Deserialize;
use std::path::PathBuf;

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
