//! How long an IdP session lasts (ASVS V7.3.1, V7.3.2; the limits of docs/configuration.md
//! `[session]`): used sessions live on, an idle one asks the second factor again after
//! `mfa_idle_secs` and the password after `idle_secs`, and none outlives `absolute_secs` (or
//! `remember_secs` when the member ticked "remember"), however busy.

use crate::support::*;
use time::Duration;

const CB: &str = "https://rp.example/cb";

async fn setup(user: &str, number: &str) -> (TestIdp, TestMember, Rp) {
    let idp = TestIdp::start().await;
    let m = idp.member(user, "21", number).await;
    idp.confidential("rp", CB, "ES256").await;
    let rp = Rp::discover(&idp, "rp", Some(SECRET), CB).await;
    (idp, m, rp)
}

/// A silent request (`prompt=none`): whether the session still answers with a code.
async fn answers_silently(b: &Browser, rp: &Rp) -> bool {
    let start = rp.start(&[], &[("prompt", "none")]);
    let back = b
        .follow(b.get(&start.url).await, CB)
        .await
        .expect_err("prompt=none always goes back to the relying party");
    query(&back).contains_key("code")
}

/// The page an ordinary authorization request stops at.
async fn asked(b: &Browser, rp: &Rp) -> Option<String> {
    let start = rp.start(&[], &[]);
    match b.follow(b.get(&start.url).await, CB).await {
        Ok(page) => page.step(),
        Err(_) => None,
    }
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

#[tokio::test]
async fn an_idle_session_asks_again_and_a_used_one_lives_on() {
    let (idp, m, rp) = setup("nagi", "1100001").await;
    let s = idp.state.config.session.clone();
    assert_eq!((s.idle_secs, s.mfa_idle_secs), (2 * 3600, 3600));
    let b = Browser::new();
    sign_in(&idp, &b, &rp.start(&[], &[]).url, &m, CB).await;
    // Used every 50 minutes for over 3 hours: nothing asked again.
    for _ in 0..4 {
        idp.clock.advance(minutes(50));
        assert!(answers_silently(&b, &rp).await);
    }
    // An hour and a minute unused: the member is known but the second factor is asked.
    idp.clock.advance(minutes(61));
    assert!(!answers_silently(&b, &rp).await);
    assert_eq!(asked(&b, &rp).await.as_deref(), Some("mfa-totp"));
    // Two hours and a minute unused: the session is over, the password is asked.
    idp.clock.advance(minutes(121));
    assert_eq!(asked(&b, &rp).await.as_deref(), Some("login"));
}

#[tokio::test]
async fn no_session_outlives_its_absolute_lifetime() {
    let (idp, m, rp) = setup("kaze", "1100002").await;
    assert_eq!(idp.state.config.session.absolute_secs, 12 * 3600);
    let b = Browser::new();
    sign_in(&idp, &b, &rp.start(&[], &[]).url, &m, CB).await;
    // Used every 50 minutes: answers until 11 h 40 min (the sign-in took 30 s of test time).
    for _ in 0..14 {
        idp.clock.advance(minutes(50));
        assert!(answers_silently(&b, &rp).await);
    }
    idp.clock.advance(minutes(21));
    assert!(!answers_silently(&b, &rp).await, "past 12 hours");
    assert_eq!(asked(&b, &rp).await.as_deref(), Some("login"));
}

#[tokio::test]
async fn a_remembered_session_keeps_the_member_known_not_their_second_factor() {
    let (idp, m, rp) = setup("yuki", "1100003").await;
    let remember = idp.state.config.session.remember_secs;
    let b = Browser::new();
    let start = rp.start(&[], &[]);
    let login = b.follow(b.get(&start.url).await, CB).await.unwrap();
    assert_eq!(login.step().as_deref(), Some("login"));
    let next = post_login(&b, &login, &m.user_id, &m.password, true).await;
    let page = b.follow(next, CB).await.unwrap();
    assert_eq!(page.step().as_deref(), Some("mfa-totp"));
    let r = answer_totp(&idp, &b, &page, &m).await;
    let back = b.follow(r, CB).await.expect_err("back with a code");
    assert!(query(&back).contains_key("code"));
    // Three hours unused (past the 2 h idle limit of a session not remembered): still known,
    // only the second factor is asked.
    idp.clock.advance(minutes(180));
    assert_eq!(asked(&b, &rp).await.as_deref(), Some("mfa-totp"));
    // At the end of the remember period the member is asked for everything again.
    idp.clock.advance(Duration::seconds(remember));
    assert_eq!(asked(&b, &rp).await.as_deref(), Some("login"));
}
