//! Consent (`data-step="consent"`), asked only for clients marked third-party, and remembered
//! per member and client until the client asks for more.

use crate::error::{PageError, PageResult, PageResultExt};
use crate::oidc::request::AuthRequest;
use crate::pages::Frame;
use crate::pages::forms;
use crate::pages::i18n::{self, Text};
use crate::signin::advance::{issue_code, rp_error};
use crate::signin::flow_key;
use crate::signin::steps::Step;
use crate::signin::visit::{Visit, Visiting};
use crate::state::AppState;
use crate::store::clients::Client;
pub use crate::texts::signin::consent::*;
use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;
use serde::Deserialize;
use serde_json::json;

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
pub struct ConsentForm {
    #[serde(default)]
    consent: String,
}

/// The member must have passed every step of a live flow.
async fn enter(state: &AppState, v: Visit) -> Result<(Visit, AuthRequest), PageError> {
    let v = v.owing(state, |s| s == Step::Done).await?;
    let flow = v
        .flow
        .clone()
        .ok_or(PageError::BadRequest(v.lang(), i18n::SIGNIN_EXPIRED))?;
    Ok((v, flow))
}

pub async fn get(State(state): State<AppState>, Visiting(v, _): Visiting) -> PageResult {
    let (v, flow) = enter(&state, v).await?;
    let ctx = &v.ctx;
    let client = state
        .clients()
        .get(&flow.client_id)
        .await
        .page(ctx.lang)?
        .ok_or(PageError::BadRequest(ctx.lang, i18n::BAD_CLIENT))?;
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
    Ok(ctx.render(
        &state,
        Frame {
            title: ctx.t(TITLE),
            step: Some("consent"),
            form_action: Client::redirect_origin(&flow.redirect_uri),
            ..Frame::default()
        },
        body,
    ))
}

pub async fn post(
    State(state): State<AppState>,
    Visiting(v, form): Visiting<ConsentForm>,
) -> PageResult {
    let (v, flow) = enter(&state, v).await?;
    let lang = v.lang();
    let next = match form.consent.as_str() {
        "yes" => {
            state
                .consents()
                .put(&v.member.id, &flow.client_id, &flow.scopes, v.now)
                .await
                .page(lang)?;
            let detail = json!({"client": flow.client_id, "scope": flow.scopes});
            v.audit(&state, "consent.granted", detail).await;
            issue_code(&state, &flow, &v).await?
        }
        "no" => {
            state.eph.take(&flow_key(&flow.id)).await.page(lang)?;
            rp_error(&state, &flow, "access_denied", "the member declined")
        }
        _ => return Err(PageError::BadRequest(lang, i18n::BAD_REQUEST)),
    };
    Ok(next.into_response())
}
