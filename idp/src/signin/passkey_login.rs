//! Passwordless sign-in with a passkey from the login page: the button
//! (`data-action="passkey-login"`) and the browser's autofill (conditional mediation). Both use
//! the same two JSON endpoints: options (a discoverable-credential challenge, no user ID
//! typed) and finish (the assertion; the credential's user handle names the member). A passkey
//! verifies the user, so the session starts with both factors done.

use crate::error::PageResultExt;
use crate::mfa::passkey::{self, PasskeyError};
use crate::pages::Hosted;
use crate::pages::script::{ScriptJson, ScriptResult, follow, json_ok};
use crate::security::request::Requester;
use crate::security::throttle::Gate;
use crate::security::throttle::Throttle;
use crate::signin::mfa_passkey::passkey_failure;
use crate::signin::second_factor::throttled;
use crate::signin::start::{Primary, start_session};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

/// Ceremonies one address may start per minute (options requests; each stores a state).
const OPTIONS_PER_MINUTE: i64 = 60;

#[derive(Deserialize)]
pub struct OptionsRequest {}

#[derive(Deserialize)]
pub struct FinishRequest {
    #[serde(default)]
    remember: Option<String>,
    #[serde(default)]
    ceremony: String,
    credential: PublicKeyCredential,
}

pub async fn options(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    _: ScriptJson<OptionsRequest>,
) -> ScriptResult {
    let gate = Throttle::new(&state.eph, &state.config.throttle)
        .limit(
            &format!("wa:opt:{}", requester.bucket()),
            OPTIONS_PER_MINUTE,
            60,
            now,
        )
        .await
        .page(ctx.lang)?;
    if let Gate::Wait(w) = gate {
        return Err(throttled(ctx.lang, w));
    }
    let (ceremony, options) = passkey::start_passwordless(&state, now)
        .await
        .map_err(|e| passkey_failure(ctx.lang, e))?;
    Ok(json_ok(json!({"ceremony": ceremony, "options": options})))
}

pub async fn finish(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    headers: HeaderMap,
    req: ScriptJson<FinishRequest>,
) -> ScriptResult {
    let lang = ctx.lang;
    let gate = Throttle::new(&state.eph, &state.config.throttle)
        .address_attempt(requester.ip, now)
        .await
        .page(lang)?;
    if let Gate::Wait(w) = gate {
        return Err(throttled(lang, w));
    }
    let ip = requester.ip.to_string();
    let body = &req.body;
    let row = passkey::finish_passwordless(&state, &body.ceremony, &body.credential, &ip, now)
        .await
        .map_err(|e| passkey_failure(lang, e))?;
    let member = state
        .members()
        .by_id(&row.member_id)
        .await
        .page(lang)?
        // A member disabled by staff cannot sign in with a passkey either.
        .filter(|m| m.disabled_at.is_none())
        .ok_or_else(|| passkey_failure(lang, PasskeyError::UnknownCredential))?;
    let browser = crate::security::device::recognise(&state, &requester, &member, now)
        .await
        .page(lang)?;
    let primary = Primary {
        member,
        amr: vec!["hwk".into(), "user".into(), "mfa".into()],
        mfa: true,
        remember: body.remember.as_deref() == Some("yes"),
        flow_id: req.field("flow"),
        browser,
    };
    Ok(follow(
        start_session(&state, ctx, requester, &headers, primary).await?,
    ))
}
