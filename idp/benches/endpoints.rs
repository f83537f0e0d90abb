#![allow(clippy::unwrap_used)] // a test (or bench) that cannot set up is a failed test
//! Throughput of the IdP's endpoints against their raw bounds, printed as a table:
//! `cargo bench -p kenpo-idp --bench endpoints` (add `-- --secs 5 --concurrency 32` to change
//! the run). Everything runs in this process on this machine: the IdP on a loopback port
//! (SQLite + in-process state, as the embedded mode), a load generator with `concurrency`
//! keep-alive connections, and the bounds measured the same way (a bare axum handler behind
//! the same client; argon2id and signatures on every core).

use kenpo_idp::config::{ClientConfig, Config};
use kenpo_idp::oidc::keys::{Alg, SigningKey};
use kenpo_idp::state::AppState;
use kenpo_idp::store::members::ImportedMember;
use kenpo_shared::ids::{MemberNumber, MemberSymbol, UserId};
use kenpo_shared::{Clock, Secret};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-client-secret-0123456789abcdefghij";
const CB: &str = "https://rp.example/cb";
/// Members seeded; the first ones hold the SSO sessions, the password runs use the others
/// (each sign-in a different member, so none reaches its brute-force delay).
const MEMBERS: usize = 4000;
const SIGNIN_FIRST_MEMBER: usize = 256;

struct Opts {
    secs: f64,
    concurrency: usize,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    Opts {
        secs: get("--secs").unwrap_or(4.0),
        concurrency: get("--concurrency").map_or(32, |c| c as usize),
    }
}

struct Stats {
    rate: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

/// Runs `op` from `concurrency` tasks for `secs` seconds; each call is one measured operation.
async fn load<F, Fut>(concurrency: usize, secs: f64, op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    // Warm-up: connections, caches.
    let warm = Instant::now() + Duration::from_millis(300);
    let deadline = warm + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut first_error = None;
            let mut i = 0;
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                let r = op(worker, i).await;
                i += 1;
                if t0 < warm {
                    continue;
                }
                match r {
                    Ok(()) => lat.push(t0.elapsed().as_secs_f64() * 1000.0),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e, first) = t.await.expect("load task");
        if let Some(f) = first {
            eprintln!("  error: {f}");
        }
        all.extend(lat);
        errors += e;
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)]
        }
    };
    Stats {
        rate: all.len() as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

/// Operations per second of `f` on every core for `secs`.
fn on_all_cores(secs: f64, f: impl Fn() + Send + Sync + 'static) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let f = Arc::new(f);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    f();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / secs
}

fn form_value(html: &str, name: &str) -> Option<String> {
    let pat = format!("name=\"{name}\" value=\"");
    let i = html.find(&pat)? + pat.len();
    Some(html[i..][..html[i..].find('"')?].to_string())
}

fn b64url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

async fn start_idp(dir: &std::path::Path) -> (AppState, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let issuer = format!("http://localhost:{port}");
    let mut config = Config::default();
    config.server.issuer = issuer.clone();
    config.database.url = format!("sqlite://{}", dir.join("idp.sqlite3").display());
    config.database.pool_size = 16;
    config.secrets.key_file = dir.join("secret.key");
    config.mail.outbox_dir = dir.join("outbox");
    // One client address makes every request here: the per-address limits (issue 14) would
    // measure the limiter, not the endpoints.
    config.throttle.address_per_minute = i64::MAX / 2;
    config.throttle.authorize_per_minute = i64::MAX / 2;
    config.throttle.stranger_posts_per_minute = i64::MAX / 2;
    config.log.level = "warn".into();
    let state = kenpo_idp::startup::build_state(config, Clock::System)
        .await
        .expect("IdP state");
    let app = kenpo_idp::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (state, issuer)
}

async fn start_bare() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/bare",
        listener.local_addr().expect("addr").port()
    );
    let app = axum::Router::new().route("/bare", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Members sharing one precomputed password hash (so seeding costs one hash, not thousands).
async fn seed_members(state: &AppState, n: usize, password: &str) {
    let now = state.now();
    let rows: Vec<ImportedMember> = (0..n)
        .map(|i| ImportedMember {
            user_id: UserId::parse(&format!("bench{i}")).expect("id"),
            symbol: MemberSymbol::parse("99").expect("symbol"),
            number: MemberNumber::parse(&format!("{}", 1_000_000 + i)).expect("number"),
            birthdate: time::macros::date!(1980 - 01 - 01),
            name: "ベンチ 太郎".into(),
            name_kana: "ベンチ タロウ".into(),
            email: Some(format!("bench{i}@example.jp")),
        })
        .collect();
    state
        .members()
        .import(rows, now)
        .await
        .expect("import")
        .expect("no conflicts");
    let hash = state
        .hasher
        .hash(&Secret::new(password.into()))
        .await
        .expect("hash");
    for i in 0..n {
        let m = state
            .members()
            .by_user_id(&UserId::parse(&format!("bench{i}")).expect("id"))
            .await
            .expect("db")
            .expect("member");
        state
            .members()
            .set_password(&m.id, hash.clone(), now)
            .await
            .expect("password");
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .expect("client")
}

fn print_row(name: &str, s: &Stats, bound: Option<(&str, f64)>, target: Option<f64>) {
    let (bname, ratio) = match bound {
        Some((b, r)) => (b.to_string(), format!("{:>5.1} %", 100.0 * s.rate / r)),
        None => ("-".into(), "    -".into()),
    };
    let verdict = match (bound, target) {
        (Some((_, r)), Some(t)) => {
            if s.rate / r >= t {
                format!("target ≥ {:.0} %: met", t * 100.0)
            } else {
                format!("target ≥ {:.0} %: NOT met", t * 100.0)
            }
        }
        _ => String::new(),
    };
    println!(
        "{name:<28} {:>9.0} {:>8.2} {:>8.2} {:>6}  {bname:<22} {ratio}  {verdict}",
        s.rate, s.p50, s.p99, s.errors
    );
}

/// Resident memory of the common-password list as loaded (Linux: /proc/self/statm), and what
/// a `HashSet<String>` of the same entries adds: the figures in docs/security-model.md.
fn common_password_memory() {
    fn rss_kib() -> Option<i64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * 4)
    }
    let before = rss_kib();
    let list = kenpo_idp::security::common_passwords::list();
    let loaded = rss_kib();
    let set: std::collections::HashSet<String> = list.entries().map(String::from).collect();
    let with_set = rss_kib();
    let heap = format!(
        "{} KiB heap, {} entries",
        list.heap_bytes() / 1024,
        list.len()
    );
    match (before, loaded, with_set) {
        (Some(b), Some(l), Some(w)) => println!(
            "{:<44} {:>7} KiB resident ({heap}); a HashSet<String> of them: {} KiB more ({})",
            "common-password list",
            l - b,
            w - l,
            set.len()
        ),
        _ => println!(
            "{:<44} {heap} (resident size needs /proc)",
            "common-password list"
        ),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let o = opts();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let dir = std::env::temp_dir().join(format!("kenpo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    println!("-- memory");
    common_password_memory();
    println!();
    let (state, issuer) = start_idp(&dir).await;
    let bare = start_bare().await;

    println!(
        "kenpo IdP benchmark: {cores} cores, {} s per run, {} connections, SQLite + in-process state",
        o.secs, o.concurrency
    );
    println!();
    println!("-- raw bounds (all cores)");
    let pc = &state.config.password;
    let hasher_params =
        argon2::Params::new(pc.argon2_m_kib, pc.argon2_t, pc.argon2_p, None).expect("params");
    let argon_rate = on_all_cores(o.secs, move || {
        use argon2::password_hash::PasswordHasher;
        let a = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            hasher_params.clone(),
        );
        let _ = a.hash_password(b"Bench-Password-1");
    });
    println!(
        "{:<44} {:>10.1}/s",
        format!(
            "argon2id m={} KiB t={} p={}",
            pc.argon2_m_kib, pc.argon2_t, pc.argon2_p
        ),
        argon_rate
    );
    let payload = vec![b'x'; 700];
    let mut sign_rate = std::collections::HashMap::new();
    for alg in Alg::ALL {
        let (key, _) = SigningKey::generate(alg).expect("key");
        let key = Arc::new(key);
        let p = payload.clone();
        let rate = on_all_cores(o.secs.min(2.0), move || {
            let _ = key.sign_bytes(&p);
        });
        println!(
            "{:<44} {:>10.0}/s",
            format!("signature {} (ring)", alg.as_str()),
            rate
        );
        sign_rate.insert(alg, rate);
    }
    let http = client();
    let bare_stats = {
        let http = http.clone();
        let bare = bare.clone();
        load(o.concurrency, o.secs, move |_, _| {
            let (http, bare) = (http.clone(), bare.clone());
            async move {
                let r = http.get(&bare).send().await.map_err(|e| e.to_string())?;
                r.bytes().await.map_err(|e| e.to_string())?;
                Ok(())
            }
        })
        .await
    };
    println!(
        "{:<44} {:>10.0}/s (p50 {:.2} ms)",
        "bare axum handler, same client", bare_stats.rate, bare_stats.p50
    );

    // Relying parties, one per algorithm, and members.
    for alg in Alg::ALL {
        let c = ClientConfig {
            client_id: format!("bench-{}", alg.as_str().to_lowercase()),
            secret: Some(Secret::new(SECRET.into())),
            redirect_uris: vec![CB.into()],
            id_token_signed_response_alg: Some(alg.as_str().into()),
            ..ClientConfig::default()
        };
        let c = kenpo_idp::store::clients::NewClient::from_config(&c).expect("client");
        state
            .clients()
            .upsert(c, "bench", state.now())
            .await
            .expect("client");
    }
    let password = "Bench-Password-1";
    seed_members(&state, MEMBERS, password).await;

    println!();
    println!(
        "{:<28} {:>9} {:>8} {:>8} {:>6}  {:<22} {:>7}",
        "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "bound", "ratio"
    );
    let get_stats = |path: &'static str| {
        let http = http.clone();
        let url = format!("{issuer}{path}");
        load(o.concurrency, o.secs, move |_, _| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http.get(&url).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("HTTP {}", r.status()));
                }
                r.bytes().await.map_err(|e| e.to_string())?;
                Ok(())
            }
        })
    };
    let s = get_stats("/.well-known/openid-configuration").await;
    print_row(
        "discovery",
        &s,
        Some(("bare handler", bare_stats.rate)),
        None,
    );
    let s = get_stats("/jwks").await;
    print_row("jwks", &s, Some(("bare handler", bare_stats.rate)), None);

    // Signed-in sessions (one per connection) for the SSO hop: created directly, as a completed
    // sign-in would leave them.
    let sessions = kenpo_idp::signin::session::Sessions::new(&state);
    let mut cookies = Vec::new();
    for w in 0..o.concurrency {
        let m = state
            .members()
            .by_user_id(&UserId::parse(&format!("bench{w}")).expect("id"))
            .await
            .expect("db")
            .expect("member");
        let (token, _) = sessions
            .create(
                kenpo_idp::signin::session::NewSession {
                    member_id: &m.id,
                    amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
                    mfa: true,
                    remember: false,
                    user_agent: "bench",
                    ip: "127.0.0.1",
                    flow: None,
                    browser: None,
                },
                state.now(),
            )
            .await
            .expect("session");
        // Members need a factor so no step is pending: give them a TOTP secret.
        kenpo_idp::mfa::totp::enrol(
            &state.db,
            &state.sbox,
            &m.id,
            &kenpo_idp::mfa::totp::new_secret(),
            0,
            state.now(),
        )
        .await
        .expect("totp");
        state
            .members()
            .accept_terms(&m.id, &state.config.union.terms_version, state.now())
            .await
            .expect("terms");
        state
            .members()
            .set_email(&m.id, &format!("bench{w}@example.jp"), true, state.now())
            .await
            .expect("email");
        state
            .members()
            .confirm_birthdate(&m.id, state.now())
            .await
            .expect("birthdate");
        cookies.push(format!("{}={token}", state.cookies.session()));
    }
    let cookies = Arc::new(cookies);
    let verifier = "bench-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
    let challenge = b64url(&<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let hop = |alg: Alg| {
        let (http, issuer, cookies, challenge) = (
            http.clone(),
            issuer.clone(),
            cookies.clone(),
            challenge.clone(),
        );
        let client_id = format!("bench-{}", alg.as_str().to_lowercase());
        load(o.concurrency, o.secs, move |w, _| {
            let (http, issuer, cookies, challenge, client_id) = (
                http.clone(),
                issuer.clone(),
                cookies.clone(),
                challenge.clone(),
                client_id.clone(),
            );
            async move {
                let url = format!(
                    "{issuer}/authorize?response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid%20profile&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256"
                );
                let r = http
                    .get(&url)
                    .header("cookie", &cookies[w])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let loc = r
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("no redirect")?
                    .to_string();
                let code = url::Url::parse(&loc)
                    .map_err(|e| e.to_string())?
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(|| format!("no code: {loc}"))?;
                let r = http
                    .post(format!("{issuer}/token"))
                    .basic_auth(&client_id, Some(SECRET))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", CB),
                        ("code_verifier", verifier),
                    ])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("token HTTP {}", r.status()));
                }
                r.bytes().await.map_err(|e| e.to_string())?;
                Ok(())
            }
        })
    };
    let mut rs_hop = None;
    for alg in Alg::ALL {
        let s = hop(alg).await;
        print_row(
            &format!("SSO hop {}", alg.as_str()),
            &s,
            Some((&format!("signature {}", alg.as_str()), sign_rate[&alg])),
            Some(0.5),
        );
        if alg == Alg::Rs256 {
            rs_hop = Some(s.rate);
        }
    }
    let _ = rs_hop;

    // Refresh and userinfo: tokens from one hop per connection.
    let mut refresh_tokens = Vec::new();
    let mut access_tokens = Vec::new();
    for w in 0..o.concurrency {
        let url = format!(
            "{issuer}/authorize?response_type=code&client_id=bench-es256&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid%20profile&state=s&code_challenge={challenge}&code_challenge_method=S256"
        );
        let r = http
            .get(&url)
            .header("cookie", &cookies[w])
            .send()
            .await
            .expect("authorize");
        let loc = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let code = url::Url::parse(&loc)
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .expect("code")
            .1
            .into_owned();
        let body: serde_json::Value = http
            .post(format!("{issuer}/token"))
            .basic_auth("bench-es256", Some(SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CB),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        refresh_tokens.push(tokio::sync::Mutex::new(
            body["refresh_token"].as_str().expect("rt").to_string(),
        ));
        access_tokens.push(body["access_token"].as_str().expect("at").to_string());
    }
    let refresh_tokens = Arc::new(refresh_tokens);
    let s = {
        let (http, issuer, rts) = (http.clone(), issuer.clone(), refresh_tokens.clone());
        load(o.concurrency, o.secs, move |w, _| {
            let (http, issuer, rts) = (http.clone(), issuer.clone(), rts.clone());
            async move {
                let mut rt = rts[w].lock().await;
                let r = http
                    .post(format!("{issuer}/token"))
                    .basic_auth("bench-es256", Some(SECRET))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", rt.as_str()),
                    ])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("refresh HTTP {}", r.status()));
                }
                let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
                *rt = body["refresh_token"]
                    .as_str()
                    .ok_or("no refresh token")?
                    .to_string();
                Ok(())
            }
        })
        .await
    };
    print_row(
        "refresh (ES256)",
        &s,
        Some(("signature ES256", sign_rate[&Alg::Es256])),
        None,
    );
    let access_tokens = Arc::new(access_tokens);
    let s = {
        let (http, issuer, ats) = (http.clone(), issuer.clone(), access_tokens.clone());
        load(o.concurrency, o.secs, move |w, _| {
            let (http, issuer, ats) = (http.clone(), issuer.clone(), ats.clone());
            async move {
                let r = http
                    .get(format!("{issuer}/userinfo"))
                    .bearer_auth(&ats[w])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("userinfo HTTP {}", r.status()));
                }
                r.bytes().await.map_err(|e| e.to_string())?;
                Ok(())
            }
        })
        .await
    };
    print_row(
        "userinfo",
        &s,
        Some(("bare handler", bare_stats.rate)),
        Some(0.3),
    );

    // Password sign-in: a login form per connection (its own CSRF cookie), each attempt a
    // different member so no account reaches its throttle.
    let mut forms = Vec::new();
    for _ in 0..o.concurrency {
        let r = http
            .get(format!("{issuer}/login"))
            .send()
            .await
            .expect("login page");
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&state.cookies.csrf()))
            .and_then(|c| c.split(';').next())
            .expect("csrf cookie")
            .to_string();
        let html = r.text().await.expect("html");
        forms.push((cookie, form_value(&html, "csrf").expect("csrf token")));
    }
    let forms = Arc::new(forms);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = {
        let (http, issuer, forms, counter) =
            (http.clone(), issuer.clone(), forms.clone(), counter.clone());
        load(o.concurrency, o.secs, move |w, _| {
            let (http, issuer, forms, counter) =
                (http.clone(), issuer.clone(), forms.clone(), counter.clone());
            async move {
                let i = SIGNIN_FIRST_MEMBER
                    + counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        % (MEMBERS - SIGNIN_FIRST_MEMBER);
                let user = format!("bench{i}");
                let r = http
                    .post(format!("{issuer}/login"))
                    .header("cookie", &forms[w].0)
                    .form(&[
                        ("csrf", forms[w].1.as_str()),
                        ("username", user.as_str()),
                        ("password", password),
                    ])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_redirection() {
                    return Err(format!("login HTTP {}", r.status()));
                }
                Ok(())
            }
        })
        .await
    };
    print_row(
        "password sign-in",
        &s,
        Some(("argon2id", argon_rate)),
        Some(0.9),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
