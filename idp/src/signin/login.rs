//! The login page (`data-step="login"`): user ID and password, the first step of every
//! sign-in. The answer to a wrong user ID and to a wrong password is the same, in the same
//! time (one argon2id verification either way), and both count against the throttles.

use crate::error::PageResultExt;
use crate::pages::forms::{self, Field, PageForm};
use crate::pages::i18n::{self, Text};
use crate::pages::{Ctx, Frame};
use crate::security::password::HashError;
use crate::security::request::Requester;
use crate::security::throttle::{Gate, Throttle};
use crate::security::tokens::same;
use crate::signin::session::Sessions;
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::audit::Actor;
use crate::store::ephemeral::EphemeralError;
use crate::store::members::Member;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kenpo_shared::Secret;
use kenpo_shared::ids::{UserId, normalize};
use maud::html;
use serde::Deserialize;
use serde_json::json;

const TITLE: Text = Text("ログイン", "Sign in");
const USER_ID: Text = Text("ユーザID", "User ID");
const PASSWORD: Text = Text("パスワード", "Password");
const REMEMBER: Text = Text(
    "この端末でログインしたままにする",
    "Keep me signed in on this device",
);
const SUBMIT: Text = Text("ログイン", "Sign in");
const OR: Text = Text("または", "or");
const PASSKEY: Text = Text("パスキー（生体認証）でログイン", "Sign in with a passkey");
const FORGOT_PASSWORD: Text = Text("パスワードを忘れた方", "Forgot your password?");
const FORGOT_USER_ID: Text = Text("ユーザIDを忘れた方", "Forgot your user ID?");
const FIRST_TIME: Text = Text(
    "はじめてログインする方は、パスワードに「記号＋番号＋生年月日（西暦8桁）」を入力してください。例：記号 12、番号 3456789、1980年12月1日生まれの場合は 12345678919801201",
    "Signing in for the first time? Your password is your 記号 + 番号 + birthdate (YYYYMMDD). Example: 記号 12, 番号 3456789, born 1 December 1980 → 12345678919801201",
);
const WRONG: Text = Text(
    "ユーザIDまたはパスワードが正しくありません。入力内容をご確認ください。",
    "The user ID or password is not correct. Please check and try again.",
);
const MISSING: Text = Text(
    "ユーザIDとパスワードを入力してください。",
    "Enter your user ID and password.",
);
const WAIT: Text = Text(
    "ログインの試行が続いたため、一時的に受け付けを停止しています。",
    "Too many sign-in attempts, so sign-in is paused for this account.",
);
const INITIAL_EXPIRED: Text = Text(
    "初期パスワードの有効期限が切れています。メールアドレスを登録済みの方は、下の「パスワードを忘れた方」から新しいパスワードを設定できます。登録していない方は、お手数ですが、記号・番号とお名前を書き添えて、組合までメールでお問い合わせください（ユーザID・パスワードのお問い合わせは、電話ではお受けしていません）。お問い合わせ先：",
    "Your initial password has expired. If you have registered an email address, set a new password with “Forgot your password?” below. Otherwise please write to the union by email with your 記号・番号 and your name (questions about user IDs and passwords are not answered by phone). Contact:",
);

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    pub flow: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember: Option<String>,
}

/// Why a password sign-in failed.
#[derive(Debug)]
pub enum LoginFailure {
    Missing,
    Wrong,
    Throttled(u64),
    InitialExpired,
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
        LoginFailure::Internal(e.to_string())
    }
}

/// Checks a user ID and password (the service behind the page; also used by the benches).
pub async fn authenticate(
    state: &AppState,
    requester: &Requester,
    username: &str,
    password: &str,
    now: i64,
) -> Result<Member, LoginFailure> {
    let throttle = Throttle::new(&state.eph, &state.config.throttle);
    if let Gate::Wait(w) = throttle.address_attempt(requester.ip, now).await? {
        return Err(LoginFailure::Throttled(w));
    }
    let Ok(user_id) = UserId::parse(username) else {
        return Err(LoginFailure::Missing);
    };
    if password.is_empty() || password.len() > 1024 {
        return Err(LoginFailure::Missing);
    }
    if let Gate::Wait(w) = throttle.account_attempt(&user_id.lookup_key()).await? {
        return Err(LoginFailure::Throttled(w));
    }
    let secret = Secret::new(password.to_string());
    let member = state.members().by_user_id(&user_id).await?;
    let ok = match &member {
        Some(m) if m.uses_initial_password() => {
            // The initial password is compared, not hashed (see store::members); the dummy
            // verification keeps the time equal to a real check.
            state.hasher.burn(&secret).await?;
            same(
                normalize(password).as_bytes(),
                m.initial_password().as_bytes(),
            )
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
        Some(m) if ok => {
            let days = state.config.password.initial_password_days;
            if m.uses_initial_password()
                && m.initial_password_since
                    .is_some_and(|since| now > since + days * 86_400)
            {
                return Err(LoginFailure::InitialExpired);
            }
            Ok(m)
        }
        _ => Err(LoginFailure::Wrong),
    }
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let now = state.now();
    let flow = match signin::load_flow(&state, q.flow.as_deref()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    // Already signed in and nothing forces a new password entry: skip this page.
    if let Ok(Some(current)) = signin::current_session(&state, &headers, now).await
        && let Ok(Some(member)) = state.members().by_id(&current.session.member_id).await
        && !signin::steps::login_needed(&current.session, &member, flow.as_ref(), now)
    {
        return signin::advance(
            &state,
            current,
            flow.as_ref().map(|f| f.id.as_str()),
            ctx.lang,
            now,
        )
        .await;
    }
    let lang = flow
        .as_ref()
        .and_then(|f| f.ui_locales.as_deref())
        .and_then(kenpo_shared::Lang::from_ui_locales)
        .unwrap_or(ctx.lang);
    let ctx = Ctx { lang, ..ctx };
    let hint = flow
        .as_ref()
        .and_then(|f| f.login_hint.clone())
        .unwrap_or_default();
    page(
        &state,
        &ctx,
        flow.as_ref().map(|f| f.id.as_str()),
        flow.as_ref().map(|f| f.redirect_uri.as_str()),
        &hint,
        None,
        StatusCode::OK,
    )
}

fn page(
    state: &AppState,
    ctx: &Ctx,
    flow: Option<&str>,
    redirect_uri: Option<&str>,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = &error { (kenpo_shared::web::alert(e)) }
        form method="post" action="/login" novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(flow))
            (Field { autocomplete: "username webauthn", value: username, autofocus: username.is_empty(), maxlength: Some(64), ..Field::new("username", ctx.t(USER_ID)) }.render())
            (Field { kind: "password", autocomplete: "current-password", autofocus: !username.is_empty(), maxlength: Some(1024), ..Field::new("password", ctx.t(PASSWORD)) }.render())
            div.field {
                label.check for="f-remember" {
                    input id="f-remember" type="checkbox" name="remember" value="yes";
                    (ctx.t(REMEMBER))
                }
            }
            button.primary type="submit" { (ctx.t(SUBMIT)) }
        }
        p.divider { (ctx.t(OR)) }
        div.actions {
            button.secondary type="button" data-action="passkey-login" data-flow=[flow] { (ctx.t(PASSKEY)) }
        }
        p.passkey-status role="status" aria-live="polite" {}
        div.links {
            a href=(with_flow("/recovery/password", flow)) { (ctx.t(FORGOT_PASSWORD)) }
            a href=(with_flow("/recovery/user-id", flow)) { (ctx.t(FORGOT_USER_ID)) }
        }
        details {
            summary { (ctx.lang.pick("はじめてログインする方へ", "First time here?")) }
            p.small { (ctx.t(FIRST_TIME)) }
        }
    };
    ctx.render_status(
        state,
        status,
        Frame {
            title: ctx.t(TITLE),
            step: Some("login"),
            progress: None,
            scripts: vec!["/static/passkey.js"],
            form_action: redirect_uri.and_then(crate::store::clients::Client::redirect_origin),
            nav: Vec::new(),
        },
        body,
    )
}

fn with_flow(path: &str, flow: Option<&str>) -> String {
    match flow {
        Some(f) => format!("{path}?flow={f}"),
        None => path.to_string(),
    }
}

pub async fn post(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return crate::error::PageError::Forbidden(ctx.lang).into_response();
    }
    let flow = match signin::load_flow(&state, form.flow.as_deref()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let flow_id = flow.as_ref().map(|f| f.id.as_str());
    let redirect_uri = flow.as_ref().map(|f| f.redirect_uri.as_str());
    let member = match authenticate(&state, &requester, &form.username, &form.password, now).await {
        Ok(m) => m,
        Err(failure) => {
            let (status, message) = match failure {
                LoginFailure::Missing => (StatusCode::BAD_REQUEST, ctx.t(MISSING).to_string()),
                LoginFailure::Wrong => (StatusCode::UNAUTHORIZED, ctx.t(WRONG).to_string()),
                LoginFailure::Throttled(w) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{} {}",
                        ctx.t(WAIT),
                        ctx.lang.pick(
                            &format!(
                                "{}後にもう一度お試しください。",
                                i18n::wait_text(ctx.lang, w)
                            ),
                            &format!("Please try again in {}.", i18n::wait_text(ctx.lang, w))
                        )
                    ),
                ),
                LoginFailure::InitialExpired => (
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "{} {}",
                        ctx.t(INITIAL_EXPIRED),
                        state.config.union.contact_email
                    ),
                ),
                LoginFailure::Internal(e) => {
                    return crate::error::PageError::internal(ctx.lang, e).into_response();
                }
            };
            return page(
                &state,
                &ctx,
                flow_id,
                redirect_uri,
                &form.username,
                Some(message),
                status,
            );
        }
    };
    let remember = form.remember.as_deref() == Some("yes");
    start_session(
        &state,
        &ctx,
        &requester,
        &headers,
        &member,
        vec!["pwd".into()],
        false,
        remember,
        flow_id,
        now,
    )
    .await
}

/// Starts (or renews) the IdP session after a primary authentication and moves on. The cookie
/// value is always new; the same member keeps the session's `sid` and its clients, another
/// member's session in this browser is ended first.
#[allow(clippy::too_many_arguments)]
pub async fn start_session(
    state: &AppState,
    ctx: &Ctx,
    requester: &Requester,
    headers: &HeaderMap,
    member: &Member,
    amr: Vec<String>,
    mfa: bool,
    remember: bool,
    flow_id: Option<&str>,
    now: i64,
) -> Response {
    let sessions = Sessions::new(state);
    let previous = signin::current_session(state, headers, now)
        .await
        .ok()
        .flatten();
    let ip = requester.ip.to_string();
    let (token, session) = match sessions
        .create(
            signin::session::NewSession {
                member_id: &member.id,
                amr: amr.clone(),
                mfa,
                remember,
                user_agent: &requester.user_agent,
                ip: &ip,
                flow: flow_id,
            },
            now,
        )
        .await
    {
        Ok(x) => x,
        Err(e) => return crate::error::PageError::internal(ctx.lang, e).into_response(),
    };
    let mut current = signin::session::Current {
        hash: crate::security::tokens::token_hash(&token),
        session,
    };
    if let Some(prev) = previous {
        if prev.session.member_id == member.id {
            // Same member signing in again (prompt=login, max_age): keep the sid and clients.
            let _ = sessions.end(&prev.session.sid, now).await;
            current = match sessions.adopt(current, &prev.session, now).await {
                Ok(c) => c,
                Err(e) => return crate::error::PageError::internal(ctx.lang, e).into_response(),
            };
        } else {
            let _ = crate::oidc::logout::end_session(state, &prev.session.sid, now).await;
        }
    }
    let _ = state
        .members()
        .touch_login(&member.id, now)
        .await
        .page(ctx.lang);
    let _ = state
        .audit()
        .record(
            Some(&member.id),
            Actor::Member,
            "signin.primary",
            json!({"amr": amr}),
            Some(&ip),
            now,
        )
        .await;
    let max_age = remember.then_some(state.config.session.remember_secs);
    let mut res = signin::advance(state, current, flow_id, ctx.lang, now).await;
    res.headers_mut().append(
        SET_COOKIE,
        state.cookies.set("kenpo_session", &token, max_age),
    );
    res
}

/// The `done` page: shown when a sign-in finishes without a relying party to return to.
pub async fn done(State(state): State<AppState>, ctx: Ctx, headers: HeaderMap) -> Response {
    let now = state.now();
    let current = match signin::require_session(&state, &headers, None, now).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = signin::guard_step(&state, &current, None, |s| s == Step::Done, now).await {
        return r;
    }
    let body = html! {
        h1 { (ctx.lang.pick("ログインが完了しました", "You are signed in")) }
        (kenpo_shared::web::notice(ctx.lang.pick("設定はすべて完了しています。", "Everything is set up.")))
        div.actions {
            a.button href="/account" { (ctx.t(i18n::ACCOUNT)) }
        }
    };
    ctx.render(
        &state,
        Frame {
            title: ctx.lang.pick("ログイン完了", "Signed in"),
            step: Some("done"),
            ..Frame::default()
        },
        body,
    )
}
