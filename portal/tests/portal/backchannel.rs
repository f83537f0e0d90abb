//! Back-channel logout: a valid logout token ends every portal session of that IdP session,
//! on every replica (they share the store); anything else is refused with 400 and ends
//! nothing.

use crate::support::*;
use kenpo_portal::state::{AppState, Inner};
use serde_json::json;

async fn post_token(p: &TestPortal, token: &str) -> Answer {
    p.post("/auth/backchannel-logout", "", &[("logout_token", token)])
        .await
}

/// A second replica of the same portal: same configuration, database and shared store.
fn replica(p: &TestPortal) -> axum::Router {
    let s = &p.state;
    let state = AppState::new(Inner {
        config: s.config.clone(),
        db: s.db.clone(),
        eph: s.eph.clone(),
        clock: s.clock.clone(),
        provider: kenpo_portal::startup::provider(&s.config).unwrap(),
        cookies: s.cookies.clone(),
        metrics: Default::default(),
        lifecycle: Default::default(),
    });
    kenpo_portal::app(state)
}

#[tokio::test]
async fn a_logout_token_ends_the_sessions_of_its_sid_on_every_replica() {
    let p = TestPortal::start().await;
    let one = p.session_with("34", "1234567", "sub-a", "sid-a").await;
    let two = p.session_with("34", "1234567", "sub-a", "sid-a").await;
    let other = p.session_with("34", "1234567", "sub-a", "sid-b").await;
    for c in [&one, &two, &other] {
        assert_eq!(p.get("/medical", c).await.status, 200);
    }
    // Delivered to the other replica.
    let token = p.idp.logout_token("sub-a", "sid-a", |_| {});
    let body = serde_urlencoded::to_string([("logout_token", token.as_str())]).unwrap();
    let res = tower::ServiceExt::oneshot(
        replica(&p),
        axum::http::Request::post("/auth/backchannel-logout")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(p.get("/medical", &one).await.status, 303, "ended");
    assert_eq!(p.get("/medical", &two).await.status, 303, "ended");
    assert_eq!(
        p.get("/medical", &other).await.status,
        200,
        "another IdP session goes on"
    );

    // The same token again is a replay.
    assert_eq!(post_token(&p, &token).await.status, 400);

    // Without sid, by subject.
    let t = p.idp.logout_token("sub-a", "", |c| {
        c.as_object_mut().unwrap().remove("sid");
    });
    assert_eq!(post_token(&p, &t).await.status, 200);
    assert_eq!(p.get("/medical", &other).await.status, 303);
}

#[tokio::test]
async fn invalid_logout_tokens_are_refused_and_end_nothing() {
    let p = TestPortal::start().await;
    let session = p.session_with("34", "1234567", "sub-a", "sid-a").await;
    let other_key = FakeIdp::start(p.clock.clone()).await; // same kid, another key
    let idp = &p.idp;
    let now = idp.now();
    let signed = |header: serde_json::Value, claims: serde_json::Value| idp.sign(header, &claims);
    let claims = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut c = json!({
            "iss": idp.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": uuid::Uuid::new_v4().to_string(), "sub": "sub-a", "sid": "sid-a",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        });
        change(&mut c);
        c
    };
    let header = json!({"alg": "ES256", "typ": "logout+jwt", "kid": idp.kid});
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".into()),
        ("empty", String::new()),
        (
            "another key",
            other_key.logout_token("sub-a", "sid-a", |_| {}),
        ),
        (
            "typ JWT (an ID token)",
            signed(
                json!({"alg": "ES256", "typ": "JWT", "kid": idp.kid}),
                claims(&|_| {}),
            ),
        ),
        (
            "no typ",
            signed(json!({"alg": "ES256", "kid": idp.kid}), claims(&|_| {})),
        ),
        ("alg none", {
            let t = signed(json!({"alg": "none", "typ": "logout+jwt"}), claims(&|_| {}));
            format!("{}.", t.rsplit_once('.').unwrap().0)
        }),
        (
            "alg RS256",
            signed(
                json!({"alg": "RS256", "typ": "logout+jwt", "kid": idp.kid}),
                claims(&|_| {}),
            ),
        ),
        (
            "unknown kid",
            signed(
                json!({"alg": "ES256", "typ": "logout+jwt", "kid": "nope"}),
                claims(&|_| {}),
            ),
        ),
        (
            "nonce",
            signed(header.clone(), claims(&|c| c["nonce"] = json!("n"))),
        ),
        (
            "wrong aud",
            signed(
                header.clone(),
                claims(&|c| c["aud"] = json!("someone-else")),
            ),
        ),
        (
            "wrong iss",
            signed(
                header.clone(),
                claims(&|c| c["iss"] = json!("https://evil.example")),
            ),
        ),
        (
            "expired",
            signed(header.clone(), claims(&|c| c["exp"] = json!(now - 600))),
        ),
        (
            "no events",
            signed(
                header.clone(),
                claims(&|c| {
                    c.as_object_mut().unwrap().remove("events");
                }),
            ),
        ),
        (
            "no jti",
            signed(
                header.clone(),
                claims(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
        ),
        ("tampered payload", {
            let t = idp.logout_token("sub-a", "sid-a", |_| {});
            let parts: Vec<&str> = t.split('.').collect();
            let forged = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                claims(&|c| c["sid"] = json!("sid-z")).to_string(),
            );
            format!("{}.{forged}.{}", parts[0], parts[2])
        }),
    ];
    for (name, token) in cases {
        let a = post_token(&p, &token).await;
        assert_eq!(a.status, 400, "{name}: {}", a.body);
        assert!(a.body.contains("invalid_request"), "{name}");
        assert_eq!(
            p.get("/medical", &session).await.status,
            200,
            "{name} ended the session"
        );
    }
}

#[tokio::test]
async fn a_logout_before_the_sign_in_finishes_prevents_the_session() {
    let p = TestPortal::start().await;
    let token = p.idp.logout_token("sub-late", "sid-late", |_| {});
    assert_eq!(post_token(&p, &token).await.status, 200);
    let s = kenpo_portal::auth::session::PortalSession {
        sub: "sub-late".into(),
        sid: Some("sid-late".into()),
        symbol: "34".into(),
        number: "1234567".into(),
        name: String::new(),
        id_token: String::new(),
        refresh_token: None,
        created_at: p.state.now(),
        last_seen_at: p.state.now(),
        checked_at: p.state.now(),
        previous_visit: None,
        csrf: "x".into(),
    };
    assert_eq!(p.state.sessions().create(&s).await.unwrap(), None);
}
