//! `enroll-totp`: setting up an authenticator app. A new secret is kept (sealed) in the
//! short-lived store while the member installs and scans — the same one on every reload, so a
//! code from an app that already scanned it keeps working — and stored for good only when a
//! valid code proves the app has it. Re-enrolling from the account page replaces the old
//! secret only at that moment.

use super::{Enrolling, qr};
use crate::error::{PageError, PageResult, PageResultExt};
use crate::mfa::{Factor, totp};
use crate::pages::no_store;
use crate::security::tokens::{b64url, b64url_decode};
use crate::signin::second_factor::{VERIFY, code_field};
use crate::signin::visit::Visiting;
use crate::state::AppState;
use crate::store::ephemeral::{EphResult, secs};
pub use crate::texts::enroll::totp::*;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use maud::{PreEscaped, html};
use serde::{Deserialize, Serialize};

/// How long an unconfirmed secret is kept (time to install an app).
const PENDING_SECS: i64 = 3600;

#[derive(Serialize, Deserialize)]
struct Pending {
    sealed: String,
    expires_at: i64,
}

fn pending_key(member_id: &str) -> String {
    format!("totp:pending:{member_id}")
}

fn seal_context(member_id: &str) -> String {
    format!("totp-pending:{member_id}")
}

/// The unconfirmed secret of a member (created when `create` and none is live).
async fn pending_secret(
    state: &AppState,
    member_id: &str,
    create: bool,
    now: i64,
) -> EphResult<Option<Vec<u8>>> {
    let key = pending_key(member_id);
    if let Some(p) = state.eph.get_json::<Pending>(&key).await?
        && p.expires_at > now
        && let Some(secret) = b64url_decode(&p.sealed)
            .and_then(|sealed| state.sbox.open(&seal_context(member_id), &sealed).ok())
    {
        return Ok(Some(secret));
    }
    if !create {
        return Ok(None);
    }
    let secret = totp::new_secret();
    let sealed = state.sbox.seal(&seal_context(member_id), &secret);
    state
        .eph
        .put_json(
            &key,
            &Pending {
                sealed: b64url(&sealed),
                expires_at: now + PENDING_SECS,
            },
            secs(PENDING_SECS),
        )
        .await?;
    Ok(Some(secret))
}

/// The otpauth URI of a secret, with every parameter spelled out for older apps.
fn otpauth(state: &AppState, en: &Enrolling, secret: &[u8]) -> Result<String, String> {
    let t = totp::totp(
        secret,
        &state.config.mfa.totp_issuer,
        &en.visit.member.user_id,
    )?;
    let url = t.to_url().map_err(|e| e.to_string())?;
    Ok(format!("{url}&algorithm=SHA1&digits=6&period=30"))
}

fn page(
    state: &AppState,
    en: &Enrolling,
    secret: &[u8],
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let ctx = en.ctx();
    let uri = otpauth(state, en, secret).page(ctx.lang)?;
    let svg = qr::svg(&uri, ctx.t(QR_LABEL)).page(ctx.lang)?;
    let action = en.action();
    let png = match en.visit.flow_id() {
        Some(f) => format!("{action}/qr.png?flow={f}"),
        None => format!("{action}/qr.png"),
    };
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        ol.setup-steps {
            li {
                h2 { (ctx.t(STEP1)) }
                p { (ctx.t(STEP1_PHONE)) }
                p.small { (ctx.t(STEP1_PC)) }
            }
            li {
                h2 { (ctx.t(STEP2)) }
                (PreEscaped(svg))
                p { a href=(uri) { (ctx.t(OPEN_APP)) } }
                p { a href=(png) download="kenpo-otp-qr.png" { (ctx.t(DOWNLOAD)) } }
                p.small { (ctx.t(DOWNLOAD_HELP)) }
                details {
                    summary { (ctx.t(CANT_SCAN)) }
                    dl.kv {
                        dt { (ctx.t(ACCOUNT)) }
                        dd { (en.visit.member.user_id) }
                        dt { (ctx.t(KEY)) }
                        dd { code.secret data-totp-secret { (totp::grouped_base32(secret)) } }
                        dt { (ctx.t(KEY_TYPE)) }
                        dd { (ctx.t(TIME_BASED)) }
                    }
                    p.small { (ctx.t(KEY_HELP)) }
                }
            }
            li {
                h2 { (ctx.t(STEP3)) }
                form method="post" action=(action) novalidate {
                    (en.hidden())
                    (code_field(ctx, error, false))
                    button.primary type="submit" { (ctx.t(VERIFY)) }
                }
            }
        }
        (en.way_out())
    };
    Ok(ctx.render_status(state, status, en.frame(TITLE, Vec::new()), body))
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let en = Enrolling::enter(&state, v, Factor::Totp).await?;
    let lang = en.visit.lang();
    let secret = pending_secret(&state, &en.visit.member.id, true, en.visit.now)
        .await
        .page(lang)?
        .ok_or_else(|| PageError::internal(lang, "no pending secret"))?;
    page(&state, &en, &secret, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    otp: String,
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<CodeForm>,
) -> PageResult {
    let en = Enrolling::enter(&state, v, Factor::Totp).await?;
    let (lang, now) = (en.visit.lang(), en.visit.now);
    let member_id = en.visit.member.id.clone();
    let Some(secret) = pending_secret(&state, &member_id, false, now)
        .await
        .page(lang)?
    else {
        let secret = pending_secret(&state, &member_id, true, now)
            .await
            .page(lang)?
            .ok_or_else(|| PageError::internal(lang, "no pending secret"))?;
        let msg = en.ctx().t(EXPIRED);
        return page(&state, &en, &secret, Some(msg), StatusCode::BAD_REQUEST);
    };
    let t = totp::totp(
        &secret,
        &state.config.mfa.totp_issuer,
        &en.visit.member.user_id,
    )
    .page(lang)?;
    let Some(step) = totp::matching_step(&t, &form.otp, now) else {
        let msg = en.ctx().t(WRONG);
        return page(&state, &en, &secret, Some(msg), StatusCode::BAD_REQUEST);
    };
    totp::enrol(&state.db, &state.sbox, &member_id, &secret, step, now)
        .await
        .page(lang)?;
    if let Err(e) = state.eph.delete(&pending_key(&member_id)).await {
        // Harmless: it expires, and a new enrolment replaces it.
        tracing::warn!(error = %e, "pending TOTP secret not deleted");
    }
    Ok(en.finish(&state, None).await?.into_response())
}

/// The QR code as a PNG (the Edge extension reads a saved image).
pub async fn qr_png(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let en = Enrolling::enter(&state, v, Factor::Totp).await?;
    let lang = en.visit.lang();
    let secret = pending_secret(&state, &en.visit.member.id, false, en.visit.now)
        .await
        .page(lang)?
        .ok_or(PageError::NotFound(lang))?;
    let png = otpauth(&state, &en, &secret)
        .and_then(|uri| qr::png(&uri))
        .page(lang)?;
    let mut res = png.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"kenpo-otp-qr.png\""),
    );
    no_store(&mut res);
    Ok(res)
}
