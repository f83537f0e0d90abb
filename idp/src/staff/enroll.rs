//! The invitation link (`staff-enroll`: register a passkey, which also signs in) and, in the
//! demo only, the printed one-time sign-in link. Both links are stored as hashes, work once
//! and expire (`store::staff::LinkKind`).

use super::layout;
use super::login::{DISABLED, OptionsRequest, limit, start};
use super::passkey;
use crate::error::{PageError, PageResult};
use crate::mfa::passkey::{LABEL_MAX, PasskeyError, clean_label};
use crate::pages::forms::{self, Field};
use crate::pages::script::{ScriptError, ScriptJson, ScriptResult, follow, json_ok};
use crate::pages::{Ctx, Hosted, no_store};
use crate::security::request::{Requester, device_label};
use crate::security::tokens::token_hash;
use crate::signin::mfa_passkey::{NEEDS_SCRIPT, passkey_failure, phone_help};
use crate::state::AppState;
use crate::store::audit::StaffRef;
use crate::store::staff::{LinkKind, StaffRow, StaffStore};
pub use crate::texts::staff::enroll::*;
use axum::extract::Query;
use axum::http::StatusCode;
use maud::html;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

// ---- the invitation link: register a passkey ----

#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    pub token: String,
}

async fn link_account(
    state: &AppState,
    token: &str,
    kind: LinkKind,
    lang: kenpo_shared::Lang,
    now: i64,
) -> Result<(StaffRow, String), PageError> {
    let hash = token_hash(token);
    let store = StaffStore::new(state.db.clone());
    let id = store
        .link_owner(&hash, kind, now)
        .await
        .map_err(|e| PageError::internal(lang, e))?
        .ok_or(PageError::BadRequest(lang, LINK_EXPIRED))?;
    let staff = store
        .by_id(&id)
        .await
        .map_err(|e| PageError::internal(lang, e))?
        .ok_or(PageError::BadRequest(lang, LINK_EXPIRED))?;
    if staff.disabled_at.is_some() {
        return Err(PageError::BadRequest(lang, DISABLED));
    }
    Ok((staff, hash))
}

pub async fn enroll_get(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    let (staff, _) = link_account(&state, &q.token, LinkKind::Enroll, ctx.lang, now).await?;
    let guess = device_label(&requester.user_agent);
    let guess = if guess == "?" { String::new() } else { guess };
    let body = html! {
        h1 { (ctx.t(ENROLL_TITLE)) }
        p { (ctx.t(ENROLL_INTRO)) }
        dl.kv {
            dt { (ctx.lang.pick("メールアドレス", "Email")) } dd { (staff.email) }
            dt { (ctx.lang.pick("権限", "Role")) }
            dd { (super::Role::parse(&staff.role).map(|r| ctx.t(r.label())).unwrap_or("?")) }
        }
        form.passkey method="post" action="/staff/enroll/finish"
            data-options="/staff/enroll/options" data-finish="/staff/enroll/finish" novalidate {
            (forms::csrf(&ctx.csrf))
            input type="hidden" name="token" value=(q.token);
            (Field { value: &guess, hint: Some(ctx.t(LABEL_HINT)), maxlength: Some(LABEL_MAX), autofocus: true, ..Field::new("label", ctx.t(LABEL)) }.render())
            div.passkey-status role="alert" aria-live="assertive" {}
            button.primary type="button" data-action="passkey-register" { (ctx.t(ENROLL_BUTTON)) }
        }
        noscript { (kenpo_shared::web::alert(ctx.t(NEEDS_SCRIPT))) }
        (phone_help(&ctx))
    };
    let mut res = layout::render_public(
        &state,
        &ctx,
        StatusCode::OK,
        "staff-enroll",
        ctx.t(ENROLL_TITLE),
        body,
        vec!["/static/passkey.js"],
    );
    no_store(&mut res);
    Ok(res)
}

pub async fn enroll_options(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    ScriptJson { body: req, .. }: ScriptJson<OptionsRequest>,
) -> ScriptResult {
    limit(&state, &ctx, &requester, now).await?;
    let (staff, hash) = enrolling(&state, &ctx, &req.token, now).await?;
    let (ceremony, options) = passkey::start_registration(&state, &staff, &hash, now)
        .await
        .map_err(|e| passkey_failure(ctx.lang, e))?;
    Ok(json_ok(json!({"ceremony": ceremony, "options": options})))
}

/// The account an invitation link is for, or the script's "link expired" message.
async fn enrolling(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
    now: i64,
) -> Result<(StaffRow, String), ScriptError> {
    link_account(state, token, LinkKind::Enroll, ctx.lang, now)
        .await
        .map_err(|_| ScriptError::Refused(StatusCode::BAD_REQUEST, ctx.t(LINK_EXPIRED).into()))
}

#[derive(Deserialize)]
pub struct EnrollFinish {
    #[serde(default)]
    token: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    ceremony: String,
    credential: RegisterPublicKeyCredential,
}

pub async fn enroll_finish(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    ScriptJson { body: req, .. }: ScriptJson<EnrollFinish>,
) -> ScriptResult {
    let label = clean_label(&req.label).ok_or_else(|| {
        ScriptError::Refused(StatusCode::BAD_REQUEST, ctx.t(LABEL_MISSING).into())
    })?;
    let (staff, hash) = enrolling(&state, &ctx, &req.token, now).await?;
    passkey::finish_registration(
        &state,
        &staff,
        &hash,
        &req.ceremony,
        &req.credential,
        &label,
        now,
    )
    .await
    .map_err(|e| passkey_failure(ctx.lang, e))?;
    // The link is spent only now: a cancelled ceremony can be tried again from the same mail.
    StaffStore::new(state.db.clone())
        .spend_link(&hash, LinkKind::Enroll, now)
        .await
        .map_err(|e| passkey_failure(ctx.lang, e.into()))?
        .ok_or_else(|| passkey_failure(ctx.lang, PasskeyError::Expired))?;
    state
        .audit()
        .record_staff(
            None,
            &StaffRef::own(&staff.id),
            "staff.passkey_registered",
            json!({"staff": staff.email, "label": label}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await
        .unwrap_or_else(
            |e| tracing::error!(error = %e, "audit of a staff passkey registration failed"),
        );
    Ok(follow(
        start(&state, &ctx, &requester, &staff, "passkey", None, None, now).await?,
    ))
}

// ---- demo only: the printed one-time sign-in link ----

pub async fn link_get(
    Hosted { state, ctx, .. }: Hosted,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    if !state.config.demo.enabled {
        return Err(PageError::NotFound(ctx.lang));
    }
    let now = state.now();
    let (staff, _) = link_account(&state, &q.token, LinkKind::SignIn, ctx.lang, now).await?;
    // A GET never signs in (mail scanners and link previews open links): a button does.
    let body = html! {
        h1 { (ctx.t(LINK_TITLE)) }
        (kenpo_shared::web::notice(ctx.t(LINK_BODY)))
        p { (staff.email) }
        form method="post" action="/staff/link" {
            (forms::csrf(&ctx.csrf))
            input type="hidden" name="token" value=(q.token);
            button.primary type="submit" { (ctx.t(LINK_BUTTON)) }
        }
    };
    Ok(layout::render_public(
        &state,
        &ctx,
        StatusCode::OK,
        "staff-login",
        ctx.t(LINK_TITLE),
        body,
        Vec::new(),
    ))
}

pub async fn link_post(
    Hosted { state, ctx, .. }: Hosted,
    requester: Requester,
    super::CsrfForm(form): super::CsrfForm<TokenQuery>,
) -> PageResult {
    if !state.config.demo.enabled {
        return Err(PageError::NotFound(ctx.lang));
    }
    let now = state.now();
    let store = StaffStore::new(state.db.clone());
    let id = store
        .spend_link(&token_hash(&form.token), LinkKind::SignIn, now)
        .await
        .map_err(|e| PageError::internal(ctx.lang, e))?
        .ok_or(PageError::BadRequest(ctx.lang, LINK_EXPIRED))?;
    let staff = store
        .by_id(&id)
        .await
        .map_err(|e| PageError::internal(ctx.lang, e))?
        .ok_or(PageError::BadRequest(ctx.lang, LINK_EXPIRED))?;
    start(&state, &ctx, &requester, &staff, "link", None, None, now).await
}
