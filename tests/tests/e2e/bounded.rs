//! Bounded work for strangers (issue 14): the password-hashing queue refuses at once when
//! full, while everything that does not hash keeps answering.

use crate::support::*;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

async fn depth_reaches(idp: &TestIdp, n: usize) {
    for _ in 0..1000 {
        if idp.state.hasher.queue_depth() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the hashing queue never reached {n}");
}

/// One hashing thread, one place in its queue, and hashes slow enough (t = 150, about 2 s in
/// a test build) that two wrong sign-ins keep both busy while the rest is measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_503_while_other_pages_stay_fast() {
    let idp = TestIdp::start_with(|c| {
        c.password.hash_concurrency = 1;
        c.password.hash_queue_limit = 1;
        c.password.argon2_t = 150;
    })
    .await;
    let login = idp.url("/login");
    let attempt = |user: &'static str| {
        let (b, login) = (Browser::new(), login.clone());
        async move {
            let page = b.get(&login).await;
            b.submit(
                &page,
                "/login",
                &[("username", user), ("password", "Wrong-Pass-1!")],
            )
            .await
        }
    };
    let running = tokio::spawn(attempt("stranger1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    if running.is_finished() {
        let p = running.await.unwrap();
        panic!(
            "the first sign-in did not wait for its hash: {} {}",
            p.status, p.body
        );
    }
    depth_reaches(&idp, 1).await;
    let queued = tokio::spawn(attempt("stranger2"));
    depth_reaches(&idp, 2).await;

    let b = Browser::new();
    let form = b.get(&login).await;
    let started = Instant::now();
    let refused = b
        .submit(
            &form,
            "/login",
            &[("username", "stranger3"), ("password", "Wrong-Pass-1!")],
        )
        .await;
    let refused_in = started.elapsed();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(
        refused.headers.get("retry-after").is_some(),
        "Retry-After is set"
    );
    assert!(
        refused.body.contains("一時的にご利用いただけません"),
        "{}",
        refused.body
    );

    let started = Instant::now();
    assert_eq!(b.get(&idp.url("/healthz")).await.status, StatusCode::OK);
    let healthz_in = started.elapsed();
    let started = Instant::now();
    assert_eq!(
        b.get(&idp.url("/static/passkey.js")).await.status,
        StatusCode::OK
    );
    let static_in = started.elapsed();
    let started = Instant::now();
    assert_eq!(b.get(&login).await.status, StatusCode::OK);
    let page_in = started.elapsed();
    assert!(
        idp.state.hasher.queue_depth() == 2,
        "both hashes were still busy while measuring (make them slower if this fails)"
    );
    eprintln!(
        "full queue: 503 in {refused_in:?}, /healthz in {healthz_in:?}, static in {static_in:?}, login page in {page_in:?}"
    );
    for t in [refused_in, healthz_in, static_in, page_in] {
        assert!(t < Duration::from_secs(1), "{t:?}");
    }
    // The queued sign-ins are still answered, as wrong passwords.
    assert_eq!(running.await.unwrap().status, StatusCode::UNAUTHORIZED);
    assert_eq!(queued.await.unwrap().status, StatusCode::UNAUTHORIZED);
}

/// 10,000 `/authorize` requests from one address (through a trusted proxy, as behind the load
/// balancer): the budget (60 a minute) lets 60 through; another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_authorization_requests_from_one_address_is_limited() {
    use futures::StreamExt as _;
    let idp = TestIdp::start_with(|c| {
        c.throttle.authorize_per_minute = 60;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    idp.confidential("rp", crate::strict::CB, "ES256").await;
    let url = crate::strict::auth_url(&idp, "rp", true, &[]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let from = |ip: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.get(&url)
                .header("x-forwarded-for", ip)
                .send()
                .await
                .unwrap()
        }
    };
    let started = Instant::now();
    let statuses: Vec<StatusCode> = futures::stream::iter(0..10_000)
        .map(|_| async { from("203.0.113.5").await.status() })
        .buffer_unordered(32)
        .collect()
        .await;
    let took = started.elapsed();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let served = statuses.iter().filter(|s| s.is_redirection()).count();
    eprintln!(
        "burst of 10000 /authorize from one address: {served} served, {refused} refused, in {took:?}"
    );
    assert_eq!(served, 60, "exactly the budget is served");
    assert_eq!(refused, 10_000 - 60);

    let refused = from("203.0.113.5").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("retry-after").is_some());
    let body = refused.text().await.unwrap();
    assert!(body.contains("しばらくお待ちください"), "{body}");
    let other = from("198.51.100.20").await;
    assert!(
        other.status().is_redirection(),
        "another address is served: {}",
        other.status()
    );
    let same_64 = from("2001:db8:1:2::1").await;
    assert!(same_64.status().is_redirection());
}

/// The flow `/authorize` stores lives 10 minutes (here: 1 s) until someone signs in to it,
/// then the flow's configured lifetime.
#[tokio::test]
async fn an_authorization_request_nobody_signs_in_to_expires_early() {
    let idp = TestIdp::start_with(|c| c.session.unposted_flow_ttl_secs = 1).await;
    idp.confidential("rp", crate::strict::CB, "ES256").await;
    let member = idp.member("kazuo", "12", "4444001").await;
    let flow_of = |page: &Page| {
        let loc = page
            .headers
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        query(&idp.url(&loc))["flow"].clone()
    };
    let alive = |id: String| {
        let eph = idp.state.eph.clone();
        async move {
            eph.get(&kenpo_idp::signin::flow_key(&id))
                .await
                .unwrap()
                .is_some()
        }
    };
    let url = crate::strict::auth_url(&idp, "rp", true, &[]);
    let abandoned = Browser::new();
    let left = flow_of(&abandoned.get(&url).await);
    let b = Browser::new();
    let first = b.get(&url).await;
    let posted = flow_of(&first);
    let form = b.follow(first, crate::strict::CB).await.unwrap();
    assert_eq!(form.step().as_deref(), Some("login"));
    let next = b
        .submit(
            &form,
            "/login",
            &[
                ("username", &member.user_id),
                ("password", &member.password),
            ],
        )
        .await;
    assert!(
        next.status.is_redirection(),
        "{} {}",
        next.status,
        next.alert().unwrap_or_default()
    );
    let ttl = idp
        .state
        .eph
        .ttl(&kenpo_idp::signin::flow_key(&posted))
        .await
        .unwrap()
        .unwrap();
    assert!(
        ttl > Duration::from_secs(3000),
        "extended to flow_ttl_secs: {ttl:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!alive(left.clone()).await, "the unanswered request is gone");
    assert!(alive(posted).await, "the one signed in to lives on");
    let back = abandoned
        .get(&idp.url(&format!("/login?flow={left}")))
        .await;
    assert!(
        back.status.is_success(),
        "an expired flow is a plain login page: {}",
        back.status
    );
}
