//! Staff accounts as a service, for the command line (`idp staff add`, the first
//! administrator) and the console's staff page alike: create and invite, re-invite (a new
//! passkey), change a role, disable and enable. Each change is audited with who made it.

use super::Role;
use crate::mail::{Mail, MailKind};
use crate::security::tokens::{new_token, token_hash};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::audit::StaffRef;
use crate::store::staff::{LinkKind, StaffRow, StaffStore};
use kenpo_shared::{Lang, Secret};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("`{0}` is not an email address")]
    BadEmail(String),
    #[error("a staff account for {0} already exists")]
    Exists(String),
    #[error("no such staff account")]
    Unknown,
    #[error("the last administrator cannot lose that role or be disabled")]
    LastAdministrator,
    #[error("the invitation mail could not be sent: {0}")]
    Mail(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A cleaned address: trimmed, lower-case, and one lettre accepts.
pub fn clean_email(input: &str) -> Result<String, AccountError> {
    let e = kenpo_shared::ids::normalize(input)
        .trim()
        .to_ascii_lowercase();
    if e.len() <= 254 && e.parse::<lettre::Address>().is_ok() {
        Ok(e)
    } else {
        Err(AccountError::BadEmail(input.chars().take(80).collect()))
    }
}

/// Creates an account and mails its invitation; returns the account and the link (the
/// command line prints it too, for a first administrator whose mail is not set up yet).
pub async fn invite(
    state: &AppState,
    email: &str,
    name: &str,
    role: Role,
    by: &StaffRef,
    now: i64,
) -> Result<(StaffRow, Secret<String>), AccountError> {
    let email = clean_email(email)?;
    let store = StaffStore::new(state.db.clone());
    if store.by_email(&email).await?.is_some() {
        return Err(AccountError::Exists(email));
    }
    let name = name.trim();
    let row = StaffRow {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.clone(),
        name: if name.is_empty() {
            email.split('@').next().unwrap_or_default().to_string()
        } else {
            name.chars().take(60).collect()
        },
        role: role.as_str().into(),
        subject: uuid::Uuid::new_v4().to_string(),
        webauthn_handle: uuid::Uuid::new_v4().to_string(),
        disabled_at: None,
        created_by: by.staff_id.clone(),
        created_at: now,
        last_login_at: None,
    };
    store.insert(row.clone()).await?;
    state
        .audit()
        .record_staff(
            None,
            by,
            "staff.invite",
            json!({"staff": email, "role": role.as_str()}),
            None,
            now,
        )
        .await?;
    let link = send_invitation(state, &row, now).await?;
    Ok((row, link))
}

/// Mails a (new) invitation link; an earlier unused one stops working.
pub async fn send_invitation(
    state: &AppState,
    staff: &StaffRow,
    now: i64,
) -> Result<Secret<String>, AccountError> {
    let token = new_token();
    let hours = state.config.staff.invitation_hours;
    StaffStore::new(state.db.clone())
        .add_link(
            &staff.id,
            LinkKind::Enroll,
            token_hash(&token),
            now,
            now + hours * 3600,
        )
        .await?;
    let link = state.url(&format!("/staff/enroll?token={token}"));
    state
        .send_mail(Mail {
            to: staff.email.clone(),
            lang: Lang::Ja,
            kind: MailKind::StaffInvitation {
                link: link.clone(),
                hours,
            },
        })
        .await
        .map_err(|e| AccountError::Mail(e.to_string()))?;
    Ok(Secret::new(link))
}

/// Demo only: a one-time link that signs the account in without a passkey.
pub async fn demo_signin_link(
    state: &AppState,
    staff: &StaffRow,
    now: i64,
) -> Result<Secret<String>, AccountError> {
    let token = new_token();
    StaffStore::new(state.db.clone())
        .add_link(
            &staff.id,
            LinkKind::SignIn,
            token_hash(&token),
            now,
            now + 86_400,
        )
        .await?;
    Ok(Secret::new(
        state.url(&format!("/staff/link?token={token}")),
    ))
}

/// What an administrator may change on another account.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Role(Role),
    Disable,
    Enable,
    /// Remove its passkeys and mail a new invitation (a lost phone).
    Reinvite,
}

pub async fn change(
    state: &AppState,
    staff_id: &str,
    change: Change,
    by: &StaffRef,
    now: i64,
) -> Result<StaffRow, AccountError> {
    let store = StaffStore::new(state.db.clone());
    let target = store.by_id(staff_id).await?.ok_or(AccountError::Unknown)?;
    let admin = target.role == Role::Administrator.as_str() && target.disabled_at.is_none();
    let losing_admin = match change {
        Change::Role(r) => r != Role::Administrator,
        Change::Disable => true,
        Change::Enable | Change::Reinvite => false,
    };
    if admin && losing_admin && store.active_administrators().await? <= 1 {
        return Err(AccountError::LastAdministrator);
    }
    let (kind, detail) = match change {
        Change::Role(r) => {
            store.set_role(&target.id, r.as_str()).await?;
            (
                "staff.role",
                json!({"staff": target.email, "from": target.role, "to": r.as_str()}),
            )
        }
        Change::Disable => {
            store.set_disabled(&target.id, Some(now)).await?;
            super::session::end_all(state, &target.id)
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            ("staff.disable", json!({"staff": target.email}))
        }
        Change::Enable => {
            store.set_disabled(&target.id, None).await?;
            ("staff.enable", json!({"staff": target.email}))
        }
        Change::Reinvite => {
            let removed = store.delete_passkeys(&target.id).await?;
            super::session::end_all(state, &target.id)
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            send_invitation(state, &target, now).await?;
            (
                "staff.reinvite",
                json!({"staff": target.email, "passkeys_removed": removed}),
            )
        }
    };
    state
        .audit()
        .record_staff(None, by, kind, detail, None, now)
        .await?;
    Ok(store.by_id(staff_id).await?.unwrap_or(target))
}
