//! Account actions on the email address and the password.
//!
//! A new address is confirmed by a code mailed to it (the member proves they read it) before
//! it replaces the old one; the old address is told. A new password needs the current one
//! (drawing on the account's brute-force budget) and signs out every other session.

use super::page::{Flash, with_error};
use super::require_fresh;
use crate::enroll::notify;
use crate::error::PageError;
use crate::mail::{Mail, MailKind};
use crate::mfa::email_otp::{self, Check, Issue, Purpose as OtpPurpose};
use crate::pages::Ctx;
use crate::pages::forms::PageForm;
use crate::pages::i18n::Text;
use crate::security::password_rules;
use crate::security::request::Requester;
use crate::signin::mfa::{MAIL_FAILED, attempt, code_failure, resend_wait};
use crate::signin::session::Sessions;
use crate::state::AppState;
use crate::store::audit::Actor;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kenpo_shared::Secret;
use serde::Deserialize;
use serde_json::json;

const BAD_ADDRESS: Text = Text(
    "メールアドレスの形式が正しくありません（例：taro@example.jp）。",
    "That is not an email address (example: taro@example.jp).",
);
const SAME_ADDRESS: Text = Text(
    "現在と同じメールアドレスです。",
    "That is your current address.",
);
const WRONG_PASSWORD: Text = Text(
    "現在のパスワードが正しくありません。",
    "Your current password is not correct.",
);

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    otp: String,
    #[serde(default)]
    cancel: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

/// A typed address made comparable: NFKC (全角), trimmed, lower-case; None when invalid.
pub fn clean_address(input: &str) -> Option<String> {
    let s = kenpo_shared::ids::normalize(input)
        .trim()
        .to_ascii_lowercase();
    let ok = s.len() <= 254
        && s.parse::<lettre::Address>()
            .is_ok_and(|a| a.domain().contains('.') && !a.domain().ends_with('.'));
    ok.then_some(s)
}

/// Mails a code to the new address (also the "resend" of a pending change).
pub async fn email_start(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<EmailForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let acc = match require_fresh(&state, &headers, "/account#email", now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let fail = |text: String| Flash {
        email: form.email.clone(),
        ..Flash::error("email", text)
    };
    let Some(address) = clean_address(&form.email) else {
        return with_error(
            &state,
            &ctx,
            &acc,
            fail(ctx.t(BAD_ADDRESS).into()),
            StatusCode::BAD_REQUEST,
            now,
        )
        .await;
    };
    if acc.member.email.as_deref() == Some(address.as_str()) && acc.member.email_verified {
        return with_error(
            &state,
            &ctx,
            &acc,
            fail(ctx.t(SAME_ADDRESS).into()),
            StatusCode::BAD_REQUEST,
            now,
        )
        .await;
    }
    let issued = match email_otp::issue(
        &state,
        &acc.member.id,
        OtpPurpose::NewAddress,
        &address,
        ctx.lang,
        now,
    )
    .await
    {
        Ok(i) => i,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    match issued {
        Issue::Sent { .. } => {
            let _ = state
                .audit()
                .record(
                    Some(&acc.member.id),
                    Actor::Member,
                    "email.change_requested",
                    json!({"to": address}),
                    Some(&requester.ip.to_string()),
                    now,
                )
                .await;
            Redirect::to("/account?done=email-code-sent#email").into_response()
        }
        Issue::Wait(w) => {
            with_error(
                &state,
                &ctx,
                &acc,
                fail(resend_wait(ctx.lang, w)),
                StatusCode::TOO_MANY_REQUESTS,
                now,
            )
            .await
        }
        Issue::MailFailed => {
            with_error(
                &state,
                &ctx,
                &acc,
                fail(ctx.t(MAIL_FAILED).into()),
                StatusCode::SERVICE_UNAVAILABLE,
                now,
            )
            .await
        }
    }
}

/// Confirms (or cancels) a pending address change with the mailed code.
pub async fn email_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<ConfirmForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let acc = match require_fresh(&state, &headers, "/account#email", now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if form.cancel.is_some() {
        if let Err(e) = email_otp::cancel(&state, &acc.member.id, OtpPurpose::NewAddress).await {
            return PageError::internal(ctx.lang, e).into_response();
        }
        return Redirect::to("/account?done=email-cancelled#email").into_response();
    }
    match attempt(&state, &ctx, &acc.member).await {
        Ok(None) => {}
        Ok(Some(msg)) => {
            return with_error(
                &state,
                &ctx,
                &acc,
                Flash::error("email", msg),
                StatusCode::TOO_MANY_REQUESTS,
                now,
            )
            .await;
        }
        Err(e) => return e.into_response(),
    }
    let check = match email_otp::verify(
        &state,
        &acc.member.id,
        OtpPurpose::NewAddress,
        &form.otp,
        now,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let Check::Accepted { address } = check else {
        return with_error(
            &state,
            &ctx,
            &acc,
            Flash::error("email", code_failure(&ctx, &check)),
            StatusCode::UNAUTHORIZED,
            now,
        )
        .await;
    };
    if let Err(e) = state
        .members()
        .set_email(&acc.member.id, &address, true, now)
        .await
    {
        return PageError::internal(ctx.lang, e).into_response();
    }
    let old = acc.member.email.clone();
    let _ = state
        .audit()
        .record(
            Some(&acc.member.id),
            Actor::Member,
            "email.changed",
            json!({"from": old, "to": address}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await;
    // The old address is told (someone who took over the session cannot hide the change).
    if let (Some(old), true) = (old, acc.member.email_verified) {
        let _ = state
            .send_mail(Mail {
                to: old,
                lang: ctx.lang,
                kind: MailKind::EmailChanged {
                    new_address: address.clone(),
                },
            })
            .await;
    }
    let mut updated = acc.member.clone();
    updated.email = Some(address);
    updated.email_verified = true;
    notify(
        &state,
        &updated,
        ctx.lang,
        "このメールアドレスが、ログインのお知らせを受け取るアドレスとして登録されました。".into(),
        "This address is now the one your sign-in notices go to.".into(),
    )
    .await;
    Redirect::to("/account?done=email-changed#email").into_response()
}

pub async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let acc = match require_fresh(&state, &headers, "/account#password", now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match attempt(&state, &ctx, &acc.member).await {
        Ok(None) => {}
        Ok(Some(msg)) => {
            return with_error(
                &state,
                &ctx,
                &acc,
                Flash::error("password-current", msg),
                StatusCode::TOO_MANY_REQUESTS,
                now,
            )
            .await;
        }
        Err(e) => return e.into_response(),
    }
    let current = Secret::new(form.current_password.clone());
    let ok = !form.current_password.is_empty()
        && form.current_password.len() <= 1024
        && match state
            .hasher
            .verify(&current, acc.member.password_hash.as_deref())
            .await
        {
            Ok(v) => v.ok,
            Err(e) => return PageError::internal(ctx.lang, e).into_response(),
        };
    if !ok {
        return with_error(
            &state,
            &ctx,
            &acc,
            Flash::error("password-current", ctx.t(WRONG_PASSWORD)),
            StatusCode::UNAUTHORIZED,
            now,
        )
        .await;
    }
    let broken = password_rules::check(&form.new_password, &form.new_password_confirm, &acc.member);
    if !broken.is_empty() {
        let msg = broken
            .iter()
            .map(|r| ctx.t(r.text()))
            .collect::<Vec<_>>()
            .join(" ");
        return with_error(
            &state,
            &ctx,
            &acc,
            Flash::error("password", msg),
            StatusCode::BAD_REQUEST,
            now,
        )
        .await;
    }
    let hash = match state
        .hasher
        .hash(&Secret::new(form.new_password.clone()))
        .await
    {
        Ok(h) => h,
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    if let Err(e) = state
        .members()
        .set_password(&acc.member.id, hash, now)
        .await
    {
        return PageError::internal(ctx.lang, e).into_response();
    }
    // Whoever else knew the old password is signed out everywhere (back-channel logout).
    let mut ended = 0;
    if let Ok(list) = Sessions::new(&state).for_member(&acc.member.id, now).await {
        for s in list.iter().filter(|s| s.sid != acc.current.session.sid) {
            if crate::oidc::logout::end_session(&state, &s.sid, now)
                .await
                .unwrap_or(false)
            {
                ended += 1;
            }
        }
    }
    let _ = state
        .audit()
        .record(
            Some(&acc.member.id),
            Actor::Member,
            "password.changed",
            json!({"other_sessions_ended": ended}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await;
    if let (Some(to), true) = (acc.member.email.clone(), acc.member.email_verified) {
        let _ = state
            .send_mail(Mail {
                to,
                lang: ctx.lang,
                kind: MailKind::PasswordChanged,
            })
            .await;
    }
    Redirect::to("/account?done=password#password").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised_and_checked() {
        assert_eq!(
            clean_address(" Taro@Example.JP ").as_deref(),
            Some("taro@example.jp")
        );
        assert_eq!(
            clean_address("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ").as_deref(),
            Some("taro@example.jp")
        );
        assert_eq!(clean_address("taro@localhost"), None);
        assert_eq!(clean_address("taro"), None);
        assert_eq!(clean_address(""), None);
    }
}
