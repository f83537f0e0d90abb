//! `terms` (SPEC step 3): the terms of use of the configured version (`union.terms_version`),
//! accepted with 同意する. The accepted version is recorded; when the union publishes a new
//! version, every member is asked again at their next sign-in (after the second factor).

use super::texts::{self, Doc};
use crate::error::{PageResult, PageResultExt};
use crate::pages::forms;
use crate::signin::steps::Step;
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
pub use crate::texts::onboarding::terms::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct TermsForm {
    #[serde(default)]
    agree: Option<String>,
}

async fn page(state: &AppState, v: &Visit, error: Option<&str>, status: StatusCode) -> Response {
    let ctx = &v.ctx;
    let text = texts::load(state, Doc::Terms, ctx.lang).await;
    let again = v.member.terms_version.is_some();
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        p { (ctx.t(if again { UPDATED } else { LEAD })) }
        div.doc-box tabindex="0" role="region" aria-label=(ctx.t(BOX_LABEL)) {
            (texts::render(&text))
        }
        p.small {
            a href="/terms" { (ctx.t(OPEN_FULL)) }
            " ・ "
            a href="/privacy" { (ctx.t(PRIVACY)) }
        }
        form method="post" action="/signin/terms" {
            (forms::hidden(&ctx.csrf, v.flow_id()))
            button.primary type="submit" name="agree" value="yes" { (ctx.t(AGREE)) }
        }
        p.small.muted { (ctx.t(DECLINE)) }
    };
    v.render(state, status, Step::Terms, ctx.t(TITLE), vec![], body)
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let v = v.owing(&state, Step::Terms).await?;
    Ok(page(&state, &v, None, StatusCode::OK).await)
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<TermsForm>,
) -> PageResult {
    let mut v = v.owing(&state, Step::Terms).await?;
    if form.agree.as_deref() != Some("yes") {
        let msg = NOT_AGREED.get(v.lang());
        return Ok(page(&state, &v, Some(msg), StatusCode::BAD_REQUEST).await);
    }
    let version = state.config.union.terms_version.clone();
    state
        .members()
        .accept_terms(&v.member.id, &version, v.now)
        .await
        .page(v.lang())?;
    v.audit(&state, "terms.accepted", json!({"version": version}))
        .await;
    v.member.terms_version = Some(version);
    v.member.terms_accepted_at = Some(v.now);
    Ok(v.advance(&state).await?.into_response())
}
