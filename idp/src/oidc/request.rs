//! The authorization request (OpenID Connect Core 3.1.2.1), parsed and checked.
//!
//! Order of checks matters: until the client and its exact redirect URI are known, errors are
//! shown on a page and never redirected (an open redirector otherwise); after that, errors go
//! back to the relying party with `state` and `iss` (RFC 9207).

use crate::security::tokens::new_id;
use crate::store::clients::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

pub const MAX_PARAM_LEN: usize = 2048;
pub const ACR_PASSWORD: &str = "urn:kenpo:loa:1";
pub const ACR_MFA: &str = "urn:kenpo:loa:2";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    None,
    Login,
    Consent,
    SelectAccount,
}

/// A validated authorization request, kept in the ephemeral store while the member signs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<Prompt>,
    pub max_age: Option<i64>,
    pub acr_values: Vec<String>,
    pub claims: Option<Value>,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
    /// `sub` of a verified `id_token_hint`.
    pub hint_subject: Option<String>,
    pub created_at: i64,
}

impl AuthRequest {
    pub fn has_prompt(&self, p: Prompt) -> bool {
        self.prompt.contains(&p)
    }

    /// Whether the relying party demands a second factor (acr_values or an essential acr
    /// claim naming the two-factor level).
    pub fn wants_mfa(&self) -> bool {
        let essential = self
            .claims
            .as_ref()
            .and_then(|c| c["id_token"]["acr"].as_object())
            .map(|acr| {
                acr.get("value").and_then(Value::as_str) == Some(ACR_MFA)
                    || acr
                        .get("values")
                        .and_then(Value::as_array)
                        .is_some_and(|v| v.iter().all(|x| x.as_str() == Some(ACR_MFA)))
            })
            .unwrap_or(false);
        essential || (!self.acr_values.is_empty() && self.acr_values.iter().all(|a| a == ACR_MFA))
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Shown on a page, never redirected: the client or redirect URI cannot be trusted.
    NoRedirect(&'static str),
    /// Sent back to the relying party's redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        code: &'static str,
        description: String,
    },
}

/// Raw parameters from the query string or the form body. A parameter given twice is an
/// error (RFC 6749 §3.1); unknown ones are ignored.
pub fn single_params(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(k);
        }
    }
    Ok(out)
}

/// Checks the parameters against the client (looked up by the caller from `client_id`).
/// `verify_hint` checks an `id_token_hint` and returns its subject.
pub fn validate(
    params: &HashMap<String, String>,
    client: Option<&Client>,
    duplicate: Option<&str>,
    verify_hint: impl Fn(&str) -> Option<String>,
    now: i64,
) -> Result<AuthRequest, RequestError> {
    let client = client.ok_or(RequestError::NoRedirect("unknown client_id"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or(RequestError::NoRedirect("missing redirect_uri"))?;
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(RequestError::NoRedirect(
            "redirect_uri is not registered for this client",
        ));
    }
    let state = params.get("state").cloned();
    let fail = |code: &'static str, description: &str| RequestError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone().filter(|s| s.len() <= MAX_PARAM_LEN),
        code,
        description: description.to_string(),
    };
    if let Some(name) = duplicate {
        return Err(fail(
            "invalid_request",
            &format!("parameter `{name}` given more than once"),
        ));
    }
    if params.values().any(|v| v.len() > MAX_PARAM_LEN) {
        return Err(fail("invalid_request", "a parameter is too long"));
    }
    if params.contains_key("request") {
        return Err(fail(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.contains_key("request_uri") {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match params.get("response_type").map(String::as_str) {
        None | Some("") => return Err(fail("invalid_request", "missing response_type")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    match params.get("response_mode").map(String::as_str) {
        None | Some("query") => {}
        Some(_) => {
            return Err(fail(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
    }
    let requested: Vec<&str> = params
        .get("scope")
        .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    if !requested.contains(&"openid") {
        return Err(fail("invalid_scope", "the openid scope is required"));
    }
    // Unknown scopes and scopes the client may not use are dropped (OIDC Core 3.1.2.1).
    let mut scopes: Vec<String> = Vec::new();
    for s in requested {
        if client.allows_scope(s) && !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        return Err(fail(
            "invalid_scope",
            "this client may not use the openid scope",
        ));
    }
    let challenge = params.get("code_challenge").cloned();
    match (
        challenge.as_deref(),
        params.get("code_challenge_method").map(String::as_str),
    ) {
        (None, None) if client.is_public() => {
            return Err(fail(
                "invalid_request",
                "PKCE (code_challenge with S256) is required for public clients",
            ));
        }
        (None, None) => {}
        (None, Some(_)) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(_), Some("S256")) => {}
        (Some(_), None | Some("plain")) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not allowed)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(fail("invalid_request", "unsupported code_challenge_method"));
        }
    }
    if let Some(c) = &challenge
        && (c.len() != 43
            || !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    {
        return Err(fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }
    let mut prompt = Vec::new();
    for p in params
        .get("prompt")
        .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let v = match p {
            "none" => Prompt::None,
            "login" => Prompt::Login,
            "consent" => Prompt::Consent,
            "select_account" => Prompt::SelectAccount,
            _ => return Err(fail("invalid_request", "unsupported prompt value")),
        };
        if !prompt.contains(&v) {
            prompt.push(v);
        }
    }
    if prompt.contains(&Prompt::None) && prompt.len() > 1 {
        return Err(fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    "invalid_request",
                    "max_age must be a non-negative integer",
                ));
            }
        },
    };
    let claims = match params.get("claims") {
        None => None,
        Some(c) => match serde_json::from_str::<Value>(c) {
            Ok(v) if v.is_object() => Some(v),
            _ => return Err(fail("invalid_request", "claims must be a JSON object")),
        },
    };
    let hint_subject = match params.get("id_token_hint") {
        None => None,
        Some(h) => Some(verify_hint(h).ok_or_else(|| {
            fail(
                "invalid_request",
                "id_token_hint is not a token issued by this provider",
            )
        })?),
    };
    let acr_values = params
        .get("acr_values")
        .map(|s| {
            s.split(' ')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Ok(AuthRequest {
        id: new_id(),
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        scopes,
        state,
        nonce: params.get("nonce").cloned(),
        code_challenge: challenge,
        prompt,
        max_age,
        acr_values,
        claims,
        ui_locales: params.get("ui_locales").cloned(),
        login_hint: params.get("login_hint").cloned(),
        hint_subject,
        created_at: now,
    })
}

/// The redirect back to the relying party: `code` or `error`, with `state` and `iss`.
pub fn response_url(
    redirect_uri: &str,
    issuer: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients::AuthMethod;

    fn client(public: bool) -> Client {
        Client {
            client_id: "rp".into(),
            name: "RP".into(),
            secret_hash: None,
            auth_method: if public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
            jwks: None,
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            third_party: false,
            id_token_alg: None,
            scopes: vec![],
            source: "test".into(),
        }
    }

    fn params(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut p: HashMap<String, String> = [
            ("client_id", "rp"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid profile bogus"),
            ("state", "s1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            if v.is_empty() {
                p.remove(*k);
            } else {
                p.insert(k.to_string(), v.to_string());
            }
        }
        p
    }

    fn code_of(r: Result<AuthRequest, RequestError>) -> &'static str {
        match r {
            Err(RequestError::Redirect { code, .. }) => code,
            Err(RequestError::NoRedirect(_)) => "no-redirect",
            Ok(_) => "ok",
        }
    }

    #[test]
    fn the_error_matrix() {
        let c = client(false);
        let v = |extra: &[(&str, &str)]| validate(&params(extra), Some(&c), None, |_| None, 0);
        let ok = v(&[]).unwrap();
        assert_eq!(
            ok.scopes,
            vec!["openid", "profile"],
            "unknown scopes dropped"
        );
        assert_eq!(
            code_of(validate(&params(&[]), None, None, |_| None, 0)),
            "no-redirect"
        );
        assert_eq!(
            code_of(v(&[("redirect_uri", "https://rp.example/cb2")])),
            "no-redirect"
        );
        assert_eq!(
            code_of(v(&[("redirect_uri", "https://rp.example/CB")])),
            "no-redirect"
        );
        assert_eq!(code_of(v(&[("response_type", "")])), "invalid_request");
        assert_eq!(
            code_of(v(&[("response_type", "token")])),
            "unsupported_response_type"
        );
        assert_eq!(code_of(v(&[("request", "eyJ")])), "request_not_supported");
        assert_eq!(
            code_of(v(&[("request_uri", "https://x")])),
            "request_uri_not_supported"
        );
        assert_eq!(code_of(v(&[("scope", "profile")])), "invalid_scope");
        assert_eq!(
            code_of(v(&[
                ("code_challenge", "a".repeat(43).as_str()),
                ("code_challenge_method", "plain")
            ])),
            "invalid_request"
        );
        assert_eq!(
            code_of(v(&[("code_challenge", "a".repeat(43).as_str())])),
            "invalid_request"
        );
        assert_eq!(
            code_of(v(&[
                ("code_challenge", "a".repeat(43).as_str()),
                ("code_challenge_method", "S256")
            ])),
            "ok"
        );
        assert_eq!(code_of(v(&[("prompt", "none login")])), "invalid_request");
        assert_eq!(code_of(v(&[("max_age", "-1")])), "invalid_request");
        assert_eq!(code_of(v(&[("claims", "[1]")])), "invalid_request");
        assert_eq!(
            code_of(v(&[("id_token_hint", "garbage")])),
            "invalid_request"
        );
        assert_eq!(
            code_of(v(&[("state", "x".repeat(5000).as_str())])),
            "invalid_request"
        );
        assert_eq!(code_of(v(&[("unknown_param", "ignored")])), "ok");
        assert_eq!(
            code_of(validate(&params(&[]), Some(&c), Some("scope"), |_| None, 0)),
            "invalid_request"
        );
        let public = client(true);
        assert_eq!(
            code_of(validate(&params(&[]), Some(&public), None, |_| None, 0)),
            "invalid_request",
            "public clients need PKCE"
        );
    }

    #[test]
    fn response_carries_state_and_iss() {
        let u = response_url(
            "https://rp.example/cb?x=1",
            "https://idp.example",
            &[("code", "abc")],
            Some("s t"),
        );
        assert_eq!(
            u,
            "https://rp.example/cb?x=1&code=abc&state=s+t&iss=https%3A%2F%2Fidp.example"
        );
    }

    #[test]
    fn mfa_demand() {
        let c = client(false);
        let r = validate(
            &params(&[("acr_values", ACR_MFA)]),
            Some(&c),
            None,
            |_| None,
            0,
        )
        .unwrap();
        assert!(r.wants_mfa());
        let claims =
            format!(r#"{{"id_token":{{"acr":{{"essential":true,"value":"{ACR_MFA}"}}}}}}"#);
        let r = validate(
            &params(&[("claims", claims.as_str())]),
            Some(&c),
            None,
            |_| None,
            0,
        )
        .unwrap();
        assert!(r.wants_mfa());
        assert!(
            !validate(&params(&[]), Some(&c), None, |_| None, 0)
                .unwrap()
                .wants_mfa()
        );
    }
}
