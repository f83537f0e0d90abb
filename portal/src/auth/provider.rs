//! The IdP as this relying party sees it: its discovery document and signing keys, fetched
//! lazily (the portal starts even while the IdP is still starting), cached, fetched again after
//! `oidc.metadata_refresh_secs` and at once when a token names a key we do not have (key
//! rotation), at most every few seconds so a forged `kid` cannot make us hammer the IdP.

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, ClientId, ClientSecret, EndSessionUrl,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IssuerUrl, ProviderMetadata,
    RedirectUrl,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Discovery fields beyond OpenID Connect Discovery 1.0 that the portal uses.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RP-Initiated Logout 1.0.
    pub end_session_endpoint: Option<EndSessionUrl>,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    #[serde(default)]
    pub backchannel_logout_supported: Option<bool>,
    /// RFC 9126: where authorization requests are pushed (used whenever advertised).
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// RFC 9449: token requests carry a DPoP proof when ES256 is listed.
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

impl ExtraMetadata {
    /// Whether the IdP takes ES256 DPoP proofs (the portal's key).
    pub fn dpop(&self) -> bool {
        self.dpop_signing_alg_values_supported
            .as_ref()
            .is_some_and(|a| a.iter().any(|x| x == "ES256"))
    }
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The claims of ours in the ID token (scope `member`) besides the standard ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberClaims {
    pub sid: Option<String>,
    pub member_symbol: Option<String>,
    pub member_number: Option<String>,
    pub member_branch: Option<String>,
}
impl AdditionalClaims for MemberClaims {}

pub type MemberIdToken = IdToken<
    MemberClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the IdP's discovery document or keys could not be fetched: {0}")]
    Discovery(String),
    #[error("configuration: {0}")]
    Config(String),
}

/// One fetch of discovery + keys, with a client built from it.
pub struct Discovered {
    pub metadata: Metadata,
    pub client: Client,
    fetched_at: Instant,
}

/// What the provider needs from configuration.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub alg: CoreJwsSigningAlgorithm,
    pub refresh_after: Duration,
    pub http_timeout: Duration,
    /// The assurance level members must have signed in with (`acr`, e.g. `urn:kenpo:loa:2`);
    /// an ID token claiming less is refused.
    pub required_acr: Option<String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Provider {
    settings: Arc<ProviderSettings>,
    pub http: openidconnect::reqwest::Client,
    /// This replica's DPoP key (`auth::dpop`).
    pub dpop: Arc<super::dpop::DpopKey>,
    cache: Arc<Mutex<Option<Arc<Discovered>>>>,
    /// Serialises fetches so a burst of requests makes one.
    fetching: Arc<tokio::sync::Mutex<()>>,
    last_forced: Arc<Mutex<Option<Instant>>>,
}

/// Forced re-fetches (unknown key) happen at most this often.
const FORCED_REFRESH_GAP: Duration = Duration::from_secs(10);

pub fn parse_alg(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    match name {
        "ES256" => Some(CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        "EdDSA" => Some(CoreJwsSigningAlgorithm::EdDsa),
        "RS256" => Some(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
        _ => None,
    }
}

impl Provider {
    pub fn new(settings: ProviderSettings) -> Result<Provider, ProviderError> {
        // No redirects: the IdP's endpoints answer directly, and following a redirect from a
        // token or key endpoint would be a server-side request forgery waiting to happen.
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(settings.http_timeout)
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        RedirectUrl::new(settings.redirect_uri.clone())
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let dpop = super::dpop::DpopKey::generate().map_err(ProviderError::Config)?;
        Ok(Provider {
            settings: Arc::new(settings),
            http,
            dpop: Arc::new(dpop),
            cache: Arc::new(Mutex::new(None)),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
            last_forced: Arc::new(Mutex::new(None)),
        })
    }

    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    fn cached(&self) -> Option<Arc<Discovered>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn fresh(&self, d: &Discovered) -> bool {
        d.fetched_at.elapsed() < self.settings.refresh_after
    }

    /// The current discovery, fetched when missing or stale. A stale copy is still used when
    /// the IdP does not answer, so a short IdP outage does not stop token checks.
    pub async fn get(&self) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(d) = self.cached().filter(|d| self.fresh(d)) {
            return Ok(d);
        }
        let _guard = self.fetching.lock().await;
        if let Some(d) = self.cached().filter(|d| self.fresh(d)) {
            return Ok(d);
        }
        match self.fetch().await {
            Ok(d) => Ok(d),
            Err(e) => match self.cached() {
                Some(stale) => {
                    tracing::warn!(error = %e, "IdP discovery failed; using the previous copy");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    /// Fetches again because a token names a key we do not have; `None` when a forced fetch
    /// happened moments ago (the key is then really unknown).
    pub async fn refresh_for_unknown_key(&self) -> Option<Arc<Discovered>> {
        {
            let mut last = self
                .last_forced
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < FORCED_REFRESH_GAP) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let _guard = self.fetching.lock().await;
        match self.fetch().await {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, "IdP key refresh failed");
                None
            }
        }
    }

    async fn fetch(&self) -> Result<Arc<Discovered>, ProviderError> {
        let s = &self.settings;
        let issuer =
            IssuerUrl::new(s.issuer.clone()).map_err(|e| ProviderError::Config(e.to_string()))?;
        // discover_async checks that the document's issuer is exactly ours and fetches the keys.
        let metadata = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| ProviderError::Discovery(error_chain(&e)))?;
        let redirect = RedirectUrl::new(s.redirect_uri.clone())
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(s.client_id.clone()),
            Some(ClientSecret::new(s.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        let d = Arc::new(Discovered {
            metadata,
            client,
            fetched_at: Instant::now(),
        });
        *self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(d.clone());
        tracing::debug!(issuer = %s.issuer, "IdP discovery fetched");
        Ok(d)
    }
}

/// An error with its sources, for logs (openidconnect's top-level messages are terse).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
