//! Self-service recovery over real HTTP: forgot password (reset link by mail, single use,
//! sessions and grants ended, second factor still asked, notice mailed), forgot user ID, and
//! the same answer in the same time whether or not an account or address exists, with
//! throttles per client address and per target.

use crate::support::*;
use kenpo_idp::signin::session::Sessions;
use openidconnect::OAuth2TokenResponse;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use time::macros::date;

const CB: &str = "https://rp.example/cb";

async fn relying_party(idp: &TestIdp) -> Rp {
    idp.confidential("portal", CB, "ES256").await;
    Rp::discover(idp, "portal", Some(SECRET), CB).await
}

async fn open(b: &Browser, url: &str, step: &str) -> Page {
    let page = b.follow(b.get(url).await, CB).await.expect("a page");
    assert_eq!(page.step().as_deref(), Some(step), "{}", describe(&page));
    page
}

/// Asks for a reset link for `user` and returns the answer page.
async fn forgot_password(idp: &TestIdp, b: &Browser, user: &str) -> Page {
    let page = open(b, &idp.url("/recovery/password"), "forgot-password").await;
    b.submit(&page, "/recovery/password", &[("username", user)])
        .await
}

/// Submits the reset form (its hidden token included, as a browser would).
async fn reset(b: &Browser, page: &Page, password: &str, confirm: &str) -> Page {
    let token = page
        .input("token")
        .expect("the reset form carries its token");
    b.submit(
        page,
        "/recovery/reset",
        &[
            ("token", &token),
            ("new_password", password),
            ("new_password_confirm", confirm),
        ],
    )
    .await
}

/// The one six-digit number of a mail's text (an emailed code).
fn otp_of_text(text: &str) -> String {
    let sixes: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| s.len() == 6)
        .collect();
    assert_eq!(sixes.len(), 1, "one six-digit number in {text:?}");
    sixes[0].to_string()
}

async fn forgot_user_id(idp: &TestIdp, b: &Browser, email: &str) -> Page {
    let page = open(b, &idp.url("/recovery/user-id"), "forgot-userid").await;
    b.submit(&page, "/recovery/user-id", &[("email", email)])
        .await
}

#[tokio::test]
async fn forgot_password_resets_by_mail_and_the_second_factor_is_still_asked() {
    let idp = TestIdp::start().await;
    let rp = relying_party(&idp).await;
    let member = idp.member("taro", "12", "3456789").await;
    // Signed in on the PC, with tokens at the relying party.
    let pc = Browser::new();
    let start = rp.start(&["profile"], &[]);
    let back = sign_in(&idp, &pc, &start.url, &member, CB).await;
    let (code, _) = code_of(&back);
    let tokens = rp
        .exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(start.verifier.secret().clone()),
        )
        .await
        .unwrap();
    let refresh = tokens
        .refresh_token()
        .expect("refresh token")
        .secret()
        .clone();

    // The member also has emailed codes, and prefers them.
    let now = idp.state.now();
    idp.state
        .members()
        .set_email_otp(&member.id, true, now)
        .await
        .unwrap();
    idp.state
        .members()
        .set_preferred_factor(&member.id, "email", now)
        .await
        .unwrap();

    // On the phone: a sign-in that stalls at the password, and "forgot password" from there.
    let phone = Browser::new();
    let start = rp.start(&["profile"], &[]);
    let login = open(&phone, &start.url, "login").await;
    let flow = login.input("flow").unwrap();
    assert!(
        login
            .body
            .contains(&format!("/recovery/password?flow={flow}"))
    );
    let page = open(
        &phone,
        &idp.url(&format!("/recovery/password?flow={flow}")),
        "forgot-password",
    )
    .await;
    assert!(
        page.body.contains(&idp.state.config.union.contact_email),
        "who to write to"
    );
    let p = phone
        .submit(&page, "/recovery/password", &[("username", "ＴＡＲＯ")])
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.step().as_deref(), Some("recovery-sent"));

    let mail = idp.wait_mails_to("taro@example.jp", 1).await.pop().unwrap();
    assert!(
        mail.subject.contains("パスワード再設定"),
        "{}",
        mail.subject
    );
    let link = mail.link();
    assert!(
        link.starts_with(&idp.url("/recovery/reset?token=")),
        "{link}"
    );
    assert!(mail.text.contains("30分"));
    // Where and when it was asked for.
    assert!(
        mail.text.contains("受付日時") && mail.text.contains("IPアドレス："),
        "{}",
        mail.text
    );
    assert!(
        !mail.text.contains("メールでのワンタイムパスワードだけ"),
        "the member has an app"
    );

    let page = open(&phone, &link, "reset-password").await;
    assert_password_field(&page, "new_password", "new-password");
    assert_password_field(&page, "new_password_confirm", "new-password");
    let p = reset(&phone, &page, "weak", "weak").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.alert_text().unwrap().contains("8文字以上"));
    let new_password = "Momiji-Leaf-88$";
    let p = reset(&phone, &page, new_password, new_password).await;
    assert_eq!(p.status, StatusCode::OK, "{}", describe(&p));
    assert_eq!(p.step().as_deref(), Some("reset-done"));
    assert!(
        p.body.contains(&format!("/login?flow={flow}")),
        "back to the relying party's sign-in"
    );

    // Single use.
    let again = phone.get(&link).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert_eq!(again.step().as_deref(), Some("link-invalid"));
    let p = reset(&phone, &page, "Other-Pass-99!", "Other-Pass-99!").await;
    assert_eq!(p.step().as_deref(), Some("link-invalid"));

    // Every session and grant of the member ended; the PC must sign in again.
    let sessions = Sessions::new(&idp.state)
        .for_member(&member.id, idp.state.now())
        .await
        .unwrap();
    assert!(sessions.is_empty(), "{sessions:?}");
    open(&pc, &idp.url("/login"), "login").await;
    let (status, body, _) = post_basic(
        &idp.url("/token"),
        "portal",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    // The member is told.
    let mails = idp.wait_mails_to("taro@example.jp", 2).await;
    assert!(
        mails[1].subject.contains("パスワードが変更されました"),
        "{}",
        mails[1].subject
    );

    // The old password is dead; the new one still needs the second factor.
    let b = Browser::new();
    let login = open(&b, &idp.url("/login"), "login").await;
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "taro"), ("password", &member.password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "taro"), ("password", new_password)],
        )
        .await;
    let page = b.follow(p, CB).await.unwrap();
    assert_eq!(
        page.step().as_deref(),
        Some("mfa-totp"),
        "after a reset by mail the strongest factor, not the preferred emailed code: {}",
        describe(&page)
    );
    // The emailed code (another method) does not finish the sign-in: the app is still owed.
    let email = b.get(&idp.url("/signin/mfa-email")).await;
    assert_eq!(email.step().as_deref(), Some("mfa-email"));
    let code = otp_of_text(
        &idp.wait_mails_to("taro@example.jp", 3)
            .await
            .pop()
            .unwrap()
            .text,
    );
    let p = b
        .submit(&email, "/signin/mfa-email", &[("otp", &code)])
        .await;
    let page = b.follow(p, CB).await.unwrap();
    assert_eq!(
        page.step().as_deref(),
        Some("mfa-totp"),
        "{}",
        describe(&page)
    );
    let updated = TestMember {
        password: new_password.into(),
        ..member
    };
    let start = rp.start(&["profile"], &[]);
    let back = sign_in(&idp, &Browser::new(), &start.url, &updated, CB).await;
    assert!(query(&back).contains_key("code"));
}

#[tokio::test]
async fn a_reset_link_only_replaces_the_password_it_was_made_for() {
    let idp = TestIdp::start().await;
    let member = idp.member("hiro", "12", "1212121").await;
    let b = Browser::new();
    forgot_password(&idp, &b, "hiro").await;
    forgot_password(&idp, &b, "hiro").await;
    let mails = idp.wait_mails_to("hiro@example.jp", 2).await;
    let (first, second) = (mails[0].link(), mails[1].link());
    assert_ne!(first, second);
    let page = open(&b, &second, "reset-password").await;
    let pw = "Nashi-Pear-31%";
    let p = reset(&b, &page, pw, pw).await;
    assert_eq!(p.step().as_deref(), Some("reset-done"));
    // The other link was made for the old password: dead now.
    let p = b.get(&first).await;
    assert_eq!(p.step().as_deref(), Some("link-invalid"));
    // Expired links are dead too.
    forgot_password(&idp, &b, "hiro").await;
    let mails = idp.wait_mails_to("hiro@example.jp", 4).await;
    let late = mails
        .iter()
        .rev()
        .find(|m| m.subject.contains("パスワード再設定"))
        .unwrap()
        .link();
    idp.clock.advance(time::Duration::minutes(31));
    assert_eq!(b.get(&late).await.step().as_deref(), Some("link-invalid"));
    let row = idp.member_row(&member.id).await;
    assert!(row.password_hash.is_some());
}

#[tokio::test]
async fn a_member_on_the_initial_password_gets_a_real_one_by_reset() {
    let idp = TestIdp::start().await;
    let m = idp
        .import_member(
            "kenta",
            "12",
            "7777777",
            date!(1980 - 12 - 01),
            Some("kenta@example.jp"),
        )
        .await;
    // An address from the import that the member never confirmed is not trusted.
    let b = Browser::new();
    let p = forgot_password(&idp, &b, "kenta").await;
    assert_eq!(p.step().as_deref(), Some("recovery-sent"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(idp.mails_to("kenta@example.jp").is_empty());
    // Confirmed (as in the email step, before the member stopped), it is.
    let now = idp.state.now();
    let members = idp.state.members();
    members.confirm_birthdate(&m.id, now).await.unwrap();
    members
        .set_email(&m.id, "kenta@example.jp", true, now)
        .await
        .unwrap();
    forgot_password(&idp, &b, "kenta").await;
    let mail = idp
        .wait_mails_to("kenta@example.jp", 1)
        .await
        .pop()
        .unwrap();
    let page = open(&b, &mail.link(), "reset-password").await;
    let pw = "Kuri-Chestnut-5&";
    let p = reset(&b, &page, pw, pw).await;
    assert_eq!(p.step().as_deref(), Some("reset-done"));
    let row = idp.member_row(&m.id).await;
    assert!(!row.uses_initial_password());
    // The initial password is gone; with the new one, onboarding goes on where it stopped
    // (terms), without the initial-password steps.
    let b = Browser::new();
    let login = open(&b, &idp.url("/login"), "login").await;
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "kenta"), ("password", &m.initial_password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let p = b
        .submit(&login, "/login", &[("username", "kenta"), ("password", pw)])
        .await;
    let page = b.follow(p, CB).await.unwrap();
    assert_eq!(page.step().as_deref(), Some("terms"), "{}", describe(&page));
}

#[tokio::test]
async fn forgot_user_id_mails_every_user_id_of_a_verified_address() {
    let idp = TestIdp::start().await;
    let a = idp.member("ume", "12", "8888888").await;
    let b = idp.member("momo", "12", "9999999").await;
    let now = idp.state.now();
    for id in [&a.id, &b.id] {
        idp.state
            .members()
            .set_email(id, "family@example.jp", true, now)
            .await
            .unwrap();
    }
    let browser = Browser::new();
    let p = forgot_user_id(&idp, &browser, "ＦＡＭＩＬＹ＠example.jp").await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.step().as_deref(), Some("recovery-sent"));
    let mail = idp
        .wait_mails_to("family@example.jp", 1)
        .await
        .pop()
        .unwrap();
    assert!(
        mail.subject.contains("ユーザIDのお知らせ"),
        "{}",
        mail.subject
    );
    assert!(
        mail.text.contains("ユーザID: momo") && mail.text.contains("ユーザID: ume"),
        "{}",
        mail.text
    );
    assert!(mail.links().is_empty(), "no link needed");
    // A bad address is a plain input error (it says nothing about accounts).
    let page = open(&browser, &idp.url("/recovery/user-id"), "forgot-userid").await;
    let p = browser
        .submit(&page, "/recovery/user-id", &[("email", "family")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("aria-invalid=\"true\""));
    // Unknown and unconfirmed addresses get the same answer and no mail.
    idp.import_member(
        "nashi",
        "12",
        "1010101",
        date!(1970 - 01 - 01),
        Some("unconfirmed@example.jp"),
    )
    .await;
    for email in ["nobody@example.jp", "unconfirmed@example.jp"] {
        let p = forgot_user_id(&idp, &browser, email).await;
        assert_eq!(p.step().as_deref(), Some("recovery-sent"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(idp.mails_to("nobody@example.jp").is_empty());
    assert!(idp.mails_to("unconfirmed@example.jp").is_empty());
}

/// An SMTP server that accepts connections and never answers: a mail sent while a member
/// waits would hold the answer for the transport's whole timeout.
async fn stalling_smtp() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = tx.send(());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(socket);
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn the_same_answer_in_the_same_time_whether_or_not_an_account_exists() {
    let (port, mut connections) = stalling_smtp().await;
    let idp = TestIdp::start_with(|c| {
        c.mail.smtp_url = Some(kenpo_shared::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
    })
    .await;
    idp.member("real", "12", "1313131").await;
    let b = Browser::new();

    let timed = |user: &'static str| {
        let (idp, b) = (&idp, &b);
        async move {
            let t = Instant::now();
            let p = forgot_password(idp, b, user).await;
            (p, t.elapsed())
        }
    };
    let (known, t_known) = timed("real").await;
    let (unknown, t_unknown) = timed("nobody-here").await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(
        known.stable_body(),
        unknown.stable_body(),
        "identical answers"
    );
    // The mail for the real account is being sent (to a server that stalls), yet the answer
    // did not wait for it.
    tokio::time::timeout(Duration::from_secs(5), connections.recv())
        .await
        .expect("the reset mail is attempted")
        .unwrap();
    assert!(t_known < Duration::from_secs(2), "{t_known:?}");
    assert!(t_unknown < Duration::from_secs(2), "{t_unknown:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        connections.try_recv().is_err(),
        "no mail for an unknown user ID"
    );

    // The same for user IDs.
    let t = Instant::now();
    let a = forgot_user_id(&idp, &b, "real@example.jp").await;
    let t_a = t.elapsed();
    let t = Instant::now();
    let c = forgot_user_id(&idp, &b, "ghost@example.jp").await;
    let t_c = t.elapsed();
    assert_eq!(a.stable_body(), c.stable_body());
    assert!(
        t_a < Duration::from_secs(2) && t_c < Duration::from_secs(2),
        "{t_a:?} {t_c:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), connections.recv())
        .await
        .expect("the user ID mail is attempted")
        .unwrap();
}

#[tokio::test]
async fn recovery_is_throttled_per_account_and_per_address() {
    let idp = TestIdp::start_with(|c| c.throttle.recovery_per_address_per_hour = 5).await;
    idp.member("kaki", "12", "1414141").await;
    let b = Browser::new();
    // Per account: three mails an hour, then the same answer and no mail.
    for _ in 0..4 {
        let p = forgot_password(&idp, &b, "kaki").await;
        assert_eq!(p.step().as_deref(), Some("recovery-sent"));
    }
    idp.wait_mails_to("kaki@example.jp", 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(idp.mails_to("kaki@example.jp").len(), 3, "no fourth mail");
    // Per address: the fifth request this hour passes, the sixth waits.
    let p = forgot_user_id(&idp, &b, "someone@example.jp").await;
    assert_eq!(p.step().as_deref(), Some("recovery-sent"));
    let p = forgot_user_id(&idp, &b, "someone@example.jp").await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", describe(&p));
    assert_eq!(p.step().as_deref(), Some("forgot-userid"));
    assert!(p.alert_text().unwrap().contains("一時的に"));
    let p = forgot_password(&idp, &b, "unknown-user").await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    // An hour later, again.
    idp.clock.advance(time::Duration::hours(1));
    let p = forgot_password(&idp, &b, "kaki").await;
    assert_eq!(p.step().as_deref(), Some("recovery-sent"));
    idp.wait_mails_to("kaki@example.jp", 4).await;
}

#[tokio::test]
async fn a_reset_for_a_member_with_only_emailed_codes_says_so_or_goes_to_staff() {
    let idp = TestIdp::start().await;
    idp.email_member("emi", "12", "1313131").await;
    let b = Browser::new();
    let p = forgot_password(&idp, &b, "emi").await;
    assert_eq!(p.step().as_deref(), Some("recovery-sent"));
    let mail = idp.wait_mails_to("emi@example.jp", 1).await.pop().unwrap();
    assert!(
        mail.text.contains("メールでのワンタイムパスワードだけ"),
        "{}",
        mail.text
    );
    assert!(mail.link().starts_with(&idp.url("/recovery/reset?token=")));

    // With the union's setting, no link: the way to the union instead.
    let idp = TestIdp::start_with(|c| c.password.reset_email_only_needs_staff = true).await;
    let m2 = idp.email_member("emi", "12", "1313131").await;
    let p = forgot_password(&idp, &Browser::new(), "emi").await;
    assert_eq!(
        p.step().as_deref(),
        Some("recovery-sent"),
        "the same answer"
    );
    let mail = idp.wait_mails_to("emi@example.jp", 1).await.pop().unwrap();
    assert!(mail.links().is_empty(), "{}", mail.text);
    assert!(mail.text.contains(&idp.state.config.union.contact_email));
    assert!(
        idp.audit_kinds(&m2.id)
            .await
            .iter()
            .any(|k| k == "recovery.password_needs_staff")
    );
}
