//! What members and relying parties do, over HTTP through the load balancers: a relying party
//! (PKCE, code exchange, ID token checked with jsonwebtoken against the JWKS it fetched once,
//! refresh, userinfo), sign-ins with each factor, members seeded as staff would, and the
//! tallies the load scenarios keep.

use crate::cluster::{Env, RP_SECRET, RPS};
use crate::support::{Browser, Page, base32_decode, otp_of, query, totp_code, totp_key_on};
use base64::Engine;
use kenpo_idp::store::members::ImportedMember;
use kenpo_shared::Secret;
use kenpo_shared::ids::{MemberNumber, MemberSymbol, UserId};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::macros::date;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_token() -> String {
    b64(uuid::Uuid::new_v4().as_bytes()) + &b64(uuid::Uuid::new_v4().as_bytes())
}

/// One authorization request's secrets.
pub struct Start {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub id_token: Option<String>,
}

/// A failed protocol call: the HTTP status and the OAuth `error` code.
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: u16,
    pub error: String,
    pub retry_after: Option<String>,
    pub took: Duration,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} after {:?}", self.status, self.error, self.took)
    }
}

/// A confidential relying party registered in the IdP configuration.
pub struct Rp {
    pub id: &'static str,
    pub alg: jsonwebtoken::Algorithm,
    pub redirect: &'static str,
    pub issuer: String,
    pub jwks: jsonwebtoken::jwk::JwkSet,
    http: reqwest::Client,
}

impl Rp {
    /// Fetches the JWKS once, from whichever replica the load balancer picks, as a relying
    /// party caching it would.
    pub async fn new(c: &Env, id: &str) -> Rp {
        Self::with_jwks_from(c, id, &c.idp_url("/jwks")).await
    }

    /// Like [`Rp::new`], with the JWKS fetched from `jwks_url` (one replica directly).
    pub async fn with_jwks_from(c: &Env, id: &str, jwks_url: &str) -> Rp {
        let (id, alg, redirect) = RPS
            .iter()
            .copied()
            .find(|(i, _, _)| *i == id)
            .expect("a configured relying party");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(40))
            .build()
            .expect("client");
        let jwks = http
            .get(jwks_url)
            .send()
            .await
            .expect("JWKS")
            .json()
            .await
            .expect("JWKS JSON");
        Rp {
            id,
            alg: match alg {
                "RS256" => jsonwebtoken::Algorithm::RS256,
                "EdDSA" => jsonwebtoken::Algorithm::EdDSA,
                _ => jsonwebtoken::Algorithm::ES256,
            },
            redirect,
            issuer: c.idp_proxy.url(),
            jwks,
            http,
        }
    }

    pub fn start(&self, scopes: &str) -> Start {
        let verifier = random_token();
        let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
        let (state, nonce) = (random_token(), random_token());
        let q = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.id),
            ("redirect_uri", self.redirect),
            ("scope", scopes),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .expect("query");
        Start {
            url: format!("{}/authorize?{q}", self.issuer),
            state,
            nonce,
            verifier,
        }
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<Tokens, Refused> {
        let t = Instant::now();
        let r = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(self.id, Some(RP_SECRET))
            .form(form)
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                return Err(Refused {
                    status: 0,
                    error: e.to_string(),
                    retry_after: None,
                    took: t.elapsed(),
                });
            }
        };
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(Refused {
                status,
                error: body["error"].as_str().unwrap_or("-").to_string(),
                retry_after,
                took: t.elapsed(),
            });
        }
        Ok(Tokens {
            access: body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            refresh: body["refresh_token"].as_str().map(String::from),
            id_token: body["id_token"].as_str().map(String::from),
        })
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Tokens, Refused> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, Refused> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Checks an ID token's signature (with the JWKS fetched at start), issuer, audience,
    /// expiry (60 s leeway) and nonce.
    pub fn verify(&self, id_token: &str, nonce: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(id_token).map_err(|e| e.to_string())?;
        let kid = header.kid.ok_or("no kid")?;
        let jwk = self
            .jwks
            .find(&kid)
            .ok_or_else(|| format!("kid {kid} is not in the JWKS this relying party fetched"))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut v = jsonwebtoken::Validation::new(self.alg);
        v.set_audience(&[self.id]);
        v.set_issuer(&[&self.issuer]);
        let claims = jsonwebtoken::decode::<Value>(id_token, &key, &v)
            .map_err(|e| e.to_string())?
            .claims;
        if claims["nonce"] != json!(nonce) {
            return Err("nonce".into());
        }
        Ok(claims)
    }

    pub async fn userinfo(&self, access: &str) -> Result<Value, u16> {
        let r = self
            .http
            .get(format!("{}/userinfo", self.issuer))
            .bearer_auth(access)
            .send()
            .await
            .map_err(|_| 0u16)?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(status);
        }
        r.json().await.map_err(|_| 0u16)
    }
}

/// A member as the tests know them.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub user_id: String,
    pub password: String,
    pub email: String,
    pub number: String,
    pub totp_secret: Vec<u8>,
    /// Seconds added to the clock for the next TOTP code (a code of the next step when the
    /// current one was just used: codes are accepted once).
    pub totp_ahead: i64,
}

/// A member who finished onboarding, seeded as staff tooling would (straight in the
/// database), with an authenticator app (`totp`) or email codes (`email`) as factor.
pub async fn seed_member(c: &Env, user_id: &str, number: &str, factor: &str) -> Member {
    let s = c.staff();
    let now = s.now();
    let members = s.members();
    let email = format!("{user_id}@example.jp");
    members
        .import(
            vec![ImportedMember {
                user_id: UserId::parse(user_id).expect("user id"),
                symbol: MemberSymbol::parse("34").expect("symbol"),
                number: MemberNumber::parse(number).expect("number"),
                birthdate: date!(1980 - 12 - 01),
                name: "健保 花子".into(),
                name_kana: "ケンポ ハナコ".into(),
                email: Some(email.clone()),
            }],
            now,
        )
        .await
        .expect("import")
        .expect("no conflicts");
    let m = members
        .by_user_id(&UserId::parse(user_id).expect("user id"))
        .await
        .expect("read")
        .expect("imported");
    let password = format!("Pw-{user_id}-2026!");
    let hash = s
        .hasher
        .hash(&Secret::new(password.clone()))
        .await
        .expect("hash");
    members
        .set_password(&m.id, hash, now)
        .await
        .expect("password");
    members
        .confirm_birthdate(&m.id, now)
        .await
        .expect("birthdate");
    members
        .accept_terms(&m.id, &s.config.union.terms_version, now)
        .await
        .expect("terms");
    members
        .set_email(&m.id, &email, true, now)
        .await
        .expect("email");
    let mut totp_secret = Vec::new();
    match factor {
        "totp" => {
            totp_secret = kenpo_idp::mfa::totp::new_secret();
            kenpo_idp::mfa::totp::enrol(&s.db, &s.sbox, &m.id, &totp_secret, 0, now)
                .await
                .expect("totp");
        }
        _ => {
            members
                .choose_factor(&m.id, Some("email"), now)
                .await
                .expect("factor");
            members
                .set_email_otp(&m.id, true, now)
                .await
                .expect("email otp");
            members
                .set_preferred_factor(&m.id, "email", now)
                .await
                .expect("preferred");
        }
    }
    members.mark_onboarded(&m.id, now).await.expect("onboarded");
    Member {
        id: m.id,
        user_id: user_id.into(),
        password,
        email,
        number: number.into(),
        totp_secret,
        totp_ahead: 0,
    }
}

/// A freshly imported member (first login ahead), with the initial password.
pub async fn import_new(c: &Env, user_id: &str, number: &str) -> Member {
    let s = c.staff();
    let email = format!("{user_id}@example.jp");
    s.members()
        .import(
            vec![ImportedMember {
                user_id: UserId::parse(user_id).expect("user id"),
                symbol: MemberSymbol::parse("34").expect("symbol"),
                number: MemberNumber::parse(number).expect("number"),
                birthdate: date!(1980 - 12 - 01),
                name: "健保 一郎".into(),
                name_kana: "ケンポ イチロウ".into(),
                email: Some(email.clone()),
            }],
            s.now(),
        )
        .await
        .expect("import")
        .expect("no conflicts");
    let m = s
        .members()
        .by_user_id(&UserId::parse(user_id).expect("user id"))
        .await
        .expect("read")
        .expect("imported");
    Member {
        id: m.id,
        user_id: user_id.into(),
        password: format!("34{number}19801201"),
        email,
        number: number.into(),
        totp_secret: Vec::new(),
        totp_ahead: 0,
    }
}

/// Follows redirects; `Err(url)` when one leads to `stop` (a relying party's redirect URI).
pub async fn follow(b: &Browser, page: Page, stop: &str) -> Result<Page, String> {
    b.follow(page, stop).await
}

/// What a sign-in attempt ended with.
pub type Outcome = Result<String, String>;

fn describe(p: &Page) -> String {
    format!(
        "{} {} step={:?} alert={:?}",
        p.status,
        p.url,
        p.step(),
        p.alert_text()
    )
}

/// Signs `m` in from `url` (an authorization request or a portal's sign-in link) with the
/// password and the member's factor; returns the redirect to `stop` (with the code).
pub async fn sign_in(c: &Env, b: &Browser, url: &str, m: &Member, stop: &str) -> Outcome {
    let mut page = match follow(b, b.get(url).await, stop).await {
        Ok(p) => p,
        Err(done) => return Ok(done),
    };
    for _ in 0..6 {
        let next = match page.step().as_deref() {
            Some("login") => {
                b.submit(
                    &page,
                    "/login",
                    &[("username", &m.user_id), ("password", &m.password)],
                )
                .await
            }
            Some("mfa-totp") => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp() + m.totp_ahead;
                let code = totp_code(&m.totp_secret, now);
                b.submit(&page, "/signin/mfa-totp", &[("otp", &code)]).await
            }
            Some("mfa-email") => {
                let mail = c
                    .smtp
                    .mails_to(&m.email)
                    .last()
                    .cloned()
                    .ok_or_else(|| format!("no code mailed to {}", m.email))?;
                let code = otp_of(&mail);
                b.submit(&page, "/signin/mfa-email", &[("otp", &code)])
                    .await
            }
            _ => return Err(describe(&page)),
        };
        page = match follow(b, next, stop).await {
            Ok(p) => p,
            Err(done) => return Ok(done),
        };
    }
    Err(format!("sign-in did not finish: {}", describe(&page)))
}

/// Like [`sign_in`] for an email-code member, waiting for the mail of *this* sign-in.
pub async fn sign_in_email(c: &Env, b: &Browser, url: &str, m: &Member, stop: &str) -> Outcome {
    let page = match follow(b, b.get(url).await, stop).await {
        Ok(p) => p,
        Err(done) => return Ok(done),
    };
    if page.step().as_deref() != Some("login") {
        return Err(describe(&page));
    }
    let seen = c.smtp.mails_to(&m.email).len();
    let next = b
        .submit(
            &page,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    let page = match follow(b, next, stop).await {
        Ok(p) => p,
        Err(done) => return Ok(done),
    };
    if page.step().as_deref() != Some("mfa-email") {
        return Err(describe(&page));
    }
    let mail = c
        .smtp
        .wait_new(&m.email, seen, Duration::from_secs(10))
        .await
        .ok_or("no code mailed")?;
    let next = b
        .submit(&page, "/signin/mfa-email", &[("otp", &otp_of(&mail))])
        .await;
    match follow(b, next, stop).await {
        Ok(p) => Err(describe(&p)),
        Err(done) => Ok(done),
    }
}

/// A whole sign-in at a relying party: authorize, pages, code exchange, ID token check.
pub async fn rp_sign_in(c: &Env, rp: &Rp, b: &Browser, m: &Member) -> Result<Tokens, String> {
    let start = rp.start("openid profile email member");
    let back = if m.totp_secret.is_empty() {
        sign_in_email(c, b, &start.url, m, rp.redirect).await?
    } else {
        sign_in(c, b, &start.url, m, rp.redirect).await?
    };
    let q = query(&back);
    if q.get("state") != Some(&start.state) {
        return Err(format!("state mismatch in {back}"));
    }
    let code = q.get("code").ok_or_else(|| format!("no code in {back}"))?;
    let tokens = rp
        .exchange(code, &start.verifier)
        .await
        .map_err(|e| format!("exchange: {e}"))?;
    let id = tokens.id_token.as_deref().ok_or("no ID token")?;
    rp.verify(id, &start.nonce)
        .map_err(|e| format!("ID token: {e}"))?;
    Ok(tokens)
}

/// First login through every onboarding page, enrolling `factor` (`totp`, `email`,
/// `passkey`); returns the member as they are afterwards and the redirect to the relying
/// party.
pub async fn first_login(
    c: &Env,
    b: &Browser,
    url: &str,
    m: &Member,
    factor: &str,
    stop: &str,
) -> Result<(Member, String), String> {
    let mut m = m.clone();
    let expect = |p: Page, step: &str| -> Result<Page, String> {
        if p.step().as_deref() == Some(step) {
            Ok(p)
        } else {
            Err(format!("expected {step}: {}", describe(&p)))
        }
    };
    let go = |p: Page| async move { follow(b, p, stop).await };
    let page = expect(go(b.get(url).await).await?, "login")?;
    let p = b
        .submit(
            &page,
            "/login",
            &[("username", &m.user_id), ("password", &m.password)],
        )
        .await;
    let page = expect(go(p).await?, "birthdate")?;
    let p = b
        .submit(&page, "/signin/birthdate", &[("birthdate", "1980-12-01")])
        .await;
    let page = expect(go(p).await?, "terms")?;
    let p = b.submit(&page, "/signin/terms", &[("agree", "yes")]).await;
    let page = expect(go(p).await?, "email")?;
    let seen = c.smtp.mails_to(&m.email).len();
    let p = b
        .submit(&page, "/signin/email", &[("email", &m.email)])
        .await;
    let sent = expect(go(p).await?, "email-sent")?;
    let mail = c
        .smtp
        .wait_new(&m.email, seen, Duration::from_secs(10))
        .await
        .ok_or("no verification mail")?;
    let at = mail.text.find("http").ok_or("no link")?;
    let link: String = mail.text[at..]
        .chars()
        .take_while(|c| c.is_ascii_graphic() && !"<>\"'".contains(*c))
        .collect();
    // The link opened on the phone (another browser, another replica).
    let opened = Browser::new().get(&link).await;
    if opened.step().as_deref() != Some("email-verified") {
        return Err(format!("verification link: {}", describe(&opened)));
    }
    let p = b
        .submit(&sent, "/signin/email-sent", &[("continue", "yes")])
        .await;
    let page = expect(go(p).await?, "method")?;
    let p = b
        .submit(&page, "/signin/method", &[("method", factor)])
        .await;
    let page = expect(go(p).await?, "new-password")?;
    let password = "Sakura-Tree-42!".to_string();
    let seen = c.smtp.mails_to(&m.email).len();
    let p = b
        .submit(
            &page,
            "/signin/new-password",
            &[
                ("new_password", &password),
                ("new_password_confirm", &password),
            ],
        )
        .await;
    m.password = password;
    let page = go(p).await?;
    let done = match factor {
        "totp" => {
            let page = expect(page, "enroll-totp")?;
            let secret = base32_decode(&totp_key_on(&page)).ok_or("a base32 key")?;
            let code = totp_code(&secret, time::OffsetDateTime::now_utc().unix_timestamp());
            m.totp_secret = secret;
            b.submit(&page, "/signin/enroll-totp", &[("otp", &code)])
                .await
        }
        "email" => {
            let page = expect(page, "enroll-email")?;
            let mail = c
                .smtp
                .wait_new(&m.email, seen, Duration::from_secs(10))
                .await
                .ok_or("no enrolment code")?;
            b.submit(&page, "/signin/enroll-email", &[("otp", &otp_of(&mail))])
                .await
        }
        "passkey" => {
            let page = expect(page, "enroll-passkey")?;
            let mut auth = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
            let (status, answer) =
                register_passkey(c, b, &page, "/signin/enroll-passkey", &mut auth).await;
            if status != 200 {
                return Err(format!("passkey enrolment: {status} {answer}"));
            }
            let to = answer["redirect"].as_str().ok_or("no redirect")?;
            if to.starts_with(stop) {
                return Ok((m, to.to_string()));
            }
            b.get(&c.idp_url(to)).await
        }
        other => return Err(format!("unknown factor {other}")),
    };
    match go(done).await {
        Err(back) => Ok((m, back)),
        Ok(p) if p.step().as_deref() == Some("done") => Ok((m, String::new())),
        Ok(p) => Err(format!("after enrolment: {}", describe(&p))),
    }
}

/// Registers a passkey through a page's JSON endpoints with a software authenticator.
pub async fn register_passkey(
    c: &Env,
    b: &Browser,
    page: &Page,
    base: &str,
    auth: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
) -> (u16, Value) {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::prelude::CreationChallengeResponse;
    let csrf = page.input("csrf").unwrap_or_default();
    let (st, opts) = b
        .json(
            &c.idp_url(&format!("{base}/options")),
            &json!({"csrf": csrf, "flow": page.input("flow")}),
        )
        .await;
    if st != 200 {
        return (st.as_u16(), opts);
    }
    let mut ccr: CreationChallengeResponse = match serde_json::from_value(opts["options"].clone()) {
        Ok(c) => c,
        Err(e) => return (0, json!(e.to_string())),
    };
    // The software authenticator cannot keep resident keys (see the e2e factors tests).
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        sel.require_resident_key = false;
    }
    let origin = url::Url::parse(&c.idp_proxy.url()).expect("origin");
    let reg = match auth.do_registration(origin, ccr) {
        Ok(r) => r,
        Err(e) => return (0, json!(format!("{e:?}"))),
    };
    let body = json!({
        "csrf": csrf,
        "flow": page.input("flow"),
        "label": "クラスタのテスト端末",
        "ceremony": opts["ceremony"],
        "credential": reg,
    });
    let (st, answer) = b.json(&c.idp_url(&format!("{base}/finish")), &body).await;
    (st.as_u16(), answer)
}

/// Counts of what the load workers saw.
#[derive(Default)]
pub struct Tally {
    inner: Mutex<TallyInner>,
}

#[derive(Default, Clone)]
pub struct TallyInner {
    pub counts: BTreeMap<String, u64>,
    pub errors: Vec<String>,
    pub max_latency: Duration,
}

impl Tally {
    pub fn count(&self, what: &str) {
        *self
            .inner
            .lock()
            .unwrap()
            .counts
            .entry(what.into())
            .or_default() += 1;
    }

    pub fn error(&self, what: &str, detail: String) {
        self.count(what);
        let mut t = self.inner.lock().unwrap();
        if t.errors.len() < 20 {
            t.errors.push(format!("{what}: {detail}"));
        }
    }

    pub fn latency(&self, d: Duration) {
        let mut t = self.inner.lock().unwrap();
        t.max_latency = t.max_latency.max(d);
    }

    pub fn get(&self, what: &str) -> u64 {
        self.inner
            .lock()
            .unwrap()
            .counts
            .get(what)
            .copied()
            .unwrap_or(0)
    }

    pub fn snapshot(&self) -> TallyInner {
        self.inner.lock().unwrap().clone()
    }
}
