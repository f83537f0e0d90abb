//! The primary authentication and the session it starts: the password check behind the login
//! page (also used by the benches), and the start of an IdP session after a password or a
//! passkey. The answer to a wrong user ID and to a wrong password is the same, in the same
//! time (one argon2id verification either way), and both count against the throttles.

use crate::error::{PageResult, PageResultExt};
use crate::oidc::logout::end_session;
use crate::pages::Ctx;
use crate::security::password::HashError;
use crate::security::request::Requester;
use crate::security::throttle::{Budget, Gate, Kind, Throttle, Verdict};
use crate::security::tokens::{same, token_hash};
use crate::signin::session::{Current, NewSession, Sessions};
use crate::signin::visit::{assemble, current_session, load_flow};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::audit::{Actor, OrLog};
use crate::store::credentials::CredentialStore;
use crate::store::ephemeral::EphemeralError;
use crate::store::members::Member;
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::IntoResponse;
use kenpo_shared::Secret;
use kenpo_shared::ids::{UserId, normalize};
use serde_json::json;

/// Why a password sign-in failed.
#[derive(Debug)]
pub enum LoginFailure {
    Missing,
    Wrong,
    /// Too many attempts for now; `known` is whether this browser is one the member signed in
    /// with before (else a stranger may be behind it, and the member is told the ways out).
    Throttled {
        wait: u64,
        known: bool,
    },
    /// Past the hard cap of consecutive failures: until a password reset or staff unlock.
    Locked {
        known: bool,
    },
    InitialExpired,
    /// Disabled by staff (the member left the union).
    Disabled,
    /// The hashing queue is full: answered 503 with `Retry-After`, nothing checked.
    Busy,
    Internal(String),
}

impl From<EphemeralError> for LoginFailure {
    fn from(e: EphemeralError) -> Self {
        LoginFailure::Internal(e.to_string())
    }
}
impl From<StoreError> for LoginFailure {
    fn from(e: StoreError) -> Self {
        LoginFailure::Internal(e.to_string())
    }
}
impl From<HashError> for LoginFailure {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => LoginFailure::Busy,
            e => LoginFailure::Internal(e.to_string()),
        }
    }
}

/// A member who passed the password, and the budget their attempts count against.
#[derive(Debug)]
pub struct Authenticated {
    pub member: Member,
    pub budget: Budget,
}

/// Checks a user ID and password (the service behind the page; also used by the benches).
pub async fn authenticate(
    state: &AppState,
    requester: &Requester,
    username: &str,
    password: &str,
    now: i64,
) -> Result<Authenticated, LoginFailure> {
    let throttle = Throttle::new(&state.eph, &state.config.throttle);
    if let Gate::Wait(wait) = throttle.address_attempt(requester.ip, now).await? {
        return Err(LoginFailure::Throttled { wait, known: false });
    }
    let Ok(user_id) = UserId::parse(username) else {
        return Err(LoginFailure::Missing);
    };
    if password.is_empty() || password.len() > 1024 {
        return Err(LoginFailure::Missing);
    }
    // The member is read before the budget is claimed: the browser counts as known only for
    // the member its device token was issued to. An unknown user ID uses the shared budget.
    let member = state.members().by_user_id(&user_id).await?;
    let browser = match &member {
        Some(m) => crate::security::device::recognise(state, requester, m, now).await?,
        None => None,
    };
    let budget = Budget::new(&user_id.lookup_key(), browser.as_deref());
    let known = budget.known();
    match throttle.account_attempt(Kind::Password, &budget).await? {
        Verdict::Open => {}
        Verdict::Wait(wait) => {
            refusal_audit(state, requester, member.as_ref(), &budget, "wait", now).await?;
            return Err(LoginFailure::Throttled { wait, known });
        }
        Verdict::Locked => {
            refusal_audit(state, requester, member.as_ref(), &budget, "locked", now).await?;
            return Err(LoginFailure::Locked { known });
        }
    }
    let secret = Secret::new(password.to_string());
    let ok = match &member {
        Some(m) if m.uses_initial_password() => {
            // The initial password is compared, not hashed (see store::members); the dummy
            // verification keeps the time equal to a real check.
            state.hasher.burn(&secret).await?;
            // In letter mode the letter's one-time invitation code replaces the card-derived
            // password (security::invitation).
            if state.config.onboarding.first_login == crate::config::FirstLogin::Letter {
                crate::security::invitation::check_and_spend(state, m, password, now).await?
            } else {
                same(
                    normalize(password).as_bytes(),
                    m.initial_password().as_bytes(),
                )
            }
        }
        Some(m) => {
            let v = state
                .hasher
                .verify(&secret, m.password_hash.as_deref())
                .await?;
            if let (true, Some(old)) = (v.needs_rehash, m.password_hash.as_deref()) {
                let hash = state.hasher.hash(&secret).await?;
                state.members().rehash(&m.id, old, hash).await?;
            }
            v.ok
        }
        None => {
            state.hasher.burn(&secret).await?;
            false
        }
    };
    match member {
        // Staff disabled this member (left the union).
        Some(m) if ok && m.disabled_at.is_some() => Err(LoginFailure::Disabled),
        Some(m) if ok => {
            let days = state.config.password.initial_password_days;
            if m.uses_initial_password()
                && m.initial_password_since
                    .is_some_and(|since| now > since + days * 86_400)
            {
                return Err(LoginFailure::InitialExpired);
            }
            Ok(Authenticated { member: m, budget })
        }
        Some(m) => {
            let ip = requester.ip.to_string();
            let failed = json!({"factor": "password", "known_browser": known});
            let trail = state.audit().member(&m.id, Some(&ip), now);
            trail.log("signin.failed", failed).await;
            Err(LoginFailure::Wrong)
        }
        None => Err(LoginFailure::Wrong),
    }
}

/// Audits a refused attempt once per budget and minute, not once per request: a flood of
/// refused guesses must not become a flood of audit rows.
pub async fn refusal_audit(
    state: &AppState,
    requester: &Requester,
    member: Option<&Member>,
    budget: &Budget,
    why: &str,
    now: i64,
) -> Result<(), EphemeralError> {
    let Some(m) = member else { return Ok(()) };
    let once = format!(
        "audit-throttled:{}:{}",
        budget.account,
        budget.browser.as_deref().unwrap_or("any")
    );
    if state
        .eph
        .put_new(&once, "1", crate::store::ephemeral::secs(60))
        .await?
    {
        state
            .audit()
            .record(
                Some(&m.id),
                Actor::System,
                "signin.throttled",
                json!({"why": why, "known_browser": budget.known()}),
                Some(&requester.ip.to_string()),
                now,
            )
            .await
            .or_log("signin.throttled");
    }
    Ok(())
}

/// How a primary authentication went.
pub struct Primary<'a> {
    pub member: Member,
    /// Methods used (RFC 8176).
    pub amr: Vec<String>,
    /// Whether they already amount to two factors (a passkey with user verification).
    pub mfa: bool,
    pub remember: bool,
    pub flow_id: Option<&'a str>,
    /// The known browser this sign-in came from (its failure budget), if any.
    pub browser: Option<String>,
}

/// Starts (or renews) the IdP session after a primary authentication and moves on; the
/// answer sets the session cookie. The cookie value is always new; the same member keeps the
/// session's `sid` and its clients, another member's session in this browser is ended first.
pub async fn start_session(
    state: &AppState,
    ctx: Ctx,
    requester: Requester,
    headers: &HeaderMap,
    primary: Primary<'_>,
) -> PageResult {
    let now = state.now();
    let lang = ctx.lang;
    let Primary {
        member,
        amr,
        mfa,
        remember,
        flow_id,
        browser,
    } = primary;
    let sessions = Sessions::new(state);
    let previous = current_session(state, headers, now).await?;
    let ip = requester.ip.to_string();
    let (token, session) = sessions
        .create(
            NewSession {
                member_id: &member.id,
                amr: amr.clone(),
                mfa,
                remember,
                user_agent: &requester.user_agent,
                ip: &ip,
                flow: flow_id,
                browser,
            },
            now,
        )
        .await
        .page(lang)?;
    let mut current = Current {
        hash: token_hash(&token),
        session,
    };
    if let Some(prev) = previous {
        if prev.session.member_id == member.id {
            // Same member signing in again (prompt=login, max_age): keep the sid and clients.
            sessions.end(&prev.session.sid, now).await.page(lang)?;
            current = sessions
                .adopt(current, &prev.session, now)
                .await
                .page(lang)?;
        } else if let Err(e) = end_session(state, &prev.session.sid, now).await {
            tracing::warn!(error = %e, "the previous member's session did not end cleanly");
        }
    }
    state
        .members()
        .touch_login(&member.id, now)
        .await
        .page(lang)?;
    if let Err(e) = state
        .audit()
        .record(
            Some(&member.id),
            Actor::Member,
            "signin.primary",
            json!({"amr": amr}),
            Some(&ip),
            now,
        )
        .await
    {
        tracing::error!(error = %e, "audit record failed");
    }
    crate::signin::keep_flow(state, flow_id).await.page(lang)?;
    let flow = load_flow(state, flow_id).await?;
    let factors = CredentialStore::new(state.db.clone())
        .factors(&member)
        .await
        .page(lang)?;
    let visit = assemble(state, requester, ctx, flow, current, member, factors, now).await?;
    let mut res = visit.advance(state).await?.into_response();
    let max_age = remember.then_some(state.config.session.remember_secs);
    res.headers_mut().append(
        SET_COOKIE,
        state.cookies.set("kenpo_session", &token, max_age),
    );
    Ok(res)
}
