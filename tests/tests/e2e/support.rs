//! The test harness: an IdP on a random loopback port with its own database and key prefix, a
//! browser-like client, members ready to sign in, and an openidconnect relying party.

#![allow(dead_code)]

use diesel::Connection;
use diesel::connection::SimpleConnection;
use kenpo_idp::config::{ClientConfig, Config};
use kenpo_idp::mfa;
use kenpo_idp::state::AppState;
use kenpo_idp::store::clients::NewClient;
use kenpo_idp::store::members::ImportedMember;
use kenpo_shared::ids::{MemberNumber, MemberSymbol, UserId};
use kenpo_shared::{Clock, Secret};
use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use std::net::SocketAddr;
use std::path::PathBuf;
use time::macros::date;

/// A scratch folder removed at drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("kenpo-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database URL for one test: a SQLite file, or a fresh PostgreSQL database when
/// `KENPO_TEST_DATABASE_URL` is set.
pub fn fresh_database(dir: &TempDir, name: &str) -> String {
    match std::env::var("KENPO_TEST_DATABASE_URL") {
        Ok(base) => {
            let db = format!("kenpo_{}_{}", name, uuid::Uuid::new_v4().simple());
            let mut c = diesel::PgConnection::establish(&base)
                .expect("KENPO_TEST_DATABASE_URL must be reachable");
            c.batch_execute(&format!("CREATE DATABASE {db}"))
                .expect("create test database");
            let (prefix, _) = base
                .rsplit_once('/')
                .expect("database URL with a database name");
            format!("{prefix}/{db}")
        }
        Err(_) => format!(
            "sqlite://{}",
            dir.0.join(format!("{name}.sqlite3")).display()
        ),
    }
}

/// The ephemeral store URL and a key prefix unique to this test.
pub fn fresh_ephemeral() -> (String, String) {
    match std::env::var("KENPO_TEST_REDIS_URL") {
        Ok(url) => (
            url,
            format!("kenpo:test:{}:", uuid::Uuid::new_v4().simple()),
        ),
        Err(_) => ("memory".into(), "kenpo:".into()),
    }
}

pub struct TestIdp {
    pub state: AppState,
    pub issuer: String,
    pub clock: Clock,
    pub dir: TempDir,
    /// Outbox files in the order this harness first saw them: file times are coarse (a few
    /// milliseconds), so two mails written close together cannot be ordered by them alone.
    pub seen_mail: std::sync::Mutex<Vec<PathBuf>>,
}

pub const SECRET: &str = "test-client-secret-0123456789abcdefghij";

impl TestIdp {
    pub async fn start() -> TestIdp {
        Self::start_with(|_| {}).await
    }

    /// Starts an IdP; `adjust` may change the configuration first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestIdp {
        let dir = TempDir::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let issuer = format!("http://localhost:{}", addr.port());
        let (eph_url, prefix) = fresh_ephemeral();
        let mut config = Config::default();
        config.server.issuer = issuer.clone();
        config.database.url = fresh_database(&dir, "idp");
        config.ephemeral.url = eph_url;
        config.ephemeral.prefix = prefix;
        config.secrets.key_file = dir.0.join("secret.key");
        config.mail.outbox_dir = dir.0.join("outbox");
        // Every test browser is 127.0.0.1 and the test clock stands still: the per-address
        // budgets of strangers would refuse the many sign-ins of one test (tests of those
        // budgets lower them again).
        config.throttle.authorize_per_minute = 1_000_000;
        config.throttle.stranger_posts_per_minute = 1_000_000;
        adjust(&mut config);
        config.validate().expect("test configuration is valid");
        let clock = Clock::fixed(time::OffsetDateTime::now_utc());
        let state = kenpo_idp::startup::build_state(config, clock.clone())
            .await
            .expect("IdP state");
        kenpo_idp::startup::spawn_background(&state);
        let app = kenpo_idp::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestIdp {
            state,
            issuer,
            clock,
            dir,
            seen_mail: Default::default(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Registers a client from a config entry.
    pub async fn client(&self, c: ClientConfig) {
        let client = NewClient::from_config(&c).expect("valid test client");
        self.state
            .clients()
            .upsert(client, "test", self.state.now())
            .await
            .expect("store client");
    }

    /// A confidential client with `client_secret_basic`, redirecting to `redirect`.
    pub async fn confidential(&self, id: &str, redirect: &str, alg: &str) {
        self.client(ClientConfig {
            client_id: id.into(),
            name: format!("Test {id}"),
            secret: Some(Secret::new(SECRET.into())),
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: vec![format!("{redirect}/signed-out")],
            id_token_signed_response_alg: Some(alg.into()),
            ..ClientConfig::default()
        })
        .await;
    }

    /// A member who finished onboarding, with a password and an authenticator app.
    pub async fn member(&self, user_id: &str, symbol: &str, number: &str) -> TestMember {
        let now = self.state.now();
        let members = self.state.members();
        let row = ImportedMember {
            user_id: UserId::parse(user_id).unwrap(),
            symbol: MemberSymbol::parse(symbol).unwrap(),
            number: MemberNumber::parse(number).unwrap(),
            birthdate: date!(1980 - 12 - 01),
            name: "山田 太郎".into(),
            name_kana: "ヤマダ タロウ".into(),
            email: Some(format!("{user_id}@example.jp")),
        };
        members
            .import(vec![row], now)
            .await
            .unwrap()
            .expect("no conflicts");
        let m = members
            .by_user_id(&UserId::parse(user_id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let password = format!("Pw-{user_id}-2025!");
        let hash = self
            .state
            .hasher
            .hash(&Secret::new(password.clone()))
            .await
            .unwrap();
        members.set_password(&m.id, hash, now).await.unwrap();
        members.confirm_birthdate(&m.id, now).await.unwrap();
        members
            .accept_terms(&m.id, &self.state.config.union.terms_version, now)
            .await
            .unwrap();
        members
            .set_email(&m.id, &format!("{user_id}@example.jp"), true, now)
            .await
            .unwrap();
        members.mark_onboarded(&m.id, now).await.unwrap();
        let secret = mfa::totp::new_secret();
        mfa::totp::enrol(&self.state.db, &self.state.sbox, &m.id, &secret, 0, now)
            .await
            .unwrap();
        let m = members.by_id(&m.id).await.unwrap().unwrap();
        TestMember {
            id: m.id,
            user_id: user_id.into(),
            password,
            totp_secret: secret,
            subject: m.subject,
            symbol: symbol.into(),
            number: number.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestMember {
    pub id: String,
    pub user_id: String,
    pub password: String,
    pub totp_secret: Vec<u8>,
    pub subject: String,
    pub symbol: String,
    pub number: String,
}

/// RFC 6238 TOTP computed independently of the IdP's library (ring's HMAC-SHA1).
pub fn totp_code(secret: &[u8], unix: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let counter = (unix / 30) as u64;
    let tag = ring::hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}

/// A browser: keeps cookies, does not follow redirects by itself.
#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
}

/// A fetched page.
pub struct Page {
    pub status: StatusCode,
    pub url: String,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} step={:?} alert={:?}",
            self.status,
            self.url,
            self.step(),
            self.alert()
        )
    }
}

impl Page {
    /// The `data-step` of the page's `<main>`.
    pub fn step(&self) -> Option<String> {
        let i = self.body.find("data-step=\"")? + 11;
        let rest = &self.body[i..];
        Some(rest[..rest.find('"')?].to_string())
    }

    /// The value of the first input named `name`.
    pub fn input(&self, name: &str) -> Option<String> {
        let pat = format!("name=\"{name}\" value=\"");
        let i = self.body.find(&pat)? + pat.len();
        let rest = &self.body[i..];
        Some(html_unescape(&rest[..rest.find('"')?]))
    }

    pub fn alert(&self) -> Option<String> {
        let i = self.body.find("role=\"alert\">")? + 13;
        let rest = &self.body[i..];
        Some(rest[..rest.find('<')?].to_string())
    }
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36")
            .build()
            .unwrap();
        Browser { http }
    }

    /// A new browser holding one cookie already (a device token kept from an earlier visit,
    /// without the session that came with it).
    pub fn with_cookie(origin: &str, name: &str, value: &str) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(
            &format!("{name}={value}; Path=/"),
            &url::Url::parse(origin).unwrap(),
        );
        let http = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36")
            .build()
            .unwrap();
        Browser { http }
    }

    async fn page(resp: Response) -> Page {
        let status = resp.status();
        let url = resp.url().to_string();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            url,
            body,
            headers,
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        Self::page(self.http.get(url).send().await.expect("GET")).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Self::page(self.http.post(url).form(form).send().await.expect("POST")).await
    }

    /// Follows redirects from `page` until a non-redirect answer, or a redirect to a URL
    /// starting with `stop` (returned as Err with that URL).
    pub async fn follow(&self, mut page: Page, stop: &str) -> Result<Page, String> {
        for _ in 0..20 {
            if !page.status.is_redirection() {
                return Ok(page);
            }
            let loc = page
                .headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .expect("Location")
                .to_string();
            let next = url::Url::parse(&page.url)
                .unwrap()
                .join(&loc)
                .unwrap()
                .to_string();
            if next.starts_with(stop) {
                return Err(next);
            }
            page = self.get(&next).await;
        }
        panic!("redirect loop");
    }

    /// Submits the form on `page` (hidden `csrf` and `flow` carried over) to `action`.
    pub async fn submit(&self, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = page.input("csrf").expect("the page has a CSRF token");
        let flow = page.input("flow");
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        if let Some(f) = &flow {
            form.push(("flow", f.as_str()));
        }
        form.extend_from_slice(fields);
        let base = url::Url::parse(&page.url).unwrap();
        self.post(base.join(action).unwrap().as_str(), &form).await
    }
}

/// Walks a sign-in from an authorization URL to the redirect back to `redirect_uri` (the URL
/// with the code), entering the password and a TOTP code when asked.
pub async fn sign_in(
    idp: &TestIdp,
    browser: &Browser,
    auth_url: &str,
    member: &TestMember,
    redirect_uri: &str,
) -> String {
    let page = browser.get(auth_url).await;
    let mut page = match browser.follow(page, redirect_uri).await {
        Ok(p) => p,
        Err(done) => return done,
    };
    for _ in 0..6 {
        let next = match page.step().as_deref() {
            Some("login") => {
                post_login(browser, &page, &member.user_id, &member.password, false).await
            }
            Some("mfa-totp") => answer_totp(idp, browser, &page, member).await,
            other => panic!(
                "unexpected page {other:?} ({}): {}",
                page.status,
                page.alert().unwrap_or_default()
            ),
        };
        page = match browser.follow(next, redirect_uri).await {
            Ok(p) => p,
            Err(done) => return done,
        };
    }
    panic!("sign-in did not finish");
}

/// The query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Claims of ours that the relying party reads.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MemberClaims {
    pub sid: Option<String>,
    pub member_symbol: Option<String>,
    pub member_number: Option<String>,
    pub member_branch: Option<String>,
}
impl openidconnect::AdditionalClaims for MemberClaims {}

pub type MemberIdToken = openidconnect::IdToken<
    MemberClaims,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJwsSigningAlgorithm,
>;

pub type RpClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// A relying party built with the openidconnect crate (an independent implementation).
pub struct Rp {
    pub client: RpClient,
    pub http: openidconnect::reqwest::Client,
    pub redirect: String,
    pub client_id: String,
}

/// One authorization request's secrets, kept by the relying party.
pub struct AuthStart {
    pub url: String,
    pub state: openidconnect::CsrfToken,
    pub nonce: openidconnect::Nonce,
    pub verifier: openidconnect::PkceCodeVerifier,
}

impl Rp {
    pub async fn discover(
        idp: &TestIdp,
        client_id: &str,
        secret: Option<&str>,
        redirect: &str,
    ) -> Rp {
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = openidconnect::core::CoreProviderMetadata::discover_async(
            openidconnect::IssuerUrl::new(idp.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .expect("discovery and JWKS");
        let client = openidconnect::core::CoreClient::from_provider_metadata(
            metadata,
            openidconnect::ClientId::new(client_id.into()),
            secret.map(|s| openidconnect::ClientSecret::new(s.into())),
        )
        .set_redirect_uri(openidconnect::RedirectUrl::new(redirect.into()).unwrap());
        Rp {
            client,
            http,
            redirect: redirect.into(),
            client_id: client_id.into(),
        }
    }

    pub fn start(&self, scopes: &[&str], extra: &[(&str, &str)]) -> AuthStart {
        let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
        let mut req = self
            .client
            .authorize_url(
                openidconnect::core::CoreAuthenticationFlow::AuthorizationCode,
                openidconnect::CsrfToken::new_random,
                openidconnect::Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in scopes {
            req = req.add_scope(openidconnect::Scope::new((*s).into()));
        }
        for (k, v) in extra {
            req = req.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = req.url();
        AuthStart {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    pub async fn exchange(
        &self,
        code: &str,
        verifier: openidconnect::PkceCodeVerifier,
    ) -> Result<openidconnect::core::CoreTokenResponse, String> {
        self.client
            .exchange_code(openidconnect::AuthorizationCode::new(code.into()))
            .map_err(|e| e.to_string())?
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => r.error().to_string(),
                other => other.to_string(),
            })
    }

    /// Verifies an ID token's signature and standard claims, and returns its claims with
    /// ours (`member_*`, `sid`).
    pub fn verify(
        &self,
        id_token: &str,
        nonce: &openidconnect::Nonce,
    ) -> openidconnect::IdTokenClaims<MemberClaims, openidconnect::core::CoreGenderClaim> {
        let token: MemberIdToken = id_token.parse().expect("an ID token");
        token
            .claims(&self.client.id_token_verifier(), nonce)
            .expect("the ID token verifies")
            .clone()
    }
}

/// Authorization code and state from a redirect back to the relying party.
pub fn code_of(redirect: &str) -> (String, String) {
    let q = query(redirect);
    (
        q.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code in {redirect}")),
        q.get("state").cloned().unwrap_or_default(),
    )
}

/// Calls a form endpoint with Basic client credentials.
pub async fn post_basic(
    url: &str,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (StatusCode, serde_json::Value, reqwest::header::HeaderMap) {
    let r = reqwest::Client::new()
        .post(url)
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        headers,
    )
}

// ---- second factors, mail and the account page ----

/// A mail as a member's mail program shows it (parsed by mail-parser, independently of the
/// IdP's lettre).
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn parse_mail(raw: &[u8]) -> Mail {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parseable mail");
    Mail {
        to: msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string(),
        subject: msg.subject().unwrap_or_default().to_string(),
        text: msg
            .body_text(0)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default(),
        html: msg
            .body_html(0)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default(),
    }
}

/// The code of an OTP mail: its text holds exactly one six-digit number (SPEC contract).
pub fn otp_of(mail: &Mail) -> String {
    let sixes: Vec<&str> = mail
        .text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| s.len() == 6)
        .collect();
    assert_eq!(sixes.len(), 1, "one six-digit number in {:?}", mail.text);
    sixes[0].to_string()
}

impl TestIdp {
    /// Mails written to the outbox folder, oldest first.
    pub fn outbox(&self) -> Vec<Mail> {
        self.outbox_files()
            .iter()
            .map(|p| parse_mail(&std::fs::read(p).expect("read mail")))
            .collect()
    }

    /// The outbox's `.eml` files, oldest first: in the order this harness first saw them, then
    /// by file time (which is coarse, a few milliseconds, so it cannot order close mails alone).
    pub fn outbox_files(&self) -> Vec<PathBuf> {
        let mut seen = self.seen_mail.lock().unwrap();
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.dir.0.join("outbox"))
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
                        .collect()
                })
                .unwrap_or_default();
        files.sort();
        for (_, p) in files {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        seen.clone()
    }

    /// Mails to `to`, oldest first.
    pub fn outbox_to(&self, to: &str) -> Vec<Mail> {
        self.outbox().into_iter().filter(|m| m.to == to).collect()
    }

    /// The last mail to `to`.
    pub fn last_outbox_to(&self, to: &str) -> Mail {
        self.outbox_to(to)
            .pop()
            .unwrap_or_else(|| panic!("no mail to {to}"))
    }

    /// A member through every first-login step but the last: password set, birthdate, terms
    /// and address confirmed, `factor` chosen, nothing enrolled yet.
    pub async fn onboarding_member(
        &self,
        user_id: &str,
        symbol: &str,
        number: &str,
        factor: &str,
    ) -> TestMember {
        let now = self.state.now();
        let members = self.state.members();
        let row = ImportedMember {
            user_id: UserId::parse(user_id).unwrap(),
            symbol: MemberSymbol::parse(symbol).unwrap(),
            number: MemberNumber::parse(number).unwrap(),
            birthdate: date!(1980 - 12 - 01),
            name: "山田 花子".into(),
            name_kana: "ヤマダ ハナコ".into(),
            email: Some(format!("{user_id}@example.jp")),
        };
        members
            .import(vec![row], now)
            .await
            .unwrap()
            .expect("no conflicts");
        let m = members
            .by_user_id(&UserId::parse(user_id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let password = format!("Pw-{user_id}-2025!");
        let hash = self
            .state
            .hasher
            .hash(&Secret::new(password.clone()))
            .await
            .unwrap();
        members.set_password(&m.id, hash, now).await.unwrap();
        members.confirm_birthdate(&m.id, now).await.unwrap();
        members
            .accept_terms(&m.id, &self.state.config.union.terms_version, now)
            .await
            .unwrap();
        members
            .set_email(&m.id, &format!("{user_id}@example.jp"), true, now)
            .await
            .unwrap();
        members
            .choose_factor(&m.id, Some(factor), now)
            .await
            .unwrap();
        TestMember {
            id: m.id,
            user_id: user_id.into(),
            password,
            totp_secret: Vec::new(),
            subject: m.subject,
            symbol: symbol.into(),
            number: number.into(),
        }
    }

    /// A member who finished onboarding with email OTP as their only factor.
    pub async fn email_member(&self, user_id: &str, symbol: &str, number: &str) -> TestMember {
        let m = self
            .onboarding_member(user_id, symbol, number, "email")
            .await;
        let now = self.state.now();
        let members = self.state.members();
        members.set_email_otp(&m.id, true, now).await.unwrap();
        members
            .set_preferred_factor(&m.id, "email", now)
            .await
            .unwrap();
        members.mark_onboarded(&m.id, now).await.unwrap();
        m
    }

    /// Audit event kinds of a member, newest first.
    pub async fn audit_kinds(&self, member_id: &str) -> Vec<String> {
        self.state
            .audit()
            .for_member(member_id, 200)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

impl Browser {
    /// POSTs JSON (as the page scripts do) and returns the status and JSON answer.
    pub async fn json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let r = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            .expect("POST JSON");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// Opens the login page and signs in with the password; returns the page that follows (a
/// second-factor or enrolment step, or the done page).
pub async fn password_step(idp: &TestIdp, browser: &Browser, member: &TestMember) -> Page {
    let login = browser.get(&idp.url("/login")).await;
    assert_eq!(login.step().as_deref(), Some("login"));
    let next = post_login(browser, &login, &member.user_id, &member.password, false).await;
    browser
        .follow(next, "http://never/")
        .await
        .expect("stays on the IdP")
}

/// Posts the login form of `page` (ticking "remember me" when `remember`); the answer is
/// returned unfollowed.
pub async fn post_login(
    browser: &Browser,
    page: &Page,
    user_id: &str,
    password: &str,
    remember: bool,
) -> Page {
    let mut form = vec![("username", user_id), ("password", password)];
    if remember {
        form.push(("remember", "yes"));
    }
    browser.submit(page, "/login", &form).await
}

/// Answers the authenticator-app step `page` with the member's code for a fresh 30-second step
/// (the IdP refuses a step used before); the answer is returned unfollowed.
pub async fn answer_totp(
    idp: &TestIdp,
    browser: &Browser,
    page: &Page,
    member: &TestMember,
) -> Page {
    idp.clock.advance(time::Duration::seconds(30));
    let code = totp_code(&member.totp_secret, idp.state.now());
    browser
        .submit(page, "/signin/mfa-totp", &[("otp", &code)])
        .await
}

/// Signs a TOTP member in fully (password and code) on the IdP itself; returns the account page.
pub async fn account_signed_in(idp: &TestIdp, b: &Browser, m: &TestMember) -> Page {
    let page = password_step(idp, b, m).await;
    assert_eq!(page.step().as_deref(), Some("mfa-totp"), "{page:?}");
    let r = answer_totp(idp, b, &page, m).await;
    b.follow(r, "http://never/").await.unwrap();
    let account = b.get(&idp.url("/account")).await;
    assert_eq!(account.step().as_deref(), Some("account"), "{account:?}");
    account
}

/// RFC 4648 base32 (upper case, no padding required), for keys shown as text.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

/// A real (if small) SMTP server on loopback that accepts every mail and keeps its data.
pub struct SmtpSink {
    pub port: u16,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r);
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.trim_end().to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("HELO")
                            || cmd.starts_with("MAIL")
                            || cmd.starts_with("RCPT")
                            || cmd.starts_with("RSET")
                            || cmd.starts_with("NOOP")
                        {
                            b"250 ok\r\n"
                        } else if cmd.starts_with("DATA") {
                            let _ = w.write_all(b"354 go on\r\n").await;
                            let mut data = Vec::new();
                            loop {
                                let mut l = String::new();
                                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if l == ".\r\n" || l == ".\n" {
                                    break;
                                }
                                // Dot-stuffing (RFC 5321 4.5.2).
                                let l = l.strip_prefix('.').unwrap_or(&l);
                                data.extend_from_slice(l.as_bytes());
                            }
                            store.lock().unwrap().push(data);
                            b"250 queued\r\n"
                        } else if cmd.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        let _ = w.write_all(reply).await;
                    }
                });
            }
        });
        SmtpSink { port, received }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|m| parse_mail(m))
            .collect()
    }
}

// ---- onboarding and recovery helpers ----

/// A freshly imported member: nothing confirmed, signing in with the initial password.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub id: String,
    pub user_id: String,
    pub symbol: String,
    pub number: String,
    pub birthdate: time::Date,
    pub email: Option<String>,
    /// 記号 + 番号 + birthdate as YYYYMMDD (the SPEC's initial password).
    pub initial_password: String,
}

impl TestIdp {
    /// Imports a member as staff would (initial password valid from now).
    pub async fn import_member(
        &self,
        user_id: &str,
        symbol: &str,
        number: &str,
        birthdate: time::Date,
        email: Option<&str>,
    ) -> NewMember {
        let members = self.state.members();
        let row = ImportedMember {
            user_id: UserId::parse(user_id).unwrap(),
            symbol: MemberSymbol::parse(symbol).unwrap(),
            number: MemberNumber::parse(number).unwrap(),
            birthdate,
            name: "組合 一郎".into(),
            name_kana: "クミアイ イチロウ".into(),
            email: email.map(String::from),
        };
        members
            .import(vec![row], self.state.now())
            .await
            .unwrap()
            .expect("no conflicts");
        let m = members
            .by_user_id(&UserId::parse(user_id).unwrap())
            .await
            .unwrap()
            .unwrap();
        NewMember {
            id: m.id,
            user_id: user_id.into(),
            symbol: symbol.into(),
            number: number.into(),
            birthdate,
            email: email.map(String::from),
            initial_password: format!(
                "{symbol}{number}{:04}{:02}{:02}",
                birthdate.year(),
                u8::from(birthdate.month()),
                birthdate.day()
            ),
        }
    }

    /// The member row as stored now.
    pub async fn member_row(&self, id: &str) -> kenpo_idp::store::members::Member {
        self.state.members().by_id(id).await.unwrap().unwrap()
    }

    /// Every mail in the outbox folder, oldest first, MIME-decoded.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.outbox_files()
            .iter()
            .filter_map(|p| ReceivedMail::parse(&std::fs::read(p).ok()?))
            .collect()
    }

    pub fn mails_to(&self, to: &str) -> Vec<ReceivedMail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits (up to 10 s) until `to` has at least `n` mails, and returns them all.
    pub async fn wait_mails_to(&self, to: &str, n: usize) -> Vec<ReceivedMail> {
        for _ in 0..200 {
            let m = self.mails_to(to);
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} mails to {to}, found {}",
            self.mails_to(to).len()
        );
    }
}

/// A mail as a member's mail program shows it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub to: Vec<String>,
    pub from: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl ReceivedMail {
    pub fn parse(raw: &[u8]) -> Option<ReceivedMail> {
        let msg = mail_parser::MessageParser::default().parse(raw)?;
        let addrs = |a: Option<&mail_parser::Address>| -> Vec<String> {
            a.map(|a| {
                a.iter()
                    .filter_map(|x| x.address().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
        };
        Some(ReceivedMail {
            to: addrs(msg.to()),
            from: addrs(msg.from()),
            subject: msg.subject().unwrap_or_default().to_string(),
            text: msg
                .body_text(0)
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default(),
            html: msg
                .body_html(0)
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default(),
        })
    }

    /// Every http(s) URL in the text part.
    pub fn links(&self) -> Vec<String> {
        self.text
            .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(String::from)
            .collect()
    }

    /// The one link of a verification or reset mail (SPEC: exactly one).
    pub fn link(&self) -> String {
        let l = self.links();
        assert_eq!(l.len(), 1, "exactly one link in {:?}", self.text);
        l[0].clone()
    }
}

impl Page {
    /// The `value` of the input named `name`, wherever the attribute sits in its tag.
    pub fn value_of(&self, name: &str) -> Option<String> {
        let pat = format!("name=\"{name}\"");
        let i = self.body.find(&pat)?;
        let start = self.body[..i].rfind('<')?;
        let end = i + self.body[i..].find('>')?;
        let tag = &self.body[start..end];
        let v = tag.find("value=\"")? + 7;
        let rest = &tag[v..];
        Some(html_unescape(&rest[..rest.find('"')?]))
    }

    /// The whole text of the `role="alert"` element (nested lists included), tags removed.
    pub fn alert_text(&self) -> Option<String> {
        let i = self.body.find("role=\"alert\"")?;
        let open = i + self.body[i..].find('>')? + 1;
        let close = open + self.body[open..].find("</div>")?;
        let mut out = String::new();
        let mut in_tag = false;
        for c in self.body[open..close].chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        Some(html_unescape(
            out.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str(),
        ))
    }

    /// The value a `Set-Cookie` header of this answer gives cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| c.split(';').next()?.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }

    /// The body with per-request values (CSP nonce, CSRF token) blanked, to compare answers.
    pub fn stable_body(&self) -> String {
        let mut s = self.body.clone();
        for attr in ["nonce=\"", "name=\"csrf\" value=\""] {
            let mut from = 0;
            while let Some(i) = s[from..].find(attr) {
                let start = from + i + attr.len();
                let Some(len) = s[start..].find('"') else {
                    break;
                };
                s.replace_range(start..start + len, "…");
                from = start;
            }
        }
        s
    }
}

/// Shows the outcome of a page for an assertion message.
pub fn describe(page: &Page) -> String {
    format!(
        "{} {} step={:?} location={:?} alert={:?}",
        page.status,
        page.url,
        page.step(),
        page.location(),
        page.alert_text()
    )
}

/// The authenticator-app key shown on an `enroll-totp` page (SPEC: in `[data-totp-secret]`).
pub fn totp_key_on(page: &Page) -> String {
    let i = page
        .body
        .find("data-totp-secret")
        .expect("the key is on the page");
    let start = i + page.body[i..].find('>').expect("tag end") + 1;
    let end = start + page.body[start..].find('<').expect("text end");
    html_unescape(&page.body[start..end])
}

/// The `<input …>` tag of the field named `name` on `page`.
pub fn input_tag<'a>(page: &'a Page, name: &str) -> &'a str {
    let at = page
        .body
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no field {name}: {page:?}"));
    let start = page.body[..at]
        .rfind("<input")
        .expect("inside an input tag");
    let end = at + page.body[at..].find('>').expect("the tag ends");
    &page.body[start..=end]
}

/// ASVS V6.2.6 and V6.2.7: a password field is masked, says what it holds so that browsers and
/// password managers fill it, and nothing on the page stops pasting into it.
pub fn assert_password_field(page: &Page, name: &str, autocomplete: &str) {
    let tag = input_tag(page, name);
    assert!(tag.contains("type=\"password\""), "{tag}");
    assert!(
        tag.contains(&format!("autocomplete=\"{autocomplete}\"")),
        "{tag}"
    );
    for blocker in ["onpaste", "oncopy", "ondrop", "readonly", "disabled"] {
        assert!(!tag.contains(blocker), "{tag}");
    }
    assert!(!page.body.contains("onpaste"), "{page:?}");
}
