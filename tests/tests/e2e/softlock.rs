//! Lockout by strangers (issue 14, docs/designs/softlock.md): a stranger who knows a user ID
//! and fails on purpose exhausts only the budget unknown browsers share; the member on a
//! browser they signed in with before is admitted at once; a new browser is told the ways
//! out. Parallel guesses still get no more evaluated attempts than the budget, and a reset
//! leaves the second factor's budget as it was.

use crate::support::*;
use kenpo_idp::security::throttle::{Budget, Kind, Throttle, Verdict};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Barrier;

const DEVICE: &str = "kenpo_device";

/// A full sign-in (password + app) in `b`; returns the device token the browser was given.
async fn sign_in_once(idp: &TestIdp, b: &Browser, m: &TestMember) -> Option<String> {
    let page = password_step(idp, b, m).await;
    assert_eq!(
        page.step().as_deref(),
        Some("mfa-totp"),
        "{}",
        describe(&page)
    );
    idp.clock.advance(time::Duration::seconds(30));
    let code = totp_code(&m.totp_secret, idp.state.now());
    let r = b.submit(&page, "/signin/mfa-totp", &[("otp", &code)]).await;
    let device = r.set_cookie(DEVICE);
    let done = b
        .follow(r, "http://never/")
        .await
        .expect("stays on the IdP");
    assert_eq!(done.step().as_deref(), Some("done"), "{}", describe(&done));
    device
}

/// `n` wrong passwords for `user` sent at once from one unknown browser; returns how many
/// were evaluated (401) and how many refused unevaluated (429).
async fn stranger_burst(idp: &TestIdp, user: &str, n: usize) -> (usize, usize) {
    let stranger = Browser::new();
    let login = stranger.get(&idp.url("/login")).await;
    let csrf = login.input("csrf").expect("a CSRF token");
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (b, url, csrf, user, barrier) = (
            stranger.clone(),
            idp.url("/login"),
            csrf.clone(),
            user.to_string(),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let guess = format!("Guess-{i}-x!");
            barrier.wait().await;
            b.post(
                &url,
                &[("csrf", &csrf), ("username", &user), ("password", &guess)],
            )
            .await
            .status
        }));
    }
    let (mut evaluated, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    (evaluated, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stranger_cannot_keep_the_member_out_of_their_own_browser() {
    let idp = TestIdp::start_with(|c| {
        // The stranger's many addresses are not what this test is about.
        c.throttle.address_per_minute = 1_000_000;
        // Delays longer than the test, so a slow machine cannot let a second guess through
        // the gate during the burst.
        c.throttle.account_base_delay_secs = 600;
    })
    .await;
    let free = idp.state.config.throttle.account_free_failures;
    let m = idp.member("yuki", "12", "7000001").await;
    let device = sign_in_once(&idp, &Browser::new(), &m)
        .await
        .expect("a device token after a completed sign-in");

    let started = Instant::now();
    let (evaluated, refused) = stranger_burst(&idp, "yuki", 1_000).await;
    eprintln!(
        "softlock: 1000 parallel wrong passwords: {evaluated} evaluated, {refused} refused, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        evaluated as i64,
        free + 1,
        "the free attempts and one through the gate"
    );

    // The attack goes on between the member's sign-ins; the member's own browser (its device
    // token kept, the session gone) is admitted every time, at once.
    const ROUNDS: usize = 8;
    let mut admitted = 0;
    let mut slowest = 0.0f64;
    for _ in 0..ROUNDS {
        stranger_burst(&idp, "yuki", 50).await;
        let own = Browser::with_cookie(&idp.url("/"), DEVICE, &device);
        let t = Instant::now();
        if sign_in_once(&idp, &own, &m).await.is_some() {
            admitted += 1;
        }
        slowest = slowest.max(t.elapsed().as_secs_f64());
    }
    eprintln!(
        "softlock: member on their own browser admitted {admitted}/{ROUNDS} while attacked (slowest {slowest:.2} s)"
    );
    assert_eq!(admitted, ROUNDS);

    // A browser the member never used: refused, and told the ways the stranger cannot block.
    let new_pc = Browser::new();
    let login = new_pc.get(&idp.url("/login")).await;
    let r = new_pc
        .submit(
            &login,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let alert = r.alert().unwrap_or_default();
    assert!(alert.contains("パスキー"), "{alert}");
    assert!(alert.contains("パスワードを忘れた方"), "{alert}");

    // A forged or foreign device token counts as an unknown browser.
    let forged = Browser::with_cookie(&idp.url("/"), DEVICE, "AAAA.BBBB");
    let login = forged.get(&idp.url("/login")).await;
    let r = forged
        .submit(
            &login,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);

    let kinds = idp.audit_kinds(&m.id).await;
    for k in ["signin.failed", "signin.throttled", "device.remembered"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn the_hard_cap_holds_across_a_password_reset_for_the_second_factor() {
    let idp = TestIdp::start_with(|c| {
        c.throttle.account_free_failures = 1_000;
        c.throttle.account_hard_cap = 4;
        c.throttle.address_per_minute = 1_000_000;
    })
    .await;
    let m = idp.member("fuyu", "12", "7000002").await;
    let b = Browser::new();
    // Four wrong app codes after the right password: the code budget is at its cap.
    let mut page = password_step(&idp, &b, &m).await;
    for _ in 0..4 {
        page = b
            .submit(&page, "/signin/mfa-totp", &[("otp", "000000")])
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let r = b
        .submit(&page, "/signin/mfa-totp", &[("otp", "000000")])
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the fifth is past the cap"
    );
    idp.clock.advance(time::Duration::seconds(30));
    let right = totp_code(&m.totp_secret, idp.state.now());
    let r = b
        .submit(&page, "/signin/mfa-totp", &[("otp", &right)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked, even for the right code"
    );

    // A completed password reset reopens the password budget only.
    let t = Throttle::new(&idp.state.eph, &idp.state.config.throttle);
    t.recovered(&m.user_id).await.unwrap();
    let any = Budget::new(&m.user_id, None);
    assert_eq!(
        t.account_attempt(Kind::Code, &any).await.unwrap(),
        Verdict::Locked,
        "the second factor's budget is not refilled by a reset"
    );
    assert_eq!(
        t.account_attempt(Kind::Password, &any).await.unwrap(),
        Verdict::Open
    );
    // Staff unlock clears it.
    t.unlock(&m.user_id).await.unwrap();
    assert_eq!(
        t.account_attempt(Kind::Code, &any).await.unwrap(),
        Verdict::Open
    );
}

#[tokio::test]
async fn the_session_cookie_is_renewed_when_the_second_factor_completes() {
    let idp = TestIdp::start().await;
    let m = idp.member("haru", "12", "7000003").await;
    let b = Browser::new();
    let login = b.get(&idp.url("/login")).await;
    let r = b
        .submit(
            &login,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    let before = r.set_cookie("kenpo_session").expect("a session cookie");
    let page = b.follow(r, "http://never/").await.unwrap();
    idp.clock.advance(time::Duration::seconds(30));
    let code = totp_code(&m.totp_secret, idp.state.now());
    let r = b.submit(&page, "/signin/mfa-totp", &[("otp", &code)]).await;
    let after = r.set_cookie("kenpo_session").expect("a new session cookie");
    assert_ne!(before, after);
    // The value from before the second factor opens nothing any more.
    let old = Browser::with_cookie(&idp.url("/"), "kenpo_session", &before);
    let account = old.get(&idp.url("/account")).await;
    assert!(account.status.is_redirection(), "{}", describe(&account));
    let new = Browser::with_cookie(&idp.url("/"), "kenpo_session", &after);
    let account = new.get(&idp.url("/account")).await;
    assert_eq!(
        account.step().as_deref(),
        Some("account"),
        "{}",
        describe(&account)
    );
}

#[tokio::test]
async fn a_remembered_browser_shows_the_user_id_and_keeps_its_budget() {
    let idp = TestIdp::start().await;
    let m = idp.member("aki", "12", "7000004").await;
    // "Remember me" ticked: the browser keeps the member known.
    let b = Browser::new();
    let login = b.get(&idp.url("/login")).await;
    let r = post_login(&b, &login, &m.user_id, &m.password, true).await;
    let page = b.follow(r, "http://never/").await.unwrap();
    let r = answer_totp(&idp, &b, &page, &m).await;
    let device = r.set_cookie(DEVICE).expect("a device token");
    // Later, its session gone: the login page shows the user ID.
    let later = Browser::with_cookie(&idp.url("/"), DEVICE, &device);
    let login = later.get(&idp.url("/login")).await;
    assert!(
        login.body.contains(r#"value="aki""#),
        "{}",
        describe(&login)
    );
    // Without "remember me", the browser stays known for the budget but shows nothing.
    let device = sign_in_once(&idp, &Browser::new(), &m).await.unwrap();
    let login = Browser::with_cookie(&idp.url("/"), DEVICE, &device)
        .get(&idp.url("/login"))
        .await;
    assert!(!login.body.contains(r#"value="aki""#));
    // A tampered tag shows nothing either.
    let (id, _) = device.split_once('.').unwrap();
    let login = Browser::with_cookie(
        &idp.url("/"),
        DEVICE,
        &format!("{id}.AAAAAAAAAAAAAAAAAAAAAA"),
    )
    .get(&idp.url("/login"))
    .await;
    assert!(!login.body.contains(r#"value="aki""#));
}
