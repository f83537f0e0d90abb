//! The OIDC client against a stand-in IdP: the authorization request, the callback's checks
//! (state once, same browser, RFC 9207 issuer, nonce, member claims), the session, its
//! revalidation by refresh token, and RP-initiated logout.

use crate::support::*;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// The query of a URL as a map.
fn params(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Starts a sign-in; returns the authorization request's parameters and the login cookie.
async fn start(p: &TestPortal, return_to: &str) -> (HashMap<String, String>, String) {
    let path = format!(
        "/auth/login?{}",
        serde_urlencoded::to_string([("return_to", return_to)]).unwrap()
    );
    let a = p.get(&path, "").await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        a.location()
            .starts_with(&format!("{}/authorize?", p.idp.issuer)),
        "{}",
        a.location()
    );
    (
        params(a.location()),
        a.cookie("kenpo_portal_login").expect("login cookie"),
    )
}

/// The IdP's answer for `claims`: registers a code and returns the callback path.
fn answer(p: &TestPortal, q: &HashMap<String, String>, claims: Value) -> String {
    let code = uuid::Uuid::new_v4().to_string();
    p.idp.codes.lock().unwrap().insert(code.clone(), claims);
    format!(
        "/auth/callback?{}",
        serde_urlencoded::to_string([
            ("code", code.as_str()),
            ("state", &q["state"]),
            ("iss", &p.idp.issuer)
        ])
        .unwrap()
    )
}

/// A complete sign-in for household 34/1234567; returns the session cookie.
pub async fn sign_in(p: &TestPortal, sid: &str) -> String {
    let (q, login) = start(p, "/medical").await;
    let claims = p
        .idp
        .member_claims("sub-hanako", sid, "34", "1234567", &q["nonce"]);
    let a = p.get(&answer(p, &q, claims), &login).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location(), "/medical");
    a.cookie("kenpo_portal").expect("session cookie")
}

#[tokio::test]
async fn the_authorization_request_and_a_complete_sign_in() {
    let p = TestPortal::start().await;
    let (q, login) = start(&p, "/benefits").await;
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], "http://localhost:8081/auth/callback");
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"profile") && scopes.contains(&"member")
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43);
    assert_eq!(q["ui_locales"], "ja");

    let claims = p
        .idp
        .member_claims("sub-hanako", "sid-1", "34", "1234567", &q["nonce"]);
    let a = p.get(&answer(&p, &q, claims), &login).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.location(), "/benefits");
    let session = a.cookie("kenpo_portal").unwrap();
    assert!(a.headers.get_all("set-cookie").iter().any(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("kenpo_portal=") && v.contains("HttpOnly") && v.contains("SameSite=Lax")
    }));
    // The code was exchanged with the PKCE verifier and client authentication.
    let call = p.idp.token_calls.lock().unwrap().last().cloned().unwrap();
    let verifier = &call["code_verifier"];
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(challenge, q["code_challenge"]);
    assert_eq!(call["grant_type"], "authorization_code");

    let page = p.get("/benefits", &session).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("健保 花子"), "name from the ID token");

    // The same answer again (replay): the state is used up.
    let again = p
        .get(
            &answer(
                &p,
                &q,
                p.idp
                    .member_claims("sub-hanako", "sid-1", "34", "1234567", &q["nonce"]),
            ),
            &login,
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.step(), Some("portal-signin-problem"));
    assert!(again.cookie("kenpo_portal").is_none());
}

#[tokio::test]
async fn the_callback_refuses_what_it_must() {
    let p = TestPortal::start().await;
    let nonce_of = |q: &HashMap<String, String>| q["nonce"].clone();

    // Another browser (no or another login cookie) cannot finish the sign-in.
    let (q, _) = start(&p, "/").await;
    let claims = p
        .idp
        .member_claims("s", "sid", "34", "1234567", &nonce_of(&q));
    let a = p
        .get(&answer(&p, &q, claims), "kenpo_portal_login=someone-else")
        .await;
    assert_eq!(a.status, 400);
    assert!(a.cookie("kenpo_portal").is_none());

    // Another issuer in the response (mix-up), or none although the IdP promises it.
    for iss in [Some("http://127.0.0.1:1"), None] {
        let (q, login) = start(&p, "/").await;
        let code = "c-iss".to_string();
        p.idp.codes.lock().unwrap().insert(
            code.clone(),
            p.idp
                .member_claims("s", "sid", "34", "1234567", &nonce_of(&q)),
        );
        let mut pairs = vec![("code", code.as_str()), ("state", q["state"].as_str())];
        if let Some(i) = iss {
            pairs.push(("iss", i));
        }
        let a = p
            .get(
                &format!(
                    "/auth/callback?{}",
                    serde_urlencoded::to_string(&pairs).unwrap()
                ),
                &login,
            )
            .await;
        assert_eq!(a.status, 400, "iss {iss:?}");
        assert!(a.cookie("kenpo_portal").is_none());
    }

    // An ID token with another nonce, or for another client, or expired.
    type Change = Box<dyn Fn(&mut Value)>;
    let bad: Vec<Change> = vec![
        Box::new(|c| c["nonce"] = "not-the-nonce".into()),
        Box::new(|c| c["aud"] = "another-client".into()),
        Box::new(|c| c["exp"] = (NOW.unix_timestamp() - 3600).into()),
        Box::new(|c| c["iss"] = "https://evil.example".into()),
    ];
    for change in bad {
        let (q, login) = start(&p, "/").await;
        let mut claims = p
            .idp
            .member_claims("s", "sid", "34", "1234567", &nonce_of(&q));
        change(&mut claims);
        let a = p.get(&answer(&p, &q, claims), &login).await;
        assert_ne!(a.status, 303, "{}", a.body);
        assert!(a.cookie("kenpo_portal").is_none());
    }

    // Signed in at the IdP, but without a household.
    let (q, login) = start(&p, "/").await;
    let mut claims = p
        .idp
        .member_claims("s", "sid", "34", "1234567", &nonce_of(&q));
    claims.as_object_mut().unwrap().remove("member_number");
    let a = p.get(&answer(&p, &q, claims), &login).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("記号・番号が登録されていない"));

    // The member cancelled at the IdP.
    let (q, login) = start(&p, "/").await;
    let url = format!(
        "/auth/callback?{}",
        serde_urlencoded::to_string([
            ("error", "access_denied"),
            ("state", &q["state"]),
            ("iss", &p.idp.issuer)
        ])
        .unwrap()
    );
    let a = p.get(&url, &login).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("ログインを中止しました"));
    assert!(a.cookie("kenpo_portal").is_none());
}

#[tokio::test]
async fn sessions_are_revalidated_with_the_refresh_token() {
    let p = TestPortal::start().await;
    let session = sign_in(&p, "sid-r").await;
    let calls = || p.idp.token_calls.lock().unwrap().len();
    let before = calls();
    assert_eq!(p.get("/medical", &session).await.status, 200);
    assert_eq!(calls(), before, "no refresh while the session is fresh");

    // After revalidate_secs: one refresh, the session goes on.
    p.clock.advance(time::Duration::seconds(
        p.state.config.session.revalidate_secs + 1,
    ));
    assert_eq!(p.get("/medical", &session).await.status, 200);
    assert_eq!(calls(), before + 1);
    let last = p.idp.token_calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["grant_type"], "refresh_token");
    assert_eq!(p.get("/benefits", &session).await.status, 200);
    assert_eq!(calls(), before + 1, "once per period");

    // The member signed out of the IdP: the next refresh is refused and the session ends.
    p.idp.refresh_ok.store(false, Ordering::SeqCst);
    p.clock.advance(time::Duration::seconds(
        p.state.config.session.revalidate_secs + 1,
    ));
    let a = p.get("/medical", &session).await;
    assert_eq!(a.status, 303);
    assert!(a.location().starts_with("/auth/login"));
    p.idp.refresh_ok.store(true, Ordering::SeqCst);
    assert_eq!(
        p.get("/medical", &session).await.status,
        303,
        "ended for good"
    );
}

#[tokio::test]
async fn a_refreshed_token_about_someone_else_ends_the_session() {
    let p = TestPortal::start().await;
    let session = sign_in(&p, "sid-x").await;
    *p.idp.refresh_claims.lock().unwrap() = Some(serde_json::json!({
        "iss": p.idp.issuer, "aud": CLIENT_ID, "sub": "someone-else",
        "iat": NOW.unix_timestamp(), "exp": NOW.unix_timestamp() + 3600,
        "member_symbol": "12", "member_number": "3456789",
    }));
    p.clock.advance(time::Duration::seconds(
        p.state.config.session.revalidate_secs + 1,
    ));
    assert_eq!(p.get("/medical", &session).await.status, 303);
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_the_absolute_limit() {
    let p = TestPortal::start().await;
    let session = sign_in(&p, "sid-i").await;
    p.clock.advance(time::Duration::seconds(
        p.state.config.session.idle_secs + 1,
    ));
    assert_eq!(p.get("/medical", &session).await.status, 303, "idle");

    let session = sign_in(&p, "sid-j").await;
    let step = p.state.config.session.idle_secs - 60;
    let mut elapsed = 0;
    while elapsed + step <= p.state.config.session.absolute_secs {
        p.clock.advance(time::Duration::seconds(step));
        elapsed += step;
        assert_eq!(
            p.get("/medical", &session).await.status,
            200,
            "active at {elapsed}s"
        );
    }
    p.clock.advance(time::Duration::seconds(step));
    assert_eq!(
        p.get("/medical", &session).await.status,
        303,
        "absolute limit"
    );
}

#[tokio::test]
async fn rp_initiated_logout() {
    let p = TestPortal::start().await;
    let session = sign_in(&p, "sid-l").await;
    let page = p.get("/auth/logout", &session).await;
    assert_eq!(page.step(), Some("portal-logout"));
    let csrf = page.input("csrf").unwrap();

    // A forged form does nothing.
    let a = p
        .post("/auth/logout", &session, &[("csrf", "forged")])
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(p.get("/medical", &session).await.status, 200);

    let a = p.post("/auth/logout", &session, &[("csrf", &csrf)]).await;
    assert_eq!(a.status, 303);
    let to = a.location().to_string();
    assert!(to.starts_with(&format!("{}/logout?", p.idp.issuer)), "{to}");
    let q = params(&to);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["post_logout_redirect_uri"], "http://localhost:8081/");
    assert_eq!(q["id_token_hint"].split('.').count(), 3);
    assert!(
        a.headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("kenpo_portal=;"))
    );
    assert_eq!(
        p.get("/medical", &session).await.status,
        303,
        "the portal session is over"
    );

    // Back from the IdP: "you are signed out", once.
    let back = p.get(&format!("/?state={}", q["state"]), "").await;
    assert_eq!(back.step(), Some("portal-signed-out"));
    assert!(back.body.contains("ログアウトしました"));
    let again = p.get(&format!("/?state={}", q["state"]), "").await;
    assert_eq!(again.step(), Some("portal-welcome"));
}
