//! The OpenID Connect provider, checked by the openidconnect crate as relying party and by raw
//! HTTP for every refusal (each asserting the exact error).

use crate::support::*;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use reqwest::StatusCode;
use serde_json::json;

const CB: &str = "https://rp.example/cb";

/// Signs in through the relying party and returns the token response and the flow's secrets.
async fn full_flow(
    idp: &TestIdp,
    rp: &Rp,
    browser: &Browser,
    member: &TestMember,
    scopes: &[&str],
) -> (openidconnect::core::CoreTokenResponse, AuthStart) {
    let start = rp.start(scopes, &[]);
    let back = sign_in(idp, browser, &start.url, member, &rp.redirect).await;
    let q = query(&back);
    assert_eq!(
        q.get("iss"),
        Some(&idp.issuer),
        "RFC 9207 iss on the response"
    );
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(start.state.secret().as_str())
    );
    let (code, _) = code_of(&back);
    let verifier = openidconnect::PkceCodeVerifier::new(start.verifier.secret().clone());
    let tokens = rp.exchange(&code, verifier).await.expect("token exchange");
    (tokens, start)
}

#[tokio::test]
async fn code_flow_for_every_signing_algorithm() {
    let idp = TestIdp::start().await;
    let member = idp.member("taro", "12", "3456789").await;
    for alg in ["ES256", "EdDSA", "RS256"] {
        let id = format!("rp-{}", alg.to_lowercase());
        idp.confidential(&id, CB, alg).await;
        let rp = Rp::discover(&idp, &id, Some(SECRET), CB).await;
        let browser = Browser::new();
        let (tokens, start) = full_flow(
            &idp,
            &rp,
            &browser,
            &member,
            &["profile", "email", "member"],
        )
        .await;
        let raw = tokens.id_token().expect("an ID token").to_string();
        let header: serde_json::Value =
            serde_json::from_slice(&base64_url(raw.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], alg);
        let claims = rp.verify(&raw, &start.nonce);
        assert_eq!(claims.subject().as_str(), member.subject);
        assert_ne!(claims.subject().as_str(), "taro", "sub is not the user ID");
        assert_eq!(
            claims.additional_claims().member_symbol.as_deref(),
            Some("12")
        );
        assert_eq!(
            claims.additional_claims().member_number.as_deref(),
            Some("3456789")
        );
        assert_eq!(
            claims.additional_claims().member_branch.as_deref(),
            Some("00")
        );
        assert!(claims.additional_claims().sid.is_some());
        assert_eq!(claims.email().map(|e| e.as_str()), Some("taro@example.jp"));
        assert_eq!(claims.email_verified(), Some(true));
        assert_eq!(claims.birthdate().map(|b| b.as_str()), Some("1980-12-01"));
        let amr: Vec<String> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert!(
            amr.contains(&"pwd".into())
                && amr.contains(&"otp".into())
                && amr.contains(&"mfa".into()),
            "{amr:?}"
        );
        assert_eq!(
            claims.auth_context_ref().map(|a| a.as_str()),
            Some("urn:kenpo:loa:2")
        );
        assert!(claims.auth_time().is_some());

        // userinfo by GET (header) and POST (form body) agree with the ID token.
        let at = tokens.access_token().secret().clone();
        let info: serde_json::Value = reqwest::Client::new()
            .get(idp.url("/userinfo"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["sub"], member.subject);
        assert_eq!(info["member_number"], "3456789");
        let info2: serde_json::Value = reqwest::Client::new()
            .post(idp.url("/userinfo"))
            .form(&[("access_token", at.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info, info2);

        // A refresh rotates the refresh token and returns a new verified ID token.
        let rt = tokens
            .refresh_token()
            .expect("refresh token")
            .secret()
            .clone();
        let (status, body, headers) = post_basic(
            &idp.url("/token"),
            &id,
            SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        assert_ne!(body["refresh_token"].as_str().unwrap(), rt);
        let refreshed: MemberIdToken = body["id_token"].as_str().unwrap().parse().unwrap();
        let c = refreshed
            .claims(
                &rp.client.id_token_verifier(),
                |_: Option<&openidconnect::Nonce>| Ok(()),
            )
            .expect("refreshed ID token verifies");
        assert_eq!(c.subject().as_str(), member.subject);
    }
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[tokio::test]
async fn sso_across_clients_and_consent_for_third_parties() {
    let idp = TestIdp::start().await;
    let member = idp.member("hanako", "12", "1000001").await;
    idp.confidential("union-a", CB, "ES256").await;
    idp.client(kenpo_idp::config::ClientConfig {
        client_id: "partner".into(),
        name: "提携サービス".into(),
        secret: Some(kenpo_shared::Secret::new(SECRET.into())),
        redirect_uris: vec!["https://partner.example/cb".into()],
        third_party: true,
        ..Default::default()
    })
    .await;
    let browser = Browser::new();
    let a = Rp::discover(&idp, "union-a", Some(SECRET), CB).await;
    full_flow(&idp, &a, &browser, &member, &["profile"]).await;

    // The second client gets its code without any password (SSO) but the consent page first.
    let b = Rp::discover(&idp, "partner", Some(SECRET), "https://partner.example/cb").await;
    let start = b.start(&["profile"], &[]);
    let page = browser
        .follow(browser.get(&start.url).await, &b.redirect)
        .await
        .expect("a page, not a redirect");
    assert_eq!(page.step().as_deref(), Some("consent"));
    let back = browser
        .follow(
            browser
                .submit(&page, "/signin/consent", &[("consent", "yes")])
                .await,
            &b.redirect,
        )
        .await
        .unwrap_err();
    assert!(query(&back).contains_key("code"));

    // Consent is remembered.
    let start = b.start(&["profile"], &[]);
    let back = browser
        .follow(browser.get(&start.url).await, &b.redirect)
        .await
        .unwrap_err();
    assert!(
        query(&back).contains_key("code"),
        "remembered consent: {back}"
    );

    // Declining sends access_denied.
    let start = b.start(&["profile"], &[("prompt", "consent")]);
    let page = browser
        .follow(browser.get(&start.url).await, &b.redirect)
        .await
        .unwrap();
    let back = browser
        .follow(
            browser
                .submit(&page, "/signin/consent", &[("consent", "no")])
                .await,
            &b.redirect,
        )
        .await
        .unwrap_err();
    assert_eq!(
        query(&back).get("error").map(String::as_str),
        Some("access_denied")
    );
}

#[tokio::test]
async fn authorization_request_refusals() {
    let idp = TestIdp::start().await;
    idp.confidential("rp", CB, "ES256").await;
    idp.client(kenpo_idp::config::ClientConfig {
        client_id: "spa".into(),
        redirect_uris: vec!["http://localhost:5173/cb".into()],
        token_endpoint_auth_method: Some("none".into()),
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let auth = |q: &str| idp.url(&format!("/authorize?{q}"));
    // PKCE (S256) is required of every client, so the base request carries a challenge.
    let bare = "client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid&state=xyz";
    let base = &format!(
        "{bare}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    );
    let err_of = |p: &Page| -> (String, String) {
        assert!(
            p.status.is_redirection(),
            "expected a redirect, got {}",
            p.status
        );
        let loc = p.headers.get("location").unwrap().to_str().unwrap();
        assert!(
            loc.starts_with(CB),
            "errors go to the registered redirect URI: {loc}"
        );
        let q = query(loc);
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
        assert_eq!(q.get("iss"), Some(&idp.issuer));
        (
            q["error"].clone(),
            q.get("error_description").cloned().unwrap_or_default(),
        )
    };

    // Unregistered or mismatched redirect URI, unknown client: an error page, never a redirect.
    for q in [
        "client_id=rp&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid",
        "client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcb%2F&response_type=code&scope=openid",
        "client_id=nobody&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code&scope=openid",
        "client_id=rp&response_type=code&scope=openid",
    ] {
        let p = b.get(&auth(q)).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(p.headers.get("location").is_none());
        assert!(p.alert().is_some());
    }
    assert_eq!(
        err_of(&b.get(&auth(base)).await).0,
        "invalid_request",
        "missing response_type"
    );
    assert_eq!(
        err_of(&b.get(&auth(&format!("{base}&response_type=token"))).await).0,
        "unsupported_response_type"
    );
    assert_eq!(
        err_of(
            &b.get(&auth(&format!("{base}&response_type=code&request=eyJ")))
                .await
        )
        .0,
        "request_not_supported"
    );
    assert_eq!(
        err_of(
            &b.get(&auth(&format!(
                "{bare}&response_type=code&code_challenge={}&code_challenge_method=plain",
                "a".repeat(43)
            )))
            .await
        )
        .0,
        "invalid_request"
    );
    assert_eq!(
        err_of(
            &b.get(&auth(&format!(
                "{base}&response_type=code&scope=openid&scope=profile"
            )))
            .await
        )
        .0,
        "invalid_request",
        "duplicate parameter"
    );
    assert_eq!(
        err_of(
            &b.get(&auth(&format!("{base}&response_type=code&prompt=none")))
                .await
        )
        .0,
        "login_required"
    );
    let (e, _) = err_of(
        &b.get(&auth(&format!("{base}&response_type=code&max_age=-5")))
            .await,
    );
    assert_eq!(e, "invalid_request");
    let long = "x".repeat(5000);
    assert_eq!(
        err_of(
            &b.get(&auth(&format!("{base}&response_type=code&nonce={long}")))
                .await
        )
        .0,
        "invalid_request",
        "oversized input"
    );
    // Public clients must use PKCE.
    let p = b.get(&auth("client_id=spa&redirect_uri=http%3A%2F%2Flocalhost%3A5173%2Fcb&response_type=code&scope=openid&state=xyz")).await;
    let loc = p
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(query(&loc)["error"], "invalid_request");
    // POST works like GET.
    let p = b
        .post(
            &idp.url("/authorize"),
            &[
                ("client_id", "rp"),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("state", "xyz"),
            ],
        )
        .await;
    assert_eq!(err_of(&p).0, "invalid_request");
    // Unknown parameters are ignored: a valid request reaches the login page.
    let p = b
        .get(&auth(&format!("{base}&response_type=code&frobnicate=1")))
        .await;
    let p = b.follow(p, CB).await.unwrap();
    assert_eq!(p.step().as_deref(), Some("login"));
    assert!(p.body.contains("lang=\"ja\""), "Japanese by default");

    // ui_locales=en: the login page and the pages after it are in English.
    let member = idp.member("eigo", "12", "9000009").await;
    let en = Browser::new();
    let p = en
        .get(&auth(&format!(
            "{base}&response_type=code&ui_locales=en%20ja"
        )))
        .await;
    let login = en.follow(p, CB).await.unwrap();
    assert!(login.body.contains("lang=\"en\"") && login.body.contains("Sign in"));
    let next = en
        .submit(
            &login,
            "/login",
            &[("username", "eigo"), ("password", &member.password)],
        )
        .await;
    let mfa = en.follow(next, CB).await.unwrap();
    assert_eq!(mfa.step().as_deref(), Some("mfa-totp"));
    assert!(
        mfa.body.contains("lang=\"en\""),
        "the language carries over"
    );
}

#[tokio::test]
async fn token_endpoint_refusals() {
    let idp = TestIdp::start().await;
    let member = idp.member("jiro", "12", "2000002").await;
    idp.confidential("rp", CB, "ES256").await;
    idp.confidential("other", CB, "ES256").await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), CB).await;
    let browser = Browser::new();
    let token = idp.url("/token");

    // Code for rp, used by another client: invalid_grant.
    let start = rp.start(&[], &[]);
    let (code, _) = code_of(&sign_in(&idp, &browser, &start.url, &member, CB).await);
    let v = start.verifier.secret().clone();
    let (s, body, _) = post_basic(
        &token,
        "other",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &v),
        ],
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Wrong secret: invalid_client with 401 and a Basic challenge.
    let start = rp.start(&[], &[]);
    let (code, _) = code_of(
        &browser
            .follow(browser.get(&start.url).await, CB)
            .await
            .unwrap_err(),
    );
    let v = start.verifier.secret().clone();
    let (s, body, h) = post_basic(
        &token,
        "rp",
        "wrong-secret",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &v),
        ],
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(h.get("www-authenticate").is_some());
    // Wrong and missing PKCE verifiers.
    let wrong = "W".repeat(43);
    let (_, body, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &wrong),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    let start = rp.start(&[], &[]);
    let (code, _) = code_of(
        &browser
            .follow(browser.get(&start.url).await, CB)
            .await
            .unwrap_err(),
    );
    let (_, body, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // A code works once; a second use fails and revokes what the first issued.
    let start = rp.start(&[], &[]);
    let (code, _) = code_of(
        &browser
            .follow(browser.get(&start.url).await, CB)
            .await
            .unwrap_err(),
    );
    let v = start.verifier.secret().clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
        ("code_verifier", v.as_str()),
    ];
    let (s, first, _) = post_basic(&token, "rp", SECRET, &form).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (_, second, _) = post_basic(&token, "rp", SECRET, &form).await;
    assert_eq!(second["error"], "invalid_grant");
    let at = first["access_token"].as_str().unwrap();
    let r = reqwest::Client::new()
        .get(idp.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the first use's access token is revoked"
    );
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let (_, body, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        body["error"], "invalid_grant",
        "the first use's refresh token is revoked"
    );

    // An expired code (by the application clock: beyond the replicas' allowance).
    let start = rp.start(&[], &[]);
    let (code, _) = code_of(
        &browser
            .follow(browser.get(&start.url).await, CB)
            .await
            .unwrap_err(),
    );
    idp.clock.advance(time::Duration::seconds(
        61 + kenpo_shared::clock::REPLICA_SKEW_SECS,
    ));
    let v = start.verifier.secret().clone();
    let (_, body, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &v),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // Malformed requests.
    let (_, body, _) = post_basic(&token, "rp", SECRET, &[("code", "x")]).await;
    assert_eq!(body["error"], "invalid_request", "missing grant_type");
    let (_, body, _) = post_basic(&token, "rp", SECRET, &[("grant_type", "password")]).await;
    assert_eq!(body["error"], "unsupported_grant_type");
    let (_, body, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_request", "duplicate parameter");
    let r = reqwest::Client::new()
        .post(&token)
        .basic_auth("rp", Some(SECRET))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request",
        "JSON body"
    );
    let r = reqwest::Client::new()
        .post(&token)
        .basic_auth("rp", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            "x".repeat(200_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "oversized body");
    let r = reqwest::Client::new()
        .post(&token)
        .basic_auth("rp", Some(SECRET))
        .form(&[
            ("client_secret", SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request",
        "two authentication methods"
    );
}

#[tokio::test]
async fn refresh_reuse_revokes_the_family_and_revocation_and_introspection() {
    let idp = TestIdp::start().await;
    let member = idp.member("saburo", "12", "3000003").await;
    idp.confidential("rp", CB, "EdDSA").await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), CB).await;
    let (tokens, _) = full_flow(&idp, &rp, &Browser::new(), &member, &["profile"]).await;
    let token = idp.url("/token");
    let rt1 = tokens.refresh_token().unwrap().secret().clone();
    let (_, r2, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    let rt2 = r2["refresh_token"].as_str().unwrap().to_string();
    let at2 = r2["access_token"].as_str().unwrap().to_string();

    let intro = |t: String| {
        let url = idp.url("/introspect");
        async move { post_basic(&url, "rp", SECRET, &[("token", &t)]).await.1 }
    };
    let i = intro(at2.clone()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], member.subject);
    assert_eq!(intro(rt2.clone()).await["token_type"], "refresh_token");

    // Re-use of the rotated token: refused, and the whole family (rt2, at2) dies.
    let (_, reuse, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(reuse["error"], "invalid_grant");
    let (_, after, _) = post_basic(
        &token,
        "rp",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .await;
    assert_eq!(after["error"], "invalid_grant");
    assert_eq!(intro(at2.clone()).await, json!({"active": false}));
    let r = reqwest::Client::new()
        .get(idp.url("/userinfo"))
        .bearer_auth(&at2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Revocation (RFC 7009) of a fresh family's refresh token.
    let (tokens, _) = full_flow(&idp, &rp, &Browser::new(), &member, &["profile"]).await;
    let at = tokens.access_token().secret().clone();
    let rt = tokens.refresh_token().unwrap().secret().clone();
    let (s, _, _) = post_basic(
        &idp.url("/revoke"),
        "rp",
        SECRET,
        &[("token", &rt), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        intro(at.clone()).await["active"],
        false,
        "access tokens of a revoked grant are inactive"
    );
    let (s, _, _) = post_basic(
        &idp.url("/revoke"),
        "rp",
        SECRET,
        &[("token", "no-such-token")],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "unknown tokens are answered 200");
    let (s, body, _) = post_basic(&idp.url("/revoke"), "rp", "bad", &[("token", "x")]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // Userinfo without any token: a bare challenge.
    let r = reqwest::Client::new()
        .get(idp.url("/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"kenpo\"");
}

#[tokio::test]
async fn prompt_and_max_age() {
    let idp = TestIdp::start().await;
    let member = idp.member("shiro", "12", "4000004").await;
    idp.confidential("rp", CB, "ES256").await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), CB).await;
    let browser = Browser::new();
    full_flow(&idp, &rp, &browser, &member, &[]).await;

    // With a session, prompt=none answers at once.
    let start = rp.start(&[], &[("prompt", "none")]);
    let back = browser
        .follow(browser.get(&start.url).await, CB)
        .await
        .unwrap_err();
    assert!(query(&back).contains_key("code"));

    // max_age=1 after two seconds: the password (and second factor) are asked again.
    idp.clock.advance(time::Duration::seconds(2));
    let start = rp.start(&[], &[("max_age", "1")]);
    let page = browser
        .follow(browser.get(&start.url).await, CB)
        .await
        .expect("the login page");
    assert_eq!(page.step().as_deref(), Some("login"));
    let back = sign_in(&idp, &browser, &start.url, &member, CB).await;
    let (code, _) = code_of(&back);
    let tokens = rp.exchange(&code, start.verifier).await.unwrap();
    let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &start.nonce);
    let auth_time = claims.auth_time().unwrap().timestamp();
    assert!(
        idp.state.now() - auth_time <= 60,
        "auth_time is the fresh sign-in"
    );

    // prompt=login forces the login page even with a fresh session.
    let start = rp.start(&[], &[("prompt", "login")]);
    let page = browser
        .follow(browser.get(&start.url).await, CB)
        .await
        .expect("the login page");
    assert_eq!(page.step().as_deref(), Some("login"));

    // prompt=none with a session that needs interaction (max_age exceeded): login_required.
    idp.clock.advance(time::Duration::seconds(5));
    let start = rp.start(&[], &[("prompt", "none"), ("max_age", "1")]);
    let back = browser
        .follow(browser.get(&start.url).await, CB)
        .await
        .unwrap_err();
    assert_eq!(query(&back)["error"], "login_required");
}

#[tokio::test]
async fn rp_initiated_and_back_channel_logout() {
    use axum::routing::post;
    let received = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::<String>::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/bc",
        post(
            move |axum::Form(f): axum::Form<std::collections::HashMap<String, String>>| {
                let sink = sink.clone();
                async move {
                    sink.lock()
                        .await
                        .push(f.get("logout_token").cloned().unwrap_or_default());
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bc = format!(
        "http://127.0.0.1:{}/bc",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let idp = TestIdp::start().await;
    let member = idp.member("goro", "12", "5000005").await;
    idp.client(kenpo_idp::config::ClientConfig {
        client_id: "rp".into(),
        secret: Some(kenpo_shared::Secret::new(SECRET.into())),
        redirect_uris: vec![CB.into()],
        post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
        backchannel_logout_uri: Some(bc.clone()),
        id_token_signed_response_alg: Some("RS256".into()),
        ..Default::default()
    })
    .await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), CB).await;
    let browser = Browser::new();
    let (tokens, start) = full_flow(&idp, &rp, &browser, &member, &[]).await;
    let id_token = tokens.id_token().unwrap().to_string();
    let sid = rp
        .verify(&id_token, &start.nonce)
        .additional_claims()
        .sid
        .clone()
        .unwrap();

    // An unregistered post-logout URI is refused on a page, without redirect or sign-out.
    let p = browser
        .get(&format!(
            "{}?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
            idp.url("/logout")
        ))
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.headers.get("location").is_none());

    let p = browser.get(&format!("{}?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye&state=s1", idp.url("/logout"))).await;
    assert!(p.status.is_redirection());
    assert_eq!(p.headers["location"], "https://rp.example/bye?state=s1");

    // The session is gone: prompt=none now fails, refresh tokens of the session are revoked.
    let s2 = rp.start(&[], &[("prompt", "none")]);
    let back = browser
        .follow(browser.get(&s2.url).await, CB)
        .await
        .unwrap_err();
    assert_eq!(query(&back)["error"], "login_required");
    let (_, body, _) = post_basic(
        &idp.url("/token"),
        "rp",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token().unwrap().secret()),
        ],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // The back-channel logout token arrives, signed with the client's algorithm.
    let mut token = None;
    for _ in 0..50 {
        if let Some(t) = received.lock().await.first().cloned() {
            token = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = token.expect("a logout token was delivered");
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(idp.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["rp"]);
    v.set_issuer(&[&idp.issuer]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v)
        .expect("the logout token verifies")
        .claims;
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["sub"], member.subject);
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
}

#[tokio::test]
async fn private_key_jwt_and_replay() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let idp = TestIdp::start().await;
    let member = idp.member("rokuro", "12", "6000006").await;
    // The client's own key pair (ES256), generated with ring, public part registered as JWKS.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    use ring::signature::KeyPair;
    let point = pair.public_key().as_ref();
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    };
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "c1", "x": b64(&point[1..33]), "y": b64(&point[33..65])}]});
    idp.client(kenpo_idp::config::ClientConfig {
        client_id: "jwt-rp".into(),
        redirect_uris: vec![CB.into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(jwks.to_string()),
        ..Default::default()
    })
    .await;
    let rp = Rp::discover(&idp, "jwt-rp", None, CB).await;
    let browser = Browser::new();
    let start = rp.start(&[], &[]);
    let (code, _) = code_of(&sign_in(&idp, &browser, &start.url, &member, CB).await);
    let now = idp.state.now();
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("c1".into());
    let assertion = encode(
        &header,
        &json!({"iss": "jwt-rp", "sub": "jwt-rp", "aud": idp.url("/token"), "jti": "j-1", "iat": now, "exp": now + 60}),
        &EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
    .unwrap();
    let v = start.verifier.secret().clone();
    let form = |code: &str| {
        vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".into(), code.to_string()),
            ("redirect_uri".into(), CB.into()),
            ("code_verifier".into(), v.clone()),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), assertion.clone()),
        ]
    };
    let r = reqwest::Client::new()
        .post(idp.url("/token"))
        .form(&form(&code))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // The same assertion again (same jti): refused.
    let r = reqwest::Client::new()
        .post(idp.url("/token"))
        .form(&form("any-code"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn discovery_jwks_and_key_rotation() {
    let idp = TestIdp::start().await;
    let doc: serde_json::Value = reqwest::get(idp.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], idp.issuer);
    assert_eq!(doc["token_endpoint"], idp.url("/token"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["backchannel_logout_supported"], true);
    let jwks: serde_json::Value = reqwest::get(idp.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    for a in ["ES256", "EdDSA", "RS256"] {
        assert!(algs.contains(&a), "{a} key published");
    }
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "no private parts"
    );

    let before: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    let s = &idp.state;
    kenpo_idp::oidc::keys::KeyRing::rotate_now(
        &s.db,
        &s.sbox,
        &[kenpo_idp::oidc::keys::Alg::Es256],
        s.rotation_policy(),
        s.now(),
    )
    .await
    .unwrap();
    s.keys.reload(&s.db, &s.sbox, s.now()).await.unwrap();
    let jwks: serde_json::Value = reqwest::get(idp.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert!(
        before.iter().all(|k| after.contains(k)),
        "retired keys stay published"
    );
    assert_eq!(after.len(), before.len() + 1);
    let active = s.keys.signer(kenpo_idp::oidc::keys::Alg::Es256).unwrap();
    assert!(!before.contains(&active.kid), "the new key signs");
    // Once everything the old key signed has expired, it leaves the JWKS.
    idp.clock.advance(time::Duration::seconds(
        s.rotation_policy().retire_grace_secs + 1,
    ));
    s.keys
        .maintain(&s.db, &s.sbox, s.rotation_policy(), s.now())
        .await
        .unwrap();
    let jwks: serde_json::Value = reqwest::get(idp.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn password_sign_in_is_throttled_without_revealing_accounts() {
    let idp = TestIdp::start_with(|c| c.throttle.account_free_failures = 3).await;
    let member = idp.member("nana", "12", "7000007").await;
    let browser = Browser::new();
    let login = browser.get(&idp.url("/login")).await;
    assert_eq!(login.step().as_deref(), Some("login"));
    let wrong = |user: &'static str| {
        let b = browser.clone();
        let page = &login;
        async move {
            b.submit(
                page,
                "/login",
                &[("username", user), ("password", "Nope-1234!")],
            )
            .await
        }
    };
    let known = wrong("nana").await;
    let unknown = wrong("nobody-here").await;
    assert_eq!(known.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        known.alert(),
        unknown.alert(),
        "same answer for unknown user IDs"
    );
    wrong("nana").await;
    wrong("nana").await;
    // Free attempts used: one more passes through the gate, the next waits.
    assert_eq!(wrong("nana").await.status, StatusCode::UNAUTHORIZED);
    let held = wrong("nana").await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS);
    // Even the right password waits now (no hint that it was right).
    let p = browser
        .submit(
            &login,
            "/login",
            &[("username", "nana"), ("password", &member.password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    // After the delay the right password works.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let p = browser
        .submit(
            &login,
            "/login",
            &[("username", "ＮＡＮＡ"), ("password", &member.password)],
        )
        .await;
    assert!(
        p.status.is_redirection(),
        "full-width user ID accepted: {}",
        p.status
    );
}

#[tokio::test]
async fn hosted_pages_are_hardened() {
    let idp = TestIdp::start().await;
    let member = idp.member("hachi", "12", "8000008").await;
    let browser = Browser::new();
    let login = browser.get(&idp.url("/login")).await;
    let csp = login.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'nonce-"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert!(login.headers.get("x-request-id").is_some());
    let set_cookie: Vec<String> = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(set_cookie.iter().any(|c| c.starts_with("kenpo_csrf=")
        && c.contains("HttpOnly")
        && c.contains("SameSite=Lax")));
    // A form without the CSRF token is refused and changes nothing.
    let p = browser
        .post(
            &idp.url("/login"),
            &[("username", "hachi"), ("password", &member.password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // A forged token (another browser's) is refused too.
    let other = Browser::new().get(&idp.url("/login")).await;
    let forged = other.input("csrf").unwrap();
    let p = browser
        .post(
            &idp.url("/login"),
            &[
                ("csrf", &forged),
                ("username", "hachi"),
                ("password", &member.password),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // English by ui_locales or the switch; Japanese by default.
    assert!(login.body.contains("lang=\"ja\""));
    let en = browser.get(&idp.url("/login?lang=en")).await;
    assert!(en.body.contains("lang=\"en\"") && en.body.contains("Sign in"));
    // Session renewal: a new session cookie value at sign-in.
    let p = browser
        .submit(
            &login,
            "/login",
            &[("username", "hachi"), ("password", &member.password)],
        )
        .await;
    let cookie = p
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("kenpo_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    // A pending step is what the member gets, whatever URL they open.
    let done = browser.get(&idp.url("/signin/done")).await;
    assert_eq!(done.headers["location"], "/signin/mfa-totp");
    // Health endpoints.
    assert_eq!(
        reqwest::get(idp.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        reqwest::get(idp.url("/readyz")).await.unwrap().status(),
        StatusCode::OK
    );
}
