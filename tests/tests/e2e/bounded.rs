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
