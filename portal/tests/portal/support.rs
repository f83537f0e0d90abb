//! Test harness: a portal state with a fresh database, a stand-in IdP, requests in-process.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use kenpo_portal::auth::session::PortalSession;
use kenpo_portal::config::Config;
use kenpo_portal::import::{self, EncodingChoice, ImportError, Kind, Options, Report};
use kenpo_portal::state::AppState;
use kenpo_shared::{Clock, Secret};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

pub const CLIENT_ID: &str = "kenpo-portal";
pub const SECRET: &str = "portal-test-secret-0123456789abcdef";
/// 2025-12-01 12:00 JST: a fixed "now" so months and years are predictable.
pub const NOW: time::OffsetDateTime = time::macros::datetime!(2025-12-01 03:00 UTC);

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("kenpo-portal-test-{}", uuid::Uuid::new_v4()));
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
pub fn fresh_database(dir: &TempDir) -> String {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    match std::env::var("KENPO_TEST_DATABASE_URL") {
        Ok(base) => {
            let db = format!("kenpo_portal_{}", uuid::Uuid::new_v4().simple());
            let mut c = diesel::PgConnection::establish(&base)
                .expect("KENPO_TEST_DATABASE_URL must be reachable");
            c.batch_execute(&format!("CREATE DATABASE {db}"))
                .expect("create test database");
            let (prefix, _) = base.rsplit_once('/').expect("a database URL with a name");
            format!("{prefix}/{db}")
        }
        Err(_) => format!("sqlite://{}", dir.0.join("portal.sqlite3").display()),
    }
}

/// The store URL and a key prefix unique to this test.
pub fn fresh_ephemeral() -> (String, String) {
    match std::env::var("KENPO_TEST_REDIS_URL") {
        Ok(url) => (
            url,
            format!("kenpo:test:portal:{}:", uuid::Uuid::new_v4().simple()),
        ),
        Err(_) => ("memory".into(), "kenpo:portal:".into()),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A stand-in IdP: discovery, one ES256 key, a token endpoint answering with whatever the
/// test put in `codes` (code → ID token claims) and refreshing while `refresh_ok` holds.
#[derive(Clone)]
pub struct FakeIdp {
    pub issuer: String,
    key: Arc<EcdsaKeyPair>,
    pub kid: String,
    pub codes: Arc<Mutex<HashMap<String, Value>>>,
    pub refresh_ok: Arc<AtomicBool>,
    /// The claims the next refreshed ID token carries (defaults to the sign-in's).
    pub refresh_claims: Arc<Mutex<Option<Value>>>,
    pub token_calls: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// The portal's clock, so tokens are issued "now".
    pub clock: Clock,
}

impl FakeIdp {
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    pub async fn start(clock: Clock) -> FakeIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let idp = FakeIdp {
            issuer,
            key: Arc::new(key),
            kid: "test-es256".into(),
            codes: Arc::default(),
            refresh_ok: Arc::new(AtomicBool::new(true)),
            refresh_claims: Arc::default(),
            token_calls: Arc::default(),
            clock,
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(idp.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        idp
    }

    pub fn jwk(&self) -> Value {
        let public = self.key.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": b64(&public[1..33]), "y": b64(&public[33..65]),
        })
    }

    /// A compact JWS over `header` and `claims` with this IdP's key.
    pub fn sign(&self, header: Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }

    pub fn id_token(&self, claims: &Value) -> String {
        self.sign(
            json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    /// Standard ID token claims for a member of household `symbol`/`number`.
    pub fn member_claims(
        &self,
        sub: &str,
        sid: &str,
        symbol: &str,
        number: &str,
        nonce: &str,
    ) -> Value {
        let now = self.now();
        json!({
            "iss": self.issuer, "aud": CLIENT_ID, "sub": sub, "sid": sid, "nonce": nonce,
            "iat": now, "exp": now + 600, "auth_time": now, "name": "健保 花子",
            "member_symbol": symbol, "member_number": number, "member_branch": "00",
        })
    }

    /// A valid logout token for `sid`, with `change` applied to its claims.
    pub fn logout_token(&self, sub: &str, sid: &str, change: impl FnOnce(&mut Value)) -> String {
        let now = self.now();
        let mut claims = json!({
            "iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": uuid::Uuid::new_v4().to_string(), "sub": sub, "sid": sid,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        });
        change(&mut claims);
        self.sign(
            json!({"alg": "ES256", "typ": "logout+jwt", "kid": self.kid}),
            &claims,
        )
    }
}

async fn discovery(State(idp): State<FakeIdp>) -> impl IntoResponse {
    let i = &idp.issuer;
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "EdDSA", "RS256"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
    }))
}

async fn jwks(State(idp): State<FakeIdp>) -> impl IntoResponse {
    axum::Json(json!({"keys": [idp.jwk()]}))
}

async fn token(
    State(idp): State<FakeIdp>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> axum::response::Response {
    idp.token_calls.lock().unwrap().push(form.clone());
    let refused = || {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response()
    };
    let claims = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            match form
                .get("code")
                .and_then(|c| idp.codes.lock().unwrap().remove(c))
            {
                Some(c) => c,
                None => return refused(),
            }
        }
        Some("refresh_token") => {
            if !idp.refresh_ok.load(Ordering::SeqCst) {
                return refused();
            }
            let template = idp.refresh_claims.lock().unwrap().clone();
            match template {
                Some(c) => c,
                None => match form
                    .get("refresh_token")
                    .and_then(|r| r.strip_prefix("rt:"))
                {
                    Some(sub) => json!({
                        "iss": idp.issuer, "aud": CLIENT_ID, "sub": sub,
                        "iat": idp.now(), "exp": idp.now() + 3600,
                        "member_symbol": "34", "member_number": "1234567",
                    }),
                    None => return refused(),
                },
            }
        }
        _ => return refused(),
    };
    let sub = claims["sub"].as_str().unwrap_or("").to_string();
    axum::Json(json!({
        "access_token": uuid::Uuid::new_v4().to_string(),
        "token_type": "Bearer",
        "expires_in": 600,
        "refresh_token": format!("rt:{sub}"),
        "id_token": idp.id_token(&claims),
    }))
    .into_response()
}

/// An answer of the portal.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `data-step` of the page's `<main>`.
    pub fn step(&self) -> Option<&str> {
        let i = self.body.find("data-step=\"")? + 11;
        let rest = &self.body[i..];
        Some(&rest[..rest.find('"')?])
    }

    /// `name=value` of a Set-Cookie header for `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    }

    /// The value of the first input named `name`.
    pub fn input(&self, name: &str) -> Option<String> {
        let pat = format!("name=\"{name}\" value=\"");
        let i = self.body.find(&pat)? + pat.len();
        let rest = &self.body[i..];
        Some(rest[..rest.find('"')?].to_string())
    }
}

pub struct TestPortal {
    pub state: AppState,
    pub app: Router,
    pub idp: FakeIdp,
    pub clock: Clock,
    _dir: TempDir,
}

impl TestPortal {
    pub async fn start() -> TestPortal {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestPortal {
        let dir = TempDir::new();
        let clock = Clock::fixed(NOW);
        let idp = FakeIdp::start(clock.clone()).await;
        let (eph, prefix) = fresh_ephemeral();
        let mut config = Config::default();
        config.server.base_url = "http://localhost:8081".into();
        config.database.url = fresh_database(&dir);
        config.database.pool_size = 4;
        config.ephemeral.url = eph;
        config.ephemeral.prefix = prefix;
        config.oidc.issuer = idp.issuer.clone();
        config.oidc.client_secret = Secret::new(SECRET.into());
        adjust(&mut config);
        let state = kenpo_portal::startup::build_state(config, clock.clone())
            .await
            .expect("portal state");
        TestPortal {
            app: kenpo_portal::app(state.clone()),
            state,
            idp,
            clock,
            _dir: dir,
        }
    }

    pub async fn request(&self, req: Request<Body>) -> Answer {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024 * 1024)
            .await
            .expect("body")
            .to_vec();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    /// GET with the given cookies (`name=value; …`, may be empty).
    pub async fn get(&self, path: &str, cookies: &str) -> Answer {
        let mut b = Request::get(path);
        if !cookies.is_empty() {
            b = b.header(header::COOKIE, cookies);
        }
        self.request(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, path: &str, cookies: &str, form: &[(&str, &str)]) -> Answer {
        let mut b =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if !cookies.is_empty() {
            b = b.header(header::COOKIE, cookies);
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        self.request(b.body(Body::from(body)).unwrap()).await
    }

    /// A signed-in session for household `symbol`/`number`, made directly in the store
    /// (the sign-in itself is tested in `signin`); returns the Cookie header value.
    pub async fn session(&self, symbol: &str, number: &str) -> String {
        self.session_with(
            symbol,
            number,
            &format!("sub-{symbol}-{number}"),
            &format!("sid-{symbol}-{number}"),
        )
        .await
    }

    pub async fn session_with(&self, symbol: &str, number: &str, sub: &str, sid: &str) -> String {
        let now = self.state.now();
        let s = PortalSession {
            sub: sub.into(),
            sid: Some(sid.into()),
            symbol: symbol.into(),
            number: number.into(),
            name: "健保 花子".into(),
            id_token: self
                .idp
                .id_token(&self.idp.member_claims(sub, sid, symbol, number, "n")),
            refresh_token: Some(format!("rt:{sub}")),
            created_at: now,
            last_seen_at: now,
            checked_at: now,
            previous_visit: None,
            csrf: "csrf-token".into(),
        };
        let token = self
            .state
            .sessions()
            .create(&s)
            .await
            .unwrap()
            .expect("session created");
        format!("kenpo_portal={token}")
    }

    pub async fn import(&self, kind: Kind, csv: &str) -> Result<Report, ImportError> {
        self.import_bytes(kind, csv.as_bytes(), EncodingChoice::Auto)
            .await
    }

    pub async fn import_bytes(
        &self,
        kind: Kind,
        bytes: &[u8],
        encoding: EncodingChoice,
    ) -> Result<Report, ImportError> {
        let opts = Options {
            encoding,
            dry_run: false,
            file_name: "test.csv".into(),
        };
        import::run(
            &self.state.db,
            kind,
            bytes,
            &opts,
            self.state.now(),
            self.state.today(),
        )
        .await
    }
}
