//! Invitation letters (letter mode, issue 11): the PDF read back with pdftotext, its QR code
//! decoded from a pdftoppm rendering with rqrr (independent of the qrcode crate that drew it),
//! the first-login page it opens, and a code that works once and not after a reissue.

use crate::staff::{staff, staff_idp};
use crate::support::*;
use kenpo_idp::staff::Role;
use reqwest::StatusCode;
use time::macros::date;

/// The invitation code printed in a letter's text (`ABCDE-FGHJK`).
fn code_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| {
            w.len() == 11
                && w.as_bytes()[5] == b'-'
                && kenpo_idp::security::invitation::normalize(w).is_some()
        })
        .unwrap_or_else(|| panic!("a code like ABCDE-FGHJK in {text}"))
        .to_string()
}

fn tool(name: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(format!("/usr/bin/{name}"));
    assert!(
        p.exists(),
        "{name} is needed (apt-get install poppler-utils); .ci/run installs it"
    );
    p
}

#[tokio::test]
async fn a_letter_reads_back_its_qr_opens_the_first_login_and_its_code_works_once() {
    let idp = staff_idp(true).await;
    let new = idp
        .import_member(
            "letter1",
            "12",
            "5555555",
            date!(1980 - 12 - 01),
            Some("l1@example.jp"),
        )
        .await;
    // Letters are often printed weeks after the import: the first-login window starts with the
    // letter (password.initial_password_days would otherwise have run out).
    idp.clock.advance(time::Duration::days(100));
    let op = staff(&idp, "op@example.jp", Role::Operator).await;
    let page_path = format!("/staff/members/{}", new.user_id);
    let letter = |reason: &'static str| {
        let op = op.clone();
        let url = idp.url(&page_path);
        async move {
            let token = op.get(&url).await.input("csrf").unwrap();
            let r = op
                .http
                .post(&url)
                .form(&[
                    ("csrf", token.as_str()),
                    ("action", "letter"),
                    ("reason", reason),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "application/pdf");
            r.bytes().await.unwrap().to_vec()
        }
    };
    let pdf = letter("first letter").await;
    let dir = TempDir::new();
    let file = dir.0.join("letter.pdf");
    std::fs::write(&file, &pdf).unwrap();
    // Text: the user ID and a code of the letter alphabet.
    let out = std::process::Command::new(tool("pdftotext"))
        .args(["-layout"])
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("letter1"), "user ID in {text}");
    assert!(
        text.contains("招待コード") && text.contains("初回ログインのご案内"),
        "Japanese text in {text}"
    );
    let code = code_in(&text);
    // The QR code, rendered by poppler and decoded by rqrr.
    let status = std::process::Command::new(tool("pdftoppm"))
        .args(["-r", "150", "-png", "-singlefile"])
        .arg(&file)
        .arg(dir.0.join("page"))
        .status()
        .unwrap();
    assert!(status.success());
    if let Ok(sample) = std::env::var("KENPO_LETTER_SAMPLE") {
        // The staff guide's picture of a letter (docs/images/staff-guide/letter.png).
        std::fs::copy(dir.0.join("page.png"), sample).unwrap();
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(dir.0.join("page.png")).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[(y * w + x) * channels]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, idp.url("/login?login_hint=letter1"));
    // The QR's page has the user ID filled in.
    let b = Browser::new();
    let login = b.get(&content).await;
    assert_eq!(login.step().as_deref(), Some("login"));
    assert_eq!(login.value_of("username").as_deref(), Some("letter1"));
    // The card-derived password does not work in letter mode; the code does, once.
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "letter1"), ("password", &new.initial_password)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", describe(&p));
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "letter1"), ("password", &code.to_lowercase())],
        )
        .await;
    assert!(
        p.status.is_redirection(),
        "the code works: {}",
        describe(&p)
    );
    let p = Browser::new();
    let l2 = p.get(&idp.url("/login")).await;
    let again = p
        .submit(
            &l2,
            "/login",
            &[("username", "letter1"), ("password", &code)],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "a code works once");
    // A reissue: the old code is void, the new one works.
    let pdf2 = letter("lost the letter").await;
    std::fs::write(&file, &pdf2).unwrap();
    let out = std::process::Command::new(tool("pdftotext"))
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    let text2 = String::from_utf8_lossy(&out.stdout).to_string();
    let code2 = code_in(&text2);
    assert_ne!(code, code2);
    let c = Browser::new();
    let l3 = c.get(&idp.url("/login")).await;
    let old = c
        .submit(
            &l3,
            "/login",
            &[("username", "letter1"), ("password", &code)],
        )
        .await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the old code after a reissue"
    );
    let fresh = c
        .submit(
            &l3,
            "/login",
            &[("username", "letter1"), ("password", &code2)],
        )
        .await;
    assert!(
        fresh.status.is_redirection(),
        "the new code: {}",
        describe(&fresh)
    );
    let kinds = idp.audit_kinds(&new.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "letter.issue").count(),
        2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn an_invitation_code_expires() {
    // Shorter than password.initial_password_days, so only the code's own expiry can refuse it.
    let idp = TestIdp::start_with(|c| {
        c.onboarding.first_login = kenpo_idp::config::FirstLogin::Letter;
        c.onboarding.invitation_days = 10;
    })
    .await;
    let new = idp
        .import_member("letter2", "12", "5555556", date!(1981 - 01 - 02), None)
        .await;
    let m = idp.member_row(&new.id).await;
    let code = kenpo_idp::security::invitation::issue(&idp.state, &m, idp.state.now())
        .await
        .unwrap();
    let b = Browser::new();
    idp.clock.advance(time::Duration::days(11));
    let login = b.get(&idp.url("/login")).await;
    let p = b
        .submit(
            &login,
            "/login",
            &[("username", "letter2"), ("password", &code)],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNAUTHORIZED,
        "expired after 90 days: {}",
        describe(&p)
    );
}
