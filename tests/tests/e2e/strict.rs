//! Protocol strictness (issue 10), over real HTTP: freshness of `prompt=login` / `max_age=0`,
//! the `max_age` syntax, PKCE for every client (and the legacy opt-out), the `claims`
//! parameter (OIDC Core 5.5) with a `sub` value, one bearer method per request, a code checked
//! before it is spent, and a refresh during an outage of the short-lived store.

use crate::support::*;
use kenpo_idp::config::ClientConfig;
use kenpo_shared::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

pub const CB: &str = "https://rp.example/cb";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An authorization URL for `client` with PKCE (unless `pkce` is false) and `extra`.
pub fn auth_url(idp: &TestIdp, client: &str, pkce: bool, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", client)
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("state", "st");
    if pkce {
        q.append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
    }
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    idp.url(&format!("/authorize?{}", q.finish()))
}

/// Where an authorization request ends for a browser: `Ok(page)` on the IdP, `Err(url)` back at
/// the relying party.
pub async fn outcome(b: &Browser, url: &str) -> Result<Page, String> {
    b.follow(b.get(url).await, CB).await
}

/// A code for `client` from a browser that is signed in already (single sign-on).
pub async fn sso_code(b: &Browser, url: &str) -> String {
    let back = outcome(b, url)
        .await
        .expect_err("straight back with a code");
    code_of(&back).0
}

/// Exchanges a code at the token endpoint with Basic credentials.
pub async fn exchange(
    idp: &TestIdp,
    client: &str,
    code: &str,
    verifier: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let (s, body, _) = post_basic(&idp.url("/token"), client, SECRET, &form).await;
    (s, body)
}

/// Refreshes with Basic credentials.
pub async fn refresh(idp: &TestIdp, client: &str, token: &str) -> (StatusCode, Value) {
    let (s, body, _) = post_basic(
        &idp.url("/token"),
        client,
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await;
    (s, body)
}

pub fn error_of(url: &str) -> String {
    query(url).get("error").cloned().unwrap_or_default()
}

#[tokio::test]
async fn prompt_login_and_max_age_zero_need_a_sign_in_made_for_the_request() {
    let idp = TestIdp::start().await;
    let m = idp.member("fresh", "12", "5000005").await;
    idp.confidential("rp", CB, "ES256").await;
    let b = Browser::new();
    let back = sign_in(&idp, &b, &auth_url(&idp, "rp", true, &[]), &m, CB).await;
    code_of(&back);
    // The relying party asks again within the second the password was entered (the sign-in
    // helper moved the clock 30 s on for the authenticator code).
    idp.clock.advance(Duration::seconds(-30));
    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        let page = outcome(&b, &auth_url(&idp, "rp", true, &extra)).await;
        let page = page.unwrap_or_else(|url| panic!("{extra:?}: a code without a password: {url}"));
        assert_eq!(page.step().as_deref(), Some("login"), "{extra:?}");
    }
    let none = outcome(
        &b,
        &auth_url(&idp, "rp", true, &[("prompt", "none"), ("max_age", "0")]),
    )
    .await
    .expect_err("answered at once");
    assert_eq!(error_of(&none), "login_required");
    // Signing in for the request satisfies it, however long the second factor took.
    let url = auth_url(&idp, "rp", true, &[("prompt", "login")]);
    let back = sign_in(&idp, &b, &url, &m, CB).await;
    let (code, _) = code_of(&back);
    let (s, tokens) = exchange(&idp, "rp", &code, Some(VERIFIER)).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
}

#[tokio::test]
async fn max_age_must_be_plain_decimal_digits() {
    let idp = TestIdp::start().await;
    idp.confidential("rp", CB, "ES256").await;
    let b = Browser::new();
    for bad in [
        "+0",
        "-0",
        "-1",
        "01",
        " 1",
        "1.5",
        "1e3",
        "０",
        "",
        "99999999999",
    ] {
        let url = auth_url(&idp, "rp", true, &[("max_age", bad)]);
        let back = outcome(&b, &url).await.expect_err("an error redirect");
        assert_eq!(error_of(&back), "invalid_request", "max_age={bad:?}");
    }
    for good in ["0", "1", "3600"] {
        let page = outcome(&b, &auth_url(&idp, "rp", true, &[("max_age", good)]))
            .await
            .expect("the login page");
        assert_eq!(page.step().as_deref(), Some("login"), "max_age={good}");
    }
}

#[tokio::test]
async fn pkce_is_required_of_every_client_unless_registered_as_legacy() {
    let idp = TestIdp::start().await;
    let m = idp.member("pkce", "12", "5000006").await;
    idp.confidential("rp", CB, "ES256").await;
    idp.client(ClientConfig {
        client_id: "legacy".into(),
        secret: Some(Secret::new(SECRET.into())),
        redirect_uris: vec![CB.into()],
        pkce_optional: true,
        ..ClientConfig::default()
    })
    .await;
    let b = Browser::new();
    let back = outcome(&b, &auth_url(&idp, "rp", false, &[]))
        .await
        .expect_err("an error redirect");
    assert_eq!(
        error_of(&back),
        "invalid_request",
        "a confidential client without PKCE"
    );
    assert!(query(&back)["error_description"].contains("PKCE"));
    // plain is no PKCE either.
    let back = outcome(
        &b,
        &auth_url(
            &idp,
            "rp",
            false,
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
        ),
    )
    .await
    .expect_err("an error redirect");
    assert_eq!(error_of(&back), "invalid_request");

    // The legacy client may go without, and then must not send a verifier.
    let back = sign_in(&idp, &b, &auth_url(&idp, "legacy", false, &[]), &m, CB).await;
    let (code, _) = code_of(&back);
    let (s, body) = exchange(&idp, "legacy", &code, Some(VERIFIER)).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, body) = exchange(&idp, "legacy", &code, None).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the refusal left the code usable: {body}"
    );

    // Discovery says what is enforced.
    let d: Value = reqwest::get(idp.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
}

#[tokio::test]
async fn the_claims_parameter_is_checked_and_a_sub_value_honoured() {
    let idp = TestIdp::start().await;
    let m = idp.member("claims", "12", "5000007").await;
    let other = idp.member("other", "12", "5000008").await;
    idp.confidential("rp", CB, "ES256").await;
    let b = Browser::new();
    for bad in [
        r#"{"userinfo":"email"}"#,
        r#"{"id_token":[]}"#,
        r#"{"id_token":{"email":true}}"#,
        r#"{"id_token":{"email":{"essential":"yes"}}}"#,
        r#"{"id_token":{"acr":{"values":"urn:kenpo:loa:2"}}}"#,
        r#"{"id_token":{"sub":{"value":7}}}"#,
        r#"["id_token"]"#,
    ] {
        let back = outcome(&b, &auth_url(&idp, "rp", true, &[("claims", bad)]))
            .await
            .expect_err("an error redirect");
        assert_eq!(error_of(&back), "invalid_request", "{bad}");
    }
    sign_in(&idp, &b, &auth_url(&idp, "rp", true, &[]), &m, CB).await;
    let asking = |sub: &str| json!({"id_token": {"sub": {"value": sub}}}).to_string();
    // Another subject than the signed-in member: never a code for the wrong member.
    let c = asking(&other.subject);
    let back = outcome(
        &b,
        &auth_url(&idp, "rp", true, &[("claims", &c), ("prompt", "none")]),
    )
    .await
    .expect_err("answered at once");
    assert_eq!(error_of(&back), "login_required");
    let page = outcome(&b, &auth_url(&idp, "rp", true, &[("claims", &c)]))
        .await
        .expect("asked to sign in as that member");
    assert_eq!(page.step().as_deref(), Some("login"));
    // The signed-in member's own subject: single sign-on as usual, and the token says so.
    let code = sso_code(
        &b,
        &auth_url(&idp, "rp", true, &[("claims", &asking(&m.subject))]),
    )
    .await;
    let (s, tokens) = exchange(&idp, "rp", &code, Some(VERIFIER)).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    let info: Value = reqwest::Client::new()
        .get(idp.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], m.subject);
}

#[tokio::test]
async fn one_bearer_method_per_request() {
    let idp = TestIdp::start().await;
    let m = idp.member("bearer", "12", "5000009").await;
    idp.confidential("rp", CB, "ES256").await;
    let b = Browser::new();
    let back = sign_in(&idp, &b, &auth_url(&idp, "rp", true, &[]), &m, CB).await;
    let (s, tokens) = exchange(&idp, "rp", &code_of(&back).0, Some(VERIFIER)).await;
    assert_eq!(s, StatusCode::OK);
    let at = tokens["access_token"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let status_error = |r: reqwest::Response| async move {
        let status = r.status();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, challenge, body)
    };
    let ui = idp.url("/userinfo");
    let answers = [
        // header and query
        http.get(format!("{ui}?access_token={at}")).bearer_auth(&at),
        // header and body
        http.post(&ui)
            .bearer_auth(&at)
            .form(&[("access_token", at.as_str())]),
        // query alone (RFC 6750 §2.3 is not offered: tokens in URLs leak into logs)
        http.get(format!("{ui}?access_token={at}")),
        // a second token in the query beside the header
        http.get(format!("{ui}?access_token=other"))
            .bearer_auth(&at),
    ];
    for req in answers {
        let (status, challenge, body) = status_error(req.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{challenge} {body}");
        assert!(
            challenge.contains("invalid_request") || body["error"] == "invalid_request",
            "{challenge} {body}"
        );
    }
    let ok = http.get(&ui).bearer_auth(&at).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK, "one method is fine");

    let rt = tokens["refresh_token"].as_str().unwrap();
    for endpoint in ["/introspect", "/revoke"] {
        // Credentials in the header, the token in the query.
        let r = http
            .post(idp.url(&format!("{endpoint}?token={rt}")))
            .basic_auth("rp", Some(SECRET))
            .form(&[("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        let (status, _, body) = status_error(r).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{endpoint}: token in the query"
        );
        // A Bearer header beside client credentials in the body.
        let r = http
            .post(idp.url(endpoint))
            .bearer_auth(&at)
            .form(&[
                ("client_id", "rp"),
                ("client_secret", SECRET),
                ("token", rt),
            ])
            .send()
            .await
            .unwrap();
        let (status, _, body) = status_error(r).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{endpoint}: two methods"
        );
        // A Bearer header alone does not authenticate a client.
        let r = http
            .post(idp.url(endpoint))
            .bearer_auth(&at)
            .form(&[("token", rt)])
            .send()
            .await
            .unwrap();
        let (status, _, body) = status_error(r).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{endpoint}: Bearer is not client authentication"
        );
    }
    // Nothing above changed anything: the refresh token still works.
    let (s, body) = refresh(&idp, "rp", rt).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_code_is_checked_before_it_is_spent() {
    let idp = TestIdp::start().await;
    let m = idp.member("leak", "12", "5000010").await;
    idp.confidential("rp", CB, "ES256").await;
    idp.confidential("other", CB, "ES256").await;
    let b = Browser::new();
    let back = sign_in(&idp, &b, &auth_url(&idp, "rp", true, &[]), &m, CB).await;
    let (code, _) = code_of(&back);
    // A client holding a leaked code, and the right client with a wrong verifier: refused,
    // and the code is still the right client's.
    let (s, body) = exchange(&idp, "other", &code, Some(VERIFIER)).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (_, body) = exchange(&idp, "rp", &code, Some(&"x".repeat(43))).await;
    assert_eq!(body["error"], "invalid_grant");
    let (_, body) = exchange(&idp, "rp", &code, None).await;
    assert_eq!(body["error"], "invalid_grant");
    let (s, tokens) = exchange(&idp, "rp", &code, Some(VERIFIER)).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    // Presented again by the other client: refused, without ending the right client's grant.
    let (_, body) = exchange(&idp, "other", &code, Some(VERIFIER)).await;
    assert_eq!(body["error"], "invalid_grant");
    let (s, _) = refresh(&idp, "rp", tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "another client's replay revokes nothing");
}

/// A Redis of the test's own, stopped and started again by it (never the shared one).
pub struct OwnRedis {
    pub port: u16,
}

impl OwnRedis {
    /// `None` when redis-server is not installed (the test is then skipped, and says so).
    pub fn start() -> Option<OwnRedis> {
        if std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("redis-server is not installed: outage test skipped");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = OwnRedis { port };
        r.up();
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn up(&self) {
        let status = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
            .status()
            .expect("redis-server");
        assert!(status.success());
        for _ in 0..100 {
            if self.ping() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server on {} did not start", self.port);
    }

    pub fn down(&self) {
        // The answer is a closed connection, not an error worth reporting.
        let _ = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "shutdown", "nosave"])
            .output();
        for _ in 0..100 {
            if !self.ping() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn ping(&self) -> bool {
        std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "ping"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"))
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.down();
    }
}

/// Issue 13's defect, fixed in the refresh path: a refresh refused because the short-lived
/// store was down (503 `temporarily_unavailable`) must leave the refresh token usable.
#[tokio::test]
async fn a_refresh_that_fails_on_a_store_outage_leaves_the_token_usable() {
    let Some(redis) = OwnRedis::start() else {
        return;
    };
    let url = redis.url();
    let idp = TestIdp::start_with(|c| {
        c.ephemeral.url = url;
        c.ephemeral.prefix = "kenpo:outage:".into();
    })
    .await;
    let m = idp.member("outage", "12", "5000011").await;
    idp.confidential("rp", CB, "ES256").await;
    let b = Browser::new();
    let back = sign_in(&idp, &b, &auth_url(&idp, "rp", true, &[]), &m, CB).await;
    let (s, tokens) = exchange(&idp, "rp", &code_of(&back).0, Some(VERIFIER)).await;
    assert_eq!(s, StatusCode::OK);
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();

    redis.down();
    let (s, body) = refresh(&idp, "rp", &rt).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    redis.up();
    // The connection comes back on its own; until it does, answers stay 503 and spend nothing.
    let mut answer = (StatusCode::SERVICE_UNAVAILABLE, Value::Null);
    for _ in 0..50 {
        answer = refresh(&idp, "rp", &rt).await;
        if answer.0 != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        answer.0,
        StatusCode::OK,
        "the token survived the outage: {}",
        answer.1
    );
    let (s, _) = refresh(&idp, "rp", answer.1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "and the family goes on");
}
