//! Checking what the IdP signs for us: ID tokens (with openidconnect's verifier, restricted to
//! the registered algorithm) and back-channel logout tokens (OpenID Connect Back-Channel Logout
//! 1.0, section 2.6), whose signatures are checked with the same keys through openidconnect's
//! JWK type.
//!
//! A logout token is refused when: it is not a three-part JWS; its `typ` is not `logout+jwt`
//! (so an ID token cannot be replayed as one); its `alg` is not the registered one; no key of
//! the IdP verifies it; `iss` is not the issuer; `aud` does not name this client; `iat` is
//! missing or in the future; `exp` is missing or past; `jti` is missing; neither `sub` nor `sid`
//! is present; `events` lacks the back-channel logout event; or it carries a `nonce`.

use super::provider::{Discovered, MemberClaims, MemberIdToken, ProviderSettings};
use base64::Engine;
use kenpo_shared::ids::{Branch, MemberKey, MemberNumber, MemberSymbol};
use openidconnect::core::{CoreGenderClaim, CoreJwsSigningAlgorithm};
use openidconnect::{IdTokenClaims, JsonWebKey, Nonce};
use serde_json::Value;
use time::OffsetDateTime;

pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Clock difference tolerated between the IdP and the portal.
pub const LEEWAY_SECS: i64 = 60;

/// Who signed in, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub sid: Option<String>,
    pub key: MemberKey,
    pub branch: Branch,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("the token response has no ID token")]
    Missing,
    #[error("ID token rejected: {0}")]
    Invalid(String),
    #[error("ID token is signed with a key the IdP does not publish")]
    UnknownKey,
    /// Signed in, but not as an insured person with 記号・番号 (scope `member` not granted, or an
    /// account without a household).
    #[error("the ID token carries no valid member_symbol / member_number")]
    NotAMember,
}

fn chrono_time(now: OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(now.unix_timestamp(), now.nanosecond())
        .unwrap_or_else(chrono::Utc::now)
}

/// Verifies an ID token: signature with the registered algorithm, issuer, audience, expiry
/// against `now`, and the nonce of the sign-in (`None` for a refreshed token, which carries
/// none of its own).
pub fn verify_id_token(
    d: &Discovered,
    settings: &ProviderSettings,
    raw: &str,
    nonce: Option<&Nonce>,
    now: OffsetDateTime,
) -> Result<Identity, IdTokenError> {
    let token: MemberIdToken = raw
        .parse()
        .map_err(|e: serde_json::Error| IdTokenError::Invalid(e.to_string()))?;
    let at = chrono_time(now);
    let required = settings.required_acr.clone();
    let verifier = d
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![settings.alg.clone()])
        .set_time_fn(move || at)
        .set_auth_context_verifier_fn(move |acr| match (&required, acr) {
            (None, _) => Ok(()),
            (Some(want), Some(got)) if got.as_str() == want => Ok(()),
            (Some(want), got) => Err(format!(
                "acr {:?} where {want} is required",
                got.map(|a| a.as_str())
            )),
        });
    let claims: &IdTokenClaims<MemberClaims, CoreGenderClaim> = match nonce {
        Some(n) => token.claims(&verifier, n),
        None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|e| {
        let text = e.to_string();
        if matches!(
            e,
            openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey
            )
        ) {
            IdTokenError::UnknownKey
        } else {
            IdTokenError::Invalid(text)
        }
    })?;
    let extra = claims.additional_claims();
    let symbol = extra
        .member_symbol
        .as_deref()
        .and_then(|s| MemberSymbol::parse(s).ok());
    let number = extra
        .member_number
        .as_deref()
        .and_then(|s| MemberNumber::parse(s).ok());
    let (Some(symbol), Some(number)) = (symbol, number) else {
        return Err(IdTokenError::NotAMember);
    };
    let branch = extra
        .member_branch
        .as_deref()
        .and_then(|b| Branch::parse(b).ok())
        .unwrap_or_else(Branch::insured);
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    Ok(Identity {
        sub: claims.subject().as_str().to_string(),
        sid: extra.sid.clone(),
        key: MemberKey { symbol, number },
        branch,
        name,
    })
}

/// What a valid logout token asks us to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("header: {0}")]
    Header(String),
    #[error("no published key of the IdP matches the token")]
    UnknownKey,
    #[error("signature does not verify")]
    Signature,
    #[error("claim {0}")]
    Claim(String),
}

fn b64(part: &str) -> Result<Vec<u8>, LogoutTokenError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| LogoutTokenError::Malformed("not base64url"))
}

fn alg_name(alg: &CoreJwsSigningAlgorithm) -> &'static str {
    match alg {
        CoreJwsSigningAlgorithm::EcdsaP256Sha256 => "ES256",
        CoreJwsSigningAlgorithm::EdDsa => "EdDSA",
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 => "RS256",
        _ => "",
    }
}

/// Checks a logout token's signature and claims against `now` (UNIX seconds).
pub fn verify_logout_token(
    d: &Discovered,
    settings: &ProviderSettings,
    raw: &str,
    now: i64,
) -> Result<LogoutRequest, LogoutTokenError> {
    let parts: Vec<&str> = raw.trim().split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err(LogoutTokenError::Malformed(
            "not a signed JWT (three parts)",
        ));
    };
    let header: Value = serde_json::from_slice(&b64(header_b64)?)
        .map_err(|_| LogoutTokenError::Malformed("header is not JSON"))?;
    let typ = header["typ"].as_str().unwrap_or("").to_ascii_lowercase();
    if typ != "logout+jwt" && typ != "application/logout+jwt" {
        return Err(LogoutTokenError::Header(format!(
            "typ {typ:?} is not logout+jwt"
        )));
    }
    let expected = alg_name(&settings.alg);
    if header["alg"].as_str() != Some(expected) {
        return Err(LogoutTokenError::Header(format!(
            "alg {} is not the registered {expected}",
            header["alg"]
        )));
    }
    let kid = header["kid"].as_str();
    let signature = b64(signature_b64)?;
    let message = format!("{header_b64}.{payload_b64}");
    let candidates: Vec<_> = d
        .metadata
        .jwks()
        .keys()
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.key_id().is_some_and(|id| id.as_str() == kid)))
        .collect();
    if candidates.is_empty() {
        return Err(LogoutTokenError::UnknownKey);
    }
    if !candidates.iter().any(|k| {
        k.verify_signature(&settings.alg, message.as_bytes(), &signature)
            .is_ok()
    }) {
        return Err(LogoutTokenError::Signature);
    }
    let claims: Value = serde_json::from_slice(&b64(payload_b64)?)
        .map_err(|_| LogoutTokenError::Malformed("payload is not JSON"))?;
    check_logout_claims(&claims, settings, now)
}

/// The claim checks of a logout token whose signature is already verified.
pub fn check_logout_claims(
    claims: &Value,
    settings: &ProviderSettings,
    now: i64,
) -> Result<LogoutRequest, LogoutTokenError> {
    let bad = |m: &str| Err(LogoutTokenError::Claim(m.to_string()));
    if claims["iss"].as_str() != Some(settings.issuer.as_str()) {
        return bad("iss is not the issuer");
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => *a == settings.client_id,
        Value::Array(list) => list.iter().any(|a| a.as_str() == Some(&settings.client_id)),
        _ => false,
    };
    if !aud_ok {
        return bad("aud does not name this client");
    }
    let Some(iat) = claims["iat"].as_i64() else {
        return bad("iat is missing");
    };
    if iat > now + LEEWAY_SECS {
        return bad("iat is in the future");
    }
    let Some(exp) = claims["exp"].as_i64() else {
        return bad("exp is missing");
    };
    if exp + LEEWAY_SECS < now {
        return bad("the token has expired");
    }
    let jti = match claims["jti"].as_str() {
        Some(j) if !j.is_empty() => j.to_string(),
        _ => return bad("jti is missing"),
    };
    if !claims["events"][BACKCHANNEL_EVENT].is_object() {
        return bad("events lacks the back-channel logout event");
    }
    if claims.get("nonce").is_some() {
        return bad("a logout token must not carry a nonce");
    }
    let text = |k: &str| {
        claims[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let (sub, sid) = (text("sub"), text("sid"));
    if sub.is_none() && sid.is_none() {
        return bad("neither sub nor sid is present");
    }
    Ok(LogoutRequest { sub, sid, jti, exp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn settings() -> ProviderSettings {
        ProviderSettings {
            issuer: "https://idp.example".into(),
            client_id: "kenpo-portal".into(),
            client_secret: "s".repeat(32),
            redirect_uri: "https://portal.example/auth/callback".into(),
            alg: CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            refresh_after: Duration::from_secs(60),
            http_timeout: Duration::from_secs(5),
            required_acr: None,
        }
    }

    fn good(now: i64) -> Value {
        json!({
            "iss": "https://idp.example", "aud": "kenpo-portal", "iat": now, "exp": now + 120,
            "jti": "j1", "sub": "s1", "sid": "sid1", "events": { BACKCHANNEL_EVENT: {} }
        })
    }

    #[test]
    fn every_claim_rule_refuses() {
        let s = settings();
        let now = 1_800_000_000;
        assert_eq!(
            check_logout_claims(&good(now), &s, now).unwrap(),
            LogoutRequest {
                sub: Some("s1".into()),
                sid: Some("sid1".into()),
                jti: "j1".into(),
                exp: now + 120
            }
        );
        let mut aud_list = good(now);
        aud_list["aud"] = json!(["other", "kenpo-portal"]);
        assert!(check_logout_claims(&aud_list, &s, now).is_ok());
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "iss",
                Box::new(|c| c["iss"] = json!("https://evil.example")),
            ),
            ("aud", Box::new(|c| c["aud"] = json!("other-client"))),
            (
                "iat missing",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("iat");
                }),
            ),
            (
                "iat future",
                Box::new(move |c| c["iat"] = json!(now + 3600)),
            ),
            (
                "exp missing",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            ("expired", Box::new(move |c| c["exp"] = json!(now - 3600))),
            (
                "jti",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
            (
                "events missing",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("events");
                }),
            ),
            (
                "other event",
                Box::new(|c| c["events"] = json!({"urn:other": {}})),
            ),
            (
                "event not an object",
                Box::new(|c| c["events"] = json!({ BACKCHANNEL_EVENT: "yes" })),
            ),
            ("nonce", Box::new(|c| c["nonce"] = json!("n"))),
            (
                "no subject",
                Box::new(|c| {
                    let o = c.as_object_mut().unwrap();
                    o.remove("sub");
                    o.remove("sid");
                }),
            ),
        ];
        for (name, change) in cases {
            let mut c = good(now);
            change(&mut c);
            assert!(
                matches!(
                    check_logout_claims(&c, &s, now),
                    Err(LogoutTokenError::Claim(_))
                ),
                "{name} must be refused"
            );
        }
    }
}
