//! The account page over real HTTP: access rules, recent-second-factor re-confirmation,
//! passkeys (add with a software authenticator, rename, remove), the last-factor rule, email
//! OTP on and off, preferred factor, email and password changes with their mails, sessions.

use crate::support::*;
use kenpo_idp::store::credentials::CredentialStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

fn location(p: &Page) -> String {
    p.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Submits a form of the account page and returns the page after the redirect.
async fn act(b: &Browser, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
    let r = b.submit(page, action, fields).await;
    b.follow(r, "http://never/").await.unwrap()
}

async fn add_passkey(idp: &TestIdp, b: &Browser, key: &mut SoftPasskey, label: &str) -> Value {
    let page = b.get(&idp.url("/account/enroll-passkey")).await;
    assert_eq!(page.step().as_deref(), Some("enroll-passkey"), "{page:?}");
    let csrf = page.input("csrf").unwrap();
    let (st, opts) = b
        .json(
            &idp.url("/account/enroll-passkey/options"),
            &json!({"csrf": csrf}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{opts}");
    let mut ccr: CreationChallengeResponse =
        serde_json::from_value(opts["options"].clone()).unwrap();
    // The software authenticator cannot keep resident keys (see factors.rs).
    ccr.public_key
        .authenticator_selection
        .as_mut()
        .unwrap()
        .require_resident_key = false;
    let reg = key
        .do_registration(Url::parse(&idp.issuer).unwrap(), ccr)
        .unwrap();
    let (st, answer) = b
        .json(
            &idp.url("/account/enroll-passkey/finish"),
            &json!({"csrf": csrf, "label": label, "ceremony": opts["ceremony"], "credential": reg}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn the_account_page_needs_a_complete_sign_in() {
    let idp = TestIdp::start().await;
    let anon = Browser::new();
    let r = anon.get(&idp.url("/account")).await;
    assert_eq!(location(&r), "/login");
    let m = idp.member("ichiro", "31", "1234567").await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    assert_eq!(page.step().as_deref(), Some("mfa-totp"));
    let r = b.get(&idp.url("/account")).await;
    assert_eq!(location(&r), "/signin/mfa-totp", "a pending step first");
    let r = b.get(&idp.url("/account/enroll-totp")).await;
    assert_eq!(location(&r), "/signin/mfa-totp");
    let b = Browser::new();
    let account = account_signed_in(&idp, &b, &m).await;
    assert!(account.body.contains("ichiro"));
    assert!(account.body.contains("/account/enroll-passkey"));
    // The start page of the IdP leads a signed-in member here.
    let home = b.get(&idp.url("/")).await;
    assert_eq!(location(&home), "/account");
}

#[tokio::test]
async fn passkeys_are_added_renamed_and_removed_but_never_the_last_factor() {
    let idp = TestIdp::start().await;
    let m = idp.member("niro", "32", "1234567").await;
    let b = Browser::new();
    let account = account_signed_in(&idp, &b, &m).await;

    let mut key = SoftPasskey::new(true);
    let answer = add_passkey(&idp, &b, &mut key, "仕事用パソコン").await;
    assert_eq!(answer["redirect"], "/account?done=passkey-added");
    let page = b.get(&idp.url("/account?done=passkey-added")).await;
    assert!(page.body.contains("パスキーを登録しました"));
    assert!(page.body.contains("仕事用パソコン"));
    let added = idp.last_outbox_to("niro@example.jp");
    assert!(added.text.contains("仕事用パソコン"), "{}", added.text);

    let store = CredentialStore::new(idp.state.db.clone());
    let row = store.passkeys(&m.id).await.unwrap().remove(0);
    let page = act(
        &b,
        &page,
        "/account/passkeys/rename",
        &[("id", &row.id), ("label", "自宅のパソコン")],
    )
    .await;
    assert!(page.body.contains("名前を変更しました"), "{page:?}");
    assert_eq!(
        store.passkeys(&m.id).await.unwrap()[0].label,
        "自宅のパソコン"
    );
    let r = b
        .submit(
            &page,
            "/account/passkeys/rename",
            &[("id", &row.id), ("label", "   ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.alert().is_some());

    // TOTP and a passkey: either may go, not both.
    let page = act(&b, &page, "/account/totp/delete", &[]).await;
    assert!(
        page.body.contains("認証アプリの設定を削除しました"),
        "{page:?}"
    );
    let refused = b
        .submit(&page, "/account/passkeys/delete", &[("id", &row.id)])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.alert().unwrap().contains("最後の本人確認の方法"));
    assert_eq!(store.passkeys(&m.id).await.unwrap().len(), 1);

    // Another member's passkey id names nothing here.
    let other = b
        .submit(&page, "/account/passkeys/delete", &[("id", "not-mine")])
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);

    let mut second = SoftPasskey::new(true);
    add_passkey(&idp, &b, &mut second, "iPhone").await;
    let page = act(&b, &account, "/account/passkeys/delete", &[("id", &row.id)]).await;
    assert!(page.body.contains("パスキーを削除しました"), "{page:?}");
    assert_eq!(store.passkeys(&m.id).await.unwrap().len(), 1);

    let kinds = idp.audit_kinds(&m.id).await;
    for k in [
        "mfa.enrolled",
        "passkey.renamed",
        "totp.removed",
        "passkey.removed",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
    let notices = idp
        .outbox_to("niro@example.jp")
        .into_iter()
        .filter(|m| m.subject.contains("ログイン設定が変更されました"))
        .count();
    assert_eq!(notices, 5, "added, renamed, app removed, added, removed");
}

#[tokio::test]
async fn changes_need_a_recent_second_factor() {
    let idp = TestIdp::start().await;
    let m = idp.member("sanro", "33", "1234567").await;
    let b = Browser::new();
    let account = account_signed_in(&idp, &b, &m).await;
    idp.clock.advance(Duration::minutes(11));
    let r = b.get(&idp.url("/account")).await;
    assert_eq!(r.step().as_deref(), Some("account"), "viewing is fine");
    let r = b
        .submit(
            &account,
            "/account/password",
            &[("current_password", &m.password)],
        )
        .await;
    assert_eq!(location(&r), "/signin/mfa-totp?next=%2Faccount%23password");
    let step_up = b.get(&idp.url(&location(&r))).await;
    assert_eq!(step_up.step().as_deref(), Some("mfa-totp"));
    assert!(step_up.body.contains("もう一度確認します"));
    let r = b.get(&idp.url("/account/enroll-totp")).await;
    assert_eq!(
        location(&r),
        "/signin/mfa-totp?next=%2Faccount%2Fenroll-totp"
    );
    let page = b.get(&idp.url(&location(&r))).await;
    let code = totp_code(&m.totp_secret, idp.state.now());
    let next = page
        .input("next")
        .expect("the form carries where to return");
    let back = b
        .submit(
            &page,
            "/signin/mfa-totp",
            &[("otp", &code), ("next", &next)],
        )
        .await;
    assert_eq!(location(&back), "/account/enroll-totp");
    let enrol = b.get(&idp.url("/account/enroll-totp")).await;
    assert_eq!(enrol.step().as_deref(), Some("enroll-totp"));
    // A step-up never leads off the account pages.
    let evil = b
        .get(&idp.url("/signin/mfa-totp?next=https%3A%2F%2Fevil.example%2F"))
        .await;
    assert_eq!(location(&evil), "/signin/done");
    assert!(
        idp.audit_kinds(&m.id)
            .await
            .contains(&"signin.step_up".to_string())
    );
}

#[tokio::test]
async fn re_enrolling_the_app_replaces_the_key_only_when_confirmed() {
    let idp = TestIdp::start().await;
    let m = idp.member("shiro2", "34", "1234567").await;
    let b = Browser::new();
    account_signed_in(&idp, &b, &m).await;
    let page = b.get(&idp.url("/account/enroll-totp")).await;
    let i = page.body.find("data-totp-secret>").unwrap() + 17;
    let grouped = &page.body[i..i + page.body[i..].find('<').unwrap()];
    let new_secret = base32_decode(grouped).unwrap();
    assert_ne!(new_secret, m.totp_secret);
    // Until confirmed, the old app still works.
    idp.clock.advance(Duration::seconds(30));
    let now = idp.state.now();
    assert_eq!(
        kenpo_idp::mfa::totp::verify(
            &idp.state.db,
            &idp.state.sbox,
            &m.id,
            &totp_code(&m.totp_secret, now),
            now
        )
        .await
        .unwrap(),
        kenpo_idp::mfa::totp::Check::Accepted
    );
    idp.clock.advance(Duration::seconds(30));
    let code = totp_code(&new_secret, idp.state.now());
    let r = b
        .submit(&page, "/account/enroll-totp", &[("otp", &code)])
        .await;
    assert_eq!(location(&r), "/account?done=totp-added");
    idp.clock.advance(Duration::seconds(30));
    let now = idp.state.now();
    assert_eq!(
        kenpo_idp::mfa::totp::verify(
            &idp.state.db,
            &idp.state.sbox,
            &m.id,
            &totp_code(&m.totp_secret, now),
            now
        )
        .await
        .unwrap(),
        kenpo_idp::mfa::totp::Check::Wrong,
        "the old app no longer works"
    );
}

#[tokio::test]
async fn email_otp_on_and_off_and_the_preferred_factor() {
    let idp = TestIdp::start().await;
    let m = idp.member("goro2", "35", "1234567").await;
    let b = Browser::new();
    account_signed_in(&idp, &b, &m).await;
    let page = b.get(&idp.url("/account/enroll-email")).await;
    assert_eq!(page.step().as_deref(), Some("enroll-email"), "{page:?}");
    let mail = idp.last_outbox_to("goro2@example.jp");
    assert_eq!(mail.subject, "【けんぽWeb】ワンタイムパスワードのお知らせ");
    let r = b
        .submit(&page, "/account/enroll-email", &[("otp", &otp_of(&mail))])
        .await;
    assert_eq!(location(&r), "/account?done=email-added");
    let account = b.get(&idp.url("/account")).await;
    assert!(account.body.contains(r#"name="factor" value="email""#));

    let page = act(&b, &account, "/account/preferred", &[("factor", "email")]).await;
    assert!(page.body.contains("いつも使う方法を変更しました"));
    let b2 = Browser::new();
    let sent = idp.outbox_to("goro2@example.jp").len();
    let next = password_step(&idp, &b2, &m).await;
    assert!(
        next.alert().is_none(),
        "a sign-in code goes at once: {:?}",
        next.alert()
    );
    assert_eq!(idp.outbox_to("goro2@example.jp").len(), sent + 1);
    assert_eq!(
        next.step().as_deref(),
        Some("mfa-email"),
        "the preferred factor is asked"
    );
    let bad = b
        .submit(&page, "/account/preferred", &[("factor", "passkey")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "not enrolled");

    let page = act(&b, &page, "/account/email-otp/off", &[]).await;
    assert!(page.body.contains("無効にしました"), "{page:?}");
    let member = idp.state.members().by_id(&m.id).await.unwrap().unwrap();
    assert!(!member.email_otp_enabled);
    let kinds = idp.audit_kinds(&m.id).await;
    for k in ["mfa.enrolled", "mfa.preferred", "email_otp.disabled"] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn a_new_address_is_confirmed_by_code_and_the_old_one_is_told() {
    let idp = TestIdp::start().await;
    let m = idp.member("hachi", "36", "1234567").await;
    let b = Browser::new();
    let account = account_signed_in(&idp, &b, &m).await;
    let bad = b
        .submit(&account, "/account/email", &[("email", "not an address")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains(r#"aria-invalid="true""#));
    let page = act(
        &b,
        &account,
        "/account/email",
        &[("email", "Hachi.New@Example.JP")],
    )
    .await;
    assert!(page.body.contains("hachi.new@example.jp"), "{page:?}");
    let mail = idp.last_outbox_to("hachi.new@example.jp");
    assert_eq!(
        mail.subject,
        "【けんぽWeb】メールアドレス確認コードのお知らせ"
    );
    let code = otp_of(&mail);
    let member = idp.state.members().by_id(&m.id).await.unwrap().unwrap();
    assert_eq!(
        member.email.as_deref(),
        Some("hachi@example.jp"),
        "unchanged until confirmed"
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = b
        .submit(&page, "/account/email/confirm", &[("otp", wrong)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let page = act(&b, &page, "/account/email/confirm", &[("otp", &code)]).await;
    assert!(
        page.body.contains("メールアドレスを変更しました"),
        "{page:?}"
    );
    let member = idp.state.members().by_id(&m.id).await.unwrap().unwrap();
    assert_eq!(member.email.as_deref(), Some("hachi.new@example.jp"));
    assert!(member.email_verified);
    let told = idp.last_outbox_to("hachi@example.jp");
    assert_eq!(told.subject, "【けんぽWeb】メールアドレスが変更されました");
    assert!(told.text.contains("hachi.new@example.jp"));
    assert!(
        idp.audit_kinds(&m.id)
            .await
            .contains(&"email.changed".to_string())
    );
}

#[tokio::test]
async fn a_new_password_needs_the_current_one_and_signs_out_elsewhere() {
    let idp = TestIdp::start().await;
    let m = idp.member("kuro", "37", "1234567").await;
    let other = Browser::new();
    account_signed_in(&idp, &other, &m).await;
    let b = Browser::new();
    let account = account_signed_in(&idp, &b, &m).await;
    assert_password_field(&account, "current_password", "current-password");
    assert_password_field(&account, "new_password", "new-password");
    assert_password_field(&account, "new_password_confirm", "new-password");
    let r = b
        .submit(
            &account,
            "/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", "N3w-Passw0rd!"),
                ("new_password_confirm", "N3w-Passw0rd!"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.alert().unwrap().contains("現在のパスワード"));
    let r = b
        .submit(
            &account,
            "/account/password",
            &[
                ("current_password", &m.password),
                ("new_password", "short"),
                ("new_password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.alert().unwrap().contains("8文字以上"));
    let page = act(
        &b,
        &account,
        "/account/password",
        &[
            ("current_password", &m.password),
            ("new_password", "N3w-Passw0rd!"),
            ("new_password_confirm", "N3w-Passw0rd!"),
        ],
    )
    .await;
    assert!(page.body.contains("パスワードを変更しました"), "{page:?}");
    let gone = other.get(&idp.url("/account")).await;
    assert_eq!(location(&gone), "/login", "the other session ended");
    let still = b.get(&idp.url("/account")).await;
    assert_eq!(still.step().as_deref(), Some("account"));
    let mail = idp.last_outbox_to("kuro@example.jp");
    assert_eq!(mail.subject, "【けんぽWeb】パスワードが変更されました");
    let fresh = Browser::new();
    let login = fresh.get(&idp.url("/login")).await;
    let r = fresh
        .submit(
            &login,
            "/login",
            &[("username", "kuro"), ("password", "N3w-Passw0rd!")],
        )
        .await;
    assert_eq!(location(&r), "/signin/mfa-totp", "the new password works");
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one_or_everywhere() {
    let idp = TestIdp::start().await;
    let m = idp.member("jun", "38", "1234567").await;
    let other = Browser::new();
    account_signed_in(&idp, &other, &m).await;
    let b = Browser::new();
    let account = account_signed_in(&idp, &b, &m).await;
    assert_eq!(
        account.body.matches(r#"name="sid""#).count(),
        2,
        "two devices"
    );
    assert!(account.body.contains("この端末"));
    assert!(
        account.body.contains("Chrome"),
        "device named from the browser"
    );
    let sessions = kenpo_idp::signin::session::Sessions::new(&idp.state)
        .for_member(&m.id, idp.state.now())
        .await
        .unwrap();
    // The entry marked "this device" carries this browser's sid in its form.
    let marker = account.body.find("(この端末)").unwrap();
    let pat = r#"name="sid" value=""#;
    let at = marker + account.body[marker..].find(pat).unwrap() + pat.len();
    let mine = &account.body[at..at + account.body[at..].find('"').unwrap()];
    let theirs = sessions
        .iter()
        .map(|s| s.sid.clone())
        .find(|sid| sid != mine)
        .unwrap();
    let page = act(&b, &account, "/account/sessions/end", &[("sid", &theirs)]).await;
    assert!(page.body.contains("ログアウトさせました"), "{page:?}");
    assert_eq!(location(&other.get(&idp.url("/account")).await), "/login");
    let stranger = b
        .submit(&page, "/account/sessions/end", &[("sid", "someone-else")])
        .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);

    account_signed_in(&idp, &other, &m).await;
    let r = b.submit(&page, "/account/sessions/end-all", &[]).await;
    assert_eq!(location(&r), "/login");
    assert_eq!(location(&b.get(&idp.url("/account")).await), "/login");
    assert_eq!(location(&other.get(&idp.url("/account")).await), "/login");
    assert!(
        idp.audit_kinds(&m.id)
            .await
            .contains(&"session.end_all".to_string())
    );
}
