//! First-login onboarding (SPEC steps 1–8) over real HTTP: every step and its refusals, the
//! verification link opened elsewhere, resuming on another device, back buttons and double
//! submissions, the initial password's lifetime, wrong birthdates against the brute-force
//! budget, new terms versions, languages, and the union's editable texts.

use crate::support::*;
use kenpo_idp::security::throttle::Throttle;
use openidconnect::TokenResponse;
use reqwest::StatusCode;
use time::macros::date;

const CB: &str = "https://rp.example/cb";

async fn relying_party(idp: &TestIdp) -> Rp {
    idp.confidential("portal", CB, "ES256").await;
    Rp::discover(idp, "portal", Some(SECRET), CB).await
}

/// Follows redirects from `page` and asserts the page reached is the step `want`.
async fn expect_step(b: &Browser, page: Page, want: &str) -> Page {
    let page = b
        .follow(page, CB)
        .await
        .unwrap_or_else(|url| panic!("went back to the relying party ({url}) instead of {want}"));
    assert_eq!(page.step().as_deref(), Some(want), "{}", describe(&page));
    page
}

/// Enrols an authenticator app for the member straight in the store (the `enroll-*` pages
/// belong to the factors work) and returns its secret.
async fn enrol_totp(idp: &TestIdp, member_id: &str) -> Vec<u8> {
    let secret = kenpo_idp::mfa::totp::new_secret();
    kenpo_idp::mfa::totp::enrol(
        &idp.state.db,
        &idp.state.sbox,
        member_id,
        &secret,
        0,
        idp.state.now(),
    )
    .await
    .unwrap();
    secret
}

/// Signs in from the login page of `auth_url` with the initial password; returns the first
/// onboarding page.
async fn first_sign_in(b: &Browser, auth_url: &str, m: &NewMember) -> Page {
    let page = expect_step(b, b.get(auth_url).await, "login").await;
    let page = b
        .submit(
            &page,
            "/login",
            &[("username", &m.user_id), ("password", &m.initial_password)],
        )
        .await;
    expect_step(b, page, "birthdate").await
}

#[tokio::test]
async fn first_login_walks_every_step_back_to_the_relying_party() {
    let idp = TestIdp::start().await;
    let rp = relying_party(&idp).await;
    let m = idp
        .import_member(
            "hanako",
            "12",
            "3456789",
            date!(1980 - 12 - 01),
            Some("hanako@example.jp"),
        )
        .await;
    assert_eq!(
        m.initial_password, "12345678919801201",
        "the guide's example"
    );
    let b = Browser::new();
    let start = rp.start(&["profile", "email", "member"], &[]);

    // 1. User ID (typed in full-width, as phones often do) and the initial password.
    let page = expect_step(&b, b.get(&start.url).await, "login").await;
    let page = b
        .submit(
            &page,
            "/login",
            &[
                ("username", "ｈａｎａｋｏ"),
                ("password", "１２３４５６７８９１９８０１２０１"),
            ],
        )
        .await;
    let page = expect_step(&b, page, "birthdate").await;
    assert!(page.body.contains("ステップ 2 / 7"), "progress shown");

    // 2. Birthdate: unreadable, wrong, then right in the Japanese era.
    let p = b
        .submit(&page, "/signin/birthdate", &[("birthdate", "12月1日")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.alert_text().unwrap().contains("読み取れません"),
        "{}",
        describe(&p)
    );
    assert!(p.body.contains("aria-invalid=\"true\""));
    let p = b
        .submit(&page, "/signin/birthdate", &[("birthdate", "1980/12/02")])
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.alert_text().unwrap().contains("一致しません"));
    assert!(idp.member_row(&m.id).await.birthdate_confirmed_at.is_none());
    let p = b
        .submit(
            &page,
            "/signin/birthdate",
            &[("birthdate", "昭和５５年１２月１日")],
        )
        .await;

    // 3. Terms of use.
    let page = expect_step(&b, p, "terms").await;
    assert!(page.body.contains("ステップ 3 / 7"));
    assert!(page.body.contains("第1条"), "the terms text is on the page");
    let p = b.submit(&page, "/signin/terms", &[]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(idp.member_row(&m.id).await.terms_version.is_none());
    let p = b.submit(&page, "/signin/terms", &[("agree", "yes")]).await;
    assert_eq!(
        idp.member_row(&m.id).await.terms_version.as_deref(),
        Some(idp.state.config.union.terms_version.as_str())
    );

    // 4. Email: prefilled, checked, changed (full-width input), verification link.
    let page = expect_step(&b, p, "email").await;
    assert!(page.body.contains("ステップ 4 / 7"));
    assert_eq!(page.value_of("email").as_deref(), Some("hanako@example.jp"));
    let p = b
        .submit(&page, "/signin/email", &[("email", "hanako at example")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.alert_text().unwrap().contains("形が正しくありません"));
    assert!(idp.mails().is_empty(), "nothing sent for a bad address");
    let p = b
        .submit(
            &page,
            "/signin/email",
            &[("email", "Ｈａｎａｋｏ２＠example.jp")],
        )
        .await;
    let sent = expect_step(&b, p, "email-sent").await;
    assert!(sent.body.contains("hanako2@example.jp"));
    let row = idp.member_row(&m.id).await;
    assert_eq!(row.email.as_deref(), Some("hanako2@example.jp"));
    assert!(!row.email_verified);
    let mails = idp.wait_mails_to("hanako2@example.jp", 1).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].subject.contains("メールアドレスの確認"),
        "{}",
        mails[0].subject
    );
    let link = mails[0].link();
    assert!(
        link.starts_with(&idp.url("/signin/verify-email?token=")),
        "{link}"
    );

    // `continue` before the link is opened stays here and says why.
    let p = b
        .submit(&sent, "/signin/email-sent", &[("continue", "yes")])
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert_eq!(p.step().as_deref(), Some("email-sent"));
    assert!(p.alert_text().unwrap().contains("まだ"));

    // The link opened on another device (no session there): confirmed, go back.
    let phone = Browser::new();
    let opened = phone.get(&link).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert_eq!(opened.step().as_deref(), Some("email-verified"));
    assert!(idp.member_row(&m.id).await.email_verified);
    // Issue 10: a verification link is taken once; opened again it is spent (the address
    // stays confirmed).
    let again = phone.get(&link).await;
    assert_eq!(
        again.step().as_deref(),
        Some("link-invalid"),
        "a verification link works once"
    );
    assert!(idp.member_row(&m.id).await.email_verified);
    let forged = phone
        .get(&idp.url("/signin/verify-email?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(forged.step().as_deref(), Some("link-invalid"));
    assert_eq!(forged.status, StatusCode::GONE);

    // 5. Method.
    let p = b
        .submit(&sent, "/signin/email-sent", &[("continue", "yes")])
        .await;
    let page = expect_step(&b, p, "method").await;
    assert!(page.body.contains("ステップ 5 / 7"));
    for f in ["passkey", "totp", "email"] {
        assert!(page.body.contains(&format!("value=\"{f}\"")), "{f} offered");
    }
    assert!(
        page.body.contains("Bluetooth"),
        "a PC is told about the phone"
    );
    let p = b.submit(&page, "/signin/method", &[]).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let p = b
        .submit(&page, "/signin/method", &[("method", "sms")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let p = b
        .submit(&page, "/signin/method", &[("method", "totp")])
        .await;

    // 6. New password: every failed rule named, the initial one refused.
    let page = expect_step(&b, p, "new-password").await;
    assert!(page.body.contains("ステップ 6 / 7"));
    assert!(page.body.contains("/static/new-password.js"));
    assert_password_field(&page, "new_password", "new-password");
    assert_password_field(&page, "new_password_confirm", "new-password");
    let refused = [
        (m.initial_password.as_str(), "初期パスワード"),
        ("Hanako-Pass-1", "ユーザID"),
        ("Pass-19801201-x", "生年月日"),
        ("short1!", "8文字以上"),
        ("alllowercase-1", "英大文字"),
        ("パスワード-Ab1", "半角"),
    ];
    for (pw, rule) in refused {
        let p = b
            .submit(
                &page,
                "/signin/new-password",
                &[("new_password", pw), ("new_password_confirm", pw)],
            )
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{pw}");
        let alert = p.alert_text().unwrap();
        assert!(alert.contains(rule), "{pw}: {alert}");
    }
    let p = b
        .submit(
            &page,
            "/signin/new-password",
            &[("new_password", "abc"), ("new_password_confirm", "abd")],
        )
        .await;
    let alert = p.alert_text().unwrap();
    for rule in ["8文字以上", "英大文字", "数字", "記号", "一致しません"] {
        assert!(alert.contains(rule), "all failures at once: {alert}");
    }
    assert!(idp.member_row(&m.id).await.uses_initial_password());
    let password = "Sakura-Tree-42!";
    let p = b
        .submit(
            &page,
            "/signin/new-password",
            &[
                ("new_password", password),
                ("new_password_confirm", password),
            ],
        )
        .await;
    let loc = p.location().unwrap_or_default();
    assert!(
        loc.starts_with("/signin/enroll-totp?flow="),
        "{}",
        describe(&p)
    );
    let row = idp.member_row(&m.id).await;
    assert!(!row.uses_initial_password());
    assert!(row.initial_password_since.is_none());
    assert!(row.onboarded_at.is_none(), "not done before a factor works");

    // 7. Enrolment of the chosen factor in the same visit: the key as the page shows it,
    //    the code from an independent RFC 6238 implementation.
    let flow = query(&format!("http://x{loc}"))
        .get("flow")
        .cloned()
        .expect("the flow is carried through every step");
    let page = expect_step(&b, b.get(&idp.url(&loc)).await, "enroll-totp").await;
    assert!(page.body.contains("ステップ 7 / 7"));
    assert!(
        form_action(&page).contains("https://rp.example"),
        "its answer is the way back"
    );
    assert_eq!(page.input("flow").as_deref(), Some(flow.as_str()));
    let secret = base32_decode(&totp_key_on(&page)).expect("a base32 key");
    let code = totp_code(&secret, idp.state.now());
    let p = b
        .submit(&page, "/signin/enroll-totp", &[("otp", &code)])
        .await;

    // 8. Back at the relying party with verified tokens.
    let back = b
        .follow(p, CB)
        .await
        .expect_err("back to the relying party");
    let (code, state) = code_of(&back);
    assert_eq!(state, start.state.secret().as_str());
    let tokens = rp
        .exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(start.verifier.secret().clone()),
        )
        .await
        .unwrap();
    let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &start.nonce);
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("hanako2@example.jp")
    );
    assert_eq!(claims.email_verified(), Some(true));
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    assert!(
        amr.contains(&"pwd".to_string()) && amr.contains(&"otp".to_string()),
        "{amr:?}"
    );
    assert!(idp.member_row(&m.id).await.onboarded_at.is_some());

    // Signing in again: the chosen password and the factor; the initial password is dead.
    let fresh = Browser::new();
    let login = expect_step(&fresh, fresh.get(&idp.url("/login")).await, "login").await;
    let p = fresh
        .submit(
            &login,
            "/login",
            &[("username", "hanako"), ("password", &m.initial_password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let member = TestMember {
        id: m.id.clone(),
        user_id: "hanako".into(),
        password: password.into(),
        totp_secret: secret,
        subject: row.subject.clone(),
        symbol: m.symbol.clone(),
        number: m.number.clone(),
    };
    let again = rp.start(&["profile"], &[]);
    let back = sign_in(&idp, &Browser::new(), &again.url, &member, CB).await;
    assert!(query(&back).contains_key("code"));
}

#[tokio::test]
async fn a_member_resumes_on_another_device_and_back_buttons_do_no_harm() {
    let idp = TestIdp::start().await;
    let m = idp
        .import_member(
            "jiro",
            "12",
            "1111111",
            date!(1980 - 12 - 01),
            Some("jiro@example.jp"),
        )
        .await;
    // The PC: as far as the mail.
    let pc = Browser::new();
    let page = first_sign_in(&pc, &idp.url("/login"), &m).await;
    let page = pc
        .submit(&page, "/signin/birthdate", &[("birthdate", "1980-12-01")])
        .await;
    let terms = expect_step(&pc, page, "terms").await;
    let page = pc
        .submit(&terms, "/signin/terms", &[("agree", "yes")])
        .await;
    // Double submission of a finished step: no harm, on to the step owed.
    let twice = pc
        .submit(&terms, "/signin/terms", &[("agree", "yes")])
        .await;
    assert_eq!(twice.location().as_deref(), Some("/signin/email"));
    let page = expect_step(&pc, page, "email").await;
    let page = pc
        .submit(&page, "/signin/email", &[("email", "jiro@example.jp")])
        .await;
    let sent_on_pc = expect_step(&pc, page, "email-sent").await;

    // The phone, another day: signs in and resumes exactly there.
    let phone = Browser::new();
    let page = expect_step(&phone, phone.get(&idp.url("/login")).await, "login").await;
    let page = phone
        .submit(
            &page,
            "/login",
            &[("username", &m.user_id), ("password", &m.initial_password)],
        )
        .await;
    let page = expect_step(&phone, page, "email-sent").await;
    assert!(page.body.contains("ステップ 4 / 7"));
    // Stale URLs of earlier steps lead back to the step owed.
    for stale in [
        "/signin/birthdate",
        "/signin/terms",
        "/signin/email",
        "/signin/new-password",
    ] {
        let p = phone.get(&idp.url(stale)).await;
        assert_eq!(
            p.location().as_deref(),
            Some("/signin/email-sent"),
            "{stale}"
        );
    }
    // Resend on the phone (not twice in a minute), then open the newest link on the phone:
    // it continues right there.
    let soon = phone
        .submit(&page, "/signin/email-sent", &[("resend", "yes")])
        .await;
    assert_eq!(
        soon.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        describe(&soon)
    );
    assert!(soon.alert_text().unwrap().contains("少し待って"));
    idp.clock.advance(time::Duration::seconds(61));
    let resent = phone
        .submit(&page, "/signin/email-sent", &[("resend", "yes")])
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", describe(&resent));
    assert!(resent.body.contains("もう一度送りました"));
    let mails = idp.wait_mails_to("jiro@example.jp", 2).await;
    let status = pc.get(&idp.url("/signin/email-sent/status")).await;
    assert_eq!(status.body, r#"{"waiting":true}"#);
    assert_eq!(
        Browser::new()
            .get(&idp.url("/signin/email-sent/status"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let p = phone.get(&mails[1].link()).await;
    assert_eq!(
        p.location().as_deref(),
        Some("/signin/method"),
        "{}",
        describe(&p)
    );
    // The PC's page script learns it; its `continue` (and a reload) now moves on too.
    let status = pc.get(&idp.url("/signin/email-sent/status")).await;
    assert_eq!(status.body, r#"{"waiting":false}"#);
    let p = pc
        .submit(&sent_on_pc, "/signin/email-sent", &[("continue", "yes")])
        .await;
    let method = expect_step(&pc, p, "method").await;
    let reload = pc.get(&idp.url("/signin/email-sent")).await;
    assert_eq!(reload.location().as_deref(), Some("/signin/method"));

    // A double click on the method's Next, then the password set twice from one form.
    let a = pc
        .submit(&method, "/signin/method", &[("method", "totp")])
        .await;
    let b = pc
        .submit(&method, "/signin/method", &[("method", "totp")])
        .await;
    assert_eq!(a.location(), b.location());
    let page = expect_step(&pc, a, "new-password").await;
    let pw = [
        ("new_password", "Kiku-Flower-77#"),
        ("new_password_confirm", "Kiku-Flower-77#"),
    ];
    let first = pc.submit(&page, "/signin/new-password", &pw).await;
    let hash = idp.member_row(&m.id).await.password_hash;
    let second = pc.submit(&page, "/signin/new-password", &pw).await;
    assert_eq!(first.location().as_deref(), Some("/signin/enroll-totp"));
    assert_eq!(second.location().as_deref(), Some("/signin/enroll-totp"));
    assert_eq!(idp.member_row(&m.id).await.password_hash, hash, "set once");

    // Back from the enrolment to the method: a member may still choose again.
    let back = expect_step(
        &phone,
        phone.get(&idp.url("/signin/method")).await,
        "method",
    )
    .await;
    assert!(
        back.body
            .contains("value=\"totp\" aria-describedby=\"f-method-totp-help\" checked")
    );
    let p = phone
        .submit(&back, "/signin/method", &[("method", "email")])
        .await;
    assert_eq!(
        p.location().as_deref(),
        Some("/signin/enroll-email"),
        "password already set"
    );
    // Once a factor is enrolled, the choice is closed.
    enrol_totp(&idp, &m.id).await;
    let p = phone.get(&idp.url("/signin/method")).await;
    assert_eq!(p.location().as_deref(), Some("/signin/mfa-totp"));
}

#[tokio::test]
async fn the_initial_password_expires_after_the_configured_days() {
    let idp = TestIdp::start().await;
    assert_eq!(
        idp.state.config.password.initial_password_days, 90,
        "default"
    );
    let m = idp
        .import_member("saburo", "12", "2222222", date!(1980 - 12 - 01), None)
        .await;
    idp.clock.advance(time::Duration::days(89));
    let b = Browser::new();
    first_sign_in(&b, &idp.url("/login"), &m).await;

    idp.clock.advance(time::Duration::days(2));
    let b = Browser::new();
    let page = expect_step(&b, b.get(&idp.url("/login")).await, "login").await;
    let p = b
        .submit(
            &page,
            "/login",
            &[("username", &m.user_id), ("password", &m.initial_password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let alert = p.alert_text().unwrap();
    assert!(alert.contains("有効期限"), "{alert}");
    assert!(
        alert.contains(&idp.state.config.union.contact_email),
        "{alert}"
    );
    assert!(
        alert.contains("電話"),
        "ID questions by email only: {alert}"
    );
    // A wrong password does not learn about the expiry.
    let p = b
        .submit(
            &page,
            "/login",
            &[("username", &m.user_id), ("password", "12345")],
        )
        .await;
    assert!(!p.alert_text().unwrap().contains("有効期限"));

    // A configured lifetime, and a staff reset starts it afresh.
    let idp = TestIdp::start_with(|c| c.password.initial_password_days = 7).await;
    let m = idp
        .import_member("shiro", "12", "3333333", date!(1980 - 12 - 01), None)
        .await;
    idp.clock.advance(time::Duration::days(8));
    let b = Browser::new();
    let page = expect_step(&b, b.get(&idp.url("/login")).await, "login").await;
    let p = b
        .submit(
            &page,
            "/login",
            &[("username", &m.user_id), ("password", &m.initial_password)],
        )
        .await;
    assert!(p.alert_text().unwrap().contains("有効期限"));
    idp.state
        .members()
        .reset_password(
            Some(&kenpo_shared::ids::UserId::parse("shiro").unwrap()),
            idp.state.now(),
        )
        .await
        .unwrap();
    first_sign_in(&Browser::new(), &idp.url("/login"), &m).await;
}

#[tokio::test]
async fn wrong_birthdates_count_against_the_brute_force_budget() {
    let idp = TestIdp::start_with(|c| {
        c.throttle.account_free_failures = 3;
        c.throttle.account_base_delay_secs = 1;
    })
    .await;
    let m = idp
        .import_member("goro", "12", "4444444", date!(1980 - 12 - 01), None)
        .await;
    let b = Browser::new();
    let page = first_sign_in(&b, &idp.url("/login"), &m).await;
    let throttle = Throttle::new(&idp.state.eph, &idp.state.config.throttle);
    assert_eq!(
        throttle.account_failures("goro").await.unwrap().0,
        1,
        "the password"
    );
    for wrong in ["19990101", "1980/12/02"] {
        let p = b
            .submit(&page, "/signin/birthdate", &[("birthdate", wrong)])
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    // Not a date at all: nothing compared, nothing counted.
    let p = b
        .submit(&page, "/signin/birthdate", &[("birthdate", "abc")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(throttle.account_failures("goro").await.unwrap().0, 3);
    // The third wrong one takes the account's gate…
    let p = b
        .submit(&page, "/signin/birthdate", &[("birthdate", "S55.12.2")])
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    // …so even the right answer must wait now.
    let p = b
        .submit(&page, "/signin/birthdate", &[("birthdate", "19801201")])
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", describe(&p));
    assert!(p.alert_text().unwrap().contains("試行回数"));
    assert!(idp.member_row(&m.id).await.birthdate_confirmed_at.is_none());
    // The same budget refuses the password too.
    let other = Browser::new();
    let login = expect_step(&other, other.get(&idp.url("/login")).await, "login").await;
    let p = other
        .submit(
            &login,
            "/login",
            &[("username", "goro"), ("password", &m.initial_password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let p = b
        .submit(&page, "/signin/birthdate", &[("birthdate", "19801201")])
        .await;
    expect_step(&b, p, "terms").await;
}

#[tokio::test]
async fn a_new_terms_version_is_asked_after_the_second_factor() {
    let idp = TestIdp::start().await;
    let rp = relying_party(&idp).await;
    let member = idp.member("rokuro", "12", "5555555").await;
    idp.state
        .members()
        .accept_terms(&member.id, "2020-01", idp.state.now())
        .await
        .unwrap();
    let b = Browser::new();
    let start = rp.start(&["profile"], &[]);
    let page = expect_step(&b, b.get(&start.url).await, "login").await;
    let p = b
        .submit(
            &page,
            "/login",
            &[
                ("username", &member.user_id),
                ("password", &member.password),
            ],
        )
        .await;
    let page = expect_step(&b, p, "mfa-totp").await;
    idp.clock.advance(time::Duration::seconds(30));
    let code = totp_code(&member.totp_secret, idp.state.now());
    let p = b.submit(&page, "/signin/mfa-totp", &[("otp", &code)]).await;
    let page = expect_step(&b, p, "terms").await;
    assert!(page.body.contains("新しくなりました"));
    // This page's form ends at the relying party: its CSP must let the redirect go there.
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example"),
        "{csp}"
    );
    assert!(
        !page.body.contains("ステップ"),
        "no onboarding progress for a returning member"
    );
    let p = b.submit(&page, "/signin/terms", &[("agree", "yes")]).await;
    let back = b
        .follow(p, CB)
        .await
        .expect_err("straight back to the relying party");
    assert!(query(&back).contains_key("code"));
}

#[tokio::test]
async fn steps_speak_english_by_ui_locales_browser_language_or_the_switch() {
    let idp = TestIdp::start().await;
    let rp = relying_party(&idp).await;
    let m = idp
        .import_member("shichi", "12", "6666666", date!(1980 - 12 - 01), None)
        .await;
    let b = Browser::new();
    let start = rp.start(&["profile"], &[("ui_locales", "en")]);
    let page = first_sign_in(&b, &start.url, &m).await;
    assert!(page.body.contains("<html lang=\"en\""));
    assert!(page.body.contains("Confirm your date of birth"));
    assert!(page.body.contains("Step 2 / 7"));
    let flow = page.input("flow").unwrap();
    assert!(
        page.body
            .contains(&format!("/signin/birthdate?flow={flow}&amp;lang=ja")),
        "the switch keeps the flow"
    );
    // The switch wins over ui_locales; errors come in the chosen language.
    let ja = b
        .get(&idp.url(&format!("/signin/birthdate?flow={flow}&lang=ja")))
        .await;
    assert!(ja.body.contains("生年月日の確認"));
    let p = b
        .submit(&ja, "/signin/birthdate", &[("birthdate", "x")])
        .await;
    assert!(p.alert_text().unwrap().contains("読み取れません"));
    // The browser's language, without any choice.
    let p = Browser::new();
    let r = p
        .http
        .get(idp.url("/recovery/password"))
        .header("accept-language", "en-US,en;q=0.9,ja;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains("Forgot your password?"));
}

#[tokio::test]
async fn terms_and_privacy_come_from_the_unions_files_safely() {
    let texts = TempDir::new();
    std::fs::write(
        texts.0.join("terms-ja.md"),
        "# 第1条 組合の規約\n<script>alert(1)</script>\n- 項目 <b>太字</b>\n",
    )
    .unwrap();
    let dir = texts.0.clone();
    let idp = TestIdp::start_with(move |c| c.union.texts_dir = Some(dir)).await;
    let b = Browser::new();
    let terms = b.get(&idp.url("/terms")).await;
    assert_eq!(terms.status, StatusCode::OK);
    assert!(
        terms.body.contains("<h2>第1条 組合の規約</h2>"),
        "{}",
        terms.body
    );
    assert!(terms.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!terms.body.contains("<script>alert"));
    assert!(terms.body.contains("<li>項目 &lt;b&gt;太字&lt;/b&gt;</li>"));
    // No English file from the union: its Japanese text, not our default.
    let en = b.get(&idp.url("/terms?lang=en")).await;
    assert!(en.body.contains("第1条 組合の規約"));
    // No privacy file: the default.
    let privacy = Browser::new().get(&idp.url("/privacy")).await;
    assert!(privacy.body.contains("基本方針"));
    // Edits show without a restart.
    std::fs::write(texts.0.join("terms-ja.md"), "# 第2版\n本文").unwrap();
    let terms = Browser::new().get(&idp.url("/terms")).await;
    assert!(terms.body.contains("<h2>第2版</h2>"));
}

fn form_action(page: &Page) -> String {
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    csp.split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn every_page_of_a_sign_in_may_send_its_answer_back_to_the_relying_party() {
    let idp = TestIdp::start().await;
    let rp = relying_party(&idp).await;
    let member = idp.member("hachi", "12", "7777777").await;
    let b = Browser::new();
    let start = rp.start(&["profile"], &[]);
    let login = expect_step(&b, b.get(&start.url).await, "login").await;
    assert_eq!(form_action(&login), "form-action 'self' https://rp.example");
    let p = b
        .submit(
            &login,
            "/login",
            &[
                ("username", &member.user_id),
                ("password", &member.password),
            ],
        )
        .await;
    // The code page, as shown (GET with the flow) and as re-shown after a wrong code (POST
    // with the flow in the form): browsers apply form-action to the redirect that answers it.
    let page = expect_step(&b, p, "mfa-totp").await;
    assert_eq!(form_action(&page), "form-action 'self' https://rp.example");
    let wrong = b
        .submit(&page, "/signin/mfa-totp", &[("otp", "000000")])
        .await;
    assert_eq!(wrong.step().as_deref(), Some("mfa-totp"));
    assert_eq!(form_action(&wrong), "form-action 'self' https://rp.example");
    // A forged flow adds nothing; pages outside a sign-in allow only themselves.
    let forged = b.get(&idp.url("/signin/mfa-totp?flow=forged")).await;
    assert!(
        !forged.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("rp.example")
    );
    let outside = Browser::new().get(&idp.url("/recovery/password")).await;
    assert_eq!(form_action(&outside), "form-action 'self'");
    idp.clock.advance(time::Duration::seconds(30));
    let code = totp_code(&member.totp_secret, idp.state.now());
    let p = b.submit(&page, "/signin/mfa-totp", &[("otp", &code)]).await;
    let back = b
        .follow(p, CB)
        .await
        .expect_err("back to the relying party");
    assert!(query(&back).contains_key("code"));
}
