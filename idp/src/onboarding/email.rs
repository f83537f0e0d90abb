//! `email` and `email-sent` (SPEC step 4), and the verification link they mail.
//!
//! The member confirms or changes the address (prefilled from the import); the IdP stores it
//! as unverified and mails a one-time link (`security::links`, 60 minutes). While that mail is
//! out, `signin::email_pending_key` makes the step sequence show `email-sent`, from any device.
//! Opening the link marks the address verified — only if it is still the member's address, so
//! a link for an address they replaced confirms nothing — and then either continues the
//! sign-in directly (same browser, same member) or tells the member to go back to the first
//! tab. There, `continue` moves on once the address is verified, whichever tab, browser or
//! device opened the link. Opening the link again is harmless (the address stays verified);
//! mail scanners that fetch links do no more than the member would.
//!
//! Threats: mail bombing a victim's address (sends are limited per member per minute and per
//! hour); confirming an address one does not read (needs the 256-bit link); a stale link
//! confirming a replaced address (bound to the address).

use super::{FlowQuery, Visit, csrf_refused, visit};
use crate::error::PageError;
use crate::mail::{Mail, MailKind};
use crate::pages::Ctx;
use crate::pages::forms::{self, Field, PageForm};
use crate::pages::i18n::{self, Text};
use crate::security::links::{self, LinkKind};
use crate::security::throttle::{Gate, Throttle};
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::ephemeral::secs;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Lang;
use kenpo_shared::ids::normalize;
use maud::html;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Lifetime of a verification link (and of the `email-sent` state).
pub const VERIFY_TTL_SECS: i64 = 3600;
/// Verification mails per member: at most one a minute, and this many an hour.
const SENDS_PER_HOUR: i64 = 6;

const TITLE: Text = Text("メールアドレスの確認", "Your email address");
const LEAD: Text = Text(
    "ログインの確認や、パスワードを忘れたときのご案内に使うメールアドレスです。表示されているアドレスでよければ、そのまま「確認メールを送る」を押してください。",
    "We use this address to confirm sign-ins and to help you if you forget your password. If the address shown is right, just press “Send confirmation mail”.",
);
const LABEL: Text = Text("メールアドレス", "Email address");
const HINT: Text = Text(
    "変更は必須ではありません。このアドレスに確認のメールが届きます。",
    "You do not have to change it. A confirmation mail will be sent to this address.",
);
const SEND: Text = Text("確認メールを送る", "Send confirmation mail");
const EMPTY: Text = Text(
    "メールアドレスを入力してください。",
    "Enter your email address.",
);
const INVALID: Text = Text(
    "メールアドレスの形が正しくありません。「taro@example.jp」のように入力してください。",
    "That does not look like an email address. Type it like taro@example.jp.",
);
const SEND_FAILED: Text = Text(
    "メールを送れませんでした。しばらくしてから、もう一度お試しください。",
    "The mail could not be sent. Please try again in a few minutes.",
);
const SENT_TITLE: Text = Text("メールをご確認ください", "Check your mail");
const SENT_STEP1: Text = Text(
    "届いたメールを開き、本文のリンクを開いてください。ほかのスマートフォンやパソコンで開いてもかまいません。",
    "Open the mail and open the link in it. You may open it on another phone or computer.",
);
const SENT_STEP2: Text = Text(
    "この画面に戻り、「次へ」を押してください。",
    "Come back to this page and press “Next”.",
);
const NEXT: Text = Text("次へ", "Next");
const RESEND: Text = Text("メールをもう一度送る", "Send the mail again");
const CHANGE: Text = Text("メールアドレスを変更する", "Use another address");
const RESENT: Text = Text(
    "確認メールをもう一度送りました。新しいメールのリンクを開いてください。",
    "We sent the mail again. Open the link in the newest mail.",
);
const CONFIRMED_HERE: Text = Text(
    "メールアドレスを確認できました。「次へ」を押して進んでください。",
    "Your address is confirmed. Press “Next” to go on.",
);
const NOT_YET: Text = Text(
    "まだメールアドレスの確認ができていません。メールのリンクを開いてから「次へ」を押してください。",
    "Your address is not confirmed yet. Open the link in the mail, then press “Next”.",
);
const WAIT: Text = Text(
    "続けて送ることはできません。少し待ってから、もう一度お試しください。",
    "Mails cannot be sent this often. Please wait a little and try again.",
);
const LINK_BAD_TITLE: Text = Text("このリンクは使えません", "This link cannot be used");
const LINK_BAD: Text = Text(
    "リンクの有効期限（60分）が切れたか、新しい確認メールが送られています。元の画面で「メールをもう一度送る」を押すか、もう一度ログインしてください。",
    "The link has expired (after 60 minutes) or a newer mail was sent. Press “Send the mail again” on the original page, or sign in again.",
);
const VERIFIED_TITLE: Text = Text(
    "メールアドレスを確認しました",
    "Your email address is confirmed",
);
const VERIFIED_BODY: Text = Text(
    "ありがとうございます。元の画面に戻り、「次へ」を押して続けてください。この画面は閉じてかまいません。",
    "Thank you. Go back to the original page and press “Next” to continue. You can close this page.",
);

/// What a verification link stands for.
#[derive(Debug, Serialize, Deserialize)]
struct VerifyLink {
    member_id: String,
    email: String,
    flow: Option<String>,
}

/// Checks a typed email address: NFKC (全角 → 半角), trimmed, lower-cased; the syntax a
/// mail can be delivered to (a domain with a dot). Shared with "forgot user ID".
pub fn parse_email(input: &str) -> Result<String, Text> {
    let s = normalize(input).to_ascii_lowercase();
    if s.is_empty() {
        return Err(EMPTY);
    }
    let ok = s.len() <= 254
        && s.parse::<lettre::Address>().is_ok()
        && s.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(s) } else { Err(INVALID) }
}

/// Mails a verification link for `email` and marks the mail as out. `Err` carries the
/// message for the member (throttled, or the mail could not be sent).
async fn send_link(state: &AppState, v: &Visit, email: &str, now: i64) -> Result<(), String> {
    let lang = v.lang();
    let throttle = Throttle::new(&state.eph, &state.config.throttle);
    let id = &v.member.id;
    let gates = [
        throttle
            .limit(&format!("verifymail:m:{id}"), 1, 60, now)
            .await,
        throttle
            .limit(&format!("verifymail:h:{id}"), SENDS_PER_HOUR, 3600, now)
            .await,
    ];
    for g in gates {
        match g {
            Ok(Gate::Open) => {}
            Ok(Gate::Wait(w)) => {
                return Err(format!(
                    "{} {}",
                    WAIT.get(lang),
                    lang.pick(
                        &format!("（あと{}）", i18n::wait_text(lang, w)),
                        &format!("(wait {})", i18n::wait_text(lang, w))
                    )
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "verification mail throttle");
                return Err(SEND_FAILED.get(lang).to_string());
            }
        }
    }
    let payload = VerifyLink {
        member_id: id.clone(),
        email: email.to_string(),
        flow: v.flow_id().map(String::from),
    };
    let token = links::create(
        &state.eph,
        LinkKind::VerifyEmail,
        &payload,
        VERIFY_TTL_SECS,
        now,
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "verification link");
        SEND_FAILED.get(lang).to_string()
    })?;
    let mut link = state.url(&format!("/signin/verify-email?token={token}"));
    if lang == Lang::En {
        link.push_str("&lang=en");
    }
    state
        .send_mail(Mail {
            to: email.to_string(),
            lang,
            kind: MailKind::VerifyEmail {
                link,
                minutes: VERIFY_TTL_SECS / 60,
            },
        })
        .await
        .map_err(|_| SEND_FAILED.get(lang).to_string())?;
    state
        .eph
        .put(&signin::email_pending_key(id), "1", secs(VERIFY_TTL_SECS))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "email pending marker");
            SEND_FAILED.get(lang).to_string()
        })?;
    v.audit(state, "email.verification_sent", json!({}), now)
        .await;
    Ok(())
}

// ---- email ----

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    email: String,
}

fn email_page(
    state: &AppState,
    v: &Visit,
    value: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = &v.ctx;
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        p { (ctx.t(LEAD)) }
        form method="post" action="/signin/email" novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(v.flow_id()))
            (Field { kind: "email", autocomplete: "email", inputmode: Some("email"), value, hint: Some(ctx.t(HINT)), error, maxlength: Some(254), ..Field::new("email", ctx.t(LABEL)) }.render())
            button.primary type="submit" { (ctx.t(SEND)) }
        }
    };
    v.render(state, status, Step::Email, ctx.t(TITLE), vec![], body)
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    match visit(
        &state,
        ctx,
        &headers,
        q.flow.as_deref(),
        |s| s == Step::Email,
        now,
    )
    .await
    {
        Ok(v) => {
            let value = v.member.email.clone().unwrap_or_default();
            email_page(&state, &v, &value, None, StatusCode::OK)
        }
        Err(r) => r,
    }
}

pub async fn post(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<EmailForm>,
) -> Response {
    let now = state.now();
    if let Some(r) = csrf_refused(&ctx, &form.csrf) {
        return r;
    }
    let v = match visit(
        &state,
        ctx,
        &headers,
        form.flow.as_deref(),
        |s| s == Step::Email,
        now,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang();
    let typed: String = form.email.chars().take(320).collect();
    let email = match parse_email(&typed) {
        Ok(e) => e,
        Err(msg) => {
            return email_page(
                &state,
                &v,
                &typed,
                Some(msg.get(lang)),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    if v.member.email.as_deref() != Some(email.as_str())
        && let Err(e) = state
            .members()
            .set_email(&v.member.id, &email, false, now)
            .await
    {
        return PageError::internal(lang, e).into_response();
    }
    match send_link(&state, &v, &email, now).await {
        Ok(()) => v.advance(&state, now).await,
        Err(msg) => email_page(
            &state,
            &v,
            &email,
            Some(&msg),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    }
}

// ---- email-sent ----

#[derive(Deserialize)]
pub struct SentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default, rename = "continue")]
    go_on: Option<String>,
    #[serde(default)]
    resend: Option<String>,
    #[serde(default)]
    change: Option<String>,
}

fn sent_page(
    state: &AppState,
    v: &Visit,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let ctx = &v.ctx;
    let email = v.member.email.clone().unwrap_or_default();
    let from = &state.config.mail.from_address;
    let status_url = match v.flow_id() {
        Some(f) => format!("/signin/email-sent/status?flow={f}"),
        None => "/signin/email-sent/status".to_string(),
    };
    let body = html! {
        h1 { (ctx.t(SENT_TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        @if let Some(n) = notice { (kenpo_shared::web::notice(n)) }
        p {
            @match ctx.lang {
                Lang::Ja => { strong.break-all { (email) } " あてに確認メールを送りました。" },
                Lang::En => { "We sent a confirmation mail to " strong.break-all { (email) } "." },
            }
        }
        ol.steps {
            li { (ctx.t(SENT_STEP1)) }
            li { (ctx.t(SENT_STEP2)) }
        }
        form method="post" action="/signin/email-sent" {
            (forms::csrf(&ctx.csrf))
            (forms::flow(v.flow_id()))
            p id="email-confirmed" role="status" data-status-url=(status_url) data-text=(ctx.t(CONFIRMED_HERE)) {}
            button.primary type="submit" name="continue" value="yes" { (ctx.t(NEXT)) }
            h2 { (ctx.lang.pick("メールが届かないときは", "No mail?")) }
            p.small {
                @match ctx.lang {
                    Lang::Ja => { "迷惑メールのフォルダもご確認ください。送信元は " span.break-all { (from) } " です。リンクの有効期限は60分です。" },
                    Lang::En => { "Please check your spam folder too. The mail comes from " span.break-all { (from) } ". The link is valid for 60 minutes." },
                }
            }
            div.actions {
                button.secondary type="submit" name="resend" value="yes" { (ctx.t(RESEND)) }
                button.link type="submit" name="change" value="yes" { (ctx.t(CHANGE)) }
            }
        }
    };
    v.render(
        state,
        status,
        Step::EmailSent,
        ctx.t(SENT_TITLE),
        vec!["/static/email-sent.js"],
        body,
    )
}

pub async fn sent_get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    match visit(
        &state,
        ctx,
        &headers,
        q.flow.as_deref(),
        |s| s == Step::EmailSent,
        now,
    )
    .await
    {
        Ok(v) => sent_page(&state, &v, None, None, StatusCode::OK),
        Err(r) => r,
    }
}

/// `continue`: the visit itself moves on once the address is verified (the step owed is then
/// no longer `email-sent`); `resend`: a new link; `change`: back to the `email` step.
pub async fn sent_post(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<SentForm>,
) -> Response {
    let now = state.now();
    if let Some(r) = csrf_refused(&ctx, &form.csrf) {
        return r;
    }
    let v = match visit(
        &state,
        ctx,
        &headers,
        form.flow.as_deref(),
        |s| s == Step::EmailSent,
        now,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lang = v.lang();
    if form.change.is_some() {
        if let Err(e) = state
            .eph
            .delete(&signin::email_pending_key(&v.member.id))
            .await
        {
            return PageError::internal(lang, e).into_response();
        }
        return Redirect::to(&signin::step_url(Step::Email, v.flow_id())).into_response();
    }
    if form.resend.is_some() {
        let email = v.member.email.clone().unwrap_or_default();
        return match send_link(&state, &v, &email, now).await {
            Ok(()) => sent_page(&state, &v, Some(RESENT.get(lang)), None, StatusCode::OK),
            Err(msg) => sent_page(&state, &v, None, Some(&msg), StatusCode::TOO_MANY_REQUESTS),
        };
    }
    let _ = form.go_on;
    sent_page(
        &state,
        &v,
        None,
        Some(NOT_YET.get(lang)),
        StatusCode::CONFLICT,
    )
}

/// `GET /signin/email-sent/status`: whether the address is verified yet, for the page script
/// that tells a member waiting on `email-sent` that the link was opened elsewhere.
pub async fn sent_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    let current = match signin::current_session(&state, &headers, now).await {
        Ok(Some(c)) => c,
        Ok(None) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(e) => return e.into_response(),
    };
    let flow = match signin::load_flow(&state, q.flow.as_deref()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let owed = match signin::next_step_for(&state, &current.session, flow.as_ref(), now).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mut res = axum::Json(json!({ "waiting": owed == Step::EmailSent })).into_response();
    crate::pages::no_store(&mut res);
    res
}

// ---- the link ----

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    token: String,
}

fn link_page(state: &AppState, ctx: &Ctx, ok: bool) -> Response {
    let (title, status) = if ok {
        (ctx.t(VERIFIED_TITLE), StatusCode::OK)
    } else {
        (ctx.t(LINK_BAD_TITLE), StatusCode::GONE)
    };
    let body = html! {
        h1 { (title) }
        @if ok {
            (kenpo_shared::web::notice(ctx.t(VERIFIED_BODY)))
        } @else {
            (kenpo_shared::web::alert(ctx.t(LINK_BAD)))
            p { a href="/login" { (ctx.t(i18n::BACK_TO_START)) } }
        }
    };
    ctx.render_status(
        state,
        status,
        crate::pages::Frame {
            title,
            step: Some(if ok { "email-verified" } else { "link-invalid" }),
            ..Default::default()
        },
        body,
    )
}

/// `GET /signin/verify-email?token=…`: confirms the address, then continues the sign-in in
/// this browser if it is the member's, or asks them to return to the original tab.
pub async fn verify(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let now = state.now();
    let lang = ctx.lang;
    let link =
        match links::take::<VerifyLink>(&state.eph, LinkKind::VerifyEmail, &q.token, now).await {
            Ok(l) => l,
            Err(e) => return PageError::internal(lang, e).into_response(),
        };
    let Some(link) = link else {
        return link_page(&state, &ctx, false);
    };
    let member = match state.members().by_id(&link.member_id).await {
        Ok(m) => m,
        Err(e) => return PageError::internal(lang, e).into_response(),
    };
    let Some(member) = member.filter(|m| m.email.as_deref() == Some(link.email.as_str())) else {
        return link_page(&state, &ctx, false);
    };
    if !member.email_verified {
        if let Err(e) = state
            .members()
            .set_email(&member.id, &link.email, true, now)
            .await
        {
            return PageError::internal(lang, e).into_response();
        }
        let _ = state
            .audit()
            .record(
                Some(&member.id),
                Actor::Member,
                "email.verified",
                json!({}),
                None,
                now,
            )
            .await;
    }
    if let Err(e) = state
        .eph
        .delete(&signin::email_pending_key(&member.id))
        .await
    {
        return PageError::internal(lang, e).into_response();
    }
    // Same browser, same member: carry on with the sign-in right here.
    if let Ok(Some(current)) = signin::current_session(&state, &headers, now).await
        && current.session.member_id == member.id
    {
        return signin::advance(&state, current, link.flow.as_deref(), lang, now).await;
    }
    link_page(&state, &ctx, true)
}

#[cfg(test)]
mod tests {
    use super::parse_email;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(
            parse_email(" Taro@Example.JP ").as_deref(),
            Ok("taro@example.jp")
        );
        assert_eq!(
            parse_email("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ").as_deref(),
            Ok("taro@example.jp"),
            "full-width input"
        );
        assert_eq!(
            parse_email("taro.yamada+kenpo@mail.example.co.jp").as_deref(),
            Ok("taro.yamada+kenpo@mail.example.co.jp")
        );
        for bad in [
            "",
            "taro",
            "taro@",
            "@example.jp",
            "taro@localhost",
            "taro@example.",
            "ta ro@example.jp",
            "taro@@example.jp",
        ] {
            assert!(parse_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.jp", "a".repeat(65));
        assert!(parse_email(&long).is_err());
    }
}
