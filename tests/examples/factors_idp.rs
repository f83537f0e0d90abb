#![allow(clippy::unwrap_used)] // a test (or bench) that cannot set up is a failed test
//! The IdP the browser tests of second factors run against (`tests/browser/factors/run.sh`):
//! a real server on `http://localhost:PORT` (WebAuthn needs a domain, never an IP) with its own
//! SQLite file, outbox folder and keys under DIR, and members seeded at the step each test
//! starts from. The first-login pages before enrolment are another suite's; these members
//! have passed them (password chosen, birthdate, terms and address confirmed, factor chosen).
//!
//! Usage: `factors_idp PORT DIR`. Every member's password is `Pw-<user id>-2025!`. One relying
//! party is registered: `browser-rp`, redirecting to `https://rp.example/cb` (the tests stand in
//! for it with the DevTools Fetch domain).

use kenpo_idp::config::{ClientConfig, Config};
use kenpo_idp::startup;
use kenpo_idp::store::clients::NewClient;
use kenpo_idp::store::members::ImportedMember;
use kenpo_shared::ids::{MemberNumber, MemberSymbol, UserId};
use kenpo_shared::{Clock, Secret};
use std::path::PathBuf;

/// (user ID, 番号, chosen factor, onboarded with email OTP)
const MEMBERS: [(&str, &str, &str, bool); 6] = [
    ("hanako", "1000001", "passkey", false),
    ("keiko", "1000002", "passkey", false),
    ("yuki", "1000003", "passkey", false),
    ("jiro", "1000004", "totp", false),
    ("shiro", "1000005", "email", true),
    ("akira", "1000006", "email", false),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: factors_idp PORT DIR"))?
        .parse()?;
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: factors_idp PORT DIR"))?,
    );
    std::fs::create_dir_all(&dir)?;
    let mut config = Config::default();
    config.server.issuer = format!("http://localhost:{port}");
    config.server.bind = format!("127.0.0.1:{port}");
    config.database.url = format!("sqlite://{}", dir.join("idp.sqlite3").display());
    config.secrets.key_file = dir.join("secret.key");
    config.mail.outbox_dir = dir.join("outbox");
    config.validate()?;
    kenpo_shared::telemetry::init(&config.log);
    let state = startup::build_state(config, Clock::System).await?;
    seed(&state).await?;
    let rp = NewClient::from_config(&ClientConfig {
        client_id: "browser-rp".into(),
        name: "テスト用サービス".into(),
        secret: Some(Secret::new("browser-rp-secret-0123456789abcdefghij".into())),
        redirect_uris: vec!["https://rp.example/cb".into()],
        ..ClientConfig::default()
    })
    .map_err(anyhow::Error::msg)?;
    state.clients().upsert(rp, "test", state.now()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    startup::serve(state, listener).await
}

async fn seed(state: &kenpo_idp::AppState) -> anyhow::Result<()> {
    let now = state.now();
    let members = state.members();
    for (user, number, factor, onboarded) in MEMBERS {
        let user_id = UserId::parse(user).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if members.by_user_id(&user_id).await?.is_some() {
            continue;
        }
        let row = ImportedMember {
            user_id: user_id.clone(),
            symbol: MemberSymbol::parse("21").map_err(|e| anyhow::anyhow!("{e:?}"))?,
            number: MemberNumber::parse(number).map_err(|e| anyhow::anyhow!("{e:?}"))?,
            birthdate: time::macros::date!(1985 - 04 - 01),
            name: format!("試験 {user}"),
            name_kana: "シケン".into(),
            email: Some(format!("{user}@example.jp")),
        };
        members
            .import(vec![row], now)
            .await?
            .map_err(|c| anyhow::anyhow!("{c:?}"))?;
        let m = members
            .by_user_id(&user_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("seeded member missing"))?;
        let hash = state
            .hasher
            .hash(&Secret::new(format!("Pw-{user}-2025!")))
            .await?;
        members.set_password(&m.id, hash, now).await?;
        members.confirm_birthdate(&m.id, now).await?;
        members
            .accept_terms(&m.id, &state.config.union.terms_version, now)
            .await?;
        members
            .set_email(&m.id, &format!("{user}@example.jp"), true, now)
            .await?;
        members.choose_factor(&m.id, Some(factor), now).await?;
        if onboarded {
            members.set_email_otp(&m.id, true, now).await?;
            members.set_preferred_factor(&m.id, factor, now).await?;
            members.mark_onboarded(&m.id, now).await?;
        }
    }
    Ok(())
}
