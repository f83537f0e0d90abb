//! The notice portal against the real IdP, both served over HTTP on loopback: a member signs in
//! from the portal through the IdP (code + PKCE, ID token verified by the portal), reads only
//! their own household's notices, signs out (RP-initiated logout ends both sessions), and an
//! IdP sign-out elsewhere ends the portal session by back-channel logout — for every signing
//! algorithm. Without a back-channel URI, the portal's refresh-token check ends it instead.

use crate::support::*;
use kenpo_idp::config::ClientConfig;
use kenpo_portal::import::{self, EncodingChoice, Kind, Options};
use kenpo_shared::Secret;
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::time::Duration;

const PORTAL_SECRET: &str = "portal-e2e-secret-0123456789abcdefghij";

const MEDICAL: &str = "記号,番号,枝番,受診者氏名,診療年月,区分,医療機関名,日数,医療費総額,保険者負担額,公費負担額,自己負担額
34,1234567,00,健保 花子,2025-01,医科外来,けんぽ内科クリニック,2,12340,8640,0,3700
34,1234567,01,健保 一郎,2025-03,医科入院,市立総合病院,9,852300,596610,0,255690
12,3456789,00,山田 太郎,2025-01,医科外来,よその秘密クリニック,1,7770,5439,0,2331
";
const ELIGIBILITY: &str =
    "保険者番号,記号,番号,枝番,氏名,カナ氏名,生年月日,資格取得年月日,負担割合,交付年月日
06139999,34,1234567,00,健保 花子,ケンポ ハナコ,1980-12-01,2015-04-01,3,2025-11-01
06139999,12,3456789,00,山田 太郎,ヤマダ タロウ,1980-12-01,2010-04-01,3,2025-11-01
";

pub(crate) struct TestPortal {
    pub(crate) state: kenpo_portal::AppState,
    pub(crate) base: String,
}

impl TestPortal {
    /// A portal on a random port, registered at `idp` as `kenpo-portal` with `alg`; with a
    /// back-channel logout URI unless `backchannel` is false. Shares the IdP's clock.
    pub(crate) async fn start(idp: &TestIdp, alg: &str, backchannel: bool) -> TestPortal {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://localhost:{}", addr.port());
        idp.client(ClientConfig {
            client_id: "kenpo-portal".into(),
            name: "医療費・給付金のお知らせ".into(),
            secret: Some(Secret::new(PORTAL_SECRET.into())),
            // The staff pages' callback and scope too (tests/e2e/staff_portal.rs).
            redirect_uris: vec![
                format!("{base}/auth/callback"),
                format!("{base}/staff/auth/callback"),
            ],
            scopes: [
                "openid",
                "profile",
                "email",
                "member",
                "offline_access",
                "staff",
            ]
            .map(String::from)
            .to_vec(),
            post_logout_redirect_uris: vec![format!("{base}/")],
            backchannel_logout_uri: backchannel.then(|| format!("{base}/auth/backchannel-logout")),
            id_token_signed_response_alg: Some(alg.into()),
            // The portal runs on PAR + DPoP (issue 12): the IdP refuses it anything else.
            require_par: true,
            require_dpop: true,
            ..ClientConfig::default()
        })
        .await;
        let (eph_url, prefix) = fresh_ephemeral();
        let mut config = kenpo_portal::config::Config::default();
        config.server.base_url = base.clone();
        config.database.url = fresh_database(&idp.dir, &format!("portal_{}", alg.to_lowercase()));
        config.ephemeral.url = eph_url;
        config.ephemeral.prefix = format!("{prefix}portal:");
        config.oidc.issuer = idp.issuer.clone();
        config.oidc.client_secret = Secret::new(PORTAL_SECRET.into());
        config.oidc.signing_alg = alg.into();
        let state = kenpo_portal::startup::build_state(config, idp.clock.clone())
            .await
            .expect("portal state");
        let app = kenpo_portal::app(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let portal = TestPortal { state, base };
        portal.import(Kind::Medical, MEDICAL).await;
        portal.import(Kind::Eligibility, ELIGIBILITY).await;
        portal
    }

    async fn import(&self, kind: Kind, csv: &str) {
        let opts = Options {
            encoding: EncodingChoice::Auto,
            dry_run: false,
            file_name: "e2e.csv".into(),
        };
        let today = time::macros::date!(2025 - 12 - 01);
        import::run(
            &self.state.db,
            kind,
            csv.as_bytes(),
            &opts,
            self.state.now(),
            today,
        )
        .await
        .expect("import");
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs `member` in from the portal's sign-in link; returns the first portal page.
    pub(crate) async fn sign_in(
        &self,
        idp: &TestIdp,
        browser: &Browser,
        member: &TestMember,
        return_to: &str,
    ) -> Page {
        let login = self.url(&format!("/auth/login?return_to={return_to}"));
        let callback = self.url("/auth/callback");
        let back = sign_in(idp, browser, &login, member, &callback).await;
        let q = query(&back);
        assert_eq!(q.get("iss"), Some(&idp.issuer), "RFC 9207 iss");
        let answer = browser.get(&back).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
        browser
            .follow(answer, "never:")
            .await
            .expect("a portal page")
    }

    /// Waits (up to 10 s) until `path` no longer answers with a page, i.e. the session ended.
    async fn wait_signed_out(&self, browser: &Browser, path: &str) -> bool {
        for _ in 0..50 {
            let p = browser.get(&self.url(path)).await;
            if p.status == StatusCode::SEE_OTHER {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}

#[tokio::test]
async fn sign_in_read_only_the_own_household_and_sign_out() {
    let idp = TestIdp::start().await;
    let member = idp.member("hanako", "34", "1234567").await;
    idp.member("taro", "12", "3456789").await;
    let portal = TestPortal::start(&idp, "ES256", true).await;
    let browser = Browser::new();

    let welcome = browser.get(&portal.url("/")).await;
    assert_eq!(welcome.step().as_deref(), Some("portal-welcome"));

    let page = portal
        .sign_in(&idp, &browser, &member, "/medical?year=2025")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert_eq!(page.step().as_deref(), Some("portal-medical"));
    assert!(page.url.ends_with("/medical?year=2025"));
    assert!(page.body.contains("けんぽ内科クリニック") && page.body.contains("259,390円"));
    assert!(!page.body.contains("よその秘密クリニック"));

    // Every page of notices answers; another household's identifiers are not found.
    for path in [
        "/",
        "/benefits",
        "/eligibility",
        "/medical/deduction?year=2025",
        "/eligibility/print?masked=1",
    ] {
        let p = browser.get(&portal.url(path)).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {p:?}");
        // (The harness names every IdP member 山田 太郎, so the other household is told apart
        // by its clinic and its 番号.)
        assert!(
            !p.body.contains("3456789") && !p.body.contains("よその秘密クリニック"),
            "{path}"
        );
    }
    for path in [
        "/medical?symbol=12&number=3456789",
        "/medical/deduction.csv?year=2025&number=3456789",
        "/eligibility?symbol=12&number=3456789",
        "/benefits?branch=07",
    ] {
        assert_eq!(
            browser.get(&portal.url(path)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let csv = browser
        .get(&portal.url("/medical/deduction.csv?year=2025"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body.contains("市立総合病院,診療・治療,9,255690"),
        "{}",
        csv.body
    );
    assert!(csv.body.ends_with("合計,,,,,11,259390,\r\n"));

    // RP-initiated logout: the portal's button, then the IdP, then back to the portal.
    let confirm = browser.get(&portal.url("/auth/logout")).await;
    let csrf = confirm.input("csrf").expect("csrf");
    let out = browser
        .post(&portal.url("/auth/logout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let to_idp = out.headers["location"].to_str().unwrap().to_string();
    assert!(to_idp.starts_with(&idp.url("/logout?")), "{to_idp}");
    let back = browser
        .follow(browser.get(&to_idp).await, &portal.base)
        .await
        .expect_err("the IdP sends the member back to the portal");
    assert!(back.starts_with(&portal.url("/?state=")), "{back}");
    let landing = browser.get(&back).await;
    assert_eq!(landing.step().as_deref(), Some("portal-signed-out"));
    assert_eq!(
        browser.get(&portal.url("/medical")).await.status,
        StatusCode::SEE_OTHER
    );

    // The IdP session is over too: signing in again asks for the password.
    let login = browser
        .follow(browser.get(&portal.url("/auth/login")).await, &portal.base)
        .await
        .expect("the IdP's sign-in page, not a code");
    assert_eq!(login.step().as_deref(), Some("login"));
}

#[tokio::test]
async fn signing_out_of_the_idp_ends_the_portal_session_by_back_channel_for_every_algorithm() {
    let idp = TestIdp::start().await;
    let member = idp.member("hanako", "34", "1234567").await;
    for alg in ["ES256", "EdDSA", "RS256"] {
        let portal = TestPortal::start(&idp, alg, true).await;
        let browser = Browser::new();
        let page = portal
            .sign_in(&idp, &browser, &member, "/eligibility")
            .await;
        assert_eq!(
            page.step().as_deref(),
            Some("portal-eligibility"),
            "{alg}: {page:?}"
        );

        // The member signs out at the IdP itself (its own sign-out page, no hint).
        let confirm = browser.get(&idp.url("/logout")).await;
        assert_eq!(confirm.step().as_deref(), Some("logout"), "{alg}");
        let done = browser
            .submit(&confirm, "/logout/confirm", &[("confirm", "yes")])
            .await;
        assert_eq!(done.status, StatusCode::OK, "{alg}: {done:?}");
        // The clock does not move: only the back-channel logout can end the portal session.
        assert!(
            portal.wait_signed_out(&browser, "/eligibility").await,
            "{alg}: the back-channel logout ended the portal session"
        );
    }
}

#[tokio::test]
async fn without_back_channel_the_refresh_check_ends_the_portal_session() {
    let idp = TestIdp::start().await;
    let member = idp.member("hanako", "34", "1234567").await;
    let portal = TestPortal::start(&idp, "ES256", false).await;
    let browser = Browser::new();
    portal.sign_in(&idp, &browser, &member, "/benefits").await;
    let every = portal.state.config.session.revalidate_secs + 1;

    // Two refreshes in a row succeed: the portal keeps the rotated refresh token each time
    // (presenting an old one would make the IdP revoke the family).
    for round in 0..2 {
        idp.clock.advance(time::Duration::seconds(every));
        let p = browser.get(&portal.url("/benefits")).await;
        assert_eq!(p.status, StatusCode::OK, "refresh {round}: {p:?}");
    }

    // Signed out at the IdP; no back-channel URI is registered, so the portal learns it at the
    // next check.
    let confirm = browser.get(&idp.url("/logout")).await;
    browser
        .submit(&confirm, "/logout/confirm", &[("confirm", "yes")])
        .await;
    assert_eq!(
        browser.get(&portal.url("/benefits")).await.status,
        StatusCode::OK,
        "not yet checked"
    );
    idp.clock.advance(time::Duration::seconds(every));
    let p = browser.get(&portal.url("/benefits")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{p:?}");
}
