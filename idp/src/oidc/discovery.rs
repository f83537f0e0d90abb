//! OpenID Provider metadata (Discovery 1.0 §3), built with openidconnect's types so it has the
//! shape relying-party libraries expect. Only what is implemented is listed. Built once at
//! start (the document only depends on configuration).

use crate::oidc::claims::SUPPORTED_CLAIMS;
use crate::oidc::request::{ACR_MFA, ACR_PASSWORD};
use crate::store::clients::SUPPORTED_SCOPES;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, EndSessionUrl, IssuerUrl,
    JsonWebKeySetUrl, LanguageTag, LogoutProviderMetadata, ProviderMetadata, ResponseTypes, Scope,
    TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

/// Metadata from other specifications (RFC 7636, 7009, 7662, 9207, 9126, 9449, Back-Channel
/// Logout).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct KenpoMetadata {
    pub code_challenge_methods_supported: Vec<String>,
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    pub authorization_response_iss_parameter_supported: bool,
    pub prompt_values_supported: Vec<String>,
    /// RFC 9126 §5.
    pub pushed_authorization_request_endpoint: String,
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.1.
    pub dpop_signing_alg_values_supported: Vec<String>,
}

impl AdditionalProviderMetadata for KenpoMetadata {}

pub type KenpoProviderMetadata = ProviderMetadata<
    LogoutProviderMetadata<KenpoMetadata>,
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

const ALGS: [CoreJwsSigningAlgorithm; 3] = [
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EdDsa,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
];

fn methods(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The discovery document as JSON; `require_par` is the global `par.require`.
pub fn document(issuer: &str, require_par: bool) -> Result<String, String> {
    let url = |path: &str| format!("{issuer}{path}");
    let auth_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ];
    let extra = KenpoMetadata {
        code_challenge_methods_supported: vec!["S256".into()],
        revocation_endpoint: url("/revoke"),
        revocation_endpoint_auth_methods_supported: methods(&auth_methods),
        introspection_endpoint: url("/introspect"),
        introspection_endpoint_auth_methods_supported: methods(&auth_methods[..3]),
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        authorization_response_iss_parameter_supported: true,
        prompt_values_supported: methods(&["none", "login", "consent", "select_account"]),
        pushed_authorization_request_endpoint: url("/par"),
        require_pushed_authorization_requests: require_par,
        dpop_signing_alg_values_supported: methods(&crate::oidc::dpop::ALGS),
    };
    let e = |x: openidconnect::url::ParseError| x.to_string();
    let metadata = KenpoProviderMetadata::new(
        IssuerUrl::new(issuer.to_string()).map_err(e)?,
        AuthUrl::new(url("/authorize")).map_err(e)?,
        JsonWebKeySetUrl::new(url("/jwks")).map_err(e)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        ALGS.to_vec(),
        LogoutProviderMetadata {
            end_session_endpoint: Some(EndSessionUrl::new(url("/logout")).map_err(e)?),
            additional_metadata: extra,
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/token")).map_err(e)?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(url("/userinfo")).map_err(e)?))
    .set_scopes_supported(Some(
        SUPPORTED_SCOPES
            .iter()
            .map(|s| Scope::new(s.to_string()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
    ]))
    .set_acr_values_supported(Some(vec![
        AuthenticationContextClass::new(ACR_PASSWORD.into()),
        AuthenticationContextClass::new(ACR_MFA.into()),
    ]))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::PrivateKeyJwt,
        CoreClientAuthMethod::None,
    ]))
    .set_token_endpoint_auth_signing_alg_values_supported(Some(vec![
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::EdDsa,
    ]))
    .set_claim_types_supported(Some(vec![CoreClaimType::Normal]))
    .set_claims_supported(Some(
        SUPPORTED_CLAIMS
            .iter()
            .chain(["member_branch"].iter())
            .map(|c| CoreClaimName::new(c.to_string()))
            .collect(),
    ))
    .set_ui_locales_supported(Some(vec![
        LanguageTag::new("ja".into()),
        LanguageTag::new("en".into()),
    ]))
    .set_claims_parameter_supported(Some(true))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false));
    serde_json::to_string(&metadata).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_lists_what_is_implemented() {
        let doc: serde_json::Value =
            serde_json::from_str(&super::document("https://idp.example", false).unwrap()).unwrap();
        assert_eq!(doc["issuer"], "https://idp.example");
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["end_session_endpoint"], "https://idp.example/logout");
        assert_eq!(doc["request_parameter_supported"], false);
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            doc["pushed_authorization_request_endpoint"],
            "https://idp.example/par"
        );
        assert_eq!(doc["require_pushed_authorization_requests"], false);
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES256", "EdDSA", "RS256"])
        );
    }
}
