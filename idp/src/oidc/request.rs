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
    /// The DPoP key the code will be redeemed with (RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
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
        // OAuth 2.1, RFC 9700 §2.1.1, FAPI 2.0: PKCE for every client, confidential ones too,
        // unless a legacy client was registered with `pkce_optional`.
        (None, None) if client.requires_pkce() => {
            return Err(fail(
                "invalid_request",
                "PKCE (code_challenge with code_challenge_method=S256) is required",
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
    // Each of these is optional, but refused when present and wrong.
    let max_age = params
        .get("max_age")
        .map(|v| {
            parse_max_age(v).ok_or_else(|| {
                fail(
                    "invalid_request",
                    "max_age must be a non-negative integer in decimal digits (0 or 1–9 followed by digits)",
                )
            })
        })
        .transpose()?;
    let claims = params
        .get("claims")
        .map(|c| parse_claims(c).map_err(|why| fail("invalid_request", &format!("claims: {why}"))))
        .transpose()?;
    let hinted = params
        .get("id_token_hint")
        .map(|h| {
            verify_hint(h).ok_or_else(|| {
                fail(
                    "invalid_request",
                    "id_token_hint is not a token issued by this provider",
                )
            })
        })
        .transpose()?;
    // OIDC Core 5.5.1: a `sub` asked for with a value gets a positive answer only for that
    // subject; it is honoured like an id_token_hint's (the member signs in as that subject).
    let asked = claims.as_ref().and_then(requested_subject);
    let hint_subject = match (hinted, asked) {
        (Some(a), Some(b)) if a != b => {
            return Err(fail(
                "invalid_request",
                "the claims parameter asks for another sub than the id_token_hint",
            ));
        }
        (a, b) => a.or(b),
    };
    let dpop_jkt = params.get("dpop_jkt").cloned();
    if dpop_jkt
        .as_deref()
        .is_some_and(|j| !crate::oidc::dpop::valid_jkt(j))
    {
        return Err(fail(
            "invalid_request",
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        ));
    }
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
        dpop_jkt,
        created_at: now,
    })
}

/// `max_age` as OIDC Core 3.1.2.1 means it, a number of seconds: `0|[1-9][0-9]*` (no sign, no
/// leading zero, no white space), at most 10 digits.
pub fn parse_max_age(v: &str) -> Option<i64> {
    let digits = v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit());
    if !digits || v.is_empty() || (v.len() > 1 && v.starts_with('0')) {
        return None;
    }
    v.parse().ok()
}

/// The claim names whose `value` / `values` must be strings (everything we would compare).
const STRING_VALUED: [&str; 3] = ["sub", "acr", "email"];

/// Parses and checks a `claims` parameter as OIDC Core 5.5 defines it: a JSON object whose
/// `userinfo` and `id_token` members, when present, are objects; each requested claim is
/// `null` or an object whose `essential` is a boolean, `value` not null, `values` an array (of
/// strings for `sub`, `acr`, `email`); `sub` at most one value. Unknown members are ignored.
pub fn parse_claims(raw: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(raw).map_err(|_| "not valid JSON".to_string())?;
    let obj = v.as_object().ok_or("must be a JSON object")?;
    for section in ["userinfo", "id_token"] {
        let Some(s) = obj.get(section) else { continue };
        let claims = s
            .as_object()
            .ok_or_else(|| format!("`{section}` must be a JSON object"))?;
        for (name, request) in claims {
            let req = match request {
                Value::Null => continue,
                Value::Object(o) => o,
                _ => return Err(format!("`{section}.{name}` must be null or an object")),
            };
            if req.get("essential").is_some_and(|e| !e.is_boolean()) {
                return Err(format!(
                    "`{section}.{name}.essential` must be true or false"
                ));
            }
            let strings = STRING_VALUED.contains(&name.as_str());
            if let Some(value) = req.get("value")
                && (value.is_null() || (strings && !value.is_string()))
            {
                return Err(format!("`{section}.{name}.value` has the wrong type"));
            }
            if let Some(values) = req.get("values") {
                let list = values
                    .as_array()
                    .ok_or_else(|| format!("`{section}.{name}.values` must be an array"))?;
                if strings && !list.iter().all(Value::is_string) {
                    return Err(format!("`{section}.{name}.values` must hold strings"));
                }
                if name == "sub" {
                    return Err("`sub` may be asked for with one `value`, not `values`".into());
                }
            }
        }
    }
    let subs: Vec<&str> = ["userinfo", "id_token"]
        .iter()
        .filter_map(|s| v[s]["sub"]["value"].as_str())
        .collect();
    if subs.windows(2).any(|w| w[0] != w[1]) {
        return Err("`userinfo.sub` and `id_token.sub` ask for different subjects".into());
    }
    Ok(v)
}

/// The subject a checked `claims` parameter asks for (`sub` with a `value`), if any.
pub fn requested_subject(claims: &Value) -> Option<String> {
    ["id_token", "userinfo"]
        .iter()
        .find_map(|s| claims[s]["sub"]["value"].as_str())
        .map(String::from)
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
mod tests;
