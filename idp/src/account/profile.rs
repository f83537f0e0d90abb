//! Account actions on the email address and the password.
//!
//! A new address is confirmed by a code mailed to it (the member proves they read it) before
//! it replaces the old one; the old address is told. A new password needs the current one
//! (drawing on the account's brute-force budget) and signs out every other session.

use super::page::refuse;
use super::{Flash, notify, require_fresh};
use crate::error::{PageResult, PageResultExt};
use crate::mail::{Mail, MailKind};
use crate::mfa::email_otp::{self, Issue, Purpose as OtpPurpose};
use crate::oidc::logout::end_session;
use crate::security::password_rules;
use crate::security::throttle::Kind;
use crate::signin::mfa_email::{MAIL_FAILED, check_code, resend_wait};
use crate::signin::second_factor::attempt;
use crate::signin::session::Sessions;
use crate::signin::visit::AccountForm;
pub use crate::texts::account::profile::*;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use kenpo_shared::Secret;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    otp: String,
    #[serde(default)]
    cancel: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordForm {
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
pub async fn email_start(AccountForm { state, v, form }: AccountForm<EmailForm>) -> PageResult {
    require_fresh(&v, "/account#email")?;
    let ctx = &v.ctx;
    let refused = |text: String, status: StatusCode| {
        let flash = Flash {
            email: form.email.clone(),
            ..Flash::error("email", text)
        };
        super::page::render(&state, &v, flash, status)
    };
    let Some(address) = clean_address(&form.email) else {
        return refused(ctx.t(BAD_ADDRESS).into(), StatusCode::BAD_REQUEST).await;
    };
    if v.member.email.as_deref() == Some(address.as_str()) && v.member.email_verified {
        return refused(ctx.t(SAME_ADDRESS).into(), StatusCode::BAD_REQUEST).await;
    }
    let issued = email_otp::issue(
        &state,
        &v.member.id,
        OtpPurpose::NewAddress,
        &address,
        ctx.lang,
        v.now,
    )
    .await
    .page(ctx.lang)?;
    match issued {
        Issue::Sent { .. } => {
            v.audit(&state, "email.change_requested", json!({"to": address}))
                .await;
            Ok(Redirect::to("/account?done=email-code-sent#email").into_response())
        }
        Issue::Wait(w) => refused(resend_wait(ctx.lang, w), StatusCode::TOO_MANY_REQUESTS).await,
        Issue::MailFailed => {
            refused(ctx.t(MAIL_FAILED).into(), StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}

/// Confirms (or cancels) a pending address change with the mailed code.
pub async fn email_confirm(AccountForm { state, v, form }: AccountForm<ConfirmForm>) -> PageResult {
    require_fresh(&v, "/account#email")?;
    let lang = v.lang();
    if form.cancel.is_some() {
        email_otp::cancel(&state, &v.member.id, OtpPurpose::NewAddress)
            .await
            .page(lang)?;
        return Ok(Redirect::to("/account?done=email-cancelled#email").into_response());
    }
    let address = match check_code(&state, &v, OtpPurpose::NewAddress, &form.otp).await? {
        Ok(address) => address,
        Err((msg, status)) => return refuse(&state, &v, "email", msg, status).await,
    };
    state
        .members()
        .set_email(&v.member.id, &address, true, v.now)
        .await
        .page(lang)?;
    let old = v.member.email.clone();
    v.audit(&state, "email.changed", json!({"from": old, "to": address}))
        .await;
    // The old address is told (someone who took over the session cannot hide the change).
    if let (Some(old), true) = (old, v.member.email_verified) {
        let kind = MailKind::EmailChanged {
            new_address: address.clone(),
            requested: v.requester.requested(v.now),
        };
        state
            .send_notice(Mail {
                to: old,
                lang,
                kind,
            })
            .await;
    }
    let mut updated = v.member.clone();
    updated.email = Some(address);
    updated.email_verified = true;
    notify(
        &state,
        &updated,
        lang,
        "このメールアドレスが、ログインのお知らせを受け取るアドレスとして登録されました。".into(),
        "This address is now the one your sign-in notices go to.".into(),
    )
    .await;
    Ok(Redirect::to("/account?done=email-changed#email").into_response())
}

pub async fn change_password(
    AccountForm { state, v, form }: AccountForm<PasswordForm>,
) -> PageResult {
    require_fresh(&v, "/account#password")?;
    let (ctx, lang, now) = (&v.ctx, v.lang(), v.now);
    if let Some(msg) = attempt(&state, &v, Kind::Password).await? {
        let status = StatusCode::TOO_MANY_REQUESTS;
        return refuse(&state, &v, "password-current", msg, status).await;
    }
    let current = Secret::new(form.current_password.clone());
    let ok = !form.current_password.is_empty()
        && form.current_password.len() <= 1024
        && state
            .hasher
            .verify(&current, v.member.password_hash.as_deref())
            .await
            .page(lang)?
            .ok;
    if !ok {
        let msg = ctx.t(WRONG_PASSWORD);
        return refuse(
            &state,
            &v,
            "password-current",
            msg,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let broken = password_rules::check(&form.new_password, &form.new_password_confirm, &v.member);
    if !broken.is_empty() {
        let msg = broken
            .iter()
            .map(|r| ctx.t(r.text()))
            .collect::<Vec<_>>()
            .join(" ");
        return refuse(&state, &v, "password", msg, StatusCode::BAD_REQUEST).await;
    }
    state
        .set_password(&v.member.id, form.new_password.clone(), now)
        .await
        .page(lang)?;
    // Whoever else knew the old password is signed out everywhere (back-channel logout).
    let mut ended = 0;
    let others = Sessions::new(&state)
        .for_member(&v.member.id, now)
        .await
        .page(lang)?;
    for s in others.iter().filter(|s| s.sid != v.current.session.sid) {
        match end_session(&state, &s.sid, now).await {
            Ok(true) => ended += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "a session did not end after a password change"),
        }
    }
    v.audit(
        &state,
        "password.changed",
        json!({"other_sessions_ended": ended}),
    )
    .await;
    if let (Some(to), true) = (v.member.email.clone(), v.member.email_verified) {
        let kind = MailKind::PasswordChanged;
        state.send_notice(Mail { to, lang, kind }).await;
    }
    Ok(Redirect::to("/account?done=password#password").into_response())
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
