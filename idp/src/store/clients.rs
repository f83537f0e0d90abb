//! Relying parties ("clients"), registered by staff in the configuration file or with
//! `idp clients add`. Redirect URIs are matched exactly, character for character.
//!
//! Client secrets are generated with 256 bits of entropy, so a SHA-256 of the secret is a safe
//! stored form and keeps client authentication fast (no password hash per token request).

use super::schema::clients::dsl as cl;
use super::{Db, StoreResult};
use crate::config::ClientConfig;
use crate::oidc::keys::Alg;
use crate::security::tokens::{same, token_hash};
use diesel::prelude::*;
use kenpo_shared::Secret;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The scope of a staff sign-in to one of the union's consoles (issue 11): the ID token then
/// names a staff account and carries its role; clients must list it explicitly.
pub const STAFF_SCOPE: &str = "staff";
pub const SUPPORTED_SCOPES: [&str; 5] = ["openid", "profile", "email", "member", "offline_access"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::clients, primary_key(client_id), treat_none_as_null = true)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub auth_method: String,
    pub jwks: Option<String>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    pub third_party: bool,
    pub id_token_alg: String,
    pub scopes: String,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub pkce_optional: bool,
    pub require_par: bool,
    pub require_dpop: bool,
}

/// A registered relying party, decoded.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub auth_method: AuthMethod,
    pub jwks: Option<Value>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub third_party: bool,
    pub id_token_alg: Option<Alg>,
    pub scopes: Vec<String>,
    pub source: String,
    /// A legacy relying party that cannot send PKCE (confidential clients only; default off).
    pub pkce_optional: bool,
    /// Authorization requests only by pushed request (RFC 9126 §5).
    pub require_par: bool,
    /// Token requests only with a DPoP proof, so every access token is DPoP-bound (RFC 9449).
    pub require_dpop: bool,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Whether an authorization request must carry a PKCE S256 challenge: always, except for a
    /// confidential legacy client registered with `pkce_optional`.
    pub fn requires_pkce(&self) -> bool {
        self.is_public() || !self.pkce_optional
    }

    pub fn check_secret(&self, secret: &str) -> bool {
        match &self.secret_hash {
            Some(h) => same(h.as_bytes(), token_hash(secret).as_bytes()),
            None => false,
        }
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        // Staff sign-in (issue 11) only for clients registered with it by name, never by default.
        if scope == STAFF_SCOPE {
            return self.scopes.iter().any(|s| s == scope);
        }
        SUPPORTED_SCOPES.contains(&scope)
            && (self.scopes.is_empty() || self.scopes.iter().any(|s| s == scope))
    }

    /// The origin of a registered redirect URI (for the CSP `form-action` of sign-in pages).
    pub fn redirect_origin(uri: &str) -> Option<String> {
        url::Url::parse(uri)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    }

    fn from_row(r: ClientRow) -> Client {
        let list = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
        Client {
            auth_method: AuthMethod::parse(&r.auth_method).unwrap_or(AuthMethod::ClientSecretBasic),
            jwks: r.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            redirect_uris: list(&r.redirect_uris),
            post_logout_redirect_uris: list(&r.post_logout_redirect_uris),
            scopes: list(&r.scopes),
            id_token_alg: Alg::parse(&r.id_token_alg),
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            backchannel_logout_uri: r.backchannel_logout_uri,
            third_party: r.third_party,
            source: r.source,
            pkce_optional: r.pkce_optional,
            require_par: r.require_par,
            require_dpop: r.require_dpop,
        }
    }
}

/// A client ready to be stored, validated: the registration (its `secret_hash` and `source`
/// are set when stored) and a confidential client's secret in clear, only to hash it.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client: Client,
    pub secret: Option<Secret<String>>,
}

/// A redirect URI must be absolute, without a fragment, and https (http only on loopback hosts,
/// for development and native apps).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URL: {e}"))?;
    if u.fragment().is_some() {
        return Err(format!("`{uri}` must not contain a fragment"));
    }
    let loopback = matches!(u.host(), Some(url::Host::Domain("localhost")))
        || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("`{uri}` must use https (http only on localhost)")),
    }
}

impl NewClient {
    pub fn validate(self) -> Result<NewClient, String> {
        let c = &self.client;
        if c.client_id.is_empty()
            || c.client_id.len() > 64
            || !c
                .client_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err("client_id must be 1–64 letters, digits, - _ .".into());
        }
        if c.redirect_uris.is_empty() {
            return Err("at least one redirect URI is required".into());
        }
        for u in c
            .redirect_uris
            .iter()
            .chain(&c.post_logout_redirect_uris)
            .chain(&c.backchannel_logout_uri)
        {
            check_redirect_uri(u)?;
        }
        match c.auth_method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => match &self.secret {
                Some(s) if s.expose().len() >= 32 => {}
                _ => return Err("a client secret of at least 32 characters is required".into()),
            },
            AuthMethod::PrivateKeyJwt => {
                let ok = c
                    .jwks
                    .as_ref()
                    .and_then(|j| j["keys"].as_array())
                    .is_some_and(|k| !k.is_empty());
                if !ok {
                    return Err("private_key_jwt needs `jwks` with at least one key".into());
                }
            }
            AuthMethod::None => {
                if self.secret.is_some() {
                    return Err("a public client (auth method none) has no secret".into());
                }
                if c.pkce_optional {
                    return Err(
                        "a public client (auth method none) must use PKCE: pkce_optional is for confidential legacy clients only".into(),
                    );
                }
            }
        }
        for s in &c.scopes {
            if !SUPPORTED_SCOPES.contains(&s.as_str()) && s != STAFF_SCOPE {
                return Err(format!("unknown scope `{s}`"));
            }
        }
        Ok(self)
    }

    pub fn from_config(c: &ClientConfig) -> Result<NewClient, String> {
        let secret = c.secret.clone();
        let method = match &c.token_endpoint_auth_method {
            Some(m) => AuthMethod::parse(m)
                .ok_or_else(|| format!("unknown token_endpoint_auth_method `{m}`"))?,
            None if secret.is_some() => AuthMethod::ClientSecretBasic,
            None if c.jwks.is_some() => AuthMethod::PrivateKeyJwt,
            None => AuthMethod::None,
        };
        let jwks = match &c.jwks {
            Some(j) => Some(serde_json::from_str(j).map_err(|e| format!("jwks is not JSON: {e}"))?),
            None => None,
        };
        let id_token_alg = match &c.id_token_signed_response_alg {
            Some(a) => Some(
                Alg::parse(a)
                    .ok_or_else(|| format!("unsupported id_token_signed_response_alg `{a}`"))?,
            ),
            None => None,
        };
        let client = Client {
            client_id: c.client_id.clone(),
            name: if c.name.is_empty() {
                c.client_id.clone()
            } else {
                c.name.clone()
            },
            secret_hash: None,
            auth_method: method,
            jwks,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            third_party: c.third_party,
            id_token_alg,
            scopes: c.scopes.clone(),
            pkce_optional: c.pkce_optional,
            require_par: c.require_par,
            require_dpop: c.require_dpop,
            source: String::new(),
        };
        NewClient { client, secret }.validate()
    }

    fn into_row(self, source: &str, now: i64) -> ClientRow {
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let c = self.client;
        ClientRow {
            secret_hash: self.secret.as_ref().map(|s| token_hash(s.expose())),
            auth_method: c.auth_method.as_str().into(),
            jwks: c.jwks.as_ref().map(|j| j.to_string()),
            redirect_uris: json(&c.redirect_uris),
            post_logout_redirect_uris: json(&c.post_logout_redirect_uris),
            scopes: json(&c.scopes),
            id_token_alg: c.id_token_alg.map(|a| a.as_str()).unwrap_or("").into(),
            client_id: c.client_id,
            name: c.name,
            backchannel_logout_uri: c.backchannel_logout_uri,
            third_party: c.third_party,
            source: source.into(),
            created_at: now,
            updated_at: now,
            pkce_optional: c.pkce_optional,
            require_par: c.require_par,
            require_dpop: c.require_dpop,
        }
    }
}

/// Registered clients kept in memory for a short while: a sign-in looks its client up three
/// times (authorization request, its continuation, the token request), and registrations change
/// rarely. Changes made through this replica apply at once; changes by the CLI or another
/// replica within `CLIENT_CACHE_SECS`. Unknown client IDs are not cached (anybody can make them
/// up).
#[derive(Clone, Default)]
pub struct ClientCache {
    entries: Arc<RwLock<HashMap<String, CachedClient>>>,
}

/// A client and when it was read.
type CachedClient = (Instant, Arc<Client>);

pub const CLIENT_CACHE_SECS: u64 = 30;
const CLIENT_CACHE_MAX: usize = 1000;

impl ClientCache {
    fn get(&self, id: &str) -> Option<Arc<Client>> {
        let map = self.entries.read().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(CLIENT_CACHE_SECS))
            .map(|(_, c)| c.clone())
    }

    fn put(&self, client: Arc<Client>) {
        let mut map = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CLIENT_CACHE_MAX {
            map.clear();
        }
        map.insert(client.client_id.clone(), (Instant::now(), client));
    }

    fn forget(&self, id: &str) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

pub struct ClientStore {
    db: Db,
    cache: Option<ClientCache>,
}

impl ClientStore {
    /// Straight to the database (the CLI).
    pub fn new(db: Db) -> Self {
        Self { db, cache: None }
    }

    /// Through a replica's cache (the server).
    pub fn cached(db: Db, cache: ClientCache) -> Self {
        Self {
            db,
            cache: Some(cache),
        }
    }

    pub async fn get(&self, client_id: &str) -> StoreResult<Option<Arc<Client>>> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(client_id)) {
            return Ok(Some(hit));
        }
        let id = client_id.to_string();
        let found = self
            .db
            .run(move |c| {
                Ok(cl::clients
                    .find(id)
                    .select(ClientRow::as_select())
                    .first(c)
                    .optional()?
                    .map(Client::from_row))
            })
            .await?
            .map(Arc::new);
        if let (Some(cache), Some(client)) = (&self.cache, &found) {
            cache.put(client.clone());
        }
        Ok(found)
    }

    pub async fn list(&self) -> StoreResult<Vec<Client>> {
        self.db
            .run(|c| {
                Ok(cl::clients
                    .order(cl::client_id)
                    .select(ClientRow::as_select())
                    .load(c)?
                    .into_iter()
                    .map(Client::from_row)
                    .collect())
            })
            .await
    }

    /// Inserts or replaces a client. `source` is `config` or `cli`.
    pub async fn upsert(&self, client: NewClient, source: &str, now: i64) -> StoreResult<()> {
        if let Some(cache) = &self.cache {
            cache.forget(&client.client.client_id);
        }
        let row = client.into_row(source, now);
        self.db
            .tx(move |c| {
                let exists: Option<i64> = cl::clients
                    .find(&row.client_id)
                    .select(cl::created_at)
                    .first(c)
                    .optional()?;
                match exists {
                    Some(created_at) => {
                        // A re-registration keeps the client's first registration time.
                        let row = ClientRow { created_at, ..row };
                        diesel::update(cl::clients.find(&row.client_id))
                            .set(&row)
                            .execute(c)?;
                    }
                    None => {
                        diesel::insert_into(cl::clients).values(&row).execute(c)?;
                    }
                }
                Ok(())
            })
            .await
    }

    pub async fn remove(&self, client_id: &str) -> StoreResult<bool> {
        if let Some(cache) = &self.cache {
            cache.forget(client_id);
        }
        let q = diesel::delete(cl::clients.find(client_id.to_string()));
        Ok(self.db.execute(q).await? > 0)
    }
}
