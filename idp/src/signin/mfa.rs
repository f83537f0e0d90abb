//! The second-factor pages: `mfa-totp`, `mfa-email`, `mfa-passkey`. Two uses:
//!
//! - a step of a sign-in (the member owes a second factor after the password), and
//! - a re-confirmation before a change on the account page ("step-up"): a fully signed-in
//!   member whose last second factor is older than `account::FRESH_SECS` arrives with
//!   `?next=/account…` and returns there afterwards.
//!
//! Each page offers the member's other enrolled factors ("use another method"). Wrong codes
//! draw on the account's brute-force budget shared with the password (`security::throttle`).

use crate::error::{PageError, PageResultExt};
use crate::mfa::email_otp::{self, Purpose as OtpPurpose};
use crate::mfa::passkey::{self, Owner, PasskeyError};
use crate::mfa::{self, Factor, Factors};
use crate::pages::forms::{self, Field, PageForm};
use crate::pages::i18n::{self, Text};
use crate::pages::{Ctx, Frame};
use crate::security::request::Requester;
use crate::security::throttle::{Gate, Throttle};
use crate::signin::passkey_login::{JsonBody, json_error, json_ok, json_redirect};
use crate::signin::session::{Current, Sessions};
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::credentials::CredentialStore;
use crate::store::members::Member;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Lang;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

pub const CODE_LABEL: Text = Text(
    "ワンタイムパスワード（6桁）",
    "One-time password (6 digits)",
);
const TOTP_TITLE: Text = Text(
    "認証アプリのワンタイムパスワード",
    "Code from your authenticator app",
);
const TOTP_HELP: Text = Text(
    "スマートフォンやブラウザの認証アプリ（Google Authenticator など）に表示されている6桁の数字を入力してください。",
    "Enter the 6-digit code shown in your authenticator app (Google Authenticator or similar).",
);
pub const VERIFY: Text = Text("確認する", "Verify");
pub const WRONG_CODE: Text = Text(
    "ワンタイムパスワードが正しくありません。最新の6桁を入力してください。",
    "That code is not correct. Enter the latest 6 digits.",
);
const REPLAYED: Text = Text(
    "このワンタイムパスワードはすでに使われています。次の数字に変わるまでお待ちください。",
    "That code has been used already. Wait for the next one.",
);
pub const OTHER_METHODS: Text = Text("別の方法で認証する", "Use another method");
const STEP_UP_NOTE: Text = Text(
    "大切な設定を変更する前に、ご本人であることをもう一度確認します。",
    "Before an important change, we check once more that it is you.",
);
const EMAIL_TITLE: Text = Text("メールのワンタイムパスワード", "One-time password by email");
pub const EMAIL_SENT_TO: Text = Text(
    "次のアドレスにワンタイムパスワードを送信しました。メールに記載の6桁の数字を入力してください：",
    "We sent a one-time password to this address. Enter the 6 digits from the mail:",
);
pub const EMAIL_NOT_ARRIVED: Text = Text(
    "メールが届かない場合は、迷惑メールフォルダをご確認のうえ「再送信」を押してください。",
    "No mail? Check your spam folder, then press Resend.",
);
pub const RESEND: Text = Text("再送信", "Resend");
pub const RESENT: Text = Text(
    "新しいワンタイムパスワードを送信しました。以前のものは使えません。",
    "A new one-time password is on its way. The earlier one no longer works.",
);
pub const MAIL_FAILED: Text = Text(
    "メールを送信できませんでした。しばらくしてから「再送信」を押してください。",
    "The mail could not be sent. Please press Resend in a moment.",
);
pub const CODE_EXPIRED: Text = Text(
    "ワンタイムパスワードの有効期限が切れたか、すでに使われています。「再送信」を押して新しいワンタイムパスワードを受け取ってください。",
    "That code has expired or was used already. Press Resend to get a new one.",
);
pub const CODE_EXHAUSTED: Text = Text(
    "入力の誤りが続いたため、このワンタイムパスワードは使えなくなりました。「再送信」を押して新しいワンタイムパスワードを受け取ってください。",
    "Too many wrong tries: this code no longer works. Press Resend to get a new one.",
);
pub const CODE_FORMAT: Text = Text("6桁の数字を入力してください。", "Enter the 6 digits.");
const PASSKEY_TITLE: Text = Text("パスキーで認証", "Verify with your passkey");
const PASSKEY_HELP: Text = Text(
    "「パスキーで認証する」を押し、登録した端末の顔認証・指紋認証・画面ロックで確認してください。",
    "Press “Verify with passkey” and confirm with the face, fingerprint or screen lock of the device you registered.",
);
pub const PASSKEY_BUTTON: Text = Text("パスキーで認証する", "Verify with passkey");
pub const PHONE_HELP_TITLE: Text = Text(
    "パソコンでスマートフォンのパスキーを使うには",
    "Using your phone's passkey on a computer",
);
pub const PHONE_HELP: [Text; 3] = [
    Text(
        "表示された画面で「iPhone、iPad、またはAndroidデバイス」または「スマートフォンまたはタブレットを使用」を選びます。",
        "In the window that opens, choose “iPhone, iPad or Android device” or “Use a phone or tablet”.",
    ),
    Text(
        "パソコンに表示された二次元コード（QRコード）を、スマートフォンのカメラで読み取ります。",
        "Scan the QR code shown on the computer with your phone's camera.",
    ),
    Text(
        "パソコンとスマートフォンの両方でBluetoothをオンにして、近くに置いてください。",
        "Turn Bluetooth on on both the computer and the phone, and keep them close together.",
    ),
];
pub const NEEDS_SCRIPT: Text = Text(
    "パスキーを使うには、ブラウザのJavaScriptを有効にしてください。",
    "Passkeys need JavaScript to be turned on in your browser.",
);

/// The second-factor pages of the sign-in sequence (and of step-up).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/signin/mfa-totp", get(totp_get).post(totp_post))
        .route("/signin/mfa-email", get(email_get).post(email_post))
        .route("/signin/mfa-passkey", get(passkey_get))
        .route("/signin/mfa-passkey/options", post(passkey_options))
        .route("/signin/mfa-passkey/finish", post(passkey_finish))
}

#[derive(Debug, Deserialize)]
pub struct FlowQuery {
    pub flow: Option<String>,
    pub next: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub otp: String,
    #[serde(default)]
    pub resend: Option<String>,
}

/// Why a second factor is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A step of a sign-in, possibly for a relying party's flow.
    SignIn { flow: Option<String> },
    /// A re-confirmation before an account change; back to `next` afterwards.
    StepUp { next: String },
}

/// What a second-factor page works with.
pub struct Asked {
    pub current: Current,
    pub member: Member,
    pub factors: Factors,
    pub purpose: Purpose,
}

impl Asked {
    pub fn flow(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::SignIn { flow } => flow.as_deref(),
            Purpose::StepUp { .. } => None,
        }
    }

    pub fn next(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::StepUp { next } => Some(next),
            Purpose::SignIn { .. } => None,
        }
    }

    /// The page of factor `f` for the same purpose.
    pub fn url(&self, f: Factor) -> String {
        match &self.purpose {
            Purpose::SignIn { flow } => signin::step_url(Step::Mfa(f), flow.as_deref()),
            Purpose::StepUp { next } => step_up_url(f, next),
        }
    }

    /// Hidden fields carrying the purpose in forms.
    pub fn hidden(&self) -> Markup {
        html! {
            (forms::flow(self.flow()))
            @if let Some(n) = self.next() { input type="hidden" name="next" value=(n); }
        }
    }
}

/// A `next` target for step-up: only pages of the account section.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    let ok = n.len() <= 200
        && (n == "/account"
            || n.starts_with("/account/")
            || n.starts_with("/account?")
            || n.starts_with("/account#"))
        && !n.contains("//")
        && !n.contains('\\')
        && n.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| n.to_string())
}

/// The step-up page of factor `f`, returning to `next`.
pub fn step_up_url(f: Factor, next: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("{}?next={q}", Step::Mfa(f).path())
}

/// Loads what a second-factor page needs: the member must owe a second factor (sign-in), or
/// be fully signed in and come with a valid `next` (step-up); and have `factor` enrolled.
pub async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    flow_id: Option<&str>,
    next: Option<&str>,
    factor: Factor,
    now: i64,
) -> Result<Asked, Response> {
    let lang = Lang::Ja;
    let flow = signin::load_flow(state, flow_id)
        .await
        .map_err(IntoResponse::into_response)?;
    let flow_id = flow.as_ref().map(|f| f.id.as_str());
    let current = signin::require_session(state, headers, flow_id, now).await?;
    let step = signin::next_step_for(state, &current.session, flow.as_ref(), now)
        .await
        .map_err(IntoResponse::into_response)?;
    let purpose = match (step, safe_next(next)) {
        (Step::Mfa(_), _) => Purpose::SignIn {
            flow: flow_id.map(String::from),
        },
        (Step::Done, Some(next)) if flow.is_none() => Purpose::StepUp { next },
        (other, _) => return Err(Redirect::to(&signin::step_url(other, flow_id)).into_response()),
    };
    let member = state
        .members()
        .by_id(&current.session.member_id)
        .await
        .page(lang)
        .map_err(IntoResponse::into_response)?
        .ok_or_else(|| PageError::NotFound(lang).into_response())?;
    let factors = CredentialStore::new(state.db.clone())
        .factors(&member)
        .await
        .page(lang)
        .map_err(IntoResponse::into_response)?;
    let asked = Asked {
        current,
        member,
        factors,
        purpose,
    };
    if !asked.factors.has(factor) {
        let preferred = asked.factors.preferred(&asked.member);
        if preferred == factor || !asked.factors.has(preferred) {
            return Err(Redirect::to(&signin::step_url(step, flow_id)).into_response());
        }
        return Err(Redirect::to(&asked.url(preferred)).into_response());
    }
    Ok(asked)
}

/// Links to the member's other factors.
pub fn other_methods(ctx: &Ctx, asked: &Asked, current: Factor) -> Markup {
    let others: Vec<Factor> = asked
        .factors
        .list()
        .into_iter()
        .filter(|f| *f != current)
        .collect();
    html! {
        @if !others.is_empty() {
            details.other-methods {
                summary { (ctx.t(OTHER_METHODS)) }
                ul {
                    @for f in others {
                        li { a href=(asked.url(f)) { (ctx.t(mfa::factor_name(f))) } }
                    }
                }
            }
        }
        @if let Some(_) = asked.next() {
            p.links { a href="/account" { (ctx.t(i18n::CANCEL)) } }
        }
    }
}

/// Records a completed second factor in the session and moves on (to the next sign-in step,
/// or back to the account page after a step-up).
pub async fn complete(
    state: &AppState,
    ctx: &Ctx,
    requester: &Requester,
    asked: Asked,
    amr: &[&str],
    now: i64,
) -> Response {
    let Asked {
        mut current,
        member,
        purpose,
        ..
    } = asked;
    for a in amr.iter().chain(std::iter::once(&"mfa")) {
        if !current.session.amr.iter().any(|x| x == a) {
            current.session.amr.push((*a).to_string());
        }
    }
    current.session.mfa_time = Some(now);
    if let Err(e) = Sessions::new(state).save(&current, now).await {
        return PageError::internal(ctx.lang, e).into_response();
    }
    let kind = match purpose {
        Purpose::SignIn { .. } => "signin.second_factor",
        Purpose::StepUp { .. } => "signin.step_up",
    };
    let _ = state
        .audit()
        .record(
            Some(&member.id),
            Actor::Member,
            kind,
            json!({"amr": amr}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await;
    match purpose {
        Purpose::SignIn { flow } => {
            signin::advance(state, current, flow.as_deref(), ctx.lang, now).await
        }
        Purpose::StepUp { next } => Redirect::to(&next).into_response(),
    }
}

/// Claims an attempt from the member's budget: `Some(message)` when refused for now.
pub async fn attempt(
    state: &AppState,
    ctx: &Ctx,
    member: &Member,
) -> Result<Option<String>, PageError> {
    match Throttle::new(&state.eph, &state.config.throttle)
        .account_attempt(&member.user_id_key)
        .await
        .page(ctx.lang)?
    {
        Gate::Open => Ok(None),
        Gate::Wait(w) => {
            let wait = i18n::wait_text(ctx.lang, w);
            Ok(Some(format!(
                "{} ({})",
                ctx.t(i18n::TOO_MANY),
                ctx.lang
                    .pick(&format!("あと{wait}"), &format!("wait {wait}"))
            )))
        }
    }
}

fn frame<'a>(ctx: &Ctx, title: Text, step: &'a str, scripts: Vec<&'a str>) -> Frame<'a> {
    Frame {
        title: ctx.t(title),
        step: Some(step),
        scripts,
        ..Frame::default()
    }
}

// ---- authenticator app ----

fn totp_page(
    state: &AppState,
    ctx: &Ctx,
    asked: &Asked,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { (ctx.t(TOTP_TITLE)) }
        @if asked.next().is_some() { p { (ctx.t(STEP_UP_NOTE)) } }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        p { (ctx.t(TOTP_HELP)) }
        form method="post" action="/signin/mfa-totp" novalidate {
            (forms::csrf(&ctx.csrf))
            (asked.hidden())
            (Field { autocomplete: "one-time-code", inputmode: Some("numeric"), class: Some("code"), autofocus: true, maxlength: Some(20), error, ..Field::new("otp", ctx.t(CODE_LABEL)) }.render())
            button.primary type="submit" { (ctx.t(VERIFY)) }
        }
        (other_methods(ctx, asked, Factor::Totp))
    };
    ctx.render_status(
        state,
        status,
        frame(ctx, TOTP_TITLE, "mfa-totp", Vec::new()),
        body,
    )
}

pub async fn totp_get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    match prepare(
        &state,
        &headers,
        q.flow.as_deref(),
        q.next.as_deref(),
        Factor::Totp,
        now,
    )
    .await
    {
        Ok(asked) => totp_page(&state, &ctx, &asked, None, StatusCode::OK),
        Err(r) => r,
    }
}

pub async fn totp_post(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let asked = match prepare(
        &state,
        &headers,
        form.flow.as_deref(),
        form.next.as_deref(),
        Factor::Totp,
        now,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    match attempt(&state, &ctx, &asked.member).await {
        Ok(None) => {}
        Ok(Some(msg)) => {
            return totp_page(
                &state,
                &ctx,
                &asked,
                Some(&msg),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return e.into_response(),
    }
    match mfa::totp::verify(&state.db, &state.sbox, &asked.member.id, &form.otp, now).await {
        Ok(mfa::totp::Check::Accepted) => {
            complete(&state, &ctx, &requester, asked, &["otp"], now).await
        }
        Ok(mfa::totp::Check::Replayed) => totp_page(
            &state,
            &ctx,
            &asked,
            Some(ctx.t(REPLAYED)),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(_) => totp_page(
            &state,
            &ctx,
            &asked,
            Some(ctx.t(WRONG_CODE)),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => PageError::internal(ctx.lang, e).into_response(),
    }
}

// ---- email one-time password ----

/// `t***@example.jp`: enough for the member to recognise the address, not to learn it.
pub fn masked(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// What to say about the last send on an email-code page.
pub enum SendNote {
    None,
    Sent,
    Resent,
    Wait(u64),
    Failed,
}

impl SendNote {
    pub fn from_issue(i: &email_otp::Issue, resend: bool) -> SendNote {
        match i {
            email_otp::Issue::Sent { .. } if resend => SendNote::Resent,
            email_otp::Issue::Sent { .. } => SendNote::Sent,
            email_otp::Issue::Wait(w) => SendNote::Wait(*w),
            email_otp::Issue::MailFailed => SendNote::Failed,
        }
    }

    /// (notice, alert) texts.
    pub fn render(&self, ctx: &Ctx) -> Markup {
        html! {
            @match self {
                SendNote::Resent => (kenpo_shared::web::notice(ctx.t(RESENT))),
                SendNote::Failed => (kenpo_shared::web::alert(ctx.t(MAIL_FAILED))),
                SendNote::Wait(w) => (kenpo_shared::web::alert(&resend_wait(ctx.lang, *w))),
                _ => {}
            }
        }
    }
}

pub fn resend_wait(lang: Lang, w: u64) -> String {
    let wait = i18n::wait_text(lang, w);
    match lang {
        Lang::Ja => {
            format!("続けて送信できません。{wait}ほど待ってから「再送信」を押してください。")
        }
        Lang::En => format!("Mail was sent a moment ago. Wait {wait}, then press Resend."),
    }
}

/// Mails a sign-in code unless a live one is out (first visit), or always (resend).
async fn send_signin_code(
    state: &AppState,
    ctx: &Ctx,
    member: &Member,
    force: bool,
    now: i64,
) -> Result<SendNote, PageError> {
    let Some(address) = member.email.as_deref() else {
        return Ok(SendNote::Failed);
    };
    if !force
        && email_otp::live(state, &member.id, OtpPurpose::SignIn, now)
            .await
            .page(ctx.lang)?
            .is_some()
    {
        return Ok(SendNote::None);
    }
    let issued = email_otp::issue(
        state,
        &member.id,
        OtpPurpose::SignIn,
        address,
        ctx.lang,
        now,
    )
    .await
    .page(ctx.lang)?;
    Ok(SendNote::from_issue(&issued, force))
}

fn email_page(
    state: &AppState,
    ctx: &Ctx,
    asked: &Asked,
    note: &SendNote,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let address = asked
        .member
        .email
        .as_deref()
        .map(masked)
        .unwrap_or_default();
    let body = html! {
        h1 { (ctx.t(EMAIL_TITLE)) }
        @if asked.next().is_some() { p { (ctx.t(STEP_UP_NOTE)) } }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        (note.render(ctx))
        p { (ctx.t(EMAIL_SENT_TO)) " " strong { (address) } }
        form method="post" action="/signin/mfa-email" novalidate {
            (forms::csrf(&ctx.csrf))
            (asked.hidden())
            (Field { autocomplete: "one-time-code", inputmode: Some("numeric"), class: Some("code"), autofocus: true, maxlength: Some(20), error, ..Field::new("otp", ctx.t(CODE_LABEL)) }.render())
            button.primary type="submit" { (ctx.t(VERIFY)) }
        }
        p.small { (ctx.t(EMAIL_NOT_ARRIVED)) }
        form method="post" action="/signin/mfa-email" {
            (forms::csrf(&ctx.csrf))
            (asked.hidden())
            button.secondary type="submit" name="resend" value="yes" { (ctx.t(RESEND)) }
        }
        (other_methods(ctx, asked, Factor::Email))
    };
    ctx.render_status(
        state,
        status,
        frame(ctx, EMAIL_TITLE, "mfa-email", Vec::new()),
        body,
    )
}

pub async fn email_get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    let asked = match prepare(
        &state,
        &headers,
        q.flow.as_deref(),
        q.next.as_deref(),
        Factor::Email,
        now,
    )
    .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    match send_signin_code(&state, &ctx, &asked.member, false, now).await {
        Ok(note) => email_page(&state, &ctx, &asked, &note, None, StatusCode::OK),
        Err(e) => e.into_response(),
    }
}

/// The message for a code check that did not succeed (shared with enrolment pages).
pub fn code_failure(ctx: &Ctx, check: &email_otp::Check) -> String {
    match check {
        email_otp::Check::Wrong { remaining } => match ctx.lang {
            Lang::Ja => format!(
                "ワンタイムパスワードが正しくありません。メールに記載の6桁を入力してください（あと{remaining}回）。"
            ),
            Lang::En => format!(
                "That code is not correct. Enter the 6 digits from the mail ({remaining} tries left)."
            ),
        },
        email_otp::Check::Exhausted => ctx.t(CODE_EXHAUSTED).into(),
        email_otp::Check::Malformed => ctx.t(CODE_FORMAT).into(),
        _ => ctx.t(CODE_EXPIRED).into(),
    }
}

pub async fn email_post(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let asked = match prepare(
        &state,
        &headers,
        form.flow.as_deref(),
        form.next.as_deref(),
        Factor::Email,
        now,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    if form.resend.is_some() {
        return match send_signin_code(&state, &ctx, &asked.member, true, now).await {
            Ok(note) => {
                let status = match note {
                    SendNote::Wait(_) => StatusCode::TOO_MANY_REQUESTS,
                    SendNote::Failed => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::OK,
                };
                email_page(&state, &ctx, &asked, &note, None, status)
            }
            Err(e) => e.into_response(),
        };
    }
    match attempt(&state, &ctx, &asked.member).await {
        Ok(None) => {}
        Ok(Some(msg)) => {
            return email_page(
                &state,
                &ctx,
                &asked,
                &SendNote::None,
                Some(&msg),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return e.into_response(),
    }
    match email_otp::verify(&state, &asked.member.id, OtpPurpose::SignIn, &form.otp, now).await {
        Ok(email_otp::Check::Accepted { .. }) => {
            complete(&state, &ctx, &requester, asked, &["otp", "mca"], now).await
        }
        Ok(check) => {
            let msg = code_failure(&ctx, &check);
            email_page(
                &state,
                &ctx,
                &asked,
                &SendNote::None,
                Some(&msg),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => PageError::internal(ctx.lang, e).into_response(),
    }
}

// ---- passkey ----

/// The phone / tablet (hybrid) explanation, as the union's guide gives it.
pub fn phone_help(ctx: &Ctx) -> Markup {
    html! {
        details.phone-help {
            summary { (ctx.t(PHONE_HELP_TITLE)) }
            ol { @for t in PHONE_HELP { li { (ctx.t(t)) } } }
        }
    }
}

fn passkey_page(state: &AppState, ctx: &Ctx, asked: &Asked) -> Response {
    let body = html! {
        h1 { (ctx.t(PASSKEY_TITLE)) }
        @if asked.next().is_some() { p { (ctx.t(STEP_UP_NOTE)) } }
        p { (ctx.t(PASSKEY_HELP)) }
        form.passkey method="post" action="/signin/mfa-passkey/finish"
            data-options="/signin/mfa-passkey/options" data-finish="/signin/mfa-passkey/finish" {
            (forms::csrf(&ctx.csrf))
            (asked.hidden())
            div.passkey-status role="alert" aria-live="assertive" {}
            button.primary type="button" data-action="passkey-authenticate" { (ctx.t(PASSKEY_BUTTON)) }
        }
        noscript { (kenpo_shared::web::alert(ctx.t(NEEDS_SCRIPT))) }
        (phone_help(ctx))
        (other_methods(ctx, asked, Factor::Passkey))
    };
    ctx.render(
        state,
        frame(
            ctx,
            PASSKEY_TITLE,
            "mfa-passkey",
            vec!["/static/passkey.js"],
        ),
        body,
    )
}

pub async fn passkey_get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    match prepare(
        &state,
        &headers,
        q.flow.as_deref(),
        q.next.as_deref(),
        Factor::Passkey,
        now,
    )
    .await
    {
        Ok(asked) => passkey_page(&state, &ctx, &asked),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct CeremonyRequest {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Deserialize)]
pub struct AssertionRequest {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub ceremony: String,
    pub credential: PublicKeyCredential,
}

pub const CEREMONY_EXPIRED: Text = Text(
    "時間切れになったため、確認できませんでした。もう一度ボタンを押してください。",
    "The request timed out. Please press the button again.",
);
pub const PASSKEY_REFUSED: Text = Text(
    "パスキーを確認できませんでした。もう一度お試しください。うまくいかない場合は別の方法をお選びください。",
    "Your passkey could not be verified. Please try again, or use another method.",
);
pub const PASSKEY_UNKNOWN: Text = Text(
    "このパスキーは登録されていません（削除されたか、別のサービスのものです）。登録済みの別のパスキーか、別の方法をお選びください。",
    "This passkey is not registered here (it was removed, or belongs to another service). Use another passkey or another method.",
);
pub const PASSKEY_CLONED: Text = Text(
    "安全のため、このパスキーは使用できません。別の方法でログインし、アカウント設定でパスキーを登録し直してください。",
    "For your safety this passkey cannot be used. Sign in another way and register the passkey again on your account page.",
);

/// The member-facing message of a failed ceremony (logged when it is not the member's doing).
pub fn passkey_failure(lang: Lang, e: PasskeyError) -> Response {
    let (status, text) = match &e {
        PasskeyError::Expired => (StatusCode::BAD_REQUEST, CEREMONY_EXPIRED),
        PasskeyError::UnknownCredential => (StatusCode::UNAUTHORIZED, PASSKEY_UNKNOWN),
        PasskeyError::CounterRegression => (StatusCode::UNAUTHORIZED, PASSKEY_CLONED),
        PasskeyError::Refused(why) => {
            tracing::info!(reason = %why, "passkey response refused");
            (StatusCode::UNAUTHORIZED, PASSKEY_REFUSED)
        }
        PasskeyError::NoPasskey | PasskeyError::Duplicate => {
            (StatusCode::BAD_REQUEST, PASSKEY_REFUSED)
        }
        PasskeyError::Store(_) | PasskeyError::Ephemeral(_) | PasskeyError::Encode(_) => {
            let reference = crate::security::tokens::new_id()[..10].to_string();
            tracing::error!(reference, error = %e, "passkey ceremony failed");
            let msg = format!(
                "{} ({}: {reference})",
                i18n::INTERNAL_ERROR.get(lang),
                i18n::REFERENCE.get(lang)
            );
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, &msg);
        }
    };
    json_error(status, text.get(lang))
}

fn owner(current: &Current) -> Owner {
    Owner {
        member_id: current.session.member_id.clone(),
        sid: current.session.sid.clone(),
    }
}

pub async fn passkey_options(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CeremonyRequest>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&req.csrf) {
        return json_error(StatusCode::FORBIDDEN, ctx.t(i18n::STALE_FORM));
    }
    let asked = match prepare(
        &state,
        &headers,
        req.flow.as_deref(),
        req.next.as_deref(),
        Factor::Passkey,
        now,
    )
    .await
    {
        Ok(a) => a,
        Err(r) => return json_redirect(r),
    };
    match passkey::start_second_factor(&state, &asked.member, owner(&asked.current), now).await {
        Ok((ceremony, options)) => json_ok(json!({"ceremony": ceremony, "options": options})),
        Err(e) => passkey_failure(ctx.lang, e),
    }
}

pub async fn passkey_finish(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    JsonBody(req): JsonBody<AssertionRequest>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&req.csrf) {
        return json_error(StatusCode::FORBIDDEN, ctx.t(i18n::STALE_FORM));
    }
    let asked = match prepare(
        &state,
        &headers,
        req.flow.as_deref(),
        req.next.as_deref(),
        Factor::Passkey,
        now,
    )
    .await
    {
        Ok(a) => a,
        Err(r) => return json_redirect(r),
    };
    let ip = requester.ip.to_string();
    match passkey::finish_second_factor(
        &state,
        owner(&asked.current),
        &req.ceremony,
        &req.credential,
        &ip,
        now,
    )
    .await
    {
        Ok(_) => {
            json_redirect(complete(&state, &ctx, &requester, asked, &["hwk", "user"], now).await)
        }
        Err(e) => passkey_failure(ctx.lang, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_returns_only_to_the_account_pages() {
        assert_eq!(safe_next(Some("/account")).as_deref(), Some("/account"));
        assert_eq!(
            safe_next(Some("/account/enroll-totp")).as_deref(),
            Some("/account/enroll-totp")
        );
        assert_eq!(safe_next(Some("https://evil.example/account")), None);
        assert_eq!(safe_next(Some("//evil.example/account")), None);
        assert_eq!(safe_next(Some("/account//evil")), None);
        assert_eq!(safe_next(Some("/accounting")), None);
        assert_eq!(
            safe_next(Some("/account#password")).as_deref(),
            Some("/account#password")
        );
        assert_eq!(safe_next(Some("/account/\\evil")), None);
        assert_eq!(safe_next(None), None);
        assert_eq!(
            step_up_url(Factor::Totp, "/account?x=1"),
            "/signin/mfa-totp?next=%2Faccount%3Fx%3D1"
        );
        assert_eq!(masked("taro@example.jp"), "t***@example.jp");
    }
}
