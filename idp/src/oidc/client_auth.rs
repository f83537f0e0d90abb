//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523, each assertion's
//! `jti` accepted once) and `none` for public clients. A client must use the one method it was
//! registered with; presenting two methods at once is an error (RFC 6749 §2.3).

use crate::error::OAuthError;
use crate::state::AppState;
use crate::store::clients::{AuthMethod, Client};
use crate::store::ephemeral::secs;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
use serde_json::Value;
use std::collections::HashMap;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest accepted lifetime of a client assertion.
const MAX_ASSERTION_SECS: i64 = 600;

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Parameters that carry a credential or a token: never accepted in the URI query of the
/// token, introspection and revocation endpoints (RFC 6749 §2.3.1, RFC 6750 §2), where they
/// would also end up in access logs.
const SECRET_PARAMS: [&str; 7] = [
    "client_secret",
    "client_assertion",
    "token",
    "access_token",
    "refresh_token",
    "code",
    "code_verifier",
];

/// Refuses a request whose URI query carries a credential or a token.
pub fn query_free(query: Option<&str>) -> Result<(), OAuthError> {
    if crate::oidc::params::query_has(query, &SECRET_PARAMS) {
        return Err(OAuthError::invalid_request(
            "credentials and tokens belong in the request body, not the URI query",
        ));
    }
    Ok(())
}

/// `Authorization: Basic` credentials (form-urlencoded id and secret, RFC 6749 §2.3.1). Any
/// other scheme (a `Bearer` token, say) is not a way to authenticate a client here and is
/// refused, so it cannot ride along beside credentials in the body.
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| OAuthError::invalid_client("malformed Authorization header"))?;
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Err(OAuthError::invalid_client(
            "unsupported Authorization scheme: use Basic with the client credentials",
        ));
    };
    let raw = STANDARD
        .decode(b64.trim())
        .map_err(|_| OAuthError::invalid_client("malformed Basic credentials"))?;
    let raw = String::from_utf8(raw)
        .map_err(|_| OAuthError::invalid_client("malformed Basic credentials"))?;
    let (id, secret) = raw
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    let id = percent_decode(id)
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    let secret = percent_decode(secret)
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    Ok(Some((id, secret)))
}

/// Authenticates the calling client. `audiences` are the values a client assertion's `aud`
/// may hold (this endpoint's URL and the issuer).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    audiences: &[String],
    now: i64,
) -> Result<std::sync::Arc<Client>, OAuthError> {
    let post_secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    // A header of another scheme beside credentials in the body is two methods at once.
    let basic = match basic(headers) {
        Err(_) if post_secret.is_some() || assertion.is_some() => {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method",
            ));
        }
        other => other?,
    };
    let used = [basic.is_some(), post_secret.is_some(), assertion.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if used > 1 {
        return Err(OAuthError::invalid_request(
            "more than one client authentication method",
        ));
    }
    let form_id = params.get("client_id");
    let claimed_id = if let Some((id, _)) = &basic {
        id.clone()
    } else if let Some(a) = assertion {
        if params.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_client(
                "unsupported client_assertion_type",
            ));
        }
        assertion_subject(a)?
    } else {
        form_id
            .cloned()
            .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?
    };
    if form_id.is_some_and(|f| *f != claimed_id) {
        return Err(OAuthError::invalid_client(
            "client_id does not match the credentials",
        ));
    }
    if claimed_id.len() > 64 {
        return Err(OAuthError::invalid_client("unknown client"));
    }
    let client = state
        .clients()
        .get(&claimed_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    match (client.auth_method, &basic, post_secret, assertion) {
        (AuthMethod::ClientSecretBasic, Some((_, secret)), None, None)
            if client.check_secret(secret) =>
        {
            Ok(client)
        }
        (AuthMethod::ClientSecretPost, None, Some(secret), None) if client.check_secret(secret) => {
            Ok(client)
        }
        (AuthMethod::PrivateKeyJwt, None, None, Some(a)) => {
            verify_assertion(state, &client, a, audiences, now).await?;
            Ok(client)
        }
        (AuthMethod::None, None, None, None) => Ok(client),
        _ => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

/// The client a client assertion claims to come from (its `sub`), read before anything is
/// verified: only to find the keys to verify it with.
pub fn assertion_subject(assertion: &str) -> Result<String, OAuthError> {
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .map_err(|_| OAuthError::invalid_client("malformed client assertion"))?
        .claims;
    Ok(claims["sub"]
        .as_str()
        .ok_or_else(|| OAuthError::invalid_client("client assertion has no sub"))?
        .to_string())
}

/// A verified client assertion's `jti` and `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub jti: String,
    pub exp: i64,
}

async fn verify_assertion(
    state: &AppState,
    client: &Client,
    assertion: &str,
    audiences: &[String],
    now: i64,
) -> Result<(), OAuthError> {
    let bad = |d: &str| OAuthError::invalid_client(format!("client assertion rejected: {d}"));
    let Assertion { jti, exp } = check_assertion(client, assertion, audiences, now)?;
    let fresh = state
        .eph
        .put_new(
            &format!("jti:{}:{jti}", client.client_id),
            "1",
            secs(exp - now + 60),
        )
        .await?;
    if !fresh {
        return Err(bad("jti already used"));
    }
    Ok(())
}

/// Checks a client assertion (RFC 7523 §3) against the client's registered keys, without the
/// replay check: algorithm, signature, `iss` = `sub` = the client, `aud` one of `audiences`,
/// `exp` (at most `MAX_ASSERTION_SECS` ahead of `now`) and a `jti`. Pure, so its parsing of
/// untrusted input is tested without a server.
pub fn check_assertion(
    client: &Client,
    assertion: &str,
    audiences: &[String],
    now: i64,
) -> Result<Assertion, OAuthError> {
    let bad = |d: &str| OAuthError::invalid_client(format!("client assertion rejected: {d}"));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad("malformed header"))?;
    if !matches!(
        header.alg,
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::EdDSA
    ) {
        return Err(bad("algorithm not allowed"));
    }
    let keys: Vec<Jwk> = client
        .jwks
        .as_ref()
        .and_then(|j| j["keys"].as_array())
        .map(|ks| {
            ks.iter()
                .filter_map(|k| serde_json::from_value(k.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .collect();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(audiences);
    validation.set_issuer(&[&client.client_id]);
    validation.sub = Some(client.client_id.clone());
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 30;
    let mut verified = None;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if let Ok(data) = jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
            verified = Some(data.claims);
            break;
        }
    }
    let claims = verified.ok_or_else(|| bad("signature, audience, issuer or expiry invalid"))?;
    let exp = claims["exp"].as_i64().ok_or_else(|| bad("exp"))?;
    if exp - now > MAX_ASSERTION_SECS {
        return Err(bad("lifetime too long"));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("jti is required"))?;
    Ok(Assertion {
        jti: jti.to_string(),
        exp,
    })
}

#[cfg(test)]
mod properties {
    //! Client assertions (RFC 7523) are untrusted JWTs: whatever is presented, reading and
    //! checking answer without panicking; a well-formed assertion signed with the client's key
    //! is accepted with its `jti`, and any change to it is refused.
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    const AUD: &str = "https://idp.example/token";

    struct Key {
        pkcs8: Vec<u8>,
        client: Client,
    }

    fn key() -> Key {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        let client = Client {
            jwks: Some(json!({"keys": [jwk]})),
            ..crate::oidc::test_support::client("jwt-rp", AuthMethod::PrivateKeyJwt)
        };
        Key { pkcs8, client }
    }

    fn sign(k: &Key, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        let key = jsonwebtoken::EncodingKey::from_ec_der(&k.pkcs8);
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_token_is_refused_without_panic(s in "\\PC{0,200}", parts in prop::collection::vec("[A-Za-z0-9_-]{0,40}", 0..5)) {
            let k = key();
            let auds = [AUD.to_string()];
            for t in [s, parts.join(".")] {
                let _ = assertion_subject(&t);
                prop_assert!(check_assertion(&k.client, &t, &auds, now()).is_err());
            }
        }

        #[test]
        fn a_signed_assertion_is_accepted_and_any_change_refused(
            jti in "[A-Za-z0-9._~-]{1,64}",
            ttl in 5i64..=MAX_ASSERTION_SECS,
            flip in any::<prop::sample::Index>(),
        ) {
            let k = key();
            let t = now();
            let claims = json!({"iss": "jwt-rp", "sub": "jwt-rp", "aud": AUD, "exp": t + ttl, "iat": t, "jti": jti});
            let token = sign(&k, &claims);
            let auds = [AUD.to_string()];
            prop_assert_eq!(assertion_subject(&token).unwrap(), "jwt-rp");
            prop_assert_eq!(
                check_assertion(&k.client, &token, &auds, t).unwrap(),
                Assertion { jti: jti.clone(), exp: t + ttl }
            );
            // One character of the signature changed.
            let mut bytes = token.clone().into_bytes();
            let sig_start = token.rfind('.').unwrap() + 1;
            let i = sig_start + flip.index(bytes.len() - sig_start);
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            if forged != token {
                prop_assert!(check_assertion(&k.client, &forged, &auds, t).is_err());
            }
            // Claims that must hold: audience, issuer, lifetime, jti.
            for (name, change) in [
                ("aud", json!({"aud": "https://evil.example/token"})),
                ("iss", json!({"iss": "other"})),
                ("sub", json!({"sub": "other"})),
                ("lifetime", json!({"exp": t + MAX_ASSERTION_SECS + 60})),
                ("expired", json!({"exp": t - 120})),
                ("jti", json!({"jti": ""})),
            ] {
                let mut c = claims.clone();
                for (key, v) in change.as_object().unwrap() {
                    c[key] = v.clone();
                }
                prop_assert!(check_assertion(&k.client, &sign(&k, &c), &auds, t).is_err(), "{}", name);
            }
            // Another key with the same kid.
            let other = key();
            prop_assert!(check_assertion(&k.client, &sign(&other, &claims), &auds, t).is_err());
        }
    }
}
