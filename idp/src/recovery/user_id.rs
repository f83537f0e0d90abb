//! Forgot user ID: `forgot-userid` (email address) → a mail to that address listing every user
//! ID whose *verified* address it is. Nothing is mailed to an address no member confirmed;
//! the answer on the page is the same either way (see the module doc of `recovery`).

use super::password::{FlowQuery, sent_page, wait_message};
use super::{clean_flow, contact, login_href, start};
use crate::error::PageError;
use crate::mail::{Mail, MailKind};
use crate::onboarding::email::parse_email;
use crate::pages::forms::{self, CsrfForm, Field};
use crate::pages::i18n::Text;
use crate::pages::{Ctx, Frame};
use crate::security::request::Requester;
use crate::state::AppState;
use crate::store::audit::Actor;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use kenpo_shared::Lang;
use maud::html;
use serde::Deserialize;
use serde_json::json;

const TITLE: Text = Text("ユーザIDを忘れた方", "Forgot your user ID?");
const LEAD: Text = Text(
    "登録しているメールアドレスを入力してください。そのアドレスあてに、ユーザIDをお知らせするメールをお送りします。",
    "Enter the email address you registered. We will mail your user ID to it.",
);
const EMAIL: Text = Text("メールアドレス", "Email address");
const SEND: Text = Text("ユーザIDをメールで受け取る", "Mail me my user ID");
const SENT: Text = Text(
    "入力されたメールアドレスが登録されている場合は、そのアドレスあてにユーザIDをお知らせするメールをお送りしました。数分たってもメールが届かない場合は、迷惑メールのフォルダもご確認ください。",
    "If the address you entered is registered, we have mailed your user ID to it. If nothing arrives within a few minutes, please check your spam folder.",
);
const FORGOT_PASSWORD: Text = Text("パスワードを忘れた方", "Forgot your password?");
const BACK: Text = Text("ログイン画面に戻る", "Back to sign-in");

#[derive(Deserialize)]
pub struct UserIdForm {
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    email: String,
}

fn page(
    state: &AppState,
    ctx: &Ctx,
    flow: Option<&str>,
    value: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        p { (ctx.t(LEAD)) }
        form method="post" action="/recovery/user-id" novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(flow))
            (Field { kind: "email", autocomplete: "email", inputmode: Some("email"), value, error, autofocus: true, maxlength: Some(254), ..Field::new("email", ctx.t(EMAIL)) }.render())
            button.primary type="submit" { (ctx.t(SEND)) }
        }
        (contact(state, ctx.lang))
        div.links {
            a href=(match flow { Some(f) => format!("/recovery/password?flow={f}"), None => "/recovery/password".into() }) { (ctx.t(FORGOT_PASSWORD)) }
            a href=(login_href(flow)) { (ctx.t(BACK)) }
        }
    };
    ctx.render_status(
        state,
        status,
        Frame {
            title: ctx.t(TITLE),
            step: Some("forgot-userid"),
            ..Frame::default()
        },
        body,
    )
}

pub async fn get(State(state): State<AppState>, ctx: Ctx, Query(q): Query<FlowQuery>) -> Response {
    let flow = clean_flow(q.flow);
    page(&state, &ctx, flow.as_deref(), "", None, StatusCode::OK)
}

pub async fn post(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    CsrfForm(form): CsrfForm<UserIdForm>,
) -> Result<Response, PageError> {
    let now = state.now();
    let flow = clean_flow(form.flow);
    let typed: String = form.email.chars().take(320).collect();
    let email = match parse_email(&typed) {
        Ok(e) => e,
        Err(msg) => {
            let status = StatusCode::BAD_REQUEST;
            return Ok(page(
                &state,
                &ctx,
                flow.as_deref(),
                &typed,
                Some(ctx.t(msg)),
                status,
            ));
        }
    };
    let target = format!("uid:{email}");
    let (state2, lang) = (state.clone(), ctx.lang);
    let ip = requester.ip.to_string();
    let task = async move {
        mail_user_ids(&state2, &email, lang, &ip, now).await;
    };
    if let Some(w) = start(&state, requester.ip, &target, now, task).await? {
        let msg = wait_message(ctx.lang, w);
        let status = StatusCode::TOO_MANY_REQUESTS;
        return Ok(page(
            &state,
            &ctx,
            flow.as_deref(),
            &typed,
            Some(&msg),
            status,
        ));
    }
    Ok(sent_page(&state, &ctx, flow.as_deref(), SENT))
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
        state
            .audit()
            .record_or_log(
                Some(&m.id),
                Actor::Member,
                "recovery.user_id_sent",
                json!({"delivered": sent.is_ok()}),
                Some(ip),
                now,
            )
            .await;
    }
}
