//! `enroll-passkey`: registering a passkey. The page names the device (`label`, prefilled
//! with a guess from the browser) and its script runs the ceremony through two JSON
//! endpoints (options, finish; see `mfa::passkey`). A failed or cancelled ceremony is simply
//! tried again: every press of the button starts a new one.

use super::{Enrolling, FlowQuery, Mode, finish, frame, prepare, way_out};
use crate::mfa::Factor;
use crate::mfa::passkey::{self, LABEL_MAX, Owner, PasskeyError, clean_label};
use crate::pages::Ctx;
use crate::pages::forms::{self, Field};
use crate::pages::i18n::{self, Text};
use crate::security::request::{Requester, device_label};
use crate::signin::mfa::{NEEDS_SCRIPT, passkey_failure, phone_help};
use crate::signin::passkey_login::{JsonBody, json_error, json_ok, json_redirect};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

const TITLE: Text = Text("パスキー（生体認証）の登録", "Register a passkey");
const INTRO: Text = Text(
    "この端末の顔認証・指紋認証・画面ロック（PIN）を使って、パスワードなしで安全にログインできるようにします。",
    "Sign in safely without typing a password, using this device's face, fingerprint or screen lock (PIN).",
);
const BEFORE: Text = Text(
    "始める前に、端末の生体認証（顔認証・指紋認証）または画面ロックが設定されていることをご確認ください。",
    "Before you start, make sure face or fingerprint recognition, or a screen lock, is set up on your device.",
);
const LABEL: Text = Text("端末の名前", "Device name");
const LABEL_HINT: Text = Text(
    "あとで見分けられる名前を付けてください（例：自宅のパソコン、iPhone）。",
    "A name to tell it apart later (for example: home PC, iPhone).",
);
const BUTTON: Text = Text("パスキーを登録する", "Register passkey");
const LABEL_EMPTY: Text = Text(
    "端末の名前を入力してください。",
    "Enter a name for the device.",
);
const DUPLICATE: Text = Text(
    "この端末のパスキーはすでに登録されています。そのままログインに使えます。",
    "This device's passkey is already registered. You can use it to sign in.",
);

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/signin/enroll-passkey", get(first_get))
        .route("/signin/enroll-passkey/options", post(first_options))
        .route("/signin/enroll-passkey/finish", post(first_finish))
        .route("/account/enroll-passkey", get(account_get))
        .route("/account/enroll-passkey/options", post(account_options))
        .route("/account/enroll-passkey/finish", post(account_finish))
}

fn page(state: &AppState, ctx: &Ctx, en: &Enrolling, requester: &Requester) -> Response {
    let base = en.mode.path(Factor::Passkey);
    let guess = device_label(&requester.user_agent);
    let guess = if guess == "?" { String::new() } else { guess };
    let body = html! {
        h1 { (ctx.t(TITLE)) }
        p { (ctx.t(INTRO)) }
        p.small { (ctx.t(BEFORE)) }
        form.passkey method="post" action=(format!("{base}/finish"))
            data-options=(format!("{base}/options")) data-finish=(format!("{base}/finish")) novalidate {
            (forms::csrf(&ctx.csrf))
            (forms::flow(en.flow()))
            (Field { value: &guess, hint: Some(ctx.t(LABEL_HINT)), maxlength: Some(LABEL_MAX), autofocus: true, ..Field::new("label", ctx.t(LABEL)) }.render())
            div.passkey-status role="alert" aria-live="assertive" {}
            button.primary type="button" data-action="passkey-register" { (ctx.t(BUTTON)) }
        }
        noscript { (kenpo_shared::web::alert(ctx.t(NEEDS_SCRIPT))) }
        (phone_help(ctx))
        (way_out(ctx, en))
    };
    ctx.render(
        state,
        frame(
            ctx,
            en,
            Factor::Passkey,
            TITLE,
            "enroll-passkey",
            vec!["/static/passkey.js"],
        ),
        body,
    )
}

async fn show(
    state: AppState,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    mode: Mode,
    flow: Option<String>,
) -> Response {
    let now = state.now();
    match prepare(
        &state,
        &headers,
        mode,
        Factor::Passkey,
        flow.as_deref(),
        now,
    )
    .await
    {
        Ok(en) => page(&state, &ctx, &en, &requester),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct OptionsRequest {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
}

#[derive(Deserialize)]
struct FinishRequest {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: Option<String>,
    #[serde(default)]
    label: String,
    #[serde(default)]
    ceremony: String,
    credential: RegisterPublicKeyCredential,
}

fn owner(en: &Enrolling) -> Owner {
    Owner {
        member_id: en.member.id.clone(),
        sid: en.current.session.sid.clone(),
    }
}

async fn options(
    state: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    mode: Mode,
    req: OptionsRequest,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&req.csrf) {
        return json_error(StatusCode::FORBIDDEN, ctx.t(i18n::STALE_FORM));
    }
    let flow = if mode == Mode::FirstLogin {
        req.flow
    } else {
        None
    };
    let en = match prepare(
        &state,
        &headers,
        mode,
        Factor::Passkey,
        flow.as_deref(),
        now,
    )
    .await
    {
        Ok(en) => en,
        Err(r) => return json_redirect(r),
    };
    match passkey::start_registration(&state, &en.member, owner(&en), now).await {
        Ok((ceremony, options)) => json_ok(json!({"ceremony": ceremony, "options": options})),
        Err(e) => passkey_failure(ctx.lang, e),
    }
}

async fn complete(
    state: AppState,
    ctx: Ctx,
    requester: Requester,
    headers: HeaderMap,
    mode: Mode,
    req: FinishRequest,
) -> Response {
    let now = state.now();
    if !ctx.csrf.verify(&req.csrf) {
        return json_error(StatusCode::FORBIDDEN, ctx.t(i18n::STALE_FORM));
    }
    let flow = if mode == Mode::FirstLogin {
        req.flow
    } else {
        None
    };
    let en = match prepare(
        &state,
        &headers,
        mode,
        Factor::Passkey,
        flow.as_deref(),
        now,
    )
    .await
    {
        Ok(en) => en,
        Err(r) => return json_redirect(r),
    };
    let Some(label) = clean_label(&req.label) else {
        return json_error(StatusCode::BAD_REQUEST, ctx.t(LABEL_EMPTY));
    };
    match passkey::finish_registration(
        &state,
        owner(&en),
        &req.ceremony,
        &req.credential,
        &label,
        now,
    )
    .await
    {
        Ok(_) => json_redirect(
            finish(
                &state,
                &ctx,
                &requester,
                en,
                Factor::Passkey,
                Some(&label),
                now,
            )
            .await,
        ),
        Err(PasskeyError::Duplicate) => json_error(StatusCode::CONFLICT, ctx.t(DUPLICATE)),
        Err(e) => passkey_failure(ctx.lang, e),
    }
}

async fn first_get(
    State(s): State<AppState>,
    ctx: Ctx,
    r: Requester,
    h: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Response {
    show(s, ctx, r, h, Mode::FirstLogin, q.flow).await
}
async fn account_get(State(s): State<AppState>, ctx: Ctx, r: Requester, h: HeaderMap) -> Response {
    show(s, ctx, r, h, Mode::Account, None).await
}
async fn first_options(
    State(s): State<AppState>,
    ctx: Ctx,
    h: HeaderMap,
    JsonBody(req): JsonBody<OptionsRequest>,
) -> Response {
    options(s, ctx, h, Mode::FirstLogin, req).await
}
async fn account_options(
    State(s): State<AppState>,
    ctx: Ctx,
    h: HeaderMap,
    JsonBody(req): JsonBody<OptionsRequest>,
) -> Response {
    options(s, ctx, h, Mode::Account, req).await
}
async fn first_finish(
    State(s): State<AppState>,
    ctx: Ctx,
    r: Requester,
    h: HeaderMap,
    JsonBody(req): JsonBody<FinishRequest>,
) -> Response {
    complete(s, ctx, r, h, Mode::FirstLogin, req).await
}
async fn account_finish(
    State(s): State<AppState>,
    ctx: Ctx,
    r: Requester,
    h: HeaderMap,
    JsonBody(req): JsonBody<FinishRequest>,
) -> Response {
    complete(s, ctx, r, h, Mode::Account, req).await
}
