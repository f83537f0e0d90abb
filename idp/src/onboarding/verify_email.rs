//! `GET /signin/verify-email?token=…`: the link of a verification mail. It marks the address
//! verified — only if it is still the member's address, so a link for an address they
//! replaced confirms nothing — and then either continues the sign-in directly (same browser,
//! same member) or tells the member to go back to the first tab. A link works once (it is
//! taken atomically); a mail scanner that fetches it first verifies the address as the member
//! would, and the waiting tab moves on by itself.

use super::email::VerifyLink;
use crate::error::{PageResult, PageResultExt};
use crate::pages::i18n::{self};
use crate::pages::{Ctx, Frame};
use crate::security::links::{self, LinkKind, Open};
use crate::signin::email_pending_key;
use crate::signin::visit::{Browser, load};
use crate::state::AppState;
use crate::store::audit::Actor;
pub use crate::texts::onboarding::verify_email::*;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;

fn link_page(state: &AppState, ctx: &Ctx, ok: bool) -> Response {
    let (title, status) = if ok {
        (ctx.t(VERIFIED_TITLE), StatusCode::OK)
    } else {
        (ctx.t(LINK_BAD_TITLE), StatusCode::GONE)
    };
    let body = html! {
        h1 { (title) }
        @if ok {
            (kenpo_shared::web::notice(ctx.t(VERIFIED_BODY)))
        } @else {
            (kenpo_shared::web::alert(ctx.t(LINK_BAD)))
            p { a href="/login" { (ctx.t(i18n::BACK_TO_START)) } }
        }
    };
    ctx.render_status(
        state,
        status,
        Frame {
            title,
            step: Some(if ok { "email-verified" } else { "link-invalid" }),
            ..Default::default()
        },
        body,
    )
}

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    token: String,
}

pub async fn get(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<VerifyQuery>,
) -> PageResult {
    let ctx = browser.ctx.clone();
    let now = state.now();
    let lang = ctx.lang;
    let link =
        links::open::<VerifyLink>(&state.eph, LinkKind::VerifyEmail, &q.token, now, Open::Take)
            .await
            .page(lang)?;
    let Some(link) = link else {
        return Ok(link_page(&state, &ctx, false));
    };
    // Same browser, same member: the sign-in carries on right here with what is loaded.
    let mut visit = load(&state, browser, link.flow.as_deref())
        .await?
        .filter(|v| v.member.id == link.member_id);
    let member = match &visit {
        Some(v) => Some(v.member.clone()),
        None => state.members().by_id(&link.member_id).await.page(lang)?,
    };
    let Some(member) = member.filter(|m| m.email.as_deref() == Some(link.email.as_str())) else {
        return Ok(link_page(&state, &ctx, false));
    };
    if !member.email_verified {
        state
            .members()
            .set_email(&member.id, &link.email, true, now)
            .await
            .page(lang)?;
        let event = state
            .audit()
            .record(
                Some(&member.id),
                Actor::Member,
                "email.verified",
                json!({}),
                None,
                now,
            )
            .await;
        if let Err(e) = event {
            tracing::error!(error = %e, "audit record failed");
        }
    }
    state
        .eph
        .delete(&email_pending_key(&member.id))
        .await
        .page(lang)?;
    if let Some(v) = visit.as_mut() {
        v.member.email_verified = true;
        v.email_pending = false;
        return Ok(v.advance(&state).await?.into_response());
    }
    Ok(link_page(&state, &ctx, true))
}
