//! The second-factor steps of a sign-in: `mfa-totp`, `mfa-email`, `mfa-passkey`. Each page
//! offers the member's other enrolled factors ("use another method"). Wrong codes share the
//! account's brute-force budget with the password (`security::throttle`).

use crate::error::{PageError, PageResultExt};
use crate::mfa::{self, Factor, Factors};
use crate::pages::forms::{self, Field, PageForm};
use crate::pages::i18n::{self, Text};
use crate::pages::{Ctx, Frame};
use crate::security::request::Requester;
use crate::security::throttle::{Gate, Throttle};
use crate::signin::session::{Current, Sessions};
use crate::signin::{self, steps::Step};
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::credentials::CredentialStore;
use crate::store::members::Member;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

pub const CODE_LABEL: Text = Text(
    "ワンタイムパスワード（6桁）",
    "One-time password (6 digits)",
);
const TOTP_TITLE: Text = Text(
    "認証アプリのワンタイムパスワード",
    "Code from your authenticator app",
);
const TOTP_HELP: Text = Text(
    "スマートフォンやブラウザの認証アプリ（Google Authenticator など）に表示されている6桁の数字を入力してください。",
    "Enter the 6-digit code shown in your authenticator app (Google Authenticator or similar).",
);
pub const VERIFY: Text = Text("確認する", "Verify");
pub const WRONG_CODE: Text = Text(
    "ワンタイムパスワードが正しくありません。最新の6桁を入力してください。",
    "That code is not correct. Enter the latest 6 digits.",
);
const REPLAYED: Text = Text(
    "このワンタイムパスワードはすでに使われています。次の数字に変わるまでお待ちください。",
    "That code has been used already. Wait for the next one.",
);
pub const OTHER_METHODS: Text = Text("別の方法で認証する", "Use another method");

/// The second-factor pages of the sign-in sequence.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new().route("/signin/mfa-totp", get(totp_get).post(totp_post))
}

#[derive(Debug, Deserialize)]
pub struct FlowQuery {
    pub flow: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub otp: String,
}

/// Loads what a second-factor page needs and checks the member owes a second factor and has
/// `factor` enrolled.
pub async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    flow_id: Option<&str>,
    factor: Factor,
    now: i64,
) -> Result<(Current, Member, Factors), Response> {
    let flow = signin::load_flow(state, flow_id)
        .await
        .map_err(IntoResponse::into_response)?;
    let current = signin::require_session(state, headers, flow_id, now).await?;
    let step = signin::guard_step(
        state,
        &current,
        flow.as_ref(),
        |s| matches!(s, Step::Mfa(_)),
        now,
    )
    .await?;
    let member = state
        .members()
        .by_id(&current.session.member_id)
        .await
        .page(kenpo_shared::Lang::Ja)
        .map_err(IntoResponse::into_response)?;
    let Some(member) = member else {
        return Err(PageError::NotFound(kenpo_shared::Lang::Ja).into_response());
    };
    let factors = CredentialStore::new(state.db.clone())
        .factors(&member)
        .await
        .page(kenpo_shared::Lang::Ja)
        .map_err(IntoResponse::into_response)?;
    if !factors.has(factor) {
        return Err(axum::response::Redirect::to(&signin::step_url(step, flow_id)).into_response());
    }
    Ok((current, member, factors))
}

/// Links to the member's other factors.
pub fn other_methods(ctx: &Ctx, factors: &Factors, current: Factor, flow: Option<&str>) -> Markup {
    let others: Vec<Factor> = factors
        .list()
        .into_iter()
        .filter(|f| *f != current)
        .collect();
    html! {
        @if !others.is_empty() {
            details {
                summary { (ctx.t(OTHER_METHODS)) }
                ul {
                    @for f in others {
                        li { a href=(signin::step_url(Step::Mfa(f), flow)) { (ctx.t(mfa::factor_name(f))) } }
                    }
                }
            }
        }
    }
}

/// Records a completed second factor in the session and moves on.
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    state: &AppState,
    ctx: &Ctx,
    requester: &Requester,
    mut current: Current,
    member: &Member,
    amr: &[&str],
    flow: Option<&str>,
    now: i64,
) -> Response {
    for a in amr.iter().chain(std::iter::once(&"mfa")) {
        if !current.session.amr.iter().any(|x| x == a) {
            current.session.amr.push((*a).to_string());
        }
    }
    current.session.mfa_time = Some(now);
    if let Err(e) = Sessions::new(state).save(&current, now).await {
        return PageError::internal(ctx.lang, e).into_response();
    }
    let _ = state
        .audit()
        .record(
            Some(&member.id),
            Actor::Member,
            "signin.second_factor",
            json!({"amr": amr}),
            Some(&requester.ip.to_string()),
            now,
        )
        .await;
    signin::advance(state, current, flow, ctx.lang, now).await
}

/// Claims an attempt from the member's budget: `Some(message)` when refused for now.
pub async fn attempt(
    state: &AppState,
    ctx: &Ctx,
    member: &Member,
) -> Result<Option<String>, PageError> {
    match Throttle::new(&state.eph, &state.config.throttle)
        .account_attempt(&member.user_id_key)
        .await
        .page(ctx.lang)?
    {
        Gate::Open => Ok(None),
        Gate::Wait(w) => {
            let wait = i18n::wait_text(ctx.lang, w);
            Ok(Some(format!(
                "{} ({})",
                ctx.t(i18n::TOO_MANY),
                ctx.lang
                    .pick(&format!("あと{wait}"), &format!("wait {wait}"))
            )))
        }
    }
}

fn totp_page(
    state: &AppState,
    ctx: &Ctx,
    factors: &Factors,
    flow: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { (ctx.t(TOTP_TITLE)) }
        @if let Some(e) = error { (kenpo_shared::web::alert(e)) }
        p { (ctx.t(TOTP_HELP)) }
        form method="post" action="/signin/mfa-totp" novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(flow))
            (Field { autocomplete: "one-time-code", inputmode: Some("numeric"), class: Some("code"), autofocus: true, maxlength: Some(20), error, ..Field::new("otp", ctx.t(CODE_LABEL)) }.render())
            button.primary type="submit" { (ctx.t(VERIFY)) }
        }
        (other_methods(ctx, factors, Factor::Totp, flow))
    };
    ctx.render_status(
        state,
        status,
        Frame {
            title: ctx.t(TOTP_TITLE),
            step: Some("mfa-totp"),
            ..Frame::default()
        },
        body,
    )
}

pub async fn totp_get(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    let now = state.now();
    match prepare(&state, &headers, q.flow.as_deref(), Factor::Totp, now).await {
        Ok((_, _, factors)) => totp_page(
            &state,
            &ctx,
            &factors,
            q.flow.as_deref(),
            None,
            StatusCode::OK,
        ),
        Err(r) => r,
    }
}

pub async fn totp_post(
    State(state): State<AppState>,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&form.csrf) {
        return PageError::Forbidden(ctx.lang).into_response();
    }
    let flow = form.flow.as_deref();
    let (current, member, factors) = match prepare(&state, &headers, flow, Factor::Totp, now).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    match attempt(&state, &ctx, &member).await {
        Ok(None) => {}
        Ok(Some(msg)) => {
            return totp_page(
                &state,
                &ctx,
                &factors,
                flow,
                Some(&msg),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return e.into_response(),
    }
    match mfa::totp::verify(&state.db, &state.sbox, &member.id, &form.otp, now).await {
        Ok(mfa::totp::Check::Accepted) => {
            complete(
                &state,
                &ctx,
                &requester,
                current,
                &member,
                &["otp"],
                flow,
                now,
            )
            .await
        }
        Ok(mfa::totp::Check::Replayed) => totp_page(
            &state,
            &ctx,
            &factors,
            flow,
            Some(ctx.t(REPLAYED)),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(_) => totp_page(
            &state,
            &ctx,
            &factors,
            flow,
            Some(ctx.t(WRONG_CODE)),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => PageError::internal(ctx.lang, e).into_response(),
    }
}
