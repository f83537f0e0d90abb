//! `terms` (SPEC step 3): the terms of use of the configured version (`union.terms_version`),
//! accepted with 同意する. The accepted version is recorded; when the union publishes a new
//! version, every member is asked again at their next sign-in (after the second factor).

use super::texts::{self, Doc};
use super::{FlowQuery, Visit, csrf_refused, visit};
use crate::pages::Ctx;
use crate::pages::forms::{self, PageForm};
use crate::pages::i18n::Text;
use crate::signin::steps::Step;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
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
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
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
            (forms::csrf(&ctx.csrf))
            (forms::flow(v.flow_id()))
            button.primary type="submit" name="agree" value="yes" { (ctx.t(AGREE)) }
        }
        p.small.muted { (ctx.t(DECLINE)) }
    };
    v.render(state, status, Step::Terms, ctx.t(TITLE), vec![], body)
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    match visit(&state, ctx, &headers, q.flow.as_deref(), wanted, now).await {
        Ok(v) => page(&state, &v, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

pub async fn post(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<TermsForm>,
) -> Response {
    let now = state.now();
    if let Some(r) = csrf_refused(&ctx, &form.csrf) {
        return r;
    }
    let v = match visit(&state, ctx, &headers, form.flow.as_deref(), wanted, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if form.agree.as_deref() != Some("yes") {
        let msg = NOT_AGREED.get(v.lang());
        return page(&state, &v, Some(msg), StatusCode::BAD_REQUEST).await;
    }
    let version = state.config.union.terms_version.clone();
    if let Err(e) = state
        .members()
        .accept_terms(&v.member.id, &version, now)
        .await
    {
        return crate::error::PageError::internal(v.lang(), e).into_response();
    }
    v.audit(&state, "terms.accepted", json!({"version": version}), now)
        .await;
    v.advance(&state, now).await
}
