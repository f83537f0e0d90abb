//! Passwords as ASVS V6.2 wants them handled: masked fields that password managers can fill and
//! paste into, the password verified exactly as typed (never cut or case-folded), 64 characters
//! allowed, and a chosen password that never expires.

use crate::support::*;
use reqwest::StatusCode;
use time::Duration;

async fn login(b: &Browser, idp: &TestIdp, user: &str, password: &str) -> Page {
    let page = b.get(&idp.url("/login")).await;
    post_login(b, &page, user, password, false).await
}

#[tokio::test]
async fn the_login_form_is_masked_and_open_to_password_managers() {
    let idp = TestIdp::start().await;
    let page = Browser::new().get(&idp.url("/login")).await;
    assert_eq!(page.step().as_deref(), Some("login"));
    assert!(input_tag(&page, "username").contains("autocomplete=\"username webauthn\""));
    assert_password_field(&page, "password", "current-password");
    // The pages' own scripts never touch paste or the clipboard.
    for script in ["new-password.js", "passkey.js", "email-sent.js"] {
        let r = reqwest::get(idp.url(&format!("/static/{script}")))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{script}");
        let js = r.text().await.unwrap();
        assert!(
            !js.contains("paste") && !js.contains("clipboard"),
            "{script}"
        );
    }
}

#[tokio::test]
async fn a_password_is_verified_exactly_as_typed_and_64_characters_never_expire() {
    let idp = TestIdp::start_with(|c| c.throttle.account_free_failures = 50).await;
    let m = idp.member("hana", "23", "2345678").await;
    let pw = m.password.as_str();
    // Changed case, a character more or less, spaces around it, a 1,025-byte one that would
    // match if cut: all refused, nothing is normalised or truncated.
    let long = format!("{pw}{}", "x".repeat(1025 - pw.len()));
    let variants = [
        (pw.to_uppercase(), StatusCode::UNAUTHORIZED),
        (pw.to_lowercase(), StatusCode::UNAUTHORIZED),
        (pw[..pw.len() - 1].to_string(), StatusCode::UNAUTHORIZED),
        (format!("{pw}x"), StatusCode::UNAUTHORIZED),
        (format!(" {pw}"), StatusCode::UNAUTHORIZED),
        (format!("{pw} "), StatusCode::UNAUTHORIZED),
        (long, StatusCode::BAD_REQUEST),
    ];
    for (typed, status) in variants {
        let p = login(&Browser::new(), &idp, &m.user_id, &typed).await;
        assert_eq!(p.status, status, "{typed:?}: {p:?}");
        assert_eq!(p.step().as_deref(), Some("login"), "{typed:?}");
    }

    // The member's account page: a 64-character password is taken (the form says so too).
    let b = Browser::new();
    let account = account_signed_in(&idp, &b, &m).await;
    let sixty_four = format!("Tsuki-9!{}", "ab".repeat(28));
    assert_eq!(sixty_four.len(), 64);
    let r = b
        .submit(
            &account,
            "/account/password",
            &[
                ("current_password", pw),
                ("new_password", &sixty_four),
                ("new_password_confirm", &sixty_four),
            ],
        )
        .await;
    let done = b.follow(r, "http://never/").await.unwrap();
    assert!(done.body.contains("パスワードを変更しました"), "{done:?}");
    let sixty_five = format!("{sixty_four}a");
    let r = b
        .submit(
            &done,
            "/account/password",
            &[
                ("current_password", &sixty_four),
                ("new_password", &sixty_five),
                ("new_password_confirm", &sixty_five),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.alert().unwrap_or_default().contains("64文字"), "{r:?}");

    // ASVS V6.2.10: 400 days later the chosen password still signs in, with no change asked;
    // its first 63 characters do not (it was stored whole).
    idp.clock.advance(Duration::days(400));
    let p = login(&Browser::new(), &idp, &m.user_id, &sixty_four[..63]).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let fresh = Browser::new();
    let p = login(&fresh, &idp, &m.user_id, &sixty_four).await;
    let next = fresh.follow(p, "http://never/").await.unwrap();
    assert_eq!(next.step().as_deref(), Some("mfa-totp"), "{next:?}");
}
