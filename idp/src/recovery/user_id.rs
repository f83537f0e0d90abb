//! Forgot user ID: `forgot-userid` (email address) → a mail to that address listing every user
//! ID whose *verified* address it is. Nothing is mailed to an address no member confirmed;
//! the answer on the page is the same either way (see the module doc of `recovery`).

use super::password::{FlowQuery, sent_page, wait_message};
use super::{RequestPage, clean_flow, start};
use crate::error::PageResult;
use crate::mail::{Mail, MailKind};
use crate::onboarding::email::parse_email;
use crate::pages::Hosted;
use crate::pages::forms::{CsrfForm, FieldSpec};
use crate::security::request::Requester;
use crate::state::AppState;
pub use crate::texts::recovery::user_id::*;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use kenpo_shared::Lang;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct UserIdForm {
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    email: String,
}

const PAGE: RequestPage = RequestPage {
    step: "forgot-userid",
    title: TITLE,
    lead: LEAD,
    action: "/recovery/user-id",
    field: FieldSpec {
        autofocus: true,
        ..FieldSpec::email("email", EMAIL)
    },
    other: ("/recovery/password", FORGOT_PASSWORD),
    back: BACK,
    send: SEND,
};

pub async fn get(Hosted { state, ctx, .. }: Hosted, Query(q): Query<FlowQuery>) -> Response {
    let flow = clean_flow(q.flow);
    PAGE.render(&state, &ctx, flow.as_deref(), "", None, StatusCode::OK)
}

pub async fn post(
    Hosted { state, ctx, now }: Hosted,
    requester: Requester,
    CsrfForm(form): CsrfForm<UserIdForm>,
) -> PageResult {
    let flow = clean_flow(form.flow);
    let typed: String = form.email.chars().take(320).collect();
    let again = |error: Option<&str>, status| {
        PAGE.render(&state, &ctx, flow.as_deref(), &typed, error, status)
    };
    let email = match parse_email(&typed) {
        Ok(e) => e,
        Err(msg) => return Ok(again(Some(ctx.t(msg)), StatusCode::BAD_REQUEST)),
    };
    let target = format!("uid:{email}");
    let (state2, lang) = (state.clone(), ctx.lang);
    let ip = requester.ip.to_string();
    let task = async move {
        mail_user_ids(&state2, &email, lang, &ip, now).await;
    };
    Ok(
        match start(&state, requester.ip, &target, now, task).await? {
            Some(w) => again(
                Some(&wait_message(ctx.lang, w)),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            None => sent_page(&state, &ctx, flow.as_deref(), SENT),
        },
    )
}

/// The background half: mail the user IDs registered to a verified address, if any.
async fn mail_user_ids(state: &AppState, email: &str, lang: Lang, ip: &str, now: i64) {
    let members = match state.members().by_verified_email(email).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "user ID request: look-up");
            return;
        }
    };
    if members.is_empty() {
        return;
    }
    let mut user_ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
    user_ids.sort();
    let sent = state
        .send_mail(Mail {
            to: email.to_string(),
            lang,
            kind: MailKind::UserIds { user_ids },
        })
        .await;
    for m in &members {
        let trail = state.audit().member(&m.id, Some(ip), now);
        trail
            .log("recovery.user_id_sent", json!({"delivered": sent.is_ok()}))
            .await;
    }
}
