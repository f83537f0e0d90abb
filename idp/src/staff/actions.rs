//! What staff do to a member, as plain functions both the console and the command line call:
//! unlock, reset second factors, reset the password (initial password again, or a new letter
//! in letter mode), reissue a letter, change or clear the email, disable and re-enable. Each
//! one is audited with the staff member and the reason, ends what must end (sessions, grants),
//! and mails the member where it affects them.

use crate::config::FirstLogin;
use crate::mail::{Mail, MailKind};
use crate::pages::i18n::Text;
use crate::security::throttle::Throttle;
use crate::signin::session::Sessions;
use crate::state::AppState;
use crate::store::audit::StaffRef;
use crate::store::members::Member;
pub use crate::texts::staff::actions::*;
use kenpo_shared::Lang;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Unlock,
    ResetMfa,
    ResetPassword,
    Letter,
    Disable,
    Enable,
    /// A new address (None clears it).
    ChangeEmail(Option<String>),
}

impl Action {
    pub fn audit_kind(&self) -> &'static str {
        match self {
            Action::Unlock => "member.unlock",
            Action::ResetMfa => "mfa.reset",
            Action::ResetPassword => "password.reset",
            Action::Letter => "letter.issue",
            Action::Disable => "member.disable",
            Action::Enable => "member.enable",
            Action::ChangeEmail(_) => "email.change_by_staff",
        }
    }
}

/// Why an action was not done (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{}", .0.1)]
    Refused(Text),
    #[error("{0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> ActionError {
    ActionError::Internal(e.to_string())
}

/// What an action did: for the audit trail and the page, and the new letter code if one was
/// made (printed at once; it is stored only as a hash).
#[derive(Debug)]
pub struct Done {
    pub detail: Value,
    pub letter_code: Option<kenpo_shared::Secret<String>>,
}

/// Does `action` to `member` on behalf of `by`.
pub async fn apply(
    state: &AppState,
    member: &Member,
    action: &Action,
    by: &StaffRef,
    ip: Option<&str>,
    now: i64,
) -> Result<Done, ActionError> {
    let letter_mode = state.config.onboarding.first_login == FirstLogin::Letter;
    let mut letter_code = None;
    let (detail, notice): (Value, Option<(&str, &str)>) = match action {
        Action::Unlock => {
            let t = Throttle::new(&state.eph, &state.config.throttle);
            let (failures, locked) = t
                .account_failures(&member.user_id_key)
                .await
                .map_err(internal)?;
            t.unlock(&member.user_id_key).await.map_err(internal)?;
            (
                json!({"failures": failures, "locked": locked}),
                Some((
                    "ログイン試行の制限を解除しました。もう一度ログインできます。",
                    "The union lifted the pause on sign-in attempts; you can sign in again.",
                )),
            )
        }
        Action::ResetMfa => {
            crate::mfa::reset(&state.db, member, now)
                .await
                .map_err(internal)?;
            // The browsers the member signed in with stop counting as theirs: whoever reset
            // the factors may be helping someone who took over one of them.
            crate::security::device::revoke_all(state, member, ip, now)
                .await
                .map_err(internal)?;
            let ended = end_sessions(state, member, now).await?;
            (
                json!({"sessions_ended": ended}),
                Some((
                    "二段階認証（パスキー・認証アプリ・メール）の設定をリセットしました。次回ログイン時に、あらためて設定してください。",
                    "The union reset your second factors (passkeys, authenticator app, email codes). Set one up again at your next sign-in.",
                )),
            )
        }
        Action::ResetPassword => {
            state
                .members()
                .reset_password(Some(&user_id(member)?), now)
                .await
                .map_err(internal)?;
            if letter_mode {
                letter_code = Some(
                    crate::security::invitation::issue(state, member, now)
                        .await
                        .map_err(internal)?,
                );
            }
            state
                .grants()
                .revoke_member(&member.id, "password reset by staff", now)
                .await
                .map_err(internal)?;
            let ended = end_sessions(state, member, now).await?;
            (
                json!({"sessions_ended": ended, "letter": letter_mode}),
                Some(if letter_mode {
                    (
                        "パスワードをリセットしました。組合からお送りする「ログインのご案内」の招待コードで、もう一度初回ログインをしてください。",
                        "The union reset your password. Sign in for the first time again with the invitation code in the letter the union sends you.",
                    )
                } else {
                    (
                        "パスワードを初期パスワード（記号＋番号＋生年月日）にリセットしました。もう一度初回ログインをしてください。",
                        "The union reset your password to the initial password (記号 + 番号 + birthdate). Please do the first sign-in again.",
                    )
                }),
            )
        }
        Action::Letter => {
            if !letter_mode {
                return Err(ActionError::Refused(NOT_LETTER_MODE));
            }
            if !member.uses_initial_password() {
                return Err(ActionError::Refused(ALREADY_ONBOARDED));
            }
            letter_code = Some(
                crate::security::invitation::issue(state, member, now)
                    .await
                    .map_err(internal)?,
            );
            (json!({}), None)
        }
        Action::Disable => {
            if !state
                .members()
                .set_disabled(&member.id, Some(now), now)
                .await
                .map_err(internal)?
            {
                return Err(ActionError::Refused(ALREADY));
            }
            state
                .grants()
                .revoke_member(&member.id, "disabled by staff", now)
                .await
                .map_err(internal)?;
            let ended = end_sessions(state, member, now).await?;
            (
                json!({"sessions_ended": ended}),
                Some((
                    "組合の手続きにより、このアカウントでのログインを停止しました。",
                    "The union has stopped sign-in to this account.",
                )),
            )
        }
        Action::Enable => {
            if !state
                .members()
                .set_disabled(&member.id, None, now)
                .await
                .map_err(internal)?
            {
                return Err(ActionError::Refused(ALREADY));
            }
            (
                json!({}),
                Some((
                    "このアカウントでのログインを再開しました。",
                    "The union has re-enabled sign-in to this account.",
                )),
            )
        }
        Action::ChangeEmail(new) => {
            let new = match new.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
                None => None,
                Some(e) => Some(
                    super::accounts::clean_email(e).map_err(|_| ActionError::Refused(BAD_EMAIL))?,
                ),
            };
            if new.as_deref() == member.email.as_deref() {
                return Err(ActionError::Refused(ALREADY));
            }
            state
                .members()
                .set_unverified_email(&member.id, new.as_deref(), now)
                .await
                .map_err(internal)?;
            (
                json!({"from": member.email, "to": new}),
                Some((
                    "組合の担当者が、登録メールアドレスを変更しました。新しいアドレスは、次回ログイン時に確認をお願いします。",
                    "The union changed your registered email address. You will be asked to confirm the new one at your next sign-in.",
                )),
            )
        }
    };
    state
        .audit()
        .record_staff(
            Some(&member.id),
            by,
            action.audit_kind(),
            detail.clone(),
            ip,
            now,
        )
        .await
        .map_err(internal)?;
    if let Some((ja, en)) = notice {
        notify(state, member, ja, en).await;
    }
    Ok(Done {
        detail,
        letter_code: letter_code.map(kenpo_shared::Secret::new),
    })
}

fn user_id(member: &Member) -> Result<kenpo_shared::ids::UserId, ActionError> {
    kenpo_shared::ids::UserId::parse(&member.user_id).map_err(internal)
}

/// Ends every IdP session of the member (and so its relying parties' sessions).
async fn end_sessions(state: &AppState, member: &Member, now: i64) -> Result<usize, ActionError> {
    let sessions = Sessions::new(state)
        .for_member(&member.id, now)
        .await
        .map_err(internal)?;
    for s in &sessions {
        crate::oidc::logout::end_session(state, &s.sid, now)
            .await
            .map_err(internal)?;
    }
    Ok(sessions.len())
}

/// Mails the member (at their verified address, if any) that staff changed their account. A
/// failed mail is logged; the action itself stands.
async fn notify(state: &AppState, member: &Member, ja: &str, en: &str) {
    let Some(to) = member.email.clone().filter(|_| member.email_verified) else {
        return;
    };
    let lang = match member.locale.as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Ja,
    };
    let mail = Mail {
        to,
        lang,
        kind: MailKind::StaffAction {
            what_ja: ja.to_string(),
            what_en: en.to_string(),
        },
    };
    if let Err(e) = state.send_mail(mail).await {
        tracing::warn!(member = %member.id, error = %e, "staff action notice not mailed");
    }
}
