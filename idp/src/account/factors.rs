//! Account actions on second factors: rename and remove passkeys, remove the authenticator
//! app, turn email OTP off, choose the preferred factor. (Adding and re-enrolling are the
//! enrolment pages, `crate::enroll`.) Removing the last working factor is refused.

use super::page::{Flash, with_error};
use super::{Account, require_fresh};
use crate::enroll::notify;
use crate::error::PageError;
use crate::mfa::passkey::clean_label;
use crate::mfa::{Factor, factor_name};
use crate::pages::Ctx;
use crate::pages::forms::PageForm;
use crate::pages::i18n::Text;
use crate::security::request::Requester;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::credentials::{CredentialStore, FactorRemoval, Removed};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

pub const LAST_FACTOR: Text = Text(
    "最後の本人確認の方法は削除できません。先に別の方法（パスキー、認証アプリ、メール）を追加してください。",
    "You cannot remove your last way of confirming it is you. Add another method first (passkey, app or email).",
);
const LABEL_EMPTY: Text = Text(
    "端末の名前を入力してください。",
    "Enter a name for the device.",
);

#[derive(Deserialize)]
pub struct IdForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    label: String,
}

#[derive(Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    factor: String,
}

/// Checks the form and the session: a fresh second factor is needed for every change.
async fn authorised(
    state: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    csrf: &str,
    now: i64,
) -> Result<Account, Response> {
    if !ctx.csrf.verify(csrf) {
        return Err(PageError::Forbidden(ctx.lang).into_response());
    }
    require_fresh(state, headers, "/account", now).await
}

/// Audit and mail of a change.
#[allow(clippy::too_many_arguments)]
async fn record(
    state: &AppState,
    ctx: &Ctx,
    acc: &Account,
    requester: &Requester,
    kind: &str,
    detail: Value,
    what: (String, String),
    now: i64,
) {
    let _ = state
        .audit()
        .record(
            Some(&acc.member.id),
            Actor::Member,
            kind,
            detail,
            Some(&requester.ip.to_string()),
            now,
        )
        .await;
    notify(state, &acc.member, ctx.lang, what.0, what.1).await;
}

async fn refuse(state: &AppState, ctx: &Ctx, acc: &Account, text: Text, now: i64) -> Response {
    with_error(
        state,
        ctx,
        acc,
        Flash::error("factors", ctx.t(text)),
        StatusCode::CONFLICT,
        now,
    )
    .await
}

/// Removes a factor, refusing the last one: check and removal are one store transaction
/// (`CredentialStore::remove_factor`), so two removals at once cannot leave none.
async fn remove(
    state: &AppState,
    ctx: &Ctx,
    acc: &Account,
    what: FactorRemoval<'_>,
    now: i64,
) -> Result<(), Response> {
    match CredentialStore::new(state.db.clone())
        .remove_factor(&acc.member.id, what, now)
        .await
    {
        Ok(Removed::Done) => Ok(()),
        Ok(Removed::Last) => Err(refuse(state, ctx, acc, LAST_FACTOR, now).await),
        Ok(Removed::NotFound) => Err(Redirect::to("/account").into_response()),
        Err(e) => Err(PageError::internal(ctx.lang, e).into_response()),
    }
}

pub async fn rename_passkey(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<IdForm>,
) -> Response {
    let now = state.now();
    let acc = match authorised(&state, &ctx, &headers, &form.csrf, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(label) = clean_label(&form.label) else {
        return with_error(
            &state,
            &ctx,
            &acc,
            Flash::error("factors", ctx.t(LABEL_EMPTY)),
            StatusCode::BAD_REQUEST,
            now,
        )
        .await;
    };
    let store = CredentialStore::new(state.db.clone());
    let old = match store.passkeys(&acc.member.id).await {
        Ok(list) => list.into_iter().find(|p| p.id == form.id),
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let Some(old) = old else {
        return PageError::NotFound(ctx.lang).into_response();
    };
    match store.rename_passkey(&acc.member.id, &old.id, &label).await {
        Ok(true) => {}
        Ok(false) => return PageError::NotFound(ctx.lang).into_response(),
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    }
    record(
        &state,
        &ctx,
        &acc,
        &requester,
        "passkey.renamed",
        json!({"passkey": old.id, "from": old.label, "to": label}),
        (
            format!(
                "パスキー「{}」の名前が「{label}」に変更されました。",
                old.label
            ),
            format!("The passkey “{}” was renamed “{label}”.", old.label),
        ),
        now,
    )
    .await;
    Redirect::to("/account?done=passkey-renamed").into_response()
}

pub async fn delete_passkey(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<IdForm>,
) -> Response {
    let now = state.now();
    let acc = match authorised(&state, &ctx, &headers, &form.csrf, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let store = CredentialStore::new(state.db.clone());
    let target = match store.passkeys(&acc.member.id).await {
        Ok(list) => list.into_iter().find(|p| p.id == form.id),
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let Some(target) = target else {
        return PageError::NotFound(ctx.lang).into_response();
    };
    let removal = FactorRemoval::Passkey(&target.id);
    if let Err(r) = remove(&state, &ctx, &acc, removal, now).await {
        return r;
    }
    record(
        &state,
        &ctx,
        &acc,
        &requester,
        "passkey.removed",
        json!({"passkey": target.id, "label": target.label}),
        (
            format!("パスキー「{}」が削除されました。", target.label),
            format!("The passkey “{}” was removed.", target.label),
        ),
        now,
    )
    .await;
    Redirect::to("/account?done=passkey-removed").into_response()
}

pub async fn delete_totp(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<PlainForm>,
) -> Response {
    let now = state.now();
    let acc = match authorised(&state, &ctx, &headers, &form.csrf, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if !acc.factors.totp {
        return Redirect::to("/account").into_response();
    }
    if let Err(r) = remove(&state, &ctx, &acc, FactorRemoval::Totp, now).await {
        return r;
    }
    record(
        &state,
        &ctx,
        &acc,
        &requester,
        "totp.removed",
        json!({}),
        (
            "認証アプリ（ワンタイムパスワード）の設定が削除されました。".into(),
            "Your authenticator app was removed.".into(),
        ),
        now,
    )
    .await;
    Redirect::to("/account?done=totp-removed").into_response()
}

pub async fn email_otp_off(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<PlainForm>,
) -> Response {
    let now = state.now();
    let acc = match authorised(&state, &ctx, &headers, &form.csrf, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    if !acc.factors.email {
        return Redirect::to("/account").into_response();
    }
    if let Err(r) = remove(&state, &ctx, &acc, FactorRemoval::EmailOtp, now).await {
        return r;
    }
    record(
        &state,
        &ctx,
        &acc,
        &requester,
        "email_otp.disabled",
        json!({}),
        (
            "メールでのワンタイムパスワードが無効になりました。".into(),
            "One-time passwords by email were turned off.".into(),
        ),
        now,
    )
    .await;
    Redirect::to("/account?done=email-off").into_response()
}

pub async fn set_preferred(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<PlainForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    // Choosing which enrolled factor is asked first weakens nothing: no re-confirmation.
    let acc = match super::require_account(&state, &headers, now).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(f) = Factor::parse(&form.factor).filter(|f| acc.factors.has(*f)) else {
        return PageError::BadRequest(ctx.lang, crate::pages::i18n::BAD_REQUEST).into_response();
    };
    if let Err(e) = state
        .members()
        .set_preferred_factor(&acc.member.id, f.as_str(), now)
        .await
    {
        return PageError::internal(ctx.lang, e).into_response();
    }
    let name = factor_name(f);
    record(
        &state,
        &ctx,
        &acc,
        &requester,
        "mfa.preferred",
        json!({"factor": f.as_str()}),
        (
            format!("ログイン時にまず使う方法が「{}」に変更されました。", name.0),
            format!("The method asked for first at sign-in is now “{}”.", name.1),
        ),
        now,
    )
    .await;
    Redirect::to("/account?done=preferred").into_response()
}
