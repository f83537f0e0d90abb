//! Second factors over real HTTP: passkeys with a software authenticator (enrolment, second
//! factor, replay, cloned-counter refusal), authenticator apps (RFC 6238 vectors against an
//! independent implementation, enrolment page, replay, concurrent submissions), email OTP
//! (mail captured from a real SMTP server, tries, expiry, resend throttle), what the ID token
//! says (`amr`, `acr`), and re-enrolment after a staff reset.

use crate::support::*;
use kenpo_idp::mfa::{self, email_otp, totp};
use kenpo_idp::oidc::request::{ACR_MFA, ACR_PASSWORD};
use kenpo_idp::store::credentials::{CredentialStore, PasskeyUse};
use kenpo_shared::{Lang, Secret};
use openidconnect::TokenResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

fn origin(idp: &TestIdp) -> Url {
    Url::parse(&idp.issuer).unwrap()
}

/// The creation options as the software authenticator can serve them: it cannot store
/// resident keys, so it is handed the options with the residency *requirement* cleared (a
/// hint WebAuthn cannot enforce anyway); everything else is the server's.
fn soft_creation(options: &Value) -> CreationChallengeResponse {
    let mut ccr: CreationChallengeResponse =
        serde_json::from_value(options.clone()).expect("creation options");
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        sel.require_resident_key = false;
    }
    ccr
}

fn csrf(page: &Page) -> String {
    page.input("csrf").expect("csrf")
}

/// Registers a passkey through a page's JSON endpoints; returns the finish answer and the
/// body that was sent (to replay it).
async fn register(
    idp: &TestIdp,
    browser: &Browser,
    page: &Page,
    base: &str,
    auth: &mut SoftPasskey,
    label: &str,
) -> (StatusCode, Value, Value) {
    let (st, opts) = browser
        .json(
            &idp.url(&format!("{base}/options")),
            &json!({"csrf": csrf(page), "flow": page.input("flow")}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{opts}");
    let reg = auth
        .do_registration(origin(idp), soft_creation(&opts["options"]))
        .expect("the authenticator registers");
    let body = json!({
        "csrf": csrf(page),
        "flow": page.input("flow"),
        "label": label,
        "ceremony": opts["ceremony"],
        "credential": reg,
    });
    let (st, answer) = browser
        .json(&idp.url(&format!("{base}/finish")), &body)
        .await;
    (st, answer, body)
}

/// Answers a second-factor passkey challenge; returns the finish answer and the body sent.
async fn assert_passkey(
    idp: &TestIdp,
    browser: &Browser,
    page: &Page,
    auth: &mut SoftPasskey,
) -> (StatusCode, Value, Value) {
    let (st, opts) = browser
        .json(
            &idp.url("/signin/mfa-passkey/options"),
            &json!({"csrf": csrf(page), "flow": page.input("flow"), "next": page.input("next")}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{opts}");
    let rcr: RequestChallengeResponse =
        serde_json::from_value(opts["options"].clone()).expect("request options");
    let cred = auth
        .do_authentication(origin(idp), rcr)
        .expect("the authenticator signs");
    let body = json!({
        "csrf": csrf(page),
        "flow": page.input("flow"),
        "next": page.input("next"),
        "ceremony": opts["ceremony"],
        "credential": cred,
    });
    let (st, answer) = browser
        .json(&idp.url("/signin/mfa-passkey/finish"), &body)
        .await;
    (st, answer, body)
}

#[tokio::test]
async fn passkey_enrolment_at_first_login_and_second_factor_sign_in() {
    let idp = TestIdp::start().await;
    let m = idp
        .onboarding_member("hanako", "21", "1234567", "passkey")
        .await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    assert_eq!(page.step().as_deref(), Some("enroll-passkey"), "{page:?}");
    assert!(page.body.contains(r#"data-action="passkey-register""#));
    assert!(page.body.contains("ステップ 7 / 7"));
    assert!(
        page.body.contains("Bluetooth"),
        "the phone path is explained"
    );

    // The options ask for a discoverable, user-verified credential on any device.
    let (st, opts) = b
        .json(
            &idp.url("/signin/enroll-passkey/options"),
            &json!({"csrf": csrf(&page)}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let sel = &opts["options"]["publicKey"]["authenticatorSelection"];
    assert_eq!(sel["residentKey"], "required");
    assert_eq!(sel["userVerification"], "required");
    assert!(sel.get("authenticatorAttachment").is_none(), "{sel}");
    let (st, _) = b
        .json(
            &idp.url("/signin/enroll-passkey/options"),
            &json!({"csrf": "forged"}),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "CSRF is checked on JSON endpoints"
    );

    let mut phone = SoftPasskey::new(true);
    let (st, answer, body) = register(
        &idp,
        &b,
        &page,
        "/signin/enroll-passkey",
        &mut phone,
        "  自宅のパソコン ",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    assert_eq!(answer["redirect"], "/signin/done");
    let done = b.get(&idp.url("/signin/done")).await;
    assert_eq!(done.step().as_deref(), Some("done"));

    // Replaying the registration response: the first-login step is over (the member is sent
    // on), and where enrolling is still allowed (the account page) the ceremony is gone.
    let (st, answer) = b
        .json(&idp.url("/signin/enroll-passkey/finish"), &body)
        .await;
    assert_eq!(
        (st, &answer["redirect"]),
        (StatusCode::OK, &json!("/signin/done"))
    );
    let (st, answer) = b
        .json(&idp.url("/account/enroll-passkey/finish"), &body)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("時間切れ"));
    let store = CredentialStore::new(idp.state.db.clone());
    let rows = store.passkeys(&m.id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].label, "自宅のパソコン");

    let member = idp.state.members().by_id(&m.id).await.unwrap().unwrap();
    assert!(member.onboarded_at.is_some(), "onboarding is complete");
    assert_eq!(member.preferred_factor.as_deref(), Some("passkey"));
    assert!(
        idp.audit_kinds(&m.id)
            .await
            .contains(&"mfa.enrolled".to_string())
    );
    let notice = idp.last_outbox_to("hanako@example.jp");
    assert_eq!(notice.subject, "【けんぽWeb】ログイン設定が変更されました");
    assert!(notice.text.contains("自宅のパソコン"));

    // A second registration excludes the passkey already there.
    let (st, opts) = b
        .json(
            &idp.url("/account/enroll-passkey/options"),
            &json!({"csrf": csrf(&page)}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{opts}");
    let excluded = opts["options"]["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["id"], rows[0].credential_id);

    // Next sign-in: the password, then the passkey.
    let b2 = Browser::new();
    let page = password_step(&idp, &b2, &m).await;
    assert_eq!(page.step().as_deref(), Some("mfa-passkey"), "{page:?}");
    assert!(page.body.contains(r#"data-action="passkey-authenticate""#));
    let (st, answer, body) = assert_passkey(&idp, &b2, &page, &mut phone).await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    assert_eq!(answer["redirect"], "/signin/done");
    let used = store.passkeys(&m.id).await.unwrap().remove(0);
    assert!(used.sign_count > 0, "the counter is stored");
    assert!(used.last_used_at.is_some());

    // Replays: the same response again (as a re-confirmation, which this session may still
    // ask for), and the old assertion against a new challenge.
    let mut replay = body.clone();
    replay["next"] = json!("/account");
    let (st, answer) = b2
        .json(&idp.url("/signin/mfa-passkey/finish"), &replay)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{answer}");
    let b3 = Browser::new();
    let page3 = password_step(&idp, &b3, &m).await;
    let (_, opts) = b3
        .json(
            &idp.url("/signin/mfa-passkey/options"),
            &json!({"csrf": csrf(&page3)}),
        )
        .await;
    let replay = json!({"csrf": csrf(&page3), "ceremony": opts["ceremony"], "credential": body["credential"]});
    let (st, answer) = b3
        .json(&idp.url("/signin/mfa-passkey/finish"), &replay)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{answer}");
    let still = b3.get(&idp.url("/signin/done")).await;
    assert_ne!(
        still.step().as_deref(),
        Some("done"),
        "a refused passkey leaves the member at the second step"
    );
}

#[tokio::test]
async fn a_ceremony_belongs_to_its_session_and_a_counter_regression_is_refused() {
    let idp = TestIdp::start().await;
    let m = idp
        .onboarding_member("ume", "22", "1234567", "passkey")
        .await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    let mut key = SoftPasskey::new(true);
    let (st, answer, _) = register(
        &idp,
        &b,
        &page,
        "/signin/enroll-passkey",
        &mut key,
        "iPhone",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{answer}");

    // Another browser (another session of the same member) cannot finish this ceremony.
    let b1 = Browser::new();
    let p1 = password_step(&idp, &b1, &m).await;
    let b2 = Browser::new();
    let p2 = password_step(&idp, &b2, &m).await;
    let (_, opts) = b1
        .json(
            &idp.url("/signin/mfa-passkey/options"),
            &json!({"csrf": csrf(&p1)}),
        )
        .await;
    let rcr: RequestChallengeResponse = serde_json::from_value(opts["options"].clone()).unwrap();
    let cred = key.do_authentication(origin(&idp), rcr).unwrap();
    let (st, answer) = b2
        .json(
            &idp.url("/signin/mfa-passkey/finish"),
            &json!({"csrf": csrf(&p2), "ceremony": opts["ceremony"], "credential": cred}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{answer}");

    // A stored counter ahead of the authenticator's: a possible clone, refused and logged.
    let store = CredentialStore::new(idp.state.db.clone());
    let row = store.passkeys(&m.id).await.unwrap().remove(0);
    assert!(
        store
            .record_assertion(
                &row.id,
                PasskeyUse {
                    passkey_json: row.passkey.clone(),
                    sign_count: 1_000_000,
                    backup_state: false,
                    backup_eligible: false,
                    now: idp.state.now(),
                },
            )
            .await
            .unwrap()
    );
    let (st, answer, _) = assert_passkey(&idp, &b1, &p1, &mut key).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("安全のため"));
    assert!(
        idp.audit_kinds(&m.id)
            .await
            .contains(&"passkey.counter_regression".to_string())
    );
}

#[tokio::test]
async fn answers_without_user_verification_are_refused() {
    let idp = TestIdp::start().await;
    let m = idp
        .onboarding_member("take", "30", "1234567", "passkey")
        .await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    let url = |p: &str| idp.url(&format!("/signin/enroll-passkey/{p}"));
    // An authenticator that did not verify the user (the client was talked out of asking).
    let (_, opts) = b.json(&url("options"), &json!({"csrf": csrf(&page)})).await;
    let mut o = opts["options"].clone();
    o["publicKey"]["authenticatorSelection"]["userVerification"] = json!("discouraged");
    let mut lax = SoftPasskey::new(false);
    let reg = lax
        .do_registration(origin(&idp), soft_creation(&o))
        .unwrap();
    let (st, answer) = b
        .json(
            &url("finish"),
            &json!({"csrf": csrf(&page), "label": "PC", "ceremony": opts["ceremony"], "credential": reg}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(store_is_empty(&idp, &m).await, "nothing enrolled");

    // Enrolled properly; an assertion without user verification is refused too.
    let mut key = SoftPasskey::new(true);
    let (st, answer, _) = register(&idp, &b, &page, "/signin/enroll-passkey", &mut key, "PC").await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    let b2 = Browser::new();
    let page = password_step(&idp, &b2, &m).await;
    let (_, opts) = b2
        .json(
            &idp.url("/signin/mfa-passkey/options"),
            &json!({"csrf": csrf(&page)}),
        )
        .await;
    let mut o = opts["options"].clone();
    o["publicKey"]["userVerification"] = json!("discouraged");
    let rcr: RequestChallengeResponse = serde_json::from_value(o).unwrap();
    let cred = key.do_authentication(origin(&idp), rcr).unwrap();
    let (st, answer) = b2
        .json(
            &idp.url("/signin/mfa-passkey/finish"),
            &json!({"csrf": csrf(&page), "ceremony": opts["ceremony"], "credential": cred}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("確認できませんでした")
    );
}

async fn store_is_empty(idp: &TestIdp, m: &TestMember) -> bool {
    CredentialStore::new(idp.state.db.clone())
        .passkeys(&m.id)
        .await
        .unwrap()
        .is_empty()
}

#[tokio::test]
async fn passwordless_options_are_discoverable_and_unknown_answers_are_refused() {
    let idp = TestIdp::start().await;
    let m = idp
        .onboarding_member("kiku", "23", "1234567", "passkey")
        .await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    let mut key = SoftPasskey::new(true);
    register(&idp, &b, &page, "/signin/enroll-passkey", &mut key, "PC").await;

    let anon = Browser::new();
    let login = anon.get(&idp.url("/login")).await;
    assert!(login.body.contains(r#"data-action="passkey-login""#));
    assert!(login.body.contains(r#"autocomplete="username webauthn""#));
    assert!(login.body.contains("/static/passkey.js"));
    let js = anon.get(&idp.url("/static/passkey.js")).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("isConditionalMediationAvailable"));

    let (st, opts) = anon
        .json(
            &idp.url("/login/passkey/options"),
            &json!({"csrf": csrf(&login)}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{opts}");
    assert_eq!(opts["options"]["mediation"], "conditional");
    assert_eq!(opts["options"]["publicKey"]["userVerification"], "required");
    assert!(
        opts["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(std::vec::Vec::is_empty),
        "no user ID typed: any passkey of this site"
    );
    // The software authenticator keeps no resident keys, so its answer names no user: it
    // cannot sign anyone in without a password (the browser tests sign in passwordless).
    let rcr: RequestChallengeResponse = serde_json::from_value(json!({
        "publicKey": {
            "challenge": opts["options"]["publicKey"]["challenge"],
            "rpId": "localhost",
            "userVerification": "required",
            "allowCredentials": [{"type": "public-key", "id": store_cred_id(&idp, &m).await}],
        }
    }))
    .unwrap();
    let cred = key.do_authentication(origin(&idp), rcr).unwrap();
    let body = json!({"csrf": csrf(&login), "ceremony": opts["ceremony"], "credential": cred});
    let (st, answer) = anon.json(&idp.url("/login/passkey/finish"), &body).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{answer}");
    let (st, _) = anon.json(&idp.url("/login/passkey/finish"), &body).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "the ceremony was used up");
    let (st, _) = anon
        .json(
            &idp.url("/login/passkey/options"),
            &json!({"csrf": "forged"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let r = anon
        .http
        .post(idp.url("/login/passkey/options"))
        .form(&[("csrf", csrf(&login))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "JSON only");
}

async fn store_cred_id(idp: &TestIdp, m: &TestMember) -> String {
    CredentialStore::new(idp.state.db.clone())
        .passkeys(&m.id)
        .await
        .unwrap()
        .remove(0)
        .credential_id
}

#[test]
fn totp_matches_rfc6238_and_an_independent_implementation() {
    // RFC 6238 Appendix B (SHA-1): the last six digits of the eight-digit values.
    let secret = b"12345678901234567890";
    let t = totp::totp(secret, "kenpo", "rfc").unwrap();
    for (time, full) in [
        (59i64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp_code(secret, time), full[2..], "independent, t={time}");
        assert_eq!(
            t.generate(time as u64).to_string(),
            full[2..],
            "IdP, t={time}"
        );
    }
    // Random secrets and times: both implementations agree.
    for i in 0..200i64 {
        let secret = totp::new_secret();
        let time = 1_700_000_000 + i * 7919;
        let t = totp::totp(&secret, "kenpo", "x").unwrap();
        assert_eq!(
            t.generate(time as u64).to_string(),
            totp_code(&secret, time)
        );
    }
}

fn secret_on(page: &Page) -> String {
    let i = page.body.find("data-totp-secret>").expect("key as text") + 17;
    let rest = &page.body[i..];
    rest[..rest.find('<').unwrap()].to_string()
}

fn full_width(code: &str) -> String {
    code.chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap())
        .collect()
}

#[tokio::test]
async fn authenticator_app_enrolment_with_qr_png_and_key_as_text() {
    let idp = TestIdp::start().await;
    let m = idp.onboarding_member("jiro", "24", "1234567", "totp").await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    assert_eq!(page.step().as_deref(), Some("enroll-totp"), "{page:?}");
    assert!(page.body.contains(r#"<svg role="img""#), "QR code shown");
    let grouped = secret_on(&page);
    assert!(
        grouped.split(' ').all(|g| g.len() <= 4) && grouped.split(' ').count() == 8,
        "groups of four: {grouped}"
    );
    let secret = base32_decode(&grouped).unwrap();
    assert_eq!(secret.len(), 20);
    let again = b.get(&idp.url("/signin/enroll-totp")).await;
    assert_eq!(secret_on(&again), grouped, "a reload keeps the key");

    let png = b
        .http
        .get(idp.url("/signin/enroll-totp/qr.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert!(w == h && w >= 200, "{w}x{h}");

    let wrong = b
        .submit(&again, "/signin/enroll-totp", &[("otp", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.alert().unwrap().contains("正しくありません"));
    let code = totp_code(&secret, idp.state.now());
    let typed = format!("{}－{}", full_width(&code[..3]), full_width(&code[3..]));
    let ok = b
        .submit(&wrong, "/signin/enroll-totp", &[("otp", &typed)])
        .await;
    let done = b.follow(ok, "http://never/").await.unwrap();
    assert_eq!(done.step().as_deref(), Some("done"), "{done:?}");
    let member = idp.state.members().by_id(&m.id).await.unwrap().unwrap();
    assert_eq!(member.preferred_factor.as_deref(), Some("totp"));
    assert!(member.onboarded_at.is_some());

    // The code that confirmed the app cannot sign in again.
    let b2 = Browser::new();
    let mfa_page = password_step(&idp, &b2, &m).await;
    assert_eq!(mfa_page.step().as_deref(), Some("mfa-totp"));
    let replay = b2
        .submit(&mfa_page, "/signin/mfa-totp", &[("otp", &code)])
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert!(replay.alert().unwrap().contains("すでに使われています"));
}

#[tokio::test]
async fn one_totp_code_submitted_twice_at_once_is_accepted_exactly_once() {
    let idp = TestIdp::start().await;
    let m = idp.member("saburo", "25", "1234567").await;
    let (b1, b2) = (Browser::new(), Browser::new());
    let p1 = password_step(&idp, &b1, &m).await;
    let p2 = password_step(&idp, &b2, &m).await;
    assert_eq!(p1.step().as_deref(), Some("mfa-totp"));
    idp.clock.advance(Duration::seconds(30));
    let code = totp_code(&m.totp_secret, idp.state.now());
    let fields = [("otp", code.as_str())];
    let (r1, r2) = tokio::join!(
        b1.submit(&p1, "/signin/mfa-totp", &fields),
        b2.submit(&p2, "/signin/mfa-totp", &fields),
    );
    let accepted = [&r1, &r2]
        .iter()
        .filter(|r| r.status.is_redirection())
        .count();
    assert_eq!(accepted, 1, "{r1:?} / {r2:?}");
    let refused = if r1.status.is_redirection() { &r2 } else { &r1 };
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // The same race straight at the store, many at once.
    idp.clock.advance(Duration::seconds(30));
    let code = totp_code(&m.totp_secret, idp.state.now());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let state = idp.state.clone();
        let (id, code, now) = (m.id.clone(), code.clone(), idp.state.now());
        tasks.push(tokio::spawn(async move {
            totp::verify(&state.db, &state.sbox, &id, &code, now)
                .await
                .unwrap()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            totp::Check::Accepted => ok += 1,
            totp::Check::Replayed => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn email_otp_sign_in_with_mail_from_a_real_smtp_server() {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let idp = TestIdp::start_with(|c| {
        c.mail.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
    })
    .await;
    let m = idp.email_member("shiro", "26", "1234567").await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    assert_eq!(page.step().as_deref(), Some("mfa-email"), "{page:?}");
    assert!(page.body.contains("s***@example.jp"));
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "one code on arrival");
    let mail = &mails[0];
    assert_eq!(mail.to, "shiro@example.jp");
    assert_eq!(mail.subject, "【けんぽWeb】ワンタイムパスワードのお知らせ");
    assert!(!mail.html.is_empty(), "an HTML part too");
    let first = otp_of(mail);
    let reload = b.get(&idp.url("/signin/mfa-email")).await;
    assert_eq!(sink.mails().len(), 1, "a reload does not send another");

    let wrong = if first == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = b
        .submit(&reload, "/signin/mfa-email", &[("otp", wrong)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.alert().unwrap().contains("あと4回"), "{:?}", r.alert());

    // Resend: throttled at first, then a new code that replaces the old one.
    let r = b
        .submit(&r, "/signin/mfa-email", &[("resend", "yes")])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.alert().unwrap().contains("待って"));
    idp.clock.advance(Duration::seconds(61));
    let r = b
        .submit(&r, "/signin/mfa-email", &[("resend", "yes")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(sink.mails().len(), 2);
    let second = otp_of(&sink.mails()[1]);
    if second != first {
        let old = b.submit(&r, "/signin/mfa-email", &[("otp", &first)]).await;
        assert_eq!(
            old.status,
            StatusCode::UNAUTHORIZED,
            "the old code is replaced"
        );
    }
    let spaced = format!("{} {}", &second[..3], &second[3..]);
    let ok = b.submit(&r, "/signin/mfa-email", &[("otp", &spaced)]).await;
    let done = b.follow(ok, "http://never/").await.unwrap();
    assert_eq!(done.step().as_deref(), Some("done"), "{done:?}");

    // Signing in again at once (another device): the used code lifted the cooldown.
    let b2 = Browser::new();
    let page = password_step(&idp, &b2, &m).await;
    assert_eq!(page.step().as_deref(), Some("mfa-email"));
    assert!(page.alert().is_none(), "{:?}", page.alert());
    assert_eq!(sink.mails().len(), 3, "a code on arrival");
}

#[tokio::test]
async fn email_otp_limits_tries_lifetime_and_sending() {
    let idp = TestIdp::start_with(|c| {
        c.mfa.email_otp_per_hour = 3;
        c.throttle.account_free_failures = 50;
    })
    .await;
    // Start at the top of an hour so the hourly window does not roll over mid-test.
    let now = idp.state.now();
    idp.clock
        .advance(Duration::seconds(3600 - now.rem_euclid(3600) + 1));
    let m = idp.email_member("goro", "27", "1234567").await;
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    let code = otp_of(&idp.last_outbox_to("goro@example.jp"));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut last = page;
    for n in (0..5).rev() {
        last = b
            .submit(&last, "/signin/mfa-email", &[("otp", wrong)])
            .await;
        assert_eq!(last.status, StatusCode::UNAUTHORIZED);
        if n > 0 {
            assert!(last.alert().unwrap().contains(&format!("あと{n}回")));
        }
    }
    let dead = b
        .submit(&last, "/signin/mfa-email", &[("otp", &code)])
        .await;
    assert_eq!(
        dead.status,
        StatusCode::UNAUTHORIZED,
        "after five wrong tries"
    );
    assert!(dead.alert().unwrap().contains("再送信"));

    // A fresh code expires after ten minutes.
    idp.clock.advance(Duration::seconds(61));
    let r = b
        .submit(&dead, "/signin/mfa-email", &[("resend", "yes")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let code = otp_of(&idp.last_outbox_to("goro@example.jp"));
    idp.clock.advance(Duration::seconds(601));
    let late = b.submit(&r, "/signin/mfa-email", &[("otp", &code)]).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
    assert!(late.alert().unwrap().contains("有効期限"));

    // Three mails an hour: the fourth is refused even after the cooldown.
    let r = b
        .submit(&late, "/signin/mfa-email", &[("resend", "yes")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "third mail of the hour");
    idp.clock.advance(Duration::seconds(61));
    let r = b
        .submit(&r, "/signin/mfa-email", &[("resend", "yes")])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert_eq!(idp.outbox_to("goro@example.jp").len(), 3);

    // Of concurrent submissions of the right code, exactly one is accepted.
    let later = idp.state.now() + 3600;
    let issued = email_otp::issue(
        &idp.state,
        &m.id,
        email_otp::Purpose::SignIn,
        "goro@example.jp",
        Lang::Ja,
        later,
    )
    .await
    .unwrap();
    assert!(
        matches!(issued, email_otp::Issue::Sent { .. }),
        "{issued:?}"
    );
    let code = otp_of(&idp.last_outbox_to("goro@example.jp"));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (state, id, code) = (idp.state.clone(), m.id.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            email_otp::verify(&state, &id, email_otp::Purpose::SignIn, &code, later)
                .await
                .unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), email_otp::Check::Accepted { .. }) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
    // A code for signing in does not turn email OTP on (purposes are separate).
    assert_eq!(
        email_otp::verify(&idp.state, &m.id, email_otp::Purpose::Enrol, &code, later)
            .await
            .unwrap(),
        email_otp::Check::Expired
    );
}

/// Walks an authorization request through the pages of an email-OTP member.
async fn walk_with_email(
    idp: &TestIdp,
    b: &Browser,
    url: &str,
    m: &TestMember,
    redirect: &str,
    steps: &mut Vec<String>,
) -> String {
    let mut page = match b.follow(b.get(url).await, redirect).await {
        Ok(p) => p,
        Err(done) => return done,
    };
    for _ in 0..6 {
        let step = page.step().unwrap_or_default();
        steps.push(step.clone());
        let next = match step.as_str() {
            "login" => {
                b.submit(
                    &page,
                    "/login",
                    &[("username", &m.user_id), ("password", &m.password)],
                )
                .await
            }
            "mfa-email" => {
                // The answer redirects to the relying party: the page's CSP must allow it.
                let csp = page.headers["content-security-policy"].to_str().unwrap();
                assert!(
                    csp.contains("form-action 'self' https://rp.example"),
                    "{csp}"
                );
                let code = otp_of(&idp.last_outbox_to(&format!("{}@example.jp", m.user_id)));
                b.submit(&page, "/signin/mfa-email", &[("otp", &code)])
                    .await
            }
            // Asked for a stronger factor (acr_values loa:2): emailed codes are not offered.
            "method" => {
                assert!(!page.body.contains(r#"value="email""#), "{}", page.body);
                assert!(page.body.contains(r#"value="totp""#));
                b.submit(&page, "/signin/method", &[("method", "totp")])
                    .await
            }
            "enroll-totp" => {
                let key = base32_decode(&totp_key_on(&page)).expect("a base32 key");
                idp.clock.advance(Duration::seconds(30));
                let code = totp_code(&key, idp.state.now());
                b.submit(&page, "/signin/enroll-totp", &[("otp", &code)])
                    .await
            }
            other => panic!("unexpected page {other}: {page:?}"),
        };
        page = match b.follow(next, redirect).await {
            Ok(p) => p,
            Err(done) => return done,
        };
    }
    panic!("sign-in did not finish")
}

fn amr_of(
    claims: &openidconnect::IdTokenClaims<MemberClaims, openidconnect::core::CoreGenderClaim>,
) -> Vec<String> {
    let mut amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    amr.sort();
    amr
}

#[tokio::test]
async fn the_id_token_says_which_factors_and_max_age_asks_for_both_again() {
    let idp = TestIdp::start().await;
    let redirect = "https://rp.example/cb";
    idp.confidential("rp-amr", redirect, "ES256").await;
    let rp = Rp::discover(&idp, "rp-amr", Some(SECRET), redirect).await;
    let m = idp.email_member("rokuro", "28", "1234567").await;
    let b = Browser::new();
    let start = rp.start(&["openid"], &[]);
    let mut steps = Vec::new();
    let back = walk_with_email(&idp, &b, &start.url, &m, redirect, &mut steps).await;
    assert_eq!(steps, ["login", "mfa-email"]);
    let (code, _) = code_of(&back);
    let tokens = rp.exchange(&code, start.verifier).await.unwrap();
    let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &start.nonce);
    // An emailed code is a second step, not an AAL2 authenticator (NIST 800-63B).
    assert_eq!(amr_of(&claims), ["mca", "otp", "pwd"]);
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), ACR_PASSWORD);
    let first_auth = claims.auth_time().unwrap();

    // Within the session: single sign-on, no pages.
    let sso = rp.start(&["openid"], &[]);
    let mut steps = Vec::new();
    walk_with_email(&idp, &b, &sso.url, &m, redirect, &mut steps).await;
    assert!(steps.is_empty(), "{steps:?}");

    // max_age: the password and a fresh second factor again.
    idp.clock.advance(Duration::seconds(120));
    let again = rp.start(&["openid"], &[("max_age", "60")]);
    let mut steps = Vec::new();
    let back = walk_with_email(&idp, &b, &again.url, &m, redirect, &mut steps).await;
    assert_eq!(steps, ["login", "mfa-email"]);
    let (code, _) = code_of(&back);
    let tokens = rp.exchange(&code, again.verifier).await.unwrap();
    let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &again.nonce);
    assert!(claims.auth_time().unwrap() > first_auth);
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), ACR_PASSWORD);

    // A relying party asking for loa:2: the member with only emailed codes sets up an app
    // first (a page, not an error), and then gets loa:2.
    let strong = rp.start(&["openid"], &[("acr_values", ACR_MFA)]);
    let mut steps = Vec::new();
    let back = walk_with_email(&idp, &b, &strong.url, &m, redirect, &mut steps).await;
    assert_eq!(steps, ["method", "enroll-totp"]);
    let (code, _) = code_of(&back);
    let tokens = rp.exchange(&code, strong.verifier).await.unwrap();
    let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &strong.nonce);
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), ACR_MFA);
    let amr = amr_of(&claims);
    for a in ["pwd", "otp", "mfa"] {
        assert!(amr.contains(&a.to_string()), "{amr:?}");
    }
}

#[tokio::test]
async fn acr_and_amr_for_an_app_and_a_passkey_free_sign_in() {
    let idp = TestIdp::start().await;
    let redirect = "https://rp.example/cb";
    idp.confidential("rp-acr", redirect, "EdDSA").await;
    let rp = Rp::discover(&idp, "rp-acr", Some(SECRET), redirect).await;
    let m = idp.member("hachi", "30", "1234567").await;
    let b = Browser::new();
    let start = rp.start(&["openid"], &[("acr_values", ACR_MFA)]);
    let back = sign_in(&idp, &b, &start.url, &m, redirect).await;
    let (code, _) = code_of(&back);
    let tokens = rp.exchange(&code, start.verifier).await.unwrap();
    let claims = rp.verify(&tokens.id_token().unwrap().to_string(), &start.nonce);
    assert_eq!(amr_of(&claims), ["mfa", "otp", "pwd"]);
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), ACR_MFA);
}

#[tokio::test]
async fn other_methods_are_offered_and_a_staff_reset_means_enrolling_again() {
    let idp = TestIdp::start().await;
    let m = idp.member("shichi", "29", "1234567").await;
    let now = idp.state.now();
    idp.state
        .members()
        .set_email_otp(&m.id, true, now)
        .await
        .unwrap();
    let b = Browser::new();
    let page = password_step(&idp, &b, &m).await;
    assert_eq!(
        page.step().as_deref(),
        Some("mfa-totp"),
        "the strongest first"
    );
    assert!(
        page.body.contains(r#"href="/signin/mfa-email""#),
        "use another method"
    );
    let email = b.get(&idp.url("/signin/mfa-email")).await;
    assert_eq!(email.step().as_deref(), Some("mfa-email"));
    assert!(email.body.contains(r#"href="/signin/mfa-totp""#));
    let passkey = b.get(&idp.url("/signin/mfa-passkey")).await;
    assert!(
        passkey.status.is_redirection(),
        "a factor the member lacks is not offered"
    );

    // Staff reset: every factor gone; the member chooses and enrols again.
    let member = idp.state.members().by_id(&m.id).await.unwrap().unwrap();
    mfa::reset(&idp.state.db, &member, now).await.unwrap();
    let b2 = Browser::new();
    let login = b2.get(&idp.url("/login")).await;
    let r = b2
        .submit(
            &login,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    assert_eq!(r.headers["location"], "/signin/method");
    idp.state
        .members()
        .choose_factor(&m.id, Some("totp"), now)
        .await
        .unwrap();
    let page = b2.get(&idp.url("/signin/enroll-totp")).await;
    assert_eq!(page.step().as_deref(), Some("enroll-totp"));
    assert!(page.body.contains("別の認証方法を選ぶ"));
    let back = b2.submit(&page, "/signin/enroll-other", &[]).await;
    assert_eq!(back.headers["location"], "/signin/method", "choose again");
}
