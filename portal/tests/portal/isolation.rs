//! A member sees only their household. For every page and export: the member's own data is
//! there; naming another household's 記号 or 番号, or a 枝番 nobody in the household has, is
//! "not found" and shows nothing of anyone; without a session the answer is the sign-in.

use crate::import::{BENEFITS, ELIGIBILITY, MEDICAL};
use crate::support::*;
use kenpo_portal::import::Kind;

/// Every page and export that shows notices.
const PAGES: [&str; 9] = [
    "/",
    "/medical",
    "/medical?year=2025",
    "/medical/deduction?year=2025",
    "/medical/deduction.csv?year=2025",
    "/medical/deduction/print?year=2025",
    "/benefits",
    "/eligibility",
    "/eligibility/print?masked=1",
];

/// Words that only household 12/3456789's notices contain.
const OTHERS: [&str; 4] = [
    "やまだ秘密クリニック",
    "山田 秘密子",
    "山田 太郎",
    "500,000",
];

fn with(path: &str, extra: &str) -> String {
    if path.contains('?') {
        format!("{path}&{extra}")
    } else {
        format!("{path}?{extra}")
    }
}

async fn portal() -> TestPortal {
    let p = TestPortal::start().await;
    p.import(Kind::Medical, MEDICAL).await.unwrap();
    p.import(Kind::Benefits, BENEFITS).await.unwrap();
    p.import(Kind::Eligibility, ELIGIBILITY).await.unwrap();
    p
}

#[tokio::test]
async fn each_page_shows_the_own_household_only() {
    let p = portal().await;
    let cookie = p.session("34", "1234567").await;
    for path in PAGES {
        let a = p.get(path, &cookie).await;
        assert_eq!(a.status, 200, "{path}");
        for other in OTHERS {
            assert!(!a.body.contains(other), "{path} shows {other}");
        }
    }
    // Own data is really there (so the absence above means something).
    assert!(
        p.get("/medical?year=2025", &cookie)
            .await
            .body
            .contains("けんぽ内科クリニック")
    );
    assert!(p.get("/benefits", &cookie).await.body.contains("167,122円"));
    assert!(
        p.get("/eligibility", &cookie)
            .await
            .body
            .contains("健保 さくら")
    );
}

#[tokio::test]
async fn naming_another_household_or_person_is_not_found() {
    let p = portal().await;
    let cookie = p.session("34", "1234567").await;
    let attempts = [
        "symbol=12&number=3456789",
        "number=3456789",
        "symbol=12",
        "symbol=１２&number=３４５６７８９",
        "symbol=34&number=3456789",
        "branch=03",
        "branch=99",
        "branch=x",
        "symbol=12&number=3456789&branch=00",
    ];
    for path in PAGES {
        for attempt in attempts {
            let url = with(path, attempt);
            let a = p.get(&url, &cookie).await;
            if path == "/" {
                // The home page takes no selection, and shows only the own household anyway.
                assert!(OTHERS.iter().all(|o| !a.body.contains(o)), "{url}");
                continue;
            }
            assert_eq!(a.status, 404, "{url}");
            assert_eq!(a.step(), Some("portal-error"), "{url}");
            for other in OTHERS {
                assert!(!a.body.contains(other), "{url} shows {other}");
            }
        }
        // Naming one's own identifiers and an existing person is fine.
        if path != "/" {
            let own = with(path, "symbol=34&number=1234567&branch=01");
            assert_eq!(p.get(&own, &cookie).await.status, 200, "{own}");
        }
    }
}

#[tokio::test]
async fn the_other_household_sees_its_own_and_not_ours() {
    let p = portal().await;
    let cookie = p.session("12", "3456789").await;
    let page = p.get("/eligibility", &cookie).await;
    assert!(page.body.contains("山田 秘密子"));
    assert!(!page.body.contains("健保 一郎") && !page.body.contains("健保 さくら"));
    let csv = p.get("/medical/deduction.csv?year=2025", &cookie).await;
    let text = String::from_utf8(csv.bytes).unwrap();
    assert!(text.contains("やまだ秘密クリニック") && !text.contains("けんぽ内科クリニック"));
    assert_eq!(
        p.get("/medical?symbol=34&number=1234567", &cookie)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn without_a_session_every_page_asks_to_sign_in() {
    let p = portal().await;
    for path in PAGES.iter().skip(1) {
        let a = p.get(path, "").await;
        assert_eq!(a.status, 303, "{path}");
        let expected = format!(
            "/auth/login?{}",
            serde_urlencoded::to_string([("return_to", path)]).unwrap()
        );
        assert_eq!(a.location(), expected, "{path}");
        assert!(OTHERS.iter().all(|o| !a.body.contains(o)));
    }
    let home = p.get("/", "").await;
    assert_eq!(home.step(), Some("portal-welcome"));
    // A made-up or ended session cookie is no session.
    let a = p.get("/medical", "kenpo_portal=made-up-value").await;
    assert_eq!(a.status, 303);
}

#[tokio::test]
async fn masked_eligibility_prints_hide_the_numbers() {
    let p = portal().await;
    let cookie = p.session("34", "1234567").await;
    let plain = p.get("/eligibility/print?masked=0", &cookie).await;
    assert!(plain.body.contains("data-field=\"number\">1234567<"));
    let masked = p.get("/eligibility/print?masked=1", &cookie).await;
    assert_eq!(masked.step(), Some("portal-eligibility-print"));
    assert!(!masked.body.contains("1234567"), "number hidden");
    assert!(masked.body.contains("data-field=\"symbol\">＊＊＊＊<"));
    assert!(masked.body.contains("06139999"), "the insurer number stays");
    assert!(masked.body.contains("健保 一郎"));
    let one = p
        .get("/eligibility/print?masked=1&branch=02", &cookie)
        .await;
    assert!(one.body.contains("健保 さくら") && !one.body.contains("健保 一郎"));
    assert_eq!(
        p.get("/eligibility/print?masked=maybe", &cookie)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn pages_are_never_cached_and_carry_a_nonce_policy() {
    let p = portal().await;
    let cookie = p.session("34", "1234567").await;
    for path in PAGES {
        let a = p.get(path, &cookie).await;
        assert_eq!(a.headers["cache-control"], "no-store", "{path}");
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'nonce-") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        // The sign-out form on every page redirects to the IdP after its POST.
        let form_action = format!("form-action 'self' {}", p.idp.issuer);
        if !path.contains(".csv") {
            assert!(csp.contains(&form_action), "{path}: {csp}");
        }
    }
    let not_found = p.get("/nowhere", &cookie).await;
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.step(), Some("portal-error"));
    let english = p.get("/eligibility?lang=en", &cookie).await;
    assert!(
        english.body.contains("<html lang=\"en\"")
            && english.body.contains("Eligibility information")
    );
    assert!(
        english
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("kenpo_lang=en"))
    );
}

#[tokio::test]
async fn an_empty_household_is_told_why_there_is_nothing() {
    let p = portal().await;
    let cookie = p.session("99", "1000001").await;
    let expectations = [
        ("/medical", "受診した月のおよそ3か月後に表示されます"),
        (
            "/medical/deduction?year=2025",
            "この年の医療費のお知らせはありません",
        ),
        ("/benefits", "給付金のお支払いはまだありません"),
        ("/eligibility", "資格情報はまだ登録されていません"),
        ("/", "今年受診した分は、まだ届いていません"),
    ];
    for (path, text) in expectations {
        let a = p.get(path, &cookie).await;
        assert_eq!(a.status, 200, "{path}");
        assert!(a.body.contains(text), "{path} explains: {text}");
        assert!(
            OTHERS.iter().all(|o| !a.body.contains(o)) && !a.body.contains("健保 一郎"),
            "{path}"
        );
    }
}
