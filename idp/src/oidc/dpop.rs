//! DPoP (RFC 9449): proofs of possession of a client's key, and the tokens bound to it.
//!
//! A proof is a JWS of type `dpop+jwt` signed with the private key whose public half is in
//! its header (`jwk`). [`check_proof`] is the whole of the per-request check, pure, with time
//! passed in: header (`typ`, `alg` of ours, a public key coherent with `alg`), signature,
//! `htm`, `htu`, `iat` in a small window, `jti`, and `ath` when an access token comes with the
//! proof. It answers the key's RFC 7638 thumbprint (`jkt`), which is what tokens are bound to.
//!
//! What needs shared state is done by [`verify`] through the short-lived store, so it holds
//! across replicas: a `jti` is accepted once per key within the window (`put_new`, an atomic
//! set-if-absent with a TTL), and, when `dpop.nonce` is on, the proof must carry a nonce this
//! server handed out (`DPoP-Nonce`) within `dpop.nonce_ttl_secs`.
//!
//! Threats: a stolen access or refresh token without the key (refused: no valid proof); a
//! captured proof replayed (jti store; `htm`/`htu` tie it to one endpoint, `ath` to one token,
//! `iat` bounds how long it is worth keeping, nonces bound that to the server's clock); a proof
//! made in advance by malware that later loses the key (nonces). See
//! docs/designs/sender-constrained-tokens.md.

use crate::security::tokens::{b64url, b64url_decode, new_token, same};
use crate::store::ephemeral::{EphResult, Ephemeral, secs};
use axum::http::HeaderMap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The signing algorithms accepted for proofs (`dpop_signing_alg_values_supported`).
/// `Ed25519` is RFC 9864's fully-specified name for `EdDSA` with Ed25519 keys.
pub const ALGS: [&str; 5] = ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"];
/// Longest proof accepted (a header with a 4096-bit RSA key is about 1 KB).
const MAX_PROOF_LEN: usize = 4096;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;
/// JWK members of private or symmetric keys: a proof carries a public key only (§4.2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// How old or how far ahead a proof's `iat` may be.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub max_age: i64,
    pub max_skew: i64,
}

/// A proof that passed [`check_proof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// base64url SHA-256 thumbprint (RFC 7638) of the proof's key.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

/// Why a proof is refused (each answered `invalid_dpop_proof`, or `use_dpop_nonce`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("the DPoP header must hold exactly one proof")]
    NotOne,
    #[error("the DPoP proof is not a compact JWS")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Typ,
    #[error("the DPoP proof's alg is not supported")]
    Alg,
    #[error("the DPoP proof's jwk must be a public key fitting its alg")]
    Key,
    #[error("the DPoP proof's signature does not verify with its jwk")]
    Signature,
    #[error("the DPoP proof's htm does not match the request method")]
    Htm,
    #[error("the DPoP proof's htu does not match the request URL")]
    Htu,
    #[error("the DPoP proof's iat is missing, too old or in the future")]
    Iat,
    #[error("the DPoP proof needs a jti")]
    Jti,
    #[error("the DPoP proof was used before")]
    Replayed,
    #[error("the DPoP proof needs an ath (hash of the access token)")]
    AthMissing,
    #[error("the DPoP proof's ath does not match the access token")]
    AthMismatch,
    #[error("the DPoP proof was made with another key than the one the token is bound to")]
    OtherKey,
    #[error("a DPoP proof is required")]
    Required,
    /// The proof lacks a nonce of ours, or carries a stale one: retry with `DPoP-Nonce`.
    #[error("the authorization server requires a nonce in the DPoP proof")]
    UseNonce,
}

/// `BASE64URL(SHA-256(access_token))`, the `ath` of a proof sent with a token.
pub fn ath(access_token: &str) -> String {
    b64url(&Sha256::digest(access_token.as_bytes()))
}

/// The URL as `htu` compares it: parsed (so scheme and host case, default ports and
/// percent-encoding are normalised, RFC 3986 §6.2.2–6.2.3), without query and fragment.
fn htu_form(u: &str) -> Option<url::Url> {
    let mut u = url::Url::parse(u).ok()?;
    u.set_query(None);
    u.set_fragment(None);
    Some(u)
}

fn b64url_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether the header's public key fits the algorithm (and so the thumbprint is defined).
fn key_fits(alg: Algorithm, jwk: &Jwk) -> bool {
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => {
            p.curve == EllipticCurve::P256 && b64url_chars(&p.x) && b64url_chars(&p.y)
        }
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519 && b64url_chars(&p.x)
        }
        (AlgorithmParameters::RSA(p), Algorithm::RS256 | Algorithm::PS256) => {
            b64url_chars(&p.e)
                && b64url_chars(&p.n)
                && b64url_decode(&p.n).is_some_and(|n| n.len() >= MIN_RSA_BYTES)
        }
        _ => false,
    }
}

/// Checks one DPoP proof for a request (`method`, the request's external `url`), with the
/// access token it accompanies if any, at `now`. No state: replay and nonces are [`verify`]'s.
pub fn check_proof(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: i64,
    window: Window,
) -> Result<Proof, DpopError> {
    let mut segments = proof.split('.');
    let (Some(head), Some(body), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(DpopError::Malformed);
    };
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed);
    }
    // The header as sent, not through jsonwebtoken's typed `Header`: that one would hide the
    // exact `typ` and a private-key member beside the public key, and cannot name RFC 9864's
    // fully-specified `Ed25519`, which certified clients (openid-client) sign with.
    let decode = |segment: &str| {
        b64url_decode(segment).and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    let raw = decode(head).ok_or(DpopError::Malformed)?;
    if raw["typ"].as_str() != Some("dpop+jwt") {
        return Err(DpopError::Typ);
    }
    let alg = match raw["alg"].as_str() {
        Some("ES256") => Algorithm::ES256,
        // RFC 9864: `Ed25519` is `EdDSA` with an Ed25519 key, fully specified.
        Some("EdDSA" | "Ed25519") => Algorithm::EdDSA,
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        _ => return Err(DpopError::Alg),
    };
    let jwk_raw = raw["jwk"].as_object().ok_or(DpopError::Key)?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk_raw.contains_key(*m)) {
        return Err(DpopError::Key);
    }
    let jwk: Jwk = serde_json::from_value(raw["jwk"].clone()).map_err(|_| DpopError::Key)?;
    if !key_fits(alg, &jwk) {
        return Err(DpopError::Key);
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| DpopError::Key)?;
    // jsonwebtoken verifies the signature over the signing input (RFC 7515 §5.2).
    let signed =
        jsonwebtoken::crypto::verify(signature, format!("{head}.{body}").as_bytes(), &key, alg)
            .unwrap_or(false);
    if !signed {
        return Err(DpopError::Signature);
    }
    let claims = decode(body)
        .filter(Value::is_object)
        .ok_or(DpopError::Malformed)?;
    if claims["htm"].as_str() != Some(method) {
        return Err(DpopError::Htm);
    }
    let htu = claims["htu"].as_str().and_then(htu_form);
    if htu.is_none() || htu != htu_form(url) {
        return Err(DpopError::Htu);
    }
    let iat = claims["iat"].as_i64().ok_or(DpopError::Iat)?;
    if iat < now - window.max_age || iat > now + window.max_skew {
        return Err(DpopError::Iat);
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(DpopError::Jti)?;
    if let Some(token) = access_token {
        let sent = claims["ath"].as_str().ok_or(DpopError::AthMissing)?;
        if !same(sent.as_bytes(), ath(token).as_bytes()) {
            return Err(DpopError::AthMismatch);
        }
    }
    Ok(Proof {
        jkt: jwk.thumbprint(ThumbprintHash::SHA256),
        jti: jti.to_string(),
        iat,
        nonce: claims["nonce"].as_str().map(String::from),
    })
}

/// The proof of a request: none, or the one `DPoP` header (two are refused, §4.3).
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut all = headers.get_all("dpop").iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v.to_str().map(Some).map_err(|_| DpopError::Malformed),
        (Some(_), Some(_)) => Err(DpopError::NotOne),
    }
}

/// A refusal with what the client needs to retry: a fresh nonce when nonces are on.
#[derive(Debug)]
pub enum Refusal {
    Proof(DpopError, Option<String>),
    Store(crate::store::ephemeral::EphemeralError),
}

impl From<crate::store::ephemeral::EphemeralError> for Refusal {
    fn from(e: crate::store::ephemeral::EphemeralError) -> Self {
        Refusal::Store(e)
    }
}

fn jti_key(jkt: &str, jti: &str) -> String {
    format!(
        "dpop-jti:{jkt}:{}",
        crate::security::tokens::token_hash(jti)
    )
}
fn nonce_key(nonce: &str) -> String {
    format!("dpop-nonce:{nonce}")
}
const CURRENT_NONCE: &str = "dpop-nonce-current";

/// Server nonces (RFC 9449 §8): one current nonce shared by the replicas, replaced when half
/// its lifetime has passed; each is accepted until `ttl` seconds after it was made. Times are
/// the application clock's (kept with the nonce), the store's TTL only cleans up.
#[derive(Clone, Copy)]
pub struct Nonces {
    pub on: bool,
    pub ttl: i64,
}

impl Nonces {
    /// The nonce to hand out at `now` (none when nonces are off).
    pub async fn current(&self, eph: &Ephemeral, now: i64) -> EphResult<Option<String>> {
        if !self.on {
            return Ok(None);
        }
        let current = eph.get(CURRENT_NONCE).await?.and_then(|v| {
            let (made, nonce) = v.split_once(':')?;
            let made: i64 = made.parse().ok()?;
            (now >= made && now - made < self.ttl / 2).then(|| nonce.to_string())
        });
        if let Some(n) = current {
            return Ok(Some(n));
        }
        let fresh = new_token();
        // Accepted first, then published: a client never holds a nonce we would refuse. Two
        // replicas replacing it at once leave two valid nonces, which is harmless.
        eph.put(&nonce_key(&fresh), &now.to_string(), secs(self.ttl))
            .await?;
        eph.put(CURRENT_NONCE, &format!("{now}:{fresh}"), secs(self.ttl))
            .await?;
        Ok(Some(fresh))
    }

    async fn accepts(&self, eph: &Ephemeral, nonce: Option<&str>, now: i64) -> EphResult<bool> {
        let Some(n) = nonce.filter(|n| !n.is_empty() && n.len() <= 128) else {
            return Ok(false);
        };
        Ok(eph
            .get(&nonce_key(n))
            .await?
            .and_then(|made| made.parse::<i64>().ok())
            .is_some_and(|made| now >= made && now - made < self.ttl))
    }
}

/// Verifies the DPoP proof of a request, if it has one: [`check_proof`], then the nonce (when
/// on) and the single use of its `jti`. Answers the key's thumbprint.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    eph: &Ephemeral,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: i64,
    window: Window,
    nonces: Nonces,
) -> Result<Option<String>, Refusal> {
    let refuse = |e: DpopError| Refusal::Proof(e, None);
    let Some(raw) = proof_header(headers).map_err(refuse)? else {
        return Ok(None);
    };
    let proof = check_proof(raw, method, url, access_token, now, window).map_err(refuse)?;
    if nonces.on && !nonces.accepts(eph, proof.nonce.as_deref(), now).await? {
        return Err(Refusal::Proof(
            DpopError::UseNonce,
            nonces.current(eph, now).await?,
        ));
    }
    let ttl = window.max_age + window.max_skew + 1;
    if !eph
        .put_new(&jti_key(&proof.jkt, &proof.jti), "1", secs(ttl))
        .await?
    {
        return Err(refuse(DpopError::Replayed));
    }
    Ok(Some(proof.jkt))
}

/// A `dpop_jkt` parameter (RFC 9449 §10): a base64url SHA-256 thumbprint, 43 characters.
pub fn valid_jkt(v: &str) -> bool {
    v.len() == 43 && b64url_chars(v)
}

#[cfg(test)]
mod tests;
