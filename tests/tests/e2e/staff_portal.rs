//! Staff at relying parties (issue 11): the ID token's role claim (staff only, never members),
//! and the portal's staff pages against the real IdP: staff sign in through the IdP's
//! staff sign-in (OIDC, scope `staff`) and the portal trusts only a verified role claim; the
//! import preview stores nothing, the confirm imports once; viewers cannot import; every form
//! needs the session's CSRF token; a staff session is not a member's portal session.

use crate::portal::TestPortal;
use crate::staff::{member_signed_in, staff, staff_idp};
use crate::support::*;
use kenpo_idp::config::ClientConfig;
use kenpo_idp::staff::Role;
use kenpo_shared::Secret;
use reqwest::StatusCode;

/// An ID token's claims, decoded without checking (the checks are `Rp::verify`'s).
fn payload_of(raw: &str) -> serde_json::Value {
    let payload = raw.split('.').nth(1).unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Signs `browser` (already signed in to the IdP's console) in to the portal's staff pages.
async fn portal_staff(portal: &TestPortal, browser: &Browser) -> Page {
    let start = browser.get(&portal.url("/staff")).await;
    let page = browser
        .follow(start, "never:")
        .await
        .expect("back at the portal");
    assert_eq!(
        page.step().as_deref(),
        Some("staff-import"),
        "{}",
        describe(&page)
    );
    page
}

fn imports(portal: &TestPortal) -> usize {
    portal
        .state
        .db
        .blocking(|c| kenpo_portal::store::imports::latest(c, 1000))
        .unwrap()
        .len()
}

async fn upload(
    b: &Browser,
    portal: &TestPortal,
    csrf: &str,
    kind: &str,
    csv: &str,
) -> (StatusCode, String) {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_string())
        .text("kind", kind.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("n.csv"),
        );
    let r = b
        .http
        .post(portal.url("/staff/import/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap_or_default())
}

const ELIGIBILITY: &str =
    "保険者番号,記号,番号,枝番,氏名,カナ氏名,生年月日,資格取得年月日,負担割合,交付年月日
06139999,77,7777777,00,取込 太郎,トリコミ タロウ,1980-12-01,2015-04-01,3,2025-11-01
";

#[tokio::test]
async fn staff_import_notices_through_the_idp_with_preview_and_csrf() {
    let idp = TestIdp::start_with(|c| c.demo.enabled = true).await;
    let portal = TestPortal::start(&idp, "ES256", false).await;
    let op = staff(&idp, "op@example.jp", Role::Operator).await;
    let page = portal_staff(&portal, &op).await;
    let csrf = page.value_of("csrf").expect("the session's CSRF token");
    let before = imports(&portal);
    // A bad file: line numbers, nothing stored.
    let (status, body) = upload(&op, &portal, &csrf, "medical", "記号,番号\n1,2\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("role=\"alert\"") && body.contains("1行目"),
        "{body}"
    );
    assert_eq!(imports(&portal), before);
    // A good one: a preview, still nothing stored; then the confirm imports it once.
    let (status, body) = upload(&op, &portal, &csrf, "eligibility", ELIGIBILITY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("would import 1 rows"), "{body}");
    assert_eq!(imports(&portal), before, "a preview stores nothing");
    let i = body.find("name=\"upload\" value=\"").unwrap() + 21;
    let id = body[i..i + body[i..].find('"').unwrap()].to_string();
    // Forms without the session's token are refused.
    for bad in ["", "forged"] {
        let p = op
            .post(
                &portal.url("/staff/import/confirm"),
                &[("csrf", bad), ("upload", &id), ("confirm", "yes")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "confirm with csrf {bad:?}");
        let (status, _) = upload(&op, &portal, bad, "eligibility", ELIGIBILITY).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "upload with csrf {bad:?}");
        let p = op
            .post(&portal.url("/staff/logout"), &[("csrf", bad)])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "logout with csrf {bad:?}");
    }
    assert_eq!(imports(&portal), before);
    let no_reason = [
        ("csrf", csrf.as_str()),
        ("upload", id.as_str()),
        ("confirm", "yes"),
    ];
    let p = op
        .post(&portal.url("/staff/import/confirm"), &no_reason)
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "a reason is required");
    assert_eq!(imports(&portal), before);
    let fields = [
        ("csrf", csrf.as_str()),
        ("upload", id.as_str()),
        ("confirm", "yes"),
        ("reason", "2025年11月分"),
    ];
    let p = op.post(&portal.url("/staff/import/confirm"), &fields).await;
    assert_eq!(p.status, StatusCode::OK, "{}", describe(&p));
    assert_eq!(imports(&portal), before + 1);
    assert!(
        p.body.contains("op@example.jp") && p.body.contains("2025年11月分"),
        "the history names who and why"
    );
    let p = op.post(&portal.url("/staff/import/confirm"), &fields).await;
    assert_eq!(
        p.status,
        StatusCode::BAD_REQUEST,
        "a preview is confirmed once"
    );
    assert_eq!(imports(&portal), before + 1);
    // A staff session is not a member's: the notices still ask for a member sign-in.
    let p = op.get(&portal.url("/medical")).await;
    assert!(
        p.location().is_some_and(|l| l.starts_with("/auth/login")),
        "{}",
        describe(&p)
    );
    // Signing out ends the staff session.
    let p = op
        .post(&portal.url("/staff/logout"), &[("csrf", &csrf)])
        .await;
    assert!(p.status.is_redirection());
    let p = op.get(&portal.url("/staff")).await;
    assert!(
        p.location()
            .is_some_and(|l| l.starts_with("/staff/auth/login")),
        "{}",
        describe(&p)
    );
}

#[tokio::test]
async fn viewers_see_history_but_cannot_import_and_members_get_no_staff_page() {
    let idp = TestIdp::start_with(|c| c.demo.enabled = true).await;
    let portal = TestPortal::start(&idp, "ES256", false).await;
    let viewer = staff(&idp, "viewer@example.jp", Role::Viewer).await;
    let page = portal_staff(&portal, &viewer).await;
    assert!(
        !page.body.contains("/staff/import/upload"),
        "no upload form for a viewer"
    );
    let csrf = page.value_of("csrf").unwrap();
    let before = imports(&portal);
    let (status, _) = upload(&viewer, &portal, &csrf, "eligibility", ELIGIBILITY).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(imports(&portal), before);
    // A member signed in at the IdP is sent to the staff sign-in, never back with a code.
    let m = idp.member("taro", "34", "1234567").await;
    let (member, _) = member_signed_in(&idp, &m).await;
    let p = member
        .follow(
            member.get(&portal.url("/staff")).await,
            &portal.url("/staff/auth/callback"),
        )
        .await;
    let p = p.expect("stops at the IdP");
    assert_eq!(p.step().as_deref(), Some("staff-login"), "{}", describe(&p));
}

#[tokio::test]
async fn a_staff_sign_in_to_a_relying_party_carries_the_role_and_members_never_get_it() {
    let idp = staff_idp(false).await;
    let redirect = "http://localhost:9/staff/cb";
    idp.client(ClientConfig {
        client_id: "console".into(),
        name: "console".into(),
        secret: Some(Secret::new(SECRET.into())),
        redirect_uris: vec![redirect.into()],
        scopes: vec!["openid".into(), "staff".into(), "profile".into()],
        ..ClientConfig::default()
    })
    .await;
    let rp = Rp::discover(&idp, "console", Some(SECRET), redirect).await;
    // A staff member: a code, and an ID token with the role.
    let op = staff(&idp, "op@example.jp", Role::Operator).await;
    let start = rp.start(&["staff"], &[]);
    let back = op
        .follow(op.get(&start.url).await, redirect)
        .await
        .expect_err("back to the RP");
    let (code, _) = code_of(&back);
    let tokens = rp
        .exchange(&code, start.verifier)
        .await
        .expect("token response");
    let raw = openidconnect::TokenResponse::id_token(&tokens)
        .expect("id token")
        .to_string();
    let claims = payload_of(&raw);
    assert_eq!(claims["kenpo_staff_role"], "operator");
    assert_eq!(claims["email"], "op@example.jp");
    assert_eq!(claims["nonce"], start.nonce.secret().as_str());
    rp.verify(&raw, &start.nonce); // signature and standard claims, by openidconnect
    // A member asking for the staff scope is sent to the staff sign-in, never given a code.
    let m = idp.member("saburo", "12", "3456792").await;
    let (member, _) = member_signed_in(&idp, &m).await;
    let start = rp.start(&["staff"], &[]);
    let p = member
        .follow(member.get(&start.url).await, redirect)
        .await
        .expect("no code");
    assert_eq!(p.step().as_deref(), Some("staff-login"));
    // An ordinary sign-in of that client never carries the role.
    let start = rp.start(&["profile"], &[]);
    let back = sign_in(&idp, &member, &start.url, &m, redirect).await;
    let (code, _) = code_of(&back);
    let tokens = rp.exchange(&code, start.verifier).await.unwrap();
    let raw = openidconnect::TokenResponse::id_token(&tokens)
        .unwrap()
        .to_string();
    let claims = payload_of(&raw);
    assert!(claims.get("kenpo_staff_role").is_none(), "{claims}");
}
