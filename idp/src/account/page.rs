//! Rendering of the account page.

use crate::error::{PageResult, PageResultExt};
use crate::mail::masked;
use crate::mfa::email_otp::{self, Purpose as OtpPurpose};
use crate::mfa::factor_name;
use crate::pages::forms::{self, Field};
use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame};
use crate::security::request::device_label;
use crate::signin::mfa_email::RESEND;
use crate::signin::session::Sessions;
use crate::signin::visit::{SignedIn, Visit};
use crate::state::AppState;
use crate::store::credentials::{CredentialStore, PasskeyRow};
pub use crate::texts::account::page::*;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use maud::{Markup, html};
use serde::Deserialize;

/// A message to show at the top of the page (after an action), or beside a section's form.
#[derive(Default)]
pub struct Flash {
    pub notice: Option<String>,
    /// (section id, message): the section whose form failed.
    pub error: Option<(&'static str, String)>,
    /// Typed values to show again (new email).
    pub email: String,
}

impl Flash {
    pub fn error(section: &'static str, message: impl Into<String>) -> Flash {
        Flash {
            error: Some((section, message.into())),
            ..Flash::default()
        }
    }

    fn error_for(&self, section: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(s, _)| *s == section)
            .map(|(_, m)| m.as_str())
    }
}

/// The notices of `?done=`.
fn done_text(key: &str) -> Option<Text> {
    Some(match key {
        "passkey-added" => Text("パスキーを登録しました。", "Your passkey was added."),
        "totp-added" => Text(
            "認証アプリを設定しました。",
            "Your authenticator app is set up.",
        ),
        "email-added" => Text(
            "メールのワンタイムパスワードを有効にしました。",
            "One-time passwords by email are on.",
        ),
        "passkey-renamed" => Text("パスキーの名前を変更しました。", "Passkey renamed."),
        "passkey-removed" => Text("パスキーを削除しました。", "Passkey removed."),
        "totp-removed" => Text(
            "認証アプリの設定を削除しました。",
            "Authenticator app removed.",
        ),
        "email-off" => Text(
            "メールのワンタイムパスワードを無効にしました。",
            "One-time passwords by email are off.",
        ),
        "preferred" => Text(
            "いつも使う方法を変更しました。",
            "Preferred method changed.",
        ),
        "email-code-sent" => Text(
            "確認コードを送信しました。",
            "A confirmation code is on its way.",
        ),
        "email-changed" => Text(
            "メールアドレスを変更しました。以前のアドレスにもお知らせを送りました。",
            "Your email address was changed. We told your old address too.",
        ),
        "email-cancelled" => Text(
            "メールアドレスの変更をやめました。",
            "The address change was cancelled.",
        ),
        "password" => Text(
            "パスワードを変更しました。ほかの端末はログアウトしました。",
            "Your password was changed. Other devices were signed out.",
        ),
        "session-ended" => Text(
            "選んだ端末をログアウトさせました。",
            "That device was signed out.",
        ),
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub done: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    SignedIn(v): SignedIn,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let flash = Flash {
        notice: q
            .done
            .as_deref()
            .and_then(done_text)
            .map(|t| v.ctx.t(t).to_string()),
        ..Flash::default()
    };
    render(&state, &v, flash, StatusCode::OK).await
}

pub use kenpo_shared::lang::japan_time as when;

fn passkey_item(ctx: &Ctx, p: &PasskeyRow) -> Markup {
    html! {
        li.card {
            strong { (p.label) }
            p.small.muted {
                (ctx.t(REGISTERED)) ": " (when(ctx.lang, p.created_at)) " · "
                (ctx.t(LAST_USED)) ": " (p.last_used_at.map(|t| when(ctx.lang, t)).unwrap_or_else(|| ctx.t(NEVER).to_string()))
            }
            @if p.backup_state { p.small { (ctx.t(SYNCED)) } }
            details {
                summary { (ctx.t(RENAME)) }
                form method="post" action="/account/passkeys/rename" {
                    (forms::csrf(&ctx.csrf))
                    input type="hidden" name="id" value=(p.id);
                    div.field {
                        label for=(format!("label-{}", p.id)) { (ctx.t(DEVICE_NAME)) }
                        input id=(format!("label-{}", p.id)) name="label" type="text" value=(p.label)
                            autocomplete="off" maxlength=(crate::mfa::passkey::LABEL_MAX) required;
                    }
                    button.secondary type="submit" { (ctx.t(SAVE)) }
                }
            }
            form method="post" action="/account/passkeys/delete" {
                (forms::csrf(&ctx.csrf))
                input type="hidden" name="id" value=(p.id);
                button.danger type="submit" aria-label=(format!("{} {}", p.label, ctx.t(DELETE))) { (ctx.t(DELETE)) }
            }
        }
    }
}

/// Renders the account page, with a notice or a section's error.
pub async fn render(state: &AppState, v: &Visit, flash: Flash, status: StatusCode) -> PageResult {
    let (ctx, now) = (&v.ctx, v.now);
    let lang = ctx.lang;
    let m = &v.member;
    let passkeys = CredentialStore::new(state.db.clone())
        .passkeys(&m.id)
        .await
        .page(lang)?;
    let sessions = Sessions::new(state)
        .for_member(&m.id, now)
        .await
        .page(lang)?;
    let pending_email = email_otp::live(state, &m.id, OtpPurpose::NewAddress, now)
        .await
        .page(lang)?;
    let f = &v.factors;
    let preferred = f.preferred(m);
    let enrolled = f.list();
    let email_verified = m.email_verified && m.email.is_some();
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(n) = &flash.notice { (kenpo_shared::web::notice(n)) }
        @if let Some((_, e)) = &flash.error { (kenpo_shared::web::alert(e)) }
        p.muted { (m.name) " · " (ctx.lang.pick("ユーザID", "User ID")) ": " (m.user_id) }

        section.card id="factors" aria-labelledby="h-factors" {
            h2 id="h-factors" { (ctx.t(FACTORS)) }
            p.small { (ctx.t(FACTORS_HELP)) }

            h3 { (ctx.t(PASSKEYS)) }
            @if passkeys.is_empty() { p.muted { (ctx.t(NO_PASSKEYS)) } }
            @else { ul.plain data-passkeys { @for p in &passkeys { (passkey_item(ctx, p)) } } }
            p { a.button.secondary href="/account/enroll-passkey" { (ctx.t(ADD_PASSKEY)) } }

            h3 { (ctx.t(TOTP)) }
            p { (ctx.t(if f.totp { SET_UP } else { NOT_SET_UP })) }
            div.actions {
                a.button.secondary href="/account/enroll-totp" { (ctx.t(if f.totp { TOTP_REDO } else { TOTP_SETUP })) }
                @if f.totp {
                    form method="post" action="/account/totp/delete" {
                        (forms::csrf(&ctx.csrf))
                        button.danger type="submit" { (ctx.t(DELETE)) }
                    }
                }
            }

            h3 { (ctx.t(EMAIL_OTP)) }
            p {
                (ctx.t(if f.email { ON } else { OFF }))
                @if let (true, Some(e)) = (f.email, &m.email) { " (" (masked(e)) ")" }
            }
            @if f.email {
                form method="post" action="/account/email-otp/off" {
                    (forms::csrf(&ctx.csrf))
                    button.secondary type="submit" { (ctx.t(TURN_OFF)) }
                }
            } @else if email_verified {
                p { a.button.secondary href="/account/enroll-email" { (ctx.t(TURN_ON)) } }
            }

            @if enrolled.len() > 1 {
                h3 id="h-preferred" { (ctx.t(PREFERRED)) }
                form method="post" action="/account/preferred" {
                    (forms::csrf(&ctx.csrf))
                    fieldset.choices aria-labelledby="h-preferred" {
                        @for fa in &enrolled {
                            label.choice {
                                input type="radio" name="factor" value=(fa.as_str()) checked[*fa == preferred];
                                strong { (ctx.t(factor_name(*fa))) }
                            }
                        }
                    }
                    button.secondary type="submit" { (ctx.t(PREFERRED_SAVE)) }
                }
            }
            @if let Some(e) = flash.error_for("factors") { span.field-error { (e) } }
        }

        section.card id="email" aria-labelledby="h-email" {
            h2 id="h-email" { (ctx.t(EMAIL)) }
            dl.kv {
                dt { (ctx.t(CURRENT_EMAIL)) }
                dd { (m.email.as_deref().unwrap_or("-")) }
            }
            @if let Some(new) = &pending_email {
                p { (ctx.t(CODE_SENT)) " " strong { (new) } }
                form method="post" action="/account/email/confirm" novalidate {
                    (forms::csrf(&ctx.csrf))
                    (Field { autocomplete: "one-time-code", inputmode: Some("numeric"), class: Some("code"), maxlength: Some(20), error: flash.error_for("email"), ..Field::new("otp", ctx.t(CODE)) }.render())
                    button.primary type="submit" { (ctx.t(CONFIRM_CHANGE)) }
                }
                div.actions {
                    form method="post" action="/account/email" {
                        (forms::csrf(&ctx.csrf))
                        input type="hidden" name="email" value=(new);
                        button.secondary type="submit" name="resend" value="yes" { (ctx.t(RESEND)) }
                    }
                    form method="post" action="/account/email/confirm" {
                        (forms::csrf(&ctx.csrf))
                        button.link type="submit" name="cancel" value="yes" { (ctx.t(CANCEL_CHANGE)) }
                    }
                }
            } @else {
                form method="post" action="/account/email" novalidate {
                    (forms::csrf(&ctx.csrf))
                    (Field { kind: "email", autocomplete: "email", inputmode: Some("email"), value: &flash.email, error: flash.error_for("email"), ..Field::new("email", ctx.t(NEW_EMAIL)) }.render())
                    button.secondary type="submit" { (ctx.t(SEND_CODE)) }
                }
            }
        }

        section.card id="password" aria-labelledby="h-password" {
            h2 id="h-password" { (ctx.t(PASSWORD)) }
            p.small { (ctx.t(PASSWORD_RULES)) }
            form method="post" action="/account/password" novalidate {
                (forms::csrf(&ctx.csrf))
                input type="text" name="username" value=(m.user_id) autocomplete="username" hidden;
                (Field { kind: "password", autocomplete: "current-password", maxlength: Some(1024), error: flash.error_for("password-current"), ..Field::new("current_password", ctx.t(CURRENT_PASSWORD)) }.render())
                (Field { kind: "password", autocomplete: "new-password", maxlength: Some(1024), error: flash.error_for("password"), ..Field::new("new_password", ctx.t(NEW_PASSWORD)) }.render())
                (Field { kind: "password", autocomplete: "new-password", maxlength: Some(1024), ..Field::new("new_password_confirm", ctx.t(NEW_PASSWORD_CONFIRM)) }.render())
                button.secondary type="submit" { (ctx.t(CHANGE_PASSWORD)) }
            }
        }

        section.card id="sessions" aria-labelledby="h-sessions" {
            h2 id="h-sessions" { (ctx.t(SESSIONS)) }
            ul.plain data-sessions {
                @for s in &sessions {
                    li.card {
                        strong { (device_label(&s.user_agent)) }
                        @if s.sid == v.current.session.sid { " (" (ctx.t(THIS_DEVICE)) ")" }
                        p.small.muted {
                            (ctx.t(SIGNED_IN_AT)) ": " (when(lang, s.auth_time)) " · "
                            (ctx.t(SEEN_AT)) ": " (when(lang, s.last_seen))
                            @if !s.ip.is_empty() { " · " (s.ip) }
                        }
                        form method="post" action="/account/sessions/end" {
                            (forms::csrf(&ctx.csrf))
                            input type="hidden" name="sid" value=(s.sid);
                            button.secondary type="submit" {
                                (ctx.t(if s.sid == v.current.session.sid { SIGN_OUT } else { END_SESSION }))
                            }
                        }
                    }
                }
            }
            p.small { (ctx.t(END_ALL_HELP)) }
            form method="post" action="/account/sessions/end-all" {
                (forms::csrf(&ctx.csrf))
                button.danger type="submit" { (ctx.t(END_ALL)) }
            }
        }
    };
    Ok(ctx.render_status(
        state,
        status,
        Frame {
            title: ctx.t(TITLE),
            step: Some("account"),
            nav: vec![(ctx.t(SIGN_OUT).to_string(), "/logout".to_string())],
            ..Frame::default()
        },
        body,
    ))
}

/// The account page as the answer to a failed action: the message beside `section`'s form.
pub async fn refuse(
    state: &AppState,
    v: &Visit,
    section: &'static str,
    message: impl Into<String>,
    status: StatusCode,
) -> PageResult {
    render(state, v, Flash::error(section, message), status).await
}
