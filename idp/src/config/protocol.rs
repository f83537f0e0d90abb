//! The OpenID Connect side: token lifetimes, pushed requests, DPoP, signing-key rotation and
//! the relying parties declared in the file (`[tokens]`, `[par]`, `[dpop]`, `[keys]`,
//! `[[clients]]`).

use kenpo_shared::Secret;
use serde::Deserialize;

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
