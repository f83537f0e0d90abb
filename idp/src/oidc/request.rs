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
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(parse_max_age(v).ok_or_else(|| {
            fail(
                "invalid_request",
                "max_age must be a non-negative integer in decimal digits (0 or 1–9 followed by digits)",
            )
        })?),
    };
    let claims = match params.get("claims") {
        None => None,
        Some(c) => Some(
            parse_claims(c).map_err(|why| fail("invalid_request", &format!("claims: {why}")))?,
        ),
    };
    let hinted = match params.get("id_token_hint") {
        None => None,
        Some(h) => Some(verify_hint(h).ok_or_else(|| {
            fail(
                "invalid_request",
                "id_token_hint is not a token issued by this provider",
            )
        })?),
    };
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
            pkce_optional: false,
            require_par: false,
            require_dpop: false,
        }
    }

    fn params(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut p: HashMap<String, String> = [
            ("client_id", "rp"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid profile bogus"),
            ("state", "s1"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
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
            code_of(v(&[
                ("code_challenge", "a".repeat(43).as_str()),
                ("code_challenge_method", "")
            ])),
            "invalid_request"
        );
        assert_eq!(
            code_of(v(&[("code_challenge", ""), ("code_challenge_method", "")])),
            "invalid_request",
            "confidential clients need PKCE too"
        );
        let mut legacy = client(false);
        legacy.pkce_optional = true;
        assert_eq!(
            code_of(validate(
                &params(&[("code_challenge", ""), ("code_challenge_method", "")]),
                Some(&legacy),
                None,
                |_| None,
                0
            )),
            "ok",
            "a legacy client registered with pkce_optional"
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
        assert_eq!(code_of(v(&[("dpop_jkt", "short")])), "invalid_request");
        assert_eq!(
            v(&[("dpop_jkt", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")])
                .unwrap()
                .dpop_jkt
                .as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(
            code_of(validate(&params(&[]), Some(&c), Some("scope"), |_| None, 0)),
            "invalid_request"
        );
        let public = client(true);
        assert_eq!(
            code_of(validate(
                &params(&[("code_challenge", ""), ("code_challenge_method", "")]),
                Some(&public),
                None,
                |_| None,
                0
            )),
            "invalid_request",
            "public clients need PKCE"
        );
    }

    #[test]
    fn max_age_is_digits_only() {
        for ok in ["0", "1", "60", "3600", "9999999999"] {
            assert!(parse_max_age(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "+0",
            "-0",
            "-1",
            "00",
            "01",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x10",
            "１",
            "99999999999",
        ] {
            assert_eq!(parse_max_age(bad), None, "{bad:?}");
        }
        let c = client(false);
        let v = |m: &str| validate(&params(&[("max_age", m)]), Some(&c), None, |_| None, 0);
        assert_eq!(v("0").unwrap().max_age, Some(0));
        assert_eq!(code_of(v("+0")), "invalid_request");
        assert_eq!(code_of(v("-0")), "invalid_request");
    }

    #[test]
    fn claims_follow_oidc_core_5_5() {
        for ok in [
            r#"{}"#,
            r#"{"userinfo":{"email":null,"name":{"essential":true}}}"#,
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:kenpo:loa:2"]}}}"#,
            r#"{"id_token":{"auth_time":{"essential":true}},"future_member":1}"#,
            r#"{"id_token":{"email_verified":{"value":true}}}"#,
            r#"{"id_token":{"sub":{"value":"s1"}},"userinfo":{"sub":{"value":"s1"}}}"#,
            r#"{"userinfo":{"name":{"essential":false,"x-unknown":[1]}}}"#,
        ] {
            assert!(parse_claims(ok).is_ok(), "{ok}: {:?}", parse_claims(ok));
        }
        for bad in [
            r#"[1]"#,
            r#""claims""#,
            r#"{"userinfo":[]}"#,
            r#"{"userinfo":"email"}"#,
            r#"{"id_token":null}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":"yes"}}"#,
            r#"{"id_token":{"email":{"essential":"true"}}}"#,
            r#"{"id_token":{"acr":{"values":"urn:kenpo:loa:2"}}}"#,
            r#"{"id_token":{"acr":{"values":[2]}}}"#,
            r#"{"id_token":{"sub":{"value":42}}}"#,
            r#"{"id_token":{"sub":{"value":null}}}"#,
            r#"{"id_token":{"sub":{"values":["a","b"]}}}"#,
            r#"{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}}"#,
            r#"{"id_token":"#,
        ] {
            assert!(parse_claims(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn a_sub_value_becomes_the_subject_to_sign_in() {
        let c = client(false);
        let claims = r#"{"id_token":{"sub":{"value":"s-42"}}}"#;
        let r = validate(&params(&[("claims", claims)]), Some(&c), None, |_| None, 0).unwrap();
        assert_eq!(r.hint_subject.as_deref(), Some("s-42"));
        let hint = |_: &str| Some("s-42".to_string());
        let r = validate(
            &params(&[("claims", claims), ("id_token_hint", "t")]),
            Some(&c),
            None,
            hint,
            0,
        )
        .unwrap();
        assert_eq!(r.hint_subject.as_deref(), Some("s-42"));
        let other = |_: &str| Some("s-7".to_string());
        assert_eq!(
            code_of(validate(
                &params(&[("claims", claims), ("id_token_hint", "t")]),
                Some(&c),
                None,
                other,
                0
            )),
            "invalid_request"
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
