//! The staff console (issue 11) over real HTTP: every route's role check, CSRF on every form,
//! staff and member sessions kept apart, audited and mailed member actions, the import's
//! preview that stores nothing, the first administrator from the command line, disabling a
//! member. Letters: `letters.rs`; relying parties and the portal: `staff_portal.rs`.
//!
//! Staff sessions here come from the demo's one-time sign-in link (passkeys need the browser's
//! virtual authenticator with resident keys: tests/browser/staff covers them).

use crate::support::*;
use kenpo_idp::config::FirstLogin;
use kenpo_idp::staff::{Role, accounts};
use kenpo_idp::store::audit::StaffRef;
use reqwest::StatusCode;

/// A browser where `m` has signed in (password and authenticator app), with the page reached.
pub async fn member_signed_in(idp: &TestIdp, m: &TestMember) -> (Browser, Page) {
    let member = Browser::new();
    let page = password_step(idp, &member, m).await;
    idp.clock.advance(time::Duration::seconds(30));
    let code = totp_code(&m.totp_secret, idp.state.now());
    let done = member
        .submit(&page, "/signin/mfa-totp", &[("otp", &code)])
        .await;
    (member, done)
}

pub fn cli() -> StaffRef {
    StaffRef {
        staff_id: None,
        reason: "test set-up".into(),
    }
}

pub async fn staff_idp(letter: bool) -> TestIdp {
    TestIdp::start_with(|c| {
        c.demo.enabled = true;
        if letter {
            c.onboarding.first_login = FirstLogin::Letter;
        }
    })
    .await
}

/// A browser signed in to the console as a new staff member of `role`.
pub async fn staff(idp: &TestIdp, email: &str, role: Role) -> Browser {
    let now = idp.state.now();
    let (row, _) = accounts::invite(&idp.state, email, "", role, &cli(), now)
        .await
        .unwrap();
    let link = accounts::demo_signin_link(&idp.state, &row, now)
        .await
        .unwrap();
    let b = Browser::new();
    let page = b.get(link.expose()).await;
    assert_eq!(page.step().as_deref(), Some("staff-login"), "{page:?}");
    let token = page.value_of("token").expect("token field");
    let done = b.submit(&page, "/staff/link", &[("token", &token)]).await;
    assert_eq!(
        done.location().as_deref(),
        Some("/staff"),
        "{}",
        describe(&done)
    );
    b
}

/// A form page's CSRF token.
async fn csrf(b: &Browser, idp: &TestIdp, path: &str) -> String {
    b.get(&idp.url(path))
        .await
        .input("csrf")
        .expect("a CSRF token")
}

#[tokio::test]
async fn every_staff_route_checks_the_role() {
    let idp = staff_idp(false).await;
    let m = idp.member("taro", "12", "3456789").await;
    let viewer = staff(&idp, "viewer@example.jp", Role::Viewer).await;
    let operator = staff(&idp, "operator@example.jp", Role::Operator).await;
    let admin = staff(&idp, "admin@example.jp", Role::Administrator).await;
    let nobody = Browser::new();
    let member_page = format!("/staff/members/{}", m.user_id);
    let gets = [
        ("/staff/members?q=taro", Role::Viewer),
        (member_page.as_str(), Role::Viewer),
        ("/staff/import", Role::Viewer),
        ("/staff/audit", Role::Viewer),
        ("/staff/clients", Role::Administrator),
        ("/staff/keys", Role::Administrator),
        ("/staff/staff", Role::Administrator),
    ];
    for (path, need) in gets {
        let p = nobody.get(&idp.url(path)).await;
        assert!(
            p.location().is_some_and(|l| l.starts_with("/staff/login")),
            "{path} without a session: {}",
            describe(&p)
        );
        for (b, role) in [
            (&viewer, Role::Viewer),
            (&operator, Role::Operator),
            (&admin, Role::Administrator),
        ] {
            let p = b.get(&idp.url(path)).await;
            let want = if role >= need {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(p.status, want, "{path} as {role:?}: {}", describe(&p));
        }
    }
    // POSTs, each with a valid CSRF token: the role decides.
    type Post<'a> = (&'a str, Vec<(&'a str, &'a str)>, Role);
    let posts: [Post; 6] = [
        (
            member_page.as_str(),
            vec![("action", "unlock"), ("reason", "phone call")],
            Role::Operator,
        ),
        (
            "/staff/import/confirm",
            vec![("upload", "x"), ("confirm", "yes"), ("reason", "r")],
            Role::Operator,
        ),
        (
            "/staff/letters/import/x",
            vec![("reason", "r")],
            Role::Operator,
        ),
        (
            "/staff/clients",
            vec![("action", "remove"), ("client_id", "none"), ("reason", "r")],
            Role::Administrator,
        ),
        (
            "/staff/keys",
            vec![("action", "rotate"), ("reason", "")],
            Role::Administrator,
        ),
        (
            "/staff/staff",
            vec![
                ("action", "invite"),
                ("email", "x@example.jp"),
                ("role", "viewer"),
                ("reason", ""),
            ],
            Role::Administrator,
        ),
    ];
    for (path, fields, need) in &posts {
        for (b, role) in [(&viewer, Role::Viewer), (&operator, Role::Operator)] {
            if role >= *need {
                continue;
            }
            let token = csrf(b, &idp, "/staff/members").await;
            let mut form = vec![("csrf", token.as_str())];
            form.extend(fields.iter().copied());
            let p = b.post(&idp.url(path), &form).await;
            assert_eq!(
                p.status,
                StatusCode::FORBIDDEN,
                "POST {path} as {role:?}: {}",
                describe(&p)
            );
        }
    }
    // A viewer cannot unlock: refused, and nothing was recorded.
    assert!(
        !idp.audit_kinds(&m.id)
            .await
            .contains(&"member.unlock".to_string())
    );
    // The operator can.
    let token = csrf(&operator, &idp, &member_page).await;
    let p = operator
        .post(
            &idp.url(&member_page),
            &[
                ("csrf", &token),
                ("action", "unlock"),
                ("reason", "phone call 42"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", describe(&p));
    let events = idp.state.audit().for_member(&m.id, 10).await.unwrap();
    let unlock = events
        .iter()
        .find(|e| e.kind == "member.unlock")
        .expect("audited");
    assert_eq!(unlock.reason.as_deref(), Some("phone call 42"));
    assert!(unlock.staff_id.is_some(), "the staff member is recorded");
    let mail = idp
        .wait_mails_to(&format!("{}@example.jp", m.user_id), 1)
        .await;
    assert!(
        mail.iter().any(|x| x.subject.contains("組合の担当者")),
        "{mail:?}"
    );
    // No reason: refused with a message, no state change.
    let p = operator
        .post(
            &idp.url(&member_page),
            &[("csrf", &token), ("action", "disable"), ("reason", "  ")],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.alert_text().unwrap_or_default().contains("理由"),
        "{}",
        describe(&p)
    );
    assert!(idp.member_row(&m.id).await.disabled_at.is_none());
}

#[tokio::test]
async fn every_staff_form_needs_its_csrf_token() {
    let idp = staff_idp(false).await;
    let m = idp.member("hana", "12", "3456790").await;
    let admin = staff(&idp, "admin@example.jp", Role::Administrator).await;
    let member_page = format!("/staff/members/{}", m.user_id);
    let forms: [(&str, Vec<(&str, &str)>); 8] = [
        (
            member_page.as_str(),
            vec![("action", "disable"), ("reason", "left")],
        ),
        (
            "/staff/import/confirm",
            vec![("upload", "x"), ("confirm", "yes"), ("reason", "r")],
        ),
        ("/staff/letters/import/x", vec![("reason", "r")]),
        (
            "/staff/clients",
            vec![("action", "remove"), ("client_id", "x"), ("reason", "r")],
        ),
        ("/staff/keys", vec![("action", "rotate"), ("reason", "r")]),
        (
            "/staff/staff",
            vec![
                ("action", "invite"),
                ("email", "new@example.jp"),
                ("role", "viewer"),
                ("reason", "r"),
            ],
        ),
        ("/staff/logout", vec![]),
        ("/staff/link", vec![("token", "x")]),
    ];
    let keys_before = kenpo_idp::store::keys::KeyStore::new(idp.state.db.clone())
        .all()
        .await
        .unwrap()
        .len();
    for (path, fields) in &forms {
        for bad in ["", "forged-token"] {
            let mut form = vec![("csrf", bad)];
            form.extend(fields.iter().copied());
            let p = admin.post(&idp.url(path), &form).await;
            assert_eq!(
                p.status,
                StatusCode::FORBIDDEN,
                "POST {path} with csrf {bad:?}: {}",
                describe(&p)
            );
        }
    }
    // The upload (multipart) too.
    let part = reqwest::multipart::Form::new()
        .text("csrf", "forged")
        .text("kind", "members")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"user_id\n".to_vec()).file_name("m.csv"),
        );
    let r = admin
        .http
        .post(idp.url("/staff/import/upload"))
        .multipart(part)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Nothing changed.
    assert!(idp.member_row(&m.id).await.disabled_at.is_none());
    assert_eq!(
        kenpo_idp::store::keys::KeyStore::new(idp.state.db.clone())
            .all()
            .await
            .unwrap()
            .len(),
        keys_before
    );
    assert!(
        kenpo_idp::store::staff::StaffStore::new(idp.state.db.clone())
            .by_email("new@example.jp")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        admin.get(&idp.url("/staff/members")).await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn staff_and_member_sessions_are_apart() {
    let idp = staff_idp(false).await;
    let m = idp.member("jiro", "12", "3456791").await;
    // A member's session does not open the console.
    let (member, done) = member_signed_in(&idp, &m).await;
    let done = member.follow(done, "http://never/").await.unwrap();
    assert_eq!(done.step().as_deref(), Some("done"), "{}", describe(&done));
    assert_eq!(
        member.get(&idp.url("/account")).await.status,
        StatusCode::OK
    );
    for path in ["/staff", "/staff/members", "/staff/audit"] {
        let p = member.get(&idp.url(path)).await;
        assert!(
            p.location()
                .is_some_and(|l| l.starts_with("/staff") && p.status.is_redirection()),
            "{path}: {}",
            describe(&p)
        );
        let p = member.follow(p, "http://never/").await.unwrap();
        assert_eq!(
            p.step().as_deref(),
            Some("staff-login"),
            "{path} as a member"
        );
    }
    // A staff session is not a member's.
    let staff = staff(&idp, "op@example.jp", Role::Operator).await;
    let p = staff.get(&idp.url("/account")).await;
    assert!(
        p.location().is_some_and(|l| l.starts_with("/login")),
        "{}",
        describe(&p)
    );
}

#[tokio::test]
async fn import_preview_reports_lines_and_stores_nothing_until_confirmed() {
    let idp = staff_idp(false).await;
    let op = staff(&idp, "op@example.jp", Role::Operator).await;
    let before = idp.state.members().count().await.unwrap();
    let upload = |body: &'static str, token: String| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", token)
            .text("kind", "members")
            .part(
                "file",
                reqwest::multipart::Part::bytes(body.as_bytes().to_vec()).file_name("members.csv"),
            );
        op.http
            .post(idp.url("/staff/import/upload"))
            .multipart(form)
            .send()
    };
    let bad = "user_id,symbol,number,birthdate,name,name_kana,email\nok1,12,1111111,1980-01-01,組合 一郎,クミアイ イチロウ,\nbad,1x,2222222,1980-13-01,組合 二郎,クミアイ ジロウ,nomail\n";
    let r = upload(bad, csrf(&op, &idp, "/staff/import").await)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("role=\"alert\"") && body.contains("3行目"),
        "line numbers: {body}"
    );
    assert_eq!(
        idp.state.members().count().await.unwrap(),
        before,
        "nothing stored"
    );
    let good = "user_id,symbol,number,birthdate,name,name_kana,email\nnew1,12,1111111,1980-01-01,組合 一郎,クミアイ イチロウ,\n";
    let r = upload(good, csrf(&op, &idp, "/staff/import").await)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let preview = r.text().await.unwrap();
    assert!(preview.contains("data-preview=\"new\">1<"), "{preview}");
    assert_eq!(
        idp.state.members().count().await.unwrap(),
        before,
        "a preview stores nothing"
    );
    let i = preview.find("name=\"upload\" value=\"").unwrap() + 21;
    let id = &preview[i..i + preview[i..].find('"').unwrap()];
    let token = csrf(&op, &idp, "/staff/import").await;
    let fields = [
        ("csrf", token.as_str()),
        ("upload", id),
        ("confirm", "yes"),
        ("reason", "monthly import"),
    ];
    let p = op.post(&idp.url("/staff/import/confirm"), &fields).await;
    assert_eq!(p.status, StatusCode::OK, "{}", describe(&p));
    assert_eq!(idp.state.members().count().await.unwrap(), before + 1);
    // The preview is used up.
    let p = op.post(&idp.url("/staff/import/confirm"), &fields).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(idp.state.members().count().await.unwrap(), before + 1);
}

#[tokio::test]
async fn a_fresh_install_has_no_accounts_and_no_demo_sign_in() {
    // ASVS V6.3.2: no default member or staff account, and the demo's sign-in link is not served.
    let idp = TestIdp::start().await;
    assert!(!idp.state.config.demo.enabled);
    assert_eq!(idp.state.members().count().await.unwrap(), 0);
    let staff = kenpo_idp::store::staff::StaffStore::new(idp.state.db.clone());
    assert!(staff.list().await.unwrap().is_empty());
    let b = Browser::new();
    let console = b.get(&idp.url("/staff")).await;
    assert!(
        console
            .location()
            .is_some_and(|l| l.starts_with("/staff/login")),
        "{console:?}"
    );
    for path in ["/staff/link?token=admin@example.jp", "/staff/link"] {
        let p = b.get(&idp.url(path)).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{path}");
    }
    let login = b.get(&idp.url("/staff/login")).await;
    let p = b
        .submit(&login, "/staff/link", &[("token", "admin@example.jp")])
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_first_administrator_comes_from_the_command_line() {
    let idp = staff_idp(false).await;
    let cfg = idp.state.config.clone();
    kenpo_idp::admin::run(
        cfg,
        kenpo_idp::admin::Command::Staff(kenpo_idp::admin::StaffCmd::Add {
            email: "Boss@Example.jp".into(),
            role: "administrator".into(),
            name: "組合 管理者".into(),
        }),
    )
    .await
    .unwrap();
    let mails = idp.wait_mails_to("boss@example.jp", 1).await;
    let link = mails[0].link();
    assert!(link.starts_with(&idp.url("/staff/enroll?token=")), "{link}");
    let p = Browser::new().get(&link).await;
    assert_eq!(
        p.step().as_deref(),
        Some("staff-enroll"),
        "{}",
        describe(&p)
    );
    assert!(p.body.contains("data-action=\"passkey-register\""));
    let p = Browser::new()
        .get(&idp.url("/staff/enroll?token=forged"))
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn disabling_a_member_ends_their_sessions_and_sign_in_until_re_enabled() {
    let idp = staff_idp(false).await;
    let m = idp.member("shiro", "12", "3456793").await;
    let op = staff(&idp, "op@example.jp", Role::Operator).await;
    // The member is signed in.
    let (member, _) = member_signed_in(&idp, &m).await;
    assert_eq!(
        member.get(&idp.url("/account")).await.status,
        StatusCode::OK
    );
    let path = format!("/staff/members/{}", m.user_id);
    let act = |action: &'static str| {
        let (op, url) = (op.clone(), idp.url(&path));
        async move {
            let token = op.get(&url).await.input("csrf").unwrap();
            op.post(
                &url,
                &[
                    ("csrf", token.as_str()),
                    ("action", action),
                    ("reason", "left the union"),
                ],
            )
            .await
        }
    };
    assert_eq!(act("disable").await.status, StatusCode::OK);
    assert!(idp.member_row(&m.id).await.disabled_at.is_some());
    let p = member.get(&idp.url("/account")).await;
    assert!(
        p.status.is_redirection(),
        "the session ended: {}",
        describe(&p)
    );
    let fresh = Browser::new();
    let login = fresh.get(&idp.url("/login")).await;
    let p = fresh
        .submit(
            &login,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", describe(&p));
    assert!(
        p.alert_text()
            .unwrap_or_default()
            .contains("ご利用いただけません")
    );
    // Disabling twice changes nothing and says so.
    let p = act("disable").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.alert_text().unwrap_or_default().contains("すでに"));
    assert_eq!(act("enable").await.status, StatusCode::OK);
    let login = fresh.get(&idp.url("/login")).await;
    let p = fresh
        .submit(
            &login,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    assert!(
        p.status.is_redirection(),
        "signs in again: {}",
        describe(&p)
    );
    let kinds = idp.audit_kinds(&m.id).await;
    assert!(kinds.contains(&"member.disable".into()) && kinds.contains(&"member.enable".into()));
    // The same pages in English, by the same switch as the member pages.
    let en = op.get(&idp.url(&format!("{path}?lang=en"))).await;
    assert!(
        en.body.contains("lang=\"en\"") && en.body.contains("Actions"),
        "English page"
    );
}
