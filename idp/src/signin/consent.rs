//! Consent (`data-step="consent"`), asked only for clients marked third-party, and remembered
//! per member and client until the client asks for more.

use crate::error::PageError;
use crate::oidc::authorize::{error_redirect, finish};
use crate::pages::forms::{self, PageForm};
use crate::pages::i18n::{self, Text};
use crate::pages::{Ctx, Frame};
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::audit::Actor;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::json;

const TITLE: Text = Text("情報提供への同意", "Allow access");
const ALLOW: Text = Text("同意する", "Allow");
const DENY: Text = Text("同意しない", "Deny");

fn scope_text(scope: &str) -> Option<Text> {
    Some(match scope {
        "profile" => Text("氏名・生年月日", "Your name and birthdate"),
        "email" => Text("メールアドレス", "Your email address"),
        "member" => Text(
            "記号・番号（保険証の情報）",
            "Your insurance symbol and number",
        ),
        "offline_access" => Text(
            "ログアウト後も情報を取得すること",
            "Access while you are signed out",
        ),
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct FlowQuery {
    flow: Option<String>,
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    consent: String,
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    let flow = match signin::load_flow(&state, q.flow.as_deref()).await {
        Ok(Some(f)) => f,
        Ok(None) => return PageError::BadRequest(ctx.lang, i18n::SIGNIN_EXPIRED).into_response(),
        Err(e) => return e.into_response(),
    };
    let current = match signin::require_session(&state, &headers, Some(&flow.id), now).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) =
        signin::guard_step(&state, &current, Some(&flow), |s| s == Step::Done, now).await
    {
        return r;
    }
    let client = match state.clients().get(&flow.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return PageError::BadRequest(ctx.lang, i18n::BAD_CLIENT).into_response(),
        Err(e) => return PageError::internal(ctx.lang, e).into_response(),
    };
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        p {
            @match ctx.lang {
                kenpo_shared::Lang::Ja => { "「" (client.name) "」が、次の情報の提供を求めています。" }
                kenpo_shared::Lang::En => { "“" (client.name) "” asks for:" }
            }
        }
        ul {
            @for s in &flow.scopes {
                @if let Some(t) = scope_text(s) { li { (ctx.t(t)) } }
            }
        }
        form method="post" action="/signin/consent" {
            (forms::csrf(&ctx.csrf))
            (forms::flow(Some(&flow.id)))
            div.actions {
                button.primary type="submit" name="consent" value="yes" { (ctx.t(ALLOW)) }
                button.secondary type="submit" name="consent" value="no" { (ctx.t(DENY)) }
            }
        }
    };
    ctx.render(
        &state,
        Frame {
            title: ctx.t(TITLE),
            step: Some("consent"),
            form_action: crate::store::clients::Client::redirect_origin(&flow.redirect_uri),
            ..Frame::default()
        },
        body,
    )
}

pub async fn post(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    PageForm(form): PageForm<ConsentForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let flow = match signin::load_flow(&state, form.flow.as_deref()).await {
        Ok(Some(f)) => f,
        Ok(None) => return PageError::BadRequest(ctx.lang, i18n::SIGNIN_EXPIRED).into_response(),
        Err(e) => return e.into_response(),
    };
    let current = match signin::require_session(&state, &headers, Some(&flow.id), now).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) =
        signin::guard_step(&state, &current, Some(&flow), |s| s == Step::Done, now).await
    {
        return r;
    }
    match form.consent.as_str() {
        "yes" => {
            if let Err(e) = state
                .consents()
                .put(
                    &current.session.member_id,
                    &flow.client_id,
                    &flow.scopes,
                    now,
                )
                .await
            {
                return PageError::internal(ctx.lang, e).into_response();
            }
            let _ = state
                .audit()
                .record(
                    Some(&current.session.member_id),
                    Actor::Member,
                    "consent.granted",
                    json!({"client": flow.client_id, "scope": flow.scopes}),
                    None,
                    now,
                )
                .await;
            finish(&state, &flow, current, now)
                .await
                .unwrap_or_else(|e| e.into_response())
        }
        "no" => {
            let _ = state
                .eph
                .take(&crate::oidc::authorize::flow_key(&flow.id))
                .await;
            error_redirect(&state, &flow, "access_denied", "the member declined")
        }
        _ => PageError::BadRequest(ctx.lang, i18n::BAD_REQUEST).into_response(),
    }
}
