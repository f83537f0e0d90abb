//! Which member claims a relying party receives, and the ID token that carries them.
//!
//! Scopes: `profile` → name, birthdate, locale; `email` → email, email_verified; `member` →
//! member_symbol, member_number, member_branch (these identify the household's notices, so
//! they are released only with the `member` scope, never through the `claims` parameter
//! alone). The `claims` parameter may ask for individual profile and email claims. `sub` is a
//! random, stable identifier per member, never the user ID.

use crate::oidc::keys::SigningKey;
use crate::store::members::Member;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, AuthorizationCode, ClientId, EndUserBirthday, EndUserEmail,
    EndUserName, IdToken, IdTokenClaims, IssuerUrl, LanguageTag, LocalizedClaim, Nonce,
    StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Claims of ours beside the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KenpoClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_branch: Option<String>,
}

impl AdditionalClaims for KenpoClaims {}

pub type KenpoIdToken = IdToken<
    KenpoClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

pub const SUPPORTED_CLAIMS: [&str; 17] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "name",
    "birthdate",
    "locale",
    "email",
    "email_verified",
    "member_symbol",
    "member_number",
];

/// Names of the claims released for `scopes` plus those asked for in one section
/// (`id_token` or `userinfo`) of the `claims` parameter.
pub fn released(scopes: &[String], requested: Option<&Value>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let has = |s: &str| scopes.iter().any(|x| x == s);
    if has("profile") {
        out.extend(["name", "birthdate", "locale"]);
    }
    if has("email") {
        out.extend(["email", "email_verified"]);
    }
    if has("member") {
        out.extend(["member_symbol", "member_number", "member_branch"]);
    }
    if let Some(obj) = requested.and_then(Value::as_object) {
        for name in ["name", "birthdate", "locale", "email", "email_verified"] {
            if obj.contains_key(name) && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// The member's claims as JSON (userinfo), limited to `names`.
pub fn member_claims(member: &Member, names: &[&str]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(member.subject));
    for name in names {
        let v = match *name {
            "name" => json!(member.name),
            "birthdate" => json!(member.birthdate),
            "locale" => json!(member.locale.clone().unwrap_or_else(|| "ja".into())),
            "email" => match &member.email {
                Some(e) => json!(e),
                None => continue,
            },
            "email_verified" => match &member.email {
                Some(_) => json!(member.email_verified),
                None => continue,
            },
            "member_symbol" => json!(member.symbol),
            "member_number" => json!(member.number),
            "member_branch" => json!("00"),
            _ => continue,
        };
        m.insert((*name).into(), v);
    }
    m
}

/// Everything an ID token says besides the member's claims.
pub struct IdTokenInput {
    pub issuer: String,
    /// The `aud`: the relying party the token is for.
    pub client_id: String,
    pub member: Member,
    /// The member claims granted (by scope or the `claims` parameter).
    pub names: Vec<&'static str>,
    /// The relying party's nonce from the authorization request, echoed unchanged.
    pub nonce: Option<String>,
    /// Of the authentication behind the token (OIDC Core §2), never of the token request.
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    /// The IdP session, for front- and back-channel logout.
    pub sid: String,
    /// `iat`, and `exp` = `now + ttl`.
    pub now: i64,
    pub ttl: i64,
    /// Hashed into `at_hash` / `c_hash` when the token travels with them.
    pub access_token: Option<String>,
    pub code: Option<String>,
}

fn time(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// Builds and signs an ID token with openidconnect's types (so its shape is the library's).
pub fn id_token(key: &SigningKey, input: &IdTokenInput) -> Result<String, String> {
    let m = &input.member;
    let has = |n: &str| input.names.contains(&n);
    let mut standard =
        StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new(m.subject.clone()));
    if has("name") {
        standard = standard.set_name(Some(LocalizedClaim::from(EndUserName::new(m.name.clone()))));
    }
    if has("birthdate") {
        standard = standard.set_birthdate(Some(EndUserBirthday::new(m.birthdate.clone())));
    }
    if has("locale") {
        standard = standard.set_locale(Some(LanguageTag::new(
            m.locale.clone().unwrap_or_else(|| "ja".into()),
        )));
    }
    if let (true, Some(email)) = (has("email"), &m.email) {
        standard = standard.set_email(Some(EndUserEmail::new(email.clone())));
    }
    if has("email_verified") && m.email.is_some() {
        standard = standard.set_email_verified(Some(m.email_verified));
    }
    let extra = KenpoClaims {
        sid: Some(input.sid.clone()),
        member_symbol: has("member_symbol").then(|| m.symbol.clone()),
        member_number: has("member_number").then(|| m.number.clone()),
        member_branch: has("member_branch").then(|| "00".to_string()),
    };
    let issuer = IssuerUrl::new(input.issuer.clone()).map_err(|e| e.to_string())?;
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(input.client_id.clone())],
        time(input.now + input.ttl),
        time(input.now),
        standard,
        extra,
    )
    .set_auth_time(Some(time(input.auth_time)))
    .set_nonce(input.nonce.clone().map(Nonce::new))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(input.acr.clone())))
    .set_auth_method_refs(Some(
        input
            .amr
            .iter()
            .map(|a| AuthenticationMethodReference::new(a.clone()))
            .collect(),
    ))
    .set_authorized_party(Some(ClientId::new(input.client_id.clone())));
    let at = input.access_token.clone().map(AccessToken::new);
    let code = input.code.clone().map(AuthorizationCode::new);
    KenpoIdToken::new(claims, key, key.alg.core(), at.as_ref(), code.as_ref())
        .map(|t| t.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_claims_need_the_member_scope() {
        let scopes = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(!released(&scopes(&["openid"]), None).contains(&"member_number"));
        let asked = json!({"member_number": null, "email": {"essential": true}});
        let r = released(&scopes(&["openid"]), Some(&asked));
        assert!(r.contains(&"email") && !r.contains(&"member_number"));
        assert!(released(&scopes(&["openid", "member"]), None).contains(&"member_number"));
    }
}
