//! `staff-member`: one member as staff see them (onboarding state, factors with type, label and
//! last use, live sessions, recent audit entries) and the actions their role allows, each with
//! a required reason. A letter (or a password reset in letter mode) answers with the PDF.

use super::actions::{self, Action, ActionError};
use super::layout::{self, REASON_MISSING, when, when_opt};
use super::{CsrfForm, Role, StaffPage, Viewer};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::pages::{Ctx, forms};
use crate::security::request::Requester;
use crate::signin::session::Sessions;
use crate::state::AppState;
use crate::store::credentials::CredentialStore;
use crate::store::members::Member;
pub use crate::texts::staff::member::*;
use axum::extract::Path;
use axum::http::StatusCode;
use kenpo_shared::ids::UserId;
use maud::{Markup, html};
use serde::Deserialize;

async fn load(
    state: &AppState,
    user_id: &str,
    lang: kenpo_shared::Lang,
) -> Result<Member, PageError> {
    let id = UserId::parse(user_id).map_err(|_| PageError::NotFound(lang))?;
    state
        .members()
        .by_user_id(&id)
        .await
        .page(lang)?
        .ok_or(PageError::NotFound(lang))
}

pub async fn get(p: Viewer, Path(user_id): Path<String>) -> PageResult {
    let member = load(&p.state, &user_id, p.ctx.lang).await?;
    page(&p, &member, None, StatusCode::OK).await
}

/// Outcome shown above the page.
enum Flash {
    Ok(String),
    Error(String),
}

async fn page(p: &Viewer, m: &Member, flash: Option<Flash>, status: StatusCode) -> PageResult {
    let StaffPage { state, ctx, me } = p;
    let l = ctx.lang;
    let now = state.now();
    let creds = CredentialStore::new(state.db.clone());
    let passkeys = creds.passkeys(&m.id).await.page(l)?;
    let totp = creds.totp(&m.id).await.page(l)?;
    let sessions = Sessions::new(state).for_member(&m.id, now).await.page(l)?;
    let events = state.audit().for_member(&m.id, 15).await.page(l)?;
    let letter_mode = state.config.onboarding.first_login == crate::config::FirstLogin::Letter;
    let onboarding = if m.onboarded_at.is_some() {
        l.pick("完了", "Finished").to_string()
    } else if m.uses_initial_password() {
        l.pick(
            "初回ログイン前（初期パスワード／招待コード）",
            "Not yet (initial password / invitation code)",
        )
        .to_string()
    } else {
        l.pick("途中", "In progress").to_string()
    };
    let body = html! {
        h1 { (m.name) " " span.small.muted { (m.name_kana) } }
        @match &flash {
            Some(Flash::Ok(t)) => (kenpo_shared::web::notice(t)),
            Some(Flash::Error(t)) => (kenpo_shared::web::alert(t)),
            None => {}
        }
        dl.kv {
            dt { (l.pick("ユーザID", "User ID")) } dd.id { (m.user_id) }
            dt { "記号・番号" } dd.id { (m.symbol) "-" (m.number) }
            dt { (l.pick("生年月日", "Birthdate")) } dd { (m.birthdate) }
            dt { (l.pick("メール", "Email")) }
            dd { (m.email.as_deref().unwrap_or("—")) " " @if m.email.is_some() { span.small.muted { (if m.email_verified { l.pick("（確認済み）", "(confirmed)") } else { l.pick("（未確認）", "(not confirmed)") }) } } }
            dt { (l.pick("状態", "State")) } dd { (ctx.t(super::members::state_label(m))) }
            dt { (l.pick("初回ログイン", "First login")) } dd { (onboarding) }
            dt { (l.pick("最終ログイン", "Last sign-in")) } dd { (when_opt(l, m.last_login_at)) }
        }
        h2 { (l.pick("二段階認証", "Second factors")) }
        ul.plain {
            @for p in &passkeys {
                li { (l.pick("パスキー", "Passkey")) "：" (p.label) " — " (l.pick("最終利用 ", "last used ")) (when_opt(l, p.last_used_at)) }
            }
            @if let Some(t) = &totp {
                li { (l.pick("認証アプリ", "Authenticator app")) " — " (l.pick("最終利用 ", "last used ")) (when_opt(l, t.last_step.map(|s| s * 30))) " (" (l.pick("登録 ", "added ")) (when(l, t.created_at)) ")" }
            }
            @if m.email_otp_enabled { li { (l.pick("メールのワンタイムパスワード", "Email one-time passwords")) } }
            @if passkeys.is_empty() && totp.is_none() && !m.email_otp_enabled { li.muted { (l.pick("未設定", "None")) } }
        }
        h2 { (l.pick("ログイン中のセッション", "Sessions")) }
        ul.plain {
            @for s in &sessions {
                li { (crate::security::request::device_label(&s.user_agent)) " — " (s.ip) " — " (when(l, s.last_seen)) }
            }
            @if sessions.is_empty() { li.muted { (l.pick("なし", "None")) } }
        }
        @if me.may(Role::Operator) { (actions_form(ctx, m, letter_mode)) }
        h2 { (l.pick("最近の記録", "Recent audit entries")) }
        ul.plain {
            @for e in &events {
                li.small { (when(l, e.at)) " — " (e.kind) " (" (e.actor) ")" @if let Some(r) = &e.reason { @if !r.is_empty() { " — " (r) } } }
            }
        }
        p { a href=(format!("/staff/audit?member={}", super::members::urlencode(&m.user_id))) { (l.pick("監査ログをすべて見る", "Whole audit trail")) } }
    };
    Ok(layout::render_status(
        state,
        ctx,
        me,
        status,
        "staff-member",
        ctx.t(TITLE),
        body,
    ))
}

fn actions_form(ctx: &Ctx, m: &Member, letter_mode: bool) -> Markup {
    let l = ctx.lang;
    let button = |value: &str, label: &str, danger: bool| {
        html! { button.secondary.danger[danger] type="submit" name="action" value=(value) { (label) } }
    };
    html! {
        section.card {
            h2 { (l.pick("操作", "Actions")) }
            form method="post" action=(format!("/staff/members/{}", super::members::urlencode(&m.user_id))) {
                (forms::csrf(&ctx.csrf))
                (layout::reason_field(ctx, "member", None))
                div.actions {
                    (button("unlock", l.pick("ログイン制限の解除", "Unlock"), false))
                    (button("reset-mfa", l.pick("二段階認証のリセット", "Reset second factors"), false))
                    (button("reset-password", if letter_mode { l.pick("パスワードのリセット（新しい招待状）", "Reset password (new letter)") } else { l.pick("パスワードのリセット（初期パスワード）", "Reset password (initial password)") }, false))
                    @if letter_mode && m.uses_initial_password() { (button("letter", l.pick("招待状の再発行（PDF）", "Reissue letter (PDF)"), false)) }
                    @if m.disabled_at.is_some() { (button("enable", l.pick("利用の再開", "Re-enable"), false)) }
                    @else { (button("disable", l.pick("利用の停止（退職など）", "Disable (left the union)"), true)) }
                }
                div.field {
                    label for="f-email" { (l.pick("新しいメールアドレス（空欄で削除）", "New email address (empty removes it)")) }
                    input id="f-email" type="email" name="email" maxlength="254" autocomplete="off" value=(m.email.as_deref().unwrap_or(""));
                }
                button.secondary type="submit" name="action" value="change-email" { (l.pick("メールアドレスを変更", "Change email")) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    email: Option<String>,
}

pub async fn post(
    p: Viewer,
    requester: Requester,
    Path(user_id): Path<String>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> PageResult {
    let StaffPage { state, ctx, me } = &p;
    let member = load(state, &user_id, ctx.lang).await?;
    let action = match form.action.as_str() {
        "unlock" => Action::Unlock,
        "reset-mfa" => Action::ResetMfa,
        "reset-password" => Action::ResetPassword,
        "letter" => Action::Letter,
        "disable" => Action::Disable,
        "enable" => Action::Enable,
        "change-email" => Action::ChangeEmail(form.email.clone()),
        _ => {
            return Err(PageError::BadRequest(
                ctx.lang,
                crate::pages::i18n::BAD_REQUEST,
            ));
        }
    };
    // Viewers may look, not act: checked here so the refusal is the same for every action.
    if !me.may(Role::Operator) {
        return Err(PageError::NotAllowed(ctx.lang));
    }
    let Some(reason) = layout::clean_reason(&form.reason) else {
        let flash = Flash::Error(ctx.t(REASON_MISSING).to_string());
        return page(&p, &member, Some(flash), StatusCode::BAD_REQUEST).await;
    };
    let now = state.now();
    let ip = requester.ip.to_string();
    let (shown, flash, status) =
        match actions::apply(state, &member, &action, &me.by(&reason), Some(&ip), now).await {
            Ok(done) => {
                let fresh = load(state, &user_id, ctx.lang).await?;
                if let Some(code) = done.letter_code {
                    return super::letters::pdf_response(
                        state,
                        &[(fresh, code.expose().clone())],
                        &format!("letter-{}", fresh_name(&user_id)),
                        ctx.lang,
                    )
                    .await;
                }
                (fresh, Flash::Ok(ctx.t(DONE).to_string()), StatusCode::OK)
            }
            Err(ActionError::Refused(text)) => (
                member,
                Flash::Error(ctx.t(text).to_string()),
                StatusCode::BAD_REQUEST,
            ),
            Err(ActionError::Internal(e)) => return Err(PageError::internal(ctx.lang, e)),
        };
    page(&p, &shown, Some(flash), status).await
}

/// A file-name-safe form of a user ID.
fn fresh_name(user_id: &str) -> String {
    user_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}
