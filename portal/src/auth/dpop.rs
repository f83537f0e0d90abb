//! DPoP (RFC 9449) as this relying party uses it: every request to the IdP's token and
//! pushed-authorization endpoints carries a proof made with the portal's key, so the access
//! tokens it is issued are bound to that key and useless to anyone who copies them.
//!
//! Each sign-in has a key of its own, an ES256 key made when the member is sent to the IdP: its
//! thumbprint goes into the pushed request (`dpop_jkt`) and its PKCS#8 form into the pending
//! sign-in in the shared store, so whichever replica receives the callback proves possession of
//! the same key at the token endpoint. Refreshes use the replica's own key (made at start,
//! never stored): the portal never presents an access token (it reads the verified ID token) and
//! the refresh tokens of a confidential client are bound to its credentials, not to a DPoP key
//! (RFC 9449 §5), so a refresh on another replica, with another key, is in order.
//!
//! The proof is built by jsonwebtoken (typed header with the public `jwk`); the IdP may demand
//! a nonce (`use_dpop_nonce`): the request is then sent once more with it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kenpo_shared::secret::Secret;
use openidconnect::http;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A DPoP key of the portal (one per sign-in, one per replica for refreshes).
pub struct DpopKey {
    enc: EncodingKey,
    jwk: Jwk,
    pkcs8: Secret<Vec<u8>>,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").field("jkt", &self.jkt()).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DpopHttpError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("DPoP proof: {0}")]
    Proof(#[from] jsonwebtoken::errors::Error),
    #[error("response: {0}")]
    Response(#[from] http::Error),
}

impl DpopKey {
    pub fn generate() -> Result<DpopKey, String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| e.to_string())?;
        Self::from_pkcs8(pkcs8.as_ref().to_vec())
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Result<DpopKey, String> {
        // ring parses the document first: jsonwebtoken would take any bytes and fail at signing.
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| e.to_string())?;
        let enc = EncodingKey::from_ec_der(&pkcs8);
        let jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).map_err(|e| e.to_string())?;
        Ok(DpopKey {
            enc,
            jwk,
            pkcs8: Secret::new(pkcs8),
        })
    }

    /// The private key as text, to be kept with a pending sign-in (see the module comment).
    pub fn export(&self) -> Secret<String> {
        Secret::new(URL_SAFE_NO_PAD.encode(self.pkcs8.expose()))
    }

    /// A key from [`DpopKey::export`].
    pub fn import(text: &str) -> Result<DpopKey, String> {
        let der = URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())?;
        Self::from_pkcs8(der)
    }

    /// The RFC 7638 thumbprint (`dpop_jkt`, `cnf.jkt`).
    pub fn jkt(&self) -> String {
        self.jwk.thumbprint(ThumbprintHash::SHA256)
    }

    /// A proof for one request (`htm`, `htu` without query), at `now`.
    pub fn proof(
        &self,
        htm: &str,
        htu: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        let mut public = self.jwk.clone();
        // The key's identity is its thumbprint; `alg` is the header's.
        public.common = Default::default();
        header.jwk = Some(public);
        let htu = htu.split(['?', '#']).next().unwrap_or(htu);
        let mut claims = json!({
            "htm": htm,
            "htu": htu,
            "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        jsonwebtoken::encode(&header, &claims, &self.enc)
    }
}

/// Sends `req` with a proof of `key` (none without a key: an IdP that does not do DPoP);
/// once more with the IdP's nonce if it asks for one, and once more with the IdP's time if it
/// refuses the proof while its clock (the `Date` of its answer) is off ours: the IdP checks
/// `iat` against its own clock in a window of seconds, which replicas a minute apart miss.
pub async fn send(
    http_client: &reqwest::Client,
    key: Option<&DpopKey>,
    req: http::Request<Vec<u8>>,
    now: i64,
) -> Result<http::Response<Vec<u8>>, DpopHttpError> {
    let (parts, body) = req.into_parts();
    let url = parts.uri.to_string();
    let mut nonce: Option<String> = None;
    let mut iat = now;
    let mut corrected = false;
    loop {
        let mut request = http_client
            .request(parts.method.clone(), &url)
            .headers(parts.headers.clone())
            .body(body.clone());
        if let Some(key) = key {
            request = request.header(
                "DPoP",
                key.proof(parts.method.as_str(), &url, nonce.as_deref(), iat)?,
            );
        }
        let resp = request.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?.to_vec();
        if key.is_some() && status.is_client_error() {
            let error = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|b| b["error"].as_str().map(String::from));
            let offered = headers
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            if error.as_deref() == Some("use_dpop_nonce") && nonce.is_none() && offered.is_some() {
                nonce = offered;
                continue;
            }
            if error.as_deref() == Some("invalid_dpop_proof")
                && !corrected
                && let Some(theirs) = server_time(&headers)
                && (theirs - now).abs() > CLOCK_NOISE_SECS
            {
                corrected = true;
                iat = theirs;
                continue;
            }
        }
        let mut out = http::Response::builder().status(status);
        for (k, v) in &headers {
            out = out.header(k, v);
        }
        return Ok(out.body(bytes)?);
    }
}

/// Less than this between the IdP's `Date` (whole seconds) and our clock is not skew.
const CLOCK_NOISE_SECS: i64 = 2;

/// The time of an answer (`Date`, RFC 9110 §6.6.1), in Unix seconds.
fn server_time(headers: &http::HeaderMap) -> Option<i64> {
    let date = headers.get(http::header::DATE)?.to_str().ok()?;
    let t = httpdate::parse_http_date(date).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

type Sending = Pin<Box<dyn Future<Output = Result<http::Response<Vec<u8>>, DpopHttpError>> + Send>>;

/// An HTTP client for openidconnect's token requests that adds a proof of `key` to each.
pub fn client(
    http_client: reqwest::Client,
    key: Option<Arc<DpopKey>>,
    now: i64,
) -> impl Fn(http::Request<Vec<u8>>) -> Sending {
    move |req| {
        let (http_client, key) = (http_client.clone(), key.clone());
        Box::pin(async move { send(&http_client, key.as_deref(), req, now).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_time_is_read_from_date() {
        let mut h = http::HeaderMap::new();
        assert_eq!(server_time(&h), None);
        h.insert(
            http::header::DATE,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(server_time(&h), Some(784_111_777));
        h.insert(http::header::DATE, "yesterday".parse().unwrap());
        assert_eq!(server_time(&h), None);
    }

    #[test]
    fn an_exported_key_imports_as_the_same_key() {
        let key = DpopKey::generate().unwrap();
        let text = key.export();
        let again = DpopKey::import(text.expose()).unwrap();
        assert_eq!(again.jkt(), key.jkt());
        assert_eq!(format!("{text:?}"), "Secret(***)");
        assert!(DpopKey::import("bm90IGEga2V5").is_err());
        assert!(DpopKey::import("not base64!").is_err());
    }

    #[test]
    fn a_proof_verifies_with_its_own_header_key() {
        let key = DpopKey::generate().unwrap();
        let proof = key
            .proof(
                "POST",
                "https://idp.example/token?x=1",
                Some("n"),
                1_800_000_000,
            )
            .unwrap();
        let header = jsonwebtoken::decode_header(&proof).unwrap();
        assert_eq!(header.typ.as_deref(), Some("dpop+jwt"));
        let jwk = header.jwk.unwrap();
        assert_eq!(jwk.thumbprint(ThumbprintHash::SHA256), key.jkt());
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &proof,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &v,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["htu"], "https://idp.example/token");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["nonce"], "n");
    }
}
