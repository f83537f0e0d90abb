//! Account actions on second factors: rename and remove passkeys, remove the authenticator
//! app, turn email OTP off, choose the preferred factor. (Adding and re-enrolling are the
//! enrolment pages, `crate::enroll`.) Removing the last working factor is refused.

use super::page::refuse;
use super::{notify, require_fresh};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::mfa::passkey::clean_label;
use crate::mfa::{Factor, factor_name};
use crate::pages::i18n::{self};
use crate::signin::visit::{AccountForm, Visit};
use crate::state::AppState;
use crate::store::credentials::{CredentialStore, FactorRemoval, PasskeyRow, Removed};
pub use crate::texts::account::factors::*;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct IdForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    label: String,
}

#[derive(Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    factor: String,
}

/// Audit and mail of a change, then back to the account page with its notice.
async fn recorded(
    state: &AppState,
    v: &Visit,
    kind: &str,
    detail: Value,
    what: (String, String),
    done: &str,
) -> PageResult {
    v.audit(state, kind, detail).await;
    notify(state, &v.member, v.lang(), what.0, what.1).await;
    Ok(Redirect::to(&format!("/account?done={done}")).into_response())
}

/// Removes a factor, refusing the last one: check and removal are one store transaction
/// (`CredentialStore::remove_factor`), so two removals at once cannot leave none. `Some` is
/// the answer when nothing was removed.
async fn remove(
    state: &AppState,
    v: &Visit,
    what: FactorRemoval<'_>,
) -> Result<Option<Response>, PageError> {
    let removed = CredentialStore::new(state.db.clone())
        .remove_factor(&v.member.id, what, v.now)
        .await
        .page(v.lang())?;
    Ok(match removed {
        Removed::Done => None,
        Removed::Last => {
            let msg = v.ctx.t(LAST_FACTOR);
            Some(refuse(state, v, "factors", msg, StatusCode::CONFLICT).await?)
        }
        Removed::NotFound => Some(Redirect::to("/account").into_response()),
    })
}

/// One of the member's own passkeys, by id (another member's is "not found").
async fn own_passkey(
    store: &CredentialStore,
    v: &Visit,
    id: &str,
) -> Result<PasskeyRow, PageError> {
    store
        .passkeys(&v.member.id)
        .await
        .page(v.lang())?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(PageError::NotFound(v.lang()))
}

pub async fn rename_passkey(AccountForm { state, v, form }: AccountForm<IdForm>) -> PageResult {
    require_fresh(&v, "/account")?;
    let lang = v.lang();
    let Some(label) = clean_label(&form.label) else {
        let msg = v.ctx.t(LABEL_EMPTY);
        return refuse(&state, &v, "factors", msg, StatusCode::BAD_REQUEST).await;
    };
    let store = CredentialStore::new(state.db.clone());
    let old = own_passkey(&store, &v, &form.id).await?;
    if !store
        .rename_passkey(&v.member.id, &old.id, &label)
        .await
        .page(lang)?
    {
        return Err(PageError::NotFound(lang));
    }
    let what = (
        format!(
            "パスキー「{}」の名前が「{label}」に変更されました。",
            old.label
        ),
        format!("The passkey “{}” was renamed “{label}”.", old.label),
    );
    let detail = json!({"passkey": old.id, "from": old.label, "to": label});
    recorded(
        &state,
        &v,
        "passkey.renamed",
        detail,
        what,
        "passkey-renamed",
    )
    .await
}

pub async fn delete_passkey(AccountForm { state, v, form }: AccountForm<IdForm>) -> PageResult {
    require_fresh(&v, "/account")?;
    let store = CredentialStore::new(state.db.clone());
    let target = own_passkey(&store, &v, &form.id).await?;
    if let Some(refused) = remove(&state, &v, FactorRemoval::Passkey(&target.id)).await? {
        return Ok(refused);
    }
    let what = (
        format!("パスキー「{}」が削除されました。", target.label),
        format!("The passkey “{}” was removed.", target.label),
    );
    let detail = json!({"passkey": target.id, "label": target.label});
    recorded(
        &state,
        &v,
        "passkey.removed",
        detail,
        what,
        "passkey-removed",
    )
    .await
}

pub async fn delete_totp(f: AccountForm<PlainForm>) -> PageResult {
    turn_off(f, Factor::Totp).await
}

pub async fn email_otp_off(f: AccountForm<PlainForm>) -> PageResult {
    turn_off(f, Factor::Email).await
}

/// Removes the authenticator app or turns emailed codes off (nothing to do when it is not on).
async fn turn_off(AccountForm { state, v, .. }: AccountForm<PlainForm>, f: Factor) -> PageResult {
    require_fresh(&v, "/account")?;
    let (removal, kind, done, what) = match f {
        Factor::Totp => (
            FactorRemoval::Totp,
            "totp.removed",
            "totp-removed",
            (
                "認証アプリ（ワンタイムパスワード）の設定が削除されました。",
                "Your authenticator app was removed.",
            ),
        ),
        _ => (
            FactorRemoval::EmailOtp,
            "email_otp.disabled",
            "email-off",
            (
                "メールでのワンタイムパスワードが無効になりました。",
                "One-time passwords by email were turned off.",
            ),
        ),
    };
    if !v.factors.has(f) {
        return Ok(Redirect::to("/account").into_response());
    }
    if let Some(refused) = remove(&state, &v, removal).await? {
        return Ok(refused);
    }
    let what = (what.0.to_string(), what.1.to_string());
    recorded(&state, &v, kind, json!({}), what, done).await
}

pub async fn set_preferred(AccountForm { state, v, form }: AccountForm<PlainForm>) -> PageResult {
    // Choosing which enrolled factor is asked first weakens nothing: no re-confirmation.
    let lang = v.lang();
    let f = Factor::parse(&form.factor)
        .filter(|f| v.factors.has(*f))
        .ok_or(PageError::BadRequest(lang, i18n::BAD_REQUEST))?;
    state
        .members()
        .set_preferred_factor(&v.member.id, f.as_str(), v.now)
        .await
        .page(lang)?;
    let name = factor_name(f);
    let what = (
        format!("ログイン時にまず使う方法が「{}」に変更されました。", name.0),
        format!("The method asked for first at sign-in is now “{}”.", name.1),
    );
    let detail = json!({"factor": f.as_str()});
    recorded(&state, &v, "mfa.preferred", detail, what, "preferred").await
}
