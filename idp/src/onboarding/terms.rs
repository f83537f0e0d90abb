//! `terms` (SPEC step 3): the terms of use of the configured version (`union.terms_version`),
//! accepted with 同意する. The accepted version is recorded; when the union publishes a new
//! version, every member is asked again at their next sign-in (after the second factor).

use super::texts::{self, Doc};
use crate::error::{PageError, PageResultExt};
use crate::pages::forms;
use crate::pages::i18n::Text;
use crate::signin::steps::Step;
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;

const TITLE: Text = Text("利用規約への同意", "Terms of use");
const LEAD: Text = Text(
    "サービスを利用するには、利用規約への同意が必要です。内容をご確認のうえ「同意する」を押してください。",
    "To use the service, please read the terms of use and press “I agree”.",
);
const UPDATED: Text = Text(
    "利用規約が新しくなりました。内容をご確認のうえ、あらためて「同意する」を押してください。",
    "The terms of use have changed. Please read them and press “I agree” again.",
);
const BOX_LABEL: Text = Text("利用規約の本文", "Text of the terms of use");
const AGREE: Text = Text("同意する", "I agree");
const OPEN_FULL: Text = Text(
    "利用規約を大きな画面で読む",
    "Read the terms of use on a full page",
);
const PRIVACY: Text = Text(
    "個人情報の取り扱い（プライバシーポリシー）",
    "Privacy policy",
);
const DECLINE: Text = Text(
    "同意いただけない場合は、サービスを利用できません。画面を閉じてください。",
    "If you do not agree, you cannot use the service; you may close this page.",
);
const NOT_AGREED: Text = Text(
    "「同意する」を押してください。",
    "Please press “I agree” to continue.",
);

#[derive(Deserialize)]
pub struct TermsForm {
    #[serde(default)]
    agree: Option<String>,
}

fn wanted(s: Step) -> bool {
    s == Step::Terms
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

pub async fn get(
    State(state): State<AppState>,
    Visiting(v, _): Visiting,
) -> Result<Response, PageError> {
    let v = v.owing(&state, wanted).await?;
    Ok(page(&state, &v, None, StatusCode::OK).await)
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<TermsForm>,
) -> Result<Response, PageError> {
    let mut v = v.owing(&state, wanted).await?;
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
