use super::*;
use crate::store::clients::AuthMethod;

fn client(public: bool) -> Client {
    let auth_method = if public {
        AuthMethod::None
    } else {
        AuthMethod::ClientSecretBasic
    };
    crate::oidc::test_support::client("rp", auth_method)
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
    let claims = format!(r#"{{"id_token":{{"acr":{{"essential":true,"value":"{ACR_MFA}"}}}}}}"#);
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
